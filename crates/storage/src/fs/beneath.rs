//! Paths below a root that never pass through a symbolic link: `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)` where the kernel has it, one `O_NOFOLLOW` component at a time where
//! it does not.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

/// Set once `openat2(2)` turned out to be unavailable (Linux before 5.6, or a seccomp
/// filter that predates it), so the component walk is used from then on.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// The error for a symbolic link met below the root.
pub(super) fn refused_link() -> io::Error {
    io::Error::other("a symbolic link inside the repository: refused (Lifeboat never follows links below its root)")
}

/// An error of opening a path below the root: a link met on the way is named as such.
fn open_error(e: Errno) -> io::Error {
    match e {
        Errno::LOOP | Errno::XDEV => refused_link(),
        e => e.into(),
    }
}

/// Opens `rel` (a validated key or folder path) below `dir`, following no link on the way
/// nor at the end. `flags` must not create (openat2 takes no mode otherwise).
pub(super) fn open_beneath(dir: BorrowedFd<'_>, rel: &str, flags: OFlags) -> io::Result<OwnedFd> {
    let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(dir, rel, flags, Mode::empty(), resolve) {
            Err(Errno::NOSYS | Errno::PERM) => NO_OPENAT2.store(true, Ordering::Relaxed),
            // A concurrent rename below the root; the walk has no such restriction.
            Err(Errno::AGAIN) => {}
            // A folder that is a link fails so too: the walk tells which it is.
            Err(Errno::NOTDIR) if flags.contains(OFlags::DIRECTORY) => {}
            other => return other.map_err(open_error),
        }
    }
    open_walking(dir, rel, flags)
}

/// The fallback of [`open_beneath`]: one `O_NOFOLLOW` component at a time.
fn open_walking(dir: BorrowedFd<'_>, rel: &str, flags: OFlags) -> io::Result<OwnedFd> {
    let (parents, last) = rel.rsplit_once('/').map_or((None, rel), |(p, l)| (Some(p), l));
    let mut held: Option<OwnedFd> = None;
    for part in parents.into_iter().flat_map(|p| p.split('/')) {
        let next = {
            let base = held.as_ref().map_or(dir, |fd| fd.as_fd());
            open_dir_component(base, part)?
        };
        held = Some(next);
    }
    let base = held.as_ref().map_or(dir, |fd| fd.as_fd());
    match rustix::fs::openat(base, last, flags | OFlags::CLOEXEC | OFlags::NOFOLLOW, Mode::empty()) {
        Err(Errno::NOTDIR) if flags.contains(OFlags::DIRECTORY) => {
            refuse_link_at(base, last)?;
            Err(Errno::NOTDIR.into())
        }
        other => other.map_err(open_error),
    }
}

/// Opens the folder `name` in `dir`, refusing a link. (`O_DIRECTORY | O_NOFOLLOW` on a link
/// fails with `ENOTDIR` rather than `ELOOP`, hence the look at what is there.)
pub(super) fn open_dir_component(dir: BorrowedFd<'_>, name: &str) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Err(Errno::NOTDIR) => {
            refuse_link_at(dir, name)?;
            Err(Errno::NOTDIR.into())
        }
        other => other.map_err(open_error),
    }
}

/// What sits at `name` in `dir`, without following a link; `None` when nothing does.
pub(super) fn stat_entry(dir: BorrowedFd<'_>, name: &str) -> io::Result<Option<Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Refuses when `name` in `dir` is a symbolic link.
pub(super) fn refuse_link_at(dir: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    match stat_entry(dir, name)? {
        Some(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => Err(refused_link()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_component_walk_refuses_links_too() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::fs::write(dir.path().join("real/obj"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink("obj", dir.path().join("real/l")).unwrap();
        let root = rustix::fs::open(dir.path(), OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        assert!(open_walking(root.as_fd(), "real/obj", OFlags::RDONLY).is_ok());
        for rel in ["link/obj", "real/l"] {
            let err = open_walking(root.as_fd(), rel, OFlags::RDONLY).unwrap_err();
            assert!(err.to_string().contains("symbolic link"), "{rel}: {err}");
        }
        let err = open_walking(root.as_fd(), "link", OFlags::RDONLY | OFlags::DIRECTORY).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }
}

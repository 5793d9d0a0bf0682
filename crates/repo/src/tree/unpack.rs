//! Unpacking a tar stream into the staging folder: paths made relative and refused through
//! symlinks or `..`, files private until their recorded owner, mode and mtime are set.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::CString;
use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::accounts::{gid_of, uid_of};
use super::staging::{StagingGuard, create_private_file, default_dir_mode};
use crate::error::{RepoError, Result, local_io};

/// How a files restore treats the owners recorded in the backup.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Give every entry its recorded owner (the user and group names when they resolve on
    /// this host, else the numeric ids), as GNU tar does for root. Defaults to true when
    /// running as root. Where an owner is not restored, setuid and setgid bits are
    /// cleared, so nobody's setuid program comes back owned by someone else.
    pub same_owner: bool,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        // SAFETY: geteuid has no preconditions and cannot fail.
        RestoreOptions { same_owner: unsafe { libc::geteuid() } == 0 }
    }
}

/// A reader that fails once the restore it feeds was abandoned.
struct CancelReader<R> {
    inner: R,
    guard: Arc<StagingGuard>,
}

impl<R: Read> Read for CancelReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.guard.cancelled() {
            return Err(io::Error::other("restore cancelled"));
        }
        self.inner.read(buf)
    }
}

/// Unpacks a tar stream into `dir` (blocking) and returns the warnings. Entry paths are
/// made relative; `..`, and any path through a symlink or other non-directory already
/// restored, are refused. Files are created 0600 and get their recorded owner, mode and
/// mtime once written; directories are created 0700 and get theirs after every entry,
/// deepest first, so that writing their contents cannot change their mtime.
pub(crate) fn unpack(
    reader: impl Read,
    dir: &Path,
    options: &RestoreOptions,
    guard: Arc<StagingGuard>,
) -> Result<Vec<String>> {
    let mut archive = tar::Archive::new(CancelReader { inner: reader, guard });
    let mut unpacker = Unpacker::new(dir, options);
    let entries = archive.entries().map_err(|e| local_io("cannot restore into", dir, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| local_io("cannot restore into", dir, e))?;
        unpacker.entry(&mut entry)?;
    }
    let warnings = unpacker.finish()?;
    // The archive ends at its first end-of-archive block; read the rest of the stream too,
    // so that every remaining segment is authenticated and the recorded digests checked.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| local_io("cannot restore into", dir, e))?;
    Ok(warnings)
}

/// Owner, mode and time recorded for one entry.
#[derive(Debug, Clone)]
struct EntryMeta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
}

struct Unpacker<'a> {
    root: &'a Path,
    same_owner: bool,
    /// Relative directories known to be real directories (created or checked by us; in
    /// the private staging folder nothing else changes them).
    known_dirs: HashSet<PathBuf>,
    /// Directories to finish last: their entry's metadata, or None for a directory the
    /// archive did not list (a parent of a backed-up path).
    dirs: BTreeMap<PathBuf, Option<EntryMeta>>,
    owner_error: Option<String>,
    cleared: u64,
    first_cleared: Option<PathBuf>,
    warnings: Vec<String>,
    uids: HashMap<String, Option<u32>>,
    gids: HashMap<String, Option<u32>>,
}

impl<'a> Unpacker<'a> {
    fn new(root: &'a Path, options: &RestoreOptions) -> Self {
        Unpacker {
            root,
            same_owner: options.same_owner,
            known_dirs: HashSet::new(),
            dirs: BTreeMap::new(),
            owner_error: None,
            cleared: 0,
            first_cleared: None,
            warnings: Vec::new(),
            uids: HashMap::new(),
            gids: HashMap::new(),
        }
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<()> {
        let raw = entry.path().map_err(|e| local_io("cannot read an entry name into", self.root, e))?.into_owned();
        let Some(rel) = relative(&raw) else {
            return Err(refuse(&raw, "has a `..` component"));
        };
        if rel.as_os_str().is_empty() {
            return Ok(());
        }
        let meta = self.meta_of(entry, &rel)?;
        let kind = entry.header().entry_type();
        let path = self.root.join(&rel);
        if kind.is_dir() {
            self.ensure_parent(&rel)?;
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(_) => return Err(refuse(&rel, "is a directory where another entry already is")),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    DirBuilder::new().mode(0o700).create(&path).map_err(|e| local_io("cannot create", &path, e))?;
                }
                Err(e) => return Err(local_io("cannot restore", &path, e)),
            }
            self.known_dirs.insert(rel.clone());
            self.dirs.insert(rel, Some(meta));
        } else if kind.is_file() {
            self.ensure_parent(&rel)?;
            let mut file = create_private_file(&path).map_err(|e| local_io("cannot create", &path, e))?;
            io::copy(entry, &mut file).map_err(|e| local_io("cannot restore", &path, e))?;
            self.settle(&file, &rel, &meta)?;
        } else if kind.is_symlink() {
            self.ensure_parent(&rel)?;
            let target = entry
                .link_name()
                .map_err(|e| local_io("cannot read the link of", &path, e))?
                .ok_or_else(|| refuse(&rel, "is a symlink without a target"))?;
            std::os::unix::fs::symlink(&target, &path).map_err(|e| local_io("cannot create symlink", &path, e))?;
            set_symlink_mtime(&path, meta.mtime).map_err(|e| local_io("cannot set the mtime of", &path, e))?;
            if self.same_owner
                && let Err(e) = std::os::unix::fs::lchown(&path, Some(meta.uid), Some(meta.gid))
            {
                self.owner_error.get_or_insert_with(|| format!("{}: {e}", rel.display()));
            }
        } else if kind.is_hard_link() {
            self.ensure_parent(&rel)?;
            let link = entry
                .link_name()
                .map_err(|e| local_io("cannot read the link of", &path, e))?
                .ok_or_else(|| refuse(&rel, "is a hard link without a target"))?;
            let source = match relative(&link) {
                Some(s) if !s.as_os_str().is_empty() => s,
                _ => return Err(refuse(&rel, "is a hard link to a path outside the restore")),
            };
            self.ensure_parent(&source)?;
            match fs::symlink_metadata(self.root.join(&source)) {
                Ok(m) if !m.is_dir() => {}
                _ => return Err(refuse(&rel, "is a hard link to an entry that was not restored before it")),
            }
            fs::hard_link(self.root.join(&source), &path).map_err(|e| local_io("cannot create hard link", &path, e))?;
        } else {
            self.warnings.push(format!("skipped archive entry {} of unsupported type {:?}", rel.display(), kind));
        }
        Ok(())
    }

    /// Mode (permission bits: older backups stored the whole st_mode), owner and mtime,
    /// the PAX records overriding the header fields.
    fn meta_of<R: Read>(&mut self, entry: &mut tar::Entry<R>, rel: &Path) -> Result<EntryMeta> {
        let bad = |what: &str| refuse(rel, &format!("has an invalid {what}"));
        let header = entry.header();
        let mut user = header.username().ok().flatten().filter(|n| !n.is_empty()).map(str::to_owned);
        let mut group = header.groupname().ok().flatten().filter(|n| !n.is_empty()).map(str::to_owned);
        // An empty numeric field (some writers leave owners blank) reads as 0, as in
        // Python's tarfile; only a value that cannot be an id is refused.
        let mode = header.mode().unwrap_or(0) & 0o7777;
        let uid = u32::try_from(header.uid().unwrap_or(0)).map_err(|_| bad("uid"))?;
        let gid = u32::try_from(header.gid().unwrap_or(0)).map_err(|_| bad("gid"))?;
        let field = header.as_old().mtime;
        let mut mtime = if field[0] == 0xff {
            // GNU base-256, negative: the value is the two's complement in the low bytes.
            let mut low = [0u8; 8];
            low.copy_from_slice(&field[4..]);
            i64::from_be_bytes(low)
        } else {
            i64::try_from(header.mtime().unwrap_or(0)).map_err(|_| bad("mtime"))?
        };
        if let Some(extensions) = entry.pax_extensions().map_err(|_| bad("PAX header"))? {
            for extension in extensions {
                let extension = extension.map_err(|_| bad("PAX header"))?;
                match extension.key() {
                    Ok("mtime") => {
                        let value = extension.value().map_err(|_| bad("PAX mtime"))?;
                        let whole = value.split('.').next().unwrap_or_default();
                        mtime = whole.parse().map_err(|_| bad("PAX mtime"))?;
                    }
                    Ok("uname") => user = extension.value().ok().map(str::to_owned),
                    Ok("gname") => group = extension.value().ok().map(str::to_owned),
                    _ => {}
                }
            }
        }
        // The owner to give the entry: its user and group names where they resolve here,
        // else the recorded numbers (GNU tar's rule).
        let uid = user.and_then(|u| *self.uids.entry(u.clone()).or_insert_with(|| uid_of(&u))).unwrap_or(uid);
        let gid = group.and_then(|g| *self.gids.entry(g.clone()).or_insert_with(|| gid_of(&g))).unwrap_or(gid);
        Ok(EntryMeta { mode, uid, gid, mtime })
    }

    /// Creates the missing parents of `rel` (0700 until the end) and checks that the
    /// existing ones are real directories, so no entry is written through a symlink.
    fn ensure_parent(&mut self, rel: &Path) -> Result<()> {
        let mut current = PathBuf::new();
        let parents: Vec<_> = rel.parent().map(|p| p.components().collect()).unwrap_or_default();
        for component in parents {
            current.push(component);
            if self.known_dirs.contains(&current) {
                continue;
            }
            let path = self.root.join(&current);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(_) => {
                    let reason = format!("lies under {}, which is not a directory", current.display());
                    return Err(refuse(rel, &reason));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    DirBuilder::new().mode(0o700).create(&path).map_err(|e| local_io("cannot create", &path, e))?;
                    self.dirs.entry(current.clone()).or_insert(None);
                }
                Err(e) => return Err(local_io("cannot restore", &path, e)),
            }
            self.known_dirs.insert(current.clone());
        }
        Ok(())
    }

    /// Gives an open entry its recorded owner, mode and mtime ([`settle_open`]), noting
    /// what could not be restored for the closing warning.
    fn settle(&mut self, file: &File, rel: &Path, meta: &EntryMeta) -> Result<()> {
        let path = self.root.join(rel);
        let settled = settle_open(file, &path, meta.mode, (meta.uid, meta.gid), time_of(meta.mtime), self.same_owner)?;
        if let Some(e) = settled.owner_error {
            self.owner_error.get_or_insert_with(|| format!("{}: {e}", rel.display()));
        }
        if settled.cleared {
            self.cleared += 1;
            self.first_cleared.get_or_insert_with(|| rel.to_owned());
        }
        Ok(())
    }

    /// Finishes the directories, deepest first, and returns the warnings.
    fn finish(mut self) -> Result<Vec<String>> {
        let mut dirs: Vec<_> = std::mem::take(&mut self.dirs).into_iter().collect();
        dirs.sort_by_key(|(rel, _)| std::cmp::Reverse(rel.components().count()));
        let default_mode = default_dir_mode();
        for (rel, meta) in dirs {
            let path = self.root.join(&rel);
            let dir = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&path)
                .map_err(|e| local_io("cannot finish directory", &path, e))?;
            match meta {
                Some(meta) => self.settle(&dir, &rel, &meta)?,
                None => dir
                    .set_permissions(Permissions::from_mode(default_mode))
                    .map_err(|e| local_io("cannot set the mode of", &path, e))?,
            }
        }
        // One message says what happened to owners, and what that cost.
        let owners = match &self.owner_error {
            Some(error) => format!("owners could not be restored ({error})"),
            None => "owners were not restored (that needs root)".to_owned(),
        };
        if self.cleared > 0 {
            self.warnings.push(format!(
                "{owners}: setuid/setgid bits were cleared on {} entr{} (first: {})",
                self.cleared,
                if self.cleared == 1 { "y" } else { "ies" },
                self.first_cleared.as_deref().unwrap_or(Path::new("")).display()
            ));
        } else if self.owner_error.is_some() {
            self.warnings.push(owners);
        }
        Ok(self.warnings)
    }
}

/// What [`settle_open`] could not do as recorded.
pub(crate) struct Settled {
    /// Why the recorded owner could not be given (restoring owners only).
    pub owner_error: Option<io::Error>,
    /// Setuid or setgid bits were cleared, the entry not having its recorded owner.
    pub cleared: bool,
}

/// Gives an open entry its owner (when `same_owner`), then its mode, then its mtime:
/// chown clears setuid bits, and chmod would not change the mtime. Setuid and setgid are
/// kept only where the entry ended up with the recorded owner and group.
pub(crate) fn settle_open(
    file: &File,
    path: &Path,
    recorded: u32,
    owner: (u32, u32),
    mtime: Option<SystemTime>,
    same_owner: bool,
) -> Result<Settled> {
    let mut settled = Settled { owner_error: None, cleared: false };
    if same_owner && let Err(e) = std::os::unix::fs::fchown(file, Some(owner.0), Some(owner.1)) {
        settled.owner_error = Some(e);
    }
    let mut mode = recorded;
    let actual = file.metadata().map_err(|e| local_io("cannot restore", path, e))?;
    if mode & (libc::S_ISUID | libc::S_ISGID) != 0 && (actual.uid(), actual.gid()) != owner {
        if actual.uid() != owner.0 {
            mode &= !libc::S_ISUID;
        }
        if actual.gid() != owner.1 {
            mode &= !libc::S_ISGID;
        }
        settled.cleared = mode != recorded;
    }
    file.set_permissions(Permissions::from_mode(mode)).map_err(|e| local_io("cannot set the mode of", path, e))?;
    if let Some(when) = mtime {
        file.set_modified(when).map_err(|e| local_io("cannot set the mtime of", path, e))?;
    }
    Ok(settled)
}

fn refuse(rel: &Path, reason: &str) -> RepoError {
    RepoError::Integrity(format!("archive entry {} {reason}; restore refused", rel.display()))
}

/// `path` without its root (or `.` components), or None when it has a `..`.
fn relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Sets a symlink's own access and modification times (`utimensat` with
/// `AT_SYMLINK_NOFOLLOW`; std has no call for it).
fn set_symlink_mtime(path: &Path, secs: i64) -> io::Result<()> {
    set_symlink_times(path, secs, 0)
}

/// [`set_symlink_mtime`] to the nanosecond.
pub(crate) fn set_symlink_times(path: &Path, secs: i64, nanos: u32) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let time = libc::timespec { tv_sec: secs as libc::time_t, tv_nsec: nanos.min(999_999_999) as libc::c_long };
    let times = [time, time];
    // SAFETY: a NUL-terminated path and an array of two timespecs, both live for the call.
    let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c_path.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Seconds since the epoch (negative before 1970) as a SystemTime.
fn time_of(secs: i64) -> Option<SystemTime> {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(magnitude)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(magnitude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::staging::Staging;

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    /// A reader over a tar archive that, when the archive has been read up to `at`,
    /// records the mode the file being restored has at that moment.
    struct Observer {
        data: io::Cursor<Vec<u8>>,
        at: u64,
        watch: PathBuf,
        seen: Option<u32>,
    }

    impl Read for Observer {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let pos = self.data.position();
            if pos >= self.at && self.seen.is_none() {
                self.seen = Some(mode_of(&self.watch));
            }
            // Small reads, so the observation falls inside the file's data.
            let n = buf.len().min(512);
            self.data.read(&mut buf[..n])
        }
    }

    #[test]
    fn restored_files_are_private_until_their_mode_is_set() {
        let base = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(64 * 1024);
        header.set_mtime(1_000_000_000);
        builder.append_data(&mut header, "public.txt", io::repeat(7).take(64 * 1024)).unwrap();
        let archive = builder.into_inner().unwrap();
        let target = base.path().join("out");
        let staging = Staging::prepare(&target).unwrap();
        let mut observer = Observer {
            data: io::Cursor::new(archive),
            at: 512 + 32 * 1024,
            watch: staging.dir.join("public.txt"),
            seen: None,
        };
        let warnings =
            unpack(&mut observer, &staging.dir.clone(), &RestoreOptions { same_owner: false }, staging.guard())
                .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(observer.seen, Some(0o600), "the half-written file was readable by others");
        assert_eq!(mode_of(&staging.dir.join("public.txt")), 0o644, "then it got its recorded mode");
        let published = staging.publish().unwrap();
        assert_eq!(fs::metadata(published.join("public.txt")).unwrap().mtime(), 1_000_000_000);
    }

    #[test]
    fn entries_through_symlinks_or_with_dotdot_are_refused() {
        let base = tempfile::tempdir().unwrap();
        let outside = base.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let build = |entries: &[(&str, tar::EntryType, &str)]| {
            let mut builder = tar::Builder::new(Vec::new());
            for (name, kind, link) in entries {
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(*kind);
                header.set_mode(0o644);
                header.set_size(if *kind == tar::EntryType::Regular { 2 } else { 0 });
                if kind.is_symlink() || kind.is_hard_link() {
                    builder.append_link(&mut header, name, link).unwrap();
                } else {
                    builder.append_data(&mut header, name, &b"hi"[..]).unwrap();
                }
            }
            builder.into_inner().unwrap()
        };
        let escape_link = outside.to_str().unwrap();
        let cases = [
            build(&[("a", tar::EntryType::Symlink, escape_link), ("a/evil", tar::EntryType::Regular, "")]),
            build(&[("a", tar::EntryType::Symlink, escape_link), ("a/sub", tar::EntryType::Directory, "")]),
            build(&[("x", tar::EntryType::Link, "../outside/f")]),
            build(&[("x", tar::EntryType::Link, "/etc/passwd")]),
        ];
        for (n, archive) in cases.iter().enumerate() {
            let target = base.path().join(format!("t{n}"));
            let staging = Staging::prepare(&target).unwrap();
            let result =
                unpack(&archive[..], &staging.dir.clone(), &RestoreOptions { same_owner: false }, staging.guard());
            assert!(result.is_err(), "case {n} was accepted");
            assert_eq!(fs::read_dir(&outside).unwrap().count(), 0, "case {n} wrote outside the target");
        }
        // A `..` in a plain entry name is refused too (the tar crate's Builder will not
        // write one, so patch the name field of a header by hand).
        let mut archive = build(&[("zz/f", tar::EntryType::Regular, "")]);
        archive[..5].copy_from_slice(b"../f\0");
        let mut header = tar::Header::new_old();
        header.as_mut_bytes().copy_from_slice(&archive[..512]);
        header.set_cksum();
        archive[..512].copy_from_slice(header.as_bytes());
        let staging = Staging::prepare(&base.path().join("dotdot")).unwrap();
        let err = unpack(&archive[..], &staging.dir.clone(), &RestoreOptions { same_owner: false }, staging.guard())
            .unwrap_err();
        assert!(err.to_string().contains(".."), "{err}");
        assert!(!base.path().join("f").exists());
    }
}

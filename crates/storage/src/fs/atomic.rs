//! Crash-safe writes of whole files: a temporary file in the destination's folder, fsynced,
//! renamed over the destination, then the folder fsynced so that the rename survives a
//! power cut. A reader sees the old file or the new one, never a part.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

use rustix::fs::{AtFlags, Mode, OFlags};

use crate::temp::temp_name;

/// Mode of every file created here: the owner's only, whatever the umask.
const FILE_MODE: u32 = 0o600;

/// A temporary file that removes itself unless published, so that an error or a dropped
/// future (Ctrl-C) leaves no debris behind.
pub(super) struct TempFile {
    /// The folder it is in.
    dir: Arc<OwnedFd>,
    /// Its name there.
    name: String,
    armed: bool,
}

impl TempFile {
    /// Creates a fresh temporary file (mode 0600, `O_EXCL`, no link followed) in `dir`.
    pub(super) fn create_in(dir: Arc<OwnedFd>) -> io::Result<(Self, std::fs::File)> {
        let name = temp_name();
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let fd = rustix::fs::openat(&*dir, name.as_str(), flags, Mode::from_raw_mode(FILE_MODE))?;
        Ok((Self { dir, name, armed: true }, std::fs::File::from(fd)))
    }

    /// The folder the file is in.
    pub(super) fn dir(&self) -> &Arc<OwnedFd> {
        &self.dir
    }

    /// The file's name in [`dir`](Self::dir).
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Renames the (already fsynced) file over `name` in its folder and fsyncs the folder.
    /// On failure the temporary file is removed.
    pub(super) fn rename_over(mut self, name: &OsStr) -> io::Result<()> {
        rustix::fs::renameat(&*self.dir, self.name.as_str(), &*self.dir, name)?;
        self.armed = false;
        rustix::fs::fsync(&*self.dir)?;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = rustix::fs::unlinkat(&*self.dir, self.name.as_str(), AtFlags::empty());
        }
    }
}

/// Replaces the file at `path` with `bytes`, crash-safely: a reader (or a restart after a
/// power cut) sees the old content or the new, never a mix. The new file is private
/// (mode 0600); the folder must exist. A write that fails leaves no temporary file; one
/// killed outright may leave a `.lifeboat-tmp-*` file beside it.
///
/// Blocking: call it from `spawn_blocking` in async code.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("state.json");
/// lifeboat_storage::fs::write_atomic(&path, b"{}")?;
/// assert_eq!(std::fs::read(&path)?, b"{}");
/// # Ok(())
/// # }
/// ```
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    let path = path.as_ref();
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{} names no file", path.display())))?;
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let dir = rustix::fs::open(folder, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let (temp, mut file) = TempFile::create_in(Arc::new(dir))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    temp.rename_over(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_the_whole_file_privately_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"first version, longer").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["state.json"]);
    }

    #[test]
    fn a_missing_folder_fails_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(dir.path().join("missing/state.json"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(write_atomic(Path::new("/"), b"x").is_err(), "the root names no file");
    }

    #[test]
    fn a_failed_rename_removes_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("taken")).unwrap();
        std::fs::write(dir.path().join("taken/inside"), b"x").unwrap();
        assert!(write_atomic(dir.path().join("taken"), b"x").is_err(), "a non-empty folder is not replaced");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["taken"]);
    }
}

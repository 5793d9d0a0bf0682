//! The restore target: a private staging folder, published by one rename once everything
//! authenticated, and removed when an abandoned restore lets go of it.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::error::{RepoError, Result, local_io};

/// What a restore into a directory produced.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    /// Where the restored tree now is.
    pub path: PathBuf,
    /// What the operator should know: owners not restored, bits cleared, entries skipped.
    pub warnings: Vec<String>,
}

/// Staging folders not yet published or removed (see [`settle_restore_cleanup`]).
static LIVE_STAGING: AtomicUsize = AtomicUsize::new(0);

/// Waits (up to 10 seconds) until every abandoned restore's staging folder is removed. A
/// program interrupted during a restore calls this before it exits: the folder is removed
/// by the thread still unpacking into it, once that thread has noticed the cancellation.
pub async fn settle_restore_cleanup() {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while LIVE_STAGING.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Owns a staging folder's removal: shared by the restore and the thread unpacking into
/// the folder, so that the folder is removed when the last of them lets go (never while
/// an abandoned unpack is still writing into it, which would recreate what was removed).
pub(crate) struct StagingGuard {
    dir: PathBuf,
    published: AtomicBool,
    cancelled: AtomicBool,
}

impl StagingGuard {
    pub(super) fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

impl Drop for StagingGuard {
    fn drop(&mut self) {
        if !self.published.load(Ordering::SeqCst) {
            let _ = fs::remove_dir_all(&self.dir);
        }
        LIVE_STAGING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A restore target: checked up front, filled in a hidden sibling folder that only the
/// restoring user can enter (0700), and renamed into place only after the whole backup
/// authenticated. Dropping it cancels the unpack and removes the staging folder.
pub(crate) struct Staging {
    pub target: PathBuf,
    pub dir: PathBuf,
    guard: Arc<StagingGuard>,
}

impl Staging {
    pub fn prepare(target: &Path) -> Result<Staging> {
        let bad = |reason: &str| RepoError::Target { path: target.display().to_string(), reason: reason.to_owned() };
        match fs::read_dir(target) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(bad("exists and is not empty; restore into a new or empty directory"));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => return Err(bad("exists and is not a directory")),
            Err(e) => {
                return Err(RepoError::LocalIo {
                    what: "cannot use restore target",
                    path: target.display().to_string(),
                    source: e,
                });
            }
        }
        let target = std::path::absolute(target).map_err(|e| local_io("cannot resolve restore target", target, e))?;
        let parent = target.parent().ok_or_else(|| bad("has no parent directory"))?;
        fs::create_dir_all(parent).map_err(|e| local_io("cannot create", parent, e))?;
        let name = target.file_name().ok_or_else(|| bad("has no name"))?.to_string_lossy().into_owned();
        let suffix = hex::encode(lifeboat_crypto::random_bytes::<6>().map_err(|e| RepoError::Internal(e.to_string()))?);
        let dir = parent.join(format!(".{name}.lifeboat-restore-{suffix}"));
        DirBuilder::new().mode(0o700).create(&dir).map_err(|e| local_io("cannot create staging directory", &dir, e))?;
        LIVE_STAGING.fetch_add(1, Ordering::SeqCst);
        let guard = Arc::new(StagingGuard {
            dir: dir.clone(),
            published: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
        });
        Ok(Staging { target, dir, guard })
    }

    /// The removal guard, for the thread that unpacks into the folder.
    pub fn guard(&self) -> Arc<StagingGuard> {
        self.guard.clone()
    }

    /// Moves the staged tree into place, the folder itself getting the mode a new
    /// directory gets (0777 less the umask) now that everything inside has its own.
    pub fn publish(self) -> Result<PathBuf> {
        fs::set_permissions(&self.dir, Permissions::from_mode(default_dir_mode()))
            .map_err(|e| local_io("cannot set the mode of", &self.dir, e))?;
        if self.target.exists() {
            fs::remove_dir(&self.target).map_err(|e| local_io("cannot replace empty target", &self.target, e))?;
        }
        fs::rename(&self.dir, &self.target).map_err(|e| local_io("cannot move restored tree into", &self.target, e))?;
        self.guard.published.store(true, Ordering::SeqCst);
        Ok(self.target.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Stops an unpack still running; the guard removes the folder when it ends.
        self.guard.cancelled.store(true, Ordering::SeqCst);
    }
}

/// The mode `mkdir` gives a new directory here: 0777 less the process umask (read from
/// /proc, since `umask(2)` can only be read by changing it for every thread).
pub(super) fn default_dir_mode() -> u32 {
    let umask = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Umask:")).and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022);
    0o777 & !umask
}

/// Creates a file that only its owner can read or write (0600 whatever the umask, and
/// never through an existing file or symlink): restored data is private until its
/// recorded mode is set.
pub(crate) fn create_private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn the_staging_folder_is_private_and_removed_when_dropped() {
        let base = tempfile::tempdir().unwrap();
        let target = base.path().join("restored");
        let staging = Staging::prepare(&target).unwrap();
        // Whatever the umask, other users cannot enter the folder while it is filled.
        assert_eq!(mode_of(&staging.dir), 0o700, "staging folder {}", staging.dir.display());
        let dir = staging.dir.clone();
        let guard = staging.guard();
        drop(staging);
        assert!(guard.cancelled(), "dropping the staging cancels the unpack");
        assert!(dir.exists(), "not removed while the unpack still holds the guard");
        drop(guard);
        assert!(!dir.exists(), "removed once the unpack let go");
    }
}

//! What a client remembers about each repository between runs, so that storage it does not
//! trust cannot take it backwards: the highest config generation and the master key id it
//! has seen, and (for write-only hosts, which cannot check the config's MAC) the recipients
//! the config listed. The library defines the store as a trait; the CLI keeps one small JSON
//! file per repository ([`FileStateStore`]), and a service can keep the same in its database.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{RepoError, Result};

/// What is known about one repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownState {
    /// The highest config generation seen.
    pub generation: u64,
    /// The master key id of that generation (16 hex).
    pub master_key_id: String,
    /// Ids of the recipients the config listed (16 hex each).
    #[serde(default)]
    pub recipients: BTreeSet<String>,
    /// The manifest signers (`lbwp1…`: the master key's signing key and the registered
    /// writers) this host may trust when it reads without the master key: those of the
    /// last config it authenticated, or, before it ever could, those it found the first
    /// time it saw the repository. A reader holding only an identity cannot check the
    /// config's MAC, so without this pin anyone with storage write could register a writer
    /// of their own and forge backups it accepts.
    #[serde(default)]
    pub signers: BTreeSet<String>,
}

/// Where known states are kept. Implementations must make `save` atomic: a crash leaves the
/// old state or the new one.
pub trait KnownStateStore: Send + Sync + std::fmt::Debug {
    /// The state of repository `repository_id` (32 hex), `None` when never seen.
    fn load(&self, repository_id: &str) -> Result<Option<KnownState>>;
    /// Replaces the state of repository `repository_id`.
    fn save(&self, repository_id: &str, state: &KnownState) -> Result<()>;
}

/// A directory holding `<repository id>.json` per repository, mode 0700, files 0600.
#[derive(Debug, Clone)]
pub struct FileStateStore {
    dir: PathBuf,
}

impl FileStateStore {
    /// A store in `dir` (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `$XDG_STATE_HOME/lifeboat`, else `$HOME/.local/state/lifeboat`; `None` when neither
    /// variable is set to an absolute path.
    pub fn default_dir() -> Option<PathBuf> {
        let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
        std::env::var_os("XDG_STATE_HOME")
            .and_then(absolute)
            .or_else(|| std::env::var_os("HOME").and_then(absolute).map(|h| h.join(".local").join("state")))
            .map(|base| base.join("lifeboat"))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, repository_id: &str) -> Result<PathBuf> {
        // The id comes from the (untrusted) config: never let it name another path.
        if repository_id.len() != 32 || !repository_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RepoError::Internal(format!("repository id {repository_id:?} is not 32 hex digits")));
        }
        Ok(self.dir.join(format!("{repository_id}.json")))
    }
}

fn io_error(what: &'static str, path: &Path, source: std::io::Error) -> RepoError {
    RepoError::LocalIo { what, path: path.display().to_string(), source }
}

impl KnownStateStore for FileStateStore {
    fn load(&self, repository_id: &str) -> Result<Option<KnownState>> {
        let path = self.path(repository_id)?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("cannot read the known-state file", &path, e)),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            RepoError::Internal(format!(
                "known-state file {} is corrupt ({e}); remove it to start over (rollback protection restarts too)",
                path.display()
            ))
        })
    }

    fn save(&self, repository_id: &str, state: &KnownState) -> Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let path = self.path(repository_id)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| io_error("cannot create the known-state directory", &self.dir, e))?;
        let body = serde_json::to_vec_pretty(state).map_err(|e| RepoError::Internal(e.to_string()))?;
        let suffix = hex::encode(lifeboat_crypto::random_bytes::<8>().map_err(|e| RepoError::Internal(e.to_string()))?);
        let temp = self.dir.join(format!(".{repository_id}.{suffix}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
            file.write_all(&body)?;
            file.sync_all()?;
            std::fs::rename(&temp, &path)?;
            std::fs::File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| {
            std::fs::remove_file(&temp).ok();
            io_error("cannot write the known-state file", &path, e)
        })
    }
}

//! Persistent state: policies, the snapshot catalog and restore records, one JSON file per tenant.
//!
//! Files live in a state directory (default `$LIFEBOAT_STATE_DIR`, else
//! `$XDG_STATE_HOME/lifeboat/es`, else `~/.local/state/lifeboat/es`). Every change is a locked
//! read-modify-write: an exclusive lock on `<key>.lock`, then the new content is written to a
//! temporary file, fsynced, renamed over the old file and the directory is fsynced, so a crash
//! never leaves a half-written state file. All file I/O runs on the blocking thread pool.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use lifeboat_storage::fs::write_atomic;
use serde::{Deserialize, Serialize};

use crate::error::{EsError, Remedy, Result};
use crate::model::tenant::parse_tenant_id;
use crate::model::{Tenant, TenantState};

/// Environment variable naming the state directory.
pub const ENV_STATE_DIR: &str = "LIFEBOAT_STATE_DIR";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TenantRegistry {
    #[serde(default)]
    tenants: Vec<Tenant>,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(std::io::Error) -> EsError + 'a {
    move |source| EsError::State { path: path.to_path_buf(), op, source }
}

impl StateStore {
    /// The default state directory.
    pub fn default_dir() -> Result<PathBuf> {
        if let Some(d) = std::env::var_os(ENV_STATE_DIR).filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(d));
        }
        if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(d).join("lifeboat").join("es"));
        }
        match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
            Some(h) => Ok(PathBuf::from(h).join(".local/state/lifeboat/es")),
            None => Err(EsError::Config(format!("no state directory: set {ENV_STATE_DIR} or HOME"))),
        }
    }

    /// Uses `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StateStore { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// Reads a scope's state (empty when nothing was stored yet).
    pub async fn load(&self, key: &str) -> Result<TenantState> {
        let path = self.file(key);
        run_blocking(move || read_json::<TenantState>(&path).map(Option::unwrap_or_default)).await
    }

    /// Locked read-modify-write of a scope's state. Nothing is written when `f` fails.
    pub async fn update<R, F>(&self, key: &str, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut TenantState) -> Result<R> + Send + 'static,
    {
        let dir = self.dir.clone();
        let path = self.file(key);
        let lock = self.dir.join(format!("{key}.lock"));
        run_blocking(move || {
            ensure_dir(&dir)?;
            let _guard = lock_file(&lock)?;
            let mut state: TenantState = read_json(&path)?.unwrap_or_default();
            let r = f(&mut state)?;
            write_json_atomic(&path, &state)?;
            Ok(r)
        })
        .await
    }

    /// All registered tenants.
    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        let path = self.dir.join("tenants.json");
        run_blocking(move || Ok(read_json::<TenantRegistry>(&path)?.unwrap_or_default().tenants)).await
    }

    /// A registered tenant by `org/namespace`.
    pub async fn tenant(&self, id: &str) -> Result<Tenant> {
        parse_tenant_id(id)?;
        self.tenants().await?.into_iter().find(|t| t.id() == id).ok_or_else(|| EsError::NotFound {
            what: "tenant",
            name: id.to_string(),
            detail: String::new(),
            remedy: Some(Remedy::RegisterTenant),
        })
    }

    /// Registers a tenant. Its prefixes must not overlap another tenant's; re-registering the same
    /// tenant with the same prefixes is a no-op, with different prefixes an error.
    pub async fn register_tenant(&self, tenant: Tenant) -> Result<()> {
        let dir = self.dir.clone();
        let path = self.dir.join("tenants.json");
        let lock = self.dir.join("tenants.lock");
        run_blocking(move || {
            ensure_dir(&dir)?;
            let _guard = lock_file(&lock)?;
            let mut reg: TenantRegistry = read_json(&path)?.unwrap_or_default();
            if let Some(existing) = reg.tenants.iter().find(|t| t.id() == tenant.id()) {
                if *existing == tenant {
                    return Ok(());
                }
                return Err(EsError::Conflict {
                    what: format!("tenant {}", tenant.id()),
                    reason: format!("already registered with prefixes {:?}", existing.index_prefixes),
                    remedy: None,
                });
            }
            if let Some(o) = reg.tenants.iter().find(|o| o.overlaps(&tenant)) {
                return Err(EsError::Conflict {
                    what: format!("tenant {}", tenant.id()),
                    reason: format!("its prefixes overlap tenant {}'s {:?}", o.id(), o.index_prefixes),
                    remedy: None,
                });
            }
            reg.tenants.push(tenant);
            write_json_atomic(&path, &reg)
        })
        .await
    }
}

async fn run_blocking<R: Send + 'static>(f: impl FnOnce() -> Result<R> + Send + 'static) -> Result<R> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(EsError::State {
            path: PathBuf::new(),
            op: "run blocking task",
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

fn ensure_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(io_err(dir, "create directory"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// An exclusive lock held until dropped.
struct LockGuard(File);

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn lock_file(path: &Path) -> Result<LockGuard> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io_err(path, "open lock file"))?;
    f.lock().map_err(io_err(path, "lock"))?;
    Ok(LockGuard(f))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| EsError::StateCorrupt { path: path.to_path_buf(), reason: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EsError::State { path: path.to_path_buf(), op: "read", source: e }),
    }
}

/// Serialises `value` and replaces `path` with it through the workspace's one atomic write
/// (temporary file, fsync, rename, fsync of the folder; mode 0600).
fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| EsError::StateCorrupt { path: path.to_path_buf(), reason: format!("cannot serialise: {e}") })?;
    write_atomic(path, &bytes).map_err(io_err(path, "write"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SnapshotPolicy;

    #[tokio::test]
    async fn update_persists_and_failed_update_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path().join("st"));
        assert_eq!(store.load("k").await.unwrap(), TenantState::default());
        store
            .update("k", |s| {
                s.restores.clear();
                s.version = 1;
                s.policies.insert("p".into(), SnapshotPolicy::new("p", "logs-*", "repo", "0 0 1 * * ?", 3).unwrap());
                Ok(())
            })
            .await
            .unwrap();
        let loaded = store.load("k").await.unwrap();
        assert_eq!(loaded.policies.len(), 1);
        let err = store
            .update("k", |s| {
                s.policies.clear();
                Err::<(), _>(EsError::Config("boom".into()))
            })
            .await;
        assert!(err.is_err());
        assert_eq!(store.load("k").await.unwrap().policies.len(), 1, "a failed update must not write");
        // No temporary files left behind.
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("st"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[tokio::test]
    async fn corrupt_state_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("k.json"), b"{not json").unwrap();
        let store = StateStore::new(dir.path());
        let err = store.load("k").await.unwrap_err().to_string();
        assert!(err.contains("corrupt") && err.contains("k.json"), "{err}");
    }

    #[tokio::test]
    async fn tenants_cannot_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        store.register_tenant(Tenant::new("acme/prod", vec!["acme-prod-".into()]).unwrap()).await.unwrap();
        store.register_tenant(Tenant::new("acme/prod", vec!["acme-prod-".into()]).unwrap()).await.unwrap();
        let err = store.register_tenant(Tenant::new("acme/dev", vec!["acme-".into()]).unwrap()).await.unwrap_err();
        assert!(err.to_string().contains("overlap"), "{err}");
        let err = store.register_tenant(Tenant::new("acme/prod", vec!["x-".into()]).unwrap()).await.unwrap_err();
        assert!(err.to_string().contains("already registered"), "{err}");
        assert_eq!(store.tenants().await.unwrap().len(), 1);
        assert!(store.tenant("acme/dev").await.is_err());
    }
}

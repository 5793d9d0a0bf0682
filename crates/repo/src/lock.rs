//! Repository locks: leases written with a conditional create (docs/FORMAT.md, section 6).
//!
//! Backups hold shared locks; operations that delete or rewrite (prune, key rotation)
//! hold an exclusive one. A lock expires unless its holder refreshes it, so a crashed
//! host blocks nobody for longer than [`LOCK_TTL`].
//!
//! Taking a lock is write-then-check: list, write our lease under a random name, list again
//! and back off if a conflicting lease appeared. Exclusive locks are only taken on storage
//! with a true conditional create (`If-None-Match: *`); on storage without it (s3s-fs,
//! WebDAV, SFTP) shared locks still work, since they never exclude each other, but prune,
//! forget and key changes are refused with a message that says why.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};
use lifeboat_crypto::random_bytes;
use lifeboat_storage::{PutOutcome, Storage, StorageExt};
use serde::{Deserialize, Serialize};

use crate::error::{RepoError, Result};

/// Prefix of lock objects.
pub const LOCKS_PREFIX: &str = "locks/";
/// How long a lock lives without a refresh.
pub const LOCK_TTL: Duration = Duration::from_secs(30 * 60);
const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);

/// Shared (backups) or exclusive (prune, key rotation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockKind {
    /// Many at once; excludes exclusive locks.
    Shared,
    /// Alone.
    Exclusive,
}

/// The JSON body of a lock object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockInfo {
    /// Lock id (32 hex).
    pub id: String,
    /// Shared or exclusive.
    pub kind: LockKind,
    /// What the holder is doing.
    pub operation: String,
    /// Holder's host.
    pub host: String,
    /// Holder's process id.
    pub pid: u32,
    /// When it was taken.
    pub created: DateTime<FixedOffset>,
    /// When it lapses unless refreshed.
    pub expires: DateTime<FixedOffset>,
}

impl LockInfo {
    /// True when the lease has lapsed.
    pub fn is_expired(&self) -> bool {
        self.expires < crate::now()
    }

    fn describe(&self) -> String {
        format!(
            "{} lock held by pid {} on {} since {} for {:?}",
            match self.kind {
                LockKind::Shared => "a shared",
                LockKind::Exclusive => "an exclusive",
            },
            self.pid,
            self.host,
            self.created.format("%Y-%m-%d %H:%M:%S %:z"),
            self.operation
        )
    }
}

/// A held lock. Release it with [`Lock::release`]; dropping it removes it in the background.
pub struct Lock {
    storage: Arc<dyn Storage>,
    key: String,
    refresher: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock").field("key", &self.key).finish()
    }
}

/// Reads every lock of a repository (unparsable ones are reported as errors).
pub async fn list_locks(storage: &dyn Storage) -> Result<Vec<LockInfo>> {
    let mut out = Vec::new();
    for meta in storage.list_all(LOCKS_PREFIX).await? {
        let bytes = match storage.get_bytes(&meta.key).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => continue, // released meanwhile
            Err(e) => return Err(e.into()),
        };
        match serde_json::from_slice::<LockInfo>(&bytes) {
            Ok(info) => out.push(info),
            Err(e) => tracing::warn!(lock = %meta.key, "ignoring unreadable lock: {e}"),
        }
    }
    Ok(out)
}

/// Removes locks: expired ones, or all of them with `all`. Returns what was removed.
pub async fn remove_locks(storage: &dyn Storage, all: bool) -> Result<Vec<LockInfo>> {
    let mut removed = Vec::new();
    for info in list_locks(storage).await? {
        if all || info.is_expired() {
            storage.delete(&format!("{LOCKS_PREFIX}{}", info.id)).await?;
            removed.push(info);
        }
    }
    Ok(removed)
}

/// Creates `key` unless it exists. On storage with a true conditional create this is
/// atomic; elsewhere it is a check followed by a put, which is only safe for keys that are
/// unique by construction (random lock and backup ids), the only keys it is used for
/// after a repository exists.
pub(crate) async fn create_new(storage: &dyn Storage, key: &str, body: Bytes) -> Result<PutOutcome> {
    if storage.capabilities().await?.conditional_put {
        return Ok(storage.put_if_absent(key, body).await?);
    }
    if storage.head(key).await?.is_some() {
        return Ok(PutOutcome::AlreadyExists);
    }
    storage.put_bytes(key, body).await?;
    Ok(PutOutcome::Created)
}

fn conflicts(mine: LockKind, other: &LockInfo) -> bool {
    !other.is_expired() && (mine == LockKind::Exclusive || other.kind == LockKind::Exclusive)
}

impl Lock {
    /// Takes a lock, or fails naming the holder of a conflicting one.
    pub async fn acquire(storage: Arc<dyn Storage>, kind: LockKind, operation: &str) -> Result<Lock> {
        let check = |locks: &[LockInfo], own: Option<&str>| -> Result<()> {
            match locks.iter().find(|l| Some(l.id.as_str()) != own && conflicts(kind, l)) {
                Some(other) => Err(RepoError::Locked(format!(
                    "{} (run `lifeboat unlock` if that process is gone)",
                    other.describe()
                ))),
                None => Ok(()),
            }
        };
        if kind == LockKind::Exclusive && !storage.capabilities().await?.conditional_put {
            return Err(RepoError::Unsupported(format!(
                "{} cannot create objects conditionally (no If-None-Match support), so {operation} cannot take the \
                 exclusive lock it needs without racing another host; refusing (backups, restores and copies \
                 still work here)",
                storage.location()
            )));
        }
        check(&list_locks(storage.as_ref()).await?, None)?;
        let id = hex::encode(random_bytes::<16>().map_err(|e| RepoError::Internal(e.to_string()))?);
        let key = format!("{LOCKS_PREFIX}{id}");
        let info = new_info(&id, kind, operation);
        let body = Bytes::from(serde_json::to_vec(&info).map_err(|e| RepoError::Internal(e.to_string()))?);
        if create_new(storage.as_ref(), &key, body).await? == PutOutcome::AlreadyExists {
            return Err(RepoError::Internal(format!("lock id {id} collided")));
        }
        // Someone may have locked between our check and our write: look again, and back off
        // if so. Two racing lockers may both back off; they never both proceed.
        if let Err(e) = check(&list_locks(storage.as_ref()).await?, Some(&id)) {
            storage.delete(&key).await.ok();
            return Err(e);
        }
        let refresher = {
            let (storage, key) = (storage.clone(), key.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(REFRESH_EVERY).await;
                    let mut fresh = info.clone();
                    fresh.expires = crate::now() + LOCK_TTL;
                    if let Ok(body) = serde_json::to_vec(&fresh)
                        && let Err(e) = storage.put_bytes(&key, Bytes::from(body)).await
                    {
                        tracing::warn!(lock = %key, "could not refresh lock: {e}");
                    }
                }
            })
        };
        Ok(Lock { storage, key, refresher: Some(refresher) })
    }

    /// Removes the lock.
    pub async fn release(mut self) {
        if let Some(r) = self.refresher.take() {
            r.abort();
        }
        if let Err(e) = self.storage.delete(&self.key).await {
            tracing::warn!(lock = %self.key, "could not remove lock: {e}");
        }
        self.key.clear();
    }
}

fn new_info(id: &str, kind: LockKind, operation: &str) -> LockInfo {
    let created = crate::now();
    LockInfo {
        id: id.to_owned(),
        kind,
        operation: operation.to_owned(),
        host: crate::repository::hostname(),
        pid: std::process::id(),
        created,
        expires: created + LOCK_TTL,
    }
}

/// Lock removals started by `Drop` that have not finished yet.
static PENDING_RELEASES: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>> = std::sync::Mutex::new(Vec::new());

/// Waits until every lock dropped without [`Lock::release`] (an operation that failed or
/// was cancelled) has been removed. A program should call this before it exits, or a
/// failed operation may leave its lock behind until the lock expires.
pub async fn settle_lock_releases() {
    loop {
        let pending: Vec<_> = std::mem::take(&mut *PENDING_RELEASES.lock().unwrap_or_else(|p| p.into_inner()));
        if pending.is_empty() {
            return;
        }
        for handle in pending {
            let _ = handle.await;
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if let Some(r) = self.refresher.take() {
            r.abort();
        }
        if !self.key.is_empty()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let (storage, key) = (self.storage.clone(), std::mem::take(&mut self.key));
            let task = handle.spawn(async move {
                if let Err(e) = storage.delete(&key).await {
                    tracing::warn!(lock = %key, "could not remove lock: {e}");
                }
            });
            PENDING_RELEASES.lock().unwrap_or_else(|p| p.into_inner()).push(task);
        }
    }
}

//! Removing backups: `forget` deletes manifests, `prune` deletes the data no manifest
//! references any more. Both hold the exclusive lock, so no backup runs meanwhile.

use std::collections::HashSet;

use futures::StreamExt;
use lifeboat_storage::StorageExt;
use serde::Serialize;

use crate::error::{RepoError, Result};
use crate::layout::{BACKUPS_PREFIX, DATA_PREFIX};
use crate::lock::{LOCK_TTL, LockKind, ensure_reserve};
use crate::repository::Repository;

mod packs;

pub use packs::{DomainRole, SkippedDomain, V3DomainPrune, V3PruneCounts};

/// What `prune` found (and, unless a dry run, deleted).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    /// Data objects referenced by a manifest.
    pub referenced: usize,
    /// Unreferenced data objects.
    pub unreferenced: Vec<String>,
    /// Their total size.
    pub unreferenced_bytes: u64,
    /// Unreferenced objects still under object lock: left alone until their retention ends.
    pub held_by_lock: Vec<String>,
    /// Temporary files that killed writes left behind, older than a lock's lifetime (so no
    /// running write can own them): removed with the rest.
    pub temp_files: Vec<String>,
    /// Their total size.
    pub temp_bytes: u64,
    /// Whether they were deleted.
    pub deleted: bool,
    /// Format v3 packs (docs/FORMAT.md 11.6); absent when the repository has no v3 data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v3: Option<packs::V3PruneCounts>,
}

/// How `prune` runs.
#[derive(Debug, Clone, Copy)]
pub struct PruneOptions {
    /// Find and report only; change nothing.
    pub dry_run: bool,
    /// Format v3: repack a pack when more than this fraction of its bytes is unreferenced
    /// (`--max-unused`, 0.10 by default).
    pub max_unused: f64,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions { dry_run: false, max_unused: crate::v3::gc::DEFAULT_MAX_UNUSED }
    }
}

impl Repository {
    /// Deletes the manifests of backups `ids` (full ids). Their data stays until `prune`.
    pub async fn forget(&self, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let lock = self.lock(LockKind::Exclusive, "forget").await?;
        for id in ids {
            let key = format!("{BACKUPS_PREFIX}{id}");
            if self.storage.head(&key).await?.is_none() {
                return Err(RepoError::NoSuchBackup(id.clone()));
            }
            if let Some(until) = self.load_manifest(id).await?.locked_until.filter(|u| *u > self.now()) {
                return Err(RepoError::ObjectLocked { backup: id.clone(), until: until.to_string() });
            }
            self.storage.delete(&key).await?;
            tracing::info!(backup = %id, "forgot backup");
        }
        lock.release().await;
        Ok(())
    }

    /// Finds data objects that no manifest references and deletes them (unless `dry_run`).
    /// Refuses when any manifest cannot be read: its data must not be mistaken for garbage.
    pub async fn prune(&self, dry_run: bool) -> Result<PruneReport> {
        self.prune_with(PruneOptions { dry_run, ..PruneOptions::default() }).await
    }

    /// [`prune`](Self::prune) with options. In a repository with format v3 data it also
    /// deletes the condemned packs whose delays passed and condemns (after repacking) the
    /// packs no backup needs, as docs/FORMAT.md 11.6 says.
    pub async fn prune_with(&self, options: PruneOptions) -> Result<PruneReport> {
        let dry_run = options.dry_run;
        let lock = self.lock(LockKind::Exclusive, "prune").await?;
        let (manifests, unreadable) = self.list().await?;
        if let Some(e) = unreadable.into_iter().next() {
            return Err(RepoError::Integrity(format!(
                "prune refused: a manifest cannot be read, and its data would look unreferenced: {e}"
            )));
        }
        let referenced: HashSet<String> =
            // A v3 record names a file node, not a data object (its key is empty).
            manifests.iter().flat_map(|m| m.objects.iter().filter(|o| !o.is_v3()).map(|o| o.key.clone())).collect();
        let mut report = PruneReport { referenced: referenced.len(), ..Default::default() };
        let object_lock = self.storage.capabilities().await?.object_lock;
        for meta in self.storage.list_all(DATA_PREFIX).await? {
            if referenced.contains(&meta.key) {
                continue;
            }
            if object_lock && self.storage.retention(&meta.key).await?.is_some_and(|r| r.is_active()) {
                report.held_by_lock.push(meta.key);
                continue;
            }
            report.unreferenced_bytes += meta.size;
            report.unreferenced.push(meta.key);
        }
        if !dry_run {
            let storage = &self.storage;
            let results: Vec<_> = futures::stream::iter(report.unreferenced.iter())
                .map(|key| async move { storage.delete(key).await })
                .buffer_unordered(8)
                .collect()
                .await;
            for r in results {
                r?;
            }
            report.deleted = true;
        }
        // Under the exclusive lock no backup runs, and debris older than a lease belongs to
        // no write that still could; debris can be as large as the object it was to become.
        for temp in self.storage.sweep_temp("", LOCK_TTL, dry_run).await? {
            report.temp_bytes += temp.size;
            report.temp_files.push(temp.key);
        }
        let v3 = packs::V3PruneOptions { dry_run, max_unused: options.max_unused };
        report.v3 = self.prune_v3(&manifests, &lock, v3).await?;
        if !dry_run {
            // Space was freed: restore the reserve a full disk may have used up.
            ensure_reserve(self.storage.as_ref()).await;
        }
        lock.release().await;
        Ok(report)
    }
}

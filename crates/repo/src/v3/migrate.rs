//! Format 2 files backups into format 3 (docs/FORMAT.md 11.7): the re-chunking step shared
//! by `copy` into a v3 repository and `lifeboat migrate`, and the in-place migration.
//!
//! A migrated backup keeps its id and every member of its manifest (name, plan, host,
//! tags, times, parent, source, stats), becomes version 3 with a root tree in the main
//! domain, and records `source.reformatted` (from which version, by which tool, when).
//! Keeping the id keeps every reference to it valid (retention, parents, `sync` copies
//! elsewhere, which would otherwise copy it a second time). In place, the v3 manifest
//! replaces the v2 one in a single put of `backups/<id>`, after every pack and index
//! object it needs is stored: a kill leaves the old manifest or the new one, never none.
//! The v2 data objects stay until `prune` finds them unreferenced.

use futures::TryStreamExt;
use serde::Serialize;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::import::import_tar;
use super::tree::TreeError;
use super::{DATA_FORMAT_MEMBER, MANIFEST_VERSION_V3};
use crate::copy::CopyFailure;
use crate::error::{ErrorKind, RepoError, Result};
use crate::kind::BackupKind;
use crate::lock::LockKind;
use crate::manifest::Manifest;
use crate::repository::Repository;

/// What [`Repository::migrate_to_v3`] did, or would do with `dry_run`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MigrateReport {
    /// Nothing was changed: the lists say what a run would do.
    pub dry_run: bool,
    /// The config was (or would be) given `"data_format": 3`.
    pub config_changed: bool,
    /// Files backups re-chunked into format 3 (same ids).
    pub migrated: Vec<String>,
    /// Backups left in format 2, each with why (streams and databases, object lock).
    pub kept: Vec<CopyFailure>,
    /// Backups that could not be migrated (damaged), each with why; they stay format 2.
    pub failed: Vec<CopyFailure>,
}

/// A re-chunking failure as a repository error: a tar that cannot be read is a damaged
/// backup (so `sync` and `migrate` go on past it), store failures keep their class.
fn import_error(manifest: &Manifest, e: TreeError) -> RepoError {
    match e {
        TreeError::Store { source, .. } => super::copy::store_failure(*source),
        e => RepoError::Integrity(format!("backup {}: {e}", manifest.short_id())),
    }
}

impl Repository {
    /// Re-chunks the v2 files backup `manifest` of `source` into this repository's main
    /// domain and returns its version 3 manifest for this repository (not yet written).
    pub(crate) async fn import_v2_files(&self, source: &Repository, manifest: &Manifest) -> Result<Manifest> {
        let record = manifest.object("tree").ok_or_else(|| {
            RepoError::Integrity(format!("files backup {} has no object named tree", manifest.short_id()))
        })?;
        let stream = source.open_object(record).await?;
        let reader = SyncIoBridge::new(StreamReader::new(Box::pin(stream).map_err(std::io::Error::other)));
        let store = self.v3_store().await?;
        let imported = import_tar(&store, reader, &record.key).await.map_err(|e| import_error(manifest, e))?;
        let mut migrated = manifest.clone();
        migrated.version = MANIFEST_VERSION_V3;
        migrated.repository = self.id().to_owned();
        migrated.objects.clear();
        migrated.tree = Some(imported.root.to_hex());
        migrated.domain = Some(hex::encode(store.keys().id()));
        for name in ["size", "bytes_new", "blobs_new"] {
            migrated.stats.insert(name.to_owned(), imported.stats.get(name).copied().unwrap_or(0));
        }
        migrated.warnings.extend(imported.warnings);
        if let Some(source) = migrated.source.as_object_mut() {
            source.insert(
                "reformatted".into(),
                serde_json::json!({
                    "from_version": manifest.version,
                    "tool": format!("lifeboat {}", env!("CARGO_PKG_VERSION")),
                    "at": self.now().to_rfc3339(),
                }),
            );
        }
        Ok(migrated)
    }

    /// Migrates this repository to format 3 in place: the config gets `"data_format": 3`
    /// (so new files backups are v3), then every format 2 files backup is re-chunked into
    /// a v3 manifest of the same id, replacing the v2 one only once its blobs are stored.
    /// Streams, database dumps and backups under object lock stay format 2 (readable as
    /// ever). A damaged backup is listed in [`MigrateReport::failed`] and the others go on.
    /// Runs under the exclusive lock; with `dry_run` nothing is written or locked.
    pub async fn migrate_to_v3(&mut self, dry_run: bool) -> Result<MigrateReport> {
        let Some((_, master)) = self.master.clone() else {
            return Err(RepoError::NeedsCredential("migrate needs the repository password or key file".into()));
        };
        let mut report = MigrateReport { dry_run, config_changed: !self.writes_v3(), ..Default::default() };
        let lock = if dry_run { None } else { Some(self.lock(LockKind::Exclusive, "migrate").await?) };
        let result = self.migrate_under_lock(&master, &mut report).await;
        if let Some(lock) = lock {
            lock.release().await;
        }
        result.map(|()| report)
    }

    async fn migrate_under_lock(
        &mut self,
        master: &lifeboat_crypto::SecretKey,
        report: &mut MigrateReport,
    ) -> Result<()> {
        let (manifests, unreadable) = self.list().await?;
        for e in unreadable {
            let backup = e.object_key().unwrap_or("a backup").to_owned();
            report.failed.push(CopyFailure { backup, reason: format!("its manifest cannot be read: {e}") });
        }
        let mut todo = Vec::new();
        for manifest in manifests.into_iter().filter(|m| m.version != MANIFEST_VERSION_V3) {
            let kept = |reason: &str| CopyFailure { backup: manifest.id.clone(), reason: reason.to_owned() };
            if manifest.kind != BackupKind::Files {
                report.kept.push(kept("not a files backup: streams and dumps stay format 2 in this version"));
            } else if manifest.locked_until.is_some() {
                report.kept.push(kept("under object lock: its manifest is not rewritten"));
            } else {
                todo.push(manifest);
            }
        }
        if report.dry_run {
            report.migrated = todo.into_iter().map(|m| m.id).collect();
            return Ok(());
        }
        if report.config_changed {
            let mut config = self.reread_config(master).await?;
            config.extra.insert(DATA_FORMAT_MEMBER.into(), serde_json::Value::from(3u32));
            self.write_config(&mut config, master).await?;
            self.config = config;
        }
        for manifest in todo {
            match self.import_v2_files(self, &manifest).await {
                Ok(migrated) => {
                    self.write_manifest(&migrated, true).await?;
                    report.migrated.push(manifest.id.clone());
                }
                Err(e) if matches!(e.kind(), ErrorKind::Damaged | ErrorKind::NotFound) => {
                    tracing::warn!(backup = %manifest.id, "not migrated: {e}");
                    report.failed.push(CopyFailure { backup: manifest.id.clone(), reason: e.to_string() });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

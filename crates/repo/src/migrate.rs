//! `lifeboat migrate`: a format 2 repository into format 3 in place (docs/FORMAT.md 11.7).
//! The re-chunking of one backup is [`crate::copy`]'s, shared with `copy` into a v3
//! repository.
//!
//! A migrated backup keeps its id and every member of its manifest (name, plan, host,
//! tags, times, parent, source, stats), becomes version 3 with a root tree in the main
//! domain, and records `source.reformatted` (from which version, by which tool, when).
//! Keeping the id keeps every reference to it valid (retention, parents, `sync` copies
//! elsewhere, which would otherwise copy it a second time). In place, the v3 manifest
//! replaces the v2 one in a single put of `backups/<id>`, after every pack and index
//! object it needs is stored: a kill leaves the old manifest or the new one, never none.
//! Files backups and streams (standard input, database dumps) are all re-chunked, so a
//! migrated repository holds no format 2 data but that of locked backups once `prune` ran:
//! the v2 data objects stay until `prune` finds them unreferenced.

use serde::Serialize;

use crate::config::DATA_FORMAT_MEMBER;
use crate::copy::{CopyFailure, streams_unconvertible};
use crate::error::{ErrorKind, RepoError, Result};
use crate::kind::BackupKind;
use crate::lock::LockKind;
use crate::manifest::MANIFEST_VERSION_V3;
use crate::repository::Repository;

/// What [`Repository::migrate_to_v3`] did, or would do with `dry_run`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MigrateReport {
    /// Nothing was changed: the lists say what a run would do.
    pub dry_run: bool,
    /// The config was (or would be) given `"data_format": 3`.
    pub config_changed: bool,
    /// Files backups re-chunked into format 3 trees (same ids).
    pub migrated: Vec<String>,
    /// Stream and database backups re-chunked into v3 stream records (same ids).
    pub migrated_streams: Vec<String>,
    /// Backups left in format 2, each with why (object lock, a kind or object names this
    /// version does not re-chunk).
    pub kept: Vec<CopyFailure>,
    /// Backups that could not be migrated (damaged), each with why; they stay format 2.
    pub failed: Vec<CopyFailure>,
}

impl Repository {
    /// Migrates this repository to format 3 in place: the config gets `"data_format": 3`
    /// (so new backups are v3), then every format 2 backup is re-chunked into a v3
    /// manifest of the same id, replacing the v2 one only once its blobs are stored: a
    /// files backup's tar into trees, each stream of a stream or database backup into a v3
    /// stream record. Backups under object lock stay format 2 (their objects carry their
    /// retention; readable as ever), and so do kinds this version does not know. A damaged
    /// backup is listed in [`MigrateReport::failed`] and the others go on.
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
            let kept = |reason: String| CopyFailure { backup: manifest.id.clone(), reason };
            if manifest.locked_until.is_some() {
                // Its objects carry its retention and shared packs cannot (FORMAT.md 11.5).
                report.kept.push(kept("under object lock: its manifest and objects stay format 2".into()));
            } else if manifest.kind == BackupKind::Files {
                todo.push((manifest, true));
            } else if let Some(reason) = streams_unconvertible(&manifest) {
                report.kept.push(kept(reason));
            } else {
                todo.push((manifest, false));
            }
        }
        if report.dry_run {
            for (manifest, files) in todo {
                migrated_list(report, files).push(manifest.id);
            }
            return Ok(());
        }
        if report.config_changed {
            let mut config = self.reread_config(master).await?;
            config.extra.insert(DATA_FORMAT_MEMBER.into(), serde_json::Value::from(3u32));
            self.write_config(&mut config, master).await?;
            self.config = config;
        }
        for (manifest, files) in todo {
            let rechunked = match files {
                true => self.import_v2_files(self, &manifest).await,
                false => self.import_v2_streams(self, &manifest).await,
            };
            match rechunked {
                Ok(migrated) => {
                    self.write_manifest(&migrated, true).await?;
                    migrated_list(report, files).push(manifest.id.clone());
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

/// The list of [`MigrateReport`] a migrated backup goes in: files or streams.
fn migrated_list(report: &mut MigrateReport, files: bool) -> &mut Vec<String> {
    match files {
        true => &mut report.migrated,
        false => &mut report.migrated_streams,
    }
}

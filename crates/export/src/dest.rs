//! Named export files at a destination (a directory, S3, COS, WebDAV: any
//! [`Storage`]), each with its manifest beside it, and their expiry.
//!
//! An export `NAME.tar.gz` is written first, then `NAME.tar.gz.manifest.json` (the export's
//! manifest with [`ArchiveInfo`] naming the file, its size and BLAKE3). A failed export leaves
//! only its manifest, `status = "failed"` with the error, so it expires by its own rule.
//!
//! [`clean`] deletes a file only when its manifest is a Lifeboat export manifest naming that
//! very file with the same size, and the manifest's time is past the rule for its status
//! (through [`lifeboat_retention::Expiry`]); a file without such a manifest is never touched.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use lifeboat_crypto::RecipientPublicKey;
use lifeboat_retention::{Expiry, Snapshot};
use lifeboat_storage::{ByteStream, Op, Storage, StorageError, StorageExt};
use serde::Serialize;

use crate::archive::{Compression, ENCRYPTED_SUFFIX, encrypt, pack};
use crate::error::{ExportError, Result};
use crate::manifest::{ArchiveInfo, ExportManifest, ExportStatus, SIDECAR_SUFFIX};
use crate::naming::NameTemplate;

/// Where and how named export files are written.
#[derive(Clone)]
pub struct Destination {
    /// The storage (its root is the destination directory or bucket prefix).
    pub storage: Arc<dyn Storage>,
    /// The naming template.
    pub name: NameTemplate,
    /// tar.gz or tar.zst.
    pub compression: Compression,
    /// Encrypt for these recipients (none: plain).
    pub recipients: Vec<RecipientPublicKey>,
}

/// The outcome of writing one export to a destination.
#[derive(Clone, Debug, Serialize)]
pub struct Delivered {
    /// The export file's name (`None` when a failed export stored none).
    pub file: Option<String>,
    /// The manifest beside it.
    pub manifest_file: String,
    /// Bytes of the export file.
    pub bytes: u64,
    /// Where (the storage's location, without credentials).
    pub location: String,
}

fn storage_err(storage: &dyn Storage, operation: &'static str, key: &str, source: StorageError) -> ExportError {
    ExportError::Storage { location: storage.location(), operation, key: key.to_string(), source: Box::new(source) }
}

impl Destination {
    fn file_name(&self, manifest: &ExportManifest, time: DateTime<Utc>) -> Result<String> {
        let base = self.name.render(manifest.plan.as_deref().unwrap_or("export"), &manifest.id, time)?;
        let mut name = format!("{base}.{}", self.compression.extension());
        if !self.recipients.is_empty() {
            name.push_str(ENCRYPTED_SUFFIX);
        }
        Ok(name)
    }

    /// Packs the export in `staging` (its `manifest.json` written) and stores it under a new
    /// name, then its manifest beside it.
    pub async fn deliver(&self, staging: &Path, manifest: &ExportManifest) -> Result<Delivered> {
        let time = manifest.created_at().map(|t| t.to_utc()).unwrap_or_else(|_| Utc::now());
        let name = self.file_name(manifest, time)?;
        let work = tempfile::Builder::new()
            .prefix(".lifeboat-export-")
            .tempdir()
            .map_err(|e| ExportError::io("creating", "a temporary directory", e))?;
        let tarball = work.path().join("export.tar");
        let (dir, tb, compression) = (staging.to_path_buf(), tarball.clone(), self.compression);
        tokio::task::spawn_blocking(move || pack(&dir, compression, &tb))
            .await
            .map_err(|e| ExportError::worker("packing the export", e))??;
        let file = if self.recipients.is_empty() {
            tarball
        } else {
            let sealed = work.path().join("export.lbx");
            encrypt(&tarball, &self.recipients, &sealed, &name).await?;
            sealed
        };
        let (bytes, digest) = {
            let f = file.clone();
            tokio::task::spawn_blocking(move || -> std::io::Result<(u64, String)> {
                let mut h = blake3::Hasher::new();
                h.update_reader(std::fs::File::open(&f)?)?;
                Ok((std::fs::metadata(&f)?.len(), h.finalize().to_hex().to_string()))
            })
            .await
            .map_err(|e| ExportError::worker("hashing the export", e))?
            .map_err(|e| ExportError::io("reading", &file, e))?
        };
        let reader = tokio::fs::File::open(&file).await.map_err(|e| ExportError::io("opening", &file, e))?;
        let (location, key) = (self.storage.location(), name.clone());
        let body: ByteStream = Box::pin(
            tokio_util::io::ReaderStream::new(reader)
                .map_err(move |e| StorageError::from_io(Op::Put, &location, &key, e)),
        );
        self.storage
            .put(&name, body, Some(bytes))
            .await
            .map_err(|e| storage_err(&*self.storage, "writing", &name, e))?;
        let manifest_file = self.put_sidecar(manifest.clone(), &name, bytes, digest).await?;
        Ok(Delivered { file: Some(name), manifest_file, bytes, location: self.storage.location() })
    }

    /// Writes `side` with its [`ArchiveInfo`] as `<name>.manifest.json`; returns that name.
    async fn put_sidecar(&self, mut side: ExportManifest, name: &str, bytes: u64, blake3: String) -> Result<String> {
        side.archive = Some(ArchiveInfo {
            name: name.to_string(),
            compression: self.compression.extension().into(),
            bytes,
            blake3,
            recipients: self.recipients.iter().map(|r| r.to_string()).collect(),
        });
        let manifest_file = format!("{name}{SIDECAR_SUFFIX}");
        self.storage
            .put_bytes(&manifest_file, Bytes::from(side.to_json()))
            .await
            .map_err(|e| storage_err(&*self.storage, "writing", &manifest_file, e))?;
        Ok(manifest_file)
    }

    /// Records a failed export: only its manifest, `status = "failed"`, with `error`.
    pub async fn record_failure(&self, manifest: &ExportManifest, error: &str) -> Result<Delivered> {
        let time = manifest.created_at().map(|t| t.to_utc()).unwrap_or_else(|_| Utc::now());
        let name = self.file_name(manifest, time)?;
        let mut side = manifest.clone();
        side.status = ExportStatus::Failed;
        side.error = Some(error.to_string());
        let manifest_file = self.put_sidecar(side, &name, 0, String::new()).await?;
        Ok(Delivered { file: None, manifest_file, bytes: 0, location: self.storage.location() })
    }
}

/// How long exports at a destination are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExpiryRules {
    /// Complete exports.
    pub ok: Expiry,
    /// Failed exports.
    pub failed: Expiry,
}

/// What a clean decided for one export (or foreign file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CleanItem {
    /// The export file (or the foreign file's key).
    pub name: String,
    /// `ok` or `failed`; `None` for a file that is not Lifeboat's.
    pub status: Option<ExportStatus>,
    /// Created (RFC 3339), when known.
    pub created: Option<String>,
    /// Deleted (or would be, in a dry run).
    pub delete: bool,
    /// Why.
    pub reason: String,
}

/// What a clean did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CleanReport {
    /// The destination.
    pub location: String,
    /// Nothing was deleted.
    pub dry_run: bool,
    /// Every export and every foreign file, by name.
    pub items: Vec<CleanItem>,
}

impl CleanReport {
    /// The names deleted.
    pub fn deleted(&self) -> Vec<&str> {
        self.items.iter().filter(|i| i.delete).map(|i| i.name.as_str()).collect()
    }
}

/// Applies `rules` to every export at `storage` (at `now`); deletes the expired ones unless
/// `dry_run`. Files that are not Lifeboat exports are listed as such and left alone.
pub async fn clean(
    storage: &dyn Storage,
    rules: ExpiryRules,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<CleanReport> {
    let listing = storage.list_all("").await.map_err(|e| storage_err(storage, "listing", "", e))?;
    let sizes: std::collections::HashMap<&str, u64> = listing.iter().map(|m| (m.key.as_str(), m.size)).collect();
    let mut claimed: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut items = Vec::new();
    for meta in &listing {
        let Some(file) = meta.key.strip_suffix(SIDECAR_SUFFIX) else { continue };
        let text = storage.get_bytes(&meta.key).await.map_err(|e| storage_err(storage, "reading", &meta.key, e))?;
        let manifest = match ExportManifest::parse(&text) {
            Ok(m) => m,
            Err(reason) => {
                items.push(CleanItem {
                    name: meta.key.clone(),
                    status: None,
                    created: None,
                    delete: false,
                    reason: format!("not a Lifeboat export manifest ({reason}): left alone"),
                });
                claimed.insert(meta.key.clone());
                continue;
            }
        };
        let Some(archive) = manifest.archive.as_ref().filter(|a| a.name == file) else {
            items.push(CleanItem {
                name: meta.key.clone(),
                status: None,
                created: None,
                delete: false,
                reason: "the manifest names another file: left alone".into(),
            });
            claimed.insert(meta.key.clone());
            continue;
        };
        claimed.insert(meta.key.clone());
        let present = sizes.get(file).copied();
        if present.is_some() {
            claimed.insert(file.to_string());
        }
        let created = match manifest.created_at() {
            Ok(c) => c,
            Err(reason) => {
                items.push(CleanItem {
                    name: file.to_string(),
                    status: Some(manifest.status),
                    created: None,
                    delete: false,
                    reason: format!("{reason}: kept"),
                });
                continue;
            }
        };
        let rule = match manifest.status {
            ExportStatus::Ok => rules.ok,
            ExportStatus::Failed => rules.failed,
        };
        let decision = rule.decide(&Snapshot::new(file, created), now);
        let mut reason = decision.reasons.join(", ");
        let mut delete = !decision.keep;
        if delete
            && let Some(size) = present
            && size != archive.bytes
        {
            delete = false;
            reason =
                format!("{reason}, but the file is {size} bytes and its manifest says {}: left alone", archive.bytes);
        }
        if delete && !dry_run {
            if present.is_some() {
                storage.delete(file).await.map_err(|e| storage_err(storage, "deleting", file, e))?;
            }
            storage.delete(&meta.key).await.map_err(|e| storage_err(storage, "deleting", &meta.key, e))?;
        }
        items.push(CleanItem {
            name: file.to_string(),
            status: Some(manifest.status),
            created: Some(manifest.created.clone()),
            delete,
            reason,
        });
    }
    for meta in &listing {
        if !claimed.contains(&meta.key) {
            items.push(CleanItem {
                name: meta.key.clone(),
                status: None,
                created: None,
                delete: false,
                reason: "no Lifeboat export manifest names it: never deleted".into(),
            });
        }
    }
    items.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(CleanReport { location: storage.location(), dry_run, items })
}

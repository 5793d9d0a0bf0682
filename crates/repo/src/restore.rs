//! Reading backups back: data objects as checked plaintext streams, restores to a writer
//! or into a directory.

use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};
use lifeboat_crypto::{ObjectDigests, OpenOptions, PipelineStream, open_data_stream_with};
use lifeboat_storage::{DrainError, drain_into};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::error::{RepoError, Result};
use crate::kind::BackupKind;
use crate::manifest::{Manifest, ObjectRecord};
use crate::progress::FileCounter;
use crate::progress::Progress;
use crate::repository::Repository;
use crate::tree::{RestoreOptions, RestoreReport, Staging, create_private_file, unpack};

mod salvage;
mod stream_v3;

pub use salvage::{DamagedSegment, LostEntry, SalvageReport};

impl Repository {
    /// Restores a v3 files backup into `target` (new or empty; the tree appears there only
    /// once every file authenticated), reading only the packs of what `spec` selects, from
    /// the domain the manifest names.
    pub async fn restore_v3(
        &self,
        manifest: &Manifest,
        target: &Path,
        spec: &crate::v3::restorer::RestoreSpec,
    ) -> Result<crate::v3::restorer::Restored> {
        let root = crate::manifest::v3_root(manifest)?;
        let store = self.v3_store_of(manifest).await?;
        crate::v3::restorer::Restorer::new(&store).restore(&root, target, spec).await.map_err(crate::v3::tree_error)
    }

    /// Opens a data object of a backup as a stream of authenticated plaintext chunks. At the
    /// end of the stream the size and the plaintext digest are checked against the
    /// manifest; the stored bytes need no digest of their own here, since decryption
    /// authenticates every one of them (see [`Repository::verify`] for that digest).
    pub async fn open_object(&self, record: &ObjectRecord) -> Result<PipelineStream> {
        self.open_checked(record, false).await
    }

    pub(crate) async fn open_checked(&self, record: &ObjectRecord, stored_digest: bool) -> Result<PipelineStream> {
        if record.is_v3() {
            // A file node of a v3 root tree: its chunks authenticate against their ids.
            return self.open_v3_object(record).await;
        }
        let raw = self.storage.get(&record.key, None).await?;
        let object_id = record.object_id_bytes().map_err(RepoError::Internal)?;
        let options = OpenOptions { parallelism: self.options.parallelism, stored_digest };
        let (stream, completion) = open_data_stream_with(raw, object_id, record.dek.clone(), options).into_parts();
        // Check what the manifest recorded: the plaintext size as chunks come (nothing beyond
        // it is released), everything else once the object is consumed to its end.
        let record = record.clone();
        let checked = futures::stream::unfold(Some((stream, completion, record, 0u64)), |state| async move {
            let (mut stream, completion, record, seen) = state?;
            match stream.next().await {
                Some(Ok(chunk)) => {
                    let seen = seen + chunk.len() as u64;
                    if seen > record.plain_size {
                        let e = mismatch(format!(
                            "the plaintext is longer than the {} bytes recorded (plain_size)",
                            record.plain_size
                        ));
                        return Some((Err(e), None));
                    }
                    Some((Ok(chunk), Some((stream, completion, record, seen))))
                }
                Some(Err(e)) => Some((Err(e), None)),
                None => match completion.finish().await {
                    Ok(d) => check_digests(&d, &record).err().map(|e| (Err(e), None)),
                    Err(e) => Some((Err(e), None)),
                },
            }
        });
        Ok(Box::pin(checked))
    }

    /// Writes a backup's object (`stream` by default) to `out`. Every byte written was
    /// authenticated first; on damage the error names the object and nothing more is written.
    pub async fn restore_to_writer<W: AsyncWrite + Unpin>(
        &self,
        manifest: &Manifest,
        object: Option<&str>,
        out: &mut W,
    ) -> Result<u64> {
        let record = pick_object(manifest, object)?;
        let mut stream = self.open_object(record).await?;
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| RepoError::object(&record.label(), &self.location(), e))?;
            out.write_all(&chunk).await.map_err(|e| RepoError::LocalIo {
                what: "cannot write restored data to",
                path: "output".into(),
                source: e,
            })?;
            written += chunk.len() as u64;
        }
        out.flush().await.map_err(|e| RepoError::LocalIo { what: "cannot flush", path: "output".into(), source: e })?;
        Ok(written)
    }

    /// Restores one object of a backup into a blocking writer (a file, standard output),
    /// written on a blocking thread straight from the pipeline's buffers: unlike
    /// [`Repository::restore_to_writer`], no byte is copied on its way out. Returns the
    /// bytes written and the writer.
    pub async fn restore_to_sync_writer<W: std::io::Write + Send + 'static>(
        &self,
        manifest: &Manifest,
        object: Option<&str>,
        out: W,
    ) -> Result<(u64, W)> {
        self.restore_to_sync_writer_observed(manifest, object, out, &Progress::default()).await
    }

    /// [`Repository::restore_to_sync_writer`], counting the bytes written into `progress`
    /// (its byte total is the object's plaintext size).
    pub async fn restore_to_sync_writer_observed<W: std::io::Write + Send + 'static>(
        &self,
        manifest: &Manifest,
        object: Option<&str>,
        out: W,
        progress: &Progress,
    ) -> Result<(u64, W)> {
        let record = pick_object(manifest, object)?;
        progress.add_totals(0, record.plain_size);
        let stream = Box::pin(progress.count(self.open_object(record).await?));
        drain_into(stream, out, |_, _| {}).await.map_err(|e| match e {
            DrainError::Stream(e) => RepoError::object(&record.label(), &self.location(), e),
            DrainError::Write(e) => {
                RepoError::LocalIo { what: "cannot write restored data to", path: "output".into(), source: e }
            }
        })
    }

    /// Restores a backup into the directory `target` (which must be new or empty): a files
    /// backup is unpacked; any other backup's objects are written as files named after them.
    /// The tree appears at `target` only once everything authenticated. Owners are
    /// restored when running as root ([`RestoreOptions::default`]); warnings are logged.
    pub async fn restore_to_dir(&self, manifest: &Manifest, target: &Path) -> Result<PathBuf> {
        let report = self.restore_to_dir_with(manifest, target, &RestoreOptions::default()).await?;
        for warning in &report.warnings {
            tracing::warn!("{warning}");
        }
        Ok(report.path)
    }

    /// [`Repository::restore_to_dir`] with explicit options, returning the warnings too.
    /// Until it is published, the tree is in a hidden sibling of `target` that only the
    /// restoring user can enter, and every file in it is 0600 until its recorded mode is
    /// set (dumps of other backups stay 0600). If the future is dropped (Ctrl-C), the
    /// staging folder is removed once the unpack has stopped (see
    /// [`crate::settle_restore_cleanup`]).
    pub async fn restore_to_dir_with(
        &self,
        manifest: &Manifest,
        target: &Path,
        options: &RestoreOptions,
    ) -> Result<RestoreReport> {
        self.restore_to_dir_observed(manifest, target, options, &Progress::default()).await
    }

    /// [`Repository::restore_to_dir_with`], counting into `progress` the files unpacked and
    /// the bytes of the tar stream read (or of the objects written, for other backups);
    /// the totals are the manifest's file count and plaintext sizes.
    pub async fn restore_to_dir_observed(
        &self,
        manifest: &Manifest,
        target: &Path,
        options: &RestoreOptions,
        progress: &Progress,
    ) -> Result<RestoreReport> {
        // A v3 stream backup's records are restored as a v2 one's objects, under the same names.
        if manifest.version == crate::manifest::MANIFEST_VERSION_V3 && manifest.objects.is_empty() {
            let spec = crate::v3::restorer::RestoreSpec { same_owner: options.same_owner, ..Default::default() };
            let restored = self.restore_v3(manifest, target, &spec).await?;
            return Ok(RestoreReport { path: restored.path, warnings: restored.warnings });
        }
        let staging = Staging::prepare(target)?;
        let mut warnings = Vec::new();
        if manifest.kind == BackupKind::Files {
            warnings = self.unpack_tree(manifest, &staging, options, progress).await?;
        } else {
            for record in &manifest.objects {
                let path = safe_join(&staging.dir, restored_file_name(manifest, record))?;
                if let Some(parent) = path.parent() {
                    tokio::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).await.map_err(|e| {
                        RepoError::LocalIo { what: "cannot create", path: parent.display().to_string(), source: e }
                    })?;
                }
                // A dump holds a whole database: it stays 0600.
                let create = path.clone();
                let file = tokio::task::spawn_blocking(move || create_private_file(&create))
                    .await
                    .map_err(|e| RepoError::Internal(e.to_string()))?
                    .map_err(|e| RepoError::LocalIo {
                        what: "cannot create",
                        path: path.display().to_string(),
                        source: e,
                    })?;
                let (_, file) =
                    self.restore_to_sync_writer_observed(manifest, Some(&record.name), file, progress).await?;
                tokio::task::spawn_blocking(move || file.sync_all())
                    .await
                    .map_err(|e| RepoError::Internal(format!("sync: {e}")))?
                    .map_err(|e| RepoError::LocalIo {
                        what: "cannot sync",
                        path: path.display().to_string(),
                        source: e,
                    })?;
            }
        }
        Ok(RestoreReport { path: staging.publish()?, warnings })
    }

    /// Unpacks a files backup's tree into the staging folder and returns the warnings.
    /// A failure names the object, and the damage behind it when there is some: the
    /// unpack only sees a read error of the file it was writing.
    async fn unpack_tree(
        &self,
        manifest: &Manifest,
        staging: &Staging,
        options: &RestoreOptions,
        progress: &Progress,
    ) -> Result<Vec<String>> {
        let record = pick_object(manifest, Some("tree"))?;
        progress.add_totals(manifest.stats.get("files").copied().unwrap_or(0), record.plain_size);
        let mut files = FileCounter::new(progress.clone());
        let stream = progress.count(self.open_object(record).await?).map(move |chunk| {
            if let Ok(chunk) = &chunk {
                files.feed(chunk);
            }
            chunk
        });
        let (key, location) = (record.key.clone(), self.location());
        let reader = StreamReader::new(Box::pin(stream).map_err(std::io::Error::other));
        let dir = staging.dir.clone();
        let (options, guard) = (options.clone(), staging.guard());
        let unpacked = tokio::task::spawn_blocking(move || unpack(SyncIoBridge::new(reader), &dir, &options, guard))
            .await
            .map_err(|e| RepoError::Internal(e.to_string()))?;
        unpacked.map_err(|e| {
            let failure = match damage_behind(&e) {
                Some(cause) => format!("object {key}: {cause} (found while restoring {})", entry_of(&e, &staging.dir)),
                None => e.to_string(),
            };
            RepoError::Integrity(format!(
                "restore of {key} from {location} aborted, nothing was written to the target: {failure}"
            ))
        })
    }
}

/// The entry an unpack error happened at, named as in the archive (not by its staging path).
fn entry_of(error: &RepoError, staging: &Path) -> String {
    match error {
        RepoError::LocalIo { path, .. } => match Path::new(path).strip_prefix(staging) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
            _ => "the header of the next entry".to_owned(),
        },
        _ => "the archive".to_owned(),
    }
}

/// The decryption failure an unpack error comes from, when it comes from one: the read
/// error of the stream, buried in the error of the file being written.
fn damage_behind(error: &RepoError) -> Option<&lifeboat_crypto::CryptoError> {
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(crypto) = e.downcast_ref::<lifeboat_crypto::CryptoError>() {
            return Some(crypto);
        }
        source = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// The file a stream object is restored into: a stdin backup's single object is named
/// `stream` in the manifest, but the operator knows it by the name it was backed up with
/// (`backup stdin --name app.sql`), so it gets that name's last component when that is a
/// usable file name. Database objects keep their own names (`db/app.pgdump`).
fn restored_file_name<'m>(manifest: &'m Manifest, record: &'m ObjectRecord) -> &'m str {
    if manifest.kind != BackupKind::Stream || record.name != "stream" {
        return &record.name;
    }
    match manifest.name.rsplit('/').next() {
        Some(base) if !base.is_empty() && base != "." && base != ".." && !base.contains('\0') => base,
        _ => &record.name,
    }
}

fn mismatch(what: String) -> lifeboat_crypto::CryptoError {
    lifeboat_crypto::CryptoError::RecordMismatch(what)
}

/// Compares what opening an object measured with what its manifest recorded, naming the
/// field that differs (FORMAT.md 5: sizes and digests must agree).
fn check_digests(d: &ObjectDigests, record: &ObjectRecord) -> std::result::Result<(), lifeboat_crypto::CryptoError> {
    if d.size != record.size {
        return Err(mismatch(format!("{} bytes stored, {} recorded (size)", d.size, record.size)));
    }
    if let Some(found) = d.blake3.map(hex::encode)
        && found != record.blake3
    {
        return Err(mismatch(format!("stored BLAKE3 {found}, {} recorded (blake3)", record.blake3)));
    }
    if d.plain_size != record.plain_size {
        return Err(mismatch(format!(
            "the plaintext is {} bytes, {} recorded (plain_size)",
            d.plain_size, record.plain_size
        )));
    }
    let found = hex::encode(d.plain_blake3);
    if found != record.plain_blake3 {
        return Err(mismatch(format!("plaintext BLAKE3 {found}, {} recorded (plain_blake3)", record.plain_blake3)));
    }
    Ok(())
}

fn pick_object<'m>(manifest: &'m Manifest, name: Option<&str>) -> Result<&'m ObjectRecord> {
    if manifest.version == crate::manifest::MANIFEST_VERSION_V3 && manifest.objects.is_empty() {
        return Err(RepoError::Unsupported(format!(
            "backup {} is a format 3 tree of files, not a stream: restore it with --target",
            manifest.short_id()
        )));
    }
    match name {
        Some(n) => manifest
            .object(n)
            .ok_or_else(|| RepoError::Internal(format!("backup {} has no object named {n:?}", manifest.short_id()))),
        None => match manifest.objects.as_slice() {
            [one] => Ok(one),
            _ => manifest.object("stream").ok_or_else(|| {
                RepoError::Internal(format!(
                    "backup {} has {} objects; name one of: {}",
                    manifest.short_id(),
                    manifest.objects.len(),
                    manifest.objects.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ")
                ))
            }),
        },
    }
}

/// Joins an object name (from a manifest, so possibly hostile) under `dir`.
fn safe_join(dir: &Path, name: &str) -> Result<PathBuf> {
    let rel = Path::new(name);
    if name.is_empty() || rel.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
        return Err(RepoError::Integrity(format!("object name {name:?} is not a safe relative path")));
    }
    Ok(dir.join(rel))
}

//! Reading backups back: restore, verify, copy; and backing up trees.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use lifeboat_crypto::{ObjectDigests, OpenOptions, PipelineStream, digest_stream, open_data_stream_with};
use lifeboat_storage::{ByteStream, DrainError, drain_into};
use serde::Serialize;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::error::{RepoError, Result};
use crate::kind::BackupKind;
use crate::manifest::{Manifest, ObjectRecord};
use crate::repository::{BackupRequest, Repository};
use crate::tree::{RestoreOptions, RestoreReport, Staging, create_private_file, spawn_tree_producer, unpack};

/// One problem found by `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct Damage {
    /// Backup id.
    pub backup: String,
    /// Object key (or the manifest's).
    pub object: String,
    /// What is wrong.
    pub problem: String,
}

/// What `verify` checked and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Backups checked.
    pub backups: usize,
    /// Objects checked.
    pub objects: usize,
    /// Stored bytes read.
    pub bytes_read: u64,
    /// Whether plaintext was decrypted and compared.
    pub deep: bool,
    /// Everything wrong.
    pub damage: Vec<Damage>,
}

impl VerifyReport {
    /// True when nothing is damaged.
    pub fn is_ok(&self) -> bool {
        self.damage.is_empty()
    }

    /// Records a manifest that could not be read (damaged, forged, unreadable storage) as
    /// damage, naming the backup and its manifest when the error does.
    pub fn add_unreadable(&mut self, error: &RepoError) {
        let object = error.object_key().unwrap_or_default().to_owned();
        let backup = object.strip_prefix(crate::layout::BACKUPS_PREFIX).unwrap_or_default().to_owned();
        self.damage.push(Damage { backup, object, problem: error.to_string() });
    }
}

/// What a copy did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CopyReport {
    /// Backups copied.
    pub copied: Vec<String>,
    /// Backups the destination already had.
    pub skipped: Vec<String>,
    /// Objects sent.
    pub objects_sent: usize,
    /// Objects already present with the right size and digest.
    pub objects_present: usize,
    /// Destination objects that had the right size but not the recorded digest (a corrupt
    /// replica): they were sent again.
    pub objects_repaired: Vec<String>,
    /// Backups whose copy at the destination existed but did not open, named other objects,
    /// or lacked one: each entry says which and why; they were copied again.
    pub manifests_repaired: Vec<String>,
    /// Bytes sent.
    pub bytes_sent: u64,
}

impl Repository {
    /// Backs up directory trees and files (`kind = "files"`, object `tree`).
    pub async fn backup_files(&self, paths: &[PathBuf], mut request: BackupRequest) -> Result<Manifest> {
        request.kind = BackupKind::Files;
        if request.name.is_empty() {
            request.name = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" ");
        }
        let (reader, walker) = spawn_tree_producer(paths)?;
        let mut writer = self.start_backup(request).await?;
        let added = writer.add_stream("tree", reader).await.map(|_| ());
        let summary = walker.await.map_err(|e| RepoError::Internal(e.to_string()))?;
        // A storage failure (no space, permission denied) stops the walker, which then
        // fails too, but only because nobody reads any more: the storage error is the cause.
        if let Err(e @ RepoError::Storage(_)) = added {
            return Err(e);
        }
        // Otherwise the walker's own error (naming the file) explains a failed stream best.
        let summary = summary?;
        added?;
        for w in summary.warnings {
            writer.warn(w);
        }
        for (k, v) in summary.stats {
            writer.stat(&k, v);
        }
        writer.commit().await
    }

    /// Opens a data object of a backup as a stream of authenticated plaintext chunks. At the
    /// end of the stream the size and the plaintext digest are checked against the
    /// manifest; the stored bytes need no digest of their own here, since decryption
    /// authenticates every one of them (see [`Repository::verify`] for that digest).
    pub async fn open_object(&self, record: &ObjectRecord) -> Result<PipelineStream> {
        self.open_checked(record, false).await
    }

    async fn open_checked(&self, record: &ObjectRecord, stored_digest: bool) -> Result<PipelineStream> {
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
            let chunk = chunk.map_err(|e| RepoError::object(&record.key, &self.location(), e))?;
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
        let record = pick_object(manifest, object)?;
        let stream = self.open_object(record).await?;
        drain_into(stream, out, |_, _| {}).await.map_err(|e| match e {
            DrainError::Stream(e) => RepoError::object(&record.key, &self.location(), e),
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
        let staging = Staging::prepare(target)?;
        let mut warnings = Vec::new();
        if manifest.kind == BackupKind::Files {
            let record = pick_object(manifest, Some("tree"))?;
            let stream = self.open_object(record).await?;
            let key = record.key.clone();
            let location = self.location();
            let reader = StreamReader::new(stream.map_err(std::io::Error::other));
            let dir = staging.dir.clone();
            let (options, guard) = (options.clone(), staging.guard());
            let unpacked =
                tokio::task::spawn_blocking(move || unpack(SyncIoBridge::new(reader), &dir, &options, guard))
                    .await
                    .map_err(|e| RepoError::Internal(e.to_string()))?;
            warnings = unpacked.map_err(|e| {
                RepoError::Integrity(format!(
                    "restore of {key} from {location} aborted, nothing was written to the target: {e}"
                ))
            })?;
        } else {
            for record in &manifest.objects {
                let path = safe_join(&staging.dir, &record.name)?;
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
                let (_, file) = self.restore_to_sync_writer(manifest, Some(&record.name), file).await?;
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

    /// Checks backups: every object present with its recorded size and digest; with `deep`,
    /// also decrypted, decompressed and compared with the recorded plaintext digest (both
    /// digests from one read).
    pub async fn verify(&self, manifests: &[Manifest], deep: bool) -> Result<VerifyReport> {
        let mut report = VerifyReport { deep, ..Default::default() };
        for manifest in manifests {
            report.backups += 1;
            for record in &manifest.objects {
                report.objects += 1;
                let problem = if deep { self.verify_deep(record).await } else { self.verify_quick(record).await };
                match problem {
                    Ok(read) => report.bytes_read += read,
                    Err(problem) => {
                        report.damage.push(Damage { backup: manifest.id.clone(), object: record.key.clone(), problem })
                    }
                }
            }
        }
        Ok(report)
    }

    async fn verify_quick(&self, record: &ObjectRecord) -> std::result::Result<u64, String> {
        let meta = self.storage.head(&record.key).await.map_err(|e| e.to_string())?;
        let meta = meta.ok_or_else(|| "missing".to_owned())?;
        if meta.size != record.size {
            return Err(format!("size {} differs from the recorded {}", meta.size, record.size));
        }
        let stream = self.storage.get(&record.key, None).await.map_err(|e| e.to_string())?;
        let (size, digest) = digest_stream(stream).await.map_err(|e| e.to_string())?;
        if hex::encode(digest) != record.blake3 {
            return Err(format!("BLAKE3 {} differs from the recorded {}", hex::encode(digest), record.blake3));
        }
        Ok(size)
    }

    async fn verify_deep(&self, record: &ObjectRecord) -> std::result::Result<u64, String> {
        let mut stream = self.open_checked(record, true).await.map_err(|e| e.to_string())?;
        while let Some(chunk) = stream.next().await {
            chunk.map_err(|e| e.to_string())?;
        }
        Ok(record.size)
    }

    /// Copies backups to `dest` (another repository, possibly with other keys). Data objects
    /// travel byte for byte and are checked against their recorded digests; manifests are
    /// re-sealed for the destination's keys. Objects already at the destination with the
    /// right size and the recorded BLAKE3 (read back and hashed) are not sent again, so an
    /// interrupted copy resumes where it stopped; one with the right size but another
    /// digest is a corrupt replica and is sent again ([`CopyReport::objects_repaired`]).
    pub async fn copy_to(&self, dest: &Repository, manifests: &[Manifest]) -> Result<CopyReport> {
        if dest.id() == self.id() && dest.location() == self.location() {
            return Err(RepoError::Internal("source and destination are the same repository".into()));
        }
        // A shared lock on the destination, as for a backup: a prune running there must not
        // take the objects copied so far for garbage before their manifest is written.
        let lock = dest.lock(crate::lock::LockKind::Shared, "copy").await?;
        let result = self.copy_each(dest, manifests).await;
        lock.release().await;
        result
    }

    async fn copy_each(&self, dest: &Repository, manifests: &[Manifest]) -> Result<CopyReport> {
        let mut report = CopyReport::default();
        for manifest in manifests {
            let key = format!("{}{}", crate::layout::BACKUPS_PREFIX, manifest.id);
            let mut replace = false;
            if dest.storage.head(&key).await?.is_some() {
                match dest.replica_problem(manifest).await? {
                    None => {
                        report.skipped.push(manifest.id.clone());
                        continue;
                    }
                    Some(problem) => {
                        tracing::warn!(manifest = %key, destination = %dest.location(), "{problem}: copying it again");
                        report.manifests_repaired.push(format!("{key}: {problem}"));
                        replace = true;
                    }
                }
            }
            for record in &manifest.objects {
                if let Some(meta) = dest.storage.head(&record.key).await?
                    && meta.size == record.size
                {
                    if dest.has_intact(record).await? {
                        report.objects_present += 1;
                        continue;
                    }
                    tracing::warn!(object = %record.key, destination = %dest.location(), "corrupt replica: sending it again");
                    report.objects_repaired.push(record.key.clone());
                }
                self.copy_object(dest, record).await?;
                report.objects_sent += 1;
                report.bytes_sent += record.size;
            }
            let mut copied = manifest.clone();
            copied.repository = dest.id().to_owned();
            dest.write_manifest(&copied, replace).await?;
            report.copied.push(manifest.id.clone());
        }
        Ok(report)
    }

    /// What is wrong with this repository's copy of `source` (a backup of the repository
    /// being copied from), or `None` when it opens, names the same objects, and
    /// each of them is stored with its recorded size. A write-only destination cannot open
    /// its manifests, so there the manifest's presence has to do. Object digests are not
    /// re-read here (that would read the whole destination on every sync): `verify` does it.
    async fn replica_problem(&self, source: &Manifest) -> Result<Option<String>> {
        if !self.can_read() {
            return Ok(None);
        }
        let replica = match self.load_manifest(&source.id).await {
            Ok(replica) => replica,
            // Sealed there for recipients only: not ours to judge, and not damage.
            Err(e) if e.is_recipients_only() => return Ok(None),
            Err(e @ (RepoError::BadManifest { .. } | RepoError::Object { .. })) => return Ok(Some(e.to_string())),
            Err(e) => return Err(e),
        };
        let same = |a: &ObjectRecord, b: &ObjectRecord| {
            (&a.name, &a.key, a.size, &a.blake3, a.plain_size, &a.plain_blake3)
                == (&b.name, &b.key, b.size, &b.blake3, b.plain_size, &b.plain_blake3)
        };
        if replica.objects.len() != source.objects.len()
            || !replica.objects.iter().zip(&source.objects).all(|(a, b)| same(a, b))
        {
            return Ok(Some("the copy names other objects than the source".into()));
        }
        for record in &replica.objects {
            match self.storage.head(&record.key).await? {
                Some(meta) if meta.size == record.size => {}
                Some(meta) => return Ok(Some(format!("{} has {} bytes, not {}", record.key, meta.size, record.size))),
                None => return Ok(Some(format!("{} is missing", record.key))),
            }
        }
        Ok(None)
    }

    /// True when this repository holds `record`'s object with its recorded size and BLAKE3.
    async fn has_intact(&self, record: &ObjectRecord) -> Result<bool> {
        let stream = self.storage.get(&record.key, None).await?;
        let (size, digest) =
            digest_stream(stream).await.map_err(|e| RepoError::object(&record.key, &self.location(), e))?;
        Ok(size == record.size && hex::encode(digest) == record.blake3)
    }

    async fn copy_object(&self, dest: &Repository, record: &ObjectRecord) -> Result<()> {
        let source = self.storage.get(&record.key, None).await?;
        // Hash on the way through; a mismatch deletes the copy and fails.
        let (tx, rx) = tokio::sync::mpsc::channel::<std::result::Result<Bytes, std::io::Error>>(4);
        let tee: ByteStream = Box::pin(source.then(move |chunk| {
            let tx = tx.clone();
            async move {
                if let Ok(bytes) = &chunk {
                    let _ = tx.send(Ok(bytes.clone())).await;
                }
                chunk
            }
        }));
        let digest = tokio::spawn(digest_stream(Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }))));
        let put = dest.storage.put(&record.key, tee, Some(record.size)).await;
        let digest = digest.await.map_err(|e| RepoError::Internal(e.to_string()))?;
        put?;
        let (size, digest) = digest.map_err(|e| RepoError::object(&record.key, &self.location(), e))?;
        if size != record.size || hex::encode(digest) != record.blake3 {
            dest.storage.delete(&record.key).await.ok();
            return Err(RepoError::Integrity(format!(
                "object {} in {} does not match its recorded digest; not copied",
                record.key,
                self.location()
            )));
        }
        Ok(())
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

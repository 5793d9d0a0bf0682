//! Copying backups to another repository (the remote leg of 3-2-1), resumably.

use bytes::Bytes;
use futures::StreamExt;
use lifeboat_crypto::digest_stream;
use lifeboat_storage::{ByteStream, Retention, RetentionMode};
use serde::Serialize;

use crate::error::{ErrorKind, RepoError, Result};
use crate::manifest::{Manifest, ObjectRecord};
use crate::progress::Progress;
use crate::repository::Repository;
use crate::v3::retention::extend_all;

mod packs;
mod rechunk;

pub(crate) use packs::V3Copier;
pub(crate) use rechunk::streams_unconvertible;

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
    /// Format 3 packs sent (byte for byte; also counted in `objects_sent`).
    pub packs_sent: usize,
    /// Format 3 packs the destination already had (also counted in `objects_present`).
    pub packs_present: usize,
    /// Format 2 backups re-chunked into format 3 (the destination writes v3): files backups
    /// into trees, stream and database backups into v3 stream records (locked ones stay v2).
    pub rechunked: Vec<String>,
    /// Backups under object lock at the source copied without it, because the destination
    /// has no object lock: their copies say so in their warnings and are not locked.
    pub locks_dropped: Vec<String>,
    /// Backups that could not be copied (damaged or missing in the source), each with why;
    /// only [`Repository::copy_to_observed`] goes on past them.
    pub failed: Vec<CopyFailure>,
}

/// A backup a copy had to leave out.
#[derive(Debug, Clone, Serialize)]
pub struct CopyFailure {
    /// The backup's id, or its manifest's key when the manifest could not be read.
    pub backup: String,
    /// Why it was not copied.
    pub reason: String,
}

impl Repository {
    /// Copies backups to `dest` (another repository, possibly with other keys). Data objects
    /// travel byte for byte and are checked against their recorded digests; manifests are
    /// re-sealed for the destination's keys. Objects already at the destination with the
    /// right size and the recorded BLAKE3 (read back and hashed) are not sent again, so an
    /// interrupted copy resumes where it stopped; one with the right size but another
    /// digest is a corrupt replica and is sent again ([`CopyReport::objects_repaired`]).
    pub async fn copy_to(&self, dest: &Repository, manifests: &[Manifest]) -> Result<CopyReport> {
        self.copy_with(dest, manifests, &Progress::default(), false).await
    }

    /// [`Repository::copy_to`] that goes on past a backup it cannot copy because the
    /// source's copy is damaged or incomplete, listing it in [`CopyReport::failed`]; any
    /// other failure (the destination's storage) still stops it. Counts into `progress`
    /// the backups done and the stored bytes read (skipped objects count whole).
    pub async fn copy_to_observed(
        &self,
        dest: &Repository,
        manifests: &[Manifest],
        progress: &Progress,
    ) -> Result<CopyReport> {
        self.copy_with(dest, manifests, progress, true).await
    }

    async fn copy_with(
        &self,
        dest: &Repository,
        manifests: &[Manifest],
        progress: &Progress,
        keep_going: bool,
    ) -> Result<CopyReport> {
        if dest.id() == self.id() && dest.location() == self.location() {
            return Err(RepoError::Internal("source and destination are the same repository".into()));
        }
        // A format 2 destination is refused rather than given v3 manifests: its config says
        // v2, and a reader that trusts it (an older build) could not read them.
        if let Some(v3) = manifests.iter().find(|m| m.version == crate::manifest::MANIFEST_VERSION_V3)
            && !dest.writes_v3()
        {
            return Err(RepoError::Unsupported(format!(
                "backup {} is a format 3 backup and {} is a format 2 repository: run `lifeboat migrate` on it \
                 (or copy into one made with `init --format 3`); nothing was copied",
                v3.short_id(),
                dest.location()
            )));
        }
        // A shared lock on the destination, as for a backup: a prune running there must not
        // take the objects copied so far for garbage before their manifest is written.
        let lock = dest.lock(crate::lock::LockKind::Shared, "copy").await?;
        let result = self.copy_each(dest, manifests, progress, keep_going).await;
        lock.release().await;
        result
    }

    async fn copy_each(
        &self,
        dest: &Repository,
        manifests: &[Manifest],
        progress: &Progress,
        keep_going: bool,
    ) -> Result<CopyReport> {
        let mut report = CopyReport::default();
        let (_, bytes) = crate::verify::totals(manifests, |o| o.size);
        progress.add_totals(manifests.len() as u64, bytes);
        let mut v3 = V3Copier::default();
        for manifest in manifests {
            match self.copy_one(dest, manifest, &mut report, progress, &mut v3).await {
                Ok(()) => {}
                // The source's copy of this backup is damaged or incomplete: the others
                // can still be copied, and the report names this one.
                Err(e) if keep_going && matches!(e.kind(), ErrorKind::Damaged | ErrorKind::NotFound) => {
                    tracing::warn!(backup = %manifest.id, "not copied: {e}");
                    report.failed.push(CopyFailure { backup: manifest.id.clone(), reason: e.to_string() });
                }
                Err(e) => return Err(e),
            }
            progress.add_file();
        }
        Ok(report)
    }

    /// Copies one backup: its objects the destination lacks, then its manifest. A format 3
    /// backup copies its packs ([`packs`]); a format 2 backup into a repository that writes
    /// format 3 is re-chunked there ([`rechunk`]: files into trees, streams into v3 stream
    /// records), except a locked stream, whose v2 objects travel as they are.
    async fn copy_one(
        &self,
        dest: &Repository,
        manifest: &Manifest,
        report: &mut CopyReport,
        progress: &Progress,
        v3: &mut V3Copier,
    ) -> Result<()> {
        let key = format!("{}{}", crate::layout::BACKUPS_PREFIX, manifest.id);
        let lock = self.carried_lock(dest, manifest).await?;
        let is_v3 = manifest.version == crate::manifest::MANIFEST_VERSION_V3;
        let files = manifest.kind == crate::kind::BackupKind::Files;
        let rechunk_files = !is_v3 && files && dest.writes_v3();
        // A locked stream keeps its v2 objects (only they carry its retention), as a locked
        // backup written in a format 3 repository does.
        let rechunk_streams = !is_v3
            && !files
            && dest.writes_v3()
            && manifest.locked_until.is_none()
            && rechunk::streams_unconvertible(manifest).is_none();
        if is_v3 || rechunk_files || rechunk_streams {
            if dest.storage.head(&key).await?.is_some() && dest.v3_replica_ok(manifest).await? {
                report.skipped.push(manifest.id.clone());
                return Ok(());
            }
            if is_v3 {
                return v3.copy(self, dest, manifest, report, progress, &lock).await;
            }
            let mut rechunked = match rechunk_files {
                true => dest.import_v2_files(self, manifest).await?,
                false => dest.import_v2_streams(self, manifest).await?,
            };
            rechunked.repository = dest.id().to_owned();
            if let (Some(retention), Some(root), Some(domain)) = (lock.retention(), &rechunked.tree, &rechunked.domain)
            {
                dest.lock_v3_backup(root, domain, retention).await?;
            }
            lock.mark(&mut rechunked, dest, report);
            let replace = dest.storage.head(&key).await?.is_some();
            dest.write_manifest_with(&rechunked, replace, lock.retention()).await?;
            report.copied.push(manifest.id.clone());
            report.rechunked.push(manifest.id.clone());
            return Ok(());
        }
        let mut replace = false;
        if dest.storage.head(&key).await?.is_some() {
            match dest.replica_problem(manifest).await? {
                None => {
                    report.skipped.push(manifest.id.clone());
                    progress.add_bytes(crate::verify::totals(std::slice::from_ref(manifest), |o| o.size).1);
                    return Ok(());
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
                    progress.add_bytes(record.size);
                    continue;
                }
                tracing::warn!(object = %record.key, destination = %dest.location(), "corrupt replica: sending it again");
                report.objects_repaired.push(record.key.clone());
            }
            self.copy_object(dest, record, progress).await?;
            report.objects_sent += 1;
            report.bytes_sent += record.size;
        }
        if let Some(retention) = lock.retention() {
            let keys: Vec<String> = manifest.objects.iter().map(|o| o.key.clone()).collect();
            extend_all(dest.storage.as_ref(), &keys, &retention).await.map_err(crate::v3::store_error)?;
        }
        let mut copied = manifest.clone();
        copied.repository = dest.id().to_owned();
        lock.mark(&mut copied, dest, report);
        dest.write_manifest_with(&copied, replace, lock.retention()).await?;
        report.copied.push(manifest.id.clone());
        Ok(())
    }

    /// What becomes of `manifest`'s object lock in its copy at `dest`: the same retention
    /// when the backup is still locked and `dest` has object lock (the mode as this storage
    /// holds the manifest under, else governance, the one that can be lifted), dropped
    /// when `dest` has none.
    async fn carried_lock(&self, dest: &Repository, manifest: &Manifest) -> Result<CarriedLock> {
        let Some(until) = manifest.locked_until.filter(|until| *until > self.now()) else {
            return Ok(CarriedLock::Unlocked);
        };
        if !dest.storage.capabilities().await?.object_lock {
            return Ok(CarriedLock::Dropped(until.to_rfc3339()));
        }
        let key = format!("{}{}", crate::layout::BACKUPS_PREFIX, manifest.id);
        // A storage that cannot say (no object lock here) leaves the milder mode.
        let held = self.storage.retention(&key).await.ok().flatten();
        let mode = held.map_or(RetentionMode::Governance, |r| r.mode);
        Ok(CarriedLock::Carry(Retention { mode, until: std::time::SystemTime::from(until) }))
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
            Err(e @ (RepoError::BadManifest { .. } | RepoError::SignerNotPinned { .. } | RepoError::Object { .. })) => {
                return Ok(Some(e.to_string()));
            }
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

    /// True when this repository's manifest of `source`'s id is a version 3 one that fits:
    /// the same root tree and domain for a v3 source, any root tree for a re-chunked v2 one.
    /// A write-only destination cannot open it, so there its presence has to do. Packs are
    /// not listed here: `verify` on the destination checks them.
    async fn v3_replica_ok(&self, source: &Manifest) -> Result<bool> {
        if !self.can_read() {
            return Ok(true);
        }
        let replica = match self.load_manifest(&source.id).await {
            Ok(replica) => replica,
            Err(e) if e.is_recipients_only() => return Ok(true),
            Err(RepoError::BadManifest { .. } | RepoError::SignerNotPinned { .. } | RepoError::Object { .. }) => {
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        if replica.version != crate::manifest::MANIFEST_VERSION_V3 {
            return Ok(false);
        }
        Ok(source.version != crate::manifest::MANIFEST_VERSION_V3
            || (replica.tree == source.tree && replica.domain == source.domain))
    }

    /// True when this repository holds `record`'s object with its recorded size and BLAKE3.
    async fn has_intact(&self, record: &ObjectRecord) -> Result<bool> {
        let stream = self.storage.get(&record.key, None).await?;
        let (size, digest) =
            digest_stream(stream).await.map_err(|e| RepoError::object(&record.key, &self.location(), e))?;
        Ok(size == record.size && hex::encode(digest) == record.blake3)
    }

    async fn copy_object(&self, dest: &Repository, record: &ObjectRecord, progress: &Progress) -> Result<()> {
        let source = progress.count(self.storage.get(&record.key, None).await?);
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

/// What becomes of a backup's object lock in its copy.
pub(crate) enum CarriedLock {
    /// Not locked (or its lock ended): nothing to carry.
    Unlocked,
    /// Locked at the destination as at the source.
    Carry(Retention),
    /// Locked at the source until this date; the destination has no object lock.
    Dropped(String),
}

impl CarriedLock {
    /// The retention the copy's objects and manifest are put under, if any.
    pub(crate) fn retention(&self) -> Option<Retention> {
        match self {
            CarriedLock::Carry(retention) => Some(*retention),
            _ => None,
        }
    }

    /// Makes the copy's manifest tell the truth about its lock: a dropped lock is not
    /// claimed (a copy that says "locked" but is not would be kept by forget and trusted
    /// by its readers for nothing), and its warnings say what was dropped.
    pub(crate) fn mark(&self, copied: &mut Manifest, dest: &Repository, report: &mut CopyReport) {
        if let CarriedLock::Dropped(until) = self {
            copied.locked_until = None;
            copied.warnings.push(format!(
                "copied without its object lock (locked until {until} at the source): {} has no object lock",
                dest.location()
            ));
            tracing::warn!(backup = %copied.id, destination = %dest.location(), "object lock not carried: the destination has none");
            report.locks_dropped.push(copied.id.clone());
        }
    }
}

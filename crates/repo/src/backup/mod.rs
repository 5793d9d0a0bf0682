//! Writing backups: a [`BackupRequest`] becomes a [`BackupWriter`], whose data objects are
//! stored first and whose manifest, sealed and signed, is written last by
//! [`BackupWriter::commit`] (so an interrupted backup is never listed).

use std::path::PathBuf;

use bytes::Bytes;
use futures::TryStreamExt;
use lifeboat_crypto::{
    Audience, ObjectKind, RecipientPublicKey, SecretKey, WriterKey, random_bytes, seal_bytes_signed, seal_data_stream,
};
use lifeboat_storage::{ByteStream, PutOptions, PutOutcome, Retention, StorageError, StorageExt};
use tokio::io::AsyncRead;

use crate::error::{RepoError, Result};
use crate::host::hostname;
use crate::kind::BackupKind;
use crate::layout::{BACKUPS_PREFIX, data_key};
use crate::lock::{Lock, LockKind};
use crate::manifest::{MANIFEST_VERSION, Manifest, ObjectRecord};
use crate::progress::{CountingReader, Progress};
use crate::repository::{Repository, blocking, read_config};
use crate::tree::{FilesFilter, source_paths, spawn_tree_producer};

mod files_v3;
pub(crate) mod streams_v3;

/// What a new backup is.
#[derive(Debug, Clone, Default)]
pub struct BackupRequest {
    /// `stream` (the default), `files`, `postgres` ...
    pub kind: BackupKind,
    /// What is backed up (a stream name, paths ...).
    pub name: String,
    /// Plan name.
    pub plan: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Host name; the local one when `None`.
    pub host: Option<String>,
    /// Parent backup (incrementals).
    pub parent: Option<String>,
    /// Write every object of the backup under this object-lock retention (needs a bucket
    /// with object lock); the backup cannot be deleted before it ends.
    pub retention: Option<Retention>,
    /// Counts the bytes read for the backup (and a files backup's files) as it runs.
    pub progress: Progress,
    /// Format v3 files backups: read every file, even those the parent backup says are
    /// unchanged (`backup files --force`).
    pub force: bool,
}

impl Repository {
    /// Starts a backup. Objects are added with [`BackupWriter::add_stream`]; nothing is
    /// listed until [`BackupWriter::commit`] writes the manifest.
    pub async fn start_backup(&self, request: BackupRequest) -> Result<BackupWriter<'_>> {
        if request.retention.is_some() && !self.storage.capabilities().await?.object_lock {
            return Err(RepoError::Unsupported(format!(
                "{} has no object lock: a locked backup needs a bucket created with object lock enabled",
                self.location()
            )));
        }
        if self.master.is_none() {
            self.check_writer_key()?;
        }
        let lock = self.lock(LockKind::Shared, &format!("backup {}", request.kind)).await?;
        let id = hex::encode(random_bytes::<16>().map_err(|e| RepoError::Internal(e.to_string()))?);
        Ok(BackupWriter {
            repo: self,
            id,
            request,
            started: self.now(),
            objects: Vec::new(),
            warnings: Vec::new(),
            stats: Default::default(),
            source: serde_json::Value::Null,
            lock: Some(lock),
            v3: None,
            streams: None,
        })
    }

    /// Backs up one byte stream (object `stream`; the kind is the request's, `stream` by
    /// default).
    pub async fn backup_stream<R>(&self, reader: R, request: BackupRequest) -> Result<Manifest>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let mut writer = self.start_backup(request).await?;
        writer.add_stream("stream", reader).await?;
        writer.commit().await
    }

    /// Seals and stores a manifest (never overwriting one).
    pub(crate) async fn write_manifest(&self, manifest: &Manifest, replace: bool) -> Result<()> {
        self.write_manifest_with(manifest, replace, None).await
    }

    pub(crate) async fn write_manifest_with(
        &self,
        manifest: &Manifest,
        replace: bool,
        retention: Option<Retention>,
    ) -> Result<()> {
        self.write_manifest_for(manifest, replace, retention, self.audience()).await
    }

    /// Seals `manifest` for `audience` and stores it. Manifests are always signed: with the
    /// signing key derived from the master key when the audience has it, else with this
    /// handle's writer key (readers who open it through a recipient slot check the signature).
    async fn write_manifest_for(
        &self,
        manifest: &Manifest,
        replace: bool,
        retention: Option<Retention>,
        audience: Audience<'_>,
    ) -> Result<()> {
        let key = format!("{BACKUPS_PREFIX}{}", manifest.id);
        let plain =
            zeroize::Zeroizing::new(serde_json::to_vec(manifest).map_err(|e| RepoError::Internal(e.to_string()))?);
        let object_id = crate::config::decode_hex::<16>(&manifest.id, "backup id").map_err(RepoError::Internal)?;
        let derived;
        let signer: &WriterKey = match (audience.master, &self.trust.writer_key) {
            (Some((_, master)), _) => {
                derived = WriterKey::derive_from(master).map_err(|e| RepoError::Internal(e.to_string()))?;
                &derived
            }
            (None, Some(writer)) => writer,
            (None, None) => {
                return Err(self
                    .check_writer_key()
                    .err()
                    .unwrap_or_else(|| RepoError::Internal("no writer key".into())));
            }
        };
        let sealed = seal_bytes_signed(&plain, ObjectKind::Manifest, object_id, audience, self.options, signer)
            .map_err(|e| RepoError::object(&key, &self.location(), e))?;
        if let Some(retention) = retention {
            // Conditional create cannot carry a retention; ids are random, so a check first suffices.
            if !replace && self.storage.head(&key).await?.is_some() {
                return Err(RepoError::Internal(format!("manifest {key} already exists")));
            }
            let body: ByteStream = Box::pin(futures::stream::once(async move { Ok(Bytes::from(sealed)) }));
            self.storage.put_with_options(&key, body, None, &PutOptions { retention: Some(retention) }).await?;
        } else if replace {
            self.storage.put_bytes(&key, Bytes::from(sealed)).await?;
        } else if lifeboat_storage::create_new(self.storage.as_ref(), &key, Bytes::from(sealed)).await?
            == PutOutcome::AlreadyExists
        {
            return Err(RepoError::Internal(format!("manifest {key} already exists")));
        }
        Ok(())
    }

    /// A handle without the master key can write backups only with a writer key the config
    /// registers: readers refuse recipient manifests that are unsigned or signed by a stranger.
    fn check_writer_key(&self) -> Result<()> {
        let Some(writer) = &self.trust.writer_key else { return Err(RepoError::NeedsWriterKey) };
        let public = writer.public();
        let registered = self
            .config
            .writer_keys()
            .map_err(|reason| RepoError::CorruptConfig { location: self.location(), reason })?;
        if !registered.contains(&public) {
            return Err(RepoError::WriterNotRegistered {
                writer: public.to_string(),
                id: hex::encode(public.id()),
                location: self.location(),
            });
        }
        Ok(())
    }

    /// Item 9 of issue 9: the master key the manifest of a backup must be sealed for, read
    /// again under the backup's lock. `None` when it is still the one this handle opened
    /// (or the handle has no master key: its manifests do not depend on it).
    async fn master_for_commit(&self, backup: &str) -> Result<Option<(([u8; 8], SecretKey), Vec<RecipientPublicKey>)>> {
        let Some((id, master)) = &self.master else { return Ok(None) };
        let config = read_config(self.storage.as_ref()).await?;
        let corrupt = |reason: String| RepoError::CorruptConfig { location: self.location(), reason };
        if config.master_key_id == hex::encode(id) {
            config.verify_mac(master).map_err(corrupt)?;
            self.remember(&config, true).await?;
            return Ok(None);
        }
        let (cred, candidate) = (self.credential.clone(), config.clone());
        let unlocked = blocking(move || candidate.unlock(&cred)).await?.map_err(corrupt)?;
        let Some(unlocked) = unlocked else {
            return Err(RepoError::Key(format!(
                "the master key changed from {} to {} while backup {backup} ran (a `key rotate` finished \
                 meanwhile), and this password or key file does not open the new key: the backup was NOT committed \
                 (its data objects are left for `prune`); run it again with the current credential",
                hex::encode(id),
                config.master_key_id
            )));
        };
        self.remember(&config, true).await?;
        let recipients = config.recipient_keys().map_err(corrupt)?;
        tracing::warn!(
            backup,
            old = %hex::encode(id),
            new = %config.master_key_id,
            "the master key was rotated while the backup ran; its manifest is sealed for the new key"
        );
        Ok(Some(((unlocked.master_id, unlocked.master), recipients)))
    }
}

/// A backup being written. Dropping it without [`commit`](BackupWriter::commit) leaves
/// only unreferenced data objects, which are never listed and which `prune` removes.
pub struct BackupWriter<'r> {
    repo: &'r Repository,
    id: String,
    request: BackupRequest,
    started: chrono::DateTime<chrono::FixedOffset>,
    objects: Vec<ObjectRecord>,
    warnings: Vec<String>,
    stats: std::collections::BTreeMap<String, u64>,
    source: serde_json::Value,
    lock: Option<Lock>,
    /// Format v3: the root tree and the domain (hex), set once the blobs are flushed.
    v3: Option<(String, String)>,
    /// Format v3 stream backups: the streams stored so far, whose root tree `commit` builds.
    streams: Option<streams_v3::StreamRoot>,
}

impl BackupWriter<'_> {
    /// The id the backup will have.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Streams `reader` into a new data object called `name`.
    pub async fn add_stream<R>(&mut self, name: &str, reader: R) -> Result<&ObjectRecord>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        if self.objects.iter().any(|o| o.name == name) {
            return Err(RepoError::Internal(format!("object name {name:?} used twice in one backup")));
        }
        let location = self.repo.location();
        let tar = name == "tree" && self.request.kind == BackupKind::Files;
        let reader = CountingReader::new(reader, self.request.progress.clone(), tar);
        if self.streams_v3() {
            return self.add_stream_v3(name, reader).await;
        }
        let (running, object_id, dek) =
            seal_data_stream(reader, self.repo.options).map_err(|e| RepoError::object(name, &location, e))?;
        let object_id = hex::encode(object_id);
        let key = data_key(&object_id);
        let (stream, completion) = running.into_parts();
        let body: ByteStream = Box::pin(stream.map_err(StorageError::source));
        let put = match self.request.retention {
            None => self.repo.storage.put(&key, body, None).await,
            Some(retention) => {
                let options = PutOptions { retention: Some(retention) };
                self.repo.storage.put_with_options(&key, body, None, &options).await
            }
        };
        let sealed = completion.finish().await;
        let digests = match (put, sealed) {
            (Ok(()), Ok(d)) => d,
            // The pipeline failed first (unreadable source ...): its error is the cause.
            (Ok(()) | Err(StorageError::Source { .. }), Err(e)) => {
                self.repo.storage.delete(&key).await.ok();
                return Err(match e {
                    lifeboat_crypto::CryptoError::Source(io) => {
                        RepoError::Source(format!("reading {name} for backup: {io}"))
                    }
                    other => RepoError::object(&key, &location, other),
                });
            }
            (Err(e), _) => return Err(e.into()),
        };
        self.objects.push(ObjectRecord {
            name: name.to_owned(),
            key,
            object_id,
            dek,
            size: digests.size,
            blake3: hex::encode(
                digests.blake3.ok_or_else(|| RepoError::Internal("sealing produced no stored digest".into()))?,
            ),
            plain_size: digests.plain_size,
            plain_blake3: hex::encode(digests.plain_blake3),
            tree: None,
        });
        Ok(self.objects.last().expect("just pushed"))
    }

    /// The lease of the backup's lock, to check right before writes a prune must see.
    pub(crate) fn lease(&self) -> Option<crate::lock::Lease> {
        self.lock.as_ref().map(Lock::lease)
    }

    /// Whether this backup's streams go into a v3 root tree: in a format 3 repository,
    /// locked backups included (their packs are locked at commit, docs/FORMAT.md 11.5).
    fn streams_v3(&self) -> bool {
        self.repo.writes_v3() && self.v3.is_none()
    }

    /// [`BackupWriter::add_stream`] in format 3: chunked into the main domain, a file node
    /// of the root tree that `commit` writes.
    async fn add_stream_v3<R>(&mut self, name: &str, reader: R) -> Result<&ObjectRecord>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let streams = match &mut self.streams {
            Some(streams) => streams,
            empty @ None => empty.insert(streams_v3::StreamRoot::open(self.repo, self.request.retention).await?),
        };
        let record = streams.add(name, reader).await?;
        self.objects.push(record);
        Ok(self.objects.last().expect("just pushed"))
    }

    /// Format v3 stream backups: stores the root tree of the streams, flushes the store,
    /// and points the manifest and its records at the root.
    async fn finish_streams(&mut self) -> Result<()> {
        let Some(streams) = self.streams.take() else { return Ok(()) };
        let finished = streams.finish().await?;
        for record in &mut self.objects {
            record.tree = Some(finished.root.clone());
        }
        let s = finished.stats;
        for (name, value) in [
            ("files", s.files),
            ("size", s.bytes),
            ("bytes", s.bytes),
            ("bytes_new", s.bytes_new),
            ("blobs_new", s.blobs_new),
        ] {
            self.stats.entry(name.to_owned()).or_insert(value);
        }
        self.v3 = Some((finished.root, finished.domain));
        Ok(())
    }

    /// Records something noticed during the backup.
    pub fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    /// Sets a counter.
    pub fn stat(&mut self, name: &str, value: u64) {
        self.stats.insert(name.to_owned(), value);
    }

    /// Describes the source (never put secrets here).
    pub fn set_source(&mut self, source: serde_json::Value) {
        self.source = source;
    }

    /// Makes the backup a format v3 one whose data is the tree `root` (hex) of `domain`
    /// (hex); its blobs must already be stored and indexed.
    pub(crate) fn set_v3_tree(&mut self, root: String, domain: String) {
        self.v3 = Some((root, domain));
    }

    /// Gives the backup up: deletes the objects stored so far and releases the lock.
    /// Nothing was listed, and nothing is left for `prune`.
    pub async fn abort(mut self) {
        // A v3 record has no object of its own: its chunks are left for `prune`.
        let v3_streams = self.streams.is_some();
        for record in std::mem::take(&mut self.objects).into_iter().filter(|r| !v3_streams && !r.is_v3()) {
            if let Err(e) = self.repo.storage.delete(&record.key).await {
                tracing::warn!(object = %record.key, "could not delete object of an abandoned backup: {e}");
            }
        }
        if let Some(lock) = self.lock.take() {
            lock.release().await;
        }
    }

    /// Writes the manifest: from now on the backup is listed.
    pub async fn commit(mut self) -> Result<Manifest> {
        self.finish_streams().await?;
        if let (Some(retention), Some((root, domain))) = (self.request.retention, &self.v3) {
            let locked = self.repo.lock_v3_backup(root, domain, retention).await?;
            self.stats.insert("packs_locked".into(), locked.packs as u64);
            self.stats.insert("packs_extended".into(), locked.extended as u64);
        }
        let (tree, domain) = self.v3.take().unzip();
        let manifest = Manifest {
            version: if tree.is_some() { crate::manifest::MANIFEST_VERSION_V3 } else { MANIFEST_VERSION },
            id: self.id.clone(),
            repository: self.repo.config.id.clone(),
            kind: self.request.kind.clone(),
            name: self.request.name.clone(),
            plan: self.request.plan.clone(),
            host: self.request.host.clone().unwrap_or_else(hostname),
            tags: self.request.tags.clone(),
            started: self.started,
            finished: self.repo.now(),
            tool: concat!("lifeboat ", env!("CARGO_PKG_VERSION")).to_owned(),
            parent: self.request.parent.clone(),
            source: std::mem::take(&mut self.source),
            objects: std::mem::take(&mut self.objects),
            warnings: std::mem::take(&mut self.warnings),
            stats: std::mem::take(&mut self.stats),
            locked_until: self.request.retention.map(|r| chrono::DateTime::<chrono::Utc>::from(r.until).fixed_offset()),
            tree,
            domain,
        };
        let sealing = self.repo.master_for_commit(&manifest.id).await?;
        // FORMAT.md 11.6: a manifest written on a lapsed lease may name blobs a prune
        // already judged unreferenced and deleted.
        if let Some(lock) = &self.lock {
            lock.lease().check(&format!("the manifest of backup {}", manifest.id))?;
        }
        match sealing {
            None => self.repo.write_manifest_with(&manifest, false, self.request.retention).await?,
            Some(((id, master), recipients)) => {
                let audience = Audience { master: Some((&id, &master)), recipients: &recipients };
                self.repo.write_manifest_for(&manifest, false, self.request.retention, audience).await?
            }
        }
        if let Some(lock) = self.lock.take() {
            lock.release().await;
        }
        tracing::info!(backup = %manifest.id, kind = %manifest.kind, "backup committed");
        Ok(manifest)
    }
}

impl Repository {
    /// Locks the v3 backup whose root tree is `root` (hex) in `domain` (hex) until
    /// `retention` ends: every pack it needs, one index object naming them, and the domain
    /// object (docs/FORMAT.md 11.5, "Locked backups"). Before its manifest is written.
    pub(crate) async fn lock_v3_backup(
        &self,
        root: &str,
        domain: &str,
        retention: Retention,
    ) -> Result<crate::v3::retention::LockedPacks> {
        let root = crate::v3::BlobId::from_hex(root)
            .ok_or_else(|| RepoError::Internal(format!("the root tree id {root:?} is not a blob id")))?;
        let store = self.v3_store().await?;
        if hex::encode(store.keys().id()) != domain {
            return Err(RepoError::Internal(format!("a locked backup of domain {domain} in another domain's store")));
        }
        let locked =
            crate::v3::retention::lock_backup(&store, root, retention).await.map_err(crate::v3::store_error)?;
        let key = crate::domains::domain_key(&store.keys().id());
        crate::v3::retention::extend_once(self.storage.as_ref(), &key, &retention)
            .await
            .map_err(crate::v3::store_error)?;
        tracing::info!(packs = locked.packs, extended = locked.extended, index = %locked.index, "locked the backup's packs");
        Ok(locked)
    }
}

/// The `source` of a files backup: `{"paths": [...], "filter": {...}}`, the absolute
/// paths read (what `list --path` matches) and the filter, if one was given.
pub(crate) fn files_source(roots: &[PathBuf], filter: &FilesFilter) -> Result<serde_json::Value> {
    let paths: Vec<String> = roots.iter().map(|p| p.display().to_string()).collect();
    let mut source = serde_json::json!({ "paths": paths });
    if !filter.is_empty() {
        source["filter"] = serde_json::to_value(filter).map_err(|e| RepoError::Internal(e.to_string()))?;
    }
    Ok(source)
}

impl Repository {
    /// Backs up directory trees and files (`kind = "files"`, object `tree`).
    pub async fn backup_files(&self, paths: &[PathBuf], request: BackupRequest) -> Result<Manifest> {
        self.backup_files_filtered(paths, &FilesFilter::default(), request).await
    }

    /// Backs up directory trees and files, leaving out what `filter` excludes
    /// (`docs/FILTERS.md`). A bad pattern or an unreadable exclude file fails before
    /// anything is locked or written. The paths, made absolute and canonical (`.` is
    /// recorded as the directory it names), are the backup's name unless the request
    /// names it, and are recorded in the manifest's `source` (`{"paths": [...]}`) with the
    /// filter as given (`"filter": {...}`); the entries left out are counted in its stats.
    pub async fn backup_files_filtered(
        &self,
        paths: &[PathBuf],
        filter: &FilesFilter,
        mut request: BackupRequest,
    ) -> Result<Manifest> {
        request.kind = BackupKind::Files;
        let given = paths.to_vec();
        let roots = blocking(move || source_paths(&given)).await??;
        if request.name.is_empty() {
            request.name = roots.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" ");
        }
        let given = filter.clone();
        let compiled = blocking(move || given.compile()).await??;
        // Under object lock too: the packs it reuses are extended at commit (FORMAT.md 11.5).
        if self.writes_v3() {
            return self.backup_files_v3(&roots, filter, compiled, request).await;
        }
        let (reader, walker) = spawn_tree_producer(&roots, compiled)?;
        let mut writer = self.start_backup(request).await?;
        writer.set_source(files_source(&roots, filter)?);
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
}

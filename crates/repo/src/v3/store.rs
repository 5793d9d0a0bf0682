//! [`ChunkStore`]: the pack store of one dedup domain over a [`Storage`] (docs/FORMAT.md
//! 11.3, 11.4), the [`BlobStore`] that trees and streams are written through.
//!
//! Writing: `put_blob` hashes (`put_blob_with_id` takes the id its caller computed),
//! skips blobs the index or this writer already has, and compresses and seals the rest for
//! the open pack on a blocking thread with no lock held, so puts at once use every core;
//! the lock only appends the sealed bytes (a blob sealed for a pack closed meanwhile is
//! sealed again) and makes a second put of the same blob a no-op. A full pack is
//! uploaded in the background, at most `uploads` at once: the put that filled a pack waits
//! for a free slot, so memory stays below `(uploads + 1 + callers putting at once) x pack
//! target` plus the blobs being encoded. `flush` uploads the last pack, waits for every upload, and only then writes
//! the index object naming them.
//!
//! Reading: `get_blob` looks the blob up in the index and reads only its byte range of
//! the pack (a range read).
//!
//! Prune (docs/FORMAT.md 11.6): at open the store reads the condemned records
//! (`prune/<id>`) and never deduplicates against a blob whose only indexed copies are in
//! a condemned pack: such a blob is written again (it can still be read from there). And a
//! store given its writer's [`Lease`] refuses to write index objects once that lapsed.

// StoreError carries the storage's error by value: it is the error type of the BlobStore
// trait that trees and streams share, and boxing its source would change that API.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use lifeboat_chunker::{Chunker, ChunkerParams};
use lifeboat_storage::{ByteStream, ObjectMeta, PutOptions, PutOutcome, Retention, Storage, StorageExt};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::cache::IndexCache;
use super::domain::DomainKeys;
use super::error::StoreError;
use super::index::{INDEX_PREFIX, Index, IndexId, IndexObject, index_domain};
pub(crate) use super::io::{list_prefix, read_range};
use super::pack::{PackEntry, PackId, PackWriter, TARGET_PACK_SIZE, needs_header, open_blob, read_pack_header};
use super::{BlobId, BlobKind, BlobStore};
use crate::lock::Lease;

/// How a [`ChunkStore`] writes and where it caches.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The local index cache; `None` downloads every index object at open.
    pub cache: Option<IndexCache>,
    /// Pack size at which a pack is closed and uploaded.
    pub pack_target: usize,
    /// zstd level for blobs (0: store uncompressed).
    pub compression_level: i32,
    /// Packs uploading at once (at least 1).
    pub uploads: usize,
    /// The chunker's lengths.
    pub chunker: ChunkerParams,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache: None,
            pack_target: TARGET_PACK_SIZE,
            compression_level: level_from_env(),
            uploads: 2,
            chunker: ChunkerParams::default(),
        }
    }
}

/// The zstd level of data and tree blobs when [`LEVEL_ENV`] does not set one.
pub const DEFAULT_LEVEL: i32 = 3;

/// Environment variable that sets the zstd level of the blobs a backup writes (0 to 19; 0
/// stores them uncompressed): a knob for measurements, since any level reads back alike.
pub const LEVEL_ENV: &str = "LIFEBOAT_V3_ZSTD_LEVEL";

/// [`DEFAULT_LEVEL`], or what [`LEVEL_ENV`] sets (a malformed value is ignored, with a log
/// line: a knob for measurements must not stop a backup).
fn level_from_env() -> i32 {
    let Ok(text) = std::env::var(LEVEL_ENV) else { return DEFAULT_LEVEL };
    match text.trim().parse::<i32>() {
        Ok(level) if (0..=19).contains(&level) => level,
        _ => {
            tracing::warn!("{LEVEL_ENV}: ignoring {text:?} (a zstd level from 0 to 19)");
            DEFAULT_LEVEL
        }
    }
}

/// Index objects downloaded at once when the store opens.
const INDEX_DOWNLOADS: usize = 8;

/// The pack store of one domain. Cheap to clone (shared state).
#[derive(Clone)]
pub struct ChunkStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ChunkStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkStore")
            .field("storage", &self.inner.storage.location())
            .field("domain", &hex::encode(self.inner.keys.id()))
            .finish_non_exhaustive()
    }
}

struct Inner {
    storage: Arc<dyn Storage>,
    keys: Arc<DomainKeys>,
    chunker: Chunker,
    cache: Option<IndexCache>,
    pack_target: usize,
    level: i32,
    index: RwLock<Index>,
    /// Indexed blobs not to deduplicate against: those found only in condemned packs (and
    /// those a prune repacks). A blob leaves the set once this writer stored it again.
    avoid: RwLock<HashSet<BlobId>>,
    /// The packs the condemned records name, read at open.
    condemned: BTreeSet<PackId>,
    /// The writer's lease, checked right before index objects are written.
    lease: Mutex<Option<Lease>>,
    /// The object-lock retention every pack this writer stores gets (a locked backup's).
    retention: Mutex<Option<Retention>>,
    writing: Mutex<Writing>,
    uploads: Arc<Semaphore>,
    /// Packs uploading at once, at most (the permits of `uploads`).
    upload_slots: usize,
    /// Buffers of stored packs, for the next packs (see [`SPARE_BUFFERS`]).
    spare: Mutex<Vec<Vec<u8>>>,
}

/// Pack buffers kept for reuse: one is enough to never allocate (and have the kernel clear)
/// a new one while packs are written one after the other.
const SPARE_BUFFERS: usize = 1;

/// Refuses, in debug builds, a put whose given id is not the keyed hash of its plaintext
/// (a caller's bug that would store a blob no reader opens). Release builds trust the
/// caller: the id was just computed from these bytes, and hashing again cost a tenth of a
/// backup's CPU.
fn check_known_id(keys: &DomainKeys, id: BlobId, plaintext: &[u8]) -> Result<(), StoreError> {
    if cfg!(debug_assertions) && keys.blob_id(plaintext) != id {
        return Err(StoreError::Internal {
            operation: "store blob",
            reason: format!("the id {id} given with a blob of {} bytes is not its keyed hash", plaintext.len()),
        });
    }
    Ok(())
}

/// What this writer holds that no index object names yet.
#[derive(Default)]
struct Writing {
    /// The pack being filled.
    pack: Option<PackWriter>,
    /// Blobs in the current pack or in a pack being uploaded.
    pending: HashSet<BlobId>,
    /// Background uploads.
    tasks: Vec<JoinHandle<()>>,
    /// Packs stored, waiting for an index object.
    unindexed: Vec<(PackId, Vec<PackEntry>)>,
    /// Uploads that failed since the last flush; their blobs are not stored.
    errors: Vec<StoreError>,
}

/// Locks a mutex; a panic of another holder leaves plain data behind, still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn blocking<T: Send + 'static>(
    operation: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Internal { operation, reason: e.to_string() })
}

impl ChunkStore {
    /// Opens the store of domain `keys` in `storage`: loads every index object of the
    /// domain (from the cache when its copy is intact, else downloaded and cached).
    pub async fn open(
        storage: Arc<dyn Storage>,
        keys: Arc<DomainKeys>,
        options: StoreOptions,
    ) -> Result<ChunkStore, StoreError> {
        // Records first: a pack condemned after this read was condemned while this writer
        // already held its lock, which the deleting run waits out (FORMAT.md 11.6 rule c).
        let condemned = super::condemned::condemned_packs(storage.as_ref(), &keys).await?;
        let objects = load_index_objects(&storage, &keys, options.cache.as_ref()).await?;
        let (index, avoid) = build_index(&objects, &condemned);
        let chunker = Chunker::new(keys.chunker_key(), options.chunker);
        let inner = Inner {
            storage,
            keys,
            chunker,
            cache: options.cache,
            pack_target: options.pack_target.max(1),
            level: options.compression_level,
            index: RwLock::new(index),
            avoid: RwLock::new(avoid),
            condemned,
            lease: Mutex::new(None),
            retention: Mutex::new(None),
            writing: Mutex::new(Writing::default()),
            uploads: Arc::new(Semaphore::new(options.uploads.max(1))),
            upload_slots: options.uploads.max(1),
            spare: Mutex::new(Vec::new()),
        };
        Ok(ChunkStore { inner: Arc::new(inner) })
    }

    /// The domain's keys.
    pub fn keys(&self) -> &DomainKeys {
        &self.inner.keys
    }

    /// The domain's keys, shared (for work handed to blocking threads).
    pub(crate) fn shared_keys(&self) -> Arc<DomainKeys> {
        self.inner.keys.clone()
    }

    /// The storage the packs are in, and the index's location of `id` (for read_plan.rs).
    pub(crate) fn read_parts(&self, id: &BlobId) -> (&Arc<dyn Storage>, Option<super::BlobLocation>) {
        (&self.inner.storage, self.inner.index.read().unwrap_or_else(|p| p.into_inner()).get(id))
    }

    /// Checks `lease` right before every index object this store writes: a writer whose
    /// lease lapsed must not publish blobs a prune may have judged unreachable.
    pub fn set_lease(&self, lease: Lease) {
        *lock(&self.inner.lease) = Some(lease);
    }

    /// Stores every pack this store writes from now on under `retention` (a locked
    /// backup's packs; the packs it reuses are extended after its trees are stored).
    pub fn set_retention(&self, retention: Retention) {
        *lock(&self.inner.retention) = Some(retention);
    }

    /// The retention packs are written with, if any.
    pub fn retention(&self) -> Option<Retention> {
        *lock(&self.inner.retention)
    }

    /// The storage the domain is in.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.inner.storage
    }

    /// Every index object of the domain as stored now (from the cache where intact).
    pub async fn index_objects(&self) -> Result<Vec<(IndexId, IndexObject)>, StoreError> {
        load_index_objects(&self.inner.storage, &self.inner.keys, self.inner.cache.as_ref()).await
    }

    /// The packs named by condemned records when the store opened (never deduplicated
    /// against).
    pub fn condemned_packs(&self) -> &BTreeSet<PackId> {
        &self.inner.condemned
    }

    /// Makes the store write `blobs` again when put, though the index has them: a prune
    /// copies the live blobs of a pack it is about to condemn.
    pub fn write_again(&self, blobs: impl IntoIterator<Item = BlobId>) {
        self.inner.avoid.write().unwrap_or_else(|p| p.into_inner()).extend(blobs);
    }

    /// Where the index finds `id`, for a blob that is indexed (condemned packs included).
    pub fn locate(&self, id: &BlobId) -> Option<super::BlobLocation> {
        self.inner.index.read().unwrap_or_else(|p| p.into_inner()).get(id)
    }

    /// Makes the key of `pack` known before its blobs are opened: for a reader holding
    /// identities, the first time, the pack's header is read (a pack with key slots, of a
    /// write-only host's domain, has its key there; docs/FORMAT.md 11.3).
    pub(crate) async fn ensure_pack_key(&self, pack: PackId) -> Result<(), StoreError> {
        if !needs_header(&self.inner.keys, pack) {
            return Ok(());
        }
        let key = pack.key();
        let (storage, at): (&dyn Storage, &str) = (self.inner.storage.as_ref(), &key);
        let fetch = move |range| read_range(storage, "read pack header", at, Some(range));
        read_pack_header(&self.inner.keys, pack, fetch).await.map(drop)
    }

    /// Blobs in the in-memory index (stored packs; this writer's uploaded ones included).
    pub fn indexed_blobs(&self) -> usize {
        self.inner.index.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Stores one blob: hashed unless its id is given, compressed and sealed on a blocking
    /// thread (several puts at once compress in parallel), appended to the open pack under
    /// the lock; the pack this filled is uploaded.
    async fn put(&self, kind: BlobKind, id: Option<BlobId>, plaintext: Bytes) -> Result<BlobId, StoreError> {
        let inner = self.inner.clone();
        let (id, full) = blocking("store blob", move || inner.put_blocking(kind, id, &plaintext)).await??;
        if let Some(pack) = full {
            self.upload(pack).await?;
        }
        Ok(id)
    }

    /// Uploads `pack` in the background once an upload slot is free.
    async fn upload(&self, pack: PackWriter) -> Result<(), StoreError> {
        let permit = self
            .inner
            .uploads
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Internal { operation: "upload pack", reason: e.to_string() })?;
        let finished = blocking("finish pack", move || pack.finish()).await??;
        let inner = self.inner.clone();
        let options = PutOptions { retention: *lock(&self.inner.retention) };
        let task = tokio::spawn(async move {
            let key = finished.id.key();
            let len = finished.bytes.len();
            let result = match options.retention {
                None => inner.storage.put_bytes(&key, finished.bytes.clone()).await,
                Some(_) => {
                    let body = finished.bytes.clone();
                    let stream: ByteStream = Box::pin(futures::stream::once(async move { Ok(body) }));
                    inner.storage.put_with_options(&key, stream, Some(len as u64), &options).await
                }
            };
            drop(permit);
            inner.give_back(finished.bytes);
            inner.uploaded(
                finished.id,
                finished.entries,
                result.map_err(|source| StoreError::Storage { operation: "write pack", key, source }),
            );
            tracing::debug!(pack = %finished.id, bytes = len, "pack stored");
        });
        let mut writing = lock(&self.inner.writing);
        writing.tasks.retain(|t| !t.is_finished());
        writing.tasks.push(task);
        Ok(())
    }

    /// Waits for every upload started so far.
    async fn wait_uploads(&self) -> Result<(), StoreError> {
        loop {
            let tasks = std::mem::take(&mut lock(&self.inner.writing).tasks);
            if tasks.is_empty() {
                return Ok(());
            }
            for task in tasks {
                task.await.map_err(|e| StoreError::Internal { operation: "upload pack", reason: e.to_string() })?;
            }
        }
    }

    /// Writes one index object naming `packs` (all stored), then caches it.
    async fn write_index(&self, packs: Vec<(PackId, Vec<PackEntry>)>) -> Result<IndexId, StoreError> {
        let lease = lock(&self.inner.lease).clone();
        if let Some(lease) = lease {
            lease.check("index objects").map_err(|e| StoreError::LeaseLapsed(e.to_string()))?;
        }
        let object = IndexObject { id: IndexId::generate()?, supersedes: Vec::new(), packs };
        let id = object.id;
        store_index(&self.inner.storage, &self.inner.keys, self.inner.cache.as_ref(), object).await?;
        Ok(id)
    }
}

impl Inner {
    /// Lock order: `writing` before `index` (put_blob holds both); never the other way round,
    /// so this takes them one after the other.
    fn has_blob(&self, id: &BlobId) -> bool {
        self.dedups(id) || lock(&self.writing).pending.contains(id)
    }

    /// Whether a put of `id` may use the indexed copy: indexed, and not only in condemned
    /// packs (nor asked to be written again).
    fn dedups(&self, id: &BlobId) -> bool {
        self.index.read().unwrap_or_else(|p| p.into_inner()).contains(id)
            && !self.avoid.read().unwrap_or_else(|p| p.into_inner()).contains(id)
    }

    /// The blocking part of a put: the blob's id (`known`, checked in debug builds, or
    /// hashed), nothing more when the store has it; else compressed and sealed for the open
    /// pack with no lock held, then appended under the lock. Returns the pack it filled.
    fn put_blocking(
        &self,
        kind: BlobKind,
        known: Option<BlobId>,
        plaintext: &[u8],
    ) -> Result<(BlobId, Option<PackWriter>), StoreError> {
        let id = match known {
            Some(id) => {
                check_known_id(&self.keys, id, plaintext)?;
                id
            }
            None => self.keys.blob_id(plaintext),
        };
        if self.has_blob(&id) {
            return Ok((id, None));
        }
        let sealer = self.open_pack(|pack| pack.sealer())?;
        let mut sealed = sealer.seal(id, kind, plaintext, self.level)?;
        let mut writing = lock(&self.writing);
        // Another put of the same blob may have won the race since the check above: the
        // blob is stored once, and this copy is dropped (FORMAT.md 11.3 would tolerate a
        // second copy, but it would only cost space).
        if writing.pending.contains(&id) || self.dedups(&id) {
            return Ok((id, None));
        }
        let pack = self.pack_of(&mut writing)?;
        if pack.id() != sealed.pack() {
            // The pack sealed for was closed meanwhile (another put filled it): sealed
            // again for the open one, under the lock, at most once per pack and put.
            sealed = pack.sealer().seal(id, kind, plaintext, self.level)?;
        }
        pack.append(sealed)?;
        let full = if pack.is_full() { writing.pack.take() } else { None };
        writing.pending.insert(id);
        Ok((id, full))
    }

    /// Calls `f` with the open pack (opened if there is none), under the lock.
    fn open_pack<T>(&self, f: impl FnOnce(&PackWriter) -> T) -> Result<T, StoreError> {
        let mut writing = lock(&self.writing);
        Ok(f(self.pack_of(&mut writing)?))
    }

    /// The open pack, a new one (in a reused buffer when there is one) if there is none.
    fn pack_of<'a>(&self, writing: &'a mut Writing) -> Result<&'a mut PackWriter, StoreError> {
        match &mut writing.pack {
            Some(pack) => Ok(pack),
            empty @ None => {
                let buf = lock(&self.spare).pop().unwrap_or_default();
                Ok(empty.insert(PackWriter::new_in(&self.keys, self.pack_target, buf)?))
            }
        }
    }

    /// Keeps the buffer of a stored pack for the next one, unless that would hold more pack
    /// buffers than `uploads + 1` (the open pack and the uploads): a kept buffer is all
    /// touched pages, so it must replace an allocation, not add to the peak memory.
    fn give_back(&self, bytes: Bytes) {
        let Ok(buf) = bytes.try_into_mut() else { return };
        let uploading = self.upload_slots.saturating_sub(self.uploads.available_permits());
        let open = usize::from(lock(&self.writing).pack.is_some());
        let mut spare = lock(&self.spare);
        if spare.len() < SPARE_BUFFERS && uploading + open + spare.len() < self.upload_slots {
            spare.push(Vec::from(buf));
        }
    }

    /// Records the end of one upload: on success the blobs enter the in-memory index (before
    /// they leave `pending`, so `has_blob` never blinks) and wait for an index object; on
    /// failure they are forgotten, so a later put writes them again, and flush reports it.
    fn uploaded(&self, pack: PackId, entries: Vec<PackEntry>, result: Result<(), StoreError>) {
        if result.is_ok() {
            self.index.write().unwrap_or_else(|p| p.into_inner()).add_pack(pack, &entries);
            // Stored again by this writer: the new copy may be deduplicated against. (The
            // index still reads the first copy; both exist until the deleting run.)
            let mut avoid = self.avoid.write().unwrap_or_else(|p| p.into_inner());
            for entry in &entries {
                avoid.remove(&entry.id);
            }
        }
        let mut writing = lock(&self.writing);
        for entry in &entries {
            writing.pending.remove(&entry.id);
        }
        match result {
            Ok(()) => writing.unindexed.push((pack, entries)),
            Err(e) => writing.errors.push(e),
        }
    }
}

/// Seals and stores an index object (write-once), then puts a copy in the cache.
pub(crate) async fn store_index(
    storage: &Arc<dyn Storage>,
    keys: &Arc<DomainKeys>,
    cache: Option<&IndexCache>,
    object: IndexObject,
) -> Result<(), StoreError> {
    let id = object.id;
    let sealing = keys.clone();
    let bytes = Bytes::from(blocking("seal index", move || object.seal(&sealing)).await??);
    let key = id.key();
    // Index ids are 16 random bytes, unique by construction: create_new is atomic where
    // the storage has a conditional create and a check then a put elsewhere (WebDAV, S3
    // servers without `If-None-Match`), where backups must work as well.
    let outcome = lifeboat_storage::create_new(storage.as_ref(), &key, bytes.clone())
        .await
        .map_err(|source| StoreError::Storage { operation: "write index", key: key.clone(), source })?;
    if outcome == PutOutcome::AlreadyExists {
        return Err(StoreError::Internal { operation: "write index", reason: format!("{key} exists already") });
    }
    if let Some(cache) = cache.cloned() {
        cache_quietly(cache, id, bytes).await;
    }
    Ok(())
}

/// Caches a copy; a failure only costs a download later, so it is logged, not returned.
async fn cache_quietly(cache: IndexCache, id: IndexId, bytes: Bytes) {
    match blocking("cache index", move || cache.write(id, &bytes)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) | Err(e) => tracing::warn!(index = %id, error = %e, "could not cache an index object"),
    }
}

/// The in-memory index of `objects`, and the blobs it finds only in `condemned` packs.
/// Packs no record names are added first, so a blob held by both kinds is located in (and
/// deduplicated against) its uncondemned copy.
fn build_index(objects: &[(IndexId, IndexObject)], condemned: &BTreeSet<PackId>) -> (Index, HashSet<BlobId>) {
    let mut index = Index::new();
    let packs = || objects.iter().flat_map(|(_, object)| object.packs.iter());
    for (pack, entries) in packs().filter(|(pack, _)| !condemned.contains(pack)) {
        index.add_pack(*pack, entries);
    }
    let mut avoid = HashSet::new();
    for (_, entries) in packs().filter(|(pack, _)| condemned.contains(pack)) {
        avoid.extend(entries.iter().filter(|e| !index.contains(&e.id)).map(|e| e.id));
    }
    for (pack, entries) in packs().filter(|(pack, _)| condemned.contains(pack)) {
        index.add_pack(*pack, entries);
    }
    index.compact();
    (index, avoid)
}

/// Loads every index object of the domain with its id, reconciling the cache with the
/// listing.
pub(crate) async fn load_index_objects(
    storage: &Arc<dyn Storage>,
    keys: &Arc<DomainKeys>,
    cache: Option<&IndexCache>,
) -> Result<Vec<(IndexId, IndexObject)>, StoreError> {
    let listing = list_prefix(storage.as_ref(), "list index", INDEX_PREFIX).await?;
    let listed: Vec<(IndexId, ObjectMeta)> =
        listing.into_iter().filter_map(|meta| Some((IndexId::from_key(&meta.key)?, meta))).collect();
    if let Some(cache) = cache.cloned() {
        forget_unlisted(cache, listed.iter().map(|(id, _)| *id).collect()).await;
    }
    let objects: Vec<Option<IndexObject>> = futures::stream::iter(listed)
        .map(|(id, meta)| load_one(storage, keys, cache, id, meta.size))
        .buffer_unordered(INDEX_DOWNLOADS)
        .try_collect()
        .await?;
    Ok(objects.into_iter().flatten().map(|object| (object.id, object)).collect())
}

/// Removes cached objects the listing no longer has (superseded and deleted).
async fn forget_unlisted(cache: IndexCache, listed: HashSet<IndexId>) {
    let result = blocking("reconcile index cache", move || {
        for id in cache.list()? {
            if !listed.contains(&id) {
                cache.remove(id)?;
            }
        }
        Ok::<_, StoreError>(())
    })
    .await;
    if let Ok(Err(e)) | Err(e) = result {
        tracing::warn!(error = %e, "could not tidy the index cache");
    }
}

/// What the cache holds for one listed index object.
enum Cached {
    /// An intact copy.
    Hit(IndexObject),
    /// Nothing usable: not cached, or a copy that is damaged (logged).
    Miss,
}

/// Reads and opens the cached copy of `id`, which must have the listed `size`.
fn read_cached(cache: &IndexCache, keys: &DomainKeys, id: IndexId, size: u64) -> Cached {
    let bytes = match cache.read(id) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Cached::Miss,
        Err(e) => {
            tracing::warn!(error = %e, "index cache unreadable; downloading");
            return Cached::Miss;
        }
    };
    if bytes.len() as u64 != size {
        tracing::warn!(index = %id, "cached index object has the wrong size; downloading it again");
        return Cached::Miss;
    }
    // Only this domain's objects are cached (others are downloaded at each open), so a
    // copy of another domain was forged: IndexObject::open refuses it like any damage.
    match IndexObject::open(keys, id, &bytes) {
        Ok(object) => Cached::Hit(object),
        Err(e) => {
            tracing::warn!(error = %e, "cached index object unusable; downloading it again");
            Cached::Miss
        }
    }
}

/// One index object: the cached copy when it has the listed size and opens, else a
/// download (cached afterwards). `None` for an index object of another domain.
async fn load_one(
    storage: &Arc<dyn Storage>,
    keys: &Arc<DomainKeys>,
    cache: Option<&IndexCache>,
    id: IndexId,
    size: u64,
) -> Result<Option<IndexObject>, StoreError> {
    if let Some(cache) = cache.cloned() {
        let opening = keys.clone();
        match blocking("read cached index", move || read_cached(&cache, &opening, id, size)).await? {
            Cached::Hit(object) => return Ok(Some(object)),
            Cached::Miss => {}
        }
    }
    let key = id.key();
    let bytes = read_range(storage.as_ref(), "read index", &key, None).await?;
    if index_domain(&bytes).is_some_and(|domain| domain != keys.id()) {
        return Ok(None);
    }
    let opening = keys.clone();
    let parsing = bytes.clone();
    let object = blocking("open index", move || IndexObject::open(&opening, id, &parsing)).await??;
    if let Some(cache) = cache.cloned() {
        cache_quietly(cache, id, bytes).await;
    }
    Ok(Some(object))
}

impl BlobStore for ChunkStore {
    fn blob_id(&self, plaintext: &[u8]) -> BlobId {
        self.inner.keys.blob_id(plaintext)
    }

    fn chunker(&self) -> &Chunker {
        &self.inner.chunker
    }

    fn has_blob(&self, id: &BlobId) -> bool {
        self.inner.has_blob(id)
    }

    async fn put_blob(&self, kind: BlobKind, plaintext: Bytes) -> Result<BlobId, StoreError> {
        self.put(kind, None, plaintext).await
    }

    async fn put_blob_with_id(&self, kind: BlobKind, id: BlobId, plaintext: Bytes) -> Result<BlobId, StoreError> {
        self.put(kind, Some(id), plaintext).await
    }

    async fn get_blob(&self, id: &BlobId) -> Result<Bytes, StoreError> {
        for _ in 0..2 {
            let location = self.inner.index.read().unwrap_or_else(|p| p.into_inner()).get(id);
            if let Some(location) = location {
                let key = location.pack.key();
                self.ensure_pack_key(location.pack).await?;
                let record =
                    read_range(self.inner.storage.as_ref(), "read pack", &key, Some(location.entry.range())).await?;
                let keys = self.inner.keys.clone();
                return blocking("open blob", move || open_blob(&keys, location.pack, &location.entry, &record))
                    .await?;
            }
            let uploading = {
                let writing = lock(&self.inner.writing);
                if let Some(found) = writing.pack.as_ref().and_then(|pack| pack.read_blob(&self.inner.keys, id)) {
                    return found;
                }
                writing.pending.contains(id)
            };
            if !uploading {
                break;
            }
            // In a pack being uploaded: once stored it is in the index.
            self.wait_uploads().await?;
        }
        Err(StoreError::MissingBlob(id.to_hex()))
    }

    fn blob_location(&self, id: &BlobId) -> Option<super::BlobLocation> {
        self.read_parts(id).1
    }

    async fn get_pack_run(
        &self,
        pack: PackId,
        entries: Vec<PackEntry>,
    ) -> Result<Vec<Result<Bytes, StoreError>>, StoreError> {
        self.read_run(pack, entries).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let last = lock(&self.inner.writing).pack.take().filter(|pack| !pack.is_empty());
        if let Some(pack) = last {
            self.upload(pack).await?;
        }
        self.wait_uploads().await?;
        let (errors, packs) = {
            let mut writing = lock(&self.inner.writing);
            (std::mem::take(&mut writing.errors), std::mem::take(&mut writing.unindexed))
        };
        if let Some(error) = errors.into_iter().next() {
            // The stored packs stay unindexed until a flush succeeds.
            lock(&self.inner.writing).unindexed.extend(packs);
            return Err(error);
        }
        if packs.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.write_index(packs.clone()).await {
            lock(&self.inner.writing).unindexed.extend(packs);
            return Err(e);
        }
        self.inner.index.write().unwrap_or_else(|p| p.into_inner()).compact();
        Ok(())
    }
}

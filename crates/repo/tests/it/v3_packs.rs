//! Format v3 packs, index objects, the index cache and the chunk store (FORMAT.md 11.3, 11.4).

// StoreError carries the storage error by value (see pack.rs); the tests collect results.
#![allow(clippy::result_large_err)]

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use lifeboat_crypto::SecretKey;
use lifeboat_repo::v3::{
    BlobCompression, BlobId, BlobKind, BlobStore, ChunkStore, DomainKeys, IndexCache, IndexId, IndexObject, PackEntry,
    PackId, PackReader, PackWriter, StoreError, StoreOptions, repair_index,
};
use lifeboat_storage::{
    ByteStream, FsStorage, MemoryStorage, MetaStream, ObjectMeta, PutOutcome, Storage, StorageError, StorageExt,
};
use proptest::prelude::*;

fn keys() -> Arc<DomainKeys> {
    Arc::new(DomainKeys::derive(&SecretKey::from_bytes([9u8; 32])))
}

/// Deterministic incompressible bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    lifeboat_testkit::files::random_bytes(len, seed)
}

/// Compressible bytes.
fn text(len: usize, seed: u64) -> Vec<u8> {
    format!("row {seed}: the quick brown fox jumps over the lazy dog\n").bytes().cycle().take(len).collect()
}

/// Small packs, so that a few blobs fill several.
fn options(cache: Option<IndexCache>) -> StoreOptions {
    StoreOptions { cache, pack_target: 96 << 10, ..StoreOptions::default() }
}

async fn open(storage: &Arc<dyn Storage>, cache: Option<IndexCache>) -> ChunkStore {
    ChunkStore::open(storage.clone(), keys(), options(cache)).await.unwrap()
}

async fn keys_under(storage: &Arc<dyn Storage>, prefix: &str) -> Vec<String> {
    storage.list_all(prefix).await.unwrap().into_iter().map(|m| m.key).collect()
}

/// Puts ten blobs (half compressible, 40 KiB each) and returns them with their ids.
async fn put_some(store: &ChunkStore) -> Vec<(BlobId, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..10u64 {
        let data = if i % 2 == 0 { text(40 << 10, i) } else { noise(40 << 10, i) };
        let id = store.put_blob(BlobKind::Data, Bytes::from(data.clone())).await.unwrap();
        assert_eq!(id, store.blob_id(&data));
        out.push((id, data));
    }
    out
}

async fn assert_all_readable(store: &ChunkStore, blobs: &[(BlobId, Vec<u8>)]) {
    for (id, data) in blobs {
        assert!(store.has_blob(id), "{id}");
        assert_eq!(&store.get_blob(id).await.unwrap()[..], &data[..], "{id}");
    }
}

/// A storage that records the order of writes, and fails pack uploads while `fail_packs`.
#[derive(Debug, Default)]
struct Recording {
    inner: MemoryStorage,
    writes: Mutex<Vec<String>>,
    fail_packs: AtomicBool,
}

#[async_trait]
impl Storage for Recording {
    fn location(&self) -> String {
        "recording".into()
    }
    async fn put(&self, key: &str, body: ByteStream, size_hint: Option<u64>) -> Result<(), StorageError> {
        if key.starts_with("packs/") && self.fail_packs.load(Ordering::SeqCst) {
            return Err(StorageError::Unsupported {
                op: lifeboat_storage::Op::Put,
                location: self.location(),
                key: key.to_owned(),
                message: "injected failure".into(),
            });
        }
        self.inner.put(key, body, size_hint).await?;
        self.writes.lock().unwrap().push(key.to_owned());
        Ok(())
    }
    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<PutOutcome, StorageError> {
        let outcome = self.inner.put_if_absent(key, body).await?;
        self.writes.lock().unwrap().push(key.to_owned());
        Ok(outcome)
    }
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
        self.inner.get(key, range).await
    }
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        self.inner.head(key).await
    }
    fn list(&self, prefix: &str) -> MetaStream {
        self.inner.list(prefix)
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }
}

#[test]
fn a_pack_round_trips_through_the_reader_and_compresses_only_what_shrinks() {
    let keys = keys();
    let mut writer = PackWriter::new(&keys, 1 << 20).unwrap();
    let blobs = [text(100_000, 1), noise(100_000, 2), Vec::new(), b"{\"nodes\":[]}".to_vec()];
    for (i, blob) in blobs.iter().enumerate() {
        let kind = if i == 3 { BlobKind::Tree } else { BlobKind::Data };
        writer.add(keys.blob_id(blob), kind, blob, 3).unwrap();
    }
    let pack = writer.finish().unwrap();
    assert_eq!(&pack.bytes[..8], b"LBPACK03");
    assert_eq!(&pack.bytes[8..16], &keys.id());
    assert_eq!(&pack.bytes[16..32], &pack.id.0);
    assert_eq!(&pack.bytes[pack.bytes.len() - 8..], b"LBPKEND3");
    assert_eq!(pack.entries[0].compression, BlobCompression::Zstd);
    assert!(pack.entries[0].sealed_len < 50_000, "text shrinks");
    assert_eq!(pack.entries[1].compression, BlobCompression::None, "noise is stored");
    assert_eq!(pack.entries[1].sealed_len, 100_000 + 28);
    assert_eq!(pack.entries[0].offset, 34, "the first blob follows the 34-byte header");

    let reader = PackReader::parse(&keys, pack.id, pack.bytes.clone()).unwrap();
    assert_eq!(reader.entries(), &pack.entries[..]);
    for blob in &blobs {
        assert_eq!(&reader.read_blob(&keys, &keys.blob_id(blob)).unwrap()[..], &blob[..]);
    }
    assert_eq!(reader.entries()[3].kind, BlobKind::Tree);

    // Another domain's keys, or another pack id, do not open it.
    let other = DomainKeys::derive(&SecretKey::from_bytes([1u8; 32]));
    assert!(PackReader::parse(&other, pack.id, pack.bytes.clone()).is_err());
    assert!(PackReader::parse(&keys, PackId([0; 16]), pack.bytes.clone()).is_err());
}

#[test]
fn a_pack_key_names_its_id() {
    let id = PackId::generate().unwrap();
    let key = id.key();
    assert!(key.starts_with(&format!("packs/{}/", &id.to_hex()[..2])), "{key}");
    assert_eq!(PackId::from_key(&key), Some(id));
    assert_eq!(PackId::from_key(&format!("packs/zz/{}", id.to_hex())), None);
    assert_eq!(PackId::from_key("packs/ab/cd"), None);
}

#[test]
fn truncated_and_flipped_packs_fail_by_name_and_never_panic() {
    let keys = keys();
    let mut writer = PackWriter::new(&keys, 1 << 20).unwrap();
    let blobs = [text(3000, 1), noise(3000, 2)];
    for blob in &blobs {
        writer.add(keys.blob_id(blob), BlobKind::Data, blob, 3).unwrap();
    }
    let pack = writer.finish().unwrap();
    for len in 0..pack.bytes.len() {
        let error = PackReader::parse(&keys, pack.id, pack.bytes.slice(..len)).unwrap_err();
        assert!(error.to_string().contains(&pack.id.to_hex()), "{error}");
    }
    for at in 0..pack.bytes.len() {
        let mut forged = pack.bytes.to_vec();
        forged[at] ^= 0x40;
        let reads = PackReader::parse(&keys, pack.id, Bytes::from(forged)).map(|reader| {
            blobs.iter().map(|b| reader.read_blob(&keys, &keys.blob_id(b)).map(|_| ())).collect::<Vec<_>>()
        });
        let failed = match reads {
            Err(_) => true,
            Ok(reads) => reads.iter().any(Result::is_err),
        };
        assert!(failed, "a flip at byte {at} went unnoticed");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes_are_no_pack_and_no_index(bytes in proptest::collection::vec(any::<u8>(), 0..400), magic in any::<bool>()) {
        let keys = keys();
        let id = PackId([7; 16]);
        let mut bytes = bytes;
        if magic && bytes.len() >= 34 {
            // Past the first checks: a plausible header and trailer around the noise.
            bytes[..8].copy_from_slice(b"LBPACK03");
            bytes[8..16].copy_from_slice(&keys.id());
            bytes[16..32].copy_from_slice(&id.0);
            bytes[32..34].copy_from_slice(&[0, 0]);
            let n = bytes.len();
            bytes[n - 8..].copy_from_slice(b"LBPKEND3");
        }
        prop_assert!(PackReader::parse(&keys, id, Bytes::from(bytes.clone())).is_err());
        prop_assert!(IndexObject::open(&keys, IndexId([7; 16]), &bytes).is_err());
    }
}

#[test]
fn an_index_object_round_trips_and_refuses_damage() {
    let keys = keys();
    let entry = PackEntry {
        id: keys.blob_id(b"x"),
        kind: BlobKind::Data,
        compression: BlobCompression::None,
        offset: 34,
        sealed_len: 29,
        plain_len: 1,
    };
    let object = IndexObject {
        id: IndexId::generate().unwrap(),
        supersedes: vec![IndexId([1; 16])],
        packs: vec![(PackId([2; 16]), vec![entry]), (PackId([3; 16]), Vec::new())],
    };
    let sealed = object.seal(&keys).unwrap();
    assert_eq!(&sealed[..8], b"LBINDX03");
    assert_eq!(IndexObject::open(&keys, object.id, &sealed).unwrap(), object);
    assert!(IndexObject::open(&keys, IndexId([4; 16]), &sealed).is_err(), "another id");
    for len in 0..sealed.len() {
        assert!(IndexObject::open(&keys, object.id, &sealed[..len]).is_err(), "truncated to {len}");
    }
    for at in 0..sealed.len() {
        let mut forged = sealed.clone();
        forged[at] ^= 1;
        let error = IndexObject::open(&keys, object.id, &forged).unwrap_err();
        assert!(error.to_string().contains(&object.id.key()), "{error}");
    }
}

#[tokio::test]
async fn blobs_round_trip_through_memory_and_filesystem_storage() {
    let dir = tempfile::tempdir().unwrap();
    let backends: [Arc<dyn Storage>; 2] = [Arc::new(MemoryStorage::new()), Arc::new(FsStorage::new(dir.path()))];
    for storage in backends {
        let store = open(&storage, None).await;
        let blobs = put_some(&store).await;
        // Readable before the flush too: from the open pack or after its upload.
        assert_all_readable(&store, &blobs).await;
        store.flush().await.unwrap();
        assert_all_readable(&store, &blobs).await;
        assert!(keys_under(&storage, "packs/").await.len() >= 2, "400 KiB in 96 KiB packs");
        assert_eq!(keys_under(&storage, "index/").await.len(), 1);
        let missing = store.get_blob(&store.blob_id(b"never stored")).await.unwrap_err();
        assert!(matches!(missing, StoreError::MissingBlob(_)), "{missing}");
    }
}

#[tokio::test]
async fn putting_the_same_blob_twice_stores_it_once() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let store = open(&storage, None).await;
    let data = Bytes::from(noise(10_000, 5));
    let first = store.put_blob(BlobKind::Data, data.clone()).await.unwrap();
    let second = store.put_blob(BlobKind::Data, data.clone()).await.unwrap();
    assert_eq!(first, second);
    store.flush().await.unwrap();
    let packs = keys_under(&storage, "packs/").await;
    assert_eq!(packs.len(), 1);
    let id = PackId::from_key(&packs[0]).unwrap();
    let reader = PackReader::parse(&keys(), id, storage.get_bytes(&packs[0]).await.unwrap()).unwrap();
    assert_eq!(reader.entries().len(), 1, "one copy in the pack");
    // And a reopened store dedups against the index: no new pack, no new index object.
    let again = open(&storage, None).await;
    again.put_blob(BlobKind::Data, data).await.unwrap();
    again.flush().await.unwrap();
    assert_eq!(keys_under(&storage, "packs/").await.len(), 1);
    assert_eq!(keys_under(&storage, "index/").await.len(), 1);
}

#[tokio::test]
async fn flush_writes_the_index_only_after_its_packs() {
    let recording = Arc::new(Recording::default());
    let storage: Arc<dyn Storage> = recording.clone();
    let store = open(&storage, None).await;
    put_some(&store).await;
    store.flush().await.unwrap();
    let writes = recording.writes.lock().unwrap().clone();
    let index_at = writes.iter().position(|k| k.starts_with("index/")).expect("an index object");
    let packs: Vec<&String> = writes.iter().filter(|k| k.starts_with("packs/")).collect();
    assert!(packs.len() >= 2, "{writes:?}");
    assert!(writes[..index_at].iter().filter(|k| k.starts_with("packs/")).count() == packs.len(), "{writes:?}");
    assert_eq!(index_at, writes.len() - 1, "{writes:?}");
    // The index object names exactly those packs.
    let id = IndexId::from_key(&writes[index_at]).unwrap();
    let object = IndexObject::open(&keys(), id, &storage.get_bytes(&writes[index_at]).await.unwrap()).unwrap();
    let mut named: Vec<String> = object.packs.iter().map(|(p, _)| p.key()).collect();
    let mut stored: Vec<String> = packs.into_iter().cloned().collect();
    named.sort();
    stored.sort();
    assert_eq!(named, stored);
}

#[tokio::test]
async fn a_reopened_store_finds_blobs_through_the_index() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let store = open(&storage, None).await;
    let blobs = put_some(&store).await;
    let unflushed = open(&storage, None).await;
    assert!(!unflushed.has_blob(&blobs[0].0), "not durable before the flush");
    store.flush().await.unwrap();
    let reopened = open(&storage, None).await;
    assert_eq!(reopened.indexed_blobs(), blobs.len());
    assert_all_readable(&reopened, &blobs).await;
}

fn cached_file(cache: &Path) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[tokio::test]
async fn the_cache_holds_index_objects_as_stored_and_losing_it_loses_nothing() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let home = tempfile::tempdir().unwrap();
    let cache = IndexCache::for_repository(home.path(), &"ab".repeat(16)).unwrap();
    assert!(cache.dir().ends_with(format!("lifeboat/{}/index", "ab".repeat(16))));
    assert!(IndexCache::for_repository(home.path(), "../escape").is_none());
    let store = open(&storage, Some(cache.clone())).await;
    let blobs = put_some(&store).await;
    store.flush().await.unwrap();
    let index_key = keys_under(&storage, "index/").await.remove(0);
    let file = cached_file(cache.dir());
    assert_eq!(std::fs::read(&file).unwrap(), storage.get_bytes(&index_key).await.unwrap().to_vec(), "byte for byte");

    std::fs::remove_dir_all(home.path().join("lifeboat")).unwrap();
    let reopened = open(&storage, Some(cache.clone())).await;
    assert_all_readable(&reopened, &blobs).await;
    assert_eq!(std::fs::read(cached_file(cache.dir())).unwrap().len() as u64, {
        storage.head(&index_key).await.unwrap().unwrap().size
    });

    // A cached object the listing no longer has is forgotten at open.
    let stale = IndexId([5; 16]);
    cache.write(stale, b"stale").unwrap();
    open(&storage, Some(cache.clone())).await;
    assert_eq!(cache.list().unwrap().len(), 1);
}

#[tokio::test]
async fn a_forged_or_truncated_cached_index_is_detected_and_downloaded_again() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let home = tempfile::tempdir().unwrap();
    let cache = IndexCache::for_repository(home.path(), &"cd".repeat(16)).unwrap();
    let store = open(&storage, Some(cache.clone())).await;
    let blobs = put_some(&store).await;
    store.flush().await.unwrap();
    let file = cached_file(cache.dir());
    let good = std::fs::read(&file).unwrap();

    let mut flipped = good.clone();
    flipped[60] ^= 1; // same size, so only authentication can tell
    // A cached object that lists a blob the repository does not hold must not be believed.
    let forged = IndexObject {
        id: IndexId::from_hex(file.file_name().unwrap().to_str().unwrap()).unwrap(),
        supersedes: Vec::new(),
        packs: Vec::new(),
    }
    .seal(&DomainKeys::derive(&SecretKey::from_bytes([8u8; 32])))
    .unwrap();
    for bad in [good[..good.len() / 2].to_vec(), flipped, forged, Vec::new()] {
        std::fs::write(&file, &bad).unwrap();
        let reopened = open(&storage, Some(cache.clone())).await;
        assert_all_readable(&reopened, &blobs).await;
        assert_eq!(std::fs::read(&file).unwrap(), good, "downloaded again and re-cached");
    }
}

#[tokio::test]
async fn a_flipped_byte_in_a_pack_fails_the_read_naming_pack_and_blob() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let store = open(&storage, None).await;
    let data = noise(20_000, 3);
    let id = store.put_blob(BlobKind::Data, Bytes::from(data)).await.unwrap();
    store.flush().await.unwrap();
    let key = keys_under(&storage, "packs/").await.remove(0);
    let mut bytes = storage.get_bytes(&key).await.unwrap().to_vec();
    bytes[34 + 12 + 500] ^= 0x01;
    storage.put_bytes(&key, Bytes::from(bytes)).await.unwrap();
    let error = open(&storage, None).await.get_blob(&id).await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains(&key), "{message}");
    assert!(message.contains(&id.to_hex()), "{message}");
    assert!(matches!(error, StoreError::Corrupt { .. }), "{message}");
}

#[tokio::test]
async fn repair_rebuilds_the_index_from_the_packs_alone() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let home = tempfile::tempdir().unwrap();
    let cache = IndexCache::new(home.path().join("index"));
    let store = open(&storage, Some(cache.clone())).await;
    let blobs = put_some(&store).await;
    store.flush().await.unwrap();
    let packs = keys_under(&storage, "packs/").await.len();

    for key in keys_under(&storage, "index/").await {
        storage.delete(&key).await.unwrap();
    }
    let lost = open(&storage, Some(cache.clone())).await;
    assert!(!lost.has_blob(&blobs[0].0), "without index objects the store knows nothing");

    // A stray object under packs/ is reported, not fatal.
    storage.put_bytes("packs/zz/junk", Bytes::from_static(b"junk")).await.unwrap();
    let report = repair_index(&storage, &keys(), Some(&cache)).await.unwrap();
    assert_eq!(report.packs, packs);
    assert_eq!(report.blobs, blobs.len());
    assert_eq!(report.damaged.len(), 1, "{:?}", report.damaged);
    assert!(report.superseded.is_empty());
    assert_eq!(keys_under(&storage, "index/").await.len(), 1);
    let repaired = open(&storage, Some(cache.clone())).await;
    assert_all_readable(&repaired, &blobs).await;

    // Run again: the new object supersedes (and deletes) the first repair's.
    let again = repair_index(&storage, &keys(), Some(&cache)).await.unwrap();
    assert_eq!(again.superseded, vec![report.index.unwrap()]);
    assert_eq!(keys_under(&storage, "index/").await, vec![again.index.unwrap().key()]);
    assert_all_readable(&open(&storage, Some(cache)).await, &blobs).await;
}

#[tokio::test]
async fn a_failed_pack_upload_fails_the_flush_and_its_blobs_are_written_again() {
    let recording = Arc::new(Recording::default());
    let storage: Arc<dyn Storage> = recording.clone();
    let store = open(&storage, None).await;
    recording.fail_packs.store(true, Ordering::SeqCst);
    let blobs = put_some(&store).await;
    let error = store.flush().await.unwrap_err();
    assert!(error.to_string().contains("injected failure"), "{error}");
    assert!(keys_under(&storage, "index/").await.is_empty(), "no index names a pack that is not stored");
    assert!(!store.has_blob(&blobs[0].0), "a blob whose pack failed is not taken as stored");

    recording.fail_packs.store(false, Ordering::SeqCst);
    for (_, data) in &blobs {
        store.put_blob(BlobKind::Data, Bytes::from(data.clone())).await.unwrap();
    }
    store.flush().await.unwrap();
    assert_all_readable(&open(&storage, None).await, &blobs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_puts_store_each_blob_once_with_one_upload_at_a_time() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let store = ChunkStore::open(storage.clone(), keys(), StoreOptions { uploads: 1, ..options(None) }).await.unwrap();
    let data: Vec<Bytes> = (0..24u64).map(|i| Bytes::from(noise(20_000, i % 12))).collect();
    let puts = data.iter().cloned().map(|blob| {
        let store = store.clone();
        tokio::spawn(async move { store.put_blob(BlobKind::Data, blob).await })
    });
    let ids: Vec<BlobId> = futures::future::join_all(puts).await.into_iter().map(|r| r.unwrap().unwrap()).collect();
    store.flush().await.unwrap();
    let mut entries = 0;
    for key in keys_under(&storage, "packs/").await {
        let pack = PackReader::parse(&keys(), PackId::from_key(&key).unwrap(), storage.get_bytes(&key).await.unwrap());
        entries += pack.unwrap().entries().len();
    }
    assert_eq!(entries, 12, "twelve distinct blobs, each stored once");
    for (id, blob) in ids.iter().zip(&data) {
        assert_eq!(store.get_blob(id).await.unwrap(), *blob);
    }
}

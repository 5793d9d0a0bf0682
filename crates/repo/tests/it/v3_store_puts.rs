//! The chunk store's write path (issue 14 speed): puts with a known id, blobs sealed off
//! the lock while other puts close packs, and pack buffers reused after their upload.

// StoreError carries the storage error by value (see pack.rs); the tests collect results.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use lifeboat_crypto::SecretKey;
use lifeboat_repo::v3::{BlobId, BlobKind, BlobStore, ChunkStore, DomainKeys, PackId, PackReader, StoreOptions};
use lifeboat_storage::{FsStorage, MemoryStorage, Storage, StorageExt};

fn keys() -> Arc<DomainKeys> {
    Arc::new(DomainKeys::derive(&SecretKey::from_bytes([21u8; 32])))
}

/// Packs of 64 KiB, so that a few dozen blobs of up to 50 KB close many while puts seal.
async fn open(storage: &Arc<dyn Storage>) -> ChunkStore {
    let options = StoreOptions { pack_target: 64 << 10, ..StoreOptions::default() };
    ChunkStore::open(storage.clone(), keys(), options).await.unwrap()
}

/// How many times each blob id is stored, over every pack in `storage`.
async fn stored_copies(storage: &Arc<dyn Storage>) -> HashMap<BlobId, usize> {
    let mut copies = HashMap::new();
    for meta in storage.list_all("packs/").await.unwrap() {
        let bytes = storage.get_bytes(&meta.key).await.unwrap();
        let pack = PackReader::parse(&keys(), PackId::from_key(&meta.key).unwrap(), bytes).unwrap();
        for entry in pack.entries() {
            *copies.entry(entry.id).or_insert(0) += 1;
        }
    }
    copies
}

/// Half compressible, half not, `seed` picks the content.
fn blob(seed: u64) -> Bytes {
    if seed.is_multiple_of(2) {
        Bytes::from(format!("row {seed} of a table that compresses\n").repeat(1500))
    } else {
        Bytes::from(crate::noise(seed, 50_000))
    }
}

/// Many puts at once, each blob put four times with its known id, across packs that close
/// while other puts seal for them: each blob is stored exactly once, and reads back from a
/// store opened afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_known_id_puts_store_each_blob_once() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let store = open(&storage).await;
    let blobs: Vec<Bytes> = (0..40u64).map(blob).collect();
    // The four puts of one blob one after the other, so that they race.
    let puts = blobs.iter().flat_map(|data| std::iter::repeat_n(data.clone(), 4)).map(|data| {
        let store = store.clone();
        tokio::spawn(async move {
            let id = store.blob_id(&data);
            store.put_blob_with_id(BlobKind::Data, id, data).await.map(|stored| (id, stored))
        })
    });
    for put in futures::future::join_all(puts).await {
        let (id, stored) = put.unwrap().unwrap();
        assert_eq!(stored, id, "a put with a known id returns that id");
    }
    store.flush().await.unwrap();
    let copies = stored_copies(&storage).await;
    assert_eq!(copies.len(), blobs.len(), "every blob stored");
    assert!(copies.values().all(|n| *n == 1), "each blob stored once: {copies:?}");
    let reopened = open(&storage).await;
    for data in &blobs {
        assert_eq!(reopened.get_blob(&reopened.blob_id(data)).await.unwrap(), *data);
    }
}

/// A put whose given id is not its plaintext's keyed hash is refused (in debug builds,
/// where tests run; release builds trust the caller) and stores nothing.
#[cfg(debug_assertions)]
#[tokio::test]
async fn a_known_id_that_is_not_the_blobs_hash_is_refused() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let store = open(&storage).await;
    let wrong = store.blob_id(b"other bytes");
    let refused = store.put_blob_with_id(BlobKind::Data, wrong, blob(1)).await;
    assert!(refused.is_err(), "a wrong id is refused: {refused:?}");
    assert!(!store.has_blob(&wrong), "nothing is stored under the wrong id");
    store.flush().await.unwrap();
    assert!(storage.list_all("packs/").await.unwrap().is_empty(), "no pack written");
}

/// On a filesystem (whose put gives the bytes back, so the store reuses the pack's buffer
/// for the next pack) many packs one after the other all read back: a reused buffer holds
/// nothing of the pack before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packs_in_reused_buffers_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.path()));
    let store = open(&storage).await;
    let blobs: Vec<Bytes> = (100..160u64).map(blob).collect();
    for data in &blobs {
        store.put_blob_with_id(BlobKind::Data, store.blob_id(data), data.clone()).await.unwrap();
    }
    store.flush().await.unwrap();
    let copies = stored_copies(&storage).await;
    let packs = storage.list_all("packs/").await.unwrap().len();
    assert!(packs >= 5, "many packs, one after the other: {packs}");
    assert_eq!(copies.len(), blobs.len());
    let reopened = open(&storage).await;
    for data in &blobs {
        assert_eq!(reopened.get_blob(&reopened.blob_id(data)).await.unwrap(), *data);
    }
}

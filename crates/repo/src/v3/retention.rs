//! Object lock of a format 3 backup (docs/FORMAT.md 11.5, "Locked backups"): every pack
//! holding a blob reachable from the backup's root tree is kept at least until the
//! backup's retention ends, and one index object written for the backup, under that
//! retention too, names every one of those packs, so the backup stays readable whatever
//! happens to the other index objects.
//!
//! Packs shared with other backups are extended (never shortened: [`Storage::extend_retention`]);
//! packs the backup wrote itself carry the retention from their put
//! ([`ChunkStore::set_retention`]).

// StoreError carries the storage's error by value: it is the error type of the BlobStore
// trait that trees and streams share, and boxing its source would change that API.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use futures::{StreamExt, TryStreamExt};
use lifeboat_storage::{Retention, Storage};

use super::error::StoreError;
use super::index::{IndexId, IndexObject};
use super::pack::{PackEntry, PackId};
use super::store::store_index;
use super::tree::{TreeError, load_tree};
use super::{BlobId, ChunkStore};

/// Retention requests (reads and extensions) in flight at once.
const AT_ONCE: usize = 8;

/// What [`lock_backup`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockedPacks {
    /// Packs the backup needs.
    pub packs: usize,
    /// Of those, packs whose retention had to be extended (the others already reached it).
    pub extended: usize,
    /// The index object naming every one of them, written under the retention.
    pub index: IndexId,
}

/// Every blob reachable from the tree `root`: the trees themselves and their content.
pub async fn reachable_blobs(store: &ChunkStore, root: BlobId) -> Result<HashSet<BlobId>, StoreError> {
    let mut blobs = HashSet::new();
    let mut pending = vec![(PathBuf::from("/"), root)];
    while let Some((path, id)) = pending.pop() {
        if !blobs.insert(id) {
            continue;
        }
        let tree = load_tree(store, &id, &path).await.map_err(walk_error)?;
        for node in tree.nodes {
            blobs.extend(node.content.iter().copied());
            if let Some(sub) = node.subtree {
                pending.push((path.join(String::from_utf8_lossy(&node.name).as_ref()), sub));
            }
        }
    }
    Ok(blobs)
}

/// A tree walk's failure as the store error behind it (or the damage it found).
fn walk_error(e: TreeError) -> StoreError {
    match e {
        TreeError::Store { source, .. } => *source,
        other => StoreError::Corrupt { what: "a tree of the backup".into(), reason: other.to_string() },
    }
}

/// The packs (with their entries, as the index objects list them) that hold a copy of a
/// blob reachable from `root`: every copy, since a reader may be served by any of them.
/// A write-only host cannot read the trees of its earlier sessions, so for it this is
/// every pack of its domain (its own data only: a superset that keeps what it needs).
/// Fails when a reachable blob is in no index object.
pub async fn backup_packs(store: &ChunkStore, root: BlobId) -> Result<BTreeMap<PackId, Vec<PackEntry>>, StoreError> {
    let objects = store.index_objects().await?;
    let everything = store.keys().seals_for_recipients();
    let reachable = match everything {
        true => HashSet::new(),
        false => reachable_blobs(store, root).await?,
    };
    let mut packs: BTreeMap<PackId, Vec<PackEntry>> = BTreeMap::new();
    let mut found: HashSet<BlobId> = HashSet::new();
    for (pack, entries) in objects.iter().flat_map(|(_, o)| o.packs.iter()) {
        let mut needed = everything;
        for entry in entries.iter().filter(|e| reachable.contains(&e.id)) {
            found.insert(entry.id);
            needed = true;
        }
        if needed {
            packs.entry(*pack).or_insert_with(|| entries.clone());
        }
    }
    if let Some(missing) = reachable.iter().find(|b| !found.contains(b)) {
        return Err(StoreError::MissingBlob(missing.to_hex()));
    }
    Ok(packs)
}

/// Makes the backup whose root tree is `root` immutable until `retention` ends: extends
/// every pack it needs (each once; a pack already retained that long is left alone), then
/// writes one index object naming them all and puts it under the retention. Run after the
/// trees are stored and flushed and before the manifest: a manifest is only written for a
/// backup whose every object is locked.
pub async fn lock_backup(store: &ChunkStore, root: BlobId, retention: Retention) -> Result<LockedPacks, StoreError> {
    let packs = backup_packs(store, root).await?;
    let storage = store.storage().as_ref();
    let keys: Vec<String> = packs.keys().map(|pack| pack.key()).collect();
    let extended = extend_all(storage, &keys, &retention).await?;
    let count = packs.len();
    let object = IndexObject { id: IndexId::generate()?, supersedes: Vec::new(), packs: packs.into_iter().collect() };
    let index = object.id;
    // Index objects are created conditionally, which cannot carry a retention: it is set
    // right after, before the manifest that needs it is written.
    store_index(store.storage(), &store.shared_keys(), None, object).await?;
    extend_once(storage, &index.key(), &retention).await?;
    Ok(LockedPacks { packs: count, extended, index })
}

/// [`extend_once`] for every object of `keys`, several at a time; how many had to be
/// extended.
pub async fn extend_all(storage: &dyn Storage, keys: &[String], retention: &Retention) -> Result<usize, StoreError> {
    // The futures are made first and the stream holds them, not a closure that makes them:
    // a closure over borrowed arguments makes the caller's future `Send` for one lifetime
    // only, which tokio::spawn of the service's jobs (lifeboat-ops) rejects.
    let extends: Vec<_> = keys.iter().map(|key| extend_once(storage, key, retention)).collect();
    let extended: Vec<bool> = futures::stream::iter(extends).buffer_unordered(AT_ONCE).try_collect().await?;
    Ok(extended.into_iter().filter(|e| *e).count())
}

/// Extends the retention of `key` to `retention`, unless it already reaches it. Returns
/// whether it had to.
pub async fn extend_once(storage: &dyn Storage, key: &str, retention: &Retention) -> Result<bool, StoreError> {
    let failed = |operation| {
        let key = key.to_owned();
        move |source| StoreError::Storage { operation, key, source }
    };
    let current = storage.retention(key).await.map_err(failed("read the retention of"))?;
    if current.is_some_and(|c| c.reaches(retention.until) && c.extended_by(retention).mode == c.mode) {
        return Ok(false);
    }
    storage.extend_retention(key, retention).await.map_err(failed("extend the retention of"))?;
    Ok(true)
}

//! The v3 prune that touches storage (docs/FORMAT.md 11.6), around the pure decisions of
//! [`super::gc`]: condemned records (`prune/<id>`), the deleting run and the condemning run.
//!
//! One `lifeboat prune` invocation, under its exclusive lock, runs the **deleting** step
//! first and the **condemning** step after it. Deleting first frees space before the
//! repack writes new packs (a prune on a full disk must be able to run), and the
//! condemning step then plans from the index as the deletions left it. A record the
//! condemning step writes is always too young to be acted on in the same invocation (rule
//! (b)), so the order changes nothing for the packs it condemns: they go in a later prune.
//!
//! Order of writes (each step is safe to kill at any point):
//! - deleting: one index object superseding every index object that names a pack to
//!   delete (their entries without those packs), then those index objects are deleted,
//!   then the packs, then records whose packs are all decided are deleted and the others
//!   rewritten without their revived and deleted packs;
//! - condemning: the live blobs of packs to repack are copied into new packs and indexed
//!   (through the [`ChunkStore`], flushed), then the record naming the condemned packs is
//!   written. The index is left as it is: condemned packs stay indexed until deleted.

// StoreError carries the storage's error by value: it is the error type of the BlobStore
// trait that trees and streams share, and boxing its source would change that API.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use lifeboat_storage::{PutOutcome, Storage, StorageExt};

use super::domain::DomainKeys;
use super::error::StoreError;
use super::error::store_error;
use super::gc::{self, CondemnInput, Condemned, Delays, DeleteInput, LockSeen, PackedBlob};
use super::index::{IndexId, IndexObject};
use super::pack::{PACKS_PREFIX, PackEntry, PackId, open_blob};
use super::repair::read_directory;
use super::store::{list_prefix, load_index_objects, read_range, store_index};
use super::tree::load_tree;
use super::{BlobId, BlobStore, ChunkStore, IndexCache, StoreOptions};
use crate::error::{RepoError, Result};
use crate::lock::{LOCK_TTL, Lock, LockState, list_locks, storage_time};
use crate::manifest::{MANIFEST_VERSION_V3, Manifest};
use crate::repository::Repository;

use super::condemned::{ListedRecord, PruneRecord, RecordId, read_records};

/// What the v3 part of a prune did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct V3PruneCounts {
    /// Packs condemned by this run (named in its new record; deleted by a later prune).
    pub packs_condemned: usize,
    /// Of those, packs whose live blobs were copied into new packs first.
    pub packs_repacked: usize,
    /// Live blobs copied.
    pub blobs_repacked: usize,
    /// Condemned packs deleted.
    pub packs_deleted: usize,
    /// Condemned packs still waiting (too recently condemned, or a lock that may still
    /// write was taken before their record).
    pub packs_waiting: usize,
    /// Condemned packs a manifest references again: kept, out of their records.
    pub packs_revived: usize,
    /// Bytes the deleted packs held.
    pub pack_bytes_freed: u64,
    /// Bytes the packs condemned by this run hold (freed by a later prune, less what a
    /// repack copied).
    pub pack_bytes_condemned: u64,
    /// Deletions the storage refused (object lock, permissions): left for a later prune.
    pub refused: Vec<String>,
}

/// How a v3 prune runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct V3PruneOptions {
    /// Plan only.
    pub dry_run: bool,
    /// `--max-unused` as a fraction.
    pub max_unused: f64,
}

/// Every pack of the domain with its entries: from the index objects and, for packs no
/// index object names, from their own directories. With the index objects themselves.
struct Packs {
    objects: Vec<(IndexId, IndexObject)>,
    entries: BTreeMap<PackId, Vec<PackEntry>>,
    /// Packs no index object names (their entries from their directories).
    unindexed: BTreeSet<PackId>,
    sizes: HashMap<PackId, u64>,
}

impl Repository {
    /// The v3 part of `prune`, under the exclusive `lock` the caller holds, given every
    /// manifest (all readable). `Ok(None)` when the repository has no v3 dedup domain.
    pub(crate) async fn prune_v3(
        &self,
        manifests: &[Manifest],
        lock: &Lock,
        options: V3PruneOptions,
    ) -> Result<Option<V3PruneCounts>> {
        let Some(keys) = self.read_main_domain().await? else { return Ok(None) };
        let keys = Arc::new(keys);
        let run = PruneRun {
            storage: self.storage.clone(),
            keys,
            cache: IndexCache::default_home().and_then(|home| IndexCache::for_repository(&home, &self.config.id)),
            options,
        };
        let now = match storage_time(self.storage.as_ref()).await {
            Some(now) => now,
            None => SystemTime::from(self.now()),
        };
        let store = run.open_store().await?;
        let referenced = referenced_blobs(&store, manifests, now).await?;
        let mut counts = V3PruneCounts::default();
        run.delete_step(&referenced.all, lock, now, &mut counts).await?;
        run.condemn_step(&referenced, now, &mut counts).await?;
        Ok(Some(counts))
    }
}

impl Repository {
    /// The packs the main domain's index objects name (for checks: each must exist).
    pub async fn v3_indexed_packs(&self) -> Result<BTreeSet<PackId>> {
        let Some(keys) = self.read_main_domain().await? else { return Ok(BTreeSet::new()) };
        let objects = load_index_objects(&self.storage, &Arc::new(keys), None).await.map_err(store_error)?;
        Ok(objects.iter().flat_map(|(_, o)| o.packs.iter().map(|(p, _)| *p)).collect())
    }

    /// The condemned records of the main domain (`prune/<id>`), each with its packs.
    pub async fn v3_condemned(&self) -> Result<Vec<PruneRecord>> {
        let Some(keys) = self.read_main_domain().await? else { return Ok(Vec::new()) };
        let records = read_records(self.storage.as_ref(), &keys).await.map_err(store_error)?;
        Ok(records.into_iter().map(|r| r.record).collect())
    }
}

/// The blobs the manifests reference.
struct Referenced {
    /// Every blob of every v3 manifest: trees and content.
    all: BTreeSet<BlobId>,
    /// Those of manifests under object lock.
    locked: BTreeSet<BlobId>,
}

/// Walks every v3 manifest's trees from the root. A tree that cannot be read fails the
/// prune: the blobs below it would look unreferenced.
async fn referenced_blobs(store: &ChunkStore, manifests: &[Manifest], now: SystemTime) -> Result<Referenced> {
    let mut refs = Referenced { all: BTreeSet::new(), locked: BTreeSet::new() };
    let mut trees_done: HashSet<BlobId> = HashSet::new();
    for manifest in manifests.iter().filter(|m| m.version == MANIFEST_VERSION_V3) {
        let root = super::v3_root(manifest)?;
        let locked = manifest.locked_until.is_some_and(|until| SystemTime::from(until) > now);
        let mut mine = BTreeSet::new();
        walk(store, root, &mut mine, &mut trees_done, locked).await.map_err(|e| {
            RepoError::Integrity(format!(
                "prune refused: a tree of backup {} cannot be read, and its data would look unreferenced: {e}",
                manifest.id
            ))
        })?;
        if locked {
            refs.locked.extend(mine.iter().copied());
        }
        refs.all.extend(mine);
    }
    Ok(refs)
}

/// Adds the blobs of the tree `root` (itself, its subtrees, their content) to `blobs`.
/// Trees already walked for an unlocked manifest are not walked again; for a locked one
/// every tree is walked, so its blob set is whole.
async fn walk(
    store: &ChunkStore,
    root: BlobId,
    blobs: &mut BTreeSet<BlobId>,
    done: &mut HashSet<BlobId>,
    whole: bool,
) -> std::result::Result<(), super::tree::TreeError> {
    let mut pending = vec![(PathBuf::from("/"), root)];
    while let Some((path, id)) = pending.pop() {
        let first_time = done.insert(id);
        if !blobs.insert(id) || (!whole && !first_time) {
            continue;
        }
        let tree = load_tree(store, &id, &path).await?;
        for node in tree.nodes {
            blobs.extend(node.content.iter().copied());
            if let Some(sub) = node.subtree {
                pending.push((path.join(String::from_utf8_lossy(&node.name).as_ref()), sub));
            }
        }
    }
    Ok(())
}

/// One prune of the main domain.
struct PruneRun {
    storage: Arc<dyn Storage>,
    keys: Arc<DomainKeys>,
    cache: Option<IndexCache>,
    options: V3PruneOptions,
}

fn storage_err(operation: &'static str, key: &str) -> impl FnOnce(lifeboat_storage::StorageError) -> StoreError {
    let key = key.to_owned();
    move |source| StoreError::Storage { operation, key, source }
}

impl PruneRun {
    async fn open_store(&self) -> Result<ChunkStore> {
        let options = StoreOptions { cache: self.cache.clone(), ..StoreOptions::default() };
        ChunkStore::open(self.storage.clone(), self.keys.clone(), options).await.map_err(store_error)
    }

    /// Every pack of the domain: the index's, and those only their directory describes.
    async fn packs(&self) -> Result<Packs> {
        let objects = load_index_objects(&self.storage, &self.keys, self.cache.as_ref()).await.map_err(store_error)?;
        let listing = list_prefix(self.storage.as_ref(), "list packs", PACKS_PREFIX).await.map_err(store_error)?;
        let sizes: HashMap<PackId, u64> =
            listing.iter().filter_map(|m| Some((PackId::from_key(&m.key)?, m.size))).collect();
        let mut entries: BTreeMap<PackId, Vec<PackEntry>> = BTreeMap::new();
        let mut unindexed = BTreeSet::new();
        for (_, object) in &objects {
            for (pack, list) in &object.packs {
                entries.entry(*pack).or_insert_with(|| list.clone());
            }
        }
        for (&pack, &size) in &sizes {
            if entries.contains_key(&pack) {
                continue;
            }
            // Debris of a backup killed before its index object: only its directory says
            // what it holds. A damaged one is left alone (repair reports it).
            match read_directory(self.storage.as_ref(), &self.keys, pack, size).await {
                Ok(Some(list)) => {
                    entries.insert(pack, list);
                    unindexed.insert(pack);
                }
                Ok(None) => {}
                Err(e @ StoreError::Storage { .. }) => return Err(store_error(e)),
                Err(e) => tracing::warn!(pack = %pack, error = %e, "unindexed pack unreadable; left alone"),
            }
        }
        // A pack the index names but the listing lacks is not judged (listing lag, damage).
        entries.retain(|pack, _| sizes.contains_key(pack));
        Ok(Packs { objects, entries, unindexed, sizes })
    }

    /// The deleting step: judges every record by [`gc::plan_delete`] and carries it out.
    async fn delete_step(
        &self,
        referenced: &BTreeSet<BlobId>,
        own: &Lock,
        now: SystemTime,
        counts: &mut V3PruneCounts,
    ) -> Result<()> {
        let records = read_records(self.storage.as_ref(), &self.keys).await.map_err(store_error)?;
        if records.is_empty() {
            return Ok(());
        }
        let locks = self.locks_seen(own, now).await?;
        let packs = self.packs().await?;
        let condemned: BTreeSet<PackId> = records.iter().flat_map(|r| r.record.packs.keys().copied()).collect();
        let kept: BTreeSet<BlobId> = packs
            .objects
            .iter()
            .flat_map(|(_, o)| o.packs.iter())
            .filter(|(pack, _)| !condemned.contains(pack))
            .flat_map(|(_, entries)| entries.iter().map(|e| e.id))
            .collect();
        let inputs: Vec<Condemned<PackId, BlobId>> =
            records.iter().map(|r| Condemned { at: r.at, packs: r.record.packs.clone() }).collect();
        let plan = gc::plan_delete(DeleteInput {
            records: &inputs,
            locks: &locks,
            now,
            delays: Delays { lock_lifetime: LOCK_TTL, min_condemned_age: LOCK_TTL },
            referenced,
            kept: &kept,
        });
        counts.packs_revived = plan.revive.len();
        counts.packs_waiting = plan.wait.len();
        if self.options.dry_run {
            counts.packs_deleted = plan.delete.len();
            counts.pack_bytes_freed = plan.delete.iter().filter_map(|p| packs.sizes.get(p)).sum();
            return Ok(());
        }
        self.supersede(&packs.objects, &plan.delete).await?;
        let mut gone = BTreeSet::new();
        for pack in &plan.delete {
            let key = pack.key();
            match self.storage.delete(&key).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    // The index no longer names it; its record keeps it and a later prune
                    // tries again. Everything else goes on (no half state: each pack is
                    // deleted or still in its record).
                    tracing::warn!(pack = %key, error = %e, "the storage refused to delete a condemned pack");
                    counts.refused.push(format!("{key}: {e}"));
                    continue;
                }
            }
            counts.packs_deleted += 1;
            counts.pack_bytes_freed += packs.sizes.get(pack).copied().unwrap_or(0);
            gone.insert(*pack);
        }
        self.settle_records(&records, &gone, &plan.revive).await
    }

    /// The other locks present, as rule (c) sees them. Stale ones (their holder ran on
    /// this host and is gone) write nothing; one whose holder runs here is live now.
    async fn locks_seen(&self, own: &Lock, now: SystemTime) -> Result<Vec<LockSeen>> {
        let mut seen = Vec::new();
        for lock in list_locks(self.storage.as_ref()).await? {
            if lock.key == own.key() {
                continue;
            }
            let state = lock.state(Some(now));
            let written = SystemTime::from(lock.info.expires) - LOCK_TTL;
            let refreshed = match state {
                LockState::Stale => continue,
                LockState::Running => now,
                LockState::Live | LockState::Expired => lock.modified.unwrap_or(written),
            };
            // The earlier of the two: taken "at or before" the record counts more locks.
            let taken = SystemTime::from(lock.info.created).min(refreshed);
            seen.push(LockSeen { taken, refreshed });
        }
        Ok(seen)
    }

    /// Writes one index object replacing every index object that names a pack of `delete`
    /// (their entries without those packs), then deletes those objects.
    async fn supersede(&self, objects: &[(IndexId, IndexObject)], delete: &BTreeSet<PackId>) -> Result<()> {
        let naming: Vec<&IndexObject> =
            objects.iter().map(|(_, o)| o).filter(|o| o.packs.iter().any(|(p, _)| delete.contains(p))).collect();
        if naming.is_empty() {
            return Ok(());
        }
        let mut packs: BTreeMap<PackId, Vec<PackEntry>> = BTreeMap::new();
        for object in &naming {
            for (pack, entries) in object.packs.iter().filter(|(p, _)| !delete.contains(p)) {
                packs.entry(*pack).or_insert_with(|| entries.clone());
            }
        }
        let object = IndexObject {
            id: IndexId::generate().map_err(store_error)?,
            supersedes: naming.iter().map(|o| o.id).collect(),
            packs: packs.into_iter().collect(),
        };
        store_index(&self.storage, &self.keys, self.cache.as_ref(), object).await.map_err(store_error)?;
        for old in naming {
            let key = old.id.key();
            match self.storage.delete(&key).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(store_error(storage_err("delete index", &key)(e))),
            }
            if let Some(cache) = &self.cache {
                // Only a stale file if this fails: the store forgets unlisted copies at open.
                let _ = cache.remove(old.id);
            }
        }
        Ok(())
    }

    /// Deletes the records whose packs are all decided and rewrites the others without
    /// their deleted and revived packs (keeping their time, so rule (b) does not restart).
    async fn settle_records(
        &self,
        records: &[ListedRecord],
        gone: &BTreeSet<PackId>,
        revived: &BTreeSet<PackId>,
    ) -> Result<()> {
        for listed in records {
            let record = &listed.record;
            let left: BTreeMap<PackId, Vec<BlobId>> = record
                .packs
                .iter()
                .filter(|(p, _)| !gone.contains(p) && !revived.contains(p))
                .map(|(p, b)| (*p, b.clone()))
                .collect();
            let key = record.id.key();
            if left.is_empty() {
                match self.storage.delete(&key).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(store_error(storage_err("delete prune record", &key)(e))),
                }
            } else if left.len() < record.packs.len() {
                let rewritten = PruneRecord { id: record.id, at: listed.at, packs: left };
                let bytes = rewritten.seal(&self.keys).map_err(store_error)?;
                self.storage.put_bytes(&key, Bytes::from(bytes)).await?;
            }
        }
        Ok(())
    }

    /// The condemning step: plans by [`gc::plan_condemn`], repacks, writes the record.
    async fn condemn_step(&self, referenced: &Referenced, now: SystemTime, counts: &mut V3PruneCounts) -> Result<()> {
        let packs = self.packs().await?;
        let records = read_records(self.storage.as_ref(), &self.keys).await.map_err(store_error)?;
        let already: BTreeSet<PackId> = records.iter().flat_map(|r| r.record.packs.keys().copied()).collect();
        // Only indexed packs are planned: a blob of a pack no index names is found by no
        // reader, so it cannot keep a live blob alive (a repack copies it from an indexed
        // pack instead). Such debris is condemned whole unless it holds a blob of a
        // manifest under object lock; a backup that still indexes it later revives it.
        let input: BTreeMap<PackId, Vec<PackedBlob<BlobId>>> = packs
            .entries
            .iter()
            .filter(|(p, _)| !packs.unindexed.contains(p))
            .map(|(p, e)| (*p, e.iter().map(|e| PackedBlob { id: e.id, len: u64::from(e.sealed_len) }).collect()))
            .collect();
        let mut plan = gc::plan_condemn(CondemnInput {
            packs: &input,
            referenced: &referenced.all,
            locked: &referenced.locked,
            already_condemned: &already,
            max_unused: self.options.max_unused,
        });
        for pack in packs.unindexed.iter().filter(|p| !already.contains(p)) {
            let blobs = packs.entries.get(pack).map(Vec::as_slice).unwrap_or_default();
            if !blobs.iter().any(|b| referenced.locked.contains(&b.id)) {
                plan.condemn.insert(*pack);
            }
        }
        counts.packs_condemned = plan.condemn.len();
        counts.packs_repacked = plan.repack.len();
        counts.blobs_repacked = plan.repack.values().map(Vec::len).sum();
        counts.pack_bytes_condemned = plan.condemn.iter().filter_map(|p| packs.sizes.get(p)).sum();
        if self.options.dry_run || plan.condemn.is_empty() {
            return Ok(());
        }
        self.repack(&packs.entries, &plan.repack).await?;
        let record = PruneRecord {
            id: RecordId::generate().map_err(store_error)?,
            at: now,
            packs: plan
                .condemn
                .iter()
                .map(|p| (*p, packs.entries.get(p).map(|e| e.iter().map(|e| e.id).collect()).unwrap_or_default()))
                .collect(),
        };
        let key = record.id.key();
        let bytes = record.seal(&self.keys).map_err(store_error)?;
        if lifeboat_storage::create_new(self.storage.as_ref(), &key, Bytes::from(bytes)).await?
            == PutOutcome::AlreadyExists
        {
            return Err(RepoError::Internal(format!("prune record {key} exists already")));
        }
        tracing::info!(record = %key, packs = record.packs.len(), "condemned packs");
        Ok(())
    }

    /// Copies the live blobs of the packs in `repack` into new packs, then flushes (packs
    /// first, then their index object), all before the record that condemns the old ones.
    async fn repack(
        &self,
        entries: &BTreeMap<PackId, Vec<PackEntry>>,
        repack: &BTreeMap<PackId, Vec<BlobId>>,
    ) -> Result<()> {
        if repack.values().all(Vec::is_empty) {
            return Ok(());
        }
        // A store opened now: its index has every pack the deleting step left.
        let store = self.open_store().await?;
        store.write_again(repack.values().flatten().copied());
        for (pack, blobs) in repack {
            let Some(list) = entries.get(pack) else { continue };
            let wanted: BTreeSet<&BlobId> = blobs.iter().collect();
            let key = pack.key();
            for entry in list.iter().filter(|e| wanted.contains(&e.id)) {
                let sealed = read_range(self.storage.as_ref(), "read pack", &key, Some(entry.range()))
                    .await
                    .map_err(store_error)?;
                let (keys, pack_id, found) = (self.keys.clone(), *pack, *entry);
                let plain = crate::repository::blocking(move || open_blob(&keys, pack_id, &found, &sealed))
                    .await?
                    .map_err(store_error)?;
                let id = store.put_blob(entry.kind, plain).await.map_err(store_error)?;
                if id != entry.id {
                    return Err(RepoError::Integrity(format!(
                        "blob {} of pack {key} hashes to {}: not repacked",
                        entry.id.to_hex(),
                        id.to_hex()
                    )));
                }
            }
        }
        store.flush().await.map_err(store_error)
    }
}

//! The v3 prune that touches storage (docs/FORMAT.md 11.6), around the pure decisions of
//! [`crate::v3::gc`]: condemned records (`prune/<id>`), the deleting run and the condemning run.
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
//!
//! Every dedup domain under `domains/` is pruned in turn under that one lock (FORMAT.md
//! 11.2): the main domain, write-only hosts' domains (when the handle holds a recipient's
//! identity) and domains a copy carried, each from the backups whose manifest names it. A
//! domain this handle cannot open is reported as skipped and left as it is. The run checks
//! its own lease before each write that deletes or condemns, and stops once it lapsed.

// StoreError carries the storage's error by value: it is the error type of the BlobStore
// trait that trees and streams share, and boxing its source would change that API.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use lifeboat_storage::{PutOutcome, Storage, StorageError, StorageExt};

use crate::domains::{DOMAINS_PREFIX, parse_domain};
use crate::error::{RepoError, Result};
use crate::lock::{LOCK_TTL, Lease, Lock, LockState, list_locks, storage_time};
use crate::manifest::{MANIFEST_VERSION_V3, Manifest};
use crate::repository::Repository;
use crate::v3::domain::DomainKeys;
use crate::v3::error::StoreError;
use crate::v3::error::store_error;
use crate::v3::gc::{self, CondemnInput, Condemned, Delays, DeleteInput, LockSeen, PackedBlob};
use crate::v3::index::{IndexId, IndexObject};
use crate::v3::pack::{PACKS_PREFIX, PackEntry, PackId, open_blob};
use crate::v3::repair::read_directory;
use crate::v3::store::{list_prefix, load_index_objects, read_range, store_index};
use crate::v3::tree::load_tree;
use crate::v3::{BlobId, BlobStore, ChunkStore, IndexCache, StoreOptions};

use crate::v3::condemned::{ListedRecord, PruneRecord, RecordId, read_records};

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
    /// Each domain pruned with its own counts (the counts above are their sums).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<V3DomainPrune>,
    /// Domains left as they are: this handle cannot open them (a write-only host's domain
    /// without a recipient's identity) or their object is damaged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedDomain>,
}

impl V3PruneCounts {
    /// Adds one domain's counts to these.
    fn add(&mut self, other: &V3PruneCounts) {
        self.packs_condemned += other.packs_condemned;
        self.packs_repacked += other.packs_repacked;
        self.blobs_repacked += other.blobs_repacked;
        self.packs_deleted += other.packs_deleted;
        self.packs_waiting += other.packs_waiting;
        self.packs_revived += other.packs_revived;
        self.pack_bytes_freed += other.pack_bytes_freed;
        self.pack_bytes_condemned += other.pack_bytes_condemned;
        self.refused.extend(other.refused.iter().cloned());
    }
}

/// What kind of dedup domain a prune went through (docs/FORMAT.md 11.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DomainRole {
    /// The repository's own domain (its object sealed for the master key): the main one.
    Own,
    /// A write-only host's domain (its object sealed for the recipients only). Its wholly
    /// unused packs are condemned, but none is repacked: new packs there must be sealed for
    /// every recipient, and a handle opened with one identity knows only its own key.
    WriteOnly,
    /// A domain a copy carried here from another repository.
    Carried,
}

/// One domain's part of a prune.
#[derive(Debug, Clone, serde::Serialize)]
pub struct V3DomainPrune {
    /// The domain's id (16 hex).
    pub domain: String,
    /// What kind of domain it is.
    pub role: DomainRole,
    /// What the prune did in it (its own `domains` and `skipped` are empty).
    pub counts: V3PruneCounts,
}

/// A domain the prune could not open, and left as it is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SkippedDomain {
    /// The domain's id (16 hex) as its object's key names it.
    pub domain: String,
    /// Why it was not pruned.
    pub reason: String,
}

/// A domain a prune goes through: its keys (opening write-only hosts' packs with the
/// identities the handle holds), its kind and its index cache.
struct PruneDomain {
    hex: String,
    keys: Arc<DomainKeys>,
    role: DomainRole,
    cache: Option<IndexCache>,
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
    /// Packs no index object of this domain names (their entries from their directories).
    unindexed: BTreeSet<PackId>,
    sizes: HashMap<PackId, u64>,
}

impl Repository {
    /// The v3 part of `prune`, under the exclusive `lock` the caller holds, given every
    /// manifest (all readable): every domain this handle opens, one after the other, each
    /// from the manifests naming it. `Ok(None)` when the repository has no v3 dedup domain.
    pub(crate) async fn prune_v3(
        &self,
        manifests: &[Manifest],
        lock: &Lock,
        options: V3PruneOptions,
    ) -> Result<Option<V3PruneCounts>> {
        let (domains, skipped) = self.prune_domains().await?;
        if domains.is_empty() && skipped.is_empty() {
            return Ok(None);
        }
        let by_domain = manifests_by_domain(manifests)?;
        let indexed = indexed_packs(&self.storage, &domains).await?;
        let mut total = V3PruneCounts { skipped, ..V3PruneCounts::default() };
        for domain in domains {
            // Packs another domain indexes are not this one's: their headers are not read.
            let elsewhere: BTreeSet<PackId> =
                indexed.iter().filter(|(hex, _)| **hex != domain.hex).flat_map(|(_, p)| p.iter().copied()).collect();
            let mine = by_domain.get(&domain.hex).map(Vec::as_slice).unwrap_or_default();
            let counts = self.prune_domain(&domain, mine, lock, options, elsewhere).await?;
            total.add(&counts);
            total.domains.push(V3DomainPrune { domain: domain.hex, role: domain.role, counts });
        }
        Ok(Some(total))
    }

    /// Both steps in one domain, from the blobs of `manifests` (those naming it).
    async fn prune_domain(
        &self,
        domain: &PruneDomain,
        manifests: &[&Manifest],
        lock: &Lock,
        mut options: V3PruneOptions,
        elsewhere: BTreeSet<PackId>,
    ) -> Result<V3PruneCounts> {
        if domain.role == DomainRole::WriteOnly {
            // Not a number: plan_condemn never repacks (see DomainRole::WriteOnly).
            options.max_unused = f64::NAN;
        }
        let run = PruneRun {
            storage: self.storage.clone(),
            keys: domain.keys.clone(),
            cache: domain.cache.clone(),
            options,
            lease: lock.lease(),
            domain: domain.hex.clone(),
            elsewhere,
        };
        // Taken per domain: a long run judges each domain's delays by a time of its own.
        let now = match storage_time(self.storage.as_ref()).await {
            Some(now) => now,
            None => SystemTime::from(self.now()),
        };
        let store = run.open_store().await?;
        let referenced = referenced_blobs(&store, manifests, now).await?;
        let mut counts = V3PruneCounts::default();
        run.delete_step(&referenced.all, lock, now, &mut counts).await?;
        run.condemn_step(&referenced, now, &mut counts).await?;
        Ok(counts)
    }

    /// Every domain object under `domains/`, by key: those this handle opens, and those it
    /// cannot with why. A storage failure fails the prune; a domain object that does not
    /// open is only skipped (nothing in its domain is judged).
    async fn prune_domains(&self) -> Result<(Vec<PruneDomain>, Vec<SkippedDomain>)> {
        let mut listed = self.storage.list_all(DOMAINS_PREFIX).await?;
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        let (mut opened, mut skipped) = (Vec::new(), Vec::new());
        // The repository's index cache holds one domain's copies: the first own domain's.
        let mut main_cache = self.v3_cache();
        for meta in listed {
            let hex = meta.key.strip_prefix(DOMAINS_PREFIX).unwrap_or(&meta.key).to_owned();
            match self.open_for_prune(&meta.key).await {
                Ok((keys, role)) => {
                    let cache = match role {
                        DomainRole::Own => main_cache.take(),
                        _ => None,
                    };
                    // `hex` names the id the secret derives (checked at open): one safe
                    // path component, the directory readers of carried domains use too.
                    let cache = cache.or_else(|| {
                        let main = self.v3_cache()?;
                        Some(IndexCache::new(main.dir().parent()?.join("domains").join(&hex).join("index")))
                    });
                    opened.push(PruneDomain { hex, keys: Arc::new(keys), role, cache });
                }
                Err(RepoError::Storage(e)) => return Err(RepoError::Storage(e)),
                Err(e) => {
                    let reason = skip_reason(&e);
                    tracing::warn!(domain = %hex, "prune skips the dedup domain: {reason}");
                    skipped.push(SkippedDomain { domain: hex, reason });
                }
            }
        }
        Ok((opened, skipped))
    }

    /// Opens domain object `key` and tells its kind: carried (its id's mark), the
    /// repository's own (sealed for the master key), or a write-only host's (recipients only).
    async fn open_for_prune(&self, key: &str) -> Result<(DomainKeys, DomainRole)> {
        let object = self.open_domain_object(key).await?;
        let role = if object.carried {
            DomainRole::Carried
        } else {
            let bytes = self.storage.get_bytes(key).await?;
            let (header, _) = lifeboat_crypto::parse_complete_header(&bytes)
                .map_err(|e| RepoError::object(key, &self.location(), e))?;
            match header.slots.iter().any(|s| matches!(s, lifeboat_crypto::Slot::Master { .. })) {
                true => DomainRole::Own,
                false => DomainRole::WriteOnly,
            }
        };
        Ok((object.keys.opened_by(self.v3_identities()), role))
    }
}

/// Why a domain object that did not open is skipped.
fn skip_reason(e: &RepoError) -> String {
    match e {
        RepoError::Object { source: lifeboat_crypto::CryptoError::NoMatchingSlot, .. } => {
            "its secret is sealed for recipients whose identity this credential does not hold (a write-only \
             host's domain): prune with a recipient's identity to prune it"
                .into()
        }
        e => format!("its domain object cannot be opened, so nothing in it is pruned: {e}"),
    }
}

/// The v3 manifests by the domain they name (16 lowercase hex). One naming no domain
/// fails the prune: its blobs would look unreferenced in whichever domain holds them.
fn manifests_by_domain(manifests: &[Manifest]) -> Result<BTreeMap<String, Vec<&Manifest>>> {
    let mut out: BTreeMap<String, Vec<&Manifest>> = BTreeMap::new();
    for manifest in manifests.iter().filter(|m| m.version == MANIFEST_VERSION_V3) {
        let domain = manifest.domain.as_deref().and_then(|d| parse_domain(d).ok()).ok_or_else(|| {
            RepoError::Integrity(format!(
                "prune refused: backup {} is a format 3 backup that names no dedup domain, and its data would look \
                 unreferenced",
                manifest.id
            ))
        })?;
        out.entry(hex::encode(domain)).or_default().push(manifest);
    }
    Ok(out)
}

/// The packs each domain's index objects name now.
async fn indexed_packs(
    storage: &Arc<dyn Storage>,
    domains: &[PruneDomain],
) -> Result<BTreeMap<String, BTreeSet<PackId>>> {
    let mut out = BTreeMap::new();
    for domain in domains {
        let objects = load_index_objects(storage, &domain.keys, domain.cache.as_ref()).await.map_err(store_error)?;
        let packs = objects.iter().flat_map(|(_, o)| o.packs.iter().map(|(p, _)| *p)).collect();
        out.insert(domain.hex.clone(), packs);
    }
    Ok(out)
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

/// Walks the trees of `manifests` (those of the store's domain) from the root. A tree that
/// cannot be read fails the prune: the blobs below it would look unreferenced.
async fn referenced_blobs(store: &ChunkStore, manifests: &[&Manifest], now: SystemTime) -> Result<Referenced> {
    let mut refs = Referenced { all: BTreeSet::new(), locked: BTreeSet::new() };
    let mut trees_done: HashSet<BlobId> = HashSet::new();
    for manifest in manifests.iter().filter(|m| m.version == MANIFEST_VERSION_V3) {
        let root = crate::manifest::v3_root(manifest)?;
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
) -> std::result::Result<(), crate::v3::tree::TreeError> {
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

/// One prune of one domain.
struct PruneRun {
    storage: Arc<dyn Storage>,
    keys: Arc<DomainKeys>,
    cache: Option<IndexCache>,
    options: V3PruneOptions,
    /// The lease of the run's exclusive lock: checked before every write that deletes or
    /// condemns.
    lease: Lease,
    /// The domain's id (16 hex), for messages.
    domain: String,
    /// Packs other domains index: not this domain's, so their headers are not read.
    elsewhere: BTreeSet<PackId>,
}

fn storage_err(operation: &'static str, key: &str) -> impl FnOnce(lifeboat_storage::StorageError) -> StoreError {
    let key = key.to_owned();
    move |source| StoreError::Storage { operation, key, source }
}

impl PruneRun {
    /// Stops the run once its own lease lapsed: other hosts may then have judged the lock
    /// dead (backups, another prune started), and this run's plan may be stale.
    fn check_lease(&self, before: &str) -> Result<()> {
        if self.lease.is_live() {
            return Ok(());
        }
        Err(RepoError::LeaseLapsed(format!(
            "prune stopped before {before} in dedup domain {}: the lease of its exclusive lock lapsed (the run took \
             longer than the {} s lock lifetime without renewing it, or the storage was unreachable), so backups or \
             another prune may have started meanwhile; nothing more is deleted or written and every backup still \
             restores: run prune again",
            self.domain,
            LOCK_TTL.as_secs()
        )))
    }

    /// A condemned record that could not be written or deleted, said plainly: what it
    /// means for the backups (nothing), and what to do.
    fn record_failed(&self, key: &str, doing: &str, e: StorageError) -> RepoError {
        let after = "nothing a backup needs was deleted and every backup still restores; run prune again once the \
                     storage works (it carries on from where this run stopped)";
        match e {
            StorageError::NoSpace { .. } => RepoError::NoSpace(format!(
                "{} is full: prune could not {doing} the condemned record {key} of dedup domain {} ({e}); {after}",
                self.storage.location(),
                self.domain
            )),
            e => {
                tracing::error!(record = %key, domain = %self.domain, "prune could not {doing} the condemned record; {after}");
                RepoError::Storage(e)
            }
        }
    }

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
            if entries.contains_key(&pack) || self.elsewhere.contains(&pack) {
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
        let mut plan = gc::plan_delete(DeleteInput {
            records: &inputs,
            locks: &locks,
            now,
            delays: Delays { lock_lifetime: LOCK_TTL, min_condemned_age: LOCK_TTL },
            referenced,
            kept: &kept,
        });
        // Under object lock: kept, still condemned, for a later prune (FORMAT.md 11.5).
        let held = self.retained(&packs.objects, &plan.delete).await?;
        plan.delete.retain(|p| !held.contains(p));
        counts.packs_revived = plan.revive.len();
        counts.packs_waiting = plan.wait.len() + held.len();
        if self.options.dry_run {
            counts.packs_deleted = plan.delete.len();
            counts.pack_bytes_freed = plan.delete.iter().filter_map(|p| packs.sizes.get(p)).sum();
            return Ok(());
        }
        self.check_lease("superseding the index objects that name the packs to delete")?;
        self.supersede(&packs.objects, &plan.delete).await?;
        let mut gone = BTreeSet::new();
        for pack in &plan.delete {
            let key = pack.key();
            self.check_lease(&format!("deleting pack {key}"))?;
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
        self.check_lease("settling its condemned records")?;
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

    /// The packs of `delete` that must stay: under an object-lock retention, or named by
    /// an index object under one (superseding it would mean deleting it).
    async fn retained(
        &self,
        objects: &[(IndexId, IndexObject)],
        delete: &BTreeSet<PackId>,
    ) -> Result<BTreeSet<PackId>> {
        if delete.is_empty() || !self.storage.capabilities().await?.object_lock {
            return Ok(BTreeSet::new());
        }
        let active = |r: Option<lifeboat_storage::Retention>| r.is_some_and(|r| r.is_active());
        let mut held = BTreeSet::new();
        for pack in delete {
            if active(self.storage.retention(&pack.key()).await?) {
                held.insert(*pack);
            }
        }
        for (id, object) in objects.iter().filter(|(_, o)| o.packs.iter().any(|(p, _)| delete.contains(p))) {
            if active(self.storage.retention(&id.key()).await?) {
                held.extend(object.packs.iter().map(|(p, _)| *p).filter(|p| delete.contains(p)));
            }
        }
        Ok(held)
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
                    Err(e) => return Err(self.record_failed(&key, "delete", e)),
                }
            } else if left.len() < record.packs.len() {
                let rewritten = PruneRecord { id: record.id, at: listed.at, packs: left };
                let bytes = rewritten.seal(&self.keys).map_err(store_error)?;
                self.storage
                    .put_bytes(&key, Bytes::from(bytes))
                    .await
                    .map_err(|e| self.record_failed(&key, "rewrite", e))?;
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
        self.check_lease("repacking and condemning packs")?;
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
        self.check_lease(&format!("writing the condemned record {key}"))?;
        let written = lifeboat_storage::create_new(self.storage.as_ref(), &key, Bytes::from(bytes)).await;
        if written.map_err(|e| self.record_failed(&key, "write", e))? == PutOutcome::AlreadyExists {
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

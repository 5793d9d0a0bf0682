//! The decisions of the v3 prune (docs/FORMAT.md 11.6), free of storage I/O.
//!
//! Prune is two runs apart in time. The first *condemns*: under the exclusive lock it
//! finds the packs no manifest needs ([`plan_condemn`]), copies the live blobs of mostly
//! unused packs into new packs, and writes a condemned record naming the condemned packs.
//! A later run *deletes* ([`plan_delete`]): a condemned pack goes only when nothing could
//! still need it. Both functions are pure, so the prune that touches storage and the
//! model that checks the protocol against every interleaving of backups, prunes, clock
//! steps and crashes (`tests/it/v3_prune_model.rs`) run the very same rules.
//!
//! The order around these decisions is part of the protocol the model checks: the
//! condemning run leaves the index as it is (a condemned pack stays indexed until it is
//! deleted, so a manifest that lands late still finds its blobs); backups never dedup
//! against a pack a record names, and check their lease right before writing index
//! objects and their manifest; the deleting run first writes an index object replacing
//! every one that names a pack it deletes, deletes those, then the packs, and the record
//! last, so a kill anywhere leaves no index entry pointing at a deleted pack.
//!
//! They are generic over the pack id `P` and the blob id `B` (a real prune passes the
//! pack ids of 11.3 and [`super::BlobId`]), and times are the storage's clock.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

/// Repack a pack when more than this fraction of its bytes is unreferenced (`--max-unused`).
pub const DEFAULT_MAX_UNUSED: f64 = 0.10;

/// One blob of a pack, as its index entry or its pack directory gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedBlob<B> {
    /// The blob's id.
    pub id: B,
    /// Its stored (sealed) length: what deleting it would free.
    pub len: u64,
}

/// What the condemning run sees.
#[derive(Debug, Clone, Copy)]
pub struct CondemnInput<'a, P, B> {
    /// Every stored pack with its blobs: from the index, and from the pack's own directory
    /// for a pack no index names (debris of a backup killed before its index was written).
    pub packs: &'a BTreeMap<P, Vec<PackedBlob<B>>>,
    /// Every blob any manifest references (data and tree blobs, trees walked).
    pub referenced: &'a BTreeSet<B>,
    /// The blobs referenced by manifests still under object lock.
    pub locked: &'a BTreeSet<B>,
    /// Packs an earlier run condemned that are still waiting: [`plan_delete`] judges them.
    pub already_condemned: &'a BTreeSet<P>,
    /// Repack threshold: the fraction of a pack's bytes that may be unreferenced.
    pub max_unused: f64,
}

/// What the condemning run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondemnPlan<P, B> {
    /// The packs to name in the new condemned record: the wholly unused ones and the
    /// repacked ones.
    pub condemn: BTreeSet<P>,
    /// The condemned packs that still hold live blobs, each with the live blobs to copy
    /// into new packs (indexed) before the record is written. A live blob that a kept pack
    /// also holds, or that an earlier repacked pack already gives, is not copied twice.
    pub repack: BTreeMap<P, Vec<B>>,
    /// Packs left alone.
    pub keep: BTreeSet<P>,
}

/// Decides which packs to condemn and which to repack.
///
/// - A pack holding a blob of a manifest under object lock is kept whole: that manifest
///   cannot be forgotten until its retention ends, and a repack would condemn the pack
///   the retention was meant to protect (the storage would refuse the delete anyway).
/// - A pack already condemned is not condemned again: its record is already waiting out
///   the delays of [`plan_delete`], which a second record would restart for no gain.
/// - A pack with no referenced blob is condemned.
/// - A pack whose unreferenced bytes exceed `max_unused` of its size is repacked (its live
///   blobs copied, then condemned): small amounts of garbage are left, because rewriting a
///   32 MiB pack to free a few KiB costs more than it saves. A `max_unused` that is not a
///   number never repacks.
pub fn plan_condemn<P, B>(input: CondemnInput<'_, P, B>) -> CondemnPlan<P, B>
where
    P: Ord + Clone,
    B: Ord + Clone,
{
    let mut plan = CondemnPlan { condemn: BTreeSet::new(), repack: BTreeMap::new(), keep: BTreeSet::new() };
    let mut repacked = Vec::new();
    for (pack, blobs) in input.packs {
        let holds_locked = blobs.iter().any(|b| input.locked.contains(&b.id));
        if holds_locked || input.already_condemned.contains(pack) {
            plan.keep.insert(pack.clone());
            continue;
        }
        let total: u64 = blobs.iter().map(|b| b.len).sum();
        let unused: u64 = blobs.iter().filter(|b| !input.referenced.contains(&b.id)).map(|b| b.len).sum();
        let live = blobs.iter().any(|b| input.referenced.contains(&b.id));
        if !live {
            plan.condemn.insert(pack.clone());
        } else if unused > 0 && unused as f64 > input.max_unused * total as f64 {
            plan.condemn.insert(pack.clone());
            repacked.push((pack, blobs));
        } else {
            plan.keep.insert(pack.clone());
        }
    }
    // A live blob must survive somewhere: in a kept pack, or copied once from a repacked one.
    let mut given: BTreeSet<&B> =
        plan.keep.iter().filter_map(|p| input.packs.get(p)).flatten().map(|b| &b.id).collect();
    for (pack, blobs) in repacked {
        let copy: Vec<B> = blobs
            .iter()
            .filter(|b| input.referenced.contains(&b.id) && given.insert(&b.id))
            .map(|b| b.id.clone())
            .collect();
        plan.repack.insert(pack.clone(), copy);
    }
    plan
}

/// One condemned record (`prune/<id>`), as the deleting run reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condemned<P, B> {
    /// When it was written, by the storage's clock.
    pub at: SystemTime,
    /// The condemned packs, each with the blobs it holds (so that rule (a) can be judged
    /// without the index, from which a crash may already have removed the pack).
    pub packs: BTreeMap<P, Vec<B>>,
}

/// A lock present in the repository (other than the deleting run's own), live or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockSeen {
    /// When it was taken.
    pub taken: SystemTime,
    /// When the storage last wrote it (taken or refreshed).
    pub refreshed: SystemTime,
}

/// The delays of [`plan_delete`]. A real prune passes the lock lifetime for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delays {
    /// How long a lock lives without a refresh (section 6, 30 minutes).
    pub lock_lifetime: Duration,
    /// How old a condemnation must be before its packs may go, rule (b).
    pub min_condemned_age: Duration,
}

/// What the deleting run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletePlan<P> {
    /// Condemned packs to delete now (after the index objects naming them are superseded).
    pub delete: BTreeSet<P>,
    /// Condemned packs a manifest references again: kept, and no longer condemned.
    pub revive: BTreeSet<P>,
    /// Condemned packs that must wait for a later run.
    pub wait: BTreeSet<P>,
    /// The records (positions in the input) whose every pack is decided, to delete last.
    pub records_done: Vec<usize>,
}

/// Whether a lease last written at `refreshed` is live at `now` (section 6).
pub fn lease_live(refreshed: SystemTime, now: SystemTime, lock_lifetime: Duration) -> bool {
    age(refreshed, now) < lock_lifetime
}

/// Whether a write its holder checked its lease for may still land: the lease is live, or
/// lapsed less than one lifetime ago. A holder checks its lease right before a write that
/// matters (index objects, the manifest) and gives that write less than one lock lifetime
/// to land; a lease last refreshed two lifetimes ago therefore has nothing in flight.
pub fn may_still_write(lock: &LockSeen, now: SystemTime, lock_lifetime: Duration) -> bool {
    age(lock.refreshed, now) < lock_lifetime.saturating_mul(2)
}

/// How long ago `then` was at `now`; zero when `then` is in the future.
fn age(then: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

/// What the deleting run sees.
#[derive(Debug, Clone, Copy)]
pub struct DeleteInput<'a, P, B> {
    /// Every condemned record.
    pub records: &'a [Condemned<P, B>],
    /// Every lock present other than the run's own, live or lapsed.
    pub locks: &'a [LockSeen],
    /// The storage's time.
    pub now: SystemTime,
    /// Lock lifetime and rule (b)'s delay.
    pub delays: Delays,
    /// Every blob any manifest references, listed now (not when the packs were condemned).
    pub referenced: &'a BTreeSet<B>,
    /// The blobs that packs no record condemns hold, by the index: where a repacked pack's
    /// live blobs were copied to.
    pub kept: &'a BTreeSet<B>,
}

/// Decides which condemned packs may be deleted now. A condemned pack is deleted only when
///
/// - (a) no manifest references a blob of it that no kept pack holds: the condemning run
///   may have planned from a listing older than a manifest written since (a backup that
///   deduplicated against the pack before it was condemned); such a pack is revived
///   instead. A repacked pack's live blobs are held by the pack they were copied to, so
///   they do not keep it;
/// - (b) it was condemned at least `min_condemned_age` (the lock lifetime) ago, so that a
///   backup that still saw the pack as live had a whole lease to land its manifest, which
///   rule (a) then sees;
/// - (c) no lock taken at or before the condemnation may still write: a lock is counted
///   while it is live *or lapsed less than one lifetime ago* ([`may_still_write`]). Its
///   holder may have deduplicated against the pack before the record existed (a condemning
///   run whose own lease lapsed lets backups in), and a manifest it checked its lease for
///   just before the lapse may land up to a lifetime later. Counting only live locks
///   loses that manifest's data (found by the model check; FORMAT.md 11.6).
///
/// Backups never deduplicate against condemned packs, so only writers that read the index
/// before the record existed can need one; (a) to (c) cover every one of them.
pub fn plan_delete<P, B>(input: DeleteInput<'_, P, B>) -> DeletePlan<P>
where
    P: Ord + Clone,
    B: Ord,
{
    let DeleteInput { records, locks, now, delays, referenced, kept } = input;
    let mut plan = DeletePlan {
        delete: BTreeSet::new(),
        revive: BTreeSet::new(),
        wait: BTreeSet::new(),
        records_done: Vec::new(),
    };
    for record in records {
        let old_enough = age(record.at, now) >= delays.min_condemned_age;
        let writer_left = locks.iter().any(|l| l.taken <= record.at && may_still_write(l, now, delays.lock_lifetime));
        for (pack, blobs) in &record.packs {
            if blobs.iter().any(|b| referenced.contains(b) && !kept.contains(b)) {
                plan.revive.insert(pack.clone());
            } else if !old_enough || writer_left {
                plan.wait.insert(pack.clone());
            } else {
                plan.delete.insert(pack.clone());
            }
        }
    }
    // A pack in two records waits if either says so, and is revived if referenced at all.
    plan.delete.retain(|p| !plan.wait.contains(p) && !plan.revive.contains(p));
    plan.wait.retain(|p| !plan.revive.contains(p));
    plan.records_done = records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.packs.keys().all(|p| !plan.wait.contains(p)))
        .map(|(i, _)| i)
        .collect();
    plan
}

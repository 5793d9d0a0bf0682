//! Model check of the v3 prune protocol (docs/FORMAT.md 11.6, issue 14).
//!
//! A small repository (packs, index objects, manifests, one condemned record, locks with
//! times, a clock) and its actors: two backups, one prune run twice (first condemning,
//! then deleting), a clock that advances, and crashes (kill -9 at any step: the actor
//! stops for good, its lock stays until it lapses; for a backup that is a stall without
//! end, which the search explores anyway, for a prune run it also lets the next run
//! start). Every interleaving is explored by a depth-first search that remembers visited
//! states. Times are kept as ages capped at two lock lifetimes (every rule answers alike
//! past that), so the space is finite and the search covers unbounded time: about 4
//! million states, printed by each run. The prune's decisions are `lifeboat_repo::v3::gc`,
//! the same functions the real prune runs.
//!
//! Lock taking is atomic here: section 6's write-then-check already guarantees that two
//! conflicting live leases never both proceed, which is all the model needs of it.
//!
//! Invariants, checked in every reachable state:
//! - every blob of every manifest is in a pack that exists (every snapshot restores);
//! - the index finds every such blob, and each index entry for it names an existing pack;
//! - no index object names a deleted pack (a later backup would deduplicate against it);
//! - no pack holding a blob of a manifest under object lock is ever condemned.
//!
//! Assumptions, as the protocol states them: a lease is judged by the storage's clock and
//! is never renewed once lapsed (its holder gives up instead); a write a holder checked
//! its lease for lands within one lock lifetime of that check or never (the write's
//! timeout). The prune never checks its own lease: it may stall anywhere, as may backups.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, SystemTime};

use lifeboat_repo::v3::gc::{
    self, CondemnInput, Condemned, DEFAULT_MAX_UNUSED, Delays, DeleteInput, LockSeen, PackedBlob,
};

/// One tick of the model's clock: a lock lives two ticks (30 minutes).
const TICK: Duration = Duration::from_secs(15 * 60);
const LIFETIME_TICKS: u8 = 2;

// Blobs, as bits of a mask.
const A: u8 = 1;
const BB: u8 = 2;
const C: u8 = 4;
const D: u8 = 8;
const E: u8 = 16;
const F: u8 = 32;
const G: u8 = 64;
const BLOBS: [u8; 7] = [A, BB, C, D, E, F, G];

// Pack slots. P0 {a, e}: a is live (M0), e is garbage, so P0 is repacked. P1 {b}: garbage
// that both backups want, the dedup race. P2 {f, g}: f is in ML, under object lock.
const P0: usize = 0;
const P1: usize = 1;
const P2: usize = 2;
const PB: [usize; 2] = [3, 4];
const PR: usize = 5;
const NPACK: usize = 6;

// Index slots: the initial one, one per backup, the repack index, the deleting run's.
const I0: usize = 0;
const IB: [usize; 2] = [1, 2];
const IR: usize = 3;
const IS: usize = 4;
const NINDEX: usize = 5;

// Manifests: M0 {a}, ML {f} under object lock, one per backup.
const M0: usize = 0;
const ML: usize = 1;
const MB: [usize; 2] = [2, 3];
const NMAN: usize = 4;

/// What each backup stores.
const WANTS: [u8; 2] = [A | BB | C, BB | C | D];

/// Lock slots: the backups', then prune run 1's and run 2's.
const PRUNE_LOCK: [usize; 2] = [2, 3];
const NLOCK: usize = 4;

/// Variants of the protocol. [`Rules::MODEL_CHECKED`] is FORMAT.md 11.6 as it now
/// stands; the others each break one rule, and must be caught.
#[derive(Debug, Clone, Copy)]
struct Rules {
    name: &'static str,
    /// 11.6 as first written: the condemning run writes an index without the condemned
    /// packs at once (the deleting run re-indexes revived ones).
    index_out_at_condemn: bool,
    /// 11.6 as first written: rule (c) counts only live locks.
    c_live_only: bool,
    /// Leave out rule (a) (pass no references).
    skip_a: bool,
    /// Leave out rule (b) (no minimum age).
    skip_b: bool,
    /// Leave out rule (c) (pass no locks).
    skip_c: bool,
    /// Backups deduplicate against condemned packs.
    dedup_condemned: bool,
    /// Backups write index and manifest without checking their lease.
    no_lease_check: bool,
}

impl Rules {
    const MODEL_CHECKED: Rules = Rules {
        name: "model-checked 11.6",
        index_out_at_condemn: false,
        c_live_only: false,
        skip_a: false,
        skip_b: false,
        skip_c: false,
        dedup_condemned: false,
        no_lease_check: false,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Lock {
    /// Taken before the condemned record was written (the order of events, which is all
    /// rule (c) asks of the times).
    before_record: bool,
    /// Ticks since it was taken or last renewed, capped at [`AGE_CAP`].
    refreshed: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Record {
    /// Ticks since it was written, capped at [`AGE_CAP`].
    at: u8,
    /// The blobs of each condemned pack; 0 for a pack not condemned.
    packs: [u8; NPACK],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum BackupPc {
    Lock,
    ReadIndex,
    WritePack,
    CheckBeforeIndex,
    WriteIndex,
    CheckBeforeManifest,
    WriteManifest,
    Release,
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Backup {
    pc: BackupPc,
    /// Blobs found in the index (not written again).
    found: u8,
    /// Ticks since the lease was last checked, for the write's timeout (0 when no write
    /// is pending).
    checked_at: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PrunePc {
    Lock,
    Plan,
    // Run 1 (condemn).
    WriteRepackPack,
    WriteIndex,
    WriteRecord,
    DeleteOldIndexes,
    // Run 2 (delete).
    WriteNewIndex,
    DeleteSupersededIndexes,
    DeletePacks,
    DeleteRecord,
    Release,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Prune {
    /// 0: condemning run, 1: deleting run, 2: both over.
    run: u8,
    pc: PrunePc,
    /// Run 1: packs to condemn (bits); run 2: packs to delete.
    packs: u8,
    /// Run 1: blobs to copy into the repack pack; run 2: revived packs (bits).
    extra: u8,
    /// Index objects read by the plan (bits): run 1 (first-written 11.6) deletes them; run
    /// 2 supersedes those naming packs it deletes.
    indexes: u8,
    /// Run 2: whether the record is fully decided.
    record_done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct State {
    /// Each pack's blobs; 0 when absent.
    packs: [u8; NPACK],
    /// Each index object: the blobs it lists per pack.
    index: [Option<[u8; NPACK]>; NINDEX],
    /// Each manifest's blobs; 0 when absent.
    manifests: [u8; NMAN],
    record: Option<Record>,
    locks: [Option<Lock>; NLOCK],
    backups: [Backup; 2],
    prune: Prune,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Tick,
    Step(usize),
    Crash(usize),
}

/// An action as a reader of a counterexample wants it: who did what, from state `before`.
fn describe(action: Action, before: &State) -> String {
    match action {
        Action::Tick => "tick".into(),
        Action::Step(PRUNE) => format!("prune{} {:?}", before.prune.run + 1, before.prune.pc),
        Action::Step(k) => format!("backup{} {:?}", k + 1, before.backups[k].pc),
        Action::Crash(_) => format!("prune{} killed", before.prune.run + 1),
    }
}

/// Actor numbers: 0 and 1 are the backups, 2 the prune.
const PRUNE: usize = 2;

/// The model keeps ages, not times: every rule compares an age with one or two lock
/// lifetimes, so ages past two lifetimes are all alike, and capping them makes the state
/// space finite with no bound on the clock. The storage's time is `NOW`.
const AGE_CAP: u8 = 2 * LIFETIME_TICKS;

/// The storage's time in the model: ages count back from it.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// The time `age` ticks ago.
fn time(age: u8) -> SystemTime {
    now() - TICK * u32::from(age)
}

fn older(age: u8) -> u8 {
    (age + 1).min(AGE_CAP)
}

fn lifetime() -> Duration {
    TICK * u32::from(LIFETIME_TICKS)
}

fn bits(mask: u8) -> impl Iterator<Item = usize> {
    (0..8).filter(move |i| mask & (1 << i) != 0)
}

impl State {
    fn initial() -> State {
        let mut packs = [0; NPACK];
        packs[P0] = A | E;
        packs[P1] = BB;
        packs[P2] = F | G;
        let mut i0 = [0; NPACK];
        i0[..3].copy_from_slice(&packs[..3]);
        let mut manifests = [0; NMAN];
        manifests[M0] = A;
        manifests[ML] = F;
        let backup = Backup { pc: BackupPc::Lock, found: 0, checked_at: 0 };
        State {
            packs,
            index: {
                let mut index = [None; NINDEX];
                index[I0] = Some(i0);
                index
            },
            manifests,
            record: None,
            locks: [None; NLOCK],
            backups: [backup; 2],
            prune: Prune { run: 0, pc: PrunePc::Lock, packs: 0, extra: 0, indexes: 0, record_done: false },
        }
    }

    fn live(&self, lock: &Lock) -> bool {
        gc::lease_live(time(lock.refreshed), now(), lifetime())
    }

    fn lock_slot(&self, actor: usize) -> Option<usize> {
        match actor {
            PRUNE if self.prune.run < 2 => Some(PRUNE_LOCK[usize::from(self.prune.run)]),
            PRUNE => None,
            k => Some(k),
        }
    }

    fn running(&self, actor: usize) -> bool {
        match actor {
            PRUNE => self.prune.run < 2,
            k => self.backups[k].pc != BackupPc::Ended,
        }
    }

    fn referenced(&self) -> u8 {
        self.manifests.iter().fold(0, |acc, m| acc | m)
    }

    /// Blobs findable through the index in packs no record condemns.
    fn indexed_outside_record(&self) -> u8 {
        let condemned = self.record.map(|r| r.packs).unwrap_or_default();
        let mut found = 0;
        for entries in self.index.iter().flatten() {
            for p in 0..NPACK {
                if condemned[p] == 0 {
                    found |= entries[p];
                }
            }
        }
        found
    }

    fn indexed_anywhere(&self) -> u8 {
        self.index.iter().flatten().flat_map(|e| e.iter()).fold(0, |acc, m| acc | m)
    }
}

/// The next states: every action enabled in `s`.
fn successors(s: &State, rules: &Rules) -> Vec<(Action, State)> {
    let mut out = Vec::with_capacity(4);
    let next = tick(s);
    if next != *s {
        out.push((Action::Tick, next));
    }
    for actor in 0..3 {
        if !s.running(actor) {
            continue;
        }
        let mut next = *s;
        if !is_check(s, actor) {
            refresh(&mut next, actor);
        }
        if actor == PRUNE {
            prune_step(&mut next, rules)
        } else {
            backup_step(&mut next, actor, rules)
        }
        out.push((Action::Step(actor), next));
        // A killed backup is a backup that never moves again, its lock left to lapse: the
        // search explores every such stall already, so only the prune, whose next run is a
        // new process that may start meanwhile, is killed explicitly.
        if actor == PRUNE {
            let mut next = *s;
            next_run(&mut next);
            out.push((Action::Crash(actor), next));
        }
    }
    out
}

/// The clock advances one tick: every age grows.
fn tick(s: &State) -> State {
    let mut next = *s;
    for lock in next.locks.iter_mut().flatten() {
        lock.refreshed = older(lock.refreshed);
    }
    if let Some(record) = next.record.as_mut() {
        record.at = older(record.at);
    }
    for b in &mut next.backups {
        if matches!(b.pc, BackupPc::WriteIndex | BackupPc::WriteManifest) {
            b.checked_at = older(b.checked_at);
        }
    }
    next
}

/// Whether the actor's next step is a lease check. A check does not renew the lease: it
/// judges the last renewal, which may be up to a lifetime old (the renewing task runs apart
/// from the work, and may itself be stuck).
fn is_check(s: &State, actor: usize) -> bool {
    actor != PRUNE && matches!(s.backups[actor].pc, BackupPc::CheckBeforeIndex | BackupPc::CheckBeforeManifest)
}

/// A running holder renews its lease as it works, but never once it lapsed: a holder
/// that stalled past its lease has lost it (section 6), and its next check says so. A
/// stalled or killed holder renews nothing.
fn refresh(s: &mut State, actor: usize) {
    if let Some(slot) = s.lock_slot(actor)
        && let Some(lock) = s.locks[slot]
        && s.live(&lock)
    {
        s.locks[slot] = Some(Lock { refreshed: 0, ..lock });
    }
}

/// The prune's current run is over (done, backed off or killed); the next run is another
/// process, started later.
fn next_run(s: &mut State) {
    s.prune = Prune { run: s.prune.run + 1, pc: PrunePc::Lock, packs: 0, extra: 0, indexes: 0, record_done: false };
}

fn take_lock(s: &mut State, slot: usize) {
    s.locks[slot] = Some(Lock { before_record: false, refreshed: 0 });
}

/// Whether another live lock conflicts with taking the one in `own` (shared locks do not
/// conflict with each other; the prune's are exclusive).
fn conflict(s: &State, own: usize) -> bool {
    let exclusive = |slot: usize| PRUNE_LOCK.contains(&slot);
    s.locks
        .iter()
        .enumerate()
        .any(|(slot, l)| slot != own && l.is_some_and(|l| (exclusive(own) || exclusive(slot)) && s.live(&l)))
}

fn backup_step(s: &mut State, k: usize, rules: &Rules) {
    let b = s.backups[k];
    let lease_ok = |s: &State| rules.no_lease_check || s.locks[k].is_some_and(|l| s.live(&l));
    let in_time = |_: &State| rules.no_lease_check || b.checked_at < LIFETIME_TICKS;
    let end = |s: &mut State| {
        s.locks[k] = None;
        s.backups[k].pc = BackupPc::Ended;
    };
    let pc = match b.pc {
        BackupPc::Lock if conflict(s, k) => return end(s),
        BackupPc::Lock => {
            take_lock(s, k);
            BackupPc::ReadIndex
        }
        BackupPc::ReadIndex => {
            let usable = if rules.dedup_condemned { s.indexed_anywhere() } else { s.indexed_outside_record() };
            s.backups[k].found = WANTS[k] & usable;
            BackupPc::WritePack
        }
        BackupPc::WritePack => {
            s.packs[PB[k]] = WANTS[k] & !b.found;
            BackupPc::CheckBeforeIndex
        }
        BackupPc::CheckBeforeIndex | BackupPc::CheckBeforeManifest if !lease_ok(s) => return end(s),
        BackupPc::CheckBeforeIndex => {
            s.backups[k].checked_at = 0;
            BackupPc::WriteIndex
        }
        BackupPc::CheckBeforeManifest => {
            s.backups[k].checked_at = 0;
            BackupPc::WriteManifest
        }
        // The write timed out: it never lands, and the backup fails.
        BackupPc::WriteIndex | BackupPc::WriteManifest if !in_time(s) => return end(s),
        BackupPc::WriteIndex => {
            let mut entries = [0; NPACK];
            entries[PB[k]] = WANTS[k] & !b.found;
            if entries[PB[k]] != 0 {
                s.index[IB[k]] = Some(entries);
            }
            s.backups[k] = Backup { found: 0, checked_at: 0, ..b };
            BackupPc::CheckBeforeManifest
        }
        BackupPc::WriteManifest => {
            s.manifests[MB[k]] = WANTS[k];
            BackupPc::Release
        }
        BackupPc::Release | BackupPc::Ended => return end(s),
    };
    s.backups[k].pc = pc;
}

fn prune_step(s: &mut State, rules: &Rules) {
    let run = s.prune.run;
    let slot = PRUNE_LOCK[usize::from(run)];
    let pc = match s.prune.pc {
        PrunePc::Lock if conflict(s, slot) => return next_run(s),
        PrunePc::Lock => {
            take_lock(s, slot);
            PrunePc::Plan
        }
        PrunePc::Plan if run == 0 => {
            plan_condemn(s);
            PrunePc::WriteRepackPack
        }
        PrunePc::Plan => {
            plan_delete(s, rules);
            PrunePc::WriteNewIndex
        }
        PrunePc::WriteRepackPack => {
            if s.prune.extra != 0 {
                s.packs[PR] = s.prune.extra;
            }
            PrunePc::WriteIndex
        }
        PrunePc::WriteIndex => {
            write_condemning_index(s, rules);
            PrunePc::WriteRecord
        }
        PrunePc::WriteRecord => {
            let mut packs = [0; NPACK];
            for p in bits(s.prune.packs) {
                packs[p] = s.packs[p];
            }
            s.record = Some(Record { at: 0, packs });
            for lock in s.locks.iter_mut().flatten() {
                lock.before_record = true;
            }
            PrunePc::DeleteOldIndexes
        }
        PrunePc::DeleteOldIndexes => {
            if rules.index_out_at_condemn {
                for i in bits(s.prune.indexes) {
                    s.index[i] = None;
                }
            }
            PrunePc::Release
        }
        PrunePc::WriteNewIndex => {
            write_deleting_index(s, rules);
            PrunePc::DeleteSupersededIndexes
        }
        PrunePc::DeleteSupersededIndexes => {
            if !rules.index_out_at_condemn {
                for i in bits(s.prune.indexes) {
                    s.index[i] = None;
                }
            }
            PrunePc::DeletePacks
        }
        PrunePc::DeletePacks => {
            for p in bits(s.prune.packs) {
                s.packs[p] = 0;
            }
            PrunePc::DeleteRecord
        }
        PrunePc::DeleteRecord => {
            if s.prune.record_done {
                s.record = None;
            }
            PrunePc::Release
        }
        PrunePc::Release => {
            s.locks[slot] = None;
            return next_run(s);
        }
    };
    s.prune.pc = skip_idle(s, pc, rules);
}

/// Steps with nothing to do are not steps: the plan decides which writes a run makes.
fn skip_idle(s: &State, mut pc: PrunePc, rules: &Rules) -> PrunePc {
    let p = s.prune;
    loop {
        let idle = match pc {
            PrunePc::WriteRepackPack => p.extra == 0,
            PrunePc::WriteIndex => p.extra == 0 && !rules.index_out_at_condemn,
            PrunePc::DeleteOldIndexes => !rules.index_out_at_condemn,
            PrunePc::WriteNewIndex if rules.index_out_at_condemn => p.extra == 0,
            PrunePc::WriteNewIndex | PrunePc::DeleteSupersededIndexes => p.indexes == 0 || rules.index_out_at_condemn,
            PrunePc::DeletePacks => p.packs == 0,
            PrunePc::DeleteRecord => !p.record_done,
            _ => false,
        };
        if !idle {
            return pc;
        }
        pc = match pc {
            PrunePc::WriteRepackPack => PrunePc::WriteIndex,
            PrunePc::WriteIndex => PrunePc::WriteRecord,
            PrunePc::DeleteOldIndexes | PrunePc::DeleteRecord => PrunePc::Release,
            PrunePc::WriteNewIndex => PrunePc::DeleteSupersededIndexes,
            PrunePc::DeleteSupersededIndexes => PrunePc::DeletePacks,
            PrunePc::DeletePacks => PrunePc::DeleteRecord,
            other => return other,
        };
    }
}

fn blob_ids(mask: u8) -> BTreeSet<u8> {
    BLOBS.iter().copied().filter(|b| mask & b != 0).collect()
}

/// Run 1's plan, by `gc::plan_condemn`: every stored pack with its blobs (the model knows
/// a pack's directory), the references, the object-locked references.
fn plan_condemn(s: &mut State) {
    let packs: BTreeMap<usize, Vec<PackedBlob<u8>>> = (0..NPACK)
        .filter(|&p| s.packs[p] != 0)
        .map(|p| (p, blob_ids(s.packs[p]).into_iter().map(|id| PackedBlob { id, len: 1 }).collect()))
        .collect();
    let condemned: BTreeSet<usize> =
        s.record.map(|r| (0..NPACK).filter(|&p| r.packs[p] != 0).collect()).unwrap_or_default();
    let plan = gc::plan_condemn(CondemnInput {
        packs: &packs,
        referenced: &blob_ids(s.referenced()),
        locked: &blob_ids(s.manifests[ML]),
        already_condemned: &condemned,
        max_unused: DEFAULT_MAX_UNUSED,
    });
    s.prune.packs = plan.condemn.iter().fold(0, |acc, p| acc | 1 << p);
    s.prune.extra = plan.repack.values().flatten().fold(0, |acc, b| acc | b);
    s.prune.indexes = (0..NINDEX).filter(|&i| s.index[i].is_some()).fold(0, |acc, i| acc | 1 << i);
}

/// Run 1's index: the repack pack's entries (and, as first written, every kept pack of
/// the index objects it read, which it deletes after the record).
fn write_condemning_index(s: &mut State, rules: &Rules) {
    let mut entries = [0; NPACK];
    entries[PR] = s.prune.extra;
    if rules.index_out_at_condemn {
        for i in bits(s.prune.indexes) {
            for (p, blobs) in s.index[i].unwrap_or_default().iter().enumerate() {
                if s.prune.packs & (1 << p) == 0 {
                    entries[p] |= blobs;
                }
            }
        }
    }
    if entries.iter().any(|&e| e != 0) {
        s.index[IR] = Some(entries);
    }
}

/// Run 2's plan, by `gc::plan_delete`: the record, every other lock present, the clock,
/// the references and the blobs of packs outside the record.
fn plan_delete(s: &mut State, rules: &Rules) {
    let Some(record) = s.record else {
        (s.prune.packs, s.prune.extra, s.prune.indexes, s.prune.record_done) = (0, 0, 0, false);
        return;
    };
    let records = [Condemned {
        at: time(record.at),
        packs: (0..NPACK)
            .filter(|&p| record.packs[p] != 0)
            .map(|p| (p, blob_ids(record.packs[p]).into_iter().collect()))
            .collect(),
    }];
    let own = PRUNE_LOCK[1];
    let locks: Vec<LockSeen> = (0..NLOCK)
        .filter(|&slot| slot != own && !rules.skip_c)
        .filter_map(|slot| s.locks[slot])
        .filter(|l| !rules.c_live_only || s.live(l))
        // Times from the order of events: taken at the condemnation, or just after it.
        // As first written, (c) counts a live lock only: seen as refreshed right now.
        .map(|l| LockSeen {
            taken: if l.before_record { time(record.at) } else { time(record.at) + Duration::from_secs(1) },
            refreshed: time(if rules.c_live_only { 0 } else { l.refreshed }),
        })
        .collect();
    let referenced = if rules.skip_a { BTreeSet::new() } else { blob_ids(s.referenced()) };
    let min_condemned_age = if rules.skip_b { Duration::ZERO } else { lifetime() };
    let plan = gc::plan_delete(DeleteInput {
        records: &records,
        locks: &locks,
        now: now(),
        delays: Delays { lock_lifetime: lifetime(), min_condemned_age },
        referenced: &referenced,
        kept: &blob_ids(s.indexed_outside_record()),
    });
    s.prune.packs = plan.delete.iter().fold(0, |acc, p| acc | 1 << p);
    s.prune.extra = plan.revive.iter().fold(0, |acc, p| acc | 1 << p);
    s.prune.record_done = plan.records_done == [0];
    s.prune.indexes = (0..NINDEX)
        .filter(|&i| s.index[i].is_some_and(|e| bits(s.prune.packs).any(|p| e[p] != 0)))
        .fold(0, |acc, i| acc | 1 << i);
}

/// Run 2's index: the entries of the index objects naming packs it deletes, without
/// those packs (they are then deleted before the packs). As first written: the revived
/// packs, which left the index when condemned.
fn write_deleting_index(s: &mut State, rules: &Rules) {
    let mut entries = [0; NPACK];
    if rules.index_out_at_condemn {
        let record = s.record.map(|r| r.packs).unwrap_or_default();
        for p in bits(s.prune.extra) {
            entries[p] = record[p];
        }
    } else {
        for i in bits(s.prune.indexes) {
            for (p, blobs) in s.index[i].unwrap_or_default().iter().enumerate() {
                if s.prune.packs & (1 << p) == 0 {
                    entries[p] |= blobs;
                }
            }
        }
    }
    if entries.iter().any(|&e| e != 0) {
        s.index[IS] = Some(entries);
    }
}

/// The invariants; `Err` names the first one broken.
fn check(s: &State) -> Result<(), String> {
    // Masks first (this runs in every state); the message is built only for a failure.
    let needed = s.referenced();
    let stored = s.packs.iter().fold(0, |acc, p| acc | p);
    let indexed = s.indexed_anywhere();
    let who = |blobs: u8| {
        let m = s.manifests.iter().position(|m| m & blobs != 0).unwrap_or(NMAN);
        format!("manifest {m} needs blob(s) {:#x}", s.manifests.get(m).copied().unwrap_or(0) & blobs)
    };
    if needed & !stored != 0 {
        return Err(format!("{}, which no pack holds any more", who(needed & !stored)));
    }
    if needed & !indexed != 0 {
        return Err(format!("{}, which the index does not find", who(needed & !indexed)));
    }
    for (i, entries) in s.index.iter().enumerate() {
        let Some(entries) = entries else { continue };
        for (p, &listed) in entries.iter().enumerate() {
            if listed != 0 && s.packs[p] == 0 {
                return Err(if listed & needed != 0 {
                    format!("{}; index object {i} sends it to deleted pack {p}", who(listed & needed))
                } else {
                    format!("index object {i} names deleted pack {p}")
                });
            }
        }
    }
    if s.record.is_some_and(|r| r.packs[P2] != 0) {
        return Err("the pack of a manifest under object lock was condemned".into());
    }
    Ok(())
}

/// What an exhaustive search found.
#[derive(Debug, Default)]
struct Outcome {
    states: usize,
    transitions: usize,
    max_depth: usize,
    /// The first broken invariant and the actions that lead there.
    counterexample: Option<(String, Vec<String>)>,
    /// Coverage: reachable states where a pack the first run condemned was deleted, where
    /// it was revived, and where a backup's manifest exists next to a deletion.
    deleted_condemned: usize,
    deleted_with_backup_manifest: usize,
    backups_done: usize,
}

/// A fast hash for the visited set (the FxHash step): states are small and many.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        // The final mix of MurmurHash3, so that the table's low bits depend on every word.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

struct Search<'a> {
    rules: &'a Rules,
    seen: HashSet<State, BuildHasherDefault<Fx>>,
    path: Vec<(Action, State)>,
    out: Outcome,
}

impl Search<'_> {
    fn visit(&mut self, s: State) {
        if self.out.counterexample.is_some() || !self.seen.insert(s) {
            return;
        }
        self.out.states += 1;
        self.out.max_depth = self.out.max_depth.max(self.path.len());
        if let Err(broken) = check(&s) {
            self.out.counterexample =
                Some((broken, self.path.iter().map(|(a, before)| describe(*a, before)).collect()));
            return;
        }
        let deleted = s.packs[P0] == 0 || s.packs[P1] == 0;
        self.out.deleted_condemned += usize::from(deleted);
        self.out.deleted_with_backup_manifest += usize::from(deleted && MB.iter().any(|&m| s.manifests[m] != 0));
        self.out.backups_done += usize::from(MB.iter().all(|&m| s.manifests[m] != 0));
        for (action, next) in successors(&s, self.rules) {
            self.out.transitions += 1;
            self.path.push((action, s));
            self.visit(next);
            self.path.pop();
        }
    }
}

fn explore(rules: &Rules) -> Outcome {
    let mut search = Search { rules, seen: HashSet::default(), path: Vec::new(), out: Outcome::default() };
    search.visit(State::initial());
    let out = search.out;
    println!(
        "{}: {} states, {} transitions, depth {}, ticks of {} min, ages capped at {} ticks; {}",
        rules.name,
        out.states,
        out.transitions,
        out.max_depth,
        TICK.as_secs() / 60,
        AGE_CAP,
        match &out.counterexample {
            None => "no invariant broken".to_owned(),
            Some((broken, path)) =>
                format!("COUNTEREXAMPLE after {} actions: {broken}\n  {}", path.len(), path.join(", ")),
        }
    );
    out
}

#[test]
fn the_model_checked_protocol_keeps_every_snapshot_restorable_in_every_interleaving() {
    let out = explore(&Rules::MODEL_CHECKED);
    if let Some((broken, path)) = &out.counterexample {
        panic!("{broken} after {path:?}");
    }
    // The search reached the interesting states at all: prunes that deleted next to
    // finished backups, so "nothing broke" is not "nothing happened".
    assert!(out.states > 10_000, "{out:?}");
    assert!(out.deleted_condemned > 0, "{out:?}");
    assert!(out.deleted_with_backup_manifest > 0, "{out:?}");
    assert!(out.backups_done > 0, "{out:?}");
}

/// Each variant breaks one rule of the protocol; the checker must find what goes wrong.
fn assert_caught(rules: Rules) {
    let out = explore(&rules);
    assert!(out.counterexample.is_some(), "{} was not caught: {out:?}", rules.name);
}

#[test]
fn the_protocol_as_first_written_loses_a_snapshot() {
    assert_caught(Rules {
        name: "11.6 as first written",
        index_out_at_condemn: true,
        c_live_only: true,
        ..Rules::MODEL_CHECKED
    });
}

#[test]
fn counting_only_live_locks_in_rule_c_loses_data() {
    assert_caught(Rules { name: "rule (c) counting live locks only", c_live_only: true, ..Rules::MODEL_CHECKED });
}

#[test]
fn dropping_condemned_packs_from_the_index_at_once_is_caught() {
    assert_caught(Rules {
        name: "condemned packs out of the index at once",
        index_out_at_condemn: true,
        ..Rules::MODEL_CHECKED
    });
}

#[test]
fn skipping_rule_a_is_caught() {
    assert_caught(Rules { name: "without rule (a)", skip_a: true, ..Rules::MODEL_CHECKED });
}

#[test]
fn skipping_rule_c_is_caught() {
    assert_caught(Rules { name: "without rule (c)", skip_c: true, ..Rules::MODEL_CHECKED });
}

#[test]
fn deduplicating_against_condemned_packs_is_caught() {
    assert_caught(Rules { name: "dedup against condemned packs", dedup_condemned: true, ..Rules::MODEL_CHECKED });
}

#[test]
fn a_backup_that_does_not_check_its_lease_is_caught() {
    assert_caught(Rules {
        name: "no lease check before index and manifest",
        no_lease_check: true,
        ..Rules::MODEL_CHECKED
    });
}

// The rules on their own, with the ids a real prune passes.

fn pack_id(n: u8) -> lifeboat_repo::v3::PackId {
    lifeboat_repo::v3::PackId([n; 16])
}

fn blob(n: u8) -> lifeboat_repo::v3::BlobId {
    lifeboat_repo::v3::BlobId([n; 32])
}

fn packed(blobs: &[(u8, u64)]) -> Vec<PackedBlob<lifeboat_repo::v3::BlobId>> {
    blobs.iter().map(|&(n, len)| PackedBlob { id: blob(n), len }).collect()
}

#[test]
fn condemning_keeps_object_locked_packs_repacks_past_max_unused_and_copies_a_blob_once() {
    let packs = BTreeMap::from([
        (pack_id(1), packed(&[(1, 100)])),         // unreferenced: condemned
        (pack_id(2), packed(&[(2, 95), (3, 5)])),  // 5% unused: kept
        (pack_id(3), packed(&[(4, 80), (5, 20)])), // 20% unused: repacked, 4 copied
        (pack_id(4), packed(&[(6, 10), (7, 90)])), // locked blob 6: kept although 90% unused
        (pack_id(5), packed(&[(4, 10), (8, 90)])), // 4 again: repacked, 4 not copied twice
        (pack_id(6), packed(&[(2, 10), (9, 90)])), // 2 is in kept pack 2: nothing to copy
        (pack_id(7), packed(&[(10, 50)])),         // already condemned: left to plan_delete
    ]);
    let referenced = [2, 4, 6].map(blob).into_iter().collect();
    let locked = [blob(6)].into_iter().collect();
    let already = [pack_id(7)].into_iter().collect();
    let input = CondemnInput {
        packs: &packs,
        referenced: &referenced,
        locked: &locked,
        already_condemned: &already,
        max_unused: DEFAULT_MAX_UNUSED,
    };
    let plan = gc::plan_condemn(input);
    assert_eq!(plan.condemn, [1, 3, 5, 6].map(pack_id).into_iter().collect());
    assert_eq!(plan.keep, [2, 4, 7].map(pack_id).into_iter().collect());
    let repack: BTreeMap<_, _> =
        BTreeMap::from([(pack_id(3), vec![blob(4)]), (pack_id(5), vec![]), (pack_id(6), vec![])]);
    assert_eq!(plan.repack, repack);
    // A threshold that is not a number never repacks; a pack with no garbage never is.
    let never = gc::plan_condemn(CondemnInput { max_unused: f64::NAN, ..input });
    assert!(never.repack.is_empty(), "{never:?}");
    let always = gc::plan_condemn(CondemnInput { max_unused: -1.0, ..input });
    assert!(always.repack.contains_key(&pack_id(2)), "5% unused is over a negative threshold");
}

#[test]
fn deleting_waits_for_the_age_for_older_locks_until_a_lifetime_past_their_lapse_and_revives_references() {
    let minute = Duration::from_secs(60);
    let at = now();
    let record = Condemned { at, packs: BTreeMap::from([(pack_id(1), vec![blob(1)]), (pack_id(2), vec![blob(2)])]) };
    let delays = Delays { lock_lifetime: 30 * minute, min_condemned_age: 30 * minute };
    let none = BTreeSet::new();
    let plan_at = |later: Duration, locks: &[LockSeen], referenced: &BTreeSet<_>, kept: &BTreeSet<_>| {
        gc::plan_delete(DeleteInput {
            records: std::slice::from_ref(&record),
            locks,
            now: at + later,
            delays,
            referenced,
            kept,
        })
    };
    // (b): not before the lock lifetime.
    let young = plan_at(29 * minute, &[], &none, &none);
    assert_eq!((young.delete.len(), young.wait.len(), young.records_done.len()), (0, 2, 0), "{young:?}");
    let old = plan_at(30 * minute, &[], &none, &none);
    assert_eq!(old.delete, [1, 2].map(pack_id).into_iter().collect());
    assert_eq!(old.records_done, vec![0]);
    // (c): a lock taken before the condemnation counts while live and one lifetime past its
    // lapse; a lock taken after it does not count at all.
    let older = LockSeen { taken: at - minute, refreshed: at + 10 * minute };
    assert!(!gc::lease_live(older.refreshed, at + 45 * minute, delays.lock_lifetime), "lapsed at +40");
    assert_eq!(plan_at(69 * minute, &[older], &none, &none).delete.len(), 0, "may still write until +70");
    assert_eq!(plan_at(70 * minute, &[older], &none, &none).delete.len(), 2);
    let newer = LockSeen { taken: at + minute, refreshed: at + 40 * minute };
    assert_eq!(plan_at(40 * minute, &[newer], &none, &none).delete.len(), 2);
    // (a): a referenced blob revives its pack, unless a kept pack holds it too.
    let referenced: BTreeSet<_> = [blob(2)].into_iter().collect();
    let revived = plan_at(30 * minute, &[], &referenced, &none);
    assert_eq!((revived.delete, revived.revive), ([pack_id(1)].into(), [pack_id(2)].into()));
    assert_eq!(revived.records_done, vec![0], "a revived pack does not hold its record back");
    let copied = plan_at(30 * minute, &[], &referenced, &referenced);
    assert_eq!(copied.delete.len(), 2, "{copied:?}");
}

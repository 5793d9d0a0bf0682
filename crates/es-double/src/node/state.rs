//! The cluster a double keeps: repositories, indices with their documents and restores, SLM
//! policies, injected failures, recorded requests; and the lookups every API makes on it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::spec::RestSpec;
use crate::wildcard::wildcard_match;

use super::config::{DoubleConfig, SnapIndex, StoredSnapshot};
use super::http::{EsErr, index_not_found, repo_missing, snapshot_missing};
use super::text::now_ms;

/// Bytes of an empty shard on disk (`_cat/indices` shows `260b` for an empty one-shard index).
pub(super) const EMPTY_SHARD_BYTES: u64 = 260;

#[derive(Debug, Clone)]
pub(super) struct Repo {
    pub(super) repo_type: String,
    pub(super) settings: BTreeMap<String, String>,
    pub(super) key: String,
}

/// One restored primary on its way from the snapshot to `STARTED`.
#[derive(Debug, Clone)]
pub(super) struct ShardRestore {
    /// Position in the node's allocation queue (restores are queued in the order they arrive).
    pub(super) seq: u64,
    /// When the restore created the shard (`UNASSIGNED`, reason `NEW_INDEX_RESTORED`).
    pub(super) enqueued: Instant,
    /// When the allocator gave it a recovery slot (`INITIALIZING`); `None` while throttled.
    pub(super) started: Option<Instant>,
    /// The recovery fails when it ends and is not retried (injected).
    pub(super) fails: bool,
    /// The allocation deciders say NO (disk above the high watermark): it is never allocated.
    pub(super) refused: bool,
}

#[derive(Debug, Clone)]
pub(super) struct IndexRestore {
    pub(super) repository: String,
    pub(super) snapshot: String,
    pub(super) source: String,
    pub(super) shard_time: Duration,
    pub(super) shards: Vec<ShardRestore>,
    pub(super) restore_uuid: String,
    pub(super) version: String,
}

/// Where a primary of an index is. The model follows Elasticsearch 7.x-9.x:
///
/// * A restore creates every primary `UNASSIGNED` with recovery source `SNAPSHOT`. The allocator
///   starts at most `node_initial_primaries_recoveries` primary recoveries per node at a time
///   (`ThrottlingAllocationDecider`); the others stay unassigned and have no recovery state, so
///   `_recovery` and `_cat/recovery` do not list them.
/// * Health of an inactive primary (`ClusterShardHealth.getInactivePrimaryHealth`): YELLOW while
///   its recovery source is `SNAPSHOT`, it has no failed allocation and the deciders did not say
///   NO — queued or initializing restores are yellow, not red. RED once an allocation failed
///   (`ALLOCATION_FAILED`) or the deciders refuse it (`DECIDERS_NO`, e.g. the disk watermark).
/// * A failed restore recovery is modelled as failing for good (as Elasticsearch does for a
///   corrupt snapshot: the restore marks the shard `FAILURE` and `RestoreInProgressAllocationDecider`
///   answers NO), so the primary stays unassigned, red, with no recovery state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ShardState {
    /// Unassigned, waiting for a recovery slot (yellow).
    Queued,
    /// Initializing: recovering from the snapshot, with the fraction copied (yellow).
    Initializing(f64),
    /// Active.
    Started,
    /// Unassigned after its recovery failed (red).
    Failed,
    /// Unassigned, the deciders refuse to allocate it (red).
    Refused,
}

impl ShardState {
    /// Whether the shard has a recovery state (listed by `_recovery`).
    pub(super) fn in_recovery(self) -> bool {
        matches!(self, ShardState::Initializing(_) | ShardState::Started)
    }

    /// Unassigned with an allocation that failed or was refused: red.
    pub(super) fn is_red(self) -> bool {
        matches!(self, ShardState::Failed | ShardState::Refused)
    }

    pub(super) fn is_unassigned(self) -> bool {
        matches!(self, ShardState::Queued | ShardState::Failed | ShardState::Refused)
    }

    /// Fraction of the shard's bytes present on the node.
    pub(super) fn fraction(self) -> f64 {
        match self {
            ShardState::Started => 1.0,
            ShardState::Initializing(f) => f,
            _ => 0.0,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Index {
    pub(super) uuid: String,
    pub(super) shards: u32,
    pub(super) replicas: u32,
    pub(super) time_field: String,
    pub(super) docs: Vec<i64>,
    pub(super) bytes_per_doc: u64,
    pub(super) open: bool,
    pub(super) restore: Option<IndexRestore>,
}

impl Index {
    pub(super) fn shard_state(&self, k: u32, now: Instant) -> ShardState {
        let Some(r) = &self.restore else { return ShardState::Started };
        let Some(s) = r.shards.get(k as usize) else { return ShardState::Started };
        if s.refused {
            return ShardState::Refused;
        }
        let Some(start) = s.started else { return ShardState::Queued };
        if now < start + r.shard_time {
            let f = (now - start).as_secs_f64() / r.shard_time.as_secs_f64().max(1e-9);
            return ShardState::Initializing(f.clamp(0.0, 1.0));
        }
        if s.fails { ShardState::Failed } else { ShardState::Started }
    }

    /// Unassigned primaries whose allocation failed or was refused (red, no recovery state).
    pub(super) fn red_primaries(&self, now: Instant) -> u32 {
        (0..self.shards).filter(|k| self.shard_state(*k, now).is_red()).count() as u32
    }

    pub(super) fn unassigned_primaries(&self, now: Instant) -> u32 {
        (0..self.shards).filter(|k| self.shard_state(*k, now).is_unassigned()).count() as u32
    }

    pub(super) fn shard_done(&self, k: u32, now: Instant) -> bool {
        self.shard_state(k, now) == ShardState::Started
    }

    pub(super) fn docs_in_shard(&self, k: u32) -> u64 {
        (0..self.docs.len()).filter(|i| (*i as u32) % self.shards.max(1) == k).count() as u64
    }

    pub(super) fn shard_bytes(&self, k: u32) -> u64 {
        EMPTY_SHARD_BYTES + self.docs_in_shard(k) * self.bytes_per_doc
    }

    /// Size of the index's data (what a snapshot of it holds).
    pub(super) fn store_bytes(&self) -> u64 {
        (0..self.shards).map(|k| self.shard_bytes(k)).sum()
    }

    /// Bytes on the node's disk now: a restoring shard only has the part copied so far, a queued
    /// or failed one nothing.
    pub(super) fn disk_bytes(&self, now: Instant) -> u64 {
        (0..self.shards).map(|k| (self.shard_bytes(k) as f64 * self.shard_state(k, now).fraction()) as u64).sum()
    }

    pub(super) fn active_primaries(&self, now: Instant) -> u32 {
        (0..self.shards).filter(|k| self.shard_done(*k, now)).count() as u32
    }

    pub(super) fn initializing(&self, now: Instant) -> u32 {
        (0..self.shards).filter(|k| matches!(self.shard_state(*k, now), ShardState::Initializing(_))).count() as u32
    }

    /// Visible docs: those of started primaries; `None` when no primary is started.
    pub(super) fn visible_docs(&self, now: Instant) -> Option<u64> {
        let active: Vec<u32> = (0..self.shards).filter(|k| self.shard_done(*k, now)).collect();
        if active.is_empty() { None } else { Some(active.iter().map(|k| self.docs_in_shard(*k)).sum()) }
    }

    /// Health of one shard group (primary and its replicas on the single node).
    pub(super) fn shard_health(&self, k: u32, now: Instant) -> &'static str {
        match self.shard_state(k, now) {
            ShardState::Failed | ShardState::Refused => "red",
            ShardState::Queued | ShardState::Initializing(_) => "yellow",
            ShardState::Started if self.replicas > 0 => "yellow",
            ShardState::Started => "green",
        }
    }

    pub(super) fn health(&self, now: Instant) -> &'static str {
        let mut worst = "green";
        for k in 0..self.shards {
            match self.shard_health(k, now) {
                "red" => return "red",
                "yellow" => worst = "yellow",
                _ => {}
            }
        }
        worst
    }
}

/// A request the double received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Method.
    pub method: String,
    /// Raw path.
    pub path: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    /// The API it matched, if any.
    pub api: Option<String>,
    /// Response status.
    pub status: u16,
}

#[derive(Debug, Default)]
pub(super) struct Injections {
    pub(super) snapshot_shard_failures: Vec<(String, u32)>,
    pub(super) restore_shard_failures: Vec<(String, u32)>,
    pub(super) verify_failures: BTreeSet<String>,
}

#[derive(Debug)]
pub(super) struct SlmEntry {
    pub(super) policy: Value,
    pub(super) version: u64,
    pub(super) modified_ms: i64,
    pub(super) last_success: Option<(String, i64)>,
}

#[derive(Debug)]
pub(super) struct Cluster {
    pub(super) uuid: String,
    pub(super) repos: BTreeMap<String, Repo>,
    pub(super) indices: BTreeMap<String, Index>,
    pub(super) slm: BTreeMap<String, SlmEntry>,
    pub(super) inject: Injections,
    pub(super) disk_used: u64,
    pub(super) disk_total: u64,
    pub(super) requests: Vec<RecordedRequest>,
    pub(super) violations: Vec<String>,
    pub(super) rng: u64,
    /// `node_initial_primaries_recoveries`.
    pub(super) primaries_limit: u32,
    /// Next position in the allocation queue.
    pub(super) queue_seq: u64,
}

impl Cluster {
    /// Gives queued restored primaries a recovery slot, in queue order, at the moment one became
    /// free (at most `primaries_limit` primaries recover at once; a failing recovery holds its slot
    /// until it fails). Runs whenever the state is read, so every answer sees the schedule as of now.
    pub(super) fn schedule(&mut self, now: Instant) {
        let limit = self.primaries_limit.max(1) as usize;
        let mut finishes: Vec<Instant> = vec![];
        let mut queued: Vec<(u64, Instant, String, usize)> = vec![];
        for (name, i) in &self.indices {
            let Some(r) = &i.restore else { continue };
            for (k, s) in r.shards.iter().enumerate() {
                match s.started {
                    _ if s.refused => {}
                    Some(t) => finishes.push(t + r.shard_time),
                    None => queued.push((s.seq, s.enqueued, name.clone(), k)),
                }
            }
        }
        queued.sort_by_key(|q| q.0);
        for (_, enqueued, name, k) in queued {
            // Recoveries still running when this shard was queued, by finish time: a slot is free
            // once fewer than `limit` of them are left.
            let mut running: Vec<Instant> = finishes.iter().copied().filter(|f| *f > enqueued).collect();
            running.sort();
            let start = if running.len() < limit { enqueued } else { running[running.len() - limit] };
            if start > now {
                break;
            }
            let Some(r) = self.indices.get_mut(&name).and_then(|i| i.restore.as_mut()) else { continue };
            let Some(s) = r.shards.get_mut(k) else { continue };
            s.started = Some(start);
            finishes.push(start + r.shard_time);
        }
    }

    pub(super) fn random_id(&mut self, len: usize, lowercase: bool) -> String {
        const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let set = if lowercase { LOWER } else { ALPHA };
        (0..len)
            .map(|_| {
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                set[(self.rng % set.len() as u64) as usize] as char
            })
            .collect()
    }
}

pub(super) struct Shared {
    pub(super) cfg: DoubleConfig,
    pub(super) spec: RestSpec,
    pub(super) major: u32,
    pub(super) cluster: Mutex<Cluster>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Cluster> {
        let mut c = self.cluster.lock().unwrap_or_else(|p| p.into_inner());
        c.schedule(Instant::now());
        c
    }
}

pub(super) fn snap_index(name: &str, idx: &Index) -> SnapIndex {
    SnapIndex {
        name: name.to_string(),
        uuid: idx.uuid.clone(),
        shards: idx.shards,
        replicas: idx.replicas,
        time_field: idx.time_field.clone(),
        docs: idx.docs.clone(),
        bytes_per_doc: idx.bytes_per_doc,
        failed_shards: BTreeSet::new(),
    }
}

/// Finalises running snapshots whose time has come.
pub(super) fn tick(shared: &Shared) {
    let mut store = shared.cfg.blob_store.lock();
    let now = Instant::now();
    for list in store.values_mut() {
        for s in list.iter_mut() {
            if s.state == "IN_PROGRESS" && s.finish_at.is_some_and(|f| now >= f) {
                s.state = if s.failures.is_empty() { "SUCCESS".into() } else { "PARTIAL".into() };
                s.end_ms = now_ms();
                s.finish_at = None;
            }
        }
    }
}

pub(super) fn repo_of(c: &Cluster, name: &str) -> Result<Repo, EsErr> {
    c.repos.get(name).cloned().ok_or_else(|| repo_missing(name))
}

pub(super) fn find_snapshot(shared: &Shared, repo: &str, name: &str) -> Result<StoredSnapshot, EsErr> {
    tick(shared);
    let r = repo_of(&shared.lock(), repo)?;
    let store = shared.cfg.blob_store.lock();
    store
        .get(&r.key)
        .and_then(|l| l.iter().find(|s| s.name == name).cloned())
        .ok_or_else(|| snapshot_missing(repo, name))
}

/// Expands an index expression to existing index names.
pub(super) fn expand_indices(
    c: &Cluster,
    expr: Option<&str>,
    ignore_unavailable: bool,
    include_hidden: bool,
) -> Result<Vec<String>, EsErr> {
    let mut out: Vec<String> = vec![];
    let expr = expr.unwrap_or("_all");
    for p in expr.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if p == "_all" || p.contains('*') {
            let pat = if p == "_all" { "*" } else { p };
            for n in c.indices.keys() {
                if wildcard_match(pat, n) && (include_hidden || !n.starts_with('.')) && !out.contains(n) {
                    out.push(n.clone());
                }
            }
        } else if c.indices.contains_key(p) {
            if !out.iter().any(|x| x == p) {
                out.push(p.to_string());
            }
        } else if !ignore_unavailable {
            return Err(index_not_found(p));
        }
    }
    out.sort();
    Ok(out)
}

/// (total, used, available, used by indices) of the node. A restore shows only the bytes copied
/// so far, as a node's filesystem stats do.
pub(super) fn disk(_shared: &Shared, c: &Cluster) -> (u64, u64, u64, u64) {
    let now = Instant::now();
    let indices: u64 = c.indices.values().map(|i| i.disk_bytes(now)).sum();
    let total = c.disk_total;
    let used = (c.disk_used + indices).min(total);
    (total, used, total - used, indices)
}

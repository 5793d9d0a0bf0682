//! A wire-level Elasticsearch test double: an in-process HTTP/1.1 server that answers the snapshot
//! and restore APIs the way Elasticsearch does.
//!
//! * Every request is checked against the REST spec ([`RestSpec`]): an undeclared path, method,
//!   parameter or option is answered like Elasticsearch answers it (400 "no handler found", 405
//!   "Incorrect HTTP method", 400 "unrecognized parameter") and recorded as a violation.
//! * Bodies follow the recorded examples in `shared/es-rest-api-spec/examples`: the error envelope
//!   and its status codes, `_cat` values as strings (bare integers with `bytes=b`), `PARTIAL`
//!   snapshots answering 200 with `failures`, restores onto an open index failing with
//!   `snapshot_restore_exception`, deletes blocked by a running snapshot answering 503
//!   `concurrent_snapshot_execution_exception`, and version-specific shapes (7.x omits `repository`,
//!   `total` and `remaining` in snapshot listings).
//! * It keeps state: repositories (snapshot data lives in a [`BlobStore`] that a second double can
//!   share, to model a second cluster reading the same bucket), snapshots, indices with documents,
//!   restores whose shards recover over time, disk usage.
//! * Restores behave as in Elasticsearch (see `ShardState`): at most
//!   `node_initial_primaries_recoveries` primaries recover at once, the others wait unassigned with
//!   no recovery state and yellow health; a failed recovery leaves its primary unassigned and red;
//!   disk usage grows only as bytes are copied. Every response of 7.14+ carries
//!   `X-elastic-product: Elasticsearch`.
//! * It injects failures: a shard that fails in a snapshot or a restore, a running snapshot that
//!   blocks deletes, a full disk, a repository that fails verification, and authentication.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

use crate::serve::spawn_server;
use crate::spec::{RestSpec, SpecViolation, default_spec_root, percent_decode};
use crate::wildcard::wildcard_match;

/// Bytes of an empty shard on disk (`_cat/indices` shows `260b` for an empty one-shard index).
const EMPTY_SHARD_BYTES: u64 = 260;

/// Credentials the double requires.
#[derive(Clone, PartialEq, Eq)]
pub enum DoubleAuth {
    /// HTTP basic.
    Basic {
        /// User.
        username: String,
        /// Password.
        password: String,
    },
    /// API key id and secret (`Authorization: ApiKey base64(id:key)`).
    ApiKey {
        /// Key id.
        id: String,
        /// Key secret.
        key: String,
    },
}

impl std::fmt::Debug for DoubleAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DoubleAuth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            DoubleAuth::ApiKey { id, .. } => write!(f, "ApiKey({id}, <redacted>)"),
        }
    }
}

/// Snapshot data shared between doubles, keyed by repository location (`fs:<path>` or
/// `s3:<bucket>/<base_path>`), like a bucket two clusters can both read.
#[derive(Debug, Clone, Default)]
pub struct BlobStore(Arc<Mutex<BTreeMap<String, Vec<StoredSnapshot>>>>);

impl BlobStore {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Vec<StoredSnapshot>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Snapshot names stored at a location key.
    pub fn snapshot_names(&self, location_key: &str) -> Vec<String> {
        self.lock().get(location_key).map(|v| v.iter().map(|s| s.name.clone()).collect()).unwrap_or_default()
    }
}

/// Configuration of a double.
#[derive(Debug, Clone)]
pub struct DoubleConfig {
    /// Version to impersonate, e.g. `8.19.0`, `9.1.0` or `7.10.0`.
    pub version: String,
    /// Spec directory (`.../api` or `.../api-8.19`). Default: chosen from the version under
    /// [`default_spec_root`].
    pub spec_dir: Option<PathBuf>,
    /// `path.repo`: allowed roots of `fs` repositories. Empty refuses every `fs` repository, as
    /// Elasticsearch does.
    pub path_repo: Vec<String>,
    /// Total disk bytes of the single data node.
    pub disk_total: u64,
    /// Disk bytes used by other things than indices.
    pub disk_used: u64,
    /// How long one shard takes to restore once its recovery has started.
    pub shard_restore_time: Duration,
    /// `cluster.routing.allocation.node_initial_primaries_recoveries` (Elasticsearch's default is 4):
    /// how many primaries the single data node recovers at once. A restored primary beyond that
    /// waits `UNASSIGNED` (reason `NEW_INDEX_RESTORED`) until a slot frees up.
    pub node_initial_primaries_recoveries: u32,
    /// How long a snapshot started without `wait_for_completion` runs.
    pub snapshot_time: Duration,
    /// Required credentials.
    pub auth: Option<DoubleAuth>,
    /// Snapshot storage (share it to model a second cluster).
    pub blob_store: BlobStore,
    /// Cluster name.
    pub cluster_name: String,
}

impl Default for DoubleConfig {
    fn default() -> Self {
        DoubleConfig {
            version: "8.19.0".into(),
            spec_dir: None,
            path_repo: vec!["/mnt/backups".into()],
            disk_total: 100 * 1024 * 1024 * 1024,
            disk_used: 40 * 1024 * 1024 * 1024,
            shard_restore_time: Duration::from_millis(150),
            node_initial_primaries_recoveries: 4,
            snapshot_time: Duration::from_millis(200),
            auth: None,
            blob_store: BlobStore::default(),
            cluster_name: "lifeboat-double".into(),
        }
    }
}

/// An index to create in the double.
#[derive(Debug, Clone)]
pub struct IndexSeed {
    /// Primary shards.
    pub shards: u32,
    /// Replicas (unassigned on the single node, making the index yellow).
    pub replicas: u32,
    /// Date field holding the timestamps.
    pub time_field: String,
    /// One timestamp (epoch millis) per document.
    pub timestamps: Vec<i64>,
    /// Bytes per document on disk.
    pub bytes_per_doc: u64,
}

impl IndexSeed {
    /// `docs` documents spread evenly over the UTC day `day` (`YYYY-MM-DD`), 2 shards.
    pub fn daily(day: &str, docs: usize) -> Self {
        let start = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .map(|d| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default()).timestamp_millis())
            .unwrap_or(0);
        let step = if docs == 0 { 0 } else { 86_400_000 / docs as i64 };
        IndexSeed {
            shards: 2,
            replicas: 0,
            time_field: "@timestamp".into(),
            timestamps: (0..docs as i64).map(|i| start + 1000 + i * step).collect(),
            bytes_per_doc: 512,
        }
    }
}

/// A snapshot as stored in a repository.
#[derive(Debug, Clone)]
pub struct StoredSnapshot {
    /// Name.
    pub name: String,
    /// UUID.
    pub uuid: String,
    /// `IN_PROGRESS`, `SUCCESS`, `PARTIAL`, `FAILED`.
    pub state: String,
    indices: Vec<SnapIndex>,
    /// Start (epoch millis).
    pub start_ms: i64,
    /// End (epoch millis).
    pub end_ms: i64,
    finish_at: Option<Instant>,
    failures: Vec<(String, String, u32, String)>,
    metadata: Option<Value>,
    include_global_state: bool,
    version: String,
}

#[derive(Debug, Clone)]
struct SnapIndex {
    name: String,
    uuid: String,
    shards: u32,
    replicas: u32,
    time_field: String,
    docs: Vec<i64>,
    bytes_per_doc: u64,
    failed_shards: BTreeSet<u32>,
}

#[derive(Debug, Clone)]
struct Repo {
    repo_type: String,
    settings: BTreeMap<String, String>,
    key: String,
}

/// One restored primary on its way from the snapshot to `STARTED`.
#[derive(Debug, Clone)]
struct ShardRestore {
    /// Position in the node's allocation queue (restores are queued in the order they arrive).
    seq: u64,
    /// When the restore created the shard (`UNASSIGNED`, reason `NEW_INDEX_RESTORED`).
    enqueued: Instant,
    /// When the allocator gave it a recovery slot (`INITIALIZING`); `None` while throttled.
    started: Option<Instant>,
    /// The recovery fails when it ends and is not retried (injected).
    fails: bool,
    /// The allocation deciders say NO (disk above the high watermark): it is never allocated.
    refused: bool,
}

#[derive(Debug, Clone)]
struct IndexRestore {
    repository: String,
    snapshot: String,
    source: String,
    shard_time: Duration,
    shards: Vec<ShardRestore>,
    restore_uuid: String,
    version: String,
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
enum ShardState {
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
    fn in_recovery(self) -> bool {
        matches!(self, ShardState::Initializing(_) | ShardState::Started)
    }

    /// Unassigned with an allocation that failed or was refused: red.
    fn is_red(self) -> bool {
        matches!(self, ShardState::Failed | ShardState::Refused)
    }

    fn is_unassigned(self) -> bool {
        matches!(self, ShardState::Queued | ShardState::Failed | ShardState::Refused)
    }

    /// Fraction of the shard's bytes present on the node.
    fn fraction(self) -> f64 {
        match self {
            ShardState::Started => 1.0,
            ShardState::Initializing(f) => f,
            _ => 0.0,
        }
    }
}

#[derive(Debug, Clone)]
struct Index {
    uuid: String,
    shards: u32,
    replicas: u32,
    time_field: String,
    docs: Vec<i64>,
    bytes_per_doc: u64,
    open: bool,
    restore: Option<IndexRestore>,
}

impl Index {
    fn shard_state(&self, k: u32, now: Instant) -> ShardState {
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
    fn red_primaries(&self, now: Instant) -> u32 {
        (0..self.shards).filter(|k| self.shard_state(*k, now).is_red()).count() as u32
    }

    fn unassigned_primaries(&self, now: Instant) -> u32 {
        (0..self.shards).filter(|k| self.shard_state(*k, now).is_unassigned()).count() as u32
    }

    fn shard_done(&self, k: u32, now: Instant) -> bool {
        self.shard_state(k, now) == ShardState::Started
    }

    fn docs_in_shard(&self, k: u32) -> u64 {
        (0..self.docs.len()).filter(|i| (*i as u32) % self.shards.max(1) == k).count() as u64
    }

    fn shard_bytes(&self, k: u32) -> u64 {
        EMPTY_SHARD_BYTES + self.docs_in_shard(k) * self.bytes_per_doc
    }

    /// Size of the index's data (what a snapshot of it holds).
    fn store_bytes(&self) -> u64 {
        (0..self.shards).map(|k| self.shard_bytes(k)).sum()
    }

    /// Bytes on the node's disk now: a restoring shard only has the part copied so far, a queued
    /// or failed one nothing.
    fn disk_bytes(&self, now: Instant) -> u64 {
        (0..self.shards).map(|k| (self.shard_bytes(k) as f64 * self.shard_state(k, now).fraction()) as u64).sum()
    }

    fn active_primaries(&self, now: Instant) -> u32 {
        (0..self.shards).filter(|k| self.shard_done(*k, now)).count() as u32
    }

    fn initializing(&self, now: Instant) -> u32 {
        (0..self.shards).filter(|k| matches!(self.shard_state(*k, now), ShardState::Initializing(_))).count() as u32
    }

    /// Visible docs: those of started primaries; `None` when no primary is started.
    fn visible_docs(&self, now: Instant) -> Option<u64> {
        let active: Vec<u32> = (0..self.shards).filter(|k| self.shard_done(*k, now)).collect();
        if active.is_empty() { None } else { Some(active.iter().map(|k| self.docs_in_shard(*k)).sum()) }
    }

    /// Health of one shard group (primary and its replicas on the single node).
    fn shard_health(&self, k: u32, now: Instant) -> &'static str {
        match self.shard_state(k, now) {
            ShardState::Failed | ShardState::Refused => "red",
            ShardState::Queued | ShardState::Initializing(_) => "yellow",
            ShardState::Started if self.replicas > 0 => "yellow",
            ShardState::Started => "green",
        }
    }

    fn health(&self, now: Instant) -> &'static str {
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
struct Injections {
    snapshot_shard_failures: Vec<(String, u32)>,
    restore_shard_failures: Vec<(String, u32)>,
    verify_failures: BTreeSet<String>,
}

#[derive(Debug)]
struct SlmEntry {
    policy: Value,
    version: u64,
    modified_ms: i64,
    last_success: Option<(String, i64)>,
}

#[derive(Debug)]
struct Cluster {
    uuid: String,
    repos: BTreeMap<String, Repo>,
    indices: BTreeMap<String, Index>,
    slm: BTreeMap<String, SlmEntry>,
    inject: Injections,
    disk_used: u64,
    disk_total: u64,
    requests: Vec<RecordedRequest>,
    violations: Vec<String>,
    rng: u64,
    /// `node_initial_primaries_recoveries`.
    primaries_limit: u32,
    /// Next position in the allocation queue.
    queue_seq: u64,
}

impl Cluster {
    /// Gives queued restored primaries a recovery slot, in queue order, at the moment one became
    /// free (at most `primaries_limit` primaries recover at once; a failing recovery holds its slot
    /// until it fails). Runs whenever the state is read, so every answer sees the schedule as of now.
    fn schedule(&mut self, now: Instant) {
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

    fn random_id(&mut self, len: usize, lowercase: bool) -> String {
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

struct Shared {
    cfg: DoubleConfig,
    spec: RestSpec,
    major: u32,
    cluster: Mutex<Cluster>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Cluster> {
        let mut c = self.cluster.lock().unwrap_or_else(|p| p.into_inner());
        c.schedule(Instant::now());
        c
    }
}

/// The running double. Dropping it stops the server.
pub struct EsDouble {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for EsDouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsDouble").field("url", &self.url()).field("version", &self.shared.cfg.version).finish()
    }
}

impl Drop for EsDouble {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Resp = Response<Full<Bytes>>;

/// Whether a version sends `X-elastic-product: Elasticsearch`: every response of 7.14 and later
/// does (errors included); 7.10-7.13 send no such header.
fn sends_product_header(version: &str) -> bool {
    let mut p = version.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    let (major, minor) = (p.next().unwrap_or(0), p.next().unwrap_or(0));
    (major, minor) >= (7, 14)
}

fn json_resp(status: u16, body: &Value, product_header: bool) -> Resp {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json");
    if product_header {
        b = b.header("x-elastic-product", "Elasticsearch");
    }
    b.body(Full::new(Bytes::from(body.to_string()))).unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn text_resp(status: u16, body: String, product_header: bool) -> Resp {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .header("content-type", "text/plain; charset=UTF-8");
    if product_header {
        b = b.header("x-elastic-product", "Elasticsearch");
    }
    b.body(Full::new(Bytes::from(body))).unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// An error answer: status and the Elasticsearch error envelope.
#[derive(Debug)]
struct EsErr {
    status: u16,
    body: Value,
}

fn es_err(status: u16, ty: &str, reason: impl Into<String>) -> EsErr {
    let reason = reason.into();
    let cause = json!({"type": ty, "reason": reason});
    EsErr {
        status,
        body: json!({"error": {"root_cause": [cause.clone()], "type": ty, "reason": reason}, "status": status}),
    }
}

fn index_not_found(index: &str) -> EsErr {
    let cause = json!({
        "type": "index_not_found_exception",
        "reason": format!("no such index [{index}]"),
        "resource.type": "index_or_alias",
        "resource.id": index,
        "index_uuid": "_na_",
        "index": index
    });
    let mut top = cause.clone();
    top["root_cause"] = json!([cause]);
    EsErr { status: 404, body: json!({"error": top, "status": 404}) }
}

fn repo_missing(name: &str) -> EsErr {
    es_err(404, "repository_missing_exception", format!("[{name}] missing"))
}

fn snapshot_missing(repo: &str, name: &str) -> EsErr {
    es_err(404, "snapshot_missing_exception", format!("[{repo}:{name}] is missing"))
}

type HResult = Result<(u16, Value), EsErr>;

fn ok(v: Value) -> HResult {
    Ok((200, v))
}

fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()).unwrap_or_default()
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn version_id(version: &str) -> i64 {
    let p: Vec<i64> = version.split('.').map(|x| x.parse().unwrap_or(0)).collect();
    p.first().copied().unwrap_or(0) * 1_000_000
        + p.get(1).copied().unwrap_or(0) * 10_000
        + p.get(2).copied().unwrap_or(0) * 100
        + 99
}

/// Formats bytes the way `_cat` does without `bytes=`: `260b`, `88.1kb`, `1gb`.
fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["b", "kb", "mb", "gb", "tb", "pb"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        return format!("{b}b");
    }
    let s = format!("{v:.1}");
    format!("{}{}", s.strip_suffix(".0").unwrap_or(&s), UNITS[u])
}

fn fmt_bytes(b: u64, query: &BTreeMap<String, String>) -> String {
    match query.get("bytes").map(String::as_str) {
        Some("b") => b.to_string(),
        Some("kb") | Some("k") => (b / 1024).to_string(),
        Some("mb") | Some("m") => (b / 1024 / 1024).to_string(),
        Some("gb") | Some("g") => (b / 1024 / 1024 / 1024).to_string(),
        _ => human_bytes(b),
    }
}

fn truthy(query: &BTreeMap<String, String>, key: &str, default: bool) -> bool {
    match query.get(key).map(String::as_str) {
        Some("true") | Some("") => true,
        Some("false") => false,
        _ => default,
    }
}

/// Resolves a date-math snapshot name such as `<daily-{now/d}>` or `<m-{now/M{yyyy.MM}}>`.
fn resolve_date_math(name: &str, now: DateTime<Utc>) -> Result<String, String> {
    let Some(inner) = name.strip_prefix('<').and_then(|n| n.strip_suffix('>')) else {
        return Ok(name.to_string());
    };
    let mut out = String::new();
    let chars: Vec<char> = inner.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '{' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // {expr} or {expr{format}}
        let mut depth = 0;
        let mut j = i;
        while j < chars.len() {
            match chars[j] {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        if j >= chars.len() {
            return Err(format!("invalid date math expression [{name}]: unbalanced '{{'"));
        }
        let body: String = chars[i + 1..j].iter().collect();
        let (expr, format) = match body.find('{') {
            Some(p) => (body[..p].to_string(), body[p + 1..body.len() - 1].to_string()),
            None => (body.clone(), "yyyy.MM.dd".to_string()),
        };
        let format = format.split('|').next().unwrap_or("yyyy.MM.dd").to_string();
        let t = eval_date_math(&expr, now).ok_or_else(|| format!("invalid date math expression [{expr}]"))?;
        let f = format
            .replace("yyyy", "%Y")
            .replace("MM", "%m")
            .replace("dd", "%d")
            .replace("HH", "%H")
            .replace("mm", "%M")
            .replace("ss", "%S");
        out.push_str(&t.format(&f).to_string());
        i = j + 1;
    }
    Ok(out)
}

fn eval_date_math(expr: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let rest = expr.strip_prefix("now")?;
    let mut t = now;
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '+' | '-' => {
                let sign = if chars[i] == '-' { -1 } else { 1 };
                i += 1;
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let n: i64 = chars[start..i].iter().collect::<String>().parse().ok()?;
                let unit = *chars.get(i)?;
                i += 1;
                let d = match unit {
                    'd' => chrono::Duration::days(n),
                    'h' | 'H' => chrono::Duration::hours(n),
                    'm' => chrono::Duration::minutes(n),
                    's' => chrono::Duration::seconds(n),
                    'w' => chrono::Duration::weeks(n),
                    _ => return None,
                };
                t += d * sign;
            }
            '/' => {
                let unit = *chars.get(i + 1)?;
                i += 2;
                t = match unit {
                    'd' => Utc.with_ymd_and_hms(t.year(), t.month(), t.day(), 0, 0, 0).single()?,
                    'h' | 'H' => Utc.with_ymd_and_hms(t.year(), t.month(), t.day(), t.hour(), 0, 0).single()?,
                    'M' => Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0).single()?,
                    'y' => Utc.with_ymd_and_hms(t.year(), 1, 1, 0, 0, 0).single()?,
                    _ => return None,
                };
            }
            _ => return None,
        }
    }
    Some(t)
}

fn validate_snapshot_name(repo: &str, name: &str) -> Result<(), EsErr> {
    let bad = |why: &str| {
        es_err(400, "invalid_snapshot_name_exception", format!("[{repo}:{name}] Invalid snapshot name [{name}], {why}"))
    };
    if name.is_empty() {
        return Err(bad("cannot be empty"));
    }
    if name.contains(char::is_whitespace) {
        return Err(bad("must not contain whitespace"));
    }
    if name.contains('#') {
        return Err(bad("must not contain '#'"));
    }
    if name.starts_with('_') {
        return Err(bad("must not start with '_'"));
    }
    if name.to_lowercase() != name {
        return Err(bad("must be lowercase"));
    }
    if name.chars().any(|c| "\\/*?\"<>|,".contains(c)) {
        return Err(bad("must not contain the following characters [\\, /, *, ?, \", <, >, |, ,]"));
    }
    Ok(())
}

fn validate_index_name(name: &str) -> Result<(), EsErr> {
    let bad = |why: &str| es_err(400, "invalid_index_name_exception", format!("Invalid index name [{name}], {why}"));
    if name.to_lowercase() != name {
        return Err(bad("must be lowercase"));
    }
    if name.starts_with('_') || name.starts_with('-') || name.starts_with('+') {
        return Err(bad("must not start with '_', '-', or '+'"));
    }
    if name.chars().any(|c| "\\/*?\"<>| ,#:".contains(c)) {
        return Err(bad("must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?]"));
    }
    Ok(())
}

fn string_list(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::String(s) => Some(s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()),
        Value::Array(a) => Some(a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()),
        _ => None,
    }
}

/// Converts a Java regex replacement (`$1`, `\$`) to the regex crate's syntax (`${1}`, `$$`).
fn java_replacement(r: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = r.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                if chars[i + 1] == '$' {
                    out.push_str("$$");
                } else {
                    out.push(chars[i + 1]);
                }
                i += 2;
            }
            '$' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
                out.push_str(&format!("${{{}}}", chars[start..j].iter().collect::<String>()));
                i = j;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

impl EsDouble {
    /// Starts a double with the default configuration (ES 8.19, `path.repo` = `/mnt/backups`).
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(DoubleConfig::default()).await
    }

    /// Starts a double on a free loopback port.
    pub async fn start_with(cfg: DoubleConfig) -> std::io::Result<Self> {
        let major: u32 = cfg.version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(8);
        let spec_dir = cfg
            .spec_dir
            .clone()
            .unwrap_or_else(|| default_spec_root().join(if major >= 9 { "api" } else { "api-8.19" }));
        let spec = RestSpec::load(&spec_dir).map_err(std::io::Error::other)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let seed = (Utc::now().timestamp_nanos_opt().unwrap_or(1) as u64) | 1;
        let mut cluster = Cluster {
            uuid: String::new(),
            repos: BTreeMap::new(),
            indices: BTreeMap::new(),
            slm: BTreeMap::new(),
            inject: Injections::default(),
            disk_used: cfg.disk_used,
            disk_total: cfg.disk_total,
            requests: vec![],
            violations: vec![],
            rng: seed,
            primaries_limit: cfg.node_initial_primaries_recoveries,
            queue_seq: 0,
        };
        cluster.uuid = cluster.random_id(22, false);
        let shared = Arc::new(Shared { cfg, spec, major, cluster: Mutex::new(cluster) });
        let task = spawn_server(listener, shared.clone(), handle);
        Ok(EsDouble { addr, shared, task })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The impersonated version.
    pub fn version(&self) -> &str {
        &self.shared.cfg.version
    }

    /// The blob store (share it with a second double through [`DoubleConfig::blob_store`]).
    pub fn blob_store(&self) -> BlobStore {
        self.shared.cfg.blob_store.clone()
    }

    /// The cluster UUID.
    pub fn cluster_uuid(&self) -> String {
        self.shared.lock().uuid.clone()
    }

    /// The spec the double enforces.
    pub fn spec(&self) -> &RestSpec {
        &self.shared.spec
    }

    /// Creates (or replaces) an index with documents.
    pub fn create_index(&self, name: &str, seed: IndexSeed) {
        let mut c = self.shared.lock();
        let uuid = c.random_id(22, false);
        c.indices.insert(
            name.to_string(),
            Index {
                uuid,
                shards: seed.shards.max(1),
                replicas: seed.replicas,
                time_field: seed.time_field,
                docs: seed.timestamps,
                bytes_per_doc: seed.bytes_per_doc,
                open: true,
                restore: None,
            },
        );
    }

    /// Deletes an index directly (as an ILM policy would).
    pub fn drop_index(&self, name: &str) -> bool {
        self.shared.lock().indices.remove(name).is_some()
    }

    /// Names of the indices.
    pub fn index_names(&self) -> Vec<String> {
        self.shared.lock().indices.keys().cloned().collect()
    }

    /// Documents of an index (all of them, recovered or not).
    pub fn index_doc_count(&self, name: &str) -> Option<usize> {
        self.shared.lock().indices.get(name).map(|i| i.docs.len())
    }

    /// Stores a successful snapshot of existing indices with a chosen start time, as if it had
    /// been taken then (for retention and catalog tests).
    pub fn seed_snapshot(
        &self,
        repository: &str,
        name: &str,
        start: DateTime<Utc>,
        indices: &[&str],
    ) -> Result<(), String> {
        let mut c = self.shared.lock();
        let repo = c.repos.get(repository).cloned().ok_or_else(|| format!("no repository {repository}"))?;
        let uuid = c.random_id(22, false);
        let mut snap_indices = vec![];
        for i in indices {
            let idx = c.indices.get(*i).ok_or_else(|| format!("no index {i}"))?;
            snap_indices.push(snap_index(i, idx));
        }
        let start_ms = start.timestamp_millis();
        let snap = StoredSnapshot {
            name: name.to_string(),
            uuid,
            state: "SUCCESS".into(),
            indices: snap_indices,
            start_ms,
            end_ms: start_ms + 1500,
            finish_at: None,
            failures: vec![],
            metadata: None,
            include_global_state: false,
            version: self.shared.cfg.version.clone(),
        };
        let mut store = self.shared.cfg.blob_store.lock();
        let list = store.entry(repo.key).or_default();
        if list.iter().any(|s| s.name == name) {
            return Err(format!("snapshot {name} exists"));
        }
        list.push(snap);
        Ok(())
    }

    /// The next snapshot containing `index` fails on `shard` (the snapshot ends `PARTIAL`).
    pub fn inject_snapshot_shard_failure(&self, index: &str, shard: u32) {
        self.shared.lock().inject.snapshot_shard_failures.push((index.to_string(), shard));
    }

    /// The next restore of `source_index` (its name in the snapshot) fails on `shard`.
    pub fn inject_restore_shard_failure(&self, source_index: &str, shard: u32) {
        self.shared.lock().inject.restore_shard_failures.push((source_index.to_string(), shard));
    }

    /// Verification of `repository` fails from now on.
    pub fn inject_verify_failure(&self, repository: &str) {
        self.shared.lock().inject.verify_failures.insert(repository.to_string());
    }

    /// Starts a snapshot of every open index in `repository` that runs for `duration`; while it runs
    /// snapshot deletes in that repository answer 503 `concurrent_snapshot_execution_exception`.
    pub fn start_blocking_snapshot(&self, repository: &str, name: &str, duration: Duration) -> Result<(), String> {
        let mut c = self.shared.lock();
        let repo = c.repos.get(repository).cloned().ok_or_else(|| format!("no repository {repository}"))?;
        let uuid = c.random_id(22, false);
        let indices: Vec<SnapIndex> = c.indices.iter().filter(|(_, i)| i.open).map(|(n, i)| snap_index(n, i)).collect();
        let start_ms = now_ms();
        self.shared.cfg.blob_store.lock().entry(repo.key).or_default().push(StoredSnapshot {
            name: name.to_string(),
            uuid,
            state: "IN_PROGRESS".into(),
            indices,
            start_ms,
            end_ms: 0,
            finish_at: Some(Instant::now() + duration),
            failures: vec![],
            metadata: None,
            include_global_state: false,
            version: self.shared.cfg.version.clone(),
        });
        Ok(())
    }

    /// Sets disk usage not caused by indices.
    pub fn set_disk(&self, total: u64, used_by_others: u64) {
        let mut c = self.shared.lock();
        c.disk_total = total;
        c.disk_used = used_by_others;
    }

    /// Fills the disk to 97% of its total.
    pub fn fill_disk(&self) {
        let mut c = self.shared.lock();
        let total = c.disk_total;
        let now = Instant::now();
        let indices: u64 = c.indices.values().map(|i| i.disk_bytes(now)).sum();
        c.disk_used = (total as f64 * 0.97) as u64 - indices.min((total as f64 * 0.97) as u64);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Requests that did not conform to the REST spec.
    pub fn spec_violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }
}

fn snap_index(name: &str, idx: &Index) -> SnapIndex {
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

fn basic_header(user: &str, pass: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{pass}").as_bytes()))
}

fn base64(input: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    out
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(raw_query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let auth_header = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let product = sends_product_header(&shared.cfg.version);
    let decoded_path = percent_decode(&path);

    // Authentication first, as the security layer does.
    if let Some(auth) = &shared.cfg.auth {
        let expected = match auth {
            DoubleAuth::Basic { username, password } => basic_header(username, password),
            DoubleAuth::ApiKey { id, key } => format!("ApiKey {}", base64(format!("{id}:{key}").as_bytes())),
        };
        if auth_header.as_deref() != Some(expected.as_str()) {
            let reason = match (&auth_header, auth) {
                (None, _) => format!("missing authentication credentials for REST request [{decoded_path}]"),
                (Some(_), DoubleAuth::Basic { .. }) => {
                    format!("unable to authenticate user for REST request [{decoded_path}]")
                }
                (Some(_), DoubleAuth::ApiKey { .. }) => "unable to authenticate with provided credentials".into(),
            };
            let cause = json!({"type": "security_exception", "reason": reason,
                "header": {"WWW-Authenticate": ["Basic realm=\"security\", charset=\"UTF-8\"", "ApiKey"]}});
            let mut top = cause.clone();
            top["root_cause"] = json!([cause]);
            let mut c = shared.lock();
            c.requests.push(RecordedRequest { method, path, query, api: None, status: 401 });
            return json_resp(401, &json!({"error": top, "status": 401}), product);
        }
    }

    let has_body = !body.is_empty();
    let matched = shared.spec.match_request(&method, &path, &query, has_body);
    let m = match matched {
        Ok(m) => m,
        Err(SpecViolation { status, message, error_type }) => {
            let resp_body = match &error_type {
                Some(t) => es_err(status, t, message.clone()).body,
                None => json!({"error": message, "status": status}),
            };
            let mut c = shared.lock();
            c.violations.push(format!("{method} {path}?{raw_query}: {message}"));
            c.requests.push(RecordedRequest { method, path, query, api: None, status });
            return json_resp(status, &resp_body, product);
        }
    };
    let qmap: BTreeMap<String, String> = query.iter().cloned().collect();
    let body_json: Option<Value> = if has_body {
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(e) => {
                let err = es_err(400, "x_content_parse_exception", format!("[1:1] failed to parse request body: {e}"));
                let mut c = shared.lock();
                c.requests.push(RecordedRequest { method, path, query, api: Some(m.api), status: 400 });
                return json_resp(err.status, &err.body, product);
            }
        }
    } else {
        None
    };

    let api = m.api.clone();
    let result = dispatch(&shared, &api, &method, &m.parts, &qmap, body_json.as_ref()).await;
    let (status, resp) = match result {
        Ok(Reply::Json(status, v)) => (status, json_resp(status, &v, product)),
        Ok(Reply::Text(t)) => (200, text_resp(200, t, product)),
        Err(e) => (e.status, json_resp(e.status, &e.body, product)),
    };
    shared.lock().requests.push(RecordedRequest { method, path, query, api: Some(api), status });
    resp
}

enum Reply {
    Json(u16, Value),
    Text(String),
}

fn part<'a>(parts: &'a BTreeMap<String, String>, k: &str) -> &'a str {
    parts.get(k).map(String::as_str).unwrap_or("")
}

async fn dispatch(
    shared: &Arc<Shared>,
    api: &str,
    method: &str,
    parts: &BTreeMap<String, String>,
    q: &BTreeMap<String, String>,
    body: Option<&Value>,
) -> Result<Reply, EsErr> {
    let json = |r: HResult| r.map(|(s, v)| Reply::Json(s, v));
    match api {
        "info" => json(info(shared)),
        "snapshot.create_repository" => json(put_repository(shared, part(parts, "repository"), q, body)),
        "snapshot.get_repository" => json(get_repository(shared, parts.get("repository").map(String::as_str))),
        "snapshot.delete_repository" => json(delete_repository(shared, part(parts, "repository"))),
        "snapshot.verify_repository" => json(verify_repository(shared, part(parts, "repository"))),
        "snapshot.create" => {
            let wait = truthy(q, "wait_for_completion", false);
            let r = create_snapshot(shared, part(parts, "repository"), part(parts, "snapshot"), body, None)?;
            if !wait {
                return Ok(Reply::Json(200, json!({"accepted": true})));
            }
            let (repo, name) = (part(parts, "repository").to_string(), r);
            loop {
                let snap = find_snapshot(shared, &repo, &name)?;
                if snap.state != "IN_PROGRESS" {
                    return Ok(Reply::Json(200, json!({"snapshot": snapshot_json(shared, &repo, &snap, true)})));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        "snapshot.get" => json(get_snapshots(shared, part(parts, "repository"), part(parts, "snapshot"), q)),
        "snapshot.status" => json(snapshot_status(
            shared,
            parts.get("repository").map(String::as_str),
            parts.get("snapshot").map(String::as_str),
            q,
        )),
        "snapshot.delete" => json(delete_snapshots(shared, part(parts, "repository"), part(parts, "snapshot"))),
        "snapshot.restore" => {
            let targets = restore(shared, part(parts, "repository"), part(parts, "snapshot"), body)?;
            if !truthy(q, "wait_for_completion", false) {
                return Ok(Reply::Json(200, json!({"accepted": true})));
            }
            loop {
                let (done, total, failed) = {
                    let c = shared.lock();
                    let now = Instant::now();
                    let mut t = 0;
                    let mut d = 0;
                    let mut f = 0;
                    for name in &targets {
                        if let Some(i) = c.indices.get(name) {
                            t += i.shards;
                            d += i.active_primaries(now);
                            f += i.red_primaries(now);
                        }
                    }
                    (d, t, f)
                };
                if done + failed >= total {
                    return Ok(Reply::Json(
                        200,
                        json!({"snapshot": {"snapshot": part(parts, "snapshot"), "indices": targets,
                            "shards": {"total": total, "failed": failed, "successful": done}}}),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        "indices.delete" => json(delete_indices(shared, part(parts, "index"), q)),
        "indices.recovery" => json(recovery(shared, parts.get("index").map(String::as_str), q)),
        "indices.stats" => json(index_stats(shared, parts.get("index").map(String::as_str))),
        "cat.indices" => cat_indices(shared, parts.get("index").map(String::as_str), q),
        "cat.allocation" => cat_allocation(shared, q),
        "cat.snapshots" => cat_snapshots(shared, parts.get("repository").map(String::as_str), q),
        "cat.recovery" => cat_recovery(shared, parts.get("index").map(String::as_str), q),
        "cat.count" => cat_count(shared, parts.get("index").map(String::as_str), q),
        "count" => json(count(shared, parts.get("index").map(String::as_str), q, body)),
        "cluster.health" => json(health(shared, parts.get("index").map(String::as_str), q)),
        "cluster.stats" => json(cluster_stats(shared)),
        "slm.put_lifecycle" => json(slm_put(shared, part(parts, "policy_id"), body)),
        "slm.get_lifecycle" => json(slm_get(shared, parts.get("policy_id").map(String::as_str))),
        "slm.delete_lifecycle" => json(slm_delete(shared, part(parts, "policy_id"))),
        "slm.execute_lifecycle" => json(slm_execute(shared, part(parts, "policy_id"))),
        "tasks.get" => Err(es_err(
            404,
            "resource_not_found_exception",
            format!("task [{}] isn't running and hasn't stored its results", part(parts, "task_id")),
        )),
        other => {
            Err(es_err(500, "double_unsupported", format!("the test double does not implement {other} ({method})")))
        }
    }
}

// ----- helpers over state ---------------------------------------------------------------------

/// Finalises running snapshots whose time has come.
fn tick(shared: &Shared) {
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

fn repo_of(c: &Cluster, name: &str) -> Result<Repo, EsErr> {
    c.repos.get(name).cloned().ok_or_else(|| repo_missing(name))
}

fn find_snapshot(shared: &Shared, repo: &str, name: &str) -> Result<StoredSnapshot, EsErr> {
    tick(shared);
    let r = repo_of(&shared.lock(), repo)?;
    let store = shared.cfg.blob_store.lock();
    store
        .get(&r.key)
        .and_then(|l| l.iter().find(|s| s.name == name).cloned())
        .ok_or_else(|| snapshot_missing(repo, name))
}

/// Expands an index expression to existing index names.
fn expand_indices(
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
fn disk(_shared: &Shared, c: &Cluster) -> (u64, u64, u64, u64) {
    let now = Instant::now();
    let indices: u64 = c.indices.values().map(|i| i.disk_bytes(now)).sum();
    let total = c.disk_total;
    let used = (c.disk_used + indices).min(total);
    (total, used, total - used, indices)
}

// ----- handlers -------------------------------------------------------------------------------

fn info(shared: &Shared) -> HResult {
    let c = shared.lock();
    let v = &shared.cfg.version;
    let mut version = json!({
        "number": v,
        "build_flavor": "default",
        "build_type": "docker",
        "build_hash": "00000000",
        "build_date": "2025-07-09T22:10:13.578182715Z",
        "build_snapshot": false,
        "lucene_version": if shared.major >= 9 { "10.2.2" } else if shared.major == 8 { "9.12.2" } else { "8.7.0" },
        "minimum_wire_compatibility_version": if shared.major >= 9 { "8.19.0" } else if shared.major == 8 { "7.17.0" } else { "6.8.0" },
        "minimum_index_compatibility_version": if shared.major >= 9 { "8.0.0" } else if shared.major == 8 { "7.0.0" } else { "6.0.0-beta1" }
    });
    if shared.major < 8 {
        version["build_snapshot"] = json!(false);
    }
    ok(json!({
        "name": "node-1",
        "cluster_name": shared.cfg.cluster_name,
        "cluster_uuid": c.uuid,
        "version": version,
        "tagline": "You Know, for Search"
    }))
}

fn settings_to_strings(v: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(m)) = v {
        for (k, v) in m {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            out.insert(k.clone(), s);
        }
    }
    out
}

fn put_repository(shared: &Shared, name: &str, q: &BTreeMap<String, String>, body: Option<&Value>) -> HResult {
    if name.is_empty()
        || name.contains('#')
        || name.starts_with('_')
        || name.chars().any(|c| "\\/*?\"<>|, ".contains(c))
    {
        return Err(es_err(400, "invalid_repository_name_exception", format!("[{name}] Invalid repository name")));
    }
    let body = body.ok_or_else(|| es_err(400, "parse_exception", "request body is required"))?;
    let ty = body.get("type").and_then(Value::as_str).unwrap_or("");
    let settings = settings_to_strings(body.get("settings"));
    let key = match ty {
        "fs" => {
            let loc = settings.get("location").cloned().unwrap_or_default();
            if loc.is_empty() {
                return Err(es_err(500, "repository_exception", format!("[{name}] missing location")));
            }
            let abs = if loc.starts_with('/') {
                loc.clone()
            } else {
                match shared.cfg.path_repo.first() {
                    Some(root) => format!("{}/{}", root.trim_end_matches('/'), loc),
                    None => loc.clone(),
                }
            };
            let allowed = shared.cfg.path_repo.iter().any(|root| {
                let root = root.trim_end_matches('/');
                abs == root || abs.starts_with(&format!("{root}/"))
            });
            if !allowed || abs.split('/').any(|c| c == "..") {
                let why = if shared.cfg.path_repo.is_empty() {
                    "because this setting is empty".to_string()
                } else {
                    format!("{:?}", shared.cfg.path_repo)
                };
                return Err(es_err(
                    500,
                    "repository_exception",
                    format!(
                        "[{name}] location [{loc}] doesn't match any of the locations specified by path.repo {why}"
                    ),
                ));
            }
            format!("fs:{}", abs.trim_end_matches('/'))
        }
        "s3" => {
            let bucket = settings.get("bucket").cloned().unwrap_or_default();
            if bucket.is_empty() {
                return Err(es_err(
                    500,
                    "repository_exception",
                    format!("[{name}] Could not determine repository location: No bucket defined for s3 repository"),
                ));
            }
            let bp = settings.get("base_path").map(|b| b.trim_matches('/').to_string()).unwrap_or_default();
            format!("s3:{bucket}/{bp}")
        }
        "" => return Err(es_err(400, "action_request_validation_exception", "Validation Failed: 1: type is missing;")),
        other => {
            return Err(es_err(
                500,
                "repository_exception",
                format!("[{name}] repository type [{other}] does not exist"),
            ));
        }
    };
    let mut c = shared.lock();
    if truthy(q, "verify", true) && c.inject.verify_failures.contains(name) {
        return Err(es_err(
            500,
            "repository_verification_exception",
            format!("[{name}] path [{key}] is not accessible on master node"),
        ));
    }
    c.repos.insert(name.to_string(), Repo { repo_type: ty.to_string(), settings, key });
    ok(json!({"acknowledged": true}))
}

fn repo_uuid(key: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let a = h.finish();
    format!("{:016x}{:06x}", a, a >> 40)
}

fn get_repository(shared: &Shared, names: Option<&str>) -> HResult {
    let c = shared.lock();
    let mut out = Map::new();
    let mut missing = vec![];
    let names = names.unwrap_or("_all");
    for n in names.split(',') {
        if n == "_all" || n.contains('*') {
            let pat = if n == "_all" { "*" } else { n };
            for (k, r) in &c.repos {
                if wildcard_match(pat, k) {
                    out.insert(k.clone(), repo_json(r));
                }
            }
        } else if let Some(r) = c.repos.get(n) {
            out.insert(n.to_string(), repo_json(r));
        } else {
            missing.push(n.to_string());
        }
    }
    if !missing.is_empty() {
        return Err(repo_missing(&missing.join(", ")));
    }
    ok(Value::Object(out))
}

fn repo_json(r: &Repo) -> Value {
    json!({"type": r.repo_type, "uuid": repo_uuid(&r.key), "settings": r.settings})
}

fn delete_repository(shared: &Shared, name: &str) -> HResult {
    let mut c = shared.lock();
    if c.repos.remove(name).is_none() {
        return Err(repo_missing(name));
    }
    ok(json!({"acknowledged": true}))
}

fn verify_repository(shared: &Shared, name: &str) -> HResult {
    let c = shared.lock();
    let r = repo_of(&c, name)?;
    if c.inject.verify_failures.contains(name) {
        return Err(es_err(
            500,
            "repository_verification_exception",
            format!("[{name}] path [{}] is not accessible on master node", r.key),
        ));
    }
    ok(json!({"nodes": {"VJzy6aKJSVKwcfjIFBPXxw": {"name": "node-1"}}}))
}

/// Creates a snapshot; returns its resolved name. With `slm_policy`, records it as SLM's.
fn create_snapshot(
    shared: &Shared,
    repo_name: &str,
    raw_name: &str,
    body: Option<&Value>,
    slm_policy: Option<&str>,
) -> Result<String, EsErr> {
    tick(shared);
    let name = resolve_date_math(raw_name, Utc::now()).map_err(|e| es_err(400, "illegal_argument_exception", e))?;
    let mut c = shared.lock();
    let repo = repo_of(&c, repo_name)?;
    validate_snapshot_name(repo_name, &name)?;
    if repo.settings.get("readonly").is_some_and(|v| v == "true") {
        return Err(es_err(
            500,
            "repository_exception",
            format!("[{repo_name}] cannot create snapshot in a readonly repository"),
        ));
    }
    if shared.cfg.blob_store.lock().get(&repo.key).is_some_and(|l| l.iter().any(|s| s.name == name)) {
        return Err(es_err(
            400,
            "invalid_snapshot_name_exception",
            format!("[{repo_name}:{name}] Invalid snapshot name [{name}], snapshot with the same name already exists"),
        ));
    }
    let body = body.cloned().unwrap_or(json!({}));
    let ignore_unavailable = body.get("ignore_unavailable").and_then(Value::as_bool).unwrap_or(false);
    let expr = string_list(body.get("indices")).map(|v| v.join(","));
    let names = expand_indices(&c, expr.as_deref(), ignore_unavailable, false)?;
    let mut failures = vec![];
    let mut indices = vec![];
    let injected = std::mem::take(&mut c.inject.snapshot_shard_failures);
    let mut unused = vec![];
    for (idx, shard) in injected {
        if names.contains(&idx) {
            failures.push((idx, shard));
        } else {
            unused.push((idx, shard));
        }
    }
    c.inject.snapshot_shard_failures = unused;
    for n in &names {
        let Some(i) = c.indices.get(n) else { continue };
        if !i.open {
            continue;
        }
        let mut si = snap_index(n, i);
        si.failed_shards = failures.iter().filter(|(x, _)| x == n).map(|(_, s)| *s).collect();
        indices.push(si);
    }
    let failure_records: Vec<(String, String, u32, String)> = failures
        .iter()
        .map(|(idx, shard)| {
            let uuid = indices.iter().find(|i| &i.name == idx).map(|i| i.uuid.clone()).unwrap_or_default();
            (
                idx.clone(),
                uuid,
                *shard,
                format!("IOException[failed to write shard [{idx}][{shard}] to the repository: injected failure]"),
            )
        })
        .collect();
    let uuid = c.random_id(22, false);
    drop(c);
    let start_ms = now_ms();
    let mut metadata = body.get("metadata").cloned();
    if let Some(p) = slm_policy {
        let mut m = metadata.and_then(|m| m.as_object().cloned()).unwrap_or_default();
        m.insert("policy".into(), json!(p));
        metadata = Some(Value::Object(m));
    }
    let snap = StoredSnapshot {
        name: name.clone(),
        uuid,
        state: "IN_PROGRESS".into(),
        indices,
        start_ms,
        end_ms: 0,
        finish_at: Some(Instant::now() + shared.cfg.snapshot_time),
        failures: failure_records,
        metadata,
        include_global_state: body.get("include_global_state").and_then(Value::as_bool).unwrap_or(true),
        version: shared.cfg.version.clone(),
    };
    shared.cfg.blob_store.lock().entry(repo.key).or_default().push(snap);
    Ok(name)
}

fn snapshot_json(shared: &Shared, repo: &str, s: &StoredSnapshot, verbose: bool) -> Value {
    let mut o = Map::new();
    o.insert("snapshot".into(), json!(s.name));
    o.insert("uuid".into(), json!(s.uuid));
    if shared.major >= 8 {
        o.insert("repository".into(), json!(repo));
    }
    if !verbose {
        o.insert("indices".into(), json!(s.indices.iter().map(|i| i.name.clone()).collect::<Vec<_>>()));
        o.insert("data_streams".into(), json!([]));
        o.insert("state".into(), json!(s.state));
        return Value::Object(o);
    }
    o.insert("version_id".into(), json!(version_id(&s.version)));
    o.insert("version".into(), json!(s.version));
    o.insert("indices".into(), json!(s.indices.iter().map(|i| i.name.clone()).collect::<Vec<_>>()));
    o.insert("data_streams".into(), json!([]));
    if shared.major >= 8 {
        o.insert("feature_states".into(), json!([]));
    }
    o.insert("include_global_state".into(), json!(s.include_global_state));
    if let Some(m) = &s.metadata {
        o.insert("metadata".into(), m.clone());
    }
    o.insert("state".into(), json!(s.state));
    o.insert("start_time".into(), json!(iso(s.start_ms)));
    o.insert("start_time_in_millis".into(), json!(s.start_ms));
    if s.state != "IN_PROGRESS" {
        o.insert("end_time".into(), json!(iso(s.end_ms)));
        o.insert("end_time_in_millis".into(), json!(s.end_ms));
        o.insert("duration_in_millis".into(), json!(s.end_ms - s.start_ms));
    } else {
        o.insert("end_time_in_millis".into(), json!(0));
        o.insert("duration_in_millis".into(), json!(now_ms() - s.start_ms));
    }
    let failures: Vec<Value> = if s.state == "IN_PROGRESS" {
        vec![]
    } else {
        s.failures
            .iter()
            .map(|(idx, uuid, shard, reason)| {
                json!({"index": idx, "index_uuid": uuid, "shard_id": shard, "reason": reason,
                    "node_id": "VJzy6aKJSVKwcfjIFBPXxw", "status": "INTERNAL_SERVER_ERROR"})
            })
            .collect()
    };
    let total: u32 = s.indices.iter().map(|i| i.shards).sum();
    let failed = if s.state == "IN_PROGRESS" { 0 } else { s.failures.len() as u32 };
    o.insert("failures".into(), json!(failures));
    o.insert(
        "shards".into(),
        json!({"total": total, "failed": failed, "successful": if s.state == "IN_PROGRESS" { 0 } else { total - failed }}),
    );
    Value::Object(o)
}

fn get_snapshots(shared: &Shared, repo: &str, names: &str, q: &BTreeMap<String, String>) -> HResult {
    tick(shared);
    let ignore_unavailable = truthy(q, "ignore_unavailable", false);
    let verbose = truthy(q, "verbose", true);
    let repos: Vec<(String, Repo)> = {
        let c = shared.lock();
        if repo == "_all" || repo == "*" {
            c.repos.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        } else {
            vec![(repo.to_string(), repo_of(&c, repo)?)]
        }
    };
    let store = shared.cfg.blob_store.lock();
    let mut out = vec![];
    for (rname, r) in &repos {
        let list = store.get(&r.key).cloned().unwrap_or_default();
        for n in names.split(',') {
            if n == "_all" || n.contains('*') {
                let pat = if n == "_all" { "*" } else { n };
                for s in list.iter().filter(|s| wildcard_match(pat, &s.name)) {
                    if !out.iter().any(|(_, x): &(String, StoredSnapshot)| x.name == s.name) {
                        out.push((rname.clone(), s.clone()));
                    }
                }
            } else if let Some(s) = list.iter().find(|s| s.name == n) {
                out.push((rname.clone(), s.clone()));
            } else if !ignore_unavailable {
                return Err(snapshot_missing(rname, n));
            }
        }
    }
    drop(store);
    out.sort_by(|a, b| a.1.start_ms.cmp(&b.1.start_ms).then(a.1.name.cmp(&b.1.name)));
    let snaps: Vec<Value> = out.iter().map(|(r, s)| snapshot_json(shared, r, s, verbose)).collect();
    let n = snaps.len();
    if shared.major >= 8 {
        ok(json!({"snapshots": snaps, "total": n, "remaining": 0}))
    } else {
        ok(json!({"snapshots": snaps}))
    }
}

fn stats_json(files: i64, bytes: i64, start_ms: i64) -> Value {
    json!({"incremental": {"file_count": files, "size_in_bytes": bytes},
        "total": {"file_count": files, "size_in_bytes": bytes},
        "start_time_in_millis": start_ms, "time_in_millis": 0})
}

fn snapshot_status(shared: &Shared, repo: Option<&str>, names: Option<&str>, q: &BTreeMap<String, String>) -> HResult {
    tick(shared);
    let Some(repo) = repo else {
        // Currently running snapshots of every repository.
        return ok(json!({"snapshots": []}));
    };
    let r = repo_of(&shared.lock(), repo)?;
    let store = shared.cfg.blob_store.lock();
    let list = store.get(&r.key).cloned().unwrap_or_default();
    drop(store);
    let selected: Vec<&StoredSnapshot> = match names {
        None => list.iter().filter(|s| s.state == "IN_PROGRESS").collect(),
        Some(names) => {
            let mut v = vec![];
            for n in names.split(',') {
                match list.iter().find(|s| s.name == n) {
                    Some(s) => v.push(s),
                    None if truthy(q, "ignore_unavailable", false) => {}
                    None => return Err(snapshot_missing(repo, n)),
                }
            }
            v
        }
    };
    let mut snaps = vec![];
    for s in selected {
        let mut indices = Map::new();
        let mut total_bytes = 0i64;
        let mut total_files = 0i64;
        let mut done_all = 0u32;
        let mut failed_all = 0u32;
        let mut total_all = 0u32;
        for i in &s.indices {
            let mut shards = Map::new();
            let mut ibytes = 0i64;
            let mut done = 0;
            let mut failed = 0;
            for k in 0..i.shards {
                let docs = (0..i.docs.len()).filter(|d| (*d as u32) % i.shards == k).count() as i64;
                let bytes = EMPTY_SHARD_BYTES as i64 + docs * i.bytes_per_doc as i64;
                let st = if i.failed_shards.contains(&k) {
                    failed += 1;
                    "FAILURE"
                } else if s.state == "IN_PROGRESS" {
                    "STARTED"
                } else {
                    done += 1;
                    "DONE"
                };
                ibytes += bytes;
                shards.insert(k.to_string(), json!({"stage": st, "stats": stats_json(4, bytes, s.start_ms)}));
            }
            total_bytes += ibytes;
            total_files += 4 * i.shards as i64;
            done_all += done;
            failed_all += failed;
            total_all += i.shards;
            indices.insert(
                i.name.clone(),
                json!({"shards_stats": {"initializing": 0, "started": i.shards - done - failed, "finalizing": 0,
                        "done": done, "failed": failed, "total": i.shards},
                    "stats": stats_json(4 * i.shards as i64, ibytes, s.start_ms), "shards": shards}),
            );
        }
        let state = if s.state == "IN_PROGRESS" { "STARTED" } else { s.state.as_str() };
        snaps.push(json!({
            "snapshot": s.name, "repository": repo, "uuid": s.uuid, "state": state,
            "include_global_state": s.include_global_state,
            "shards_stats": {"initializing": 0, "started": total_all - done_all - failed_all, "finalizing": 0,
                "done": done_all, "failed": failed_all, "total": total_all},
            "stats": stats_json(total_files, total_bytes, s.start_ms),
            "indices": indices
        }));
    }
    ok(json!({"snapshots": snaps}))
}

fn delete_snapshots(shared: &Shared, repo: &str, names: &str) -> HResult {
    tick(shared);
    let r = repo_of(&shared.lock(), repo)?;
    if r.settings.get("readonly").is_some_and(|v| v == "true") {
        return Err(es_err(
            500,
            "repository_exception",
            format!("[{repo}] cannot delete snapshot from a readonly repository"),
        ));
    }
    let mut store = shared.cfg.blob_store.lock();
    let list = store.entry(r.key.clone()).or_default();
    let mut targets = vec![];
    for n in names.split(',') {
        if n == "_all" || n.contains('*') {
            let pat = if n == "_all" { "*" } else { n };
            targets.extend(list.iter().filter(|s| wildcard_match(pat, &s.name)).map(|s| s.name.clone()));
        } else if list.iter().any(|s| s.name == n) {
            targets.push(n.to_string());
        } else {
            return Err(snapshot_missing(repo, n));
        }
    }
    if let Some(running) = list.iter().find(|s| s.state == "IN_PROGRESS" && !targets.contains(&s.name)) {
        return Err(es_err(
            503,
            "concurrent_snapshot_execution_exception",
            format!("[{repo}:{}/{}] another snapshot is currently running cannot delete", running.name, running.uuid),
        ));
    }
    list.retain(|s| !targets.contains(&s.name));
    ok(json!({"acknowledged": true}))
}

fn restore(shared: &Shared, repo: &str, snap_name: &str, body: Option<&Value>) -> Result<Vec<String>, EsErr> {
    let snap = find_snapshot(shared, repo, snap_name)?;
    let reason_prefix = format!("[{repo}:{snap_name}/{}]", snap.uuid);
    if snap.state == "IN_PROGRESS" || snap.state == "FAILED" {
        return Err(es_err(
            500,
            "snapshot_restore_exception",
            format!("{reason_prefix} unsupported snapshot state [{}]", snap.state),
        ));
    }
    let body = body.cloned().unwrap_or(json!({}));
    let ignore_unavailable = body.get("ignore_unavailable").and_then(Value::as_bool).unwrap_or(false);
    let requested = string_list(body.get("indices")).unwrap_or_else(|| vec!["*".into()]);
    let mut selected: Vec<&SnapIndex> = vec![];
    for r in &requested {
        if r.contains('*') || r == "_all" {
            let pat = if r == "_all" { "*" } else { r.as_str() };
            selected.extend(snap.indices.iter().filter(|i| wildcard_match(pat, &i.name)));
        } else {
            match snap.indices.iter().find(|i| &i.name == r) {
                Some(i) => selected.push(i),
                None if ignore_unavailable => {}
                None => return Err(index_not_found(r)),
            }
        }
    }
    selected.dedup_by(|a, b| a.name == b.name);
    let rename = match (
        body.get("rename_pattern").and_then(Value::as_str),
        body.get("rename_replacement").and_then(Value::as_str),
    ) {
        (Some(p), Some(r)) => Some((
            regex::Regex::new(p)
                .map_err(|e| es_err(400, "illegal_argument_exception", format!("invalid rename_pattern: {e}")))?,
            java_replacement(r),
        )),
        _ => None,
    };
    let mut c = shared.lock();
    let (total, used, _, _) = disk(shared, &c);
    let needed: u64 =
        selected.iter().map(|i| EMPTY_SHARD_BYTES * i.shards as u64 + i.docs.len() as u64 * i.bytes_per_doc).sum();
    // Above the high watermark (90%) no shard can be allocated.
    let disk_full = (used + needed) as f64 > 0.9 * total as f64;
    let mut plan = vec![];
    for i in &selected {
        if i.failed_shards.len() as u32 >= 1 {
            return Err(es_err(
                500,
                "snapshot_restore_exception",
                format!("{reason_prefix} index [{}] wasn't fully snapshotted - cannot restore", i.name),
            ));
        }
        let target = match &rename {
            Some((re, rep)) => re.replace(&i.name, rep.as_str()).into_owned(),
            None => i.name.clone(),
        };
        validate_index_name(&target)?;
        if let Some(existing) = c.indices.get(&target)
            && existing.open
        {
            {
                return Err(es_err(
                    500,
                    "snapshot_restore_exception",
                    format!(
                        "{reason_prefix} cannot restore index [{target}] because an open index with same name already \
                         exists in the cluster. Either close or delete the existing index or restore the index under \
                         a different name by providing a rename pattern and replacement name"
                    ),
                ));
            }
        }
        plan.push(((*i).clone(), target));
    }
    let mut targets = vec![];
    let injected = std::mem::take(&mut c.inject.restore_shard_failures);
    let mut unused = vec![];
    let mut fail_map: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for (idx, shard) in injected {
        if plan.iter().any(|(i, _)| i.name == idx) {
            fail_map.entry(idx).or_default().insert(shard);
        } else {
            unused.push((idx, shard));
        }
    }
    c.inject.restore_shard_failures = unused;
    let restore_uuid = c.random_id(22, false);
    let now = Instant::now();
    for (i, target) in plan {
        let failing = fail_map.remove(&i.name).unwrap_or_default();
        let mut shards = vec![];
        for k in 0..i.shards {
            c.queue_seq += 1;
            shards.push(ShardRestore {
                seq: c.queue_seq,
                enqueued: now,
                started: None,
                fails: failing.contains(&k),
                refused: disk_full,
            });
        }
        let uuid = c.random_id(22, false);
        c.indices.insert(
            target.clone(),
            Index {
                uuid,
                shards: i.shards,
                replicas: i.replicas,
                time_field: i.time_field.clone(),
                docs: i.docs.clone(),
                bytes_per_doc: i.bytes_per_doc,
                open: true,
                restore: Some(IndexRestore {
                    repository: repo.to_string(),
                    snapshot: snap_name.to_string(),
                    source: i.name.clone(),
                    shard_time: shared.cfg.shard_restore_time,
                    shards,
                    restore_uuid: restore_uuid.clone(),
                    version: snap.version.clone(),
                }),
            },
        );
        targets.push(target);
    }
    Ok(targets)
}

fn delete_indices(shared: &Shared, expr: &str, q: &BTreeMap<String, String>) -> HResult {
    if expr.split(',').any(|p| p.contains('*') || p == "_all") {
        return Err(es_err(400, "illegal_argument_exception", "Wildcard expressions or all indices are not allowed"));
    }
    let mut c = shared.lock();
    let names = expand_indices(&c, Some(expr), truthy(q, "ignore_unavailable", false), true)?;
    for n in names {
        c.indices.remove(&n);
    }
    ok(json!({"acknowledged": true}))
}

fn recovery(shared: &Shared, expr: Option<&str>, q: &BTreeMap<String, String>) -> HResult {
    let c = shared.lock();
    let names = expand_indices(&c, expr, truthy(q, "ignore_unavailable", false), false)?;
    let active_only = truthy(q, "active_only", false);
    let now = Instant::now();
    let mut out = Map::new();
    for n in names {
        let i = &c.indices[&n];
        let mut shards = vec![];
        let mut has_state = false;
        for k in 0..i.shards {
            let state = i.shard_state(k, now);
            if !state.in_recovery() {
                continue; // an unassigned primary (queued or failed) has no recovery state
            }
            has_state = true;
            let done = state == ShardState::Started;
            if active_only && done {
                continue;
            }
            let total = i.shard_bytes(k);
            let frac = state.fraction();
            let recovered = (total as f64 * frac) as u64;
            let (ty, source) = match &i.restore {
                Some(r) => (
                    "SNAPSHOT",
                    json!({"repository": r.repository, "snapshot": r.snapshot, "version": r.version,
                        "index": r.source, "restoreUUID": r.restore_uuid}),
                ),
                None => ("EMPTY_STORE", json!({})),
            };
            shards.push(json!({
                "id": k, "type": ty, "stage": if done { "DONE" } else { "INDEX" }, "primary": true,
                "start_time_in_millis": now_ms(), "total_time_in_millis": 0, "source": source,
                "target": {"id": "VJzy6aKJSVKwcfjIFBPXxw", "host": "127.0.0.1", "transport_address": "127.0.0.1:9300",
                    "ip": "127.0.0.1", "name": "node-1"},
                "index": {"size": {"total_in_bytes": total, "reused_in_bytes": 0, "recovered_in_bytes": recovered,
                        "recovered_from_snapshot_in_bytes": recovered,
                        "percent": format!("{:.1}%", frac * 100.0)},
                    "files": {"total": 4, "reused": 0, "recovered": (4.0 * frac) as u32,
                        "percent": format!("{:.1}%", frac * 100.0)},
                    "total_time_in_millis": 0, "source_throttle_time_in_millis": 0, "target_throttle_time_in_millis": 0},
                "translog": {"recovered": 0, "total": 0, "percent": "100.0%", "total_on_start": 0, "total_time_in_millis": 0},
                "verify_index": {"check_index_time_in_millis": 0, "total_time_in_millis": 0}
            }));
        }
        // Like TransportRecoveryAction: an index none of whose shards has a recovery state is left
        // out; with active_only one whose recoveries are all done is listed with no shards.
        if has_state {
            out.insert(n.clone(), json!({"shards": shards}));
        }
    }
    ok(Value::Object(out))
}

fn index_stats(shared: &Shared, expr: Option<&str>) -> HResult {
    let c = shared.lock();
    let names = expand_indices(&c, expr, false, false)?;
    let now = Instant::now();
    let mut indices = Map::new();
    let mut all_docs = 0u64;
    let mut all_bytes = 0u64;
    for n in names {
        let i = &c.indices[&n];
        let docs = i.visible_docs(now).unwrap_or(0);
        all_docs += docs;
        all_bytes += i.store_bytes();
        let block = json!({"docs": {"count": docs, "deleted": 0}, "store": {"size_in_bytes": i.store_bytes()}});
        indices.insert(n.clone(), json!({"uuid": i.uuid, "primaries": block, "total": block}));
    }
    let all = json!({"docs": {"count": all_docs, "deleted": 0}, "store": {"size_in_bytes": all_bytes}});
    ok(
        json!({"_shards": {"total": 0, "successful": 0, "failed": 0}, "_all": {"primaries": all, "total": all}, "indices": indices}),
    )
}

/// Column aliases accepted in `h=` (those of `_cat/recovery`, `_cat/snapshots` and `_cat/indices`).
const CAT_ALIASES: &[(&str, &str)] = &[
    ("i", "index"),
    ("idx", "index"),
    ("s", "shard"),
    ("t", "time"),
    ("ty", "type"),
    ("st", "stage"),
    ("rep", "repository"),
    ("snap", "snapshot"),
    ("f", "files"),
    ("fp", "files_percent"),
    ("b", "bytes"),
    ("bp", "bytes_percent"),
    ("dc", "docs.count"),
    ("ss", "store.size"),
];

/// Renders `_cat` rows as JSON (`format=json`) or as a text table, honouring `h` and `v`.
fn cat_output(rows: Vec<Vec<(&'static str, Option<String>)>>, q: &BTreeMap<String, String>) -> Result<Reply, EsErr> {
    let cols: Option<Vec<String>> = q.get("h").map(|h| h.split(',').map(str::to_string).collect());
    let select = |row: &Vec<(&'static str, Option<String>)>| -> Vec<(String, Option<String>)> {
        match &cols {
            Some(cs) => cs
                .iter()
                .map(|c| {
                    let exact = row.iter().find(|(k, _)| *k == c.as_str());
                    let alias = || {
                        let full = CAT_ALIASES.iter().find(|(a, _)| *a == c.as_str()).map(|(_, f)| *f)?;
                        row.iter().find(|(k, _)| *k == full)
                    };
                    (c.clone(), exact.or_else(alias).and_then(|(_, v)| v.clone()))
                })
                .collect(),
            None => row.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        }
    };
    if q.get("format").map(String::as_str) == Some("json") {
        let arr: Vec<Value> = rows
            .iter()
            .map(|r| {
                let mut m = Map::new();
                for (k, v) in select(r) {
                    m.insert(k, v.map(Value::String).unwrap_or(Value::Null));
                }
                Value::Object(m)
            })
            .collect();
        return Ok(Reply::Json(200, Value::Array(arr)));
    }
    let mut text = String::new();
    if truthy(q, "v", false)
        && let Some(r) = rows.first()
    {
        text.push_str(&select(r).iter().map(|(k, _)| k.clone()).collect::<Vec<_>>().join(" "));
        text.push('\n');
    }
    for r in &rows {
        text.push_str(&select(r).iter().map(|(_, v)| v.clone().unwrap_or_default()).collect::<Vec<_>>().join(" "));
        text.push('\n');
    }
    Ok(Reply::Text(text))
}

fn cat_indices(shared: &Shared, expr: Option<&str>, q: &BTreeMap<String, String>) -> Result<Reply, EsErr> {
    let c = shared.lock();
    let hidden = q.get("expand_wildcards").is_some_and(|e| e.contains("all") || e.contains("hidden"));
    let names = expand_indices(&c, expr, false, hidden)?;
    let now = Instant::now();
    let rows = names
        .iter()
        .map(|n| {
            let i = &c.indices[n];
            let docs = i.visible_docs(now);
            let bytes = i.disk_bytes(now);
            vec![
                ("health", Some(i.health(now).to_string())),
                ("status", Some(if i.open { "open" } else { "close" }.to_string())),
                ("index", Some(n.clone())),
                ("uuid", Some(i.uuid.clone())),
                ("pri", Some(i.shards.to_string())),
                ("rep", Some(i.replicas.to_string())),
                ("docs.count", docs.map(|d| d.to_string())),
                ("docs.deleted", docs.map(|_| "0".to_string())),
                ("store.size", docs.map(|_| fmt_bytes(bytes, q))),
                ("pri.store.size", docs.map(|_| fmt_bytes(bytes, q))),
                ("dataset.size", docs.map(|_| fmt_bytes(bytes, q))),
            ]
        })
        .collect();
    drop(c);
    cat_output(rows, q)
}

fn cat_allocation(shared: &Shared, q: &BTreeMap<String, String>) -> Result<Reply, EsErr> {
    let c = shared.lock();
    let (total, used, avail, indices) = disk(shared, &c);
    let now = Instant::now();
    let assigned: u32 = c.indices.values().map(|i| i.shards - i.unassigned_primaries(now)).sum();
    let unassigned: u32 = c.indices.values().map(|i| i.unassigned_primaries(now) + i.shards * i.replicas).sum();
    let percent = (used * 100).checked_div(total).unwrap_or(0);
    let mut node = vec![("shards", Some(assigned.to_string()))];
    if shared.major >= 8 {
        node.push(("shards.undesired", Some("0".into())));
        node.push(("write_load.forecast", Some("0.0".into())));
        node.push(("disk.indices.forecast", Some(fmt_bytes(indices, q))));
    }
    node.extend([
        ("disk.indices", Some(fmt_bytes(indices, q))),
        ("disk.used", Some(fmt_bytes(used, q))),
        ("disk.avail", Some(fmt_bytes(avail, q))),
        ("disk.total", Some(fmt_bytes(total, q))),
        ("disk.percent", Some(percent.to_string())),
        ("host", Some("127.0.0.1".into())),
        ("ip", Some("127.0.0.1".into())),
        ("node", Some("node-1".into())),
    ]);
    if shared.major >= 8 {
        node.push(("node.role", Some("cdfhilmrstw".into())));
    }
    let mut rows = vec![node];
    if unassigned > 0 {
        let mut un = vec![("shards", Some(unassigned.to_string()))];
        if shared.major >= 8 {
            un.push(("shards.undesired", None));
            un.push(("write_load.forecast", None));
            un.push(("disk.indices.forecast", None));
        }
        un.extend([
            ("disk.indices", None),
            ("disk.used", None),
            ("disk.avail", None),
            ("disk.total", None),
            ("disk.percent", None),
            ("host", None),
            ("ip", None),
            ("node", Some("UNASSIGNED".into())),
        ]);
        if shared.major >= 8 {
            un.push(("node.role", None));
        }
        rows.push(un);
    }
    drop(c);
    cat_output(rows, q)
}

fn cat_snapshots(shared: &Shared, repo: Option<&str>, q: &BTreeMap<String, String>) -> Result<Reply, EsErr> {
    tick(shared);
    let repos: Vec<(String, Repo)> = {
        let c = shared.lock();
        match repo {
            Some(r) if r != "_all" && r != "*" => vec![(r.to_string(), repo_of(&c, r)?)],
            _ => c.repos.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    };
    let store = shared.cfg.blob_store.lock();
    let mut rows = vec![];
    for (rname, r) in repos {
        for s in store.get(&r.key).cloned().unwrap_or_default() {
            let total: u32 = s.indices.iter().map(|i| i.shards).sum();
            let failed = s.failures.len() as u32;
            let end = if s.end_ms > 0 { s.end_ms } else { now_ms() };
            let dur = (end - s.start_ms) as f64 / 1000.0;
            let hms = |ms: i64| {
                DateTime::from_timestamp_millis(ms).map(|t| t.format("%H:%M:%S").to_string()).unwrap_or_default()
            };
            rows.push(vec![
                ("id", Some(s.name.clone())),
                ("repository", Some(rname.clone())),
                ("status", Some(s.state.clone())),
                ("start_epoch", Some((s.start_ms / 1000).to_string())),
                ("start_time", Some(hms(s.start_ms))),
                ("end_epoch", Some((end / 1000).to_string())),
                ("end_time", Some(hms(end))),
                ("duration", Some(format!("{dur:.1}s"))),
                ("indices", Some(s.indices.len().to_string())),
                ("successful_shards", Some((total - failed).to_string())),
                ("failed_shards", Some(failed.to_string())),
                ("total_shards", Some(total.to_string())),
            ]);
        }
    }
    drop(store);
    cat_output(rows, q)
}

fn cat_recovery(shared: &Shared, expr: Option<&str>, q: &BTreeMap<String, String>) -> Result<Reply, EsErr> {
    let c = shared.lock();
    let names = expand_indices(&c, expr, false, false)?;
    let now = Instant::now();
    let mut rows = vec![];
    for n in names {
        let i = &c.indices[&n];
        for k in 0..i.shards {
            let state = i.shard_state(k, now);
            if !state.in_recovery() {
                continue;
            }
            let frac = state.fraction();
            let total = i.shard_bytes(k);
            let (ty, repo, snap) = match &i.restore {
                Some(r) => ("snapshot", r.repository.clone(), r.snapshot.clone()),
                None => ("empty_store", "n/a".to_string(), "n/a".to_string()),
            };
            rows.push(vec![
                ("index", Some(n.clone())),
                ("shard", Some(k.to_string())),
                ("time", Some("13ms".into())),
                ("type", Some(ty.into())),
                ("stage", Some(if i.shard_done(k, now) { "done" } else { "index" }.into())),
                ("source_host", Some("n/a".into())),
                ("source_node", Some("n/a".into())),
                ("target_host", Some("127.0.0.1".into())),
                ("target_node", Some("node-1".into())),
                ("repository", Some(repo)),
                ("snapshot", Some(snap)),
                ("files", Some("4".into())),
                ("files_recovered", Some(((4.0 * frac) as u32).to_string())),
                ("files_percent", Some(format!("{:.1}%", frac * 100.0))),
                ("files_total", Some("4".into())),
                ("bytes", Some(fmt_bytes(total, q))),
                ("bytes_recovered", Some(fmt_bytes((total as f64 * frac) as u64, q))),
                ("bytes_percent", Some(format!("{:.1}%", frac * 100.0))),
                ("bytes_total", Some(fmt_bytes(total, q))),
                ("translog_ops", Some("0".into())),
                ("translog_ops_recovered", Some("0".into())),
                ("translog_ops_percent", Some("100.0%".into())),
            ]);
        }
    }
    drop(c);
    cat_output(rows, q)
}

/// Counts documents matching an optional `match_all` or `range` query.
fn count_docs(shared: &Shared, expr: Option<&str>, body: Option<&Value>) -> Result<(u64, u32, u32), EsErr> {
    let c = shared.lock();
    let names = expand_indices(&c, expr, false, false)?;
    let query = body.and_then(|b| b.get("query"));
    let range: Option<(String, Option<i64>, Option<i64>)> = match query {
        None => None,
        Some(q) if q.get("match_all").is_some() => None,
        Some(q) if q.get("range").is_some() => {
            let r = q["range"].as_object().cloned().unwrap_or_default();
            let (field, spec) = r
                .into_iter()
                .next()
                .ok_or_else(|| es_err(400, "parsing_exception", "[range] query malformed, no field"))?;
            let num =
                |k: &str| spec.get(k).and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
            let lo = num("gte").or_else(|| num("gt").map(|x| x + 1));
            let hi = num("lt").or_else(|| num("lte").map(|x| x + 1));
            Some((field, lo, hi))
        }
        Some(q) => {
            let name = q.as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_default();
            return Err(es_err(
                400,
                "parsing_exception",
                format!("unknown query [{name}] (not supported by the test double)"),
            ));
        }
    };
    let now = Instant::now();
    let mut total = 0;
    let mut shards = 0;
    let mut failed = 0;
    for n in names {
        let i = &c.indices[&n];
        for k in 0..i.shards {
            shards += 1;
            if !i.shard_done(k, now) {
                failed += 1;
                continue;
            }
            total += i
                .docs
                .iter()
                .enumerate()
                .filter(|(d, _)| (*d as u32) % i.shards == k)
                .filter(|(_, ts)| match &range {
                    None => true,
                    Some((f, lo, hi)) => {
                        f == &i.time_field && lo.is_none_or(|l| **ts >= l) && hi.is_none_or(|h| **ts < h)
                    }
                })
                .count() as u64;
        }
    }
    Ok((total, shards, failed))
}

fn count(shared: &Shared, expr: Option<&str>, q: &BTreeMap<String, String>, body: Option<&Value>) -> HResult {
    if q.contains_key("q") {
        return Err(es_err(400, "parsing_exception", "query string counts are not supported by the test double"));
    }
    let (n, shards, failed) = count_docs(shared, expr, body)?;
    ok(json!({"count": n, "_shards": {"total": shards, "successful": shards - failed, "skipped": 0, "failed": failed}}))
}

fn cat_count(shared: &Shared, expr: Option<&str>, q: &BTreeMap<String, String>) -> Result<Reply, EsErr> {
    let (n, _, _) = count_docs(shared, expr, None)?;
    let now = Utc::now();
    cat_output(
        vec![vec![
            ("epoch", Some(now.timestamp().to_string())),
            ("timestamp", Some(now.format("%H:%M:%S").to_string())),
            ("count", Some(n.to_string())),
        ]],
        q,
    )
}

fn health(shared: &Shared, expr: Option<&str>, q: &BTreeMap<String, String>) -> HResult {
    let c = shared.lock();
    let now = Instant::now();
    let names = match expand_indices(&c, expr, false, false) {
        Ok(n) => n,
        Err(_) => {
            // Like Elasticsearch after its wait times out: 408 with a red body.
            return Ok((
                408,
                json!({"cluster_name": shared.cfg.cluster_name, "status": "red", "timed_out": true,
                "number_of_nodes": 1, "number_of_data_nodes": 1, "active_primary_shards": 0, "active_shards": 0,
                "relocating_shards": 0, "initializing_shards": 0, "unassigned_shards": 0,
                "delayed_unassigned_shards": 0, "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0,
                "task_max_waiting_in_queue_millis": 0, "active_shards_percent_as_number": 100.0}),
            ));
        }
    };
    let level = q.get("level").map(String::as_str);
    let mut per = Map::new();
    let (mut ap, mut init, mut un, mut total) = (0u32, 0u32, 0u32, 0u32);
    let mut status = "green";
    for n in &names {
        let i = &c.indices[n];
        let a = i.active_primaries(now);
        let ini = i.initializing(now);
        let u = i.unassigned_primaries(now) + i.shards * i.replicas;
        let h = i.health(now);
        if h == "red" || (h == "yellow" && status == "green") {
            status = h;
        }
        ap += a;
        init += ini;
        un += u;
        total += i.shards * (1 + i.replicas);
        let mut block = json!({"status": h, "number_of_shards": i.shards, "number_of_replicas": i.replicas,
                "active_primary_shards": a, "active_shards": a, "relocating_shards": 0,
                "initializing_shards": ini, "unassigned_shards": u});
        if level == Some("shards") {
            let mut shards = Map::new();
            for k in 0..i.shards {
                let state = i.shard_state(k, now);
                let active = state == ShardState::Started;
                shards.insert(
                    k.to_string(),
                    json!({"status": i.shard_health(k, now), "primary_active": active,
                        "active_shards": u32::from(active), "relocating_shards": 0,
                        "initializing_shards": u32::from(matches!(state, ShardState::Initializing(_))),
                        "unassigned_shards": u32::from(state.is_unassigned()) + i.replicas}),
                );
            }
            block["shards"] = Value::Object(shards);
        }
        per.insert(n.clone(), block);
    }
    let mut body = json!({
        "cluster_name": shared.cfg.cluster_name, "status": status, "timed_out": false,
        "number_of_nodes": 1, "number_of_data_nodes": 1, "active_primary_shards": ap, "active_shards": ap,
        "relocating_shards": 0, "initializing_shards": init, "unassigned_shards": un,
        "delayed_unassigned_shards": 0, "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": if total == 0 { 100.0 } else { 100.0 * ap as f64 / total as f64 }
    });
    if shared.major >= 9 {
        body["unassigned_primary_shards"] =
            json!(names.iter().map(|n| c.indices[n].unassigned_primaries(now)).sum::<u32>());
    }
    if matches!(level, Some("indices") | Some("shards")) {
        body["indices"] = Value::Object(per);
    }
    ok(body)
}

fn cluster_stats(shared: &Shared) -> HResult {
    let c = shared.lock();
    let (total, used, avail, indices) = disk(shared, &c);
    let now = Instant::now();
    let docs: u64 = c.indices.values().filter_map(|i| i.visible_docs(now)).sum();
    ok(json!({
        "_nodes": {"total": 1, "successful": 1, "failed": 0},
        "cluster_name": shared.cfg.cluster_name, "cluster_uuid": c.uuid, "timestamp": now_ms(), "status": "green",
        "indices": {"count": c.indices.len(), "docs": {"count": docs, "deleted": 0},
            "store": {"size_in_bytes": indices, "reserved_in_bytes": 0}},
        "nodes": {"count": {"total": 1, "data": 1, "master": 1}, "versions": [shared.cfg.version],
            "fs": {"total_in_bytes": total, "free_in_bytes": total - used, "available_in_bytes": avail}}
    }))
}

fn slm_put(shared: &Shared, id: &str, body: Option<&Value>) -> HResult {
    let body = body.ok_or_else(|| es_err(400, "parse_exception", "request body is required"))?;
    for field in ["schedule", "name", "repository"] {
        if body.get(field).and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(es_err(
                400,
                "action_request_validation_exception",
                format!("Validation Failed: 1: invalid {field}: must not be empty;"),
            ));
        }
    }
    let repo = body["repository"].as_str().unwrap_or("");
    let mut c = shared.lock();
    if !c.repos.contains_key(repo) {
        return Err(es_err(400, "illegal_argument_exception", format!("no such repository [{repo}]")));
    }
    let version = c.slm.get(id).map(|e| e.version + 1).unwrap_or(1);
    let last_success = c.slm.get(id).and_then(|e| e.last_success.clone());
    c.slm.insert(id.to_string(), SlmEntry { policy: body.clone(), version, modified_ms: now_ms(), last_success });
    ok(json!({"acknowledged": true}))
}

fn slm_get(shared: &Shared, ids: Option<&str>) -> HResult {
    let c = shared.lock();
    let mut out = Map::new();
    let wanted: Option<Vec<&str>> = ids.map(|i| i.split(',').collect());
    for (id, e) in &c.slm {
        if wanted.as_ref().is_some_and(|w| !w.contains(&id.as_str())) {
            continue;
        }
        let mut v = json!({
            "version": e.version, "modified_date_millis": e.modified_ms, "policy": e.policy,
            "stats": {"policy": id, "snapshots_taken": 0, "snapshots_failed": 0, "snapshots_deleted": 0,
                "snapshot_deletion_failures": 0},
            "next_execution_millis": now_ms() + 86_400_000
        });
        if let Some((name, t)) = &e.last_success {
            v["last_success"] = json!({"snapshot_name": name, "time": t});
        }
        out.insert(id.clone(), v);
    }
    if let Some(w) = wanted
        && out.is_empty()
    {
        return Err(es_err(
            404,
            "resource_not_found_exception",
            format!("snapshot lifecycle policy or policies {w:?} not found, no policies are configured"),
        ));
    }
    ok(Value::Object(out))
}

fn slm_delete(shared: &Shared, id: &str) -> HResult {
    let mut c = shared.lock();
    if c.slm.remove(id).is_none() {
        return Err(es_err(404, "resource_not_found_exception", format!("Snapshot lifecycle policy not found: {id}")));
    }
    ok(json!({"acknowledged": true}))
}

fn slm_execute(shared: &Shared, id: &str) -> HResult {
    let (policy, suffix) = {
        let mut c = shared.lock();
        let Some(e) = c.slm.get(id) else {
            return Err(es_err(
                404,
                "resource_not_found_exception",
                format!("no such snapshot lifecycle policy [{id}]"),
            ));
        };
        let p = e.policy.clone();
        (p, c.random_id(22, true))
    };
    let name = resolve_date_math(policy["name"].as_str().unwrap_or(""), Utc::now())
        .map_err(|e| es_err(400, "illegal_argument_exception", e))?;
    let full = format!("{name}-{suffix}");
    let repo = policy["repository"].as_str().unwrap_or("").to_string();
    let body = policy.get("config").cloned().unwrap_or(json!({}));
    let created = create_snapshot(shared, &repo, &full, Some(&body), Some(id))?;
    if let Some(e) = shared.lock().slm.get_mut(id) {
        e.last_success = Some((created.clone(), now_ms()));
    }
    ok(json!({"snapshot_name": created}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_math() {
        let now = Utc.with_ymd_and_hms(2024, 5, 7, 13, 14, 15).unwrap();
        assert_eq!(resolve_date_math("<nightly-{now/d}>", now).unwrap(), "nightly-2024.05.07");
        assert_eq!(resolve_date_math("<m-{now/M{yyyy.MM}}>", now).unwrap(), "m-2024.05");
        assert_eq!(resolve_date_math("<d-{now-1d/d}>", now).unwrap(), "d-2024.05.06");
        assert_eq!(resolve_date_math("plain", now).unwrap(), "plain");
        assert!(resolve_date_math("<bad-{now/q}>", now).is_err());
    }

    #[test]
    fn replacements_and_bytes() {
        assert_eq!(java_replacement("restore_$1"), "restore_${1}");
        assert_eq!(java_replacement("a\\$b$12"), "a$$b${12}");
        assert_eq!(human_bytes(260), "260b");
        assert_eq!(human_bytes(1024), "1kb");
        assert_eq!(human_bytes(90214), "88.1kb");
        assert_eq!(base64(b"elastic:changeme"), "ZWxhc3RpYzpjaGFuZ2VtZQ==");
    }
}

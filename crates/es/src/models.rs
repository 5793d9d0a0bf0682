//! Our own serde models of the Elasticsearch responses we use.
//!
//! The official `elasticsearch` crate is alpha and returns untyped JSON; these models are the stable
//! surface callers see. They are lenient where versions differ (7.10 omits `repository` in snapshot
//! listings, 8.x adds `total`/`remaining`, `_cat` values are strings and may be `null`), and strict
//! where a wrong value would be dangerous (snapshot `state`).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `GET /` — basic cluster information.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClusterInfo {
    /// Node name.
    #[serde(default)]
    pub name: String,
    /// Cluster name.
    #[serde(default)]
    pub cluster_name: String,
    /// Cluster UUID.
    #[serde(default)]
    pub cluster_uuid: String,
    /// Version block.
    pub version: VersionInfo,
}

/// The `version` block of `GET /`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VersionInfo {
    /// Version number, e.g. `8.19.0`.
    pub number: String,
    /// `default`, `serverless` (Elasticsearch only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_flavor: Option<String>,
    /// `opensearch` on OpenSearch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<String>,
}

impl ClusterInfo {
    /// Major version number (0 when unparsable).
    pub fn major_version(&self) -> u32 {
        self.version.number.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0)
    }

    /// True for OpenSearch clusters.
    pub fn is_opensearch(&self) -> bool {
        self.version.distribution.as_deref() == Some("opensearch")
    }
}

/// A snapshot repository as returned by `GET /_snapshot/{repository}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RepositoryInfo {
    /// Repository name.
    pub name: String,
    /// Repository type (`fs`, `s3`, ...).
    #[serde(rename = "type")]
    pub repo_type: String,
    /// Repository UUID (ES 7.12+ may report `_na_` until first write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Settings. Elasticsearch returns every setting value as a string.
    #[serde(default)]
    pub settings: BTreeMap<String, Value>,
}

impl RepositoryInfo {
    /// A setting as a string (strings, booleans and numbers are accepted).
    pub fn setting(&self, key: &str) -> Option<String> {
        match self.settings.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// True when the repository is registered read-only.
    pub fn readonly(&self) -> bool {
        self.setting("readonly").is_some_and(|v| v == "true")
    }
}

/// The body of `GET /_snapshot/{repository}`: repository name → definition.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RepositoryDef {
    #[serde(rename = "type")]
    pub repo_type: String,
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub settings: BTreeMap<String, Value>,
}

/// The state of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SnapshotState {
    /// `IN_PROGRESS` (or `STARTED` in the status API).
    InProgress,
    /// `SUCCESS`.
    Success,
    /// `FAILED`.
    Failed,
    /// `PARTIAL`: some shards failed.
    Partial,
    /// `INCOMPATIBLE`: taken by a newer version.
    Incompatible,
    /// Any other value, kept verbatim.
    Other(String),
}

impl SnapshotState {
    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            SnapshotState::InProgress => "IN_PROGRESS",
            SnapshotState::Success => "SUCCESS",
            SnapshotState::Failed => "FAILED",
            SnapshotState::Partial => "PARTIAL",
            SnapshotState::Incompatible => "INCOMPATIBLE",
            SnapshotState::Other(s) => s,
        }
    }

    /// Parses a wire string.
    pub fn parse(s: &str) -> Self {
        match s {
            "IN_PROGRESS" | "STARTED" | "INIT" => SnapshotState::InProgress,
            "SUCCESS" => SnapshotState::Success,
            "FAILED" | "ABORTED" => SnapshotState::Failed,
            "PARTIAL" => SnapshotState::Partial,
            "INCOMPATIBLE" => SnapshotState::Incompatible,
            other => SnapshotState::Other(other.to_string()),
        }
    }

    /// True while the snapshot is still running.
    pub fn is_running(&self) -> bool {
        matches!(self, SnapshotState::InProgress)
    }
}

impl std::fmt::Display for SnapshotState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SnapshotState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SnapshotState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(SnapshotState::parse(&s))
    }
}

/// A shard failure inside a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotShardFailure {
    /// Index name.
    #[serde(default)]
    pub index: String,
    /// Shard number.
    #[serde(default)]
    pub shard_id: i64,
    /// Reason.
    #[serde(default)]
    pub reason: String,
    /// Node id, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Status, e.g. `INTERNAL_SERVER_ERROR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// Shard counters of a snapshot.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ShardCounts {
    /// Total shards.
    #[serde(default)]
    pub total: u64,
    /// Failed shards.
    #[serde(default)]
    pub failed: u64,
    /// Successful shards.
    #[serde(default)]
    pub successful: u64,
}

/// A snapshot as returned by `GET /_snapshot/{repo}/{snapshot}` and by a create with
/// `wait_for_completion=true`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotInfo {
    /// Snapshot name.
    pub snapshot: String,
    /// Snapshot UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Repository (absent in 7.x listings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Version that took the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Indices in the snapshot.
    #[serde(default)]
    pub indices: Vec<String>,
    /// Data streams in the snapshot.
    #[serde(default)]
    pub data_streams: Vec<String>,
    /// Whether the global state was included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_global_state: Option<bool>,
    /// State.
    pub state: SnapshotState,
    /// Start time (epoch millis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time_in_millis: Option<i64>,
    /// End time (epoch millis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time_in_millis: Option<i64>,
    /// Duration (millis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_in_millis: Option<i64>,
    /// Shard failures.
    #[serde(default)]
    pub failures: Vec<SnapshotShardFailure>,
    /// Shard counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<ShardCounts>,
    /// User metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, Value>>,
}

impl SnapshotInfo {
    /// Start time as a UTC timestamp.
    pub fn start_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.start_time_in_millis.and_then(chrono::DateTime::from_timestamp_millis)
    }

    /// A metadata value as a string.
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata.as_ref()?.get(key)?.as_str()
    }
}

/// `GET /_snapshot/{repo}/{snapshots}` response body.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SnapshotList {
    #[serde(default)]
    pub snapshots: Vec<SnapshotInfo>,
    /// Per-repository failures of a multi-repository listing (8.x).
    #[serde(default)]
    pub failures: Option<BTreeMap<String, Value>>,
}

/// `PUT /_snapshot/{repo}/{snapshot}` response body.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CreateSnapshotResponse {
    #[serde(default)]
    pub snapshot: Option<SnapshotInfo>,
    #[serde(default)]
    pub accepted: Option<bool>,
}

/// Size block in snapshot status.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FileStats {
    /// Number of files (-1 when unknown).
    #[serde(default)]
    pub file_count: i64,
    /// Size in bytes (-1 when unknown).
    #[serde(default)]
    pub size_in_bytes: i64,
}

/// `stats` block in snapshot status.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SnapshotStats {
    /// Incremental (new) files.
    #[serde(default)]
    pub incremental: FileStats,
    /// All files referenced.
    #[serde(default)]
    pub total: FileStats,
}

/// Per-index entry of snapshot status.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IndexSnapshotStatus {
    /// Statistics.
    #[serde(default)]
    pub stats: SnapshotStats,
}

/// One snapshot in `GET /_snapshot/{repo}/{snap}/_status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotStatus {
    /// Snapshot name.
    pub snapshot: String,
    /// Repository.
    #[serde(default)]
    pub repository: String,
    /// State (`SUCCESS`, `STARTED`, ...).
    pub state: SnapshotState,
    /// Aggregate stats.
    #[serde(default)]
    pub stats: SnapshotStats,
    /// Per-index stats.
    #[serde(default)]
    pub indices: BTreeMap<String, IndexSnapshotStatus>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SnapshotStatusList {
    #[serde(default)]
    pub snapshots: Vec<SnapshotStatus>,
}

/// `POST /_snapshot/{repo}/{snap}/_restore` response body.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RestoreResponse {
    #[serde(default)]
    pub accepted: Option<bool>,
    #[serde(default)]
    pub snapshot: Option<Value>,
}

/// `POST /_snapshot/{repo}/_verify` response body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct VerifyResponse {
    /// Nodes that verified the repository: node id → node info.
    #[serde(default)]
    pub nodes: BTreeMap<String, VerifiedNode>,
}

/// A node that verified a repository.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct VerifiedNode {
    /// Node name.
    #[serde(default)]
    pub name: String,
}

fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    // `_cat` JSON values are strings, or null when unknown; be lenient about numbers.
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

/// A raw row of `_cat/indices?format=json`.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct CatIndexRow {
    #[serde(default, deserialize_with = "opt_string")]
    pub health: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub index: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub uuid: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub pri: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub rep: Option<String>,
    #[serde(default, rename = "docs.count", deserialize_with = "opt_string")]
    pub docs_count: Option<String>,
    #[serde(default, rename = "store.size", deserialize_with = "opt_string")]
    pub store_size: Option<String>,
    #[serde(default, rename = "pri.store.size", deserialize_with = "opt_string")]
    pub pri_store_size: Option<String>,
}

/// One index as listed by `_cat/indices`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IndexSummary {
    /// Index name.
    pub name: String,
    /// Health (`green`, `yellow`, `red`), if known.
    pub health: Option<String>,
    /// Status (`open`, `close`).
    pub status: Option<String>,
    /// Index UUID.
    pub uuid: Option<String>,
    /// Number of primary shards.
    pub primaries: Option<u32>,
    /// Number of replicas.
    pub replicas: Option<u32>,
    /// Document count (unknown while primaries are not started).
    pub docs_count: Option<u64>,
    /// Store size including replicas, bytes.
    pub store_bytes: Option<u64>,
    /// Primary store size, bytes.
    pub pri_store_bytes: Option<u64>,
}

/// Parses a byte size as printed by `_cat` APIs: a bare integer with `bytes=b`, or a human value
/// such as `88.1kb` otherwise.
pub fn parse_cat_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<u64>() {
        return Some(n);
    }
    let lower = s.to_ascii_lowercase();
    let split = lower.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = lower.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult: f64 = match unit {
        "b" => 1.0,
        "kb" => 1024.0,
        "mb" => 1024.0 * 1024.0,
        "gb" => 1024.0f64.powi(3),
        "tb" => 1024.0f64.powi(4),
        "pb" => 1024.0f64.powi(5),
        _ => return None,
    };
    Some((num * mult).round() as u64)
}

impl CatIndexRow {
    pub(crate) fn into_summary(self) -> Option<IndexSummary> {
        Some(IndexSummary {
            name: self.index?.trim().to_string(),
            health: self.health,
            status: self.status,
            uuid: self.uuid.map(|u| u.trim().to_string()),
            primaries: self.pri.and_then(|p| p.trim().parse().ok()),
            replicas: self.rep.and_then(|p| p.trim().parse().ok()),
            docs_count: self.docs_count.and_then(|p| p.trim().parse().ok()),
            store_bytes: self.store_size.as_deref().and_then(parse_cat_bytes),
            pri_store_bytes: self.pri_store_size.as_deref().and_then(parse_cat_bytes),
        })
    }
}

/// A raw row of `_cat/allocation?format=json`.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct CatAllocationRow {
    #[serde(default, rename = "disk.used", deserialize_with = "opt_string")]
    pub disk_used: Option<String>,
    #[serde(default, rename = "disk.avail", deserialize_with = "opt_string")]
    pub disk_avail: Option<String>,
    #[serde(default, rename = "disk.total", deserialize_with = "opt_string")]
    pub disk_total: Option<String>,
    #[serde(default, rename = "disk.indices", deserialize_with = "opt_string")]
    pub disk_indices: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub node: Option<String>,
}

/// Disk usage of one data node (from `_cat/allocation`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeDisk {
    /// Node name.
    pub node: String,
    /// Bytes used on the node's data path(s).
    pub used: u64,
    /// Bytes available.
    pub available: u64,
    /// Total bytes.
    pub total: u64,
    /// Bytes used by indices.
    pub indices: Option<u64>,
}

impl CatAllocationRow {
    /// Rows without disk values (the `UNASSIGNED` pseudo-node) yield `None`.
    pub(crate) fn into_node(self) -> Option<NodeDisk> {
        let node = self.node?;
        Some(NodeDisk {
            used: parse_cat_bytes(self.disk_used.as_deref()?)?,
            available: parse_cat_bytes(self.disk_avail.as_deref()?)?,
            total: parse_cat_bytes(self.disk_total.as_deref()?)?,
            indices: self.disk_indices.as_deref().and_then(parse_cat_bytes),
            node,
        })
    }
}

/// Cluster-wide disk totals over data nodes.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DiskUsage {
    /// Bytes used.
    pub used: u64,
    /// Bytes available.
    pub available: u64,
    /// Total bytes.
    pub total: u64,
}

impl DiskUsage {
    /// Sums node disks.
    pub fn from_nodes(nodes: &[NodeDisk]) -> Self {
        nodes.iter().fold(DiskUsage::default(), |acc, n| DiskUsage {
            used: acc.used + n.used,
            available: acc.available + n.available,
            total: acc.total + n.total,
        })
    }
}

/// Per-index block of `_cluster/health?level=indices`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IndexHealth {
    /// `green`, `yellow`, `red`.
    #[serde(default)]
    pub status: String,
    /// Primary shard count.
    #[serde(default)]
    pub number_of_shards: u32,
    /// Replica count.
    #[serde(default)]
    pub number_of_replicas: u32,
    /// Active primaries.
    #[serde(default)]
    pub active_primary_shards: u32,
    /// Active shards.
    #[serde(default)]
    pub active_shards: u32,
    /// Initializing shards.
    #[serde(default)]
    pub initializing_shards: u32,
    /// Unassigned shards.
    #[serde(default)]
    pub unassigned_shards: u32,
    /// Per shard number (with `level=shards`).
    #[serde(default)]
    pub shards: BTreeMap<String, ShardHealth>,
}

/// Per-shard block of `_cluster/health?level=shards` (a primary and its replicas).
///
/// An inactive primary is `yellow` while it waits for or runs its first recovery from a snapshot
/// (or an empty store) and `red` once an allocation of it failed or the allocation deciders refuse
/// it (Elasticsearch's `ClusterShardHealth.getInactivePrimaryHealth`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ShardHealth {
    /// `green`, `yellow`, `red`.
    #[serde(default)]
    pub status: String,
    /// Whether the primary is started.
    #[serde(default)]
    pub primary_active: bool,
    /// Active copies.
    #[serde(default)]
    pub active_shards: u32,
    /// Initializing copies.
    #[serde(default)]
    pub initializing_shards: u32,
    /// Unassigned copies.
    #[serde(default)]
    pub unassigned_shards: u32,
}

/// `GET /_cluster/health` response.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClusterHealth {
    /// Cluster name.
    #[serde(default)]
    pub cluster_name: String,
    /// Status.
    #[serde(default)]
    pub status: String,
    /// Whether the request timed out.
    #[serde(default)]
    pub timed_out: bool,
    /// Per index (with `level=indices`).
    #[serde(default)]
    pub indices: BTreeMap<String, IndexHealth>,
}

/// Size block of a shard recovery.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RecoverySize {
    /// Total bytes.
    #[serde(default)]
    pub total_in_bytes: u64,
    /// Recovered bytes.
    #[serde(default)]
    pub recovered_in_bytes: u64,
}

/// Index block of a shard recovery.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RecoveryIndex {
    /// Sizes.
    #[serde(default)]
    pub size: RecoverySize,
}

/// Source of a shard recovery (for snapshot recoveries: repository and snapshot).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RecoverySource {
    /// Repository (snapshot recoveries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Snapshot (snapshot recoveries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Source index in the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
}

/// One shard in `GET /{index}/_recovery`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShardRecovery {
    /// Shard number.
    pub id: u32,
    /// `SNAPSHOT`, `PEER`, `EXISTING_STORE`, ...
    #[serde(rename = "type")]
    pub recovery_type: String,
    /// `INIT`, `INDEX`, `VERIFY_INDEX`, `TRANSLOG`, `FINALIZE`, `DONE`.
    pub stage: String,
    /// Whether this is the primary.
    #[serde(default)]
    pub primary: bool,
    /// Source.
    #[serde(default)]
    pub source: RecoverySource,
    /// Index/bytes progress.
    #[serde(default)]
    pub index: RecoveryIndex,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct IndexRecovery {
    #[serde(default)]
    pub shards: Vec<ShardRecovery>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CountResponse {
    pub count: u64,
}

/// The `config` block of an SLM policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SlmConfig {
    /// Index patterns (string or list on the wire; we always send a list).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "string_or_list")]
    pub indices: Option<Vec<String>>,
    /// Ignore missing indices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_unavailable: Option<bool>,
    /// Include the cluster state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_global_state: Option<bool>,
    /// Allow partial snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<bool>,
    /// Snapshot metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, Value>>,
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.split(',').map(|p| p.trim().to_string()).collect()),
        Some(Value::Array(a)) => Some(a.into_iter().filter_map(|x| x.as_str().map(str::to_string)).collect()),
        Some(_) => None,
    })
}

/// The `retention` block of an SLM policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SlmRetention {
    /// Delete snapshots older than this (e.g. `30d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_after: Option<String>,
    /// Keep at least this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_count: Option<u32>,
    /// Keep at most this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u32>,
}

/// An Elasticsearch SLM policy definition (`PUT /_slm/policy/{id}` body).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SlmPolicy {
    /// Snapshot name, usually date math such as `<daily-snap-{now/d}>`.
    pub name: String,
    /// Cron schedule, e.g. `0 30 1 * * ?`.
    pub schedule: String,
    /// Repository.
    pub repository: String,
    /// Snapshot configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<SlmConfig>,
    /// Retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<SlmRetention>,
}

/// Last success/failure of an SLM policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SlmInvocation {
    /// Snapshot name.
    #[serde(default)]
    pub snapshot_name: String,
    /// Time (epoch millis).
    #[serde(default)]
    pub time: i64,
}

/// An SLM policy as returned by `GET /_slm/policy/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SlmPolicyInfo {
    /// Policy id.
    #[serde(default)]
    pub id: String,
    /// Version.
    #[serde(default)]
    pub version: u64,
    /// Modification time (epoch millis).
    #[serde(default)]
    pub modified_date_millis: i64,
    /// Definition.
    pub policy: SlmPolicy,
    /// Last success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<SlmInvocation>,
    /// Last failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<SlmInvocation>,
    /// Next execution (epoch millis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_execution_millis: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SlmExecuteResponse {
    pub snapshot_name: String,
}

/// The Elasticsearch error envelope: `{"error": {...}, "status": N}` or `{"error": "text", "status": N}`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ErrorEnvelope {
    pub error: Value,
}

impl ErrorEnvelope {
    /// (type, reason) of the error, including the first `caused_by` reason when present.
    pub(crate) fn type_and_reason(&self) -> (String, String) {
        match &self.error {
            Value::String(s) => ("error".to_string(), s.clone()),
            Value::Object(o) => {
                let ty = o.get("type").and_then(Value::as_str).unwrap_or("error").to_string();
                let mut reason = o.get("reason").and_then(Value::as_str).unwrap_or("").to_string();
                if let Some(cause) = o.get("caused_by").and_then(Value::as_object) {
                    let cty = cause.get("type").and_then(Value::as_str).unwrap_or("");
                    let creason = cause.get("reason").and_then(Value::as_str).unwrap_or("");
                    reason = format!("{reason} (caused by {cty}: {creason})");
                }
                (ty, reason)
            }
            other => ("error".to_string(), other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cat_bytes_parse_plain_and_human() {
        assert_eq!(parse_cat_bytes("260"), Some(260));
        assert_eq!(parse_cat_bytes("260b"), Some(260));
        assert_eq!(parse_cat_bytes("1kb"), Some(1024));
        assert_eq!(parse_cat_bytes("43.4gb"), Some((43.4 * 1024f64.powi(3)).round() as u64));
        assert_eq!(parse_cat_bytes(""), None);
        assert_eq!(parse_cat_bytes("12xb"), None);
    }

    #[test]
    fn snapshot_state_round_trip() {
        for s in ["IN_PROGRESS", "SUCCESS", "FAILED", "PARTIAL", "INCOMPATIBLE"] {
            assert_eq!(SnapshotState::parse(s).as_str(), s);
        }
        assert_eq!(SnapshotState::parse("STARTED"), SnapshotState::InProgress);
        assert_eq!(SnapshotState::parse("WEIRD"), SnapshotState::Other("WEIRD".into()));
    }
}

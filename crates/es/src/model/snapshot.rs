//! Snapshots: their state, what `GET /_snapshot/{repo}/{snapshot}` and `.../_status` return, the body
//! of a create request and what taking one produced.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

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

/// The snapshot metadata key holding when Lifeboat asked for the snapshot (RFC 3339, by the
/// manager's clock).
pub const META_TAKEN_AT: &str = "lifeboat_taken_at";

impl SnapshotInfo {
    /// Start time as a UTC timestamp.
    pub fn start_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.start_time_in_millis.and_then(chrono::DateTime::from_timestamp_millis)
    }

    /// When the snapshot was taken as Lifeboat dates it: the [`META_TAKEN_AT`] metadata Lifeboat
    /// writes (its own clock), else the cluster's start time. Retention judges age by this.
    pub fn taken_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.metadata_str(META_TAKEN_AT)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.to_utc())
            .or_else(|| self.start_time())
    }

    /// A metadata value as a string.
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata.as_ref()?.get(key)?.as_str()
    }
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

/// The body of a snapshot create request.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CreateSnapshotBody {
    /// Comma-separated index names or patterns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indices: Option<String>,
    /// Ignore missing indices.
    pub ignore_unavailable: bool,
    /// Include the cluster state.
    pub include_global_state: bool,
    /// Allow partial snapshots when primaries are unavailable.
    pub partial: bool,
    /// User metadata stored with the snapshot.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, Value>,
}

/// The result of a snapshot create request.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    /// `wait_for_completion=true`: the finished snapshot.
    Completed(Box<SnapshotInfo>),
    /// `wait_for_completion=false`: the snapshot was accepted and runs in the background.
    Accepted,
}

/// A snapshot taken (or found) by a snapshot create or a policy run.
#[derive(Debug, Clone, PartialEq)]
pub struct TakenSnapshot {
    /// The finished snapshot.
    pub info: SnapshotInfo,
    /// True when it already existed (a second policy run on the same day).
    pub already_existed: bool,
    /// Catalog entries written.
    pub catalogued: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_state_round_trip() {
        for s in ["IN_PROGRESS", "SUCCESS", "FAILED", "PARTIAL", "INCOMPATIBLE"] {
            assert_eq!(SnapshotState::parse(s).as_str(), s);
        }
        assert_eq!(SnapshotState::parse("STARTED"), SnapshotState::InProgress);
        assert_eq!(SnapshotState::parse("WEIRD"), SnapshotState::Other("WEIRD".into()));
    }
}

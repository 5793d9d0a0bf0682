//! Time-range restores as data: the request, the plan (with its capacity check), the persisted
//! record and its measured progress, and the body of a restore request.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{EsError, Result};
use crate::model::cluster::DiskUsage;
use crate::model::names::{validate_index_pattern, validate_restore_prefix};
use crate::model::time::TimeRange;

/// Default prefix of restored indices.
pub const DEFAULT_PREFIX: &str = "restore_";
/// Default disk usage limit (fraction of total) after a restore.
pub const DEFAULT_MAX_DISK_USAGE: f64 = 0.85;

/// What to restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreRequest {
    /// Comma-separated index patterns.
    pub pattern: String,
    /// The time range the indices must overlap.
    pub range: TimeRange,
    /// Prefix of the restored index names.
    pub prefix: String,
    /// How long the restored indices are kept (`None`: until deleted by hand).
    #[serde(default, with = "opt_duration_secs")]
    pub expire_after: Option<Duration>,
    /// Refuse when disk usage after the restore would exceed this fraction (0 < x ≤ 1).
    pub max_disk_usage: f64,
    /// Also restore matching indices whose time range is not known (no time pattern or
    /// field): what a drill of everything wants. A time-range restore leaves them out.
    #[serde(default)]
    pub include_untimed: bool,
}

mod opt_duration_secs {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.num_seconds()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<i64>::deserialize(d)?.map(Duration::seconds))
    }
}

impl RestoreRequest {
    /// A request with the default prefix, no expiry and the default disk limit.
    pub fn new(pattern: &str, range: TimeRange) -> Self {
        RestoreRequest {
            pattern: pattern.to_string(),
            range,
            prefix: DEFAULT_PREFIX.to_string(),
            expire_after: None,
            max_disk_usage: DEFAULT_MAX_DISK_USAGE,
            include_untimed: false,
        }
    }

    /// Validates the request.
    pub fn validate(&self) -> Result<()> {
        validate_index_pattern(&self.pattern)?;
        validate_restore_prefix(&self.prefix)?;
        if !(self.max_disk_usage > 0.0 && self.max_disk_usage <= 1.0) {
            return Err(EsError::invalid(
                "max disk usage",
                self.max_disk_usage.to_string(),
                "must be a fraction in (0, 1], e.g. 0.85",
            ));
        }
        if self.expire_after.is_some_and(|d| d <= Duration::zero()) {
            return Err(EsError::invalid("expire-after", "0", "must be positive"));
        }
        Ok(())
    }
}

/// One index to restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedIndex {
    /// Index name in the snapshot.
    pub source: String,
    /// Name after the restore (`prefix + source`).
    pub target: String,
    /// Documents according to the catalog.
    pub expected_docs: Option<u64>,
    /// Store size according to the catalog.
    pub store_bytes: Option<u64>,
    /// Time range according to the catalog.
    pub time_range: Option<TimeRange>,
}

/// Indices restored together from one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedGroup {
    /// Repository.
    pub repository: String,
    /// Snapshot.
    pub snapshot: String,
    /// Indices.
    pub indices: Vec<PlannedIndex>,
}

/// An index that is not restored again because an earlier restore already did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedIndex {
    /// Source index.
    pub source: String,
    /// Restored name.
    pub target: String,
    /// The restore that holds it.
    pub restore_id: String,
}

/// A restore plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestorePlan {
    /// The request.
    pub request: RestoreRequest,
    /// Groups to restore, one per snapshot.
    pub groups: Vec<PlannedGroup>,
    /// Indices already restored.
    pub skipped: Vec<SkippedIndex>,
    /// Catalogued indices matching the pattern whose time range is unknown (not restored).
    pub unknown_range: Vec<String>,
    /// Total bytes to restore.
    pub total_bytes: u64,
    /// Total documents to restore, when every count is known.
    pub total_docs: Option<u64>,
    /// Disk usage of the target cluster before the restore.
    pub disk: DiskUsage,
    /// Bytes Lifeboat's restores still running on the cluster have yet to copy: `disk.used` barely
    /// shows a restore that is still copying, so the capacity check adds these.
    #[serde(default)]
    pub in_flight_bytes: u64,
}

impl RestorePlan {
    /// Number of indices to restore.
    pub fn index_count(&self) -> usize {
        self.groups.iter().map(|g| g.indices.len()).sum()
    }
}

/// State of a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreState {
    /// Recorded, restore requests not all sent yet.
    Pending,
    /// Shards still recovering.
    Running,
    /// Every shard recovered, none failed.
    Succeeded,
    /// A shard failed, an index is missing or a restore request was refused.
    Failed,
    /// The restored indices were deleted.
    Deleted,
}

impl std::fmt::Display for RestoreState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RestoreState::Pending => "pending",
            RestoreState::Running => "running",
            RestoreState::Succeeded => "succeeded",
            RestoreState::Failed => "failed",
            RestoreState::Deleted => "deleted",
        })
    }
}

/// A restored index in a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreIndexRecord {
    /// Source index.
    pub source: String,
    /// Restored name.
    pub target: String,
    /// Documents according to the catalog.
    pub expected_docs: Option<u64>,
    /// Bytes according to the catalog.
    pub store_bytes: Option<u64>,
}

/// One snapshot's part of a restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreGroupRecord {
    /// Repository.
    pub repository: String,
    /// Snapshot.
    pub snapshot: String,
    /// Indices.
    pub indices: Vec<RestoreIndexRecord>,
    /// True once Elasticsearch accepted the restore request.
    pub started: bool,
    /// Why the restore request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Progress of one restored index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexProgress {
    /// Restored name.
    pub target: String,
    /// Primary shards.
    pub shards_total: u32,
    /// Primaries fully recovered.
    pub shards_done: u32,
    /// Primaries that failed.
    pub shards_failed: u32,
    /// Primaries waiting for a recovery slot (unassigned, no recovery state yet): in progress.
    #[serde(default)]
    pub shards_queued: u32,
    /// Documents visible now.
    pub docs: u64,
    /// Documents expected from the catalog.
    pub expected_docs: Option<u64>,
    /// Bytes recovered so far.
    pub bytes_recovered: u64,
    /// Bytes to recover.
    pub bytes_total: u64,
    /// What is wrong, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Progress of a restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreProgress {
    /// Documents visible in the restored indices.
    pub docs_recovered: u64,
    /// Documents expected (catalog), when every count is known.
    pub docs_expected: Option<u64>,
    /// Primary shards in total.
    pub shards_total: u32,
    /// Primaries recovered.
    pub shards_done: u32,
    /// Primaries failed.
    pub shards_failed: u32,
    /// Per index.
    pub indices: Vec<IndexProgress>,
    /// Warnings that do not fail the restore (e.g. document count differs from the catalog because
    /// the index was written to while it was snapshotted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// When this was measured.
    pub checked_at: DateTime<Utc>,
}

/// A restore, persisted in the state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreRecord {
    /// Id (`r<timestamp>-<random>`).
    pub id: String,
    /// Tenant (or `admin`).
    pub tenant: String,
    /// UUID of the cluster the indices were restored into.
    pub cluster_uuid: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When the restored indices may be dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Pattern requested.
    pub pattern: String,
    /// Range requested.
    pub range: TimeRange,
    /// Prefix used.
    pub prefix: String,
    /// Groups.
    pub groups: Vec<RestoreGroupRecord>,
    /// Indices skipped because another restore holds them.
    #[serde(default)]
    pub skipped: Vec<SkippedIndex>,
    /// Current state.
    pub state: RestoreState,
    /// Last measured progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<RestoreProgress>,
    /// When the restored indices were deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl RestoreRecord {
    /// Every restored index name of the groups that were started.
    pub fn targets(&self) -> Vec<String> {
        self.groups.iter().filter(|g| g.started).flat_map(|g| g.indices.iter().map(|i| i.target.clone())).collect()
    }

    /// True when the record is past its expiry at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

/// The body of a restore request.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RestoreBody {
    /// Comma-separated index names to restore.
    pub indices: String,
    /// Ignore indices missing from the snapshot.
    pub ignore_unavailable: bool,
    /// Restore the cluster state (always false for lifeboat).
    pub include_global_state: bool,
    /// Regex applied to index names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rename_pattern: Option<String>,
    /// Replacement for `rename_pattern`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rename_replacement: Option<String>,
    /// Restore aliases.
    pub include_aliases: bool,
    /// Index settings to override on the restored indices.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub index_settings: BTreeMap<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_validation() {
        let range = TimeRange::new(Utc::now() - Duration::days(1), Utc::now()).unwrap();
        let mut r = RestoreRequest::new("logs-*", range);
        assert!(r.validate().is_ok());
        r.max_disk_usage = 1.5;
        assert!(r.validate().is_err());
        r.max_disk_usage = 0.85;
        r.prefix = "".into();
        assert!(r.validate().is_err());
        r.prefix = "Restore_".into();
        assert!(r.validate().is_err());
    }
}

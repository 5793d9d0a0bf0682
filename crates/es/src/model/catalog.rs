//! The snapshot catalog: which index lives in which snapshot, with its document count, store size
//! and the time range it covers. It is persisted per tenant so restores are planned without
//! re-reading every snapshot.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::snapshot::SnapshotState;
use crate::model::time::TimeRange;

/// One index in one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// Repository name.
    pub repository: String,
    /// Snapshot name.
    pub snapshot: String,
    /// Snapshot UUID, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_uuid: Option<String>,
    /// Snapshot start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_start: Option<DateTime<Utc>>,
    /// Snapshot state when catalogued (only `SUCCESS` snapshots are used for restores).
    pub snapshot_state: SnapshotState,
    /// Index name.
    pub index: String,
    /// Documents in the index when it was snapshotted (unknown for indices catalogued after they
    /// were deleted from the cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_count: Option<u64>,
    /// Store size in bytes when snapshotted (including replicas when taken from `_cat/indices`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_bytes: Option<u64>,
    /// The period the index covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_range: Option<TimeRange>,
    /// The lifeboat policy that took the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// When this entry was written.
    pub recorded_at: DateTime<Utc>,
}

/// Adds or replaces entries (keyed by repository, snapshot and index).
pub fn upsert(catalog: &mut Vec<CatalogEntry>, entries: Vec<CatalogEntry>) {
    for e in entries {
        catalog.retain(|x| !(x.repository == e.repository && x.snapshot == e.snapshot && x.index == e.index));
        catalog.push(e);
    }
    catalog.sort_by(|a, b| {
        (a.repository.as_str(), a.snapshot_start, a.snapshot.as_str(), a.index.as_str()).cmp(&(
            b.repository.as_str(),
            b.snapshot_start,
            b.snapshot.as_str(),
            b.index.as_str(),
        ))
    });
}

/// Removes every entry of a snapshot; returns how many were removed.
pub fn remove_snapshot(catalog: &mut Vec<CatalogEntry>, repository: &str, snapshot: &str) -> usize {
    let before = catalog.len();
    catalog.retain(|x| !(x.repository == repository && x.snapshot == snapshot));
    before - catalog.len()
}

/// What a catalog scan changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    /// Snapshots newly catalogued.
    pub added_snapshots: Vec<String>,
    /// Catalog entries written.
    pub added_entries: usize,
    /// Snapshots dropped from the catalog because they no longer exist.
    pub removed_snapshots: Vec<String>,
    /// Snapshots skipped because they are not `SUCCESS`.
    pub skipped_snapshots: Vec<String>,
    /// Indices whose time range could not be determined.
    pub indices_without_range: Vec<String>,
}

//! The snapshot catalog: which index lives in which snapshot, with its document count, store size
//! and the time range it covers. It is persisted per tenant so restores are planned without
//! re-reading every snapshot.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::client::EsClient;
use crate::error::Result;
use crate::models::SnapshotState;
use crate::time::{NamePattern, TimeRange, TimeSource};

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

/// Lower bound of the timestamp search (epoch millis): 1970-01-01.
const SEARCH_LOW: i64 = 0;
/// Upper bound of the timestamp search (epoch millis): about the year 2109.
const SEARCH_HIGH: i64 = 1 << 42;

/// Works out the time range of a (live) index.
///
/// With [`TimeSource::IndexName`] it is read from the name. With [`TimeSource::Field`] the minimum
/// and maximum of the field are found by bisection with range `_count` queries (the contract this
/// crate is limited to has no search API), about 2 × 42 requests per index, to the millisecond.
/// Returns `None` when the name does not match or the index has no documents with the field.
pub async fn resolve_time_range(client: &EsClient, index: &str, source: &TimeSource) -> Result<Option<TimeRange>> {
    match source {
        TimeSource::IndexName { pattern } => Ok(NamePattern::parse(pattern)?.range_for(index)),
        TimeSource::Field { field } => field_range(client, index, field).await,
    }
}

async fn field_range(client: &EsClient, index: &str, field: &str) -> Result<Option<TimeRange>> {
    let count = |lo: i64, hi: i64| client.count(index, Some((field, lo, hi)));
    if count(SEARCH_LOW, SEARCH_HIGH).await? == 0 {
        return Ok(None);
    }
    // Smallest x with docs in [LOW, x): min = x - 1.
    let (mut lo, mut hi) = (SEARCH_LOW, SEARCH_HIGH);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if count(SEARCH_LOW, mid).await? > 0 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let min = hi - 1;
    // Largest x with docs in [x, HIGH): max = x.
    let (mut lo, mut hi) = (min, SEARCH_HIGH);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if count(mid, SEARCH_HIGH).await? > 0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let max = lo;
    let start = DateTime::from_timestamp_millis(min);
    let end = DateTime::from_timestamp_millis(max + 1);
    Ok(match (start, end) {
        (Some(start), Some(end)) => Some(TimeRange { start, end }),
        _ => None,
    })
}

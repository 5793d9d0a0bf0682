//! The catalog of a scope: list it, bring it up to date with a repository's snapshots, and work
//! out the time range an index covers.

use std::collections::{BTreeMap, BTreeSet};

use chrono::DateTime;

use crate::client::EsClient;
use crate::error::Result;
use crate::manager::EsManager;
use crate::model::catalog;
use crate::model::{CatalogEntry, IndexSummary, NamePattern, ScanReport, SnapshotState, TimeRange, TimeSource};

/// The snapshot catalog of a manager's scope (see [`EsManager::catalog`]).
#[derive(Debug, Clone, Copy)]
pub struct Catalog<'a> {
    es: &'a EsManager,
}

impl EsManager {
    /// The snapshot catalog: list and scan.
    pub fn catalog(&self) -> Catalog<'_> {
        Catalog { es: self }
    }
}

impl Catalog<'_> {
    /// The scope's catalog.
    pub async fn list(&self) -> Result<Vec<CatalogEntry>> {
        Ok(self.es.store().load(&self.es.state_key()).await?.catalog)
    }

    /// Brings the catalog of one repository up to date: catalogues successful snapshots not yet in
    /// it (sizes from the snapshot status API, document counts from indices still live) and drops
    /// snapshots that no longer exist.
    pub async fn scan(&self, repository: &str, time_source: Option<TimeSource>) -> Result<ScanReport> {
        if let Some(ts) = &time_source {
            ts.validate()?;
        }
        self.es.repositories().owned(repository, "catalog").await?;
        let snaps = self.es.client().get_snapshots(repository, "_all", false).await?;
        let existing = self.list().await?;
        let known: BTreeSet<&str> =
            existing.iter().filter(|e| e.repository == repository).map(|e| e.snapshot.as_str()).collect();
        let present: BTreeSet<&str> = snaps.iter().map(|s| s.snapshot.as_str()).collect();
        let mut report = ScanReport {
            removed_snapshots: known.iter().filter(|k| !present.contains(*k)).map(|k| k.to_string()).collect(),
            ..Default::default()
        };
        let live: BTreeMap<String, IndexSummary> =
            self.es.client().cat_indices(None).await?.into_iter().map(|i| (i.name.clone(), i)).collect();
        let mut entries = Vec::new();
        for snap in &snaps {
            if known.contains(snap.snapshot.as_str()) {
                continue;
            }
            if snap.state != SnapshotState::Success {
                report.skipped_snapshots.push(snap.snapshot.clone());
                continue;
            }
            let owned: Vec<&String> =
                snap.indices.iter().filter(|i| self.es.scope().check_index(i, "catalog").is_ok()).collect();
            if owned.is_empty() {
                continue;
            }
            let status = self.es.client().snapshot_status(repository, &snap.snapshot).await?;
            for index in owned {
                let summary = live.get(index);
                let size = status
                    .indices
                    .get(index)
                    .map(|s| s.stats.total.size_in_bytes)
                    .filter(|s| *s >= 0)
                    .map(|s| s as u64);
                let time_range = match (&time_source, summary) {
                    (Some(TimeSource::IndexName { pattern }), _) => NamePattern::parse(pattern)?.range_for(index),
                    (Some(ts @ TimeSource::Field { .. }), Some(_)) => {
                        resolve_time_range(self.es.client(), index, ts).await?
                    }
                    _ => None,
                };
                if time_range.is_none() {
                    report.indices_without_range.push(format!("{}:{index}", snap.snapshot));
                }
                entries.push(CatalogEntry {
                    repository: repository.to_string(),
                    snapshot: snap.snapshot.clone(),
                    snapshot_uuid: snap.uuid.clone(),
                    snapshot_start: snap.start_time(),
                    snapshot_state: snap.state.clone(),
                    index: index.clone(),
                    doc_count: summary.and_then(|s| s.docs_count),
                    store_bytes: size.or_else(|| summary.and_then(|s| s.store_bytes)),
                    time_range,
                    policy: snap.metadata_str("lifeboat_policy").map(str::to_string),
                    recorded_at: self.es.now(),
                });
            }
            report.added_snapshots.push(snap.snapshot.clone());
        }
        report.added_entries = entries.len();
        let repo = repository.to_string();
        let removed = report.removed_snapshots.clone();
        self.es
            .store()
            .update(&self.es.state_key(), move |st| {
                for s in &removed {
                    catalog::remove_snapshot(&mut st.catalog, &repo, s);
                }
                catalog::upsert(&mut st.catalog, entries);
                Ok(())
            })
            .await?;
        Ok(report)
    }
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

//! Measuring a restore's progress from three declared APIs: `_cat/indices` (document count),
//! `_cluster/health?level=shards` (per-shard health) and `/{index}/_recovery` (per-shard stage of
//! the `SNAPSHOT` recovery).
//!
//! Elasticsearch recovers only a few primaries per node at once
//! (`cluster.routing.allocation.node_initial_primaries_recoveries`, default 4); the others wait
//! unassigned with no recovery state, and their shard health stays yellow. Such a queued primary is
//! in progress. A primary has failed only when it is unassigned and red: Elasticsearch turns an
//! inactive restored primary red once its allocation failed (and drops its recovery state) or the
//! allocation deciders refuse it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::client::EsClient;
use crate::error::Result;
use crate::model::{IndexHealth, IndexProgress, IndexSummary, RestoreProgress, RestoreRecord, ShardRecovery};

pub(crate) async fn measure(client: &EsClient, record: &RestoreRecord, now: DateTime<Utc>) -> Result<RestoreProgress> {
    let targets = record.targets();
    let live: BTreeMap<String, IndexSummary> = client
        .cat_indices(Some(&format!("{}*", record.prefix)))
        .await?
        .into_iter()
        .filter(|i| targets.contains(&i.name))
        .map(|i| (i.name.clone(), i))
        .collect();
    let present: Vec<String> = live.keys().cloned().collect();
    let (health, recovery, live) = if present.is_empty() {
        (Default::default(), BTreeMap::new(), live)
    } else {
        let health = client.health_of(&present).await?;
        let recovery = client.recovery(&present).await?;
        // Documents become visible only as shards recover, so the count is read again after the
        // recovery state: read before it, a shard that finished in between would be DONE with
        // its documents uncounted, and a finished restore would report too few of them.
        let mut after = client.cat_indices(Some(&format!("{}*", record.prefix))).await?;
        after.retain(|i| live.contains_key(&i.name));
        let mut counted = live;
        for i in after {
            counted.insert(i.name.clone(), i);
        }
        (health, recovery, counted)
    };
    let mut out = RestoreProgress {
        docs_recovered: 0,
        docs_expected: Some(0),
        shards_total: 0,
        shards_done: 0,
        shards_failed: 0,
        indices: vec![],
        warnings: vec![],
        checked_at: now,
    };
    for g in record.groups.iter().filter(|g| g.started) {
        for i in &g.indices {
            out.docs_expected = match (out.docs_expected, i.expected_docs) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            let Some(summary) = live.get(&i.target) else {
                out.indices.push(IndexProgress {
                    target: i.target.clone(),
                    shards_total: 0,
                    shards_done: 0,
                    shards_failed: 0,
                    shards_queued: 0,
                    docs: 0,
                    expected_docs: i.expected_docs,
                    bytes_recovered: 0,
                    bytes_total: 0,
                    problem: Some("missing: the index does not exist on the cluster".into()),
                });
                continue;
            };
            let h = health.indices.get(&i.target).cloned().unwrap_or_default();
            let total = if h.number_of_shards > 0 { h.number_of_shards } else { summary.primaries.unwrap_or(0) };
            let shards: Vec<&ShardRecovery> =
                recovery.get(&i.target).map(|v| v.iter().filter(|s| s.primary).collect()).unwrap_or_default();
            let done = shards.iter().filter(|s| s.stage == "DONE").count() as u32;
            let recovering: BTreeSet<u32> = shards.iter().map(|s| s.id).collect();
            let failed = failed_primaries(&h, &recovering, total);
            let queued = total.saturating_sub(recovering.len() as u32 + failed);
            let docs = summary.docs_count.unwrap_or(0);
            let problem = if failed > 0 {
                Some(format!(
                    "{failed} primary shard(s) failed to restore (unassigned with shard health red: the \
                     allocation failed or the cluster refuses it; index health {})",
                    h.status
                ))
            } else {
                None
            };
            if failed == 0
                && done == total
                && total > 0
                && let Some(exp) = i.expected_docs.filter(|e| *e != docs)
            {
                out.warnings
                    .push(format!("[{}] has {docs} documents, the catalog recorded {exp} at snapshot time", i.target));
            }
            out.docs_recovered += docs;
            out.shards_total += total;
            out.shards_done += done;
            out.shards_failed += failed;
            out.indices.push(IndexProgress {
                target: i.target.clone(),
                shards_total: total,
                shards_done: done,
                shards_failed: failed,
                shards_queued: queued,
                docs,
                expected_docs: i.expected_docs,
                bytes_recovered: shards.iter().map(|s| s.index.size.recovered_in_bytes).sum(),
                bytes_total: shards.iter().map(|s| s.index.size.total_in_bytes).sum(),
                problem,
            });
        }
    }
    Ok(out)
}

/// Primaries of an index that failed to restore: unassigned (no recovery state) with shard health
/// red. Elasticsearch keeps an inactive restored primary yellow while it waits for a recovery slot
/// (`node_initial_primaries_recoveries` throttles them) or recovers, and turns it red only once an
/// allocation failed or the deciders refuse it; so queued is never counted as failed. Without the
/// shard level (an old or unusual cluster), an index that is red with nothing initializing counts
/// its primaries without a recovery state as failed.
fn failed_primaries(h: &IndexHealth, recovering: &BTreeSet<u32>, total: u32) -> u32 {
    if h.shards.is_empty() {
        let without_state = total.saturating_sub(recovering.len() as u32);
        return if h.status == "red" && h.initializing_shards == 0 { without_state } else { 0 };
    }
    h.shards
        .iter()
        .filter(|(id, sh)| {
            let id: Option<u32> = id.parse().ok();
            sh.status == "red"
                && !sh.primary_active
                && sh.initializing_shards == 0
                && id.is_some_and(|id| !recovering.contains(&id))
        })
        .count() as u32
}

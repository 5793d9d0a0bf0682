//! `_restore` and `/{index}/_recovery`: restores whose primaries recover over time, throttled by
//! `node_initial_primaries_recoveries`, and their recovery records.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::wildcard::wildcard_match;

use super::config::SnapIndex;
use super::http::{EsErr, HResult, es_err, index_not_found, ok};
use super::state::{
    EMPTY_SHARD_BYTES, Index, IndexRestore, ShardRestore, ShardState, Shared, disk, expand_indices, find_snapshot,
};
use super::text::{java_replacement, now_ms, string_list, truthy, validate_index_name};

pub(super) fn restore(
    shared: &Shared,
    repo: &str,
    snap_name: &str,
    body: Option<&Value>,
) -> Result<Vec<String>, EsErr> {
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

pub(super) fn recovery(shared: &Shared, expr: Option<&str>, q: &BTreeMap<String, String>) -> HResult {
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

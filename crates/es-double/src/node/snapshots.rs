//! `/_snapshot/{repository}/{snapshot}`: create (also date math and running snapshots), get, status
//! and delete snapshots.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::wildcard::wildcard_match;

use super::config::StoredSnapshot;
use super::date_math::resolve_date_math;
use super::http::{EsErr, HResult, es_err, ok, snapshot_missing};
use super::state::{EMPTY_SHARD_BYTES, Repo, Shared, expand_indices, repo_of, snap_index, tick};
use super::text::{iso, now_ms, string_list, truthy, validate_snapshot_name, version_id};

/// Creates a snapshot; returns its resolved name. With `slm_policy`, records it as SLM's.
pub(super) fn create_snapshot(
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

pub(super) fn snapshot_json(shared: &Shared, repo: &str, s: &StoredSnapshot, verbose: bool) -> Value {
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

pub(super) fn get_snapshots(shared: &Shared, repo: &str, names: &str, q: &BTreeMap<String, String>) -> HResult {
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

pub(super) fn stats_json(files: i64, bytes: i64, start_ms: i64) -> Value {
    json!({"incremental": {"file_count": files, "size_in_bytes": bytes},
        "total": {"file_count": files, "size_in_bytes": bytes},
        "start_time_in_millis": start_ms, "time_in_millis": 0})
}

pub(super) fn snapshot_status(
    shared: &Shared,
    repo: Option<&str>,
    names: Option<&str>,
    q: &BTreeMap<String, String>,
) -> HResult {
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

pub(super) fn delete_snapshots(shared: &Shared, repo: &str, names: &str) -> HResult {
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

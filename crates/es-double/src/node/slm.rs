//! `/_slm/policy/{id}`: put, get, delete and execute SLM policies.

use chrono::Utc;
use serde_json::{Map, Value, json};

use super::date_math::resolve_date_math;
use super::http::{HResult, es_err, ok};
use super::snapshots::create_snapshot;
use super::state::{Shared, SlmEntry};
use super::text::now_ms;

pub(super) fn slm_put(shared: &Shared, id: &str, body: Option<&Value>) -> HResult {
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

pub(super) fn slm_get(shared: &Shared, ids: Option<&str>) -> HResult {
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

pub(super) fn slm_delete(shared: &Shared, id: &str) -> HResult {
    let mut c = shared.lock();
    if c.slm.remove(id).is_none() {
        return Err(es_err(404, "resource_not_found_exception", format!("Snapshot lifecycle policy not found: {id}")));
    }
    ok(json!({"acknowledged": true}))
}

pub(super) fn slm_execute(shared: &Shared, id: &str) -> HResult {
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

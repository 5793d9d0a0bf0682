//! The front door: authentication, spec matching (an undeclared request is answered and recorded as
//! a violation), then the API that serves the request.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Request;
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::spec::{SpecViolation, percent_decode};

use super::cat::{cat_allocation, cat_count, cat_indices, cat_recovery, cat_snapshots};
use super::cluster::{cluster_stats, health, info};
use super::config::DoubleAuth;
use super::http::{EsErr, HResult, Reply, Resp, es_err, json_resp, sends_product_header, text_resp};
use super::indices::{count, delete_indices, index_stats};
use super::repositories::{delete_repository, get_repository, put_repository, verify_repository};
use super::restore::{recovery, restore};
use super::slm::{slm_delete, slm_execute, slm_get, slm_put};
use super::snapshots::{create_snapshot, delete_snapshots, get_snapshots, snapshot_json, snapshot_status};
use super::state::{RecordedRequest, Shared, find_snapshot};
use super::text::{base64, basic_header, part, truthy};

pub(super) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(raw_query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let auth_header = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let product = sends_product_header(&shared.cfg.version);
    let decoded_path = percent_decode(&path);

    // Authentication first, as the security layer does.
    if let Some(auth) = &shared.cfg.auth {
        let expected = match auth {
            DoubleAuth::Basic { username, password } => basic_header(username, password),
            DoubleAuth::ApiKey { id, key } => format!("ApiKey {}", base64(format!("{id}:{key}").as_bytes())),
        };
        if auth_header.as_deref() != Some(expected.as_str()) {
            let reason = match (&auth_header, auth) {
                (None, _) => format!("missing authentication credentials for REST request [{decoded_path}]"),
                (Some(_), DoubleAuth::Basic { .. }) => {
                    format!("unable to authenticate user for REST request [{decoded_path}]")
                }
                (Some(_), DoubleAuth::ApiKey { .. }) => "unable to authenticate with provided credentials".into(),
            };
            let cause = json!({"type": "security_exception", "reason": reason,
                "header": {"WWW-Authenticate": ["Basic realm=\"security\", charset=\"UTF-8\"", "ApiKey"]}});
            let mut top = cause.clone();
            top["root_cause"] = json!([cause]);
            let mut c = shared.lock();
            c.requests.push(RecordedRequest { method, path, query, api: None, status: 401 });
            return json_resp(401, &json!({"error": top, "status": 401}), product);
        }
    }

    let has_body = !body.is_empty();
    let matched = shared.spec.match_request(&method, &path, &query, has_body);
    let m = match matched {
        Ok(m) => m,
        Err(SpecViolation { status, message, error_type }) => {
            let resp_body = match &error_type {
                Some(t) => es_err(status, t, message.clone()).body,
                None => json!({"error": message, "status": status}),
            };
            let mut c = shared.lock();
            c.violations.push(format!("{method} {path}?{raw_query}: {message}"));
            c.requests.push(RecordedRequest { method, path, query, api: None, status });
            return json_resp(status, &resp_body, product);
        }
    };
    let qmap: BTreeMap<String, String> = query.iter().cloned().collect();
    let body_json: Option<Value> = if has_body {
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(e) => {
                let err = es_err(400, "x_content_parse_exception", format!("[1:1] failed to parse request body: {e}"));
                let mut c = shared.lock();
                c.requests.push(RecordedRequest { method, path, query, api: Some(m.api), status: 400 });
                return json_resp(err.status, &err.body, product);
            }
        }
    } else {
        None
    };

    let api = m.api.clone();
    let result = dispatch(&shared, &api, &method, &m.parts, &qmap, body_json.as_ref()).await;
    let (status, resp) = match result {
        Ok(Reply::Json(status, v)) => (status, json_resp(status, &v, product)),
        Ok(Reply::Text(t)) => (200, text_resp(200, t, product)),
        Err(e) => (e.status, json_resp(e.status, &e.body, product)),
    };
    shared.lock().requests.push(RecordedRequest { method, path, query, api: Some(api), status });
    resp
}

pub(super) async fn dispatch(
    shared: &Arc<Shared>,
    api: &str,
    method: &str,
    parts: &BTreeMap<String, String>,
    q: &BTreeMap<String, String>,
    body: Option<&Value>,
) -> Result<Reply, EsErr> {
    let json = |r: HResult| r.map(|(s, v)| Reply::Json(s, v));
    match api {
        "info" => json(info(shared)),
        "snapshot.create_repository" => json(put_repository(shared, part(parts, "repository"), q, body)),
        "snapshot.get_repository" => json(get_repository(shared, parts.get("repository").map(String::as_str))),
        "snapshot.delete_repository" => json(delete_repository(shared, part(parts, "repository"))),
        "snapshot.verify_repository" => json(verify_repository(shared, part(parts, "repository"))),
        "snapshot.create" => {
            let wait = truthy(q, "wait_for_completion", false);
            let r = create_snapshot(shared, part(parts, "repository"), part(parts, "snapshot"), body, None)?;
            if !wait {
                return Ok(Reply::Json(200, json!({"accepted": true})));
            }
            let (repo, name) = (part(parts, "repository").to_string(), r);
            loop {
                let snap = find_snapshot(shared, &repo, &name)?;
                if snap.state != "IN_PROGRESS" {
                    return Ok(Reply::Json(200, json!({"snapshot": snapshot_json(shared, &repo, &snap, true)})));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        "snapshot.get" => json(get_snapshots(shared, part(parts, "repository"), part(parts, "snapshot"), q)),
        "snapshot.status" => json(snapshot_status(
            shared,
            parts.get("repository").map(String::as_str),
            parts.get("snapshot").map(String::as_str),
            q,
        )),
        "snapshot.delete" => json(delete_snapshots(shared, part(parts, "repository"), part(parts, "snapshot"))),
        "snapshot.restore" => {
            let targets = restore(shared, part(parts, "repository"), part(parts, "snapshot"), body)?;
            if !truthy(q, "wait_for_completion", false) {
                return Ok(Reply::Json(200, json!({"accepted": true})));
            }
            loop {
                let (done, total, failed) = {
                    let c = shared.lock();
                    let now = Instant::now();
                    let mut t = 0;
                    let mut d = 0;
                    let mut f = 0;
                    for name in &targets {
                        if let Some(i) = c.indices.get(name) {
                            t += i.shards;
                            d += i.active_primaries(now);
                            f += i.red_primaries(now);
                        }
                    }
                    (d, t, f)
                };
                if done + failed >= total {
                    return Ok(Reply::Json(
                        200,
                        json!({"snapshot": {"snapshot": part(parts, "snapshot"), "indices": targets,
                            "shards": {"total": total, "failed": failed, "successful": done}}}),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        "indices.delete" => json(delete_indices(shared, part(parts, "index"), q)),
        "indices.recovery" => json(recovery(shared, parts.get("index").map(String::as_str), q)),
        "indices.stats" => json(index_stats(shared, parts.get("index").map(String::as_str))),
        "cat.indices" => cat_indices(shared, parts.get("index").map(String::as_str), q),
        "cat.allocation" => cat_allocation(shared, q),
        "cat.snapshots" => cat_snapshots(shared, parts.get("repository").map(String::as_str), q),
        "cat.recovery" => cat_recovery(shared, parts.get("index").map(String::as_str), q),
        "cat.count" => cat_count(shared, parts.get("index").map(String::as_str), q),
        "count" => json(count(shared, parts.get("index").map(String::as_str), q, body)),
        "cluster.health" => json(health(shared, parts.get("index").map(String::as_str), q)),
        "cluster.stats" => json(cluster_stats(shared)),
        "slm.put_lifecycle" => json(slm_put(shared, part(parts, "policy_id"), body)),
        "slm.get_lifecycle" => json(slm_get(shared, parts.get("policy_id").map(String::as_str))),
        "slm.delete_lifecycle" => json(slm_delete(shared, part(parts, "policy_id"))),
        "slm.execute_lifecycle" => json(slm_execute(shared, part(parts, "policy_id"))),
        "tasks.get" => Err(es_err(
            404,
            "resource_not_found_exception",
            format!("task [{}] isn't running and hasn't stored its results", part(parts, "task_id")),
        )),
        other => {
            Err(es_err(500, "double_unsupported", format!("the test double does not implement {other} ({method})")))
        }
    }
}

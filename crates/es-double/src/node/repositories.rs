//! `/_snapshot/{repository}`: register, get, delete and verify snapshot repositories.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::wildcard::wildcard_match;

use super::http::{HResult, es_err, ok, repo_missing};
use super::state::{Repo, Shared, repo_of};
use super::text::truthy;

pub(super) fn settings_to_strings(v: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(m)) = v {
        for (k, v) in m {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            out.insert(k.clone(), s);
        }
    }
    out
}

pub(super) fn put_repository(
    shared: &Shared,
    name: &str,
    q: &BTreeMap<String, String>,
    body: Option<&Value>,
) -> HResult {
    if name.is_empty()
        || name.contains('#')
        || name.starts_with('_')
        || name.chars().any(|c| "\\/*?\"<>|, ".contains(c))
    {
        return Err(es_err(400, "invalid_repository_name_exception", format!("[{name}] Invalid repository name")));
    }
    let body = body.ok_or_else(|| es_err(400, "parse_exception", "request body is required"))?;
    let ty = body.get("type").and_then(Value::as_str).unwrap_or("");
    let settings = settings_to_strings(body.get("settings"));
    let key = match ty {
        "fs" => {
            let loc = settings.get("location").cloned().unwrap_or_default();
            if loc.is_empty() {
                return Err(es_err(500, "repository_exception", format!("[{name}] missing location")));
            }
            let abs = if loc.starts_with('/') {
                loc.clone()
            } else {
                match shared.cfg.path_repo.first() {
                    Some(root) => format!("{}/{}", root.trim_end_matches('/'), loc),
                    None => loc.clone(),
                }
            };
            let allowed = shared.cfg.path_repo.iter().any(|root| {
                let root = root.trim_end_matches('/');
                abs == root || abs.starts_with(&format!("{root}/"))
            });
            if !allowed || abs.split('/').any(|c| c == "..") {
                let why = if shared.cfg.path_repo.is_empty() {
                    "because this setting is empty".to_string()
                } else {
                    format!("{:?}", shared.cfg.path_repo)
                };
                return Err(es_err(
                    500,
                    "repository_exception",
                    format!(
                        "[{name}] location [{loc}] doesn't match any of the locations specified by path.repo {why}"
                    ),
                ));
            }
            format!("fs:{}", abs.trim_end_matches('/'))
        }
        "s3" => {
            let bucket = settings.get("bucket").cloned().unwrap_or_default();
            if bucket.is_empty() {
                return Err(es_err(
                    500,
                    "repository_exception",
                    format!("[{name}] Could not determine repository location: No bucket defined for s3 repository"),
                ));
            }
            let bp = settings.get("base_path").map(|b| b.trim_matches('/').to_string()).unwrap_or_default();
            format!("s3:{bucket}/{bp}")
        }
        "" => return Err(es_err(400, "action_request_validation_exception", "Validation Failed: 1: type is missing;")),
        other => {
            return Err(es_err(
                500,
                "repository_exception",
                format!("[{name}] repository type [{other}] does not exist"),
            ));
        }
    };
    let mut c = shared.lock();
    if truthy(q, "verify", true) && c.inject.verify_failures.contains(name) {
        return Err(es_err(
            500,
            "repository_verification_exception",
            format!("[{name}] path [{key}] is not accessible on master node"),
        ));
    }
    c.repos.insert(name.to_string(), Repo { repo_type: ty.to_string(), settings, key });
    ok(json!({"acknowledged": true}))
}

pub(super) fn repo_uuid(key: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let a = h.finish();
    format!("{:016x}{:06x}", a, a >> 40)
}

pub(super) fn get_repository(shared: &Shared, names: Option<&str>) -> HResult {
    let c = shared.lock();
    let mut out = Map::new();
    let mut missing = vec![];
    let names = names.unwrap_or("_all");
    for n in names.split(',') {
        if n == "_all" || n.contains('*') {
            let pat = if n == "_all" { "*" } else { n };
            for (k, r) in &c.repos {
                if wildcard_match(pat, k) {
                    out.insert(k.clone(), repo_json(r));
                }
            }
        } else if let Some(r) = c.repos.get(n) {
            out.insert(n.to_string(), repo_json(r));
        } else {
            missing.push(n.to_string());
        }
    }
    if !missing.is_empty() {
        return Err(repo_missing(&missing.join(", ")));
    }
    ok(Value::Object(out))
}

pub(super) fn repo_json(r: &Repo) -> Value {
    json!({"type": r.repo_type, "uuid": repo_uuid(&r.key), "settings": r.settings})
}

pub(super) fn delete_repository(shared: &Shared, name: &str) -> HResult {
    let mut c = shared.lock();
    if c.repos.remove(name).is_none() {
        return Err(repo_missing(name));
    }
    ok(json!({"acknowledged": true}))
}

pub(super) fn verify_repository(shared: &Shared, name: &str) -> HResult {
    let c = shared.lock();
    let r = repo_of(&c, name)?;
    if c.inject.verify_failures.contains(name) {
        return Err(es_err(
            500,
            "repository_verification_exception",
            format!("[{name}] path [{}] is not accessible on master node", r.key),
        ));
    }
    ok(json!({"nodes": {"VJzy6aKJSVKwcfjIFBPXxw": {"name": "node-1"}}}))
}

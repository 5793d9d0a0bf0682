//! Index APIs: delete, stats and `_count` (with range queries over the time field).

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::http::{EsErr, HResult, es_err, ok};
use super::state::{Shared, expand_indices};
use super::text::truthy;

pub(super) fn delete_indices(shared: &Shared, expr: &str, q: &BTreeMap<String, String>) -> HResult {
    if expr.split(',').any(|p| p.contains('*') || p == "_all") {
        return Err(es_err(400, "illegal_argument_exception", "Wildcard expressions or all indices are not allowed"));
    }
    let mut c = shared.lock();
    let names = expand_indices(&c, Some(expr), truthy(q, "ignore_unavailable", false), true)?;
    for n in names {
        c.indices.remove(&n);
    }
    ok(json!({"acknowledged": true}))
}

pub(super) fn index_stats(shared: &Shared, expr: Option<&str>) -> HResult {
    let c = shared.lock();
    let names = expand_indices(&c, expr, false, false)?;
    let now = Instant::now();
    let mut indices = Map::new();
    let mut all_docs = 0u64;
    let mut all_bytes = 0u64;
    for n in names {
        let i = &c.indices[&n];
        let docs = i.visible_docs(now).unwrap_or(0);
        all_docs += docs;
        all_bytes += i.store_bytes();
        let block = json!({"docs": {"count": docs, "deleted": 0}, "store": {"size_in_bytes": i.store_bytes()}});
        indices.insert(n.clone(), json!({"uuid": i.uuid, "primaries": block, "total": block}));
    }
    let all = json!({"docs": {"count": all_docs, "deleted": 0}, "store": {"size_in_bytes": all_bytes}});
    ok(
        json!({"_shards": {"total": 0, "successful": 0, "failed": 0}, "_all": {"primaries": all, "total": all}, "indices": indices}),
    )
}

/// Counts documents matching an optional `match_all` or `range` query.
pub(super) fn count_docs(shared: &Shared, expr: Option<&str>, body: Option<&Value>) -> Result<(u64, u32, u32), EsErr> {
    let c = shared.lock();
    let names = expand_indices(&c, expr, false, false)?;
    let query = body.and_then(|b| b.get("query"));
    let range: Option<(String, Option<i64>, Option<i64>)> = match query {
        None => None,
        Some(q) if q.get("match_all").is_some() => None,
        Some(q) if q.get("range").is_some() => {
            let r = q["range"].as_object().cloned().unwrap_or_default();
            let (field, spec) = r
                .into_iter()
                .next()
                .ok_or_else(|| es_err(400, "parsing_exception", "[range] query malformed, no field"))?;
            let num =
                |k: &str| spec.get(k).and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
            let lo = num("gte").or_else(|| num("gt").map(|x| x + 1));
            let hi = num("lt").or_else(|| num("lte").map(|x| x + 1));
            Some((field, lo, hi))
        }
        Some(q) => {
            let name = q.as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_default();
            return Err(es_err(
                400,
                "parsing_exception",
                format!("unknown query [{name}] (not supported by the test double)"),
            ));
        }
    };
    let now = Instant::now();
    let mut total = 0;
    let mut shards = 0;
    let mut failed = 0;
    for n in names {
        let i = &c.indices[&n];
        for k in 0..i.shards {
            shards += 1;
            if !i.shard_done(k, now) {
                failed += 1;
                continue;
            }
            total += i
                .docs
                .iter()
                .enumerate()
                .filter(|(d, _)| (*d as u32) % i.shards == k)
                .filter(|(_, ts)| match &range {
                    None => true,
                    Some((f, lo, hi)) => {
                        f == &i.time_field && lo.is_none_or(|l| **ts >= l) && hi.is_none_or(|h| **ts < h)
                    }
                })
                .count() as u64;
        }
    }
    Ok((total, shards, failed))
}

pub(super) fn count(
    shared: &Shared,
    expr: Option<&str>,
    q: &BTreeMap<String, String>,
    body: Option<&Value>,
) -> HResult {
    if q.contains_key("q") {
        return Err(es_err(400, "parsing_exception", "query string counts are not supported by the test double"));
    }
    let (n, shards, failed) = count_docs(shared, expr, body)?;
    ok(json!({"count": n, "_shards": {"total": shards, "successful": shards - failed, "skipped": 0, "failed": failed}}))
}

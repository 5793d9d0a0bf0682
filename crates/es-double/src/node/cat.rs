//! The `_cat` APIs (`indices`, `allocation`, `snapshots`, `recovery`, `count`): columns, `h`/`s`
//! selection, `format=json` with string values, `bytes=` units.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::http::{EsErr, Reply};
use super::indices::count_docs;
use super::state::{Repo, Shared, disk, expand_indices, repo_of, tick};
use super::text::{fmt_bytes, now_ms, truthy};

/// Column aliases accepted in `h=` (those of `_cat/recovery`, `_cat/snapshots` and `_cat/indices`).
pub(super) const CAT_ALIASES: &[(&str, &str)] = &[
    ("i", "index"),
    ("idx", "index"),
    ("s", "shard"),
    ("t", "time"),
    ("ty", "type"),
    ("st", "stage"),
    ("rep", "repository"),
    ("snap", "snapshot"),
    ("f", "files"),
    ("fp", "files_percent"),
    ("b", "bytes"),
    ("bp", "bytes_percent"),
    ("dc", "docs.count"),
    ("ss", "store.size"),
];

/// Renders `_cat` rows as JSON (`format=json`) or as a text table, honouring `h` and `v`.
pub(super) fn cat_output(
    rows: Vec<Vec<(&'static str, Option<String>)>>,
    q: &BTreeMap<String, String>,
) -> Result<Reply, EsErr> {
    let cols: Option<Vec<String>> = q.get("h").map(|h| h.split(',').map(str::to_string).collect());
    let select = |row: &Vec<(&'static str, Option<String>)>| -> Vec<(String, Option<String>)> {
        match &cols {
            Some(cs) => cs
                .iter()
                .map(|c| {
                    let exact = row.iter().find(|(k, _)| *k == c.as_str());
                    let alias = || {
                        let full = CAT_ALIASES.iter().find(|(a, _)| *a == c.as_str()).map(|(_, f)| *f)?;
                        row.iter().find(|(k, _)| *k == full)
                    };
                    (c.clone(), exact.or_else(alias).and_then(|(_, v)| v.clone()))
                })
                .collect(),
            None => row.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        }
    };
    if q.get("format").map(String::as_str) == Some("json") {
        let arr: Vec<Value> = rows
            .iter()
            .map(|r| {
                let mut m = Map::new();
                for (k, v) in select(r) {
                    m.insert(k, v.map(Value::String).unwrap_or(Value::Null));
                }
                Value::Object(m)
            })
            .collect();
        return Ok(Reply::Json(200, Value::Array(arr)));
    }
    let mut text = String::new();
    if truthy(q, "v", false)
        && let Some(r) = rows.first()
    {
        text.push_str(&select(r).iter().map(|(k, _)| k.clone()).collect::<Vec<_>>().join(" "));
        text.push('\n');
    }
    for r in &rows {
        text.push_str(&select(r).iter().map(|(_, v)| v.clone().unwrap_or_default()).collect::<Vec<_>>().join(" "));
        text.push('\n');
    }
    Ok(Reply::Text(text))
}

pub(super) fn cat_indices(shared: &Shared, expr: Option<&str>, q: &BTreeMap<String, String>) -> Result<Reply, EsErr> {
    let c = shared.lock();
    let hidden = q.get("expand_wildcards").is_some_and(|e| e.contains("all") || e.contains("hidden"));
    let names = expand_indices(&c, expr, false, hidden)?;
    let now = Instant::now();
    let rows = names
        .iter()
        .map(|n| {
            let i = &c.indices[n];
            let docs = i.visible_docs(now);
            let bytes = i.disk_bytes(now);
            vec![
                ("health", Some(i.health(now).to_string())),
                ("status", Some(if i.open { "open" } else { "close" }.to_string())),
                ("index", Some(n.clone())),
                ("uuid", Some(i.uuid.clone())),
                ("pri", Some(i.shards.to_string())),
                ("rep", Some(i.replicas.to_string())),
                ("docs.count", docs.map(|d| d.to_string())),
                ("docs.deleted", docs.map(|_| "0".to_string())),
                ("store.size", docs.map(|_| fmt_bytes(bytes, q))),
                ("pri.store.size", docs.map(|_| fmt_bytes(bytes, q))),
                ("dataset.size", docs.map(|_| fmt_bytes(bytes, q))),
            ]
        })
        .collect();
    drop(c);
    cat_output(rows, q)
}

pub(super) fn cat_allocation(shared: &Shared, q: &BTreeMap<String, String>) -> Result<Reply, EsErr> {
    let c = shared.lock();
    let (total, used, avail, indices) = disk(shared, &c);
    let now = Instant::now();
    let assigned: u32 = c.indices.values().map(|i| i.shards - i.unassigned_primaries(now)).sum();
    let unassigned: u32 = c.indices.values().map(|i| i.unassigned_primaries(now) + i.shards * i.replicas).sum();
    let percent = (used * 100).checked_div(total).unwrap_or(0);
    let mut node = vec![("shards", Some(assigned.to_string()))];
    if shared.major >= 8 {
        node.push(("shards.undesired", Some("0".into())));
        node.push(("write_load.forecast", Some("0.0".into())));
        node.push(("disk.indices.forecast", Some(fmt_bytes(indices, q))));
    }
    node.extend([
        ("disk.indices", Some(fmt_bytes(indices, q))),
        ("disk.used", Some(fmt_bytes(used, q))),
        ("disk.avail", Some(fmt_bytes(avail, q))),
        ("disk.total", Some(fmt_bytes(total, q))),
        ("disk.percent", Some(percent.to_string())),
        ("host", Some("127.0.0.1".into())),
        ("ip", Some("127.0.0.1".into())),
        ("node", Some("node-1".into())),
    ]);
    if shared.major >= 8 {
        node.push(("node.role", Some("cdfhilmrstw".into())));
    }
    let mut rows = vec![node];
    if unassigned > 0 {
        let mut un = vec![("shards", Some(unassigned.to_string()))];
        if shared.major >= 8 {
            un.push(("shards.undesired", None));
            un.push(("write_load.forecast", None));
            un.push(("disk.indices.forecast", None));
        }
        un.extend([
            ("disk.indices", None),
            ("disk.used", None),
            ("disk.avail", None),
            ("disk.total", None),
            ("disk.percent", None),
            ("host", None),
            ("ip", None),
            ("node", Some("UNASSIGNED".into())),
        ]);
        if shared.major >= 8 {
            un.push(("node.role", None));
        }
        rows.push(un);
    }
    drop(c);
    cat_output(rows, q)
}

pub(super) fn cat_snapshots(shared: &Shared, repo: Option<&str>, q: &BTreeMap<String, String>) -> Result<Reply, EsErr> {
    tick(shared);
    let repos: Vec<(String, Repo)> = {
        let c = shared.lock();
        match repo {
            Some(r) if r != "_all" && r != "*" => vec![(r.to_string(), repo_of(&c, r)?)],
            _ => c.repos.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    };
    let store = shared.cfg.blob_store.lock();
    let mut rows = vec![];
    for (rname, r) in repos {
        for s in store.get(&r.key).cloned().unwrap_or_default() {
            let total: u32 = s.indices.iter().map(|i| i.shards).sum();
            let failed = s.failures.len() as u32;
            let end = if s.end_ms > 0 { s.end_ms } else { now_ms() };
            let dur = (end - s.start_ms) as f64 / 1000.0;
            let hms = |ms: i64| {
                DateTime::from_timestamp_millis(ms).map(|t| t.format("%H:%M:%S").to_string()).unwrap_or_default()
            };
            rows.push(vec![
                ("id", Some(s.name.clone())),
                ("repository", Some(rname.clone())),
                ("status", Some(s.state.clone())),
                ("start_epoch", Some((s.start_ms / 1000).to_string())),
                ("start_time", Some(hms(s.start_ms))),
                ("end_epoch", Some((end / 1000).to_string())),
                ("end_time", Some(hms(end))),
                ("duration", Some(format!("{dur:.1}s"))),
                ("indices", Some(s.indices.len().to_string())),
                ("successful_shards", Some((total - failed).to_string())),
                ("failed_shards", Some(failed.to_string())),
                ("total_shards", Some(total.to_string())),
            ]);
        }
    }
    drop(store);
    cat_output(rows, q)
}

pub(super) fn cat_recovery(shared: &Shared, expr: Option<&str>, q: &BTreeMap<String, String>) -> Result<Reply, EsErr> {
    let c = shared.lock();
    let names = expand_indices(&c, expr, false, false)?;
    let now = Instant::now();
    let mut rows = vec![];
    for n in names {
        let i = &c.indices[&n];
        for k in 0..i.shards {
            let state = i.shard_state(k, now);
            if !state.in_recovery() {
                continue;
            }
            let frac = state.fraction();
            let total = i.shard_bytes(k);
            let (ty, repo, snap) = match &i.restore {
                Some(r) => ("snapshot", r.repository.clone(), r.snapshot.clone()),
                None => ("empty_store", "n/a".to_string(), "n/a".to_string()),
            };
            rows.push(vec![
                ("index", Some(n.clone())),
                ("shard", Some(k.to_string())),
                ("time", Some("13ms".into())),
                ("type", Some(ty.into())),
                ("stage", Some(if i.shard_done(k, now) { "done" } else { "index" }.into())),
                ("source_host", Some("n/a".into())),
                ("source_node", Some("n/a".into())),
                ("target_host", Some("127.0.0.1".into())),
                ("target_node", Some("node-1".into())),
                ("repository", Some(repo)),
                ("snapshot", Some(snap)),
                ("files", Some("4".into())),
                ("files_recovered", Some(((4.0 * frac) as u32).to_string())),
                ("files_percent", Some(format!("{:.1}%", frac * 100.0))),
                ("files_total", Some("4".into())),
                ("bytes", Some(fmt_bytes(total, q))),
                ("bytes_recovered", Some(fmt_bytes((total as f64 * frac) as u64, q))),
                ("bytes_percent", Some(format!("{:.1}%", frac * 100.0))),
                ("bytes_total", Some(fmt_bytes(total, q))),
                ("translog_ops", Some("0".into())),
                ("translog_ops_recovered", Some("0".into())),
                ("translog_ops_percent", Some("100.0%".into())),
            ]);
        }
    }
    drop(c);
    cat_output(rows, q)
}

pub(super) fn cat_count(shared: &Shared, expr: Option<&str>, q: &BTreeMap<String, String>) -> Result<Reply, EsErr> {
    let (n, _, _) = count_docs(shared, expr, None)?;
    let now = Utc::now();
    cat_output(
        vec![vec![
            ("epoch", Some(now.timestamp().to_string())),
            ("timestamp", Some(now.format("%H:%M:%S").to_string())),
            ("count", Some(n.to_string())),
        ]],
        q,
    )
}

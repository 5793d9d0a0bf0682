//! `GET /`, `_cluster/health` (down to shards) and `_cluster/stats`.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::http::{HResult, ok};
use super::state::{ShardState, Shared, disk, expand_indices};
use super::text::now_ms;

pub(super) fn info(shared: &Shared) -> HResult {
    let c = shared.lock();
    let v = &shared.cfg.version;
    let mut version = json!({
        "number": v,
        "build_flavor": "default",
        "build_type": "docker",
        "build_hash": "00000000",
        "build_date": "2025-07-09T22:10:13.578182715Z",
        "build_snapshot": false,
        "lucene_version": if shared.major >= 9 { "10.2.2" } else if shared.major == 8 { "9.12.2" } else { "8.7.0" },
        "minimum_wire_compatibility_version": if shared.major >= 9 { "8.19.0" } else if shared.major == 8 { "7.17.0" } else { "6.8.0" },
        "minimum_index_compatibility_version": if shared.major >= 9 { "8.0.0" } else if shared.major == 8 { "7.0.0" } else { "6.0.0-beta1" }
    });
    if shared.major < 8 {
        version["build_snapshot"] = json!(false);
    }
    ok(json!({
        "name": "node-1",
        "cluster_name": shared.cfg.cluster_name,
        "cluster_uuid": c.uuid,
        "version": version,
        "tagline": "You Know, for Search"
    }))
}

pub(super) fn health(shared: &Shared, expr: Option<&str>, q: &BTreeMap<String, String>) -> HResult {
    let c = shared.lock();
    let now = Instant::now();
    let names = match expand_indices(&c, expr, false, false) {
        Ok(n) => n,
        Err(_) => {
            // Like Elasticsearch after its wait times out: 408 with a red body.
            return Ok((
                408,
                json!({"cluster_name": shared.cfg.cluster_name, "status": "red", "timed_out": true,
                "number_of_nodes": 1, "number_of_data_nodes": 1, "active_primary_shards": 0, "active_shards": 0,
                "relocating_shards": 0, "initializing_shards": 0, "unassigned_shards": 0,
                "delayed_unassigned_shards": 0, "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0,
                "task_max_waiting_in_queue_millis": 0, "active_shards_percent_as_number": 100.0}),
            ));
        }
    };
    let level = q.get("level").map(String::as_str);
    let mut per = Map::new();
    let (mut ap, mut init, mut un, mut total) = (0u32, 0u32, 0u32, 0u32);
    let mut status = "green";
    for n in &names {
        let i = &c.indices[n];
        let a = i.active_primaries(now);
        let ini = i.initializing(now);
        let u = i.unassigned_primaries(now) + i.shards * i.replicas;
        let h = i.health(now);
        if h == "red" || (h == "yellow" && status == "green") {
            status = h;
        }
        ap += a;
        init += ini;
        un += u;
        total += i.shards * (1 + i.replicas);
        let mut block = json!({"status": h, "number_of_shards": i.shards, "number_of_replicas": i.replicas,
                "active_primary_shards": a, "active_shards": a, "relocating_shards": 0,
                "initializing_shards": ini, "unassigned_shards": u});
        if level == Some("shards") {
            let mut shards = Map::new();
            for k in 0..i.shards {
                let state = i.shard_state(k, now);
                let active = state == ShardState::Started;
                shards.insert(
                    k.to_string(),
                    json!({"status": i.shard_health(k, now), "primary_active": active,
                        "active_shards": u32::from(active), "relocating_shards": 0,
                        "initializing_shards": u32::from(matches!(state, ShardState::Initializing(_))),
                        "unassigned_shards": u32::from(state.is_unassigned()) + i.replicas}),
                );
            }
            block["shards"] = Value::Object(shards);
        }
        per.insert(n.clone(), block);
    }
    let mut body = json!({
        "cluster_name": shared.cfg.cluster_name, "status": status, "timed_out": false,
        "number_of_nodes": 1, "number_of_data_nodes": 1, "active_primary_shards": ap, "active_shards": ap,
        "relocating_shards": 0, "initializing_shards": init, "unassigned_shards": un,
        "delayed_unassigned_shards": 0, "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": if total == 0 { 100.0 } else { 100.0 * ap as f64 / total as f64 }
    });
    if shared.major >= 9 {
        body["unassigned_primary_shards"] =
            json!(names.iter().map(|n| c.indices[n].unassigned_primaries(now)).sum::<u32>());
    }
    if matches!(level, Some("indices") | Some("shards")) {
        body["indices"] = Value::Object(per);
    }
    ok(body)
}

pub(super) fn cluster_stats(shared: &Shared) -> HResult {
    let c = shared.lock();
    let (total, used, avail, indices) = disk(shared, &c);
    let now = Instant::now();
    let docs: u64 = c.indices.values().filter_map(|i| i.visible_docs(now)).sum();
    ok(json!({
        "_nodes": {"total": 1, "successful": 1, "failed": 0},
        "cluster_name": shared.cfg.cluster_name, "cluster_uuid": c.uuid, "timestamp": now_ms(), "status": "green",
        "indices": {"count": c.indices.len(), "docs": {"count": docs, "deleted": 0},
            "store": {"size_in_bytes": indices, "reserved_in_bytes": 0}},
        "nodes": {"count": {"total": 1, "data": 1, "master": 1}, "versions": [shared.cfg.version],
            "fs": {"total_in_bytes": total, "free_in_bytes": total - used, "available_in_bytes": avail}}
    }))
}

//! Keeps the test double honest: it refuses what the spec does not declare, and its bodies have
//! the shapes of the recorded examples in `shared/es-rest-api-spec/examples`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::common::eventually;
use elasticsearch::Elasticsearch;
use elasticsearch::http::Method;
use elasticsearch::http::headers::HeaderMap;
use elasticsearch::http::transport::Transport;
use lifeboat_es_double::{DoubleConfig, IndexSeed, TestCluster, default_spec_root, send_raw};
use serde_json::{Value, json};

fn example(name: &str) -> Value {
    let p: PathBuf = default_spec_root().join("examples").join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

/// A double with a repository, two indices and one snapshot.
async fn seeded(version: &str) -> TestCluster {
    let c = TestCluster::double_with(DoubleConfig { version: version.into(), ..Default::default() }).await;
    let d = c.as_double().unwrap();
    d.create_index("my-index-000001", IndexSeed::daily("2024-05-01", 1200));
    d.create_index("my-index-000002", IndexSeed::daily("2024-05-02", 0));
    let url = c.url();
    let (s, _) = send_raw(
        &url,
        Method::Put,
        "/_snapshot/my_repository",
        Some(json!({"type": "fs", "settings": {"location": "/mnt/backups/my_backup_location"}})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = send_raw(
        &url,
        Method::Put,
        "/_snapshot/my_repository/snapshot_1?wait_for_completion=true",
        Some(json!({"indices": "my-index-*"})),
    )
    .await;
    assert_eq!(s, 200);
    c
}

#[tokio::test]
async fn undeclared_requests_are_refused_like_elasticsearch() {
    let c = seeded("8.19.0").await;
    let url = c.url();
    let (s, b) = send_raw(&url, Method::Put, "/_snapshot/r/s/_clone/t", Some(json!({"indices": "x"}))).await;
    assert_eq!(s, 400);
    assert_eq!(
        b,
        json!({"error": "no handler found for uri [/_snapshot/r/s/_clone/t] and method [PUT]", "status": 400})
    );
    let (s, b) = send_raw(&url, Method::Delete, "/_cat/indices", None).await;
    assert_eq!(s, 405);
    assert_eq!(b["error"], "Incorrect HTTP method for uri [/_cat/indices] and method [DELETE], allowed: [GET]");
    let (s, b) = send_raw(&url, Method::Get, "/_cat/indices?bogus=1", None).await;
    assert_eq!(s, 400);
    assert_eq!(b["error"]["type"], "illegal_argument_exception");
    assert_eq!(b["error"]["reason"], "request [/_cat/indices] contains unrecognized parameter: [bogus]");
    let (s, _) = send_raw(&url, Method::Get, "/_cat/indices?bytes=zz", None).await;
    assert_eq!(s, 400);
    // The spec of 8.19 has no `state` parameter on snapshot.get (it came in 9.1).
    let (s, _) = send_raw(&url, Method::Get, "/_snapshot/my_repository/_all?state=SUCCESS", None).await;
    assert_eq!(s, 400);
    let (s, _) = send_raw(&url, Method::Post, "/_snapshot/my_repository/_verify", Some(json!({"x": 1}))).await;
    assert_eq!(s, 400, "verify takes no body");
    assert_eq!(c.spec_violations().len(), 6, "{:#?}", c.spec_violations());

    // The 9.x double follows the main spec, which has `state`.
    let c9 = seeded("9.1.0").await;
    let (s, b) = send_raw(&c9.url(), Method::Get, "/_snapshot/my_repository/_all?state=SUCCESS", None).await;
    assert_eq!(s, 200, "{b}");
    assert!(c9.spec_violations().is_empty());
}

#[tokio::test]
async fn cat_bodies_match_the_examples() {
    let c = seeded("8.19.0").await;
    let url = c.url();
    let (_, b) = send_raw(&url, Method::Get, "/_cat/indices/my-index-*?format=json", None).await;
    let ex = example("cat.indices.200.json");
    assert_eq!(keys(&b[0]), keys(&ex[0]));
    assert!(b[0].as_object().unwrap().values().all(Value::is_string), "cat values are strings: {b}");
    assert_eq!(b[1]["store.size"], "520b", "human units without bytes=: {b}");
    assert_eq!(b[0]["docs.count"], "1200");

    let (_, b) = send_raw(&url, Method::Get, "/_cat/allocation?format=json", None).await;
    let ex = example("cat.allocation.200.json");
    assert_eq!(keys(&b[0]), keys(&ex[0]));
    assert!(b[0]["disk.total"].as_str().unwrap().ends_with("gb"), "{b}");
    let (_, b) = send_raw(&url, Method::Get, "/_cat/allocation?format=json&bytes=b", None).await;
    for k in ["disk.used", "disk.avail", "disk.total", "disk.indices", "disk.percent"] {
        assert!(b[0][k].as_str().unwrap().parse::<u64>().is_ok(), "bytes=b prints bare integers: {k} {b}");
    }

    let (_, b) = send_raw(&url, Method::Get, "/_cat/snapshots/my_repository?format=json", None).await;
    assert_eq!(keys(&b[0]), keys(&example("cat.snapshots.200.json")[0]));
    assert_eq!(b[0]["status"], "SUCCESS");

    let (_, b) = send_raw(&url, Method::Get, "/_cat/recovery?format=json", None).await;
    assert_eq!(keys(&b[0]), keys(&example("cat.recovery.200.store.json")[0]));
    let (_, b) = send_raw(&url, Method::Get, "/_cat/recovery?format=json&h=i,s,t,ty,st,rep,snap,f,fp,b,bp", None).await;
    assert_eq!(keys(&b[0]), keys(&example("cat.recovery.200.snapshot.json")[0]));
    assert_eq!(b[0]["i"], "my-index-000001");
    assert_eq!(b[0]["ty"], "empty_store");
    assert_eq!(b[0]["st"], "done");
    assert!(c.spec_violations().is_empty());
}

#[tokio::test]
async fn json_bodies_match_the_examples() {
    let c = seeded("8.19.0").await;
    let url = c.url();
    let (_, info) = send_raw(&url, Method::Get, "/", None).await;
    assert_eq!(keys(&info), keys(&example("info.200.json")));
    assert_eq!(keys(&info["version"]), keys(&example("info.200.json")["version"]));

    let (_, health) = send_raw(&url, Method::Get, "/_cluster/health", None).await;
    assert_eq!(keys(&health), keys(&example("cluster.health.200.json")));

    let (_, repo) = send_raw(&url, Method::Get, "/_snapshot/my_repository", None).await;
    let ex = example("snapshot.get_repository.200.json");
    assert_eq!(keys(&repo["my_repository"]), keys(&ex["my_repository"]));
    assert_eq!(repo["my_repository"]["settings"]["location"], "/mnt/backups/my_backup_location");

    let (_, snaps) = send_raw(&url, Method::Get, "/_snapshot/my_repository/_all", None).await;
    let template = std::fs::read_to_string(default_spec_root().join("examples/snapshot.get.200.spec-template.txt"))
        .unwrap()
        .replace("<version_id>", "1")
        .replace("<version>", "\"1\"");
    let ex: Value = serde_json::from_str(&template).unwrap();
    assert_eq!(keys(&snaps), keys(&ex));
    assert_eq!(keys(&snaps["snapshots"][0]), keys(&ex["snapshots"][0]));

    let (_, st) = send_raw(&url, Method::Get, "/_snapshot/my_repository/snapshot_1/_status", None).await;
    let ex = example("snapshot.status.200.json");
    assert_eq!(keys(&st["snapshots"][0]), keys(&ex["snapshots"][0]));
    let idx = &st["snapshots"][0]["indices"]["my-index-000001"];
    assert_eq!(keys(idx), keys(&ex["snapshots"][0]["indices"]["index_1"]));

    let (_, rec) = send_raw(&url, Method::Get, "/my-index-000001/_recovery", None).await;
    let ex = example("indices.recovery.200.snapshot-in-progress.json");
    let core: BTreeSet<String> = keys(&ex["index1"]["shards"][0]);
    let ours = keys(&rec["my-index-000001"]["shards"][0]);
    for k in ["id", "type", "stage", "primary", "source", "target", "index", "translog", "verify_index"] {
        assert!(core.contains(k) && ours.contains(k), "{k}: {ours:?}");
    }

    // 7.10 listings have no `repository`, `total`, `remaining` or `feature_states`.
    let c7 = seeded("7.10.0").await;
    let (_, snaps) = send_raw(&c7.url(), Method::Get, "/_snapshot/my_repository/_all", None).await;
    let ex = example("third-party/snapshot.get.200.all.es7.10.json");
    assert_eq!(keys(&snaps), keys(&ex));
    assert_eq!(keys(&snaps["snapshots"][0]), keys(&ex["snapshots"][0]));
}

#[tokio::test]
async fn error_bodies_match_the_examples() {
    let c = seeded("8.19.0").await;
    let url = c.url();
    let shape = |v: &Value| {
        (keys(v), keys(&v["error"]), v["error"]["root_cause"][0]["type"].clone(), v["error"]["type"].clone())
    };

    // Restore onto an open index.
    let (s, b) = send_raw(
        &url,
        Method::Post,
        "/_snapshot/my_repository/snapshot_1/_restore",
        Some(json!({"indices": "my-index-000001"})),
    )
    .await;
    let ex = example("error.snapshot_restore_exception.500.json");
    assert_eq!(s, 500);
    assert_eq!(shape(&b), shape(&ex));
    let tail = |v: &Value| {
        let r = v["error"]["reason"].as_str().unwrap().to_string();
        let after = r.split_once("] cannot restore index [").unwrap().1.to_string();
        after.split_once(']').unwrap().1.to_string()
    };
    assert_eq!(tail(&b), tail(&ex));

    // Duplicate snapshot name.
    let (s, b) = send_raw(&url, Method::Put, "/_snapshot/my_repository/snapshot_1", Some(json!({}))).await;
    let ex = example("error.invalid_snapshot_name_exception.400.json");
    assert_eq!(s, 400);
    assert_eq!(shape(&b), shape(&ex));
    assert!(b["error"]["reason"].as_str().unwrap().ends_with("snapshot with the same name already exists"));

    // Missing repository.
    let (s, b) = send_raw(&url, Method::Get, "/_snapshot/missing_1", None).await;
    let ex = example("error.repository_missing_exception.404.json");
    assert_eq!(s, 404);
    assert_eq!(shape(&b), shape(&ex));
    assert_eq!(b["error"]["reason"], "[missing_1] missing");

    // Missing snapshot.
    let (s, b) = send_raw(&url, Method::Get, "/_snapshot/my_repository/snapshot_9", None).await;
    let ex = example("third-party/error.snapshot_missing_exception.404.es7.10.json");
    assert_eq!(s, 404);
    assert_eq!(shape(&b), shape(&ex));
    assert_eq!(b["error"]["reason"], "[my_repository:snapshot_9] is missing");

    // A delete while a snapshot runs.
    c.as_double().unwrap().start_blocking_snapshot("my_repository", "running", Duration::from_secs(30)).unwrap();
    let (s, b) = send_raw(&url, Method::Delete, "/_snapshot/my_repository/snapshot_1", None).await;
    let ex = example("error.concurrent_snapshot_execution_exception.503.json");
    assert_eq!(s, 503);
    assert_eq!(shape(&b), shape(&ex));
    assert!(b["error"]["reason"].as_str().unwrap().ends_with("another snapshot is currently running cannot delete"));
}

#[tokio::test]
async fn partial_snapshots_answer_200_with_failures() {
    let c = seeded("8.19.0").await;
    c.as_double().unwrap().inject_snapshot_shard_failure("my-index-000001", 0);
    let (s, b) = send_raw(
        &c.url(),
        Method::Put,
        "/_snapshot/my_repository/snapshot_2?wait_for_completion=true",
        Some(json!({"indices": "my-index-*"})),
    )
    .await;
    assert_eq!(s, 200);
    let ex = example("third-party/snapshot.create.200.partial.es7.16.json");
    assert_eq!(b["snapshot"]["state"], "PARTIAL");
    assert_eq!(keys(&b["snapshot"]["failures"][0]), keys(&ex["snapshot"]["failures"][0]));
    assert_eq!(b["snapshot"]["shards"]["failed"], 1);
    // Without waiting, the create is only accepted.
    let (s, b) = send_raw(&c.url(), Method::Put, "/_snapshot/my_repository/snapshot_3", Some(json!({}))).await;
    assert_eq!((s, b), (200, example("third-party/snapshot.create.200.accepted.es8.2.json")));
    // And a partially snapshotted index cannot be restored from it.
    let (s, b) = send_raw(
        &c.url(),
        Method::Post,
        "/_snapshot/my_repository/snapshot_2/_restore",
        Some(json!({"indices": "my-index-000001", "rename_pattern": "(.+)", "rename_replacement": "r_$1"})),
    )
    .await;
    assert_eq!(s, 500, "{b}");
    assert_eq!(b["error"]["type"], "snapshot_restore_exception");
}

#[tokio::test]
async fn restores_progress_over_time_and_respect_renames() {
    let c =
        TestCluster::double_with(DoubleConfig { shard_restore_time: Duration::from_millis(300), ..Default::default() })
            .await;
    let d = c.as_double().unwrap();
    d.create_index("index_1", IndexSeed::daily("2024-05-01", 10));
    let url = c.url();
    send_raw(&url, Method::Put, "/_snapshot/r", Some(json!({"type": "fs", "settings": {"location": "loc"}}))).await;
    send_raw(&url, Method::Put, "/_snapshot/r/s?wait_for_completion=true", Some(json!({"indices": "index_1"}))).await;
    let ex = example("snapshot.restore.request.rename.json");
    let mut body = ex.clone();
    body["indices"] = json!("index_1");
    let (s, b) = send_raw(&url, Method::Post, "/_snapshot/r/s/_restore", Some(body)).await;
    assert_eq!((s, b), (200, json!({"accepted": true})));
    let (_, rec) = send_raw(&url, Method::Get, "/restored_index_1/_recovery", None).await;
    assert_eq!(rec["restored_index_1"]["shards"][0]["type"], "SNAPSHOT");
    assert_eq!(rec["restored_index_1"]["shards"][0]["stage"], "INDEX");
    let (_, cat) = send_raw(&url, Method::Get, "/_cat/indices/restored_index_1?format=json", None).await;
    // A primary recovering from a snapshot is yellow in Elasticsearch, not red.
    assert_eq!(cat[0]["health"], "yellow");
    assert_eq!(cat[0]["docs.count"], Value::Null, "no started primary yet: {cat}");
    eventually(10, || d.index_names().contains(&"restored_index_1".to_string())).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (_, rec) = send_raw(&url, Method::Get, "/restored_index_1/_recovery", None).await;
    assert!(rec["restored_index_1"]["shards"].as_array().unwrap().iter().all(|s| s["stage"] == "DONE"), "{rec}");
    let (_, cat) = send_raw(&url, Method::Get, "/_cat/indices/restored_index_1?format=json", None).await;
    assert_eq!(cat[0]["health"], "green");
    assert_eq!(cat[0]["docs.count"], "10");
    let (_, count) =
        send_raw(&url, Method::Post, "/restored_index_1/_count", Some(json!({"query": {"match_all": {}}}))).await;
    assert_eq!(count["count"], 10);
    // Wildcard deletes are refused (action.destructive_requires_name).
    let (s, _) = send_raw(&url, Method::Delete, "/restored_*", None).await;
    assert_eq!(s, 400);
    assert!(c.spec_violations().is_empty());
}

/// Shard numbers of `index` listed by `_recovery`, with their stage.
fn recovering(rec: &Value, index: &str) -> Vec<(u64, String)> {
    rec[index]["shards"]
        .as_array()
        .map(|a| a.iter().map(|s| (s["id"].as_u64().unwrap(), s["stage"].as_str().unwrap().to_string())).collect())
        .unwrap_or_default()
}

/// Elasticsearch starts at most `node_initial_primaries_recoveries` (4) primary recoveries per node;
/// the other restored primaries wait unassigned with no recovery state, and their health is yellow
/// (an inactive primary restoring from a snapshot with no failed allocation). A primary whose
/// recovery failed is unassigned, red, and has no recovery state either.
#[tokio::test]
async fn restored_primaries_are_throttled_yellow_while_queued_and_red_on_failure() {
    let slot = Duration::from_millis(1500);
    let c = TestCluster::double_with(DoubleConfig { shard_restore_time: slot, ..Default::default() }).await;
    let d = c.as_double().unwrap();
    let mut big = IndexSeed::daily("2024-05-01", 60);
    big.shards = 6;
    d.create_index("big", big);
    d.create_index("small", IndexSeed::daily("2024-05-02", 10));
    let url = c.url();
    send_raw(&url, Method::Put, "/_snapshot/r", Some(json!({"type": "fs", "settings": {"location": "loc"}}))).await;
    send_raw(&url, Method::Put, "/_snapshot/r/s?wait_for_completion=true", Some(json!({"indices": "big,small"}))).await;
    d.inject_restore_shard_failure("small", 1);
    let body = json!({"indices": "big,small", "rename_pattern": "(.+)", "rename_replacement": "r_$1"});
    let (s, _) = send_raw(&url, Method::Post, "/_snapshot/r/s/_restore", Some(body)).await;
    assert_eq!(s, 200);

    // 8 primaries, 4 recovery slots: big's shards 0-3 recover, the rest wait.
    let (_, rec) = send_raw(&url, Method::Get, "/r_big,r_small/_recovery", None).await;
    let big_rec = recovering(&rec, "r_big");
    assert_eq!(big_rec.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![0, 1, 2, 3], "{rec}");
    assert!(big_rec.iter().all(|(_, st)| st == "INDEX"), "{rec}");
    assert!(rec.get("r_small").is_none(), "a queued index has no recovery state: {rec}");
    let (_, cat) = send_raw(&url, Method::Get, "/_cat/recovery/r_big,r_small?format=json", None).await;
    assert_eq!(cat.as_array().unwrap().len(), 4, "{cat}");
    let (_, h) = send_raw(&url, Method::Get, "/_cluster/health/r_big,r_small?level=shards", None).await;
    assert_eq!(h["status"], "yellow", "queued restores are yellow, not red: {h}");
    assert_eq!((h["initializing_shards"].as_u64(), h["unassigned_shards"].as_u64()), (Some(4), Some(4)), "{h}");
    assert_eq!(h["indices"]["r_big"]["status"], "yellow");
    assert_eq!(h["indices"]["r_small"]["status"], "yellow");
    let queued = &h["indices"]["r_small"]["shards"]["1"];
    assert_eq!(
        (queued["status"].clone(), queued["primary_active"].clone(), queued["unassigned_shards"].clone()),
        (json!("yellow"), json!(false), json!(1)),
        "{h}"
    );
    assert_eq!(h["indices"]["r_big"]["shards"]["0"]["initializing_shards"], 1, "{h}");

    // Second round: big 4-5 and small 0-1 recover; small's shard 1 then fails for good.
    let (_, rec) = loop {
        let (s, rec) = send_raw(&url, Method::Get, "/r_small/_recovery", None).await;
        if rec.get("r_small").is_some() {
            break (s, rec);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(recovering(&rec, "r_small").len(), 2, "{rec}");
    let (_, h) = send_raw(&url, Method::Get, "/_cluster/health/r_small?level=shards", None).await;
    assert_eq!(h["indices"]["r_small"]["status"], "yellow", "still recovering: {h}");
    tokio::time::sleep(slot + Duration::from_millis(300)).await;
    let (_, h) = send_raw(&url, Method::Get, "/_cluster/health/r_big,r_small?level=shards", None).await;
    assert_eq!(h["indices"]["r_big"]["status"], "green", "{h}");
    assert_eq!(h["indices"]["r_small"]["status"], "red", "{h}");
    assert_eq!(h["status"], "red");
    let failed = &h["indices"]["r_small"]["shards"]["1"];
    assert_eq!((failed["status"].clone(), failed["primary_active"].clone()), (json!("red"), json!(false)), "{h}");
    assert_eq!(h["indices"]["r_small"]["shards"]["0"]["status"], "green", "{h}");
    let (_, rec) = send_raw(&url, Method::Get, "/r_small/_recovery", None).await;
    assert_eq!(recovering(&rec, "r_small"), vec![(0, "DONE".to_string())], "the failed primary has no recovery: {rec}");
    assert!(c.spec_violations().is_empty(), "{:?}", c.spec_violations());
}

/// `node_initial_primaries_recoveries` is a setting of the double.
#[tokio::test]
async fn the_recovery_throttle_is_configurable() {
    let c = TestCluster::double_with(DoubleConfig {
        shard_restore_time: Duration::from_secs(2),
        node_initial_primaries_recoveries: 1,
        ..Default::default()
    })
    .await;
    c.as_double().unwrap().create_index("a", IndexSeed::daily("2024-05-01", 10));
    let url = c.url();
    send_raw(&url, Method::Put, "/_snapshot/r", Some(json!({"type": "fs", "settings": {"location": "loc"}}))).await;
    send_raw(&url, Method::Put, "/_snapshot/r/s?wait_for_completion=true", Some(json!({"indices": "a"}))).await;
    let body = json!({"indices": "a", "rename_pattern": "(.+)", "rename_replacement": "r_$1"});
    send_raw(&url, Method::Post, "/_snapshot/r/s/_restore", Some(body)).await;
    let (_, rec) = send_raw(&url, Method::Get, "/r_a/_recovery", None).await;
    assert_eq!(recovering(&rec, "r_a"), vec![(0, "INDEX".to_string())], "{rec}");
}

/// Elasticsearch 7.14 and later mark every response, errors included, with
/// `X-elastic-product: Elasticsearch`; 7.10-7.13 do not.
#[tokio::test]
async fn responses_carry_the_product_header_from_7_14() {
    for (version, expected) in [("7.10.0", None), ("7.17.0", Some("Elasticsearch")), ("8.19.0", Some("Elasticsearch"))]
    {
        let c = seeded(version).await;
        let es = Elasticsearch::new(Transport::single_node(&c.url()).unwrap());
        for path in ["/", "/_snapshot/missing_1", "/_cat/indices"] {
            let r = es.send(Method::Get, path, HeaderMap::new(), None::<&()>, None::<String>, None).await.unwrap();
            let h = r.headers().get("x-elastic-product").map(|v| v.to_str().unwrap().to_string());
            assert_eq!(h.as_deref(), expected, "{version} {path}");
        }
    }
}

//! `lifeboat es` end to end against the Elasticsearch test double.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use lifeboat_es_double::{DoubleConfig, EsDouble, IndexSeed};

/// `policy add` of a nightly policy over `logs-*` into `logs-repo`, with day-named indices.
const NIGHTLY_POLICY: &[&str] = &[
    "policy",
    "add",
    "nightly",
    "--indices",
    "logs-*",
    "--repo",
    "logs-repo",
    "--snapshot-days",
    "7",
    "--time-pattern",
    "logs-{YYYY.MM.DD}",
];

fn run(url: &str, state: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .arg("es")
        .args(args)
        .env("LIFEBOAT_ES_URL", url)
        .env("LIFEBOAT_STATE_DIR", state)
        .env_remove("LIFEBOAT_ES_TENANT")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Registers `logs-repo`, seeds one daily index per `(day, documents)`, snapshots them with the
/// nightly policy (so the catalog knows them) and drops the live indices.
fn catalogue_days(d: &EsDouble, st: &std::path::Path, days: &[(&str, usize)]) {
    let url = d.url();
    let (c, o, e) = run(&url, st, &["repo", "create", "logs-repo", "--type", "fs", "--location", "/mnt/backups/logs"]);
    assert_eq!(c, 0, "{o}{e}");
    for (day, n) in days {
        d.create_index(&format!("logs-{}", day.replace('-', ".")), IndexSeed::daily(day, *n));
    }
    for args in [NIGHTLY_POLICY, &["policy", "run", "nightly"]] {
        let (c, o, e) = run(&url, st, args);
        assert_eq!(c, 0, "{o}{e}");
    }
    for i in d.index_names() {
        d.drop_index(&i);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_end_to_end() {
    let d = EsDouble::start().await.unwrap();
    let url = d.url();
    let state = tempfile::tempdir().unwrap();
    let st = state.path();
    let (c, o, e) = run(&url, st, &["repo", "create", "logs-repo", "--type", "fs", "--location", "/mnt/backups/logs"]);
    assert_eq!(c, 0, "{o}{e}");
    let (c, o, e) = run(&url, st, &["repo", "list", "--json"]);
    assert_eq!(c, 0, "{e}");
    let v: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(v[0]["name"], "logs-repo");
    let (c, o, _) = run(&url, st, &["repo", "list"]);
    assert_eq!(c, 0);
    println!("{o}");
    let (c, _, e) = run(&url, st, &["repo", "set", "logs-repo", "compress=true"]);
    assert_eq!(c, 0, "{e}");
    let (c, o, e) = run(&url, st, &["repo", "verify", "logs-repo"]);
    assert_eq!(c, 0, "{e}");
    println!("{o}");
    for (day, n) in [("2024-05-01", 100), ("2024-05-02", 200), ("2024-05-03", 300)] {
        d.create_index(&format!("logs-{}", day.replace('-', ".")), IndexSeed::daily(day, n));
    }
    let (c, o, e) = run(&url, st, NIGHTLY_POLICY);
    assert_eq!(c, 0, "{o}{e}");
    let (c, o, e) = run(&url, st, &["policy", "list"]);
    assert_eq!(c, 0, "{e}");
    println!("{o}");
    let (c, o, e) = run(&url, st, &["policy", "run", "nightly", "--json"]);
    assert_eq!(c, 0, "{o}{e}");
    let rep: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(rep["state"], "SUCCESS");
    let (c, o, e) = run(&url, st, &["snapshot", "list", "--repo", "logs-repo"]);
    assert_eq!(c, 0, "{e}");
    println!("{o}");
    let (c, o, e) = run(&url, st, &["catalog", "list"]);
    assert_eq!(c, 0, "{e}");
    println!("{o}");
    for i in d.index_names() {
        d.drop_index(&i);
    }
    let (c, o, e) =
        run(&url, st, &["restore", "--pattern", "logs-*", "--from", "2024-05-02", "--to", "2024-05-02", "--dry-run"]);
    assert_eq!(c, 0, "{o}{e}");
    println!("{o}");
    let (c, o, e) = run(
        &url,
        st,
        &[
            "restore",
            "--pattern",
            "logs-*",
            "--from",
            "2024-05-02",
            "--to",
            "2024-05-03",
            "--expire-after",
            "7d",
            "--wait",
            "--json",
        ],
    );
    assert_eq!(c, 0, "{o}{e}");
    let rec: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(rec["state"], "succeeded", "{o}");
    let id = rec["id"].as_str().unwrap().to_string();
    let (c, o, e) = run(&url, st, &["restore", "list"]);
    assert_eq!(c, 0, "{e}");
    println!("{o}");
    let (c, o, e) = run(&url, st, &["restore", "status", &id]);
    assert_eq!(c, 0, "{e}");
    println!("{o}");
    let (c, o, e) = run(&url, st, &["restore", "list", "--json"]);
    assert_eq!(c, 0, "{e}");
    assert!(o.contains(&id));
    let (c, o, e) = run(&url, st, &["restore", "clean-expired"]);
    assert_eq!(c, 0, "{e}");
    assert!(o.contains("no expired restore"), "{o}");
    let (c, o, e) = run(&url, st, &["restore", "delete", &id]);
    assert_eq!(c, 0, "{o}{e}");
    assert!(d.index_names().is_empty(), "{:?}", d.index_names());
    // Errors
    let (c, _, e) = run(&url, st, &["repo", "verify", "nope"]);
    assert_eq!(c, 1);
    assert!(e.contains("snapshot repository [nope] does not exist"), "{e}");
    let (c, _, e) = run("http://127.0.0.1:1", st, &["repo", "list"]);
    assert_eq!(c, 1);
    assert!(e.contains("cannot reach Elasticsearch"), "{e}");
    let (c, _, e) = run(&url, st, &["restore", "--pattern", "logs-*", "--from", "yesterday", "--to", "2024-05-02"]);
    assert_eq!(c, 1);
    assert!(e.contains("invalid time \"yesterday\""), "{e}");
    let (c, _, e) = run(&url, st, &["restore"]);
    assert_eq!(c, 1);
    assert!(e.contains("--pattern is required"), "{e}");
    let (c, _, e) = run(&url, st, &["--tenant", "x/y", "repo", "list"]);
    println!("tenant before subcommand: {c} {e}");
    let (c, _, e) = run(&url, st, &["repo", "list", "--tenant", "acme/prod"]);
    assert_eq!(c, 1);
    assert!(e.contains("tenant \"acme/prod\" not found"), "{e}");
    let (c, o, e) = run(&url, st, &["tenant", "add", "acme/prod", "--index-prefix", "acme-prod-"]);
    assert_eq!(c, 0, "{o}{e}");
    let (c, o, e) = run(&url, st, &["repo", "list", "--tenant", "acme/prod", "--json"]);
    assert_eq!(c, 0, "{e}");
    assert_eq!(o.trim(), "[]");
    let (c, _, e) = run(&url, st, &["repo", "create", "x", "--type", "fs"]);
    assert_eq!(c, 1);
    assert!(e.contains("--location"), "{e}");
    assert!(d.spec_violations().is_empty(), "{:?}", d.spec_violations());
}

/// A web server that is not Elasticsearch: answers every request with `content_type` and `body`.
fn plain_web_server(content_type: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
    });
    url
}

const WELCOME: &str = "<!DOCTYPE html>\n<html>\n<head><title>Welcome to nginx!</title></head>\n<body>\n\
                       <h1>Welcome to nginx!</h1>\n<p>If you see this page, the web server works.</p>\n</body>\n</html>\n";

#[test]
fn a_url_that_is_not_elasticsearch_is_named_in_one_line() {
    let state = tempfile::tempdir().unwrap();
    let url = plain_web_server("text/html; charset=utf-8", WELCOME);
    let (c, o, e) = run(&url, state.path(), &["repo", "list"]);
    assert_eq!(c, 1, "{o}{e}");
    let expected = format!("{url} is not Elasticsearch: HTTP 200 text/html without the X-elastic-product header");
    assert!(e.contains(&expected), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "one line: {e}");
    assert!(!e.contains("<html") && !e.contains("nginx") && !o.contains("nginx"), "never the page: {e}");

    // A JSON API that is not Elasticsearch either (no header, and `GET /` is not Elasticsearch's).
    let url = plain_web_server("application/json", "{\"status\":\"ok\",\"service\":\"billing\"}");
    let (c, o, e) = run(&url, state.path(), &["restore", "list"]);
    assert_eq!(c, 0, "restore list reads local state only: {o}{e}");
    let (c, _, e) = run(&url, state.path(), &["snapshot", "list", "--repo", "r"]);
    assert_eq!(c, 1);
    assert!(
        e.contains(&format!("{url} is not Elasticsearch: HTTP 200 application/json without the X-elastic-product")),
        "{e}"
    );
    assert!(!e.contains("billing"), "{e}");
}

/// Elasticsearch recovers at most 4 primaries per node at once; a restore whose primaries all wait
/// behind another restore is in progress, and `--wait` follows it to success.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_restore_started_while_the_first_runs_succeeds() {
    let d = EsDouble::start_with(DoubleConfig { shard_restore_time: Duration::from_secs(1), ..Default::default() })
        .await
        .unwrap();
    let url = d.url();
    let state = tempfile::tempdir().unwrap();
    let st = state.path();
    let days = [("2024-05-01", 10), ("2024-05-02", 20), ("2024-05-03", 30), ("2024-05-04", 40), ("2024-05-05", 50)];
    catalogue_days(&d, st, &days);
    // 6 primaries: 4 recover, 2 wait.
    let (c, o, e) =
        run(&url, st, &["restore", "--pattern", "logs-*", "--from", "2024-05-01", "--to", "2024-05-03", "--json"]);
    assert_eq!(c, 0, "{o}{e}");
    let first: serde_json::Value = serde_json::from_str(&o).unwrap();
    // 4 more, all waiting behind the first restore.
    let (c, o, e) = run(
        &url,
        st,
        &["restore", "--pattern", "logs-*", "--from", "2024-05-04", "--to", "2024-05-05", "--wait", "--json"],
    );
    assert_eq!(c, 0, "{o}{e}");
    let second: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(second["state"], "succeeded", "{o}");
    assert_eq!(second["progress"]["docs_recovered"], 90, "{o}");
    let (c, o, e) = run(&url, st, &["restore", "status", first["id"].as_str().unwrap()]);
    assert_eq!(c, 0, "{o}{e}");
    assert!(o.contains("succeeded"), "{o}");
    assert!(d.spec_violations().is_empty(), "{:?}", d.spec_violations());
}

/// A restore still copying barely shows in `disk.used`: the second restore, which together with
/// the first would exceed `--max-disk-usage`, is refused with the bytes still to come, exit 1.
#[tokio::test(flavor = "multi_thread")]
async fn a_restore_that_would_overfill_the_disk_with_a_running_one_is_refused() {
    const MIB: u64 = 1024 * 1024;
    let d = EsDouble::start_with(DoubleConfig {
        disk_total: 10 * MIB,
        disk_used: 5 * MIB,
        shard_restore_time: Duration::from_secs(30),
        ..Default::default()
    })
    .await
    .unwrap();
    let url = d.url();
    let state = tempfile::tempdir().unwrap();
    let st = state.path();
    // Two indices of 2 MiB: 5 + 2 MiB fits under 85% of 10 MiB, 5 + 2 + 2 does not.
    catalogue_days(&d, st, &[("2024-05-01", 4096), ("2024-05-02", 4096)]);
    let day = |d: &'static str| ["restore", "--pattern", "logs-*", "--from", d, "--to", d, "--max-disk-usage", "0.85"];
    let (c, o, e) = run(&url, st, &day("2024-05-01"));
    assert_eq!(c, 0, "{o}{e}");
    let (c, o, e) = run(&url, st, &day("2024-05-02"));
    assert_eq!(c, 1, "{o}{e}");
    assert!(e.contains("not enough disk") && e.contains("still to come from restores in progress"), "{e}");
    assert!(e.contains("exceeds the limit of 85.0%"), "{e}");
    let restores = d.requests().iter().filter(|r| r.api.as_deref() == Some("snapshot.restore")).count();
    assert_eq!(restores, 1, "the second restore is not sent");
}

/// A primary whose recovery failed for good (unassigned, red) fails the restore: exit 1, and
/// `restore status` names the failed shard.
#[tokio::test(flavor = "multi_thread")]
async fn a_restore_with_a_failed_primary_exits_1() {
    let d = EsDouble::start().await.unwrap();
    let url = d.url();
    let state = tempfile::tempdir().unwrap();
    let st = state.path();
    catalogue_days(&d, st, &[("2024-05-01", 10)]);
    d.inject_restore_shard_failure("logs-2024.05.01", 1);
    let args = ["restore", "--pattern", "logs-*", "--from", "2024-05-01", "--to", "2024-05-01", "--wait", "--json"];
    let (c, o, e) = run(&url, st, &args);
    assert_eq!(c, 1, "{o}{e}");
    let rec: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(rec["state"], "failed", "{o}");
    assert_eq!(rec["progress"]["shards_failed"], 1, "{o}");
    let (c, o, e) = run(&url, st, &["restore", "status", rec["id"].as_str().unwrap()]);
    assert_eq!(c, 1, "{o}{e}");
    assert!(o.contains("1 primary shard(s) failed to restore"), "{o}");
}

//! `lifeboat es` end to end against the Elasticsearch test double.

use std::process::Command;

use lifeboat_es::testing::{EsDouble, IndexSeed};

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
    let (c, o, e) = run(
        &url,
        st,
        &[
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
        ],
    );
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

//! `lifeboat export` / `lifeboat import` on the real binary and PostgreSQL: a named export
//! file at an [exports.NAME] directory, a mapped import from it, a conflict naming table and
//! key, a failed export recorded as failed, and the clean leaving a foreign file alone.

use lifeboat_testkit::cleanup::Cleanup;
use lifeboat_testkit::datasets::pg_create_db;
use lifeboat_testkit::env::pg_url;
use lifeboat_testkit::names::unique;
use lifeboat_testkit::sql::psql;

use crate::common::{lifeboat, run};

const SCHEMA: &str = "CREATE TABLE collector (id int PRIMARY KEY, bk_biz_id int NOT NULL, name text, doc jsonb);
CREATE TABLE index_set (id int PRIMARY KEY, bk_biz_id int NOT NULL, collector_id int REFERENCES collector, title text);";

fn db_url(server: &str, db: &str) -> String {
    format!("{}/{db}", server.rsplit_once('/').unwrap().0)
}

#[test]
fn export_to_a_destination_import_mapped_and_clean() {
    let server = pg_url();
    let (src, dst) = (unique("lbx_cli_src"), unique("lbx_cli_dst"));
    pg_create_db(&server, &src);
    pg_create_db(&server, &dst);
    let _cleanup = Cleanup::pg(&server, &[&src, &dst]);
    psql(&server, &src, SCHEMA);
    psql(&server, &dst, SCHEMA);
    psql(
        &server,
        &src,
        "INSERT INTO collector VALUES (1, 2, 'nginx', '{\"a\": 1}'), (2, 3, 'other', NULL);
         INSERT INTO index_set VALUES (10, 2, 1, 'access'), (11, 3, 2, 'x');",
    );
    let work = tempfile::tempdir().unwrap();
    let nfs = work.path().join("nfs");
    std::fs::create_dir_all(&nfs).unwrap();
    std::fs::write(nfs.join("README.txt"), "not ours").unwrap();
    let config = work.path().join("lifeboat.toml");
    std::fs::write(
        &config,
        format!("[exports.logplat]\ndestination = \"{}\"\nkeep-days = 2\nkeep-failed-days = 1\n", nfs.display()),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();

    let mut cmd = lifeboat();
    cmd.args([
        "--config",
        cfg,
        "export",
        "postgres",
        "--url",
        &db_url(&server, &src),
        "--table",
        "collector,index_set",
    ]);
    cmd.args(["--where", "bk_biz_id = 2", "--format", "jsonl", "--to", "logplat", "--id", "42"]);
    let out = run(cmd, b"");
    out.ok().output_has("public.collector").output_has("written to");
    let names: Vec<String> =
        std::fs::read_dir(&nfs).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    let file = names.iter().find(|n| n.ends_with(".tar.gz")).unwrap_or_else(|| panic!("{names:?}")).clone();
    assert!(file.starts_with("logplat_42_") && file.len() == "logplat_42_".len() + 14 + 1 + 10 + 7, "{file}");
    assert!(names.contains(&format!("{file}.manifest.json")), "{names:?}");

    let mut cmd = lifeboat();
    cmd.arg("import").arg(nfs.join(&file)).args(["--url", &db_url(&server, &dst), "--map", "bk_biz_id=2:7"]);
    run(cmd, b"").ok().output_has("1 inserted");
    assert_eq!(psql(&server, &dst, "SELECT id, bk_biz_id FROM collector;").trim(), "1|7");
    assert_eq!(psql(&server, &dst, "SELECT id, bk_biz_id, collector_id FROM index_set;").trim(), "10|7|1");

    let mut cmd = lifeboat();
    cmd.arg("import").arg(nfs.join(&file)).args(["--url", &db_url(&server, &dst), "--map", "bk_biz_id=2:7"]);
    run(cmd, b"").code(1).stderr_has("public.collector").stderr_has("Key (id)=(1)");

    // A failed export leaves its manifest, marked failed.
    let mut cmd = lifeboat();
    cmd.args(["--config", cfg, "export", "postgres", "--url", &db_url(&server, &src), "--table", "nope"]);
    cmd.args(["--to", "logplat", "--id", "43"]);
    run(cmd, b"").code(1).stderr_has("nope");
    let failed = std::fs::read_dir(&nfs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("logplat_43_"))
        .expect("a failed export's manifest");
    let text = std::fs::read_to_string(&failed).unwrap();
    assert!(text.contains("\"status\": \"failed\""), "{text}");

    let mut cmd = lifeboat();
    cmd.args(["--config", cfg, "export", "clean", "--dry-run"]);
    run(cmd, b"").ok().output_has("foreign README.txt").output_has("expires");
    // Age the failed export past its day: the clean deletes it, and nothing else.
    let aged = text.replace(
        &serde_json::from_str::<serde_json::Value>(&text).unwrap()["created"].as_str().unwrap().to_string(),
        "2000-01-01T00:00:00Z",
    );
    std::fs::write(&failed, aged).unwrap();
    let mut cmd = lifeboat();
    cmd.args(["--config", cfg, "export", "clean"]);
    run(cmd, b"").ok().output_has("deleted");
    assert!(!failed.exists());
    assert!(nfs.join("README.txt").exists() && nfs.join(&file).exists());
}

#[test]
fn export_into_a_repository_and_import_from_the_restored_backup() {
    let server = pg_url();
    let (src, dst) = (unique("lbx_cli_repo_src"), unique("lbx_cli_repo_dst"));
    pg_create_db(&server, &src);
    pg_create_db(&server, &dst);
    let _cleanup = Cleanup::pg(&server, &[&src, &dst]);
    psql(&server, &src, SCHEMA);
    psql(&server, &dst, SCHEMA);
    psql(&server, &src, "INSERT INTO collector VALUES (1, 2, 'nginx 🚀', '{\"a\": [1, 2.50]}');");
    let env = crate::common::Env::init();
    let out = run(
        env.cmd(&[
            "export",
            "postgres",
            "--url",
            &db_url(&server, &src),
            "--table",
            "collector",
            "--into-repo",
            "--id",
            "9",
        ]),
        b"",
    );
    out.ok().output_has("stored as backup");
    let id = out.text().split("stored as backup ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    let restored = run(env.cmd(&["restore", &id, "--object", "export.tar.zst", "--stdout"]), b"");
    restored.ok();
    let file = env.path("restored.tar.zst");
    std::fs::write(&file, &restored.stdout).unwrap();
    let mut cmd = lifeboat();
    cmd.arg("import").arg(&file).args(["--url", &db_url(&server, &dst), "--json"]);
    let report = run(cmd, b"");
    assert_eq!(report.ok().json()["tables"][0]["inserted"], 1);
    assert_eq!(psql(&server, &dst, "SELECT name, doc FROM collector;").trim(), "nginx 🚀|{\"a\": [1, 2.50]}");
}

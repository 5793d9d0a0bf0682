//! Runs through the API: a files plan into an S3 repository and a PostgreSQL plan into a
//! local one, each started with POST /api/v1/plans/{name}/run, followed to success, and
//! found in /api/v1/backups; health and readiness answer without a token, the rest not.

use std::time::Duration;

use lifeboat_ops::state::Scope;
use lifeboat_testkit::{Cleanup, password_of, service_url, unique, with_path, without_password};

use crate::common::{Daemon, Site, http};

/// The backups of an answer: a bare array or `{"backups": [...]}`.
pub fn backups_of(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v.as_array().or_else(|| v["backups"].as_array()).cloned().unwrap_or_default()
}

#[test]
fn plans_run_through_the_api_succeed_and_their_backups_are_listed() {
    let url = service_url("LIFEBOAT_TEST_PG_URL");
    let db = unique("lbd_api");
    let _cleanup = Cleanup::pg(&url, &[&db]);
    lifeboat_testkit::datasets::pg_dataset(&url, &db, 500);

    let mut site = Site::new();
    let data = site.path("data");
    std::fs::create_dir_all(data.join("docs")).unwrap();
    std::fs::write(data.join("index.html"), b"<h1>lifeboat</h1>").unwrap();
    std::fs::write(data.join("docs/guide.txt"), vec![b'x'; 300_000]).unwrap();
    std::fs::write(site.path("pg.pw"), format!("{}\n", password_of(&url))).unwrap();
    let s3 = site.s3_repo("site");
    let local = site.local_repo("repo");
    site.write_config(&format!(
        "[plans.site]\nrepository = \"{s3}\"\npassword-file = \"@PASSWORD_FILE@\"\ntags = [\"it\"]\n\
         source = {{ kind = \"files\", paths = [\"{}\"] }}\n\n\
         [plans.orders]\nrepository = \"{local}\"\npassword-file = \"@PASSWORD_FILE@\"\n\n\
         [plans.orders.source]\nkind = \"postgres\"\nurl = \"{}\"\npassword-file = \"@DIR@/pg.pw\"\n",
        data.display(),
        without_password(&with_path(&url, &db)),
    ));
    let token = site.token("it", &[Scope::Operate]);
    let daemon = Daemon::start(&site);

    // The first line says where it listens and that plain HTTP is on loopback only.
    let first = &daemon.log_lines()[0];
    let message = first["message"].as_str().unwrap_or_default();
    assert!(message.contains("plain HTTP") && message.contains("loopback"), "first log line: {first}");

    for path in ["/healthz", "/readyz"] {
        assert_eq!(http(daemon.addr, "GET", path, None, None).status, 200, "{path} without a token");
    }
    assert_eq!(http(daemon.addr, "GET", "/api/v1/status", None, None).status, 401);

    let site_job = daemon.run_plan("site", &token);
    let orders_job = daemon.run_plan("orders", &token);
    let mut ids = Vec::new();
    for (plan, id) in [("site", site_job), ("orders", orders_job)] {
        let job = daemon.wait_job(id, &token, Duration::from_secs(120));
        assert_eq!(job["state"], "succeeded", "{plan}: {job}\n{}", daemon.log_text());
        assert_eq!(job["plan"], plan);
        let backup = job["backup_id"].as_str().unwrap_or_else(|| panic!("{plan}: no backup id in {job}")).to_owned();
        ids.push((plan, backup));
    }

    for (plan, backup) in &ids {
        let listed = daemon.get(&format!("/api/v1/backups?plan={plan}"), &token);
        assert_eq!(listed.status, 200, "{}", listed.body);
        let backups = backups_of(&listed.json());
        assert_eq!(backups.len(), 1, "{plan}: {}", listed.body);
        assert_eq!(backups[0]["id"].as_str(), Some(backup.as_str()), "{plan}: {}", listed.body);
        assert_eq!(backups[0]["plan"].as_str(), Some(*plan));
    }
    let all = backups_of(&daemon.get("/api/v1/backups", &token).json());
    assert_eq!(all.len(), 2, "{all:?}");
    let kinds: Vec<_> = all.iter().filter_map(|b| b["kind"].as_str()).collect();
    assert!(kinds.contains(&"files") && kinds.contains(&"postgres"), "{kinds:?}");

    let status = daemon.get("/api/v1/status", &token);
    assert_eq!(status.status, 200, "{}", status.body);
    let log = daemon.log_text();
    assert!(!log.contains(&password_of(&url)), "the log shows the database password");
    assert!(!log.contains(crate::common::PASSWORD), "the log shows the repository password");
    assert!(!log.contains(&token), "the log shows the API token");
    assert!(site.temp_leftovers().is_empty(), "temporary files left: {:?}", site.temp_leftovers());
}

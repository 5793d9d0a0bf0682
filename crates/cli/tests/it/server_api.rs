//! `lifeboat status` and `lifeboat jobs` against a real lifeboat-http API served in this
//! process (a real Service over a temporary state file and a fs repository with a files
//! plan `web`): JSON and tables, a job run through the API, 401 without a token, a dead
//! port, and the token never in any output.

use std::sync::Arc;
use std::time::Duration;

use lifeboat_crypto::Argon2Params;
use lifeboat_ops::Config;
use lifeboat_ops::service::{DefaultOpener, Service, ServiceOptions};
use lifeboat_ops::state::{AsyncStateStore, Scope};
use lifeboat_repo::{Credential, InitOptions, Repository};
use lifeboat_storage::FsStorage;
use lifeboat_storage::clock::SystemClock;

use crate::common::{EXIT_FAILURE, EXIT_OK, Out, lifeboat, run};

const REPO_PASSWORD: &str = "server api test repository password";

/// The API on a loopback port, with its runtime and tokens.
struct Api {
    runtime: tokio::runtime::Runtime,
    base: String,
    read: String,
    operate: String,
    metrics: String,
    service: Service,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn start() -> Api {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let (base, [read, operate, metrics], service, stop) = runtime.block_on(async move {
        let _ = rustls::crypto::ring::default_provider().install_default();
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(root.join("data/a.txt"), "alpha\n".repeat(100)).unwrap();
        std::fs::write(root.join("repo.pw"), format!("{REPO_PASSWORD}\n")).unwrap();
        let storage = Arc::new(FsStorage::new(root.join("repo")));
        let init = InitOptions { kdf: Argon2Params::MINIMUM, segment_size: 64 * 1024, ..Default::default() };
        Repository::init(storage, Credential::password(REPO_PASSWORD), init).await.unwrap();
        let d = root.display();
        let text = format!(
            r#"
[plans.web]
repository = "{d}/repo"
password-file = "{d}/repo.pw"
schedule = {{ every = "1d" }}
[plans.web.source]
kind = "files"
paths = ["{d}/data"]
"#
        );
        let origin = root.join("lifeboat.toml").display().to_string();
        let config = Config::parse(&text, &origin).unwrap();
        let state = AsyncStateStore::open(root.join("state/lifeboatd.sqlite")).await.unwrap();
        let now = chrono::Utc::now();
        let read = state.create_token("reader".into(), vec![Scope::Read], None, now).await.unwrap();
        let operate = state.create_token("operator".into(), vec![Scope::Operate], None, now).await.unwrap();
        let metrics = state.create_token("scraper".into(), vec![Scope::Metrics], None, now).await.unwrap();
        let service = Service::start(ServiceOptions {
            config,
            origin,
            state,
            clock: Arc::new(SystemClock),
            opener: Arc::new(DefaultOpener::default()),
            run_scheduler: false,
        })
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = lifeboat_http::router(service.clone());
        tokio::spawn(lifeboat_http::serve(listener, app, None, async move {
            let _ = rx.await;
        }));
        let tokens = [read, operate, metrics].map(|t| t.secret.as_str().to_owned());
        (base, tokens, service, tx)
    });
    Api { runtime, base, read, operate, metrics, service, _dir: dir, _stop: stop }
}

impl Api {
    /// `lifeboat ARGS` against this API with `token` in LIFEBOAT_TOKEN (none: unset).
    fn lifeboat(&self, token: Option<&str>, args: &[&str]) -> Out {
        let mut cmd = lifeboat();
        cmd.env("LIFEBOAT_SERVER", &self.base).args(args);
        if let Some(token) = token {
            cmd.env("LIFEBOAT_TOKEN", token);
        }
        let out = run(cmd, b"");
        out.no_panic();
        for secret in [&self.read, &self.operate, &self.metrics] {
            assert!(!out.all().contains(secret.as_str()), "`{}` shows a token:\n{}", out.what, out.all());
        }
        out
    }

    /// Runs plan `web` through the API (POST /api/v1/plans/web/run) and waits for it.
    fn run_web(&self) -> i64 {
        let url = format!("{}/api/v1/plans/web/run", self.base);
        let token = self.operate.clone();
        let service = self.service.clone();
        self.runtime.block_on(async move {
            let client = reqwest::Client::new();
            let response = client.post(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
            let job: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            tokio::time::timeout(Duration::from_secs(120), service.wait_idle()).await.unwrap();
            job["id"].as_i64().unwrap()
        })
    }
}

#[test]
fn status_and_jobs_show_the_plan_and_a_job_run_through_the_api() {
    let api = start();
    let read = Some(api.read.as_str());

    let out = api.lifeboat(read, &["status", "--json"]);
    out.ok();
    let status = out.json();
    assert_eq!(status["plans"][0]["plan"], "web", "{status}");
    assert!(status["health"].is_string(), "{status}");
    let table = api.lifeboat(read, &["status"]);
    table.ok();
    assert!(table.text().starts_with("lifeboatd: "), "{}", table.text());
    assert!(
        table.text().contains("PLAN") && table.text().contains("web") && table.text().contains("never"),
        "{}",
        table.text()
    );

    let out = api.lifeboat(read, &["jobs"]);
    out.ok();
    assert!(out.text().contains("no jobs"), "{}", out.text());

    let id = api.run_web();
    let out = api.lifeboat(read, &["jobs", "--json"]);
    out.ok();
    let page = out.json();
    assert_eq!(page["jobs"][0]["id"], id, "{page}");
    assert_eq!(page["jobs"][0]["plan"], "web", "{page}");
    assert_eq!(page["jobs"][0]["state"], "succeeded", "{page}");
    let out = api.lifeboat(read, &["jobs", "--plan", "web", "--state", "succeeded", "--limit", "5"]);
    out.ok();
    let line = out.text().lines().nth(1).unwrap_or_default().to_owned();
    assert!(line.starts_with(&id.to_string()) && line.contains("web") && line.contains("backup"), "{}", out.text());
    assert!(line.contains("succeeded"), "{}", out.text());
    let out = api.lifeboat(read, &["jobs", "--plan", "nothing"]);
    out.ok();
    assert!(out.text().contains("no jobs"), "{}", out.text());

    let out = api.lifeboat(read, &["jobs", &id.to_string(), "--json"]);
    out.ok();
    let job = out.json();
    assert_eq!(job["id"], id);
    assert!(job["backup_id"].is_string(), "{job}");
    let out = api.lifeboat(read, &["jobs", &id.to_string()]);
    out.ok();
    assert!(out.text().contains("backup: ") && out.text().contains("trigger: "), "{}", out.text());

    // After the run the plan has a last success.
    let status = api.lifeboat(read, &["status", "--json"]);
    assert!(status.json()["plans"][0]["last_success"].is_string(), "{}", status.text());

    // The token from a file works the same.
    let file = api._dir.path().join("token");
    std::fs::write(&file, format!("{}\n", api.read)).unwrap();
    let out = api.lifeboat(None, &["status", "--json", "--token-file", file.to_str().unwrap()]);
    out.ok();
}

#[test]
fn errors_are_the_apis_message_and_a_dead_server_is_named() {
    let api = start();

    let out = api.lifeboat(None, &["status"]);
    assert_ne!(out.code, EXIT_OK);
    out.stderr_has("unauthorized").stderr_has("LIFEBOAT_TOKEN");
    let out = api.lifeboat(Some("lbt_0000000000000000_wrong"), &["jobs"]);
    assert_ne!(out.code, EXIT_OK);
    out.stderr_has("unauthorized");
    assert!(!out.all().contains("lbt_0000000000000000_wrong"), "{}", out.all());

    // A token without the read scope: 403 with the API's message.
    let out = api.lifeboat(Some(&api.metrics), &["status"]);
    assert_ne!(out.code, EXIT_OK);
    out.stderr_has("forbidden").stderr_has("HTTP 403");

    let out = api.lifeboat(Some(&api.read), &["jobs", "999999"]);
    assert_ne!(out.code, EXIT_OK);
    out.stderr_has("no job 999999").stderr_has("not_found");

    // A port nobody listens on: bind one, note it, close it.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut cmd = lifeboat();
    cmd.args(["status", "--server", &format!("http://{dead}")]).env("LIFEBOAT_TOKEN", &api.read);
    let out = run(cmd, b"");
    out.no_panic();
    assert_ne!(out.code, EXIT_OK);
    out.stderr_has(&format!("cannot reach lifeboatd at http://{dead}: connection refused"));
    assert!(!out.all().contains(&api.read));
}

#[test]
fn alerts_are_listed_and_acknowledged_through_the_api() {
    let api = start();
    let (read, operate) = (Some(api.read.as_str()), Some(api.operate.as_str()));
    api.lifeboat(read, &["alerts"]).ok().output_has("no open alerts");
    // A threshold of 1% that this machine's file system is above: one disk_full alert.
    let d = api._dir.path().display().to_string();
    let text = format!(
        "[plans.web]\nrepository = \"{d}/repo\"\npassword-file = \"{d}/repo.pw\"\n\
         source = {{ kind = \"files\", paths = [\"{d}/data\"] }}\n[plans.web.alerts]\ndisk-usage = 1\n"
    );
    let service = api.service.clone();
    api.runtime.block_on(async move {
        service.reload(Config::parse(&text, "lifeboat.toml").unwrap()).await.unwrap();
        service.evaluate_alerts().await.unwrap();
    });
    let table = api.lifeboat(read, &["alerts"]);
    table.ok().output_has("disk_full").output_has("warning").output_has("firing");
    let listed = api.lifeboat(read, &["alerts", "--json"]);
    let id = listed.ok().json()["alerts"][0]["id"].as_str().expect("an alert id").to_owned();

    api.lifeboat(read, &["alerts", "ack", &id]).code(EXIT_FAILURE).stderr_has("forbidden");
    let acked = api.lifeboat(operate, &["alerts", "ack", &id, "--comment", "cleaning up", "--until", "4h"]);
    acked.ok().output_has(&format!("acknowledged {id}")).output_has("until");
    let out = api.lifeboat(read, &["alerts", "--state", "acknowledged", "--json"]);
    let alert = out.ok().json()["alerts"][0].clone();
    assert_eq!(alert["acknowledged"]["by"], "token:operator", "{alert}");
    assert_eq!(alert["acknowledged"]["comment"], "cleaning up", "{alert}");
    api.lifeboat(read, &["alerts", "--state", "firing"]).ok().output_has("no firing alerts");
    api.lifeboat(read, &["alerts", "--state", "bogus"]).code(EXIT_FAILURE).stderr_has("unknown alert state");
    api.lifeboat(operate, &["alerts", "ack", "A999"]).code(EXIT_FAILURE).stderr_has("not_found");
}

//! A real Prometheus server scrapes lifeboatd's /metrics with a bearer token (a metrics
//! token, from a credentials file) and its query API shows the scrape: `up` is 1,
//! `lifeboat_jobs_running` is there, and `lifeboat_backup_runs_total` counts a run made
//! through the API. The exposition also passes `promtool check metrics`. A missing
//! prometheus binary fails the test (scripts/services.sh installs it); it never skips.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lifeboat_ops::state::Scope;
use serde_json::Value;

use crate::common::{Daemon, Site, http};

/// A binary named by the services env file (or the environment), else on PATH; fails with
/// instructions when there is none.
pub fn tool(var: &str, name: &str) -> String {
    if let Some(path) = lifeboat_testkit::env_value(var).filter(|p| std::path::Path::new(p).is_file()) {
        return path;
    }
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()));
    match found {
        Some(path) => path.display().to_string(),
        None => panic!(
            "{name} is not installed ({var} unset and no {name} on PATH): run `bash scripts/services.sh start`, \
             which installs Debian's prometheus package (prometheus, promtool)"
        ),
    }
}

/// Asserts that `promtool check metrics` accepts `exposition`.
pub fn promtool_check(promtool: &str, exposition: &str) {
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    check.stdin.take().unwrap().write_all(exposition.as_bytes()).unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics failed:\n{}{}\n--- exposition:\n{exposition}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr),
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Prometheus' instant query: the result vector.
fn query(prometheus: SocketAddr, expr: &str) -> Vec<Value> {
    let encoded: String = expr
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let r = http(prometheus, "GET", &format!("/api/v1/query?query={encoded}"), None, None);
    if r.status != 200 {
        return Vec::new();
    }
    r.json()["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn value(sample: &Value) -> f64 {
    sample["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// Kills Prometheus when the test ends, however it ends.
struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_real_prometheus_scrapes_lifeboatd_with_a_bearer_token() {
    let prometheus_bin = tool("LIFEBOAT_TEST_PROMETHEUS", "prometheus");
    let promtool = tool("LIFEBOAT_TEST_PROMTOOL", "promtool");

    let site = Site::new();
    site.local_repo("repo");
    site.write_config(
        "[plans.tick]\nrepository = \"@DIR@/repo\"\npassword-file = \"@PASSWORD_FILE@\"\n\
         source = { kind = \"stdin\", command = [\"echo\", \"tick\"] }\n",
    );
    let operator = site.token("operator", &[Scope::Operate]);
    let scraper = site.token("prometheus", &[Scope::Metrics]);
    let daemon = Daemon::start(&site);

    // Without a token /metrics is closed; with the metrics token it is valid exposition.
    assert_eq!(http(daemon.addr, "GET", "/metrics", None, None).status, 401);
    let metrics = daemon.get("/metrics", &scraper);
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    let content_type = metrics.headers.get("content-type").cloned().unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain") || content_type.starts_with("application/openmetrics-text"),
        "/metrics content type {content_type:?}"
    );
    promtool_check(&promtool, &metrics.body);

    let token_file = site.path("prometheus.token");
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&token_file).unwrap();
    f.write_all(scraper.as_bytes()).unwrap();
    let config = site.path("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: lifeboat\n    \
             scrape_interval: 1s\n    scrape_timeout: 1s\n    metrics_path: /metrics\n    authorization:\n      \
             type: Bearer\n      credentials_file: {}\n    static_configs:\n      - targets: ['{}']\n",
            token_file.display(),
            daemon.addr
        ),
    )
    .unwrap();
    let port = free_port();
    let prometheus_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = std::fs::File::create(site.path("prometheus.log")).unwrap();
    let _prometheus = Killed(
        Command::new(&prometheus_bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", site.path("tsdb").display()))
            .arg(format!("--web.listen-address={prometheus_addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus"),
    );
    let prometheus_log = || std::fs::read_to_string(site.path("prometheus.log")).unwrap_or_default();

    let wait = |what: &str, expr: &str, ok: &dyn Fn(&[Value]) -> bool| -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let result = query(prometheus_addr, expr);
            if ok(&result) {
                return result;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus never showed {what} ({expr}): last result {result:?}\n--- prometheus log:\n{}",
                prometheus_log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    wait("a successful scrape", "up{job=\"lifeboat\"}", &|r| r.len() == 1 && value(&r[0]) == 1.0);
    let running = wait("lifeboat_jobs_running", "lifeboat_jobs_running", &|r| !r.is_empty());
    assert_eq!(value(&running[0]), 0.0, "{running:?}");

    let job = daemon.run_plan("tick", &operator);
    let done = daemon.wait_job(job, &operator, Duration::from_secs(60));
    assert_eq!(done["state"], "succeeded", "{done}");
    let runs = wait("the run in lifeboat_backup_runs_total", "lifeboat_backup_runs_total{plan=\"tick\"}", &|r| {
        r.iter().map(value).sum::<f64>() >= 1.0
    });
    assert!(runs.iter().any(|s| s["metric"]["result"].as_str().is_some_and(|r| r.contains("succ"))), "{runs:?}");
    // The scrapes authenticated: no 401 in Prometheus' view of the target.
    let targets = http(prometheus_addr, "GET", "/api/v1/targets", None, None).json();
    let health = &targets["data"]["activeTargets"][0]["health"];
    assert_eq!(health, "up", "{targets}");
}

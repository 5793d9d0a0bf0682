//! Scheduled restore drills in the real lifeboatd: a files plan drilled every few seconds
//! by its `[plans.NAME.drill] schedule`. Before its first backup the scheduled drill fails
//! and raises `drill_failed`; after a backup the next scheduled drill passes, resolves it,
//! keeps its report (in `/api/v1/drills`, with its Markdown page), leaves no scratch
//! directory behind, and feeds the drill gauges of `/metrics`, which pass `promtool check
//! metrics`.

use std::time::{Duration, Instant};

use lifeboat_ops::state::Scope;
use serde_json::Value;

use crate::common::{Daemon, Site};
use crate::prometheus::{promtool_check, tool};

/// Polls `GET path` until `ok` holds for its JSON (at most 90 s).
fn until(daemon: &Daemon, token: &str, path: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let r = daemon.get(path, token);
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        let json = r.json();
        if ok(&json) {
            return json;
        }
        assert!(Instant::now() < deadline, "never {what}: last {json}\n{}", daemon.log_text());
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn drill_alerts(alerts: &Value) -> Vec<Value> {
    let list = alerts["alerts"].as_array().cloned().unwrap_or_default();
    list.into_iter().filter(|a| a["rule"] == "drill_failed" && a["plan"] == "site").collect()
}

#[test]
fn scheduled_drills_fail_then_pass_with_their_alert_reports_and_metrics() {
    let promtool = tool("LIFEBOAT_TEST_PROMTOOL", "promtool");
    let site = Site::new();
    let data = site.path("data");
    std::fs::create_dir_all(data.join("docs")).unwrap();
    std::fs::write(data.join("index.html"), b"<h1>lifeboat</h1>").unwrap();
    std::fs::write(data.join("docs/guide.txt"), vec![b'x'; 200_000]).unwrap();
    site.local_repo("repo");
    site.write_config(&format!(
        "[service]\nretries = 0\n\n[drills]\nscratch-dir = \"@DIR@/scratch\"\n\n\
         [plans.site]\nrepository = \"@DIR@/repo\"\npassword-file = \"@PASSWORD_FILE@\"\n\
         source = {{ kind = \"files\", paths = [\"{}\"] }}\nschedule = {{ every = \"1d\" }}\n\
         objectives = {{ rpo = \"1d\", rto = \"1h\" }}\ndrill = {{ schedule = {{ every = \"3s\" }} }}\n",
        data.display()
    ));
    std::fs::create_dir_all(site.path("scratch")).unwrap();
    let operator = site.token("operator", &[Scope::Operate]);
    let scraper = site.token("scraper", &[Scope::Metrics]);
    let daemon = Daemon::start(&site);

    // No backup yet: the scheduled drill fails, and drill_failed fires.
    let jobs = until(&daemon, &operator, "/api/v1/jobs?kind=drill&state=failed", "a failed scheduled drill", |j| {
        j["jobs"].as_array().is_some_and(|l| !l.is_empty())
    });
    assert_eq!(jobs["jobs"][0]["trigger"], "schedule", "{jobs}");
    let alerts =
        until(&daemon, &operator, "/api/v1/alerts?state=open", "drill_failed firing", |a| !drill_alerts(a).is_empty());
    let alert = &drill_alerts(&alerts)[0];
    assert!(alert["summary"].as_str().unwrap_or_default().contains("restore drill failed"), "{alert}");

    // A backup: the next scheduled drill passes and the alert resolves.
    let backup = daemon.run_plan("site", &operator);
    let backup = daemon.wait_job(backup, &operator, Duration::from_secs(120));
    assert_eq!(backup["state"], "succeeded", "{backup}");
    let drills = until(&daemon, &operator, "/api/v1/drills?plan=site", "a passing drill", |d| {
        d["drills"].as_array().is_some_and(|l| l.iter().any(|r| r["passed"] == true))
    });
    let passed = drills["drills"].as_array().unwrap().iter().find(|r| r["passed"] == true).unwrap().clone();
    assert_eq!(passed["backup"], backup["backup_id"], "{passed}");
    assert_eq!(passed["objectives_met"], true, "{passed}");
    assert_eq!(passed["scratch_cleaned"], passed["scratch_targets"], "{passed}");
    let page = daemon.get(passed["report_url"].as_str().unwrap(), &operator);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(passed["id"].as_str().unwrap()), "{}", page.body);
    until(&daemon, &operator, "/api/v1/alerts?state=open", "drill_failed resolved", |a| drill_alerts(a).is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(site.path("scratch")).unwrap().flatten().map(|e| e.path()).collect();
    // A drill may be running right now (every 3 s): only a finished one's directory must be gone.
    let running = daemon.get("/api/v1/jobs?kind=drill&state=running", &operator).json();
    if running["jobs"].as_array().is_none_or(Vec::is_empty) {
        assert!(leftovers.is_empty(), "scratch left behind: {leftovers:?}");
    }

    // The drill gauges, valid exposition.
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let metrics = daemon.get("/metrics", &scraper);
        assert_eq!(metrics.status, 200, "{}", metrics.body);
        if metrics.body.contains("lifeboat_drill_objective_met{plan=\"site\"} 1") {
            break metrics.body;
        }
        assert!(Instant::now() < deadline, "no passing drill in /metrics:\n{}", metrics.body);
        std::thread::sleep(Duration::from_millis(500));
    };
    for series in [
        "lifeboat_drill_rto_seconds{plan=\"site\"} ",
        "lifeboat_drill_rpo_seconds{plan=\"site\"} ",
        "lifeboat_drill_last_result{plan=\"site\"} 1",
        "lifeboat_drill_last_timestamp_seconds{plan=\"site\"} ",
    ] {
        assert!(metrics.contains(series), "{series} missing from:\n{metrics}");
    }
    promtool_check(&promtool, &metrics);
}

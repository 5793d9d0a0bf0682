//! `/metrics` after a real backup: the Prometheus text passes `promtool check metrics`, holds
//! the documented series with bounded labels only, OpenMetrics is served when asked for,
//! and a plan removed by a reload leaves no series behind.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::common::{TestServer, config_text};

/// `promtool check metrics` on `text`: its exit status and output. promtool comes from
/// Debian's `prometheus` package, which `bash scripts/services.sh start` installs.
pub fn promtool_check(text: &str) -> (bool, String) {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!(
            "promtool is not on PATH ({e}): run `bash scripts/services.sh start` (it installs Debian's prometheus \
             package, which has promtool)"
        ),
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), said)
}

pub async fn scrape(server: &TestServer, openmetrics: bool) -> (String, String) {
    let mut request = server.request(Method::GET, "/metrics", Some(&server.tokens.metrics));
    if openmetrics {
        request = request.header("accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5");
    }
    let answer = server.send(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let content_type = answer.headers["content-type"].to_str().unwrap().to_owned();
    (content_type, answer.text)
}

#[tokio::test]
async fn metrics_after_a_backup_pass_promtool_and_have_the_documented_series() {
    let options = lifeboat_http::ApiOptions { metrics_refresh: Duration::from_millis(200), ..Default::default() };
    let server = TestServer::start_with(options).await;
    // Before anything ran, the exposition is valid too.
    let (_, empty) = scrape(&server, false).await;
    let (ok, said) = promtool_check(&empty);
    assert!(ok, "promtool refused the metrics before any run:\n{said}\n{empty}");

    let queued = server.send(server.request(Method::POST, "/api/v1/plans/web/run", Some(&server.tokens.operate))).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    let job = server.wait_final(queued.json["id"].as_i64().unwrap(), Duration::from_secs(120)).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let verify = server
        .send(
            server
                .request(Method::POST, "/api/v1/plans/web/run", Some(&server.tokens.operate))
                .json(&serde_json::json!({"kind": "verify"})),
        )
        .await;
    assert_eq!(verify.status, StatusCode::ACCEPTED, "{}", verify.text);
    let verified = server.wait_final(verify.json["id"].as_i64().unwrap(), Duration::from_secs(120)).await;
    assert_eq!(verified["state"], "succeeded", "{verified}");
    tokio::time::sleep(Duration::from_millis(300)).await; // the gauges' refresh

    let (content_type, text) = scrape(&server, false).await;
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let (ok, said) = promtool_check(&text);
    assert!(ok, "promtool check metrics failed:\n{said}\n--- exposition ---\n{text}");
    for series in [
        "lifeboat_backup_runs_total{plan=\"web\",result=\"succeeded\"} 1",
        "lifeboat_backup_duration_seconds_count{plan=\"web\"} 1",
        "lifeboat_backup_bytes_read_total{plan=\"web\"}",
        "lifeboat_backup_bytes_stored_total{plan=\"web\"}",
        "lifeboat_backup_last_success_timestamp_seconds{plan=\"web\"}",
        "lifeboat_jobs_finished_total{plan=\"web\",kind=\"backup\",result=\"succeeded\"} 1",
        "lifeboat_jobs_running 0",
        "lifeboat_schedule_expected_interval_seconds{plan=\"web\"} 86400",
        "lifeboat_verify_last_result{plan=\"web\"} 1",
        "lifeboat_jobs_finished_total{plan=\"web\",kind=\"verify\",result=\"succeeded\"} 1",
        "lifeboat_http_requests_total{route=\"/api/v1/plans/{name}/run\",status_class=\"2xx\"} 2",
    ] {
        assert!(text.contains(series), "{series} missing from:\n{text}");
    }
    let size = text.lines().find_map(|l| l.strip_prefix("lifeboat_repository_size_bytes{repository=\""));
    let size: f64 = size
        .and_then(|rest| rest.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no lifeboat_repository_size_bytes sample in:\n{text}"));
    assert!(size > 0.0, "the repository holds a backup: {size}");
    let backup_id = job["backup_id"].as_str().unwrap();
    assert!(!text.contains(backup_id), "a backup id is a label: unbounded");
    let read: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("lifeboat_backup_bytes_read_total{plan=\"web\"} "))
        .and_then(|v| v.parse().ok())
        .expect("a byte count");
    assert_eq!(Some(read), job["bytes_read"].as_u64(), "the counter is the job's figure");

    let (content_type, om) = scrape(&server, true).await;
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(om.contains("# TYPE lifeboat_backup_runs counter"), "{om}");
    server.stop().await;
}

#[tokio::test]
async fn a_plan_removed_by_reload_leaves_no_series() {
    let options = lifeboat_http::ApiOptions { metrics_refresh: Duration::from_millis(100), ..Default::default() };
    let server = TestServer::start_with(options).await;
    let queued = server.send(server.request(Method::POST, "/api/v1/plans/web/run", Some(&server.tokens.operate))).await;
    let job = server.wait_final(queued.json["id"].as_i64().unwrap(), Duration::from_secs(120)).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, before) = scrape(&server, false).await;
    assert!(before.contains("plan=\"web\""), "{before}");

    // The same file without plan web.
    let text = config_text(server.dir.path(), "");
    let without_web = text.split("[plans.slow]").nth(1).map(|rest| format!("[plans.slow]{rest}")).unwrap();
    std::fs::write(server.path("lifeboat.toml"), without_web).unwrap();
    let reload = server.send(server.request(Method::POST, "/api/v1/reload", Some(&server.tokens.admin))).await;
    assert_eq!(reload.status, StatusCode::OK, "{}", reload.text);
    assert_eq!(reload.json["removed"], serde_json::json!(["web"]), "{}", reload.text);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, after) = scrape(&server, false).await;
    assert!(!after.contains("plan=\"web\""), "series of the removed plan remain:\n{after}");
    let (ok, said) = promtool_check(&after);
    assert!(ok, "{said}\n{after}");
    server.stop().await;
}

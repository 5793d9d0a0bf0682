//! The drill routes: `POST /api/v1/plans/{name}/drill` (operate, audited) queues a restore
//! drill of a files plan that runs and keeps its report; `GET /api/v1/drills` lists it with
//! its measured RTO and RPO next to the objectives, `GET /api/v1/drills/{id}` is the whole
//! report and `/report.md` its Markdown page; `/metrics` has the drill gauges and still
//! passes promtool; `GET /api/v1/dr/assess` answers; bad input is refused in the API's shape.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::common::{TestServer, config_text};
use crate::metrics::{promtool_check, scrape};

/// A files plan with objectives, beside the test plans.
fn kept_plan(server: &TestServer) -> String {
    let d = server.dir.path().display();
    format!(
        "[plans.kept]\nrepository = \"{d}/repo\"\npassword-file = \"{d}/repo.pw\"\nschedule = {{ every = \"1d\" }}\n\
         objectives = {{ rpo = \"1d\", rto = \"1h\" }}\n[plans.kept.source]\nkind = \"files\"\npaths = [\"{d}/data\"]\n"
    )
}

async fn post(server: &TestServer, path: &str, token: &str) -> crate::common::Answer {
    server.send(server.request(Method::POST, path, Some(token))).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_run_through_the_api_is_listed_with_its_report_and_metrics() {
    let options = lifeboat_http::ApiOptions { metrics_refresh: Duration::from_millis(100), ..Default::default() };
    let server = TestServer::start_with(options).await;
    std::fs::write(server.path("lifeboat.toml"), config_text(server.dir.path(), &kept_plan(&server))).unwrap();
    let reload = post(&server, "/api/v1/reload", &server.tokens.admin).await;
    assert_eq!(reload.status, StatusCode::OK, "{}", reload.text);
    let empty = server.get("/api/v1/drills", &server.tokens.read).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.text);
    assert_eq!(empty.json, serde_json::json!({ "drills": [] }));

    let backup = post(&server, "/api/v1/plans/kept/run", &server.tokens.operate).await;
    assert_eq!(backup.status, StatusCode::ACCEPTED, "{}", backup.text);
    let backup = server.wait_final(backup.json["id"].as_i64().unwrap(), Duration::from_secs(120)).await;
    assert_eq!(backup["state"], "succeeded", "{backup}");

    // A read token may not start a drill; an operate token may.
    post(&server, "/api/v1/plans/kept/drill", &server.tokens.read).await.assert_error(
        StatusCode::FORBIDDEN,
        "forbidden",
        "a read token",
    );
    post(&server, "/api/v1/plans/nope/drill", &server.tokens.operate).await.assert_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such plan",
    );
    let queued = post(&server, "/api/v1/plans/kept/drill", &server.tokens.operate).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    assert_eq!(queued.json["kind"], "drill", "{}", queued.text);
    let id = queued.json["id"].as_i64().unwrap();
    assert_eq!(queued.headers["location"], format!("/api/v1/jobs/{id}").as_str());
    let job = server.wait_final(id, Duration::from_secs(120)).await;
    let log = server.get(&format!("/api/v1/jobs/{id}/log"), &server.tokens.read).await;
    assert_eq!(job["state"], "succeeded", "{job}\n{}", log.text);
    assert_eq!(job["backup_id"], backup["backup_id"], "the drill restored the newest backup");

    let listed = server.get("/api/v1/drills?plan=kept&limit=5", &server.tokens.read).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let drills = listed.json["drills"].as_array().cloned().unwrap_or_default();
    assert_eq!(drills.len(), 1, "{}", listed.text);
    let drill = &drills[0];
    assert_eq!((drill["plan"].as_str(), drill["passed"].as_bool()), (Some("kept"), Some(true)), "{drill}");
    assert_eq!(drill["objectives_met"], true, "{drill}");
    assert_eq!(
        (drill["rto_objective_seconds"].as_i64(), drill["rpo_objective_seconds"].as_i64()),
        (Some(3600), Some(86400))
    );
    assert!(drill["rto_seconds"].as_f64().is_some_and(|s| s >= 0.0), "{drill}");
    assert!(drill["rpo_seconds"].as_i64().is_some_and(|s| s >= 0), "{drill}");
    assert_eq!(drill["backup"], backup["backup_id"], "{drill}");
    assert_eq!(drill["scratch_cleaned"], drill["scratch_targets"], "every scratch target removed: {drill}");
    let report_id = drill["id"].as_str().unwrap().to_owned();
    assert!(log.text.contains(&report_id), "the job's log names the report: {}", log.text);
    let other = server.get("/api/v1/drills?plan=web", &server.tokens.read).await;
    assert_eq!(other.json["drills"], serde_json::json!([]), "{}", other.text);

    let whole = server.get(&format!("/api/v1/drills/{report_id}"), &server.tokens.read).await;
    assert_eq!(whole.status, StatusCode::OK, "{}", whole.text);
    assert_eq!(whole.json["id"], report_id.as_str());
    assert!(whole.json["steps"].as_array().is_some_and(|s| !s.is_empty()), "{}", whole.text);
    let page = server.get(drill["report_url"].as_str().unwrap(), &server.tokens.read).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let content_type = page.headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/markdown"), "{content_type}");
    assert!(page.text.starts_with("# ") && page.text.contains(&report_id), "{}", page.text);

    // The drill gauges, bounded labels only, valid exposition.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, text) = scrape(&server, false).await;
    let (ok, said) = promtool_check(&text);
    assert!(ok, "promtool check metrics failed:\n{said}\n--- exposition ---\n{text}");
    for series in [
        "lifeboat_drill_rto_seconds{plan=\"kept\"} ",
        "lifeboat_drill_rpo_seconds{plan=\"kept\"} ",
        "lifeboat_drill_objective_met{plan=\"kept\"} 1",
        "lifeboat_drill_last_result{plan=\"kept\"} 1",
        "lifeboat_drill_last_timestamp_seconds{plan=\"kept\"} ",
        "lifeboat_jobs_finished_total{plan=\"kept\",kind=\"drill\",result=\"succeeded\"} 1",
    ] {
        assert!(text.contains(series), "{series} missing from:\n{text}");
    }
    assert!(!text.contains(&report_id), "a report id is a label: unbounded");
    assert!(!text.contains("lifeboat_drill_rto_seconds{plan=\"web\"}"), "web was never drilled:\n{text}");

    // Audited, with the token.
    let audit = server.get("/api/v1/audit", &server.tokens.admin).await;
    let entries = audit.json["entries"].as_array().cloned().unwrap_or_default();
    let run = entries.iter().find(|e| e["operation"] == "drill_run" && e["result"] == "ok");
    let run = run.unwrap_or_else(|| panic!("no drill_run entry: {}", audit.text));
    assert_eq!(run["target"], "kept");
    assert_eq!(run["actor"], "token:operator");
    server.stop().await;
}

#[tokio::test]
async fn drill_reads_refuse_bad_input_and_assess_answers() {
    let server = TestServer::start().await;
    let read = &server.tokens.read;
    server.get("/api/v1/drills?limit=0", read).await.assert_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "limit 0",
    );
    server.get("/api/v1/drills?limit=1001", read).await.assert_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "limit 1001",
    );
    server.get("/api/v1/drills?color=red", read).await.assert_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "an unknown parameter",
    );
    server.get("/api/v1/drills/drill-nope", read).await.assert_error(StatusCode::NOT_FOUND, "not_found", "no report");
    server.get("/api/v1/drills/drill-nope/report.md", read).await.assert_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "no page",
    );
    let anonymous = server.send(server.request(Method::GET, "/api/v1/drills", None)).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let metrics_only = server.get("/api/v1/dr/assess", &server.tokens.metrics).await;
    assert_eq!(metrics_only.status, StatusCode::FORBIDDEN, "assess needs read: {}", metrics_only.text);
    let assess = server.get("/api/v1/dr/assess", read).await;
    assert_eq!(assess.status, StatusCode::OK, "{}", assess.text);
    let status = assess.json["status"].as_str().unwrap_or_default();
    assert!(["healthy", "degraded", "at_risk"].contains(&status), "{}", assess.text);
    assert!(assess.json["reasons"].is_array(), "{}", assess.text);
    server.stop().await;
}

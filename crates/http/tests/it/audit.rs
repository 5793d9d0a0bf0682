//! `GET /api/v1/audit`: an admin token reads the entries a run, a cancel and a reload made
//! through the API (actor `token:<name>`); a read or operate token is refused (403); bad
//! queries are 400.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::common::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn the_api_records_runs_cancels_and_reloads_and_only_admin_reads_them() {
    let server = TestServer::start().await;
    let (operate, admin) = (&server.tokens.operate, &server.tokens.admin);
    let queued = server.send(server.request(Method::POST, "/api/v1/plans/slow/run", Some(operate))).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    let id = queued.json["id"].as_i64().unwrap();
    let cancel = format!("/api/v1/jobs/{id}/cancel");
    let answer = server.send(server.request(Method::POST, &cancel, Some(operate))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    server.wait_final(id, Duration::from_secs(30)).await;
    let reload = server.send(server.request(Method::POST, "/api/v1/reload", Some(admin))).await;
    assert_eq!(reload.status, StatusCode::OK, "{}", reload.text);

    // The cancelled job's own entry comes from the service, a moment after its end.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let entries = loop {
        let page = server.get("/api/v1/audit", admin).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let entries = page.json["entries"].as_array().cloned().unwrap_or_default();
        if entries.len() >= 4 || tokio::time::Instant::now() > deadline {
            break entries;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let seen: Vec<(String, String)> = entries
        .iter()
        .map(|e| (e["operation"].as_str().unwrap().to_owned(), e["actor"].as_str().unwrap().to_owned()))
        .collect();
    for (operation, actor) in
        [("job_run", "token:operator"), ("job_cancel", "token:operator"), ("backup", "token:operator")]
    {
        assert!(seen.contains(&(operation.to_owned(), actor.to_owned())), "no {operation} by {actor}: {seen:?}");
    }
    assert!(seen.iter().any(|(op, actor)| op == "config_reload" && actor.starts_with("token:")), "{seen:?}");
    let cancel_entry = entries.iter().find(|e| e["operation"] == "job_cancel").unwrap();
    assert_eq!(
        (cancel_entry["target"].as_str(), cancel_entry["result"].as_str()),
        (Some(id.to_string().as_str()), Some("ok"))
    );

    let last = server.get("/api/v1/audit?limit=1", admin).await;
    assert_eq!(last.json["entries"].as_array().map(Vec::len), Some(1), "{}", last.text);
    let future = server.get("/api/v1/audit?since=2999-01-01T00:00:00Z", admin).await;
    assert_eq!(future.json["entries"], serde_json::json!([]), "{}", future.text);
    for token in [&server.tokens.read, operate] {
        server.get("/api/v1/audit", token).await.assert_error(StatusCode::FORBIDDEN, "forbidden", "a non-admin token");
    }
    server.get("/api/v1/audit?limit=0", admin).await.assert_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "limit 0",
    );
    server.stop().await;
}

//! Running plans through the API: a backup queued by POST, polled to `succeeded`, its log,
//! the job list, the backup listed from the repository and the status; a slow job
//! cancelled (and a second cancel a conflict); a reload adding a plan, and an invalid file
//! refused with the old plans kept.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::common::{TestServer, config_text};

#[tokio::test]
async fn a_plan_run_through_the_api_succeeds_and_shows_everywhere() {
    let server = TestServer::start().await;
    let (read, operate) = (&server.tokens.read, &server.tokens.operate);
    // An empty body runs a backup.
    let queued = server.send(server.request(Method::POST, "/api/v1/plans/web/run", Some(operate))).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    let id = queued.json["id"].as_i64().expect("a job id");
    assert_eq!(queued.headers["location"], format!("/api/v1/jobs/{id}").as_str());
    assert_eq!(queued.json["plan"], "web");
    assert_eq!(queued.json["kind"], "backup");
    assert_eq!(queued.json["trigger"], "api");
    assert_eq!(queued.json["requested_by"], "operator", "the token's name is who asked");

    let job = server.wait_final(id, Duration::from_secs(120)).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let backup_id = job["backup_id"].as_str().expect("the backup made").to_owned();
    assert!(job["bytes_read"].as_u64().unwrap_or(0) >= 100_000, "{job}");

    let log = server.get(&format!("/api/v1/jobs/{id}/log"), read).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text);

    let page = server.get("/api/v1/jobs?plan=web&kind=backup&state=succeeded", read).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.json["jobs"][0]["id"], id, "{}", page.text);
    let none = server.get("/api/v1/jobs?plan=slow", read).await;
    assert_eq!(none.json["jobs"], serde_json::json!([]), "{}", none.text);

    let backups = server.get("/api/v1/backups?plan=web", read).await;
    assert_eq!(backups.status, StatusCode::OK, "{}", backups.text);
    let listed: Vec<&str> =
        backups.json["backups"].as_array().unwrap().iter().filter_map(|b| b["id"].as_str()).collect();
    assert_eq!(listed, [backup_id.as_str()], "{}", backups.text);

    for path in ["/api/v1/status", "/api/status"] {
        let status = server.get(path, read).await;
        assert_eq!(status.status, StatusCode::OK, "{}", status.text);
        let web = status.json["plans"].as_array().unwrap().iter().find(|p| p["plan"] == "web").cloned().unwrap();
        assert!(web["last_success"].is_string(), "{web}");
        assert_eq!(web["last_backup_id"], backup_id.as_str(), "{web}");
    }
    let plan = server.get("/api/v1/plans/web", read).await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.text);
    assert_eq!(plan.json["name"], "web");
    assert_eq!(plan.json["status"]["plan"], "web", "{}", plan.text);

    let repositories = server.get("/api/v1/repositories", read).await;
    assert_eq!(repositories.status, StatusCode::OK, "{}", repositories.text);
    assert_eq!(repositories.json["repositories"].as_array().map(Vec::len), Some(1), "{}", repositories.text);

    // A verify through the body's kind.
    let verify = server
        .send(
            server
                .request(Method::POST, "/api/v1/plans/web/run", Some(operate))
                .json(&serde_json::json!({"kind": "verify"})),
        )
        .await;
    assert_eq!(verify.status, StatusCode::ACCEPTED, "{}", verify.text);
    assert_eq!(verify.json["kind"], "verify");
    let verified = server.wait_final(verify.json["id"].as_i64().unwrap(), Duration::from_secs(120)).await;
    assert_eq!(verified["state"], "succeeded", "{verified}");
    server.stop().await;
}

#[tokio::test]
async fn a_running_job_is_cancelled_and_cancelling_it_again_conflicts() {
    let server = TestServer::start().await;
    let operate = &server.tokens.operate;
    let queued = server.send(server.request(Method::POST, "/api/v1/plans/slow/run", Some(operate))).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    let id = queued.json["id"].as_i64().unwrap();
    // Let it start (the command sleeps a minute).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let job = server.get(&format!("/api/v1/jobs/{id}"), &server.tokens.read).await;
        if job.json["state"] == "running" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "job never ran: {}", job.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cancel = format!("/api/v1/jobs/{id}/cancel");
    let answer = server.send(server.request(Method::POST, &cancel, Some(operate))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let job = server.wait_final(id, Duration::from_secs(30)).await;
    assert_eq!(job["state"], "cancelled", "{job}");
    let again = server.send(server.request(Method::POST, &cancel, Some(operate))).await;
    again.assert_error(StatusCode::CONFLICT, "conflict", "cancelling a cancelled job");
    server.stop().await;
}

#[tokio::test]
async fn reload_adds_plans_and_refuses_an_invalid_file() {
    let server = TestServer::start().await;
    let admin = &server.tokens.admin;
    let config = server.path("lifeboat.toml");
    let extra = format!(
        "\n[plans.extra]\nrepository = \"{d}/repo\"\npassword-file = \"{d}/repo.pw\"\n[plans.extra.source]\nkind = \"stdin\"\ncommand = [\"true\"]\nname = \"x\"\n",
        d = server.dir.path().display()
    );
    std::fs::write(&config, config_text(server.dir.path(), &extra)).unwrap();
    let answer = server.send(server.request(Method::POST, "/api/v1/reload", Some(admin))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json["added"], serde_json::json!(["extra"]), "{}", answer.text);
    assert_eq!(server.get("/api/v1/plans/extra", &server.tokens.read).await.status, StatusCode::OK);

    std::fs::write(&config, "[plans.broken]\nrepository = 5\n").unwrap();
    let refused = server.send(server.request(Method::POST, "/api/v1/reload", Some(admin))).await;
    refused.assert_error(StatusCode::BAD_REQUEST, "invalid_request", "an invalid configuration");
    let plans = server.get("/api/v1/plans", &server.tokens.read).await;
    let names: Vec<&str> = plans.json["plans"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert!(names.contains(&"extra") && names.contains(&"web"), "the old plans stay: {names:?}");
    server.stop().await;
}

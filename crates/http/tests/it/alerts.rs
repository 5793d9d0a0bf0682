//! The alerts through the API: a failed backup (critical) and a full disk (warning, with a
//! threshold of 1% this machine's file system is above) listed and filtered, one read by
//! id, acknowledged with an operate token (the token's name as the actor), refused to a
//! read token (403), unknown ids 404, bad filters 400, and the open-alerts gauge.

use std::time::Duration;

use lifeboat_ops::Config;
use lifeboat_ops::alerts::AlertEvent;
use lifeboat_ops::state::{JobKind, Trigger};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestServer, config_text};

/// The server with a plan `broken` whose backup fails and `web` held to 1% disk usage,
/// after `broken` ran once and the timer's rules were evaluated.
async fn server_with_two_alerts() -> TestServer {
    let server = TestServer::start().await;
    let extra = "[plans.broken]\nrepository = \"DIR/repo\"\npassword-file = \"DIR/repo.pw\"\n\
                 [plans.broken.source]\nkind = \"stdin\"\ncommand = [\"false\"]\nname = \"broken.out\"\n\
                 [plans.web.alerts]\ndisk-usage = 1\n"
        .replace("DIR", &server.dir.path().display().to_string());
    let text = config_text(server.dir.path(), &extra);
    server.service.reload(Config::parse(&text, "lifeboat.toml").unwrap()).await.unwrap();
    let mut events = server.service.subscribe_alerts();
    server.service.run_now("broken", JobKind::Backup, Trigger::Api, None).await.unwrap();
    server.service.wait_idle().await;
    let fired = async { while !matches!(events.recv().await, Ok(AlertEvent::Fired(_))) {} };
    tokio::time::timeout(Duration::from_secs(30), fired).await.expect("the failed backup raised no alert");
    server.service.evaluate_alerts().await.unwrap();
    server
}

fn ids(answer: &serde_json::Value) -> Vec<String> {
    let list = answer["alerts"].as_array().cloned().unwrap_or_default();
    list.iter().filter_map(|a| a["id"].as_str().map(str::to_owned)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_are_listed_filtered_read_and_acknowledged_with_an_operate_token() {
    let server = server_with_two_alerts().await;
    let (read, operate) = (&server.tokens.read, &server.tokens.operate);

    let all = server.get("/api/v1/alerts", read).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    let rules: Vec<&str> = all.json["alerts"].as_array().unwrap().iter().filter_map(|a| a["rule"].as_str()).collect();
    assert_eq!(rules, ["disk_full", "backup_failed"], "newest first: {}", all.text);
    let failed = all.json["alerts"][1].clone();
    assert_eq!((failed["severity"].as_str(), failed["state"].as_str()), (Some("critical"), Some("firing")), "{failed}");
    assert_eq!(failed["plan"], "broken");
    assert!(failed["job"].as_u64().is_some(), "{failed}");
    assert_eq!(all.json["alerts"][0]["severity"], "warning");

    let broken = server.get("/api/v1/alerts?plan=broken&state=open", read).await;
    assert_eq!(ids(&broken.json), [failed["id"].as_str().unwrap()], "{}", broken.text);
    let resolved = server.get("/api/v1/alerts?state=resolved", read).await;
    assert_eq!(resolved.json["alerts"], json!([]), "{}", resolved.text);
    assert_eq!(ids(&server.get("/api/v1/alerts?limit=1", read).await.json).len(), 1);

    let id = failed["id"].as_str().unwrap();
    let one = server.get(&format!("/api/v1/alerts/{id}"), read).await;
    assert_eq!((one.status, &one.json), (StatusCode::OK, &failed), "{}", one.text);

    let path = format!("/api/v1/alerts/{id}/acknowledge");
    let until = "2099-01-01T00:00:00Z";
    let body = json!({ "comment": "restarting the database", "until": until });
    let refused = server.send(server.request(Method::POST, &path, Some(read)).json(&body)).await;
    refused.assert_error(StatusCode::FORBIDDEN, "forbidden", "acknowledge with a read token");
    let acked = server.send(server.request(Method::POST, &path, Some(operate)).json(&body)).await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.text);
    assert_eq!(acked.json["state"], "acknowledged");
    assert_eq!(acked.json["acknowledged"]["by"], "token:operator", "{}", acked.text);
    assert_eq!(acked.json["acknowledged"]["comment"], "restarting the database");
    assert_eq!(acked.json["acknowledged"]["until"], until);
    let now_acked = server.get("/api/v1/alerts?state=acknowledged", read).await;
    assert_eq!(ids(&now_acked.json), [id], "{}", now_acked.text);
    let firing = server.get("/api/v1/alerts?state=firing", read).await;
    assert_eq!(firing.json["alerts"][0]["rule"], "disk_full", "{}", firing.text);
    // Without a body: acknowledged again, no comment.
    let bare = server.send(server.request(Method::POST, &path, Some(operate))).await;
    assert_eq!(bare.status, StatusCode::OK, "{}", bare.text);

    let metrics = server.get("/metrics", &server.tokens.metrics).await;
    assert!(metrics.text.contains("lifeboat_alerts_open{severity=\"critical\"} 1"), "{}", metrics.text);
    assert!(metrics.text.contains("lifeboat_alerts_open{severity=\"warning\"} 1"), "{}", metrics.text);
    assert!(metrics.text.contains("lifeboat_alerts_open{severity=\"info\"} 0"), "{}", metrics.text);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_alerts_are_404_and_bad_filters_400() {
    let server = server_with_two_alerts().await;
    let (read, operate) = (&server.tokens.read, &server.tokens.operate);
    for id in ["A999", "nothing"] {
        server.get(&format!("/api/v1/alerts/{id}"), read).await.assert_error(StatusCode::NOT_FOUND, "not_found", id);
        let path = format!("/api/v1/alerts/{id}/acknowledge");
        let answer = server.send(server.request(Method::POST, &path, Some(operate))).await;
        answer.assert_error(StatusCode::NOT_FOUND, "not_found", id);
    }
    for query in ["state=bogus", "limit=0", "limit=1001", "colour=red"] {
        let answer = server.get(&format!("/api/v1/alerts?{query}"), read).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}: {}", answer.text);
    }
    let path = "/api/v1/alerts/A1/acknowledge";
    let bad =
        server.send(server.request(Method::POST, path, Some(operate)).json(&json!({ "until": "tomorrow" }))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    server.stop().await;
}

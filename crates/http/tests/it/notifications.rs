//! `POST /api/v1/notifications/test`: an admin token sends a test message through each
//! channel of the running config (a real receiver that checks the webhook's HMAC, and a
//! closed port), gets each outcome, and the test is in the audit log; other scopes get 403.

use lifeboat_ops::Config;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestServer, config_text};

fn receiver() -> (String, String) {
    let env = lifeboat_testkit::notify_env();
    (env["LIFEBOAT_TEST_RECEIVER_URL"].clone(), env["LIFEBOAT_TEST_WEBHOOK_SECRET"].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_token_tests_every_channel_and_gets_each_outcome() {
    let server = TestServer::start().await;
    let (base, secret) = receiver();
    let secret_file = server.path("hook.secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let path = format!("/webhook/{}", lifeboat_testkit::unique("api-test"));
    let closed = lifeboat_testkit::closed_port();
    let extra = format!(
        "[notifications.channels.hook]\nkind = \"webhook\"\nurl = \"{base}{path}\"\nsecret-file = \"{}\"\n\
         [notifications.channels.dead]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{closed}/x\"\nattempts = 1\n",
        secret_file.display()
    );
    let text = config_text(server.dir.path(), &extra);
    server.service.reload(Config::parse(&text, "lifeboat.toml").unwrap()).await.unwrap();

    let post = |token: &str, body: Option<serde_json::Value>| {
        let builder = server.request(Method::POST, "/api/v1/notifications/test", Some(token));
        match body {
            Some(b) => builder.json(&b),
            None => builder,
        }
    };
    let all = server.send(post(&server.tokens.admin, None)).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    let results = all.json["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{}", all.text);
    assert_eq!(results[0]["channel"], "dead");
    assert_eq!((results[0]["ok"].as_bool(), results[0]["kind"].as_str()), (Some(false), Some("webhook")));
    assert!(
        results[0]["error"].as_str().unwrap().starts_with("channel dead: cannot reach http://127.0.0.1:"),
        "{}",
        all.text
    );
    assert_eq!(results[1], json!({"channel": "hook", "kind": "webhook", "ok": true, "error": null}));
    assert!(!all.text.contains(&secret), "{}", all.text);

    let one = server.send(post(&server.tokens.admin, Some(json!({"channel": "hook"})))).await;
    assert_eq!(one.json["results"].as_array().map(Vec::len), Some(1), "{}", one.text);

    for token in [&server.tokens.operate, &server.tokens.read] {
        server.send(post(token, None)).await.assert_error(StatusCode::FORBIDDEN, "forbidden", "a non-admin token");
    }
    let audit = server.get("/api/v1/audit", &server.tokens.admin).await;
    assert!(audit.text.contains("notification_test") && audit.text.contains("failed: dead"), "{}", audit.text);
    server.stop().await;
}

//! lifeboat-notify against real servers: aiosmtpd (STARTTLS, implicit TLS, AUTH) and the
//! HTTP receiver for webhook and Slack payloads, both started by `scripts/notify-servers.sh`
//! (`scripts/services.sh start` runs it) and described in `target/test-notify.env`.

mod slack;
mod smtp;
mod webhook;

use std::collections::HashMap;
use std::time::Duration;

use lifeboat_notify::{Event, Notification, Retry, Severity};

/// The notification servers' env; a missing server fails the test.
pub fn env() -> HashMap<String, String> {
    lifeboat_testkit::notify_env()
}

/// A path/subject token no other test uses.
pub fn unique(prefix: &str) -> String {
    lifeboat_testkit::names::unique_dashed(prefix)
}

/// An alert notification whose title carries `token`.
pub fn alert(token: &str) -> Notification {
    Notification {
        event: Event::AlertFired,
        severity: Severity::Critical,
        title: format!("plan db: backup failed {token}"),
        text: "connection refused (postgres://db:5432)".into(),
        plan: Some("db".into()),
        repository: Some("s3://backups/db".into()),
        alert: Some("A17".into()),
        job: Some(42),
        at: chrono::Utc::now(),
        link: Some("https://lifeboat.example/".into()),
    }
}

/// Fast retries for tests.
pub fn quick_retry(attempts: u32) -> Retry {
    Retry { attempts, initial_backoff: Duration::from_millis(50), max_backoff: Duration::from_millis(200) }
}

/// What the receiver got on paths starting with `prefix`.
pub async fn received(prefix: &str) -> Vec<serde_json::Value> {
    let base = &env()["LIFEBOAT_TEST_RECEIVER_URL"];
    let _ = rustls::crypto::ring::default_provider().install_default();
    let text = reqwest::Client::new()
        .get(format!("{base}/received?prefix={prefix}"))
        .send()
        .await
        .expect("the receiver answers")
        .text()
        .await
        .expect("a body");
    serde_json::from_str::<Vec<serde_json::Value>>(&text).expect("a JSON list")
}

//! The signed webhook against the real receiver: HMAC checked there, retries, timeouts.

use std::time::{Duration, Instant};

use lifeboat_notify::{Channel, NotifyError, WebhookChannel, WebhookSettings};
use zeroize::Zeroizing;

use crate::{alert, env, quick_retry, received, unique};

fn channel(path: &str, secret: &str, attempts: u32, timeout: Duration) -> WebhookChannel {
    WebhookChannel::new(WebhookSettings {
        name: "hook".into(),
        url: format!("{}{path}", env()["LIFEBOAT_TEST_RECEIVER_URL"]),
        secret: Some(Zeroizing::new(secret.to_owned())),
        timeout,
        retry: quick_retry(attempts),
    })
    .unwrap()
}

fn secret() -> String {
    env()["LIFEBOAT_TEST_WEBHOOK_SECRET"].clone()
}

#[tokio::test]
async fn the_receiver_verifies_the_signature() {
    let path = format!("/webhook/{}", unique("signed"));
    let token = unique("t");
    channel(&path, &secret(), 1, Duration::from_secs(5)).send(&alert(&token)).await.unwrap();
    let got = received(&path).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["status"], 204);
    let headers = &got[0]["headers"];
    assert!(headers["x-lifeboat-signature"].as_str().unwrap().starts_with("sha256="));
    let ts: i64 = headers["x-lifeboat-timestamp"].as_str().unwrap().parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
    let body: serde_json::Value = serde_json::from_str(got[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["version"], 1);
    assert_eq!(body["channel"], "hook");
    assert_eq!(body["event"], "alert_fired");
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["title"], format!("plan db: backup failed {token}"));
    assert_eq!(body["alert"], "A17");
    assert_eq!(body["job"], 42);
}

#[tokio::test]
async fn a_wrong_secret_is_rejected_without_retries_or_leaks() {
    let path = format!("/webhook/{}", unique("badsig"));
    let wrong = "not-the-secret-4c1d";
    let e = channel(&path, wrong, 3, Duration::from_secs(5)).send(&alert("x")).await.unwrap_err();
    assert!(matches!(e, NotifyError::Status { status: 401, attempts: 1, .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.starts_with("channel hook: http://127.0.0.1:") && text.contains("answered HTTP 401"), "{text}");
    assert!(!text.contains(wrong) && !text.contains(&secret()), "{text}");
    assert_eq!(received(&path).await.len(), 1, "a 4xx is not retried");
}

#[tokio::test]
async fn retries_after_500s_then_succeeds() {
    let path = format!("/webhook/{}/fail-2", unique("retry"));
    channel(&path, &secret(), 4, Duration::from_secs(5)).send(&alert("r")).await.unwrap();
    let statuses: Vec<_> = received(&path).await.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [500, 500, 204]);
}

#[tokio::test]
async fn gives_up_after_the_last_attempt() {
    let path = format!("/webhook/{}/fail-9", unique("giveup"));
    let e = channel(&path, &secret(), 3, Duration::from_secs(5)).send(&alert("g")).await.unwrap_err();
    assert!(matches!(e, NotifyError::Status { status: 500, attempts: 3, .. }), "{e:?}");
    assert_eq!(received(&path).await.len(), 3);
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out() {
    let path = format!("/webhook/{}/hang", unique("hang"));
    let started = Instant::now();
    let e = channel(&path, &secret(), 2, Duration::from_millis(500)).send(&alert("h")).await.unwrap_err();
    assert!(matches!(e, NotifyError::Timeout { attempts: 2, .. }), "{e:?}");
    assert!(e.to_string().contains("no answer from http://127.0.0.1:"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let port = lifeboat_testkit::closed_port();
    let e = WebhookChannel::new(WebhookSettings {
        name: "dead".into(),
        url: format!("http://127.0.0.1:{port}/webhook"),
        secret: None,
        timeout: Duration::from_secs(2),
        retry: quick_retry(2),
    })
    .unwrap()
    .send(&alert("d"))
    .await
    .unwrap_err();
    assert!(matches!(e, NotifyError::Unreachable { attempts: 2, .. }), "{e:?}");
}

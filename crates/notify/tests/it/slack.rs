//! The Slack payload against the real receiver (which applies Slack's `text` rule).

use std::time::Duration;

use lifeboat_notify::{Channel, SlackChannel, SlackSettings};
use zeroize::Zeroizing;

use crate::{alert, env, quick_retry, received, unique};

fn channel(path: &str) -> SlackChannel {
    SlackChannel::new(SlackSettings {
        name: "team".into(),
        url: Zeroizing::new(format!("{}{path}", env()["LIFEBOAT_TEST_RECEIVER_URL"])),
        timeout: Duration::from_secs(5),
        retry: quick_retry(3),
    })
    .unwrap()
}

#[tokio::test]
async fn the_payload_arrives_with_text_blocks_and_link() {
    let path = format!("/slack/services/T0/B0/{}", unique("secret"));
    let token = unique("s");
    channel(&path).send(&alert(&token)).await.unwrap();
    let got = received(&path).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["status"], 200);
    let body: serde_json::Value = serde_json::from_str(got[0]["body"].as_str().unwrap()).unwrap();
    assert!(body["text"].as_str().unwrap().contains(&token));
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["text"]["text"], format!("plan db: backup failed {token}"));
    assert_eq!(blocks.last().unwrap()["elements"][0]["url"], "https://lifeboat.example/");
}

#[tokio::test]
async fn errors_show_the_host_and_never_the_url() {
    let secret_part = unique("secretpath");
    let path = format!("/slack/{secret_part}/fail-5");
    let e = channel(&path).send(&alert("x")).await.unwrap_err().to_string();
    assert!(e.starts_with("channel team: slack (127.0.0.1) answered HTTP 500"), "{e}");
    assert!(!e.contains(&secret_part), "{e}");
}

//! Sends one test notification through a webhook and prints the outcome.
//!
//! ```text
//! LIFEBOAT_WEBHOOK_SECRET=s3cret cargo run -p lifeboat-notify --example send -- http://127.0.0.1:8080/webhook/demo
//! ```
//!
//! With `scripts/notify-servers.sh start` running, use `$LIFEBOAT_TEST_RECEIVER_URL/webhook/demo`
//! and `LIFEBOAT_WEBHOOK_SECRET=$LIFEBOAT_TEST_WEBHOOK_SECRET` (from target/test-notify.env), then
//! `curl "$LIFEBOAT_TEST_RECEIVER_URL/received?prefix=/webhook/demo"` shows what arrived.

use std::time::Duration;

use lifeboat_notify::{Channel, Notification, Retry, WebhookChannel, WebhookSettings};
use zeroize::Zeroizing;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: send URL   (the HMAC secret from $LIFEBOAT_WEBHOOK_SECRET, optional)");
        return std::process::ExitCode::from(2);
    };
    let settings = WebhookSettings {
        name: "example".into(),
        url,
        secret: std::env::var("LIFEBOAT_WEBHOOK_SECRET").ok().map(Zeroizing::new),
        timeout: Duration::from_secs(10),
        retry: Retry::default(),
    };
    let outcome = match WebhookChannel::new(settings) {
        Ok(channel) => channel.send(&Notification::test("example", None)).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => {
            println!("example: success");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

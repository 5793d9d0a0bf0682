//! The generic webhook: a signed JSON `POST`.
//!
//! Body (UTF-8 JSON, documented in docs/CONFIG.md): the [`Notification`] fields plus
//! `"version": 1` and `"channel"`. Headers:
//!
//! - `X-Lifeboat-Timestamp: <Unix seconds>` of this attempt
//! - `X-Lifeboat-Signature: sha256=<lowercase hex HMAC-SHA256(secret, timestamp + "." + body)>`
//!
//! A receiver recomputes the HMAC over the timestamp header, a `.` and the raw body bytes,
//! compares in constant time, and refuses timestamps far from its clock (replays).

use std::time::Duration;

use async_trait::async_trait;
use ring::hmac;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::http::{self, Endpoint, Retry};
use crate::{Channel, Notification, NotifyError};

/// The version of the webhook body; bumped on an incompatible change.
pub const BODY_VERSION: u32 = 1;

/// What a [`WebhookChannel`] is built from.
/// No `Debug`: it holds the HMAC secret.
#[derive(Clone)]
pub struct WebhookSettings {
    /// The channel's name.
    pub name: String,
    /// Where to POST (http or https).
    pub url: String,
    /// The HMAC secret; `None` sends unsigned requests.
    pub secret: Option<Zeroizing<String>>,
    /// The timeout of one attempt.
    pub timeout: Duration,
    /// Retries on 5xx and connection errors.
    pub retry: Retry,
}

/// A webhook channel.
pub struct WebhookChannel {
    name: String,
    url: reqwest::Url,
    shown: String,
    secret: Option<hmac::Key>,
    client: reqwest::Client,
    timeout: Duration,
    retry: Retry,
}

#[derive(Serialize)]
struct Body<'a> {
    version: u32,
    channel: &'a str,
    #[serde(flatten)]
    notification: &'a Notification,
}

/// The JSON body the webhook sends for `notification` through `channel`.
pub fn body(channel: &str, notification: &Notification) -> Vec<u8> {
    let body = Body { version: BODY_VERSION, channel, notification };
    // Serializing plain strings, numbers and a timestamp cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `sha256=<hex>`: the HMAC-SHA256 with `secret` of `timestamp`, `.`, `body`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    signature(&hmac::Key::new(hmac::HMAC_SHA256, secret), timestamp, body)
}

fn signature(key: &hmac::Key, timestamp: i64, body: &[u8]) -> String {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("sha256={}", hex::encode(ctx.sign().as_ref()))
}

impl WebhookChannel {
    /// Checks the URL and sets up the client.
    pub fn new(settings: WebhookSettings) -> Result<WebhookChannel, NotifyError> {
        let url = http::parse_url(&settings.name, &settings.url)?;
        let shown = http::shown_url(&url);
        let client = http::client(&settings.name, settings.timeout)?;
        let secret = settings.secret.as_ref().map(|s| hmac::Key::new(hmac::HMAC_SHA256, s.as_bytes()));
        Ok(WebhookChannel {
            name: settings.name,
            url,
            shown,
            secret,
            client,
            timeout: settings.timeout,
            retry: settings.retry,
        })
    }

    fn headers(&self, body: &[u8]) -> Vec<(&'static str, String)> {
        let now = chrono::Utc::now().timestamp();
        let mut headers = vec![("X-Lifeboat-Timestamp", now.to_string()), ("User-Agent", user_agent())];
        if let Some(key) = &self.secret {
            headers.push(("X-Lifeboat-Signature", signature(key, now, body)));
        }
        headers
    }
}

pub(crate) fn user_agent() -> String {
    format!("lifeboat/{}", env!("CARGO_PKG_VERSION"))
}

#[async_trait]
impl Channel for WebhookChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, notification: &Notification) -> Result<(), NotifyError> {
        let body = body(&self.name, notification);
        let endpoint = Endpoint {
            channel: &self.name,
            client: &self.client,
            url: &self.url,
            shown: &self.shown,
            timeout: self.timeout,
            retry: self.retry,
        };
        endpoint.post(&body, || self.headers(&body)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"key",b"1700000000.{}",hashlib.sha256).hexdigest())'
        assert_eq!(
            sign(b"key", 1_700_000_000, b"{}"),
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }

    #[test]
    fn signature_covers_timestamp_and_body() {
        let a = sign(b"k", 1, b"body");
        assert_ne!(a, sign(b"k", 2, b"body"));
        assert_ne!(a, sign(b"k", 1, b"bodx"));
        assert_ne!(a, sign(b"j", 1, b"body"));
    }

    #[test]
    fn body_has_version_channel_and_fields() {
        let mut n = Notification::test("ops", Some("https://lifeboat.example/".into()));
        n.plan = Some("db".into());
        n.job = Some(7);
        let v: serde_json::Value = serde_json::from_slice(&body("ops", &n)).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["channel"], "ops");
        assert_eq!(v["event"], "test");
        assert_eq!(v["severity"], "info");
        assert_eq!(v["plan"], "db");
        assert_eq!(v["job"], 7);
        assert_eq!(v["alert"], serde_json::Value::Null);
        assert_eq!(v["link"], "https://lifeboat.example/");
        assert!(v["at"].as_str().unwrap().ends_with('Z'));
    }
}

//! Slack incoming webhooks: `text` (the notification fallback) plus Block Kit blocks — a
//! header, the text, a context line (plan, repository, alert, job, time) and a button to the
//! dashboard when `link` is set.
//!
//! The webhook URL is the credential (anyone with it can post): it is never shown; errors and
//! logs name `slack (<host>)` only.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::http::{self, Endpoint, Retry};
use crate::{Channel, Notification, NotifyError, Severity};

/// Slack cuts a header block at 150 characters and refuses longer ones.
const HEADER_MAX: usize = 150;
/// Slack's limit for one section's text.
const SECTION_MAX: usize = 3000;

/// What a [`SlackChannel`] is built from.
/// No `Debug`: it holds the URL, a secret.
#[derive(Clone)]
pub struct SlackSettings {
    /// The channel's name.
    pub name: String,
    /// The incoming-webhook URL (a secret).
    pub url: Zeroizing<String>,
    /// The timeout of one attempt.
    pub timeout: Duration,
    /// Retries on 5xx, 429 and connection errors.
    pub retry: Retry,
}

/// A Slack channel.
pub struct SlackChannel {
    name: String,
    url: reqwest::Url,
    shown: String,
    client: reqwest::Client,
    timeout: Duration,
    retry: Retry,
}

impl std::fmt::Debug for SlackChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackChannel").field("name", &self.name).field("target", &self.shown).finish_non_exhaustive()
    }
}

impl SlackChannel {
    /// Checks the URL and sets up the client.
    pub fn new(settings: SlackSettings) -> Result<SlackChannel, NotifyError> {
        let url = http::parse_url(&settings.name, &settings.url)?;
        let shown = format!("slack ({})", url.host_str().unwrap_or("?"));
        let client = http::client(&settings.name, settings.timeout)?;
        Ok(SlackChannel { name: settings.name, url, shown, client, timeout: settings.timeout, retry: settings.retry })
    }
}

/// The incoming-webhook payload for `n`.
pub fn payload(n: &Notification) -> Value {
    let icon = match n.severity {
        Severity::Critical => ":red_circle:",
        Severity::Warning => ":warning:",
        Severity::Info => ":information_source:",
    };
    let header: String = n.title.chars().take(HEADER_MAX).collect();
    let text: String = escape(&n.text).chars().take(SECTION_MAX).collect();
    let context =
        n.facts().into_iter().map(|(k, v)| format!("*{k}:* {}", escape(&v))).collect::<Vec<_>>().join("  ·  ");
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": true}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]}),
    ];
    if let Some(link) = &n.link {
        blocks.push(json!({"type": "actions", "elements": [{
            "type": "button",
            "text": {"type": "plain_text", "text": "Open the Lifeboat dashboard"},
            "url": link,
        }]}));
    }
    let fallback = match &n.link {
        Some(link) => format!("{icon} {}: {} <{link}|dashboard>", escape(&n.title), escape(&n.text)),
        None => format!("{icon} {}: {}", escape(&n.title), escape(&n.text)),
    };
    json!({"text": fallback, "blocks": blocks})
}

/// Slack's mrkdwn control characters: `&`, `<`, `>` (anything else is literal).
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[async_trait]
impl Channel for SlackChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "slack"
    }

    async fn send(&self, notification: &Notification) -> Result<(), NotifyError> {
        let body = serde_json::to_vec(&payload(notification)).unwrap_or_default();
        let endpoint = Endpoint {
            channel: &self.name,
            client: &self.client,
            url: &self.url,
            shown: &self.shown,
            timeout: self.timeout,
            retry: self.retry,
        };
        endpoint.post(&body, || vec![("User-Agent", crate::webhook::user_agent())]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    fn alert() -> Notification {
        let mut n = Notification::test("slack", Some("https://lifeboat.example/".into()));
        n.event = Event::AlertFired;
        n.severity = Severity::Critical;
        n.title = "plan db: backup failed".into();
        n.text = "connection refused <postgres://db:5432> & more".into();
        n.plan = Some("db".into());
        n.alert = Some("A17".into());
        n
    }

    #[test]
    fn payload_has_text_blocks_and_dashboard_link() {
        let p = payload(&alert());
        let text = p["text"].as_str().unwrap();
        assert!(text.starts_with(":red_circle: plan db: backup failed"), "{text}");
        assert!(text.contains("&lt;postgres://db:5432&gt; &amp; more"), "{text}");
        let blocks = p["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["text"], "plan db: backup failed");
        let context = blocks[2]["elements"][0]["text"].as_str().unwrap();
        assert!(context.contains("*Plan:* db") && context.contains("*Alert:* A17"), "{context}");
        assert_eq!(blocks[3]["elements"][0]["url"], "https://lifeboat.example/");
    }

    #[test]
    fn no_link_no_button_and_long_titles_are_cut() {
        let mut n = alert();
        n.link = None;
        n.title = "x".repeat(400);
        let p = payload(&n);
        let blocks = p["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[0]["text"]["text"].as_str().unwrap().len(), HEADER_MAX);
    }

    #[test]
    fn the_url_is_never_shown() {
        let s = SlackSettings {
            name: "team".into(),
            url: Zeroizing::new("https://hooks.slack.com/services/T000/B000/SECRETSECRET".into()),
            timeout: Duration::from_secs(1),
            retry: Retry::default(),
        };
        let ch = SlackChannel::new(s).unwrap();
        let shown = format!("{ch:?}");
        assert!(!shown.contains("SECRETSECRET") && shown.contains("hooks.slack.com"), "{shown}");
    }
}

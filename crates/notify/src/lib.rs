//! Lifeboat's notification channels: how lifeboatd tells people that something is wrong.
//!
//! A [`Notification`] says what happened (an alert fired or resolved, a job failed or
//! succeeded, a daily digest, a test); a [`Channel`] delivers it:
//!
//! - [`SmtpChannel`]: email through an SMTP relay (lettre on tokio, rustls on ring), with
//!   STARTTLS or implicit TLS, AUTH PLAIN/LOGIN, a timeout and an optional extra CA
//!   certificate; plain SMTP only to a loopback relay and only when asked for.
//! - [`WebhookChannel`]: a JSON `POST` signed with HMAC-SHA256 (`X-Lifeboat-Signature` over
//!   `X-Lifeboat-Timestamp` + `.` + the body, see [`webhook::sign`]), retried with exponential
//!   backoff on 5xx answers and connection errors, never on 4xx.
//! - [`SlackChannel`]: a Slack incoming-webhook payload (`text` plus blocks with a link to the
//!   dashboard), retried like the webhook. Its URL is a secret: errors name its host only.
//!
//! Channels are built from settings that hold already-resolved secrets (`Zeroizing<String>`);
//! where those come from (`*-file`, `*-env`) is the configuration's business (lifeboat-ops).
//! No error or log line of this crate contains a password, an HMAC secret or a Slack URL.

mod error;
mod http;
mod notification;
pub mod slack;
pub mod smtp;
pub mod webhook;

pub use error::NotifyError;
pub use http::Retry;
pub use notification::{Event, Notification, Severity};
pub use slack::{SlackChannel, SlackSettings};
pub use smtp::{SmtpChannel, SmtpSecurity, SmtpSettings};
pub use webhook::{WebhookChannel, WebhookSettings};

/// A way of telling people: email, a webhook, Slack.
#[async_trait::async_trait]
pub trait Channel: Send + Sync {
    /// The channel's name in the configuration (`[notifications.channels.NAME]`).
    fn name(&self) -> &str;
    /// Its kind: `smtp`, `webhook` or `slack`.
    fn kind(&self) -> &'static str;
    /// Delivers one notification, with the channel's own retries and timeout.
    async fn send(&self, notification: &Notification) -> Result<(), NotifyError>;
}

//! The one error type of the channels.

use std::time::Duration;

/// Why a channel could not deliver. Every variant names the channel; none holds a secret
/// (no password, no HMAC secret, no Slack URL: targets are shown redacted or as a host).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The channel's settings cannot work (a bad address, a missing CA file, plain SMTP to a
    /// non-loopback host ...).
    #[error("channel {channel}: {problem}")]
    Settings {
        /// The channel's name.
        channel: String,
        /// What is wrong.
        problem: String,
    },
    /// The SMTP relay refused the message or the conversation failed.
    #[error("channel {channel}: sending email through {server} failed: {reason}")]
    Smtp {
        /// The channel's name.
        channel: String,
        /// `host:port` of the relay.
        server: String,
        /// What the relay or the connection said.
        reason: String,
    },
    /// The HTTP endpoint answered with an error status.
    #[error("channel {channel}: {target} answered HTTP {status}{}", detail(.body))]
    Status {
        /// The channel's name.
        channel: String,
        /// The endpoint, redacted (the Slack host only).
        target: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body (Slack explains its 4xx there).
        body: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The HTTP endpoint could not be reached.
    #[error("channel {channel}: cannot reach {target}: {reason} (after {attempts} attempts)")]
    Unreachable {
        /// The channel's name.
        channel: String,
        /// The endpoint, redacted.
        target: String,
        /// The connection error, without its URL.
        reason: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// No answer within the timeout.
    #[error("channel {channel}: no answer from {target} within {timeout:?} (after {attempts} attempts)")]
    Timeout {
        /// The channel's name.
        channel: String,
        /// The endpoint, redacted.
        target: String,
        /// The timeout of one attempt.
        timeout: Duration,
        /// How many attempts were made.
        attempts: u32,
    },
}

fn detail(body: &str) -> String {
    if body.is_empty() { String::new() } else { format!(": {body}") }
}

impl NotifyError {
    /// A settings problem of `channel`.
    pub(crate) fn settings(channel: &str, problem: impl Into<String>) -> NotifyError {
        NotifyError::Settings { channel: channel.to_owned(), problem: problem.into() }
    }
}

/// `first` followed by the messages of `e`'s sources (not `e` itself, whose text may hold a
/// URL), each once, joined by `: `.
pub(crate) fn with_sources(first: &str, e: &dyn std::error::Error) -> String {
    let mut text = first.to_owned();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&s_text);
        }
        source = s.source();
    }
    if text.is_empty() { "unknown error".to_owned() } else { text }
}

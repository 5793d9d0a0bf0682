//! The HTTP side shared by the webhook and Slack channels: one client per channel, and the
//! retry loop (exponential backoff on 5xx, 429 and connection errors; none on other 4xx).

use std::time::Duration;

use crate::NotifyError;

/// How often and how patiently an HTTP channel retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// The wait before the second attempt; doubled before each further one.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for Retry {
    /// 4 attempts, waiting 1 s, 2 s, 4 s between them.
    fn default() -> Retry {
        Retry { attempts: 4, initial_backoff: Duration::from_secs(1), max_backoff: Duration::from_secs(30) }
    }
}

impl Retry {
    /// The wait after failed attempt `n` (1-based).
    fn backoff(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.initial_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// A client for one channel: rustls on ring (installed as the process default, as the CLI
/// does, since reqwest is built without a provider of its own), the channel's timeout.
pub(crate) fn client(channel: &str, timeout: Duration) -> Result<reqwest::Client, NotifyError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| NotifyError::settings(channel, format!("cannot set up an HTTP client: {}", e.without_url())))
}

/// One endpoint of one channel, as the retry loop sees it.
pub(crate) struct Endpoint<'a> {
    pub channel: &'a str,
    pub client: &'a reqwest::Client,
    pub url: &'a reqwest::Url,
    /// What errors and logs show instead of the URL.
    pub shown: &'a str,
    pub timeout: Duration,
    pub retry: Retry,
}

enum Outcome {
    Done,
    Retry(NotifyError),
    Fail(NotifyError),
}

impl Endpoint<'_> {
    /// POSTs `body` until it is accepted (2xx) or the retries are used up. `headers` is called
    /// for each attempt (the webhook signs with a fresh timestamp every time).
    pub async fn post(
        &self,
        body: &[u8],
        headers: impl Fn() -> Vec<(&'static str, String)>,
    ) -> Result<(), NotifyError> {
        let attempts = self.retry.attempts.max(1);
        let mut n = 1;
        loop {
            let outcome = self.attempt(body, &headers(), n).await;
            match outcome {
                Outcome::Done => return Ok(()),
                Outcome::Fail(e) => return Err(e),
                Outcome::Retry(e) if n >= attempts => return Err(e),
                Outcome::Retry(e) => {
                    tracing::warn!(channel = self.channel, attempt = n, "notification not delivered, retrying: {e}");
                    tokio::time::sleep(self.retry.backoff(n)).await;
                    n += 1;
                }
            }
        }
    }

    async fn attempt(&self, body: &[u8], headers: &[(&'static str, String)], attempts: u32) -> Outcome {
        let mut request = self.client.post(self.url.clone()).header("Content-Type", "application/json");
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        let response = match request.body(body.to_vec()).send().await {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(self.transport_error(&e, attempts)),
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Done;
        }
        let text = response.text().await.unwrap_or_default();
        let error = NotifyError::Status {
            channel: self.channel.to_owned(),
            target: self.shown.to_owned(),
            status: status.as_u16(),
            body: text.chars().take(200).collect::<String>().trim().to_owned(),
            attempts,
        };
        // 429 (rate limited) is worth waiting for; any other 4xx will not get better.
        if status.is_server_error() || status.as_u16() == 429 { Outcome::Retry(error) } else { Outcome::Fail(error) }
    }

    fn transport_error(&self, e: &reqwest::Error, attempts: u32) -> NotifyError {
        let (channel, target) = (self.channel.to_owned(), self.shown.to_owned());
        if e.is_timeout() {
            return NotifyError::Timeout { channel, target, timeout: self.timeout, attempts };
        }
        NotifyError::Unreachable { channel, target, reason: crate::error::with_sources("", e), attempts }
    }
}

/// `scheme://host[:port]/path` without user info, query or fragment: what a webhook's errors
/// show (a token in the query string stays out of logs).
pub(crate) fn shown_url(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}{}", url.scheme(), url.path()),
        None => format!("{}://{host}{}", url.scheme(), url.path()),
    }
}

/// Parses an http(s) URL for `channel`; the error never repeats the URL (it may be a secret).
pub(crate) fn parse_url(channel: &str, url: &str) -> Result<reqwest::Url, NotifyError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| NotifyError::settings(channel, format!("the URL is not valid: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(NotifyError::settings(channel, "the URL must be http:// or https:// with a host"));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let r =
            Retry { attempts: 6, initial_backoff: Duration::from_millis(100), max_backoff: Duration::from_millis(350) };
        let waits: Vec<_> = (1..=4).map(|n| r.backoff(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 350, 350]);
    }

    #[test]
    fn shown_url_drops_credentials_and_query() {
        let url = reqwest::Url::parse("https://user:pw@hooks.example.com:8443/in/x?token=abc").unwrap();
        assert_eq!(shown_url(&url), "https://hooks.example.com:8443/in/x");
    }

    #[test]
    fn a_bad_url_is_not_repeated() {
        let e = parse_url("ops", "ftp://secret-token@x").unwrap_err().to_string();
        assert!(!e.contains("secret-token"), "{e}");
        assert!(e.starts_with("channel ops:"), "{e}");
    }
}

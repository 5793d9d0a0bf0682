//! `[service]`: how lifeboatd runs the plans (where it listens, where its state is, how many
//! jobs at once, timeouts, retries, the shutdown grace). Every key is optional.

use std::path::PathBuf;

use serde::Deserialize;

use crate::schedule::Span;

/// The `[service]` table (docs/CONFIG.md): lifeboatd's own settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ServiceSettings {
    /// The address the HTTP API listens on (default `127.0.0.1:8081`).
    pub listen: Option<String>,
    /// The state database (default: [`ServiceSettings::default_state_path`]).
    pub state: Option<PathBuf>,
    /// A PEM certificate chain: with [`tls_key`](Self::tls_key), the API serves HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of [`tls_cert`](Self::tls_cert).
    pub tls_key: Option<PathBuf>,
    /// Jobs running at once in all (default 2, at least 1).
    pub concurrency: usize,
    /// Jobs running at once on one repository URL (default 1, at least 1).
    pub per_repository: usize,
    /// The longest a job may run before it is stopped and failed (default `6h`).
    #[serde(deserialize_with = "job_timeout")]
    pub job_timeout: Option<Span>,
    /// How often a job that failed for a transient reason is tried again (default 2).
    pub retries: u32,
    /// The pause before the first retry; it doubles with each further one (default `30s`).
    #[serde(deserialize_with = "retry_backoff")]
    pub retry_backoff: Span,
    /// How long a stopping lifeboatd waits for running jobs before cancelling them (default `60s`).
    #[serde(deserialize_with = "grace")]
    pub grace: Span,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            listen: None,
            state: None,
            tls_cert: None,
            tls_key: None,
            concurrency: 2,
            per_repository: 1,
            job_timeout: Some(Span::from_seconds(6 * 3600)),
            retries: 2,
            retry_backoff: Span::from_seconds(30),
            grace: Span::from_seconds(60),
        }
    }
}

impl ServiceSettings {
    /// The listen address when none is configured.
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:8081";

    /// The listen address: the configured one, else [`Self::DEFAULT_LISTEN`].
    pub fn listen_address(&self) -> &str {
        self.listen.as_deref().unwrap_or(Self::DEFAULT_LISTEN)
    }

    /// The state database's path: the configured one, else
    /// `/var/lib/lifeboat/lifeboatd.sqlite` for root, else
    /// `$XDG_STATE_HOME/lifeboat/lifeboatd.sqlite`, else
    /// `~/.local/state/lifeboat/lifeboatd.sqlite`; `None` when none of these is known.
    pub fn state_path(&self) -> Option<PathBuf> {
        self.state.clone().or_else(Self::default_state_path)
    }

    /// The default state path (see [`Self::state_path`]).
    pub fn default_state_path() -> Option<PathBuf> {
        let file = "lifeboatd.sqlite";
        if is_root() {
            return Some(PathBuf::from("/var/lib/lifeboat").join(file));
        }
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(state) = var("XDG_STATE_HOME") {
            return Some(state.join("lifeboat").join(file));
        }
        var("HOME").map(|home| home.join(".local/state/lifeboat").join(file))
    }

    /// The problems of these settings, as `(key, why)` pairs (`concurrency = 0` ...).
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.concurrency == 0 {
            problems.push(("service.concurrency", "must be at least 1".to_owned()));
        }
        if self.per_repository == 0 {
            problems.push(("service.per-repository", "must be at least 1".to_owned()));
        }
        if self.job_timeout.is_some_and(|t| t.is_zero()) {
            problems.push(("service.job-timeout", "a zero timeout stops every job at once; omit it for none".into()));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            problems.push(("service.tls-cert", "tls-cert and tls-key go together".to_owned()));
        }
        problems
    }
}

/// True when this process runs as root (the state then goes to /var/lib).
fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

fn span<'de, D: serde::Deserializer<'de>>(field: &'static str, d: D) -> Result<Span, D::Error> {
    let text = String::deserialize(d)?;
    Span::parse(field, &text).map_err(serde::de::Error::custom)
}

fn job_timeout<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Span>, D::Error> {
    span("service.job-timeout", d).map(Some)
}

fn retry_backoff<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
    span("service.retry-backoff", d)
}

fn grace<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
    span("service.grace", d)
}

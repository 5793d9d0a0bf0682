//! `[notifications]`: the channels lifeboatd tells people through (email, webhook, Slack),
//! what each is told (routing by severity, plan and event), the dashboard link and the daily
//! digest. Secrets only by reference: `password-file`/`password-env` (SMTP),
//! `secret-file`/`secret-env` (the webhook's HMAC secret), `url-file`/`url-env` (Slack's
//! webhook URL, which is a credential). docs/CONFIG.md documents every key.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::secret::SecretRef;
use crate::alerts::Severity;
use crate::schedule::Span;

/// The `[notifications]` table.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NotificationSettings {
    /// The dashboard's address, linked from every message (`https://lifeboat.example.com/`).
    pub dashboard_url: Option<String>,
    /// A daily digest of open alerts and the last day's jobs at this local time (`"08:00"`).
    pub digest: Option<String>,
    /// The IANA zone of `digest` (default: the machine's local zone).
    pub timezone: Option<String>,
    /// The channels by name (`[notifications.channels.NAME]`).
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelConfig>,
}

/// What carries a channel's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// Email through an SMTP relay.
    Smtp,
    /// A signed JSON POST.
    Webhook,
    /// A Slack incoming webhook.
    Slack,
}

impl ChannelKind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Smtp => "smtp",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
        }
    }
}

/// The events a channel can be routed (`events = [...]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventName {
    /// An alert fired.
    AlertFired,
    /// An alert resolved.
    AlertResolved,
    /// A job failed (in addition to the alert a failed backup raises).
    JobFailed,
    /// A job succeeded.
    JobSucceeded,
}

/// The SMTP connection's protection (`security`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurityName {
    /// STARTTLS, required (port 587).
    #[default]
    Starttls,
    /// Implicit TLS (port 465).
    Tls,
    /// None: only to a loopback relay.
    Plain,
}

/// One `[notifications.channels.NAME]` table. One flat table for every kind, so a key of
/// another kind is reported by name when the configuration is checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ChannelConfig {
    /// `smtp`, `webhook` or `slack`.
    pub kind: ChannelKind,
    /// The severities it is told about (default: warning and critical).
    pub severities: Option<Vec<Severity>>,
    /// The plans it is told about (default: all; alerts about no plan always pass).
    pub plans: Option<Vec<String>>,
    /// The events it is told about (default: alert-fired, alert-resolved).
    pub events: Option<Vec<EventName>>,
    /// The timeout of one attempt (default `10s`; SMTP: of each step).
    pub timeout: Option<String>,
    /// HTTP kinds: attempts in all (default 4), with exponential backoff from 1s.
    pub attempts: Option<u32>,

    /// SMTP: the relay's host.
    pub host: Option<String>,
    /// SMTP: the relay's port (default 587 for starttls, 465 for tls, 25 for plain).
    pub port: Option<u16>,
    /// SMTP: `starttls` (default), `tls` or `plain` (loopback only).
    pub security: Option<SmtpSecurityName>,
    /// SMTP: the AUTH user.
    pub username: Option<String>,
    /// SMTP: a file holding the AUTH password.
    pub password_file: Option<PathBuf>,
    /// SMTP: an environment variable holding it.
    pub password_env: Option<String>,
    /// SMTP: the sender.
    pub from: Option<String>,
    /// SMTP: the recipients.
    pub to: Option<Vec<String>>,
    /// SMTP: a PEM certificate to trust besides the public roots.
    pub ca_file: Option<PathBuf>,

    /// Webhook: where to POST.
    pub url: Option<String>,
    /// Webhook: a file holding the HMAC secret.
    pub secret_file: Option<PathBuf>,
    /// Webhook: an environment variable holding it.
    pub secret_env: Option<String>,
    /// Slack: a file holding the incoming-webhook URL.
    pub url_file: Option<PathBuf>,
    /// Slack: an environment variable holding it.
    pub url_env: Option<String>,
}

/// The default timeout of one attempt.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl ChannelConfig {
    /// The SMTP password's reference.
    pub fn password(&self) -> SecretRef {
        SecretRef::new(self.password_file.clone(), self.password_env.clone())
    }

    /// The webhook secret's reference.
    pub fn secret(&self) -> SecretRef {
        SecretRef::new(self.secret_file.clone(), self.secret_env.clone())
    }

    /// The Slack URL's reference.
    pub fn url_secret(&self) -> SecretRef {
        SecretRef::new(self.url_file.clone(), self.url_env.clone())
    }

    /// The timeout (`timeout`, default 10s); a bad value is reported when the configuration
    /// is checked.
    pub fn timeout(&self) -> Duration {
        self.timeout
            .as_deref()
            .and_then(|t| Span::parse("timeout", t).ok())
            .and_then(|s| s.as_delta().to_std().ok())
            .unwrap_or(DEFAULT_TIMEOUT)
    }

    /// Whether a message of `severity` about `plan` for `event` goes to this channel.
    pub fn routes(&self, event: EventName, severity: Severity, plan: Option<&str>) -> bool {
        let events = self.events.as_deref().unwrap_or(&[EventName::AlertFired, EventName::AlertResolved]);
        let severities = self.severities.as_deref().unwrap_or(&[Severity::Warning, Severity::Critical]);
        let plan_ok = match (&self.plans, plan) {
            (Some(plans), Some(plan)) => plans.iter().any(|p| p == plan),
            _ => true,
        };
        events.contains(&event) && severities.contains(&severity) && plan_ok
    }

    /// The problems of this channel, as `(key below the channel, why)`.
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut need = |key: &str, present: bool| {
            if !present {
                out.push((key.to_owned(), format!("a {} channel needs {key}", self.kind.as_str())));
            }
        };
        match self.kind {
            ChannelKind::Smtp => {
                need("host", self.host.is_some());
                need("from", self.from.is_some());
                need("to", self.to.as_ref().is_some_and(|t| !t.is_empty()));
            }
            ChannelKind::Webhook => need("url", self.url.is_some()),
            ChannelKind::Slack => need("url-file or url-env", !self.url_secret().is_none()),
        }
        for key in self.foreign_keys() {
            out.push((key.to_owned(), format!("is not a key of a {} channel", self.kind.as_str())));
        }
        if let Some(t) = &self.timeout
            && let Err(e) = Span::parse("timeout", t)
        {
            out.push(("timeout".into(), e.to_string()));
        }
        if self.attempts == Some(0) {
            out.push(("attempts".into(), "must be at least 1".into()));
        }
        if self.kind == ChannelKind::Smtp && self.username.is_some() == self.password().is_none() {
            out.push(("username".into(), "username and password-file/password-env go together".into()));
        }
        out.extend(secret_ref_problems("password", &self.password()));
        out.extend(secret_ref_problems("secret", &self.secret()));
        out.extend(secret_ref_problems("url", &self.url_secret()));
        out
    }

    /// The keys given that belong to another kind.
    fn foreign_keys(&self) -> Vec<&'static str> {
        let smtp = [
            ("host", self.host.is_some()),
            ("port", self.port.is_some()),
            ("security", self.security.is_some()),
            ("username", self.username.is_some()),
            ("password-file", self.password_file.is_some()),
            ("password-env", self.password_env.is_some()),
            ("from", self.from.is_some()),
            ("to", self.to.is_some()),
            ("ca-file", self.ca_file.is_some()),
        ];
        let webhook = [
            ("url", self.url.is_some()),
            ("secret-file", self.secret_file.is_some()),
            ("secret-env", self.secret_env.is_some()),
        ];
        let slack = [("url-file", self.url_file.is_some()), ("url-env", self.url_env.is_some())];
        let http = [("attempts", self.attempts.is_some())];
        let foreign: Vec<&[(&'static str, bool)]> = match self.kind {
            ChannelKind::Smtp => vec![&webhook, &slack, &http],
            ChannelKind::Webhook => vec![&smtp, &slack],
            ChannelKind::Slack => vec![&smtp, &webhook],
        };
        foreign.into_iter().flatten().filter(|(_, given)| *given).map(|(k, _)| *k).collect()
    }
}

fn secret_ref_problems(name: &str, secret: &SecretRef) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if secret.file.is_some() && secret.env.is_some() {
        out.push((format!("{name}-file"), format!("give {name}-file or {name}-env, not both")));
    }
    if let Some(var) = &secret.env
        && !super::secret::is_variable_name(var)
    {
        out.push((format!("{name}-env"), "must name an environment variable, not hold the secret".into()));
    }
    out
}

impl NotificationSettings {
    /// The problems of the table, as `(dotted key, why)`.
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(url) = &self.dashboard_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            out.push(("notifications.dashboard-url".into(), "must be an http:// or https:// URL".into()));
        }
        if let Some(digest) = &self.digest
            && chrono::NaiveTime::parse_from_str(digest, "%H:%M").is_err()
        {
            out.push(("notifications.digest".into(), format!("{digest:?} is not a time of day like \"08:00\"")));
        }
        if let Some(tz) = &self.timezone
            && tz.parse::<chrono_tz::Tz>().is_err()
        {
            out.push(("notifications.timezone".into(), format!("{tz:?} is not an IANA time zone")));
        }
        for (name, channel) in &self.channels {
            for (key, why) in channel.problems() {
                out.push((format!("notifications.channels.{name}.{key}"), why));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    const SMTP: &str = "[notifications.channels.mail]\nkind = \"smtp\"\nhost = \"smtp.example.com\"\nfrom = \"lb@example.com\"\nto = [\"ops@example.com\"]\nusername = \"lb\"\npassword-env = \"LB_SMTP_PW\"\n";

    #[test]
    fn routing_defaults_to_alerts_of_warning_and_critical() {
        let config = Config::parse(SMTP, "t").unwrap();
        let mail = &config.notifications.channels["mail"];
        assert!(mail.routes(EventName::AlertFired, Severity::Critical, Some("db")));
        assert!(mail.routes(EventName::AlertResolved, Severity::Warning, None));
        assert!(!mail.routes(EventName::AlertFired, Severity::Info, None));
        assert!(!mail.routes(EventName::JobFailed, Severity::Critical, None));
        assert_eq!(mail.timeout(), DEFAULT_TIMEOUT);
    }

    #[test]
    fn routing_by_plan_and_event() {
        let text = format!("{SMTP}plans = [\"db\"]\nevents = [\"job-failed\"]\nseverities = [\"critical\"]\n");
        let mail = Config::parse(&text, "t").unwrap().notifications.channels["mail"].clone();
        assert!(mail.routes(EventName::JobFailed, Severity::Critical, Some("db")));
        assert!(!mail.routes(EventName::JobFailed, Severity::Critical, Some("web")));
        assert!(!mail.routes(EventName::AlertFired, Severity::Critical, Some("db")));
    }

    #[test]
    fn inline_secrets_are_refused_with_key_and_line() {
        for (line, what) in [
            ("password = \"hunter2\"", "password"),
            ("secret = \"hunter2\"", "secret"),
            ("url = \"https://hooks.slack.com/services/T0/B0/hunter2\"", "url"),
        ] {
            let text = format!("{SMTP}{line}\n");
            let e = Config::parse(&text, "lifeboat.toml").unwrap_err();
            let shown = e.to_string();
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(
                e.problems()
                    .iter()
                    .any(|p| p.key == format!("notifications.channels.mail.{what}") && p.line == Some(8)),
                "{what}: {:?}",
                e.problems()
            );
        }
    }

    #[test]
    fn missing_and_foreign_keys_are_named() {
        let text = "[notifications]\ndigest = \"25:00\"\n[notifications.channels.team]\nkind = \"slack\"\nhost = \"x\"\n[notifications.channels.hook]\nkind = \"webhook\"\nsecret-env = \"not a name\"\n";
        let e = Config::parse(text, "t").unwrap_err();
        let keys: Vec<_> = e.problems().iter().map(|p| p.key.as_str()).collect();
        for key in [
            "notifications.digest",
            "notifications.channels.team.url-file or url-env",
            "notifications.channels.team.host",
            "notifications.channels.hook.url",
            "notifications.channels.hook.secret-env",
        ] {
            assert!(keys.contains(&key), "{key} in {keys:?}");
        }
    }
}

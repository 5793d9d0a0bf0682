//! What a notification says, independent of the channel that carries it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a notification is sent. Serialized snake_case (`alert_fired`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// An alert fired (new, or re-fired after an acknowledgement expired).
    AlertFired,
    /// An alert's condition cleared.
    AlertResolved,
    /// A job failed (channels opt into this; alerts already cover failed backups).
    JobFailed,
    /// A job succeeded (off by default).
    JobSucceeded,
    /// The daily digest.
    Digest,
    /// A test message from `lifeboat alerts test` or `POST /api/v1/notifications/test`.
    Test,
}

impl Event {
    /// The snake_case name used in JSON bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::AlertFired => "alert_fired",
            Event::AlertResolved => "alert_resolved",
            Event::JobFailed => "job_failed",
            Event::JobSucceeded => "job_succeeded",
            Event::Digest => "digest",
            Event::Test => "test",
        }
    }
}

/// How bad it is. Ordered: `Info < Warning < Critical`. Serialized lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record (a resolved alert, a successful job, a test).
    Info,
    /// Needs attention soon.
    Warning,
    /// Backups are not happening or not restorable.
    Critical,
}

impl Severity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One message to deliver. This is also the webhook's JSON body (plus `version` and `channel`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Why it is sent.
    pub event: Event,
    /// How bad it is.
    pub severity: Severity,
    /// One line: the email subject, the Slack header.
    pub title: String,
    /// The human text, possibly several lines (already redacted by whoever built it).
    pub text: String,
    /// The plan it is about.
    pub plan: Option<String>,
    /// The repository it is about (a redacted location).
    pub repository: Option<String>,
    /// The alert id (`A17`), for alert events.
    pub alert: Option<String>,
    /// The job id, when a job raised it.
    pub job: Option<u64>,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The dashboard, when `[notifications] dashboard-url` is set.
    pub link: Option<String>,
}

impl Notification {
    /// The message `lifeboat alerts test` sends through `channel`.
    pub fn test(channel: &str, link: Option<String>) -> Notification {
        Notification {
            event: Event::Test,
            severity: Severity::Info,
            title: format!("Lifeboat test notification ({channel})"),
            text: format!(
                "This is a test message from Lifeboat through the channel {channel}. \
                 If you can read it, the channel works."
            ),
            plan: None,
            repository: None,
            alert: None,
            job: None,
            at: Utc::now(),
            link,
        }
    }

    /// The context lines shared by the email body and the Slack context block:
    /// `("Plan", "db")`, `("Alert", "A17")` ... for the fields that are set.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let mut facts =
            vec![("Event", self.event.as_str().to_owned()), ("Severity", self.severity.as_str().to_owned())];
        if let Some(plan) = &self.plan {
            facts.push(("Plan", plan.clone()));
        }
        if let Some(repo) = &self.repository {
            facts.push(("Repository", repo.clone()));
        }
        if let Some(alert) = &self.alert {
            facts.push(("Alert", alert.clone()));
        }
        if let Some(job) = self.job {
            facts.push(("Job", job.to_string()));
        }
        facts.push(("Time", self.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
        facts
    }
}

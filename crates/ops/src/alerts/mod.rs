//! Alerts: conditions lifeboatd watches for, each kept as one open alert per fingerprint
//! (rule + plan + repository) until it clears.
//!
//! - Rules ([`AlertRule`]): a failed backup, a plan past its RPO, a verify that found damage,
//!   an unreachable repository, a stuck lock, a full local disk, a copy that lags, and
//!   a restore drill that failed or missed an objective (`drill_failed`, resolved by the next
//!   passing drill of the plan).
//! - When: after every job (the engine in `service` listens to the service's `JobEvent`s) and on its
//!   own timer every `[alerts] interval` — a task of its own, not the scheduler loop, so a
//!   stalled scheduler still gets its RPO alert. `Service::evaluate_alerts` is that timer's
//!   step, for tests with a manual clock.
//! - Lifecycle ([`AlertState`]): `firing` → `acknowledged` (by whom, a comment, optionally
//!   until a time: when it passes and the condition still holds, it fires again) →
//!   `resolved` automatically when the condition clears. A repeat while open updates
//!   `last_seen`, `occurrences`, `summary` and `job`; a repeat after it resolved opens a new
//!   alert with a new id.
//! - Events ([`AlertEvent`]) are broadcast by `Service::subscribe_alerts` for the
//!   notification dispatcher.
//!
//! Thresholds come from `[alerts]` and `[plans.NAME.alerts]` (`config::AlertSettings`).
//! Everything is timed by the service's clock.
//!
//! This module holds the alerts' data (it depends on nothing else of the crate, so the state
//! store and the notification dispatcher can use it); the engine and the rules live in
//! `service`, which owns what they read.

pub(crate) mod disk;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertRule {
    /// The plan's latest finished backup job failed.
    BackupFailed,
    /// The plan's last successful backup is older than its RPO (or twice its interval).
    RpoExceeded,
    /// The plan's last verify found damage.
    VerifyDamaged,
    /// A repository the plan uses cannot be read.
    RepositoryUnreachable,
    /// A lock in a repository is older than the plan's `lock-stuck-after`.
    LockStuck,
    /// The file system of a local repository is fuller than the plan's `disk-usage`.
    DiskFull,
    /// The plan's newest backup is missing from a copy destination for longer than `copy-lag`.
    CopyBehind,
    /// The plan's last restore drill failed or missed an objective (resolved by a passing one).
    DrillFailed,
}

impl AlertRule {
    /// Every rule.
    pub const ALL: &'static [AlertRule] = &[
        AlertRule::BackupFailed,
        AlertRule::RpoExceeded,
        AlertRule::VerifyDamaged,
        AlertRule::RepositoryUnreachable,
        AlertRule::LockStuck,
        AlertRule::DiskFull,
        AlertRule::CopyBehind,
        AlertRule::DrillFailed,
    ];

    /// The snake_case name (as in the API and the config's `disabled` lists).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertRule::BackupFailed => "backup_failed",
            AlertRule::RpoExceeded => "rpo_exceeded",
            AlertRule::VerifyDamaged => "verify_damaged",
            AlertRule::RepositoryUnreachable => "repository_unreachable",
            AlertRule::LockStuck => "lock_stuck",
            AlertRule::DiskFull => "disk_full",
            AlertRule::CopyBehind => "copy_behind",
            AlertRule::DrillFailed => "drill_failed",
        }
    }

    /// How serious an alert of this rule is: losing backups or recoverability is critical,
    /// what will become that if nobody acts is a warning.
    pub fn severity(self) -> Severity {
        match self {
            AlertRule::BackupFailed
            | AlertRule::RpoExceeded
            | AlertRule::VerifyDamaged
            | AlertRule::RepositoryUnreachable
            | AlertRule::DrillFailed => Severity::Critical,
            AlertRule::LockStuck | AlertRule::DiskFull | AlertRule::CopyBehind => Severity::Warning,
        }
    }

    /// Whether the timer decides this rule (the others are decided by the jobs that end).
    pub(crate) fn timed(self) -> bool {
        matches!(
            self,
            AlertRule::RpoExceeded
                | AlertRule::RepositoryUnreachable
                | AlertRule::LockStuck
                | AlertRule::DiskFull
                | AlertRule::CopyBehind
        )
    }
}

impl std::fmt::Display for AlertRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How serious an alert is; `info < warning < critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record.
    Info,
    /// Needs attention soon.
    Warning,
    /// Backups or restores are at risk now.
    Critical,
}

impl Severity {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The condition holds and nobody has acknowledged it (or the acknowledgement expired).
    Firing,
    /// The condition holds and someone has acknowledged it.
    Acknowledged,
    /// The condition cleared; a repeat opens a new alert.
    Resolved,
}

impl AlertState {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }
}

/// Who acknowledged an alert, when, why, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// The actor: `token:<name>` from the API, `local:<user>` from the CLI.
    pub by: String,
    /// Their comment.
    pub comment: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// Until when it holds: past this, a condition that still holds fires again.
    pub until: Option<DateTime<Utc>>,
}

/// One alert. Serialises as the API's JSON for an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// Stable and never reused: `A` and the row id, e.g. `A17`.
    pub id: String,
    /// The rule.
    pub rule: AlertRule,
    /// How serious.
    pub severity: Severity,
    /// The plan it is about.
    pub plan: Option<String>,
    /// The repository it is about (redacted location, never with a secret).
    pub repository: Option<String>,
    /// One line for people.
    pub summary: String,
    /// More, redacted.
    pub details: Option<String>,
    /// The job that raised or last updated it.
    pub job: Option<u64>,
    /// Where it is in its life.
    pub state: AlertState,
    /// When the condition was first seen.
    pub first_seen: DateTime<Utc>,
    /// When it was last seen.
    pub last_seen: DateTime<Utc>,
    /// How many evaluations or jobs saw the condition.
    pub occurrences: u64,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The acknowledgement, if any (kept after it expired, for the record).
    pub acknowledged: Option<Acknowledgement>,
}

impl Alert {
    /// Whether it is firing or acknowledged.
    pub fn is_open(&self) -> bool {
        self.state != AlertState::Resolved
    }
}

/// What the alert engine broadcasts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", content = "alert", rename_all = "snake_case")]
pub enum AlertEvent {
    /// A new alert (new id), or an acknowledged one whose `until` passed (fired again).
    Fired(Alert),
    /// The condition cleared.
    Resolved(Alert),
    /// Someone acknowledged it.
    Acknowledged(Alert),
}

impl AlertEvent {
    /// The alert the event is about.
    pub fn alert(&self) -> &Alert {
        match self {
            AlertEvent::Fired(a) | AlertEvent::Resolved(a) | AlertEvent::Acknowledged(a) => a,
        }
    }
}

/// Which alerts a state filter selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStateFilter {
    /// Firing only.
    Firing,
    /// Acknowledged only.
    Acknowledged,
    /// Resolved only.
    Resolved,
    /// Firing or acknowledged.
    Open,
    /// Every alert.
    All,
}

impl std::str::FromStr for AlertStateFilter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "firing" => Ok(AlertStateFilter::Firing),
            "acknowledged" => Ok(AlertStateFilter::Acknowledged),
            "resolved" => Ok(AlertStateFilter::Resolved),
            "open" => Ok(AlertStateFilter::Open),
            "all" => Ok(AlertStateFilter::All),
            other => Err(format!("unknown alert state {other:?} (firing, acknowledged, resolved, open, all)")),
        }
    }
}

/// Which alerts `Service::alerts` lists, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// By state (default: every alert).
    pub state: Option<AlertStateFilter>,
    /// Only this plan's.
    pub plan: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
}

impl AlertFilter {
    /// The page size when none is given.
    pub const DEFAULT_LIMIT: u32 = 100;
    /// The largest page.
    pub const MAX_LIMIT: u32 = 1000;
}

/// A condition a rule found: what `StateStore::raise_alert` records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The rule.
    pub rule: AlertRule,
    /// The plan.
    pub plan: Option<String>,
    /// The repository (redacted).
    pub repository: Option<String>,
    /// One line.
    pub summary: String,
    /// More (redacted).
    pub details: Option<String>,
    /// The job behind it.
    pub job: Option<u64>,
}

impl Condition {
    /// The identity of the condition: rule, plan and repository.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.rule, self.plan.as_deref(), self.repository.as_deref())
    }
}

/// The fingerprint of `rule` for `plan` and `repository`.
pub fn fingerprint(rule: AlertRule, plan: Option<&str>, repository: Option<&str>) -> String {
    // Unit separators: no plan name or redacted URL contains one.
    format!("{}\u{1f}{}\u{1f}{}", rule.as_str(), plan.unwrap_or(""), repository.unwrap_or(""))
}

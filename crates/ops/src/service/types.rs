//! The values the service answers with: status, plans, repositories, backups, a reload's
//! report. Each serialises as the HTTP API's JSON.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::state::JobId;

/// How well something is backed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OverallHealth {
    /// Within its objectives, last run good (or nothing has run yet).
    Ok,
    /// Within its objectives, but the last run failed.
    Degraded,
    /// Outside its objectives, or failing with no success to fall back on.
    Failing,
}

/// The answer of `GET /api/v1/status`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The worst health of any plan and of the open alerts (a critical one: failing, a
    /// warning: degraded).
    pub health: OverallHealth,
    /// When this was computed (the service's clock).
    pub generated_at: DateTime<Utc>,
    /// Each plan, by name.
    pub plans: Vec<PlanStatus>,
    /// Jobs running now.
    pub jobs_running: u32,
    /// Jobs waiting for a slot (concurrency, the plan's lock, a retry's pause).
    pub jobs_queued: u32,
    /// Alerts open (firing or acknowledged).
    pub alerts_open: u32,
}

/// One plan's status.
#[derive(Debug, Clone, Serialize)]
pub struct PlanStatus {
    /// The plan.
    pub plan: String,
    /// Its source kind: files, stdin, postgres, mysql, redis, elasticsearch.
    pub kind: String,
    /// Its primary repository (redacted).
    pub repository: Option<String>,
    /// When its last backup succeeded.
    pub last_success: Option<DateTime<Utc>>,
    /// When its last backup failed.
    pub last_failure: Option<DateTime<Utc>>,
    /// The backup its last successful run made.
    pub last_backup_id: Option<String>,
    /// Seconds since the last success.
    pub age_seconds: Option<i64>,
    /// The recovery point objective (`objectives.rpo`; else twice the schedule's interval).
    pub rpo_seconds: Option<i64>,
    /// The schedule's current interval.
    pub expected_interval_seconds: Option<i64>,
    /// The last success is within the RPO (`None`: never succeeded, or no RPO).
    pub within_rpo: Option<bool>,
    /// The next scheduled run.
    pub next_run: Option<DateTime<Utc>>,
    /// A job of the plan running now.
    pub running_job: Option<JobId>,
    /// The plan's health.
    pub health: OverallHealth,
}

/// A plan as configured.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSummary {
    /// The plan.
    pub name: String,
    /// Its source kind.
    pub kind: String,
    /// Its primary repository (redacted).
    pub repository: Option<String>,
    /// Its copy-to destinations (redacted).
    pub copies: Vec<String>,
    /// Its schedule, in canonical form (`cron 0 2 * * * Europe/Berlin`, `every 1h`).
    pub schedule: Option<String>,
    /// The next scheduled run.
    pub next_run: Option<DateTime<Utc>>,
    /// Tags of its backups.
    pub tags: Vec<String>,
    /// Its recovery point objective.
    pub rpo_seconds: Option<i64>,
    /// Its recovery time objective.
    pub rto_seconds: Option<i64>,
}

/// A repository the plans use (primary or copy).
#[derive(Debug, Clone, Serialize)]
pub struct RepositoryStatus {
    /// Its URL, redacted.
    pub repository: String,
    /// The plans using it.
    pub plans: Vec<String>,
    /// It could be opened and listed.
    pub reachable: bool,
    /// Why not (redacted).
    pub error: Option<String>,
    /// Locks in it.
    pub locks: u32,
    /// Locks whose holder is gone.
    pub stale_locks: u32,
    /// Backups in it.
    pub backups: u64,
    /// The stored size of its backups' objects.
    pub size_bytes: Option<u64>,
    /// When a verify job on it last ended.
    pub last_verify: Option<DateTime<Utc>>,
    /// Whether that verify found it sound.
    pub last_verify_ok: Option<bool>,
}

/// A backup, as listed from a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupSummary {
    /// Its id.
    pub id: String,
    /// Its plan.
    pub plan: Option<String>,
    /// Its kind (files, stream, postgres ...).
    pub kind: String,
    /// The host that made it.
    pub host: String,
    /// When it finished.
    pub time: DateTime<Utc>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Plaintext bytes.
    pub size_bytes: u64,
    /// Stored bytes.
    pub stored_bytes: u64,
    /// The repository holding it (redacted).
    pub repository: String,
}

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    /// Plans new in the configuration.
    pub added: Vec<String>,
    /// Plans no longer in it (their running jobs finish).
    pub removed: Vec<String>,
    /// Plans whose configuration changed.
    pub changed: Vec<String>,
    /// Plans as they were.
    pub unchanged: Vec<String>,
    /// `[service]` keys that changed but take effect only at the next start.
    pub needs_restart: Vec<String>,
}

/// Whether the scheduler loop is alive, for a readiness probe ([`Service::scheduler`]).
///
/// [`Service::scheduler`]: super::Service::scheduler
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SchedulerState {
    /// The service was started without a scheduler (only manual and API runs).
    Off,
    /// The loop ran recently.
    Running,
    /// The loop has not come round for longer than it ever sleeps: it is stuck.
    Stalled,
    /// The service is shutting down; nothing is scheduled any more.
    Stopped,
}

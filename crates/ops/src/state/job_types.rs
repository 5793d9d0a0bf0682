//! The values of the jobs table, as the scheduler, the runner and the API use them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::columns::TextColumn;

/// A job's id: unique in one state file and never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum JobKind {
    /// A backup of the plan's source into its repository.
    Backup,
    /// Copying backups to another repository (the off-site leg).
    Copy,
    /// Checking a repository (quick or deep).
    Verify,
    /// Removing unreferenced data from a repository.
    Prune,
    /// Applying retention: removing backups the policy no longer keeps.
    Forget,
    /// A restore drill into a scratch target.
    Drill,
}

impl TextColumn for JobKind {
    const ALL: &'static [Self] =
        &[JobKind::Backup, JobKind::Copy, JobKind::Verify, JobKind::Prune, JobKind::Forget, JobKind::Drill];
    fn as_str(self) -> &'static str {
        match self {
            JobKind::Backup => "backup",
            JobKind::Copy => "copy",
            JobKind::Verify => "verify",
            JobKind::Prune => "prune",
            JobKind::Forget => "forget",
            JobKind::Drill => "drill",
        }
    }
}

/// Why a job exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Trigger {
    /// The scheduler, for a slot of the plan's schedule.
    Schedule,
    /// Someone at the CLI (`lifeboat run`).
    Manual,
    /// A request to the HTTP API.
    Api,
}

impl TextColumn for Trigger {
    const ALL: &'static [Self] = &[Trigger::Schedule, Trigger::Manual, Trigger::Api];
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
            Trigger::Api => "api",
        }
    }
}

/// Where a job is in its life: `queued` -> `running` -> one of the three final states
/// (or `queued` -> `cancelled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Created, waiting for a slot under the concurrency limits.
    Queued,
    /// Running now.
    Running,
    /// Finished well.
    Succeeded,
    /// Finished with an error (the record's `error` says why).
    Failed,
    /// Stopped on request before it finished.
    Cancelled,
}

impl JobState {
    /// True for the three states a job never leaves.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Failed | JobState::Cancelled)
    }
}

impl TextColumn for JobState {
    const ALL: &'static [Self] =
        &[JobState::Queued, JobState::Running, JobState::Succeeded, JobState::Failed, JobState::Cancelled];
    fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job to create (it starts `queued`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The plan's name.
    pub plan: String,
    /// What it does.
    pub kind: JobKind,
    /// Why it exists.
    pub trigger: Trigger,
    /// Who asked (an API token's name, a user); `None` for the scheduler.
    pub requested_by: Option<String>,
    /// The repository it works on (config name or a redacted location).
    pub repository: Option<String>,
    /// The schedule slot it runs for; `None` for manual and API runs.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// 1 for a first try, 2 for the first retry...
    pub attempt: u32,
    /// The job this one retries.
    pub retry_of: Option<JobId>,
}

impl NewJob {
    /// A first attempt of `kind` for `plan`, with nothing else set.
    pub fn new(plan: impl Into<String>, kind: JobKind, trigger: Trigger) -> Self {
        NewJob {
            plan: plan.into(),
            kind,
            trigger,
            requested_by: None,
            repository: None,
            scheduled_for: None,
            attempt: 1,
            retry_of: None,
        }
    }
}

/// How a job ended, given to `StateStore::finish_job`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobResult {
    /// It did its work.
    Succeeded,
    /// It failed; the text is shown by the API and must be redacted by the caller already.
    Failed {
        /// Why, redacted.
        error: String,
    },
    /// It was stopped on request; the text says by whom or why (redacted like an error).
    Cancelled {
        /// Why, redacted.
        reason: String,
    },
}

/// A job's final figures, given to `StateStore::finish_job`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    /// How it ended.
    pub result: JobResult,
    /// Bytes read from the source, if known (`None` keeps the last progress figure).
    pub bytes_read: Option<u64>,
    /// Bytes written to the repository, if known (`None` keeps the last progress figure).
    pub bytes_stored: Option<u64>,
    /// The backup made (a backup job) or read (verify, copy, drill).
    pub backup_id: Option<String>,
}

impl JobOutcome {
    /// An outcome with this result and no figures.
    pub fn of(result: JobResult) -> Self {
        JobOutcome { result, bytes_read: None, bytes_stored: None, backup_id: None }
    }
}

/// A job as stored. Serialises as the API's JSON for a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRecord {
    /// Its id.
    pub id: JobId,
    /// The plan's name.
    pub plan: String,
    /// What it does.
    pub kind: JobKind,
    /// Why it exists.
    pub trigger: Trigger,
    /// Who asked, if anyone did.
    pub requested_by: Option<String>,
    /// Where it is.
    pub state: JobState,
    /// The repository it works on.
    pub repository: Option<String>,
    /// The schedule slot it runs for.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// When it was created.
    pub queued_at: DateTime<Utc>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended (for a recovered job: the recovery time, an upper bound).
    pub ended_at: Option<DateTime<Utc>>,
    /// Bytes read from the source so far or in all.
    pub bytes_read: Option<u64>,
    /// Bytes written to the repository so far or in all.
    pub bytes_stored: Option<u64>,
    /// The backup made or read.
    pub backup_id: Option<String>,
    /// Why it failed or was cancelled, as redacted by the code that finished it.
    pub error: Option<String>,
    /// 1 for a first try, 2 for the first retry...
    pub attempt: u32,
    /// The job this one retries.
    pub retry_of: Option<JobId>,
    /// Set when the job was found unfinished after a crash and marked failed.
    pub recovered_at: Option<DateTime<Utc>>,
    /// How many log lines it emitted, kept or not.
    pub log_lines: u64,
}

/// Which jobs `StateStore::list_jobs` returns: newest first,
/// every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only this plan's jobs.
    pub plan: Option<String>,
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs of this kind.
    pub kind: Option<JobKind>,
    /// At most this many (default [`JobFilter::DEFAULT_LIMIT`], at most [`JobFilter::MAX_LIMIT`]).
    pub limit: Option<u32>,
    /// Only jobs older than this one: the previous page's [`JobPage::next_before`].
    pub before: Option<JobId>,
}

impl JobFilter {
    /// The page size when none is given.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// The largest page.
    pub const MAX_LIMIT: u32 = 1000;
}

/// One page of jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobPage {
    /// The jobs, newest first.
    pub jobs: Vec<JobRecord>,
    /// The `before` that fetches the next (older) page; `None` on the last page.
    pub next_before: Option<JobId>,
}

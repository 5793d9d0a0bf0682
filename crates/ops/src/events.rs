//! [`JobEvent`]: what the service broadcasts as jobs come and go, for metrics now and for
//! alerts and drills later (`Service::subscribe`).

use serde::Serialize;

use crate::state::{JobId, JobKind, JobState};

/// Something that happened to a job or a schedule. Serialises with an `event` tag.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JobEvent {
    /// A job was created and waits for its turn.
    Queued {
        /// The job.
        job: JobId,
        /// Its plan.
        plan: String,
        /// What it does.
        kind: JobKind,
    },
    /// A job got its turn and runs.
    Started {
        /// The job.
        job: JobId,
        /// Its plan.
        plan: String,
        /// What it does.
        kind: JobKind,
        /// The repository it works on (redacted).
        repository: Option<String>,
    },
    /// A job ended.
    Finished {
        /// The job.
        job: JobId,
        /// Its plan.
        plan: String,
        /// What it did.
        kind: JobKind,
        /// The repository it worked on (redacted).
        repository: Option<String>,
        /// How it ended.
        state: JobState,
        /// How long it ran (the service's clock).
        duration_seconds: f64,
        /// Bytes read from the source.
        bytes_read: u64,
        /// Bytes stored.
        bytes_stored: u64,
        /// The backup it made.
        backup_id: Option<String>,
        /// For a verify job: whether nothing was damaged.
        verify_ok: Option<bool>,
        /// Why it failed or was cancelled, as the job history says it (already redacted).
        error: Option<String>,
    },
    /// Schedule slots were not run (missed while down, overlapping a run ...).
    Skipped {
        /// The plan.
        plan: String,
        /// Why, as the job history says it.
        reason: String,
        /// How many slots.
        count: u64,
    },
}

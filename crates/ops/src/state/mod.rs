//! The service's state, in an embedded SQLite file: job history with each job's bounded
//! log, and per plan its last runs and its schedule's next run.
//!
//! **The state is a cache of what the repositories hold: deleting it loses history, never
//! backups.** Backups, their manifests and their retention live in the repositories; the
//! state only remembers what the service did and when, so that the scheduler knows what is
//! due and the API can answer at once. Rebuilding the backup list from the repositories is
//! the service's job (it lists them at start), not this module's. A damaged file
//! ([`ErrorKind::Damaged`]) can therefore be moved aside and a new one started.
//!
//! - [`StateStore::open`]: the owner's handle (lifeboatd). Creates a missing directory 0700
//!   and the file 0600, runs in WAL mode with `busy_timeout` and foreign keys on, applies
//!   the versioned migrations (`PRAGMA user_version`; a file from a newer Lifeboat is
//!   refused with [`StateError::NewerVersion`], never downgraded), holds an owner lock so a
//!   second lifeboatd on the same file is refused, and marks the jobs a dead owner left
//!   queued or running as failed ([`RECOVERED_RUNNING`], [`RECOVERED_QUEUED`]).
//! - [`StateStore::attach`]: another handle on the same file (no lock, no recovery), and
//!   [`StateStore::open_in_memory`] for tests of the code above; both real SQLite.
//! - Jobs: [`StateStore::create_job`] -> [`start_job`](StateStore::start_job) ->
//!   [`record_progress`](StateStore::record_progress) -> [`finish_job`](StateStore::finish_job);
//!   [`job`](StateStore::job) and [`list_jobs`](StateStore::list_jobs) (a [`JobFilter`],
//!   pages newest first). A backup job's end updates its plan's [`PlanState`].
//! - Logs: [`StateStore::append_log`] and [`job_log`](StateStore::job_log), bounded per job
//!   (first and last lines kept, "... M lines omitted" between).
//! - Plans: [`StateStore::plan_state`], [`set_next_run`](StateStore::set_next_run),
//!   [`record_skipped_slot`](StateStore::record_skipped_slot).
//! - API tokens: [`StateStore::create_token`], [`list_tokens`](StateStore::list_tokens),
//!   [`revoke_token`](StateStore::revoke_token), [`authenticate_token`](StateStore::authenticate_token):
//!   `lbt_<id>_<secret>` texts stored as keyed BLAKE3 hashes, with [`Scope`]s, expiry and
//!   last use (see `tokens.rs`).
//! - Audit log: [`StateStore::append_audit`] (hash-chained, appends serialised with
//!   `BEGIN IMMEDIATE`), [`audit_entries`](StateStore::audit_entries),
//!   [`audit_rows`](StateStore::audit_rows); the chain's check is `lifeboat_ops::audit`.
//! - Alerts: [`StateStore::raise_alert`], [`resolve_alert`](StateStore::resolve_alert),
//!   [`acknowledge_alert`](StateStore::acknowledge_alert), [`alerts`](StateStore::alerts) (one
//!   open alert per fingerprint; the engine is `lifeboat_ops::alerts`).
//! - From async code: [`AsyncStateStore`] (every call on tokio's blocking pool).
//!
//! Texts stored here (a job's `error`, its log lines) are shown by the API as they are: the
//! caller redacts them before they arrive. Times come from the caller (its injected clock).
//! The columns of each table are documented in `migrations.rs`. No SQL lives outside this
//! module.
//!
//! ```
//! use chrono::Utc;
//! use lifeboat_ops::state::{JobFilter, JobKind, JobOutcome, JobResult, NewJob, StateStore, Trigger};
//! # fn demo() -> Result<(), lifeboat_ops::state::StateError> {
//! let mut state = StateStore::open_in_memory()?;
//! let job = state.create_job(&NewJob::new("web", JobKind::Backup, Trigger::Schedule), Utc::now())?;
//! state.start_job(job, Utc::now())?;
//! let done = JobOutcome { backup_id: Some("3f2a9c".into()), ..JobOutcome::of(JobResult::Succeeded) };
//! state.finish_job(job, &done, Utc::now())?;
//! assert_eq!(state.plan_state("web")?.and_then(|p| p.last_backup_id).as_deref(), Some("3f2a9c"));
//! assert_eq!(state.list_jobs(&JobFilter::default())?.jobs.len(), 1);
//! # Ok(()) }
//! # demo().unwrap();
//! ```

mod alerts;
mod async_store;
mod audit;
pub(crate) mod columns;
mod drills;
mod error;
mod handle;
mod job_logs;
mod job_types;
mod jobs;
mod migrations;
mod open;
mod plan_state;
mod recovery;
mod tokens;

pub use alerts::{AckOutcome, Raised, alert_row_id};
pub use async_store::AsyncStateStore;
pub(crate) use audit::hex as hex_of;
pub use audit::{
    AUDIT_DOMAIN, AuditEntry, AuditRecord, GENESIS_HASH, StoredAuditRow, canonical_encoding, entry_hash,
    sanitize_parameters,
};
pub use drills::{DrillFilter, DrillRecord};
pub use error::{ErrorKind, StateError};
pub use handle::{StateOptions, StateStore};
pub use job_logs::{JobLog, LogEntry, LogLevel, LogLine, NewLogLine};
pub use job_types::{JobFilter, JobId, JobKind, JobOutcome, JobPage, JobRecord, JobResult, JobState, NewJob, Trigger};
pub use plan_state::PlanState;
pub use recovery::{RECOVERED_QUEUED, RECOVERED_RUNNING};
pub use tokens::{LAST_USED_RESOLUTION, MAX_TOKEN_NAME, NewToken, Scope, TokenInfo, UnknownScope};

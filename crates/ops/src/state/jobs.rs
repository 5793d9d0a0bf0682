//! The jobs table: creating a job, its start, progress and end, reading one, listing pages.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::columns::{TextColumn, count_in, millis, opt_count_out, opt_time, parse_text, time};
use super::error::StateError;
use super::handle::StateStore;
use super::job_types::{JobFilter, JobId, JobKind, JobOutcome, JobPage, JobRecord, JobResult, JobState, NewJob};
use super::plan_state;

const COLUMNS: &str = "id, plan, kind, trigger, requested_by, state, repository, scheduled_for, queued_at, \
                       started_at, ended_at, bytes_read, bytes_stored, backup_id, error, attempt, retry_of, \
                       recovered_at, log_lines";

impl StateStore {
    /// Records a new job, `queued` at `at`, and returns its id.
    pub fn create_job(&mut self, job: &NewJob, at: DateTime<Utc>) -> Result<JobId, StateError> {
        let op = "record a new job";
        if job.attempt == 0 {
            return Err(StateError::InvalidInput {
                path: self.path.clone(),
                op,
                reason: "attempts count from 1".to_owned(),
            });
        }
        self.connection
            .execute(
                "INSERT INTO jobs (plan, kind, trigger, requested_by, state, repository, scheduled_for, queued_at, \
                 attempt, retry_of) VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?7, ?8, ?9)",
                params![
                    job.plan,
                    job.kind.as_str(),
                    job.trigger.as_str(),
                    job.requested_by,
                    job.repository,
                    job.scheduled_for.map(millis),
                    millis(at),
                    job.attempt,
                    job.retry_of.map(|id| id.0),
                ],
            )
            .map_err(|e| StateError::sqlite(&self.path, op, e))?;
        Ok(JobId(self.connection.last_insert_rowid()))
    }

    /// Marks a queued job `running` from `at`.
    pub fn start_job(&mut self, id: JobId, at: DateTime<Utc>) -> Result<(), StateError> {
        let op = "start";
        let path = self.path.clone();
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StateError::sqlite(&path, "begin a job start", e))?;
        let (state, _, _) = current(&tx, &path, id)?;
        if state != JobState::Queued {
            return Err(wrong_state(&path, op, id, state));
        }
        tx.execute("UPDATE jobs SET state = 'running', started_at = ?2 WHERE id = ?1", params![id.0, millis(at)])
            .map_err(|e| StateError::sqlite(&path, "record a job start", e))?;
        tx.commit().map_err(|e| StateError::sqlite(&path, "commit a job start", e))
    }

    /// Records a running job's byte counts so far (the API shows them while it runs).
    pub fn record_progress(&mut self, id: JobId, bytes_read: u64, bytes_stored: u64) -> Result<(), StateError> {
        let op = "record progress of";
        let read = count_in(&self.path, op, "bytes read", bytes_read)?;
        let stored = count_in(&self.path, op, "bytes stored", bytes_stored)?;
        let changed = self
            .connection
            .execute(
                "UPDATE jobs SET bytes_read = ?2, bytes_stored = ?3 WHERE id = ?1 AND state = 'running'",
                params![id.0, read, stored],
            )
            .map_err(|e| StateError::sqlite(&self.path, "record a job's progress", e))?;
        if changed == 0 {
            let (state, _, _) = current(&self.connection, &self.path, id)?;
            return Err(wrong_state(&self.path, op, id, state));
        }
        Ok(())
    }

    /// Ends a job at `at`: a running job with any result, a queued one only as failed or
    /// cancelled (it never ran). A backup job's end also updates its plan's
    /// [`PlanState`](super::PlanState) (last success or failure, last backup id), in the
    /// same transaction.
    pub fn finish_job(&mut self, id: JobId, outcome: &JobOutcome, at: DateTime<Utc>) -> Result<(), StateError> {
        let path = self.path.clone();
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StateError::sqlite(&path, "begin a job's end", e))?;
        finish_in(&tx, &path, id, outcome, at, None)?;
        tx.commit().map_err(|e| StateError::sqlite(&path, "commit a job's end", e))
    }

    /// The job with this id, if there is one.
    pub fn job(&self, id: JobId) -> Result<Option<JobRecord>, StateError> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1");
        let raw = self
            .connection
            .query_row(&sql, [id.0], RawJob::read)
            .optional()
            .map_err(|e| StateError::sqlite(&self.path, "read a job", e))?;
        raw.map(|raw| raw.into_record(&self.path)).transpose()
    }

    /// One page of jobs matching `filter`, newest first.
    pub fn list_jobs(&self, filter: &JobFilter) -> Result<JobPage, StateError> {
        let op = "list jobs";
        let limit = filter.limit.unwrap_or(JobFilter::DEFAULT_LIMIT).clamp(1, JobFilter::MAX_LIMIT);
        let sql = format!(
            "SELECT {COLUMNS} FROM jobs WHERE (?1 IS NULL OR plan = ?1) AND (?2 IS NULL OR state = ?2) \
             AND (?3 IS NULL OR kind = ?3) AND (?4 IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?5"
        );
        let mut statement = self.connection.prepare(&sql).map_err(|e| StateError::sqlite(&self.path, op, e))?;
        let rows = statement
            .query_map(
                params![
                    filter.plan,
                    filter.state.map(JobState::as_str),
                    filter.kind.map(JobKind::as_str),
                    filter.before.map(|id| id.0),
                    i64::from(limit) + 1, // one more than asked: is there a next page?
                ],
                RawJob::read,
            )
            .map_err(|e| StateError::sqlite(&self.path, op, e))?;
        let mut jobs = Vec::new();
        for row in rows {
            let raw = row.map_err(|e| StateError::sqlite(&self.path, op, e))?;
            jobs.push(raw.into_record(&self.path)?);
        }
        let next_before = if jobs.len() > limit as usize {
            jobs.truncate(limit as usize);
            jobs.last().map(|job| job.id)
        } else {
            None
        };
        Ok(JobPage { jobs, next_before })
    }

    /// Deletes finished jobs that ended before `cutoff`, with their log lines, and returns
    /// how many went: how the service keeps the history bounded. Unfinished jobs and each
    /// plan's last success and failure are kept (their plan state points at them).
    pub fn delete_jobs_ended_before(&mut self, cutoff: DateTime<Utc>) -> Result<u64, StateError> {
        let deleted = self
            .connection
            .execute(
                "DELETE FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled') AND ended_at < ?1 \
                 AND id NOT IN (SELECT last_success_job FROM plan_state WHERE last_success_job IS NOT NULL) \
                 AND id NOT IN (SELECT last_failure_job FROM plan_state WHERE last_failure_job IS NOT NULL)",
                [millis(cutoff)],
            )
            .map_err(|e| StateError::sqlite(&self.path, "delete old jobs", e))?;
        Ok(deleted as u64)
    }
}

/// Ends job `id` inside the caller's transaction (shared by [`StateStore::finish_job`] and
/// the crash recovery, which passes `recovered_at`).
pub(crate) fn finish_in(
    tx: &Connection,
    path: &str,
    id: JobId,
    outcome: &JobOutcome,
    at: DateTime<Utc>,
    recovered_at: Option<DateTime<Utc>>,
) -> Result<(), StateError> {
    let op = "finish";
    let (state, kind, plan) = current(tx, path, id)?;
    let allowed = match state {
        JobState::Running => true,
        JobState::Queued => !matches!(outcome.result, JobResult::Succeeded),
        _ => false,
    };
    if !allowed {
        return Err(wrong_state(path, op, id, state));
    }
    let (new_state, error) = match &outcome.result {
        JobResult::Succeeded => (JobState::Succeeded, None),
        JobResult::Failed { error } => (JobState::Failed, Some(error.as_str())),
        JobResult::Cancelled { reason } => (JobState::Cancelled, Some(reason.as_str())),
    };
    let read = outcome.bytes_read.map(|n| count_in(path, op, "bytes read", n)).transpose()?;
    let stored = outcome.bytes_stored.map(|n| count_in(path, op, "bytes stored", n)).transpose()?;
    tx.execute(
        "UPDATE jobs SET state = ?2, ended_at = ?3, error = ?4, bytes_read = coalesce(?5, bytes_read), \
         bytes_stored = coalesce(?6, bytes_stored), backup_id = coalesce(?7, backup_id), recovered_at = ?8 \
         WHERE id = ?1",
        params![id.0, new_state.as_str(), millis(at), error, read, stored, outcome.backup_id, recovered_at.map(millis)],
    )
    .map_err(|e| StateError::sqlite(path, "record a job's end", e))?;
    if kind == JobKind::Backup {
        plan_state::record_backup_end(tx, path, &plan, id, new_state, outcome.backup_id.as_deref(), at)?;
    }
    Ok(())
}

/// A job's state, kind and plan, or [`StateError::NoSuchJob`].
fn current(connection: &Connection, path: &str, id: JobId) -> Result<(JobState, JobKind, String), StateError> {
    let row: Option<(String, String, String)> = connection
        .query_row("SELECT state, kind, plan FROM jobs WHERE id = ?1", [id.0], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()
        .map_err(|e| StateError::sqlite(path, "read a job's state", e))?;
    let Some((state, kind, plan)) = row else {
        return Err(StateError::NoSuchJob { path: path.to_owned(), job: id.0 });
    };
    Ok((parse_text(path, "jobs", "state", &state)?, parse_text(path, "jobs", "kind", &kind)?, plan))
}

fn wrong_state(path: &str, op: &'static str, id: JobId, state: JobState) -> StateError {
    StateError::WrongJobState { path: path.to_owned(), op, job: id.0, state: state.to_string() }
}

/// A row as SQLite returns it, before the strict conversion.
struct RawJob {
    id: i64,
    plan: String,
    kind: String,
    trigger: String,
    requested_by: Option<String>,
    state: String,
    repository: Option<String>,
    scheduled_for: Option<i64>,
    queued_at: i64,
    started_at: Option<i64>,
    ended_at: Option<i64>,
    bytes_read: Option<i64>,
    bytes_stored: Option<i64>,
    backup_id: Option<String>,
    error: Option<String>,
    attempt: i64,
    retry_of: Option<i64>,
    recovered_at: Option<i64>,
    log_lines: i64,
}

impl RawJob {
    fn read(row: &Row<'_>) -> rusqlite::Result<RawJob> {
        Ok(RawJob {
            id: row.get(0)?,
            plan: row.get(1)?,
            kind: row.get(2)?,
            trigger: row.get(3)?,
            requested_by: row.get(4)?,
            state: row.get(5)?,
            repository: row.get(6)?,
            scheduled_for: row.get(7)?,
            queued_at: row.get(8)?,
            started_at: row.get(9)?,
            ended_at: row.get(10)?,
            bytes_read: row.get(11)?,
            bytes_stored: row.get(12)?,
            backup_id: row.get(13)?,
            error: row.get(14)?,
            attempt: row.get(15)?,
            retry_of: row.get(16)?,
            recovered_at: row.get(17)?,
            log_lines: row.get(18)?,
        })
    }

    fn into_record(self, path: &str) -> Result<JobRecord, StateError> {
        const T: &str = "jobs";
        Ok(JobRecord {
            id: JobId(self.id),
            kind: parse_text(path, T, "kind", &self.kind)?,
            trigger: parse_text(path, T, "trigger", &self.trigger)?,
            state: parse_text(path, T, "state", &self.state)?,
            scheduled_for: opt_time(path, T, "scheduled_for", self.scheduled_for)?,
            queued_at: time(path, T, "queued_at", self.queued_at)?,
            started_at: opt_time(path, T, "started_at", self.started_at)?,
            ended_at: opt_time(path, T, "ended_at", self.ended_at)?,
            bytes_read: opt_count_out(path, T, "bytes_read", self.bytes_read)?,
            bytes_stored: opt_count_out(path, T, "bytes_stored", self.bytes_stored)?,
            attempt: u32::try_from(self.attempt).map_err(|_| StateError::BadValue {
                path: path.to_owned(),
                table: T,
                column: "attempt",
                value: self.attempt.to_string(),
            })?,
            retry_of: self.retry_of.map(JobId),
            recovered_at: opt_time(path, T, "recovered_at", self.recovered_at)?,
            log_lines: opt_count_out(path, T, "log_lines", Some(self.log_lines))?.unwrap_or(0),
            plan: self.plan,
            requested_by: self.requested_by,
            repository: self.repository,
            backup_id: self.backup_id,
            error: self.error,
        })
    }
}

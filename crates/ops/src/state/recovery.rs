//! Crash recovery at open: the jobs a dead owner left queued or running are marked failed.
//!
//! The owner lock (`<state>.lock`, an `flock` the kernel drops when a process dies, SIGKILL
//! included) guarantees that no live process owns those jobs when this runs.

use chrono::{DateTime, Utc};
use rusqlite::TransactionBehavior;

use super::error::StateError;
use super::handle::StateStore;
use super::job_types::{JobId, JobOutcome, JobResult};
use super::jobs::finish_in;

/// The error a job found `running` at open gets.
pub const RECOVERED_RUNNING: &str = "lifeboatd stopped while the job was running";

/// The error a job found `queued` at open gets (it never started).
pub const RECOVERED_QUEUED: &str = "lifeboatd stopped while the job was queued";

/// Marks every queued or running job failed at `now`, with [`RECOVERED_RUNNING`] or
/// [`RECOVERED_QUEUED`], and remembers which (see [`StateStore::recovered_at_open`]).
pub(crate) fn recover(store: &mut StateStore, now: DateTime<Utc>) -> Result<(), StateError> {
    let path = store.path.clone();
    let op = "mark the jobs of a stopped lifeboatd failed";
    let tx = store
        .connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| StateError::sqlite(&path, op, e))?;
    let unfinished: Vec<(i64, String)> = {
        let mut statement = tx
            .prepare("SELECT id, state FROM jobs WHERE state IN ('queued', 'running') ORDER BY id")
            .map_err(|e| StateError::sqlite(&path, op, e))?;
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(|e| StateError::sqlite(&path, op, e))?;
        rows.collect::<Result<_, _>>().map_err(|e| StateError::sqlite(&path, op, e))?
    };
    let mut recovered = Vec::with_capacity(unfinished.len());
    for (id, state) in unfinished {
        let reason = if state == "running" { RECOVERED_RUNNING } else { RECOVERED_QUEUED };
        let outcome = JobOutcome::of(JobResult::Failed { error: reason.to_owned() });
        finish_in(&tx, &path, JobId(id), &outcome, now, Some(now))?;
        recovered.push(JobId(id));
    }
    tx.commit().map_err(|e| StateError::sqlite(&path, op, e))?;
    store.recovered = recovered;
    Ok(())
}

impl StateStore {
    /// The jobs this handle marked failed when it opened (empty for an attached handle).
    pub fn recovered_at_open(&self) -> &[JobId] {
        &self.recovered
    }
}

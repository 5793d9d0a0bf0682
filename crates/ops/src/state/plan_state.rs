//! The plan_state table: each plan's last runs and its schedule's next run and skipped slots.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::columns::{count_out, millis, opt_time, time};
use super::error::StateError;
use super::handle::StateStore;
use super::job_types::{JobId, JobState};

const COLUMNS: &str = "plan, last_success, last_success_job, last_failure, last_failure_job, last_backup_id, \
                       next_run, skipped_slots, last_skipped_slot, updated_at";

/// What the state knows of one plan. Serialises as the API's per-plan status fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanState {
    /// The plan's name.
    pub plan: String,
    /// When its last succeeded backup job ended.
    pub last_success: Option<DateTime<Utc>>,
    /// That job.
    pub last_success_job: Option<JobId>,
    /// When its last failed backup job ended.
    pub last_failure: Option<DateTime<Utc>>,
    /// That job.
    pub last_failure_job: Option<JobId>,
    /// The backup its last succeeded backup job made.
    pub last_backup_id: Option<String>,
    /// The next slot of its schedule, as the scheduler last computed it.
    pub next_run: Option<DateTime<Utc>>,
    /// How many slots were skipped in all (missed-run or overlap policy `skip`).
    pub skipped_slots: u64,
    /// The latest skipped slot.
    pub last_skipped_slot: Option<DateTime<Utc>>,
    /// When this row last changed.
    pub updated_at: DateTime<Utc>,
}

impl StateStore {
    /// What the state knows of `plan`, if anything.
    pub fn plan_state(&self, plan: &str) -> Result<Option<PlanState>, StateError> {
        let sql = format!("SELECT {COLUMNS} FROM plan_state WHERE plan = ?1");
        let raw = self
            .connection
            .query_row(&sql, [plan], RawPlanState::read)
            .optional()
            .map_err(|e| StateError::sqlite(&self.path, "read a plan's state", e))?;
        raw.map(|raw| raw.into_state(&self.path)).transpose()
    }

    /// Every plan the state knows of, by name.
    pub fn plan_states(&self) -> Result<Vec<PlanState>, StateError> {
        let op = "list the plans' states";
        let sql = format!("SELECT {COLUMNS} FROM plan_state ORDER BY plan");
        let mut statement = self.connection.prepare(&sql).map_err(|e| StateError::sqlite(&self.path, op, e))?;
        let rows = statement.query_map([], RawPlanState::read).map_err(|e| StateError::sqlite(&self.path, op, e))?;
        let mut states = Vec::new();
        for row in rows {
            let raw = row.map_err(|e| StateError::sqlite(&self.path, op, e))?;
            states.push(raw.into_state(&self.path)?);
        }
        Ok(states)
    }

    /// Records the next slot of `plan`'s schedule (`None`: nothing is due), at `at`.
    pub fn set_next_run(
        &mut self,
        plan: &str,
        next_run: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<(), StateError> {
        self.connection
            .execute(
                "INSERT INTO plan_state (plan, next_run, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (plan) DO UPDATE SET next_run = excluded.next_run, updated_at = excluded.updated_at",
                params![plan, next_run.map(millis), millis(at)],
            )
            .map_err(|e| StateError::sqlite(&self.path, "record a plan's next run", e))?;
        Ok(())
    }

    /// Records that the slot `slot` of `plan` was skipped (by the missed-run or overlap
    /// policy), at `at`.
    pub fn record_skipped_slot(
        &mut self,
        plan: &str,
        slot: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StateError> {
        self.connection
            .execute(
                "INSERT INTO plan_state (plan, skipped_slots, last_skipped_slot, updated_at) VALUES (?1, 1, ?2, ?3) \
                 ON CONFLICT (plan) DO UPDATE SET skipped_slots = skipped_slots + 1, \
                 last_skipped_slot = max(coalesce(last_skipped_slot, excluded.last_skipped_slot), \
                 excluded.last_skipped_slot), updated_at = excluded.updated_at",
                params![plan, millis(slot), millis(at)],
            )
            .map_err(|e| StateError::sqlite(&self.path, "record a skipped slot", e))?;
        Ok(())
    }

    /// Records that `count` slots of `plan` were skipped, the latest `last`, at `at`: one
    /// write for a group of slots (a week of downtime of a 15-minute schedule is 672).
    pub fn record_skipped_slots(
        &mut self,
        plan: &str,
        count: u64,
        last: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StateError> {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        self.connection
            .execute(
                "INSERT INTO plan_state (plan, skipped_slots, last_skipped_slot, updated_at) VALUES (?1, ?4, ?2, ?3) \
                 ON CONFLICT (plan) DO UPDATE SET skipped_slots = skipped_slots + ?4, \
                 last_skipped_slot = max(coalesce(last_skipped_slot, excluded.last_skipped_slot), \
                 excluded.last_skipped_slot), updated_at = excluded.updated_at",
                params![plan, millis(last), millis(at), count],
            )
            .map_err(|e| StateError::sqlite(&self.path, "record skipped slots", e))?;
        Ok(())
    }

    /// Forgets `plan`'s state (a plan removed from the config); its jobs stay as history.
    /// Returns whether there was a row.
    pub fn remove_plan_state(&mut self, plan: &str) -> Result<bool, StateError> {
        let deleted = self
            .connection
            .execute("DELETE FROM plan_state WHERE plan = ?1", [plan])
            .map_err(|e| StateError::sqlite(&self.path, "remove a plan's state", e))?;
        Ok(deleted > 0)
    }
}

/// Updates `plan`'s last success or failure after its backup job `job` ended in `state`,
/// inside the caller's transaction. A cancelled backup changes neither.
pub(crate) fn record_backup_end(
    tx: &Connection,
    path: &str,
    plan: &str,
    job: JobId,
    state: JobState,
    backup_id: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), StateError> {
    let op = "record a plan's last run";
    let done = match state {
        JobState::Succeeded => tx.execute(
            "INSERT INTO plan_state (plan, last_success, last_success_job, last_backup_id, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?2) ON CONFLICT (plan) DO UPDATE SET last_success = excluded.last_success, \
             last_success_job = excluded.last_success_job, \
             last_backup_id = coalesce(excluded.last_backup_id, last_backup_id), updated_at = excluded.updated_at",
            params![plan, millis(at), job.0, backup_id],
        ),
        JobState::Failed => tx.execute(
            "INSERT INTO plan_state (plan, last_failure, last_failure_job, updated_at) VALUES (?1, ?2, ?3, ?2) \
             ON CONFLICT (plan) DO UPDATE SET last_failure = excluded.last_failure, \
             last_failure_job = excluded.last_failure_job, updated_at = excluded.updated_at",
            params![plan, millis(at), job.0],
        ),
        _ => return Ok(()),
    };
    done.map_err(|e| StateError::sqlite(path, op, e))?;
    Ok(())
}

struct RawPlanState {
    plan: String,
    last_success: Option<i64>,
    last_success_job: Option<i64>,
    last_failure: Option<i64>,
    last_failure_job: Option<i64>,
    last_backup_id: Option<String>,
    next_run: Option<i64>,
    skipped_slots: i64,
    last_skipped_slot: Option<i64>,
    updated_at: i64,
}

impl RawPlanState {
    fn read(row: &Row<'_>) -> rusqlite::Result<RawPlanState> {
        Ok(RawPlanState {
            plan: row.get(0)?,
            last_success: row.get(1)?,
            last_success_job: row.get(2)?,
            last_failure: row.get(3)?,
            last_failure_job: row.get(4)?,
            last_backup_id: row.get(5)?,
            next_run: row.get(6)?,
            skipped_slots: row.get(7)?,
            last_skipped_slot: row.get(8)?,
            updated_at: row.get(9)?,
        })
    }

    fn into_state(self, path: &str) -> Result<PlanState, StateError> {
        const T: &str = "plan_state";
        Ok(PlanState {
            last_success: opt_time(path, T, "last_success", self.last_success)?,
            last_success_job: self.last_success_job.map(JobId),
            last_failure: opt_time(path, T, "last_failure", self.last_failure)?,
            last_failure_job: self.last_failure_job.map(JobId),
            next_run: opt_time(path, T, "next_run", self.next_run)?,
            skipped_slots: count_out(path, T, "skipped_slots", self.skipped_slots)?,
            last_skipped_slot: opt_time(path, T, "last_skipped_slot", self.last_skipped_slot)?,
            updated_at: time(path, T, "updated_at", self.updated_at)?,
            plan: self.plan,
            last_backup_id: self.last_backup_id,
        })
    }
}

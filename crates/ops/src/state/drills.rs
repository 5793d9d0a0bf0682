//! Drill and recovery reports kept in the state (schema v5, table `drill_reports`): a
//! summary in columns for the API, metrics and alerts, and the whole report as JSON.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::columns::{millis, time};
use super::error::StateError;
use super::handle::StateStore;

const COLUMNS: &str = "id, kind, plan, scenario, started, finished, passed, rto_seconds, rpo_seconds, \
                       largest_gap_seconds, objectives_met, failure, report";
const TABLE: &str = "drill_reports";

/// One kept report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrillRecord {
    /// The report's id (`drill-...`, `recovery-...`).
    pub id: String,
    /// `drill` or `recovery`.
    pub kind: String,
    /// The plan drilled (a plan drill), else `None`.
    pub plan: Option<String>,
    /// The scenario drilled or recovered, else `None`.
    pub scenario: Option<String>,
    /// When it started.
    pub started: DateTime<Utc>,
    /// When it ended.
    pub finished: DateTime<Utc>,
    /// Every step passed.
    pub passed: bool,
    /// Measured RTO.
    pub rto_seconds: f64,
    /// The age of the backup used.
    pub rpo_seconds: Option<i64>,
    /// The largest gap between backups in the window.
    pub largest_gap_seconds: Option<i64>,
    /// The objectives set were met (`None`: none set).
    pub objectives_met: Option<bool>,
    /// The first failure.
    pub failure: Option<String>,
    /// The whole report (`lifeboat_ops::dr::DrillReport` as JSON).
    pub report: serde_json::Value,
}

/// Which reports to list.
#[derive(Debug, Clone, Default)]
pub struct DrillFilter {
    /// Only this plan's (plan drills, and scenarios that restore it).
    pub plan: Option<String>,
    /// Only this scenario's.
    pub scenario: Option<String>,
    /// At most this many, newest first (default 100).
    pub limit: Option<u32>,
}

/// The plans a report restored: its `plan`, and every step's `plan` in the JSON, as the
/// ` a b ` column the plan filter searches.
fn plans_column(record: &DrillRecord) -> String {
    let mut plans: Vec<&str> = record.plan.iter().map(String::as_str).collect();
    if let Some(steps) = record.report.get("steps").and_then(|s| s.as_array()) {
        plans.extend(steps.iter().filter_map(|s| s.get("plan").and_then(|p| p.as_str())));
    }
    plans.sort_unstable();
    plans.dedup();
    format!(" {} ", plans.join(" "))
}

impl StateStore {
    /// Keeps a report (an id kept before is replaced).
    pub fn insert_drill_report(&mut self, record: &DrillRecord) -> Result<(), StateError> {
        let op = "keep a drill report";
        if record.kind != "drill" && record.kind != "recovery" {
            return Err(StateError::InvalidInput {
                path: self.path.clone(),
                op,
                reason: format!("report {} has kind {:?} (drill or recovery)", record.id, record.kind),
            });
        }
        let report = serde_json::to_string(&record.report).map_err(|e| StateError::InvalidInput {
            path: self.path.clone(),
            op,
            reason: format!("report {} does not encode as JSON: {e}", record.id),
        })?;
        self.connection
            .execute(
                "INSERT OR REPLACE INTO drill_reports (id, kind, plan, scenario, plans, started, finished, passed, \
                 rto_seconds, rpo_seconds, largest_gap_seconds, objectives_met, failure, report) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    record.id,
                    record.kind,
                    record.plan,
                    record.scenario,
                    plans_column(record),
                    millis(record.started),
                    millis(record.finished),
                    record.passed,
                    record.rto_seconds,
                    record.rpo_seconds,
                    record.largest_gap_seconds,
                    record.objectives_met,
                    record.failure,
                    report,
                ],
            )
            .map_err(|e| StateError::sqlite(&self.path, op, e))?;
        Ok(())
    }

    /// Reports, newest first.
    pub fn drill_reports(&self, filter: &DrillFilter) -> Result<Vec<DrillRecord>, StateError> {
        let op = "list drill reports";
        let limit = i64::from(filter.limit.unwrap_or(100));
        let mut statement = self
            .connection
            .prepare(&format!(
                "SELECT {COLUMNS} FROM {TABLE} \
                 WHERE (?1 IS NULL OR plan = ?1 OR instr(plans, ' ' || ?1 || ' ') > 0) \
                 AND (?2 IS NULL OR scenario = ?2) \
                 ORDER BY started DESC, id DESC LIMIT ?3"
            ))
            .map_err(|e| StateError::sqlite(&self.path, op, e))?;
        let rows = statement
            .query_map(params![filter.plan, filter.scenario, limit], raw_row)
            .map_err(|e| StateError::sqlite(&self.path, op, e))?;
        let mut records = Vec::new();
        for row in rows {
            records.push(self.record(row.map_err(|e| StateError::sqlite(&self.path, op, e))?)?);
        }
        Ok(records)
    }

    /// The report `id`.
    pub fn drill_report(&self, id: &str) -> Result<Option<DrillRecord>, StateError> {
        let op = "read a drill report";
        let raw = self
            .connection
            .query_row(&format!("SELECT {COLUMNS} FROM {TABLE} WHERE id = ?1"), [id], raw_row)
            .optional()
            .map_err(|e| StateError::sqlite(&self.path, op, e))?;
        raw.map(|raw| self.record(raw)).transpose()
    }

    fn record(&self, raw: RawRow) -> Result<DrillRecord, StateError> {
        let report = serde_json::from_str(&raw.report).map_err(|_| StateError::BadValue {
            path: self.path.clone(),
            table: TABLE,
            column: "report",
            value: raw.report.chars().take(64).collect(),
        })?;
        Ok(DrillRecord {
            id: raw.id,
            kind: raw.kind,
            plan: raw.plan,
            scenario: raw.scenario,
            started: time(&self.path, TABLE, "started", raw.started)?,
            finished: time(&self.path, TABLE, "finished", raw.finished)?,
            passed: raw.passed,
            rto_seconds: raw.rto_seconds,
            rpo_seconds: raw.rpo_seconds,
            largest_gap_seconds: raw.largest_gap_seconds,
            objectives_met: raw.objectives_met,
            failure: raw.failure,
            report,
        })
    }
}

struct RawRow {
    id: String,
    kind: String,
    plan: Option<String>,
    scenario: Option<String>,
    started: i64,
    finished: i64,
    passed: bool,
    rto_seconds: f64,
    rpo_seconds: Option<i64>,
    largest_gap_seconds: Option<i64>,
    objectives_met: Option<bool>,
    failure: Option<String>,
    report: String,
}

fn raw_row(row: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        id: row.get(0)?,
        kind: row.get(1)?,
        plan: row.get(2)?,
        scenario: row.get(3)?,
        started: row.get(4)?,
        finished: row.get(5)?,
        passed: row.get(6)?,
        rto_seconds: row.get(7)?,
        rpo_seconds: row.get(8)?,
        largest_gap_seconds: row.get(9)?,
        objectives_met: row.get(10)?,
        failure: row.get(11)?,
        report: row.get(12)?,
    })
}

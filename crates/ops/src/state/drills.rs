//! Drill and recovery reports kept in the state (schema v5): a summary in columns for the
//! API, metrics and alerts, and the whole report as JSON.
//!
//! Placeholder (issue 13): the dr helper adds the migration and the SQL.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::StateError;
use super::handle::StateStore;

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

impl StateStore {
    /// Keeps a report (an id kept before is replaced).
    pub fn insert_drill_report(&mut self, record: &DrillRecord) -> Result<(), StateError> {
        let _ = record;
        Ok(())
    }

    /// Reports, newest first.
    pub fn drill_reports(&self, filter: &DrillFilter) -> Result<Vec<DrillRecord>, StateError> {
        let _ = filter;
        Ok(Vec::new())
    }

    /// The report `id`.
    pub fn drill_report(&self, id: &str) -> Result<Option<DrillRecord>, StateError> {
        let _ = id;
        Ok(None)
    }
}

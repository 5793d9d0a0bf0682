//! The alerts table (`alerts`, one row per alert, at most one open per fingerprint) and
//! `alert_watch` (when the service first saw each plan, the start of a never-succeeded
//! plan's RPO). The engine is `crate::alerts`; this is only storage.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::columns::{TextColumn, count_out, millis, opt_time, parse_text, time};
use super::error::StateError;
use super::handle::StateStore;
use crate::alerts::{
    Acknowledgement, Alert, AlertFilter, AlertRule, AlertState, AlertStateFilter, Condition, Severity,
};

const COLUMNS: &str = "id, rule, severity, plan, repository, summary, details, job, state, first_seen, last_seen, \
                       occurrences, resolved_at, ack_by, ack_comment, ack_at, ack_until";
const OPEN: &str = "state IN ('firing', 'acknowledged')";

impl TextColumn for AlertRule {
    const ALL: &'static [Self] = AlertRule::ALL;
    fn as_str(self) -> &'static str {
        AlertRule::as_str(self)
    }
}

impl TextColumn for Severity {
    const ALL: &'static [Self] = &[Severity::Info, Severity::Warning, Severity::Critical];
    fn as_str(self) -> &'static str {
        Severity::as_str(self)
    }
}

impl TextColumn for AlertState {
    const ALL: &'static [Self] = &[AlertState::Firing, AlertState::Acknowledged, AlertState::Resolved];
    fn as_str(self) -> &'static str {
        AlertState::as_str(self)
    }
}

/// What [`StateStore::raise_alert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    /// A new alert was opened.
    Opened,
    /// The open alert was updated (a repeat).
    Updated,
    /// The open alert was acknowledged until a time that has passed: it fires again.
    Refired,
}

/// What [`StateStore::acknowledge_alert`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckOutcome {
    /// Acknowledged: the alert as it is now.
    Done(Alert),
    /// No alert has this id.
    NotFound,
    /// The alert has resolved already.
    Resolved(Alert),
}

/// The stored row id of an alert id `A17` (`None`: not an alert id).
pub fn alert_row_id(id: &str) -> Option<i64> {
    id.strip_prefix('A').and_then(|n| n.parse::<i64>().ok()).filter(|n| *n > 0)
}

impl StateStore {
    /// Records that `condition` holds at `at`: updates the open alert of its fingerprint
    /// (last seen, occurrences, summary, details, job; an acknowledgement whose `until` has
    /// passed turns it firing again) or opens a new one.
    pub fn raise_alert(&mut self, condition: &Condition, at: DateTime<Utc>) -> Result<(Alert, Raised), StateError> {
        let op = "record an alert";
        let path = self.path.clone();
        let sqlite = |e| StateError::sqlite(&path, op, e);
        let fingerprint = condition.fingerprint();
        let tx = self.connection.transaction().map_err(sqlite)?;
        let open: Option<(i64, String, Option<i64>)> = tx
            .query_row(
                &format!("SELECT id, state, ack_until FROM alerts WHERE fingerprint = ?1 AND {OPEN}"),
                [&fingerprint],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(sqlite)?;
        let job = condition.job.map(|j| j as i64);
        let (id, raised) = match open {
            Some((id, state, until)) => {
                let expired = state == "acknowledged" && until.is_some_and(|u| u <= millis(at));
                tx.execute(
                    "UPDATE alerts SET last_seen = ?2, occurrences = occurrences + 1, summary = ?3, \
                     details = ?4, job = coalesce(?5, job), state = CASE WHEN ?6 THEN 'firing' ELSE state END \
                     WHERE id = ?1",
                    params![id, millis(at), condition.summary, condition.details, job, expired],
                )
                .map_err(sqlite)?;
                (id, if expired { Raised::Refired } else { Raised::Updated })
            }
            None => {
                tx.execute(
                    "INSERT INTO alerts (fingerprint, rule, severity, plan, repository, summary, details, job, \
                     state, first_seen, last_seen, occurrences) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'firing', ?9, ?9, 1)",
                    params![
                        fingerprint,
                        condition.rule.as_str(),
                        condition.rule.severity().as_str(),
                        condition.plan,
                        condition.repository,
                        condition.summary,
                        condition.details,
                        job,
                        millis(at)
                    ],
                )
                .map_err(sqlite)?;
                (tx.last_insert_rowid(), Raised::Opened)
            }
        };
        tx.commit().map_err(sqlite)?;
        let alert = self.alert(id)?.ok_or_else(|| StateError::Internal {
            path: self.path.clone(),
            reason: format!("alert A{id} vanished after it was recorded"),
        })?;
        Ok((alert, raised))
    }

    /// Resolves the open alert of `fingerprint` at `at`, if there is one.
    pub fn resolve_alert(&mut self, fingerprint: &str, at: DateTime<Utc>) -> Result<Option<Alert>, StateError> {
        let id: Option<i64> = self
            .connection
            .query_row(
                &format!(
                    "UPDATE alerts SET state = 'resolved', resolved_at = ?2 WHERE fingerprint = ?1 AND {OPEN} \
                          RETURNING id"
                ),
                params![fingerprint, millis(at)],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| StateError::sqlite(&self.path, "resolve an alert", e))?;
        id.map(|id| self.alert(id)).transpose().map(Option::flatten)
    }

    /// Acknowledges the open alert `id` as `ack` says.
    pub fn acknowledge_alert(&mut self, id: i64, ack: &Acknowledgement) -> Result<AckOutcome, StateError> {
        let Some(alert) = self.alert(id)? else { return Ok(AckOutcome::NotFound) };
        if !alert.is_open() {
            return Ok(AckOutcome::Resolved(alert));
        }
        self.connection
            .execute(
                "UPDATE alerts SET state = 'acknowledged', ack_by = ?2, ack_comment = ?3, ack_at = ?4, ack_until = ?5 \
                 WHERE id = ?1",
                params![id, ack.by, ack.comment, millis(ack.at), ack.until.map(millis)],
            )
            .map_err(|e| StateError::sqlite(&self.path, "acknowledge an alert", e))?;
        Ok(self.alert(id)?.map_or(AckOutcome::NotFound, AckOutcome::Done))
    }

    /// Turns firing again every acknowledged alert whose `until` is at or before `at`.
    pub fn refire_expired_alerts(&mut self, at: DateTime<Utc>) -> Result<Vec<Alert>, StateError> {
        let op = "re-fire expired acknowledgements";
        let ids: Vec<i64> = {
            let mut statement = self
                .connection
                .prepare(
                    "UPDATE alerts SET state = 'firing' WHERE state = 'acknowledged' AND ack_until IS NOT NULL \
                     AND ack_until <= ?1 RETURNING id",
                )
                .map_err(|e| StateError::sqlite(&self.path, op, e))?;
            let rows =
                statement.query_map([millis(at)], |r| r.get(0)).map_err(|e| StateError::sqlite(&self.path, op, e))?;
            rows.collect::<Result<_, _>>().map_err(|e| StateError::sqlite(&self.path, op, e))?
        };
        let mut out = Vec::new();
        for id in ids {
            out.extend(self.alert(id)?);
        }
        Ok(out)
    }

    /// The alert with row id `id`.
    pub fn alert(&self, id: i64) -> Result<Option<Alert>, StateError> {
        let raw = self
            .connection
            .query_row(&format!("SELECT {COLUMNS} FROM alerts WHERE id = ?1"), [id], RawAlert::read)
            .optional()
            .map_err(|e| StateError::sqlite(&self.path, "read an alert", e))?;
        raw.map(|r| r.into_alert(&self.path)).transpose()
    }

    /// Alerts as `filter` says, newest first.
    pub fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, StateError> {
        let state = match filter.state.unwrap_or(AlertStateFilter::All) {
            AlertStateFilter::Firing => "state = 'firing'",
            AlertStateFilter::Acknowledged => "state = 'acknowledged'",
            AlertStateFilter::Resolved => "state = 'resolved'",
            AlertStateFilter::Open => OPEN,
            AlertStateFilter::All => "1",
        };
        let limit = filter.limit.unwrap_or(AlertFilter::DEFAULT_LIMIT).clamp(1, AlertFilter::MAX_LIMIT);
        let sql = format!(
            "SELECT {COLUMNS} FROM alerts WHERE {state} AND (?1 IS NULL OR plan = ?1) ORDER BY id DESC LIMIT ?2"
        );
        self.read_alerts(&sql, params![filter.plan, limit])
    }

    /// Every open alert, oldest first.
    pub fn open_alerts(&self) -> Result<Vec<Alert>, StateError> {
        self.read_alerts(&format!("SELECT {COLUMNS} FROM alerts WHERE {OPEN} ORDER BY id"), params![])
    }

    fn read_alerts(&self, sql: &str, values: impl rusqlite::Params) -> Result<Vec<Alert>, StateError> {
        let op = "list alerts";
        let mut statement = self.connection.prepare(sql).map_err(|e| StateError::sqlite(&self.path, op, e))?;
        let rows = statement.query_map(values, RawAlert::read).map_err(|e| StateError::sqlite(&self.path, op, e))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(|e| StateError::sqlite(&self.path, op, e))?.into_alert(&self.path)?);
        }
        Ok(out)
    }

    /// When the service first saw `plan`: recorded now (`at`) the first time it is asked.
    pub fn watch_plan(&mut self, plan: &str, at: DateTime<Utc>) -> Result<DateTime<Utc>, StateError> {
        let ms: i64 = self
            .connection
            .query_row(
                "INSERT INTO alert_watch (plan, first_seen) VALUES (?1, ?2) \
                 ON CONFLICT (plan) DO UPDATE SET first_seen = first_seen RETURNING first_seen",
                params![plan, millis(at)],
                |r| r.get(0),
            )
            .map_err(|e| StateError::sqlite(&self.path, "record when a plan was first seen", e))?;
        time(&self.path, "alert_watch", "first_seen", ms)
    }
}

/// A row as read, before its values are checked.
struct RawAlert {
    id: i64,
    rule: String,
    severity: String,
    plan: Option<String>,
    repository: Option<String>,
    summary: String,
    details: Option<String>,
    job: Option<i64>,
    state: String,
    first_seen: i64,
    last_seen: i64,
    occurrences: i64,
    resolved_at: Option<i64>,
    ack_by: Option<String>,
    ack_comment: Option<String>,
    ack_at: Option<i64>,
    ack_until: Option<i64>,
}

impl RawAlert {
    fn read(r: &Row<'_>) -> rusqlite::Result<RawAlert> {
        Ok(RawAlert {
            id: r.get(0)?,
            rule: r.get(1)?,
            severity: r.get(2)?,
            plan: r.get(3)?,
            repository: r.get(4)?,
            summary: r.get(5)?,
            details: r.get(6)?,
            job: r.get(7)?,
            state: r.get(8)?,
            first_seen: r.get(9)?,
            last_seen: r.get(10)?,
            occurrences: r.get(11)?,
            resolved_at: r.get(12)?,
            ack_by: r.get(13)?,
            ack_comment: r.get(14)?,
            ack_at: r.get(15)?,
            ack_until: r.get(16)?,
        })
    }

    fn into_alert(self, path: &str) -> Result<Alert, StateError> {
        const T: &str = "alerts";
        let acknowledged = match (self.ack_by, self.ack_at) {
            (Some(by), Some(at)) => Some(Acknowledgement {
                by,
                comment: self.ack_comment,
                at: time(path, T, "ack_at", at)?,
                until: opt_time(path, T, "ack_until", self.ack_until)?,
            }),
            _ => None,
        };
        Ok(Alert {
            id: format!("A{}", self.id),
            rule: parse_text(path, T, "rule", &self.rule)?,
            severity: parse_text(path, T, "severity", &self.severity)?,
            plan: self.plan,
            repository: self.repository,
            summary: self.summary,
            details: self.details,
            job: self.job.map(|j| count_out(path, T, "job", j)).transpose()?,
            state: parse_text(path, T, "state", &self.state)?,
            first_seen: time(path, T, "first_seen", self.first_seen)?,
            last_seen: time(path, T, "last_seen", self.last_seen)?,
            occurrences: count_out(path, T, "occurrences", self.occurrences)?,
            resolved_at: opt_time(path, T, "resolved_at", self.resolved_at)?,
            acknowledged,
        })
    }
}

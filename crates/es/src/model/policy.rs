//! Lifeboat snapshot policies: an index pattern, a repository, a schedule and `snapshot_days`, and
//! the report of a run (see the policies handle's `run`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{EsError, Result};
use crate::model::names::{validate_index_pattern, validate_policy_name, validate_repository_name};
use crate::model::snapshot::SnapshotState;
use crate::model::time_source::TimeSource;

/// A snapshot policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotPolicy {
    /// Policy name; also the snapshot name prefix.
    pub name: String,
    /// Comma-separated index patterns to snapshot.
    pub indices: String,
    /// Target repository.
    pub repository: String,
    /// Cron schedule (Elasticsearch/Quartz syntax such as `0 30 1 * * ?`, or `@daily`), used by the
    /// scheduler; `policy run` runs now regardless.
    pub schedule: String,
    /// Keep snapshots this many days; 0 keeps them forever.
    pub snapshot_days: u32,
    /// Where the catalog takes each index's time range from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_source: Option<TimeSource>,
}

/// Light validation of a cron schedule: 5 to 7 fields of cron characters, or an `@` macro.
pub fn validate_schedule(s: &str) -> Result<()> {
    let t = s.trim();
    if matches!(t, "@hourly" | "@daily" | "@midnight" | "@weekly" | "@monthly" | "@yearly" | "@annually") {
        return Ok(());
    }
    let fields: Vec<&str> = t.split_whitespace().collect();
    let charset_ok = fields.iter().all(|f| f.chars().all(|c| c.is_ascii_alphanumeric() || "*/,-?#".contains(c)));
    if (5..=7).contains(&fields.len()) && charset_ok {
        Ok(())
    } else {
        Err(EsError::invalid("schedule", s, "use a cron expression such as '0 30 1 * * ?' or '@daily'"))
    }
}

impl SnapshotPolicy {
    /// Builds and validates a policy.
    pub fn new(name: &str, indices: &str, repository: &str, schedule: &str, snapshot_days: u32) -> Result<Self> {
        let p = SnapshotPolicy {
            name: name.to_string(),
            indices: indices.to_string(),
            repository: repository.to_string(),
            schedule: schedule.to_string(),
            snapshot_days,
            time_source: None,
        };
        p.validate()?;
        Ok(p)
    }

    /// Sets where index time ranges come from.
    pub fn with_time_source(mut self, source: TimeSource) -> Result<Self> {
        source.validate()?;
        self.time_source = Some(source);
        Ok(self)
    }

    /// Validates every field.
    pub fn validate(&self) -> Result<()> {
        validate_policy_name(&self.name)?;
        validate_index_pattern(&self.indices)?;
        validate_repository_name(&self.repository)?;
        validate_schedule(&self.schedule)?;
        if let Some(ts) = &self.time_source {
            ts.validate()?;
        }
        Ok(())
    }

    /// The date-math snapshot name sent to Elasticsearch.
    pub fn date_math_name(&self) -> String {
        format!("<{}-{{now/d}}>", self.name)
    }

    /// The name the date math resolves to on `day` (UTC).
    pub fn snapshot_name_for(&self, day: NaiveDate) -> String {
        format!("{}-{}", self.name, day.format("%Y.%m.%d"))
    }

    /// True when `snapshot` was taken by this policy (`{name}-yyyy.MM.dd`).
    pub fn owns_snapshot(&self, snapshot: &str) -> bool {
        let Some(rest) = snapshot.strip_prefix(&self.name).and_then(|r| r.strip_prefix('-')) else {
            return false;
        };
        rest.len() == 10 && NaiveDate::parse_from_str(rest, "%Y.%m.%d").is_ok()
    }
}

/// Which of a policy's snapshots a run deletes afterwards. Whatever the rule, the newest
/// `SUCCESS` snapshot is never deleted and a running one never is; age is judged by
/// [`SnapshotInfo::taken_at`](crate::model::SnapshotInfo::taken_at) against the manager's clock.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum PolicyRetention {
    /// The policy's own `snapshot_days` (0 keeps everything).
    #[default]
    PolicyDays,
    /// lifeboat-retention's rules (`keep-within`, `keep-daily`, ... as `lifeboat forget` applies
    /// them) over the policy's snapshots as one group; a policy with no rule keeps everything.
    Rules(lifeboat_retention::Policy),
}

/// A snapshot delete that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteFailure {
    /// Snapshot name.
    pub snapshot: String,
    /// The error.
    pub error: String,
}

/// What a policy run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRunReport {
    /// Policy name.
    pub policy: String,
    /// Repository.
    pub repository: String,
    /// Today's snapshot.
    pub snapshot: String,
    /// Its state (always `SUCCESS` in a returned report; failures are errors).
    pub state: SnapshotState,
    /// True when today's snapshot already existed and was reused.
    pub already_existed: bool,
    /// Indices in the snapshot.
    pub indices: Vec<String>,
    /// Catalog entries written.
    pub catalogued: usize,
    /// Snapshots deleted by retention.
    pub deleted: Vec<String>,
    /// Deletes that failed even after retrying.
    pub delete_failures: Vec<DeleteFailure>,
    /// The policy's snapshots that remain.
    pub kept: Vec<String>,
    /// When the run started.
    pub started_at: DateTime<Utc>,
}

impl PolicyRunReport {
    /// True when the snapshot succeeded and every expired snapshot was deleted.
    pub fn is_success(&self) -> bool {
        self.state == SnapshotState::Success && self.delete_failures.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_and_ownership() {
        let p = SnapshotPolicy::new("nightly", "logs-*", "repo", "0 30 1 * * ?", 7).unwrap();
        assert_eq!(p.date_math_name(), "<nightly-{now/d}>");
        let day = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
        assert_eq!(p.snapshot_name_for(day), "nightly-2024.05.01");
        assert!(p.owns_snapshot("nightly-2024.05.01"));
        assert!(!p.owns_snapshot("nightly-extra-2024.05.01"));
        assert!(!p.owns_snapshot("nightly-2024.05.01-x"));
        assert!(!p.owns_snapshot("other-2024.05.01"));
    }

    #[test]
    fn policy_validation() {
        assert!(SnapshotPolicy::new("Bad", "logs-*", "repo", "@daily", 7).is_err());
        assert!(SnapshotPolicy::new("ok", "*", "repo", "@daily", 7).is_err());
        assert!(SnapshotPolicy::new("ok", "logs-*", "re#po", "@daily", 7).is_err());
        assert!(SnapshotPolicy::new("ok", "logs-*", "repo", "every day", 7).is_err());
        assert!(SnapshotPolicy::new("ok", "logs-*", "repo", "0 0 * * *", 0).is_ok());
        let p = SnapshotPolicy::new("ok", "logs-*", "repo", "@daily", 1).unwrap();
        assert!(p.clone().with_time_source(TimeSource::IndexName { pattern: "logs-{YYYY.MM.DD}".into() }).is_ok());
        assert!(p.with_time_source(TimeSource::IndexName { pattern: "logs-*".into() }).is_err());
    }
}

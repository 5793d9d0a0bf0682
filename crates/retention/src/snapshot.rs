//! What the engine reads (a backup) and what it returns (a decision).

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// One backup (or any other expirable item) as the retention engine sees it.
///
/// `time` keeps the UTC offset the backup was recorded with: calendar buckets (hour,
/// day, ISO week, month, year) are read in that offset, exactly as restic does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Unique id of the backup.
    pub id: String,
    /// When the backup was taken, with its own UTC offset.
    pub time: DateTime<FixedOffset>,
    /// Tags of the backup.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Host the backup was made on.
    #[serde(default)]
    pub host: String,
    /// Plan that made the backup.
    #[serde(default)]
    pub plan: String,
    /// The backup is still being written: it is never forgotten and takes no part in
    /// the policy (it neither fills a bucket nor serves as the newest backup).
    #[serde(default)]
    pub in_progress: bool,
    /// The backup's objects are held by an object lock (WORM retention) until then: it
    /// is never forgotten while the lock holds. It still takes part in the policy.
    #[serde(default)]
    pub locked_until: Option<DateTime<FixedOffset>>,
}

impl Snapshot {
    /// A completed, unlocked, untagged backup with empty host and plan.
    pub fn new(id: impl Into<String>, time: DateTime<FixedOffset>) -> Self {
        Snapshot {
            id: id.into(),
            time,
            tags: Vec::new(),
            host: String::new(),
            plan: String::new(),
            in_progress: false,
            locked_until: None,
        }
    }

    /// Sets the tags.
    pub fn with_tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the host.
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// Sets the plan.
    pub fn with_plan(mut self, plan: impl Into<String>) -> Self {
        self.plan = plan.into();
        self
    }

    /// Marks the backup as still being written.
    pub fn with_in_progress(mut self, in_progress: bool) -> Self {
        self.in_progress = in_progress;
        self
    }

    /// Sets the object-lock expiry.
    pub fn with_locked_until(mut self, until: Option<DateTime<FixedOffset>>) -> Self {
        self.locked_until = until;
        self
    }
}

/// What to do with one backup, and why.
///
/// Kept backups list every rule that keeps them, in restic's order (tags, `within`,
/// last, hourly, daily, weekly, monthly, yearly, the `within-*` rules), followed by the
/// safety holds (`in progress`, `object lock until ...`). Forgotten backups carry one
/// reason too (`matched no keep rule`, or for expiry `expired ...`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The backup's id.
    pub id: String,
    /// `true` to keep, `false` to forget.
    pub keep: bool,
    /// Why, e.g. `["daily snapshot", "weekly snapshot"]`.
    pub reasons: Vec<String>,
}

/// The reason a backup that no rule keeps is forgotten with.
pub const REASON_NO_RULE: &str = "matched no keep rule";
/// The reason a backup still being written is kept with.
pub const REASON_IN_PROGRESS: &str = "in progress";

/// The reason a backup held by an object lock is kept with.
pub fn reason_locked(until: &DateTime<FixedOffset>) -> String {
    format!("object lock until {}", until.to_rfc3339())
}

//! "Keep for N days" expiry, for Elasticsearch snapshots, restored indices and exports.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::snapshot::{REASON_IN_PROGRESS, reason_locked};
use crate::{Decision, RetentionError, Snapshot};

/// Keep an item for a number of days after it was made; `0` keeps it forever.
///
/// Unlike a [`Policy`](crate::Policy), expiry is measured against a supplied `now`, not
/// against the newest item: a restored index asked for "7 days" must go 7 days after the
/// restore, whatever else happened. A day is 24 hours of elapsed time.
///
/// Serialised as the bare number of days (`keep-days = 30` in a config).
///
/// ```
/// use chrono::{DateTime, Utc};
/// use lifeboat_retention::Expiry;
/// let made = DateTime::parse_from_rfc3339("2024-05-01T10:00:00+02:00").unwrap();
/// let now: DateTime<Utc> = "2024-05-08T08:00:00Z".parse().unwrap();
/// assert!(Expiry::days(7).is_expired(&made, now));
/// assert!(!Expiry::days(8).is_expired(&made, now));
/// assert!(!Expiry::FOREVER.is_expired(&made, now));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Expiry {
    keep_days: u32,
}

impl Expiry {
    /// Never expires.
    pub const FOREVER: Expiry = Expiry { keep_days: 0 };

    /// Keep for `n` days (`0`: forever).
    pub const fn days(n: u32) -> Self {
        Expiry { keep_days: n }
    }

    /// A rule from a signed number, as read from a flag: negative numbers are an error.
    pub fn from_i64(n: i64) -> Result<Self, RetentionError> {
        u32::try_from(n).map(Expiry::days).map_err(|_| RetentionError::InvalidCount { input: n.to_string() })
    }

    /// The number of days (`0`: forever).
    pub const fn keep_days(&self) -> u32 {
        self.keep_days
    }

    /// True when items never expire.
    pub const fn is_forever(&self) -> bool {
        self.keep_days == 0
    }

    /// When an item made at `created` expires; `None` when it never does.
    pub fn expires_at(&self, created: &DateTime<FixedOffset>) -> Option<DateTime<Utc>> {
        if self.is_forever() {
            return None;
        }
        created.to_utc().checked_add_signed(TimeDelta::try_days(i64::from(self.keep_days))?)
    }

    /// True when an item made at `created` has expired at `now` (at or after its expiry).
    pub fn is_expired(&self, created: &DateTime<FixedOffset>, now: DateTime<Utc>) -> bool {
        self.expires_at(created).is_some_and(|at| now >= at)
    }

    /// The decision for one item: kept with `keep forever` / `expires <time>`, forgotten
    /// with `expired <time>`; an item in progress or under an object lock is always kept.
    pub fn decide(&self, item: &Snapshot, now: DateTime<Utc>) -> Decision {
        let mut reasons = Vec::new();
        if item.in_progress {
            reasons.push(REASON_IN_PROGRESS.to_string());
        }
        if let Some(until) = item.locked_until.filter(|u| u.to_utc() > now) {
            reasons.push(reason_locked(&until));
        }
        let held = !reasons.is_empty();
        match self.expires_at(&item.time) {
            None => reasons.push("keep forever".into()),
            Some(at) if now < at => reasons.push(format!("expires {}", at.to_rfc3339())),
            Some(at) => {
                reasons.push(format!("expired {}", at.to_rfc3339()));
                return Decision { id: item.id.clone(), keep: held, reasons };
            }
        }
        Decision { id: item.id.clone(), keep: true, reasons }
    }
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_forever() { f.write_str("keep forever") } else { write!(f, "keep {} days", self.keep_days) }
    }
}

/// Applies `rule` to every item, in input order (no grouping, no "keep the last one":
/// expired means gone). Errors on an empty or duplicate id.
pub fn expire(rule: Expiry, items: &[Snapshot], now: DateTime<Utc>) -> Result<Vec<Decision>, RetentionError> {
    let mut seen = HashSet::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        if item.id.trim().is_empty() {
            return Err(RetentionError::InvalidSnapshot {
                index,
                id: item.id.clone(),
                reason: "the id is empty".into(),
            });
        }
        if !seen.insert(item.id.as_str()) {
            return Err(RetentionError::InvalidSnapshot {
                index,
                id: item.id.clone(),
                reason: "the id is used more than once".into(),
            });
        }
    }
    Ok(items.iter().map(|item| rule.decide(item, now)).collect())
}

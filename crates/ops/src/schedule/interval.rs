//! Fixed-interval schedules (`every = "1h"`).

use chrono::{DateTime, TimeDelta, Utc};

use super::span::Span;

/// Slots every `period`, anchored at the Unix epoch (1970-01-01T00:00:00Z).
///
/// Anchoring at a fixed instant, rather than at the last run (systemd's
/// `OnUnitActiveSec`), keeps the slots where they are across restarts, slow runs and
/// clock corrections, and needs no state: `every = "1h"` runs at the top of each UTC hour,
/// `every = "6h"` at 00:00, 06:00, 12:00 and 18:00 UTC, `every = "1d"` at midnight UTC. Use a
/// cron pattern with a `timezone` for local wall-clock times, and `jitter` to spread plans
/// that share an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalTrigger {
    period: Span,
}

impl IntervalTrigger {
    /// An interval of `period`, which must not be zero (the caller checks).
    pub(crate) fn new(period: Span) -> Self {
        IntervalTrigger { period }
    }

    /// The interval.
    pub fn period(&self) -> Span {
        self.period
    }

    /// The first slot strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let period = self.period.as_delta().num_milliseconds();
        if period <= 0 {
            return None;
        }
        let since_epoch = t.timestamp_millis();
        let next = since_epoch.div_euclid(period).checked_add(1)?.checked_mul(period)?;
        DateTime::<Utc>::UNIX_EPOCH.checked_add_signed(TimeDelta::try_milliseconds(next)?)
    }

    /// True when `t` is a slot.
    pub fn matches(&self, t: DateTime<Utc>) -> bool {
        let period = self.period.as_delta().num_milliseconds();
        period > 0
            && t.timestamp_subsec_nanos().is_multiple_of(1_000_000)
            && t.timestamp_millis().rem_euclid(period) == 0
    }
}

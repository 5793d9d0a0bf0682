//! What makes a slot: a cron pattern in a zone, or a fixed interval.

use chrono::{DateTime, Utc};

use super::cron::CronTrigger;
use super::interval::IntervalTrigger;

/// When a schedule's slots are: the `cron` field (with `timezone`) or the `every` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A cron pattern in a time zone.
    Cron(CronTrigger),
    /// A fixed interval, anchored at the Unix epoch.
    Every(IntervalTrigger),
}

impl Trigger {
    /// The first slot strictly after `t`, or `None` when there is no later one.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Trigger::Cron(cron) => cron.next_after(t),
            Trigger::Every(every) => every.next_after(t),
        }
    }

    /// True when `t` is one of the slots.
    pub fn matches(&self, t: DateTime<Utc>) -> bool {
        match self {
            Trigger::Cron(cron) => cron.matches(t),
            Trigger::Every(every) => every.matches(t),
        }
    }
}

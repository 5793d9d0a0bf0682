//! Plan schedules, as pure functions of the time: when a plan's slots are (cron in a time
//! zone, or an interval), and what the scheduler should do at a given instant (run, queue,
//! wait, and which slots it skipped and why). No I/O and no clock of its own: the caller
//! passes "now" (from its injected [`Clock`](lifeboat_storage::clock::Clock)), so a month
//! of schedules replays in milliseconds.
//!
//! - [`spec`]: the `[plans.NAME.schedule]` table ([`ScheduleTable`]) and the checked
//!   [`ScheduleSpec`], with the [`MissedPolicy`] and [`OverlapPolicy`];
//! - [`cron`]: cron patterns in IANA zones, DST gaps and repeats;
//! - [`interval`]: `every = "1h"`, anchored at the epoch;
//! - [`span`]: the elapsed-time durations the table uses (`90s`, `5m`, `1h30m`);
//! - [`trigger`]: cron or interval, behind one `next_after`;
//! - [`decide`](mod@decide): the scheduler's decision at an instant ([`decide()`]): run,
//!   queue or wait, and the slots skipped and why;
//! - [`jitter`]: the per-plan, per-slot start delay, a keyed hash (no RNG state);
//! - [`error`]: [`ScheduleError`], naming the field and the value.

pub mod cron;
pub mod decide;
pub mod error;
pub mod interval;
pub mod jitter;
pub mod span;
pub mod spec;
pub mod trigger;

pub use cron::CronTrigger;
pub use decide::{Action, Decision, PlanState, SkipReason, Skipped, SlotRun, Start, decide, decide_at_clock, next_run};
pub use error::ScheduleError;
pub use interval::IntervalTrigger;
pub use jitter::jitter_for;
pub use span::Span;
pub use spec::{MissedPolicy, OverlapPolicy, ScheduleSpec, ScheduleTable};
pub use trigger::Trigger;

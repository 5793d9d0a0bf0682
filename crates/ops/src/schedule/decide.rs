//! The scheduler's decision for one plan at one instant: run, queue, or wait; and which
//! slots were skipped, and why.
//!
//! Pure: it reads no clock and keeps no state. The caller (the scheduler) keeps a
//! [`PlanState`] per plan, passes "now" from its injected clock, carries out the
//! [`Action`], records the [`Skipped`] groups in the job history, stores
//! [`Decision::evaluated_through`] and calls again at [`Decision::wake_at`] (or when a run
//! ends).

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use lifeboat_storage::clock::Clock;

use super::jitter::jitter_for;
use super::spec::{MissedPolicy, OverlapPolicy, ScheduleSpec};

/// How late a slot's start may be and still count as on time: the scheduler's own tick and a
/// busy host delay every start a little, and that is not downtime. A slot found later than
/// this after its (jittered) start was *missed*, and the missed-run policy decides.
pub const ON_TIME_GRACE: TimeDelta = TimeDelta::seconds(60);

/// How many slots a decision counts one by one after downtime before it stops counting
/// (and reports the count as a lower bound): a year of `* * * * * *` would be 31 million.
pub const MAX_COUNTED_SLOTS: u64 = 100_000;

/// What the scheduler remembers about one plan between decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanState {
    /// Every slot at or before this instant has been dealt with (started, queued or
    /// skipped): the previous decision's [`Decision::evaluated_through`]. For a plan seen for
    /// the first time, the instant it was first seen: a new plan does not catch up on slots
    /// from before it existed.
    pub evaluated_through: DateTime<Utc>,
    /// A run of this plan is in progress.
    pub running: bool,
    /// The run queued behind the running one (from an earlier [`Action::Queue`]), if any.
    pub queued: Option<SlotRun>,
}

impl PlanState {
    /// The state of a plan first seen at `t`: nothing running, nothing queued.
    pub fn new(t: DateTime<Utc>) -> Self {
        PlanState { evaluated_through: t, running: false, queued: None }
    }
}

/// A run that stands for one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRun {
    /// The slot, as the schedule defines it (before jitter).
    pub slot: DateTime<Utc>,
    /// When the slot's run was due to start: the slot plus its jitter.
    pub start_at: DateTime<Utc>,
}

/// A run to start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// The slot it stands for.
    pub run: SlotRun,
    /// How long after `run.start_at` it starts (zero or more).
    pub late_by: TimeDelta,
    /// It is the one catch-up run of [`MissedPolicy::RunOnce`] after downtime.
    pub catch_up: bool,
    /// It was queued behind a run that has ended ([`OverlapPolicy::Queue`]).
    pub from_queue: bool,
}

/// What the scheduler should do for the plan now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing to start.
    Wait,
    /// Start this run now.
    Run(Start),
    /// A run is in progress: queue this one behind it, and start it (by calling again with
    /// it in [`PlanState::queued`] and `running = false`) when the running one ends.
    Queue(SlotRun),
}

/// Why slots were not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The slot passed while nothing evaluated the schedule (downtime) and was not run: a
    /// later slot came after it, or the policy is [`MissedPolicy::Skip`].
    Missed,
    /// The newest missed slot was later than `max-lateness`, so no catch-up run.
    TooLate,
    /// A run was in progress and the overlap policy is [`OverlapPolicy::Skip`].
    Overlap,
    /// A run was in progress and another was already queued ([`OverlapPolicy::Queue`] keeps
    /// at most one).
    AlreadyQueued,
    /// A queued run, or a slot whose jittered start had not come yet, was overtaken by a later
    /// slot that starts instead.
    Superseded,
}

/// Consecutive slots skipped for one reason: for the job history ("missed 7 runs while
/// down, 2026-03-01 02:00 to 2026-03-07 02:00").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    /// Why.
    pub reason: SkipReason,
    /// How many slots.
    pub count: u64,
    /// `count` is a lower bound: counting stopped at [`MAX_COUNTED_SLOTS`].
    pub at_least: bool,
    /// The earliest skipped slot.
    pub first: DateTime<Utc>,
    /// The latest skipped slot.
    pub last: DateTime<Utc>,
}

impl fmt::Display for Skipped {
    /// The job history's line: `missed 6 runs while down (2026-03-02T02:00:00Z to
    /// 2026-03-07T02:00:00Z)`, `skipped 1 run: a run was in progress (2026-03-08T02:00:00Z)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plus = if self.at_least { " or more" } else { "" };
        let runs = if self.count == 1 && !self.at_least { "run" } else { "runs" };
        let count = self.count;
        match self.reason {
            SkipReason::Missed => write!(f, "missed {count}{plus} {runs} while down")?,
            SkipReason::TooLate => write!(f, "skipped {count} catch-up {runs}: later than max-lateness")?,
            SkipReason::Overlap => write!(f, "skipped {count} {runs}: a run was in progress")?,
            SkipReason::AlreadyQueued => {
                write!(f, "skipped {count} {runs}: a run was in progress and one already queued")?
            }
            SkipReason::Superseded => write!(f, "skipped {count} {runs}: a later slot started instead")?,
        }
        let first = self.first.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        if self.first == self.last {
            write!(f, " ({first})")
        } else {
            write!(f, " ({first} to {})", self.last.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        }
    }
}

/// The result of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What to do now.
    pub action: Action,
    /// Slots not run, grouped by reason, in the order the reasons first arose.
    pub skipped: Vec<Skipped>,
    /// Store this as the plan's [`PlanState::evaluated_through`]: every slot up to it is
    /// now dealt with.
    pub evaluated_through: DateTime<Utc>,
    /// When the next slot's run is due to start (jitter included), the time to call again;
    /// `None` when the schedule has no further slot.
    pub wake_at: Option<DateTime<Utc>>,
}

/// The next run of plan `plan` after `t`: the first slot after `t` and its jittered start.
/// What a status page shows as "next run" (a run still waiting for its jitter at `t` is
/// not included: use [`Decision::wake_at`] for when to evaluate next).
pub fn next_run(spec: &ScheduleSpec, plan: &str, t: DateTime<Utc>) -> Option<SlotRun> {
    let slot = spec.next_after(t)?;
    Some(SlotRun { slot, start_at: slot + jitter_for(plan, slot, spec.jitter()) })
}

/// [`decide`] at the clock's "now".
pub fn decide_at_clock(spec: &ScheduleSpec, plan: &str, state: &PlanState, clock: &dyn Clock) -> Decision {
    decide(spec, plan, state, clock.now())
}

/// What to do for plan `plan` (its name keys the jitter) with schedule `spec` at `now`.
///
/// The slots considered are those after `state.evaluated_through` whose jittered start is at
/// or before `now`. Only the newest of them may run: older ones are [`SkipReason::Missed`]
/// (a plan never runs once per missed slot). The newest:
///
/// - starts if it is no more than [`ON_TIME_GRACE`] late;
/// - otherwise it was missed: with [`MissedPolicy::Skip`] it is skipped too, and the plan
///   next runs at its next regular slot; with [`MissedPolicy::RunOnce`] it starts as the
///   one catch-up run, unless it is later than `max-lateness` ([`SkipReason::TooLate`]).
///
/// A run that would start while one is in progress is skipped ([`OverlapPolicy::Skip`]) or
/// queued ([`OverlapPolicy::Queue`], one at most). A queued run starts at the first
/// decision with `running = false`, whatever its lateness (it waited for a reason), unless a
/// newer slot starts then instead ([`SkipReason::Superseded`]).
///
/// A slot whose jittered start is still to come waits, and so do the slots after it; if a
/// later slot's start comes first (a jitter longer than the gap between two cron slots),
/// the earlier is superseded.
///
/// A clock that went backwards (`now` before `state.evaluated_through`) starts nothing and
/// re-runs nothing: slots already dealt with stay dealt with.
pub fn decide(spec: &ScheduleSpec, plan: &str, state: &PlanState, now: DateTime<Utc>) -> Decision {
    let mut log = SkipLog::default();
    let jitter = spec.jitter();
    let run_of = |slot: DateTime<Utc>| SlotRun { slot, start_at: slot + jitter_for(plan, slot, jitter) };

    // Walk the slots after the cursor up to now, counting those that are surely due
    // (before now - jitter) without keeping them, and checking the rest one by one.
    let mut newest_due: Option<SlotRun> = None;
    let mut waiting: Vec<SlotRun> = Vec::new();
    let mut counted: u64 = 0;
    let mut truncated = false;
    let mut next = spec.next_after(state.evaluated_through);
    while let Some(slot) = next
        && slot <= now
    {
        let near = now - jitter.as_delta() - TimeDelta::seconds(1);
        if counted >= MAX_COUNTED_SLOTS && slot < near {
            // Stop counting: every slot before `near` is due and would only be skipped as
            // missed, so jump to the slots near now, which are all that can still run.
            truncated = true;
            counted = 0;
            next = spec.next_after(near);
            continue;
        }
        counted += 1;
        let run = run_of(slot);
        if run.start_at <= now {
            for overtaken in waiting.drain(..) {
                log.add(SkipReason::Superseded, overtaken.slot, false);
            }
            if let Some(older) = newest_due.replace(run) {
                log.add(SkipReason::Missed, older.slot, false);
            }
        } else {
            waiting.push(run);
        }
        next = spec.next_after(slot);
    }
    if truncated {
        log.mark_lower_bound(SkipReason::Missed);
    }
    let evaluated_through = newest_due.map_or(state.evaluated_through, |run| run.slot);
    let wake_at = waiting.iter().map(|run| run.start_at).chain(next.map(|slot| run_of(slot).start_at)).min();

    let candidate = newest_due.and_then(|run| {
        let late_by = now - run.start_at;
        if late_by <= ON_TIME_GRACE {
            return Some(Start { run, late_by, catch_up: false, from_queue: false });
        }
        match spec.missed() {
            MissedPolicy::Skip => {
                log.add(SkipReason::Missed, run.slot, false);
                None
            }
            MissedPolicy::RunOnce => {
                if spec.max_lateness().is_none_or(|limit| late_by <= limit.as_delta()) {
                    Some(Start { run, late_by, catch_up: true, from_queue: false })
                } else {
                    log.add(SkipReason::TooLate, run.slot, false);
                    None
                }
            }
        }
    });

    let action = match (candidate, state.running, state.queued) {
        (Some(start), false, queued) => {
            if let Some(queued) = queued {
                log.add(SkipReason::Superseded, queued.slot, false);
            }
            Action::Run(start)
        }
        (Some(start), true, queued) => match (spec.overlap(), queued) {
            (OverlapPolicy::Queue, None) => Action::Queue(start.run),
            (OverlapPolicy::Queue, Some(_)) => {
                log.add(SkipReason::AlreadyQueued, start.run.slot, false);
                Action::Wait
            }
            (OverlapPolicy::Skip, _) => {
                log.add(SkipReason::Overlap, start.run.slot, false);
                Action::Wait
            }
        },
        (None, false, Some(queued)) => Action::Run(Start {
            run: queued,
            late_by: (now - queued.start_at).max(TimeDelta::zero()),
            catch_up: false,
            from_queue: true,
        }),
        (None, _, _) => Action::Wait,
    };
    Decision { action, skipped: log.groups, evaluated_through, wake_at }
}

/// The skipped slots, grouped by reason as they come.
#[derive(Debug, Default)]
struct SkipLog {
    groups: Vec<Skipped>,
}

impl SkipLog {
    fn mark_lower_bound(&mut self, reason: SkipReason) {
        for group in self.groups.iter_mut().filter(|g| g.reason == reason) {
            group.at_least = true;
        }
    }

    fn add(&mut self, reason: SkipReason, slot: DateTime<Utc>, at_least: bool) {
        if let Some(group) = self.groups.iter_mut().find(|g| g.reason == reason) {
            group.count = group.count.saturating_add(1);
            group.at_least |= at_least;
            group.first = group.first.min(slot);
            group.last = group.last.max(slot);
        } else {
            self.groups.push(Skipped { reason, count: 1, at_least, first: slot, last: slot });
        }
    }
}

//! The scheduler: for each schedule of each plan (its backups, each copy-to with a
//! schedule, quick and deep verify, prune, its restore drill), [`decide`] at the clock's "now" with a cursor
//! kept in memory and in the state (the schedule's next slot, in the plan's row for backups
//! and in a row named `PLAN#WHAT` for the others), then start, queue or skip.
//!
//! Each step also starts the export destinations' cleans that are due
//! ([`export_clean::tick`](super::export_clean::tick)).
//!
//! The cursor is stored as the next slot not yet dealt with: after a restart, the slots
//! from it to "now" are the ones missed while down, and the missed-run policy decides.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::key::ScheduleKey;
use super::runner::{JobSpec, Work, enqueue};
use super::{Inner, JobEvent, ServiceError};
use crate::config::{DrillSettings, PlanConfig, drill_schedule};
use crate::plans::ResolvedPlan;
use crate::schedule::{Action, Decision, PlanState, ScheduleSpec, SlotRun, decide};
use crate::state::Trigger;

/// The longest the loop sleeps between two ticks (a config reload, a manual run or a job's
/// end wake it earlier).
pub(crate) const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Where a schedule stands.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    pub evaluated_through: DateTime<Utc>,
    /// The slot of the job queued behind a running one.
    pub queued: Option<SlotRun>,
    /// The next slot as last stored.
    pub stored_next: Option<DateTime<Utc>>,
}

/// Every schedule of `plan` (`drills`: the `[drills]` defaults its drill schedule falls back
/// to, [`drill_schedule`] decides).
pub(crate) fn schedules(name: &str, plan: &PlanConfig, drills: &DrillSettings) -> Vec<(ScheduleKey, ScheduleSpec)> {
    let key = |work| ScheduleKey { plan: name.to_owned(), work };
    let spec =
        |table: Option<&crate::schedule::ScheduleTable>| table.and_then(|t| ScheduleSpec::from_table(t.clone()).ok());
    let mut out = Vec::new();
    if let Some(s) = spec(plan.schedule.as_ref()) {
        out.push((key(Work::Backup), s));
    }
    for (i, copy) in plan.copy_to.iter().enumerate() {
        if let Some(s) = spec(copy.schedule.as_ref()) {
            out.push((key(Work::Copy(Some(i))), s));
        }
    }
    if let Some(verify) = &plan.verify {
        if let Some(s) = spec(verify.quick.as_ref()) {
            out.push((key(Work::Verify { deep: false }), s));
        }
        if let Some(s) = spec(verify.deep.as_ref()) {
            out.push((key(Work::Verify { deep: true }), s));
        }
    }
    if let Some(s) = spec(plan.prune.as_ref().map(|p| &p.schedule)) {
        out.push((key(Work::Prune), s));
    }
    if let Some(s) = drill_schedule(plan, drills) {
        out.push((key(Work::Drill), s));
    }
    out
}

/// One step at the clock's "now"; returns when the next one is due.
pub(crate) async fn tick(inner: &Arc<Inner>) -> Result<Option<DateTime<Utc>>, ServiceError> {
    if inner.stopping.is_cancelled() {
        return Ok(None);
    }
    let config = inner.config();
    let now = inner.clock.now();
    let mut wake = super::export_clean::tick(inner, now);
    let mut cursors = inner.cursors.lock().await;
    let mut seen = Vec::new();
    for (name, plan_config) in &config.plans {
        let plan = ResolvedPlan { name: name.clone(), origin: inner.origin.clone(), config: plan_config.clone() };
        for (key, spec) in schedules(name, plan_config, &config.drills) {
            let cursor = match cursors.get(&key) {
                Some(c) => c.clone(),
                None => load_cursor(inner, &key, now).await?,
            };
            let (cursor, next) = step(inner, &plan, &key, &spec, cursor, now).await?;
            wake = [wake, next].into_iter().flatten().min();
            seen.push(key.clone());
            cursors.insert(key, cursor);
        }
    }
    cursors.retain(|key, _| seen.contains(key));
    Ok(wake)
}

/// The cursor of a schedule seen for the first time since start: from its stored next slot,
/// else now (a new schedule does not catch up on slots from before it existed).
async fn load_cursor(inner: &Inner, key: &ScheduleKey, now: DateTime<Utc>) -> Result<Cursor, ServiceError> {
    let stored = inner.state.plan_state(key.state_name()).await?.and_then(|p| p.next_run);
    let evaluated_through = stored.map_or(now, |next| (next - TimeDelta::milliseconds(1)).min(now));
    Ok(Cursor { evaluated_through, queued: None, stored_next: stored })
}

/// Decides one schedule and carries the decision out.
async fn step(
    inner: &Arc<Inner>,
    plan: &ResolvedPlan,
    key: &ScheduleKey,
    spec: &ScheduleSpec,
    mut cursor: Cursor,
    now: DateTime<Utc>,
) -> Result<(Cursor, Option<DateTime<Utc>>), ServiceError> {
    let active = inner.jobs_of(key);
    if active < 2 {
        cursor.queued = None;
    }
    let state = PlanState { evaluated_through: cursor.evaluated_through, running: active > 0, queued: cursor.queued };
    let decision = decide(spec, &key.state_name(), &state, now);
    record_skipped(inner, key, &decision, now).await?;
    let run = |slot: SlotRun| JobSpec {
        plan: plan.clone(),
        work: key.work,
        key: Some(key.clone()),
        trigger: Trigger::Schedule,
        requested_by: None,
        scheduled_for: Some(slot.slot),
        attempt: 1,
        retry_of: None,
    };
    match decision.action {
        Action::Run(start) => {
            enqueue(inner, run(start.run), Duration::ZERO).await?;
        }
        Action::Queue(slot) => {
            enqueue(inner, run(slot), Duration::ZERO).await?;
            cursor.queued = Some(slot);
        }
        Action::Wait => {}
    }
    cursor.evaluated_through = decision.evaluated_through;
    let next = spec.next_after(cursor.evaluated_through);
    if next != cursor.stored_next {
        inner.state.set_next_run(key.state_name(), next, now).await?;
        cursor.stored_next = next;
    }
    Ok((cursor, decision.wake_at))
}

/// Records the decision's skipped slots in the state and tells the subscribers.
async fn record_skipped(
    inner: &Inner,
    key: &ScheduleKey,
    decision: &Decision,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    for group in &decision.skipped {
        let (name, count, last) = (key.state_name(), group.count, group.last);
        inner.state.call(move |s| s.record_skipped_slots(&name, count, last, now)).await?;
        let reason = format!("{}: {group}", what(key));
        tracing::info!(plan = %key.plan, "{reason}");
        inner.emit(JobEvent::Skipped { plan: key.plan.clone(), reason, count: group.count });
    }
    Ok(())
}

fn what(key: &ScheduleKey) -> &'static str {
    match key.work {
        Work::Backup => "backup",
        Work::Copy(_) => "copy",
        Work::Verify { deep: false } => "quick verify",
        Work::Verify { deep: true } => "deep verify",
        Work::Prune => "prune",
        Work::Drill => "restore drill",
    }
}

/// The scheduler loop: tick, then sleep until the next slot (at most [`MAX_SLEEP`]) or
/// until woken; ends when the service stops.
pub(crate) async fn run_loop(inner: Arc<Inner>) {
    loop {
        *super::lock_heartbeat(&inner.heartbeat) = Some(std::time::Instant::now());
        let woken = inner.wake.notified();
        let wake = match tick(&inner).await {
            Ok(wake) => wake,
            Err(e) => {
                tracing::warn!("scheduler: {e}");
                None
            }
        };
        let now = inner.clock.now();
        let pause = wake
            .map(|w| (w - now).to_std().unwrap_or(Duration::ZERO).max(Duration::from_millis(100)))
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = woken => {}
            () = inner.stopping.cancelled() => return,
        }
    }
}

/// The cursors by schedule, as the scheduler keeps them.
pub(crate) type Cursors = HashMap<ScheduleKey, Cursor>;

//! What `GET /api/v1/status` and `GET /api/v1/plans` answer: per plan its last success and
//! failure (from the state), the age of its newest backup against its RPO (the objective,
//! else twice the schedule's interval), its next run and running job, and a health; the
//! overall health is the worst of the plans' and of the open alerts'.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use lifeboat_storage::redact_url;

use super::{Inner, OverallHealth, PlanStatus, PlanSummary, ServiceError, Status};
use crate::alerts::Severity;
use crate::config::PlanConfig;
use crate::schedule::{ScheduleSpec, ScheduleTable};
use crate::state::JobId;

/// The status at the clock's "now".
pub(crate) async fn status(inner: &Inner) -> Result<Status, ServiceError> {
    let config = inner.config();
    let now = inner.clock.now();
    let states: HashMap<String, crate::state::PlanState> =
        inner.state.plan_states().await?.into_iter().map(|s| (s.plan.clone(), s)).collect();
    let (running, queued, running_of) = inner.job_counts();
    let plans: Vec<PlanStatus> = config
        .plans
        .iter()
        .map(|(name, plan)| plan_status(name, plan, states.get(name), running_of.get(name).copied(), now))
        .collect();
    let alerts = inner.state.call(|s| s.open_alerts()).await?;
    let from_alerts = alerts.iter().map(|a| match a.severity {
        Severity::Critical => OverallHealth::Failing,
        Severity::Warning => OverallHealth::Degraded,
        Severity::Info => OverallHealth::Ok,
    });
    let health = plans.iter().map(|p| p.health).chain(from_alerts).max().unwrap_or(OverallHealth::Ok);
    let alerts_open = u32::try_from(alerts.len()).unwrap_or(u32::MAX);
    Ok(Status { health, generated_at: now, plans, jobs_running: running, jobs_queued: queued, alerts_open })
}

fn seconds(d: chrono::TimeDelta) -> i64 {
    d.num_seconds()
}

fn plan_status(
    name: &str,
    plan: &PlanConfig,
    state: Option<&crate::state::PlanState>,
    running_job: Option<JobId>,
    now: DateTime<Utc>,
) -> PlanStatus {
    let spec = plan.schedule_spec().ok().flatten();
    let interval = spec.as_ref().and_then(|s| s.interval_after(now)).map(seconds);
    let rpo =
        plan.objectives.as_ref().and_then(|o| o.rpo).map(|r| r.as_delta().num_seconds()).or(interval.map(|i| 2 * i));
    let last_success = state.and_then(|s| s.last_success);
    let last_failure = state.and_then(|s| s.last_failure);
    let age = last_success.map(|t| seconds(now - t).max(0));
    let within_rpo = age.zip(rpo).map(|(age, rpo)| age <= rpo);
    let failed_last = match (last_success, last_failure) {
        (Some(ok), Some(bad)) => bad > ok,
        (None, Some(_)) => true,
        _ => false,
    };
    let health = match (within_rpo, failed_last, last_success) {
        (Some(false), _, _) => OverallHealth::Failing,
        (_, true, None) => OverallHealth::Failing,
        (_, true, Some(_)) => OverallHealth::Degraded,
        _ => OverallHealth::Ok,
    };
    let next_run = state.and_then(|s| s.next_run).or_else(|| spec.as_ref().and_then(|s| s.next_after(now)));
    PlanStatus {
        plan: name.to_owned(),
        kind: plan.source.as_ref().map_or("unknown", |s| s.kind()).to_owned(),
        repository: plan.repository.as_deref().map(redact_url),
        last_success,
        last_failure,
        last_backup_id: state.and_then(|s| s.last_backup_id.clone()),
        age_seconds: age,
        rpo_seconds: rpo,
        expected_interval_seconds: interval,
        within_rpo,
        next_run: next_run.filter(|_| spec.is_some()),
        running_job,
        health,
    }
}

/// The plans as configured, with their next backup slot.
pub(crate) fn plans(inner: &Inner) -> Vec<PlanSummary> {
    let config = inner.config();
    let now = inner.clock.now();
    let cursors = inner.next_slots();
    config
        .plans
        .iter()
        .map(|(name, plan)| {
            let spec = plan.schedule_spec().ok().flatten();
            let next = cursors.get(name).copied().flatten().or_else(|| spec.as_ref().and_then(|s| s.next_after(now)));
            PlanSummary {
                name: name.clone(),
                kind: plan.source.as_ref().map_or("unknown", |s| s.kind()).to_owned(),
                repository: plan.repository.as_deref().map(redact_url),
                copies: plan.copy_to.iter().map(|c| redact_url(&c.repository)).collect(),
                schedule: spec.as_ref().map(describe),
                next_run: next.filter(|_| spec.is_some()),
                tags: plan.tags.clone(),
                rpo_seconds: plan.objectives.as_ref().and_then(|o| o.rpo).map(|r| r.as_delta().num_seconds()),
                rto_seconds: plan.objectives.as_ref().and_then(|o| o.rto).map(|r| r.as_delta().num_seconds()),
            }
        })
        .collect()
}

/// `cron 0 2 * * * Europe/Berlin` or `every 1h`.
fn describe(spec: &ScheduleSpec) -> String {
    let table = ScheduleTable::from(spec);
    match (table.cron, table.timezone, table.every) {
        (Some(cron), zone, _) => format!("cron {cron} {}", zone.unwrap_or_else(|| "UTC".into())),
        (_, _, Some(every)) => format!("every {every}"),
        _ => String::new(),
    }
}

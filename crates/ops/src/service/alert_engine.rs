//! The engine: the job listener and the timer (each its own task, holding the service
//! weakly so that dropping it ends them), the evaluation that turns [`Verdict`]s into alert
//! rows and [`AlertEvent`]s, and the `Service` methods of the alerts.

use std::collections::HashMap;
use std::sync::Weak;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::broadcast;

use super::alert_rules::{self as rules, Thresholds, Verdict};
use crate::alerts::{Acknowledgement, Alert, AlertEvent, AlertFilter, AlertRule, Condition, fingerprint};
use crate::audit::{self, AuditRecord};
use crate::service::{JobEvent, Service, ServiceError};
use crate::state::{AckOutcome, JobKind, JobState, Raised, alert_row_id};

/// The engine's part of the service: its events, and a turn that evaluations take one at
/// a time (a job's and the timer's would otherwise race on the same fingerprints).
pub(crate) struct Engine {
    events: broadcast::Sender<AlertEvent>,
    turn: tokio::sync::Mutex<()>,
}

impl Engine {
    /// An engine nobody listens to yet.
    pub(crate) fn new() -> Engine {
        Engine { events: broadcast::channel(1024).0, turn: tokio::sync::Mutex::new(()) }
    }

    fn emit(&self, event: AlertEvent) {
        let _ = self.events.send(event);
    }
}

/// Starts the job listener (subscribed now, before any job can run) and, when lifeboatd
/// runs its scheduler, the timer.
pub(crate) fn start(service: &Service, run_timer: bool) {
    let jobs = service.subscribe();
    tokio::spawn(listen(jobs, service.downgrade()));
    if run_timer {
        tokio::spawn(tick(service.downgrade()));
    }
}

/// Evaluates the rules of each job that ends, until the service is dropped.
async fn listen(mut jobs: broadcast::Receiver<JobEvent>, weak: Weak<crate::service::Inner>) {
    loop {
        let event = match jobs.recv().await {
            Ok(event @ JobEvent::Finished { .. }) => event,
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "the alert engine missed job events (too many at once)");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(service) = Service::upgrade(&weak) else { return };
        if let Err(e) = on_job(&service, &event).await {
            tracing::warn!(error = %e, "the alert engine could not evaluate a job's end");
        }
    }
}

/// Every `[alerts] interval`: [`Service::evaluate_alerts`]. Its own task, so a stalled
/// scheduler loop does not stop the RPO rule.
async fn tick(weak: Weak<crate::service::Inner>) {
    loop {
        let Some(interval) = Service::upgrade(&weak).map(|s| s.config().alerts.interval.as_delta()) else { return };
        tokio::time::sleep(interval.to_std().unwrap_or(std::time::Duration::from_secs(60))).await;
        let Some(service) = Service::upgrade(&weak) else { return };
        if service.scheduler() == crate::service::SchedulerState::Stopped {
            return;
        }
        if let Err(e) = service.evaluate_alerts().await {
            tracing::warn!(error = %e, "the alert engine's evaluation failed");
        }
    }
}

/// The rules a job's end decides: its plan's backup_failed (a backup), verify_damaged (a
/// verify), drill_failed (a drill: raised when it failed or missed an objective, resolved by
/// the next passing one), and rpo_exceeded (a success clears it at once).
async fn on_job(service: &Service, event: &JobEvent) -> Result<(), ServiceError> {
    let JobEvent::Finished { job, plan, kind, state, verify_ok, .. } = event else { return Ok(()) };
    let engine = service.alert_engine();
    let _turn = engine.turn.lock().await;
    let config = service.config();
    let Some(plan_config) = config.plans.get(plan) else { return Ok(()) };
    let t = Thresholds::of(&config, plan_config);
    let repository = rules::primary(plan_config);
    let now = service.clock().now();
    let record = service.job(*job).await?;
    let error = record.as_ref().and_then(|r| r.error.clone()).unwrap_or_else(|| "no reason recorded".to_owned());
    let of = |rule: AlertRule| fingerprint(rule, Some(plan), repository.as_deref());
    let condition = |rule: AlertRule, what: &str| Condition {
        rule,
        plan: Some(plan.clone()),
        repository: repository.clone(),
        summary: format!("plan {plan}: {what}: {error}"),
        details: Some(format!("job {job}: {error}")),
        job: u64::try_from(job.0).ok(),
    };
    let verdict = match (kind, state, verify_ok) {
        (JobKind::Backup, JobState::Failed, _) if t.enabled(AlertRule::BackupFailed) => {
            Verdict::Holds(condition(AlertRule::BackupFailed, "backup failed"))
        }
        (JobKind::Backup, JobState::Succeeded, _) => Verdict::Clear(of(AlertRule::BackupFailed)),
        (JobKind::Verify, _, Some(false)) if t.enabled(AlertRule::VerifyDamaged) => {
            Verdict::Holds(condition(AlertRule::VerifyDamaged, "verify found damage"))
        }
        (JobKind::Verify, _, Some(true)) => Verdict::Clear(of(AlertRule::VerifyDamaged)),
        // A drill job fails when the drill failed or missed an objective (its error says which).
        (JobKind::Drill, JobState::Failed, _) if t.enabled(AlertRule::DrillFailed) => {
            Verdict::Holds(condition(AlertRule::DrillFailed, "restore drill failed"))
        }
        (JobKind::Drill, JobState::Succeeded, _) => Verdict::Clear(of(AlertRule::DrillFailed)),
        _ => Verdict::Unknown,
    };
    apply(service, verdict, now).await?;
    let since = service.state().call({
        let plan = plan.clone();
        move |s| s.watch_plan(&plan, now)
    });
    let last_success = service.state().plan_state(plan.clone()).await?.and_then(|p| p.last_success);
    let verdict = rules::rpo(plan, plan_config, &t, last_success, since.await?, now);
    apply(service, verdict, now).await
}

/// Records a verdict: a condition raises or updates its alert, a clear one resolves it.
async fn apply(service: &Service, verdict: Verdict, now: DateTime<Utc>) -> Result<(), ServiceError> {
    let engine = service.alert_engine();
    match verdict {
        Verdict::Holds(condition) => {
            let (alert, raised) = service.state().call(move |s| s.raise_alert(&condition, now)).await?;
            if raised != Raised::Updated {
                tracing::warn!(alert = %alert.id, rule = %alert.rule, summary = %alert.summary, "alert firing");
                engine.emit(AlertEvent::Fired(alert));
            }
        }
        Verdict::Clear(key) => {
            if let Some(alert) = service.state().call(move |s| s.resolve_alert(&key, now)).await? {
                tracing::info!(alert = %alert.id, rule = %alert.rule, "alert resolved");
                engine.emit(AlertEvent::Resolved(alert));
            }
        }
        Verdict::Unknown => {}
    }
    Ok(())
}

/// The timer's evaluation of every timed rule, at the clock's "now".
async fn evaluate(service: &Service) -> Result<(), ServiceError> {
    let engine = service.alert_engine();
    let _turn = engine.turn.lock().await;
    let now = service.clock().now();
    for alert in service.state().call(move |s| s.refire_expired_alerts(now)).await? {
        tracing::warn!(alert = %alert.id, rule = %alert.rule, "acknowledgement expired: alert firing again");
        engine.emit(AlertEvent::Fired(alert));
    }
    let config = service.config();
    // The RPO rule first, from the state alone: a repository that is slow to answer must
    // not hold it back.
    let last_success: HashMap<String, Option<DateTime<Utc>>> =
        service.state().plan_states().await?.into_iter().map(|p| (p.plan, p.last_success)).collect();
    for (name, plan) in &config.plans {
        let t = Thresholds::of(&config, plan);
        let since = service.state().call({
            let name = name.clone();
            move |s| s.watch_plan(&name, now)
        });
        let last = last_success.get(name).copied().flatten();
        apply(service, rules::rpo(name, plan, &t, last, since.await?, now), now).await?;
    }
    let statuses = service.repositories().await?;
    let reachable = |url: &str| {
        let shown = lifeboat_storage::redact_url(url);
        statuses.iter().find(|s| s.repository == shown).is_some_and(|s| s.reachable)
    };
    let mut verdicts = rules::unreachable(&config, &statuses);
    for (name, plan) in &config.plans {
        let t = Thresholds::of(&config, plan);
        for target in rules::urls(plan) {
            verdicts.push(rules::lock(service, name, &t, &target, reachable(&target.0), now).await);
            verdicts.push(rules::disk(name, &t, &target.0).await);
        }
        if !plan.copy_to.is_empty() {
            let backups = service.backups(Some(name)).await?;
            let primary_ok = plan.repository.as_deref().is_some_and(reachable);
            verdicts.extend(rules::copies(name, plan, &t, &backups, primary_ok, now));
        }
    }
    for verdict in verdicts {
        apply(service, verdict, now).await?;
    }
    resolve_orphans(service, &config, now).await
}

/// Resolves the open timed alerts of plans no longer configured.
async fn resolve_orphans(service: &Service, config: &crate::Config, now: DateTime<Utc>) -> Result<(), ServiceError> {
    let open = service.state().call(|s| s.open_alerts()).await?;
    for alert in open {
        let gone = alert.plan.as_ref().is_some_and(|p| !config.plans.contains_key(p));
        if alert.rule.timed() && gone {
            let key = fingerprint(alert.rule, alert.plan.as_deref(), alert.repository.as_deref());
            apply(service, Verdict::Clear(key), now).await?;
        }
    }
    Ok(())
}

/// An alert id as the state stores it, or [`ServiceError::NoSuchAlert`].
fn row_id(id: &str) -> Result<i64, ServiceError> {
    alert_row_id(id).ok_or_else(|| ServiceError::NoSuchAlert { alert: id.to_owned() })
}

impl Service {
    /// Alerts as `filter` says, newest first.
    pub async fn alerts(&self, filter: AlertFilter) -> Result<Vec<Alert>, ServiceError> {
        Ok(self.state().call(move |s| s.alerts(&filter)).await?)
    }

    /// The alert `id` (`A17`); an unknown one is [`ErrorKind::NotFound`](crate::service::ErrorKind::NotFound).
    pub async fn alert(&self, id: &str) -> Result<Alert, ServiceError> {
        let row = row_id(id)?;
        self.state().call(move |s| s.alert(row)).await?.ok_or_else(|| ServiceError::NoSuchAlert { alert: id.into() })
    }

    /// Acknowledges the open alert `id` as `by` (an actor as the audit log names it:
    /// `token:<name>`, `local:<user>`), with a comment, until a time (none: while it stays
    /// open); recorded in the audit log. Unknown: [`ErrorKind::NotFound`]; resolved already:
    /// [`ErrorKind::Conflict`].
    ///
    /// [`ErrorKind::NotFound`]: crate::service::ErrorKind::NotFound
    /// [`ErrorKind::Conflict`]: crate::service::ErrorKind::Conflict
    pub async fn acknowledge(
        &self,
        id: &str,
        by: &str,
        comment: Option<String>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Alert, ServiceError> {
        let row = row_id(id)?;
        let now = self.clock().now();
        let ack = Acknowledgement { by: by.to_owned(), comment: comment.clone(), at: now, until };
        let outcome = self.state().call(move |s| s.acknowledge_alert(row, &ack)).await?;
        let result = match outcome {
            AckOutcome::Done(alert) => Ok(alert),
            AckOutcome::NotFound => Err(ServiceError::NoSuchAlert { alert: id.to_owned() }),
            AckOutcome::Resolved(_) => Err(ServiceError::AlertResolved { alert: id.to_owned() }),
        };
        let record = AuditRecord {
            actor: by.to_owned(),
            operation: "alert_acknowledge".to_owned(),
            target: Some(id.to_owned()),
            parameters: json!({ "comment": comment, "until": until }),
            result: audit::result_text(&result),
        };
        audit::record_at(self.state(), record, now).await;
        let alert = result?;
        self.alert_engine().emit(AlertEvent::Acknowledged(alert.clone()));
        Ok(alert)
    }

    /// Evaluates every rule the timer decides now (the timer calls this every
    /// `[alerts] interval`; tests call it under a clock they move), and re-fires the
    /// acknowledged alerts whose `until` has passed.
    pub async fn evaluate_alerts(&self) -> Result<(), ServiceError> {
        evaluate(self).await
    }

    /// Every [`AlertEvent`] from now on.
    pub fn subscribe_alerts(&self) -> broadcast::Receiver<AlertEvent> {
        self.alert_engine().events.subscribe()
    }
}

//! The service's side of the audit log: an entry for every job that ends (actor
//! `scheduler` for scheduled jobs, `token:<name>` for the API's, `local:<user>` for the
//! CLI's), and the sealing of the log's head into each plan's primary repository every
//! `[audit] seal-interval` (real time) and at shutdown.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use serde_json::json;
use tokio::sync::broadcast;

use super::{Inner, Service};
use crate::audit::{self, AuditRecord, SealedHead};
use crate::events::JobEvent;
use crate::state::{JobRecord, JobState, Trigger};

/// How long the shutdown's seal may take in all.
pub(crate) const SHUTDOWN_SEAL_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Starts the job recorder (subscribed before any job can run) and, with the scheduler,
/// the sealing timer.
pub(crate) fn start(inner: &Arc<Inner>, run_scheduler: bool) {
    let events = inner.events.subscribe();
    tokio::spawn(record_jobs(events, Arc::downgrade(inner)));
    if run_scheduler {
        tokio::spawn(seal_loop(Arc::clone(inner)));
    }
}

/// Appends an entry for each job that ends, until the service is dropped. It holds the
/// service weakly: dropping the service drops the state (and its owner lock) at once, not
/// when this task next runs.
async fn record_jobs(mut events: broadcast::Receiver<JobEvent>, service: Weak<Inner>) {
    loop {
        let job = match events.recv().await {
            Ok(JobEvent::Finished { job, .. }) => job,
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "the audit log missed job events (too many at once)");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some((state, clock)) = service.upgrade().map(|inner| (inner.state.clone(), Arc::clone(&inner.clock)))
        else {
            return;
        };
        match state.job(job).await {
            Ok(Some(record)) => audit::record_at(&state, job_entry(&record), clock.now()).await,
            Ok(None) => tracing::warn!(%job, "the audit log cannot read an ended job"),
            Err(e) => tracing::warn!(%job, error = %e, "the audit log cannot read an ended job"),
        }
    }
}

/// The entry of an ended job.
fn job_entry(job: &JobRecord) -> AuditRecord {
    let by = job.requested_by.clone().unwrap_or_default();
    let actor = match job.trigger {
        Trigger::Schedule => "scheduler".to_owned(),
        Trigger::Api => audit::token_actor(&by),
        Trigger::Manual if by.is_empty() => "local:unknown".to_owned(),
        Trigger::Manual => format!("local:{by}"),
    };
    let operation = serde_json::to_value(job.kind).ok().and_then(|v| v.as_str().map(str::to_owned));
    let result = match (job.state, &job.error) {
        (JobState::Succeeded, _) => "ok".to_owned(),
        (_, Some(error)) => audit::error_text(error),
        (state, None) => format!("{state:?}").to_lowercase(),
    };
    AuditRecord {
        actor,
        operation: operation.unwrap_or_else(|| "job".to_owned()),
        target: Some(job.plan.clone()),
        parameters: json!({
            "job": job.id.0,
            "trigger": job.trigger,
            "attempt": job.attempt,
            "repository": job.repository,
            "backup_id": job.backup_id,
            "scheduled_for": job.scheduled_for,
        }),
        result,
    }
}

/// Seals every `[audit] seal-interval` until the service stops (the shutdown seals once more).
async fn seal_loop(inner: Arc<Inner>) {
    loop {
        let interval =
            inner.config().audit.seal_interval.as_delta().to_std().unwrap_or(std::time::Duration::from_secs(3600));
        tokio::select! {
            _ = inner.stopping.cancelled() => return,
            _ = tokio::time::sleep(interval) => { seal(&inner).await; }
        }
    }
}

/// Seals the head into each plan's primary repository (each URL once) and records each
/// seal as an `audit_seal` entry. Nothing to seal (an empty log, or nothing new since the
/// last round's own entries) is no round at all.
pub(crate) async fn seal(inner: &Inner) -> BTreeMap<String, Result<u64, String>> {
    let mut outcomes = BTreeMap::new();
    let head = match inner.state.audit_head().await {
        Ok(Some(head)) => head,
        Ok(None) => return outcomes,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the audit log's head to seal it");
            return outcomes;
        }
    };
    let mut last = inner.last_seal.lock().await;
    if *last == Some(head.seq) {
        return outcomes;
    }
    let config = inner.config();
    let host = lifeboat_repo::hostname();
    let sealed = SealedHead::of(&head, &host, inner.clock.now());
    let mut urls = std::collections::BTreeSet::new();
    let mut newest = head.seq;
    for (plan, plan_config) in &config.plans {
        let Some(url) = plan_config.repository.clone().filter(|u| !u.trim().is_empty()) else { continue };
        if crate::run::runs_in_cluster(&crate::plans::ResolvedPlan {
            name: plan.clone(),
            origin: inner.origin.clone(),
            config: plan_config.clone(),
        }) || !urls.insert(url.clone())
        {
            continue;
        }
        let outcome = match super::backups::open(inner, &config, &url, plan, None).await {
            Ok(repo) => audit::seal_head(&repo, &sealed).await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let repository = lifeboat_storage::redact_url(&url);
        let record = AuditRecord {
            actor: "service".to_owned(),
            operation: "audit_seal".to_owned(),
            target: Some(repository.clone()),
            parameters: json!({ "plan": plan, "seq": head.seq, "hash": head.hash, "host": host }),
            result: audit::result_text(&outcome),
        };
        if let Err(e) = &outcome {
            tracing::warn!(plan, repository, error = %e, "could not seal the audit log's head");
        }
        match inner.state.append_audit(record, inner.clock.now()).await {
            Ok(entry) => newest = newest.max(entry.seq),
            Err(e) => tracing::warn!(error = %e, "could not append to the audit log"),
        }
        outcomes.insert(plan.clone(), outcome.map(|()| head.seq));
    }
    *last = Some(newest);
    outcomes
}

impl Service {
    /// Seals the audit log's head into each plan's primary repository now (what the timer
    /// and the shutdown do): per plan, the sealed seq or why it failed. Plans sharing a
    /// repository seal once, under the first of them.
    pub async fn seal_audit(&self) -> BTreeMap<String, Result<u64, String>> {
        seal(&self.inner).await
    }
}

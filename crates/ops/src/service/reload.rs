//! Swapping the configuration (an invalid one refused, the old one kept; running jobs keep
//! the plan they started with), what a plan can be asked to run, and the shutdown.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::runner::Work;
use super::{Inner, ReloadReport, Service, ServiceError};
use crate::config::{Config, ConfigError, ServiceSettings};
use crate::plans::ResolvedPlan;
use crate::run::runs_in_cluster;

/// Refuses a configuration with problems (one built in code skipped [`Config::parse`]).
pub(crate) fn check(config: &Config, origin: &str) -> Result<(), ServiceError> {
    let problems = crate::config::check_config(config);
    if problems.is_empty() {
        return Ok(());
    }
    Err(ServiceError::Config { source: ConfigError::Invalid { path: origin.to_owned(), problems } })
}

/// Refuses work the plan cannot do.
pub(crate) fn runnable(plan: &ResolvedPlan, work: Work) -> Result<(), ServiceError> {
    let refuse = |reason: &str| {
        Err(ServiceError::NotRunnable {
            plan: plan.name.clone(),
            kind: format!("{:?}", work.kind()).to_lowercase(),
            reason: reason.to_owned(),
        })
    };
    match work {
        // A drill of an Elasticsearch plan restores its snapshot under a drill prefix.
        Work::Backup | Work::Drill => Ok(()),
        _ if runs_in_cluster(plan) => refuse("an Elasticsearch plan's snapshots stay in the cluster"),
        Work::Copy(_) if plan.config.copy_to.is_empty() => refuse("the plan has no copy-to destination"),
        _ => Ok(()),
    }
}

/// Swaps in `config` after checking it.
pub(crate) async fn reload(inner: &Arc<Inner>, config: Config) -> Result<ReloadReport, ServiceError> {
    if inner.stopping.is_cancelled() {
        return Err(ServiceError::ShuttingDown);
    }
    check(&config, &inner.origin)?;
    let old = inner.config();
    let mut report = ReloadReport::default();
    for (name, plan) in &config.plans {
        match old.plans.get(name) {
            None => report.added.push(name.clone()),
            Some(before) if before != plan => report.changed.push(name.clone()),
            Some(_) => report.unchanged.push(name.clone()),
        }
    }
    report.removed = old.plans.keys().filter(|name| !config.plans.contains_key(*name)).cloned().collect();
    report.needs_restart = restart_keys(&old.service, &config.service);
    *inner.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
    inner.listings.write().unwrap_or_else(|p| p.into_inner()).clear();
    inner.handles.lock().unwrap_or_else(|p| p.into_inner()).clear();
    tracing::info!(
        added = ?report.added, removed = ?report.removed, changed = ?report.changed,
        "configuration reloaded from {}", inner.origin
    );
    inner.wake.notify_one();
    Ok(report)
}

/// The `[service]` keys read only at start that differ.
fn restart_keys(old: &ServiceSettings, new: &ServiceSettings) -> Vec<String> {
    let mut keys = Vec::new();
    let mut differs = |key: &str, changed: bool| {
        if changed {
            keys.push(format!("service.{key}"));
        }
    };
    differs("listen", old.listen != new.listen);
    differs("state", old.state != new.state);
    differs("tls-cert", old.tls_cert != new.tls_cert);
    differs("tls-key", old.tls_key != new.tls_key);
    differs("concurrency", old.concurrency != new.concurrency);
    differs("per-repository", old.per_repository != new.per_repository);
    keys
}

/// Stops scheduling, waits up to `grace`, cancels what still runs and waits for it to be
/// recorded.
pub(crate) async fn shutdown(inner: &Arc<Inner>, service: &Service, grace: Duration) {
    inner.stopping.cancel();
    inner.wake.notify_one();
    if tokio::time::timeout(grace, service.wait_idle()).await.is_ok() {
        return;
    }
    inner.shutting_down.store(true, Ordering::SeqCst);
    tracing::warn!("grace of {grace:?} over: cancelling the jobs still running");
    inner.kill.cancel();
    if tokio::time::timeout(Duration::from_secs(60), service.wait_idle()).await.is_err() {
        tracing::error!("jobs did not stop within a minute of being cancelled");
    }
}

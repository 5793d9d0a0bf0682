//! The rules the timer decides, each giving a [`Verdict`] per plan (and repository): the
//! condition holds, it is clear, or it cannot be told now (the repository cannot be read),
//! in which case the open alert stays as it is.

use chrono::{DateTime, TimeDelta, Utc};
use lifeboat_repo::list_locks;
use lifeboat_storage::redact_url;

use crate::alerts::disk::{local_path, usage_percent};
use crate::alerts::{AlertRule, Condition, fingerprint};
use crate::config::{Config, PlanConfig};
use crate::service::{BackupSummary, RepositoryStatus, Service};

/// What a rule found for one plan and repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The condition holds.
    Holds(Condition),
    /// It does not: the open alert of this fingerprint resolves.
    Clear(String),
    /// It cannot be told now: nothing changes.
    Unknown,
}

/// One plan's rules settings, `[alerts]` under `[plans.NAME.alerts]`.
pub(crate) struct Thresholds {
    pub disabled: Vec<AlertRule>,
    pub stale_factor: u32,
    pub stale_after: Option<TimeDelta>,
    pub disk_usage: u8,
    pub lock_stuck_after: TimeDelta,
    pub copy_lag: TimeDelta,
}

impl Thresholds {
    /// The thresholds of `plan` in `config`.
    pub(crate) fn of(config: &Config, plan: &PlanConfig) -> Thresholds {
        let global = &config.alerts;
        let own = &plan.alerts;
        // A lock older than the longest a job may run belongs to no live job of lifeboatd.
        let job_timeout = config.service.job_timeout.map(|s| s.as_delta()).unwrap_or(TimeDelta::hours(6));
        Thresholds {
            disabled: global.disabled.iter().chain(own.disabled.iter()).copied().collect(),
            stale_factor: global.stale_factor.max(1),
            stale_after: own.stale_after.map(|s| s.as_delta()),
            disk_usage: own.disk_usage.unwrap_or(global.disk_usage),
            lock_stuck_after: own.lock_stuck_after.or(global.lock_stuck_after).map_or(job_timeout, |s| s.as_delta()),
            copy_lag: own.copy_lag.unwrap_or(global.copy_lag).as_delta(),
        }
    }

    pub(crate) fn enabled(&self, rule: AlertRule) -> bool {
        !self.disabled.contains(&rule)
    }
}

/// The repository a plan-level alert names: the plan's primary, redacted.
pub(crate) fn primary(plan: &PlanConfig) -> Option<String> {
    plan.repository.as_deref().map(redact_url)
}

/// `3h20m`: a length of time as the config writes it.
pub(crate) fn span(d: TimeDelta) -> String {
    crate::schedule::Span::from_seconds(d.num_seconds().max(0)).to_string()
}

/// The age limit of `plan`'s last success: `stale-after`, else its RPO, else `stale-factor`
/// times the gap between its schedule's next two slots; `None` when it has none of them.
pub(crate) fn stale_limit(plan: &PlanConfig, t: &Thresholds, now: DateTime<Utc>) -> Option<TimeDelta> {
    if let Some(limit) = t.stale_after {
        return Some(limit);
    }
    if let Some(rpo) = plan.objectives.as_ref().and_then(|o| o.rpo) {
        return Some(rpo.as_delta());
    }
    let spec = plan.schedule_spec().ok().flatten()?;
    spec.interval_after(now).map(|gap| gap * t.stale_factor as i32)
}

/// `rpo_exceeded` for `name`: its last success (or, never succeeded, when the service first
/// saw it: `since`) older than its limit.
pub(crate) fn rpo(
    name: &str,
    plan: &PlanConfig,
    t: &Thresholds,
    last_success: Option<DateTime<Utc>>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Verdict {
    let repository = primary(plan);
    let key = fingerprint(AlertRule::RpoExceeded, Some(name), repository.as_deref());
    let Some(limit) = stale_limit(plan, t, now).filter(|_| t.enabled(AlertRule::RpoExceeded)) else {
        return Verdict::Clear(key);
    };
    let age = now - last_success.unwrap_or(since);
    if age <= limit {
        return Verdict::Clear(key);
    }
    let summary = match last_success {
        Some(_) => format!("plan {name}: last successful backup {} ago, more than {}", span(age), span(limit)),
        None => format!(
            "plan {name}: no successful backup in the {} since lifeboatd first saw it, more than {}",
            span(age),
            span(limit)
        ),
    };
    Verdict::Holds(Condition {
        rule: AlertRule::RpoExceeded,
        plan: Some(name.to_owned()),
        repository,
        summary,
        details: last_success.map(|t| format!("last success at {}", t.to_rfc3339())),
        job: None,
    })
}

/// `repository_unreachable` for every plan using each repository.
pub(crate) fn unreachable(config: &Config, statuses: &[RepositoryStatus]) -> Vec<Verdict> {
    let mut out = Vec::new();
    for status in statuses {
        for name in &status.plans {
            let Some(plan) = config.plans.get(name) else { continue };
            let t = Thresholds::of(config, plan);
            let key = fingerprint(AlertRule::RepositoryUnreachable, Some(name), Some(&status.repository));
            if status.reachable || !t.enabled(AlertRule::RepositoryUnreachable) {
                out.push(Verdict::Clear(key));
                continue;
            }
            let error = status.error.clone().unwrap_or_else(|| "cannot be opened".to_owned());
            out.push(Verdict::Holds(Condition {
                rule: AlertRule::RepositoryUnreachable,
                plan: Some(name.clone()),
                repository: Some(status.repository.clone()),
                summary: format!("plan {name}: repository {} unreachable: {error}", status.repository),
                details: Some(error),
                job: None,
            }));
        }
    }
    out
}

/// Every repository URL `plan` uses: its primary (`None`) and its copies (`Some(i)`).
pub(crate) fn urls(plan: &PlanConfig) -> Vec<(String, Option<usize>)> {
    let primary = plan.repository.iter().filter(|u| !u.trim().is_empty()).map(|u| (u.clone(), None));
    primary.chain(plan.copy_to.iter().enumerate().map(|(i, c)| (c.repository.clone(), Some(i)))).collect()
}

/// `lock_stuck` for `name` in `url`: its oldest lock older than `lock-stuck-after`.
pub(crate) async fn lock(
    service: &Service,
    name: &str,
    t: &Thresholds,
    (url, copy): &(String, Option<usize>),
    reachable: bool,
    now: DateTime<Utc>,
) -> Verdict {
    let shown = redact_url(url);
    let key = fingerprint(AlertRule::LockStuck, Some(name), Some(&shown));
    if !t.enabled(AlertRule::LockStuck) {
        return Verdict::Clear(key);
    }
    if !reachable {
        return Verdict::Unknown;
    }
    let Ok(repo) = service.repository_handle(url, name, *copy).await else { return Verdict::Unknown };
    let Ok(locks) = list_locks(repo.storage().as_ref()).await else { return Verdict::Unknown };
    let oldest = locks.iter().min_by_key(|l| l.info.created);
    let Some(lock) = oldest.filter(|l| now - l.info.created.to_utc() > t.lock_stuck_after) else {
        return Verdict::Clear(key);
    };
    let age = now - lock.info.created.to_utc();
    Verdict::Holds(Condition {
        rule: AlertRule::LockStuck,
        plan: Some(name.to_owned()),
        repository: Some(shown.clone()),
        summary: format!(
            "plan {name}: a lock in {shown} is {} old, more than {} ({} by {} on {})",
            span(age),
            span(t.lock_stuck_after),
            lock.info.operation,
            lock.info.pid,
            lock.info.host
        ),
        details: Some(format!("lock {} created at {}", lock.info.id, lock.info.created.to_rfc3339())),
        job: None,
    })
}

/// `disk_full` for `name` in `url` when that is a local directory.
pub(crate) async fn disk(name: &str, t: &Thresholds, url: &str) -> Verdict {
    let shown = redact_url(url);
    let key = fingerprint(AlertRule::DiskFull, Some(name), Some(&shown));
    let Some(path) = local_path(url).filter(|_| t.enabled(AlertRule::DiskFull)) else { return Verdict::Clear(key) };
    let usage = match tokio::task::spawn_blocking(move || usage_percent(&path)).await {
        Ok(Ok(usage)) => usage,
        _ => return Verdict::Unknown, // a missing directory is repository_unreachable's business
    };
    if usage <= f64::from(t.disk_usage) {
        return Verdict::Clear(key);
    }
    Verdict::Holds(Condition {
        rule: AlertRule::DiskFull,
        plan: Some(name.to_owned()),
        repository: Some(shown.clone()),
        summary: format!("plan {name}: the file system of {shown} is {usage:.1}% full, above {}%", t.disk_usage),
        details: None,
        job: None,
    })
}

/// `copy_behind` for each copy destination of `name`: the newest backup in the primary
/// missing from it for longer than `copy-lag`.
pub(crate) fn copies(
    name: &str,
    plan: &PlanConfig,
    t: &Thresholds,
    backups: &[BackupSummary],
    primary_reachable: bool,
    now: DateTime<Utc>,
) -> Vec<Verdict> {
    let Some(primary) = primary(plan) else { return Vec::new() };
    let newest = backups.iter().filter(|b| b.repository == primary).max_by_key(|b| b.time);
    let mut out = Vec::new();
    for copy in &plan.copy_to {
        let shown = redact_url(&copy.repository);
        let key = fingerprint(AlertRule::CopyBehind, Some(name), Some(&shown));
        if !t.enabled(AlertRule::CopyBehind) {
            out.push(Verdict::Clear(key));
            continue;
        }
        if !primary_reachable {
            out.push(Verdict::Unknown);
            continue;
        }
        let Some(newest) = newest else {
            out.push(Verdict::Clear(key));
            continue;
        };
        let copied = backups.iter().any(|b| b.repository == shown && b.id == newest.id);
        let late = now - newest.time;
        if copied || late <= t.copy_lag {
            out.push(Verdict::Clear(key));
            continue;
        }
        out.push(Verdict::Holds(Condition {
            rule: AlertRule::CopyBehind,
            plan: Some(name.to_owned()),
            repository: Some(shown.clone()),
            summary: format!(
                "plan {name}: backup {} is not in {shown} {} after it was made, more than {}",
                newest.id,
                span(late),
                span(t.copy_lag)
            ),
            details: None,
            job: None,
        }));
    }
    out
}

//! What the repositories hold, as the API shows it: the backup list rebuilt from the
//! repositories themselves (never from the state, which is only a cache of history), kept
//! in memory and refreshed after each job of a plan; and each repository's reachability,
//! locks, size and last verify.

use std::collections::BTreeMap;
use std::sync::Arc;

use lifeboat_repo::{Manifest, Repository, list_locks};
use lifeboat_storage::redact_url;

use super::failure::redact;
use super::{BackupSummary, Inner, RepositoryStatus, ServiceError};
use crate::config::Config;
use crate::opener::Target;
use crate::plans::ResolvedPlan;
use crate::state::{JobFilter, JobKind, JobState};

/// One repository's listing, as last read.
#[derive(Debug, Clone, Default)]
pub(crate) struct Listing {
    pub backups: Vec<BackupSummary>,
    pub error: Option<String>,
}

/// Who uses a repository URL: `(plan, None)` for a primary, `(plan, Some(i))` for its i-th copy.
pub(crate) fn repository_uses(config: &Config) -> BTreeMap<String, Vec<(String, Option<usize>)>> {
    let mut uses: BTreeMap<String, Vec<(String, Option<usize>)>> = BTreeMap::new();
    for (name, plan) in &config.plans {
        if let Some(url) = &plan.repository {
            uses.entry(url.clone()).or_default().push((name.clone(), None));
        }
        for (i, copy) in plan.copy_to.iter().enumerate() {
            uses.entry(copy.repository.clone()).or_default().push((name.clone(), Some(i)));
        }
    }
    uses
}

/// A backup's row.
fn summary(m: &Manifest, repository: &str) -> BackupSummary {
    BackupSummary {
        id: m.id.clone(),
        plan: m.plan.clone(),
        kind: m.kind.as_str().to_owned(),
        host: m.host.clone(),
        time: m.finished.to_utc(),
        tags: m.tags.clone(),
        size_bytes: m.plain_size(),
        stored_bytes: m.stored_size(),
        repository: repository.to_owned(),
    }
}

/// The read side's handle on `url`, opened as `plan` uses it the first time and kept.
pub(crate) async fn open(
    inner: &Inner,
    config: &Config,
    url: &str,
    plan: &str,
    copy: Option<usize>,
) -> Result<Arc<Repository>, String> {
    if let Some(repo) = inner.handles.lock().unwrap_or_else(|p| p.into_inner()).get(url) {
        return Ok(Arc::clone(repo));
    }
    let Some(plan_config) = config.plans.get(plan) else { return Err(format!("no plan {plan:?}")) };
    let resolved = ResolvedPlan { name: plan.to_owned(), origin: inner.origin.clone(), config: plan_config.clone() };
    let target = match copy.and_then(|i| plan_config.copy_to.get(i)) {
        Some(c) => Target::Copy(c),
        None => Target::Primary,
    };
    let opened = inner.opener.open(&resolved, target, Arc::clone(&inner.clock)).await;
    let repo = Arc::new(opened.map_err(|e| redact(&e.to_string()))?);
    inner.handles.lock().unwrap_or_else(|p| p.into_inner()).insert(url.to_owned(), Arc::clone(&repo));
    Ok(repo)
}

/// Forgets the kept handle on `url` (a read through it failed: open afresh next time).
fn drop_handle(inner: &Inner, url: &str) {
    inner.handles.lock().unwrap_or_else(|p| p.into_inner()).remove(url);
}

/// Lists `url` (opened as its first user does) into the cache; returns the repository too.
async fn refresh(inner: &Inner, config: &Config, url: &str, user: &(String, Option<usize>)) -> Option<Arc<Repository>> {
    let shown = redact_url(url);
    let (listing, repo) = match open(inner, config, url, &user.0, user.1).await {
        Err(error) => (Listing { backups: Vec::new(), error: Some(error) }, None),
        Ok(repo) => match repo.list_backups().await {
            Ok(list) => {
                let backups = list.readable.iter().map(|m| summary(m, &shown)).collect();
                let error = (!list.unreadable.is_empty())
                    .then(|| format!("{} manifests cannot be read", list.unreadable.len()));
                (Listing { backups, error }, Some(repo))
            }
            Err(e) => {
                drop_handle(inner, url);
                (Listing { backups: Vec::new(), error: Some(redact(&e.to_string())) }, Some(repo))
            }
        },
    };
    inner.listings.write().unwrap_or_else(|p| p.into_inner()).insert(url.to_owned(), listing);
    repo
}

/// The kept listing of `url`, if any.
fn cached_listing(inner: &Inner, url: &str) -> Option<Listing> {
    inner.listings.read().unwrap_or_else(|p| p.into_inner()).get(url).cloned()
}

/// Drops the cached listings of the repositories of `plan` (after one of its jobs): the
/// next read lists them again, so a job does not pay for a listing nobody asked for.
pub(crate) fn refresh_plan(inner: &Inner, plan: &ResolvedPlan) {
    let mut listings = inner.listings.write().unwrap_or_else(|p| p.into_inner());
    for url in plan.config.repository.iter().chain(plan.config.copy_to.iter().map(|c| &c.repository)) {
        listings.remove(url);
    }
}

/// The backups of `plan` (every plan's for `None`) in every repository it uses.
pub(crate) async fn backups(inner: &Inner, plan: Option<&str>) -> Result<Vec<BackupSummary>, ServiceError> {
    let config = inner.config();
    if let Some(name) = plan
        && !config.plans.contains_key(name)
    {
        return Err(ServiceError::NoSuchPlan { plan: name.to_owned(), origin: inner.origin.clone() });
    }
    let mut out = Vec::new();
    for (url, users) in repository_uses(&config) {
        let Some(user) = users.iter().find(|(p, _)| plan.is_none_or(|name| p == name)) else { continue };
        let listing = match cached_listing(inner, &url) {
            Some(listing) => listing,
            None => {
                if let Some(repo) = refresh(inner, &config, &url, user).await {
                    repo.settle().await;
                }
                cached_listing(inner, &url).unwrap_or_default()
            }
        };
        out.extend(listing.backups.into_iter().filter(|b| plan.is_none_or(|name| b.plan.as_deref() == Some(name))));
    }
    out.sort_by(|a, b| a.time.cmp(&b.time).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// Every repository the plans use: its locks read now, its backups from the kept listing.
pub(crate) async fn repositories(inner: &Inner) -> Result<Vec<RepositoryStatus>, ServiceError> {
    let config = inner.config();
    let mut out = Vec::new();
    for (url, users) in repository_uses(&config) {
        let Some(first) = users.first() else { continue };
        // A listing is read once and kept until a job of its plans or a reload drops it;
        // the locks are read each time, through the kept handle.
        let (repo, listing) = match cached_listing(inner, &url) {
            Some(listing) => match open(inner, &config, &url, &first.0, first.1).await {
                Ok(repo) => (Some(repo), listing),
                Err(error) => (None, Listing { backups: Vec::new(), error: Some(error) }),
            },
            None => {
                let repo = refresh(inner, &config, &url, first).await;
                (repo, cached_listing(inner, &url).unwrap_or_default())
            }
        };
        let mut plans: Vec<String> = users.iter().map(|(p, _)| p.clone()).collect();
        plans.dedup();
        let mut status = RepositoryStatus {
            repository: redact_url(&url),
            plans,
            reachable: repo.is_some() && listing.error.is_none(),
            error: listing.error.clone(),
            locks: 0,
            stale_locks: 0,
            backups: listing.backups.len() as u64,
            size_bytes: repo.as_ref().map(|_| listing.backups.iter().map(|b| b.stored_bytes).sum()),
            last_verify: None,
            last_verify_ok: None,
        };
        if let Some(repo) = &repo {
            match list_locks(repo.storage().as_ref()).await {
                Ok(locks) => {
                    status.locks = locks.len() as u32;
                    status.stale_locks = locks.iter().filter(|l| l.state(None).is_dead()).count() as u32;
                }
                Err(e) => {
                    drop_handle(inner, url.as_str());
                    status.error = Some(redact(&e.to_string()));
                }
            }
            repo.settle().await;
        }
        last_verify(inner, &users, &mut status).await?;
        out.push(status);
    }
    Ok(out)
}

/// The newest finished verify job of the plans whose primary repository this is.
async fn last_verify(
    inner: &Inner,
    users: &[(String, Option<usize>)],
    status: &mut RepositoryStatus,
) -> Result<(), ServiceError> {
    for (plan, copy) in users {
        if copy.is_some() {
            continue;
        }
        let filter =
            JobFilter { plan: Some(plan.clone()), kind: Some(JobKind::Verify), limit: Some(20), ..Default::default() };
        let page = inner.state.list_jobs(filter).await?;
        let Some(job) = page.jobs.into_iter().find(|j| matches!(j.state, JobState::Succeeded | JobState::Failed))
        else {
            continue;
        };
        if job.ended_at > status.last_verify {
            status.last_verify = job.ended_at;
            status.last_verify_ok = Some(job.state == JobState::Succeeded);
        }
    }
    Ok(())
}

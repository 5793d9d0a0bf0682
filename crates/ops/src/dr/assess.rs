//! `lifeboat dr assess`: could the organisation recover right now? Every source, plan,
//! repository and Elasticsearch cluster the configuration names is checked (read only, nothing
//! is written anywhere), and the answer is an overall [`DrStatus`] with the reasons and what
//! to do about each.
//!
//! What is checked, and what each finding makes of the status:
//!
//! | object | checked | at risk | degraded |
//! |---|---|---|---|
//! | source | reachable, version, size (lifeboat-dump's probe; files: every path there; stdin: the program found) | cannot be reached | |
//! | plan | newest backup's age against the RPO, last verify, last drill and its measured RTO, copies | no backup; newest older than the RPO; last verify found damage; last drill failed or took longer than the RTO | no schedule; no off-site copy; a copy missing the newest backup for longer than `copy-lag`; no verify or drill in 30 days |
//! | repository | opens, backups, locks, free space (local directories) | a plan's primary cannot be opened | a copy cannot be opened; stale locks; fuller than `disk-usage` |
//! | cluster | health, each snapshot repository's verify | unreachable, red, a repository fails its verify | yellow |
//!
//! The last verify is the newest finished verify job in the state; the last drill the newest
//! drill report in the state, else (a host without a state) the newest `drill` record in the
//! plan's repository. Without a state the last verify is unknown and is not held against a
//! plan that has a verify schedule.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use lifeboat_dump::Secret;
use lifeboat_repo::{Repository, list_locks};
use lifeboat_storage::{StorageUrl, redact_url};
use serde::Serialize;

use super::report::DrillReport;
use super::{DrEnv, DrillSubject};
use crate::config::{Config, PlanConfig, SourceConfig};
use crate::opener::Target;
use crate::plans::ResolvedPlan;
use crate::schedule::Span;
use crate::state::{DrillFilter, JobFilter, JobKind, JobState};

/// How far back a verify or a drill still counts as recent.
pub const RECENT_DAYS: i64 = 30;

/// The answer of an assessment.
#[derive(Debug, Clone, Serialize)]
pub struct AssessReport {
    /// When it was made.
    pub generated_at: DateTime<Utc>,
    /// healthy, degraded or at_risk.
    pub status: DrStatus,
    /// Why the status is not healthy, one line each.
    pub reasons: Vec<String>,
    /// What to do, one line each ("plan db has no off-site copy").
    pub recommendations: Vec<String>,
    /// Each plan's source (Elasticsearch plans are under `clusters`).
    pub sources: Vec<SourceCheck>,
    /// Each plan.
    pub plans: Vec<PlanCheck>,
    /// Each repository the plans use (primaries and copies), once.
    pub repositories: Vec<RepositoryCheck>,
    /// Each Elasticsearch cluster the plans use, once.
    pub clusters: Vec<ClusterCheck>,
}

/// The overall verdict (and each object's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DrStatus {
    /// Every plan recoverable within its objectives.
    Healthy,
    /// Recoverable, with something to fix.
    Degraded,
    /// Some plan could not be recovered within its objectives now.
    AtRisk,
}

impl DrStatus {
    /// `healthy`, `degraded`, `at risk`.
    pub fn as_str(self) -> &'static str {
        match self {
            DrStatus::Healthy => "healthy",
            DrStatus::Degraded => "degraded",
            DrStatus::AtRisk => "at risk",
        }
    }
}

/// A plan's source, probed.
#[derive(Debug, Clone, Serialize)]
pub struct SourceCheck {
    /// The plan.
    pub plan: String,
    /// `postgres`, `mysql`, `redis`, `files`, `stdin`.
    pub kind: String,
    /// The redacted URL, the paths, or the program.
    pub target: String,
    /// It answered (files: every path is there; stdin: the program was found).
    pub reachable: bool,
    /// The server's version.
    pub version: Option<String>,
    /// How large its data is (databases: on disk; Redis: in memory).
    pub size_bytes: Option<u64>,
    /// Redis: keys.
    pub keys: Option<u64>,
    /// Why it is not reachable.
    pub error: Option<String>,
    /// This source's verdict.
    pub status: DrStatus,
}

/// A plan's backups, verifies and drills against its objectives.
#[derive(Debug, Clone, Serialize)]
pub struct PlanCheck {
    /// The plan.
    pub plan: String,
    /// Its source's kind.
    pub kind: Option<String>,
    /// Its primary repository (redacted), or the cluster's snapshot repository.
    pub repository: Option<String>,
    /// `objectives.rpo`.
    pub rpo_objective_seconds: Option<i64>,
    /// `objectives.rto`.
    pub rto_objective_seconds: Option<i64>,
    /// Backups (or snapshots) of the plan found.
    pub backups: Option<u64>,
    /// The newest of them.
    pub newest_backup: Option<String>,
    /// When it was made.
    pub newest_backup_time: Option<DateTime<Utc>>,
    /// Its age now.
    pub newest_backup_age_seconds: Option<i64>,
    /// The age is within the RPO (`None`: no RPO, or no backup to judge).
    pub rpo_met: Option<bool>,
    /// When the last verify job ended (`None`: none, or no state to know it from).
    pub last_verify: Option<DateTime<Utc>>,
    /// Whether it passed.
    pub last_verify_ok: Option<bool>,
    /// The last drill of the plan.
    pub last_drill: Option<LastDrill>,
    /// Each copy destination: does it hold the newest backup?
    pub copies: Vec<CopyCheck>,
    /// This plan's verdict.
    pub status: DrStatus,
}

/// The newest drill of a plan, from its report.
#[derive(Debug, Clone, Serialize)]
pub struct LastDrill {
    /// The report's id.
    pub id: String,
    /// When it started.
    pub started: DateTime<Utc>,
    /// Every step passed.
    pub passed: bool,
    /// The measured RTO.
    pub rto_seconds: f64,
    /// The objectives were met (`None`: none set).
    pub objectives_met: Option<bool>,
    /// Why it failed.
    pub failure: Option<String>,
    /// `state` or `repository`: where the report was found.
    pub found_in: String,
}

/// One copy destination of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct CopyCheck {
    /// The destination (redacted).
    pub repository: String,
    /// It holds the plan's newest backup (`None`: it could not be read, or there is none).
    pub has_newest: Option<bool>,
}

/// A repository, opened and read.
#[derive(Debug, Clone, Serialize)]
pub struct RepositoryCheck {
    /// The URL (redacted).
    pub repository: String,
    /// The plans using it, `plan` for a primary, `plan (copy)` for a copy destination.
    pub plans: Vec<String>,
    /// It opened and its backups could be listed.
    pub reachable: bool,
    /// Why not (or the manifests that could not be read).
    pub error: Option<String>,
    /// Backups in it.
    pub backups: Option<u64>,
    /// Locks in it.
    pub locks: Option<u32>,
    /// Locks whose owner is gone.
    pub stale_locks: Option<u32>,
    /// Free bytes for an unprivileged writer (local directories only).
    pub free_bytes: Option<u64>,
    /// How full its file system is, in percent (local directories only).
    pub used_percent: Option<f64>,
    /// This repository's verdict.
    pub status: DrStatus,
}

/// An Elasticsearch cluster.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterCheck {
    /// The cluster's URL (redacted).
    pub url: String,
    /// The plans snapshotting it.
    pub plans: Vec<String>,
    /// It answered.
    pub reachable: bool,
    /// Its version.
    pub version: Option<String>,
    /// `green`, `yellow`, `red`.
    pub health: Option<String>,
    /// Why it did not answer.
    pub error: Option<String>,
    /// Each snapshot repository the plans use, verified.
    pub repositories: Vec<SnapshotRepositoryCheck>,
    /// This cluster's verdict.
    pub status: DrStatus,
}

/// A cluster's snapshot repository, verified on every node.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotRepositoryCheck {
    /// Its name.
    pub name: String,
    /// Every node could use it.
    pub verified: bool,
    /// The nodes that verified it.
    pub nodes: Vec<String>,
    /// Why the verify failed.
    pub error: Option<String>,
}

/// The reasons and recommendations gathered, and the worst status among them.
struct Findings {
    status: DrStatus,
    reasons: Vec<String>,
    recommendations: Vec<String>,
}

impl Findings {
    /// Records a finding; returns `status` so the object's own verdict can take it.
    fn add(&mut self, status: DrStatus, reason: String, recommendation: String) -> DrStatus {
        self.status = self.status.max(status);
        self.reasons.push(reason);
        if !self.recommendations.contains(&recommendation) {
            self.recommendations.push(recommendation);
        }
        status
    }
}

/// One repository's listing, read once for every plan that uses it.
struct Listing {
    repo: Option<Arc<Repository>>,
    manifests: Vec<lifeboat_repo::Manifest>,
    error: Option<String>,
}

/// Assesses everything the configuration names. Read only; never fails: what cannot be read
/// is a finding.
pub async fn assess(env: &DrEnv) -> AssessReport {
    let now = env.clock.now();
    let config = Arc::clone(&env.config);
    let mut findings = Findings { status: DrStatus::Healthy, reasons: Vec::new(), recommendations: Vec::new() };
    let mut sources = Vec::new();
    for (name, plan) in &config.plans {
        if let Some(source) = &plan.source
            && !matches!(source, SourceConfig::Elasticsearch(_))
        {
            sources.push(source_check(name, source, &mut findings).await);
        }
    }
    let (repositories, listings) = repository_checks(env, &config, &mut findings).await;
    let clusters = cluster_checks(&config, &mut findings).await;
    let mut plans = Vec::new();
    for (name, plan) in &config.plans {
        plans.push(plan_check(env, name, plan, &listings, now, &mut findings).await);
    }
    for listing in listings.values() {
        if let Some(repo) = &listing.repo {
            repo.settle().await;
        }
    }
    AssessReport {
        generated_at: now,
        status: findings.status,
        reasons: findings.reasons,
        recommendations: findings.recommendations,
        sources,
        plans,
        repositories,
        clusters,
    }
}

/// A length of time as the config writes it (`3h20m`).
fn span(seconds: i64) -> String {
    Span::from_seconds(seconds.max(0)).to_string()
}

/// The error text, with anything that looks like a URL's password left out.
fn shown(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    text.split(' ').map(|w| if w.contains("://") { redact_url(w) } else { w.to_owned() }).collect::<Vec<_>>().join(" ")
}

async fn source_check(name: &str, source: &SourceConfig, findings: &mut Findings) -> SourceCheck {
    let mut check = SourceCheck {
        plan: name.to_owned(),
        kind: source.kind().to_owned(),
        target: String::new(),
        reachable: false,
        version: None,
        size_bytes: None,
        keys: None,
        error: None,
        status: DrStatus::Healthy,
    };
    let outcome: Result<(), String> = match source {
        SourceConfig::Files(files) => {
            check.target = files.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
            let paths = files.paths.clone();
            let missing = tokio::task::spawn_blocking(move || {
                paths
                    .iter()
                    .filter(|p| std::fs::symlink_metadata(p).is_err())
                    .map(|p| p.display().to_string())
                    .collect()
            })
            .await
            .unwrap_or_else(|e| vec![format!("(the check failed: {e})")]);
            let missing: Vec<String> = missing;
            if missing.is_empty() { Ok(()) } else { Err(format!("missing: {}", missing.join(", "))) }
        }
        SourceConfig::Stdin(stdin) => {
            let program = stdin.command.first().cloned().unwrap_or_default();
            check.target = program.clone();
            if program_found(&program) { Ok(()) } else { Err(format!("program {program:?} not found")) }
        }
        SourceConfig::Postgres(_) | SourceConfig::Mysql(_) | SourceConfig::Redis(_) => {
            let url = source.url().unwrap_or_default().to_owned();
            check.target = redact_url(&url);
            let bindir = match source {
                SourceConfig::Postgres(pg) => pg.bindir.clone(),
                _ => None,
            };
            match source.password().read() {
                Err(e) => Err(shown(&e)),
                Ok(password) => {
                    let password = password.map(|p| Secret::new(p.as_str()));
                    match lifeboat_dump::probe::probe(&url, password.as_ref(), bindir).await {
                        Ok(found) => {
                            check.version = Some(found.version);
                            check.size_bytes = found.size_bytes;
                            check.keys = found.keys;
                            Ok(())
                        }
                        Err(e) => Err(shown(&e)),
                    }
                }
            }
        }
        SourceConfig::Elasticsearch(_) => Ok(()),
    };
    match outcome {
        Ok(()) => check.reachable = true,
        Err(error) => {
            check.status = findings.add(
                DrStatus::AtRisk,
                format!("plan {name}: source {} cannot be reached: {error}", check.target),
                format!(
                    "bring the source of plan {name} back (or fix its configuration): until then it takes no backup"
                ),
            );
            check.error = Some(error);
        }
    }
    check
}

/// An absolute or relative path that exists, or a name found on `PATH`.
fn program_found(program: &str) -> bool {
    if program.is_empty() {
        return false;
    }
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
}

/// Who uses each repository URL: `(plan, None)` for a primary, `(plan, Some(i))` for its copy i.
fn repository_users(config: &Config) -> BTreeMap<String, Vec<(String, Option<usize>)>> {
    let mut uses: BTreeMap<String, Vec<(String, Option<usize>)>> = BTreeMap::new();
    for (name, plan) in &config.plans {
        if let Some(url) = plan.repository.as_ref().filter(|u| !u.trim().is_empty()) {
            uses.entry(url.clone()).or_default().push((name.clone(), None));
        }
        for (i, copy) in plan.copy_to.iter().enumerate() {
            uses.entry(copy.repository.clone()).or_default().push((name.clone(), Some(i)));
        }
    }
    uses
}

async fn repository_checks(
    env: &DrEnv,
    config: &Config,
    findings: &mut Findings,
) -> (Vec<RepositoryCheck>, BTreeMap<String, Listing>) {
    let mut checks = Vec::new();
    let mut listings = BTreeMap::new();
    for (url, users) in repository_users(config) {
        let repository = redact_url(&url);
        let plans: Vec<String> =
            users.iter().map(|(p, copy)| if copy.is_some() { format!("{p} (copy)") } else { p.clone() }).collect();
        let mut check = RepositoryCheck {
            repository: repository.clone(),
            plans,
            reachable: false,
            error: None,
            backups: None,
            locks: None,
            stale_locks: None,
            free_bytes: None,
            used_percent: None,
            status: DrStatus::Healthy,
        };
        let listing = read_repository(env, config, &users).await;
        if let Some(repo) = &listing.repo {
            check.reachable = listing.error.is_none();
            check.backups = Some(listing.manifests.len() as u64);
            match list_locks(repo.storage().as_ref()).await {
                Ok(locks) => {
                    check.locks = Some(locks.len() as u32);
                    check.stale_locks = Some(locks.iter().filter(|l| l.state(None).is_dead()).count() as u32);
                }
                Err(e) => check.error = Some(shown(&e)),
            }
        }
        if check.error.is_none() {
            check.error = listing.error.clone();
        }
        if let Ok(StorageUrl::File(path)) = StorageUrl::parse(&url)
            && let Ok(Ok((free, used))) = tokio::task::spawn_blocking(move || disk_space(&path)).await
        {
            check.free_bytes = Some(free);
            check.used_percent = Some((used * 10.0).round() / 10.0);
        }
        judge_repository(config, &users, &mut check, listing.repo.is_some(), findings);
        checks.push(check);
        listings.insert(url, listing);
    }
    (checks, listings)
}

fn judge_repository(
    config: &Config,
    users: &[(String, Option<usize>)],
    check: &mut RepositoryCheck,
    opened: bool,
    findings: &mut Findings,
) {
    let repository = check.repository.clone();
    let primary_of: Vec<&str> = users.iter().filter(|(_, c)| c.is_none()).map(|(p, _)| p.as_str()).collect();
    let mut worst = DrStatus::Healthy;
    if !opened {
        let error = check.error.clone().unwrap_or_else(|| "cannot be opened".into());
        worst = worst.max(if primary_of.is_empty() {
            findings.add(
                DrStatus::Degraded,
                format!("copy destination {repository} cannot be opened: {error}"),
                format!("check the storage and credentials of {repository}"),
            )
        } else {
            findings.add(
                DrStatus::AtRisk,
                format!("repository {repository} (plan {}) cannot be opened: {error}", primary_of.join(", ")),
                format!("restore access to {repository}, or recover plan {} from one of its copies", primary_of[0]),
            )
        });
    } else if let Some(error) = check.error.clone() {
        worst = worst.max(findings.add(
            DrStatus::Degraded,
            format!("repository {repository}: {error}"),
            format!("run `lifeboat verify` on {repository} and look at what it cannot read"),
        ));
    }
    if let Some(stale) = check.stale_locks.filter(|n| *n > 0) {
        worst = worst.max(findings.add(
            DrStatus::Degraded,
            format!("repository {repository} holds {stale} stale lock(s) of processes that are gone"),
            format!("remove them with `lifeboat unlock` on {repository}"),
        ));
    }
    if let Some(used) = check.used_percent {
        let limit = users
            .iter()
            .filter_map(|(p, _)| config.plans.get(p).and_then(|p| p.alerts.disk_usage))
            .min()
            .unwrap_or(config.alerts.disk_usage);
        if used > f64::from(limit) {
            worst = worst.max(findings.add(
                DrStatus::Degraded,
                format!("the file system of {repository} is {used:.1}% full, above {limit}%"),
                format!("free space for {repository} (or prune it with `lifeboat prune`)"),
            ));
        }
    }
    check.status = worst;
}

/// Free bytes (for an unprivileged writer) and used percent of the file system at `path`.
fn disk_space(path: &Path) -> std::io::Result<(u64, f64)> {
    let stats = rustix::fs::statvfs(path)?;
    let used = stats.f_blocks.saturating_sub(stats.f_bfree);
    let usable = used + stats.f_bavail;
    let percent = if usable == 0 { 0.0 } else { used as f64 * 100.0 / usable as f64 };
    Ok((stats.f_bavail.saturating_mul(stats.f_frsize), percent))
}

/// Opens `url` as its first user does and lists its backups.
async fn read_repository(env: &DrEnv, config: &Config, users: &[(String, Option<usize>)]) -> Listing {
    let failed = |error: String| Listing { repo: None, manifests: Vec::new(), error: Some(error) };
    let Some((plan_name, copy)) = users.first() else { return failed("no plan uses it".into()) };
    let Some(plan_config) = config.plans.get(plan_name) else { return failed(format!("no plan {plan_name:?}")) };
    let plan = ResolvedPlan { name: plan_name.clone(), origin: env.origin.clone(), config: plan_config.clone() };
    let target = match copy.and_then(|i| plan_config.copy_to.get(i)) {
        Some(c) => Target::Copy(c),
        None => Target::Primary,
    };
    let repo = match env.opener.open(&plan, target, Arc::clone(&env.clock)).await {
        Ok(repo) => Arc::new(repo),
        Err(e) => return failed(shown(&e)),
    };
    match repo.list_backups().await {
        Ok(list) => {
            let error =
                (!list.unreadable.is_empty()).then(|| format!("{} manifest(s) cannot be read", list.unreadable.len()));
            Listing { repo: Some(repo), manifests: list.readable, error }
        }
        Err(e) => Listing { repo: Some(repo), manifests: Vec::new(), error: Some(shown(&e)) },
    }
}

/// The newest backup (or snapshot) of a plan: id and time; and how many there are.
struct Newest {
    count: u64,
    newest: Option<(String, DateTime<Utc>)>,
}

async fn plan_check(
    env: &DrEnv,
    name: &str,
    plan: &PlanConfig,
    listings: &BTreeMap<String, Listing>,
    now: DateTime<Utc>,
    findings: &mut Findings,
) -> PlanCheck {
    let objectives = plan.objectives.as_ref();
    let rpo = objectives.and_then(|o| o.rpo).map(|s| s.as_delta().num_seconds());
    let rto = objectives.and_then(|o| o.rto).map(|s| s.as_delta().num_seconds());
    let es = match &plan.source {
        Some(SourceConfig::Elasticsearch(es)) => Some(es),
        _ => None,
    };
    let primary = plan.repository.as_ref().and_then(|url| listings.get(url));
    let newest = match (es, primary) {
        (Some(es), _) => es_newest(name, es).await,
        (None, Some(listing)) if listing.repo.is_some() => Some(newest_in(listing, name)),
        _ => None,
    };
    let mut check = PlanCheck {
        plan: name.to_owned(),
        kind: plan.source.as_ref().map(|s| s.kind().to_owned()),
        repository: match es {
            Some(es) => Some(format!("{} (snapshot repository {})", redact_url(&es.url), es.repository)),
            None => plan.repository.as_deref().map(redact_url),
        },
        rpo_objective_seconds: rpo,
        rto_objective_seconds: rto,
        backups: newest.as_ref().map(|n| n.count),
        newest_backup: None,
        newest_backup_time: None,
        newest_backup_age_seconds: None,
        rpo_met: None,
        last_verify: None,
        last_verify_ok: None,
        last_drill: None,
        copies: Vec::new(),
        status: DrStatus::Healthy,
    };
    let mut worst = DrStatus::Healthy;
    let mut add = |findings: &mut Findings, status, reason, recommendation| {
        worst = worst.max(findings.add(status, reason, recommendation));
    };
    let run_it = match plan.schedule {
        Some(_) => format!("run `lifeboat run {name}` now and find out why its scheduled backups stopped"),
        None => format!("run `lifeboat run {name}` now, and give it a schedule"),
    };
    match newest.as_ref().map(|n| n.newest.clone()) {
        None => {} // the repository or cluster could not be read: its own finding says so
        Some(None) => add(findings, DrStatus::AtRisk, format!("plan {name} has no backup"), run_it.clone()),
        Some(Some((id, time))) => {
            let age = (now - time).num_seconds();
            check.newest_backup = Some(id);
            check.newest_backup_time = Some(time);
            check.newest_backup_age_seconds = Some(age);
            if let Some(rpo) = rpo {
                check.rpo_met = Some(age <= rpo);
                if age > rpo {
                    add(
                        findings,
                        DrStatus::AtRisk,
                        format!(
                            "plan {name}: the newest backup is {} old, more than its RPO of {}",
                            span(age),
                            span(rpo)
                        ),
                        run_it.clone(),
                    );
                }
            }
        }
    }
    if rpo.is_none() || rto.is_none() {
        findings.recommendations.push(format!(
            "set [plans.{name}.objectives] rpo and rto, so that assess and the drills hold plan {name} to them"
        ));
    }
    if plan.schedule.is_none() {
        add(
            findings,
            DrStatus::Degraded,
            format!("plan {name} has no schedule: it is backed up only by hand"),
            format!("give plan {name} a schedule (and run lifeboatd)"),
        );
    }
    if es.is_none() {
        copies(name, plan, env.config.alerts.copy_lag, listings, &mut check, now, findings, &mut add);
    }
    verify(env, name, plan, &mut check, now, findings, &mut add).await;
    drill(env, name, primary, &mut check, now, findings, &mut add).await;
    check.status = worst;
    check
}

fn newest_in(listing: &Listing, plan: &str) -> Newest {
    let mine: Vec<&lifeboat_repo::Manifest> =
        listing.manifests.iter().filter(|m| m.plan.as_deref() == Some(plan)).collect();
    let newest = mine.iter().max_by_key(|m| m.finished).map(|m| (m.id.clone(), m.finished.to_utc()));
    Newest { count: mine.len() as u64, newest }
}

/// The newest successful snapshot of the plan's policy (`{policy}-*`) in the cluster.
async fn es_newest(name: &str, es: &crate::config::ElasticsearchSource) -> Option<Newest> {
    let client = crate::run::es_client(name, es).ok()?;
    let snapshots = client.get_snapshots(&es.repository, &format!("{}-*", es.policy), true).await.ok()?;
    let good: Vec<_> = snapshots.iter().filter(|s| s.state == lifeboat_es::model::SnapshotState::Success).collect();
    let newest = good
        .iter()
        .filter_map(|s| Some((s.snapshot.clone(), s.taken_at().or_else(|| s.start_time())?)))
        .max_by_key(|(_, t)| *t);
    Some(Newest { count: good.len() as u64, newest })
}

type Add<'a> = dyn FnMut(&mut Findings, DrStatus, String, String) + 'a;

#[allow(clippy::too_many_arguments)]
fn copies(
    name: &str,
    plan: &PlanConfig,
    default_lag: Span,
    listings: &BTreeMap<String, Listing>,
    check: &mut PlanCheck,
    now: DateTime<Utc>,
    findings: &mut Findings,
    add: &mut Add<'_>,
) {
    let local = |url: &str| matches!(StorageUrl::parse(url), Ok(StorageUrl::File(_)));
    if plan.copy_to.is_empty() {
        add(
            findings,
            DrStatus::Degraded,
            format!("plan {name} has no off-site copy"),
            format!("add a [[plans.{name}.copy-to]] repository at another site"),
        );
    } else if plan.repository.as_deref().is_some_and(local) && plan.copy_to.iter().all(|c| local(&c.repository)) {
        add(
            findings,
            DrStatus::Degraded,
            format!("plan {name} has no off-site copy: its copies are local directories like its repository"),
            format!("copy plan {name} to object storage or another host ([[plans.{name}.copy-to]])"),
        );
    }
    let lag = plan.alerts.copy_lag.unwrap_or(default_lag).as_delta();
    for copy in &plan.copy_to {
        let repository = redact_url(&copy.repository);
        let listing = listings.get(&copy.repository).filter(|l| l.repo.is_some());
        let has_newest = match (check.newest_backup.as_ref(), listing) {
            (Some(id), Some(listing)) => Some(listing.manifests.iter().any(|m| &m.id == id)),
            _ => None,
        };
        if has_newest == Some(false)
            && let Some(time) = check.newest_backup_time
            && now - time > lag
        {
            add(
                findings,
                DrStatus::Degraded,
                format!(
                    "plan {name}: the newest backup {} is not in {repository} {} after it was made",
                    check.newest_backup.as_deref().unwrap_or_default(),
                    span((now - time).num_seconds())
                ),
                format!("copy plan {name}'s backups to {repository} (`lifeboat sync`, or lifeboatd after each backup)"),
            );
        }
        check.copies.push(CopyCheck { repository, has_newest });
    }
}

async fn verify(
    env: &DrEnv,
    name: &str,
    plan: &PlanConfig,
    check: &mut PlanCheck,
    now: DateTime<Utc>,
    findings: &mut Findings,
    add: &mut Add<'_>,
) {
    if matches!(plan.source, Some(SourceConfig::Elasticsearch(_))) {
        return; // the cluster's snapshot repository is verified instead
    }
    let Some(state) = &env.state else {
        if plan.verify.is_none() {
            add(
                findings,
                DrStatus::Degraded,
                format!("plan {name} has no verify schedule"),
                format!("schedule checks of plan {name}'s backups ([plans.{name}.verify] quick and deep)"),
            );
        }
        return;
    };
    let filter =
        JobFilter { plan: Some(name.to_owned()), kind: Some(JobKind::Verify), limit: Some(20), ..Default::default() };
    let last = match state.list_jobs(filter).await {
        Ok(page) => page.jobs.into_iter().find(|j| matches!(j.state, JobState::Succeeded | JobState::Failed)),
        Err(_) => None,
    };
    if let Some(job) = &last {
        check.last_verify = job.ended_at;
        check.last_verify_ok = Some(job.state == JobState::Succeeded);
    }
    let verify_it = format!("run `lifeboat verify --plan {name}` and schedule it ([plans.{name}.verify])");
    match (check.last_verify, check.last_verify_ok) {
        (_, Some(false)) => add(
            findings,
            DrStatus::AtRisk,
            format!("plan {name}: the last verify failed"),
            format!("run `lifeboat verify --plan {name}` and restore what it finds damaged from a copy"),
        ),
        (Some(at), _) if now - at <= TimeDelta::days(RECENT_DAYS) => {}
        (Some(at), _) => add(
            findings,
            DrStatus::Degraded,
            format!("plan {name}: no verify in {RECENT_DAYS} days (the last ended {})", at.format("%Y-%m-%d")),
            verify_it,
        ),
        (None, _) => add(findings, DrStatus::Degraded, format!("plan {name} was never verified"), verify_it),
    }
}

async fn drill(
    env: &DrEnv,
    name: &str,
    primary: Option<&Listing>,
    check: &mut PlanCheck,
    now: DateTime<Utc>,
    findings: &mut Findings,
    add: &mut Add<'_>,
) {
    let last = match last_drill_in_state(env, name).await {
        Some(last) => Some(last),
        None => match primary.and_then(|l| l.repo.as_ref()) {
            Some(repo) => last_drill_in_repository(repo, name).await,
            None => None,
        },
    };
    let drill_it = format!("run `lifeboat dr drill --plan {name}` (lifeboatd drills every plan weekly)");
    match &last {
        None => add(findings, DrStatus::Degraded, format!("plan {name}: no drill on record"), drill_it),
        Some(last) => {
            let rto = check.rto_objective_seconds;
            if !last.passed {
                add(
                    findings,
                    DrStatus::AtRisk,
                    format!(
                        "plan {name}: the last drill ({}) failed: {}",
                        last.started.format("%Y-%m-%d %H:%M UTC"),
                        last.failure.as_deref().unwrap_or("see its report")
                    ),
                    format!("fix what the drill report {} names, then run `lifeboat dr drill --plan {name}`", last.id),
                );
            } else if let Some(rto) = rto.filter(|rto| last.rto_seconds > *rto as f64) {
                add(
                    findings,
                    DrStatus::AtRisk,
                    format!(
                        "plan {name}: the last drill took {} to restore, more than its RTO of {}",
                        span(last.rto_seconds.ceil() as i64),
                        span(rto)
                    ),
                    format!(
                        "make plan {name}'s restore faster (a closer repository, a faster target) or agree a longer RTO"
                    ),
                );
            } else if now - last.started > TimeDelta::days(RECENT_DAYS) {
                add(
                    findings,
                    DrStatus::Degraded,
                    format!(
                        "plan {name}: no drill in {RECENT_DAYS} days (the last on {})",
                        last.started.format("%Y-%m-%d")
                    ),
                    drill_it,
                );
            }
        }
    }
    check.last_drill = last;
}

fn last_drill_of(report: &DrillReport, found_in: &str) -> LastDrill {
    LastDrill {
        id: report.id.clone(),
        started: report.started,
        passed: report.passed,
        rto_seconds: report.rto.seconds,
        objectives_met: report.objectives_met,
        failure: report.failure.clone(),
        found_in: found_in.to_owned(),
    }
}

async fn last_drill_in_state(env: &DrEnv, plan: &str) -> Option<LastDrill> {
    let state = env.state.as_ref()?;
    let filter = DrillFilter { plan: Some(plan.to_owned()), scenario: None, limit: Some(20) };
    let records = state.call(move |s| s.drill_reports(&filter)).await.ok()?;
    let record = records.into_iter().filter(|r| r.kind == "drill").max_by_key(|r| r.started)?;
    Some(LastDrill {
        id: record.id,
        started: record.started,
        passed: record.passed,
        rto_seconds: record.rto_seconds,
        objectives_met: record.objectives_met,
        failure: record.failure,
        found_in: "state".into(),
    })
}

/// The newest drill report of `plan` among the newest `drill` records of its repository.
async fn last_drill_in_repository(repo: &Repository, plan: &str) -> Option<LastDrill> {
    let mut names = repo.list_records("drill").await.ok()?;
    names.sort();
    let mut best: Option<DrillReport> = None;
    for name in names.iter().rev().take(20) {
        let Ok(body) = repo.get_record("drill", name).await else { continue };
        let Ok(report) = serde_json::from_slice::<DrillReport>(&body) else { continue };
        if report.subject == DrillSubject::Plan(plan.to_owned())
            && best.as_ref().is_none_or(|b| b.started < report.started)
        {
            best = Some(report);
        }
    }
    best.map(|r| last_drill_of(&r, "repository"))
}

async fn cluster_checks(config: &Config, findings: &mut Findings) -> Vec<ClusterCheck> {
    let mut by_url: BTreeMap<String, Vec<(&String, &crate::config::ElasticsearchSource)>> = BTreeMap::new();
    for (name, plan) in &config.plans {
        if let Some(SourceConfig::Elasticsearch(es)) = &plan.source {
            by_url.entry(es.url.clone()).or_default().push((name, es));
        }
    }
    let mut out = Vec::new();
    for (url, users) in by_url {
        let shown_url = redact_url(&url);
        let mut check = ClusterCheck {
            url: shown_url.clone(),
            plans: users.iter().map(|(n, _)| (*n).clone()).collect(),
            reachable: false,
            version: None,
            health: None,
            error: None,
            repositories: Vec::new(),
            status: DrStatus::Healthy,
        };
        let (first, es) = users[0];
        let mut worst = DrStatus::Healthy;
        let client = match crate::run::es_client(first, es) {
            Ok(client) => client,
            Err(e) => {
                check.error = Some(shown(&e));
                check.status = findings.add(
                    DrStatus::AtRisk,
                    format!("cluster {shown_url}: {}", shown(&e)),
                    format!("fix the [plans.{first}.source] settings of cluster {shown_url}"),
                );
                out.push(check);
                continue;
            }
        };
        match client.info().await {
            Err(e) => {
                check.error = Some(shown(&e));
                check.status = findings.add(
                    DrStatus::AtRisk,
                    format!("cluster {shown_url} cannot be reached: {}", shown(&e)),
                    format!(
                        "bring cluster {shown_url} back: until then plan(s) {} take no snapshot",
                        check.plans.join(", ")
                    ),
                );
                out.push(check);
                continue;
            }
            Ok(info) => {
                check.reachable = true;
                check.version = Some(info.version.number.clone());
            }
        }
        match client.health_of(&[]).await {
            Ok(health) => {
                let status = health.status.to_lowercase();
                if status == "red" {
                    worst = worst.max(findings.add(
                        DrStatus::AtRisk,
                        format!("cluster {shown_url} is red: some primary shards are unassigned"),
                        format!("bring every primary shard of {shown_url} back before the next snapshot"),
                    ));
                } else if status == "yellow" {
                    worst = worst.max(findings.add(
                        DrStatus::Degraded,
                        format!("cluster {shown_url} is yellow: some replicas are unassigned"),
                        format!("add nodes or lower the replica count on {shown_url}"),
                    ));
                }
                check.health = Some(status);
            }
            Err(e) => check.error = Some(shown(&e)),
        }
        let mut repositories: Vec<&str> = users.iter().map(|(_, es)| es.repository.as_str()).collect();
        repositories.sort();
        repositories.dedup();
        for name in repositories {
            let mut repo =
                SnapshotRepositoryCheck { name: name.to_owned(), verified: false, nodes: Vec::new(), error: None };
            match client.verify_repository(name).await {
                Ok(answer) => {
                    repo.verified = true;
                    repo.nodes = answer.nodes.values().map(|n| n.name.clone()).collect();
                }
                Err(e) => {
                    worst = worst.max(findings.add(
                        DrStatus::AtRisk,
                        format!("cluster {shown_url}: snapshot repository {name} fails its verify: {}", shown(&e)),
                        format!("repair snapshot repository {name} of {shown_url} (every node must reach it)"),
                    ));
                    repo.error = Some(shown(&e));
                }
            }
            check.repositories.push(repo);
        }
        check.status = worst;
        out.push(check);
    }
    out
}

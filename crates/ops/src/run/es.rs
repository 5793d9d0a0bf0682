//! Elasticsearch plans: the snapshot runs in the cluster; Lifeboat schedules it, checks it
//! and applies retention, through lifeboat-es' snapshot policies.
//!
//! [`run_es_plan`] connects to the plan's cluster (credentials read from their references),
//! opens the Elasticsearch state (policies, catalog) of the plan's tenant or the admin scope,
//! makes sure the policy is there (registering it from the config when the source names its
//! `indices`), and runs it: today's snapshot `{policy}-yyyy.MM.dd`, waited for, a partial or
//! failed one an error naming the failed shards, catalogued; then the plan's `retention`
//! (restic's rules, as for a repository's backups) over the policy's snapshots, never the
//! newest successful one, unless `forget-after-backup = false`.
//!
//! Time is the run request's clock, read once when the run starts: the snapshot is named for
//! that instant's UTC day and dated by it (`lifeboat_taken_at` metadata), and retention judges
//! ages against it, so a scheduler under an injected clock gets one snapshot per simulated day
//! and expires them by those days.
//!
//! ```no_run
//! use lifeboat_ops::plans::require_plan;
//! use lifeboat_ops::run::{RunRequest, run_es_plan};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let plan = require_plan(Some("/etc/lifeboat.toml".as_ref()), "logs")?;
//! let report = run_es_plan(&plan, &RunRequest::default()).await?;
//! println!("snapshot {} ({}); deleted {:?}", report.snapshot, report.state, report.deleted);
//! # Ok(()) }
//! ```

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lifeboat_es::model::policy::validate_schedule;
use lifeboat_es::{
    Auth, ClusterConfig, EsClient, EsError, EsManager, PolicyRetention, PolicyRunReport, Scope, SnapshotPolicy,
    StateStore,
};
use lifeboat_storage::clock::{Clock, SystemClock};
use serde::Serialize;

use super::{RunError, RunRequest};
use crate::config::{ElasticsearchSource, SecretRef, SourceConfig};
use crate::plans::ResolvedPlan;

/// What an Elasticsearch plan's run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EsRunReport {
    /// The plan.
    pub plan: String,
    /// The Lifeboat snapshot policy run.
    pub policy: String,
    /// The cluster's snapshot repository.
    pub repository: String,
    /// Today's snapshot.
    pub snapshot: String,
    /// Its state (`SUCCESS`: a failed or partial snapshot is an error).
    pub state: String,
    /// True when today's snapshot existed already (a second run on one day) and was checked.
    pub already_existed: bool,
    /// The indices in the snapshot.
    pub indices: Vec<String>,
    /// Catalog entries written.
    pub catalogued: usize,
    /// The policy's snapshots retention deleted.
    pub deleted: Vec<String>,
    /// The policy's snapshots that remain.
    pub kept: Vec<String>,
    /// When the run started (the request's clock).
    pub started_at: DateTime<Utc>,
}

impl From<(&str, PolicyRunReport)> for EsRunReport {
    fn from((plan, r): (&str, PolicyRunReport)) -> Self {
        EsRunReport {
            plan: plan.to_owned(),
            policy: r.policy,
            repository: r.repository,
            snapshot: r.snapshot,
            state: r.state.to_string(),
            already_existed: r.already_existed,
            indices: r.indices,
            catalogued: r.catalogued,
            deleted: r.deleted,
            kept: r.kept,
            started_at: r.started_at,
        }
    }
}

/// The run's instant: the request's clock read once at the start.
#[derive(Debug)]
struct RunInstant(DateTime<Utc>);

impl Clock for RunInstant {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// Runs the Elasticsearch plan `plan` once (see the module documentation). A plan of another
/// kind is [`RunError::NotInCluster`]; a cluster or policy failure is
/// [`RunError::Elasticsearch`]; a snapshot taken whose expired predecessors could not all be
/// deleted is [`RunError::SnapshotRetention`].
pub async fn run_es_plan(plan: &ResolvedPlan, request: &RunRequest<'_>) -> Result<EsRunReport, RunError> {
    let name = plan.name.as_str();
    let es = match &plan.config.source {
        Some(SourceConfig::Elasticsearch(es)) => es,
        Some(other) => return Err(RunError::NotInCluster { plan: name.to_owned(), kind: other.kind() }),
        None => return Err(RunError::Incomplete { plan: name.to_owned(), key: "source" }),
    };
    let failed = |source: EsError| RunError::Elasticsearch { plan: name.to_owned(), source: Box::new(source) };
    let clock: Arc<dyn Clock> = match request.clock {
        Some(clock) => Arc::new(RunInstant(clock.now())),
        None => Arc::new(SystemClock),
    };
    let client = EsClient::new(&cluster_config(name, es)?).map_err(failed)?;
    let store = StateStore::new(match &es.state_dir {
        Some(dir) => dir.clone(),
        None => StateStore::default_dir().map_err(failed)?,
    });
    // Owned, so that the future holds no borrowed `Option<&str>` (spawnable as it is).
    let scope = match es.tenant.clone() {
        Some(id) => Scope::Tenant(store.tenant(&id).await.map_err(failed)?),
        None => Scope::Admin,
    };
    let manager = EsManager::new(client, store, scope).with_clock(clock);
    ensure_policy(&manager, plan, es).await.map_err(failed)?;
    let retention = match plan.config.forget_after_backup {
        true => PolicyRetention::Rules(plan.config.retention.clone()),
        false => PolicyRetention::Rules(lifeboat_retention::Policy::default()),
    };
    let report = manager.policies().run_with(&es.policy, &retention).await.map_err(failed)?;
    if !report.delete_failures.is_empty() {
        return Err(RunError::SnapshotRetention {
            plan: name.to_owned(),
            snapshot: report.snapshot.clone(),
            failures: report.delete_failures.iter().map(|f| format!("{}: {}", f.snapshot, f.error)).collect(),
        });
    }
    Ok(EsRunReport::from((name, report)))
}

/// The cluster's URL, credentials (from their references) and CA.
fn cluster_config(plan: &str, es: &ElasticsearchSource) -> Result<ClusterConfig, RunError> {
    let mut config = ClusterConfig::new(&es.url)
        .map_err(|source| RunError::Elasticsearch { plan: plan.to_owned(), source: Box::new(source) })?;
    let secret = |reference: SecretRef, file_key: &'static str, env_key: &'static str| {
        let key = if reference.file.is_some() { file_key } else { env_key };
        reference.read().map_err(|source| RunError::Secret { plan: plan.to_owned(), key, source })
    };
    let api_key = SecretRef::new(es.api_key_file.clone(), es.api_key_env.clone());
    let password = SecretRef::new(es.password_file.clone(), es.password_env.clone());
    if let Some(key) = secret(api_key, "source.api-key-file", "source.api-key-env")? {
        config = config.with_auth(Auth::ApiKey(key.as_str().to_owned()));
    } else if let Some(username) = &es.username {
        let password = secret(password, "source.password-file", "source.password-env")?;
        let password = password.map(|p| p.as_str().to_owned()).unwrap_or_default();
        config = config.with_auth(Auth::Basic { username: username.clone(), password });
    } else if !password.is_none() {
        return Err(RunError::Incomplete { plan: plan.to_owned(), key: "source.username" });
    }
    if let Some(ca) = &es.ca_file {
        config = config.with_ca_file(ca);
    }
    Ok(config)
}

/// Registers the policy from the config when it names `indices` (keeping a registered
/// policy's time source), else checks the registered one snapshots into the plan's repository.
async fn ensure_policy(manager: &EsManager, plan: &ResolvedPlan, es: &ElasticsearchSource) -> Result<(), EsError> {
    let registered = match manager.policies().get(&es.policy).await {
        Ok(policy) => Some(policy),
        Err(EsError::NotFound { .. }) if es.indices.is_some() => None,
        Err(e) => return Err(e),
    };
    let Some(indices) = &es.indices else {
        let policy = registered.ok_or_else(|| EsError::Config(format!("policy {} is not registered", es.policy)))?;
        if policy.repository != es.repository {
            return Err(EsError::Conflict {
                what: format!("policy {}", policy.name),
                reason: format!(
                    "it snapshots into repository [{}], the plan names [{}]; set `indices` to let the plan define it",
                    policy.repository, es.repository
                ),
                remedy: None,
            });
        }
        return Ok(());
    };
    // The policy's schedule is informational (the plan's schedule drives the runs): the plan's
    // cron when Elasticsearch's syntax takes it, else `@daily`.
    let cron = plan.config.schedule.as_ref().and_then(|s| s.cron.clone());
    let schedule = cron.filter(|c| validate_schedule(c).is_ok()).unwrap_or_else(|| "@daily".to_owned());
    let mut wanted = SnapshotPolicy::new(&es.policy, indices, &es.repository, &schedule, 0)?;
    wanted.time_source = registered.as_ref().and_then(|p| p.time_source.clone());
    if registered.as_ref() != Some(&wanted) {
        manager.policies().add(wanted).await?;
    }
    Ok(())
}

/// A client of the plan's cluster, its credentials read from their references (what
/// `dr assess` checks the cluster's health and snapshot repositories through).
pub(crate) fn es_client(plan: &str, es: &ElasticsearchSource) -> Result<EsClient, RunError> {
    EsClient::new(&cluster_config(plan, es)?)
        .map_err(|source| RunError::Elasticsearch { plan: plan.to_owned(), source: Box::new(source) })
}

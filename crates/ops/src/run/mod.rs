//! Running a plan once, by hand or for the scheduler: the plan's source into the plan's
//! repository with its tags, then (when the plan says so, the default) its retention,
//! planned and applied through [`crate::forget`].
//!
//! A frontend resolves the plan ([`crate::plans::require_plan`]), opens its repository
//! with [`plan_credential`] (its own storage layers and open options are the frontend's),
//! and calls [`run_plan`]:
//!
//! ```no_run
//! use lifeboat_ops::credentials::GivenPassword;
//! use lifeboat_ops::plans::require_plan;
//! use lifeboat_ops::run::{RunRequest, plan_credential, run_plan};
//! use lifeboat_repo::Repository;
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let plan = require_plan(Some("/etc/lifeboat.toml".as_ref()), "files")?;
//! let url = plan.config.repository.clone().unwrap_or_default();
//! let credential = plan_credential(&plan, &mut GivenPassword(None))?;
//! let repo = Repository::open(lifeboat_storage::open_url(&url)?, credential).await?;
//! let report = run_plan(&repo, &plan, &RunRequest::default()).await?;
//! println!("backup {} of plan {}; forgot {:?}", report.backup.id, report.plan, report.forgotten);
//! # Ok(()) }
//! ```
//!
//! Then, for each `copy-to` destination that copies after each backup
//! ([`CopyTo::runs_after_backup`]), the frontend opens it ([`copy_credential`]) and calls
//! [`copy_backup`]; a failed copy leaves the backup in place and names the destination.
//!
//! Elasticsearch plans run in the cluster (the snapshot is the cluster's), with no
//! repository: [`run_es_plan`] runs them ([`run_plan`] refuses them with
//! [`RunError::RunsInCluster`]; [`runs_in_cluster`] tells a frontend which to call).

mod command;
mod database;
mod es;

use lifeboat_repo::{BackupRequest, CopyReport, Credential, Manifest, RepoError, Repository};
use lifeboat_storage::clock::{Clock, SystemClock};
use lifeboat_storage::redact_url;

use crate::OpsError;
use crate::config::{CopyTo, SecretError, SecretRef, SourceConfig};
use crate::credentials::{self, CredentialError, CredentialSource, GivenPassword, PasswordSource};
use crate::forget::{self, ForgetError, ForgetPlan, ForgetRequest};
use crate::plans::ResolvedPlan;

pub use command::CommandFailure;
pub(crate) use es::es_client;
pub use es::{EsRunReport, run_es_plan};

/// What a run needs besides the plan and its repository.
#[derive(Default)]
pub struct RunRequest<'a> {
    /// The host name recorded in the backup (`None`: this host's).
    pub host: Option<String>,
    /// The clock retention is judged by (`None`: the system clock).
    pub clock: Option<&'a dyn Clock>,
    /// Environment variables the stdin command must not see besides Lifeboat's own
    /// (`LIFEBOAT_*`) and the plan's secret references ([`PlanConfig::secret_variables`]);
    /// a frontend passes those of the other plans of its config here.
    ///
    /// [`PlanConfig::secret_variables`]: crate::PlanConfig::secret_variables
    pub scrub_env: Vec<String>,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The plan.
    pub plan: String,
    /// The backup it made.
    pub backup: Manifest,
    /// The retention decisions, when the plan applies its retention after a backup.
    pub forget: Option<ForgetPlan>,
    /// The backups retention removed.
    pub forgotten: Vec<String>,
}

/// Why a plan did not run, or ran only in part. Every variant names the plan.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Elasticsearch plans snapshot inside the cluster: lifeboatd or `lifeboat es` runs them.
    #[error(
        "plan {plan:?} is an Elasticsearch snapshot policy, which runs in the cluster: run it under lifeboatd or with `lifeboat es`"
    )]
    RunsInCluster {
        /// The plan.
        plan: String,
    },
    /// [`run_es_plan`] was given a plan that backs up into a repository.
    #[error("plan {plan:?} is a {kind} plan: it backs up into a repository, not in an Elasticsearch cluster")]
    NotInCluster {
        /// The plan.
        plan: String,
        /// Its source's kind.
        kind: &'static str,
    },
    /// The cluster or its snapshot policy failed (unreachable, refused, a failed or partial
    /// snapshot naming its failed shards, a tenant violation).
    #[error("plan {plan:?}: {source}")]
    Elasticsearch {
        /// The plan.
        plan: String,
        /// Why (names the cluster by its URL, never a credential).
        #[source]
        source: Box<lifeboat_es::EsError>,
    },
    /// The snapshot succeeded, but deleting the snapshots retention expired failed.
    #[error("plan {plan:?}: snapshot {snapshot} succeeded, but deleting expired snapshots failed: {}", failures.join("; "))]
    SnapshotRetention {
        /// The plan.
        plan: String,
        /// The snapshot taken.
        snapshot: String,
        /// `snapshot: error` for each delete that failed after retrying.
        failures: Vec<String>,
    },
    /// The plan lacks a key a run needs (a checked config never does).
    #[error("plan {plan:?} has no `{key}`")]
    Incomplete {
        /// The plan.
        plan: String,
        /// The missing key.
        key: &'static str,
    },
    /// A secret the plan references cannot be read.
    #[error("plan {plan:?}, `{key}`: {source}")]
    Secret {
        /// The plan.
        plan: String,
        /// The key holding the reference.
        key: &'static str,
        /// Why (names the file or variable, never the value).
        #[source]
        source: SecretError,
    },
    /// The repository credential could not be made.
    #[error("plan {plan:?}: {source}")]
    Credential {
        /// The plan.
        plan: String,
        /// Why.
        #[source]
        source: CredentialError,
    },
    /// The stdin command could not be started or failed; nothing was recorded.
    #[error("plan {plan:?}: {source}")]
    Command {
        /// The plan.
        plan: String,
        /// What happened to the command.
        #[source]
        source: CommandFailure,
    },
    /// The backup failed; nothing was recorded.
    #[error("plan {plan:?}: backup failed: {source}")]
    Backup {
        /// The plan.
        plan: String,
        /// Why.
        #[source]
        source: Box<OpsError>,
    },
    /// The backup was stored, but copying it to a `copy-to` destination failed.
    #[error("plan {plan:?}: backup {backup} was stored, but copying it to {destination} failed: {source}")]
    Copy {
        /// The plan.
        plan: String,
        /// The destination (redacted).
        destination: String,
        /// The backup that was stored.
        backup: String,
        /// Why the copy failed.
        #[source]
        source: Box<RepoError>,
    },
    /// The backup was stored, but applying the plan's retention afterwards failed.
    #[error("plan {plan:?}: backup {backup} was stored, but its retention failed: {source}")]
    Retention {
        /// The plan.
        plan: String,
        /// The backup that was stored.
        backup: String,
        /// Why retention failed.
        #[source]
        source: Box<ForgetError>,
    },
}

/// True when `plan` runs in an Elasticsearch cluster ([`run_es_plan`]) rather than into a
/// repository ([`run_plan`]).
pub fn runs_in_cluster(plan: &ResolvedPlan) -> bool {
    matches!(plan.config.source, Some(SourceConfig::Elasticsearch(_)))
}

/// Whether [`run_plan`] can run `plan`: an Elasticsearch plan runs in the cluster
/// ([`RunError::RunsInCluster`]; [`run_es_plan`] runs it). A frontend asks before opening a
/// repository.
pub fn check_runs_here(plan: &ResolvedPlan) -> Result<(), RunError> {
    match &plan.config.source {
        Some(SourceConfig::Elasticsearch(_)) => Err(RunError::RunsInCluster { plan: plan.name.clone() }),
        Some(_) => Ok(()),
        None => Err(RunError::Incomplete { plan: plan.name.clone(), key: "source" }),
    }
}

/// The credential that opens `plan`'s primary repository: its `key-file`, else its
/// `password-file`, else its `password-env`, else what `fallback` offers or asks for (the
/// CLI: `$LIFEBOAT_PASSWORD`, then a prompt).
pub fn plan_credential(plan: &ResolvedPlan, fallback: &mut dyn PasswordSource) -> Result<Credential, RunError> {
    let config = &plan.config;
    let source = CredentialSource {
        key_file: config.key_file.clone(),
        password_file: config.password_file.clone(),
        ..Default::default()
    };
    let credential_error = |source| RunError::Credential { plan: plan.name.clone(), source };
    if source.key_file.is_none() && source.password_file.is_none() && config.password_env.is_some() {
        let password = SecretRef::new(None, config.password_env.clone()).read().map_err(|source| RunError::Secret {
            plan: plan.name.clone(),
            key: "password-env",
            source,
        })?;
        return credentials::resolve(&source, &mut GivenPassword(password)).map_err(credential_error);
    }
    credentials::resolve(&source, fallback).map_err(credential_error)
}

/// The credential that opens a copy's destination: its own `password-file` or
/// `password-env`, else the primary repository's ([`plan_credential`]).
pub fn copy_credential(
    plan: &ResolvedPlan,
    copy: &CopyTo,
    fallback: &mut dyn PasswordSource,
) -> Result<Credential, RunError> {
    let reference = copy.password();
    if reference.is_none() {
        return plan_credential(plan, fallback);
    }
    let key = if reference.file.is_some() { "copy-to.password-file" } else { "copy-to.password-env" };
    let password = reference.read().map_err(|source| RunError::Secret { plan: plan.name.clone(), key, source })?;
    Ok(Credential::Password(password.ok_or(RunError::Incomplete { plan: plan.name.clone(), key })?))
}

/// Copies the backup a run made into `dest`, a `copy-to` destination the frontend opened
/// (with [`copy_credential`] and its own storage layers). Copying again is harmless: a
/// destination that has the backup already reports it as present.
pub async fn copy_backup(
    repo: &Repository,
    dest: &Repository,
    copy: &CopyTo,
    report: &RunReport,
) -> Result<CopyReport, RunError> {
    repo.copy_to(dest, std::slice::from_ref(&report.backup)).await.map_err(|source| RunError::Copy {
        plan: report.plan.clone(),
        destination: redact_url(&copy.repository),
        backup: report.backup.id.clone(),
        source: Box::new(source),
    })
}

/// Runs `plan` once into `repo` (opened on the plan's repository): backs up its source with
/// the plan's name and tags, then applies its retention unless `forget-after-backup = false`.
/// A failed backup records nothing; a failed retention leaves the new backup in place and
/// says so ([`RunError::Retention`]).
pub async fn run_plan(repo: &Repository, plan: &ResolvedPlan, request: &RunRequest<'_>) -> Result<RunReport, RunError> {
    let name = plan.name.clone();
    let source =
        plan.config.source.as_ref().ok_or_else(|| RunError::Incomplete { plan: name.clone(), key: "source" })?;
    let backup = BackupRequest {
        plan: Some(name.clone()),
        tags: plan.config.tags.clone(),
        host: request.host.clone(),
        ..Default::default()
    };
    let failed = |source: OpsError| RunError::Backup { plan: name.clone(), source: Box::new(source) };
    let manifest = match source {
        SourceConfig::Files(files) => {
            repo.backup_files_filtered(&files.paths, &files.filter(), backup).await.map_err(|e| failed(e.into()))?
        }
        SourceConfig::Stdin(stdin) => {
            let mut scrub = request.scrub_env.clone();
            scrub.extend(plan.config.secret_variables());
            command::backup_command(repo, stdin, backup, &scrub).await.map_err(|e| match e {
                command::Failed::Command(source) => RunError::Command { plan: name.clone(), source },
                command::Failed::Repo(e) => failed(e.into()),
            })?
        }
        SourceConfig::Postgres(_) | SourceConfig::Mysql(_) | SourceConfig::Redis(_) => {
            let db = database::source(&name, source)?;
            crate::backup_database(repo, &db, backup).await.map_err(failed)?
        }
        SourceConfig::Elasticsearch(_) => return Err(RunError::RunsInCluster { plan: name }),
    };
    let mut report = RunReport { plan: name.clone(), backup: manifest, forget: None, forgotten: Vec::new() };
    if plan.config.forget_after_backup {
        let retention_failed = |source: ForgetError| RunError::Retention {
            plan: name.clone(),
            backup: report.backup.id.clone(),
            source: Box::new(source),
        };
        let forget_request = ForgetRequest {
            plan: Some(name.clone()),
            policy: plan.config.retention.clone(),
            group_by: Default::default(),
            allow_empty: false,
            within: Default::default(),
        };
        let clock = request.clock.unwrap_or(&SystemClock);
        let planned = forget::plan(repo, &forget_request, clock).await.map_err(retention_failed)?;
        let forgotten = forget::apply(repo, &planned).await.map_err(retention_failed)?;
        report.forgotten = forgotten;
        report.forget = Some(planned);
    }
    Ok(report)
}

impl From<RepoError> for command::Failed {
    fn from(e: RepoError) -> Self {
        command::Failed::Repo(e)
    }
}

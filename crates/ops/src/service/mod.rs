//! The scheduler and job runner of lifeboatd, as a library: [`Service`] runs the plans of a
//! [`Config`] on their schedules (and on request), under a global concurrency limit and one
//! per repository, one run of a plan at a time, with a timeout per job, retries with backoff
//! on transient failures only, cancellation, and each job's log kept with it in the
//! [`state`](crate::state) database. Time comes from the injected [`Clock`]: with a clock
//! the caller advances and [`Service::tick`], a week of schedules runs in seconds.
//!
//! - `runner`: the job queue (limits, the per-plan lock, timeout, cancellation, retries);
//! - `backup`, `copy`, `verify`, `prune`: one job kind each;
//! - `scheduler`: [`Service::tick`], the schedules' cursors kept in the state's plan rows;
//! - `status`, `repositories`, `backups`: what the API reads;
//! - `reload`: swapping the configuration (an invalid one is refused, the old kept);
//! - [`opener`]: how repositories are opened ([`DefaultOpener`]).
//!
//! The state is a cache: the backup list is rebuilt from the repositories
//! ([`Service::backups`]), so deleting the state loses history, never backups.
//!
//! ```
//! use std::sync::Arc;
//! use lifeboat_ops::Config;
//! use lifeboat_ops::service::{DefaultOpener, Service, ServiceOptions};
//! use lifeboat_ops::state::{AsyncStateStore, StateStore};
//! use lifeboat_storage::clock::SystemClock;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let text = r#"
//! [plans.web]
//! repository = "/srv/backups/repo"
//! password-file = "/etc/lifeboat/repo.pw"
//! source = { kind = "files", paths = ["/srv/www"] }
//! schedule = { cron = "0 2 * * *", timezone = "Europe/Berlin" }
//! "#;
//! let config = Config::parse(text, "lifeboat.toml")?;
//! let service = Service::start(ServiceOptions {
//!     config,
//!     origin: "lifeboat.toml".into(),
//!     state: AsyncStateStore::new(StateStore::open_in_memory()?),
//!     clock: Arc::new(SystemClock),
//!     opener: Arc::new(DefaultOpener::default()),
//!     run_scheduler: false, // lifeboatd: true
//! })
//! .await?;
//! service.tick().await?; // nothing is due yet: this records the next run
//! let status = service.status().await?;
//! assert_eq!(status.plans[0].plan, "web");
//! assert!(status.plans[0].next_run.is_some());
//! println!("{}", serde_json::to_string_pretty(&status)?);
//! service.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(()) }
//! ```

mod error;
mod events;
pub mod opener;
mod types;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use lifeboat_storage::clock::Clock;
use tokio::sync::broadcast;

use crate::config::Config;
use crate::state::{AsyncStateStore, JobFilter, JobId, JobKind, JobLog, JobPage, JobRecord, Trigger};

pub use error::{ErrorKind, ServiceError};
pub use events::JobEvent;
pub use opener::{DefaultOpener, OpenError, RepoOpener, Target};
pub use types::{BackupSummary, OverallHealth, PlanStatus, PlanSummary, ReloadReport, RepositoryStatus, Status};

/// What [`Service::start`] needs.
pub struct ServiceOptions {
    /// The configuration (checked).
    pub config: Config,
    /// Where it came from: the file [`Service::reload_from_file`] re-reads, named in messages.
    pub origin: String,
    /// The state database.
    pub state: AsyncStateStore,
    /// The clock schedules, jobs and backups are timed by.
    pub clock: Arc<dyn Clock>,
    /// How repositories are opened ([`DefaultOpener`] in lifeboatd).
    pub opener: Arc<dyn RepoOpener>,
    /// Run the scheduler loop; `false`: only [`Service::run_now`] and explicit [`Service::tick`].
    pub run_scheduler: bool,
}

/// The running service: cheap to clone (an `Arc` inside), `Send + Sync`.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    origin: String,
    state: AsyncStateStore,
    clock: Arc<dyn Clock>,
    #[allow(dead_code)]
    opener: Arc<dyn RepoOpener>,
    config: RwLock<Arc<Config>>,
    events: broadcast::Sender<JobEvent>,
}

impl Service {
    /// Starts the service: the scheduler loop when `run_scheduler`, nothing else until asked.
    pub async fn start(options: ServiceOptions) -> Result<Service, ServiceError> {
        let (events, _) = broadcast::channel(1024);
        let inner = Inner {
            origin: options.origin,
            state: options.state,
            clock: options.clock,
            opener: options.opener,
            config: RwLock::new(Arc::new(options.config)),
            events,
        };
        Ok(Service { inner: Arc::new(inner) })
    }

    /// One scheduler step at the clock's "now": starts, queues or skips what is due.
    pub async fn tick(&self) -> Result<(), ServiceError> {
        Err(ServiceError::Internal("not built yet".into()))
    }

    /// Waits until no job is queued or running.
    pub async fn wait_idle(&self) {}

    /// The status of every plan and the overall health.
    pub async fn status(&self) -> Result<Status, ServiceError> {
        Err(ServiceError::Internal("not built yet".into()))
    }

    /// The plans as configured.
    pub fn plans(&self) -> Vec<PlanSummary> {
        Vec::new()
    }

    /// Enqueues a job of `kind` for `plan` now; an unknown plan is [`ErrorKind::NotFound`].
    pub async fn run_now(
        &self,
        plan: &str,
        kind: JobKind,
        trigger: Trigger,
        requested_by: Option<String>,
    ) -> Result<JobId, ServiceError> {
        let _ = (plan, kind, trigger, requested_by);
        Err(ServiceError::Internal("not built yet".into()))
    }

    /// The job `id`, if there is one.
    pub async fn job(&self, id: JobId) -> Result<Option<JobRecord>, ServiceError> {
        Ok(self.inner.state.job(id).await?)
    }

    /// A page of jobs, newest first.
    pub async fn jobs(&self, filter: JobFilter) -> Result<JobPage, ServiceError> {
        Ok(self.inner.state.list_jobs(filter).await?)
    }

    /// The log of job `id`.
    pub async fn job_log(&self, id: JobId) -> Result<JobLog, ServiceError> {
        Ok(self.inner.state.job_log(id).await?)
    }

    /// Cancels job `id` (queued or running), recording `by`; a job that ended is
    /// [`ErrorKind::Conflict`].
    pub async fn cancel(&self, id: JobId, by: Option<String>) -> Result<JobRecord, ServiceError> {
        let _ = by;
        Err(ServiceError::NoSuchJob { job: id })
    }

    /// The backups of `plan` (of every plan for `None`), as the repositories list them.
    pub async fn backups(&self, plan: Option<&str>) -> Result<Vec<BackupSummary>, ServiceError> {
        let _ = plan;
        Err(ServiceError::Internal("not built yet".into()))
    }

    /// Every repository the plans use.
    pub async fn repositories(&self) -> Result<Vec<RepositoryStatus>, ServiceError> {
        Err(ServiceError::Internal("not built yet".into()))
    }

    /// Swaps in `config`; an invalid one is refused and the old one kept.
    pub async fn reload(&self, config: Config) -> Result<ReloadReport, ServiceError> {
        let _ = config;
        Err(ServiceError::Internal("not built yet".into()))
    }

    /// Re-reads the configuration file (`origin`) and reloads it.
    pub async fn reload_from_file(&self) -> Result<ReloadReport, ServiceError> {
        Err(ServiceError::Internal(format!("not built yet ({})", self.inner.origin)))
    }

    /// Stops scheduling, waits up to `grace` for running jobs, cancels the rest.
    pub async fn shutdown(&self, grace: Duration) {
        let _ = grace;
    }

    /// Every [`JobEvent`] from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.inner.events.subscribe()
    }

    /// The state database.
    pub fn state(&self) -> &AsyncStateStore {
        &self.inner.state
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.inner.config.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The clock the service runs by.
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.inner.clock)
    }
}

//! The scheduler and job runner of lifeboatd, as a library: [`Service`] runs the plans of a
//! [`Config`] on their schedules (and on request), under a global concurrency limit and one
//! per repository, one run of a plan at a time, with a timeout per job, retries with backoff
//! on transient failures only, cancellation, and each job's log kept with it in the
//! [`state`](crate::state) database. Time comes from the injected [`Clock`]: with a clock
//! the caller advances and [`Service::tick`], a week of schedules runs in seconds.
//!
//! - `runner`: the job queue (limits, the per-plan lock, timeout, cancellation, retries);
//! - `backup`, `copy`, `verify`, `prune`, `drill`: one job kind each (`drill` also has the
//!   service's drill reports and the assessment: [`Service::run_drill`], [`Service::drills`],
//!   [`Service::drill`], [`Service::assess`]);
//! - `scheduler`: [`Service::tick`], the schedules' cursors kept in the state's plan rows;
//! - `status`, `backups`: what the API reads (the backup list cached per repository, dropped
//!   after each job of a plan that uses it and listed again when next asked for);
//! - `reload`: swapping the configuration (an invalid one is refused, the old kept);
//! - [`opener`] (a top-level module, re-exported here): how repositories are opened ([`DefaultOpener`]).
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

mod alert_engine;
mod alert_rules;
mod audit;
mod backup;
mod backups;
mod copy;
mod drill;
mod error;
mod export_clean;
mod failure;
mod joblog;
mod key;
mod prune;
mod reload;
mod runner;
mod scheduler;
mod status;
mod types;
mod verify;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use lifeboat_storage::clock::Clock;
use tokio::sync::{Notify, Semaphore, broadcast};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::plans::ResolvedPlan;
use crate::state::{AsyncStateStore, JobFilter, JobId, JobKind, JobLog, JobPage, JobRecord, Trigger};

pub use crate::events::JobEvent;
pub use crate::opener;
pub use crate::opener::{DefaultOpener, OpenError, RepoOpener, Target};
pub use error::{ErrorKind, ServiceError};
pub use types::{
    BackupSummary, OverallHealth, PlanStatus, PlanSummary, ReloadReport, RepositoryStatus, SchedulerState, Status,
};

use failure::Failure;
use joblog::JobLogger;
use key::ScheduleKey;
use runner::{Active, Done, JobSpec, Work};

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

/// The service's shared state.
pub(crate) struct Inner {
    origin: String,
    state: AsyncStateStore,
    clock: Arc<dyn Clock>,
    opener: Arc<dyn RepoOpener>,
    config: RwLock<Arc<Config>>,
    events: broadcast::Sender<JobEvent>,
    /// The global job limit.
    global: Arc<Semaphore>,
    /// Jobs at once per repository URL.
    per_repository: usize,
    repository_limits: Mutex<HashMap<String, Arc<Semaphore>>>,
    plan_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Every job queued or running, by id.
    active: Mutex<HashMap<JobId, Active>>,
    /// Notified whenever `active` changes.
    changed: Notify,
    /// Wakes the scheduler loop (a reload, a run request, a job's end).
    wake: Notify,
    /// Cancelled when the service stops scheduling and taking jobs.
    stopping: CancellationToken,
    /// Cancelled when the shutdown's grace has passed; every job's token is a child of it.
    kill: CancellationToken,
    /// Tells jobs apart that are cancelled by the shutdown.
    shutting_down: std::sync::atomic::AtomicBool,
    cursors: tokio::sync::Mutex<scheduler::Cursors>,
    /// When the scheduler loop last came round (`None`: it does not run).
    heartbeat: Mutex<Option<std::time::Instant>>,
    listings: RwLock<HashMap<String, backups::Listing>>,
    /// The repositories the read side opened, by URL: opening derives the key (Argon2id),
    /// which a status or metrics read must not pay each time. Dropped on reload and when a
    /// read through one fails.
    handles: Mutex<HashMap<String, Arc<lifeboat_repo::Repository>>>,
    /// The audit log's seq after the last sealing round (its own `audit_seal` entries
    /// included): a round with nothing newer seals nothing.
    last_seal: tokio::sync::Mutex<Option<u64>>,
    /// The alert engine's events and turn (crate::alerts).
    alerts: alert_engine::Engine,
    /// The notification dispatcher (crate::notifications), set once at start.
    notifications: std::sync::OnceLock<crate::notifications::Dispatcher>,
    /// The export destinations' cleans: the scheduler's last look, those running.
    cleans: export_clean::Cleans,
}

impl Inner {
    fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn emit(&self, event: JobEvent) {
        let _ = self.events.send(event);
    }

    fn with_active<R>(&self, f: impl FnOnce(&mut HashMap<JobId, Active>) -> R) -> R {
        let result = f(&mut self.active.lock().unwrap_or_else(|p| p.into_inner()));
        self.changed.notify_waiters();
        result
    }

    fn plan_lock(&self, plan: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.plan_locks.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(locks.entry(plan.to_owned()).or_default())
    }

    fn repository_limit(&self, url: &str) -> Arc<Semaphore> {
        let mut limits = self.repository_limits.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(limits.entry(url.to_owned()).or_insert_with(|| Arc::new(Semaphore::new(self.per_repository))))
    }

    /// How many jobs of schedule `key` are queued or running.
    fn jobs_of(&self, key: &ScheduleKey) -> usize {
        let active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        active.values().filter(|job| job.key.as_ref() == Some(key)).count()
    }

    /// Running and queued jobs, and each plan's oldest running job.
    fn job_counts(&self) -> (u32, u32, HashMap<String, JobId>) {
        let active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        let running = active.values().filter(|j| j.running).count() as u32;
        let mut of = HashMap::new();
        let mut ids: Vec<_> = active.iter().filter(|(_, j)| j.running).collect();
        ids.sort_by_key(|(id, _)| **id);
        for (id, job) in ids {
            of.entry(job.plan.clone()).or_insert(*id);
        }
        (running, active.len() as u32 - running, of)
    }

    /// The reason a cancelled job records.
    fn cancel_reason(&self, id: JobId) -> String {
        let active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        match active.get(&id).and_then(|j| j.cancelled_by.clone()) {
            Some(reason) => reason,
            None if self.shutting_down.load(std::sync::atomic::Ordering::SeqCst) => {
                "lifeboatd shutting down".to_owned()
            }
            None => "cancelled".to_owned(),
        }
    }

    /// The next backup slot of each plan, as the scheduler holds it.
    fn next_slots(&self) -> HashMap<String, Option<DateTime<Utc>>> {
        match self.cursors.try_lock() {
            Ok(cursors) => cursors
                .iter()
                .filter(|(k, _)| k.work == Work::Backup)
                .map(|(k, c)| (k.plan.clone(), c.stored_next))
                .collect(),
            Err(_) => HashMap::new(),
        }
    }

    /// The secret variables of every plan but `plan` (a child process must not see them).
    fn other_plans_secrets(&self, plan: &str) -> Vec<String> {
        let config = self.config();
        config.plans.iter().filter(|(name, _)| *name != plan).flat_map(|(_, p)| p.secret_variables()).collect()
    }
}

/// Runs the work of a job; `cancel` is seen by work that stops itself ([`Work::stops_itself`]).
async fn execute(
    inner: &Arc<Inner>,
    spec: &JobSpec,
    log: &JobLogger,
    cancel: CancellationToken,
) -> Result<Done, Failure> {
    match spec.work {
        Work::Drill => drill::run(inner, spec, log, cancel).await,
        Work::Backup => backup::run(inner, spec, log).await,
        Work::Copy(index) => copy::run(inner, spec, index, log).await,
        Work::Verify { deep } => verify::run(inner, spec, deep, log).await,
        Work::Prune => prune::run(inner, spec, log).await,
    }
}

impl Service {
    /// Starts the service: the scheduler loop when `run_scheduler`, nothing else until asked.
    /// The state's crash recovery (at its open) has marked the jobs a stopped lifeboatd left
    /// as failed; the scheduler resumes each schedule from its stored next slot, so slots
    /// missed while down go by the missed-run policy.
    pub async fn start(options: ServiceOptions) -> Result<Service, ServiceError> {
        reload::check(&options.config, &options.origin)?;
        let settings = options.config.service.clone();
        let (events, _) = broadcast::channel(1024);
        let cleans = export_clean::Cleans::new(options.clock.now());
        let inner = Inner {
            origin: options.origin,
            state: options.state,
            clock: options.clock,
            opener: options.opener,
            config: RwLock::new(Arc::new(options.config)),
            events,
            global: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            per_repository: settings.per_repository.max(1),
            repository_limits: Mutex::default(),
            plan_locks: Mutex::default(),
            active: Mutex::default(),
            changed: Notify::new(),
            wake: Notify::new(),
            stopping: CancellationToken::new(),
            kill: CancellationToken::new(),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
            cursors: tokio::sync::Mutex::default(),
            heartbeat: Mutex::new(options.run_scheduler.then(std::time::Instant::now)),
            listings: RwLock::default(),
            handles: Mutex::default(),
            last_seal: tokio::sync::Mutex::default(),
            alerts: alert_engine::Engine::new(),
            notifications: std::sync::OnceLock::new(),
            cleans,
        };
        let service = Service { inner: Arc::new(inner) };
        audit::start(&service.inner, options.run_scheduler);
        alert_engine::start(&service, options.run_scheduler);
        // Notifications listen to both event streams; a channel that cannot start is logged.
        let dispatcher =
            crate::notifications::Dispatcher::start(&service.config(), service.subscribe(), service.subscribe_alerts());
        let _ = service.inner.notifications.set(dispatcher);
        if options.run_scheduler {
            tokio::spawn(scheduler::run_loop(Arc::clone(&service.inner)));
        }
        Ok(service)
    }

    /// One scheduler step at the clock's "now": starts, queues or skips what is due, and
    /// records each schedule's next slot; starts the clean of each export destination with
    /// a `clean-schedule` slot since the last step (in the background: [`Service::wait_idle`]
    /// waits for it).
    pub async fn tick(&self) -> Result<(), ServiceError> {
        scheduler::tick(&self.inner).await.map(|_| ())
    }

    /// Waits until no job is queued or running (retries included) and no export
    /// destination is being cleaned.
    pub async fn wait_idle(&self) {
        loop {
            let changed = self.inner.changed.notified();
            if self.inner.active.lock().unwrap_or_else(|p| p.into_inner()).is_empty() && self.inner.cleans.idle() {
                return;
            }
            changed.await;
        }
    }

    /// The status of every plan and the overall health.
    pub async fn status(&self) -> Result<Status, ServiceError> {
        status::status(&self.inner).await
    }

    /// The plans as configured.
    pub fn plans(&self) -> Vec<PlanSummary> {
        status::plans(&self.inner)
    }

    /// Enqueues a job of `kind` for `plan` now (it waits for the plan's running job and the
    /// limits); an unknown plan is [`ErrorKind::NotFound`], a kind the plan cannot run
    /// [`ErrorKind::Invalid`]. A verify is the quick one; [`Service::run_verify`] chooses.
    pub async fn run_now(
        &self,
        plan: &str,
        kind: JobKind,
        trigger: Trigger,
        requested_by: Option<String>,
    ) -> Result<JobId, ServiceError> {
        let work = match kind {
            JobKind::Backup => Work::Backup,
            JobKind::Copy => Work::Copy(None),
            JobKind::Verify => Work::Verify { deep: false },
            JobKind::Prune => Work::Prune,
            JobKind::Drill => Work::Drill,
            other => {
                return Err(ServiceError::NotRunnable {
                    plan: plan.to_owned(),
                    kind: format!("{other:?}").to_lowercase(),
                    reason: "not a job lifeboatd runs on request (forget is part of each backup)".into(),
                });
            }
        };
        self.enqueue_now(plan, work, trigger, requested_by).await
    }

    /// Enqueues a quick (or `deep`) verify of `plan` now.
    pub async fn run_verify(
        &self,
        plan: &str,
        deep: bool,
        trigger: Trigger,
        requested_by: Option<String>,
    ) -> Result<JobId, ServiceError> {
        self.enqueue_now(plan, Work::Verify { deep }, trigger, requested_by).await
    }

    async fn enqueue_now(
        &self,
        plan: &str,
        work: Work,
        trigger: Trigger,
        requested_by: Option<String>,
    ) -> Result<JobId, ServiceError> {
        if self.inner.stopping.is_cancelled() {
            return Err(ServiceError::ShuttingDown);
        }
        let config = self.inner.config();
        let Some(plan_config) = config.plans.get(plan) else {
            return Err(ServiceError::NoSuchPlan { plan: plan.to_owned(), origin: self.inner.origin.clone() });
        };
        let resolved =
            ResolvedPlan { name: plan.to_owned(), origin: self.inner.origin.clone(), config: plan_config.clone() };
        reload::runnable(&resolved, work)?;
        let spec = JobSpec {
            plan: resolved,
            work,
            key: None,
            trigger,
            requested_by,
            scheduled_for: None,
            attempt: 1,
            retry_of: None,
        };
        let id = runner::enqueue(&self.inner, spec, Duration::ZERO).await?;
        self.inner.wake.notify_one();
        Ok(id)
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

    /// Cancels job `id` (queued or running), recording `by`, and returns it as it ended: a
    /// running backup stops without committing (its command killed, no backup listed). A
    /// job that has ended is [`ErrorKind::Conflict`], an unknown one [`ErrorKind::NotFound`].
    pub async fn cancel(&self, id: JobId, by: Option<String>) -> Result<JobRecord, ServiceError> {
        runner::cancel(&self.inner, id, by).await?;
        self.inner.state.job(id).await?.ok_or(ServiceError::NoSuchJob { job: id })
    }

    /// The backups of `plan` (of every plan for `None`) in the repositories it uses, as the
    /// repositories list them (cached; a job of a plan drops its repositories' listings).
    pub async fn backups(&self, plan: Option<&str>) -> Result<Vec<BackupSummary>, ServiceError> {
        backups::backups(&self.inner, plan).await
    }

    /// Every repository the plans use: reachable and its locks read now (through a kept
    /// handle, so no key is derived again), backups and size from the listing [`Self::backups`]
    /// keeps, last verify from the job history.
    pub async fn repositories(&self) -> Result<Vec<RepositoryStatus>, ServiceError> {
        backups::repositories(&self.inner).await
    }

    /// Swaps in `config`; an invalid one is refused ([`ErrorKind::Invalid`]) and the old one
    /// kept. Running jobs finish under the configuration they started with.
    pub async fn reload(&self, config: Config) -> Result<ReloadReport, ServiceError> {
        let report = reload::reload(&self.inner, config).await?;
        if let Some(dispatcher) = self.inner.notifications.get() {
            dispatcher.reload(&self.config());
        }
        Ok(report)
    }

    /// Re-reads the configuration file (`origin`, off the reactor) and reloads it.
    pub async fn reload_from_file(&self) -> Result<ReloadReport, ServiceError> {
        let path = std::path::PathBuf::from(&self.inner.origin);
        let loaded = tokio::task::spawn_blocking(move || Config::load(&path))
            .await
            .map_err(|e| ServiceError::Internal(format!("reading the configuration failed: {e}")))?;
        let config = loaded.map_err(|source| ServiceError::Config { source })?;
        self.reload(config).await
    }

    /// Stops scheduling and taking jobs, waits up to `grace` for the jobs queued or running,
    /// then cancels the rest and records them cancelled ("lifeboatd shutting down").
    pub async fn shutdown(&self, grace: Duration) {
        reload::shutdown(&self.inner, self, grace).await;
        // The last seal; bounded, so an unreachable repository does not hold the exit up.
        let _ = tokio::time::timeout(audit::SHUTDOWN_SEAL_LIMIT, audit::seal(&self.inner)).await;
    }

    /// Every [`JobEvent`] from now on: the hook for metrics, alerts and drills.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.inner.events.subscribe()
    }

    /// Whether the scheduler loop is alive: what lifeboatd's `/readyz` reports. The loop
    /// never sleeps longer than 30 s, so one not seen for twice that is [`SchedulerState::Stalled`].
    pub fn scheduler(&self) -> SchedulerState {
        if self.inner.stopping.is_cancelled() {
            return SchedulerState::Stopped;
        }
        match *lock_heartbeat(&self.inner.heartbeat) {
            None => SchedulerState::Off,
            Some(beat) if beat.elapsed() > 2 * scheduler::MAX_SLEEP + std::time::Duration::from_secs(5) => {
                SchedulerState::Stalled
            }
            Some(_) => SchedulerState::Running,
        }
    }

    /// The state database.
    pub fn state(&self) -> &AsyncStateStore {
        &self.inner.state
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.inner.config()
    }

    /// The clock the service runs by.
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.inner.clock)
    }
}

/// What the alert engine (crate::alerts) needs of the service beyond its public methods.
impl Service {
    pub(crate) fn alert_engine(&self) -> &alert_engine::Engine {
        &self.inner.alerts
    }

    /// A handle that does not keep the service alive (for its background tasks).
    pub(crate) fn downgrade(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    /// The service of a [`Service::downgrade`]d handle, while it lives.
    pub(crate) fn upgrade(weak: &std::sync::Weak<Inner>) -> Option<Service> {
        weak.upgrade().map(|inner| Service { inner })
    }

    /// The read side's kept handle on repository `url`, opened as `plan` uses it (`copy`:
    /// the index of its copy destination).
    pub(crate) async fn repository_handle(
        &self,
        url: &str,
        plan: &str,
        copy: Option<usize>,
    ) -> Result<Arc<lifeboat_repo::Repository>, String> {
        let config = self.inner.config();
        backups::open(&self.inner, &config, url, plan, copy).await
    }
}

/// The heartbeat's lock (a poisoned one still holds a usable instant).
pub(crate) fn lock_heartbeat(
    beat: &Mutex<Option<std::time::Instant>>,
) -> std::sync::MutexGuard<'_, Option<std::time::Instant>> {
    beat.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

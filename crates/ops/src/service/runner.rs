//! The job runner: a job is a row in the state and a task that waits for its turn (the
//! plan's lock, then the repository's and the global limit), runs under the job timeout and
//! its cancellation token, records its end, and retries itself after a transient failure.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lifeboat_storage::redact_url;
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::failure::Failure;
use super::joblog::JobLogger;
pub(crate) use super::key::{ScheduleKey, Work};
use super::{Inner, JobEvent, ServiceError};
use crate::plans::ResolvedPlan;
use crate::state::{JobId, JobOutcome, JobResult, JobState, NewJob, Trigger};

/// A job to enqueue.
#[derive(Debug, Clone)]
pub(crate) struct JobSpec {
    pub plan: ResolvedPlan,
    pub work: Work,
    /// The schedule it runs for (none for a manual or API run).
    pub key: Option<ScheduleKey>,
    pub trigger: Trigger,
    pub requested_by: Option<String>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub attempt: u32,
    pub retry_of: Option<JobId>,
}

/// What a job that did its work reports.
#[derive(Debug, Clone, Default)]
pub(crate) struct Done {
    pub bytes_read: u64,
    pub bytes_stored: u64,
    pub backup_id: Option<String>,
    pub verify_ok: Option<bool>,
}

/// A job the runner knows of (queued or running).
#[derive(Debug)]
pub(crate) struct Active {
    pub plan: String,
    pub key: Option<ScheduleKey>,
    pub running: bool,
    pub cancel: CancellationToken,
    pub cancelled_by: Option<String>,
}

/// The repository a job works on: the one it names in the state and is limited by.
fn repository_of(spec: &JobSpec) -> Option<String> {
    match spec.work {
        Work::Copy(Some(i)) => spec.plan.config.copy_to.get(i).map(|c| c.repository.clone()),
        _ => spec.plan.config.repository.clone(),
    }
}

/// Records `spec` as a queued job and starts its task, which waits `delay` first.
pub(crate) async fn enqueue(inner: &Arc<Inner>, spec: JobSpec, delay: Duration) -> Result<JobId, ServiceError> {
    let repository = repository_of(&spec).map(|u| redact_url(&u));
    let job = NewJob {
        plan: spec.plan.name.clone(),
        kind: spec.work.kind(),
        trigger: spec.trigger,
        requested_by: spec.requested_by.clone(),
        repository: repository.clone(),
        scheduled_for: spec.scheduled_for,
        attempt: spec.attempt,
        retry_of: spec.retry_of,
    };
    let cancel = inner.kill.child_token();
    let id = inner.state.create_job(job, inner.clock.now()).await?;
    let active = Active {
        plan: spec.plan.name.clone(),
        key: spec.key.clone(),
        running: false,
        cancel: cancel.clone(),
        cancelled_by: None,
    };
    inner.with_active(|jobs| {
        jobs.insert(id, active);
    });
    inner.emit(JobEvent::Queued { job: id, plan: spec.plan.name.clone(), kind: spec.work.kind() });
    let task_inner = Arc::clone(inner);
    tokio::spawn(async move { run_job(task_inner, id, spec, repository, delay, cancel).await });
    Ok(id)
}

/// The permits a job holds while it runs.
struct Turn {
    _plan: OwnedMutexGuard<()>,
    _repository: Option<OwnedSemaphorePermit>,
    _global: OwnedSemaphorePermit,
}

/// Waits for the job's turn: its pause, the plan's lock, the repository's and the global
/// limit, in that order (always the same order: no deadlock). `None`: cancelled meanwhile.
async fn wait_turn(
    inner: &Arc<Inner>,
    plan: String,
    url: Option<String>,
    delay: Duration,
    cancel: &CancellationToken,
) -> Option<Turn> {
    let plan_lock = inner.plan_lock(&plan);
    let repository_limit = url.map(|url| inner.repository_limit(&url));
    let global = Arc::clone(&inner.global);
    let wait = async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let plan = plan_lock.lock_owned().await;
        let repository = match repository_limit {
            Some(limit) => Some(acquire(limit).await?),
            None => None,
        };
        let global = acquire(global).await?;
        Some(Turn { _plan: plan, _repository: repository, _global: global })
    };
    tokio::select! {
        turn = wait => turn,
        () = cancel.cancelled() => None,
    }
}

async fn acquire(semaphore: Arc<Semaphore>) -> Option<OwnedSemaphorePermit> {
    semaphore.acquire_owned().await.ok()
}

/// A job's whole life after it was queued.
async fn run_job(
    inner: Arc<Inner>,
    id: JobId,
    spec: JobSpec,
    repository: Option<String>,
    delay: Duration,
    cancel: CancellationToken,
) {
    let url = repository_of(&spec);
    let log = JobLogger { state: inner.state.clone(), clock: Arc::clone(&inner.clock), job: id };
    let Some(turn) = wait_turn(&inner, spec.plan.name.clone(), url, delay, &cancel).await else {
        let reason = inner.cancel_reason(id);
        log.info(format!("cancelled before it started: {reason}")).await;
        record_end(&inner, id, &spec, repository, None, Err(Ending::Cancelled(reason))).await;
        leave(&inner, id);
        return;
    };
    let started = inner.clock.now();
    if let Err(e) = inner.state.start_job(id, started).await {
        tracing::error!(job = %id, "cannot record the job's start: {e}");
    }
    inner.with_active(|jobs| {
        if let Some(job) = jobs.get_mut(&id) {
            job.running = true;
        }
    });
    inner.emit(JobEvent::Started {
        job: id,
        plan: spec.plan.name.clone(),
        kind: spec.work.kind(),
        repository: repository.clone(),
    });
    let timeout = inner.config().service.job_timeout.map(|t| t.as_delta().to_std().unwrap_or(Duration::MAX));
    let work_cancel = cancel.child_token();
    let work: futures::future::BoxFuture<'_, Result<Done, Failure>> =
        Box::pin(super::execute(&inner, &spec, &log, work_cancel.clone()));
    let result = if spec.work.stops_itself() {
        // A drill sees the token itself and returns once its scratch targets are removed:
        // dropping it halfway would leave them behind.
        let result = until_stopped(timeout, work, &work_cancel).await;
        if cancel.is_cancelled() {
            Err(Ending::Cancelled(inner.cancel_reason(id)))
        } else {
            result.map_err(Ending::Failed)
        }
    } else {
        tokio::select! {
            result = with_timeout(timeout, work) => result.map_err(Ending::Failed),
            () = cancel.cancelled() => Err(Ending::Cancelled(inner.cancel_reason(id))),
        }
    };
    if let Err(ending) = &result {
        log.error(ending.text()).await;
    }
    let retry = matches!(&result, Err(Ending::Failed(f)) if f.transient);
    record_end(&inner, id, &spec, repository, Some(started), result).await;
    drop(turn); // after the end is recorded: the next job starts after this one finished
    if retry {
        retry_after(&inner, id, &spec, &log).await;
    }
    leave(&inner, id);
}

/// The job leaves the runner (after its retry, if any, was enqueued: never idle between).
fn leave(inner: &Inner, id: JobId) {
    inner.with_active(|jobs| {
        jobs.remove(&id);
    });
    inner.wake.notify_one();
}

/// Runs `work` for at most `timeout`.
async fn with_timeout(
    timeout: Option<Duration>,
    work: futures::future::BoxFuture<'_, Result<Done, Failure>>,
) -> Result<Done, Failure> {
    let Some(limit) = timeout else { return work.await };
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => Err(Failure::permanent(format!("timed out after {}", humantime(limit)))),
    }
}

/// Runs work that stops itself when `token` is cancelled: past `timeout`, the token is
/// cancelled and the work awaited to its end (its cleanup), then it is a timeout failure.
async fn until_stopped(
    timeout: Option<Duration>,
    mut work: futures::future::BoxFuture<'_, Result<Done, Failure>>,
    token: &CancellationToken,
) -> Result<Done, Failure> {
    let Some(limit) = timeout else { return work.await };
    tokio::select! {
        result = &mut work => result,
        () = tokio::time::sleep(limit) => {
            token.cancel();
            let _ = work.await;
            Err(Failure::permanent(format!("timed out after {}", humantime(limit))))
        }
    }
}

fn humantime(d: Duration) -> String {
    crate::schedule::Span::from_seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).to_string()
}

/// How a job that did not succeed ended.
#[derive(Debug)]
pub(crate) enum Ending {
    Failed(Failure),
    Cancelled(String),
}

impl Ending {
    fn text(&self) -> String {
        match self {
            Ending::Failed(f) => format!("failed: {}", f.message),
            Ending::Cancelled(reason) => format!("cancelled: {reason}"),
        }
    }
}

/// Records the job's end in the state, tells the subscribers, refreshes what the API shows,
/// and lets the scheduler know.
async fn record_end(
    inner: &Arc<Inner>,
    id: JobId,
    spec: &JobSpec,
    repository: Option<String>,
    started: Option<DateTime<Utc>>,
    result: Result<Done, Ending>,
) {
    let now = inner.clock.now();
    let error = match &result {
        Err(Ending::Failed(f)) => Some(f.message.clone()),
        Err(Ending::Cancelled(reason)) => Some(reason.clone()),
        Ok(_) => None,
    };
    let (outcome, state, done) = match result {
        Ok(done) => {
            let outcome = JobOutcome {
                result: JobResult::Succeeded,
                bytes_read: Some(done.bytes_read),
                bytes_stored: Some(done.bytes_stored),
                backup_id: done.backup_id.clone(),
            };
            (outcome, JobState::Succeeded, done)
        }
        Err(Ending::Failed(f)) => {
            let done = Done { backup_id: f.backup_id.clone(), verify_ok: f.verify_ok, ..Done::default() };
            let outcome =
                JobOutcome { backup_id: f.backup_id, ..JobOutcome::of(JobResult::Failed { error: f.message }) };
            (outcome, JobState::Failed, done)
        }
        Err(Ending::Cancelled(reason)) => {
            (JobOutcome::of(JobResult::Cancelled { reason }), JobState::Cancelled, Done::default())
        }
    };
    if let Err(e) = inner.state.finish_job(id, outcome, now).await {
        tracing::error!(job = %id, "cannot record the job's end: {e}");
    }
    if started.is_some() {
        super::backups::refresh_plan(inner, &spec.plan);
    }
    let duration = started.map_or(0.0, |s| (now - s).num_milliseconds().max(0) as f64 / 1000.0);
    inner.emit(JobEvent::Finished {
        job: id,
        plan: spec.plan.name.clone(),
        kind: spec.work.kind(),
        repository,
        state,
        duration_seconds: duration,
        bytes_read: done.bytes_read,
        bytes_stored: done.bytes_stored,
        backup_id: done.backup_id,
        verify_ok: done.verify_ok,
        error,
    });
}

/// Enqueues the next attempt of a job that failed for a transient reason, after the
/// backoff (doubling with each attempt), unless the retries are used up or the service stops.
async fn retry_after(inner: &Arc<Inner>, id: JobId, spec: &JobSpec, log: &JobLogger) {
    let settings = inner.config().service.clone();
    if spec.attempt > settings.retries || inner.stopping.is_cancelled() {
        return;
    }
    let base = settings.retry_backoff.as_delta().to_std().unwrap_or_default();
    let delay = base.saturating_mul(1u32 << spec.attempt.saturating_sub(1).min(16));
    let next = JobSpec { attempt: spec.attempt + 1, retry_of: Some(id), ..spec.clone() };
    match enqueue_boxed(Arc::clone(inner), next, delay).await {
        Ok(retry) => log.info(format!("transient failure: retry as job {retry} in {}", humantime(delay))).await,
        Err(e) => log.error(format!("cannot enqueue a retry: {e}")).await,
    }
}

/// [`enqueue`] behind a box: a job's task enqueues its retry, and the box breaks the cycle
/// the compiler would otherwise have to see through.
fn enqueue_boxed(
    inner: Arc<Inner>,
    spec: JobSpec,
    delay: Duration,
) -> futures::future::BoxFuture<'static, Result<JobId, ServiceError>> {
    Box::pin(async move { enqueue(&inner, spec, delay).await })
}

/// Cancels job `id`: a queued one ends at once, a running one as soon as its work stops
/// (the child process killed, nothing committed).
pub(crate) async fn cancel(inner: &Arc<Inner>, id: JobId, by: Option<String>) -> Result<(), ServiceError> {
    let found = inner.with_active(|jobs| {
        jobs.get_mut(&id).map(|job| {
            job.cancelled_by = Some(match &by {
                Some(who) => format!("cancelled by {who}"),
                None => "cancelled on request".to_owned(),
            });
            job.cancel.clone()
        })
    });
    match found {
        Some(token) => {
            token.cancel();
            wait_gone(inner, id).await;
            Ok(())
        }
        None => match inner.state.job(id).await? {
            None => Err(ServiceError::NoSuchJob { job: id }),
            Some(job) if job.state.is_final() => Err(ServiceError::JobEnded { job: id, state: job.state }),
            Some(_) => Err(ServiceError::Internal(format!("job {id} is not run by this lifeboatd"))),
        },
    }
}

/// Waits until job `id` has left the runner (its end recorded).
async fn wait_gone(inner: &Arc<Inner>, id: JobId) {
    loop {
        let notified = inner.changed.notified();
        if !inner.active.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&id) {
            return;
        }
        notified.await;
    }
}

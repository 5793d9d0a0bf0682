//! [`AsyncStateStore`]: the state store for async code, off the reactor.
//!
//! rusqlite blocks (on the disk, and on another writer for up to the busy timeout), so every
//! call runs in `tokio::task::spawn_blocking` around one `Mutex<StateStore>`, and the lock
//! is taken there too: the reactor never waits, and calls on one handle are serialised as a
//! single SQLite connection needs. This is the one to use from tokio; a dedicated thread
//! with a channel would add a queue and nothing else, as each call is short. Code that is
//! already on a blocking thread (a job's worker) may use [`AsyncStateStore::blocking`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::error::StateError;
use super::handle::StateStore;
use super::job_logs::{JobLog, NewLogLine};
use super::job_types::{JobFilter, JobId, JobOutcome, JobPage, JobRecord, NewJob};
use super::plan_state::PlanState;

/// A cloneable, `Send + Sync` handle on a [`StateStore`] whose methods are async and never
/// block the reactor.
#[derive(Debug, Clone)]
pub struct AsyncStateStore {
    inner: Arc<Mutex<StateStore>>,
    path: Arc<str>,
}

impl AsyncStateStore {
    /// Wraps an open store.
    pub fn new(store: StateStore) -> Self {
        let path = Arc::from(store.path());
        AsyncStateStore { inner: Arc::new(Mutex::new(store)), path }
    }

    /// [`StateStore::open`] on a blocking thread.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, StateError> {
        let path = path.into();
        let shown = path.display().to_string();
        let store = tokio::task::spawn_blocking(move || StateStore::open(path)).await.map_err(|e| {
            StateError::Internal { path: shown, reason: format!("opening failed in its worker: {e}") }
        })??;
        Ok(AsyncStateStore::new(store))
    }

    /// Runs `f` on the store on a blocking thread: any operation, including several in a row
    /// under one lock.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StateError>
    where
        F: FnOnce(&mut StateStore) -> Result<R, StateError> + Send + 'static,
        R: Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&mut lock(&inner))).await.map_err(|e| StateError::Internal {
            path: self.path.to_string(),
            reason: format!("a state call failed: {e}"),
        })?
    }

    /// Runs `f` on the store on the current thread, which must be one that may block.
    pub fn blocking<R>(&self, f: impl FnOnce(&mut StateStore) -> R) -> R {
        f(&mut lock(&self.inner))
    }

    /// [`StateStore::create_job`].
    pub async fn create_job(&self, job: NewJob, at: DateTime<Utc>) -> Result<JobId, StateError> {
        self.call(move |s| s.create_job(&job, at)).await
    }

    /// [`StateStore::start_job`].
    pub async fn start_job(&self, id: JobId, at: DateTime<Utc>) -> Result<(), StateError> {
        self.call(move |s| s.start_job(id, at)).await
    }

    /// [`StateStore::record_progress`].
    pub async fn record_progress(&self, id: JobId, bytes_read: u64, bytes_stored: u64) -> Result<(), StateError> {
        self.call(move |s| s.record_progress(id, bytes_read, bytes_stored)).await
    }

    /// [`StateStore::finish_job`].
    pub async fn finish_job(&self, id: JobId, outcome: JobOutcome, at: DateTime<Utc>) -> Result<(), StateError> {
        self.call(move |s| s.finish_job(id, &outcome, at)).await
    }

    /// [`StateStore::append_log`].
    pub async fn append_log(&self, id: JobId, lines: Vec<NewLogLine>) -> Result<(), StateError> {
        self.call(move |s| s.append_log(id, &lines)).await
    }

    /// [`StateStore::job`].
    pub async fn job(&self, id: JobId) -> Result<Option<JobRecord>, StateError> {
        self.call(move |s| s.job(id)).await
    }

    /// [`StateStore::list_jobs`].
    pub async fn list_jobs(&self, filter: JobFilter) -> Result<JobPage, StateError> {
        self.call(move |s| s.list_jobs(&filter)).await
    }

    /// [`StateStore::job_log`].
    pub async fn job_log(&self, id: JobId) -> Result<JobLog, StateError> {
        self.call(move |s| s.job_log(id)).await
    }

    /// [`StateStore::plan_state`].
    pub async fn plan_state(&self, plan: String) -> Result<Option<PlanState>, StateError> {
        self.call(move |s| s.plan_state(&plan)).await
    }

    /// [`StateStore::plan_states`].
    pub async fn plan_states(&self) -> Result<Vec<PlanState>, StateError> {
        self.call(|s| s.plan_states()).await
    }

    /// [`StateStore::set_next_run`].
    pub async fn set_next_run(
        &self,
        plan: String,
        next: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<(), StateError> {
        self.call(move |s| s.set_next_run(&plan, next, at)).await
    }

    /// [`StateStore::record_skipped_slot`].
    pub async fn record_skipped_slot(
        &self,
        plan: String,
        slot: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StateError> {
        self.call(move |s| s.record_skipped_slot(&plan, slot, at)).await
    }
}

/// The store, even after a panic inside a call: a transaction open at the panic was rolled
/// back when it was dropped during the unwinding, so the connection is sound.
fn lock(inner: &Mutex<StateStore>) -> MutexGuard<'_, StateStore> {
    inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

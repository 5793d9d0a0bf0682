//! [`ServiceError`]: why a service call failed, naming the plan, job or repository, with the
//! [`ErrorKind`] an API maps to a status.

use crate::config::ConfigError;
use crate::state::{JobId, StateError};

/// What sort of failure a [`ServiceError`] is; an HTTP API maps these to 404, 409, 400/422,
/// 503 and 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No such plan, job or repository (404).
    NotFound,
    /// The request does not fit the current state: cancelling a finished job (409).
    Conflict,
    /// The request or the configuration is unusable (400 / 422).
    Invalid,
    /// The service cannot do it now: shutting down, the state or a repository unavailable (503).
    Unavailable,
    /// A bug or a failed worker inside Lifeboat (500).
    Internal,
}

/// Why a service call failed. Each variant names what it is about.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The configuration names no such plan.
    #[error("no plan {plan:?} in {origin}")]
    NoSuchPlan {
        /// The plan asked for.
        plan: String,
        /// The configuration file.
        origin: String,
    },
    /// The state has no such job.
    #[error("no job {job}")]
    NoSuchJob {
        /// The job asked for.
        job: JobId,
    },
    /// The job has ended already.
    #[error("job {job} has already ended ({state})")]
    JobEnded {
        /// The job.
        job: JobId,
        /// Its final state.
        state: crate::state::JobState,
    },
    /// The plan cannot run this kind of job (a prune for a plan without a repository ...).
    #[error("plan {plan:?} cannot run a {kind} job: {reason}")]
    NotRunnable {
        /// The plan.
        plan: String,
        /// The job kind.
        kind: String,
        /// Why not.
        reason: String,
    },
    /// A new configuration was refused; the old one stays in force.
    #[error("configuration refused, the previous one stays in force: {source}")]
    Config {
        /// What is wrong with it.
        #[source]
        source: ConfigError,
    },
    /// No alert has this id.
    #[error("no alert {alert}")]
    NoSuchAlert {
        /// The id asked for.
        alert: String,
    },
    /// The alert has resolved: there is nothing to acknowledge.
    #[error("alert {alert} has resolved already")]
    AlertResolved {
        /// The alert.
        alert: String,
    },
    /// The state has no drill or recovery report with this id.
    #[error("no drill report {id:?}")]
    NoSuchDrill {
        /// The id asked for.
        id: String,
    },
    /// The service is shutting down and takes no new jobs.
    #[error("lifeboatd is shutting down: no new jobs")]
    ShuttingDown,
    /// A repository could not be opened or read.
    #[error("repository {repository}: {reason}")]
    Repository {
        /// The repository (redacted URL).
        repository: String,
        /// Why (redacted).
        reason: String,
    },
    /// The state database failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A worker of the service failed.
    #[error("internal error in lifeboatd: {0}")]
    Internal(String),
}

impl ServiceError {
    /// The category of the failure.
    pub fn kind(&self) -> ErrorKind {
        use crate::state::ErrorKind as S;
        match self {
            ServiceError::NoSuchPlan { .. }
            | ServiceError::NoSuchJob { .. }
            | ServiceError::NoSuchAlert { .. }
            | ServiceError::NoSuchDrill { .. } => ErrorKind::NotFound,
            ServiceError::JobEnded { .. } | ServiceError::AlertResolved { .. } => ErrorKind::Conflict,
            ServiceError::NotRunnable { .. } | ServiceError::Config { .. } => ErrorKind::Invalid,
            ServiceError::ShuttingDown | ServiceError::Repository { .. } => ErrorKind::Unavailable,
            ServiceError::State(e) => match e.kind() {
                S::NotFound => ErrorKind::NotFound,
                S::Conflict => ErrorKind::Conflict,
                S::InvalidInput => ErrorKind::Invalid,
                S::Locked | S::Unavailable => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            },
            ServiceError::Internal(_) => ErrorKind::Internal,
        }
    }
}

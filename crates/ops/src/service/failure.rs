//! Why a job failed, told apart into transient failures (worth a retry: a storage or a
//! database that cannot be reached now, a lock held by another run) and permanent ones (a
//! wrong password, damaged data, a configuration mistake), and redacted for the job history.

use lifeboat_dump::DumpError;
use lifeboat_repo::{ErrorKind as RepoKind, RepoError};
use lifeboat_storage::redact_url;

use crate::OpsError;
use crate::forget::ForgetError;
use crate::opener::OpenError;
use crate::run::RunError;

/// A job's failure, as the runner records it.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// The redacted message.
    pub message: String,
    /// A retry may succeed.
    pub transient: bool,
    /// The backup that was stored before the failure (a copy after the backup failed).
    pub backup_id: Option<String>,
    /// For a verify job: whether the data was sound.
    pub verify_ok: Option<bool>,
}

impl Failure {
    /// A permanent failure with this message (redacted here).
    pub fn permanent(message: impl AsRef<str>) -> Self {
        Failure { message: redact(message.as_ref()), transient: false, backup_id: None, verify_ok: None }
    }

    /// A failure of `error`, transient when `transient`.
    fn of(error: &dyn std::error::Error, transient: bool) -> Self {
        Failure { transient, ..Failure::permanent(chain(error)) }
    }
}

impl From<OpenError> for Failure {
    fn from(e: OpenError) -> Self {
        let transient = match &e {
            OpenError::Repo { source, .. } => repo_transient(source),
            OpenError::Storage { source, .. } => source.is_transient(),
            _ => false,
        };
        Failure::of(&e, transient)
    }
}

impl From<RunError> for Failure {
    fn from(e: RunError) -> Self {
        let transient = match &e {
            RunError::Backup { source, .. } => ops_transient(source),
            RunError::Copy { source, backup, .. } => {
                let mut failure = Failure::of(&e, repo_transient(source));
                failure.backup_id = Some(backup.clone());
                return failure;
            }
            RunError::Retention { source, backup, .. } => {
                let transient = match source.as_ref() {
                    ForgetError::Repo(e) | ForgetError::Unreadable { source: e } => repo_transient(e),
                    _ => false,
                };
                let mut failure = Failure::of(&e, transient);
                failure.backup_id = Some(backup.clone());
                return failure;
            }
            RunError::Elasticsearch { source, .. } => {
                matches!(source.kind(), lifeboat_es::ErrorKind::Unavailable | lifeboat_es::ErrorKind::Upstream)
            }
            _ => false,
        };
        Failure::of(&e, transient)
    }
}

impl From<RepoError> for Failure {
    fn from(e: RepoError) -> Self {
        let transient = repo_transient(&e);
        Failure::of(&e, transient)
    }
}

/// A repository failure a retry may cure: the storage unavailable, a lock held by another.
pub(crate) fn repo_transient(e: &RepoError) -> bool {
    match e {
        RepoError::Storage(s) => s.is_transient() || matches!(e.kind(), RepoKind::Unavailable),
        _ => matches!(e.kind(), RepoKind::Unavailable | RepoKind::Locked),
    }
}

fn ops_transient(e: &OpsError) -> bool {
    match e {
        OpsError::Dump(DumpError::ConnectFailed { .. }) => true,
        OpsError::Repo(e) => repo_transient(e),
        _ => false,
    }
}

/// The error and its sources, `: `-joined, each once.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = e.source();
    }
    text
}

/// `text` with every URL in it redacted (a password or key in a URL never reaches the state).
pub(crate) fn redact(text: &str) -> String {
    text.split(' ')
        .map(|word| if word.contains("://") { redact_url(word) } else { word.to_owned() })
        .collect::<Vec<_>>()
        .join(" ")
}

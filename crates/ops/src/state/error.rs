//! Errors of the state store, and the [`ErrorKind`] a frontend maps them by.
//!
//! Every error names the state file (or `:memory:`) and the operation that failed. Messages
//! say what failed and where, never what to type: a frontend adds its own hints.

use std::path::Path;

use rusqlite::ErrorCode;

/// What sort of failure a [`StateError`] is, in the style of `lifeboat_repo::ErrorKind`: an
/// HTTP API maps these to statuses (noted on each), a CLI to exit codes or hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No such job or API token (404).
    NotFound,
    /// The request does not fit the job's current state, e.g. finishing a job twice, or an
    /// API token's name is taken (409).
    Conflict,
    /// Another lifeboatd owns the state file (423).
    Locked,
    /// The file cannot be used now: another writer held it past the busy timeout, the disk
    /// is full or read-only, the directory cannot be created (503).
    Unavailable,
    /// The file is not a SQLite database, is damaged, or holds values this code never
    /// writes (500, and say so: the state is a cache and can be moved aside).
    Damaged,
    /// The file was written by a newer Lifeboat and is not downgraded (501).
    Unsupported,
    /// The caller's value cannot be stored, e.g. a byte count past `i64::MAX` (422).
    InvalidInput,
    /// A bug or a failed worker inside Lifeboat (500).
    Internal,
}

/// Why a state operation failed. Each variant names the state file and the operation.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// SQLite refused an operation for a reason other than damage.
    #[error("state database {path}: cannot {op}: {source}")]
    Sqlite {
        /// The state file, or `:memory:`.
        path: String,
        /// What was being done ("open", "record a job start", ...).
        op: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is not a SQLite database, or SQLite found it damaged.
    #[error("state database {path} is not a SQLite database or is damaged (while trying to {op}): {source}")]
    Damaged {
        /// The state file.
        path: String,
        /// What was being done.
        op: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A file-system operation around the database (its directory, its lock) failed.
    #[error("state database {path}: cannot {op}: {source}")]
    Io {
        /// The file or directory concerned.
        path: String,
        /// What was being done.
        op: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file's schema version is newer than this build knows: refused, never downgraded.
    #[error(
        "state database {path} has schema version {found}, newer than version {supported} that this Lifeboat \
         knows: it was written by a newer Lifeboat and is not downgraded"
    )]
    NewerVersion {
        /// The state file.
        path: String,
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The highest version this build migrates to.
        supported: i64,
    },
    /// Another process holds the owner lock of the state file.
    #[error("state database {path} is in use by another lifeboatd (its lock file {lock} is held)")]
    InUse {
        /// The state file.
        path: String,
        /// The lock file beside it.
        lock: String,
    },
    /// No job has this id.
    #[error("state database {path}: no job {job}")]
    NoSuchJob {
        /// The state file.
        path: String,
        /// The id asked for.
        job: i64,
    },
    /// No API token has this id, nor does an unrevoked one have this name.
    #[error("state database {path}: no API token {token:?}")]
    NoSuchToken {
        /// The state file.
        path: String,
        /// The id or name asked for (never a token's secret: callers pass ids and names).
        token: String,
    },
    /// An API token cannot be created as asked (its name is taken).
    #[error("state database {path}: {reason}")]
    TokenConflict {
        /// The state file.
        path: String,
        /// What is in the way.
        reason: String,
    },
    /// The job's state does not allow the change.
    #[error("state database {path}: cannot {op} job {job}: it is {state}")]
    WrongJobState {
        /// The state file.
        path: String,
        /// What was asked ("start", "finish", "record progress of").
        op: &'static str,
        /// The job.
        job: i64,
        /// Its state now.
        state: String,
    },
    /// A stored value is not one this code writes (the file was edited or damaged).
    #[error("state database {path}: {table}.{column} holds {value:?}, which this Lifeboat never writes")]
    BadValue {
        /// The state file.
        path: String,
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// The value found (a short rendering).
        value: String,
    },
    /// A value the caller gave cannot be stored.
    #[error("state database {path}: cannot {op}: {reason}")]
    InvalidInput {
        /// The state file.
        path: String,
        /// What was being done.
        op: &'static str,
        /// What is wrong with the value.
        reason: String,
    },
    /// The worker running a blocking call failed (a panic in it, or a poisoned lock).
    #[error("state database {path}: {reason}")]
    Internal {
        /// The state file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

impl StateError {
    /// The category of this error, for mapping to a status or an exit code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StateError::Sqlite { source, .. } => sqlite_kind(source),
            StateError::Damaged { .. } | StateError::BadValue { .. } => ErrorKind::Damaged,
            StateError::Io { .. } => ErrorKind::Unavailable,
            StateError::NewerVersion { .. } => ErrorKind::Unsupported,
            StateError::InUse { .. } => ErrorKind::Locked,
            StateError::NoSuchJob { .. } | StateError::NoSuchToken { .. } => ErrorKind::NotFound,
            StateError::WrongJobState { .. } | StateError::TokenConflict { .. } => ErrorKind::Conflict,
            StateError::InvalidInput { .. } => ErrorKind::InvalidInput,
            StateError::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// Wraps a SQLite error of `op` on `path`, as [`StateError::Damaged`] when SQLite says
    /// the file is not a database or is corrupt.
    pub(crate) fn sqlite(path: &str, op: &'static str, source: rusqlite::Error) -> Self {
        let damaged = matches!(source.sqlite_error_code(), Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt));
        let path = path.to_owned();
        if damaged { StateError::Damaged { path, op, source } } else { StateError::Sqlite { path, op, source } }
    }

    /// Wraps an I/O error of `op` on `path`.
    pub(crate) fn io(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        StateError::Io { path: path.display().to_string(), op, source }
    }
}

fn sqlite_kind(error: &rusqlite::Error) -> ErrorKind {
    match error.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::ReadOnly
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::PermissionDenied
            | ErrorCode::FileLockingProtocolFailed,
        ) => ErrorKind::Unavailable,
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => ErrorKind::Damaged,
        _ => ErrorKind::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_database_is_unavailable_and_a_corrupt_one_damaged() {
        let busy = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None);
        assert_eq!(StateError::sqlite("/s.db", "open", busy).kind(), ErrorKind::Unavailable);
        let corrupt = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_NOTADB), None);
        let error = StateError::sqlite("/s.db", "open", corrupt);
        assert_eq!(error.kind(), ErrorKind::Damaged);
        assert!(error.to_string().contains("/s.db"), "{error}");
    }
}

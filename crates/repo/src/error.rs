//! Errors of repository operations.

use lifeboat_crypto::CryptoError;
use lifeboat_storage::StorageError;

/// Why a repository operation failed. Each variant names the repository object involved.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// No `config` object at the location.
    #[error("no Lifeboat repository at {location} (run `lifeboat init` first)")]
    NotFound {
        /// Where we looked.
        location: String,
    },
    /// `init` on a location that already holds a repository.
    #[error("a repository already exists at {location}")]
    AlreadyInitialized {
        /// Where.
        location: String,
    },
    /// The config exists but cannot be understood.
    #[error("the repository config at {location} is corrupt: {reason}")]
    CorruptConfig {
        /// Where.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// No key slot opened with the credential.
    #[error("wrong password or key file for the repository at {location}")]
    WrongCredential {
        /// Where.
        location: String,
    },
    /// The operation needs a credential that was not given.
    #[error("{0}")]
    NeedsCredential(String),
    /// A storage operation failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Decrypting or authenticating an object failed.
    #[error("object {key} in {location}: {source}")]
    Object {
        /// Object key.
        key: String,
        /// Where.
        location: String,
        /// The crypto failure.
        #[source]
        source: CryptoError,
    },
    /// A manifest decrypted but its content is invalid.
    #[error("manifest {key} in {location} is invalid: {reason}")]
    BadManifest {
        /// Object key.
        key: String,
        /// Where.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// The stream or files being backed up could not be read.
    #[error("{0}")]
    Source(String),
    /// No backup matches an id, prefix or `latest`.
    #[error("no backup matches {0:?}")]
    NoSuchBackup(String),
    /// An id prefix matches several backups.
    #[error("backup id prefix {prefix:?} is ambiguous: it matches {candidates}")]
    AmbiguousId {
        /// The prefix given.
        prefix: String,
        /// Matching ids.
        candidates: String,
    },
    /// Restoring found damage or a mismatch.
    #[error("{0}")]
    Integrity(String),
    /// A restore target is not usable.
    #[error("restore target {path}: {reason}")]
    Target {
        /// Target path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Local file I/O failed (restore, tree walk).
    #[error("{what} {path}: {source}")]
    LocalIo {
        /// What was being done.
        what: &'static str,
        /// Which path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds a conflicting lock.
    #[error("the repository is locked: {0}")]
    Locked(String),
    /// A key operation was refused.
    #[error("{0}")]
    Key(String),
    /// The storage cannot do what was asked safely.
    #[error("{0}")]
    Unsupported(String),
    /// Something inside Lifeboat failed (a worker panicked, a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl RepoError {
    pub(crate) fn object(key: &str, location: &str, source: CryptoError) -> Self {
        RepoError::Object { key: key.to_owned(), location: location.to_owned(), source }
    }
}

/// Result alias of this crate.
pub type Result<T, E = RepoError> = std::result::Result<T, E>;

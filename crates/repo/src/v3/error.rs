//! Errors of the v3 chunk store.

/// A failure of the v3 chunk store, naming the object and the operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A storage operation failed.
    #[error("{operation} {key}: {source}")]
    Storage {
        /// What was being done ("read pack", "write index", ...).
        operation: &'static str,
        /// The object's key.
        key: String,
        /// The storage's error.
        #[source]
        source: lifeboat_storage::StorageError,
    },
    /// Stored bytes failed authentication or are malformed.
    #[error("{what} is damaged: {reason}")]
    Corrupt {
        /// The object or blob ("pack packs/ab/ab…", "blob 1f2e…").
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A blob the caller asked for is in no index.
    #[error("blob {0} is not in the repository's index")]
    MissingBlob(String),
    /// The writer's lease lapsed before a write that needs it (index objects).
    #[error("{0}")]
    LeaseLapsed(String),
    /// Reading the local source failed.
    #[error("{operation} {path}: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// Which file.
        path: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// A task of the store failed outside any one object (a worker panicked, no randomness).
    #[error("{operation}: {reason}")]
    Internal {
        /// What was being done.
        operation: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A pack whose key is wrapped for recipients only, none of whose identities this
    /// handle holds: a write-only host reading what it wrote in an earlier session, or a
    /// reader without the identity (docs/FORMAT.md 11.2).
    #[error("pack {pack} cannot be read with the keys of this handle: {reason}")]
    NoPackKey {
        /// The pack's storage key.
        pack: String,
        /// Whom the pack is sealed for, and what would open it.
        reason: String,
    },
    /// The object is valid but uses a feature this version cannot read yet.
    #[error("{what}: {reason}")]
    Unsupported {
        /// The object.
        what: String,
        /// What is not supported.
        reason: String,
    },
}

/// A v3 store failure as a repository error (an API maps it to a status).
pub(crate) fn store_error(e: StoreError) -> crate::error::RepoError {
    match e {
        StoreError::LeaseLapsed(message) => crate::error::RepoError::LeaseLapsed(message),
        StoreError::Storage { source, .. } => crate::error::RepoError::Storage(source),
        e @ StoreError::NoPackKey { .. } => crate::error::RepoError::NeedsCredential(e.to_string()),
        e @ (StoreError::Corrupt { .. } | StoreError::MissingBlob(_)) => {
            crate::error::RepoError::Integrity(e.to_string())
        }
        e => crate::error::RepoError::Internal(e.to_string()),
    }
}

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
    /// The config is older than one this host has already seen.
    #[error(
        "the repository config at {location} is generation {found}, but this host has already seen generation \
         {known}: an older config was put back, which would undo a key rotation or a recipient change (pass \
         --accept-config-rollback to accept it on purpose)"
    )]
    ConfigRollback {
        /// Where.
        location: String,
        /// The generation read now.
        found: u64,
        /// The highest generation seen before.
        known: u64,
    },
    /// Recipients the config listed before are gone, and this handle cannot check the MAC.
    #[error(
        "the repository config at {location} no longer lists recipient(s) {missing}, which generation {known} \
         listed when this host last saw it; without the master key the change cannot be authenticated, so it is \
         refused (pass --accept-config-rollback to accept it on purpose)"
    )]
    RecipientsRemoved {
        /// Where.
        location: String,
        /// The missing recipient ids.
        missing: String,
        /// The generation that listed them.
        known: u64,
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
    /// `latest` cannot be decided: a manifest that cannot be read might be the newest.
    #[error(
        "cannot tell which backup is the latest, since a manifest that cannot be read may be newer: {damaged}; {}",
        match newest {
            Some(id) => format!("name a backup by id to use it anyway (the newest readable one is {id})"),
            None => "no other backup can be read either".to_owned(),
        }
    )]
    LatestUnknown {
        /// Each unreadable manifest with its error.
        damaged: String,
        /// The newest backup that could be read (within the plan asked for).
        newest: Option<String>,
    },
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
    /// This host's clock disagrees with the storage's by more than leases allow.
    #[error("{0}")]
    ClockSkew(String),
    /// The storage is full and the operation cannot make room for what it must write.
    #[error("{0}")]
    NoSpace(String),
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

    /// True when a manifest could not be opened only because it was sealed for recipients
    /// whose identity this handle lacks (no slot for our keys at all): not ours to read,
    /// and not damage. A master-key slot that does not open is damage (FORMAT.md 3.2).
    pub fn is_recipients_only(&self) -> bool {
        matches!(self, RepoError::Object { source: CryptoError::NoMatchingSlot, .. })
    }

    /// The storage key of the object an error is about, when it is about one.
    pub fn object_key(&self) -> Option<&str> {
        match self {
            RepoError::Object { key, .. } | RepoError::BadManifest { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = RepoError> = std::result::Result<T, E>;

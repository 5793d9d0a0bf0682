//! The one error type of the storage layer.

use std::fmt;
use std::io;

/// The storage operation that failed, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Writing an object.
    Put,
    /// Reading an object.
    Get,
    /// Describing an object.
    Head,
    /// Listing a prefix.
    List,
    /// Deleting an object.
    Delete,
    /// Opening the storage itself.
    Open,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Put => "writing",
            Op::Get => "reading",
            Op::Head => "inspecting",
            Op::List => "listing",
            Op::Delete => "deleting",
            Op::Open => "opening",
        })
    }
}

/// Why a storage operation failed. Every variant names the operation, the object key and
/// the storage location, so a message alone tells an operator what and where.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The object does not exist.
    #[error("{op} {key:?} in {location}: no such object")]
    NotFound {
        /// What was being done.
        op: Op,
        /// Storage location.
        location: String,
        /// Object key.
        key: String,
    },
    /// The device or quota is full.
    #[error("{op} {key:?} in {location}: no space left on the storage device")]
    NoSpace {
        /// What was being done.
        op: Op,
        /// Storage location.
        location: String,
        /// Object key.
        key: String,
    },
    /// The backend refused access.
    #[error("{op} {key:?} in {location}: permission denied")]
    PermissionDenied {
        /// What was being done.
        op: Op,
        /// Storage location.
        location: String,
        /// Object key.
        key: String,
    },
    /// Any other I/O failure.
    #[error("{op} {key:?} in {location}: {source}")]
    Io {
        /// What was being done.
        op: Op,
        /// Storage location.
        location: String,
        /// Object key.
        key: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A failure reported by a remote backend (HTTP status, protocol error ...).
    #[error("{op} {key:?} in {location}: {message}")]
    Backend {
        /// What was being done.
        op: Op,
        /// Storage location.
        location: String,
        /// Object key.
        key: String,
        /// What the backend said, without credentials.
        message: String,
        /// Whether trying again may succeed (timeouts, 5xx, resets).
        transient: bool,
    },
    /// The key is not a safe relative object key.
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey {
        /// The rejected key.
        key: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The storage URL could not be understood.
    #[error("invalid storage URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL, with any password removed.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The backend cannot do what was asked safely (e.g. a conditional create on a server
    /// that ignores `If-None-Match`, or a retention without object lock).
    #[error("{op} {key:?} in {location}: not supported: {message}")]
    Unsupported {
        /// What was being done.
        op: Op,
        /// Storage location.
        location: String,
        /// Object key.
        key: String,
        /// What is missing and what to do about it.
        message: String,
    },
    /// The object is under an object-lock retention that has not ended yet.
    #[error("{op} {key:?} in {location}: the object is retained ({mode}) until {until} and cannot be removed yet")]
    Retained {
        /// What was being done.
        op: Op,
        /// Storage location.
        location: String,
        /// Object key.
        key: String,
        /// The retention mode (`COMPLIANCE` or `GOVERNANCE`).
        mode: String,
        /// When the retention ends (RFC 3339).
        until: String,
    },
    /// A stream handed to `put` failed; the error comes from the producer.
    #[error("{message}")]
    Source {
        /// The producer's message.
        message: String,
        /// The producer's error, when it has one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl StorageError {
    /// Classifies an I/O error into the most useful variant.
    pub fn from_io(op: Op, location: &str, key: &str, err: io::Error) -> Self {
        let (location, key) = (location.to_owned(), key.to_owned());
        match err.kind() {
            io::ErrorKind::NotFound => StorageError::NotFound { op, location, key },
            io::ErrorKind::PermissionDenied => StorageError::PermissionDenied { op, location, key },
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => StorageError::NoSpace { op, location, key },
            _ => StorageError::Io { op, location, key, source: err },
        }
    }

    /// True when the object did not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound { .. })
    }

    /// True when the same call may succeed if tried again.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Backend { transient, .. } => *transient,
            StorageError::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::TimedOut
                    | io::ErrorKind::Interrupted
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
            ),
            _ => false,
        }
    }

    /// Wraps a producer's error so it can travel through a [`ByteStream`](crate::ByteStream).
    pub fn source<E: std::error::Error + Send + Sync + 'static>(err: E) -> Self {
        StorageError::Source { message: err.to_string(), source: Some(Box::new(err)) }
    }
}

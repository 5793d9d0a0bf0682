//! Errors of exports and imports, each naming the object and the operation.

use std::path::PathBuf;

/// What can go wrong in an export, an import or a clean.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The database (its client, the connection, a query) failed.
    #[error(transparent)]
    Database(#[from] lifeboat_dump::DumpError),
    /// The destination storage failed.
    #[error("export destination {location}: {operation} `{key}`: {source}")]
    Storage {
        /// The destination, without credentials.
        location: String,
        /// What was being done.
        operation: &'static str,
        /// The object.
        key: String,
        /// The storage error.
        #[source]
        source: Box<lifeboat_storage::StorageError>,
    },
    /// A local file could not be read or written.
    #[error("{operation} {}: {source}", path.display())]
    Io {
        /// What was being done.
        operation: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Options that cannot work together, or a bad value.
    #[error("{what}: {reason}")]
    Invalid {
        /// The option or value.
        what: String,
        /// Why.
        reason: String,
    },
    /// A table asked for does not exist.
    #[error("table `{table}` does not exist on {target}")]
    NoSuchTable {
        /// The table.
        table: String,
        /// The server and database.
        target: String,
    },
    /// The server produced a row that is not the JSON the export asked for.
    #[error("table `{table}` on {target}: row {row} is not valid JSON: {reason}")]
    BadRow {
        /// The table.
        table: String,
        /// The server and database.
        target: String,
        /// 1-based row number.
        row: u64,
        /// The parser's message.
        reason: String,
    },
    /// An export read for an import is damaged or not an export.
    #[error("export {}: {reason}", path.display())]
    BadExport {
        /// The export directory or archive.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A row of the import collides with an existing row (`--on-conflict error`).
    #[error(
        "import into {target}: a row of table `{table}` conflicts with an existing row ({key}); nothing was imported (use --on-conflict skip or update)"
    )]
    Conflict {
        /// The table.
        table: String,
        /// The key, as the server names it (e.g. `Key (id)=(5) already exists`).
        key: String,
        /// The server and database.
        target: String,
    },
    /// The import failed on a table; nothing was imported.
    #[error("import into {target}: table `{table}` failed, nothing was imported: {detail}")]
    Import {
        /// The table.
        table: String,
        /// The server and database.
        target: String,
        /// The server's message.
        detail: String,
    },
    /// Encryption for recipients failed.
    #[error("encrypting export `{name}`: {source}")]
    Crypto {
        /// The export file.
        name: String,
        /// The crypto error.
        #[source]
        source: lifeboat_crypto::CryptoError,
    },
    /// A background task died.
    #[error("{operation}: worker failed: {detail}")]
    Worker {
        /// What was being done.
        operation: String,
        /// The join error.
        detail: String,
    },
}

impl ExportError {
    pub(crate) fn io(operation: impl Into<String>, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ExportError::Io { operation: operation.into(), path: path.into(), source }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        ExportError::Invalid { what: what.into(), reason: reason.into() }
    }

    pub(crate) fn worker(operation: impl Into<String>, e: tokio::task::JoinError) -> Self {
        ExportError::Worker { operation: operation.into(), detail: e.to_string() }
    }
}

/// Results of this crate.
pub type Result<T, E = ExportError> = std::result::Result<T, E>;

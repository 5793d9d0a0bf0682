//! The error type of every dump and restore operation.

use std::io;

/// Everything that can go wrong while dumping or restoring a database.
///
/// `target` fields hold the redacted endpoint (`postgres://user@host:port/db`, never a password);
/// `stderr`/`detail` fields hold the tool's own message with any occurrence of the password
/// removed. Each variant names the object and the operation that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DumpError {
    /// A connection URL could not be parsed or names an unsupported option.
    #[error("invalid {kind} URL `{url}`: {reason}")]
    InvalidUrl {
        /// `postgres`, `mysql` or `redis`.
        kind: &'static str,
        /// The URL with its password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An option combination that cannot work (for example a key pattern with an RDB snapshot).
    #[error("invalid options for {target}: {reason}")]
    InvalidOptions {
        /// The redacted endpoint.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// A required client program is not installed.
    #[error("`{tool}` was not found on PATH; install the Debian package `{package}`")]
    ToolMissing {
        /// The program looked for (first candidate).
        tool: String,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// A client program is present but unusable (too old, unparsable version).
    #[error("`{tool}` {version} cannot be used: {reason}; install a newer `{package}`")]
    ToolUnsuitable {
        /// The program.
        tool: String,
        /// Its reported version.
        version: String,
        /// Why it cannot be used.
        reason: String,
        /// The Debian package to install or upgrade.
        package: String,
    },
    /// A child process could not be started or waited for.
    #[error("cannot run `{tool}`: {source}")]
    Spawn {
        /// The program.
        tool: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The server rejected the credentials.
    #[error("authentication to {target} failed: {detail}")]
    AuthFailed {
        /// The redacted endpoint.
        target: String,
        /// The server's or tool's message.
        detail: String,
    },
    /// The named database does not exist on the server.
    #[error("database `{database}` does not exist on {target}")]
    DatabaseMissing {
        /// The redacted endpoint.
        target: String,
        /// The missing database.
        database: String,
        /// True when a restorer refused because it was not asked to create the database
        /// ([`crate::RestoreOptions::create`]): asking again with it would succeed. A
        /// frontend words that advice (the CLI names its flag).
        creatable: bool,
    },
    /// The server could not be reached.
    #[error("cannot connect to {target}: {detail}")]
    ConnectFailed {
        /// The redacted endpoint.
        target: String,
        /// The tool's or operating system's message.
        detail: String,
    },
    /// A dump or restore tool exited unsuccessfully (or was killed).
    #[error("{tool} failed while {operation} on {target} ({status}): {stderr}")]
    ToolFailed {
        /// The program.
        tool: String,
        /// What it was doing, e.g. "dumping database `app`".
        operation: String,
        /// The redacted endpoint.
        target: String,
        /// Its exit status, e.g. "exit status 1" or "killed by signal 9".
        status: String,
        /// The end of its standard error, password-scrubbed.
        stderr: String,
    },
    /// The server answered with an error (Redis) or in an unexpected way.
    #[error("{target}: {operation} failed: {detail}")]
    Server {
        /// The redacted endpoint.
        target: String,
        /// What was being done.
        operation: String,
        /// The server's message.
        detail: String,
    },
    /// I/O on a connection, pipe or temporary file failed.
    #[error("{operation} on {target}: {source}")]
    Io {
        /// What was being done.
        operation: String,
        /// The redacted endpoint or path.
        target: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The consumer stopped reading a dump stream before its end, or awaited `finish` before
    /// reading to the end: the dump is incomplete and must not be recorded as a backup.
    #[error("dump stream `{name}` was not read to its end; the dump is incomplete")]
    Incomplete {
        /// The stream's name.
        name: String,
    },
    /// A dump stream given to a restorer is malformed or truncated.
    #[error("dump stream `{name}` is invalid: {reason}")]
    InvalidStream {
        /// The stream's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The operation is not possible for this kind of stream or server.
    #[error("{0}")]
    Unsupported(String),
}

impl DumpError {
    pub(crate) fn io(operation: impl Into<String>, target: impl Into<String>, source: io::Error) -> Self {
        DumpError::Io { operation: operation.into(), target: target.into(), source }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = DumpError> = std::result::Result<T, E>;

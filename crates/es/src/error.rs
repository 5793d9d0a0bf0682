//! The error type of `lifeboat-es`.
//!
//! Every variant names the object and the operation that failed. Secrets (passwords, API keys) never
//! appear in an error: the client strips credentials from URLs and error messages only carry the
//! cluster URL without user information.

use std::path::PathBuf;

use lifeboat_storage::units::human_bytes;

/// One shard that failed in a snapshot (from the `failures` array of a snapshot response).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailedShard {
    /// Index name.
    pub index: String,
    /// Shard number.
    pub shard_id: i64,
    /// Failure reason as reported by Elasticsearch.
    pub reason: String,
}

impl std::fmt::Display for FailedShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}][{}]: {}", self.index, self.shard_id, self.reason)
    }
}

/// The media type of a `Content-Type` (without its parameters).
fn media_type(content_type: &Option<String>) -> &str {
    match content_type {
        Some(c) => c.split(';').next().unwrap_or(c).trim(),
        None => "without a content type",
    }
}

fn product_text(product: &Option<String>) -> String {
    match product {
        Some(p) => format!("with X-elastic-product: {p}"),
        None => "without the X-elastic-product header".into(),
    }
}

fn in_flight_text(in_flight: u64) -> String {
    if in_flight == 0 {
        String::new()
    } else {
        format!(" and {} still to come from restores in progress", exact_bytes(in_flight))
    }
}

fn list_failed(failures: &[FailedShard]) -> String {
    failures.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; ")
}

/// A byte count for messages and plans: the exact count, and the human one when it differs
/// (`512 B`, `1536 B (1.5 KiB)`), so an operator comparing with `_cat` output sees the bytes.
/// The human part is the workspace's one formatter, [`lifeboat_storage::units::human_bytes`].
pub fn exact_bytes(bytes: u64) -> String {
    let human = human_bytes(bytes);
    if human == format!("{bytes} B") { human } else { format!("{bytes} B ({human})") }
}

/// Errors returned by `lifeboat-es`.
#[derive(Debug, thiserror::Error)]
pub enum EsError {
    /// Input given by the caller (a name, a pattern, a duration, a URL ...) is invalid.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidInput {
        /// What kind of value it is ("repository name", "index pattern" ...).
        what: &'static str,
        /// The offending value.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The cluster could not be reached at all (connection refused, DNS, TLS handshake, timeout).
    #[error("cannot reach Elasticsearch at {url} ({op}): {reason}")]
    Unreachable {
        /// Cluster URL without credentials.
        url: String,
        /// The operation that was attempted.
        op: String,
        /// The underlying cause.
        reason: String,
    },
    /// The server answered, but not as Elasticsearch: no `X-elastic-product: Elasticsearch` header
    /// (and not an Elasticsearch older than 7.14 or OpenSearch), or a body that is not JSON. The
    /// body is never shown: it may be a whole HTML page.
    #[error("{url} is not Elasticsearch: HTTP {status} {} {} ({op})", media_type(content_type), product_text(product))]
    NotElasticsearch {
        /// Cluster URL without credentials.
        url: String,
        /// The operation that was attempted.
        op: String,
        /// HTTP status of the answer.
        status: u16,
        /// Its `Content-Type`, if any.
        content_type: Option<String>,
        /// Its `X-elastic-product` header, if any (not `Elasticsearch`).
        product: Option<String>,
    },
    /// The cluster rejected the credentials (401) or the user lacks privileges (403).
    #[error("Elasticsearch at {url} refused {op}: HTTP {status} {error_type}: {reason}")]
    Auth {
        /// Cluster URL without credentials.
        url: String,
        /// The operation that was attempted.
        op: String,
        /// HTTP status (401 or 403).
        status: u16,
        /// Elasticsearch error type (usually `security_exception`).
        error_type: String,
        /// Elasticsearch's reason.
        reason: String,
    },
    /// The snapshot repository does not exist on the cluster.
    #[error("snapshot repository [{repository}] does not exist on the cluster ({op})")]
    RepositoryMissing {
        /// Repository name.
        repository: String,
        /// The operation that was attempted.
        op: String,
    },
    /// The snapshot does not exist in the repository.
    #[error("snapshot [{repository}:{snapshot}] does not exist ({op})")]
    SnapshotMissing {
        /// Repository name.
        repository: String,
        /// Snapshot name.
        snapshot: String,
        /// The operation that was attempted.
        op: String,
    },
    /// Any other error response of Elasticsearch.
    #[error("Elasticsearch {op} failed: HTTP {status} {error_type}: {reason}")]
    Api {
        /// The operation that was attempted, e.g. `create snapshot [repo:snap]`.
        op: String,
        /// HTTP status code.
        status: u16,
        /// Elasticsearch error type, e.g. `snapshot_restore_exception`.
        error_type: String,
        /// Elasticsearch's reason.
        reason: String,
    },
    /// A response could not be decoded into the expected model.
    #[error("unexpected response to {op}: {reason}")]
    Decode {
        /// The operation whose response was not understood.
        op: String,
        /// Details.
        reason: String,
    },
    /// A snapshot finished `PARTIAL` or `FAILED`.
    #[error(
        "snapshot [{repository}:{snapshot}] finished {state} with {} failed shard(s): {}",
        failures.len(),
        list_failed(failures)
    )]
    SnapshotFailed {
        /// Repository name.
        repository: String,
        /// Snapshot name.
        snapshot: String,
        /// Final snapshot state (`PARTIAL`, `FAILED`, `INCOMPATIBLE`).
        state: String,
        /// Failed shards.
        failures: Vec<FailedShard>,
    },
    /// The target cluster has not enough disk for a restore.
    #[error(
        "not enough disk to restore {what}: needs {}, cluster has {} used of {} ({} available){}; \
         after the restore usage would be {:.1}% which exceeds the limit of {:.1}%",
        exact_bytes(*needed), exact_bytes(*used), exact_bytes(*total), exact_bytes(*available),
        in_flight_text(*in_flight),
        100.0 * (*used as f64 + *needed as f64 + *in_flight as f64) / (*total).max(1) as f64, 100.0 * limit
    )]
    InsufficientDisk {
        /// What was to be restored.
        what: String,
        /// Bytes the restore needs.
        needed: u64,
        /// Bytes Lifeboat's restores still running on the cluster have yet to copy (not yet in `used`).
        in_flight: u64,
        /// Bytes used on the data nodes.
        used: u64,
        /// Total bytes on the data nodes.
        total: u64,
        /// Available bytes on the data nodes.
        available: u64,
        /// The usage limit (a fraction, e.g. 0.85).
        limit: f64,
    },
    /// A tenant tried to touch something outside its namespace.
    #[error("tenant {tenant} may not {action}: {reason}")]
    TenantViolation {
        /// The tenant.
        tenant: String,
        /// What it attempted.
        action: String,
        /// Why it is refused.
        reason: String,
    },
    /// A named object (policy, restore, tenant, catalog entry) is not known.
    #[error("{what} {name:?} not found{hint}")]
    NotFound {
        /// What kind of object.
        what: &'static str,
        /// Its name or id.
        name: String,
        /// An optional hint (starts with "; ").
        hint: String,
    },
    /// An operation conflicts with existing state.
    #[error("{what}: {reason}")]
    Conflict {
        /// What conflicts.
        what: String,
        /// Details.
        reason: String,
    },
    /// Waiting for an operation timed out.
    #[error("timed out after {seconds}s waiting for {op}")]
    Timeout {
        /// The operation.
        op: String,
        /// How long we waited.
        seconds: u64,
    },
    /// Reading or writing the state directory failed.
    #[error("state file {}: {op} failed: {source}", path.display())]
    State {
        /// File or directory.
        path: PathBuf,
        /// Operation (read, write, rename, lock ...).
        op: &'static str,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The state file exists but is not valid.
    #[error("state file {} is corrupt: {reason}", path.display())]
    StateCorrupt {
        /// File.
        path: PathBuf,
        /// Details.
        reason: String,
    },
    /// The client configuration is invalid (bad URL, unreadable CA file ...).
    #[error("invalid Elasticsearch client configuration: {0}")]
    Config(String),
}

/// Result alias for this crate.
pub type Result<T, E = EsError> = std::result::Result<T, E>;

impl EsError {
    /// Shorthand for [`EsError::InvalidInput`].
    pub(crate) fn invalid(what: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        EsError::InvalidInput { what, value: value.into(), reason: reason.into() }
    }

    /// The Elasticsearch error type if this is an API error.
    pub fn es_error_type(&self) -> Option<&str> {
        match self {
            EsError::Api { error_type, .. } | EsError::Auth { error_type, .. } => Some(error_type),
            EsError::RepositoryMissing { .. } => Some("repository_missing_exception"),
            EsError::SnapshotMissing { .. } => Some("snapshot_missing_exception"),
            _ => None,
        }
    }

    /// The HTTP status if the error came from an HTTP response.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            EsError::Api { status, .. } | EsError::Auth { status, .. } => Some(*status),
            EsError::RepositoryMissing { .. } | EsError::SnapshotMissing { .. } => Some(404),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The format the CLI and the disk error printed before the workspace had one formatter.
    #[test]
    fn exact_bytes_adds_the_human_size_only_above_a_kib() {
        assert_eq!(exact_bytes(0), "0 B");
        assert_eq!(exact_bytes(1023), "1023 B");
        assert_eq!(exact_bytes(1536), "1536 B (1.5 KiB)");
        assert_eq!(exact_bytes(3 << 30), "3221225472 B (3.0 GiB)");
    }
}

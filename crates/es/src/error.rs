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
    #[error("{what} {name:?} not found{detail}")]
    NotFound {
        /// What kind of object.
        what: &'static str,
        /// Its name or id.
        name: String,
        /// More facts about the miss (starts with "; "), or empty.
        detail: String,
        /// What gets past it, for the frontend to word.
        remedy: Option<Remedy>,
    },
    /// An operation conflicts with existing state.
    #[error("{what}: {reason}")]
    Conflict {
        /// What conflicts.
        what: String,
        /// Details.
        reason: String,
        /// What gets past it, for the frontend to word.
        remedy: Option<Remedy>,
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
    /// No cluster URL was given and `LIFEBOAT_ES_URL` is not set
    /// ([`Remedy::GiveClusterUrl`]).
    #[error("invalid Elasticsearch client configuration: no cluster URL")]
    NoClusterUrl,
}

/// What gets a caller past an error, as data rather than text: each frontend words it its own
/// way (the CLI names a command or a flag, a service an endpoint or a field), so library
/// messages name no frontend's commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// The restore id is unknown: list the restores to find the right one.
    ListRestores,
    /// The snapshot repository is not registered on the target cluster: register it
    /// read-only there (a second writer would corrupt it).
    RegisterRepositoryReadOnly,
    /// The catalog knows nothing that matches: fill it by scanning repositories or running a
    /// policy.
    ScanCatalog,
    /// The catalog lacks an index's store size: scan the catalog of its repository.
    ScanRepositoryCatalog,
    /// A restore target exists and is not ours: restore under another target prefix.
    ChoosePrefix,
    /// The tenant is not registered: register it first.
    RegisterTenant,
    /// No cluster URL: give one explicitly or set `LIFEBOAT_ES_URL`.
    GiveClusterUrl,
}

/// The class of an [`EsError`], for a frontend that maps failures rather than matching every
/// variant (a service's HTTP status, an exit code, whether to retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself is unusable: a bad name, pattern, URL or configuration (422).
    InvalidInput,
    /// The cluster refused the credentials or the user lacks privileges (401/403).
    Unauthorized,
    /// The tenant's scope does not allow it (403).
    Forbidden,
    /// No such repository, snapshot, policy, restore or tenant (404).
    NotFound,
    /// The existing state refuses the request: a name in use, a restore already done (409).
    Conflict,
    /// The cluster has not enough disk for the restore (507).
    InsufficientStorage,
    /// The cluster or the state directory cannot be used now: unreachable, a timeout, an I/O
    /// failure (503; worth retrying).
    Unavailable,
    /// The cluster answered with a failure or something we do not understand: an API error,
    /// a failed snapshot, not Elasticsearch at all (502).
    Upstream,
    /// Our own state file is damaged (500, and alert: someone must look at it).
    Damaged,
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

    /// The class of this error (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            EsError::InvalidInput { .. } | EsError::Config(_) | EsError::NoClusterUrl => ErrorKind::InvalidInput,
            EsError::Auth { .. } => ErrorKind::Unauthorized,
            EsError::TenantViolation { .. } => ErrorKind::Forbidden,
            EsError::RepositoryMissing { .. } | EsError::SnapshotMissing { .. } | EsError::NotFound { .. } => {
                ErrorKind::NotFound
            }
            EsError::Conflict { .. } => ErrorKind::Conflict,
            EsError::InsufficientDisk { .. } => ErrorKind::InsufficientStorage,
            EsError::Unreachable { .. } | EsError::Timeout { .. } | EsError::State { .. } => ErrorKind::Unavailable,
            EsError::NotElasticsearch { .. }
            | EsError::Api { .. }
            | EsError::Decode { .. }
            | EsError::SnapshotFailed { .. } => ErrorKind::Upstream,
            EsError::StateCorrupt { .. } => ErrorKind::Damaged,
        }
    }

    /// What gets past this error, if the library knows (the frontend words it).
    pub fn remedy(&self) -> Option<Remedy> {
        match self {
            EsError::NotFound { remedy, .. } | EsError::Conflict { remedy, .. } => *remedy,
            EsError::NoClusterUrl => Some(Remedy::GiveClusterUrl),
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

    fn io() -> std::io::Error {
        std::io::Error::other("disk gone")
    }

    fn not_found(remedy: Option<Remedy>) -> EsError {
        EsError::NotFound { what: "restore", name: "r-1".into(), detail: String::new(), remedy }
    }

    // One test per kind group: a service maps these to statuses and retries, so a variant
    // drifting into the wrong group would answer a client wrongly.

    #[test]
    fn bad_requests_and_configuration_are_invalid_input() {
        assert_eq!(EsError::invalid("index pattern", "x", "bad").kind(), ErrorKind::InvalidInput);
        assert_eq!(EsError::Config("bad CA".into()).kind(), ErrorKind::InvalidInput);
        assert_eq!(EsError::NoClusterUrl.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn refused_credentials_are_unauthorized_and_scope_breaches_forbidden() {
        let auth = EsError::Auth {
            url: "u".into(),
            op: "o".into(),
            status: 403,
            error_type: "security_exception".into(),
            reason: "r".into(),
        };
        assert_eq!(auth.kind(), ErrorKind::Unauthorized);
        let violation = EsError::TenantViolation { tenant: "a/b".into(), action: "restore".into(), reason: "r".into() };
        assert_eq!(violation.kind(), ErrorKind::Forbidden);
    }

    #[test]
    fn missing_objects_are_not_found() {
        assert_eq!(not_found(None).kind(), ErrorKind::NotFound);
        assert_eq!(EsError::RepositoryMissing { repository: "r".into(), op: "o".into() }.kind(), ErrorKind::NotFound);
        let snap = EsError::SnapshotMissing { repository: "r".into(), snapshot: "s".into(), op: "o".into() };
        assert_eq!(snap.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn conflicts_and_a_full_cluster_refuse_the_request_as_it_stands() {
        let conflict = EsError::Conflict { what: "w".into(), reason: "r".into(), remedy: None };
        assert_eq!(conflict.kind(), ErrorKind::Conflict);
        let disk = EsError::InsufficientDisk {
            what: "w".into(),
            needed: 2,
            in_flight: 0,
            used: 1,
            total: 2,
            available: 1,
            limit: 0.85,
        };
        assert_eq!(disk.kind(), ErrorKind::InsufficientStorage);
    }

    #[test]
    fn unreachable_clusters_timeouts_and_state_io_are_unavailable() {
        let unreachable = EsError::Unreachable { url: "u".into(), op: "o".into(), reason: "refused".into() };
        assert_eq!(unreachable.kind(), ErrorKind::Unavailable);
        assert_eq!(EsError::Timeout { op: "o".into(), seconds: 1 }.kind(), ErrorKind::Unavailable);
        let state = EsError::State { path: "s".into(), op: "read", source: io() };
        assert_eq!(state.kind(), ErrorKind::Unavailable);
    }

    #[test]
    fn failures_the_cluster_reports_are_upstream() {
        let api = EsError::Api { op: "o".into(), status: 500, error_type: "t".into(), reason: "r".into() };
        assert_eq!(api.kind(), ErrorKind::Upstream);
        assert_eq!(EsError::Decode { op: "o".into(), reason: "r".into() }.kind(), ErrorKind::Upstream);
        let failed = EsError::SnapshotFailed {
            repository: "r".into(),
            snapshot: "s".into(),
            state: "FAILED".into(),
            failures: vec![],
        };
        assert_eq!(failed.kind(), ErrorKind::Upstream);
        let other = EsError::NotElasticsearch {
            url: "u".into(),
            op: "o".into(),
            status: 200,
            content_type: None,
            product: None,
        };
        assert_eq!(other.kind(), ErrorKind::Upstream);
    }

    #[test]
    fn a_corrupt_state_file_is_damage() {
        assert_eq!(EsError::StateCorrupt { path: "s".into(), reason: "r".into() }.kind(), ErrorKind::Damaged);
    }

    #[test]
    fn remedies_are_data_and_the_messages_name_no_command() {
        assert_eq!(not_found(Some(Remedy::ListRestores)).remedy(), Some(Remedy::ListRestores));
        assert_eq!(not_found(None).remedy(), None);
        assert_eq!(EsError::NoClusterUrl.remedy(), Some(Remedy::GiveClusterUrl));
        let prefix = EsError::Conflict { what: "w".into(), reason: "r".into(), remedy: Some(Remedy::ChoosePrefix) };
        assert_eq!(prefix.remedy(), Some(Remedy::ChoosePrefix));
        for e in [not_found(Some(Remedy::ListRestores)), EsError::NoClusterUrl, prefix] {
            let text = e.to_string();
            assert!(!text.contains("lifeboat ") && !text.contains("--"), "{text}");
        }
    }
}

//! What a double is started with: the impersonated version, `path.repo`, disk, timings, required
//! credentials, and the blob store its snapshots live in (shareable between doubles).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::Value;

/// Credentials the double requires.
#[derive(Clone, PartialEq, Eq)]
pub enum DoubleAuth {
    /// HTTP basic.
    Basic {
        /// User.
        username: String,
        /// Password.
        password: String,
    },
    /// API key id and secret (`Authorization: ApiKey base64(id:key)`).
    ApiKey {
        /// Key id.
        id: String,
        /// Key secret.
        key: String,
    },
}

impl std::fmt::Debug for DoubleAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DoubleAuth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            DoubleAuth::ApiKey { id, .. } => write!(f, "ApiKey({id}, <redacted>)"),
        }
    }
}

/// Snapshot data shared between doubles, keyed by repository location (`fs:<path>` or
/// `s3:<bucket>/<base_path>`), like a bucket two clusters can both read.
#[derive(Debug, Clone, Default)]
pub struct BlobStore(Arc<Mutex<BTreeMap<String, Vec<StoredSnapshot>>>>);

impl BlobStore {
    pub(super) fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Vec<StoredSnapshot>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Snapshot names stored at a location key.
    pub fn snapshot_names(&self, location_key: &str) -> Vec<String> {
        self.lock().get(location_key).map(|v| v.iter().map(|s| s.name.clone()).collect()).unwrap_or_default()
    }
}

/// Configuration of a double.
#[derive(Debug, Clone)]
pub struct DoubleConfig {
    /// Version to impersonate, e.g. `8.19.0`, `9.1.0` or `7.10.0`.
    pub version: String,
    /// Spec directory (`.../api` or `.../api-8.19`). Default: chosen from the version under
    /// [`default_spec_root`].
    pub spec_dir: Option<PathBuf>,
    /// `path.repo`: allowed roots of `fs` repositories. Empty refuses every `fs` repository, as
    /// Elasticsearch does.
    pub path_repo: Vec<String>,
    /// Total disk bytes of the single data node.
    pub disk_total: u64,
    /// Disk bytes used by other things than indices.
    pub disk_used: u64,
    /// How long one shard takes to restore once its recovery has started.
    pub shard_restore_time: Duration,
    /// `cluster.routing.allocation.node_initial_primaries_recoveries` (Elasticsearch's default is 4):
    /// how many primaries the single data node recovers at once. A restored primary beyond that
    /// waits `UNASSIGNED` (reason `NEW_INDEX_RESTORED`) until a slot frees up.
    pub node_initial_primaries_recoveries: u32,
    /// How long a snapshot started without `wait_for_completion` runs.
    pub snapshot_time: Duration,
    /// Required credentials.
    pub auth: Option<DoubleAuth>,
    /// Snapshot storage (share it to model a second cluster).
    pub blob_store: BlobStore,
    /// Cluster name.
    pub cluster_name: String,
}

impl Default for DoubleConfig {
    fn default() -> Self {
        DoubleConfig {
            version: "8.19.0".into(),
            spec_dir: None,
            path_repo: vec!["/mnt/backups".into()],
            disk_total: 100 * 1024 * 1024 * 1024,
            disk_used: 40 * 1024 * 1024 * 1024,
            shard_restore_time: Duration::from_millis(150),
            node_initial_primaries_recoveries: 4,
            snapshot_time: Duration::from_millis(200),
            auth: None,
            blob_store: BlobStore::default(),
            cluster_name: "lifeboat-double".into(),
        }
    }
}

/// An index to create in the double.
#[derive(Debug, Clone)]
pub struct IndexSeed {
    /// Primary shards.
    pub shards: u32,
    /// Replicas (unassigned on the single node, making the index yellow).
    pub replicas: u32,
    /// Date field holding the timestamps.
    pub time_field: String,
    /// One timestamp (epoch millis) per document.
    pub timestamps: Vec<i64>,
    /// Bytes per document on disk.
    pub bytes_per_doc: u64,
}

impl IndexSeed {
    /// `docs` documents spread evenly over the UTC day `day` (`YYYY-MM-DD`), 2 shards.
    pub fn daily(day: &str, docs: usize) -> Self {
        let start = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .map(|d| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default()).timestamp_millis())
            .unwrap_or(0);
        let step = if docs == 0 { 0 } else { 86_400_000 / docs as i64 };
        IndexSeed {
            shards: 2,
            replicas: 0,
            time_field: "@timestamp".into(),
            timestamps: (0..docs as i64).map(|i| start + 1000 + i * step).collect(),
            bytes_per_doc: 512,
        }
    }
}

/// A snapshot as stored in a repository.
#[derive(Debug, Clone)]
pub struct StoredSnapshot {
    /// Name.
    pub name: String,
    /// UUID.
    pub uuid: String,
    /// `IN_PROGRESS`, `SUCCESS`, `PARTIAL`, `FAILED`.
    pub state: String,
    pub(super) indices: Vec<SnapIndex>,
    /// Start (epoch millis).
    pub start_ms: i64,
    /// End (epoch millis).
    pub end_ms: i64,
    pub(super) finish_at: Option<Instant>,
    pub(super) failures: Vec<(String, String, u32, String)>,
    pub(super) metadata: Option<Value>,
    pub(super) include_global_state: bool,
    pub(super) version: String,
}

#[derive(Debug, Clone)]
pub(super) struct SnapIndex {
    pub(super) name: String,
    pub(super) uuid: String,
    pub(super) shards: u32,
    pub(super) replicas: u32,
    pub(super) time_field: String,
    pub(super) docs: Vec<i64>,
    pub(super) bytes_per_doc: u64,
    pub(super) failed_shards: BTreeSet<u32>,
}

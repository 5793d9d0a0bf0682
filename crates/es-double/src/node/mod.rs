//! The simulated Elasticsearch node (the double): an in-process HTTP/1.1 server that answers the snapshot
//! and restore APIs the way Elasticsearch does.
//!
//! * Every request is checked against the REST spec ([`RestSpec`]): an undeclared path, method,
//!   parameter or option is answered like Elasticsearch answers it (400 "no handler found", 405
//!   "Incorrect HTTP method", 400 "unrecognized parameter") and recorded as a violation.
//! * Bodies follow the recorded examples in `shared/es-rest-api-spec/examples`: the error envelope
//!   and its status codes, `_cat` values as strings (bare integers with `bytes=b`), `PARTIAL`
//!   snapshots answering 200 with `failures`, restores onto an open index failing with
//!   `snapshot_restore_exception`, deletes blocked by a running snapshot answering 503
//!   `concurrent_snapshot_execution_exception`, and version-specific shapes (7.x omits `repository`,
//!   `total` and `remaining` in snapshot listings).
//! * It keeps state: repositories (snapshot data lives in a [`BlobStore`] that a second double can
//!   share, to model a second cluster reading the same bucket), snapshots, indices with documents,
//!   restores whose shards recover over time, disk usage.
//! * Restores behave as in Elasticsearch (see `ShardState`): at most
//!   `node_initial_primaries_recoveries` primaries recover at once, the others wait unassigned with
//!   no recovery state and yellow health; a failed recovery leaves its primary unassigned and red;
//!   disk usage grows only as bytes are copied. Every response of 7.14+ carries
//!   `X-elastic-product: Elasticsearch`.
//! * It injects failures: a shard that fails in a snapshot or a restore, a running snapshot that
//!   blocks deletes, a full disk, a repository that fails verification, and authentication.

mod cat;
mod cluster;
mod config;
mod date_math;
mod http;
mod indices;
mod repositories;
mod restore;
mod router;
mod slm;
mod snapshots;
mod state;
mod text;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;

use crate::serve::spawn_server;
use crate::spec::{RestSpec, default_spec_root};

use config::SnapIndex;
use router::handle;
use state::{Cluster, Index, Injections, Shared, snap_index};
use text::now_ms;

pub use config::{BlobStore, DoubleAuth, DoubleConfig, IndexSeed, StoredSnapshot};
pub use state::RecordedRequest;

/// The running double. Dropping it stops the server.
pub struct EsDouble {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for EsDouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsDouble").field("url", &self.url()).field("version", &self.shared.cfg.version).finish()
    }
}

impl Drop for EsDouble {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EsDouble {
    /// Starts a double with the default configuration (ES 8.19, `path.repo` = `/mnt/backups`).
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(DoubleConfig::default()).await
    }

    /// Starts a double on a free loopback port.
    pub async fn start_with(cfg: DoubleConfig) -> std::io::Result<Self> {
        let major: u32 = cfg.version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(8);
        let spec_dir = cfg
            .spec_dir
            .clone()
            .unwrap_or_else(|| default_spec_root().join(if major >= 9 { "api" } else { "api-8.19" }));
        let spec = RestSpec::load(&spec_dir).map_err(std::io::Error::other)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let seed = (Utc::now().timestamp_nanos_opt().unwrap_or(1) as u64) | 1;
        let mut cluster = Cluster {
            uuid: String::new(),
            repos: BTreeMap::new(),
            indices: BTreeMap::new(),
            slm: BTreeMap::new(),
            inject: Injections::default(),
            disk_used: cfg.disk_used,
            disk_total: cfg.disk_total,
            requests: vec![],
            violations: vec![],
            rng: seed,
            primaries_limit: cfg.node_initial_primaries_recoveries,
            queue_seq: 0,
        };
        cluster.uuid = cluster.random_id(22, false);
        let shared = Arc::new(Shared { cfg, spec, major, cluster: Mutex::new(cluster) });
        let task = spawn_server(listener, shared.clone(), handle);
        Ok(EsDouble { addr, shared, task })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The impersonated version.
    pub fn version(&self) -> &str {
        &self.shared.cfg.version
    }

    /// The blob store (share it with a second double through [`DoubleConfig::blob_store`]).
    pub fn blob_store(&self) -> BlobStore {
        self.shared.cfg.blob_store.clone()
    }

    /// The cluster UUID.
    pub fn cluster_uuid(&self) -> String {
        self.shared.lock().uuid.clone()
    }

    /// The spec the double enforces.
    pub fn spec(&self) -> &RestSpec {
        &self.shared.spec
    }

    /// Creates (or replaces) an index with documents.
    pub fn create_index(&self, name: &str, seed: IndexSeed) {
        let mut c = self.shared.lock();
        let uuid = c.random_id(22, false);
        c.indices.insert(
            name.to_string(),
            Index {
                uuid,
                shards: seed.shards.max(1),
                replicas: seed.replicas,
                time_field: seed.time_field,
                docs: seed.timestamps,
                bytes_per_doc: seed.bytes_per_doc,
                open: true,
                restore: None,
            },
        );
    }

    /// Deletes an index directly (as an ILM policy would).
    pub fn drop_index(&self, name: &str) -> bool {
        self.shared.lock().indices.remove(name).is_some()
    }

    /// Names of the indices.
    pub fn index_names(&self) -> Vec<String> {
        self.shared.lock().indices.keys().cloned().collect()
    }

    /// Documents of an index (all of them, recovered or not).
    pub fn index_doc_count(&self, name: &str) -> Option<usize> {
        self.shared.lock().indices.get(name).map(|i| i.docs.len())
    }

    /// Stores a successful snapshot of existing indices with a chosen start time, as if it had
    /// been taken then (for retention and catalog tests).
    pub fn seed_snapshot(
        &self,
        repository: &str,
        name: &str,
        start: DateTime<Utc>,
        indices: &[&str],
    ) -> Result<(), String> {
        let mut c = self.shared.lock();
        let repo = c.repos.get(repository).cloned().ok_or_else(|| format!("no repository {repository}"))?;
        let uuid = c.random_id(22, false);
        let mut snap_indices = vec![];
        for i in indices {
            let idx = c.indices.get(*i).ok_or_else(|| format!("no index {i}"))?;
            snap_indices.push(snap_index(i, idx));
        }
        let start_ms = start.timestamp_millis();
        let snap = StoredSnapshot {
            name: name.to_string(),
            uuid,
            state: "SUCCESS".into(),
            indices: snap_indices,
            start_ms,
            end_ms: start_ms + 1500,
            finish_at: None,
            failures: vec![],
            metadata: None,
            include_global_state: false,
            version: self.shared.cfg.version.clone(),
        };
        let mut store = self.shared.cfg.blob_store.lock();
        let list = store.entry(repo.key).or_default();
        if list.iter().any(|s| s.name == name) {
            return Err(format!("snapshot {name} exists"));
        }
        list.push(snap);
        Ok(())
    }

    /// The next snapshot containing `index` fails on `shard` (the snapshot ends `PARTIAL`).
    pub fn inject_snapshot_shard_failure(&self, index: &str, shard: u32) {
        self.shared.lock().inject.snapshot_shard_failures.push((index.to_string(), shard));
    }

    /// The next restore of `source_index` (its name in the snapshot) fails on `shard`.
    pub fn inject_restore_shard_failure(&self, source_index: &str, shard: u32) {
        self.shared.lock().inject.restore_shard_failures.push((source_index.to_string(), shard));
    }

    /// Verification of `repository` fails from now on.
    pub fn inject_verify_failure(&self, repository: &str) {
        self.shared.lock().inject.verify_failures.insert(repository.to_string());
    }

    /// Starts a snapshot of every open index in `repository` that runs for `duration`; while it runs
    /// snapshot deletes in that repository answer 503 `concurrent_snapshot_execution_exception`.
    pub fn start_blocking_snapshot(&self, repository: &str, name: &str, duration: Duration) -> Result<(), String> {
        let mut c = self.shared.lock();
        let repo = c.repos.get(repository).cloned().ok_or_else(|| format!("no repository {repository}"))?;
        let uuid = c.random_id(22, false);
        let indices: Vec<SnapIndex> = c.indices.iter().filter(|(_, i)| i.open).map(|(n, i)| snap_index(n, i)).collect();
        let start_ms = now_ms();
        self.shared.cfg.blob_store.lock().entry(repo.key).or_default().push(StoredSnapshot {
            name: name.to_string(),
            uuid,
            state: "IN_PROGRESS".into(),
            indices,
            start_ms,
            end_ms: 0,
            finish_at: Some(Instant::now() + duration),
            failures: vec![],
            metadata: None,
            include_global_state: false,
            version: self.shared.cfg.version.clone(),
        });
        Ok(())
    }

    /// Sets disk usage not caused by indices.
    pub fn set_disk(&self, total: u64, used_by_others: u64) {
        let mut c = self.shared.lock();
        c.disk_total = total;
        c.disk_used = used_by_others;
    }

    /// Fills the disk to 97% of its total.
    pub fn fill_disk(&self) {
        let mut c = self.shared.lock();
        let total = c.disk_total;
        let now = Instant::now();
        let indices: u64 = c.indices.values().map(|i| i.disk_bytes(now)).sum();
        c.disk_used = (total as f64 * 0.97) as u64 - indices.min((total as f64 * 0.97) as u64);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Requests that did not conform to the REST spec.
    pub fn spec_violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }
}

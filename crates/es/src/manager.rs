//! [`EsManager`]: the high-level API used by the CLI and the daemon — repositories, snapshots, the
//! catalog and SLM policies, all checked against the caller's [`Scope`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{self, CatalogEntry, resolve_time_range};
use crate::client::{CreateOutcome, CreateSnapshotBody, EsClient, RepositoryDefinition};
use crate::error::{EsError, FailedShard, Result};
use crate::models::*;
use crate::names::{validate_index_pattern, validate_repository_name, validate_snapshot_name};
use crate::policy::SnapshotPolicy;
use crate::state::StateStore;
use crate::tenant::{Scope, Tenant};
use crate::time::TimeSource;

/// A source of "now", replaceable in tests.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// How deletes blocked by a running snapshot are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Attempts in total (at least 1).
    pub attempts: u32,
    /// First back-off.
    pub initial_backoff: Duration,
    /// Largest back-off.
    pub max_backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig { attempts: 8, initial_backoff: Duration::from_secs(2), max_backoff: Duration::from_secs(60) }
    }
}

/// A repository to register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RepositorySpec {
    /// A shared filesystem; `location` must be listed under `path.repo` on every node.
    Fs {
        /// Directory (absolute, or relative to the first `path.repo`).
        location: String,
        /// Register read-only (for a second cluster that only restores).
        #[serde(default)]
        readonly: bool,
        /// Compress metadata files.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        compress: Option<bool>,
    },
    /// S3 or an S3-compatible store (MinIO, Ceph RGW).
    S3 {
        /// Bucket.
        bucket: String,
        /// Endpoint, e.g. `minio.local:9000` (also settable as the client's `endpoint`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// Path-style access (needed by MinIO without virtual hosts).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path_style_access: Option<bool>,
        /// The `s3.client.<name>` credentials/client settings to use on the nodes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
        /// Prefix inside the bucket. For a tenant it is placed under `tenants/{org}/{namespace}`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base_path: Option<String>,
        /// Register read-only.
        #[serde(default)]
        readonly: bool,
        /// Compress metadata files.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        compress: Option<bool>,
    },
}

fn join_path(a: &str, b: &str) -> String {
    let a = a.trim_end_matches('/');
    let b = b.trim_matches('/');
    if a.is_empty() {
        b.to_string()
    } else if b.is_empty() {
        a.to_string()
    } else {
        format!("{a}/{b}")
    }
}

impl RepositorySpec {
    /// The same repository registered read-only.
    pub fn readonly(mut self) -> Self {
        match &mut self {
            RepositorySpec::Fs { readonly, .. } | RepositorySpec::S3 { readonly, .. } => *readonly = true,
        }
        self
    }

    /// Builds the wire definition, placing the data under the tenant's path when `scope` is a tenant.
    pub fn to_definition(&self, scope: &Scope) -> Result<RepositoryDefinition> {
        let mut settings = BTreeMap::new();
        let tenant_path = scope.tenant().map(Tenant::base_path);
        let repo_type = match self {
            RepositorySpec::Fs { location, readonly, compress } => {
                if location.trim().is_empty() {
                    return Err(EsError::invalid("fs repository location", location, "must not be empty"));
                }
                if location.split('/').any(|c| c == "..") {
                    return Err(EsError::invalid("fs repository location", location, "must not contain '..'"));
                }
                let loc = match &tenant_path {
                    Some(tp) if !location.trim_end_matches('/').ends_with(tp.as_str()) => join_path(location, tp),
                    _ => location.clone(),
                };
                settings.insert("location".into(), Value::String(loc));
                if *readonly {
                    settings.insert("readonly".into(), Value::Bool(true));
                }
                if let Some(c) = compress {
                    settings.insert("compress".into(), Value::Bool(*c));
                }
                "fs"
            }
            RepositorySpec::S3 { bucket, endpoint, path_style_access, client, base_path, readonly, compress } => {
                if bucket.trim().is_empty() {
                    return Err(EsError::invalid("s3 bucket", bucket, "must not be empty"));
                }
                let bp = base_path.clone().unwrap_or_default();
                if bp.split('/').any(|c| c == "..") {
                    return Err(EsError::invalid("s3 base_path", bp, "must not contain '..'"));
                }
                let bp = match &tenant_path {
                    Some(tp) if !bp.trim_matches('/').starts_with(tp.as_str()) => join_path(tp, &bp),
                    _ => bp.trim_matches('/').to_string(),
                };
                settings.insert("bucket".into(), Value::String(bucket.clone()));
                if !bp.is_empty() {
                    settings.insert("base_path".into(), Value::String(bp));
                }
                if let Some(e) = endpoint {
                    settings.insert("endpoint".into(), Value::String(e.clone()));
                }
                if let Some(p) = path_style_access {
                    settings.insert("path_style_access".into(), Value::Bool(*p));
                }
                if let Some(c) = client {
                    settings.insert("client".into(), Value::String(c.clone()));
                }
                if *readonly {
                    settings.insert("readonly".into(), Value::Bool(true));
                }
                if let Some(c) = compress {
                    settings.insert("compress".into(), Value::Bool(*c));
                }
                "s3"
            }
        };
        Ok(RepositoryDefinition { repo_type: repo_type.to_string(), settings })
    }
}

/// A snapshot taken (or found) by [`EsManager::create_snapshot`] or a policy run.
#[derive(Debug, Clone, PartialEq)]
pub struct TakenSnapshot {
    /// The finished snapshot.
    pub info: SnapshotInfo,
    /// True when it already existed (a second policy run on the same day).
    pub already_existed: bool,
    /// Catalog entries written.
    pub catalogued: usize,
}

/// What a catalog scan changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    /// Snapshots newly catalogued.
    pub added_snapshots: Vec<String>,
    /// Catalog entries written.
    pub added_entries: usize,
    /// Snapshots dropped from the catalog because they no longer exist.
    pub removed_snapshots: Vec<String>,
    /// Snapshots skipped because they are not `SUCCESS`.
    pub skipped_snapshots: Vec<String>,
    /// Indices whose time range could not be determined.
    pub indices_without_range: Vec<String>,
}

/// The high-level API: one cluster, one state directory, one scope.
#[derive(Clone)]
pub struct EsManager {
    client: EsClient,
    store: StateStore,
    scope: Scope,
    clock: Clock,
    retry: RetryConfig,
    poll_interval: Duration,
    snapshot_timeout: Duration,
}

impl std::fmt::Debug for EsManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsManager")
            .field("client", &self.client)
            .field("store", &self.store)
            .field("scope", &self.scope)
            .finish()
    }
}

impl EsManager {
    /// A manager for `scope`.
    pub fn new(client: EsClient, store: StateStore, scope: Scope) -> Self {
        EsManager {
            client,
            store,
            scope,
            clock: Arc::new(Utc::now),
            retry: RetryConfig::default(),
            poll_interval: Duration::from_secs(2),
            snapshot_timeout: Duration::from_secs(6 * 3600),
        }
    }

    /// A manager for a registered tenant (`org/namespace`), or the admin scope when `None`.
    pub async fn for_tenant(client: EsClient, store: StateStore, tenant: Option<&str>) -> Result<Self> {
        let scope = match tenant {
            Some(id) => Scope::Tenant(store.tenant(id).await?),
            None => Scope::Admin,
        };
        Ok(EsManager::new(client, store, scope))
    }

    /// Replaces the clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the delete retry configuration.
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Sets how often running snapshots and restores are polled.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets how long a snapshot may take before waiting for it gives up.
    pub fn with_snapshot_timeout(mut self, timeout: Duration) -> Self {
        self.snapshot_timeout = timeout;
        self
    }

    /// The current time according to the clock.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// The typed client.
    pub fn client(&self) -> &EsClient {
        &self.client
    }

    /// The state store.
    pub fn store(&self) -> &StateStore {
        &self.store
    }

    /// The scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    pub(crate) fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    pub(crate) fn state_key(&self) -> String {
        self.scope.state_key()
    }

    /// Fetches a repository and checks it belongs to the scope.
    pub async fn owned_repository(&self, name: &str, action: &str) -> Result<RepositoryInfo> {
        validate_repository_name(name)?;
        let repo = self.client.get_repository(name).await?;
        self.scope.check_repository(&repo, action)?;
        Ok(repo)
    }

    // ----- repositories -------------------------------------------------------------------

    /// Registers a repository (replacing an existing registration of the same name that belongs to
    /// the scope). With `verify`, Elasticsearch checks every node can write to it.
    pub async fn create_repository(&self, name: &str, spec: &RepositorySpec, verify: bool) -> Result<RepositoryInfo> {
        validate_repository_name(name)?;
        let def = spec.to_definition(&self.scope)?;
        if self.scope.tenant().is_some() {
            match self.client.get_repository(name).await {
                Ok(existing) => self.scope.check_repository(&existing, "replace")?,
                Err(EsError::RepositoryMissing { .. }) => {}
                Err(e) => return Err(e),
            }
            let probe = RepositoryInfo {
                name: name.to_string(),
                repo_type: def.repo_type.clone(),
                uuid: None,
                settings: def.settings.clone(),
            };
            self.scope.check_repository(&probe, "register")?;
        }
        self.client.put_repository(name, &def, verify).await?;
        self.client.get_repository(name).await
    }

    /// Changes settings of a registered repository; `None` removes a setting. The type cannot change.
    pub async fn update_repository_settings(
        &self,
        name: &str,
        changes: &BTreeMap<String, Option<String>>,
        verify: bool,
    ) -> Result<RepositoryInfo> {
        let mut repo = self.owned_repository(name, "modify").await?;
        for (k, v) in changes {
            if k.trim().is_empty() {
                return Err(EsError::invalid("repository setting", k, "the key must not be empty"));
            }
            match v {
                Some(v) => repo.settings.insert(k.clone(), Value::String(v.clone())),
                None => repo.settings.remove(k),
            };
        }
        self.scope.check_repository(&repo, "modify")?;
        let def = RepositoryDefinition { repo_type: repo.repo_type.clone(), settings: repo.settings.clone() };
        self.client.put_repository(name, &def, verify).await?;
        self.client.get_repository(name).await
    }

    /// Repositories visible to the scope.
    pub async fn list_repositories(&self) -> Result<Vec<RepositoryInfo>> {
        let all = self.client.get_repositories(None).await?;
        Ok(all.into_iter().filter(|r| self.scope.check_repository(r, "list").is_ok()).collect())
    }

    /// Verifies a repository on every node.
    pub async fn verify_repository(&self, name: &str) -> Result<VerifyResponse> {
        self.owned_repository(name, "verify").await?;
        self.client.verify_repository(name).await
    }

    /// Unregisters a repository (the stored snapshots stay in the bucket/directory).
    pub async fn delete_repository(&self, name: &str) -> Result<()> {
        self.owned_repository(name, "delete").await?;
        self.client.delete_repository(name).await
    }

    // ----- snapshots ----------------------------------------------------------------------

    /// Snapshots in a repository, oldest first.
    pub async fn list_snapshots(&self, repository: &str) -> Result<Vec<SnapshotInfo>> {
        self.owned_repository(repository, "list snapshots of").await?;
        self.client.get_snapshots(repository, "_all", false).await
    }

    /// Takes a snapshot of `indices` and waits for it; `PARTIAL`/`FAILED` are errors. The
    /// snapshot's indices are recorded in the catalog (with `time_source` for their time ranges).
    pub async fn create_snapshot(
        &self,
        repository: &str,
        name: &str,
        indices: &str,
        time_source: Option<TimeSource>,
    ) -> Result<TakenSnapshot> {
        validate_snapshot_name(name)?;
        validate_index_pattern(indices)?;
        self.scope.check_pattern(indices, "snapshot")?;
        if let Some(ts) = &time_source {
            ts.validate()?;
        }
        let repo = self.owned_repository(repository, "snapshot into").await?;
        let policy = time_source.map(|ts| SnapshotPolicy {
            name: String::new(),
            indices: indices.to_string(),
            repository: repo.name.clone(),
            schedule: "@daily".into(),
            snapshot_days: 0,
            time_source: Some(ts),
        });
        self.take_snapshot(&repo.name, name, indices, policy.as_ref()).await
    }

    /// Starts a snapshot without waiting for it.
    pub async fn start_snapshot(&self, repository: &str, name: &str, indices: &str) -> Result<()> {
        validate_snapshot_name(name)?;
        validate_index_pattern(indices)?;
        self.scope.check_pattern(indices, "snapshot")?;
        self.owned_repository(repository, "snapshot into").await?;
        let body = self.snapshot_body(indices, None);
        self.client.create_snapshot(repository, name, &body, false, None).await.map(|_| ())
    }

    fn snapshot_body(&self, indices: &str, policy: Option<&str>) -> CreateSnapshotBody {
        let mut metadata = BTreeMap::new();
        metadata.insert("taken_by".to_string(), Value::String("lifeboat".into()));
        if let Some(p) = policy.filter(|p| !p.is_empty()) {
            metadata.insert("lifeboat_policy".to_string(), Value::String(p.to_string()));
        }
        if let Some(t) = self.scope.tenant() {
            metadata.insert("lifeboat_tenant".to_string(), Value::String(t.id()));
        }
        CreateSnapshotBody {
            indices: Some(indices.to_string()),
            ignore_unavailable: true,
            include_global_state: false,
            partial: false,
            metadata,
        }
    }

    /// Snapshot, wait, catalog. `name` may be date math; `policy` supplies the policy name (for
    /// metadata and for finding today's snapshot when it already exists) and the time source.
    pub(crate) async fn take_snapshot(
        &self,
        repository: &str,
        name: &str,
        indices: &str,
        policy: Option<&SnapshotPolicy>,
    ) -> Result<TakenSnapshot> {
        validate_index_pattern(indices)?;
        self.scope.check_pattern(indices, "snapshot")?;
        // Document counts and sizes at snapshot time.
        let live: BTreeMap<String, IndexSummary> = self
            .client
            .cat_indices(Some(indices))
            .await?
            .into_iter()
            .filter(|i| i.status.as_deref() != Some("close") && self.scope.check_index(&i.name, "snapshot").is_ok())
            .map(|i| (i.name.clone(), i))
            .collect();
        if live.is_empty() {
            return Err(EsError::NotFound {
                what: "open index matching",
                name: indices.to_string(),
                hint: "; nothing to snapshot".into(),
            });
        }
        let policy_name = policy.map(|p| p.name.as_str()).filter(|n| !n.is_empty());
        let body = self.snapshot_body(indices, policy_name);
        let outcome = self.client.create_snapshot(repository, name, &body, true, Some(self.snapshot_timeout)).await;
        let (mut info, already_existed) = match outcome {
            Ok(CreateOutcome::Completed(info)) => (*info, false),
            Ok(CreateOutcome::Accepted) => {
                return Err(EsError::Decode {
                    op: format!("create snapshot [{repository}:{name}]"),
                    reason: "the cluster accepted the snapshot but did not wait for it".into(),
                });
            }
            Err(EsError::Api { error_type, reason, .. })
                if policy_name.is_some()
                    && error_type == "invalid_snapshot_name_exception"
                    && reason.contains("already exists") =>
            {
                // A second run on the same day: today's snapshot exists, use it. The resolved name is
                // in the reason ("Invalid snapshot name [x], snapshot with the same name already exists").
                let existing = reason
                    .split_once("Invalid snapshot name [")
                    .and_then(|(_, rest)| rest.split_once(']'))
                    .map(|(n, _)| n.to_string())
                    .filter(|n| policy.is_some_and(|p| p.owns_snapshot(n)))
                    .unwrap_or_else(|| match policy {
                        Some(p) => p.snapshot_name_for(self.now().date_naive()),
                        None => name.to_string(),
                    });
                (self.client.get_snapshot(repository, &existing).await?, true)
            }
            Err(e) => return Err(e),
        };
        if info.state.is_running() {
            info = self.wait_for_snapshot(repository, &info.snapshot).await?;
        }
        if info.state != SnapshotState::Success {
            return Err(EsError::SnapshotFailed {
                repository: repository.to_string(),
                snapshot: info.snapshot.clone(),
                state: info.state.to_string(),
                failures: info
                    .failures
                    .iter()
                    .map(|f| FailedShard { index: f.index.clone(), shard_id: f.shard_id, reason: f.reason.clone() })
                    .collect(),
            });
        }
        let time_source = policy.and_then(|p| p.time_source.clone());
        let mut entries = Vec::new();
        for index in &info.indices {
            if self.scope.check_index(index, "catalog").is_err() {
                continue;
            }
            let summary = live.get(index);
            let time_range = match (&time_source, summary) {
                (Some(ts), Some(_)) => resolve_time_range(&self.client, index, ts).await?,
                (Some(TimeSource::IndexName { pattern }), None) => {
                    crate::time::NamePattern::parse(pattern)?.range_for(index)
                }
                _ => None,
            };
            entries.push(CatalogEntry {
                repository: repository.to_string(),
                snapshot: info.snapshot.clone(),
                snapshot_uuid: info.uuid.clone(),
                snapshot_start: info.start_time(),
                snapshot_state: info.state.clone(),
                index: index.clone(),
                doc_count: summary.and_then(|s| s.docs_count),
                store_bytes: summary.and_then(|s| s.store_bytes.or(s.pri_store_bytes)),
                time_range,
                policy: policy_name.map(str::to_string),
                recorded_at: self.now(),
            });
        }
        // On a re-run the first run's catalog entries are kept (they hold the counts at snapshot time).
        let catalogued = entries.len();
        if !already_existed {
            self.store
                .update(&self.state_key(), move |st| {
                    catalog::upsert(&mut st.catalog, entries);
                    Ok(())
                })
                .await?;
        }
        Ok(TakenSnapshot { info, already_existed, catalogued: if already_existed { 0 } else { catalogued } })
    }

    /// Polls a running snapshot until it finishes.
    pub async fn wait_for_snapshot(&self, repository: &str, name: &str) -> Result<SnapshotInfo> {
        let deadline = tokio::time::Instant::now() + self.snapshot_timeout;
        loop {
            let info = self.client.get_snapshot(repository, name).await?;
            if !info.state.is_running() {
                return Ok(info);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EsError::Timeout {
                    op: format!("snapshot [{repository}:{name}]"),
                    seconds: self.snapshot_timeout.as_secs(),
                });
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }

    /// Deletes a snapshot (retrying while a running snapshot blocks it) and drops it from the catalog.
    pub async fn delete_snapshot(&self, repository: &str, name: &str) -> Result<()> {
        validate_snapshot_name(name)?;
        self.owned_repository(repository, "delete snapshots of").await?;
        self.delete_snapshot_with_retry(repository, name).await?;
        let (repo, snap) = (repository.to_string(), name.to_string());
        self.store
            .update(&self.state_key(), move |st| {
                catalog::remove_snapshot(&mut st.catalog, &repo, &snap);
                Ok(())
            })
            .await
    }

    pub(crate) async fn delete_snapshot_with_retry(&self, repository: &str, name: &str) -> Result<()> {
        let mut backoff = self.retry.initial_backoff;
        let attempts = self.retry.attempts.max(1);
        for attempt in 1..=attempts {
            match self.client.delete_snapshot(repository, name).await {
                Ok(()) => return Ok(()),
                Err(EsError::Api { error_type, .. })
                    if error_type == "concurrent_snapshot_execution_exception" && attempt < attempts =>
                {
                    tracing::info!(
                        repository,
                        snapshot = name,
                        attempt,
                        "delete blocked by a running snapshot; retrying"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.retry.max_backoff);
                }
                Err(e) => return Err(e),
            }
        }
        unreachable_retry(repository, name)
    }

    // ----- catalog ------------------------------------------------------------------------

    /// The scope's catalog.
    pub async fn catalog(&self) -> Result<Vec<CatalogEntry>> {
        Ok(self.store.load(&self.state_key()).await?.catalog)
    }

    /// Brings the catalog of one repository up to date: catalogues successful snapshots not yet in
    /// it (sizes from the snapshot status API, document counts from indices still live) and drops
    /// snapshots that no longer exist.
    pub async fn scan_catalog(&self, repository: &str, time_source: Option<TimeSource>) -> Result<ScanReport> {
        if let Some(ts) = &time_source {
            ts.validate()?;
        }
        self.owned_repository(repository, "catalog").await?;
        let snaps = self.client.get_snapshots(repository, "_all", false).await?;
        let existing = self.catalog().await?;
        let known: BTreeSet<&str> =
            existing.iter().filter(|e| e.repository == repository).map(|e| e.snapshot.as_str()).collect();
        let present: BTreeSet<&str> = snaps.iter().map(|s| s.snapshot.as_str()).collect();
        let mut report = ScanReport {
            removed_snapshots: known.iter().filter(|k| !present.contains(*k)).map(|k| k.to_string()).collect(),
            ..Default::default()
        };
        let live: BTreeMap<String, IndexSummary> =
            self.client.cat_indices(None).await?.into_iter().map(|i| (i.name.clone(), i)).collect();
        let mut entries = Vec::new();
        for snap in &snaps {
            if known.contains(snap.snapshot.as_str()) {
                continue;
            }
            if snap.state != SnapshotState::Success {
                report.skipped_snapshots.push(snap.snapshot.clone());
                continue;
            }
            let owned: Vec<&String> =
                snap.indices.iter().filter(|i| self.scope.check_index(i, "catalog").is_ok()).collect();
            if owned.is_empty() {
                continue;
            }
            let status = self.client.snapshot_status(repository, &snap.snapshot).await?;
            for index in owned {
                let summary = live.get(index);
                let size = status
                    .indices
                    .get(index)
                    .map(|s| s.stats.total.size_in_bytes)
                    .filter(|s| *s >= 0)
                    .map(|s| s as u64);
                let time_range = match (&time_source, summary) {
                    (Some(TimeSource::IndexName { pattern }), _) => {
                        crate::time::NamePattern::parse(pattern)?.range_for(index)
                    }
                    (Some(ts @ TimeSource::Field { .. }), Some(_)) => {
                        resolve_time_range(&self.client, index, ts).await?
                    }
                    _ => None,
                };
                if time_range.is_none() {
                    report.indices_without_range.push(format!("{}:{index}", snap.snapshot));
                }
                entries.push(CatalogEntry {
                    repository: repository.to_string(),
                    snapshot: snap.snapshot.clone(),
                    snapshot_uuid: snap.uuid.clone(),
                    snapshot_start: snap.start_time(),
                    snapshot_state: snap.state.clone(),
                    index: index.clone(),
                    doc_count: summary.and_then(|s| s.docs_count),
                    store_bytes: size.or_else(|| summary.and_then(|s| s.store_bytes)),
                    time_range,
                    policy: snap.metadata_str("lifeboat_policy").map(str::to_string),
                    recorded_at: self.now(),
                });
            }
            report.added_snapshots.push(snap.snapshot.clone());
        }
        report.added_entries = entries.len();
        let repo = repository.to_string();
        let removed = report.removed_snapshots.clone();
        self.store
            .update(&self.state_key(), move |st| {
                for s in &removed {
                    catalog::remove_snapshot(&mut st.catalog, &repo, s);
                }
                catalog::upsert(&mut st.catalog, entries);
                Ok(())
            })
            .await?;
        Ok(report)
    }

    // ----- SLM ----------------------------------------------------------------------------

    async fn check_slm_policy(&self, policy: &SlmPolicy, action: &str) -> Result<()> {
        if let Some(indices) = policy.config.as_ref().and_then(|c| c.indices.as_ref()) {
            for p in indices {
                validate_index_pattern(p)?;
                self.scope.check_pattern(p, action)?;
            }
        } else if self.scope.tenant().is_some() {
            return Err(EsError::TenantViolation {
                tenant: self.scope.name(),
                action: format!("{action} SLM policy"),
                reason: "a tenant's SLM policy must list its indices".into(),
            });
        }
        self.owned_repository(&policy.repository, action).await.map(|_| ())
    }

    async fn check_existing_slm(&self, id: &str, action: &str) -> Result<Option<SlmPolicyInfo>> {
        match self.client.slm_get(Some(id)).await {
            Ok(mut list) => match list.pop() {
                Some(p) => {
                    self.check_slm_policy(&p.policy, action).await?;
                    Ok(Some(p))
                }
                None => Ok(None),
            },
            Err(EsError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates or replaces an Elasticsearch SLM policy.
    pub async fn slm_put(&self, id: &str, policy: &SlmPolicy) -> Result<()> {
        crate::names::validate_policy_name(id)?;
        crate::policy::validate_schedule(&policy.schedule)?;
        if policy.name.trim().is_empty() {
            return Err(EsError::invalid("SLM snapshot name", &policy.name, "must not be empty"));
        }
        self.check_slm_policy(policy, "schedule snapshots with").await?;
        self.check_existing_slm(id, "replace").await?;
        self.client.slm_put(id, policy).await
    }

    /// SLM policies visible to the scope (all of them, or one by id).
    pub async fn slm_get(&self, id: Option<&str>) -> Result<Vec<SlmPolicyInfo>> {
        let list = self.client.slm_get(id).await?;
        let mut out = Vec::new();
        for p in list {
            if self.scope.tenant().is_none() || self.check_slm_policy(&p.policy, "read").await.is_ok() {
                out.push(p);
            } else if id.is_some() {
                self.check_slm_policy(&p.policy, "read").await?;
            }
        }
        Ok(out)
    }

    /// Deletes an SLM policy.
    pub async fn slm_delete(&self, id: &str) -> Result<()> {
        if self.check_existing_slm(id, "delete").await?.is_none() {
            return Err(EsError::NotFound { what: "SLM policy", name: id.into(), hint: String::new() });
        }
        self.client.slm_delete(id).await
    }

    /// Runs an SLM policy now; returns the snapshot name.
    pub async fn slm_execute(&self, id: &str) -> Result<String> {
        if self.check_existing_slm(id, "execute").await?.is_none() {
            return Err(EsError::NotFound { what: "SLM policy", name: id.into(), hint: String::new() });
        }
        self.client.slm_execute(id).await
    }
}

fn unreachable_retry(repository: &str, name: &str) -> Result<()> {
    Err(EsError::Timeout { op: format!("delete snapshot [{repository}:{name}]"), seconds: 0 })
}

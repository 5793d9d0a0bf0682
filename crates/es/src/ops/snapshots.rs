//! Snapshots: list, take (and wait, catalogue), start without waiting, delete (retrying while a
//! running snapshot blocks the delete).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{EsError, FailedShard, Result};
use crate::manager::EsManager;
use crate::model::catalog;
use crate::model::names::{validate_index_pattern, validate_snapshot_name};
use crate::model::snapshot::META_TAKEN_AT;
use crate::model::{
    CatalogEntry, CreateOutcome, CreateSnapshotBody, IndexSummary, NamePattern, SnapshotInfo, SnapshotPolicy,
    SnapshotState, TakenSnapshot, TimeSource,
};
use crate::ops::catalog::resolve_time_range;

/// The snapshots of a manager's scope (see [`EsManager::snapshots`]).
#[derive(Debug, Clone, Copy)]
pub struct Snapshots<'a> {
    es: &'a EsManager,
}

impl EsManager {
    /// Snapshots: list, take, start, delete.
    pub fn snapshots(&self) -> Snapshots<'_> {
        Snapshots { es: self }
    }
}

impl Snapshots<'_> {
    /// Snapshots in a repository, oldest first.
    pub async fn list(&self, repository: &str) -> Result<Vec<SnapshotInfo>> {
        self.es.repositories().owned(repository, "list snapshots of").await?;
        self.es.client().get_snapshots(repository, "_all", false).await
    }

    /// Takes a snapshot of `indices` and waits for it; `PARTIAL`/`FAILED` are errors. The
    /// snapshot's indices are recorded in the catalog (with `time_source` for their time ranges).
    pub async fn create(
        &self,
        repository: &str,
        name: &str,
        indices: &str,
        time_source: Option<TimeSource>,
    ) -> Result<TakenSnapshot> {
        validate_snapshot_name(name)?;
        validate_index_pattern(indices)?;
        self.es.scope().check_pattern(indices, "snapshot")?;
        if let Some(ts) = &time_source {
            ts.validate()?;
        }
        let repo = self.es.repositories().owned(repository, "snapshot into").await?;
        let policy = time_source.map(|ts| SnapshotPolicy {
            name: String::new(),
            indices: indices.to_string(),
            repository: repo.name.clone(),
            schedule: "@daily".into(),
            snapshot_days: 0,
            time_source: Some(ts),
        });
        self.take(&repo.name, name, indices, policy.as_ref()).await
    }

    /// Starts a snapshot without waiting for it.
    pub async fn start(&self, repository: &str, name: &str, indices: &str) -> Result<()> {
        validate_snapshot_name(name)?;
        validate_index_pattern(indices)?;
        self.es.scope().check_pattern(indices, "snapshot")?;
        self.es.repositories().owned(repository, "snapshot into").await?;
        let body = self.snapshot_body(indices, None);
        self.es.client().create_snapshot(repository, name, &body, false, None).await.map(|_| ())
    }

    fn snapshot_body(&self, indices: &str, policy: Option<&str>) -> CreateSnapshotBody {
        let mut metadata = BTreeMap::new();
        metadata.insert("taken_by".to_string(), Value::String("lifeboat".into()));
        metadata.insert(META_TAKEN_AT.to_string(), Value::String(self.es.now().to_rfc3339()));
        if let Some(p) = policy.filter(|p| !p.is_empty()) {
            metadata.insert("lifeboat_policy".to_string(), Value::String(p.to_string()));
        }
        if let Some(t) = self.es.scope().tenant() {
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
    pub(crate) async fn take(
        &self,
        repository: &str,
        name: &str,
        indices: &str,
        policy: Option<&SnapshotPolicy>,
    ) -> Result<TakenSnapshot> {
        validate_index_pattern(indices)?;
        self.es.scope().check_pattern(indices, "snapshot")?;
        // Document counts and sizes at snapshot time.
        let live: BTreeMap<String, IndexSummary> = self
            .es
            .client()
            .cat_indices(Some(indices))
            .await?
            .into_iter()
            .filter(|i| {
                i.status.as_deref() != Some("close") && self.es.scope().check_index(&i.name, "snapshot").is_ok()
            })
            .map(|i| (i.name.clone(), i))
            .collect();
        if live.is_empty() {
            return Err(EsError::NotFound {
                what: "open index matching",
                name: indices.to_string(),
                detail: "; nothing to snapshot".into(),
                remedy: None,
            });
        }
        // Owned: a borrowed `Option<&str>` held across the awaits below would keep the future
        // from being spawned (rustc cannot prove `Send` for every lifetime).
        let policy_name: Option<String> = policy.map(|p| p.name.clone()).filter(|n| !n.is_empty());
        let body = self.snapshot_body(indices, policy_name.as_deref());
        let outcome =
            self.es.client().create_snapshot(repository, name, &body, true, Some(self.es.snapshot_timeout())).await;
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
                        Some(p) => p.snapshot_name_for(self.es.now().date_naive()),
                        None => name.to_string(),
                    });
                (self.es.client().get_snapshot(repository, &existing).await?, true)
            }
            Err(e) => return Err(e),
        };
        if info.state.is_running() {
            info = self.wait(repository, &info.snapshot).await?;
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
            if self.es.scope().check_index(index, "catalog").is_err() {
                continue;
            }
            let summary = live.get(index);
            let time_range = match (&time_source, summary) {
                (Some(ts), Some(_)) => resolve_time_range(self.es.client(), index, ts).await?,
                (Some(TimeSource::IndexName { pattern }), None) => NamePattern::parse(pattern)?.range_for(index),
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
                policy: policy_name.clone(),
                recorded_at: self.es.now(),
            });
        }
        // On a re-run the first run's catalog entries are kept (they hold the counts at snapshot time).
        let catalogued = entries.len();
        if !already_existed {
            self.es
                .store()
                .update(&self.es.state_key(), move |st| {
                    catalog::upsert(&mut st.catalog, entries);
                    Ok(())
                })
                .await?;
        }
        Ok(TakenSnapshot { info, already_existed, catalogued: if already_existed { 0 } else { catalogued } })
    }

    /// Polls a running snapshot until it finishes.
    pub async fn wait(&self, repository: &str, name: &str) -> Result<SnapshotInfo> {
        let deadline = tokio::time::Instant::now() + self.es.snapshot_timeout();
        loop {
            let info = self.es.client().get_snapshot(repository, name).await?;
            if !info.state.is_running() {
                return Ok(info);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EsError::Timeout {
                    op: format!("snapshot [{repository}:{name}]"),
                    seconds: self.es.snapshot_timeout().as_secs(),
                });
            }
            tokio::time::sleep(self.es.poll_interval()).await;
        }
    }

    /// Deletes a snapshot (retrying while a running snapshot blocks it) and drops it from the catalog.
    pub async fn delete(&self, repository: &str, name: &str) -> Result<()> {
        validate_snapshot_name(name)?;
        self.es.repositories().owned(repository, "delete snapshots of").await?;
        self.delete_with_retry(repository, name).await?;
        let (repo, snap) = (repository.to_string(), name.to_string());
        self.es
            .store()
            .update(&self.es.state_key(), move |st| {
                catalog::remove_snapshot(&mut st.catalog, &repo, &snap);
                Ok(())
            })
            .await
    }

    /// Deletes a snapshot, retrying with back-off while a running snapshot blocks the delete; the
    /// catalog is left to the caller (a policy run drops all its deleted snapshots in one update).
    pub(crate) async fn delete_with_retry(&self, repository: &str, name: &str) -> Result<()> {
        let mut backoff = self.es.retry().initial_backoff;
        let attempts = self.es.retry().attempts.max(1);
        for attempt in 1..=attempts {
            match self.es.client().delete_snapshot(repository, name).await {
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
                    backoff = (backoff * 2).min(self.es.retry().max_backoff);
                }
                Err(e) => return Err(e),
            }
        }
        unreachable_retry(repository, name)
    }
}

fn unreachable_retry(repository: &str, name: &str) -> Result<()> {
    Err(EsError::Timeout { op: format!("delete snapshot [{repository}:{name}]"), seconds: 0 })
}

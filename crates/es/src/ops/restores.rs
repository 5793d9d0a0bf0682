//! Time-range restores: plan, start under a prefix without blocking, track progress, delete and
//! expire. A restore is `Succeeded` only when every shard of every index is done and none failed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::error::{EsError, Remedy, Result};
use crate::manager::EsManager;
use crate::model::{
    RestoreBody, RestoreGroupRecord, RestoreIndexRecord, RestorePlan, RestoreRecord, RestoreRequest, RestoreState,
};
use crate::ops::restore_plan;
use crate::ops::restore_progress::measure;

/// The restores of a manager's scope (see [`EsManager::restores`]).
#[derive(Debug, Clone, Copy)]
pub struct Restores<'a> {
    es: &'a EsManager,
}

impl EsManager {
    /// Time-range restores: plan, start, status, wait, delete, expire.
    pub fn restores(&self) -> Restores<'_> {
        Restores { es: self }
    }
}

impl Restores<'_> {
    /// Plans a restore from the catalog: the newest successful snapshot of every index matching the
    /// pattern whose time range overlaps the request, minus indices restored earlier; checks that
    /// the target cluster has room. Sends no restore request.
    pub async fn plan(&self, request: &RestoreRequest) -> Result<RestorePlan> {
        restore_plan::plan(self.es, request).await
    }

    /// Plans and starts a restore (see [`Restores::plan`]). The record is persisted before
    /// the first restore request and after each one, so it survives a crash or restart.
    pub async fn start(&self, request: &RestoreRequest) -> Result<(RestorePlan, RestoreRecord)> {
        let plan = self.plan(request).await?;
        if plan.groups.is_empty() {
            let ids: BTreeSet<&str> = plan.skipped.iter().map(|s| s.restore_id.as_str()).collect();
            return Err(EsError::Conflict {
                what: format!("restore of {} in {}", request.pattern, request.range),
                reason: format!("every matching index is already restored (restore {ids:?})"),
                remedy: None,
            });
        }
        for g in &plan.groups {
            self.es.repositories().owned(&g.repository, "restore from").await.map_err(|e| match e {
                EsError::RepositoryMissing { repository, op } => EsError::NotFound {
                    what: "repository",
                    name: repository,
                    detail: format!("; it is not registered on the target cluster ({op})"),
                    remedy: Some(Remedy::RegisterRepositoryReadOnly),
                },
                other => other,
            })?;
        }
        let cluster = self.es.client().info().await?;
        let now = self.es.now();
        let mut record = RestoreRecord {
            id: new_restore_id(now),
            tenant: self.es.scope().name(),
            cluster_uuid: cluster.cluster_uuid,
            created_at: now,
            expires_at: request.expire_after.map(|d| now + d),
            pattern: request.pattern.clone(),
            range: request.range,
            prefix: request.prefix.clone(),
            groups: plan
                .groups
                .iter()
                .map(|g| RestoreGroupRecord {
                    repository: g.repository.clone(),
                    snapshot: g.snapshot.clone(),
                    indices: g
                        .indices
                        .iter()
                        .map(|i| RestoreIndexRecord {
                            source: i.source.clone(),
                            target: i.target.clone(),
                            expected_docs: i.expected_docs,
                            store_bytes: i.store_bytes,
                        })
                        .collect(),
                    started: false,
                    error: None,
                })
                .collect(),
            skipped: plan.skipped.clone(),
            state: RestoreState::Pending,
            progress: None,
            deleted_at: None,
        };
        self.save_record(&record).await?;
        let replacement = format!("{}$1", java_replacement_literal(&request.prefix));
        for i in 0..record.groups.len() {
            let g = &record.groups[i];
            let body = RestoreBody {
                indices: g.indices.iter().map(|x| x.source.as_str()).collect::<Vec<_>>().join(","),
                ignore_unavailable: false,
                include_global_state: false,
                rename_pattern: Some("(.+)".into()),
                rename_replacement: Some(replacement.clone()),
                include_aliases: false,
                index_settings: BTreeMap::new(),
            };
            let result = self.es.client().restore_snapshot(&g.repository, &g.snapshot, &body).await;
            let g = &mut record.groups[i];
            match result {
                Ok(()) => g.started = true,
                Err(e) => g.error = Some(e.to_string()),
            }
            self.save_record(&record).await?;
        }
        record.state =
            if record.groups.iter().any(|g| g.error.is_some()) { RestoreState::Failed } else { RestoreState::Running };
        self.save_record(&record).await?;
        Ok((plan, record))
    }

    async fn save_record(&self, record: &RestoreRecord) -> Result<()> {
        let r = record.clone();
        self.es
            .store()
            .update(&self.es.state_key(), move |st| {
                st.restores.insert(r.id.clone(), r);
                Ok(())
            })
            .await
    }

    async fn load_record(&self, id: &str) -> Result<RestoreRecord> {
        let st = self.es.store().load(&self.es.state_key()).await?;
        st.restores.get(id).cloned().ok_or_else(|| EsError::NotFound {
            what: "restore",
            name: id.to_string(),
            detail: String::new(),
            remedy: Some(Remedy::ListRestores),
        })
    }

    async fn check_same_cluster(&self, record: &RestoreRecord) -> Result<()> {
        let info = self.es.client().info().await?;
        if info.cluster_uuid != record.cluster_uuid {
            return Err(EsError::Conflict {
                what: format!("restore {}", record.id),
                reason: format!(
                    "it was made on cluster {} but {} is cluster {}",
                    record.cluster_uuid,
                    self.es.client().url(),
                    info.cluster_uuid
                ),
                remedy: None,
            });
        }
        Ok(())
    }

    /// Restores of the scope, newest first, as last recorded (no cluster calls).
    pub async fn list(&self) -> Result<Vec<RestoreRecord>> {
        let mut v: Vec<RestoreRecord> =
            self.es.store().load(&self.es.state_key()).await?.restores.into_values().collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        Ok(v)
    }

    /// Measures the progress of a restore, updates its state and stores it.
    pub async fn status(&self, id: &str) -> Result<RestoreRecord> {
        let mut record = self.load_record(id).await?;
        if record.state == RestoreState::Deleted {
            return Ok(record);
        }
        self.check_same_cluster(&record).await?;
        let progress = measure(self.es.client(), &record, self.es.now()).await?;
        let group_failed = record.groups.iter().any(|g| g.error.is_some());
        let pending = progress.shards_total.saturating_sub(progress.shards_done + progress.shards_failed);
        let missing = progress.indices.iter().any(|i| i.problem.as_deref().is_some_and(|p| p.starts_with("missing")));
        record.state = if pending > 0 && !missing {
            RestoreState::Running
        } else if group_failed || progress.shards_failed > 0 || missing || record.groups.iter().any(|g| !g.started) {
            RestoreState::Failed
        } else {
            RestoreState::Succeeded
        };
        record.progress = Some(progress);
        let r = record.clone();
        self.es
            .store()
            .update(&self.es.state_key(), move |st| {
                // Do not resurrect a record deleted meanwhile.
                if st.restores.get(&r.id).is_some_and(|x| x.state != RestoreState::Deleted) {
                    st.restores.insert(r.id.clone(), r);
                }
                Ok(())
            })
            .await?;
        Ok(record)
    }

    /// Polls a restore until it is no longer running (or `timeout` passes), calling `on_progress`
    /// after each measurement.
    pub async fn wait(
        &self,
        id: &str,
        timeout: std::time::Duration,
        mut on_progress: impl FnMut(&RestoreRecord),
    ) -> Result<RestoreRecord> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let r = self.status(id).await?;
            on_progress(&r);
            if !matches!(r.state, RestoreState::Running | RestoreState::Pending) {
                return Ok(r);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EsError::Timeout { op: format!("restore {id}"), seconds: timeout.as_secs() });
            }
            tokio::time::sleep(self.es.poll_interval()).await;
        }
    }

    /// Deletes the indices a restore created and marks it deleted.
    pub async fn delete(&self, id: &str) -> Result<RestoreRecord> {
        let mut record = self.load_record(id).await?;
        if record.state == RestoreState::Deleted {
            return Ok(record);
        }
        self.check_same_cluster(&record).await?;
        let others = self.es.store().tenants().await?;
        let targets = record.targets();
        for t in &targets {
            self.es.scope().check_restore_target(t, &others)?;
            if !t.starts_with(&record.prefix) {
                return Err(EsError::Conflict {
                    what: format!("restore {id}"),
                    reason: format!("[{t}] does not carry the restore prefix; refusing to delete it"),
                    remedy: None,
                });
            }
        }
        let existing: BTreeSet<String> = self
            .es
            .client()
            .cat_indices(Some(&format!("{}*", record.prefix)))
            .await?
            .into_iter()
            .map(|i| i.name)
            .collect();
        let to_delete: Vec<String> = targets.into_iter().filter(|t| existing.contains(t)).collect();
        // Delete in batches to keep URLs short.
        for chunk in to_delete.chunks(50) {
            self.es.client().delete_indices(chunk).await?;
        }
        record.state = RestoreState::Deleted;
        record.deleted_at = Some(self.es.now());
        self.save_record(&record).await?;
        Ok(record)
    }

    /// Deletes every restore past its expiry. Returns the deleted records and the failures.
    pub async fn clean_expired(&self) -> Result<(Vec<RestoreRecord>, Vec<(String, EsError)>)> {
        let now = self.es.now();
        let mut done = vec![];
        let mut failed = vec![];
        for r in self.list().await? {
            if r.state != RestoreState::Deleted && r.is_expired(now) {
                match self.delete(&r.id).await {
                    Ok(rec) => done.push(rec),
                    Err(e) => failed.push((r.id.clone(), e)),
                }
            }
        }
        Ok((done, failed))
    }
}

fn new_restore_id(now: DateTime<Utc>) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now.timestamp_nanos_opt().unwrap_or_default() as u128);
    h.write_u32(std::process::id());
    format!("r{}-{:06x}", now.format("%Y%m%d%H%M%S"), h.finish() & 0xff_ffff)
}

/// Escapes a literal for a Java regex replacement string (`$` and `\`).
fn java_replacement_literal(s: &str) -> String {
    s.replace('\\', "\\\\").replace('$', "\\$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacement_escapes_java_specials() {
        assert_eq!(java_replacement_literal("restore_"), "restore_");
        assert_eq!(java_replacement_literal("r$x"), "r\\$x");
    }

    #[test]
    fn ids_are_distinct() {
        let now = Utc::now();
        let a = new_restore_id(now);
        let b = new_restore_id(now);
        assert!(a.starts_with('r'));
        assert_ne!(a, b);
    }
}

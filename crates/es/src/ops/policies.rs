//! Lifeboat snapshot policies: add, list, remove, and run.
//!
//! A run takes today's snapshot with a date-math name (`<{policy}-{now/d}>`, which Elasticsearch
//! resolves to `{policy}-yyyy.MM.dd` in UTC), waits for it, fails on `PARTIAL` or `FAILED` listing
//! the failed shards, records the snapshot in the catalog, and then deletes the policy's snapshots
//! older than `snapshot_days` (never the newest successful one), retrying deletes that a running
//! snapshot blocks.

use chrono::{DateTime, Utc};
use lifeboat_retention::{Expiry, Snapshot};

use crate::error::{EsError, Result};
use crate::manager::EsManager;
use crate::model::catalog;
use crate::model::{DeleteFailure, PolicyRunReport, SnapshotPolicy, SnapshotState, TakenSnapshot};

/// The snapshot policies of a manager's scope (see [`EsManager::policies`]).
#[derive(Debug, Clone, Copy)]
pub struct Policies<'a> {
    es: &'a EsManager,
}

impl EsManager {
    /// Lifeboat snapshot policies: add, list, remove, run.
    pub fn policies(&self) -> Policies<'_> {
        Policies { es: self }
    }
}

impl Policies<'_> {
    /// Adds (or replaces) a policy after checking the repository exists and belongs to the scope.
    pub async fn add(&self, policy: SnapshotPolicy) -> Result<()> {
        policy.validate()?;
        self.es.scope().check_pattern(&policy.indices, "snapshot")?;
        self.es.repositories().owned(&policy.repository, "snapshot into").await?;
        self.es
            .store()
            .update(&self.es.state_key(), move |st| {
                st.policies.insert(policy.name.clone(), policy);
                Ok(())
            })
            .await
    }

    /// All policies of the scope.
    pub async fn list(&self) -> Result<Vec<SnapshotPolicy>> {
        Ok(self.es.store().load(&self.es.state_key()).await?.policies.into_values().collect())
    }

    /// One policy by name.
    pub async fn get(&self, name: &str) -> Result<SnapshotPolicy> {
        let st = self.es.store().load(&self.es.state_key()).await?;
        st.policies.get(name).cloned().ok_or_else(|| EsError::NotFound {
            what: "policy",
            name: name.to_string(),
            detail: format!("; known policies: {:?}", st.policies.keys().collect::<Vec<_>>()),
            remedy: None,
        })
    }

    /// Removes a policy (its snapshots stay).
    pub async fn remove(&self, name: &str) -> Result<SnapshotPolicy> {
        let name = name.to_string();
        self.es
            .store()
            .update(&self.es.state_key(), move |st| {
                st.policies.remove(&name).ok_or_else(|| EsError::NotFound {
                    what: "policy",
                    name: name.clone(),
                    detail: String::new(),
                    remedy: None,
                })
            })
            .await
    }

    /// Runs a policy now: snapshot, wait, catalog, retention. See the module documentation.
    pub async fn run(&self, name: &str) -> Result<PolicyRunReport> {
        let started_at = self.es.now();
        let policy = self.get(name).await?;
        self.es.scope().check_pattern(&policy.indices, "snapshot")?;
        let repo = self.es.repositories().owned(&policy.repository, "snapshot into").await?;
        if repo.readonly() {
            return Err(EsError::Conflict {
                what: format!("policy {}", policy.name),
                reason: format!("repository [{}] is registered read-only", repo.name),
                remedy: None,
            });
        }
        let taken: TakenSnapshot =
            self.es.snapshots().take(&repo.name, &policy.date_math_name(), &policy.indices, Some(&policy)).await?;

        // Retention over this policy's snapshots.
        let all = self.es.client().get_snapshots(&repo.name, &format!("{}-*", policy.name), true).await?;
        let mine: Vec<_> = all.into_iter().filter(|s| policy.owns_snapshot(&s.snapshot)).collect();
        let candidates: Vec<Candidate> = mine
            .iter()
            .map(|s| Candidate { name: s.snapshot.clone(), start: s.start_time(), state: s.state.clone() })
            .collect();
        let expired = select_expired(&candidates, policy.snapshot_days, self.es.now());
        let mut deleted = vec![];
        let mut delete_failures = vec![];
        for snap in &expired {
            match self.es.snapshots().delete_with_retry(&repo.name, snap).await {
                Ok(()) => deleted.push(snap.clone()),
                Err(e) => delete_failures.push(DeleteFailure { snapshot: snap.clone(), error: e.to_string() }),
            }
        }
        if !deleted.is_empty() {
            let repo_name = repo.name.clone();
            let gone = deleted.clone();
            self.es
                .store()
                .update(&self.es.state_key(), move |st| {
                    for s in &gone {
                        catalog::remove_snapshot(&mut st.catalog, &repo_name, s);
                    }
                    Ok(())
                })
                .await?;
        }
        let kept = mine.iter().map(|s| s.snapshot.clone()).filter(|n| !deleted.contains(n)).collect();
        Ok(PolicyRunReport {
            policy: policy.name,
            repository: repo.name,
            snapshot: taken.info.snapshot,
            state: taken.info.state,
            already_existed: taken.already_existed,
            indices: taken.info.indices,
            catalogued: taken.catalogued,
            deleted,
            delete_failures,
            kept,
            started_at,
        })
    }
}

/// A snapshot considered for deletion by a policy run.
#[derive(Debug, Clone, PartialEq)]
struct Candidate {
    /// Snapshot name.
    name: String,
    /// Start time; snapshots without one are never deleted.
    start: Option<DateTime<Utc>>,
    /// State.
    state: SnapshotState,
}

/// Returns the names of the snapshots older than `keep_days` at `now`, oldest first.
///
/// The age rule is lifeboat-retention's [`Expiry`] (`0` keeps everything; an item in progress is
/// never forgotten). On top of it a policy never selects its newest `SUCCESS` snapshot, however
/// old, so there is always something to restore.
fn select_expired(candidates: &[Candidate], keep_days: u32, now: DateTime<Utc>) -> Vec<String> {
    let rule = Expiry::days(keep_days);
    let newest_success = candidates
        .iter()
        .filter(|c| c.state == SnapshotState::Success && c.start.is_some())
        .max_by_key(|c| c.start)
        .map(|c| c.name.clone());
    let mut expired: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| Some(&c.name) != newest_success.as_ref())
        .filter(|c| {
            c.start.is_some_and(|start| {
                let item = Snapshot::new(c.name.clone(), start.fixed_offset()).with_in_progress(c.state.is_running());
                !rule.decide(&item, now).keep
            })
        })
        .collect();
    expired.sort_by_key(|c| c.start);
    expired.into_iter().map(|c| c.name.clone()).collect()
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn c(name: &str, days_ago: i64, state: SnapshotState, now: DateTime<Utc>) -> Candidate {
        Candidate { name: name.into(), start: Some(now - Duration::days(days_ago)), state }
    }

    #[test]
    fn keeps_recent_and_newest_success() {
        let now = Utc::now();
        let cands = vec![
            c("d10", 10, SnapshotState::Success, now),
            c("d9", 9, SnapshotState::Partial, now),
            c("d8", 8, SnapshotState::Success, now),
            c("d1", 1, SnapshotState::Success, now),
        ];
        assert_eq!(select_expired(&cands, 3, now), vec!["d10", "d9", "d8"]);
        assert!(select_expired(&cands, 0, now).is_empty());
        // Only old snapshots, the newest successful one survives even though it is expired.
        let old = vec![
            c("d10", 10, SnapshotState::Success, now),
            c("d9", 9, SnapshotState::Success, now),
            c("d8", 8, SnapshotState::Failed, now),
        ];
        assert_eq!(select_expired(&old, 3, now), vec!["d10", "d8"]);
        let running = vec![c("d10", 10, SnapshotState::InProgress, now), c("d1", 1, SnapshotState::Success, now)];
        assert!(select_expired(&running, 3, now).is_empty());
    }
}

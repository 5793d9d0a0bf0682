//! Lifeboat snapshot policies: add, list, remove, and run.
//!
//! A run takes today's snapshot, named `{policy}-yyyy.MM.dd` for the manager's clock's UTC day
//! (so a scheduler under an injected clock gets one snapshot per simulated day; with the system
//! clock this is the name Elasticsearch's date math `<{policy}-{now/d}>` gives), waits for it, fails
//! on `PARTIAL` or `FAILED` listing the failed shards, records the snapshot in the catalog, and then
//! deletes the policy's expired snapshots ([`PolicyRetention`]: older than `snapshot_days`, or
//! lifeboat-retention's rules), never the newest successful one, retrying deletes that a running
//! snapshot blocks. A snapshot's age is its `lifeboat_taken_at` metadata (the manager's clock
//! when it asked), else the cluster's start time.

use chrono::{DateTime, Utc};
use lifeboat_retention::{Expiry, GroupBy, Snapshot};

use crate::error::{EsError, Result};
use crate::manager::EsManager;
use crate::model::catalog;
use crate::model::{DeleteFailure, PolicyRetention, PolicyRunReport, SnapshotPolicy, SnapshotState, TakenSnapshot};

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

    /// Runs a policy now: snapshot, wait, catalog, retention by its `snapshot_days`. See the
    /// module documentation.
    pub async fn run(&self, name: &str) -> Result<PolicyRunReport> {
        self.run_with(name, &PolicyRetention::PolicyDays).await
    }

    /// [`run`](Self::run) with another retention rule (a Lifeboat plan's `retention` table).
    pub async fn run_with(&self, name: &str, retention: &PolicyRetention) -> Result<PolicyRunReport> {
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
        let snapshot_name = policy.snapshot_name_for(started_at.date_naive());
        let taken: TakenSnapshot =
            self.es.snapshots().take(&repo.name, &snapshot_name, &policy.indices, Some(&policy)).await?;

        // Retention over this policy's snapshots.
        let all = self.es.client().get_snapshots(&repo.name, &format!("{}-*", policy.name), true).await?;
        let mine: Vec<_> = all.into_iter().filter(|s| policy.owns_snapshot(&s.snapshot)).collect();
        let candidates: Vec<Candidate> = mine
            .iter()
            .map(|s| Candidate { name: s.snapshot.clone(), start: s.taken_at(), state: s.state.clone() })
            .collect();
        let rule = match retention {
            PolicyRetention::PolicyDays => Rule::Days(policy.snapshot_days),
            PolicyRetention::Rules(rules) => Rule::Rules(rules),
        };
        let expired = select_expired(&candidates, &rule, self.es.now());
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

/// A resolved [`PolicyRetention`].
enum Rule<'a> {
    /// Keep this many days.
    Days(u32),
    /// lifeboat-retention's rules.
    Rules(&'a lifeboat_retention::Policy),
}

/// Returns the names of the snapshots the rule expires at `now`, oldest first.
///
/// The day rule is lifeboat-retention's [`Expiry`] (`0` keeps everything); the rules are its
/// restic-style engine over all candidates as one group (no rule keeps everything). An item in
/// progress is never forgotten. On top of either, a policy never selects its newest `SUCCESS`
/// snapshot, however old, so there is always something to restore.
fn select_expired(candidates: &[Candidate], rule: &Rule<'_>, now: DateTime<Utc>) -> Vec<String> {
    let item = |c: &Candidate, start: DateTime<Utc>| {
        Snapshot::new(c.name.clone(), start.fixed_offset()).with_in_progress(c.state.is_running())
    };
    let forgotten: Vec<String> = match rule {
        Rule::Days(days) => {
            let expiry = Expiry::days(*days);
            candidates
                .iter()
                .filter(|c| c.start.is_some_and(|start| !expiry.decide(&item(c, start), now).keep))
                .map(|c| c.name.clone())
                .collect()
        }
        Rule::Rules(policy) if policy.is_empty() => Vec::new(),
        Rule::Rules(policy) => {
            let items: Vec<Snapshot> = candidates.iter().filter_map(|c| c.start.map(|start| item(c, start))).collect();
            // Not empty, and allow_empty: the engine cannot refuse; keep everything if it does.
            lifeboat_retention::apply_at(policy, GroupBy::NONE, &items, true, now)
                .map(|decisions| decisions.into_iter().filter(|d| !d.keep).map(|d| d.id).collect())
                .unwrap_or_default()
        }
    };
    let newest_success = candidates
        .iter()
        .filter(|c| c.state == SnapshotState::Success && c.start.is_some())
        .max_by_key(|c| c.start)
        .map(|c| c.name.clone());
    let mut expired: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| Some(&c.name) != newest_success.as_ref())
        .filter(|c| c.start.is_some() && forgotten.contains(&c.name))
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
        assert_eq!(select_expired(&cands, &Rule::Days(3), now), vec!["d10", "d9", "d8"]);
        assert!(select_expired(&cands, &Rule::Days(0), now).is_empty());
        // Only old snapshots, the newest successful one survives even though it is expired.
        let old = vec![
            c("d10", 10, SnapshotState::Success, now),
            c("d9", 9, SnapshotState::Success, now),
            c("d8", 8, SnapshotState::Failed, now),
        ];
        assert_eq!(select_expired(&old, &Rule::Days(3), now), vec!["d10", "d8"]);
        let running = vec![c("d10", 10, SnapshotState::InProgress, now), c("d1", 1, SnapshotState::Success, now)];
        assert!(select_expired(&running, &Rule::Days(3), now).is_empty());
    }

    #[test]
    fn restic_rules_over_the_policy_snapshots() {
        let now = Utc::now();
        let cands: Vec<Candidate> = (0..10).map(|d| c(&format!("d{d}"), d, SnapshotState::Success, now)).collect();
        let within = lifeboat_retention::Policy { keep_within: Some("3d".parse().unwrap()), ..Default::default() };
        // keep-within counts back from the newest snapshot: up to 3 days older stay.
        let expired = select_expired(&cands, &Rule::Rules(&within), now);
        assert_eq!(expired, ["d9", "d8", "d7", "d6", "d5", "d4"]);
        let daily =
            lifeboat_retention::Policy { keep_daily: lifeboat_retention::KeepCount::N(5), ..Default::default() };
        assert_eq!(select_expired(&cands, &Rule::Rules(&daily), now), ["d9", "d8", "d7", "d6", "d5"]);
        assert!(select_expired(&cands, &Rule::Rules(&lifeboat_retention::Policy::default()), now).is_empty());
        // The newest success survives a rule that keeps nothing else.
        let mut failed = cands.clone();
        failed[0].state = SnapshotState::Failed;
        let one = lifeboat_retention::Policy { keep_last: lifeboat_retention::KeepCount::N(1), ..Default::default() };
        let expired = select_expired(&failed, &Rule::Rules(&one), now);
        assert!(!expired.contains(&"d1".to_string()) && !expired.contains(&"d0".to_string()), "{expired:?}");
    }
}

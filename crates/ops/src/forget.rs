//! Forgetting backups as plan-then-apply: [`plan`] reads the repository and decides, for
//! every backup, whether the policy keeps it and why; the [`ForgetPlan`] is a plain value
//! that a frontend prints (`forget --dry-run`), returns from an API or shows for approval;
//! [`apply`] then removes exactly the backups the plan lists, and nothing else.
//!
//! A plan describes the repository as it was when it was made. Applying a stale plan, one
//! naming a backup that is gone by now (someone else forgot it), is an error
//! ([`ForgetError::Stale`]) rather than a silent partial run: the plan the operator
//! approved is no longer what would happen, so nothing is removed and they plan again.
//! Backups added since the plan are not in it and are left alone.

use lifeboat_repo::{BACKUPS_PREFIX, LatestScope, RepoError, Repository};
use lifeboat_retention::chrono::{DateTime, Utc};
use lifeboat_retention::{Decision, GroupBy, GroupPlan, Policy, RetentionError, Snapshot, apply_grouped};
use lifeboat_storage::clock::Clock;
use serde::{Deserialize, Serialize};

/// What to forget by.
#[derive(Debug, Clone)]
pub struct ForgetRequest {
    /// Only backups of this plan take part (all backups when `None`).
    pub plan: Option<String>,
    /// The policy (see [`crate::policy::choose_policy`] for which one applies).
    pub policy: Policy,
    /// How backups are grouped before the policy is applied to each group.
    pub group_by: GroupBy,
    /// Allow the policy to forget every backup of a group.
    pub allow_empty: bool,
    /// Only backups within this scope take part as well (host, tags, paths; the CLI's
    /// `--host`, `--tag`, `--path`): the others are neither kept nor forgotten.
    pub within: LatestScope,
}

/// The decisions of a forget, made but not yet carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgetPlan {
    /// The repository's id: a plan applies to the repository it was made for only.
    pub repository: String,
    /// The plan whose backups took part, if only one plan's did.
    pub plan: Option<String>,
    /// The policy applied.
    pub policy: Policy,
    /// When the plan was made (durations and object locks are judged at this instant).
    pub planned_at: DateTime<Utc>,
    /// Every backup that took part, group by group, with keep or forget and the reasons.
    pub groups: Vec<GroupPlan>,
    /// The ids [`apply`] removes: every decision that does not keep, in group order.
    pub remove: Vec<String>,
}

impl ForgetPlan {
    /// The decisions that keep their backup.
    pub fn kept(&self) -> impl Iterator<Item = &Decision> {
        self.groups.iter().flat_map(|g| g.decisions.iter().filter(|d| d.keep))
    }
}

/// Why a forget could not be planned or applied.
#[derive(Debug, thiserror::Error)]
pub enum ForgetError {
    /// A policy without a keep rule would forget every backup of every plan.
    #[error("a policy with no keep rule forgets everything: name the plan it applies to")]
    EmptyPolicyWithoutPlan,
    /// A backup of the repository cannot be read, so whether to keep it cannot be decided
    /// (and it might be the newest, changing every other decision).
    #[error("forget refused: a backup cannot be read, so the policy cannot be judged")]
    Unreadable {
        /// Why it cannot be read.
        #[source]
        source: RepoError,
    },
    /// The policy cannot be applied.
    #[error(transparent)]
    Policy(#[from] RetentionError),
    /// The repository failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The plan was made for another repository.
    #[error("the forget plan is for repository {planned}, not for {actual}")]
    WrongRepository {
        /// The repository the plan was made for.
        planned: String,
        /// The repository it was applied to.
        actual: String,
    },
    /// The plan names something that is not a backup id.
    #[error("the forget plan names {id:?}, which is not a backup id")]
    NotABackupId {
        /// What it names.
        id: String,
    },
    /// The plan names backups that are gone by now: plan again.
    #[error("the forget plan is stale: backup(s) {} are gone already: plan again", missing.join(", "))]
    Stale {
        /// The backups that are gone.
        missing: Vec<String>,
    },
}

/// Decides what `request` forgets in `repo`, judged at `clock`'s now. Reads every
/// manifest; one that cannot be read stops the plan ([`ForgetError::Unreadable`]).
pub async fn plan(repo: &Repository, request: &ForgetRequest, clock: &dyn Clock) -> Result<ForgetPlan, ForgetError> {
    if request.policy.is_empty() && request.plan.is_none() {
        return Err(ForgetError::EmptyPolicyWithoutPlan);
    }
    let (manifests, unreadable) = repo.list().await?;
    if let Some(source) = unreadable.into_iter().next() {
        return Err(ForgetError::Unreadable { source });
    }
    let plan = request.plan.as_deref();
    let snapshots: Vec<Snapshot> = manifests
        .iter()
        .filter(|m| plan.is_none_or(|p| m.plan.as_deref() == Some(p)) && request.within.matches(m))
        .map(|m| Snapshot {
            id: m.id.clone(),
            time: m.started,
            tags: m.tags.clone(),
            host: m.host.clone(),
            plan: m.plan.clone().unwrap_or_default(),
            in_progress: false,
            locked_until: m.locked_until,
        })
        .collect();
    let planned_at = clock.now();
    let groups = apply_grouped(&request.policy, request.group_by, &snapshots, request.allow_empty, Some(planned_at))?;
    let remove = groups.iter().flat_map(|g| g.decisions.iter().filter(|d| !d.keep).map(|d| d.id.clone())).collect();
    Ok(ForgetPlan {
        repository: repo.id().to_owned(),
        plan: request.plan.clone(),
        policy: request.policy.clone(),
        planned_at,
        groups,
        remove,
    })
}

/// The reason a backup named on the command line (`forget ID...`) is forgotten with.
pub const REASON_NAMED: &str = "named";

/// A plan that forgets exactly the backups `selectors` name (full ids, unique prefixes or
/// `latest`, each within `within`), as restic's `forget ID...` does: one group, every
/// decision a forget. A backup under an unexpired object lock is refused here, before
/// anything is removed, with the lock's date ([`RepoError::ObjectLocked`]); a selector
/// that names no backup is [`RepoError::NoSuchBackup`].
pub async fn plan_ids(
    repo: &Repository,
    selectors: &[String],
    within: &LatestScope,
    clock: &dyn Clock,
) -> Result<ForgetPlan, ForgetError> {
    let planned_at = clock.now();
    let mut decisions: Vec<Decision> = Vec::new();
    for selector in selectors {
        let manifest = repo.resolve_in(selector, within).await?;
        if let Some(until) = manifest.locked_until.filter(|until| *until > planned_at) {
            return Err(RepoError::ObjectLocked { backup: manifest.id, until: until.to_string() }.into());
        }
        if !decisions.iter().any(|d| d.id == manifest.id) {
            decisions.push(Decision { id: manifest.id, keep: false, reasons: vec![REASON_NAMED.to_owned()] });
        }
    }
    let remove = decisions.iter().map(|d| d.id.clone()).collect();
    Ok(ForgetPlan {
        repository: repo.id().to_owned(),
        plan: within.plan.clone(),
        policy: Policy::default(),
        planned_at,
        groups: vec![GroupPlan { key: Default::default(), decisions }],
        remove,
    })
}

/// Removes the backups `plan` lists from `repo`, and only those; returns their ids. Checks
/// first that the plan is for this repository and that every listed backup is still
/// there, so a stale plan removes nothing. (A forget racing this one between the check
/// and the removal can still make it stop midway with [`ForgetError::Stale`].)
pub async fn apply(repo: &Repository, plan: &ForgetPlan) -> Result<Vec<String>, ForgetError> {
    if repo.id() != plan.repository {
        return Err(ForgetError::WrongRepository { planned: plan.repository.clone(), actual: repo.id().to_owned() });
    }
    if let Some(id) = plan.remove.iter().find(|id| !is_backup_id(id)) {
        return Err(ForgetError::NotABackupId { id: id.clone() });
    }
    let mut missing = Vec::new();
    for id in &plan.remove {
        if repo.storage().head(&format!("{BACKUPS_PREFIX}{id}")).await.map_err(RepoError::from)?.is_none() {
            missing.push(id.clone());
        }
    }
    if !missing.is_empty() {
        return Err(ForgetError::Stale { missing });
    }
    match repo.forget(&plan.remove).await {
        Ok(()) => Ok(plan.remove.clone()),
        Err(RepoError::NoSuchBackup(id)) => Err(ForgetError::Stale { missing: vec![id] }),
        Err(e) => Err(e.into()),
    }
}

/// A backup id as manifests are named: 32 lowercase hex digits.
fn is_backup_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

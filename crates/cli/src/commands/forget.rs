//! `lifeboat forget`: apply a retention policy to a repository (and, with `--prune`, prune).
//! The deciding is lifeboat-ops': this plans, prints the plan, and applies it unless
//! `--dry-run`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use lifeboat_ops::forget::{self, ForgetError, ForgetRequest};
use lifeboat_ops::plans::resolve_plan;
use lifeboat_ops::policy::choose_policy;
use lifeboat_storage::clock::SystemClock;

use crate::flags::{Global, PolicyArgs, ScopeArgs};
use crate::open::open_repo;
use crate::render::{print_forget, print_json};

/// `lifeboat forget`. Keep flags on the command line win; without any, the plan's
/// configured retention applies.
/// Backup ids name what goes instead of a policy (restic's `forget ID...`).
pub async fn run(
    global: &Global,
    ids: &[String],
    scope: ScopeArgs,
    args: PolicyArgs,
    dry_run: bool,
    prune: bool,
    json: bool,
) -> Result<ExitCode> {
    if !ids.is_empty() && (!args.requested().rules.is_empty() || args.allow_empty) {
        bail!("name backups or give keep rules, not both: `forget ID...` forgets exactly the backups named");
    }
    let repo = open_repo(global).await?;
    let planned = if ids.is_empty() {
        plan_by_policy(global, &repo, scope, args).await?
    } else {
        forget::plan_ids(&repo, ids, &scope.scope(), &SystemClock).await?
    };
    if !dry_run {
        forget::apply(&repo, &planned).await?;
    }
    let pruned = if prune && !dry_run { Some(repo.prune(false).await?) } else { None };
    if json {
        print_json(&serde_json::json!({
            "dry_run": dry_run,
            "groups": planned.groups,
            "forgotten": planned.remove,
            "prune": pruned,
        }))?;
    } else {
        print_forget(&planned, dry_run, pruned.as_ref());
    }
    Ok(ExitCode::SUCCESS)
}

/// The plan of the keep rules on the command line, else of the plan's configured retention.
async fn plan_by_policy(
    global: &Global,
    repo: &lifeboat_repo::Repository,
    scope: ScopeArgs,
    args: PolicyArgs,
) -> Result<forget::ForgetPlan> {
    let plan = scope.plan.clone();
    let configured = resolve_plan(global.config.as_deref(), plan.as_deref())?;
    let chosen = choose_policy(&args.requested(), configured.as_ref())?;
    let request = ForgetRequest {
        plan,
        policy: chosen.policy,
        group_by: args.group_by,
        allow_empty: args.allow_empty,
        within: scope.scope(),
    };
    match forget::plan(repo, &request, &SystemClock).await {
        Ok(planned) => Ok(planned),
        Err(ForgetError::EmptyPolicyWithoutPlan) => {
            bail!("a policy with no keep rule forgets everything: name the --plan it applies to")
        }
        Err(e) => Err(e.into()),
    }
}

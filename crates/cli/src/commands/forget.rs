//! `lifeboat forget`: apply a retention policy to a repository (and, with `--prune`, prune).

use std::process::ExitCode;

use anyhow::{Result, bail};
use lifeboat_repo::Repository;
use lifeboat_retention::chrono::Utc;
use lifeboat_retention::{Policy, RetentionError, Snapshot, apply_grouped};

use crate::flags::{Global, PolicyArgs};
use crate::open::open_repo;
use crate::render::{human_bytes, print_json};

/// `lifeboat forget`: opens the repository and forgets what the policy does not keep.
pub async fn run(
    global: &Global,
    plan: Option<String>,
    policy: PolicyArgs,
    dry_run: bool,
    prune: bool,
    json: bool,
) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let configured = configured_policy(global.config.as_deref(), plan.as_deref())?;
    forget(&repo, plan.as_deref(), &policy, configured, dry_run, prune, json).await
}

/// The retention the config file gives `plan`, when both are known.
fn configured_policy(config: Option<&std::path::Path>, plan: Option<&str>) -> Result<Option<Policy>> {
    let (Some(path), Some(plan)) = (config, plan) else { return Ok(None) };
    let config = lifeboat_ops::Config::load(path)?;
    Ok(Some(config.plan(plan, &path.display().to_string())?.retention.clone()))
}

/// Forgets what the policy does not keep; with `prune`, deletes the freed data too. Keep
/// flags on the command line win; without any, the plan's configured retention applies.
async fn forget(
    repo: &Repository,
    plan: Option<&str>,
    args: &PolicyArgs,
    configured: Option<Policy>,
    dry_run: bool,
    prune: bool,
    json: bool,
) -> Result<ExitCode> {
    let policy = match (args.to_policy(), configured) {
        (Ok(policy), _) => policy,
        (Err(e), Some(policy)) if matches!(e.downcast_ref::<RetentionError>(), Some(RetentionError::EmptyPolicy)) => {
            policy
        }
        (Err(e), _) => return Err(e),
    };
    if policy.is_empty() && plan.is_none() {
        bail!("a policy with no keep rule forgets everything: name the --plan it applies to");
    }
    let (manifests, unreadable) = repo.list().await?;
    if let Some(e) = unreadable.into_iter().next() {
        return Err(
            anyhow::Error::new(e).context("forget refused: a backup cannot be read, so the policy cannot be judged")
        );
    }
    let snapshots: Vec<Snapshot> = manifests
        .iter()
        .filter(|m| plan.is_none_or(|p| m.plan.as_deref() == Some(p)))
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
    let groups = apply_grouped(&policy, args.group_by, &snapshots, args.allow_empty, Some(Utc::now()))?;
    let forget: Vec<String> =
        groups.iter().flat_map(|g| g.decisions.iter().filter(|d| !d.keep).map(|d| d.id.clone())).collect();
    if !dry_run {
        repo.forget(&forget).await?;
    }
    let pruned = if prune && !dry_run { Some(repo.prune(false).await?) } else { None };
    if json {
        print_json(&serde_json::json!({
            "dry_run": dry_run,
            "groups": groups,
            "forgotten": forget,
            "prune": pruned,
        }))?;
    } else {
        for group in &groups {
            println!("group {}: keep {}, forget {}", group.key, group.kept(), group.forgotten());
            for d in &group.decisions {
                println!(
                    "  {} {}  {}",
                    if d.keep { "keep  " } else { "forget" },
                    d.id.get(..8).unwrap_or(&d.id),
                    d.reasons.join(", ")
                );
            }
        }
        let verb = if dry_run { "would forget" } else { "forgot" };
        println!("{verb} {} backup(s)", forget.len());
        if let Some(p) = &pruned {
            println!(
                "pruned {} unreferenced object(s), {} freed",
                p.unreferenced.len(),
                human_bytes(p.unreferenced_bytes)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `lifeboat run NAME` and `lifeboat backup --plan NAME`: run a plan of the config file once.
//! Resolving the plan and running it is lifeboat-ops'; this opens the plan's repository with
//! the CLI's storage layers and prints the result. An Elasticsearch plan has no repository:
//! its snapshot runs in the cluster (`run_es_plan`).

use std::process::ExitCode;

use anyhow::{Context, Result};
use lifeboat_ops::plans::ResolvedPlan;
use lifeboat_ops::plans::{require_plan, resolve_plan};
use lifeboat_ops::run::{
    EsRunReport, RunRequest, check_runs_here, copy_backup, run_es_plan, run_plan, runs_in_cluster,
};
use lifeboat_storage::redact_url;

use crate::flags::{BackupCommand, Global};
use crate::open::{open_copy_destination, open_plan_repo};
use crate::render::{self, print_json, progress};

/// Runs the plan `name` and prints what it did.
pub async fn run(global: &Global, name: &str, json: bool) -> Result<ExitCode> {
    let plan = require_plan(global.config.as_deref(), name)?;
    if runs_in_cluster(&plan) {
        return run_in_cluster(&plan, json).await;
    }
    check_runs_here(&plan)?;
    let repo = open_plan_repo(global, &plan).await?;
    let started = std::time::Instant::now();
    let spinner = progress::spinner("running the plan");
    // The stdin command sees no secret of any plan of the file, not only of its own.
    let config = global.config.as_deref().map(lifeboat_ops::Config::load).transpose()?;
    let scrub_env = config.iter().flat_map(|c| c.plans.values()).flat_map(|p| p.secret_variables()).collect();
    let request = RunRequest { scrub_env, ..Default::default() };
    let result = run_plan(&repo, &plan, &request).await;
    progress::finish(spinner);
    let report = result?;
    let elapsed = started.elapsed();
    let mut copies = Vec::new();
    for copy in plan.config.copy_to.iter().filter(|c| c.runs_after_backup()) {
        let dest = open_copy_destination(global, &plan, copy).await?;
        let copied = copy_backup(&repo, &dest, copy, &report).await?;
        copies.push(serde_json::json!({ "repository": redact_url(&copy.repository), "report": copied }));
    }
    for w in &report.backup.warnings {
        eprintln!("lifeboat: warning: {}", render::escape(w));
    }
    if json {
        print_json(&serde_json::json!({
            "plan": report.plan,
            "backup": render::backup_result(&report.backup, elapsed),
            "retention": report.forget.as_ref().map(|f| &f.policy),
            "forgotten": report.forgotten,
            "copies": copies,
        }))?;
    } else {
        println!("plan {}:", render::escape(&report.plan));
        render::print_backup_done(&report.backup, elapsed);
        if report.forget.is_some() {
            println!("retention: forgot {} backup(s)", report.forgotten.len());
        }
        for copy in &copies {
            println!("copied to {}", render::escape(copy["repository"].as_str().unwrap_or_default()));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs an Elasticsearch plan: the snapshot in the cluster, then the plan's retention.
async fn run_in_cluster(plan: &ResolvedPlan, json: bool) -> Result<ExitCode> {
    let spinner = progress::spinner("taking the snapshot in the cluster");
    let result = run_es_plan(plan, &RunRequest::default()).await;
    progress::finish(spinner);
    let report: EsRunReport = result?;
    if json {
        print_json(&report)?;
    } else {
        println!("plan {}:", render::escape(&report.plan));
        let how = if report.already_existed { "already taken today, checked" } else { "taken" };
        println!(
            "snapshot {} in repository {}: {} ({how}), {} indices",
            render::escape(&report.snapshot),
            render::escape(&report.repository),
            report.state,
            report.indices.len()
        );
        println!("retention: deleted {} snapshot(s), {} kept", report.deleted.len(), report.kept.len());
        for gone in &report.deleted {
            println!("  deleted {}", render::escape(gone));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `backup <kind> --plan NAME` keeps `--plan` as the label it always was, but a config file
/// given (--config / LIFEBOAT_CONFIG) must exist, be valid and define the plan.
pub fn check_plan_label(global: &Global, command: &BackupCommand) -> Result<()> {
    let label = match command {
        BackupCommand::Files { meta, .. }
        | BackupCommand::Postgres { meta, .. }
        | BackupCommand::Mysql { meta, .. }
        | BackupCommand::Redis { meta, .. }
        | BackupCommand::Stdin { meta, .. } => meta.plan.as_deref(),
    };
    resolve_plan(global.config.as_deref(), label).context("--plan")?;
    Ok(())
}

//! `lifeboat prune`: delete data no backup references.

use std::process::ExitCode;

use anyhow::Result;
use lifeboat_repo::Repository;

use crate::flags::Global;
use crate::open::open_repo;
use crate::render::{human_bytes, print_json};

/// `lifeboat prune`.
pub async fn run(global: &Global, dry_run: bool, json: bool) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    prune(&repo, dry_run, json).await
}

/// Deletes data no manifest references.
async fn prune(repo: &Repository, dry_run: bool, json: bool) -> Result<ExitCode> {
    let report = repo.prune(dry_run).await?;
    if json {
        print_json(&report)?;
    } else {
        let verb = if dry_run { "would delete" } else { "deleted" };
        println!(
            "{verb} {} unreferenced object(s) ({}); {} referenced object(s) kept",
            report.unreferenced.len(),
            human_bytes(report.unreferenced_bytes),
            report.referenced
        );
        if !report.held_by_lock.is_empty() {
            println!("{} unreferenced object(s) kept: still under object lock", report.held_by_lock.len());
        }
        if !report.temp_files.is_empty() {
            let verb = if dry_run { "would remove" } else { "removed" };
            println!(
                "{verb} {} temporary file(s) of interrupted writes ({})",
                report.temp_files.len(),
                human_bytes(report.temp_bytes)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

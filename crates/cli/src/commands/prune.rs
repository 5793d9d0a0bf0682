//! `lifeboat prune`: delete data no backup references.

use std::process::ExitCode;

use anyhow::Result;
use lifeboat_repo::Repository;

use crate::flags::Global;
use crate::open::open_repo;
use crate::render::{print_json, print_prune};

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
        print_prune(&report, dry_run);
    }
    Ok(ExitCode::SUCCESS)
}

//! `lifeboat prune`: delete data no backup references.

use std::process::ExitCode;

use anyhow::Result;
use lifeboat_repo::{PruneOptions, Repository};

use crate::flags::Global;
use crate::open::open_repo;
use crate::render::{print_json, print_prune};

/// `lifeboat prune`; `max_unused` is `--max-unused` in percent.
pub async fn run(global: &Global, dry_run: bool, max_unused: f64, json: bool) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    prune(&repo, PruneOptions { dry_run, max_unused: max_unused / 100.0 }, json).await
}

/// Deletes data no manifest references (format v3: condemns, repacks and deletes packs).
async fn prune(repo: &Repository, options: PruneOptions, json: bool) -> Result<ExitCode> {
    let report = repo.prune_with(options).await?;
    if json {
        print_json(&report)?;
    } else {
        print_prune(&report, options.dry_run);
    }
    Ok(ExitCode::SUCCESS)
}

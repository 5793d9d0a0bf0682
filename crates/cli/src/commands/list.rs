//! `lifeboat list`.

use std::process::ExitCode;

use anyhow::Result;

use super::{clone_err, sealed_for_others};
use crate::flags::Global;
use crate::open::open_repo;
use crate::render::{self, print_json, print_summaries};

/// Lists the backups (of `plan`); exits 1 when some could not be read.
pub async fn run(global: &Global, plan: Option<String>, json: bool) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let (manifests, unreadable) = repo.list().await?;
    let (sealed_elsewhere, unreadable): (Vec<_>, Vec<_>) = unreadable.into_iter().partition(sealed_for_others);
    if !sealed_elsewhere.is_empty() {
        eprintln!(
            "lifeboat: note: {} backup(s) are sealed for recipients only; pass --identity-file to list them",
            sealed_elsewhere.len()
        );
    }
    for e in &unreadable {
        eprintln!("lifeboat: warning: {}", render::error_chain(&anyhow::Error::new(clone_err(e))));
    }
    let summaries: Vec<_> = manifests
        .iter()
        .filter(|m| plan.as_ref().is_none_or(|p| m.plan.as_ref() == Some(p)))
        .map(lifeboat_repo::BackupSummary::from)
        .collect();
    if json {
        print_json(&summaries)?
    } else {
        print_summaries(&summaries)
    }
    Ok(if unreadable.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

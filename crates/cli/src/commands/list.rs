//! `lifeboat list`.

use std::process::ExitCode;

use anyhow::Result;
use lifeboat_repo::LatestScope;

use super::clone_err;
use crate::flags::Global;
use crate::open::open_repo;
use crate::render::{self, print_json, print_summaries};

/// Lists the backups (within `scope`); exits 1 when some could not be read.
pub async fn run(global: &Global, scope: &LatestScope, json: bool) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let listing = repo.list_backups().await?;
    if !listing.sealed_for_others.is_empty() {
        let count = listing.sealed_for_others.len();
        eprintln!("{}", crate::hints::sealed_for_others_note(count, "listed", global.identity_file.is_some()));
    }
    for e in &listing.unreadable {
        let hint = crate::hints::hint_for(e).unwrap_or_default();
        eprintln!("lifeboat: warning: {}{hint}", render::error_chain(&anyhow::Error::new(clone_err(e))));
    }
    let summaries = listing.summaries_in(scope);
    if json {
        print_json(&summaries)?
    } else {
        print_summaries(&summaries)
    }
    Ok(if listing.is_complete() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

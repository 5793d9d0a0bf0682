//! `lifeboat show`.

use std::process::ExitCode;

use anyhow::Result;
use lifeboat_repo::LatestScope;

use crate::flags::Global;
use crate::open::open_repo;
use crate::render::{self, print_json, print_manifest};

/// Prints one backup (`latest` within `scope`).
pub async fn run(global: &Global, id: String, scope: &LatestScope, json: bool) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let manifest = repo.resolve_in(&id, scope).await?;
    if json {
        print_json(&render::manifest_view(&manifest)?)?
    } else {
        print_manifest(&manifest)
    }
    Ok(ExitCode::SUCCESS)
}

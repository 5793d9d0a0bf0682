//! `lifeboat unlock`.

use std::process::ExitCode;

use anyhow::Result;

use crate::flags::Global;
use crate::open::{repo_url, storage};
use crate::render::print_unlocked;

/// Removes dead locks (every lock with `all`).
pub async fn run(global: &Global, all: bool) -> Result<ExitCode> {
    let url = repo_url(global)?;
    let removed = lifeboat_repo::remove_locks(storage(&url, global)?.as_ref(), all).await?;
    print_unlocked(&removed, all);
    Ok(ExitCode::SUCCESS)
}

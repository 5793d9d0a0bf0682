//! `lifeboat unlock`.

use std::process::ExitCode;

use anyhow::Result;

use crate::flags::Global;
use crate::open::{repo_url, storage};

/// Removes dead locks (every lock with `all`).
pub async fn run(global: &Global, all: bool) -> Result<ExitCode> {
    let url = repo_url(global)?;
    let removed = lifeboat_repo::remove_locks(storage(&url, global)?.as_ref(), all).await?;
    for (lock, state) in &removed {
        let i = &lock.info;
        println!(
            "removed {:?} lock {} ({:?}, pid {} on {}, since {}): {}",
            i.kind,
            lock.key,
            i.operation,
            i.pid,
            i.host,
            i.created,
            match state {
                lifeboat_repo::LockState::Stale => "its process is gone",
                lifeboat_repo::LockState::Expired => "expired",
                lifeboat_repo::LockState::Running => "removed with --all although its process runs",
                lifeboat_repo::LockState::Live => "removed with --all",
            }
        );
    }
    if removed.is_empty() {
        println!("no {}locks to remove", if all { "" } else { "expired or stale " });
    }
    Ok(ExitCode::SUCCESS)
}

//! `lifeboat dr`: assess, recover, drill (logic in lifeboat-ops `dr`; this renders it).

mod assess;
mod drill;
mod recover;

use std::process::ExitCode;

use anyhow::Result;

use crate::flags::{DrCommand, Global};

/// Runs a `lifeboat dr` command.
pub async fn run(global: &Global, command: DrCommand) -> Result<ExitCode> {
    match command {
        DrCommand::Assess(args) => assess::run(global, args).await,
        DrCommand::Recover(args) => recover::run(global, args).await,
        DrCommand::Drill(args) => drill::run(global, args).await,
    }
}

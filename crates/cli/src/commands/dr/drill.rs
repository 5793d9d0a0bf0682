//! `lifeboat dr drill` (placeholder: issue 13).

use std::process::ExitCode;

use anyhow::Result;

use crate::flags::{DrDrillArgs, Global};

/// Runs `lifeboat dr drill`.
pub async fn run(global: &Global, args: DrDrillArgs) -> Result<ExitCode> {
    let _ = (global, args);
    anyhow::bail!("lifeboat dr drill is not built yet")
}

//! `lifeboat dr recover` (placeholder: issue 13).

use std::process::ExitCode;

use anyhow::Result;

use crate::flags::{DrRecoverArgs, Global};

/// Runs `lifeboat dr recover`.
pub async fn run(global: &Global, args: DrRecoverArgs) -> Result<ExitCode> {
    let _ = (global, args);
    anyhow::bail!("lifeboat dr recover is not built yet")
}

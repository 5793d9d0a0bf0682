//! `lifeboat dr assess` (placeholder: issue 13).

use std::process::ExitCode;

use anyhow::Result;

use crate::flags::{DrAssessArgs, Global};

/// Runs `lifeboat dr assess`.
pub async fn run(global: &Global, args: DrAssessArgs) -> Result<ExitCode> {
    let _ = (global, args);
    anyhow::bail!("lifeboat dr assess is not built yet")
}

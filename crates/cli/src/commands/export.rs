//! `lifeboat export` and `lifeboat import` (placeholder: issue 16).

use std::process::ExitCode;

use anyhow::Result;

use crate::flags::{ExportArgs, Global, ImportArgs};

/// Runs `lifeboat export`.
pub async fn export(global: &Global, args: ExportArgs) -> Result<ExitCode> {
    let _ = (global, args);
    anyhow::bail!("lifeboat export is not built yet")
}

/// Runs `lifeboat import`.
pub async fn import(global: &Global, args: ImportArgs) -> Result<ExitCode> {
    let _ = (global, args);
    anyhow::bail!("lifeboat import is not built yet")
}

//! `lifeboat alerts test [--channel NAME]`: a test message through each notification channel
//! of the config, sent from here (no lifeboatd needed), with each channel's outcome.

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::flags::{AlertTestArgs, Global};

/// `lifeboat alerts test`.
pub async fn run(global: &Global, args: AlertTestArgs) -> Result<ExitCode> {
    let _ = (global, args);
    bail!("lifeboat alerts test is not built yet")
}

//! `lifeboat audit list|verify`: the audit log in lifeboatd's state database.

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::flags::{AuditCommand, Global};

/// `lifeboat audit ...`.
pub async fn run(global: &Global, cmd: AuditCommand) -> Result<ExitCode> {
    let _ = (global, cmd);
    bail!("lifeboat audit is not built yet")
}

//! `lifeboat alerts` and `lifeboat alerts ack ID`: a running lifeboatd's alerts over its API
//! (`GET /api/v1/alerts?state=`, `POST /api/v1/alerts/{id}/acknowledge`).

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::flags::{AlertsListArgs, ServerArgs};

/// `lifeboat alerts`.
pub async fn list(args: AlertsListArgs) -> Result<ExitCode> {
    let _ = args;
    bail!("lifeboat alerts is not built yet")
}

/// `lifeboat alerts ack ID`.
pub async fn ack(id: &str, comment: Option<String>, until: Option<String>, server: ServerArgs) -> Result<ExitCode> {
    let _ = (id, comment, until, server);
    bail!("lifeboat alerts ack is not built yet")
}

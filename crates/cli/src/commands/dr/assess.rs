//! `lifeboat dr assess`: every source, plan, repository and cluster of the config checked,
//! read only; exits 1 when some plan is at risk.

use std::process::ExitCode;

use anyhow::Result;
use lifeboat_ops::dr::assess::{DrStatus, assess};

use super::{dr_env, show};
use crate::flags::{DrAssessArgs, Global};
use crate::render::print_json;

/// Runs `lifeboat dr assess`.
pub async fn run(global: &Global, args: DrAssessArgs) -> Result<ExitCode> {
    let env = dr_env(global).await?;
    let report = assess(&env).await;
    if args.json {
        print_json(&report)?;
    } else {
        show::print_assessment(&report);
    }
    Ok(if report.status == DrStatus::AtRisk { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

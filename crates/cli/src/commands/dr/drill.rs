//! `lifeboat dr drill --plan NAME | --scenario NAME`: a restore into scratch targets, the
//! content verified, RTO and RPO measured against the objectives, the targets removed, and
//! the report kept. Exits 0 when the drill passed and met its objectives, 1 when it failed,
//! [`EXIT_OBJECTIVE_MISSED`] when it passed but missed an objective, 130 (143) after Ctrl-C
//! (SIGTERM), once its scratch targets are removed.

use std::process::ExitCode;

use anyhow::Result;
use lifeboat_ops::dr::{DrillSubject, drill};

use super::{EXIT_OBJECTIVE_MISSED, Shown, StderrProgress, dr_env, run_and_show};
use crate::flags::{DrDrillArgs, Global};

/// Runs `lifeboat dr drill`.
pub async fn run(global: &Global, args: DrDrillArgs) -> Result<ExitCode> {
    let subject = match (args.plan, args.scenario) {
        (Some(plan), _) => DrillSubject::Plan(plan),
        (None, Some(scenario)) => DrillSubject::Scenario(scenario),
        (None, None) => anyhow::bail!("lifeboat dr drill needs --plan NAME or --scenario NAME"),
    };
    let env = dr_env(global).await?;
    let work = {
        let env = env.clone();
        async move { drill::run(&env, &subject, &StderrProgress).await }
    };
    let report = match run_and_show(&env, args.json, work).await? {
        Shown::Done(report) => report,
        Shown::Interrupted(code) => return Ok(code),
    };
    Ok(match (report.passed, report.objectives_met) {
        (false, _) => ExitCode::FAILURE,
        (true, Some(false)) => ExitCode::from(EXIT_OBJECTIVE_MISSED),
        (true, _) => ExitCode::SUCCESS,
    })
}

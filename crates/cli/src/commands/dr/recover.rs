//! `lifeboat dr recover --scenario NAME [--dry-run] [--yes]`: a recovery runbook of the
//! config. `--dry-run` prints which backup each step would use and why, its size, the last
//! drill's time and what it would overwrite, and changes nothing. A real run shows that plan
//! and asks for confirmation on a terminal (without one, and without `--yes`, it refuses),
//! prints progress on standard error, stops at the first failed step and keeps its report.
//! Exits 1 when a step failed.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use lifeboat_ops::dr::recover;

use super::{Shown, StderrProgress, dr_env, run_and_show, show};
use crate::flags::{DrRecoverArgs, Global};
use crate::render::{escape, print_json};

/// Runs `lifeboat dr recover`.
pub async fn run(global: &Global, args: DrRecoverArgs) -> Result<ExitCode> {
    let env = dr_env(global).await?;
    let plan = recover::plan(&env, &args.scenario).await?;
    if args.dry_run {
        if args.json {
            print_json(&plan)?;
        } else {
            show::print_plan(&plan);
            println!("dry run: nothing was changed");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.yes {
        confirm(&plan)?;
    }
    let work = {
        let (env, plan) = (env.clone(), plan.clone());
        async move { recover::run(&env, &plan, &StderrProgress).await }
    };
    let report = match run_and_show(&env, args.json, work).await? {
        Shown::Done(report) => report,
        Shown::Interrupted(code) => return Ok(code),
    };
    Ok(if report.passed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Shows the plan on standard error and asks for the scenario's name back; refuses without
/// a terminal to ask on.
fn confirm(plan: &recover::RecoveryPlan) -> Result<()> {
    let scenario = plan.scenario.as_str();
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        anyhow::bail!(
            "lifeboat dr recover --scenario {scenario} overwrites its targets and there is no terminal to confirm on: \
             look at `lifeboat dr recover --scenario {scenario} --dry-run`, then pass --yes"
        );
    }
    let mut err = std::io::stderr().lock();
    writeln!(err, "lifeboat dr recover is about to carry out scenario {}:", escape(scenario))?;
    for step in &plan.steps {
        let overwrites = step.overwrites.as_deref().map(|o| format!(" (overwrites {})", escape(o))).unwrap_or_default();
        writeln!(err, "  {}. {}{overwrites}", step.index, escape(&step.description))?;
    }
    write!(err, "type the scenario's name ({}) to go on: ", escape(scenario))?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).context("reading the confirmation")?;
    if answer.trim() != scenario {
        anyhow::bail!("not confirmed: nothing was changed");
    }
    Ok(())
}

//! `lifeboat dr`: disaster recovery — assess, recover a scenario, drill a plan or scenario.

use clap::{Args, Subcommand};

/// `lifeboat dr ...` (the config file comes from --config / LIFEBOAT_CONFIG).
#[derive(Subcommand, Debug)]
pub enum DrCommand {
    /// Could we recover right now? Sources, plans, repositories and clusters checked; exit 1 when at risk.
    Assess(DrAssessArgs),
    /// Carry out a recovery scenario of the config (--dry-run: show what it would do); exit 1 when a step failed.
    Recover(DrRecoverArgs),
    /// Restore into a scratch target, verify the content, measure RTO and RPO, clean up; exit 1 failed, 4 objective missed.
    Drill(DrDrillArgs),
}

/// `lifeboat dr assess`.
#[derive(Args, Debug)]
pub struct DrAssessArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `lifeboat dr recover --scenario NAME`.
#[derive(Args, Debug)]
pub struct DrRecoverArgs {
    /// The scenario, as named in the config's `[scenarios.NAME]`.
    #[arg(long)]
    pub scenario: String,
    /// Show which backup each step would use, its size, the last drill's time and what it
    /// would overwrite; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (needed without a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `lifeboat dr drill --plan NAME | --scenario NAME`.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("subject").required(true).args(["plan", "scenario"]))]
pub struct DrDrillArgs {
    /// Drill this plan's newest backup.
    #[arg(long)]
    pub plan: Option<String>,
    /// Drill this scenario, every restore redirected to a scratch target.
    #[arg(long)]
    pub scenario: Option<String>,
    /// Print JSON (the report).
    #[arg(long)]
    pub json: bool,
}

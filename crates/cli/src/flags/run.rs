//! `lifeboat run NAME` and `lifeboat backup --plan NAME`: a plan of the config file, run once.

use clap::Args;

use super::backup::BackupCommand;

/// `lifeboat backup`: a subcommand (what to back up, given on the command line), or
/// `--plan NAME` alone (what the config file's plan says).
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_required = false, arg_required_else_help = true)]
pub struct BackupArgs {
    /// Run this plan of the config file (--config / LIFEBOAT_CONFIG): its source, repository,
    /// tags and retention.
    #[arg(long, value_name = "NAME")]
    pub plan: Option<String>,
    /// Print the result as JSON (with --plan).
    #[arg(long, requires = "plan")]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<BackupCommand>,
}

/// `lifeboat run NAME`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The plan, as named in the config file (--config / LIFEBOAT_CONFIG).
    pub plan: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

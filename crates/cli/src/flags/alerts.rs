//! `lifeboat alerts` (alias `alert`): list lifeboatd's alerts, acknowledge one, test the
//! notification channels of the config.

use clap::{Args, Subcommand};

use super::ServerArgs;

/// `lifeboat alerts [--state S]`, `lifeboat alerts ack ID`, `lifeboat alerts test`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub command: Option<AlertsCommand>,
    #[command(flatten)]
    pub list: AlertsListArgs,
}

/// The listing (the default of `lifeboat alerts`).
#[derive(Args, Debug)]
pub struct AlertsListArgs {
    /// firing, acknowledged, resolved, open (firing or acknowledged, the default) or all.
    #[arg(long, default_value = "open", value_name = "STATE")]
    pub state: String,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// What `lifeboat alerts` does besides listing.
#[derive(Subcommand, Debug)]
pub enum AlertsCommand {
    /// Acknowledge an alert: it stays open, but stops notifying, until it resolves (or --until).
    Ack {
        /// The alert's id.
        id: String,
        /// Why, or what is being done about it.
        #[arg(long)]
        comment: Option<String>,
        /// Acknowledged only until then: an RFC 3339 time or a duration from now (`4h`, `2d`).
        #[arg(long, value_name = "TIME|DURATION")]
        until: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Send a test message through each notification channel of the config (or one) and
    /// print, per channel, `success` or the exact failure. Needs no running lifeboatd.
    Test(AlertTestArgs),
}

/// `lifeboat alerts test`.
#[derive(Args, Debug)]
pub struct AlertTestArgs {
    /// Only this channel.
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

//! `lifeboat status` and `lifeboat jobs`: a running lifeboatd, over its HTTP API.

use std::path::PathBuf;

use clap::Args;

/// Where lifeboatd listens and how to authenticate. The token comes from the environment
/// (`LIFEBOAT_TOKEN`) or a file, never from an argument: argv is visible to other users.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// lifeboatd's base URL.
    #[arg(long, env = "LIFEBOAT_SERVER", default_value = "http://127.0.0.1:8081", value_name = "URL")]
    pub server: String,
    /// A file whose first line is the API token (default: the LIFEBOAT_TOKEN variable).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Print JSON (the API's document).
    #[arg(long)]
    pub json: bool,
}

/// `lifeboat status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub server: ServerArgs,
}

/// `lifeboat jobs [ID]`.
#[derive(Args, Debug)]
pub struct JobsArgs {
    /// One job, by id.
    pub id: Option<u64>,
    /// Only jobs of this plan.
    #[arg(long, conflicts_with = "id")]
    pub plan: Option<String>,
    /// Only jobs in this state (queued, running, succeeded, failed, cancelled).
    #[arg(long, conflicts_with = "id")]
    pub state: Option<String>,
    /// At most this many jobs (newest first).
    #[arg(long, conflicts_with = "id")]
    pub limit: Option<u32>,
    #[command(flatten)]
    pub server: ServerArgs,
}

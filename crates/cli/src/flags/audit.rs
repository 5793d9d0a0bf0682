//! `lifeboat audit list|verify`: the tamper-evident audit log in lifeboatd's state database.

use clap::{Args, Subcommand};

use super::StateArg;

/// `lifeboat audit ...`.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// The audit log's entries, oldest first.
    List(AuditListArgs),
    /// Walk the hash chain, compare it with the heads sealed into the repositories, and name
    /// the first entry that does not fit (exit code 3 when the log was tampered with).
    Verify {
        #[command(flatten)]
        state: StateArg,
    },
}

/// `lifeboat audit list`.
#[derive(Args, Debug)]
pub struct AuditListArgs {
    /// Only entries at or after this time: RFC 3339, or a duration back from now (`24h`, `7d`).
    #[arg(long, value_name = "TIME|DURATION")]
    pub since: Option<String>,
    /// At most this many entries (the newest).
    #[arg(long)]
    pub limit: Option<u32>,
    #[command(flatten)]
    pub state: StateArg,
}

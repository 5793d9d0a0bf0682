//! `lifeboat token`: lifeboatd's API tokens in its state database.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Which state database: `--state`, else the config's `[service] state`, else lifeboatd's
/// default path.
#[derive(Args, Debug, Clone)]
pub struct StateArg {
    /// lifeboatd's state database (default: the config's `[service] state`, else
    /// `$XDG_STATE_HOME/lifeboat/lifeboatd.sqlite`, `/var/lib/lifeboat/lifeboatd.sqlite` as root).
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `lifeboat token create|list|revoke`.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token; its text is printed once, on standard output, and stored only hashed.
    Create {
        /// Who or what uses it (unique among live tokens).
        #[arg(long)]
        name: String,
        /// read, operate, admin, metrics (comma-separated or repeated).
        #[arg(long = "scope", value_name = "SCOPE", value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Valid this long (`90d`, `12h`); forever when omitted.
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        #[command(flatten)]
        state: StateArg,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        state: StateArg,
    },
    /// Revoke a token by id or name.
    Revoke {
        /// The token's id (16 hex digits) or name.
        token: String,
        #[command(flatten)]
        state: StateArg,
    },
}

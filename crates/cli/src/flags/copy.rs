//! `lifeboat copy` and `lifeboat sync`: the destination repository.

use std::path::PathBuf;

use clap::Args;

/// The repository backups are copied into, and its password.
#[derive(Args, Debug)]
pub struct Destination {
    /// Destination repository URL.
    #[arg(long)]
    pub to: String,
    /// Destination password file. Default: $LIFEBOAT_TO_PASSWORD, then a prompt.
    #[arg(long, env = "LIFEBOAT_TO_PASSWORD_FILE")]
    pub to_password_file: Option<PathBuf>,
}

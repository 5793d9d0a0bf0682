//! The options every command takes: where the repository is, how to unlock it, and how
//! to reach its storage.

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Repository URL or path (file:///abs/path, /abs/path, relative/path).
    #[arg(long, env = "LIFEBOAT_REPO", global = true)]
    pub repo: Option<String>,
    /// Read the repository password from this file (first line). Default: $LIFEBOAT_PASSWORD, then a prompt.
    #[arg(long, env = "LIFEBOAT_PASSWORD_FILE", global = true)]
    pub password_file: Option<PathBuf>,
    /// Unlock with a key file instead of a password.
    #[arg(long, env = "LIFEBOAT_KEY_FILE", global = true)]
    pub key_file: Option<PathBuf>,
    /// Read with an X25519 identity file (lbsk1...) instead of a password.
    #[arg(long, env = "LIFEBOAT_IDENTITY_FILE", global = true)]
    pub identity_file: Option<PathBuf>,
    /// Write-only: seal backups for these recipients (lbpk1...) without any secret.
    #[arg(long = "recipient", global = true)]
    pub recipients: Vec<String>,
    /// Write-only: sign manifests with this writer key (lbws1..., registered with `key writer add`).
    #[arg(long, env = "LIFEBOAT_WRITER_KEY_FILE", global = true)]
    pub writer_key_file: Option<PathBuf>,
    /// Where to remember each repository's config generation, master key and recipients
    /// (default: $XDG_STATE_HOME/lifeboat, else ~/.local/state/lifeboat).
    #[arg(long, env = "LIFEBOAT_STATE_DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// Accept a repository config older than one this host has seen (or one that lost
    /// recipients), e.g. after restoring the config from a backup on purpose.
    #[arg(long, global = true)]
    pub accept_config_rollback: bool,
    /// Trust the manifest signers the config lists now, although this host never saw them
    /// in a config it could authenticate (a reader holding only an identity, after a new
    /// writer was registered or the master key rotated). Check `lifeboat key list` first.
    #[arg(long, global = true)]
    pub trust_new_signers: bool,
    /// Keep this repository inside the tenant's prefix (tenants/NAME/) of the storage.
    #[arg(long, env = "LIFEBOAT_TENANT", global = true)]
    pub tenant: Option<String>,
    /// Upload bandwidth limit in bytes per second.
    #[arg(long, value_name = "BYTES_PER_SEC", global = true)]
    pub limit_upload: Option<u64>,
    /// Download bandwidth limit in bytes per second.
    #[arg(long, value_name = "BYTES_PER_SEC", global = true)]
    pub limit_download: Option<u64>,
    /// Configuration file with plans and their retention (TOML).
    #[arg(long, env = "LIFEBOAT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// More log output (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Cores to compress, encrypt and hash on (default: all).
    #[arg(long, global = true)]
    pub parallelism: Option<usize>,
}

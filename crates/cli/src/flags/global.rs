//! The options every command takes: where the repository is, how to unlock it, and how
//! to reach its storage. `--help` shows them under their own heading, after the command's.
//!
//! Every `LIFEBOAT_*_FILE` variable set to the empty string counts as unset (a
//! `LIFEBOAT_PASSWORD_FILE=` left in a unit file or a shell profile means "no file", not
//! the path ""): `main` removes such variables before clap reads the environment.

use std::path::PathBuf;

use clap::Args;

/// The help heading of the options every command takes.
pub const GLOBAL_HEADING: &str = "Global options";

#[derive(Args, Debug, Clone)]
#[command(next_help_heading = GLOBAL_HEADING)]
pub struct Global {
    /// Repository URL or path (file:///abs/path, /abs/path, relative/path).
    #[arg(long, env = "LIFEBOAT_REPO", global = true)]
    pub repo: Option<String>,
    /// Read the repository password from this file (first line). Default: $LIFEBOAT_PASSWORD_COMMAND
    /// (a command whose output is the password), then $LIFEBOAT_PASSWORD, then a prompt.
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
    /// Upload bandwidth limit in bytes per second: 5M, 512K, 10MB, 1048576 (K/M/G/T and
    /// KiB/MiB/GiB/TiB are powers of 1024, KB/MB/GB/TB powers of 1000, a plain number is bytes).
    #[arg(long, value_name = "BYTES_PER_SEC", global = true, value_parser = parse_size)]
    pub limit_upload: Option<u64>,
    /// Download bandwidth limit in bytes per second, with the suffixes of --limit-upload.
    #[arg(long, value_name = "BYTES_PER_SEC", global = true, value_parser = parse_size)]
    pub limit_download: Option<u64>,
    /// Configuration file with plans and their retention (TOML).
    #[arg(long, env = "LIFEBOAT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// More log output: -v info, -vv debug, -vvv trace of lifeboat's own crates (LIFEBOAT_LOG
    /// takes a tracing filter instead).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Cores to compress, encrypt and hash on (default: all).
    #[arg(long, global = true)]
    pub parallelism: Option<usize>,
    /// Where to cache format 3 index objects, one folder per repository (default:
    /// $XDG_CACHE_HOME/lifeboat, else ~/.cache/lifeboat). Deleting it loses nothing.
    #[arg(long, env = "LIFEBOAT_CACHE_DIR", global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Use no local cache (even with --cache-dir or LIFEBOAT_CACHE_DIR set): download every
    /// index object at each start.
    #[arg(long, global = true)]
    pub no_cache: bool,
}

/// A byte count with an optional unit (`5M`, `64KiB`, `1GB`), as `lifeboat_storage::units::parse_bytes` reads it.
pub fn parse_size(text: &str) -> Result<u64, String> {
    lifeboat_storage::units::parse_bytes(text).map_err(|e| e.to_string())
}

/// [`parse_size`] for a value that must fit 32 bits (a segment size).
pub fn parse_size_u32(text: &str) -> Result<u32, String> {
    let bytes = parse_size(text)?;
    u32::try_from(bytes).map_err(|_| format!("{text} ({bytes} bytes) is more than {} bytes", u32::MAX))
}

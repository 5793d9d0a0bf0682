//! `lifeboat`: the command-line face of the Lifeboat crates. It parses arguments, reads
//! secrets from the environment, files or the terminal, and calls the libraries.

mod es_cmd;
mod forget_cmd;
mod output;
mod progress;
mod retention_cmd;
mod secrets;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use lifeboat_crypto::{Argon2Params, Identity, RecipientPublicKey};
use lifeboat_repo::{BackupRequest, Credential, InitOptions, Manifest, Repository};

use crate::output::{print_json, print_manifest, print_summaries};
use crate::secrets::{SecretSource, new_password};

/// Exit code when `verify` found damage.
const EXIT_DAMAGE: u8 = 3;
/// Exit code after Ctrl-C.
const EXIT_INTERRUPTED: u8 = 130;
/// Exit code after SIGTERM.
const EXIT_TERMINATED: u8 = 143;

#[derive(Parser, Debug)]
#[command(name = "lifeboat", version, about = "Encrypted, verifiable backups of files, streams and databases")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct Global {
    /// Repository URL or path (file:///abs/path, /abs/path, relative/path).
    #[arg(long, env = "LIFEBOAT_REPO", global = true)]
    repo: Option<String>,
    /// Read the repository password from this file (first line). Default: $LIFEBOAT_PASSWORD, then a prompt.
    #[arg(long, env = "LIFEBOAT_PASSWORD_FILE", global = true)]
    password_file: Option<PathBuf>,
    /// Unlock with a key file instead of a password.
    #[arg(long, env = "LIFEBOAT_KEY_FILE", global = true)]
    key_file: Option<PathBuf>,
    /// Read with an X25519 identity file (lbsk1...) instead of a password.
    #[arg(long, env = "LIFEBOAT_IDENTITY_FILE", global = true)]
    identity_file: Option<PathBuf>,
    /// Write-only: seal backups for these recipients (lbpk1...) without any secret.
    #[arg(long = "recipient", global = true)]
    recipients: Vec<String>,
    /// Write-only: sign manifests with this writer key (lbws1..., registered with `key writer add`).
    #[arg(long, env = "LIFEBOAT_WRITER_KEY_FILE", global = true)]
    writer_key_file: Option<PathBuf>,
    /// Where to remember each repository's config generation, master key and recipients
    /// (default: $XDG_STATE_HOME/lifeboat, else ~/.local/state/lifeboat).
    #[arg(long, env = "LIFEBOAT_STATE_DIR", global = true)]
    state_dir: Option<PathBuf>,
    /// Accept a repository config older than one this host has seen (or one that lost
    /// recipients), e.g. after restoring the config from a backup on purpose.
    #[arg(long, global = true)]
    accept_config_rollback: bool,
    /// Trust the manifest signers the config lists now, although this host never saw them
    /// in a config it could authenticate (a reader holding only an identity, after a new
    /// writer was registered or the master key rotated). Check `lifeboat key list` first.
    #[arg(long, global = true)]
    trust_new_signers: bool,
    /// Keep this repository inside the tenant's prefix (tenants/NAME/) of the storage.
    #[arg(long, env = "LIFEBOAT_TENANT", global = true)]
    tenant: Option<String>,
    /// Upload bandwidth limit in bytes per second.
    #[arg(long, value_name = "BYTES_PER_SEC", global = true)]
    limit_upload: Option<u64>,
    /// Download bandwidth limit in bytes per second.
    #[arg(long, value_name = "BYTES_PER_SEC", global = true)]
    limit_download: Option<u64>,
    /// Configuration file with plans and their retention (TOML).
    #[arg(long, env = "LIFEBOAT_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// More log output (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Cores to compress, encrypt and hash on (default: all).
    #[arg(long, global = true)]
    parallelism: Option<usize>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a new repository.
    Init(InitArgs),
    /// Back up files or a stream.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// List backups.
    List {
        /// Only backups of this plan.
        #[arg(long)]
        plan: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one backup.
    Show {
        /// Backup id, unique prefix, or `latest`.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check that backups are intact (exit code 3 when damage is found).
    Verify {
        /// Backup id, unique prefix, or `latest`; all backups when omitted.
        id: Option<String>,
        /// Also decrypt and decompress everything and compare plaintext digests.
        #[arg(long)]
        deep: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restore a backup into a new directory, to standard output, or into a live database.
    #[command(group = clap::ArgGroup::new("destination").required(true).args(["target", "stdout", "to"]))]
    Restore {
        /// Backup id, unique prefix, or `latest`.
        id: String,
        /// A new or empty directory to restore into (database backups: the raw dump files).
        #[arg(long)]
        target: Option<PathBuf>,
        /// Write the backup's stream (or the tar stream of a files backup) to standard output.
        #[arg(long)]
        stdout: bool,
        /// Which object of a multi-object backup to write to standard output.
        #[arg(long, requires = "stdout")]
        object: Option<String>,
        /// Restore a database backup into this server: postgres://, mysql:// or redis:// URL.
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        db: RestoreDbArgs,
    },
    /// Copy backups to another repository (keeps ids; data is not re-encrypted).
    Copy {
        /// Backup id, unique prefix, or `latest`; all backups when omitted.
        id: Option<String>,
        /// Destination repository URL.
        #[arg(long)]
        to: String,
        /// Destination password file. Default: $LIFEBOAT_TO_PASSWORD, then a prompt.
        #[arg(long, env = "LIFEBOAT_TO_PASSWORD_FILE")]
        to_password_file: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make another repository hold every backup this one holds (idempotent, resumable).
    Sync {
        /// Destination repository URL.
        #[arg(long)]
        to: String,
        /// Destination password file. Default: $LIFEBOAT_TO_PASSWORD, then a prompt.
        #[arg(long, env = "LIFEBOAT_TO_PASSWORD_FILE")]
        to_password_file: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage passwords, key files, recipients and the master key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Forget backups that a retention policy does not keep (restic's flags).
    Forget {
        /// Only backups of this plan.
        #[arg(long)]
        plan: Option<String>,
        #[command(flatten)]
        policy: retention_cmd::PolicyArgs,
        /// Show what would be forgotten without changing anything.
        #[arg(long)]
        dry_run: bool,
        /// Also delete the data that is no longer referenced.
        #[arg(long)]
        prune: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete data that no backup references (left by forget or by interrupted backups).
    Prune {
        /// Show what would be deleted without deleting.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Elasticsearch: snapshot repositories, policies, catalog and time-range restores.
    #[command(subcommand)]
    Es(es_cmd::EsCommand),
    /// Audit retention policies on a list of backups (no repository needed).
    #[command(subcommand)]
    Retention(retention_cmd::RetentionCommand),
    /// Remove dead repository locks: expired ones, and those whose process on this host is gone.
    Unlock {
        /// Remove every lock, not only dead ones. Only when no other lifeboat runs.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Args, Debug)]
struct InitArgs {
    /// Argon2id memory in KiB for the password slot.
    #[arg(long, default_value_t = Argon2Params::default().memory_kib)]
    kdf_memory_kib: u32,
    /// Argon2id passes.
    #[arg(long, default_value_t = Argon2Params::default().iterations)]
    kdf_iterations: u32,
    /// Argon2id lanes.
    #[arg(long, default_value_t = Argon2Params::default().parallelism)]
    kdf_parallelism: u32,
    /// Plaintext bytes per segment (4096..=16777216).
    #[arg(long, default_value_t = lifeboat_crypto::DEFAULT_SEGMENT)]
    segment_size: u32,
    /// zstd level for new objects (0 = no compression).
    #[arg(long, default_value_t = 3)]
    compression_level: i32,
    /// Label of the first key slot.
    #[arg(long)]
    label: Option<String>,
}

#[derive(Subcommand, Debug)]
enum BackupCommand {
    /// Back up files and directory trees.
    Files {
        /// Files and directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        meta: BackupMeta,
    },
    /// Back up PostgreSQL with pg_dump (custom format, one stream per database).
    Postgres {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        meta: BackupMeta,
    },
    /// Back up MySQL or MariaDB with mariadb-dump/mysqldump --single-transaction.
    Mysql {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        meta: BackupMeta,
    },
    /// Back up Redis: an RDB snapshot, or a logical export that restores into a live server.
    Redis {
        /// Server URL, e.g. redis://host:6379/0 (password: REDISCLI_AUTH or --db-password-file).
        #[arg(long)]
        url: String,
        /// `rdb` (exact snapshot of every database) or `logical` (SCAN + DUMP, TTLs kept).
        #[arg(long, default_value = "rdb")]
        mode: String,
        /// Only keys matching this pattern (logical mode).
        #[arg(long)]
        pattern: Option<String>,
        /// Read the password from this file.
        #[arg(long)]
        db_password_file: Option<PathBuf>,
        #[command(flatten)]
        meta: BackupMeta,
    },
    /// Back up standard input as one stream.
    Stdin {
        /// Name of the stream (e.g. `app.sql`).
        #[arg(long)]
        name: String,
        #[command(flatten)]
        meta: BackupMeta,
    },
}

/// Options of `restore --to`.
#[derive(Args, Debug)]
struct RestoreDbArgs {
    /// Create the database first (PostgreSQL, MySQL).
    #[arg(long, requires = "to")]
    create: bool,
    /// Drop existing objects before restoring them (PostgreSQL).
    #[arg(long, requires = "to")]
    clean: bool,
    /// Parallel restore jobs where the format allows (PostgreSQL).
    #[arg(long, requires = "to")]
    jobs: Option<u32>,
    /// Read the database password from this file (else the URL or PGPASSWORD/MYSQL_PWD/REDISCLI_AUTH).
    #[arg(long, requires = "to")]
    db_password_file: Option<PathBuf>,
}

/// Which database and what of it.
#[derive(Args, Debug)]
struct DbArgs {
    /// Server URL, e.g. postgres://backup@db:5432/app (a password in the URL is never recorded).
    #[arg(long)]
    url: String,
    /// Every database (PostgreSQL adds roles and tablespaces through pg_dumpall --globals-only).
    #[arg(long)]
    all: bool,
    /// Only this table (repeatable).
    #[arg(long = "table")]
    tables: Vec<String>,
    /// Leave out this table (repeatable).
    #[arg(long = "exclude-table")]
    exclude_tables: Vec<String>,
    /// Schema only, no data.
    #[arg(long, conflicts_with = "data_only")]
    schema_only: bool,
    /// Data only, no schema.
    #[arg(long)]
    data_only: bool,
    /// Read the database password from this file (else the URL or PGPASSWORD/MYSQL_PWD).
    #[arg(long)]
    db_password_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct BackupMeta {
    /// Plan the backup belongs to.
    #[arg(long)]
    plan: Option<String>,
    /// Tag (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Host name to record (default: this host).
    #[arg(long)]
    host: Option<String>,
    /// Keep the backup immutable for N days with object lock (bucket must have it enabled).
    #[arg(long, value_name = "N")]
    lock_days: Option<u32>,
    /// Object-lock mode: `governance` (privileged users may lift it) or `compliance` (nobody can).
    #[arg(long, default_value = "governance", value_parser = ["governance", "compliance"], requires = "lock_days")]
    lock_mode: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// List key slots and recipients.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a password (from --new-password-file, $LIFEBOAT_NEW_PASSWORD or a prompt) or a key file.
    Add {
        /// Read the new password from this file.
        #[arg(long, conflicts_with = "new_key_file")]
        new_password_file: Option<PathBuf>,
        /// Add a key-file slot for this file.
        #[arg(long)]
        new_key_file: Option<PathBuf>,
        /// Create the key file with 32 random bytes first (mode 0600; it must not exist).
        #[arg(long, requires = "new_key_file")]
        generate: bool,
        /// A note for operators.
        #[arg(long)]
        label: Option<String>,
    },
    /// Change the password that unlocked the repository.
    Passwd {
        /// Read the new password from this file.
        #[arg(long)]
        new_password_file: Option<PathBuf>,
    },
    /// Remove a key slot by id.
    Remove {
        /// Slot id (see `key list`).
        slot: String,
    },
    /// Replace the master key; other slots are dropped. Data objects are not rewritten.
    Rotate {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// X25519 recipients: hosts that can write backups they cannot read.
    #[command(subcommand)]
    Recipient(RecipientCommand),
    /// Ed25519 writer keys: what write-only hosts sign their backups with.
    #[command(subcommand)]
    Writer(WriterCommand),
}

#[derive(Subcommand, Debug)]
enum WriterCommand {
    /// Generate a writer key (for a write-only host) and print its public key.
    Generate {
        /// Write the key here (mode 0600; must not exist).
        #[arg(long)]
        output: PathBuf,
    },
    /// Register a writer's public key (needs the password or key file).
    Add {
        /// The public key (lbwp1...).
        public_key: String,
        /// A note for operators.
        #[arg(long)]
        label: Option<String>,
    },
    /// Unregister a writer by id (see `key list`): its backups are refused from then on.
    Remove {
        /// Writer id.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum RecipientCommand {
    /// Generate an identity (secret key) and print its public key.
    Generate {
        /// Write the identity here (mode 0600; must not exist).
        #[arg(long)]
        output: PathBuf,
    },
    /// Seal every new manifest for this public key too.
    Add {
        /// The public key (lbpk1...).
        public_key: String,
        /// A note for operators.
        #[arg(long)]
        label: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if !cli.command.feeds_a_child() {
        restore_default_sigpipe();
    }
    init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lifeboat: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        let code = tokio::select! {
            result = run(cli) => match result {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("lifeboat: error: {}", output::escape_lines(&output::error_chain(&e)));
                    ExitCode::FAILURE
                }
            },
            code = interrupted() => {
                eprintln!("lifeboat: interrupted; the unfinished operation was abandoned and nothing incomplete was recorded");
                code
            }
        };
        // Whatever ended the command, remove the locks it held and the staging folder of
        // an abandoned restore before the process exits.
        lifeboat_repo::settle_lock_releases().await;
        lifeboat_repo::settle_restore_cleanup().await;
        code
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    code
}

/// Resolves on SIGINT (exit code 130) or SIGTERM (143), so both abandon the operation
/// the same way: its locks and a restore's staging folder are removed.
async fn interrupted() -> ExitCode {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            // Without a handler SIGTERM keeps its default action; only SIGINT is caught.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => ExitCode::from(EXIT_INTERRUPTED),
        () = terminate => ExitCode::from(EXIT_TERMINATED),
    }
}

impl Command {
    /// True when the command writes into a child process's standard input (`restore --to`
    /// pipes the dump into pg_restore or mysql). Such a command must keep SIGPIPE ignored: a
    /// child that stops reading (it failed) then gives us a write error we can report, with
    /// the child's message and our locks cleaned up, instead of killing us silently.
    fn feeds_a_child(&self) -> bool {
        matches!(self, Command::Restore { to: Some(_), .. })
    }
}

/// Rust ignores SIGPIPE, which turns `lifeboat list | head` into write errors. Like other
/// Unix filters, end quietly when the reader of our output goes away.
fn restore_default_sigpipe() {
    // SAFETY: called in main before the runtime starts, so no other thread exists yet;
    // SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LIFEBOAT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}

fn repo_url(global: &Global) -> Result<String> {
    global.repo.clone().context("no repository given: pass --repo URL or set LIFEBOAT_REPO")
}

/// Opens a storage URL with the layers every repository gets: retries with backoff on
/// transient failures (remote backends only), the bandwidth limits, and the tenant prefix
/// when one is given.
fn storage(url: &str, global: &Global) -> Result<Arc<dyn lifeboat_storage::Storage>> {
    use lifeboat_storage::layer::{RateLimitLayer, RetryLayer, TenantLayer};
    let opened = lifeboat_storage::open_url(url)?;
    let base: Arc<dyn lifeboat_storage::Storage> =
        if lifeboat_storage::StorageUrl::parse(url)?.is_remote() { Arc::new(RetryLayer::new(opened)) } else { opened };
    let limited = RateLimitLayer::new(base, global.limit_upload, global.limit_download);
    Ok(match &global.tenant {
        Some(tenant) => Arc::new(TenantLayer::new(limited, tenant)?),
        None => Arc::new(limited),
    })
}

/// The credential for the main repository, from the flags and environment.
fn credential(global: &Global) -> Result<Credential> {
    if let Some(path) = &global.key_file {
        let content = std::fs::read(path).with_context(|| format!("cannot read key file {}", path.display()))?;
        return Ok(Credential::KeyFile(zeroize::Zeroizing::new(content)));
    }
    if let Some(path) = &global.identity_file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| format!("cannot read identity file {}", path.display()))?,
        );
        let identity = Identity::parse(&text).with_context(|| format!("identity file {}", path.display()))?;
        return Ok(Credential::Identity(Arc::new(identity)));
    }
    let source =
        SecretSource { file: global.password_file.clone(), env: "LIFEBOAT_PASSWORD", prompt: "repository password" };
    if global.password_file.is_none()
        && std::env::var_os("LIFEBOAT_PASSWORD").is_none()
        && !global.recipients.is_empty()
    {
        let recipients = global
            .recipients
            .iter()
            .map(|r| RecipientPublicKey::parse(r))
            .collect::<Result<Vec<_>, _>>()
            .context("--recipient")?;
        return Ok(Credential::WriteOnly(recipients));
    }
    Ok(Credential::Password(source.read()?))
}

/// The known-state store, the rollback override and the writer key, from the flags.
fn open_options(global: &Global) -> Result<lifeboat_repo::OpenOptions> {
    let state_dir = global.state_dir.clone().or_else(lifeboat_repo::FileStateStore::default_dir);
    if state_dir.is_none() {
        tracing::info!("no state directory (set LIFEBOAT_STATE_DIR or HOME): config rollbacks cannot be detected");
    }
    let writer_key = match &global.writer_key_file {
        Some(path) => {
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read writer key file {}", path.display()))?,
            );
            let key = lifeboat_crypto::WriterKey::parse(&text)
                .with_context(|| format!("writer key file {}", path.display()))?;
            Some(Arc::new(key))
        }
        None => None,
    };
    Ok(lifeboat_repo::OpenOptions {
        state: state_dir.map(|d| Arc::new(lifeboat_repo::FileStateStore::new(d)) as _),
        accept_config_rollback: global.accept_config_rollback,
        trust_new_signers: global.trust_new_signers,
        writer_key,
    })
}

async fn open_repo(global: &Global) -> Result<Repository> {
    let url = repo_url(global)?;
    let mut repo = Repository::open_with(storage(&url, global)?, credential(global)?, open_options(global)?).await?;
    if let Some(p) = global.parallelism {
        repo.set_parallelism(p);
    }
    Ok(repo)
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        Command::Init(args) => init(&global, args).await,
        Command::Backup(cmd) => backup(&global, cmd).await,
        Command::List { plan, json } => {
            let repo = open_repo(&global).await?;
            let (manifests, unreadable) = repo.list().await?;
            let (sealed_elsewhere, unreadable): (Vec<_>, Vec<_>) = unreadable.into_iter().partition(sealed_for_others);
            if !sealed_elsewhere.is_empty() {
                eprintln!(
                    "lifeboat: note: {} backup(s) are sealed for recipients only; pass --identity-file to list them",
                    sealed_elsewhere.len()
                );
            }
            for e in &unreadable {
                eprintln!("lifeboat: warning: {}", output::error_chain(&anyhow::Error::new(clone_err(e))));
            }
            let summaries: Vec<_> = manifests
                .iter()
                .filter(|m| plan.as_ref().is_none_or(|p| m.plan.as_ref() == Some(p)))
                .map(lifeboat_repo::BackupSummary::from)
                .collect();
            if json {
                print_json(&summaries)?
            } else {
                print_summaries(&summaries)
            }
            Ok(if unreadable.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Show { id, json } => {
            let repo = open_repo(&global).await?;
            let manifest = repo.resolve(&id, None).await?;
            if json {
                print_json(&output::manifest_view(&manifest)?)?
            } else {
                print_manifest(&manifest)
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { id, deep, json } => {
            let repo = open_repo(&global).await?;
            let (manifests, unreadable) = match id {
                Some(id) => match repo.resolve(&id, None).await {
                    Ok(m) => (vec![m], Vec::new()),
                    // A damaged manifest is damage found, not a failure to look.
                    Err(
                        e @ (lifeboat_repo::RepoError::BadManifest { .. }
                        | lifeboat_repo::RepoError::Object { .. }
                        | lifeboat_repo::RepoError::LatestUnknown { .. }),
                    ) => (Vec::new(), vec![e]),
                    Err(e) => return Err(e.into()),
                },
                None => repo.list().await?,
            };
            let (sealed_elsewhere, unreadable): (Vec<_>, Vec<_>) = unreadable.into_iter().partition(sealed_for_others);
            if !sealed_elsewhere.is_empty() {
                eprintln!(
                    "lifeboat: note: {} backup(s) are sealed for recipients only and were not checked (pass --identity-file)",
                    sealed_elsewhere.len()
                );
            }
            let mut report = repo.verify(&manifests, deep).await?;
            for e in &unreadable {
                report.add_unreadable(e);
            }
            if json {
                print_json(&report)?;
            } else {
                output::print_verify(&report);
            }
            Ok(if report.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DAMAGE) })
        }
        Command::Restore { id, target, stdout, object, to, db } => {
            let repo = open_repo(&global).await?;
            let manifest = repo.resolve(&id, None).await?;
            match to {
                Some(to) => restore_database(&repo, &manifest, &to, db).await,
                None => restore(&repo, &manifest, target, stdout, object.as_deref()).await,
            }
        }
        Command::Copy { id, to, to_password_file, json } => {
            let repo = open_repo(&global).await?;
            let manifests = match id {
                Some(id) => vec![repo.resolve(&id, None).await?],
                None => all_backups(&repo).await?,
            };
            copy(&repo, &manifests, &to, to_password_file, json, &global).await
        }
        Command::Sync { to, to_password_file, json } => {
            let repo = open_repo(&global).await?;
            let manifests = all_backups(&repo).await?;
            copy(&repo, &manifests, &to, to_password_file, json, &global).await
        }
        Command::Key(cmd) => key(&global, cmd).await,
        Command::Retention(cmd) => retention_cmd::run(cmd),
        Command::Es(cmd) => es_cmd::run(cmd).await,
        Command::Forget { plan, policy, dry_run, prune, json } => {
            let repo = open_repo(&global).await?;
            let configured = forget_cmd::configured_policy(global.config.as_deref(), plan.as_deref())?;
            forget_cmd::forget(&repo, plan.as_deref(), &policy, configured, dry_run, prune, json).await
        }
        Command::Prune { dry_run, json } => {
            let repo = open_repo(&global).await?;
            forget_cmd::prune(&repo, dry_run, json).await
        }
        Command::Unlock { all } => {
            let url = repo_url(&global)?;
            let removed = lifeboat_repo::remove_locks(storage(&url, &global)?.as_ref(), all).await?;
            for (lock, state) in &removed {
                let i = &lock.info;
                println!(
                    "removed {:?} lock {} ({:?}, pid {} on {}, since {}): {}",
                    i.kind,
                    lock.key,
                    i.operation,
                    i.pid,
                    i.host,
                    i.created,
                    match state {
                        lifeboat_repo::LockState::Stale => "its process is gone",
                        lifeboat_repo::LockState::Expired => "expired",
                        lifeboat_repo::LockState::Running => "removed with --all although its process runs",
                        lifeboat_repo::LockState::Live => "removed with --all",
                    }
                );
            }
            if removed.is_empty() {
                println!("no {}locks to remove", if all { "" } else { "expired or stale " });
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Every backup, or an error when one cannot be read (copying around it would hide it).
async fn all_backups(repo: &Repository) -> Result<Vec<Manifest>> {
    let (all, unreadable) = repo.list().await?;
    if let Some(e) = unreadable.into_iter().next() {
        return Err(anyhow::Error::new(e).context("a backup of the source cannot be read"));
    }
    Ok(all)
}

async fn copy(
    repo: &Repository,
    manifests: &[Manifest],
    to: &str,
    to_password_file: Option<PathBuf>,
    json: bool,
    global: &Global,
) -> Result<ExitCode> {
    let source = SecretSource { file: to_password_file, env: "LIFEBOAT_TO_PASSWORD", prompt: "destination password" };
    let trust = lifeboat_repo::OpenOptions { writer_key: None, ..open_options(global)? };
    let dest = Repository::open_with(storage(to, global)?, Credential::Password(source.read()?), trust)
        .await
        .with_context(|| format!("opening destination {to}"))?;
    let report = repo.copy_to(&dest, manifests).await?;
    if json {
        print_json(&report)?;
    } else {
        println!(
            "copied {} backup(s), {} already present; sent {} object(s) ({}), {} already there",
            report.copied.len(),
            report.skipped.len(),
            report.objects_sent,
            output::human_bytes(report.bytes_sent),
            report.objects_present
        );
        // A replica of the right size whose digest differed: say which were repaired.
        for key in &report.objects_repaired {
            println!("re-sent {key}: the destination's copy did not match its recorded BLAKE3 (corrupt replica)");
        }
        for problem in &report.manifests_repaired {
            println!("copied again {}", output::escape(problem));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A manifest written by a write-only host for recipients whose identity this handle lacks:
/// not damage, just not ours to read.
fn sealed_for_others(e: &lifeboat_repo::RepoError) -> bool {
    e.is_recipients_only()
}

/// RepoError is not Clone; re-create a displayable error for warnings.
fn clone_err(e: &lifeboat_repo::RepoError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

async fn init(global: &Global, args: InitArgs) -> Result<ExitCode> {
    let url = repo_url(global)?;
    let credential = match &global.key_file {
        Some(path) => Credential::KeyFile(zeroize::Zeroizing::new(
            std::fs::read(path).with_context(|| format!("cannot read key file {}", path.display()))?,
        )),
        None => Credential::Password(new_password(global.password_file.clone(), "LIFEBOAT_PASSWORD")?),
    };
    let options = InitOptions {
        segment_size: args.segment_size,
        compression_level: args.compression_level,
        kdf: Argon2Params {
            memory_kib: args.kdf_memory_kib,
            iterations: args.kdf_iterations,
            parallelism: args.kdf_parallelism,
        },
        label: args.label,
    };
    let repo = Repository::init_with(storage(&url, global)?, credential, options, open_options(global)?).await?;
    println!("created repository {} at {}", repo.id(), repo.location());
    if let lifeboat_storage::StorageUrl::File(path) = lifeboat_storage::StorageUrl::parse(&url)? {
        // Anyone who can read `config` can try passwords offline: say who can.
        match lifeboat_storage::FsStorage::new(&path).describe_access() {
            Ok(access) => println!("repository {} is {access}", path.display()),
            Err(e) => eprintln!("warning: cannot tell who can read {}: {e}", path.display()),
        }
    }
    eprintln!("Keep the password (or key file) safe: without it the backups cannot be read by anyone.");
    Ok(ExitCode::SUCCESS)
}

async fn backup(global: &Global, cmd: BackupCommand) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let started = std::time::Instant::now();
    let (manifest, json) = match cmd {
        BackupCommand::Files { paths, meta } => {
            let request = meta_request(&meta);
            let spinner = progress::spinner("backing up files");
            let result = repo.backup_files(&paths, request).await;
            progress::finish(spinner);
            (result?, meta.json)
        }
        BackupCommand::Postgres { db, meta } | BackupCommand::Mysql { db, meta } => {
            let options = lifeboat_dump::SourceOptions {
                all: db.all,
                tables: db.tables,
                exclude_tables: db.exclude_tables,
                schema_only: db.schema_only,
                data_only: db.data_only,
                password: db_password(db.db_password_file.as_deref())?,
                ..Default::default()
            };
            let source = lifeboat_dump::Source::from_url(&db.url, &options)?;
            (database_backup(&repo, &source, meta_request(&meta)).await?, meta.json)
        }
        BackupCommand::Redis { url, mode, pattern, db_password_file, meta } => {
            let options = lifeboat_dump::SourceOptions {
                redis_mode: mode.parse()?,
                key_pattern: pattern,
                password: db_password(db_password_file.as_deref())?,
                ..Default::default()
            };
            let source = lifeboat_dump::Source::from_url(&url, &options)?;
            (database_backup(&repo, &source, meta_request(&meta)).await?, meta.json)
        }
        BackupCommand::Stdin { name, meta } => {
            if name.trim().is_empty() {
                bail!("--name must not be empty");
            }
            let request = BackupRequest { kind: "stream".into(), name, ..meta_request(&meta) };
            let (reader, bar) = progress::counting(tokio::io::stdin(), "backing up stdin", None);
            let result = repo.backup_stream(reader, request).await;
            progress::finish(bar);
            (result?, meta.json)
        }
    };
    for w in &manifest.warnings {
        eprintln!("lifeboat: warning: {}", output::escape(w));
    }
    if json {
        print_json(&output::backup_result(&manifest, started.elapsed()))?;
    } else {
        println!(
            "backup {} done: {} read, {} stored, {:.1}s",
            manifest.short_id(),
            output::human_bytes(manifest.plain_size()),
            output::human_bytes(manifest.stored_size()),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn meta_request(meta: &BackupMeta) -> BackupRequest {
    let retention = meta.lock_days.map(|days| {
        let mode = lifeboat_storage::RetentionMode::parse(&meta.lock_mode)
            .unwrap_or(lifeboat_storage::RetentionMode::Governance);
        lifeboat_storage::Retention::days_from_now(mode, days)
    });
    BackupRequest {
        plan: meta.plan.clone(),
        tags: meta.tags.clone(),
        host: meta.host.clone(),
        retention,
        ..Default::default()
    }
}

fn db_password(file: Option<&std::path::Path>) -> Result<Option<lifeboat_dump::Secret>> {
    Ok(match file {
        Some(path) => Some(lifeboat_dump::Secret::from_file(path)?),
        None => None,
    })
}

async fn database_backup(
    repo: &Repository,
    source: &lifeboat_dump::Source,
    request: BackupRequest,
) -> Result<Manifest> {
    let spinner = progress::spinner("dumping");
    let result = lifeboat_ops::backup_database(repo, source, request).await;
    progress::finish(spinner);
    Ok(result?)
}

async fn restore_database(repo: &Repository, manifest: &Manifest, to: &str, db: RestoreDbArgs) -> Result<ExitCode> {
    let options = lifeboat_dump::RestoreOptions {
        create: db.create,
        clean: db.clean,
        jobs: db.jobs,
        password: db_password(db.db_password_file.as_deref())?,
    };
    let restorer = lifeboat_dump::Restorer::from_url(to, &options)?;
    let spinner = progress::spinner("restoring into the database");
    let result = lifeboat_ops::restore_database(repo, manifest, &restorer).await;
    progress::finish(spinner);
    for report in result? {
        for w in &report.warnings {
            eprintln!("lifeboat: warning: {}: {}", output::escape(&report.name), output::escape(w));
        }
        eprintln!(
            "restored {} ({}) into {}",
            output::escape(&report.name),
            output::human_bytes(report.bytes),
            output::escape(&report.target)
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn restore(
    repo: &Repository,
    manifest: &Manifest,
    target: Option<PathBuf>,
    stdout: bool,
    object: Option<&str>,
) -> Result<ExitCode> {
    if stdout {
        // A duplicate of fd 1 as a plain file: restored chunks go to write(2) as they come
        // out of the pipeline, without the copies of an async or line-buffered stdout.
        use std::os::fd::AsFd;
        let out = std::io::stdout().as_fd().try_clone_to_owned().context("cannot use standard output")?;
        repo.restore_to_sync_writer(manifest, object, std::fs::File::from(out)).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let target = target.context("give --target DIR or --stdout")?;
    let spinner = progress::spinner("restoring");
    let result = repo.restore_to_dir_with(manifest, &target, &lifeboat_repo::RestoreOptions::default()).await;
    progress::finish(spinner);
    let report = result?;
    for w in &report.warnings {
        eprintln!("lifeboat: warning: {}", output::escape(w));
    }
    eprintln!("restored backup {} into {}", manifest.short_id(), output::escape(&report.path.display().to_string()));
    Ok(ExitCode::SUCCESS)
}

async fn key(global: &Global, cmd: KeyCommand) -> Result<ExitCode> {
    if let KeyCommand::Writer(WriterCommand::Generate { output }) = &cmd {
        let key = lifeboat_crypto::WriterKey::generate()?;
        secrets::write_secret_file(
            output,
            format!("# lifeboat writer key; public key {}\n{}\n", key.public(), *key.to_text()).as_bytes(),
        )?;
        println!("{}", key.public());
        eprintln!("writer key written to {}; register it with `lifeboat key writer add`", output.display());
        return Ok(ExitCode::SUCCESS);
    }
    if let KeyCommand::Recipient(RecipientCommand::Generate { output }) = &cmd {
        let identity = Identity::generate()?;
        secrets::write_secret_file(
            output,
            format!("# lifeboat identity; public key {}\n{}\n", identity.public(), *identity.to_text()).as_bytes(),
        )?;
        println!("{}", identity.public());
        eprintln!("identity written to {}; keep it offline and safe", output.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut repo = open_repo(global).await?;
    match cmd {
        KeyCommand::List { json } => {
            #[derive(serde::Serialize)]
            struct Listing<'a> {
                slots: &'a [lifeboat_repo::SlotEntry],
                recipients: &'a [lifeboat_repo::RecipientEntry],
                writers: &'a [lifeboat_repo::WriterEntry],
            }
            let config = repo.config();
            if json {
                // Slots carry only wrapped keys and salts; nothing here is secret.
                print_json(&Listing {
                    slots: &config.slots,
                    recipients: &config.recipients,
                    writers: &config.writers,
                })?;
            } else {
                for s in &config.slots {
                    println!(
                        "slot {}  {:?}  {}  {}",
                        s.id,
                        s.kind,
                        s.created.format("%Y-%m-%d %H:%M"),
                        s.label.as_deref().unwrap_or("")
                    );
                }
                for r in &config.recipients {
                    println!("recipient {}  {}  {}", r.id, r.public_key, r.label.as_deref().unwrap_or(""));
                }
                for w in &config.writers {
                    println!("writer {}  {}  {}", w.id, w.public_key, w.label.as_deref().unwrap_or(""));
                }
            }
        }
        KeyCommand::Add { new_password_file, new_key_file, generate, label } => {
            let credential = match new_key_file {
                Some(path) => {
                    if generate {
                        let bytes = lifeboat_crypto::random_bytes::<32>()?;
                        secrets::write_secret_file(&path, &bytes)?;
                    }
                    let content =
                        std::fs::read(&path).with_context(|| format!("cannot read key file {}", path.display()))?;
                    Credential::KeyFile(zeroize::Zeroizing::new(content))
                }
                None => Credential::Password(new_password(new_password_file, "LIFEBOAT_NEW_PASSWORD")?),
            };
            let id = repo.add_slot(credential, Argon2Params::default(), label).await?;
            println!("added key slot {id}");
        }
        KeyCommand::Passwd { new_password_file } => {
            let password = new_password(new_password_file, "LIFEBOAT_NEW_PASSWORD")?;
            let id = repo.change_credential(Credential::Password(password), Argon2Params::default()).await?;
            println!("password changed (new slot {id})");
        }
        KeyCommand::Remove { slot } => {
            repo.remove_slot(&slot).await?;
            println!("removed key slot {slot}");
        }
        KeyCommand::Rotate { json } => {
            let report = repo.rotate_master_key().await?;
            if json {
                print_json(&report)?;
            } else {
                println!("new master key {}; {} manifest(s) re-sealed", report.new_key_id, report.manifests_resealed);
                if !report.slots_removed.is_empty() {
                    println!("removed slots {} (re-add them with `lifeboat key add`)", report.slots_removed.join(", "));
                }
            }
        }
        KeyCommand::Recipient(RecipientCommand::Add { public_key, label }) => {
            let public = RecipientPublicKey::parse(&public_key)?;
            repo.add_recipient(public, label).await?;
            println!("added recipient {public}");
        }
        KeyCommand::Writer(WriterCommand::Add { public_key, label }) => {
            let public = lifeboat_crypto::WriterPublicKey::parse(&public_key)?;
            repo.add_writer(public, label).await?;
            println!("registered writer {public}");
        }
        KeyCommand::Writer(WriterCommand::Remove { id }) => {
            repo.remove_writer(&id).await?;
            println!("removed writer {id}");
        }
        KeyCommand::Recipient(RecipientCommand::Generate { .. })
        | KeyCommand::Writer(WriterCommand::Generate { .. }) => {
            unreachable!("handled above")
        }
    }
    Ok(ExitCode::SUCCESS)
}

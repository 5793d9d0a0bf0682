//! The command line: clap structs, one file per command group. Nothing here does any work;
//! The commands module runs what these describe.

mod alerts;
mod audit;
mod backup;
mod copy;
mod dr;
mod export;
mod global;
mod init;
mod key;
mod restore;
mod retention;
mod run;
mod scope;
mod server;
mod token;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use alerts::{AlertTestArgs, AlertsArgs, AlertsCommand, AlertsListArgs};
pub use audit::AuditCommand;
pub use backup::{BackupCommand, BackupMeta, FilterArgs};
pub use copy::Destination;
pub use dr::{DrAssessArgs, DrCommand, DrDrillArgs, DrRecoverArgs};
pub use export::{CleanArgs, ExportArgs, ExportCommand, FilesArgs, ImportArgs, OutputArgs, TablesArgs};
pub use global::Global;
pub use init::InitArgs;
pub use key::{KeyCommand, RecipientCommand, WriterCommand};
pub use restore::{RestoreDbArgs, RestorePick};
pub use retention::{PolicyArgs, RetentionCommand};
pub use run::{BackupArgs, RunArgs};
pub use scope::ScopeArgs;
pub use server::{JobsArgs, ServerArgs, StatusArgs};
pub use token::{StateArg, TokenCommand};

#[derive(Parser, Debug)]
#[command(
    name = "lifeboat",
    version,
    about = "Encrypted, verifiable backups of files, streams and databases",
    after_help = "Sizes (--limit-upload, --limit-download, init --segment-size) take K/M/G/T or KiB/MiB/GiB/TiB \
                  (powers of 1024), KB/MB/GB/TB (powers of 1000) or plain bytes: 5M, 64KiB, 1GB.\n\
                  Colour: only on a terminal; NO_COLOR=1 turns it off, CLICOLOR_FORCE=1 on."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new repository.
    Init(InitArgs),
    /// Back up files, a database or a stream; or, with --plan, what a plan of the config says.
    Backup(BackupArgs),
    /// Run a plan of the config file once: back up its source, then apply its retention.
    Run(RunArgs),
    /// List backups (all of them, or those within --plan, --host, --tag, --path).
    List {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one backup.
    Show {
        /// Backup id, unique prefix, or `latest`.
        id: String,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check that backups are intact (exit code 3 when damage is found).
    Verify {
        /// Backup id, unique prefix, or `latest`; all backups (within the scope) when omitted.
        id: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Also decrypt and decompress everything and compare plaintext digests.
        #[arg(long, visible_alias = "read-data")]
        deep: bool,
        /// Read and check only part of the data: `n/m` (the n-th of m groups, so m runs
        /// with n = 1..m cover everything) or a percentage (`10%`, picked at random).
        #[arg(long, value_name = "n/m|P%", conflicts_with = "deep", value_parser = parse_subset)]
        read_data_subset: Option<lifeboat_repo::DataSubset>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restore a backup into a new directory, to standard output, or into a live database.
    #[command(group = clap::ArgGroup::new("destination").required(true).args(["target", "stdout", "to"]))]
    Restore {
        /// Backup id, unique prefix, or `latest`.
        id: String,
        #[command(flatten)]
        scope: ScopeArgs,
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
        #[command(flatten)]
        pick: RestorePick,
    },
    /// List a directory of a format 3 backup (type and mode, owner, size, mtime, name).
    Ls {
        /// Backup id, unique prefix, or `latest`.
        id: String,
        /// The directory (or file) in the backup; its root when omitted.
        path: Option<PathBuf>,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write one file of a format 3 backup to standard output.
    Dump {
        /// Backup id, unique prefix, or `latest`.
        id: String,
        /// The file's path in the backup.
        path: PathBuf,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// What changed between two format 3 backups: `+` added, `-` removed, `M` changed.
    Diff {
        /// The older backup: id, unique prefix, or `latest`.
        first: String,
        /// The newer backup: id, unique prefix, or `latest`.
        second: String,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Find entries matching patterns (the --exclude language) in every format 3 backup.
    Find {
        /// Patterns on paths from the backup's root: `*.conf`, `/etc/ssh`, `**/id_*`.
        #[arg(required = true, value_name = "PATTERN")]
        patterns: Vec<String>,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild what can be derived again from the repository's data.
    #[command(subcommand)]
    Repair(RepairCommand),
    /// The repository's backups, raw size (what they hold), stored size and dedup ratio.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy backups to another repository (keeps ids; data is not re-encrypted).
    Copy {
        /// Backup id, unique prefix, or `latest`; all backups (within the scope) when omitted.
        id: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        dest: Destination,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make another repository hold every backup this one holds (idempotent, resumable).
    Sync {
        #[command(flatten)]
        dest: Destination,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Migrate this repository to format 3 in place: new files backups become format 3 and
    /// every format 2 files backup is re-chunked (same ids); streams stay format 2.
    Migrate {
        /// Only list what would be done.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage passwords, key files, recipients and the master key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Forget backups that a retention policy does not keep (restic's flags), or the
    /// backups named by id.
    Forget {
        /// Forget exactly these backups (ids, unique prefixes or `latest`) instead of
        /// applying a policy.
        #[arg(value_name = "ID")]
        ids: Vec<String>,
        /// Only backups of this plan (and within --host, --tag, --path): the others are
        /// neither kept nor forgotten.
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        policy: PolicyArgs,
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
        /// Format v3: repack a pack (copy its live chunks, then condemn it) when more than
        /// this percentage of its bytes is unreferenced.
        #[arg(long, value_name = "PERCENT", default_value_t = 10.0, value_parser = parse_percent)]
        max_unused: f64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Elasticsearch: snapshot repositories, policies, catalog and time-range restores.
    #[command(subcommand)]
    Es(crate::es::EsCommand),
    /// lifeboatd's API tokens: create (shown once), list, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// A running lifeboatd's health: overall, then per plan (--server, LIFEBOAT_TOKEN).
    Status(StatusArgs),
    /// A running lifeboatd's jobs, newest first, or one job by id.
    Jobs(JobsArgs),
    /// A running lifeboatd's alerts; acknowledge one; test the notification channels.
    #[command(visible_alias = "alert")]
    Alerts(AlertsArgs),
    /// The tamper-evident audit log: list it, verify its hash chain and sealed heads.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Disaster recovery: assess readiness, recover a scenario, drill a plan or scenario.
    #[command(subcommand)]
    Dr(DrCommand),
    /// Export tables as JSON, or plain named files that expire.
    Export(ExportArgs),
    /// Import a table export into another database, mapping ids.
    Import(ImportArgs),
    /// Audit retention policies on a list of backups (no repository needed).
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Remove dead repository locks: expired ones, and those whose process on this host is gone.
    Unlock {
        /// Remove every lock, not only dead ones. Only when no other lifeboat runs.
        #[arg(long)]
        all: bool,
    },
    /// This binary's version and the repository format versions it reads and writes.
    Version {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script generated from this binary's options.
    ///
    /// bash: `lifeboat completions bash > /etc/bash_completion.d/lifeboat`;
    /// zsh: `lifeboat completions zsh > "${fpath[1]}/_lifeboat"`;
    /// fish: `lifeboat completions fish > ~/.config/fish/completions/lifeboat.fish`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output, or write one page per command into a directory.
    ///
    /// `lifeboat man | man -l -` reads it; `lifeboat man --dir /usr/local/share/man/man1`
    /// installs lifeboat.1, lifeboat-backup.1, lifeboat-backup-files.1 and the rest.
    Man {
        /// Write lifeboat.1 and one lifeboat-COMMAND.1 per (sub)command here instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

impl Command {
    /// True when the command may write into a child process's standard input: `restore --to`
    /// pipes the dump into pg_restore or mysql, a database backup (and `run`, which may be
    /// one) writes queries into the psql/mariadb session that holds the dump's snapshot and
    /// computes its content digest, drills and recoveries restore, assess probes through
    /// psql, exports and imports talk to the database clients. Such a command must keep
    /// SIGPIPE ignored: a child that stops reading (it failed) then gives us a write error we
    /// can report, with the child's message and our locks and temporary objects cleaned up,
    /// instead of killing us silently with no message.
    pub fn feeds_a_child(&self) -> bool {
        matches!(
            self,
            Command::Restore { to: Some(_), .. }
                | Command::Backup(_)
                | Command::Run(_)
                | Command::Dr(_)
                | Command::Export(_)
                | Command::Import(_)
        )
    }
}

/// Parses `--read-data-subset`.
fn parse_subset(text: &str) -> Result<lifeboat_repo::DataSubset, String> {
    text.parse()
}

/// `lifeboat repair`.
#[derive(clap::Subcommand, Debug)]
pub enum RepairCommand {
    /// Rebuild the format 3 index from the packs alone (each pack's own directory): after
    /// lost or damaged index objects. The old index objects are replaced, packs untouched.
    Index {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A percentage from 0 to 100 (`--max-unused`).
fn parse_percent(text: &str) -> Result<f64, String> {
    let value: f64 = text.trim_end_matches('%').parse().map_err(|_| format!("{text:?} is not a number"))?;
    if !(0.0..=100.0).contains(&value) {
        return Err(format!("{value} is not a percentage from 0 to 100"));
    }
    Ok(value)
}

//! `lifeboat backup ...`: what to back up and what to record about it.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// Back up files and directory trees.
    Files {
        /// Files and directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Format 3 repositories: read every file, even those the parent backup (the newest of
        /// the same plan, host and paths) says are unchanged.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        meta: BackupMeta,
        // Last: its help heading applies to the flags after it too.
        #[command(flatten)]
        filter: FilterArgs,
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

/// What `backup files` leaves out (the pattern language: docs/FILTERS.md).
#[derive(Args, Debug)]
#[command(next_help_heading = "What to leave out (docs/FILTERS.md)")]
pub struct FilterArgs {
    /// Leave out what matches PATTERN (repeatable; `!PATTERN` re-includes; the last match decides).
    #[arg(long = "exclude", value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Like --exclude, ignoring case (repeatable).
    #[arg(long = "iexclude", value_name = "PATTERN")]
    pub iexclude: Vec<String>,
    /// Read exclude patterns from FILE, one a line; `#` starts a comment line (repeatable).
    #[arg(long = "exclude-file", value_name = "FILE")]
    pub exclude_file: Vec<PathBuf>,
    /// Like --exclude-file, ignoring case (repeatable).
    #[arg(long = "iexclude-file", value_name = "FILE")]
    pub iexclude_file: Vec<PathBuf>,
    /// Keep only the directory and its tag file where a file NAME (starting with CONTENT) is present (repeatable).
    #[arg(long = "exclude-if-present", value_name = "NAME[:CONTENT]")]
    pub exclude_if_present: Vec<String>,
    /// Leave out the contents of directories with a valid CACHEDIR.TAG (bford.info/cachedir).
    #[arg(long)]
    pub exclude_caches: bool,
    /// Do not cross into other file systems or mounts (mount points are recorded empty).
    #[arg(short = 'x', long)]
    pub one_file_system: bool,
}

/// Which database and what of it.
#[derive(Args, Debug)]
pub struct DbArgs {
    /// Server URL, e.g. postgres://backup@db:5432/app (a password in the URL is never recorded).
    #[arg(long)]
    pub url: String,
    /// Every database (PostgreSQL adds roles and tablespaces through pg_dumpall --globals-only).
    #[arg(long)]
    pub all: bool,
    /// Only this table (repeatable).
    #[arg(long = "table")]
    pub tables: Vec<String>,
    /// Leave out this table (repeatable).
    #[arg(long = "exclude-table")]
    pub exclude_tables: Vec<String>,
    /// Schema only, no data.
    #[arg(long, conflicts_with = "data_only")]
    pub schema_only: bool,
    /// Data only, no schema.
    #[arg(long)]
    pub data_only: bool,
    /// Read the database password from this file (else the URL or PGPASSWORD/MYSQL_PWD).
    #[arg(long)]
    pub db_password_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BackupMeta {
    /// Plan the backup belongs to.
    #[arg(long)]
    pub plan: Option<String>,
    /// Tag (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Host name to record (default: this host).
    #[arg(long)]
    pub host: Option<String>,
    /// Keep the backup immutable for N days with object lock (bucket must have it enabled).
    #[arg(long, value_name = "N")]
    pub lock_days: Option<u32>,
    /// Object-lock mode: `governance` (privileged users may lift it) or `compliance` (nobody can).
    #[arg(long, default_value = "governance", value_parser = ["governance", "compliance"], requires = "lock_days")]
    pub lock_mode: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

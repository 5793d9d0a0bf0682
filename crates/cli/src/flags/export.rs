//! `lifeboat export` and `lifeboat import` (issue 16).

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `lifeboat export ...`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// What to export.
    #[command(subcommand)]
    pub command: ExportCommand,
}

/// The export subcommands.
#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// Tables of a PostgreSQL database as exact JSON, with a manifest.
    Postgres(TablesArgs),
    /// Tables of a MySQL/MariaDB database as exact JSON, with a manifest.
    Mysql(TablesArgs),
    /// Files and directories (configuration bundles), secrets redacted with --redact.
    Files(FilesArgs),
    /// Delete the exports at a destination that are past their retention; files without a
    /// Lifeboat manifest are never deleted.
    Clean(CleanArgs),
}

/// Where an export goes.
#[derive(Args, Debug)]
pub struct OutputArgs {
    /// Write the export as a plain directory (manifest.json, tables/ or files/).
    #[arg(long, conflicts_with_all = ["to", "into_repo"], required_unless_present_any = ["to", "into_repo"])]
    pub out: Option<PathBuf>,
    /// Store the export as a backup (kind `export`, object `export.tar.zst`, tags `export`
    /// and `export-id:ID`) in the repository of --repo, encrypted like any backup.
    #[arg(long, conflicts_with = "to")]
    pub into_repo: bool,
    /// Write one named .tar.gz/.tar.zst here: an [exports.NAME] of the config, a directory or
    /// a storage URL (s3://, cos://, webdav://). Encrypted for every --recipient given.
    #[arg(long)]
    pub to: Option<String>,
    /// Naming template (default: the destination's, else {plan}_{id}_{time:%Y%m%d%H%M%S}_{random:10}).
    #[arg(long)]
    pub name: Option<String>,
    /// What {plan} stands for (default: the [exports.NAME]'s plan or NAME, else `export`).
    #[arg(long)]
    pub plan: Option<String>,
    /// The export's id ({id}; default: 16 random characters).
    #[arg(long)]
    pub id: Option<String>,
    /// tar.gz or tar.zst (default: the destination's, else tar.gz).
    #[arg(long)]
    pub compression: Option<String>,
    /// Print the manifest and where it went as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `lifeboat export postgres|mysql`.
#[derive(Args, Debug)]
pub struct TablesArgs {
    /// The database, e.g. postgres://app@db:5432/shop or mysql://app@db/shop.
    #[arg(long)]
    pub url: String,
    /// A file holding the database password (instead of the URL's).
    #[arg(long)]
    pub db_password_file: Option<PathBuf>,
    /// A table to export (repeat, or comma-separate; `schema.table` on PostgreSQL).
    #[arg(long = "table", required = true, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Only rows matching this SQL condition, in every table (e.g. "bk_biz_id = 2").
    #[arg(long = "where")]
    pub filter: Option<String>,
    /// json (one array per table) or jsonl (one row per line).
    #[arg(long, default_value = "json")]
    pub format: String,
    /// Where it goes.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `lifeboat export files`.
#[derive(Args, Debug)]
pub struct FilesArgs {
    /// Files and directories to export.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Replace the values of keys containing these words in YAML/TOML/INI/JSON files
    /// (comma-separated, case-insensitive, e.g. password,secret,token).
    #[arg(long, value_delimiter = ',')]
    pub redact: Vec<String>,
    /// Where it goes.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `lifeboat export clean`.
#[derive(Args, Debug)]
pub struct CleanArgs {
    /// An [exports.NAME] of the config, a directory or a storage URL (default: every
    /// destination of the config with a retention).
    #[arg(long)]
    pub dest: Option<String>,
    /// Keep complete exports this many days (default: the destination's keep-days).
    #[arg(long)]
    pub keep_days: Option<u32>,
    /// Keep failed exports this many days (default: the destination's, else --keep-days).
    #[arg(long)]
    pub keep_failed_days: Option<u32>,
    /// Only say what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the decisions as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `lifeboat import ...`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The export: a directory or a .tar.gz/.tar.zst made by `lifeboat export`.
    pub from: PathBuf,
    /// The database to load it into (the tables must exist).
    #[arg(long)]
    pub url: String,
    /// A file holding the database password (instead of the URL's).
    #[arg(long)]
    pub db_password_file: Option<PathBuf>,
    /// Id mappings COLUMN=OLD:NEW (or TABLE.COLUMN=OLD:NEW), repeat or comma-separate.
    #[arg(long = "map", value_delimiter = ',')]
    pub maps: Vec<String>,
    /// A row whose key exists: error (default: nothing is imported), skip, or update.
    #[arg(long, default_value = "error")]
    pub on_conflict: String,
    /// Only these tables of the export.
    #[arg(long = "table", value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

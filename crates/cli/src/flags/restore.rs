//! `lifeboat restore`: salvaging a damaged tree, and how to restore into a live database.

use std::path::PathBuf;

use clap::Args;

/// Options of `restore`: `--salvage` (with `--target`), and those of `--to`.
#[derive(Args, Debug)]
pub struct RestoreDbArgs {
    /// Restore what can be restored of a damaged files backup: every file whose bytes all
    /// authenticate, skipping the damaged segments; the lost files are listed (exit 3).
    #[arg(long, requires = "target", conflicts_with_all = ["stdout", "to"])]
    pub salvage: bool,
    /// Create the database first (PostgreSQL, MySQL).
    #[arg(long, requires = "to")]
    pub create: bool,
    /// Drop existing objects before restoring them (PostgreSQL).
    #[arg(long, requires = "to")]
    pub clean: bool,
    /// Parallel restore jobs where the format allows (PostgreSQL).
    #[arg(long, requires = "to")]
    pub jobs: Option<u32>,
    /// Read the database password from this file (else the URL or PGPASSWORD/MYSQL_PWD/REDISCLI_AUTH).
    #[arg(long, requires = "to")]
    pub db_password_file: Option<PathBuf>,
}

/// What part of a format 3 files backup `restore --target` writes (format 2 backups are
/// restored whole).
#[derive(Args, Debug, Clone, Default)]
pub struct RestorePick {
    /// Restore only entries matching this pattern (the --exclude language, on paths from
    /// the backup's root; the directories leading to them come too); repeat it for more.
    #[arg(long = "include", value_name = "PATTERN", conflicts_with_all = ["stdout", "to"])]
    pub include: Vec<String>,
    /// Leave out entries matching this pattern (an excluded directory is not read at all).
    #[arg(long = "exclude", value_name = "PATTERN", conflicts_with_all = ["stdout", "to"])]
    pub exclude: Vec<String>,
    /// Restore only this path of the backup: a directory's contents go into the target, a
    /// file goes into it under its name.
    #[arg(value_name = "PATH", conflicts_with_all = ["stdout", "to"])]
    pub path: Option<PathBuf>,
}

impl RestorePick {
    /// Whether anything narrower than the whole backup was asked for.
    pub fn is_partial(&self) -> bool {
        !self.include.is_empty() || !self.exclude.is_empty() || self.path.is_some()
    }
}

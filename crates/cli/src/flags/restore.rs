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

//! `lifeboat restore --to`: how to restore into a live database.

use std::path::PathBuf;

use clap::Args;

/// Options of `restore --to`.
#[derive(Args, Debug)]
pub struct RestoreDbArgs {
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

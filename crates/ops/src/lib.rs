//! # lifeboat-ops
//!
//! Operations that combine the lower crates. Today: backing up a database
//! ([`lifeboat_dump::Source`]) into a [`Repository`], streaming each dump straight into the
//! encrypted pipeline with no temporary file, and restoring a database backup into a live
//! server; and the TOML [`Config`] of plans with their retention. The scheduler, drills and
//! alerts will live here too (see DESIGN.md).
//!
//! ```no_run
//! use lifeboat_dump::{Source, SourceOptions};
//! use lifeboat_repo::{BackupRequest, Credential, Repository};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let storage = lifeboat_storage::open_url("/srv/backups/repo")?;
//! let repo = Repository::open(storage, Credential::password("correct horse")).await?;
//! let source = Source::from_url("postgres://backup@db:5432/app", &SourceOptions::default())?;
//! let manifest = lifeboat_ops::backup_database(&repo, &source, BackupRequest::default()).await?;
//! println!("backup {} holds {:?}", manifest.id, manifest.objects.iter().map(|o| &o.name).collect::<Vec<_>>());
//! # Ok(()) }
//! ```

mod config;
mod database;

pub use config::{Config, ConfigError, PlanConfig};
pub use database::{DatabaseRestore, OpsError, backup_database, restore_database};

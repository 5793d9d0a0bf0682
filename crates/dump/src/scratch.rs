//! Scratch targets for restore drills: a database with a generated name on a server (created
//! here, dropped after), or a Redis server started on a free loopback port. A scratch target
//! never is, and never falls back to, a production database: creating one fails with the
//! reason instead.

use std::path::PathBuf;

use crate::Restorer;
use crate::conn::Secret;
use crate::content::ContentDigest;
use crate::error::{DumpError, Result};

/// Every scratch database's name starts with this; only such names are ever dropped.
pub const SCRATCH_PREFIX: &str = "lifeboat_drill_";

/// A database created for a drill on a PostgreSQL or MySQL/MariaDB server.
#[derive(Debug)]
pub struct ScratchDatabase {
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates a new empty database named `lifeboat_drill_<label>_<random>` on the server
    /// `server_url` names (its database part, if any, is ignored).
    pub async fn create(server_url: &str, password: Option<Secret>, label: &str) -> Result<ScratchDatabase> {
        let _ = (password, label);
        Err(DumpError::InvalidOptions {
            target: lifeboat_storage::redact_url(server_url),
            reason: "not built yet".into(),
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database's URL (no password).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A restorer that restores any single-database stream into exactly this database.
    pub fn restorer(&self) -> Result<Restorer> {
        Err(DumpError::InvalidOptions { target: self.url.clone(), reason: "not built yet".into() })
    }

    /// Measures this database like `like` ([`crate::content::measure`]).
    pub async fn measure(&self, like: &ContentDigest) -> Result<ContentDigest> {
        let _ = like;
        Err(DumpError::InvalidOptions { target: self.url.clone(), reason: "not built yet".into() })
    }

    /// Drops the database (terminating its sessions).
    pub async fn drop_database(self) -> Result<()> {
        Ok(())
    }
}

/// The scratch databases (names with [`SCRATCH_PREFIX`]) on a server: what a drill that died
/// left behind, for the next one to drop.
pub async fn leftover_databases(server_url: &str, password: Option<Secret>) -> Result<Vec<String>> {
    let _ = password;
    Err(DumpError::InvalidOptions { target: lifeboat_storage::redact_url(server_url), reason: "not built yet".into() })
}

/// Drops scratch database `name` on a server; a name without [`SCRATCH_PREFIX`] is refused.
pub async fn drop_leftover(server_url: &str, password: Option<Secret>, name: &str) -> Result<()> {
    let _ = (password, name);
    Err(DumpError::InvalidOptions { target: lifeboat_storage::redact_url(server_url), reason: "not built yet".into() })
}

/// How to get a Redis for a drill.
#[derive(Clone, Debug, Default)]
pub struct ScratchRedisOptions {
    /// The `redis-server` program (default: found on `PATH`).
    pub server_binary: Option<PathBuf>,
    /// Where the started server keeps its files (default: a new temporary directory).
    pub dir: Option<PathBuf>,
    /// A designated drill instance to use instead of starting one: it must be empty, and it
    /// is flushed afterwards.
    pub designated: Option<String>,
    /// The designated instance's password.
    pub password: Option<Secret>,
}

/// A Redis a drill restores into: started on a free loopback port (and stopped after), or a
/// designated drill instance that was empty.
#[derive(Debug)]
pub struct ScratchRedis {
    url: String,
}

impl ScratchRedis {
    /// Starts (or checks) the scratch Redis.
    pub async fn start(options: ScratchRedisOptions) -> Result<ScratchRedis> {
        let _ = options;
        Err(DumpError::InvalidOptions { target: "redis".into(), reason: "not built yet".into() })
    }

    /// Its URL (no password).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A restorer into it.
    pub fn restorer(&self) -> Result<Restorer> {
        Err(DumpError::InvalidOptions { target: self.url.clone(), reason: "not built yet".into() })
    }

    /// Measures it like `like`.
    pub async fn measure(&self, like: &ContentDigest) -> Result<ContentDigest> {
        let _ = like;
        Err(DumpError::InvalidOptions { target: self.url.clone(), reason: "not built yet".into() })
    }

    /// Stops the server it started (and removes its files), or flushes the designated one.
    pub async fn stop(self) -> Result<()> {
        Ok(())
    }
}

//! lifeboat-dump: streaming dumpers and restorers for PostgreSQL, MySQL/MariaDB and Redis.
//!
//! A dump is a [`DumpStream`]: the bytes the database tool writes to its standard output
//! (no temporary dump file), a name, and a [`DumpFinish`] future that resolves to the stream's
//! [`SourceMetadata`] once the tool exited successfully. The consumer (the repository's backup
//! pipeline) reads the stream to its end, then awaits `finish`; only then is the dump good:
//!
//! ```no_run
//! # async fn run() -> Result<(), lifeboat_dump::DumpError> {
//! use lifeboat_dump::{Source, SourceOptions};
//! let source = Source::from_url("postgres://app@127.0.0.1:5432/shop", &SourceOptions::default())?;
//! let mut dumps = source.dump().await?;          // checks connection, tools and versions
//! while let Some(stream) = dumps.next().await? {  // e.g. "db/shop.pgdump"
//!     let mut sink = tokio::io::sink();            // the repository's writer in real use
//!     let (bytes, metadata) = stream.copy_to(&mut sink).await?;
//!     println!("{} bytes, consistent at {:?}", bytes, metadata.position);
//! }
//! # Ok(()) }
//! ```
//!
//! Dropping a stream before its end kills the tool and reaps it; awaiting `finish` after an
//! early drop of the reader fails with [`DumpError::Incomplete`]. A tool that fails midway
//! (server killed, connection lost) makes `finish` fail with the tool's message.
//!
//! Restoring is the mirror image: [`Restorer::restore`] takes a stream name and an
//! [`tokio::io::AsyncRead`] and feeds it into a live server (`pg_restore`, `psql`, the
//! `mariadb`/`mysql` client, or Redis `RESTORE`).
//!
//! Every database stream records what it held ([`SourceMetadata::content`], a
//! [`ContentDigest`]: row counts and checksums, or Redis keys and a digest) unless
//! [`SourceOptions::skip_content`]; [`content::measure`] measures a restored copy the same way
//! and [`ContentDigest::compare`] names every difference. [`scratch`] makes the throwaway
//! targets restore drills restore into.
//!
//! Secrets: connection URLs print without their password ([`conn`]); passwords reach the tools
//! through a 0600 `PGPASSFILE`, a 0600 MySQL option file, or Lifeboat's own Redis client, never
//! through a child's argv; tool messages are scrubbed of the password before they become errors.
//!
//! External tools: `pg_dump`, `pg_dumpall`, `pg_restore`, `psql` (Debian `postgresql-client`);
//! `mariadb-dump`/`mysqldump`, `mariadb`/`mysql` (Debian `mariadb-client`). Redis needs no tool:
//! the RDB snapshot is read over the replication protocol (`PSYNC`) and the logical mode speaks
//! RESP directly.

#![warn(missing_docs)]

pub mod client;
pub mod conn;
pub mod content;
mod digest;
pub mod error;
pub mod metadata;
pub mod mysql;
pub mod postgres;
pub mod probe;
mod process;
pub mod redis;
pub mod scratch;
mod selection;
mod stream;

use lifeboat_storage::redact_url;
use tokio::io::AsyncRead;

pub use conn::{MysqlConn, PgConn, RedisConn, Secret};
pub use content::{ContentDigest, ContentMismatch, TableDigest};
pub use error::{DumpError, Result};
pub use metadata::{Position, SourceKind, SourceMetadata, ToolInfo};
pub use mysql::{MysqlOptions, MysqlRestoreOptions, MysqlRestorer, MysqlSource};
pub use postgres::{PostgresOptions, PostgresRestoreOptions, PostgresRestorer, PostgresSource};
pub use redis::{RedisMode, RedisOptions, RedisRestoreOptions, RedisRestorer, RedisSource};
pub use scratch::{
    SCRATCH_PREFIX, ScratchDatabase, ScratchRedis, ScratchRedisOptions, drop_leftover, leftover_databases,
    scratch_created, scratch_label, scratch_name,
};
pub use stream::{DumpFinish, DumpReader, DumpStream, Dumps};

/// What a restore did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RestoreReport {
    /// The stream restored.
    pub name: String,
    /// The server, as a redacted URL.
    pub target: String,
    /// The database restored into, when there is a single one.
    pub database: Option<String>,
    /// Bytes of dump consumed.
    pub bytes: u64,
    /// Non-fatal messages of the restore tool (e.g. roles that already existed).
    pub warnings: Vec<String>,
}

/// Options for [`Source::from_url`], the union of the per-database options (what a CLI parses).
#[derive(Clone, Debug, Default)]
pub struct SourceOptions {
    /// PostgreSQL: globals and every database. MySQL: every non-system database.
    pub all: bool,
    /// Only these tables.
    pub tables: Vec<String>,
    /// Leave out these tables.
    pub exclude_tables: Vec<String>,
    /// Only the schema (PostgreSQL, MySQL).
    pub schema_only: bool,
    /// Only the data (PostgreSQL, MySQL).
    pub data_only: bool,
    /// Redis: RDB snapshot (default) or logical export.
    pub redis_mode: RedisMode,
    /// Redis (logical): only keys matching this glob pattern.
    pub key_pattern: Option<String>,
    /// Use this password instead of the URL's (e.g. read from a password file).
    pub password: Option<Secret>,
    /// Do not record the content digest ([`SourceMetadata::content`]: row counts and
    /// checksums, or Redis keys and a digest) that every database stream records by default.
    pub skip_content: bool,
}

/// A database to back up, chosen by URL scheme.
#[derive(Clone, Debug)]
pub enum Source {
    /// `postgres://` / `postgresql://`
    Postgres(PostgresSource),
    /// `mysql://` / `mariadb://`
    Mysql(MysqlSource),
    /// `redis://`
    Redis(RedisSource),
}

fn scheme_of(url: &str) -> &str {
    url.split_once("://").map(|(s, _)| s).unwrap_or("")
}

impl Source {
    /// Builds a source from a URL and options. Options that make no sense for the kind
    /// (a key pattern for PostgreSQL, tables for Redis) are rejected.
    pub fn from_url(url: &str, opts: &SourceOptions) -> Result<Self> {
        let reject = |what: &str, kind: &str| {
            Err(DumpError::InvalidOptions {
                target: redact_url(url),
                reason: format!("{what} does not apply to {kind}"),
            })
        };
        match scheme_of(url) {
            "postgres" | "postgresql" => {
                if opts.key_pattern.is_some() || opts.redis_mode != RedisMode::default() {
                    return reject("a Redis option", "PostgreSQL");
                }
                let mut conn = PgConn::parse(url)?;
                if let Some(p) = &opts.password {
                    conn = conn.with_password(p.clone());
                }
                Ok(Source::Postgres(
                    PostgresSource::new(
                        conn,
                        PostgresOptions {
                            all: opts.all,
                            tables: opts.tables.clone(),
                            exclude_tables: opts.exclude_tables.clone(),
                            schema_only: opts.schema_only,
                            data_only: opts.data_only,
                            bindir: None,
                        },
                    )?
                    .skip_content(opts.skip_content),
                ))
            }
            "mysql" | "mariadb" => {
                if opts.key_pattern.is_some() || opts.redis_mode != RedisMode::default() {
                    return reject("a Redis option", "MySQL");
                }
                let mut conn = MysqlConn::parse(url)?;
                if let Some(p) = &opts.password {
                    conn = conn.with_password(p.clone());
                }
                Ok(Source::Mysql(
                    MysqlSource::new(
                        conn,
                        MysqlOptions {
                            all: opts.all,
                            tables: opts.tables.clone(),
                            exclude_tables: opts.exclude_tables.clone(),
                            schema_only: opts.schema_only,
                            data_only: opts.data_only,
                        },
                    )?
                    .skip_content(opts.skip_content),
                ))
            }
            "redis" | "rediss" => {
                if opts.all || !opts.tables.is_empty() || !opts.exclude_tables.is_empty() {
                    return reject("a table selection or --all", "Redis");
                }
                if opts.schema_only || opts.data_only {
                    return reject("schema-only/data-only", "Redis");
                }
                let mut conn = RedisConn::parse(url)?;
                if let Some(p) = &opts.password {
                    conn = conn.with_password(p.clone());
                }
                Ok(Source::Redis(
                    RedisSource::new(
                        conn,
                        RedisOptions { mode: opts.redis_mode, key_pattern: opts.key_pattern.clone() },
                    )?
                    .skip_content(opts.skip_content),
                ))
            }
            other => Err(DumpError::InvalidUrl {
                kind: "database",
                url: redact_url(url),
                reason: format!("unknown scheme `{other}` (expected postgres://, mysql:// or redis://)"),
            }),
        }
    }

    /// The database kind.
    pub fn kind(&self) -> SourceKind {
        match self {
            Source::Postgres(_) => SourceKind::Postgres,
            Source::Mysql(_) => SourceKind::Mysql,
            Source::Redis(_) => SourceKind::Redis,
        }
    }

    /// Checks connection and tools, and returns the streams to take, in order.
    pub async fn dump(&self) -> Result<Dumps> {
        match self {
            Source::Postgres(s) => s.dump().await,
            Source::Mysql(s) => s.dump().await,
            Source::Redis(s) => s.dump().await,
        }
    }
}

/// Options for [`Restorer::from_url`].
#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    /// Create the target database if missing (PostgreSQL, MySQL).
    pub create: bool,
    /// Parallel jobs (PostgreSQL, when restoring from a file).
    pub jobs: Option<u32>,
    /// Drop existing objects first (PostgreSQL `--clean --if-exists`).
    pub clean: bool,
    /// Use this password instead of the URL's.
    pub password: Option<Secret>,
}

/// A live server to restore into, chosen by URL scheme.
#[derive(Clone, Debug)]
pub enum Restorer {
    /// `postgres://`
    Postgres(PostgresRestorer),
    /// `mysql://`
    Mysql(MysqlRestorer),
    /// `redis://`
    Redis(RedisRestorer),
}

impl Restorer {
    /// Builds a restorer from a URL.
    pub fn from_url(url: &str, opts: &RestoreOptions) -> Result<Self> {
        match scheme_of(url) {
            "postgres" | "postgresql" => {
                let mut conn = PgConn::parse(url)?;
                if let Some(p) = &opts.password {
                    conn = conn.with_password(p.clone());
                }
                Ok(Restorer::Postgres(PostgresRestorer::new(
                    conn,
                    PostgresRestoreOptions {
                        create: opts.create,
                        jobs: opts.jobs.unwrap_or(1),
                        clean: opts.clean,
                        ..Default::default()
                    },
                )))
            }
            "mysql" | "mariadb" => {
                let mut conn = MysqlConn::parse(url)?;
                if let Some(p) = &opts.password {
                    conn = conn.with_password(p.clone());
                }
                Ok(Restorer::Mysql(MysqlRestorer::new(conn, MysqlRestoreOptions { create: opts.create })))
            }
            "redis" | "rediss" => {
                let mut conn = RedisConn::parse(url)?;
                if let Some(p) = &opts.password {
                    conn = conn.with_password(p.clone());
                }
                Ok(Restorer::Redis(RedisRestorer::new(conn, RedisRestoreOptions::default())))
            }
            other => Err(DumpError::InvalidUrl {
                kind: "database",
                url: redact_url(url),
                reason: format!("unknown scheme `{other}` (expected postgres://, mysql:// or redis://)"),
            }),
        }
    }

    /// Restores one stream, read to its end, into the server.
    pub async fn restore<R: AsyncRead + Unpin + Send + ?Sized>(
        &self,
        name: &str,
        reader: &mut R,
    ) -> Result<RestoreReport> {
        match self {
            Restorer::Postgres(r) => r.restore(name, reader).await,
            Restorer::Mysql(r) => r.restore(name, reader).await,
            Restorer::Redis(r) => r.restore(name, reader).await,
        }
    }
}

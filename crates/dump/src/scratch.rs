//! Scratch targets for restore drills: a database with a generated name on a server (created
//! here, dropped after), or a Redis server started on a free loopback port. A scratch target
//! never is, and never falls back to, a production database: creating one fails with the
//! reason instead.
//!
//! Names: `lifeboat_drill_<label>_<unix seconds>_<6 random [a-z0-9]>`, the label reduced to
//! `[a-z0-9_]` and at most 20 characters ([`scratch_name`], [`scratch_created`]). Only names
//! with [`SCRATCH_PREFIX`] are ever dropped ([`drop_leftover`]).
//!
//! A started Redis (`redis-server`) listens on 127.0.0.1 only, on a port that was free, with
//! no persistence (`save ""`, `appendonly no`), a random password (in a 0600 config file in
//! its own temporary directory, never on its command line) and is killed and reaped on
//! [`ScratchRedis::stop`] and when dropped.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::conn::{MysqlConn, PgConn, RedisConn, Secret};
use crate::content::{ContentDigest, DbConn, measure_conn};
use crate::error::{DumpError, Result};
use crate::mysql::{MysqlRestoreOptions, MysqlRestorer};
use crate::postgres::{PostgresRestoreOptions, PostgresRestorer};
use crate::process::random_bytes;
use crate::redis::{RedisRestoreOptions, RedisRestorer, RedisServer, flush_all, key_counts};
use crate::{Restorer, mysql, postgres};

/// Every scratch database's name starts with this; only such names are ever dropped.
pub const SCRATCH_PREFIX: &str = "lifeboat_drill_";

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A new scratch name for `label`: `lifeboat_drill_<label>_<unix seconds>_<6 random [a-z0-9]>`,
/// the label lower-cased, every other character than `[a-z0-9_]` replaced by `_`, cut to 20.
pub fn scratch_name(label: &str) -> Result<String> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let clean = scratch_label(label);
    let random: String = random_bytes(6)?.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect();
    Ok(format!("{SCRATCH_PREFIX}{clean}_{}_{random}", unix_now()))
}

/// The label part of the scratch names [`scratch_name`] makes of `label`: lower-case ASCII
/// letters, digits and `_` (anything else becomes `_`), at most 20 characters, `x` when empty.
pub fn scratch_label(label: &str) -> String {
    let clean: String = label
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' { c } else { '_' })
        .take(20)
        .collect();
    if clean.is_empty() { "x".to_string() } else { clean }
}

/// When the scratch database `name` was created (unix seconds), read from its name; `None`
/// for a name that is not a scratch name.
pub fn scratch_created(name: &str) -> Option<i64> {
    let rest = name.strip_prefix(SCRATCH_PREFIX)?;
    let (rest, random) = rest.rsplit_once('_')?;
    let (label, secs) = rest.rsplit_once('_')?;
    let ok_random = random.len() == 6 && random.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if label.is_empty() || !ok_random || secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    secs.parse().ok()
}

/// The server of a scratch database.
#[derive(Clone, Debug)]
enum Server {
    Postgres(PgConn),
    Mysql(MysqlConn),
}

impl Server {
    fn parse(server_url: &str, password: Option<Secret>) -> Result<Server> {
        match DbConn::parse(server_url, password.as_ref())? {
            DbConn::Postgres(c) => Ok(Server::Postgres(c)),
            DbConn::Mysql(c) => Ok(Server::Mysql(c)),
            DbConn::Redis(_) => Err(DumpError::InvalidOptions {
                target: lifeboat_storage::redact_url(server_url),
                reason: "a scratch database needs a PostgreSQL or MySQL server (Redis: ScratchRedis)".into(),
            }),
        }
    }

    fn target(&self) -> String {
        match self {
            Server::Postgres(c) => c.to_string(),
            Server::Mysql(c) => c.to_string(),
        }
    }

    /// The database the administrative statements run in (PostgreSQL).
    fn admin_db(c: &PgConn) -> String {
        c.database.clone().unwrap_or_else(|| "postgres".into())
    }

    fn with_database(&self, name: &str) -> DbConn {
        match self {
            Server::Postgres(c) => DbConn::Postgres(c.with_database(name)),
            Server::Mysql(c) => DbConn::Mysql(c.with_database(name)),
        }
    }

    async fn create(&self, name: &str) -> Result<()> {
        match self {
            Server::Postgres(c) => {
                postgres::admin_query(c, &Self::admin_db(c), "CREATE DATABASE :\"target\";\n", &[("target", name)])
                    .await?;
            }
            Server::Mysql(c) => {
                mysql::admin_query(c, &format!("CREATE DATABASE {};\n", mysql::quote_ident(name))).await?;
            }
        }
        Ok(())
    }

    async fn drop_db(&self, name: &str) -> Result<()> {
        if !name.starts_with(SCRATCH_PREFIX) {
            return Err(DumpError::InvalidOptions {
                target: self.target(),
                reason: format!("refusing to drop `{name}`: not a scratch database (no `{SCRATCH_PREFIX}` prefix)"),
            });
        }
        match self {
            Server::Postgres(c) => {
                let db = Self::admin_db(c);
                let sql = if postgres::server_version_num(c, &db).await? >= 130000 {
                    "DROP DATABASE IF EXISTS :\"target\" WITH (FORCE);\n"
                } else {
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = :'target';\n\
                     DROP DATABASE IF EXISTS :\"target\";\n"
                };
                postgres::admin_query(c, &db, sql, &[("target", name)]).await?;
            }
            Server::Mysql(c) => {
                mysql::admin_query(c, &format!("DROP DATABASE IF EXISTS {};\n", mysql::quote_ident(name))).await?;
            }
        }
        Ok(())
    }

    async fn leftovers(&self) -> Result<Vec<String>> {
        let rows = match self {
            Server::Postgres(c) => {
                postgres::admin_query(
                    c,
                    &Self::admin_db(c),
                    "SELECT datname FROM pg_database WHERE left(datname, length(:'prefix')) = :'prefix' ORDER BY 1;\n",
                    &[("prefix", SCRATCH_PREFIX)],
                )
                .await?
            }
            Server::Mysql(c) => {
                mysql::admin_query(
                    c,
                    &format!(
                        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, {}) = '{}' ORDER BY 1;\n",
                        SCRATCH_PREFIX.len(),
                        SCRATCH_PREFIX
                    ),
                )
                .await?
            }
        };
        Ok(rows.into_iter().filter_map(|r| r.into_iter().next()).filter(|n| n.starts_with(SCRATCH_PREFIX)).collect())
    }
}

/// A database created for a drill on a PostgreSQL or MySQL/MariaDB server.
#[derive(Debug)]
pub struct ScratchDatabase {
    name: String,
    url: String,
    server: Server,
    dropped: bool,
}

impl ScratchDatabase {
    /// Creates a new empty database named `lifeboat_drill_<label>_<unix seconds>_<random>`
    /// ([`scratch_name`]) on the server `server_url` names (its database part, if any, is only
    /// where PostgreSQL's `CREATE DATABASE` runs; default `postgres`). Fails with the server's
    /// reason (no privilege, unreachable...); never falls back to an existing database.
    pub async fn create(server_url: &str, password: Option<Secret>, label: &str) -> Result<ScratchDatabase> {
        let server = Server::parse(server_url, password)?;
        let name = scratch_name(label)?;
        server.create(&name).await.map_err(|e| DumpError::Server {
            target: server.target(),
            operation: format!("creating scratch database `{name}`"),
            detail: e.to_string(),
        })?;
        let url = match server.with_database(&name) {
            DbConn::Postgres(c) => c.to_string(),
            DbConn::Mysql(c) => c.to_string(),
            DbConn::Redis(c) => c.to_string(),
        };
        Ok(ScratchDatabase { name, url, server, dropped: false })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database's URL (no password).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A restorer that restores any single-database stream into exactly this database
    /// (PostgreSQL `db/<x>.pgdump` without ownership, `--no-owner`; MySQL `db/<x>.sql`).
    /// Streams of the whole server (`globals.sql`, `all-databases.sql`) are refused.
    pub fn restorer(&self) -> Result<Restorer> {
        Ok(match self.server.with_database(&self.name) {
            DbConn::Postgres(c) => Restorer::Postgres(
                PostgresRestorer::new(c, PostgresRestoreOptions { no_owner: true, ..Default::default() })
                    .single_database(),
            ),
            DbConn::Mysql(c) => Restorer::Mysql(MysqlRestorer::new(c, MysqlRestoreOptions { create: false })),
            DbConn::Redis(_) => unreachable!("scratch databases are PostgreSQL or MySQL"),
        })
    }

    /// Measures this database like `like` ([`crate::content::measure`]).
    pub async fn measure(&self, like: &ContentDigest) -> Result<ContentDigest> {
        measure_conn(&self.server.with_database(&self.name), like).await
    }

    /// Drops the database (PostgreSQL: `DROP DATABASE ... WITH (FORCE)`, which terminates its
    /// sessions; before PostgreSQL 13 they are terminated first).
    pub async fn drop_database(mut self) -> Result<()> {
        self.dropped = true;
        self.server.drop_db(&self.name).await
    }
}

impl Drop for ScratchDatabase {
    /// A scratch database not dropped explicitly is dropped in the background (best effort;
    /// [`leftover_databases`] finds any that survive).
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (server, name) = (self.server.clone(), self.name.clone());
            handle.spawn(async move {
                if let Err(e) = server.drop_db(&name).await {
                    tracing::warn!(database = %name, error = %e, "dropping an abandoned scratch database failed");
                }
            });
        }
    }
}

/// The scratch databases (names with [`SCRATCH_PREFIX`]) on a server: what a drill that died
/// left behind, for the next one to drop.
pub async fn leftover_databases(server_url: &str, password: Option<Secret>) -> Result<Vec<String>> {
    Server::parse(server_url, password)?.leftovers().await
}

/// Drops scratch database `name` on a server; a name without [`SCRATCH_PREFIX`] is refused.
pub async fn drop_leftover(server_url: &str, password: Option<Secret>, name: &str) -> Result<()> {
    Server::parse(server_url, password)?.drop_db(name).await
}

/// How to get a Redis for a drill.
#[derive(Clone, Debug, Default)]
pub struct ScratchRedisOptions {
    /// The `redis-server` program (default: found on `PATH`).
    pub server_binary: Option<PathBuf>,
    /// Where the started server keeps its files (default: a new temporary directory); a new
    /// directory is made inside it and removed after.
    pub dir: Option<PathBuf>,
    /// A designated drill instance to use instead of starting one: it must be empty, and it
    /// is flushed afterwards.
    pub designated: Option<String>,
    /// The designated instance's password.
    pub password: Option<Secret>,
}

/// A Redis a drill restores into: started on a free loopback port (and stopped after), or a
/// designated drill instance that was empty.
pub struct ScratchRedis {
    url: String,
    conn: RedisConn,
    server: Option<RedisServer>,
}

impl std::fmt::Debug for ScratchRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchRedis").field("url", &self.url).field("pid", &self.pid()).finish_non_exhaustive()
    }
}

impl ScratchRedis {
    /// Starts a `redis-server` (or checks the designated instance: it must hold no key, or it
    /// is refused with the key counts). Fails with the reason; never falls back.
    pub async fn start(options: ScratchRedisOptions) -> Result<ScratchRedis> {
        if let Some(url) = &options.designated {
            return Self::designated(url, options.password.clone()).await;
        }
        Self::spawn(&options, None).await
    }

    /// Starts a `redis-server` whose dataset is the RDB snapshot `rdb` (a `dump.rdb` stream
    /// restored to a file): the way to drill an RDB backup, which a running server cannot load.
    /// A designated instance is refused (it would have to be restarted).
    pub async fn start_with_rdb(options: ScratchRedisOptions, rdb: &Path) -> Result<ScratchRedis> {
        if let Some(url) = &options.designated {
            return Err(DumpError::InvalidOptions {
                target: lifeboat_storage::redact_url(url),
                reason: "an RDB snapshot can only be loaded by a scratch redis-server Lifeboat starts, \
                         not into a designated running instance"
                    .into(),
            });
        }
        Self::spawn(&options, Some(rdb)).await
    }

    async fn designated(url: &str, password: Option<Secret>) -> Result<ScratchRedis> {
        let conn = match DbConn::parse(url, password.as_ref())? {
            DbConn::Redis(c) => c,
            _ => {
                return Err(DumpError::InvalidOptions {
                    target: lifeboat_storage::redact_url(url),
                    reason: "a designated drill Redis needs a redis:// URL".into(),
                });
            }
        };
        let counts = key_counts(&conn).await?;
        if !counts.is_empty() {
            let held: Vec<String> = counts.iter().map(|(db, n)| format!("{db}: {n} keys")).collect();
            return Err(DumpError::InvalidOptions {
                target: conn.to_string(),
                reason: format!(
                    "the designated drill Redis is not empty ({}): refusing to restore into it and flush it",
                    held.join(", ")
                ),
            });
        }
        Ok(ScratchRedis { url: conn.to_string(), conn, server: None })
    }

    async fn spawn(options: &ScratchRedisOptions, rdb: Option<&Path>) -> Result<ScratchRedis> {
        let server = RedisServer::start(options.server_binary.as_deref(), options.dir.as_deref(), rdb).await?;
        Ok(ScratchRedis { url: server.url.clone(), conn: server.conn.clone(), server: Some(server) })
    }

    /// Its URL (no password).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The process id of the started server (`None` for a designated instance).
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().and_then(|s| s.pid)
    }

    /// A restorer into it (a logical stream, `redis.logical`; keys go back into their
    /// databases). An RDB snapshot: [`ScratchRedis::start_with_rdb`].
    pub fn restorer(&self) -> Result<Restorer> {
        Ok(Restorer::Redis(RedisRestorer::new(self.conn.clone(), RedisRestoreOptions::default())))
    }

    /// Measures it like `like`.
    pub async fn measure(&self, like: &ContentDigest) -> Result<ContentDigest> {
        measure_conn(&DbConn::Redis(self.conn.clone()), like).await
    }

    /// Stops the server it started (killed and reaped, its directory removed), or flushes the
    /// designated one.
    pub async fn stop(mut self) -> Result<()> {
        match self.server.take() {
            Some(server) => server.stop().await,
            None => {
                self.url.clear(); // flushed here, not again on drop
                flush_all(&self.conn).await
            }
        }
    }
}

impl Drop for ScratchRedis {
    /// A started server is killed and reaped (its process guard does it); a designated
    /// instance not stopped is flushed in the background (best effort).
    fn drop(&mut self) {
        if self.server.is_none()
            && !self.url.is_empty()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let conn = self.conn.clone();
            handle.spawn(async move {
                let _ = flush_all(&conn).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_label_and_time() {
        let n = scratch_name("Shop DB-é/very-long-label-here").unwrap();
        assert!(n.starts_with("lifeboat_drill_shop_db___very_long__1"), "{n}");
        let t = scratch_created(&n).unwrap();
        assert!((unix_now() - t).abs() < 5);
        assert!(n.len() <= 63);
        assert_eq!(scratch_created("lifeboat_drill_x_1700000000_abc123"), Some(1_700_000_000));
        assert_eq!(scratch_created("lifeboat_drill_x_17000_ABC123"), None);
        assert_eq!(scratch_created("shop"), None);
    }
}

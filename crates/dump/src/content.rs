//! What a database held, as a digest a restore can be compared with: every table's row
//! count and checksum (PostgreSQL, MySQL/MariaDB), or the key count and a digest over every
//! key and value (Redis). A dump records one per stream in its [`SourceMetadata`]
//! (`content`), computed on the data the dump itself read; a drill measures the restored
//! copy with [`measure`] and compares the two with [`ContentDigest::compare`].
//!
//! # Algorithms
//!
//! Each digest names its algorithm; only digests of the same algorithm are compared (a
//! different one is a mismatch of its own, never a silent pass).
//!
//! - [`PG_ALGORITHM`]: per user table (relkind `r`, not temporary, not an extension's member),
//!   one scan `SELECT count(*), sum(hashtextextended(t::text, 0)) FROM ONLY s.t t` in a
//!   session with `TimeZone=UTC`, `DateStyle=ISO, YMD`, `IntervalStyle=postgres`,
//!   `extra_float_digits=1`, `bytea_output=hex`. At dump time it runs inside the
//!   `REPEATABLE READ` transaction whose snapshot `pg_dump --snapshot` dumps: exact.
//! - [`MYSQL_ALGORITHM`]: per base table, one scan `SELECT COUNT(*),
//!   SUM(CONV(LEFT(MD5(CONCAT_WS(',', QUOTE(c1), QUOTE(c2), ...)), 16), 16, 10))` with
//!   `time_zone='+00:00'`, in a `START TRANSACTION WITH CONSISTENT SNAPSHOT` of its own begun
//!   when the dump starts (a client cannot share mysqldump's snapshot); see [`crate::mysql`]
//!   for when that is exact.
//! - [`REDIS_ALGORITHM`]: over every key of every database: BLAKE3 of (database number, key,
//!   type, canonical value: a string's bytes, a list's items in order, a set's members sorted,
//!   a hash's fields and values sorted by field, a sorted set's members and scores in rank
//!   order, a stream's entries), the first 16 bytes of each summed modulo 2^128. Expiry times
//!   are not part of it.
//!
//! Checksums are sums over rows (keys), so they do not depend on the order rows are read in;
//! the sums are written as 32 hex digits (two's complement modulo 2^128).
//!
//! [`SourceMetadata`]: crate::SourceMetadata

pub use crate::digest::{ContentDigest, ContentMismatch, MYSQL_ALGORITHM, PG_ALGORITHM, REDIS_ALGORITHM, TableDigest};

use crate::conn::{MysqlConn, PgConn, RedisConn, Secret};
use crate::error::{DumpError, Result};

/// Measures the content of the database `url` names the way `like` was measured (same
/// algorithm, same tables or key space).
///
/// PostgreSQL and MySQL: every user table of the URL's database, in one read-only
/// transaction. MySQL tables are named `<database>.<table>`; when every table of `like`
/// belongs to one database and the URL names another (a restored copy under a new name), the
/// measured tables carry `like`'s database name so that the two compare. Redis: every key of
/// every database (or of the URL's database number).
pub async fn measure(url: &str, password: Option<&Secret>, like: &ContentDigest) -> Result<ContentDigest> {
    let conn = DbConn::parse(url, password)?;
    measure_conn(&conn, like).await
}

/// A parsed database connection of any kind.
#[derive(Clone, Debug)]
pub(crate) enum DbConn {
    /// PostgreSQL.
    Postgres(PgConn),
    /// MySQL/MariaDB.
    Mysql(MysqlConn),
    /// Redis.
    Redis(RedisConn),
}

impl DbConn {
    /// Parses a `postgres://`, `mysql://` or `redis://` URL, with `password` instead of the URL's.
    pub(crate) fn parse(url: &str, password: Option<&Secret>) -> Result<DbConn> {
        let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or("");
        Ok(match scheme {
            "postgres" | "postgresql" => {
                let c = PgConn::parse(url)?;
                DbConn::Postgres(match password {
                    Some(p) => c.with_password(p.clone()),
                    None => c,
                })
            }
            "mysql" | "mariadb" => {
                let c = MysqlConn::parse(url)?;
                DbConn::Mysql(match password {
                    Some(p) => c.with_password(p.clone()),
                    None => c,
                })
            }
            "redis" | "rediss" => {
                let c = RedisConn::parse(url)?;
                DbConn::Redis(match password {
                    Some(p) => c.with_password(p.clone()),
                    None => c,
                })
            }
            other => {
                return Err(DumpError::InvalidUrl {
                    kind: "database",
                    url: lifeboat_storage::redact_url(url),
                    reason: format!("unknown scheme `{other}` (expected postgres://, mysql:// or redis://)"),
                });
            }
        })
    }

    fn target(&self) -> String {
        match self {
            DbConn::Postgres(c) => c.to_string(),
            DbConn::Mysql(c) => c.to_string(),
            DbConn::Redis(c) => c.to_string(),
        }
    }
}

/// [`measure`] on a parsed connection.
pub(crate) async fn measure_conn(conn: &DbConn, like: &ContentDigest) -> Result<ContentDigest> {
    let want = like.algorithm();
    let (kind, algorithm) = match conn {
        DbConn::Postgres(_) => ("PostgreSQL", PG_ALGORITHM),
        DbConn::Mysql(_) => ("MySQL", MYSQL_ALGORITHM),
        DbConn::Redis(_) => ("Redis", REDIS_ALGORITHM),
    };
    if want != algorithm {
        return Err(DumpError::InvalidOptions {
            target: conn.target(),
            reason: format!("cannot measure a {kind} database like a digest of `{want}`"),
        });
    }
    match conn {
        DbConn::Postgres(c) => crate::postgres::measure(c, None).await,
        DbConn::Mysql(c) => crate::mysql::measure(c, like).await,
        DbConn::Redis(c) => crate::redis::measure(c).await,
    }
}

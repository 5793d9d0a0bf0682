//! Probing a database server without dumping it: can it be reached, which version it runs,
//! how large the data a plan backs up is (what `lifeboat dr assess` reports per source).
//!
//! Read only, and cheap: one `psql` or `mariadb`/`mysql` query (the password through the same
//! private files the dumps use), or `INFO` over Lifeboat's own Redis client. A server that
//! cannot be reached is an error ([`DumpError::ConnectFailed`], [`DumpError::AuthFailed`], ...)
//! naming the redacted endpoint, so the caller can report it as it is.
//!
//! ```no_run
//! # async fn demo() -> Result<(), lifeboat_dump::DumpError> {
//! let found = lifeboat_dump::probe::probe("postgres://backup@db:5432/shop", None, None).await?;
//! println!("{} {} holds {:?} bytes", found.target, found.version, found.size_bytes);
//! # Ok(()) }
//! ```

use std::path::PathBuf;

use serde::Serialize;

use crate::conn::{MysqlConn, PgConn, RedisConn, Secret};
use crate::error::{DumpError, Result};
use crate::metadata::SourceKind;
use crate::mysql::MyEnv;
use crate::postgres::PgEnv;
use crate::process::{find_tool, run_capture};
use crate::redis::resp::{Resp, get};

/// What a probe found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeReport {
    /// The kind of server.
    pub kind: SourceKind,
    /// The endpoint, redacted (no password).
    pub target: String,
    /// The server's version as it reports it (`16.4`, `11.4.2-MariaDB`, `7.2.5`).
    pub version: String,
    /// How large the data is: the database (or, without one in the URL, every database) on
    /// disk for PostgreSQL and MySQL, the memory used by the data set for Redis.
    pub size_bytes: Option<u64>,
    /// Redis: the keys in the URL's database, else in every database.
    pub keys: Option<u64>,
}

/// Probes the server `url` names (`postgres://`, `mysql://`/`mariadb://`, `redis://`).
/// `password` replaces the URL's; `bindir` is searched before `PATH` for `psql`.
pub async fn probe(url: &str, password: Option<&Secret>, bindir: Option<PathBuf>) -> Result<ProbeReport> {
    match url.split_once("://").map(|(scheme, _)| scheme).unwrap_or("") {
        "postgres" | "postgresql" => {
            let mut conn = PgConn::parse(url)?;
            if let Some(p) = password {
                conn = conn.with_password(p.clone());
            }
            probe_postgres(conn, bindir).await
        }
        "mysql" | "mariadb" => {
            let mut conn = MysqlConn::parse(url)?;
            if let Some(p) = password {
                conn = conn.with_password(p.clone());
            }
            probe_mysql(conn).await
        }
        "redis" => {
            let mut conn = RedisConn::parse(url)?;
            if let Some(p) = password {
                conn = conn.with_password(p.clone());
            }
            probe_redis(conn).await
        }
        other => Err(DumpError::InvalidUrl {
            kind: "database",
            url: lifeboat_storage::redact_url(url),
            reason: format!("unknown scheme `{other}` (expected postgres://, mysql:// or redis://)"),
        }),
    }
}

/// The report of a SQL server's one-line answer: its version and size, split by `separator`.
fn answer(kind: SourceKind, target: String, out: &str, separator: char) -> Result<ProbeReport> {
    let line = out.trim();
    let Some((version, size)) = line.split_once(separator) else {
        return Err(DumpError::Server {
            target,
            operation: "reading the server version and size".into(),
            detail: format!("unexpected answer {:?}", line.chars().take(200).collect::<String>()),
        });
    };
    Ok(ProbeReport { kind, target, version: version.to_owned(), size_bytes: size.trim().parse().ok(), keys: None })
}

async fn probe_postgres(conn: PgConn, bindir: Option<PathBuf>) -> Result<ProbeReport> {
    let dirs: Vec<PathBuf> = bindir.into_iter().collect();
    let psql = find_tool(&["psql"], "postgresql-client", &dirs)?;
    let database = conn.database.clone();
    let target = conn.to_string();
    let env = PgEnv::new(&conn).await?;
    let db = database.as_deref().unwrap_or("postgres");
    let size = match database {
        Some(_) => "pg_database_size(current_database())",
        None => "(SELECT sum(pg_database_size(datname)) FROM pg_database WHERE datallowconn AND NOT datistemplate)",
    };
    let sql = format!("SELECT current_setting('server_version') || chr(31) || {size}::text;\n");
    let mut cmd = psql.command();
    env.apply(&mut cmd, Some(db));
    cmd.args(["-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1"]);
    let ctx = env.ctx(&psql, "probing the server".into(), Some(db));
    let out = run_capture(&psql, &mut cmd, Some(sql.as_bytes()), &ctx).await?;
    answer(SourceKind::Postgres, target, &out, '\x1f')
}

async fn probe_mysql(conn: MysqlConn) -> Result<ProbeReport> {
    let client = find_tool(&["mariadb", "mysql"], "mariadb-client", &[])?;
    let target = conn.to_string();
    let env = MyEnv::new(&conn).await?;
    let schemas = match &conn.database {
        Some(_) => "table_schema = DATABASE()",
        None => "table_schema NOT IN ('information_schema', 'performance_schema', 'sys', 'mysql')",
    };
    let sql = format!(
        "SELECT VERSION(), (SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables \
         WHERE {schemas});\n"
    );
    let mut cmd = env.command(&client);
    cmd.args(["--batch", "--raw", "--skip-column-names"]);
    if let Some(db) = &conn.database {
        cmd.arg(format!("--database={db}"));
    }
    let ctx = env.ctx(&client, "probing the server".into(), conn.database.as_deref());
    let out = run_capture(&client, &mut cmd, Some(sql.as_bytes()), &ctx).await?;
    answer(SourceKind::Mysql, target, &out, '\t')
}

async fn probe_redis(conn: RedisConn) -> Result<ProbeReport> {
    let mut c = Resp::connect(&conn).await?; // authenticates and PINGs
    let server = c.info("server").await?;
    let memory = c.info("memory").await?;
    let keys = crate::redis::key_counts(&conn)
        .await?
        .iter()
        .filter(|(db, _)| conn.db.is_none_or(|n| *db == format!("db{n}")))
        .map(|(_, keys)| keys)
        .sum();
    let size = get(&memory, "used_memory_dataset").or_else(|| get(&memory, "used_memory")).and_then(|n| n.parse().ok());
    let version = get(&server, "redis_version").or_else(|| get(&server, "valkey_version")).unwrap_or("unknown");
    let version = version.to_owned();
    Ok(ProbeReport { kind: SourceKind::Redis, target: conn.to_string(), version, size_bytes: size, keys: Some(keys) })
}

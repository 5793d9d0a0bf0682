//! SQL sessions on PostgreSQL and MySQL/MariaDB through their own client programs (`psql`,
//! `mariadb`/`mysql`), for callers outside this crate (lifeboat-export's table exports and
//! imports).
//!
//! The connection handling is the dumpers' own: the password reaches `psql` through a 0600
//! `PGPASSFILE` and `mariadb` through a 0600 option file, never through argv; Lifeboat's own
//! secrets are removed from the child's environment; errors name the server without its
//! password and have the password scrubbed from the tool's messages.
//!
//! A session is one run of the client: the whole SQL script goes to its standard input, so a
//! script that opens a transaction (`BEGIN ... COMMIT`) runs in one transaction, and the
//! client stops at the first error (`ON_ERROR_STOP` for psql, the default for mariadb).

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::conn::{MysqlConn, PgConn, Secret};
use crate::error::{DumpError, Result};
use crate::mysql::MyEnv;
use crate::postgres::PgEnv;
use crate::process::{Ctx, Tool, collect_stderr, failure, find_tool};

/// The record separator of [`SqlClient::records`] on PostgreSQL (`psql -0`: a zero byte, which
/// PostgreSQL text cannot contain, after every record including each result's last).
const PG_RECORD: u8 = 0;
/// The field separator of [`SqlClient::query`] on PostgreSQL (`psql -F`).
const PG_FIELD: char = '\x1f';

/// Which SQL dialect a session speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlDialect {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

enum Inner {
    Pg { env: Arc<PgEnv>, psql: Tool, db: String },
    My { env: Arc<MyEnv>, client: Tool, db: Option<String> },
}

/// A way to run SQL scripts on one database.
pub struct SqlClient {
    inner: Inner,
    secret: Option<Secret>,
}

impl std::fmt::Debug for SqlClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqlClient({})", self.target())
    }
}

impl SqlClient {
    /// A session on the PostgreSQL database `conn` names (`postgres` when it names none).
    pub async fn postgres(conn: &PgConn) -> Result<Self> {
        let psql = find_tool(&["psql"], crate::postgres::CLIENT_PKG, &[])?;
        let env = PgEnv::new(conn).await?;
        let db = conn.database.clone().unwrap_or_else(|| "postgres".into());
        Ok(SqlClient { inner: Inner::Pg { env, psql, db }, secret: conn.password.clone() })
    }

    /// A session on the MySQL/MariaDB server (and database, if named) of `conn`.
    pub async fn mysql(conn: &MysqlConn) -> Result<Self> {
        let client = find_tool(&["mariadb", "mysql"], crate::mysql::CLIENT_PKG, &[])?;
        let env = MyEnv::new(conn).await?;
        Ok(SqlClient { inner: Inner::My { env, client, db: conn.database.clone() }, secret: conn.password.clone() })
    }

    /// A session for a `postgres://` or `mysql://`/`mariadb://` URL, with `password` instead of
    /// the URL's when given.
    pub async fn from_url(url: &str, password: Option<&Secret>) -> Result<Self> {
        match url.split_once("://").map(|(s, _)| s).unwrap_or("") {
            "postgres" | "postgresql" => {
                let mut c = PgConn::parse(url)?;
                if let Some(p) = password {
                    c = c.with_password(p.clone());
                }
                Self::postgres(&c).await
            }
            "mysql" | "mariadb" => {
                let mut c = MysqlConn::parse(url)?;
                if let Some(p) = password {
                    c = c.with_password(p.clone());
                }
                Self::mysql(&c).await
            }
            other => Err(DumpError::InvalidUrl {
                kind: "database",
                url: lifeboat_storage::redact_url(url),
                reason: format!("unknown scheme `{other}` (expected postgres:// or mysql://)"),
            }),
        }
    }

    /// The dialect.
    pub fn dialect(&self) -> SqlDialect {
        match self.inner {
            Inner::Pg { .. } => SqlDialect::Postgres,
            Inner::My { .. } => SqlDialect::Mysql,
        }
    }

    /// The database addressed, if any.
    pub fn database(&self) -> Option<&str> {
        match &self.inner {
            Inner::Pg { db, .. } => Some(db),
            Inner::My { db, .. } => db.as_deref(),
        }
    }

    /// The server and database, as a URL without password (for messages).
    pub fn target(&self) -> String {
        match &self.inner {
            Inner::Pg { env, db, .. } => env.target(Some(db)),
            Inner::My { env, db, .. } => env.target(db.as_deref()),
        }
    }

    fn spawn(&self, operation: &str) -> Result<(crate::process::ChildGuard, Ctx)> {
        match &self.inner {
            Inner::Pg { env, psql, db } => {
                let mut cmd = psql.command();
                env.apply(&mut cmd, Some(db));
                cmd.args(["-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1", "-F", "\x1f", "-0", "-f", "-"]);
                cmd.stdin(std::process::Stdio::piped());
                let ctx = env.ctx(psql, operation.to_string(), Some(db));
                Ok((psql.spawn(&mut cmd)?, ctx))
            }
            Inner::My { env, client, db } => {
                let mut cmd = env.command(client);
                cmd.args(["--batch", "--skip-column-names", "--default-character-set=utf8mb4"]);
                if let Some(d) = db {
                    cmd.arg(format!("--database={d}"));
                }
                cmd.stdin(std::process::Stdio::piped());
                let ctx = env.ctx(client, operation.to_string(), db.as_deref());
                Ok((client.spawn(&mut cmd)?, ctx))
            }
        }
    }

    /// Runs the script read from `script` and hands every output record to `each` as it
    /// arrives: on PostgreSQL a record is a row (fields joined by U+001F); on MySQL a line of
    /// the batch output with its escapes (`\n`, `\t`, `\\`, `\0`) undone. An error `each`
    /// returns stops the client and becomes a [`DumpError::Server`] naming `operation`.
    pub async fn records<R, F>(&self, operation: &str, script: &mut R, mut each: F) -> Result<()>
    where
        R: AsyncRead + Unpin + Send + ?Sized,
        F: FnMut(&str) -> std::result::Result<(), String> + Send,
    {
        let mysql = self.dialect() == SqlDialect::Mysql;
        self.run(operation, script, |rec| if mysql { each(&unescape_batch(rec)) } else { each(rec) }).await
    }

    async fn run<R, F>(&self, operation: &str, script: &mut R, mut each: F) -> Result<()>
    where
        R: AsyncRead + Unpin + Send + ?Sized,
        F: FnMut(&str) -> std::result::Result<(), String> + Send,
    {
        let (mut guard, ctx) = self.spawn(operation)?;
        let stderr = collect_stderr(guard.child_mut().stderr.take());
        let mut stdout = guard.child_mut().stdout.take().expect("stdout piped");
        let mut stdin = guard.child_mut().stdin.take().expect("stdin piped");
        let pg = self.dialect() == SqlDialect::Postgres;
        let writer = async {
            let r = tokio::io::copy(script, &mut stdin).await;
            let _ = stdin.shutdown().await;
            drop(stdin);
            r
        };
        let reader = async {
            let sep = if pg { PG_RECORD } else { b'\n' };
            let mut pending: Vec<u8> = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = stdout.read(&mut buf).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&buf[..n]);
                let mut start = 0;
                while let Some(i) = pending[start..].iter().position(|b| *b == sep) {
                    let rec = &pending[start..start + i];
                    deliver(rec, &mut each)?;
                    start += i + 1;
                }
                pending.drain(..start);
            }
            if !pending.is_empty() {
                deliver(&pending, &mut each)?;
            }
            Ok::<(), String>(())
        };
        let (written, read) = tokio::join!(writer, reader);
        if let Err(detail) = read {
            guard.kill().await;
            return Err(DumpError::Server { target: ctx.target.clone(), operation: operation.to_string(), detail });
        }
        let status = guard.wait().await?;
        let err = stderr.await.unwrap_or_default();
        if !status.success() {
            return Err(failure(&ctx, &status.to_string(), &err));
        }
        if let Err(e) = written
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            return Err(DumpError::io(format!("sending SQL to {}", ctx.tool), ctx.target.clone(), e));
        }
        Ok(())
    }

    /// Runs `sql` and returns its rows, each split into fields.
    pub async fn query(&self, operation: &str, sql: &str) -> Result<Vec<Vec<String>>> {
        let pg = self.dialect() == SqlDialect::Postgres;
        let mut rows = Vec::new();
        self.run(operation, &mut sql.as_bytes(), |rec| {
            if pg {
                rows.push(rec.split(PG_FIELD).map(str::to_string).collect());
            } else {
                rows.push(rec.split('\t').map(unescape_batch).collect());
            }
            Ok(())
        })
        .await?;
        Ok(rows)
    }

    /// The password, for scrubbing messages built outside this crate.
    pub fn password(&self) -> Option<&Secret> {
        self.secret.as_ref()
    }
}

fn deliver<F>(rec: &[u8], each: &mut F) -> std::result::Result<(), String>
where
    F: FnMut(&str) -> std::result::Result<(), String>,
{
    each(std::str::from_utf8(rec).map_err(|_| "the client printed text that is not UTF-8".to_string())?)
}

/// Undoes the escapes of the mariadb client's batch output (`\n`, `\t`, `\\`, `\0`). Fields
/// stay separated by real tabs.
fn unescape_batch(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_escapes_are_undone() {
        assert_eq!(unescape_batch(r#"{"a":"x\\ny"}\nz\t\\"#), "{\"a\":\"x\\ny\"}\nz\t\\");
    }
}

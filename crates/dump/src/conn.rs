//! Connection URLs for the three database kinds, with passwords that never show.
//!
//! Every `Display` and `Debug` of a connection prints the URL with the password left out
//! (`postgres://app@db.example:5432/shop`), so errors and logs can name the target safely.
//! Passwords reach the client programs only through private channels: a 0600 `PGPASSFILE`,
//! a 0600 MySQL option file (`--defaults-extra-file`), or, for Redis, Lifeboat's own protocol
//! client; never through a child's argv.

use std::fmt;
use std::path::Path;

use lifeboat_storage::redact_url;
use zeroize::Zeroizing;

use crate::error::{DumpError, Result};

/// A password or other secret. Its `Debug`/`Display` print `***`; the memory is zeroed on drop.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret string.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(Zeroizing::new(s.into()))
    }

    /// Reads a secret from a file (a "password file"): the first line, without its line ending.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| DumpError::io("reading password file", path.display().to_string(), e))?,
        );
        let line = text.lines().next().unwrap_or("");
        Ok(Secret::new(line))
    }

    /// Reads a secret from an environment variable, if set and non-empty.
    pub fn from_env(var: &str) -> Option<Self> {
        std::env::var(var).ok().filter(|v| !v.is_empty()).map(Secret::new)
    }

    /// The secret itself. Handle with care.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the secret in `text` by `***` (for tool output in errors).
    pub fn scrub(&self, text: &str) -> String {
        if self.0.len() < 3 { text.to_string() } else { text.replace(self.0.as_str(), "***") }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Scrubs an optional secret from text.
pub(crate) fn scrub(secret: Option<&Secret>, text: &str) -> String {
    match secret {
        Some(s) => s.scrub(text),
        None => text.to_string(),
    }
}

fn percent_decode(s: &str, kind: &'static str, raw: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let v = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or_else(|| DumpError::InvalidUrl {
                kind,
                url: redact_url(raw),
                reason: "bad percent-encoding".into(),
            })?;
            out.push(v);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DumpError::InvalidUrl {
        kind,
        url: redact_url(raw),
        reason: "percent-encoded text is not UTF-8".into(),
    })
}

/// Writes `scheme://[user@][host][:port]`, the start every connection's `Display` shares (no
/// password, ever). An IPv6 host gets brackets; a path (a PostgreSQL socket directory) none.
fn write_authority(
    f: &mut fmt::Formatter<'_>,
    scheme: &str,
    user: Option<&str>,
    host: Option<&str>,
    port: Option<u16>,
) -> fmt::Result {
    write!(f, "{scheme}://")?;
    if let Some(u) = user {
        write!(f, "{u}@")?;
    }
    match host {
        Some(h) if h.contains(':') && !h.starts_with('/') => write!(f, "[{h}]")?,
        Some(h) => f.write_str(h)?,
        None => {}
    }
    if let Some(p) = port {
        write!(f, ":{p}")?;
    }
    Ok(())
}

/// The `Debug` of a connection: its `Display` (no password) and whether it has a password.
fn debug_conn(f: &mut fmt::Formatter<'_>, name: &str, conn: &dyn fmt::Display, has_password: bool) -> fmt::Result {
    write!(f, "{name}({conn}, password: {})", if has_password { "***" } else { "none" })
}

struct Parsed {
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<Secret>,
    path: Option<String>,
    query: Vec<(String, String)>,
}

fn parse_url(raw: &str, kind: &'static str, schemes: &[&str]) -> Result<Parsed> {
    let bad = |reason: String| DumpError::InvalidUrl { kind, url: redact_url(raw), reason };
    let url = url::Url::parse(raw).map_err(|e| bad(e.to_string()))?;
    if !schemes.contains(&url.scheme()) {
        return Err(bad(format!("scheme must be {}", schemes.join(" or "))));
    }
    if url.fragment().is_some() {
        return Err(bad("a fragment (#...) is not allowed".into()));
    }
    let host = match url.host_str() {
        None | Some("") => None,
        Some(h) => Some(percent_decode(h.trim_start_matches('[').trim_end_matches(']'), kind, raw)?),
    };
    let user = if url.username().is_empty() { None } else { Some(percent_decode(url.username(), kind, raw)?) };
    let password = match url.password() {
        None => None,
        Some(p) => Some(Secret::new(percent_decode(p, kind, raw)?)),
    };
    let path = url.path().trim_start_matches('/');
    let path = if path.is_empty() { None } else { Some(percent_decode(path, kind, raw)?) };
    let query = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    Ok(Parsed { host, port: url.port(), user, password, path, query })
}

/// A PostgreSQL connection: `postgres://[user[:password]@][host][:port][/database][?param=value...]`.
///
/// Supported parameters: `host` (e.g. a Unix socket directory), `port`, `user`, `password`,
/// `dbname`, `sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `connect_timeout`,
/// `application_name`. They are handed to libpq through its environment variables (`PGHOST`,
/// `PGSSLMODE`, ...), the password through a private `PGPASSFILE`. Without a password in the
/// URL the usual `PGPASSWORD`, `PGPASSFILE` and `~/.pgpass` apply.
#[derive(Clone)]
pub struct PgConn {
    /// Host name, IP address or socket directory; `None` for libpq's default.
    pub host: Option<String>,
    /// TCP port; `None` for libpq's default (5432).
    pub port: Option<u16>,
    /// User name; `None` for libpq's default.
    pub user: Option<String>,
    /// The password, if given.
    pub password: Option<Secret>,
    /// The database; `None` when the URL names none.
    pub database: Option<String>,
    /// Extra libpq settings as (environment variable, value).
    pub settings: Vec<(String, String)>,
}

impl PgConn {
    /// Parses a `postgres://` or `postgresql://` URL.
    pub fn parse(raw: &str) -> Result<Self> {
        let p = parse_url(raw, "postgres", &["postgres", "postgresql"])?;
        let mut c = PgConn {
            host: p.host,
            port: p.port,
            user: p.user,
            password: p.password,
            database: p.path,
            settings: Vec::new(),
        };
        for (k, v) in p.query {
            match k.as_str() {
                "host" => c.host = Some(v),
                "port" => {
                    c.port = Some(v.parse().map_err(|_| DumpError::InvalidUrl {
                        kind: "postgres",
                        url: redact_url(raw),
                        reason: format!("port `{v}` is not a number"),
                    })?)
                }
                "user" => c.user = Some(v),
                "password" => c.password = Some(Secret::new(v)),
                "dbname" => c.database = Some(v),
                "sslmode" => c.settings.push(("PGSSLMODE".into(), v)),
                "sslrootcert" => c.settings.push(("PGSSLROOTCERT".into(), v)),
                "sslcert" => c.settings.push(("PGSSLCERT".into(), v)),
                "sslkey" => c.settings.push(("PGSSLKEY".into(), v)),
                "connect_timeout" => c.settings.push(("PGCONNECT_TIMEOUT".into(), v)),
                "application_name" => c.settings.push(("PGAPPNAME".into(), v)),
                other => {
                    return Err(DumpError::InvalidUrl {
                        kind: "postgres",
                        url: redact_url(raw),
                        reason: format!("unsupported parameter `{other}`"),
                    });
                }
            }
        }
        Ok(c)
    }

    /// Uses `password` (e.g. read with [`Secret::from_file`]) instead of the URL's.
    pub fn with_password(mut self, password: Secret) -> Self {
        self.password = Some(password);
        self
    }

    /// The same server with another database.
    pub fn with_database(&self, db: &str) -> Self {
        let mut c = self.clone();
        c.database = Some(db.to_string());
        c
    }
}

impl fmt::Display for PgConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_authority(f, "postgres", self.user.as_deref(), self.host.as_deref(), self.port)?;
        if let Some(d) = &self.database {
            write!(f, "/{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PgConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_conn(f, "PgConn", self, self.password.is_some())
    }
}

/// A MySQL/MariaDB connection: `mysql://[user[:password]@][host][:port][/database][?socket=PATH]`
/// (`mariadb://` is accepted too).
///
/// Everything, the password included, is handed to the client programs in a private 0600
/// option file (`--defaults-extra-file`). Without a password in the URL the client's own
/// sources apply (`MYSQL_PWD`, `~/.my.cnf`).
#[derive(Clone)]
pub struct MysqlConn {
    /// Host name or IP address; `None` for the client's default (`localhost`, the socket).
    pub host: Option<String>,
    /// TCP port; `None` for 3306.
    pub port: Option<u16>,
    /// User name.
    pub user: Option<String>,
    /// The password, if given.
    pub password: Option<Secret>,
    /// The database; `None` when the URL names none.
    pub database: Option<String>,
    /// Unix socket path (`?socket=`).
    pub socket: Option<String>,
}

impl MysqlConn {
    /// Parses a `mysql://` or `mariadb://` URL.
    pub fn parse(raw: &str) -> Result<Self> {
        let p = parse_url(raw, "mysql", &["mysql", "mariadb"])?;
        let mut c = MysqlConn {
            host: p.host,
            port: p.port,
            user: p.user,
            password: p.password,
            database: p.path,
            socket: None,
        };
        for (k, v) in p.query {
            match k.as_str() {
                "socket" => c.socket = Some(v),
                other => {
                    return Err(DumpError::InvalidUrl {
                        kind: "mysql",
                        url: redact_url(raw),
                        reason: format!("unsupported parameter `{other}`"),
                    });
                }
            }
        }
        if let Some(db) = &c.database
            && db.contains('/')
        {
            return Err(DumpError::InvalidUrl {
                kind: "mysql",
                url: redact_url(raw),
                reason: "the path must be a single database name".into(),
            });
        }
        Ok(c)
    }

    /// Uses `password` instead of the URL's.
    pub fn with_password(mut self, password: Secret) -> Self {
        self.password = Some(password);
        self
    }

    /// The same server with another database.
    pub fn with_database(&self, db: &str) -> Self {
        let mut c = self.clone();
        c.database = Some(db.to_string());
        c
    }

    /// The `[client]` option file text (contains the password: write it only to a 0600 file).
    pub(crate) fn option_file(&self) -> Zeroizing<String> {
        fn quote(v: &str) -> String {
            let mut s = String::from("\"");
            for ch in v.chars() {
                match ch {
                    '\\' => s.push_str("\\\\"),
                    '"' => s.push_str("\\\""),
                    '\n' => s.push_str("\\n"),
                    '\r' => s.push_str("\\r"),
                    '\t' => s.push_str("\\t"),
                    c => s.push(c),
                }
            }
            s.push('"');
            s
        }
        let mut t = Zeroizing::new(String::from("[client]\n"));
        if let Some(h) = &self.host {
            t.push_str(&format!("host={}\n", quote(h)));
        }
        if let Some(p) = self.port {
            t.push_str(&format!("port={p}\n"));
            if self.host.is_none() {
                t.push_str("protocol=TCP\n");
            }
        }
        if let Some(s) = &self.socket {
            t.push_str(&format!("socket={}\n", quote(s)));
        }
        if let Some(u) = &self.user {
            t.push_str(&format!("user={}\n", quote(u)));
        }
        if let Some(pw) = &self.password {
            t.push_str(&format!("password={}\n", quote(pw.expose())));
        }
        t
    }
}

impl fmt::Display for MysqlConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_authority(f, "mysql", self.user.as_deref(), self.host.as_deref(), self.port)?;
        f.write_str("/")?;
        if let Some(d) = &self.database {
            f.write_str(d)?;
        }
        if let Some(s) = &self.socket {
            write!(f, "?socket={s}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for MysqlConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_conn(f, "MysqlConn", self, self.password.is_some())
    }
}

/// A Redis connection: `redis://[[user]:password@]host[:port][/db]`.
///
/// Without a password in the URL, `REDISCLI_AUTH` from the environment is used. `rediss://`
/// (TLS) is not supported yet.
#[derive(Clone)]
pub struct RedisConn {
    /// Host name or IP address.
    pub host: String,
    /// TCP port (default 6379).
    pub port: u16,
    /// ACL user name (Redis 6+), if any.
    pub user: Option<String>,
    /// The password, if any.
    pub password: Option<Secret>,
    /// The database number, when the URL names one.
    pub db: Option<u32>,
}

impl RedisConn {
    /// Parses a `redis://` URL.
    pub fn parse(raw: &str) -> Result<Self> {
        if raw.starts_with("rediss://") {
            return Err(DumpError::InvalidUrl {
                kind: "redis",
                url: redact_url(raw),
                reason: "TLS (rediss://) is not supported".into(),
            });
        }
        let p = parse_url(raw, "redis", &["redis"])?;
        let bad = |reason: String| DumpError::InvalidUrl { kind: "redis", url: redact_url(raw), reason };
        if let Some((k, _)) = p.query.first() {
            return Err(bad(format!("unsupported parameter `{k}`")));
        }
        let db = match p.path {
            None => None,
            Some(d) => Some(d.parse::<u32>().map_err(|_| bad(format!("database `{d}` is not a number")))?),
        };
        let password = p.password.filter(|p| !p.expose().is_empty()).or_else(|| Secret::from_env("REDISCLI_AUTH"));
        Ok(RedisConn {
            host: p.host.unwrap_or_else(|| "127.0.0.1".into()),
            port: p.port.unwrap_or(6379),
            user: p.user,
            password,
            db,
        })
    }

    /// Uses `password` instead of the URL's.
    pub fn with_password(mut self, password: Secret) -> Self {
        self.password = Some(password);
        self
    }
}

impl fmt::Display for RedisConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_authority(f, "redis", self.user.as_deref(), Some(&self.host), Some(self.port))?;
        if let Some(d) = self.db {
            write!(f, "/{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_conn(f, "RedisConn", self, self.password.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "s3cr:et@/pw";

    #[test]
    fn postgres_url_parses_and_redacts() {
        let c = PgConn::parse("postgres://app:s3cr%3Aet%40%2Fpw@db.example:5433/shop?sslmode=require").unwrap();
        assert_eq!(c.password.as_ref().unwrap().expose(), PW);
        assert_eq!(c.user.as_deref(), Some("app"));
        assert_eq!(c.port, Some(5433));
        assert_eq!(c.database.as_deref(), Some("shop"));
        assert_eq!(c.settings, vec![("PGSSLMODE".to_string(), "require".to_string())]);
        assert_eq!(c.to_string(), "postgres://app@db.example:5433/shop");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr"), "{dbg}");
    }

    #[test]
    fn postgres_url_errors_do_not_leak() {
        let e = PgConn::parse("postgres://app:hunter22@db/x?bogus=1").unwrap_err().to_string();
        assert!(e.contains("bogus") && !e.contains("hunter22"), "{e}");
        let e = PgConn::parse("mysql://app:hunter22@db/x").unwrap_err().to_string();
        assert!(!e.contains("hunter22"), "{e}");
        let e = PgConn::parse("postgres://app:hunter22@db:99999999/x").unwrap_err().to_string();
        assert!(!e.contains("hunter22"), "{e}");
    }

    #[test]
    fn redact_url_handles_unparsable_text() {
        assert_eq!(redact_url("postgres://u:p@h:1/d"), "postgres://u:***@h:1/d");
        assert_eq!(redact_url("redis://:p@@x@h/0"), "redis://:***@h/0");
        assert_eq!(redact_url("postgres://h/d"), "postgres://h/d");
    }

    #[test]
    fn mysql_option_file_quotes_the_password() {
        let c = MysqlConn::parse("mysql://root:a%22b%5Cc@127.0.0.1:3307/app").unwrap();
        let f = c.option_file();
        assert!(f.contains("password=\"a\\\"b\\\\c\"\n"), "{}", f.as_str());
        assert!(f.contains("port=3307"));
        assert_eq!(c.to_string(), "mysql://root@127.0.0.1:3307/app");
        assert!(MysqlConn::parse("mysql://h/a/b").is_err());
    }

    #[test]
    fn redis_url_parses() {
        let c = RedisConn::parse("redis://:pw123@127.0.0.1:6380/3").unwrap();
        assert_eq!(c.port, 6380);
        assert_eq!(c.db, Some(3));
        assert_eq!(c.password.as_ref().unwrap().expose(), "pw123");
        assert_eq!(c.to_string(), "redis://127.0.0.1:6380/3");
        assert!(RedisConn::parse("redis://h/x").is_err());
        assert!(RedisConn::parse("rediss://h/1").is_err());
    }

    #[test]
    fn displays_bracket_ipv6_hosts_but_not_socket_directories() {
        let pg = PgConn::parse("postgres://app:pw@[::1]:5432/shop").unwrap();
        assert_eq!(pg.to_string(), "postgres://app@[::1]:5432/shop");
        let socket = PgConn::parse("postgres://app@localhost/shop?host=/run/postgresql").unwrap();
        assert_eq!(socket.to_string(), "postgres://app@/run/postgresql/shop");
        let my = MysqlConn::parse("mysql://root:pw@[::1]:3306/app").unwrap();
        assert_eq!(my.to_string(), "mysql://root@[::1]:3306/app");
        let redis = RedisConn::parse("redis://:pw@[::1]:6379/2").unwrap();
        assert_eq!(redis.to_string(), "redis://[::1]:6379/2");
        assert_eq!(format!("{redis:?}"), "RedisConn(redis://[::1]:6379/2, password: ***)");
        let no_pw = MysqlConn::parse("mysql://root@db/app").unwrap();
        assert_eq!(format!("{no_pw:?}"), "MysqlConn(mysql://root@db/app, password: none)");
    }

    #[test]
    fn secret_scrubs() {
        let s = Secret::new("hunter22");
        assert_eq!(s.scrub("bad hunter22 x"), "bad *** x");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
    }
}

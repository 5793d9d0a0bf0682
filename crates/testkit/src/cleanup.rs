//! Clean-up of what a test created on the shared servers, also when the test fails.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};

use crate::sql::{mysql_command, psql_command};

/// Drops test databases (or deletes test keys) when it goes out of scope, also when the test
/// failed. Best effort and panic-free: it runs during unwinding.
pub enum Cleanup {
    /// PostgreSQL server URL and database names.
    Pg(String, Vec<String>),
    /// MariaDB server URL and database names.
    My(String, Vec<String>),
    /// Redis database URLs and a key prefix.
    Redis(Vec<String>, String),
}

impl Cleanup {
    /// Drops these PostgreSQL databases at the end of the test.
    pub fn pg(url: &str, dbs: &[&String]) -> Cleanup {
        Cleanup::Pg(url.to_string(), dbs.iter().map(|d| d.to_string()).collect())
    }

    /// Drops these MariaDB databases at the end of the test.
    pub fn my(url: &str, dbs: &[&String]) -> Cleanup {
        Cleanup::My(url.to_string(), dbs.iter().map(|d| d.to_string()).collect())
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Cleanup::Pg(url, dbs) => {
                for db in dbs {
                    quietly(
                        psql_command(url, "postgres")
                            .arg("-c")
                            .arg(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")),
                    );
                }
            }
            Cleanup::My(url, dbs) => {
                for db in dbs {
                    quietly(mysql_command(url).arg("-e").arg(format!("DROP DATABASE IF EXISTS `{db}`")));
                }
            }
            Cleanup::Redis(urls, prefix) => {
                for url in urls.iter() {
                    let _ = redis_delete_quietly(url, prefix);
                }
            }
        }
    }
}

/// Runs a clean-up command, its output and its failure ignored (best effort).
fn quietly(cmd: &mut Command) {
    let _ = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
}

/// Deletes the keys under `prefix` without panicking (for clean-up during unwinding).
fn redis_delete_quietly(url: &str, prefix: &str) -> std::io::Result<()> {
    let u = url::Url::parse(url).map_err(std::io::Error::other)?;
    let mut s = std::net::TcpStream::connect((u.host_str().unwrap_or("127.0.0.1"), u.port().unwrap_or(6379)))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let db = u.path().trim_start_matches('/');
    let script = "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 1";
    let pattern = format!("{prefix}*");
    let mut commands: Vec<Vec<&str>> = Vec::new();
    if let Some(pw) = u.password() {
        commands.push(vec!["AUTH", pw]);
    }
    commands.push(vec!["SELECT", if db.is_empty() { "0" } else { db }]);
    commands.push(vec!["EVAL", script, "0", &pattern]);
    let mut out = Vec::new();
    for c in &commands {
        out.extend_from_slice(format!("*{}\r\n", c.len()).as_bytes());
        for a in c {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    }
    s.write_all(&out)?;
    let mut reader = std::io::BufReader::new(s);
    for _ in &commands {
        let mut line = String::new();
        reader.read_line(&mut line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::{mysql_create_db, pg_create_db, pg_db_exists};
    use crate::sql::mysql;
    use crate::{mysql_url, names::unique, pg_url};

    #[test]
    fn dropping_the_guard_drops_the_databases() {
        let (pg, my) = (pg_url(), mysql_url());
        let (a, b) = (unique("lbkit_cleanup_pg"), unique("lbkit_cleanup_my"));
        pg_create_db(&pg, &a);
        mysql_create_db(&my, &b);
        drop((Cleanup::pg(&pg, &[&a]), Cleanup::my(&my, &[&b])));
        assert!(!pg_db_exists(&pg, &a), "{a} is still there");
        let left =
            mysql(&my, None, &format!("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '{b}';"));
        assert_eq!(left, "0", "{b} is still there");
    }
}

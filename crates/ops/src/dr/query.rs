//! One SQL query on a PostgreSQL or MySQL/MariaDB database, through the server's own client
//! (`psql`, `mariadb`/`mysql`), for a scenario's `check` step and a dry run's "what it will
//! overwrite". The password reaches the client through a 0600 file (`PGPASSFILE`, a MySQL
//! option file) that is removed afterwards, never through argv or the environment; the
//! client's messages are scrubbed of it.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

use lifeboat_dump::Secret;
use lifeboat_storage::redact_url;
use tokio::process::Command;

/// How long a query may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(600);

/// A 0600 file holding a secret, removed on drop.
struct SecretFile(PathBuf);

impl SecretFile {
    fn create(what: &str, content: &str) -> Result<SecretFile, String> {
        let random = lifeboat_crypto::random_bytes::<8>().map_err(|e| format!("no randomness for a {what}: {e}"))?;
        let path = std::env::temp_dir().join(format!("lifeboat-{what}-{}", hex_of(&random)));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("cannot create the {what} {}: {e}", path.display()))?;
        let guard = SecretFile(path);
        file.write_all(content.as_bytes()).map_err(|e| format!("cannot write the {what}: {e}"))?;
        Ok(guard)
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(crate) fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The first column of the first row `sql` returns on the database `url` names (`None`: no
/// row), as text. The error names the (redacted) database and never holds the password.
pub(crate) async fn query_one(url: &str, password: Option<&Secret>, sql: &str) -> Result<Option<String>, String> {
    let shown = redact_url(url);
    let parsed = url::Url::parse(url).map_err(|e| format!("{shown}: not a URL: {e}"))?;
    let (mut command, _secret) = match parsed.scheme() {
        "postgres" | "postgresql" => {
            let mut command = Command::new("psql");
            command.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "--no-password", "-c", sql, url]);
            let secret = match password {
                Some(p) => {
                    let escaped = p.expose().replace('\\', "\\\\").replace(':', "\\:");
                    let file = SecretFile::create("pgpass", &format!("*:*:*:*:{escaped}\n"))?;
                    command.env("PGPASSFILE", &file.0);
                    Some(file)
                }
                None => None,
            };
            (command, secret)
        }
        "mysql" | "mariadb" => {
            let program = if which("mariadb") { "mariadb" } else { "mysql" };
            let mut command = Command::new(program);
            let options = match password {
                Some(p) => {
                    let escaped = p.expose().replace('\\', "\\\\").replace('"', "\\\"");
                    Some(SecretFile::create("mysql-options", &format!("[client]\npassword=\"{escaped}\"\n"))?)
                }
                None => None,
            };
            // The option file must come first.
            if let Some(file) = &options {
                command.arg(format!("--defaults-extra-file={}", file.0.display()));
            }
            command.args(["--batch", "--skip-column-names", "--raw"]);
            if let Some(host) = parsed.host_str() {
                command.arg(format!("--host={host}"));
            }
            if let Some(port) = parsed.port() {
                command.arg(format!("--port={port}"));
            }
            if !parsed.username().is_empty() {
                command.arg(format!("--user={}", decode(parsed.username())));
            }
            command.arg("-e").arg(sql);
            let database = parsed.path().trim_start_matches('/');
            if !database.is_empty() {
                command.arg(decode(database));
            }
            (command, options)
        }
        other => return Err(format!("{shown}: a SQL check needs a postgres:// or mysql:// URL, not {other}://")),
    };
    command.stdin(std::process::Stdio::null()).kill_on_drop(true);
    let output = tokio::time::timeout(QUERY_TIMEOUT, command.output())
        .await
        .map_err(|_| format!("{shown}: the query did not finish within {} s", QUERY_TIMEOUT.as_secs()))?
        .map_err(|e| format!("{shown}: cannot run the database client: {e}"))?;
    let scrub = |text: &str| match password {
        Some(p) => p.scrub(text),
        None => text.to_owned(),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("{shown}: {}", scrub(stderr.trim())));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(stdout.lines().next().map(|line| scrub(line.split('\t').next().unwrap_or("").trim())))
}

fn decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| text.to_owned())
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

//! Where the test services are: the process environment first, then the env files that
//! scripts/services.sh, scripts/s3-server.sh and scripts/webdav-server.sh write under target/.

use std::collections::HashMap;
use std::path::PathBuf;

/// The workspace's target directory, where the server scripts write their env files.
///
/// Relative to this crate's manifest, so it is the same for every crate that uses the kit.
fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

/// The env file of scripts/services.sh: `$LIFEBOAT_TEST_ENV`, default
/// `<workspace>/target/test-services.env`.
pub fn services_env_file() -> PathBuf {
    std::env::var("LIFEBOAT_TEST_ENV").map(PathBuf::from).unwrap_or_else(|_| target_dir().join("test-services.env"))
}

/// The value of `var` in an env file's text (`KEY=value` or `export KEY='value'` lines).
fn lookup(text: &str, var: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.trim().trim_start_matches("export ");
        let (k, v) = line.split_once('=')?;
        (k == var).then(|| v.trim_matches('\'').to_string())
    })
}

/// `var` from the environment (when not empty), else from the services env file; None when
/// neither has it. For optional settings (a server binary's path, say).
pub fn env_value(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty()).or_else(|| {
        let text = std::fs::read_to_string(services_env_file()).ok()?;
        lookup(&text, var)
    })
}

/// The URL of a test service: from the environment, else from the env file that
/// scripts/services.sh writes. Fails (never skips) when neither has it.
pub fn service_url(var: &str) -> String {
    if let Some(v) = env_value(var) {
        return v;
    }
    let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
    panic!(
        "{var} is not set and {} does not define it{}: run `bash scripts/services.sh start` first \
         (it installs and starts PostgreSQL, MariaDB and Redis for the tests and writes that file), \
         or point LIFEBOAT_TEST_ENV at the env file it wrote",
        services_env_file().display(),
        if ci { " (CI: a missing service is a failure)" } else { "" }
    );
}

/// The PostgreSQL server URL (`LIFEBOAT_TEST_PG_URL`).
pub fn pg_url() -> String {
    service_url("LIFEBOAT_TEST_PG_URL")
}

/// The MariaDB server URL (`LIFEBOAT_TEST_MYSQL_URL`).
pub fn mysql_url() -> String {
    service_url("LIFEBOAT_TEST_MYSQL_URL")
}

/// The Redis server URL (`LIFEBOAT_TEST_REDIS_URL`).
pub fn redis_url() -> String {
    service_url("LIFEBOAT_TEST_REDIS_URL")
}

/// Reads the env file a server script wrote (`target/<file>`, or `$LIFEBOAT_TEST_ENV_DIR/<file>`),
/// overlaid by the process environment for the `required` variables. Fails with instructions
/// naming `script` when any of them is missing: these tests never skip.
pub fn server_env(file: &str, script: &str, required: &[&str]) -> HashMap<String, String> {
    let dir = std::env::var("LIFEBOAT_TEST_ENV_DIR").map(PathBuf::from).unwrap_or_else(|_| target_dir());
    let path = dir.join(file);
    let mut vars = HashMap::new();
    if let Ok(text) = std::fs::read_to_string(&path) {
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                vars.insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
    }
    for k in required {
        if let Ok(v) = std::env::var(k) {
            vars.insert((*k).to_owned(), v);
        }
    }
    let missing: Vec<_> = required.iter().filter(|k| !vars.contains_key(**k)).collect();
    assert!(
        missing.is_empty(),
        "test servers are not running: {missing:?} missing from {} and the environment. Start them with \
         `{script}` (it installs and starts the servers on loopback and writes that file).",
        path.display()
    );
    vars
}

/// The notification test servers of `scripts/notify-servers.sh` (target/test-notify.env):
/// the SMTP server's host, ports, test user and password, CA certificate and spool file, the
/// webhook/Slack receiver's URL and the webhook secret. Fails (never skips) when absent.
pub fn notify_env() -> HashMap<String, String> {
    server_env(
        "test-notify.env",
        "scripts/notify-servers.sh start",
        &[
            "LIFEBOAT_TEST_SMTP_HOST",
            "LIFEBOAT_TEST_SMTP_STARTTLS_PORT",
            "LIFEBOAT_TEST_SMTP_TLS_PORT",
            "LIFEBOAT_TEST_SMTP_USER",
            "LIFEBOAT_TEST_SMTP_PASSWORD",
            "LIFEBOAT_TEST_SMTP_CA",
            "LIFEBOAT_TEST_SMTP_SPOOL",
            "LIFEBOAT_TEST_RECEIVER_URL",
            "LIFEBOAT_TEST_WEBHOOK_SECRET",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::lookup;

    #[test]
    fn reads_plain_and_exported_quoted_lines() {
        let text = "A=1\nexport B='two words'\n  C=x=y\n";
        assert_eq!(lookup(text, "A").as_deref(), Some("1"));
        assert_eq!(lookup(text, "B").as_deref(), Some("two words"));
        assert_eq!(lookup(text, "C").as_deref(), Some("x=y"));
        assert_eq!(lookup(text, "D"), None);
        // A prefix of a name is not the name.
        assert_eq!(lookup("AB=1\n", "A"), None);
    }
}

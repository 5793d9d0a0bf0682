//! A private PostgreSQL cluster, for tests that stop the server and start it again (a backup
//! that fails because its database is down, then succeeds once it is back).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::env::env_value;
use crate::urls::closed_port;

/// A cluster of this test alone (initdb into a temporary directory) on a free loopback port;
/// stopped and removed on drop.
pub struct PrivatePostgres {
    /// `postgres://lifeboat@127.0.0.1:<port>/postgres` (no password: see [`Self::password`]).
    pub url: String,
    /// The password of the `lifeboat` superuser (scram-sha-256 over TCP).
    pub password: String,
    /// The port it listens on (kept across [`Self::stop`] and [`Self::start`]).
    pub port: u16,
    bindir: PathBuf,
    dir: tempfile::TempDir,
}

impl PrivatePostgres {
    /// Creates the cluster and starts it. The binaries are `$LIFEBOAT_TEST_PG_BINDIR` (from the
    /// services env file written by scripts/services.sh). As root, the server runs as the
    /// `postgres` user, which owns the data directory.
    pub fn start_new() -> PrivatePostgres {
        let bindir = PathBuf::from(
            env_value("LIFEBOAT_TEST_PG_BINDIR")
                .expect("LIFEBOAT_TEST_PG_BINDIR is not set: run `bash scripts/services.sh start`"),
        );
        let dir = tempfile::Builder::new().prefix("lifeboat-pg-").tempdir().expect("temp dir");
        let password = crate::names::unique("pw");
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, format!("{password}\n")).expect("write pwfile");
        give_to_server_user(dir.path());
        let data = dir.path().join("data");
        let out = as_server_user(&bindir.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "lifeboat", "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8"])
            .args(["--locale=C.UTF-8", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let _ = std::fs::remove_file(&pwfile);
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\nsynchronous_commit = off\n",
            dir.path().display()
        );
        append(&data.join("postgresql.conf"), &conf);
        let port = closed_port();
        let pg = PrivatePostgres {
            url: format!("postgres://lifeboat@127.0.0.1:{port}/postgres"),
            password,
            port,
            bindir,
            dir,
        };
        pg.start();
        pg
    }

    /// The URL with the password in it (for test code; never hand it to a config).
    pub fn url_with_password(&self) -> String {
        format!("postgres://lifeboat:{}@127.0.0.1:{}/postgres", self.password, self.port)
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    pub fn start(&self) {
        let status = self
            .pg_ctl()
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-o", &format!("-p {}", self.port), "-w", "-t", "60", "start"])
            .stdout(Stdio::null())
            .status()
            .expect("run pg_ctl start");
        assert!(status.success(), "pg_ctl start failed: {}", self.log_tail());
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("private postgres does not listen on {}: {}", self.port, self.log_tail());
    }

    /// Stops the server (fast shutdown): connections to its port are refused until
    /// [`Self::start`].
    pub fn stop(&self) {
        let status = self
            .pg_ctl()
            .args(["-m", "fast", "-w", "-t", "60", "stop"])
            .stdout(Stdio::null())
            .status()
            .expect("run pg_ctl stop");
        assert!(status.success(), "pg_ctl stop failed: {}", self.log_tail());
    }

    fn pg_ctl(&self) -> Command {
        let mut cmd = as_server_user(&self.bindir.join("pg_ctl"));
        cmd.arg("-D").arg(self.dir.path().join("data"));
        cmd
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<_> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.dir.path().join("data/postmaster.pid").exists() {
            let _ = self.pg_ctl().args(["-m", "immediate", "-w", "stop"]).stdout(Stdio::null()).status();
        }
    }
}

fn is_root() -> bool {
    effective_uid() == 0
}

/// The effective uid, from /proc (no libc call needed).
fn effective_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}

/// `program` run as the server's user: `postgres` when we are root (PostgreSQL refuses to
/// run as root), else ourselves.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn give_to_server_user(dir: &Path) {
    if is_root() {
        let status = Command::new("chown").args(["-R", "postgres"]).arg(dir).status().expect("run chown");
        assert!(status.success(), "chown {} to postgres failed", dir.display());
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).expect("open postgresql.conf");
    file.write_all(text.as_bytes()).expect("append to postgresql.conf");
}

//! A private `redis-server` Lifeboat starts: on a free loopback port, without persistence,
//! with a random password in a 0600 config file in its own temporary directory (never on its
//! command line), optionally loading an RDB snapshot. Killed and reaped when stopped or
//! dropped. Scratch targets for drills use it, and the RDB dump uses it to measure the
//! snapshot it streamed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::process::Command;

use super::admin;
use crate::conn::{RedisConn, Secret};
use crate::error::{DumpError, Result};
use crate::process::{ChildGuard, Tool, find_tool, random_bytes};

/// How long a started server may take to load its dataset.
const LOAD_TIMEOUT: Duration = Duration::from_secs(600);

fn config_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| DumpError::io("finding a free port", "127.0.0.1", e))?;
    l.local_addr().map(|a| a.port()).map_err(|e| DumpError::io("finding a free port", "127.0.0.1", e))
}

/// A started `redis-server`.
pub(crate) struct RedisServer {
    /// Its connection, with its password.
    pub(crate) conn: RedisConn,
    /// `redis://127.0.0.1:<port>` (no password).
    pub(crate) url: String,
    /// Its process id.
    pub(crate) pid: Option<u32>,
    child: Option<ChildGuard>,
    dir: Option<tempfile::TempDir>,
}

impl RedisServer {
    /// Starts `binary` (default: `redis-server` on `PATH`) in a new directory under `base`
    /// (default: the temporary directory), loading `rdb` when given, and waits until its
    /// dataset is loaded.
    pub(crate) async fn start(binary: Option<&Path>, base: Option<&Path>, rdb: Option<&Path>) -> Result<RedisServer> {
        let tool = match binary {
            Some(p) => Tool { name: "redis-server".into(), path: p.to_path_buf(), package: "redis-server" },
            None => find_tool(&["redis-server"], "redis-server", &[])?,
        };
        let base: Option<PathBuf> = base.map(Path::to_path_buf);
        let dir_err = |e| DumpError::io("creating a directory for redis-server", "temporary directory", e);
        let dir = tokio::task::spawn_blocking(move || match base {
            Some(b) => tempfile::Builder::new().prefix("lifeboat-redis-").tempdir_in(b),
            None => tempfile::Builder::new().prefix("lifeboat-redis-").tempdir(),
        })
        .await
        .map_err(|e| dir_err(std::io::Error::other(e)))?
        .map_err(dir_err)?;
        if let Some(rdb) = rdb {
            let to = dir.path().join("dump.rdb");
            if tokio::fs::hard_link(rdb, &to).await.is_err() {
                tokio::fs::copy(rdb, &to).await.map_err(|e| {
                    DumpError::io("copying the RDB snapshot for redis-server", rdb.display().to_string(), e)
                })?;
            }
        }
        let password = Secret::new(random_bytes(16)?.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let mut last_err = None;
        for _ in 0..3 {
            let port = free_port()?;
            match try_spawn(&tool, dir.path(), port, &password).await {
                Ok((child, pid)) => {
                    let url = format!("redis://127.0.0.1:{port}");
                    let conn = RedisConn::parse(&url)?.with_password(password.clone());
                    let mut server = RedisServer { conn, url, pid, child: Some(child), dir: Some(dir) };
                    if let Err(e) = server.wait_ready().await {
                        server.kill().await;
                        return Err(e);
                    }
                    return Ok(server);
                }
                Err((e, retry)) => {
                    last_err = Some(e);
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last_err.unwrap_or_else(|| DumpError::Unsupported("redis-server did not start".into())))
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.child_mut().try_wait()
            {
                return Err(DumpError::ToolFailed {
                    tool: "redis-server".into(),
                    operation: "loading the dataset".into(),
                    target: self.url.clone(),
                    status: status.to_string(),
                    stderr: self.log_tail(),
                });
            }
            match admin::ready(&self.conn).await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) if started.elapsed() > Duration::from_secs(5) => return Err(e),
                Err(_) => {}
            }
            if started.elapsed() > LOAD_TIMEOUT {
                return Err(DumpError::ConnectFailed {
                    target: self.url.clone(),
                    detail: format!("redis-server did not finish loading within {} s", LOAD_TIMEOUT.as_secs()),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_tail(&self) -> String {
        let Some(dir) = &self.dir else { return String::new() };
        log_tail(&dir.path().join("redis.log"))
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await;
        }
    }

    /// Kills and reaps the server and removes its directory.
    pub(crate) async fn stop(mut self) -> Result<()> {
        self.kill().await;
        if let Some(dir) = self.dir.take() {
            let path = dir.path().display().to_string();
            let err = |e| DumpError::io("removing the redis-server directory", path.clone(), e);
            tokio::task::spawn_blocking(move || dir.close())
                .await
                .map_err(|e| err(std::io::Error::other(e)))?
                .map_err(err)?;
        }
        Ok(())
    }
}

/// The last lines of a redis-server log, joined.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(3).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// Writes the 0600 config and starts the server; `Err((e, true))` when the port was taken.
async fn try_spawn(
    tool: &Tool,
    dir: &Path,
    port: u16,
    password: &Secret,
) -> std::result::Result<(ChildGuard, Option<u32>), (DumpError, bool)> {
    let conf = dir.join("redis.conf");
    let log = dir.join("redis.log");
    let text = format!(
        "port {port}\nbind 127.0.0.1\nprotected-mode yes\nsave \"\"\nappendonly no\ndaemonize no\n\
         dir {}\ndbfilename dump.rdb\nlogfile {}\nrequirepass {}\n",
        config_quote(&dir.display().to_string()),
        config_quote(&log.display().to_string()),
        config_quote(password.expose()),
    );
    let io =
        |e: std::io::Error| (DumpError::io("writing the redis-server config", conf.display().to_string(), e), false);
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&conf).map_err(io)?;
        std::io::Write::write_all(&mut f, text.as_bytes()).map_err(io)?;
    }
    let _ = std::fs::remove_file(&log);
    let mut cmd: Command = tool.command();
    cmd.arg(&conf).current_dir(dir).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut guard = tool.spawn(&mut cmd).map_err(|e| (e, false))?;
    let pid = guard.id();
    // Up when the port accepts connections; a server that exits says why in its log.
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = guard.child_mut().try_wait() {
            let detail = log_tail(&log);
            let taken = detail.contains("Address already in use");
            let _ = guard.wait().await;
            return Err((
                DumpError::ToolFailed {
                    tool: "redis-server".into(),
                    operation: "starting".into(),
                    target: format!("redis://127.0.0.1:{port}"),
                    status: status.to_string(),
                    stderr: password.scrub(&detail),
                },
                taken,
            ));
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok((guard, pid));
        }
        if started.elapsed() > Duration::from_secs(30) {
            guard.kill().await;
            return Err((
                DumpError::ConnectFailed {
                    target: format!("redis://127.0.0.1:{port}"),
                    detail: "redis-server did not listen within 30 s".into(),
                },
                false,
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

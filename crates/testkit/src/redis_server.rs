//! A private redis-server, for tests that kill the server or need a fresh, empty instance.

use std::process::{Child, Command, Stdio};

use crate::env::env_value;
use crate::resp::{R, Redis};
use crate::urls::closed_port;

/// A redis-server of this test alone on a free loopback port, killed on drop.
pub struct PrivateRedis {
    /// The server process.
    pub child: Child,
    /// `redis://:<password>@127.0.0.1:<port>`.
    pub url: String,
    /// Its working directory (holds `dump.rdb`).
    pub dir: tempfile::TempDir,
}

impl PrivateRedis {
    /// Starts a server requiring `password`, loading `rdb` as its dataset when given, and waits
    /// until it answers PING (the dataset is loaded). The binary is `$LIFEBOAT_TEST_REDIS_SERVER`
    /// (from the services env file), else `redis-server` on the PATH.
    pub fn start(password: &str, rdb: Option<&[u8]>) -> PrivateRedis {
        let server = env_value("LIFEBOAT_TEST_REDIS_SERVER").unwrap_or_else(|| "redis-server".into());
        let dir = tempfile::tempdir().unwrap();
        if let Some(bytes) = rdb {
            std::fs::write(dir.path().join("dump.rdb"), bytes).unwrap();
        }
        let port = closed_port();
        let mut child = Command::new(server)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--requirepass", password, "--save", ""])
            .args(["--appendonly", "no", "--dbfilename", "dump.rdb", "--dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (run scripts/services.sh to install it)");
        let url = format!("redis://:{password}@127.0.0.1:{port}");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                let mut r = Redis::connect(&url);
                // Wait until the dataset is loaded.
                if r.cmd(&[b"PING"]) == R::Simple("PONG".into()) {
                    return PrivateRedis { child, url, dir };
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("private redis-server did not start");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

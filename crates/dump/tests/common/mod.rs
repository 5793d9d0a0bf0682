//! Shared helpers of the integration tests: service URLs from scripts/services.sh, SQL and
//! Redis helpers for setting up data and checksumming it, process inspection.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The URL of a test service: from the environment, else from the env file that
/// scripts/services.sh writes. Fails (never skips) when neither has it.
pub fn service_url(var: &str) -> String {
    if let Ok(v) = std::env::var(var)
        && !v.is_empty()
    {
        return v;
    }
    let file = std::env::var("LIFEBOAT_TEST_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-services.env"));
    if let Ok(text) = std::fs::read_to_string(&file) {
        for line in text.lines() {
            let line = line.trim().trim_start_matches("export ");
            if let Some((k, v)) = line.split_once('=')
                && k == var
            {
                return v.trim_matches('\'').to_string();
            }
        }
    }
    let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
    panic!(
        "{var} is not set and {} does not define it{}: run `scripts/services.sh` first \
         (it installs and starts PostgreSQL, MariaDB and Redis for the tests)",
        file.display(),
        if ci { " (CI: a missing service is a failure)" } else { "" }
    );
}

pub fn env_value(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty()).or_else(|| {
        let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-services.env");
        let text = std::fs::read_to_string(file).ok()?;
        text.lines().find_map(|l| {
            let l = l.trim().trim_start_matches("export ");
            let (k, v) = l.split_once('=')?;
            (k == var).then(|| v.trim_matches('\'').to_string())
        })
    })
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this test process and call.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// Parts of a URL for the test helpers' own client calls.
pub struct Url {
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: u16,
}

pub fn parse(url: &str) -> Url {
    let u = url::Url::parse(url).expect("test URL");
    Url {
        user: u.username().to_string(),
        password: u.password().unwrap_or("").to_string(),
        host: u.host_str().unwrap_or("127.0.0.1").to_string(),
        port: u.port().expect("test URL has a port"),
    }
}

/// Replaces the path (database) of a URL.
pub fn with_path(url: &str, path: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_path(path);
    u.to_string()
}

/// Replaces the password of a URL.
pub fn with_password(url: &str, pw: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_password(Some(pw)).unwrap();
    u.to_string()
}

/// A port on loopback that nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    drop(l);
    p
}

fn run(cmd: &mut Command, input: &str, what: &str) -> String {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect(what);
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        input.chars().take(2000).collect::<String>()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs SQL through psql on `db` (ON_ERROR_STOP), returns unaligned tuples-only output.
pub fn psql(url: &str, db: &str, sql: &str) -> String {
    let u = parse(url);
    run(
        Command::new("psql")
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                &u.host,
                "-p",
                &u.port.to_string(),
                "-U",
                &u.user,
                "-d",
                db,
            ])
            .env("PGPASSWORD", &u.password),
        sql,
        "psql",
    )
    .trim()
    .to_string()
}

/// Starts psql on `db` running `sql` in the background.
pub fn psql_spawn(url: &str, db: &str, sql: &str) -> std::process::Child {
    let u = parse(url);
    let mut child = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", &u.host, "-p", &u.port.to_string(), "-U", &u.user, "-d", db])
        .env("PGPASSWORD", &u.password)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
    child
}

/// Runs SQL through the mariadb client (batch mode, no column names).
pub fn mysql(url: &str, db: Option<&str>, sql: &str) -> String {
    let u = parse(url);
    let mut cmd = Command::new("mariadb");
    cmd.args(["--no-defaults", "--batch", "--raw", "--skip-column-names", "--default-character-set=utf8mb4"])
        .args(["--max-allowed-packet=1G", "-h", &u.host, "-P", &u.port.to_string(), "-u", &u.user])
        .env("MYSQL_PWD", &u.password);
    if let Some(d) = db {
        cmd.arg(d);
    }
    run(&mut cmd, sql, "mariadb").trim().to_string()
}

/// Starts the mariadb client running `sql` in the background.
pub fn mysql_spawn(url: &str, db: &str, sql: &str) -> std::process::Child {
    let u = parse(url);
    let mut child = Command::new("mariadb")
        .args(["--no-defaults", "--batch", "-h", &u.host, "-P", &u.port.to_string(), "-u", &u.user, db])
        .env("MYSQL_PWD", &u.password)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
    child
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(s) => {
            let state = s.rsplit_once(')').map(|(_, r)| r.trim_start().chars().next().unwrap_or('?')).unwrap_or('?');
            state != 'Z' && state != 'X'
        }
    }
}

/// Waits up to `secs` for a process to be gone (exited and reaped).
pub fn wait_gone(pid: u32, secs: u64) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// The pids of every process whose argv or environment contains `needle`.
pub fn processes_exposing(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        if pid == me {
            continue;
        }
        for file in ["cmdline", "environ"] {
            if let Ok(bytes) = std::fs::read(entry.path().join(file))
                && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
            {
                let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                found.push((pid, format!("{file}: {}", String::from_utf8_lossy(&cmd).replace('\0', " "))));
            }
        }
    }
    found
}

/// The pids of the children of `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        if let Ok(s) = std::fs::read_to_string(entry.path().join("stat"))
            && let Some((_, rest)) = s.rsplit_once(')')
        {
            let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(parent) {
                out.push(pid);
            }
        }
    }
    out
}

/// An AsyncWrite that fails after `limit` bytes (a repository failing mid-stream).
pub struct FailingWriter {
    pub written: usize,
    pub limit: usize,
}

impl tokio::io::AsyncWrite for FailingWriter {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.written >= self.limit {
            return std::task::Poll::Ready(Err(std::io::Error::other("repository unavailable (injected)")));
        }
        let n = buf.len().min(self.limit - self.written);
        self.written += n;
        std::task::Poll::Ready(Ok(n))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// A minimal blocking RESP client for checking Redis contents in tests.
pub struct Redis {
    rd: std::io::BufReader<std::net::TcpStream>,
    wr: std::net::TcpStream,
}

#[derive(Debug, Clone, PartialEq)]
pub enum R {
    Nil,
    Int(i64),
    Bulk(Vec<u8>),
    Simple(String),
    Err(String),
    Arr(Vec<R>),
}

impl Redis {
    pub fn connect(url: &str) -> Redis {
        let u = url::Url::parse(url).unwrap();
        let s = std::net::TcpStream::connect((u.host_str().unwrap(), u.port().unwrap())).expect("connect to redis");
        let mut r = Redis { rd: std::io::BufReader::new(s.try_clone().unwrap()), wr: s };
        if let Some(pw) = u.password() {
            assert_eq!(r.cmd(&[b"AUTH", pw.as_bytes()]), R::Simple("OK".into()));
        }
        let db = u.path().trim_start_matches('/');
        if !db.is_empty() {
            r.cmd(&[b"SELECT", db.as_bytes()]);
        }
        r
    }

    pub fn cmd(&mut self, args: &[&[u8]]) -> R {
        use std::io::Write;
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.wr.write_all(&out).unwrap();
        self.read()
    }

    pub fn cmd_str(&mut self, args: &[&str]) -> R {
        let v: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.cmd(&v)
    }

    fn read(&mut self) -> R {
        use std::io::{BufRead, Read};
        let mut line = Vec::new();
        self.rd.read_until(b'\n', &mut line).unwrap();
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        match line[0] {
            b'+' => R::Simple(text),
            b'-' => R::Err(text),
            b':' => R::Int(text.parse().unwrap()),
            b'$' => {
                let n: i64 = text.parse().unwrap();
                if n < 0 {
                    return R::Nil;
                }
                let mut v = vec![0u8; n as usize + 2];
                self.rd.read_exact(&mut v).unwrap();
                v.truncate(n as usize);
                R::Bulk(v)
            }
            b'*' => {
                let n: i64 = text.parse().unwrap();
                if n < 0 {
                    return R::Nil;
                }
                R::Arr((0..n).map(|_| self.read()).collect())
            }
            _ => panic!("bad reply {line:?}"),
        }
    }

    /// Every key of the selected database matching `pattern`.
    pub fn keys(&mut self, pattern: &[u8]) -> Vec<Vec<u8>> {
        let mut cursor = b"0".to_vec();
        let mut keys = Vec::new();
        loop {
            let R::Arr(parts) = self.cmd(&[b"SCAN", &cursor, b"MATCH", pattern, b"COUNT", b"1000"]) else { panic!() };
            let (R::Bulk(c), R::Arr(ks)) = (&parts[0], &parts[1]) else { panic!() };
            for k in ks {
                if let R::Bulk(k) = k {
                    keys.push(k.clone());
                }
            }
            cursor = c.clone();
            if cursor == b"0" {
                break;
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// The value of a key in a canonical form (independent of encodings and hash order).
    pub fn content(&mut self, k: &[u8], t: &str) -> Vec<u8> {
        fn flat(r: R, out: &mut Vec<Vec<u8>>) {
            match r {
                R::Bulk(b) => out.push(b),
                R::Int(i) => out.push(i.to_string().into_bytes()),
                R::Simple(s) => out.push(s.into_bytes()),
                R::Nil => out.push(b"<nil>".to_vec()),
                R::Err(e) => out.push(format!("<err {e}>").into_bytes()),
                R::Arr(v) => {
                    out.push(format!("[{}", v.len()).into_bytes());
                    for x in v {
                        flat(x, out);
                    }
                    out.push(b"]".to_vec());
                }
            }
        }
        let mut parts = Vec::new();
        match t {
            "string" => flat(self.cmd(&[b"GET", k]), &mut parts),
            "list" => flat(self.cmd(&[b"LRANGE", k, b"0", b"-1"]), &mut parts),
            "zset" => flat(self.cmd(&[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"]), &mut parts),
            "hash" => {
                let R::Arr(v) = self.cmd(&[b"HGETALL", k]) else { panic!() };
                let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = v
                    .chunks(2)
                    .map(|c| match (&c[0], &c[1]) {
                        (R::Bulk(a), R::Bulk(b)) => (a.clone(), b.clone()),
                        _ => panic!(),
                    })
                    .collect();
                pairs.sort();
                for (a, b) in pairs {
                    parts.push(a);
                    parts.push(b);
                }
            }
            "set" => {
                let R::Arr(v) = self.cmd(&[b"SMEMBERS", k]) else { panic!() };
                let mut m: Vec<Vec<u8>> =
                    v.into_iter().map(|x| if let R::Bulk(b) = x { b } else { panic!() }).collect();
                m.sort();
                parts.extend(m);
            }
            "stream" => {
                flat(self.cmd(&[b"XRANGE", k, b"-", b"+"]), &mut parts);
                flat(self.cmd(&[b"XINFO", b"GROUPS", k]), &mut parts);
                flat(self.cmd(&[b"XPENDING", k, b"grp"]), &mut parts);
            }
            other => panic!("type {other}"),
        }
        let mut out = Vec::new();
        for p in parts {
            out.extend_from_slice(format!("{}:", p.len()).as_bytes());
            out.extend_from_slice(&p);
        }
        out
    }

    /// (key, type, canonical content, PTTL) of every key matching `pattern`.
    pub fn snapshot(&mut self, pattern: &[u8]) -> Vec<(Vec<u8>, String, Vec<u8>, i64)> {
        let mut out = Vec::new();
        for k in self.keys(pattern) {
            let R::Simple(t) = self.cmd(&[b"TYPE", &k]) else { panic!() };
            let d = self.content(&k, &t);
            let R::Int(ttl) = self.cmd(&[b"PTTL", &k]) else { panic!() };
            out.push((k, t, d, ttl));
        }
        out
    }
}

/// A private redis-server (for tests that kill it or need a fresh instance); killed on drop.
pub struct PrivateRedis {
    pub child: std::process::Child,
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl PrivateRedis {
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

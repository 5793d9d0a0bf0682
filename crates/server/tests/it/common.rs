//! The harness: a scratch directory with a config, a state file and repositories
//! ([`Site`]), the real `lifeboatd` binary started on a free loopback port ([`Daemon`]), a
//! small HTTP/1.1 client ([`http`]), and the repository and token helpers.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeboat_ops::state::{JobRecord, Scope, StateOptions, StateStore};
use serde_json::Value;

/// The repositories' password (a test value).
pub const PASSWORD: &str = "correct horse battery staple";

/// The S3 test server's variables (scripts/s3-server.sh).
pub const S3_VARS: &[&str] = &["LIFEBOAT_TEST_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];

/// A scratch directory for one lifeboatd: its config, state, temp dir, repositories.
pub struct Site {
    pub tmp: tempfile::TempDir,
    /// Extra environment for lifeboatd (S3 credentials ...).
    pub vars: Vec<(String, String)>,
}

impl Site {
    pub fn new() -> Site {
        let tmp = tempfile::Builder::new().prefix("lifeboatd-it-").tempdir().expect("temp dir");
        for dir in ["tmp", "home", "known"] {
            std::fs::create_dir_all(tmp.path().join(dir)).expect("mkdir");
        }
        std::fs::write(tmp.path().join("repo.pw"), format!("{PASSWORD}\n")).expect("write password file");
        Site { tmp, vars: Vec::new() }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    pub fn config(&self) -> PathBuf {
        self.path("lifeboat.toml")
    }

    pub fn state(&self) -> PathBuf {
        self.path("state/lifeboatd.sqlite")
    }

    /// lifeboatd's TMPDIR: it must be empty again after every job.
    pub fn tmpdir(&self) -> PathBuf {
        self.path("tmp")
    }

    /// Writes the config, replacing `@PASSWORD_FILE@` and `@DIR@`.
    pub fn write_config(&self, text: &str) {
        let text = text
            .replace("@PASSWORD_FILE@", &self.path("repo.pw").display().to_string())
            .replace("@DIR@", &self.tmp.path().display().to_string());
        std::fs::write(self.config(), text).expect("write config");
    }

    /// A new local repository at `<site>/<name>`, initialised; returns its path.
    pub fn local_repo(&self, name: &str) -> String {
        let path = self.path(name);
        let storage = lifeboat_storage::open_url(&path.display().to_string()).expect("open repo dir");
        init_repo(storage);
        path.display().to_string()
    }

    /// A new repository in a new bucket of the S3 test server; returns its URL and adds the
    /// S3 credentials to lifeboatd's environment.
    pub fn s3_repo(&mut self, prefix: &str) -> String {
        let env = lifeboat_testkit::server_env("test-s3.env", "bash scripts/s3-server.sh start", S3_VARS);
        let endpoint = &env["LIFEBOAT_TEST_S3_ENDPOINT"];
        let bucket = lifeboat_testkit::names::unique_dashed("lbd");
        let url = format!("s3://{bucket}/{prefix}?endpoint={endpoint}&region=us-east-1&path_style=true");
        let lifeboat_storage::StorageUrl::S3(opts) = lifeboat_storage::StorageUrl::parse(&url).expect("parse s3 url")
        else {
            panic!("not an s3 url")
        };
        let store = lifeboat_storage::S3Storage::with_static_credentials(
            opts,
            &env["AWS_ACCESS_KEY_ID"],
            &env["AWS_SECRET_ACCESS_KEY"],
        );
        runtime().block_on(async {
            store.sdk_client().await.create_bucket().bucket(&bucket).send().await.expect("create bucket");
        });
        for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            self.vars.push((k.to_owned(), env[k].clone()));
        }
        self.vars.push(("AWS_REGION".to_owned(), "us-east-1".to_owned()));
        init_repo(Arc::new(store));
        url
    }

    /// Creates an API token with `scopes` in the state (lifeboatd not running, or running:
    /// a second handle is attached then).
    pub fn token(&self, name: &str, scopes: &[Scope]) -> String {
        std::fs::create_dir_all(self.state().parent().unwrap()).unwrap();
        let mut store = match StateStore::open(self.state()) {
            Ok(store) => store,
            Err(_) => StateStore::attach(self.state(), StateOptions::default()).expect("attach state"),
        };
        let token = store.create_token(name, scopes, None, chrono::Utc::now()).expect("create token");
        token.secret.to_string()
    }

    /// Every job in the state, oldest first (lifeboatd stopped, or through a second handle).
    pub fn jobs(&self) -> Vec<JobRecord> {
        let store = StateStore::attach(self.state(), StateOptions::default()).expect("attach state");
        let mut jobs = store.list_jobs(&Default::default()).expect("list jobs").jobs;
        jobs.reverse();
        jobs
    }

    /// Files left in lifeboatd's TMPDIR.
    pub fn temp_leftovers(&self) -> Vec<PathBuf> {
        files_under(&self.tmpdir())
    }
}

fn init_repo(storage: Arc<dyn lifeboat_storage::Storage>) {
    let options = lifeboat_repo::InitOptions { kdf: lifeboat_crypto::Argon2Params::MINIMUM, ..Default::default() };
    runtime()
        .block_on(lifeboat_repo::Repository::init(storage, lifeboat_repo::Credential::password(PASSWORD), options))
        .expect("init repository");
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// Every file (not directory) under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A running lifeboatd; killed (SIGKILL) when dropped.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

/// `lifeboatd` with the site's environment (no inherited HOME, a private TMPDIR) and `args`.
pub fn lifeboatd(site: &Site, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboatd"));
    cmd.args(args)
        .env("HOME", site.path("home"))
        .env("TMPDIR", site.tmpdir())
        .env("LIFEBOAT_STATE_DIR", site.path("known"))
        .env("LIFEBOAT_LOG", "info")
        .env_remove("LIFEBOAT_CONFIG")
        .envs(site.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null());
    cmd
}

/// The output of a lifeboatd that ran to its end.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs lifeboatd to its end (`--check`, a refusal), at most 60 s.
pub fn run_to_end(site: &Site, args: &[&str]) -> Finished {
    let out = lifeboatd(site, args).output().expect("run lifeboatd");
    Finished {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Daemon {
    /// Starts lifeboatd on the site's config and state, on a free loopback port (it binds
    /// port 0 and logs the address), and waits until /readyz answers 200.
    pub fn start(site: &Site) -> Daemon {
        Daemon::start_with(site, &[])
    }

    /// [`start`](Self::start) with extra arguments.
    pub fn start_with(site: &Site, extra: &[&str]) -> Daemon {
        let log = site.path(&format!("lifeboatd-{}.log", unique_suffix()));
        let stderr = std::fs::File::create(&log).expect("create log");
        let config = site.config().display().to_string();
        let state = site.state().display().to_string();
        let mut args = vec!["--config", &config, "--state", &state, "--listen", "127.0.0.1:0", "--log-format", "json"];
        args.extend_from_slice(extra);
        let child = lifeboatd(site, &args).stdout(Stdio::null()).stderr(stderr).spawn().expect("spawn lifeboatd");
        let mut daemon = Daemon { child, addr: "127.0.0.1:1".parse().unwrap(), log };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(addr) =
                daemon.log_lines().iter().find_map(|l| l["listen"].as_str().and_then(|a| a.parse().ok()))
            {
                daemon.addr = addr;
                break;
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("lifeboatd exited ({status}) before listening:\n{}", daemon.log_text());
            }
            assert!(Instant::now() < deadline, "lifeboatd logged no listen address in 60 s:\n{}", daemon.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
        while http(daemon.addr, "GET", "/readyz", None, None).status != 200 {
            assert!(Instant::now() < deadline, "lifeboatd not ready in 60 s:\n{}", daemon.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
        daemon
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid")
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed", self.pid());
    }

    /// Waits at most `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON log lines so far (lines that are not JSON are skipped).
    pub fn log_lines(&self) -> Vec<Value> {
        self.log_text().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// Waits until a log line satisfies `pred`.
    pub fn wait_log(&self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.log_lines().into_iter().find(&pred) {
                return line;
            }
            assert!(Instant::now() < deadline, "no log line {what} in {timeout:?}:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn get(&self, path: &str, token: &str) -> Response {
        http(self.addr, "GET", path, Some(token), None)
    }

    pub fn post(&self, path: &str, token: &str, body: &str) -> Response {
        http(self.addr, "POST", path, Some(token), Some(body))
    }

    /// POST /api/v1/plans/{plan}/run; returns the job's id.
    pub fn run_plan(&self, plan: &str, token: &str) -> i64 {
        let r = self.post(&format!("/api/v1/plans/{plan}/run"), token, "{}");
        assert!(r.status == 202 || r.status == 200 || r.status == 201, "run {plan}: {} {}", r.status, r.body);
        job_id(&r.json()).unwrap_or_else(|| panic!("no job id in {}", r.body))
    }

    /// Polls /api/v1/jobs/{id} until the job is final; returns its JSON.
    pub fn wait_job(&self, id: i64, token: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.get(&format!("/api/v1/jobs/{id}"), token);
            assert_eq!(r.status, 200, "GET job {id}: {}", r.body);
            let json = r.json();
            let job = if json.get("job").is_some_and(Value::is_object) { json["job"].clone() } else { json };
            if matches!(job["state"].as_str(), Some("succeeded" | "failed" | "cancelled")) {
                return job;
            }
            assert!(Instant::now() < deadline, "job {id} not final in {timeout:?}: {job}\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The job id of a run answer: `{"job": {"id": N}}`, `{"job": N}`, `{"id": N}` or `{"job_id": N}`.
pub fn job_id(v: &Value) -> Option<i64> {
    v["job"]["id"].as_i64().or_else(|| v["job"].as_i64()).or_else(|| v["id"].as_i64()).or_else(|| v["job_id"].as_i64())
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request on a new connection (`Connection: close`). Status 0 when the
/// connection fails (not listening yet, or any more).
pub fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Response {
    let failed = || Response { status: 0, headers: HashMap::new(), body: String::new() };
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else { return failed() };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = body.unwrap_or("");
    if method != "GET" {
        request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    if stream.write_all(request.as_bytes()).is_err() {
        return failed();
    }
    let mut raw = Vec::new();
    if stream.read_to_end(&mut raw).is_err() && raw.is_empty() {
        return failed();
    }
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { return failed() };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut payload = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    if headers.get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        payload = dechunk(&payload);
    }
    Response { status, headers, body: String::from_utf8_lossy(&payload).into_owned() }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..eol]).ok().and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
        let Some(size) = size.filter(|s| *s > 0) else { break };
        let start = eol + 2;
        let end = (start + size).min(data.len());
        out.extend_from_slice(&data[start..end]);
        data = data.get(end + 2..).unwrap_or_default();
    }
    out
}

/// Processes whose command line contains `needle` (from /proc).
pub fn processes_with(needle: &str) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            // A zombie (already exited, not yet reaped) is not running: skip it.
            let state = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let zombie = state.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z'));
            if !zombie {
                found.push((pid, cmdline));
            }
        }
    }
    found
}

/// The job in the state with this id.
pub fn state_job(site: &Site, id: i64) -> JobRecord {
    site.jobs().into_iter().find(|j| j.id.0 == id).unwrap_or_else(|| panic!("job {id} is not in the state"))
}

//! Shared helpers for the end-to-end tests of the `lifeboat` binary: a private repository
//! in a temporary directory, a runner with a watchdog, and small file-system utilities.
//!
//! Every test builds its own [`Env`]; nothing is shared between tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use lifeboat_testkit::files::{all_files, random_bytes};

/// The password of every test repository.
pub const PASSWORD: &str = "correct horse battery staple";
/// How long any single `lifeboat` run may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// Exit codes documented in the README.
pub const EXIT_OK: i32 = 0;
/// Failure.
pub const EXIT_FAILURE: i32 = 1;
/// Usage error.
pub const EXIT_USAGE: i32 = 2;
/// `verify` found damage.
pub const EXIT_DAMAGE: i32 = 3;
/// Interrupted by Ctrl-C.
pub const EXIT_INTERRUPTED: i32 = 130;

/// The `lifeboat` binary with a clean environment (no LIFEBOAT_* variables leak in).
pub fn lifeboat() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    cmd.env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()));
    cmd
}

/// What one run produced.
#[derive(Debug)]
pub struct Out {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Raw standard output.
    pub stdout: Vec<u8>,
    /// Standard error as text.
    pub stderr: String,
    /// The command line, for messages.
    pub what: String,
}

impl Out {
    /// Standard output as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard output and standard error together.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.text(), self.stderr)
    }

    /// Standard output parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!("{}: stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.what, self.text(), self.stderr)
        })
    }

    /// Asserts the exit code, printing everything when it differs.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            expected,
            "`{}` exited {} (expected {expected})\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.code,
            if self.stdout.len() > 4096 { format!("<{} bytes>", self.stdout.len()) } else { self.text() },
            self.stderr
        );
        self
    }

    /// Asserts success.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.code(EXIT_OK)
    }

    /// Asserts that standard error contains `needle` (case-insensitive).
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.to_lowercase().contains(&needle.to_lowercase()),
            "`{}`: stderr does not mention {needle:?}:\n{}",
            self.what,
            self.stderr
        );
        self
    }

    /// Asserts that standard output or standard error contains `needle` (case-insensitive).
    #[track_caller]
    pub fn output_has(&self, needle: &str) -> &Self {
        assert!(
            self.all().to_lowercase().contains(&needle.to_lowercase()),
            "`{}`: output does not mention {needle:?}:\n{}",
            self.what,
            self.all()
        );
        self
    }

    /// Asserts that the process did not panic (Rust panics print this marker).
    #[track_caller]
    pub fn no_panic(&self) -> &Self {
        assert!(!self.stderr.contains("panicked"), "`{}` panicked:\n{}", self.what, self.stderr);
        self
    }
}

/// Runs `cmd` with `stdin` as its input, under the watchdog.
pub fn run(mut cmd: Command, stdin: &[u8]) -> Out {
    let what = describe(&cmd);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
    let mut input = child.stdin.take().expect("piped stdin");
    let data = stdin.to_vec();
    // A writer thread, so a child that stops reading (an error) cannot deadlock us.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = collect(child, &what);
    let _ = writer.join();
    out
}

/// Waits for `child` (whose stdout/stderr are piped) with the watchdog.
pub fn collect(mut child: Child, what: &str) -> Out {
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let status = wait_timeout(&mut child, TIMEOUT).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("`{what}` did not finish within {TIMEOUT:?}; killed it");
    });
    let stdout = out_reader.join().expect("stdout reader");
    let stderr = String::from_utf8_lossy(&err_reader.join().expect("stderr reader")).into_owned();
    Out { code: status.code().unwrap_or(-1), stdout, stderr, what: what.to_owned() }
}

/// Polls `child` until it exits or `limit` passes.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => return None,
            Err(e) => panic!("waiting for a child failed: {e}"),
        }
    }
}

fn describe(cmd: &Command) -> String {
    let mut parts = vec!["lifeboat".to_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// A temporary directory holding one repository (`<tmp>/repo`) and whatever else a test needs.
pub struct Env {
    /// The temporary directory (removed on drop).
    pub tmp: tempfile::TempDir,
    /// The repository path.
    pub repo: PathBuf,
    /// The password given through LIFEBOAT_PASSWORD (None: no password variable).
    pub password: Option<String>,
}

impl Env {
    /// A new, not yet initialised repository location.
    pub fn new() -> Env {
        let tmp = tempfile::Builder::new().prefix("lifeboat-cli-test-").tempdir().expect("tempdir");
        let repo = tmp.path().join("repo");
        Env { tmp, repo, password: Some(PASSWORD.to_owned()) }
    }

    /// A new format 2 repository initialised with the cheap test KDF and `segment_size`
    /// (None: default): segments are format 2's, so the tests of the object container use it.
    pub fn init_with(segment_size: Option<u32>) -> Env {
        Env::init_as(segment_size, Some(2))
    }

    /// A new repository in the default format.
    pub fn init() -> Env {
        Env::init_as(None, None)
    }

    /// A new format 2 repository (one object per stream, tar for files), for the tests of
    /// that format.
    pub fn init_v2() -> Env {
        Env::init_as(None, Some(2))
    }

    fn init_as(segment_size: Option<u32>, format: Option<u32>) -> Env {
        let env = Env::new();
        let mut args = vec!["init".to_owned()];
        args.extend(cheap_kdf().iter().map(|s| s.to_string()));
        if let Some(s) = segment_size {
            args.push("--segment-size".into());
            args.push(s.to_string());
        }
        let format = format.map(|f| f.to_string()).or_else(|| std::env::var("LIFEBOAT_TEST_FORMAT").ok());
        if let Some(format) = format {
            args.push("--format".into());
            args.push(format);
        }
        env.run(&args.iter().map(String::as_str).collect::<Vec<_>>(), b"").ok();
        assert!(env.repo.join("config").is_file(), "init did not write {}", env.repo.join("config").display());
        env
    }

    /// This test's known-state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.tmp.path().join("state")
    }

    /// A path inside the temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `lifeboat` with LIFEBOAT_REPO, (if set) LIFEBOAT_PASSWORD, and `args`. Each Env has
    /// its own known-state directory (LIFEBOAT_STATE_DIR), so tests share no rollback state.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = lifeboat();
        cmd.env("LIFEBOAT_REPO", &self.repo);
        cmd.env("LIFEBOAT_STATE_DIR", self.state_dir());
        // Format 3 index copies stay in the test's directory, not in the user's ~/.cache.
        cmd.env("LIFEBOAT_CACHE_DIR", self.tmp.path().join("cache"));
        if let Some(p) = &self.password {
            cmd.env("LIFEBOAT_PASSWORD", p);
        }
        cmd.args(args);
        cmd
    }

    /// Runs `lifeboat args` against this repository with `stdin`.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Out {
        run(self.cmd(args), stdin)
    }

    /// `backup stdin --name NAME --json` of `data`; returns the new backup id.
    pub fn backup_stdin(&self, name: &str, data: &[u8]) -> String {
        let out = self.run(&["backup", "stdin", "--name", name, "--json"], data);
        out.ok();
        backup_id(&out)
    }

    /// `restore ID --stdout`, asserting success.
    pub fn restore_stdout(&self, id: &str) -> Vec<u8> {
        let out = self.run(&["restore", id, "--stdout"], b"");
        out.ok();
        out.stdout
    }

    /// The ids from `list --json`, asserting success.
    pub fn list_ids(&self) -> Vec<String> {
        let out = self.run(&["list", "--json"], b"");
        out.ok();
        ids_of(&out.json())
    }

    /// The `show --json` document of a backup.
    pub fn show(&self, id: &str) -> serde_json::Value {
        let out = self.run(&["show", id, "--json"], b"");
        out.ok();
        out.json()
    }

    /// The storage key of the only (or the named) object of a backup, via `show --json`.
    pub fn object_key(&self, id: &str, name: &str) -> String {
        let show = self.show(id);
        show["objects"]
            .as_array()
            .expect("objects array")
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("backup {id} has no object {name}: {show}"))["key"]
            .as_str()
            .expect("key is a string")
            .to_owned()
    }
}

/// The `--kdf-*` flags that make Argon2id cheap enough for tests.
pub fn cheap_kdf() -> [&'static str; 6] {
    // The floor `lifeboat` accepts (Argon2Params::MINIMUM): 19 MiB, 2 passes, 1 lane.
    ["--kdf-memory-kib", "19456", "--kdf-iterations", "2", "--kdf-parallelism", "1"]
}

/// The `id` member of a `backup --json` result.
pub fn backup_id(out: &Out) -> String {
    let json = out.json();
    let id = json["id"].as_str().unwrap_or_else(|| panic!("backup --json has no id: {json}")).to_owned();
    assert_eq!(id.len(), 32, "backup id {id:?} is not 32 hex digits");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "backup id {id:?} is not hex");
    id
}

/// The ids of a `list --json` array.
pub fn ids_of(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("list --json is not an array: {list}"))
        .iter()
        .map(|b| b["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Every file under `dir` whose name starts with `.lifeboat-tmp-`.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    all_files(dir)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(".lifeboat-tmp-")))
        .collect()
}

/// Relative path -> content of every file under `dir`.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    all_files(dir)
        .into_iter()
        .map(|p| {
            let content = std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            (p.strip_prefix(dir).expect("under dir").to_owned(), content)
        })
        .collect()
}

/// The lock files of a repository.
pub fn lock_files(repo: &Path) -> Vec<PathBuf> {
    all_files(&repo.join("locks"))
}

/// True when the effective user is root (read from /proc, no libc needed).
pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let uid = status.lines().find(|l| l.starts_with("Uid:")).expect("Uid line");
    uid.split_whitespace().nth(2) == Some("0")
}

/// Parses the segments of a stored data object (docs/FORMAT.md, 3.1-3.3): returns the
/// header length (fixed header + slot section) and each segment's byte range, length
/// prefix included.
pub fn segments(object: &[u8]) -> (usize, Vec<std::ops::Range<usize>>) {
    assert!(object.len() >= 74, "object of {} bytes is shorter than a header", object.len());
    assert_eq!(&object[..8], b"LIFEBOAT", "bad magic");
    let slot_count = u16::from_le_bytes([object[72], object[73]]) as usize;
    let mut pos = 74;
    for _ in 0..slot_count {
        let len = u16::from_le_bytes([object[pos + 1], object[pos + 2]]) as usize;
        pos += 3 + len;
    }
    let header_len = pos;
    let mut ranges = Vec::new();
    while pos < object.len() {
        let len = u32::from_le_bytes(object[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        ranges.push(pos..pos + 4 + len);
        pos += 4 + len;
    }
    assert_eq!(pos, object.len(), "segments do not end at the end of the object");
    (header_len, ranges)
}

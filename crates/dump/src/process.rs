//! Child processes: finding the client programs, running them, guarding against orphans,
//! private secret files, and turning their failures into clear errors.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStderr, Command};
use tokio::task::JoinHandle;

use crate::conn::Secret;
use crate::error::{DumpError, Result};

/// A client program found on disk.
#[derive(Clone, Debug)]
pub(crate) struct Tool {
    /// Program name as looked up, e.g. `pg_dump`.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
    /// The Debian package that provides it.
    pub package: &'static str,
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// Finds the first of `candidates` in `extra_dirs`, then on `PATH`.
pub(crate) fn find_tool(candidates: &[&str], package: &'static str, extra_dirs: &[PathBuf]) -> Result<Tool> {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let path_dirs: Vec<PathBuf> = std::env::split_paths(&path_var).collect();
    for name in candidates {
        for dir in extra_dirs.iter().chain(path_dirs.iter()) {
            let p = dir.join(name);
            if is_executable(&p) {
                return Ok(Tool { name: name.to_string(), path: p, package });
            }
        }
    }
    Err(DumpError::ToolMissing { tool: candidates.join("` or `"), package })
}

impl Tool {
    /// A command for this tool with null stdin, piped stdout/stderr, killed when dropped, and
    /// none of Lifeboat's own secrets in its environment (see [`scrub_env`]).
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.path);
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        scrub_env(&mut c, std::env::vars_os().map(|(k, _)| k));
        c
    }

    /// The first line of `--version`, e.g. `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`.
    pub async fn version(&self) -> Result<String> {
        let out = self
            .command()
            .arg("--version")
            .output()
            .await
            .map_err(|e| DumpError::Spawn { tool: self.name.clone(), source: e })?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().next().unwrap_or("").trim().to_string();
        if !out.status.success() || line.is_empty() {
            return Err(DumpError::ToolUnsuitable {
                tool: self.name.clone(),
                version: "(unknown)".into(),
                reason: format!("`{} --version` failed ({})", self.name, out.status),
                package: self.package.to_string(),
            });
        }
        Ok(line)
    }

    /// Spawns `cmd`, mapping a spawn failure to an error naming this tool.
    pub fn spawn(&self, cmd: &mut Command) -> Result<ChildGuard> {
        let child = cmd.spawn().map_err(|e| DumpError::Spawn { tool: self.name.clone(), source: e })?;
        Ok(ChildGuard { child: Some(child), tool: self.name.clone() })
    }
}

/// Storage credentials Lifeboat itself may read from its environment (docs/CONFIG.md): a
/// database tool has no business with them.
const STORAGE_SECRETS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "TENCENTCLOUD_SECRET_ID",
    "TENCENTCLOUD_SECRET_KEY",
    "OBS_ACCESS_KEY_ID",
    "OBS_SECRET_ACCESS_KEY",
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "AZURE_STORAGE_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS",
];

/// Removes from a child's environment every variable among `names` (the parent's) that is
/// Lifeboat's own: every `LIFEBOAT_*` variable (repository passwords, key files, webdav and
/// Elasticsearch credentials, and the paths of password files, which a child has no reason
/// to read either) and the object-store credentials of [`STORAGE_SECRETS`]. All of them,
/// not only those that look secret, so that a new secret variable is scrubbed without
/// anyone remembering to list it. The tools' own variables (`PG*`, `MYSQL_*`,
/// `REDISCLI_AUTH`) are left as the caller sets them.
fn scrub_env(cmd: &mut Command, names: impl Iterator<Item = std::ffi::OsString>) {
    for name in names {
        if let Some(n) = name.to_str()
            && (n.starts_with("LIFEBOAT_") || STORAGE_SECRETS.contains(&n))
        {
            cmd.env_remove(n);
        }
    }
}

/// Extracts the first `major.minor` (or `major`) version number from a version line.
pub(crate) fn parse_version(line: &str) -> Option<(u32, u32)> {
    for word in line.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')') {
        let w = word.trim_start_matches('v');
        let mut parts = w.split(['.', '-']);
        let Some(major) = parts.next().and_then(|m| m.parse::<u32>().ok()) else { continue };
        if !w.contains('.') {
            continue;
        }
        let minor = parts.next().and_then(|m| m.parse::<u32>().ok()).unwrap_or(0);
        return Some((major, minor));
    }
    None
}

/// Owns a child process: unless it was waited for to completion, dropping the guard kills the
/// child (SIGKILL) and reaps it in the background, so no orphan or zombie is left behind.
pub(crate) struct ChildGuard {
    child: Option<Child>,
    tool: String,
}

impl ChildGuard {
    /// The child's process id while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// The child, to take its pipes.
    pub fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("child already reaped")
    }

    /// Waits for the child to exit.
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        let child = self.child.as_mut().expect("child already reaped");
        let status = child.wait().await.map_err(|e| DumpError::Spawn { tool: self.tool.clone(), source: e })?;
        self.child = None;
        Ok(status)
    }

    /// Kills the child and waits for it.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = c.wait().await;
                });
            }
        }
    }
}

/// Collects the last `STDERR_KEEP` bytes of a child's stderr in a background task.
pub(crate) fn collect_stderr(stderr: Option<ChildStderr>) -> JoinHandle<String> {
    const STDERR_KEEP: usize = 16 * 1024;
    tokio::spawn(async move {
        let Some(mut stderr) = stderr else { return String::new() };
        let mut kept: Vec<u8> = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match stderr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    kept.extend_from_slice(&buf[..n]);
                    if kept.len() > 2 * STDERR_KEEP {
                        let cut = kept.len() - STDERR_KEEP;
                        kept.drain(..cut);
                    }
                }
            }
        }
        if kept.len() > STDERR_KEEP {
            let cut = kept.len() - STDERR_KEEP;
            kept.drain(..cut);
        }
        String::from_utf8_lossy(&kept).trim().to_string()
    })
}

/// A private temporary file holding a secret (a pgpass or MySQL option file): created 0600,
/// removed when dropped.
pub(crate) struct SecretFile {
    file: tempfile::NamedTempFile,
}

impl SecretFile {
    /// Writes `content` to a new 0600 file in the temporary directory (off the reactor).
    pub async fn create(prefix: &'static str, content: zeroize::Zeroizing<String>) -> Result<Self> {
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<tempfile::NamedTempFile> {
            let mut f = tempfile::Builder::new().prefix(prefix).tempfile()?;
            {
                use std::os::unix::fs::PermissionsExt;
                f.as_file().set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            f.write_all(content.as_bytes())?;
            f.flush()?;
            Ok(f)
        })
        .await
        .map_err(|e| {
            DumpError::io("writing a private credentials file", "temporary directory", std::io::Error::other(e))
        })?
        .map_err(|e| DumpError::io("writing a private credentials file", "temporary directory", e))?;
        Ok(SecretFile { file })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

/// `n` random bytes from the operating system.
pub(crate) fn random_bytes(n: usize) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| DumpError::io("reading random bytes", "/dev/urandom", e))?;
    Ok(buf)
}

/// Aborts a task when dropped: a dropped dump stream (or its finish) must not keep a task
/// reading from a server or a child.
pub(crate) struct AbortOnDrop<T>(pub(crate) JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a failing child was doing, for error messages.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub tool: String,
    pub operation: String,
    pub target: String,
    pub secret: Option<Secret>,
    /// The database the operation addressed, for "database does not exist" errors.
    pub database: Option<String>,
}

/// Turns a failed exit into the clearest error the tool's message allows.
pub(crate) fn failure(ctx: &Ctx, status: &str, stderr: &str) -> DumpError {
    let stderr = crate::conn::scrub(ctx.secret.as_ref(), stderr);
    let lower = stderr.to_lowercase();
    let first_error = stderr
        .lines()
        .find(|l| {
            let l = l.to_lowercase();
            l.contains("error") || l.contains("fatal") || l.contains("denied") || l.contains("failed")
        })
        .unwrap_or_else(|| stderr.lines().next().unwrap_or(""))
        .trim()
        .to_string();
    if lower.contains("password authentication failed")
        || lower.contains("access denied for user")
        || lower.contains("no password supplied")
        || lower.contains("wrongpass")
        || lower.contains("invalid password")
    {
        return DumpError::AuthFailed { target: ctx.target.clone(), detail: first_error };
    }
    if lower.contains("connection refused")
        || lower.contains("can't connect to")
        || lower.contains("could not translate host name")
        || lower.contains("no route to host")
        || lower.contains("unknown mysql server host")
        || lower.contains("unknown server host")
        || lower.contains("timeout expired")
    {
        return DumpError::ConnectFailed { target: ctx.target.clone(), detail: first_error };
    }
    if (lower.contains("database \"") && lower.contains("\" does not exist")) || lower.contains("unknown database") {
        let named = |open: &str, close: char| {
            let i = stderr.find(open)? + open.len();
            stderr[i..].split(close).next().map(str::to_string)
        };
        let database = named("Unknown database '", '\'')
            .or_else(|| named("database \"", '"'))
            .or_else(|| ctx.database.clone())
            .unwrap_or_else(|| "(unknown)".into());
        return DumpError::DatabaseMissing { target: ctx.target.clone(), database, creatable: false };
    }
    let stderr = if stderr.is_empty() { "(no error output)".to_string() } else { stderr };
    DumpError::ToolFailed {
        tool: ctx.tool.clone(),
        operation: ctx.operation.clone(),
        target: ctx.target.clone(),
        status: status.to_string(),
        stderr,
    }
}

/// Runs a command to completion, feeding `input` to its stdin, and returns its stdout.
pub(crate) async fn run_capture(tool: &Tool, cmd: &mut Command, input: Option<&[u8]>, ctx: &Ctx) -> Result<String> {
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut guard = tool.spawn(cmd)?;
    let stderr = collect_stderr(guard.child_mut().stderr.take());
    let mut stdout = guard.child_mut().stdout.take().expect("stdout piped");
    let stdin = guard.child_mut().stdin.take();
    let writer = async {
        if let (Some(mut w), Some(data)) = (stdin, input) {
            // A broken pipe here means the tool exited early; its status tells why.
            let _ = w.write_all(data).await;
            let _ = w.shutdown().await;
        }
    };
    let reader = async {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).await.map(|_| out)
    };
    let ((), out) = tokio::join!(writer, reader);
    let out = out.map_err(|e| DumpError::io(format!("reading the output of {}", tool.name), ctx.target.clone(), e))?;
    let status = guard.wait().await?;
    let err = stderr.await.unwrap_or_default();
    if !status.success() {
        return Err(failure(ctx, &status.to_string(), &err));
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Copies a reader into the stdin of a running child and then waits for it; used by restorers.
pub(crate) async fn feed_and_wait<R: AsyncRead + Unpin + ?Sized>(
    mut guard: ChildGuard,
    reader: &mut R,
    ctx: &Ctx,
) -> Result<(u64, String)> {
    let stderr = collect_stderr(guard.child_mut().stderr.take());
    let mut stdout = guard.child_mut().stdout.take();
    let drain = async move {
        // Tools that print progress must not block on a full stdout pipe.
        if let Some(out) = stdout.as_mut() {
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(out, &mut sink).await;
        }
    };
    let mut stdin = guard.child_mut().stdin.take().expect("stdin piped");
    let copy = async {
        let r = tokio::io::copy(reader, &mut stdin).await;
        let closed = stdin.shutdown().await;
        drop(stdin);
        (r, closed)
    };
    let ((copied, _), ()) = tokio::join!(copy, drain);
    // If the copy failed because the reader failed (truncated backup, repository error), kill the
    // child: feeding it a partial input must not complete as a successful restore.
    let n = match copied {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            // The tool exited early: its exit status and stderr explain why.
            let status = guard.wait().await?;
            let err = stderr.await.unwrap_or_default();
            return Err(failure(ctx, &status.to_string(), &err));
        }
        Err(e) => {
            guard.kill().await;
            return Err(DumpError::io(format!("streaming the dump into {}", ctx.tool), ctx.target.clone(), e));
        }
    };
    let status = guard.wait().await?;
    let err = stderr.await.unwrap_or_default();
    if !status.success() {
        return Err(failure(ctx, &status.to_string(), &err));
    }
    Ok((n, crate::conn::scrub(ctx.secret.as_ref(), &err)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"), Some((15, 18)));
        assert_eq!(
            parse_version("mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)"),
            Some((10, 19))
        );
        assert_eq!(parse_version("redis-cli 7.0.15"), Some((7, 0)));
        assert_eq!(parse_version("nothing here"), None);
    }

    #[test]
    fn lifeboat_and_storage_secrets_are_scrubbed() {
        let names = ["LIFEBOAT_PASSWORD", "LIFEBOAT_TO_PASSWORD_FILE", "AWS_SECRET_ACCESS_KEY", "PGPASSWORD", "HOME"];
        let mut cmd = Command::new("true");
        scrub_env(&mut cmd, names.iter().map(std::ffi::OsString::from));
        let removed: Vec<String> = cmd
            .as_std()
            .get_envs()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(removed, ["AWS_SECRET_ACCESS_KEY", "LIFEBOAT_PASSWORD", "LIFEBOAT_TO_PASSWORD_FILE"]);
    }

    #[test]
    fn missing_tool_names_the_package() {
        let e = find_tool(&["surely-not-a-real-tool-xyz"], "postgresql-client", &[]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("surely-not-a-real-tool-xyz") && msg.contains("postgresql-client"), "{msg}");
    }

    #[test]
    fn failures_are_classified_and_scrubbed() {
        let ctx = Ctx {
            tool: "pg_dump".into(),
            operation: "dumping".into(),
            target: "postgres://u@h/db".into(),
            secret: Some(Secret::new("hunter22")),
            database: Some("db".into()),
        };
        let e =
            failure(&ctx, "exit status: 1", "pg_dump: error: FATAL:  password authentication failed for user \"u\"");
        assert!(matches!(e, DumpError::AuthFailed { .. }), "{e}");
        let e = failure(&ctx, "exit status: 1", "connection to server failed: Connection refused");
        assert!(matches!(e, DumpError::ConnectFailed { .. }), "{e}");
        let e = failure(&ctx, "exit status: 1", "FATAL:  database \"db\" does not exist");
        assert!(matches!(e, DumpError::DatabaseMissing { creatable: false, .. }), "{e}");
        let e = failure(&ctx, "exit status: 1", "weird hunter22 thing");
        assert!(!e.to_string().contains("hunter22"), "{e}");
    }
}

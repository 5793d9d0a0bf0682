//! A stdin plan: a command's standard output backed up as one stream. The command is an
//! argv list run without a shell; the backup is recorded only when it exits with status 0.

use std::process::Stdio;

use lifeboat_repo::{BackupKind, BackupRequest, Manifest, RepoError, Repository};
use tokio::io::AsyncReadExt;

use crate::config::StdinSource;

/// The most of the command's standard error kept for the message (its end).
const STDERR_TAIL: usize = 2048;

/// What happened to a plan's command.
#[derive(Debug, thiserror::Error)]
pub enum CommandFailure {
    /// It could not be started.
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It exited unsuccessfully (or was killed); the backup was not recorded.
    #[error("`{program}` failed ({status}); nothing was recorded{}", tail(stderr))]
    Exited {
        /// The program.
        program: String,
        /// Its exit status.
        status: String,
        /// The end of its standard error.
        stderr: String,
    },
}

fn tail(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.is_empty() { String::new() } else { format!(": {trimmed}") }
}

/// Why [`backup_command`] failed.
pub(super) enum Failed {
    Command(CommandFailure),
    Repo(RepoError),
}

/// Runs `source`'s command and backs up its standard output as one stream named
/// [`StdinSource::stream_name`]. Its environment is this process's without `LIFEBOAT_*` and
/// without the variables in `scrub` (secrets the child has no business seeing).
pub(super) async fn backup_command(
    repo: &Repository,
    source: &StdinSource,
    mut request: BackupRequest,
    scrub: &[String],
) -> Result<Manifest, Failed> {
    let program = source.command.first().cloned().unwrap_or_default();
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(source.command.iter().skip(1))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that stopping it stops what it started too: a
        // `sh -c "pg_dump ... | gzip"` leaves no orphan when the job is cancelled.
        .process_group(0)
        .kill_on_drop(true);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| n.starts_with("LIFEBOAT_") || scrub.iter().any(|s| s == n)) {
            cmd.env_remove(&name);
        }
    }
    let mut child =
        cmd.spawn().map_err(|source| Failed::Command(CommandFailure::Spawn { program: program.clone(), source }))?;
    let mut group = GroupGuard::of(&child);
    let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(Failed::Repo(RepoError::Internal("the command's pipes were not set up".into())));
    };
    let stderr_reader = tokio::spawn(async move {
        let mut all = Vec::new();
        let _ = stderr.read_to_end(&mut all).await;
        let start = all.len().saturating_sub(STDERR_TAIL);
        String::from_utf8_lossy(all.get(start..).unwrap_or_default()).into_owned()
    });
    request.kind = BackupKind::Stream;
    request.name = source.stream_name();
    let mut writer = repo.start_backup(request).await.map_err(Failed::Repo)?;
    let stored = writer.add_stream(&source.stream_name(), stdout).await.map(|_| ());
    if stored.is_err() {
        // Nobody reads its output any more: do not wait for a command that might not notice.
        let _ = child.start_kill();
    }
    let status = child.wait().await;
    if stored.is_err() || !matches!(&status, Ok(s) if s.success()) {
        group.kill(); // what the command left behind has nobody to write to
    }
    group.disarm();
    let stderr = stderr_reader.await.unwrap_or_default();
    let exited = |status: String| CommandFailure::Exited { program: program.clone(), status, stderr: stderr.clone() };
    // A storage failure is the cause when both failed (the command then dies of a broken
    // pipe); otherwise the command's exit status decides: a command that died early reads
    // like a short stream.
    let outcome = match (stored, status) {
        (Err(e @ RepoError::Storage(_)), _) => Err(Failed::Repo(e)),
        (_, Ok(status)) if !status.success() => Err(Failed::Command(exited(status.to_string()))),
        (_, Err(e)) => Err(Failed::Command(exited(format!("cannot wait for it: {e}")))),
        (Err(e), Ok(_)) => Err(Failed::Repo(e)),
        (Ok(()), Ok(_)) => Ok(()),
    };
    match outcome {
        Ok(()) => writer.commit().await.map_err(Failed::Repo),
        Err(e) => {
            writer.abort().await;
            Err(e)
        }
    }
}

/// Kills the command's whole process group when dropped armed: a job cancelled (its future
/// dropped) or timed out mid-backup stops the command and every process it started, not
/// only the direct child that `kill_on_drop` reaches.
struct GroupGuard(Option<rustix::process::Pid>);

impl GroupGuard {
    fn of(child: &tokio::process::Child) -> Self {
        GroupGuard(child.id().and_then(|id| rustix::process::Pid::from_raw(id as i32)))
    }

    /// Sends SIGKILL to the group (errors ignored: the group may be gone already).
    fn kill(&mut self) {
        if let Some(pid) = self.0 {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }

    /// The command ended on its own: nothing to kill on drop.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

//! `lifeboat copy` and `lifeboat sync`: backups into another repository.

use std::process::ExitCode;

use anyhow::{Context, Result};
use lifeboat_repo::{CopyFailure, CopyReport, Credential, LatestScope, Manifest, RepoError, Repository};

use crate::flags::{Destination, Global};
use crate::open::{copy_destination_options, open_repo, storage};
use crate::render::progress::{self, Mode};
use crate::render::{escape, print_copy, print_json};
use crate::secrets::SecretSource;

/// `lifeboat copy`: one backup, or all of them (within `scope`).
pub async fn run(
    global: &Global,
    id: Option<String>,
    scope: &LatestScope,
    dest: Destination,
    json: bool,
) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let (manifests, unreadable) = match id {
        Some(id) => (vec![repo.resolve_in(&id, scope).await?], Vec::new()),
        None => {
            let (all, unreadable) = repo.list().await?;
            (all.into_iter().filter(|m| scope.matches(m)).collect(), unreadable)
        }
    };
    copy_backups(&repo, (&manifests, unreadable), dest, json, global).await
}

/// `lifeboat sync`: every backup. One that cannot be read (its manifest, or an object it
/// names) does not stop the others: each is named at the end, and the exit code says so.
pub async fn sync(global: &Global, dest: Destination, json: bool) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let (manifests, unreadable) = repo.list().await?;
    copy_backups(&repo, (&manifests, unreadable), dest, json, global).await
}

/// Exit code when some backups could not be copied because the source's copy is damaged.
const EXIT_DAMAGE: u8 = 3;

async fn copy_backups(
    repo: &Repository,
    (manifests, unreadable): (&[Manifest], Vec<RepoError>),
    dest: Destination,
    json: bool,
    global: &Global,
) -> Result<ExitCode> {
    let Destination { to, to_password_file } = dest;
    let source = SecretSource { file: to_password_file, env: "LIFEBOAT_TO_PASSWORD", prompt: "destination password" };
    let trust = copy_destination_options(global)?;
    let dest = Repository::open_with(storage(&to, global)?, Credential::Password(source.read()?), trust)
        .await
        .with_context(|| format!("opening destination {to}"))?;
    let progress = lifeboat_repo::Progress::new();
    let shown = progress::show(&progress, "copy", "backups", Mode::for_command(global.verbose, json));
    let result = repo.copy_to_observed(&dest, manifests, &progress).await;
    shown.finish();
    let mut report = result?;
    // Manifests that did not open were never attempted; they are failures all the same.
    let unopened = unreadable.iter().map(|e| CopyFailure {
        backup: e.object_key().unwrap_or("a backup").to_owned(),
        reason: format!("its manifest cannot be read: {e}"),
    });
    report.failed.splice(0..0, unopened);
    if json {
        print_json(&report)?;
    } else {
        print_copy(&report);
    }
    warn_dropped_locks(&report);
    Ok(report_failures(&report))
}

/// Backups locked here whose copies are not, on standard error (under `--json` too): a lock
/// silently lost is what an operator relying on immutability off-site must not miss.
fn warn_dropped_locks(report: &CopyReport) {
    for id in &report.locks_dropped {
        eprintln!(
            "lifeboat: warning: backup {} is under object lock here but its copy is not: the destination has no object \
             lock",
            id.get(..8).unwrap_or(id)
        );
    }
}

/// Names every backup left out, on standard error; the exit code.
fn report_failures(report: &CopyReport) -> ExitCode {
    if report.failed.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!("lifeboat: {} backup(s) not copied:", report.failed.len());
    for failure in &report.failed {
        eprintln!("  {}: {}", escape(&failure.backup), escape(&failure.reason));
    }
    ExitCode::from(EXIT_DAMAGE)
}

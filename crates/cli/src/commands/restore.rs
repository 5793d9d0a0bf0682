//! `lifeboat restore`: into a directory, to standard output, or into a live database.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use lifeboat_repo::{LatestScope, Manifest, Progress, Repository, RestoreOptions, SalvageReport};

use super::db_password;
use crate::flags::{Global, RestoreDbArgs, RestorePick};
use crate::open::open_repo;
use crate::render;
use crate::render::progress::{self, Mode};

/// Exit code when a salvage lost something (as `verify` finding damage).
const EXIT_DAMAGE: u8 = 3;

/// Restores backup `id` (`latest` within the scope) where the flags say.
pub async fn run(
    global: &Global,
    (id, scope, pick): (String, &LatestScope, RestorePick),
    target: Option<PathBuf>,
    stdout: bool,
    object: Option<String>,
    to: Option<String>,
    db: RestoreDbArgs,
) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let manifest = repo.resolve_in(&id, scope).await?;
    let mode = Mode::for_command(global.verbose, false);
    if pick.is_partial() {
        return restore_part(&repo, &manifest, target, &pick, db.salvage).await;
    }
    match (to, target) {
        (Some(to), _) => restore_database(&repo, &manifest, &to, db).await,
        (None, Some(target)) if db.salvage => salvage(&repo, &manifest, &target, mode).await,
        (None, target) => restore(&repo, &manifest, target, stdout, object.as_deref(), mode).await,
    }
}

async fn restore_database(repo: &Repository, manifest: &Manifest, to: &str, db: RestoreDbArgs) -> Result<ExitCode> {
    let options = lifeboat_dump::RestoreOptions {
        create: db.create,
        clean: db.clean,
        jobs: db.jobs,
        password: db_password(db.db_password_file.as_deref())?,
    };
    let restorer = lifeboat_dump::Restorer::from_url(to, &options)?;
    let spinner = progress::spinner("restoring into the database");
    let result = lifeboat_ops::restore_database(repo, manifest, &restorer).await;
    progress::finish(spinner);
    for report in result? {
        for w in &report.warnings {
            eprintln!("lifeboat: warning: {}: {}", render::escape(&report.name), render::escape(w));
        }
        eprintln!(
            "restored {} ({}) into {}",
            render::escape(&report.name),
            render::human_bytes(report.bytes),
            render::escape(&report.target)
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn restore(
    repo: &Repository,
    manifest: &Manifest,
    target: Option<PathBuf>,
    stdout: bool,
    object: Option<&str>,
    mode: Mode,
) -> Result<ExitCode> {
    let progress = Progress::new();
    if stdout {
        // A duplicate of fd 1 as a plain file: restored chunks go to write(2) as they come
        // out of the pipeline, without the copies of an async or line-buffered stdout.
        use std::os::fd::AsFd;
        let out = std::io::stdout().as_fd().try_clone_to_owned().context("cannot use standard output")?;
        let shown = progress::show(&progress, "restore", "files", mode);
        let result = repo.restore_to_sync_writer_observed(manifest, object, std::fs::File::from(out), &progress).await;
        shown.finish();
        result?;
        return Ok(ExitCode::SUCCESS);
    }
    let target = target.context("give --target DIR or --stdout")?;
    let shown = progress::show(&progress, "restore", "files", mode);
    let result = repo.restore_to_dir_observed(manifest, &target, &RestoreOptions::default(), &progress).await;
    shown.finish();
    let report = result?;
    for w in &report.warnings {
        eprintln!("lifeboat: warning: {}", render::escape(w));
    }
    eprintln!("restored backup {} into {}", manifest.short_id(), render::escape(&report.path.display().to_string()));
    Ok(ExitCode::SUCCESS)
}

/// `restore --salvage`: every file that authenticates, and the list of what was lost.
async fn salvage(repo: &Repository, manifest: &Manifest, target: &Path, mode: Mode) -> Result<ExitCode> {
    let progress = Progress::new();
    let shown = progress::show(&progress, "salvage", "files", mode);
    let result = repo.restore_salvage(manifest, target, &RestoreOptions::default(), &progress).await;
    shown.finish();
    let report = result?;
    for w in &report.warnings {
        eprintln!("lifeboat: warning: {}", render::escape(w));
    }
    print_salvage(manifest, &report);
    Ok(if report.is_complete() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DAMAGE) })
}

/// The salvage summary, on standard error like the rest of a restore's messages.
fn print_salvage(manifest: &Manifest, report: &SalvageReport) {
    for d in &report.damaged {
        eprintln!(
            "lifeboat: damaged: segment {} (bytes {}..{} of the tree stream): {}",
            d.segment,
            d.range.start,
            d.range.end,
            render::escape(&d.reason)
        );
    }
    for lost in &report.lost {
        eprintln!("lifeboat: lost: {}: {}", render::escape(&lost.path), render::escape(&lost.reason));
    }
    for range in &report.unnamed {
        eprintln!(
            "lifeboat: lost: the entries that began in bytes {}..{} of the tree stream (their names were damaged)",
            range.start, range.end
        );
    }
    eprintln!(
        "salvaged backup {} into {}: {} files restored, {} lost{}",
        manifest.short_id(),
        render::escape(&report.path.display().to_string()),
        report.files_restored,
        report.lost.len(),
        if report.unnamed.is_empty() {
            String::new()
        } else {
            format!(", and {} stretch(es) of unnamed entries", report.unnamed.len())
        }
    );
}

/// `restore ID --target DIR [--include P]... [--exclude P]... [PATH]`: part of a format 3
/// files backup, reading only the packs of what is selected.
async fn restore_part(
    repo: &Repository,
    manifest: &Manifest,
    target: Option<PathBuf>,
    pick: &RestorePick,
    salvage: bool,
) -> Result<ExitCode> {
    if manifest.version != lifeboat_repo::MANIFEST_VERSION_V3 {
        anyhow::bail!(
            "backup {} is format 2 (one tar stream): --include, --exclude and a PATH need a format 3 backup \
             (`lifeboat init --format 3`); restore this one whole with `lifeboat restore {} --target DIR`",
            manifest.short_id(),
            manifest.short_id()
        );
    }
    anyhow::ensure!(
        !salvage,
        "--salvage restores a whole format 2 backup; it does not take --include, --exclude or a PATH"
    );
    let target = target.context("give --target DIR")?;
    let spec = lifeboat_repo::v3::restorer::RestoreSpec {
        sub_path: pick.path.clone(),
        include: pick.include.clone(),
        exclude: pick.exclude.clone(),
        ..Default::default()
    };
    let restored =
        repo.restore_v3(manifest, &target, &spec).await.with_context(|| format!("backup {}", manifest.short_id()))?;
    for w in &restored.warnings {
        eprintln!("lifeboat: warning: {}", render::escape(w));
    }
    eprintln!(
        "restored {} file(s), {} of backup {} into {}",
        restored.files,
        render::human_bytes(restored.bytes),
        manifest.short_id(),
        render::escape(&restored.path.display().to_string())
    );
    Ok(ExitCode::SUCCESS)
}

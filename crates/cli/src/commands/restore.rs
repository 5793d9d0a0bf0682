//! `lifeboat restore`: into a directory, to standard output, or into a live database.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use lifeboat_repo::{LatestScope, Manifest, Repository};

use super::db_password;
use crate::flags::{Global, RestoreDbArgs};
use crate::open::open_repo;
use crate::render::{self, progress};

/// Restores backup `id` (`latest` within the scope) where the flags say.
pub async fn run(
    global: &Global,
    (id, scope): (String, &LatestScope),
    target: Option<PathBuf>,
    stdout: bool,
    object: Option<String>,
    to: Option<String>,
    db: RestoreDbArgs,
) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let manifest = repo.resolve_in(&id, scope).await?;
    match to {
        Some(to) => restore_database(&repo, &manifest, &to, db).await,
        None => restore(&repo, &manifest, target, stdout, object.as_deref()).await,
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
) -> Result<ExitCode> {
    if stdout {
        // A duplicate of fd 1 as a plain file: restored chunks go to write(2) as they come
        // out of the pipeline, without the copies of an async or line-buffered stdout.
        use std::os::fd::AsFd;
        let out = std::io::stdout().as_fd().try_clone_to_owned().context("cannot use standard output")?;
        repo.restore_to_sync_writer(manifest, object, std::fs::File::from(out)).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let target = target.context("give --target DIR or --stdout")?;
    let spinner = progress::spinner("restoring");
    let result = repo.restore_to_dir_with(manifest, &target, &lifeboat_repo::RestoreOptions::default()).await;
    progress::finish(spinner);
    let report = result?;
    for w in &report.warnings {
        eprintln!("lifeboat: warning: {}", render::escape(w));
    }
    eprintln!("restored backup {} into {}", manifest.short_id(), render::escape(&report.path.display().to_string()));
    Ok(ExitCode::SUCCESS)
}

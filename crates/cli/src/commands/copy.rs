//! `lifeboat copy` and `lifeboat sync`: backups into another repository.

use std::process::ExitCode;

use anyhow::{Context, Result};
use lifeboat_repo::{Credential, LatestScope, Manifest, Repository};

use crate::flags::{Destination, Global};
use crate::open::{copy_destination_options, open_repo, storage};
use crate::render::{print_copy, print_json};
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
    let manifests = match id {
        Some(id) => vec![repo.resolve_in(&id, scope).await?],
        None => all_backups(&repo).await?.into_iter().filter(|m| scope.matches(m)).collect(),
    };
    copy_backups(&repo, &manifests, dest, json, global).await
}

/// `lifeboat sync`: every backup.
pub async fn sync(global: &Global, dest: Destination, json: bool) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let manifests = all_backups(&repo).await?;
    copy_backups(&repo, &manifests, dest, json, global).await
}

/// Every backup, or an error when one cannot be read (copying around it would hide it).
async fn all_backups(repo: &Repository) -> Result<Vec<Manifest>> {
    let (all, unreadable) = repo.list().await?;
    if let Some(e) = unreadable.into_iter().next() {
        return Err(anyhow::Error::new(e).context("a backup of the source cannot be read"));
    }
    Ok(all)
}

async fn copy_backups(
    repo: &Repository,
    manifests: &[Manifest],
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
    let report = repo.copy_to(&dest, manifests).await?;
    if json {
        print_json(&report)?;
    } else {
        print_copy(&report);
    }
    Ok(ExitCode::SUCCESS)
}

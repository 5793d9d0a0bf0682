//! `lifeboat find PATTERN...`: the entries matching any pattern, in every format 3 files
//! backup (within --plan, --host, --tag, --path).

use std::process::ExitCode;

use anyhow::{Result, bail};
use lifeboat_repo::v3::restorer::Restorer;
use lifeboat_repo::{BackupKind, LatestScope};
use lifeboat_repo::{MANIFEST_VERSION_V3, v3_root};
use serde_json::json;

use super::ls::entry_json;
use crate::flags::Global;
use crate::open::open_repo;
use crate::render::{self, print_json};

/// Prints `backup-id  path` for each match, oldest backup first.
pub async fn run(global: &Global, patterns: Vec<String>, scope: &LatestScope, json: bool) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let (mut manifests, unreadable) = repo.list().await?;
    for e in &unreadable {
        eprintln!("lifeboat: warning: {}", render::escape(&e.to_string()));
    }
    manifests.retain(|m| scope.matches(m));
    manifests.sort_by_key(|m| m.started);
    let (v3, other): (Vec<_>, Vec<_>) = manifests.into_iter().partition(|m| m.version == MANIFEST_VERSION_V3);
    let files_v2 = other.iter().filter(|m| m.kind == BackupKind::Files).count();
    if v3.is_empty() && files_v2 > 0 {
        bail!(
            "the {files_v2} files backup(s) here are format 2 (one tar stream); find needs format 3 backups \
             (`lifeboat init --format 3`)"
        );
    }
    if files_v2 > 0 {
        eprintln!("lifeboat: note: {files_v2} format 2 files backup(s) not searched (find reads format 3 trees)");
    }
    if v3.is_empty() {
        // Opening the chunk store of a repository without v3 backups would create its domain.
        if json {
            print_json(&Vec::<serde_json::Value>::new())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    // One store per dedup domain (copied backups keep the domain they came from).
    let mut stores = std::collections::HashMap::new();
    let mut found = Vec::new();
    for manifest in &v3 {
        let domain = manifest.domain.clone().unwrap_or_default();
        if !stores.contains_key(&domain) {
            stores.insert(domain.clone(), repo.v3_store_of(manifest).await?);
        }
        let Some(store) = stores.get(&domain) else { continue };
        for entry in Restorer::new(store).find(&v3_root(manifest)?, &patterns).await? {
            if json {
                let mut value = entry_json(&entry);
                value["backup"] = json!(manifest.id);
                found.push(value);
            } else {
                println!("{}  {}", manifest.short_id(), render::escape(&entry.path.to_string_lossy()));
            }
        }
    }
    if json {
        print_json(&found)?;
    }
    Ok(ExitCode::SUCCESS)
}

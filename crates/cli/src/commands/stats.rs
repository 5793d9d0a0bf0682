//! `lifeboat stats`: how much the repository's backups hold (raw size), how much it stores
//! (stored size) and the ratio of the two.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use futures::future::BoxFuture;
use lifeboat_repo::v3::tree::{NodeType, TreeError, load_tree};
use lifeboat_repo::v3::{BlobId, ChunkStore, INDEX_PREFIX, PACKS_PREFIX};
use lifeboat_repo::{DATA_PREFIX, Manifest};
use lifeboat_repo::{MANIFEST_VERSION_V3, v3_root};
use lifeboat_storage::StorageExt;
use serde_json::json;

use crate::flags::Global;
use crate::open::open_repo;
use crate::render::{self, print_json};

/// Prints the repository's backups, raw size, stored size and dedup ratio.
pub async fn run(global: &Global, json: bool) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let (manifests, unreadable) = repo.list().await?;
    for e in &unreadable {
        eprintln!("lifeboat: warning: {}", render::escape(&e.to_string()));
    }
    let (v3, v2): (Vec<&Manifest>, Vec<&Manifest>) = manifests.iter().partition(|m| m.version == MANIFEST_VERSION_V3);
    let mut raw: u64 = v2.iter().map(|m| m.plain_size()).sum();
    if !v3.is_empty() {
        // A v3 manifest's `bytes` counts what was read, not what it holds: sum its tree.
        // One store per dedup domain (copied backups keep the domain they came from).
        let mut stores: HashMap<String, ChunkStore> = HashMap::new();
        let mut sizes = HashMap::new();
        for manifest in &v3 {
            let domain = manifest.domain.clone().unwrap_or_default();
            if !stores.contains_key(&domain) {
                stores.insert(domain.clone(), repo.v3_store_of(manifest).await?);
            }
            let Some(store) = stores.get(&domain) else { continue };
            raw += tree_size(store, v3_root(manifest)?, PathBuf::from("/"), &mut sizes).await?;
        }
    }
    let mut stored = serde_json::Map::new();
    for prefix in [PACKS_PREFIX, DATA_PREFIX, INDEX_PREFIX] {
        let bytes: u64 = repo.storage().list_all(prefix).await?.iter().map(|o| o.size).sum();
        stored.insert(prefix.trim_end_matches('/').to_owned(), json!(bytes));
    }
    let stored_total: u64 = stored.values().filter_map(serde_json::Value::as_u64).sum();
    let ratio = (stored_total > 0).then(|| raw as f64 / stored_total as f64);
    if json {
        print_json(&json!({
            "repository": repo.location(),
            "backups": manifests.len(),
            "backups_v3": v3.len(),
            "raw_bytes": raw,
            "stored_bytes": stored_total,
            "stored": stored,
            "dedup_ratio": ratio,
        }))?;
    } else {
        println!("repository   {}", render::escape(&repo.location()));
        println!("backups      {} ({} format 3)", manifests.len(), v3.len());
        println!("raw size     {} ({raw} bytes)", render::human_bytes(raw));
        println!("stored size  {} ({stored_total} bytes)", render::human_bytes(stored_total));
        match ratio {
            Some(r) => println!("dedup ratio  {r:.2}x"),
            None => println!("dedup ratio  -"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The bytes of the regular files under tree `id` (later names of hard links not counted
/// again); `sizes` remembers subtrees, so a tree unchanged across backups is read once.
fn tree_size<'a>(
    store: &'a ChunkStore,
    id: BlobId,
    at: PathBuf,
    sizes: &'a mut HashMap<BlobId, u64>,
) -> BoxFuture<'a, Result<u64, TreeError>> {
    Box::pin(async move {
        if let Some(size) = sizes.get(&id) {
            return Ok(*size);
        }
        let tree = load_tree(store, &id, &at).await?;
        let mut total = 0u64;
        for node in tree.nodes {
            match (node.kind, node.subtree) {
                (NodeType::Dir, Some(sub)) => {
                    total += tree_size(store, sub, at.join(Path::new(node.name_os())), sizes).await?;
                }
                (NodeType::File, _) if node.hardlink.is_none() => total += node.size,
                _ => {}
            }
        }
        sizes.insert(id, total);
        Ok(total)
    })
}

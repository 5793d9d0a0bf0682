//! `lifeboat diff ID1 ID2`: what changed between two format 3 backups; unchanged subtrees
//! (the same tree id) are not read.

use std::process::ExitCode;

use anyhow::Result;
use lifeboat_repo::LatestScope;
use lifeboat_repo::v3::restorer::{ChangeKind, Restorer};
use serde_json::json;

use super::ls::v3_root_of;
use crate::flags::Global;
use crate::open::open_repo;
use crate::render::{self, print_json};

/// Prints `+ path` (only in `second`), `- path` (only in `first`) and `M path` (changed).
pub async fn run(
    global: &Global,
    (first, second): (String, String),
    scope: &LatestScope,
    json: bool,
) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let a = repo.resolve_in(&first, scope).await?;
    let b = repo.resolve_in(&second, scope).await?;
    let (root_a, root_b) = (v3_root_of(&a, "diff")?, v3_root_of(&b, "diff")?);
    if a.domain != b.domain {
        // Blob ids are keyed per domain: trees of two domains share no id to compare.
        anyhow::bail!(
            "backups {} and {} are in different dedup domains (one was copied from another repository): \
             diff compares backups of one domain",
            a.short_id(),
            b.short_id()
        );
    }
    let store = repo.v3_store_of(&a).await?;
    let changes = Restorer::new(&store).diff(&root_a, &root_b).await?;
    let word = |kind: ChangeKind| match kind {
        ChangeKind::Added => ("+", "added"),
        ChangeKind::Removed => ("-", "removed"),
        ChangeKind::Changed => ("M", "changed"),
    };
    if json {
        let out: Vec<_> =
            changes.iter().map(|c| json!({ "path": c.path.to_string_lossy(), "change": word(c.kind).1 })).collect();
        print_json(&json!({ "from": a.id, "to": b.id, "changes": out }))?;
    } else {
        for c in &changes {
            println!("{} {}", word(c.kind).0, render::escape(&c.path.to_string_lossy()));
        }
    }
    Ok(ExitCode::SUCCESS)
}

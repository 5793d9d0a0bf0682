//! `lifeboat dump ID PATH`: one file of a format 3 backup to standard output, reading only
//! that file's chunks.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lifeboat_repo::LatestScope;
use lifeboat_repo::v3::restorer::Restorer;
use lifeboat_repo::v3::tree::NodeType;

use super::ls::{in_backup, v3_root_of};
use crate::flags::Global;
use crate::open::open_repo;
use crate::render;

/// Writes the content of the file at `path` in backup `id` to standard output.
pub async fn run(global: &Global, id: String, scope: &LatestScope, path: PathBuf) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let manifest = repo.resolve_in(&id, scope).await?;
    let root = v3_root_of(&manifest, "dump")?;
    let store = repo.v3_store_of(&manifest).await?;
    let restorer = Restorer::new(&store);
    let at = in_backup(Some(&path));
    // `ls` of a file is the file itself; of a directory, its entries (never itself).
    let listed = restorer.ls(&root, &at).await.with_context(|| format!("backup {}", manifest.short_id()))?;
    let shown = render::escape(&at.to_string_lossy()).into_owned();
    match listed.as_slice() {
        [one] if one.path == at && one.node.kind == NodeType::File => {}
        [one] if one.path == at => bail!(
            "{shown} in backup {} is a {}, not a regular file: dump writes one file's content",
            manifest.short_id(),
            serde_json::to_value(one.node.kind)?.as_str().unwrap_or("special file")
        ),
        _ => bail!(
            "{shown} in backup {} is a directory: dump writes one file's content (list it with `lifeboat ls {} {shown}`, \
             or restore it with `lifeboat restore {} --target DIR {shown}`)",
            manifest.short_id(),
            manifest.short_id(),
            manifest.short_id()
        ),
    }
    let mut out = tokio::io::stdout();
    restorer.dump(&root, &at, &mut out).await?;
    Ok(ExitCode::SUCCESS)
}

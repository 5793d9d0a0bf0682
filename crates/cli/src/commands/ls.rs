//! `lifeboat ls ID [PATH]`: the entries of a directory of a format 3 backup, as `ls -l`
//! shows them; and what the other browsing commands (dump, diff, find) share.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lifeboat_repo::v3::BlobId;
use lifeboat_repo::v3::restorer::{Listed, Restorer};
use lifeboat_repo::v3::tree::{Node, NodeType};
use lifeboat_repo::{BackupKind, LatestScope, Manifest};
use lifeboat_repo::{MANIFEST_VERSION_V3, v3_root};
use serde_json::json;

use crate::flags::Global;
use crate::open::open_repo;
use crate::render::{self, print_json};

/// Lists `path` (the root when omitted) of backup `id` (`latest` within `scope`).
pub async fn run(
    global: &Global,
    id: String,
    scope: &LatestScope,
    path: Option<PathBuf>,
    json: bool,
) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let manifest = repo.resolve_in(&id, scope).await?;
    let root = v3_root_of(&manifest, "ls")?;
    let store = repo.v3_store_of(&manifest).await?;
    let base = in_backup(path.as_deref());
    let listed =
        Restorer::new(&store).ls(&root, &base).await.with_context(|| format!("backup {}", manifest.short_id()))?;
    if json {
        print_json(&listed.iter().map(entry_json).collect::<Vec<_>>())?;
    } else {
        for entry in &listed {
            println!("{}", long_line(entry));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The root tree of a format 3 files backup; for any other backup, an error saying that
/// `command` needs one.
pub(super) fn v3_root_of(manifest: &Manifest, command: &str) -> Result<BlobId> {
    if manifest.version == MANIFEST_VERSION_V3 {
        return Ok(v3_root(manifest)?);
    }
    if manifest.kind == BackupKind::Files {
        bail!(
            "backup {} is format 2 (one tar stream); {command} needs a format 3 backup (`lifeboat init --format 3`; \
             `lifeboat restore {} --target DIR` restores this one)",
            manifest.short_id(),
            manifest.short_id()
        );
    }
    bail!(
        "backup {} is a {} backup, not a tree of files; {command} needs a format 3 files backup (`lifeboat init --format 3`)",
        manifest.short_id(),
        manifest.kind
    )
}

/// A path of a backup as the restorer takes it: from the backup's root (`/`).
pub(super) fn in_backup(path: Option<&Path>) -> PathBuf {
    Path::new("/").join(path.unwrap_or(Path::new("/")))
}

/// `drwxr-xr-x  user/group  size  mtime  name[ -> target]`.
fn long_line(entry: &Listed) -> String {
    let node = &entry.node;
    let owner = format!(
        "{}/{}",
        node.user.clone().unwrap_or_else(|| node.uid.to_string()),
        node.group.clone().unwrap_or_else(|| node.gid.to_string())
    );
    let mut name = render::escape(&entry.node.name_os().to_string_lossy()).into_owned();
    if let Some(target) = &node.target {
        name = format!("{name} -> {}", render::escape(&String::from_utf8_lossy(target)));
    }
    format!("{} {:>16} {:>12} {} {name}", mode_string(node), owner, node.size, local_mtime(node))
}

/// The type letter and permission bits, as `ls -l` prints them.
fn mode_string(node: &Node) -> String {
    let kind = match node.kind {
        NodeType::File => '-',
        NodeType::Dir => 'd',
        NodeType::Symlink => 'l',
        NodeType::Fifo => 'p',
        NodeType::Chardev => 'c',
        NodeType::Blockdev => 'b',
    };
    let mut out = String::from(kind);
    // Each triple, with setuid, setgid and sticky shown in its x place (s/S, s/S, t/T).
    for (shift, special, letter) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (node.mode >> shift) & 0o7;
        out.push(if bits & 4 != 0 { 'r' } else { '-' });
        out.push(if bits & 2 != 0 { 'w' } else { '-' });
        out.push(match (node.mode & special != 0, bits & 1 != 0) {
            (true, true) => letter,
            (true, false) => letter.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    out
}

/// The node's mtime in local time.
fn local_mtime(node: &Node) -> String {
    mtime(node)
        .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "?".into())
}

fn mtime(node: &Node) -> Option<chrono::DateTime<chrono::Utc>> {
    let (secs, nanos) = (node.mtime_ns.div_euclid(1_000_000_000), node.mtime_ns.rem_euclid(1_000_000_000));
    chrono::DateTime::from_timestamp(secs, u32::try_from(nanos).ok()?)
}

/// One entry as JSON (`ls --json`, `find --json`).
pub(super) fn entry_json(entry: &Listed) -> serde_json::Value {
    let node = &entry.node;
    json!({
        "path": entry.path.to_string_lossy(),
        "name": node.name_os().to_string_lossy(),
        "type": node.kind,
        "mode": format!("{:04o}", node.mode),
        "size": node.size,
        "mtime": mtime(node).map(|t| t.to_rfc3339()),
        "uid": node.uid,
        "gid": node.gid,
        "user": node.user,
        "group": node.group,
        "target": node.target.as_deref().map(String::from_utf8_lossy),
    })
}

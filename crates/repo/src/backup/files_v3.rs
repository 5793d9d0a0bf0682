//! Format v3 backups of files on an open [`Repository`]: a files backup (archive, flush,
//! manifest) and its parent (docs/FORMAT.md 11.5). The domain it writes into comes from
//! [`crate::domains`]; the archiver itself is [`crate::v3::archiver`].
//!
//! A repository writes v3 files backups when its config says `"data_format": 3` (set by
//! `init` with [`InitOptions::data_format`](crate::InitOptions)), locked ones included.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::error::{RepoError, Result};
use crate::kind::BackupKind;
use crate::manifest::{MANIFEST_VERSION_V3, Manifest};
use crate::repository::{Repository, blocking};
use crate::tree::TreeFilter;
use crate::v3::archiver::{ArchiveOptions, archive, fill_from_stat};
use crate::v3::tree::{Node, NodeType, Tree, TreeError, io_error, load_tree};
use crate::v3::{BlobId, BlobKind, BlobStore, ChunkStore, StoreError, store_error, tree_error};

impl Repository {
    /// The root tree of the newest v3 files backup of the same plan, host and paths: the
    /// parent whose unchanged files a new backup reuses without reading them; and when it
    /// began reading (ns since the epoch; out of range: the earliest, so nothing is trusted).
    async fn v3_parent(
        &self,
        host: &str,
        plan: Option<&str>,
        roots: &[PathBuf],
        domain: &str,
    ) -> Result<Option<(BlobId, i64)>> {
        let paths: Vec<String> = roots.iter().map(|p| p.display().to_string()).collect();
        let mut candidates: Vec<Manifest> = self
            .list()
            .await?
            .0
            .into_iter()
            .filter(|m| m.version == MANIFEST_VERSION_V3 && m.kind == BackupKind::Files)
            // Only backups of the domain written into: a copied one's trees are in another.
            .filter(|m| m.domain.as_deref() == Some(domain))
            .filter(|m| m.host == host && m.plan.as_deref() == plan)
            .filter(|m| {
                m.source.get("paths").and_then(|p| serde_json::from_value::<Vec<String>>(p.clone()).ok())
                    == Some(paths.clone())
            })
            .collect();
        candidates.sort_by_key(|m| m.started);
        Ok(candidates.last().and_then(|m| {
            let root = BlobId::from_hex(m.tree.as_deref()?)?;
            Some((root, m.started.timestamp_nanos_opt().unwrap_or(i64::MIN)))
        }))
    }

    /// Archives `roots` (absolute, canonical) into the main domain and returns the root
    /// tree, the domain id and the archive's counters and warnings. The blobs are flushed
    /// (packs, then index objects) before this returns, so a manifest may name the root.
    pub(crate) async fn archive_v3(
        &self,
        roots: &[PathBuf],
        filter: TreeFilter,
        host: &str,
        plan: Option<&str>,
        (force, lease, retention): (bool, Option<crate::lock::Lease>, Option<lifeboat_storage::Retention>),
    ) -> Result<ArchivedRoots> {
        let store = self.v3_store().await?;
        if let Some(lease) = lease {
            store.set_lease(lease);
        }
        if let Some(retention) = retention {
            store.set_retention(retention);
        }
        // A write-only host cannot read its earlier trees (its packs are sealed for the
        // recipients): it reads every file, and its chunks still dedup against its index.
        let parent = match force || store.keys().seals_for_recipients() {
            true => None,
            false => self.v3_parent(host, plan, roots, &hex::encode(store.keys().id())).await?,
        };
        let mut composer = RootComposer::default();
        let mut stats = BTreeMap::new();
        let mut warnings = Vec::new();
        for root in roots {
            let parent_tree = match &parent {
                Some((parent, _)) => subtree_at(&store, parent, root).await?,
                None => None,
            };
            let options = ArchiveOptions {
                parent: parent_tree,
                force,
                filter: filter.clone(),
                root_at: Some(root.clone()),
                parent_started_ns: parent.map(|(_, started)| started),
            };
            let archived = archive(&store, root, &options).await.map_err(tree_error)?;
            warnings.extend(archived.warnings);
            let s = &archived.stats;
            for (name, value) in [
                ("files", s.files),
                ("dirs", s.dirs),
                ("symlinks", s.symlinks),
                ("bytes", s.bytes_read),
                ("size", s.bytes_total),
                ("bytes_new", s.bytes_new),
                ("blobs_new", s.blobs_new),
                ("files_reused", s.reused_files),
                ("excluded", s.excluded),
                ("skipped", s.skipped),
                ("changed", s.changed),
            ] {
                *stats.entry(name.to_owned()).or_insert(0) += value;
            }
            composer.add(root, archived.root, &store).await?;
        }
        let root = composer.finish(&store).await?;
        store.flush().await.map_err(store_error)?;
        Ok(ArchivedRoots { root, domain: hex::encode(store.keys().id()), stats, warnings })
    }

    /// A format v3 files backup of `roots` (absolute, canonical): the files cache of the
    /// parent backup makes unchanged files a stat each; the manifest is written only after
    /// every pack and index object it needs.
    pub(crate) async fn backup_files_v3(
        &self,
        roots: &[PathBuf],
        filter: &crate::FilesFilter,
        compiled: TreeFilter,
        request: crate::BackupRequest,
    ) -> Result<Manifest> {
        let host = request.host.clone().unwrap_or_else(crate::host::hostname);
        let (plan, force, retention) = (request.plan.clone(), request.force, request.retention);
        let mut writer = self.start_backup(request).await?;
        writer.set_source(super::files_source(roots, filter)?);
        let lease = writer.lease();
        let archived = match self.archive_v3(roots, compiled, &host, plan.as_deref(), (force, lease, retention)).await {
            Ok(archived) => archived,
            Err(e) => {
                writer.abort().await;
                return Err(e);
            }
        };
        for warning in archived.warnings {
            writer.warn(warning);
        }
        for (name, value) in archived.stats {
            writer.stat(&name, value);
        }
        writer.set_v3_tree(archived.root.to_hex(), archived.domain);
        writer.commit().await
    }
}

/// What [`Repository::archive_v3`] made.
pub(crate) struct ArchivedRoots {
    /// The root tree: the backed-up paths under their parents, from `/`.
    pub root: BlobId,
    /// The domain the blobs are in (16 hex).
    pub domain: String,
    /// Counters, summed over the roots.
    pub stats: BTreeMap<String, u64>,
    /// Files that changed while read, entries skipped.
    pub warnings: Vec<String>,
}

/// The tree the archiver should compare `root` with: for a directory, the parent backup's
/// tree of that directory; for a file, the parent's tree of the directory holding it.
async fn subtree_at(store: &ChunkStore, parent_root: &BlobId, root: &Path) -> Result<Option<BlobId>> {
    let components: Vec<&[u8]> = root.components().skip(1).map(|c| c.as_os_str().as_bytes()).collect();
    let mut tree_id = *parent_root;
    for (at, name) in components.iter().enumerate() {
        let tree = load_tree(store, &tree_id, root).await.map_err(tree_error)?;
        let Some(node) = tree.get(name) else { return Ok(None) };
        match node.subtree {
            Some(sub) => tree_id = sub,
            // The root is a file: the tree holding it is the one to compare with.
            None if at + 1 == components.len() => return Ok(Some(tree_id)),
            None => return Ok(None),
        }
    }
    Ok(Some(tree_id))
}

/// Builds the root tree of several archived paths: each path's directories from `/` down
/// become tree nodes carrying their metadata, as tar keeps `tmp/data/...` in format 2.
#[derive(Default)]
struct RootComposer {
    /// Directory (absolute) -> the nodes it holds so far.
    children: BTreeMap<PathBuf, Vec<Node>>,
    /// A path archived whole: it is the root tree itself.
    whole: Option<BlobId>,
    /// Directory -> the one-node tree of a file in it that this handle cannot read back (a
    /// write-only host's unchanged file, stored by an earlier session): the directory's
    /// listing when nothing else is given in it.
    listed: BTreeMap<PathBuf, BlobId>,
}

impl RootComposer {
    /// Adds an archived path: a directory becomes a node whose subtree is `archived`; a file
    /// is the single node of `archived`.
    async fn add(&mut self, root: &Path, archived: BlobId, store: &ChunkStore) -> Result<()> {
        let Some(parent) = root.parent() else {
            self.whole = Some(archived);
            return Ok(());
        };
        let path = root.to_path_buf();
        // Decided by the file system, as the archiver did: a directory needs no read back of
        // its tree, which a write-only host could not do for one an earlier session stored.
        let is_dir = blocking(move || std::fs::symlink_metadata(&path).map(|m| m.is_dir()))
            .await?
            .map_err(|e| RepoError::Source(format!("read metadata of {}: {e}", root.display())))?;
        if is_dir {
            let path = root.to_path_buf();
            let mut node = blocking(move || dir_node(&path)).await?.map_err(tree_error)?;
            node.subtree = Some(archived);
            self.insert(parent.to_path_buf(), node);
            return Ok(());
        }
        let tree = match load_tree(store, &archived, root).await {
            Ok(tree) => tree,
            Err(TreeError::Store { source, .. })
                if matches!(*source, StoreError::NoPackKey { .. }) && store.keys().seals_for_recipients() =>
            {
                self.listed.insert(parent.to_path_buf(), archived);
                self.children.entry(parent.to_path_buf()).or_default();
                return Ok(());
            }
            Err(e) => return Err(tree_error(e)),
        };
        let name = root.file_name().map(|n| n.as_bytes().to_vec()).unwrap_or_default();
        let node = tree
            .get(&name)
            .cloned()
            .ok_or_else(|| RepoError::Internal(format!("the archived tree of {} does not hold it", root.display())))?;
        self.insert(parent.to_path_buf(), node);
        Ok(())
    }

    /// A name already present (a path given twice, or inside another) keeps the first.
    fn insert(&mut self, dir: PathBuf, node: Node) {
        let nodes = self.children.entry(dir).or_default();
        if !nodes.iter().any(|n| n.name == node.name) {
            nodes.push(node);
        }
    }

    /// Stores the directories from the deepest up and returns the root tree.
    async fn finish(mut self, store: &ChunkStore) -> Result<BlobId> {
        if let (Some(whole), true) = (self.whole, self.children.is_empty()) {
            return Ok(whole);
        }
        loop {
            let Some(deepest) = self.children.keys().max_by_key(|p| p.components().count()).cloned() else {
                return Err(RepoError::Internal("a files backup of no paths".into()));
            };
            let mut nodes = self.children.remove(&deepest).unwrap_or_default();
            nodes.sort_by(|a, b| a.name.cmp(&b.name));
            let id = match (self.listed.remove(&deepest), nodes.is_empty()) {
                (Some(listed), true) => listed,
                (Some(_), false) => {
                    return Err(RepoError::Unsupported(format!(
                        "a write-only host cannot combine an unchanged file of {} with other paths given in that \
                         directory (it cannot read back the file's earlier tree): give the directory itself",
                        deepest.display()
                    )));
                }
                (None, _) => {
                    let tree = Bytes::from(Tree { nodes }.to_json());
                    store.put_blob(BlobKind::Tree, tree).await.map_err(store_error)?
                }
            };
            let Some(parent) = deepest.parent() else { return Ok(id) };
            let path = deepest.clone();
            let mut node = blocking(move || dir_node(&path)).await?.map_err(tree_error)?;
            node.subtree = Some(id);
            self.insert(parent.to_path_buf(), node);
        }
    }
}

/// The node of directory `path` itself (its metadata; the caller sets the subtree).
fn dir_node(path: &Path) -> std::result::Result<Node, TreeError> {
    let meta = std::fs::symlink_metadata(path).map_err(io_error("read metadata of", path))?;
    let name = path.file_name().map(|n| n.as_bytes().to_vec()).unwrap_or_default();
    let mut node = Node::new(name, NodeType::Dir);
    fill_from_stat(&mut node, &meta);
    Ok(node)
}

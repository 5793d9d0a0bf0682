//! The restorer: a root tree back into a directory (several files in flight at once), and
//! the read-only views over trees: `dump`, `ls`, `find` and `diff`.
//!
//! A restore fills a private staging folder next to the target and renames it into place
//! once every entry is written (as format 2 restores do). Names come from trees whose
//! parser refuses anything but plain file names, every directory is created by the
//! restore itself, files are created exclusively without following symlinks, and hard
//! links only ever point at files this restore wrote, so no entry can land outside the
//! target, whatever a forged tree says.
//!
//! Contents are written by pack runs: every chunk of the selected files is located in the
//! index, chunks are grouped by pack and sorted by offset, and each run of neighbouring
//! blobs of one pack is fetched with one range request (packs in the order the files first
//! need them, so storage reads stay sequential), opened on a blocking thread (every blob
//! authenticated and checked against its id) and written at its offsets in the files that
//! hold it, several runs in flight. A file is created by the first run that writes to it
//! and settled (mode, owner, mtime, xattrs) by the one that writes its last chunk, so a
//! large file is written in parallel ranges and many small files cost a few reads. Chunks
//! the store cannot locate (a store without packs) are read one by one, file by file.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{StreamExt, TryStreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::blob::BlobStore;
use super::error::StoreError;
use super::id::BlobId;
use super::pack::{PackEntry, PackId};
use super::tree::{Node, NodeType, Tree, TreeError, child_path, io_error, load_tree, store_error, tree_components};
use crate::FilesFilter;
use crate::tree::{
    PathPatterns, RestoreOptions, Staging, TreeFilter, create_private_file, gid_of, set_symlink_times, settle_open,
    uid_of,
};

/// What to restore and how.
#[derive(Debug, Clone)]
pub struct RestoreSpec {
    /// Restore only this path of the backup: a directory's contents go into the target, a
    /// file goes into the target under its name.
    pub sub_path: Option<PathBuf>,
    /// Patterns (the exclude language, matched on paths from the backup's root): when any
    /// is given, only matching entries (and the directories leading to them) are restored.
    pub include: Vec<String>,
    /// Patterns of entries to leave out (an excluded directory is not read at all).
    pub exclude: Vec<String>,
    /// Give entries their recorded owners (see [`RestoreOptions`]).
    pub same_owner: bool,
    /// Pack runs (or, for a store without packs, files) read and written at the same
    /// time (at least 1).
    pub parallel: usize,
}

impl Default for RestoreSpec {
    fn default() -> Self {
        RestoreSpec {
            sub_path: None,
            include: Vec::new(),
            exclude: Vec::new(),
            same_owner: RestoreOptions::default().same_owner,
            parallel: default_parallel(),
        }
    }
}

/// Runs in flight by default: four per core, at least eight, so that reads, decoding and
/// writes overlap on a small machine too.
fn default_parallel() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_mul(4).max(8)
}

/// Longest span of a pack read with one request; with the plaintext bound below it keeps
/// the memory of `parallel` runs in flight near `parallel x 8 MiB`.
const RUN_SPAN: u64 = 4 << 20;
/// Most plaintext one run may hold.
const RUN_PLAIN: u64 = 4 << 20;
/// A gap between two wanted blobs of a pack that one request reads through rather than
/// splitting the run (bytes read for nothing cost less than another request).
const RUN_GAP: u64 = 256 << 10;
/// Trees read at once while planning a restore.
const TREE_READS: usize = 16;
/// Files at least this large get their space with `fallocate` before their chunks arrive
/// in any order (fewer extents); for smaller ones the call costs more than it saves.
const FALLOCATE_MIN: u64 = 1 << 20;

/// What a restore did.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// Where the tree now is.
    pub path: PathBuf,
    /// Regular files written (hard links not counted).
    pub files: u64,
    /// Directories created.
    pub dirs: u64,
    /// Hard links made.
    pub hardlinks: u64,
    /// Symlinks, FIFOs and devices made.
    pub others: u64,
    /// Content bytes written.
    pub bytes: u64,
    /// What could not be restored as recorded (owners, devices, xattrs).
    pub warnings: Vec<String>,
}

/// One entry of a listing: its path in the backup and its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The path from the backup's root (starting with `/`).
    pub path: PathBuf,
    /// The node.
    pub node: Node,
}

/// How an entry differs between two trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Only in the second tree.
    Added,
    /// Only in the first tree.
    Removed,
    /// In both, with another type, content, size, mode, owner, mtime, target or xattrs (for
    /// a directory: mode, owner or xattrs; its entries' changes are listed by themselves).
    Changed,
}

/// One difference found by [`Restorer::diff`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The entry's path from the root (an added or removed directory is one change).
    pub path: PathBuf,
    /// How it differs.
    pub kind: ChangeKind,
}

/// Reads trees out of a store: restores, dumps and lists them.
pub struct Restorer<'a, S> {
    store: &'a S,
}

/// What a path of a backup resolves to.
enum Located {
    /// The root tree itself.
    Root(Tree),
    /// An entry (boxed: a node is large).
    Node(Box<Node>),
}

/// A restore's entries, decided before anything is written.
#[derive(Default)]
struct Plan {
    /// Directories (target-relative path, node; none for the target itself).
    dirs: Vec<(PathBuf, Node)>,
    /// Regular files: target-relative path, backup path, node.
    files: Vec<(PathBuf, PathBuf, Node)>,
    /// Later names of hard-linked files: target-relative path, backup path, node.
    links: Vec<(PathBuf, PathBuf, Node)>,
    /// Symlinks, FIFOs and devices.
    others: Vec<(PathBuf, Node)>,
}

impl<'a, S: BlobStore> Restorer<'a, S> {
    /// A restorer reading from `store`.
    pub fn new(store: &'a S) -> Restorer<'a, S> {
        Restorer { store }
    }

    /// Restores the backup whose root tree is `root` into `target` (a new or empty
    /// directory), as `spec` says.
    pub async fn restore(&self, root: &BlobId, target: &Path, spec: &RestoreSpec) -> Result<Restored, TreeError> {
        let started = std::time::Instant::now();
        let exclude = FilesFilter { exclude: spec.exclude.clone(), ..Default::default() }.compile()?;
        let include = PathPatterns::parse(&spec.include, false, "--include")?;
        let mut plan = Plan::default();
        let start = spec.sub_path.clone().unwrap_or_else(|| PathBuf::from("/"));
        let start = PathBuf::from("/").join(start);
        let tree = match self.locate(root, &start).await? {
            Located::Root(tree) => Some(tree),
            Located::Node(node) if node.kind == NodeType::Dir => {
                Some(load_tree(self.store, &subtree_of(&node, &start)?, &start).await?)
            }
            Located::Node(node) => {
                let rel = PathBuf::from(node.name_os());
                plan.add_leaf(rel, start.clone(), *node);
                None
            }
        };
        if let Some(tree) = tree {
            let mut trees = self.load_trees(&tree, &start, &exclude).await?;
            let filters = (&include, &exclude);
            plan_tree(tree, start, PathBuf::new(), filters, &mut trees, &mut plan)?;
        }
        tracing::debug!(elapsed = ?started.elapsed(), files = plan.files.len(), dirs = plan.dirs.len(), "restore planned");
        let staging = blocking(target, "prepare restore target", {
            let target = target.to_owned();
            move || {
                Staging::prepare(&target)
                    .map_err(|e| TreeError::Target { path: target.display().to_string(), source: Box::new(e) })
            }
        })
        .await?;
        let mut report = self.write_plan(plan, &staging.dir, spec).await?;
        report.path = blocking(target, "publish restore", move || {
            let target = staging.target.clone();
            staging.publish().map_err(|e| TreeError::Target { path: target.display().to_string(), source: Box::new(e) })
        })
        .await?;
        Ok(report)
    }

    /// Reads every tree below `tree` (at `at`) that a restore may need, all but those of
    /// excluded directories (which are not read at all), [`TREE_READS`] at a time; keyed by
    /// their paths in the backup.
    async fn load_trees(
        &self,
        tree: &Tree,
        at: &Path,
        exclude: &TreeFilter,
    ) -> Result<HashMap<PathBuf, Tree>, TreeError> {
        let mut loaded = HashMap::new();
        let mut queue = Vec::new();
        queue_subtrees(tree, at, exclude, &mut queue)?;
        let mut reading = FuturesUnordered::new();
        loop {
            while reading.len() < TREE_READS
                && let Some((path, id)) = queue.pop()
            {
                reading.push(async move {
                    let tree = load_tree(self.store, &id, &path).await;
                    (path, tree)
                });
            }
            let Some((path, tree)) = reading.next().await else { break };
            let tree = tree?;
            queue_subtrees(&tree, &path, exclude, &mut queue)?;
            loaded.insert(path, tree);
        }
        Ok(loaded)
    }

    /// Writes a plan into the staging folder `root`: directories, then links and special
    /// files, then file contents in parallel, then hard links, then directory metadata.
    async fn write_plan(&self, mut plan: Plan, root: &Path, spec: &RestoreSpec) -> Result<Restored, TreeError> {
        let mut report = Restored::default();
        plan.dirs.sort_by_key(|(rel, _)| rel.components().count());
        let dirs: Vec<PathBuf> = plan.dirs.iter().map(|(rel, _)| root.join(rel)).collect();
        let started = std::time::Instant::now();
        blocking(root, "create directories", move || create_dirs(&dirs)).await?;
        report.dirs = plan.dirs.len() as u64;
        // A later name whose first name is not restored this time gets the content itself.
        let restored: HashMap<PathBuf, PathBuf> =
            plan.files.iter().map(|(rel, at, _)| (at.clone(), rel.clone())).collect();
        let (links, orphans): (Vec<_>, Vec<_>) = std::mem::take(&mut plan.links)
            .into_iter()
            .partition(|(_, _, node)| link_source(node).is_some_and(|at| restored.contains_key(&at)));
        plan.files.extend(orphans);
        let others = std::mem::take(&mut plan.others);
        report.others = others.len() as u64;
        let same_owner = spec.same_owner;
        let (root_owned, warnings) = (root.to_owned(), &mut report.warnings);
        warnings.extend(
            blocking(root, "restore links and special files", move || make_others(&root_owned, &others, same_owner))
                .await?,
        );
        // Owned items, so the stream's futures borrow nothing of a closure argument: a
        // borrowed item makes the future `Send` for one lifetime only, which callers that
        // spawn it (lifeboatd's jobs) cannot use.
        let files = std::mem::take(&mut plan.files);
        tracing::debug!(elapsed = ?started.elapsed(), "restore: directories, links and special files made");
        let (count, bytes, warnings) = self.write_files(files, root, spec).await?;
        tracing::debug!(elapsed = ?started.elapsed(), files = count, bytes, "restore: files written");
        report.files = count;
        report.bytes = bytes;
        report.warnings.extend(warnings);
        let pairs: Vec<(PathBuf, PathBuf)> = links
            .iter()
            .filter_map(|(rel, _, node)| {
                let source = restored.get(&link_source(node)?)?;
                Some((root.join(source), root.join(rel)))
            })
            .collect();
        report.hardlinks = pairs.len() as u64;
        blocking(root, "create hard links", move || make_links(&pairs)).await?;
        let dirs = std::mem::take(&mut plan.dirs);
        let root_owned = root.to_owned();
        report
            .warnings
            .extend(blocking(root, "finish directories", move || finish_dirs(&root_owned, dirs, same_owner)).await?);
        tracing::debug!(elapsed = ?started.elapsed(), "restore: hard links made, directories finished");
        report.warnings = summarize_cleared(std::mem::take(&mut report.warnings), root);
        Ok(report)
    }

    /// Writes the regular files: by pack runs where the store locates every chunk of a
    /// file, else file by file. Returns the files and bytes written, and warnings.
    async fn write_files(
        &self,
        files: Vec<(PathBuf, PathBuf, Node)>,
        root: &Path,
        spec: &RestoreSpec,
    ) -> Result<(u64, u64, Vec<String>), TreeError> {
        let (parallel, same_owner) = (spec.parallel.max(1), spec.same_owner);
        let ReadPlan { targets, runs, empty, unlocated } = plan_reads(self.store, files, root);
        let (mut count, mut bytes) = (empty.len() as u64, 0u64);
        let mut warnings = blocking(root, "create empty files", move || write_empty(&empty, same_owner)).await?;
        let targets = Arc::new(targets);
        // Owned items (see write_plan): each run's future holds an Arc, never a borrow.
        let written: Vec<Vec<String>> = futures::stream::iter(runs)
            .map(|run| {
                let targets = targets.clone();
                async move { self.write_run(run, targets, same_owner).await }
            })
            .buffer_unordered(parallel)
            .try_collect()
            .await?;
        warnings.extend(written.into_iter().flatten());
        for target in targets.iter() {
            if target.left.load(Ordering::Acquire) != 0 {
                return Err(io_error("write file", &target.path)(io::Error::other("chunks left unwritten")));
            }
            count += 1;
            bytes += target.len;
        }
        let results: Vec<(u64, Vec<String>)> = futures::stream::iter(unlocated)
            .map(|(rel, at, node)| async move { self.write_file(root.join(rel), &at, &node, same_owner).await })
            .buffer_unordered(parallel)
            .try_collect()
            .await?;
        for (written, file_warnings) in results {
            count += 1;
            bytes += written;
            warnings.extend(file_warnings);
        }
        Ok((count, bytes, warnings))
    }

    /// Reads one run of a pack and writes its blobs where they go; returns the warnings
    /// of the files it finished.
    async fn write_run(&self, run: Run, targets: Arc<Vec<Target>>, same_owner: bool) -> Result<Vec<String>, TreeError> {
        let Run { pack, entries, places } = run;
        let first = places.first().and_then(|p| p.first()).and_then(|(t, _)| targets.get(*t));
        let (at, path) = first.map_or_else(|| (PathBuf::from("/"), PathBuf::new()), |t| (t.at.clone(), t.path.clone()));
        let blobs = self.store.get_pack_run(pack, entries).await.map_err(store_error("read a chunk of", &at))?;
        if blobs.len() != places.len() {
            return Err(store_error("read a chunk of", &at)(StoreError::Internal {
                operation: "read blobs of a pack",
                reason: format!("pack {pack}: {} blobs read for {} asked", blobs.len(), places.len()),
            }));
        }
        blocking(&path, "write file", move || write_blobs(&targets, blobs, &places, same_owner)).await
    }

    /// Writes one file's content (verifying each chunk's id) and settles its metadata.
    async fn write_file(
        &self,
        path: PathBuf,
        at: &Path,
        node: &Node,
        same_owner: bool,
    ) -> Result<(u64, Vec<String>), TreeError> {
        let mut file = Some(
            blocking(&path, "create file", {
                let path = path.clone();
                move || create_private_file(&path).map_err(io_error("create file", &path))
            })
            .await?,
        );
        let mut written = 0u64;
        for id in &node.content {
            let data = self.chunk(id, at).await?;
            written += data.len() as u64;
            let (open, sparse, path_owned) = (file.take(), node.sparse, path.clone());
            file = Some(
                blocking(&path, "write file", move || {
                    let mut open =
                        open.ok_or_else(|| io_error("write file", &path_owned)(io::Error::other("file lost")))?;
                    write_chunk(&mut open, &data, sparse).map_err(io_error("write file", &path_owned))?;
                    Ok(open)
                })
                .await?,
            );
        }
        let (node_owned, path_owned) = (node.clone(), path.clone());
        let warnings = blocking(&path, "finish file", move || {
            let open = file.ok_or_else(|| io_error("finish file", &path_owned)(io::Error::other("file lost")))?;
            if node_owned.sparse {
                open.set_len(written).map_err(io_error("finish file", &path_owned))?;
            }
            settle(&open, &path_owned, &node_owned, same_owner)
        })
        .await?;
        let mut warnings = warnings;
        if written != node.size {
            // The chunks are authentic, so the node's size is what is off: say so, keep the data.
            warnings.push(format!("{}: restored {written} bytes where the backup records {}", at.display(), node.size));
        }
        Ok((written, warnings))
    }

    /// One chunk of a file at `at`, checked against its id.
    async fn chunk(&self, id: &BlobId, at: &Path) -> Result<Bytes, TreeError> {
        let data = self.store.get_blob(id).await.map_err(store_error("read a chunk of", at))?;
        if self.store.blob_id(&data) != *id {
            return Err(TreeError::Corrupt {
                tree: id.to_hex(),
                path: at.display().to_string(),
                reason: "a chunk does not match its id".into(),
            });
        }
        Ok(data)
    }

    /// Writes the content of the file at `path` in the backup to `out`; returns its length.
    pub async fn dump<W: AsyncWrite + Unpin>(&self, root: &BlobId, path: &Path, out: &mut W) -> Result<u64, TreeError> {
        let node = match self.locate(root, path).await? {
            Located::Node(node) if node.kind == NodeType::File => *node,
            _ => return Err(TreeError::Path { path: path.display().to_string(), reason: "is not a file".into() }),
        };
        let mut written = 0u64;
        for id in &node.content {
            let data = self.chunk(id, path).await?;
            out.write_all(&data).await.map_err(io_error("write the content of", path))?;
            written += data.len() as u64;
        }
        out.flush().await.map_err(io_error("write the content of", path))?;
        Ok(written)
    }

    /// The entries of the directory at `path` (the root for `/`), or the entry itself when
    /// it is not a directory.
    pub async fn ls(&self, root: &BlobId, path: &Path) -> Result<Vec<Listed>, TreeError> {
        let base = PathBuf::from("/").join(path);
        let tree = match self.locate(root, &base).await? {
            Located::Root(tree) => tree,
            Located::Node(node) if node.kind == NodeType::Dir => {
                load_tree(self.store, &subtree_of(&node, &base)?, &base).await?
            }
            Located::Node(node) => return Ok(vec![Listed { path: base, node: *node }]),
        };
        Ok(tree.nodes.into_iter().map(|node| Listed { path: child_path(&base, &node.name), node }).collect())
    }

    /// Every entry of the backup whose path matches one of `patterns` (the exclude
    /// language: a pattern matching a directory matches what is below it too).
    pub async fn find(&self, root: &BlobId, patterns: &[String]) -> Result<Vec<Listed>, TreeError> {
        let patterns = PathPatterns::parse(patterns, false, "find")?;
        let mut found = Vec::new();
        let tree = load_tree(self.store, root, Path::new("/")).await?;
        self.find_in(tree, PathBuf::from("/"), &patterns, &mut found).await?;
        Ok(found)
    }

    fn find_in<'b>(
        &'b self,
        tree: Tree,
        at: PathBuf,
        patterns: &'b PathPatterns,
        found: &'b mut Vec<Listed>,
    ) -> BoxFuture<'b, Result<(), TreeError>> {
        Box::pin(async move {
            for node in tree.nodes {
                let path = child_path(&at, &node.name);
                let subtree = (node.kind == NodeType::Dir).then(|| subtree_of(&node, &path)).transpose()?;
                if patterns.matches(&path, subtree.is_some()) {
                    found.push(Listed { path: path.clone(), node });
                }
                if let Some(id) = subtree {
                    let sub = load_tree(self.store, &id, &path).await?;
                    self.find_in(sub, path, patterns, found).await?;
                }
            }
            Ok(())
        })
    }

    /// What differs from the backup with root `a` to the one with root `b`, in path order;
    /// subtrees with the same id are equal and not read.
    pub async fn diff(&self, a: &BlobId, b: &BlobId) -> Result<Vec<Change>, TreeError> {
        let mut changes = Vec::new();
        self.diff_trees(*a, *b, PathBuf::from("/"), &mut changes).await?;
        Ok(changes)
    }

    fn diff_trees<'b>(
        &'b self,
        a: BlobId,
        b: BlobId,
        at: PathBuf,
        changes: &'b mut Vec<Change>,
    ) -> BoxFuture<'b, Result<(), TreeError>> {
        Box::pin(async move {
            if a == b {
                return Ok(());
            }
            let (old, new) = (load_tree(self.store, &a, &at).await?, load_tree(self.store, &b, &at).await?);
            let mut merged: BTreeMap<Vec<u8>, (Option<Node>, Option<Node>)> = BTreeMap::new();
            for node in old.nodes {
                let name = node.name.clone();
                merged.entry(name).or_default().0 = Some(node);
            }
            for node in new.nodes {
                let name = node.name.clone();
                merged.entry(name).or_default().1 = Some(node);
            }
            for (name, pair) in merged {
                let path = child_path(&at, &name);
                match pair {
                    (Some(_), None) => changes.push(Change { path, kind: ChangeKind::Removed }),
                    (None, Some(_)) => changes.push(Change { path, kind: ChangeKind::Added }),
                    (Some(old), Some(new)) => {
                        if differs(&old, &new) {
                            changes.push(Change { path: path.clone(), kind: ChangeKind::Changed });
                        }
                        if let (NodeType::Dir, NodeType::Dir, Some(x), Some(y)) =
                            (old.kind, new.kind, old.subtree, new.subtree)
                        {
                            self.diff_trees(x, y, path, changes).await?;
                        }
                    }
                    (None, None) => {}
                }
            }
            Ok(())
        })
    }

    /// Walks from the root tree down to `path`.
    async fn locate(&self, root: &BlobId, path: &Path) -> Result<Located, TreeError> {
        let not_found = |reason: &str| TreeError::Path { path: path.display().to_string(), reason: reason.into() };
        let components = tree_components(path).ok_or_else(|| not_found("has a `..` component"))?;
        let mut tree = load_tree(self.store, root, Path::new("/")).await?;
        let mut at = PathBuf::from("/");
        let Some((last, parents)) = components.split_last() else {
            return Ok(Located::Root(tree));
        };
        for name in parents {
            at = child_path(&at, name);
            let node = tree.get(name).ok_or_else(|| not_found("is not in the backup"))?;
            if node.kind != NodeType::Dir {
                return Err(not_found("is not in the backup (a parent is not a directory)"));
            }
            tree = load_tree(self.store, &subtree_of(node, &at)?, &at).await?;
        }
        tree.get(last)
            .cloned()
            .map(|node| Located::Node(Box::new(node)))
            .ok_or_else(|| not_found("is not in the backup"))
    }
}

impl Plan {
    /// Files, hard links and the rest go to their own lists.
    fn add_leaf(&mut self, rel: PathBuf, at: PathBuf, node: Node) {
        match node.kind {
            NodeType::File if node.hardlink.is_some() => self.links.push((rel, at, node)),
            NodeType::File => self.files.push((rel, at, node)),
            _ => self.others.push((rel, node)),
        }
    }
}

/// A regular file written by pack runs: created by the first run that writes to it,
/// settled by the one that writes its last chunk.
struct Target {
    /// Where it goes (in the staging folder).
    path: PathBuf,
    /// Its path in the backup (for messages).
    at: PathBuf,
    node: Node,
    /// Its length: its chunks' plaintext lengths summed.
    len: u64,
    /// Chunk writes still to do.
    left: AtomicUsize,
    /// Whether it was created; held while creating, so that another run waits for the
    /// file rather than failing to open it.
    created: Mutex<bool>,
}

/// One range read of a pack and where each of its blobs goes.
struct Run {
    pack: PackId,
    /// The blobs, sorted by offset.
    entries: Vec<PackEntry>,
    /// Per blob: (index of the target, offset in the file), once per place it fills.
    places: Vec<Vec<(usize, u64)>>,
}

/// How a restore's regular files get their content.
struct ReadPlan {
    /// Files whose every chunk the store located.
    targets: Vec<Target>,
    /// Their chunks as pack runs, packs in the order the files first need them.
    runs: Vec<Run>,
    /// Files without content: path in the staging folder, backup path, node.
    empty: Vec<(PathBuf, PathBuf, Node)>,
    /// Files with a chunk the store cannot locate: target-relative path, backup path, node.
    unlocated: Vec<(PathBuf, PathBuf, Node)>,
}

/// Blobs of one pack wanted by a restore: blob id to its entry and places.
type PackWants = HashMap<BlobId, (PackEntry, Vec<(usize, u64)>)>;

/// Locates every chunk of `files` and groups them into pack runs.
fn plan_reads<S: BlobStore>(store: &S, files: Vec<(PathBuf, PathBuf, Node)>, root: &Path) -> ReadPlan {
    let mut plan = ReadPlan { targets: Vec::new(), runs: Vec::new(), empty: Vec::new(), unlocated: Vec::new() };
    let mut pack_order: HashMap<PackId, usize> = HashMap::new();
    let mut packs: Vec<(PackId, PackWants)> = Vec::new();
    for (rel, at, node) in files {
        if node.content.is_empty() {
            plan.empty.push((root.join(rel), at, node));
            continue;
        }
        let located: Option<Vec<_>> = node.content.iter().map(|id| store.blob_location(id)).collect();
        let Some(located) = located else {
            plan.unlocated.push((rel, at, node));
            continue;
        };
        let index = plan.targets.len();
        let mut offset = 0u64;
        for location in &located {
            let slot = *pack_order.entry(location.pack).or_insert_with(|| {
                packs.push((location.pack, HashMap::new()));
                packs.len() - 1
            });
            let wants = &mut packs[slot].1;
            wants.entry(location.entry.id).or_insert_with(|| (location.entry, Vec::new())).1.push((index, offset));
            offset += u64::from(location.entry.plain_len);
        }
        let left = AtomicUsize::new(located.len());
        plan.targets.push(Target { path: root.join(rel), at, node, len: offset, left, created: Mutex::new(false) });
    }
    for (pack, wants) in packs {
        split_runs(pack, wants, &mut plan.runs);
    }
    plan
}

/// Cuts the wanted blobs of one pack into runs: neighbours (gaps up to [`RUN_GAP`]) up to
/// [`RUN_SPAN`] bytes and [`RUN_PLAIN`] bytes of plaintext each.
fn split_runs(pack: PackId, wants: PackWants, runs: &mut Vec<Run>) {
    let mut sorted: Vec<(PackEntry, Vec<(usize, u64)>)> = wants.into_values().collect();
    sorted.sort_by_key(|(entry, _)| entry.offset);
    let mut current: Option<(Run, u64)> = None;
    for (entry, places) in sorted {
        if let Some((run, plain)) = &current {
            let start = run.entries.first().map_or(entry.offset, |e| e.offset);
            let end = run.entries.last().map_or(entry.offset, |e| e.range().end);
            let fits = entry.offset >= end
                && entry.offset - end <= RUN_GAP
                && entry.range().end - start <= RUN_SPAN
                && plain + u64::from(entry.plain_len) <= RUN_PLAIN;
            if !fits && let Some((run, _)) = current.take() {
                runs.push(run);
            }
        }
        let (run, plain) = current.get_or_insert_with(|| (Run { pack, entries: Vec::new(), places: Vec::new() }, 0));
        run.entries.push(entry);
        run.places.push(places);
        *plain += u64::from(entry.plain_len);
    }
    runs.extend(current.map(|(run, _)| run));
}

impl Target {
    /// The file, open for writing: created (exclusively, never through a symlink) by the
    /// first caller, opened again (never through a symlink) by later ones.
    fn open(&self) -> Result<File, TreeError> {
        let mut created = self.created.lock().unwrap_or_else(|p| p.into_inner());
        if *created {
            drop(created);
            return OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&self.path)
                .map_err(io_error("open file", &self.path));
        }
        let file = create_private_file(&self.path).map_err(io_error("create file", &self.path))?;
        if !self.node.sparse && self.len >= FALLOCATE_MIN {
            // Where the file system cannot, the writes allocate as they go: nothing lost.
            let _ = rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, self.len);
        }
        *created = true;
        Ok(file)
    }

    /// Gives the file its length (a sparse file's trailing hole) and its metadata.
    fn finish(&self, file: &File, same_owner: bool) -> Result<Vec<String>, TreeError> {
        if self.node.sparse {
            file.set_len(self.len).map_err(io_error("finish file", &self.path))?;
        }
        let mut warnings = settle(file, &self.path, &self.node, same_owner)?;
        if self.len != self.node.size {
            // The chunks are authentic, so the node's size is what is off: say so, keep the data.
            warnings.push(format!(
                "{}: restored {} bytes where the backup records {}",
                self.at.display(),
                self.len,
                self.node.size
            ));
        }
        Ok(warnings)
    }
}

/// Writes the blobs of one run at their places (each file opened once), settling the files
/// whose last chunk this was. A damaged blob fails the run, naming a file that holds it.
fn write_blobs(
    targets: &[Target],
    blobs: Vec<Result<Bytes, StoreError>>,
    places: &[Vec<(usize, u64)>],
    same_owner: bool,
) -> Result<Vec<String>, TreeError> {
    let mut data = Vec::with_capacity(blobs.len());
    for (blob, places) in blobs.into_iter().zip(places) {
        let at = places.first().and_then(|(t, _)| targets.get(*t)).map_or(Path::new("/"), |t| t.at.as_path());
        data.push(blob.map_err(store_error("read a chunk of", at))?);
    }
    let mut by_file: BTreeMap<usize, Vec<(u64, usize)>> = BTreeMap::new();
    for (blob, places) in places.iter().enumerate() {
        for &(target, offset) in places {
            by_file.entry(target).or_default().push((offset, blob));
        }
    }
    let mut warnings = Vec::new();
    for (index, writes) in by_file {
        let Some(target) = targets.get(index) else { continue };
        let file = target.open()?;
        for &(offset, blob) in &writes {
            write_at(&file, &data[blob], offset, target.node.sparse).map_err(io_error("write file", &target.path))?;
        }
        if target.left.fetch_sub(writes.len(), Ordering::AcqRel) == writes.len() {
            warnings.extend(target.finish(&file, same_owner)?);
        }
    }
    Ok(warnings)
}

/// Writes a chunk at `offset`; a sparse file's chunk of zeros is left a hole.
fn write_at(file: &File, data: &[u8], offset: u64, sparse: bool) -> io::Result<()> {
    if sparse && data.iter().all(|&b| b == 0) {
        return Ok(());
    }
    file.write_all_at(data, offset)
}

/// Creates and settles files without content (path in the staging folder, backup path, node).
fn write_empty(files: &[(PathBuf, PathBuf, Node)], same_owner: bool) -> Result<Vec<String>, TreeError> {
    let mut warnings = Vec::new();
    for (path, at, node) in files {
        let file = create_private_file(path).map_err(io_error("create file", path))?;
        warnings.extend(settle(&file, path, node, same_owner)?);
        if node.size != 0 {
            warnings.push(format!("{}: restored 0 bytes where the backup records {}", at.display(), node.size));
        }
    }
    Ok(warnings)
}

/// Queues the subtrees of `tree`'s directories (at `at`) that `exclude` keeps.
fn queue_subtrees(
    tree: &Tree,
    at: &Path,
    exclude: &TreeFilter,
    queue: &mut Vec<(PathBuf, BlobId)>,
) -> Result<(), TreeError> {
    for node in tree.nodes.iter().filter(|node| node.kind == NodeType::Dir) {
        let path = child_path(at, &node.name);
        if !exclude.excludes(&path, true) {
            let id = subtree_of(node, &path)?;
            queue.push((path, id));
        }
    }
    Ok(())
}

/// Adds the entries of `tree` (at `at` in the backup, `rel` in the target) that the
/// patterns (include, exclude) select, taking subtrees from `trees`; returns whether any
/// was added.
fn plan_tree(
    tree: Tree,
    at: PathBuf,
    rel: PathBuf,
    filters: (&PathPatterns, &TreeFilter),
    trees: &mut HashMap<PathBuf, Tree>,
    plan: &mut Plan,
) -> Result<bool, TreeError> {
    let (include, exclude) = filters;
    let mut any = false;
    for node in tree.nodes {
        let node_at = child_path(&at, &node.name);
        let node_rel = child_path(&rel, &node.name);
        let is_dir = node.kind == NodeType::Dir;
        if exclude.excludes(&node_at, is_dir) {
            continue;
        }
        let selected = include.is_empty() || include.matches(&node_at, is_dir);
        if is_dir {
            // Absent only when a forged tree names one directory twice.
            let sub = trees.remove(&node_at).ok_or_else(|| TreeError::Refused {
                path: node_at.display().to_string(),
                reason: "is named twice in its directory".into(),
            })?;
            let inner = plan_tree(sub, node_at, node_rel.clone(), filters, trees, plan)?;
            if selected || inner {
                plan.dirs.push((node_rel, node));
                any = true;
            }
        } else if selected {
            plan.add_leaf(node_rel, node_at, node);
            any = true;
        }
    }
    Ok(any)
}

/// The backup path of a hard link's first name.
fn link_source(node: &Node) -> Option<PathBuf> {
    node.hardlink.as_ref().map(|p| PathBuf::from(std::ffi::OsStr::from_bytes(p)))
}

/// A directory node's subtree id (the parser makes sure there is one).
fn subtree_of(node: &Node, at: &Path) -> Result<BlobId, TreeError> {
    node.subtree.ok_or_else(|| TreeError::Refused {
        path: at.display().to_string(),
        reason: "is a directory without a tree".into(),
    })
}

/// Whether two nodes of the same name differ in what a user sees.
fn differs(a: &Node, b: &Node) -> bool {
    let common = (a.kind, a.mode, a.uid, a.gid, &a.xattrs) != (b.kind, b.mode, b.uid, b.gid, &b.xattrs);
    if a.kind == NodeType::Dir {
        return common;
    }
    common || (a.mtime_ns, a.size, &a.content, &a.target, a.rdev) != (b.mtime_ns, b.size, &b.content, &b.target, b.rdev)
}

/// Runs blocking `work` off the reactor.
async fn blocking<T: Send + 'static>(
    path: &Path,
    operation: &'static str,
    work: impl FnOnce() -> Result<T, TreeError> + Send + 'static,
) -> Result<T, TreeError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| io_error(operation, path)(io::Error::other(e)))?
}

/// Creates directories, parents first, private (0700) until they are finished.
fn create_dirs(dirs: &[PathBuf]) -> Result<(), TreeError> {
    for dir in dirs {
        DirBuilder::new().mode(0o700).create(dir).map_err(io_error("create directory", dir))?;
    }
    Ok(())
}

/// Writes a chunk; a sparse file's chunk of zeros becomes a hole.
fn write_chunk(file: &mut File, data: &[u8], sparse: bool) -> io::Result<()> {
    if sparse && data.iter().all(|&b| b == 0) {
        file.seek(SeekFrom::Current(data.len() as i64))?;
        return Ok(());
    }
    file.write_all(data)
}

/// The end of the warning for an entry whose setuid/setgid bits were cleared.
const CLEARED: &str = " cleared: it does not have its recorded owner";
const CLEARED_START: &str = "setuid/setgid bits of ";

fn cleared_warning(path: &Path) -> String {
    format!("{CLEARED_START}{}{CLEARED}", path.display())
}

/// The entries whose setuid/setgid bits were cleared as one line, as format 2's restore
/// says it (a tree of setuid tools restored without root is one message, not one per
/// file), naming the first by its path under the restore rather than in the staging folder.
fn summarize_cleared(warnings: Vec<String>, root: &Path) -> Vec<String> {
    let (cleared, mut rest): (Vec<String>, Vec<String>) =
        warnings.into_iter().partition(|w| w.starts_with(CLEARED_START) && w.ends_with(CLEARED));
    let Some(first) = cleared.iter().min() else { return rest };
    let path = Path::new(first.trim_start_matches(CLEARED_START).trim_end_matches(CLEARED));
    let shown = path.strip_prefix(root).unwrap_or(path);
    let plural = if cleared.len() == 1 { "y" } else { "ies" };
    rest.push(format!(
        "owners were not restored as recorded: setuid/setgid bits were cleared on {} entr{plural} (first: {})",
        cleared.len(),
        shown.display()
    ));
    rest
}

/// Owner (names resolved here first), mode, mtime and xattrs of an open entry; warnings for
/// what could not be restored.
fn settle(file: &File, path: &Path, node: &Node, same_owner: bool) -> Result<Vec<String>, TreeError> {
    let uid = node.user.as_deref().and_then(uid_of).unwrap_or(node.uid);
    let gid = node.group.as_deref().and_then(gid_of).unwrap_or(node.gid);
    let settled = settle_open(file, path, node.mode, (uid, gid), time_of(node.mtime_ns), same_owner)
        .map_err(|e| TreeError::Target { path: path.display().to_string(), source: Box::new(e) })?;
    let mut warnings = Vec::new();
    if let Some(e) = settled.owner_error {
        warnings.push(format!("cannot give {} its owner: {e}", path.display()));
    }
    if settled.cleared {
        warnings.push(cleared_warning(path));
    }
    for xattr in &node.xattrs {
        let set = hex::decode(&xattr.value_hex).map_err(io::Error::other).and_then(|value| {
            rustix::fs::fsetxattr(file, xattr.name.as_str(), &value, rustix::fs::XattrFlags::empty())
                .map_err(io::Error::from)
        });
        if let Err(e) = set {
            warnings.push(format!("cannot set extended attribute {} of {}: {e}", xattr.name, path.display()));
        }
    }
    Ok(warnings)
}

/// Symlinks, FIFOs and devices, with their times (and owners); devices need root, so a
/// failure to make one is a warning.
fn make_others(root: &Path, others: &[(PathBuf, Node)], same_owner: bool) -> Result<Vec<String>, TreeError> {
    use rustix::fs::{CWD, FileType, Mode, mknodat};
    let mut warnings = Vec::new();
    for (rel, node) in others {
        let path = root.join(rel);
        let mode = Mode::from_bits_truncate(node.mode & 0o7777);
        let made = match node.kind {
            NodeType::Symlink => {
                let target = std::ffi::OsStr::from_bytes(node.target.as_deref().unwrap_or_default());
                std::os::unix::fs::symlink(target, &path)
            }
            NodeType::Fifo => mknodat(CWD, &path, FileType::Fifo, mode, 0).map_err(io::Error::from),
            NodeType::Chardev => {
                mknodat(CWD, &path, FileType::CharacterDevice, mode, node.rdev.unwrap_or(0)).map_err(io::Error::from)
            }
            NodeType::Blockdev => {
                mknodat(CWD, &path, FileType::BlockDevice, mode, node.rdev.unwrap_or(0)).map_err(io::Error::from)
            }
            NodeType::File | NodeType::Dir => continue,
        };
        match made {
            Ok(()) => {}
            Err(e)
                if matches!(node.kind, NodeType::Chardev | NodeType::Blockdev)
                    && e.raw_os_error() == Some(libc::EPERM) =>
            {
                warnings.push(format!("cannot create device {}: {e}", path.display()));
                continue;
            }
            Err(e) => return Err(io_error("create", &path)(e)),
        }
        if node.kind != NodeType::Symlink {
            // mknod applied the umask; the node was created by this restore, so the path is it.
            fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(node.mode & 0o7777))
                .map_err(io_error("set the mode of", &path))?;
        }
        if same_owner && let Err(e) = std::os::unix::fs::lchown(&path, Some(node.uid), Some(node.gid)) {
            warnings.push(format!("cannot give {} its owner: {e}", path.display()));
        }
        let (secs, nanos) = split_nanos(node.mtime_ns);
        set_symlink_times(&path, secs, nanos).map_err(io_error("set the mtime of", &path))?;
    }
    Ok(warnings)
}

/// Hard links (source, new name), both inside the staging folder.
fn make_links(pairs: &[(PathBuf, PathBuf)]) -> Result<(), TreeError> {
    for (source, link) in pairs {
        fs::hard_link(source, link).map_err(io_error("create hard link", link))?;
    }
    Ok(())
}

/// Gives directories their recorded metadata, deepest first (so that writing into one
/// cannot change its mtime afterwards).
fn finish_dirs(root: &Path, mut dirs: Vec<(PathBuf, Node)>, same_owner: bool) -> Result<Vec<String>, TreeError> {
    dirs.sort_by_key(|(rel, _)| std::cmp::Reverse(rel.components().count()));
    let mut warnings = Vec::new();
    for (rel, node) in dirs {
        let path = root.join(&rel);
        let dir = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(io_error("finish directory", &path))?;
        warnings.extend(settle(&dir, &path, &node, same_owner)?);
    }
    Ok(warnings)
}

/// Nanoseconds since the epoch as (seconds, nanoseconds within the second).
fn split_nanos(ns: i64) -> (i64, u32) {
    (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000) as u32)
}

/// Nanoseconds since the epoch as a SystemTime.
fn time_of(ns: i64) -> Option<SystemTime> {
    let (secs, nanos) = split_nanos(ns);
    let whole = Duration::from_secs(secs.unsigned_abs());
    let at =
        if secs >= 0 { SystemTime::UNIX_EPOCH.checked_add(whole) } else { SystemTime::UNIX_EPOCH.checked_sub(whole) };
    at?.checked_add(Duration::from_nanos(u64::from(nanos)))
}

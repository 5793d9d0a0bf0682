//! The restorer: a root tree back into a directory (several files in flight at once), and
//! the read-only views over trees: `dump`, `ls`, `find` and `diff`.
//!
//! A restore fills a private staging folder next to the target and renames it into place
//! once every entry is written (as format 2 restores do). Names come from trees whose
//! parser refuses anything but plain file names, every directory is created by the
//! restore itself, files are created exclusively without following symlinks, and hard
//! links only ever point at files this restore wrote, so no entry can land outside the
//! target, whatever a forged tree says.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::blob::{BlobId, BlobStore};
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
    /// Files written at the same time (at least 1).
    pub parallel: usize,
}

impl Default for RestoreSpec {
    fn default() -> Self {
        RestoreSpec {
            sub_path: None,
            include: Vec::new(),
            exclude: Vec::new(),
            same_owner: RestoreOptions::default().same_owner,
            parallel: 4,
        }
    }
}

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
        let exclude = FilesFilter { exclude: spec.exclude.clone(), ..Default::default() }.compile()?;
        let include = PathPatterns::parse(&spec.include, false, "--include")?;
        let mut plan = Plan::default();
        let start = spec.sub_path.clone().unwrap_or_else(|| PathBuf::from("/"));
        let start = PathBuf::from("/").join(start);
        match self.locate(root, &start).await? {
            Located::Root(tree) => {
                self.plan_tree(tree, start, PathBuf::new(), &include, &exclude, &mut plan).await?;
            }
            Located::Node(node) if node.kind == NodeType::Dir => {
                let tree = load_tree(self.store, &subtree_of(&node, &start)?, &start).await?;
                self.plan_tree(tree, start, PathBuf::new(), &include, &exclude, &mut plan).await?;
            }
            Located::Node(node) => {
                let rel = PathBuf::from(node.name_os());
                plan.add_leaf(rel, start, *node);
            }
        };
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

    /// Adds the entries of `tree` (at `at` in the backup, `rel` in the target) that the
    /// patterns select; returns whether any was added.
    fn plan_tree<'b>(
        &'b self,
        tree: Tree,
        at: PathBuf,
        rel: PathBuf,
        include: &'b PathPatterns,
        exclude: &'b TreeFilter,
        plan: &'b mut Plan,
    ) -> BoxFuture<'b, Result<bool, TreeError>> {
        Box::pin(async move {
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
                    let sub = load_tree(self.store, &subtree_of(&node, &node_at)?, &node_at).await?;
                    let inner = self.plan_tree(sub, node_at, node_rel.clone(), include, exclude, plan).await?;
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
        })
    }

    /// Writes a plan into the staging folder `root`: directories, then links and special
    /// files, then file contents in parallel, then hard links, then directory metadata.
    async fn write_plan(&self, mut plan: Plan, root: &Path, spec: &RestoreSpec) -> Result<Restored, TreeError> {
        let mut report = Restored::default();
        plan.dirs.sort_by_key(|(rel, _)| rel.components().count());
        let dirs: Vec<PathBuf> = plan.dirs.iter().map(|(rel, _)| root.join(rel)).collect();
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
        let results: Vec<(u64, Vec<String>)> = futures::stream::iter(files)
            .map(|(rel, at, node)| async move { self.write_file(root.join(rel), &at, &node, same_owner).await })
            .buffer_unordered(spec.parallel.max(1))
            .try_collect()
            .await?;
        for (bytes, warnings) in results {
            report.files += 1;
            report.bytes += bytes;
            report.warnings.extend(warnings);
        }
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
        Ok(report)
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
        warnings.push(format!("setuid/setgid bits of {} cleared: it does not have its recorded owner", path.display()));
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

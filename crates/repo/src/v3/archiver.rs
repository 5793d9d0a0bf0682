//! The archiver: walks a directory bottom-up, chunks each file, stores the chunks and one
//! tree per directory through a [`BlobStore`], and returns the root tree's id.
//!
//! Blocking file system work (listing, `lstat`, reading) runs on blocking threads; the
//! store is driven from the async side. A file whose inode, device, size, mtime and ctime
//! equal its node in the parent backup keeps that node's content without being read.

use std::collections::HashMap;
use std::fs::{self, Metadata, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use lifeboat_chunker::Chunker;

use super::blob::{BlobId, BlobKind, BlobStore};
use super::tree::{Node, NodeType, Tree, TreeError, Xattr, child_path, io_error, load_tree, store_error};
use crate::tree::{MountKey, TreeFilter, group_name, open_no_follow, user_name};

/// How to archive.
#[derive(Debug, Clone, Default)]
pub struct ArchiveOptions {
    /// The root tree of the previous backup of the same source: unchanged files keep its
    /// content ids without being read.
    pub parent: Option<BlobId>,
    /// Read every file, even where the parent says it is unchanged.
    pub force: bool,
    /// What to leave out, as in format 2: exclude patterns (checked on the absolute path
    /// before anything is opened), tag files, and `one-file-system` (a mount point is
    /// recorded as an empty directory).
    pub filter: TreeFilter,
    /// Where the source sits in the backup's tree, when its root tree is placed under its
    /// parent directories (a files backup's root is `/`): hard links name their first path
    /// from the backup's root. `None`: the source is the root.
    pub root_at: Option<PathBuf>,
}

/// What an archive run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveStats {
    /// Regular files (each name of a hard-linked file counts).
    pub files: u64,
    /// Directories below the root.
    pub dirs: u64,
    /// Symlinks.
    pub symlinks: u64,
    /// FIFOs and devices (recorded, not read).
    pub specials: u64,
    /// Names of files already stored under another name (hard links).
    pub hardlinks: u64,
    /// File content bytes read.
    pub bytes_read: u64,
    /// File content bytes the backup holds (read or reused from the parent; each hard
    /// link once): the backup's logical size.
    pub bytes_total: u64,
    /// Plaintext bytes of blobs the store did not have (chunks and trees).
    pub bytes_new: u64,
    /// Blobs the store did not have.
    pub blobs_new: u64,
    /// Files whose content came from the parent without reading them.
    pub reused_files: u64,
    /// Entries left out by the filter.
    pub excluded: u64,
    /// Entries skipped (sockets, entries that vanished or changed type), with a warning.
    pub skipped: u64,
    /// Directories on another file system recorded empty under `one-file-system`.
    pub mountpoints: u64,
}

/// The result of [`archive`].
#[derive(Debug, Clone)]
pub struct Archived {
    /// The root tree: the source directory's listing (or, for a single file, a tree of
    /// one node).
    pub root: BlobId,
    /// Counters.
    pub stats: ArchiveStats,
    /// Files that changed while being read, entries skipped.
    pub warnings: Vec<String>,
}

/// Archives `source` (a directory, or one file) into `store`. The blobs are put, not
/// flushed: the caller flushes before naming the root in a manifest.
pub async fn archive<S: BlobStore>(store: &S, source: &Path, options: &ArchiveOptions) -> Result<Archived, TreeError> {
    let source = std::path::absolute(source).map_err(io_error("resolve source path", source))?;
    let one_file_system = options.filter.one_file_system();
    let (meta, root_mount) = blocking(&source, "read source", {
        let source = source.clone();
        move || {
            let meta = fs::symlink_metadata(&source)?;
            // Under one-file-system, what the walk must not leave.
            let mount = one_file_system.then(|| MountKey::of(&source, meta.dev()));
            Ok((meta, mount))
        }
    })
    .await?;
    let parent = match &options.parent {
        Some(id) => Some(load_tree(store, id, Path::new("/")).await?),
        None => None,
    };
    let mut archiver = Archiver {
        store,
        chunker: Arc::new(store.chunker().clone()),
        options,
        stats: ArchiveStats::default(),
        warnings: Vec::new(),
        links: HashMap::new(),
        context: Arc::new(ListContext { accounts: Mutex::default(), filter: options.filter.clone(), root_mount }),
    };
    let at = options.root_at.clone().unwrap_or_else(|| PathBuf::from("/"));
    let root = if meta.is_dir() {
        archiver.dir(source.clone(), at.clone(), parent).await?
    } else {
        let name = source.file_name().map(|n| n.as_bytes().to_vec()).unwrap_or_default();
        let entry = describe(&source, name, meta, &archiver.context.accounts);
        let mut nodes = Vec::new();
        let previous = parent.as_ref().and_then(|p| p.get(&entry.node.name)).cloned();
        if let Some(node) = archiver.node(entry, &source, &at, previous).await? {
            nodes.push(node);
        }
        archiver.put_tree(Tree { nodes }, Path::new("/")).await?
    };
    Ok(Archived { root, stats: archiver.stats, warnings: archiver.warnings })
}

/// Runs `work` on a blocking thread; its error names `path` and `operation`.
async fn blocking<T: Send + 'static>(
    path: &Path,
    operation: &'static str,
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T, TreeError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| io_error(operation, path)(io::Error::other(e)))?
        .map_err(io_error(operation, path))
}

/// User and group names by id, looked up once each.
#[derive(Default)]
struct Accounts {
    users: HashMap<u32, Option<String>>,
    groups: HashMap<u32, Option<String>>,
}

struct Archiver<'a, S> {
    store: &'a S,
    chunker: Arc<Chunker>,
    options: &'a ArchiveOptions,
    stats: ArchiveStats,
    warnings: Vec<String>,
    /// The first name of every file with several links, by (device, inode), with the
    /// node stored for it: later names repeat its content without reading it again.
    links: HashMap<(u64, u64), Node>,
    context: Arc<ListContext>,
}

/// What the listing threads need: the filter, the root's mount, the account names.
struct ListContext {
    accounts: Mutex<Accounts>,
    filter: TreeFilter,
    /// Under `one-file-system`: the file system and mount of the source.
    root_mount: Option<MountKey>,
}

/// A directory entry as the listing thread saw it: the node without content yet.
struct Entry {
    node: Node,
    meta: Metadata,
    /// On another file system or mount than the source, under `one-file-system`.
    other_fs: bool,
}

/// What reading one file gave.
struct ReadFile {
    before: Metadata,
    after: Metadata,
}

impl<S: BlobStore> Archiver<'_, S> {
    fn warn(&mut self, message: String) {
        tracing::info!("{message}");
        self.warnings.push(message);
    }

    /// Stores the tree of the directory at `path` (at `at` in the backup), its
    /// subdirectories first; `parent` is the same directory's tree in the parent backup.
    fn dir(&mut self, path: PathBuf, at: PathBuf, parent: Option<Tree>) -> BoxFuture<'_, Result<BlobId, TreeError>> {
        Box::pin(async move {
            let context = self.context.clone();
            let listing = blocking(&path, "list directory", {
                let path = path.clone();
                move || list_dir(&path, &context)
            })
            .await?;
            self.stats.skipped += listing.skipped.len() as u64;
            self.stats.excluded += listing.excluded;
            for message in listing.skipped.into_iter().chain(listing.notes) {
                self.warn(message);
            }
            let mut nodes = Vec::with_capacity(listing.entries.len());
            for entry in listing.entries {
                let abs = path.join(entry.node.name_os());
                if entry.other_fs && !entry.meta.is_dir() {
                    self.stats.excluded += 1;
                    continue;
                }
                let previous = parent.as_ref().and_then(|p| p.get(&entry.node.name)).cloned();
                if let Some(node) = self.node(entry, &abs, &at, previous).await? {
                    nodes.push(node);
                }
            }
            self.put_tree(Tree { nodes }, &at).await
        })
    }

    /// The node of one entry, its content or subtree stored; `None` when it is skipped.
    async fn node(
        &mut self,
        entry: Entry,
        abs: &Path,
        dir_at: &Path,
        previous: Option<Node>,
    ) -> Result<Option<Node>, TreeError> {
        let Entry { mut node, meta, other_fs } = entry;
        let at = child_path(dir_at, &node.name);
        match node.kind {
            NodeType::Dir if other_fs => {
                // A mount point under one-file-system: the directory, recorded empty.
                node.subtree = Some(self.put_tree(Tree::default(), &at).await?);
                self.stats.dirs += 1;
                self.stats.mountpoints += 1;
            }
            NodeType::Dir => {
                let parent = match previous.as_ref().filter(|p| p.kind == NodeType::Dir).and_then(|p| p.subtree) {
                    Some(id) => self.parent_tree(&id, &at).await,
                    None => None,
                };
                node.subtree = Some(self.dir(abs.to_owned(), at, parent).await?);
                self.stats.dirs += 1;
            }
            NodeType::File => return self.file(node, &meta, abs, &at, previous).await,
            NodeType::Symlink => self.stats.symlinks += 1,
            NodeType::Fifo | NodeType::Chardev | NodeType::Blockdev => self.stats.specials += 1,
        }
        Ok(Some(node))
    }

    /// The parent backup's tree of a directory; one that cannot be read only costs reading
    /// the directory's files again.
    async fn parent_tree(&mut self, id: &BlobId, at: &Path) -> Option<Tree> {
        match load_tree(self.store, id, at).await {
            Ok(tree) => Some(tree),
            Err(e) => {
                self.warn(format!(
                    "the parent backup's tree of {} is unusable ({e}); its files are read again",
                    at.display()
                ));
                None
            }
        }
    }

    async fn file(
        &mut self,
        mut node: Node,
        meta: &Metadata,
        abs: &Path,
        at: &Path,
        previous: Option<Node>,
    ) -> Result<Option<Node>, TreeError> {
        let key = (meta.dev(), meta.ino());
        if meta.nlink() > 1
            && let Some(first) = self.links.get(&key)
        {
            node.content = first.content.clone();
            node.size = first.size;
            node.sparse = first.sparse;
            node.hardlink = Some(first.hardlink.clone().unwrap_or_default());
            self.stats.files += 1;
            self.stats.hardlinks += 1;
            return Ok(Some(node));
        }
        if let Some(previous) = previous.filter(|p| !self.options.force && self.unchanged(p, &node)) {
            node.content = previous.content;
            node.sparse = previous.sparse;
            self.stats.reused_files += 1;
        } else {
            let Some(read) = self.read_file(&mut node, abs, at).await? else {
                return Ok(None);
            };
            note_change(&read, abs, &mut self.warnings);
        }
        self.stats.files += 1;
        self.stats.bytes_total += node.size;
        if meta.nlink() > 1 {
            // Later names point at this one by its path in the backup.
            let mut first = node.clone();
            first.hardlink = Some(at.as_os_str().as_bytes().to_vec());
            self.links.insert(key, first);
        }
        Ok(Some(node))
    }

    /// Whether the parent's node describes the same unchanged file, all of whose chunks
    /// the store still has.
    fn unchanged(&self, previous: &Node, now: &Node) -> bool {
        previous.kind == NodeType::File
            && (previous.inode, previous.device, previous.size, previous.mtime_ns, previous.ctime_ns)
                == (now.inode, now.device, now.size, now.mtime_ns, now.ctime_ns)
            && previous.content.iter().all(|id| self.store.has_blob(id))
    }

    /// Reads the file to its end (not to its stat size: `/proc` files say 0), storing each
    /// chunk; `None` when it stopped being a regular file.
    async fn read_file(&mut self, node: &mut Node, abs: &Path, at: &Path) -> Result<Option<ReadFile>, TreeError> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
        let chunker = self.chunker.clone();
        let path = abs.to_owned();
        let reader = tokio::task::spawn_blocking(move || read_chunks(&path, &chunker, &tx));
        let mut content = Vec::new();
        let mut size = 0u64;
        while let Some(chunk) = rx.recv().await {
            size += chunk.len() as u64;
            content.push(self.put(BlobKind::Data, chunk, at).await?);
        }
        let read = reader.await.map_err(|e| io_error("read file", abs)(io::Error::other(e)))?;
        let read = match read {
            Ok(read) => read,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP)) => {
                self.stats.skipped += 1;
                self.warn(format!("skipped {}: it became a symlink while being backed up", abs.display()));
                return Ok(None);
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                self.stats.skipped += 1;
                self.warn(format!("skipped {}: {e}", abs.display()));
                return Ok(None);
            }
            Err(e) => return Err(io_error("read file", abs)(e)),
        };
        self.stats.bytes_read += size;
        // What was read is described by the descriptor it was read from.
        fill_from_stat(node, &read.before);
        node.size = size;
        node.content = content;
        node.sparse = read.before.blocks().saturating_mul(512) < read.before.size();
        Ok(Some(read))
    }

    /// Stores a blob unless the store has it, counting what was new.
    async fn put(&mut self, kind: BlobKind, plaintext: Vec<u8>, at: &Path) -> Result<BlobId, TreeError> {
        let id = self.store.blob_id(&plaintext);
        if self.store.has_blob(&id) {
            return Ok(id);
        }
        self.stats.blobs_new += 1;
        self.stats.bytes_new += plaintext.len() as u64;
        let operation = if kind == BlobKind::Tree { "store tree of" } else { "store a chunk of" };
        self.store.put_blob(kind, Bytes::from(plaintext)).await.map_err(store_error(operation, at))
    }

    async fn put_tree(&mut self, tree: Tree, at: &Path) -> Result<BlobId, TreeError> {
        self.put(BlobKind::Tree, tree.to_json(), at).await
    }
}

/// Warns when the file's size, mtime or ctime differ after reading from before.
fn note_change(read: &ReadFile, abs: &Path, warnings: &mut Vec<String>) {
    let stamp = |m: &Metadata| (m.size(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec());
    if stamp(&read.before) != stamp(&read.after) {
        let message = format!("{} changed while being read; the backup holds what was read", abs.display());
        tracing::info!("{message}");
        warnings.push(message);
    }
}

/// Opens the file without following a symlink, and sends its chunks until its end.
/// A file that is no longer a regular file is `InvalidData`.
fn read_chunks(path: &Path, chunker: &Chunker, tx: &tokio::sync::mpsc::Sender<Vec<u8>>) -> io::Result<ReadFile> {
    let file = open_no_follow(path)?;
    let before = file.metadata()?;
    if !before.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "it stopped being a regular file while being backed up",
        ));
    }
    for chunk in chunker.chunks(&file) {
        if tx.blocking_send(chunk?).is_err() {
            // The async side failed and stopped listening; its error is the one reported.
            return Err(io::Error::other("archive abandoned"));
        }
    }
    let after = file.metadata()?;
    Ok(ReadFile { before, after })
}

/// A directory's entries sorted by name bytes, less what the filter left out.
struct Listing {
    entries: Vec<Entry>,
    /// Why entries were skipped (sockets, entries that vanished).
    skipped: Vec<String>,
    /// What else the operator should know (unreadable tags or xattrs).
    notes: Vec<String>,
    /// Entries the filter left out (patterns, tags).
    excluded: u64,
}

/// Lists a directory through its open descriptor (a directory swapped for a symlink after
/// its `lstat` is not followed) and describes each entry the filter keeps (blocking). A
/// directory holding a tag file keeps that file only, as in format 2.
fn list_dir(path: &Path, context: &ListContext) -> io::Result<Listing> {
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    let by_fd = PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir)));
    let listing = if by_fd.is_dir() { fs::read_dir(&by_fd)? } else { fs::read_dir(path)? };
    let mut names: Vec<Vec<u8>> =
        listing.map(|e| e.map(|e| e.file_name().as_bytes().to_vec())).collect::<io::Result<_>>()?;
    names.sort();
    let mut out =
        Listing { entries: Vec::with_capacity(names.len()), skipped: Vec::new(), notes: Vec::new(), excluded: 0 };
    let tags = tags_in(&dir, path, &context.filter, &mut out.notes);
    if !tags.is_empty() {
        let before = names.len();
        names.retain(|name| tags.iter().any(|tag| tag.as_bytes() == name.as_slice()));
        out.excluded += (before - names.len()) as u64;
    }
    for name in names {
        let child = path.join(std::ffi::OsStr::from_bytes(&name));
        match fs::symlink_metadata(&child) {
            Ok(meta) if context.filter.excludes(&child, meta.is_dir()) => out.excluded += 1,
            Ok(meta) if meta.file_type().is_socket() => {
                out.skipped.push(format!("skipped socket {}", child.display()));
            }
            Ok(meta) => {
                let other_fs = context.root_mount.is_some_and(|root| root.differs(&MountKey::of(&child, meta.dev())));
                let mut entry = describe(&child, name, meta, &context.accounts);
                entry.other_fs = other_fs;
                if entry.node.kind == NodeType::Symlink {
                    entry.node.target = Some(fs::read_link(&child)?.as_os_str().as_bytes().to_vec());
                }
                match read_xattrs(&child) {
                    Ok(xattrs) => entry.node.xattrs = xattrs,
                    Err(e) => {
                        out.notes.push(format!("cannot read the extended attributes of {}: {e}", child.display()))
                    }
                }
                out.entries.push(entry);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                out.skipped.push(format!("skipped {}: it vanished while being backed up", child.display()));
            }
            Err(e) => return Err(e),
        }
    }
    drop(dir);
    Ok(out)
}

/// The node `lstat` describes (type, owner, times, identity), without content.
fn describe(path: &Path, name: Vec<u8>, meta: Metadata, accounts: &Mutex<Accounts>) -> Entry {
    let kind = meta.file_type();
    let node_type = if kind.is_dir() {
        NodeType::Dir
    } else if kind.is_symlink() {
        NodeType::Symlink
    } else if kind.is_fifo() {
        NodeType::Fifo
    } else if kind.is_char_device() {
        NodeType::Chardev
    } else if kind.is_block_device() {
        NodeType::Blockdev
    } else {
        NodeType::File
    };
    let mut node = Node::new(name, node_type);
    fill_from_stat(&mut node, &meta);
    if node_type == NodeType::File {
        node.size = meta.size();
    }
    if matches!(node_type, NodeType::Chardev | NodeType::Blockdev) {
        node.rdev = Some(meta.rdev());
    }
    if let Ok(mut accounts) = accounts.lock() {
        node.user = accounts.users.entry(meta.uid()).or_insert_with(|| user_name(meta.uid())).clone();
        node.group = accounts.groups.entry(meta.gid()).or_insert_with(|| group_name(meta.gid())).clone();
    }
    tracing::trace!(path = %path.display(), "described");
    Entry { node, meta, other_fs: false }
}

/// The names of the filter's tag files in the directory open as `dir` (empty: it is not
/// tagged). A tag that is there but cannot be read is noted and does not count.
fn tags_in(dir: &std::fs::File, path: &Path, filter: &TreeFilter, notes: &mut Vec<String>) -> Vec<std::ffi::OsString> {
    let mut found = Vec::new();
    for tag in filter.tags() {
        match tag.is_in(dir) {
            Ok(true) => found.push(tag.name.clone()),
            Ok(false) => {}
            Err(e) => notes.push(format!(
                "cannot read the exclusion tag {} in {}: {e}; the directory is backed up whole",
                tag.name.to_string_lossy(),
                path.display()
            )),
        }
    }
    found
}

/// Mode, owner, times and identity from a stat.
pub(crate) fn fill_from_stat(node: &mut Node, meta: &Metadata) {
    node.mode = meta.mode() & 0o7777;
    node.uid = meta.uid();
    node.gid = meta.gid();
    node.mtime_ns = nanos(meta.mtime(), meta.mtime_nsec());
    node.ctime_ns = nanos(meta.ctime(), meta.ctime_nsec());
    node.inode = meta.ino();
    node.device = meta.dev();
    node.links = meta.nlink();
}

/// Seconds and nanoseconds as nanoseconds since the epoch (saturating far from it).
fn nanos(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// The extended attributes of `path` itself (not of a symlink's target), sorted by name.
/// A file system without them has none.
fn read_xattrs(path: &Path) -> io::Result<Vec<Xattr>> {
    let names = match grow(|buf| rustix::fs::llistxattr(path, buf)) {
        Ok(names) => names,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let Ok(text) = std::str::from_utf8(name) else { continue };
        match grow(|buf| rustix::fs::lgetxattr(path, text, buf)) {
            Ok(value) => out.push(Xattr { name: text.to_owned(), value_hex: hex::encode(value) }),
            // Removed between the listing and the read.
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => {}
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Calls an xattr call with a buffer grown until its answer fits.
fn grow(call: impl Fn(&mut [u8]) -> rustix::io::Result<usize>) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        match call(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(rustix::io::Errno::RANGE) if buf.len() < 1 << 20 => {
                let len = buf.len() * 4;
                buf.resize(len, 0);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

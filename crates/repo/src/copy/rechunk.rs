//! Re-chunking format 2 backups into format 3 (docs/FORMAT.md 11.7): what `copy` into a v3
//! repository and `migrate` do with v2 backups. A files backup's tar becomes trees (below);
//! each stream of a stream or database backup becomes a v3 stream record, a file node of one
//! root tree, exactly as `backup stdin` writes it in a format 3 repository
//! ([`StreamRoot`]), checked against the size and plaintext BLAKE3 its v2 record holds.
//!
//! The tar is read on a blocking thread, entry by entry; a file's content goes through the
//! store's chunker there and its chunks are put by the async side in order, so memory holds
//! the chunks in flight and the nodes of the backup (a few hundred bytes per entry), never
//! a file. Trees are built at the end, deepest directory first, as the archiver does.
//!
//! What the tar has is kept: names (any bytes), type, mode, numeric owner and owner names,
//! mtime (whole seconds, or the PAX `mtime` with its fraction), symlink targets, devices,
//! FIFOs, hard links (a later name repeats the first's content and names it in `hardlink`)
//! and PAX `SCHILY.xattr.*` records. What a tar does not have stays empty: ctime, inode,
//! device and link counts are 0, so the next v3 backup of the same paths reads every file
//! once (its chunks dedup against the imported ones). Parent directories the tar does not
//! list (those of the backed-up paths) become directories with mode 0755, owner 0:0 and
//! mtime 0.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::PathBuf;

use bytes::Bytes;
use lifeboat_chunker::Chunker;

use futures::TryStreamExt;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::backup::streams_v3::StreamRoot;
use crate::error::{RepoError, Result};
use crate::manifest::{MANIFEST_VERSION_V3, Manifest, ObjectRecord};
use crate::repository::Repository;
use crate::v3::tree::{Node, NodeType, Tree, TreeError, Xattr, valid_name};
use crate::v3::{BlobId, BlobKind, BlobStore, ChunkStore};

/// What an import made: the root tree, counters and what was left out.
#[derive(Debug)]
pub(crate) struct Imported {
    /// The root tree (`/`).
    pub root: BlobId,
    /// `files`, `dirs`, `symlinks`, `hardlinks`, `size`, `bytes_new`, `blobs_new`.
    pub stats: BTreeMap<String, u64>,
    /// Entries skipped and why.
    pub warnings: Vec<String>,
}

/// What the tar reader hands the async side, in archive order.
enum Event {
    /// A chunk of the file whose entry follows.
    Chunk(Vec<u8>),
    /// An entry: its path components, its node (a file's content is the chunks sent
    /// since the previous entry), and for a hard link the components of its first name.
    Entry { path: Vec<Vec<u8>>, node: Box<Node>, link: Option<Vec<Vec<u8>>> },
    /// An entry left out.
    Warning(String),
}

/// A tar failure, naming the backup's tar object.
fn tar_error(what: &str, e: std::io::Error) -> TreeError {
    TreeError::Io { operation: "read the format 2 tar of", path: what.to_owned(), source: e }
}

/// Imports the tar stream `reader` (blocking reads: a `SyncIoBridge` over the object)
/// into `store`, flushed before this returns. `what` names the source in errors.
pub(crate) async fn import_tar<R: Read + Send + 'static>(
    store: &ChunkStore,
    reader: R,
    what: &str,
) -> Result<Imported, TreeError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Event>(8);
    let chunker = store.chunker().clone();
    let name = what.to_owned();
    let reading = tokio::task::spawn_blocking(move || read_tar(reader, &chunker, &tx, &name));
    let mut builder = Builder::default();
    while let Some(event) = rx.recv().await {
        builder.event(store, event).await?;
    }
    let read = reading.await.map_err(|e| tar_error(what, std::io::Error::other(e.to_string())))?;
    read?;
    let imported = builder.finish(store).await?;
    store.flush().await.map_err(|e| TreeError::Store { operation: "flush", path: what.into(), source: Box::new(e) })?;
    Ok(imported)
}

/// Splits a tar path into components; `None` for one with `..`.
fn components(bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for part in bytes.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return None,
            name => out.push(name.to_vec()),
        }
    }
    Some(out)
}

/// Reads every entry of the tar (blocking thread).
fn read_tar<R: Read>(
    reader: R,
    chunker: &Chunker,
    tx: &tokio::sync::mpsc::Sender<Event>,
    what: &str,
) -> Result<(), TreeError> {
    // The async side stopped (it failed): stop reading, its error is the one to report.
    let send = |event| tx.blocking_send(event).map_err(|_| tar_error(what, std::io::Error::other("import stopped")));
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(|e| tar_error(what, e))? {
        let mut entry = entry.map_err(|e| tar_error(what, e))?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let Some(path) = components(&raw).filter(|p| p.iter().all(|c| valid_name(c))) else {
            send(Event::Warning(format!("skipped tar entry {shown:?}: not a path inside the backup")))?;
            continue;
        };
        if path.is_empty() {
            continue;
        }
        let kind = entry.header().entry_type();
        let node_type = match kind {
            k if k.is_file() || k.is_contiguous() => NodeType::File,
            k if k.is_hard_link() => NodeType::File,
            k if k.is_dir() => NodeType::Dir,
            k if k.is_symlink() => NodeType::Symlink,
            k if k.is_fifo() => NodeType::Fifo,
            k if k.is_character_special() => NodeType::Chardev,
            k if k.is_block_special() => NodeType::Blockdev,
            _ => {
                send(Event::Warning(format!("skipped tar entry {shown:?} of unsupported type {kind:?}")))?;
                continue;
            }
        };
        let name = path.last().cloned().unwrap_or_default();
        let mut node = Node::new(name, node_type);
        fill_meta(&mut node, &mut entry).map_err(|e| tar_error(&format!("{what} ({shown})"), e))?;
        let mut link = None;
        if kind.is_hard_link() {
            let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
            link = components(&target).filter(|t| !t.is_empty());
            if link.is_none() {
                send(Event::Warning(format!("skipped hard link {shown:?}: its target is not in the backup")))?;
                continue;
            }
        } else if node_type == NodeType::File {
            for chunk in chunker.chunks(&mut entry) {
                let chunk = chunk.map_err(|e| tar_error(&format!("{what} ({shown})"), e))?;
                node.size += chunk.len() as u64;
                send(Event::Chunk(chunk))?;
            }
        } else if node_type == NodeType::Symlink {
            node.target = Some(entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default());
        } else if matches!(node_type, NodeType::Chardev | NodeType::Blockdev) {
            let header = entry.header();
            let (major, minor) = (header.device_major().ok().flatten(), header.device_minor().ok().flatten());
            node.rdev = Some(libc::makedev(major.unwrap_or(0), minor.unwrap_or(0)));
        }
        send(Event::Entry { path, node: Box::new(node), link })?;
    }
    Ok(())
}

/// Mode, owner, mtime and xattrs from the header and its PAX records.
fn fill_meta<R: Read>(node: &mut Node, entry: &mut tar::Entry<R>) -> std::io::Result<()> {
    let header = entry.header();
    node.mode = header.mode().unwrap_or(0) & 0o7777;
    node.uid = u32::try_from(header.uid().unwrap_or(0)).unwrap_or(0);
    node.gid = u32::try_from(header.gid().unwrap_or(0)).unwrap_or(0);
    node.user = header.username().ok().flatten().filter(|n| !n.is_empty()).map(str::to_owned);
    node.group = header.groupname().ok().flatten().filter(|n| !n.is_empty()).map(str::to_owned);
    let field = header.as_old().mtime;
    let seconds = if field[0] == 0xff {
        // GNU base-256, negative: the two's complement in the low bytes.
        let mut low = [0u8; 8];
        low.copy_from_slice(&field[4..]);
        i64::from_be_bytes(low)
    } else {
        i64::try_from(header.mtime().unwrap_or(0)).unwrap_or(0)
    };
    node.mtime_ns = seconds.saturating_mul(1_000_000_000);
    let Some(extensions) = entry.pax_extensions()? else { return Ok(()) };
    for extension in extensions {
        let extension = extension?;
        let Ok(key) = extension.key() else { continue };
        match key {
            "mtime" => {
                if let Some(ns) = extension.value().ok().and_then(pax_time) {
                    node.mtime_ns = ns;
                }
            }
            "uname" => node.user = extension.value().ok().map(str::to_owned),
            "gname" => node.group = extension.value().ok().map(str::to_owned),
            _ => {
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    node.xattrs.push(Xattr { name: name.to_owned(), value_hex: hex::encode(extension.value_bytes()) });
                }
            }
        }
    }
    node.xattrs.sort_by(|a, b| a.name.cmp(&b.name));
    node.xattrs.dedup_by(|a, b| a.name == b.name);
    Ok(())
}

/// A PAX time (`[-]seconds[.fraction]`) in nanoseconds.
fn pax_time(value: &str) -> Option<i64> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let seconds: i64 = whole.parse().ok()?;
    let digits: String = fraction.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let nanos: i64 = if digits.is_empty() { 0 } else { format!("{digits:0<9}").parse().ok()? };
    let nanos = if value.starts_with('-') { -nanos } else { nanos };
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// A directory being assembled: its own node (when the tar listed it) and its entries.
#[derive(Default)]
struct Dir {
    own: Option<Node>,
    children: BTreeMap<Vec<u8>, Node>,
}

/// The async side: puts chunks, gathers nodes into directories.
#[derive(Default)]
struct Builder {
    /// Chunks of the file whose entry comes next.
    pending: Vec<BlobId>,
    /// Directory path (components) -> what it holds.
    dirs: BTreeMap<Vec<Vec<u8>>, Dir>,
    /// A file's path -> its content and size, for the hard links to it.
    files: HashMap<Vec<Vec<u8>>, (Vec<BlobId>, u64)>,
    stats: BTreeMap<String, u64>,
    warnings: Vec<String>,
}

impl Builder {
    fn bump(&mut self, name: &str, by: u64) {
        *self.stats.entry(name.to_owned()).or_insert(0) += by;
    }

    async fn event(&mut self, store: &ChunkStore, event: Event) -> Result<(), TreeError> {
        match event {
            Event::Chunk(chunk) => {
                let len = chunk.len() as u64;
                let id = store.blob_id(&chunk);
                if !store.has_blob(&id) {
                    self.bump("blobs_new", 1);
                    self.bump("bytes_new", len);
                }
                let put = store.put_blob(BlobKind::Data, Bytes::from(chunk)).await;
                self.pending.push(put.map_err(|e| TreeError::Store {
                    operation: "store a chunk of",
                    path: "an imported file".into(),
                    source: Box::new(e),
                })?);
            }
            Event::Entry { path, node, link } => self.entry(path, *node, link),
            Event::Warning(warning) => self.warnings.push(warning),
        }
        Ok(())
    }

    fn entry(&mut self, path: Vec<Vec<u8>>, mut node: Node, link: Option<Vec<Vec<u8>>>) {
        let content = std::mem::take(&mut self.pending);
        match (&link, node.kind) {
            (Some(first), _) => {
                let Some((content, size)) = self.files.get(first).cloned() else {
                    self.warnings.push(format!(
                        "skipped hard link {}: its target was not a file before it in the tar",
                        show(&path)
                    ));
                    return;
                };
                node.content = content;
                node.size = size;
                node.hardlink = Some([b"/".to_vec(), first.join(&b'/')].concat());
                self.bump("hardlinks", 1);
            }
            (None, NodeType::File) => {
                node.content = content;
                self.files.insert(path.clone(), (node.content.clone(), node.size));
                self.bump("files", 1);
                let size = node.size;
                self.bump("size", size);
            }
            (None, NodeType::Dir) => self.bump("dirs", 1),
            (None, NodeType::Symlink) => self.bump("symlinks", 1),
            (None, _) => self.bump("specials", 1),
        }
        self.ensure_dirs(&path);
        if node.kind == NodeType::Dir {
            self.dirs.entry(path).or_default().own = Some(node);
        } else {
            let parent = path[..path.len() - 1].to_vec();
            let dir = self.dirs.entry(parent).or_default();
            // A later entry of the same name replaces an earlier one, as tar extracts.
            dir.children.insert(node.name.clone(), node);
        }
    }

    /// Makes every ancestor of `path` a known directory.
    fn ensure_dirs(&mut self, path: &[Vec<u8>]) {
        for depth in 0..path.len() {
            self.dirs.entry(path[..depth].to_vec()).or_default();
        }
    }

    /// Stores the trees, deepest first, and returns the root.
    async fn finish(mut self, store: &ChunkStore) -> Result<Imported, TreeError> {
        self.dirs.entry(Vec::new()).or_default();
        let mut order: Vec<Vec<Vec<u8>>> = self.dirs.keys().cloned().collect();
        order.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for path in order {
            let Some(dir) = self.dirs.remove(&path) else { continue };
            let nodes: Vec<Node> = dir.children.into_values().collect();
            let id = store.put_blob(BlobKind::Tree, Bytes::from(Tree { nodes }.to_json())).await.map_err(|e| {
                TreeError::Store { operation: "store the tree of", path: show(&path), source: Box::new(e) }
            })?;
            let Some(name) = path.last() else {
                return Ok(Imported { root: id, stats: self.stats, warnings: self.warnings });
            };
            let mut node = dir.own.unwrap_or_else(|| {
                let mut synthetic = Node::new(name.clone(), NodeType::Dir);
                synthetic.mode = 0o755;
                synthetic
            });
            node.subtree = Some(id);
            let parent = self.dirs.entry(path[..path.len() - 1].to_vec()).or_default();
            parent.children.insert(node.name.clone(), node);
        }
        Err(TreeError::Path { path: "/".into(), reason: "the import built no root tree".into() })
    }
}

/// A path for messages.
fn show(path: &[Vec<u8>]) -> String {
    let joined = path.join(&b'/');
    PathBuf::from(format!("/{}", String::from_utf8_lossy(&joined))).display().to_string()
}

/// A re-chunking failure as a repository error: a tar that cannot be read is a damaged
/// backup (so `sync` and `migrate` go on past it), store failures keep their class.
fn import_error(manifest: &Manifest, e: TreeError) -> RepoError {
    match e {
        TreeError::Store { source, .. } => crate::domains::store_failure(*source),
        e => RepoError::Integrity(format!("backup {}: {e}", manifest.short_id())),
    }
}

impl Repository {
    /// Re-chunks the v2 files backup `manifest` of `source` into this repository's main
    /// domain and returns its version 3 manifest for this repository (not yet written).
    pub(crate) async fn import_v2_files(&self, source: &Repository, manifest: &Manifest) -> Result<Manifest> {
        let record = manifest.object("tree").ok_or_else(|| {
            RepoError::Integrity(format!("files backup {} has no object named tree", manifest.short_id()))
        })?;
        let stream = source.open_object(record).await?;
        let reader = SyncIoBridge::new(StreamReader::new(Box::pin(stream).map_err(std::io::Error::other)));
        let store = self.v3_store().await?;
        let imported = import_tar(&store, reader, &record.key).await.map_err(|e| import_error(manifest, e))?;
        let mut migrated = manifest.clone();
        migrated.version = MANIFEST_VERSION_V3;
        migrated.repository = self.id().to_owned();
        migrated.objects.clear();
        migrated.tree = Some(imported.root.to_hex());
        migrated.domain = Some(hex::encode(store.keys().id()));
        for name in ["size", "bytes_new", "blobs_new"] {
            migrated.stats.insert(name.to_owned(), imported.stats.get(name).copied().unwrap_or(0));
        }
        migrated.warnings.extend(imported.warnings);
        mark_reformatted(&mut migrated, manifest.version, self.now().to_rfc3339());
        Ok(migrated)
    }

    /// Re-chunks every stream of the v2 backup `manifest` of `source` (standard input, a
    /// database's dumps) into this repository's main domain, each the file node of one
    /// root tree as a v3 stream backup stores it ([`StreamRoot`]), and returns its version
    /// 3 manifest for this repository (not yet written). Each stream must come out with the
    /// size and plaintext BLAKE3 its v2 record holds.
    pub(crate) async fn import_v2_streams(&self, source: &Repository, manifest: &Manifest) -> Result<Manifest> {
        if let Some(reason) = streams_unconvertible(manifest) {
            return Err(RepoError::Unsupported(format!(
                "backup {} cannot be re-chunked: {reason}",
                manifest.short_id()
            )));
        }
        let mut streams = StreamRoot::open(self, None).await?;
        let mut records = Vec::with_capacity(manifest.objects.len());
        for record in &manifest.objects {
            let stream = source.open_object(record).await?;
            let reader = StreamReader::new(Box::pin(stream).map_err(std::io::Error::other));
            let added = streams.add(&record.name, reader).await.map_err(|e| stream_error(manifest, record, e))?;
            if (added.plain_size, &added.plain_blake3) != (record.plain_size, &record.plain_blake3) {
                return Err(RepoError::Integrity(format!(
                    "backup {}: object {:?} read {} bytes with BLAKE3 {}, not the {} bytes and {} recorded",
                    manifest.short_id(),
                    record.name,
                    added.plain_size,
                    added.plain_blake3,
                    record.plain_size,
                    record.plain_blake3
                )));
            }
            records.push(added);
        }
        let finished = streams.finish().await?;
        for record in &mut records {
            record.tree = Some(finished.root.clone());
        }
        let mut migrated = manifest.clone();
        migrated.version = MANIFEST_VERSION_V3;
        migrated.repository = self.id().to_owned();
        migrated.objects = records;
        migrated.tree = Some(finished.root);
        migrated.domain = Some(finished.domain);
        migrated.stats.insert("bytes_new".to_owned(), finished.stats.bytes_new);
        migrated.stats.insert("blobs_new".to_owned(), finished.stats.blobs_new);
        mark_reformatted(&mut migrated, manifest.version, self.now().to_rfc3339());
        Ok(migrated)
    }
}

/// Why the v2 backup `manifest` cannot be re-chunked into v3 stream records, or `None`
/// when it can: a backup of standard input or a database (a kind a newer build wrote may
/// hold anything), with at least one object, each named as a v3 stream may be (a relative
/// path of plain names, none inside another).
pub(crate) fn streams_unconvertible(manifest: &Manifest) -> Option<String> {
    use crate::kind::BackupKind;
    if !matches!(manifest.kind, BackupKind::Stream | BackupKind::Postgres | BackupKind::Mysql | BackupKind::Redis) {
        return Some(format!(
            "a {} backup: this version re-chunks files, stream and database backups only",
            manifest.kind
        ));
    }
    if manifest.objects.is_empty() {
        return Some("it holds no stream".into());
    }
    let names: Vec<&str> = manifest.objects.iter().map(|o| o.name.as_str()).collect();
    for (i, name) in names.iter().enumerate() {
        if name.split('/').any(|c| !valid_name(c.as_bytes())) {
            return Some(format!("object name {name:?} is not a relative path of plain names"));
        }
        let under = |dir: &str, path: &str| {
            path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
        };
        if let Some(other) = names[..i].iter().find(|o| *o == name || under(o, name) || under(name, o)) {
            return Some(format!("object name {name:?} clashes with {other:?}"));
        }
    }
    None
}

/// A failure while re-chunking stream `record` of `manifest`: reading the v2 object is
/// the only source here, so its failure is a damaged backup (`sync` and `migrate` go on
/// past it); store failures keep their class.
fn stream_error(manifest: &Manifest, record: &ObjectRecord, e: RepoError) -> RepoError {
    match e {
        RepoError::Source(reason) => {
            // The stored object's key says where the damage is (`data/..`), the name what.
            RepoError::Integrity(format!(
                "backup {}: object {:?} ({}): {reason}",
                manifest.short_id(),
                record.name,
                record.label()
            ))
        }
        e => e,
    }
}

/// Records in `migrated.source` that the backup was re-formatted, from which version, by
/// which tool and when (a backup without a `source` gets one).
fn mark_reformatted(migrated: &mut Manifest, from_version: u32, at: String) {
    if migrated.source.is_null() {
        migrated.source = serde_json::json!({});
    }
    if let Some(source) = migrated.source.as_object_mut() {
        source.insert(
            "reformatted".into(),
            serde_json::json!({
                "from_version": from_version,
                "tool": format!("lifeboat {}", env!("CARGO_PKG_VERSION")),
                "at": at,
            }),
        );
    }
}

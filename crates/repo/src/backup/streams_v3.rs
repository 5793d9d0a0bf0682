//! Format v3 stream backups (docs/FORMAT.md 11.5): each stream of a backup (standard
//! input, a database dump, a command's output) is cut by the domain's keyed chunker and
//! stored as the content of one file node of the backup's root tree, so a dump that
//! changed little since the last one adds only its changed chunks. Reading one back
//! streams its chunks in order, a few ahead, and checks the size and the plaintext BLAKE3
//! the manifest recorded once the last one has been read.
//!
//! Writing keeps the pipeline parallel: the chunker (and the stream's plaintext digest)
//! runs on one blocking thread; each chunk's keyed hash, compression and sealing run on
//! others (`put_blob` encodes on blocking threads), with a bounded window of puts in flight.

use std::collections::BTreeMap;
use std::io::Read;

use bytes::Bytes;
use futures::stream::{FuturesOrdered, StreamExt};
use tokio::io::AsyncRead;

use crate::error::{RepoError, Result};
use crate::manifest::ObjectRecord;
use crate::repository::Repository;
use crate::v3::store_error;
use crate::v3::tree::{Node, NodeType, Tree, valid_name};
use crate::v3::{BlobId, BlobKind, BlobStore, ChunkStore, StoreError};

/// Chunks cut ahead of the puts (from the chunker's thread to the async side).
const CHUNK_QUEUE: usize = 4;

/// Puts in flight at once: enough to keep every core encoding while the chunker cuts, few
/// enough that memory stays a few maximum chunks per core.
fn put_window() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 2 + 2
}

/// Counters of a v3 stream backup, summed over its streams.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StreamStats {
    /// Streams stored.
    pub files: u64,
    /// Plaintext bytes read.
    pub bytes: u64,
    /// Plaintext bytes of chunks the store did not have.
    pub bytes_new: u64,
    /// Chunks the store did not have.
    pub blobs_new: u64,
}

/// The streams of one v3 backup being written: the store they go to and their file nodes.
pub(crate) struct StreamRoot {
    store: ChunkStore,
    /// (object name, its file node), in the order added.
    files: Vec<(String, Node)>,
    stats: StreamStats,
}

/// What [`StreamRoot::finish`] made.
pub(crate) struct FinishedRoot {
    /// The root tree (hex).
    pub root: String,
    /// The domain holding it (hex).
    pub domain: String,
    /// Counters.
    pub stats: StreamStats,
}

impl StreamRoot {
    /// Opens the main domain's store for a new stream backup; a locked one's packs are
    /// written under its `retention`.
    pub(crate) async fn open(repo: &Repository, retention: Option<lifeboat_storage::Retention>) -> Result<StreamRoot> {
        let store = repo.v3_store().await?;
        if let Some(retention) = retention {
            store.set_retention(retention);
        }
        Ok(StreamRoot { store, files: Vec::new(), stats: StreamStats::default() })
    }

    /// Chunks and stores `reader` as the file node `name` (a `/`-separated relative path:
    /// `db/app.pgdump` is the file `app.pgdump` in the directory `db`), and returns its
    /// record (whose tree is set by [`StreamRoot::finish`]).
    pub(crate) async fn add<R>(&mut self, name: &str, reader: R) -> Result<ObjectRecord>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        self.check_name(name)?;
        let stored = store_stream(&self.store, name, reader).await?;
        self.stats.files += 1;
        self.stats.bytes += stored.size;
        self.stats.bytes_new += stored.bytes_new;
        self.stats.blobs_new += stored.blobs_new;
        let base = name.rsplit('/').next().unwrap_or(name);
        let mut node = Node::new(base.as_bytes().to_vec(), NodeType::File);
        fill_owner(&mut node, 0o600);
        node.links = 1;
        node.size = stored.size;
        node.content = stored.content;
        self.files.push((name.to_owned(), node));
        Ok(ObjectRecord::v3(name, stored.size, hex::encode(stored.plain_blake3)))
    }

    /// Refuses a name that is not a relative path of plain names, or that clashes with a
    /// stream already added (the same path, or one a directory of the other).
    fn check_name(&self, name: &str) -> Result<()> {
        if name.split('/').any(|c| !valid_name(c.as_bytes())) {
            return Err(RepoError::Internal(format!(
                "object name {name:?} is not a relative path of plain names (a format 3 stream is a file of the backup's tree)"
            )));
        }
        let under = |dir: &str, path: &str| {
            path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
        };
        if let Some((other, _)) = self.files.iter().find(|(o, _)| o == name || under(o, name) || under(name, o)) {
            return Err(RepoError::Internal(format!("object name {name:?} clashes with {other:?} in one backup")));
        }
        Ok(())
    }

    /// Stores the trees (the directories of the streams' names, then the root), flushes
    /// the store (packs, then the index object naming them) and returns the root.
    pub(crate) async fn finish(self) -> Result<FinishedRoot> {
        let mut dirs: BTreeMap<String, Vec<Node>> = BTreeMap::new();
        dirs.insert(String::new(), Vec::new());
        for (name, node) in self.files {
            let dir = name.rsplit_once('/').map_or("", |(dir, _)| dir).to_owned();
            let mut ancestor = dir.as_str();
            while !ancestor.is_empty() {
                dirs.entry(ancestor.to_owned()).or_default();
                ancestor = ancestor.rsplit_once('/').map_or("", |(up, _)| up);
            }
            dirs.entry(dir).or_default().push(node);
        }
        let root = loop {
            // The deepest directory first: its parent gets its node once its tree is stored.
            let Some(deepest) = dirs
                .keys()
                .max_by_key(|d| (d.matches('/').count() + usize::from(!d.is_empty()), (*d).clone()))
                .cloned()
            else {
                return Err(RepoError::Internal("a stream backup without its root".into()));
            };
            let mut nodes = dirs.remove(&deepest).unwrap_or_default();
            nodes.sort_by(|a, b| a.name.cmp(&b.name));
            let id = self
                .store
                .put_blob(BlobKind::Tree, Bytes::from(Tree { nodes }.to_json()))
                .await
                .map_err(store_error)?;
            if deepest.is_empty() {
                break id;
            }
            let (parent, base) = deepest.rsplit_once('/').unwrap_or(("", deepest.as_str()));
            let mut node = Node::new(base.as_bytes().to_vec(), NodeType::Dir);
            fill_owner(&mut node, 0o700);
            node.links = 2;
            node.subtree = Some(id);
            dirs.entry(parent.to_owned()).or_default().push(node);
        };
        self.store.flush().await.map_err(store_error)?;
        Ok(FinishedRoot { root: root.to_hex(), domain: hex::encode(self.store.keys().id()), stats: self.stats })
    }
}

/// Gives a node this process's owner, `mode` and the current time: a stream has no file
/// metadata of its own, and a restore as another user must not widen a dump's mode.
fn fill_owner(node: &mut Node, mode: u32) {
    // SAFETY: getuid and getgid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    node.mode = mode;
    node.uid = uid;
    node.gid = gid;
    node.mtime_ns = now;
    node.ctime_ns = now;
}

/// One stream stored.
struct StoredStream {
    content: Vec<BlobId>,
    size: u64,
    plain_blake3: [u8; 32],
    bytes_new: u64,
    blobs_new: u64,
}

/// Chunks `reader` on a blocking thread and stores the chunks, several at once, in order.
async fn store_stream<R>(store: &ChunkStore, name: &str, reader: R) -> Result<StoredStream>
where
    R: AsyncRead + Send + Unpin + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Cut>(CHUNK_QUEUE);
    let hashing = store.clone();
    let bridge = tokio_util::io::SyncIoBridge::new(reader);
    let chunking = tokio::task::spawn_blocking(move || chunk_into(bridge, &hashing, &tx));
    let window = put_window();
    let mut in_flight = FuturesOrdered::new();
    let mut stored = StoredStream { content: Vec::new(), size: 0, plain_blake3: [0; 32], bytes_new: 0, blobs_new: 0 };
    let mut source_done = false;
    loop {
        let put = if !source_done && in_flight.len() < window {
            tokio::select! {
                chunk = rx.recv() => {
                    match chunk {
                        Some(cut) => in_flight.push_back(put_chunk(store.clone(), cut)),
                        None => source_done = true,
                    }
                    continue;
                }
                Some(put) = in_flight.next(), if !in_flight.is_empty() => put,
            }
        } else {
            match in_flight.next().await {
                Some(put) => put,
                None => break,
            }
        };
        // On a failed put, dropping `rx` stops the chunker at its next chunk.
        let (id, new) = put.map_err(|e| chunk_error(name, stored.content.len(), e))?;
        stored.content.push(id);
        if let Some(len) = new {
            stored.bytes_new += len;
            stored.blobs_new += 1;
        }
    }
    let (digest, size) = chunking
        .await
        .map_err(|e| RepoError::Internal(format!("chunking {name}: {e}")))?
        .map_err(|e| RepoError::Source(format!("reading {name} for backup: {e}")))?;
    stored.plain_blake3 = digest;
    stored.size = size;
    Ok(stored)
}

/// A failed put of chunk `index` of `name`, as the repository error it is.
fn chunk_error(name: &str, index: usize, e: StoreError) -> RepoError {
    match e {
        e @ StoreError::Storage { .. } => store_error(e),
        e => RepoError::Internal(format!("storing chunk {index} of {name}: {e}")),
    }
}

/// One chunk as the chunker's thread cut it: its bytes, its keyed id, and whether the
/// store had it when it was cut.
struct Cut {
    chunk: Vec<u8>,
    id: BlobId,
    known: bool,
}

/// Stores one chunk unless the store had it; `Some(length)` when it was new.
async fn put_chunk(store: ChunkStore, cut: Cut) -> std::result::Result<(BlobId, Option<u64>), StoreError> {
    if cut.known {
        return Ok((cut.id, None));
    }
    let len = cut.chunk.len() as u64;
    store.put_blob_with_id(BlobKind::Data, cut.id, Bytes::from(cut.chunk)).await.map(|id| (id, Some(len)))
}

/// Cuts `reader` into chunks sent to `tx` with their keyed ids (hashed here, not in a task
/// of their own: one thread hop less per chunk, and the hash is cheap beside compression),
/// and returns the plaintext BLAKE3 and length.
fn chunk_into<R: Read>(
    reader: R,
    store: &ChunkStore,
    tx: &tokio::sync::mpsc::Sender<Cut>,
) -> std::io::Result<([u8; 32], u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut size = 0u64;
    for chunk in store.chunker().chunks(reader) {
        let chunk = chunk?;
        hasher.update(&chunk);
        size += chunk.len() as u64;
        let id = store.blob_id(&chunk);
        let known = store.has_blob(&id);
        if tx.blocking_send(Cut { chunk, id, known }).is_err() {
            // The async side failed and stopped listening; its error is the one reported.
            return Err(std::io::Error::other("stream backup abandoned"));
        }
    }
    Ok((*hasher.finalize().as_bytes(), size))
}

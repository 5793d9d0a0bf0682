//! The archiver: walks a directory, chunks each file, stores the chunks and one tree per
//! directory through a [`BlobStore`], and returns the root tree's id.
//!
//! Three parts run at once, in the caller's task:
//! - the *walker* lists directories depth first in name order (on blocking threads) and
//!   decides per file whether it must be read: not when the parent backup has it
//!   unchanged (inode, device, size, mtime and ctime equal), nor for a later name of a
//!   hard-linked file. Reads go to the runner: small files (at most one maximum chunk) in
//!   batches read whole by one blocking call, a larger file alone, streamed; each once the
//!   budget of bytes in flight allows, so memory stays flat however large the tree;
//! - the *runner* drives those reads and the blob puts, several at once;
//! - the *consumer* takes the walker's steps in walk order, waits for each file's read,
//!   and builds the trees bottom-up. What decides a tree's bytes (hard links, what a file
//!   read gave) is settled here, in walk order, so the trees, counters and warnings are
//!   those of a walk that reads one file at a time.

use std::collections::{HashMap, HashSet};
use std::fs::{self, Metadata, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use lifeboat_chunker::Chunker;
use tokio::sync::{Semaphore, SemaphorePermit, mpsc, oneshot};

use super::blob::BlobStore;
use super::id::{BlobId, BlobKind};
use super::reading::{WholeFile, read_batch, stream_chunks};
use super::tree::{Node, NodeType, Tree, TreeError, Xattr, child_path, io_error, load_tree, store_error};
use crate::tree::{MountKey, TreeFilter, group_name, user_name};

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
    /// When the parent backup began reading its source, nanoseconds since the epoch. A
    /// file whose mtime or ctime in the parent falls in that second or later is read again:
    /// it may have changed after the parent read it without its (coarse) stamps moving.
    /// `None` with a parent: its stamps are trusted as they are.
    pub parent_started_ns: Option<i64>,
}

/// How much the archiver does at once ([`archive`] uses the default). The trees do not
/// depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Reads on blocking threads at once (a batch of small files, or one large file).
    pub reads: usize,
    /// Blob puts at once (each compresses on a blocking thread).
    pub puts: usize,
    /// File content held in memory at once, read and not yet stored, in bytes. A large
    /// file counts what its streamed read buffers (a few maximum chunks).
    pub bytes_in_flight: usize,
    /// Small files read per blocking call.
    pub batch_files: usize,
    /// Bytes of small files read per blocking call.
    pub batch_bytes: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning { reads: 3, puts: 3, bytes_in_flight: 32 << 20, batch_files: 64, batch_bytes: 4 << 20 }
    }
}

/// The environment variable that overrides the default [`Tuning`], for measurements:
/// `reads=3,puts=3,mib=32,batch=64` (any of the four; others keep their default).
pub const TUNING_ENV: &str = "LIFEBOAT_ARCHIVE_TUNING";

impl Tuning {
    /// The default, with what [`TUNING_ENV`] sets (a malformed part is ignored, with a
    /// log line: a knob for measurements must not stop a backup).
    pub fn from_env() -> Tuning {
        let mut tuning = Tuning::default();
        let Ok(text) = std::env::var(TUNING_ENV) else { return tuning };
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let parsed = part.split_once('=').and_then(|(k, v)| Some((k.trim(), v.trim().parse::<usize>().ok()?)));
            match parsed {
                Some(("reads", n)) => tuning.reads = n.max(1),
                Some(("puts", n)) => tuning.puts = n.max(1),
                Some(("mib", n)) => tuning.bytes_in_flight = n.max(1) << 20,
                Some(("batch", n)) => tuning.batch_files = n.max(1),
                _ => tracing::warn!("{TUNING_ENV}: ignoring {part:?}"),
            }
        }
        tuning
    }

    /// One read and one put at a time, one file per read: the pace of the archiver before it
    /// read files in parallel (tests compare its trees with the default's).
    pub fn sequential() -> Tuning {
        Tuning { reads: 1, puts: 1, bytes_in_flight: 64 << 20, batch_files: 1, batch_bytes: 1 }
    }
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
    /// Files whose size, mtime or ctime changed while they were read (each with a warning).
    pub changed: u64,
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

/// Steps the walker may be ahead of the consumer (each a node, a few hundred bytes).
const STEPS_AHEAD: usize = 4096;

/// Chunks of one large file being read or stored at once, besides the chunker's buffer.
const LARGE_CHUNKS_IN_FLIGHT: usize = 2;

/// Directories listed (and their parent trees read) ahead of the walk, at most: the
/// listings run on blocking threads while the walker works through the directories
/// before them.
const DIRS_AHEAD: usize = 64;

/// Archives `source` (a directory, or one file) into `store`. The blobs are put, not
/// flushed: the caller flushes before naming the root in a manifest. How much runs at once
/// is [`Tuning::from_env`].
pub async fn archive<S: BlobStore>(store: &S, source: &Path, options: &ArchiveOptions) -> Result<Archived, TreeError> {
    archive_tuned(store, source, options, Tuning::from_env()).await
}

/// [`archive`] with `tuning` saying how much runs at once.
pub async fn archive_tuned<S: BlobStore>(
    store: &S,
    source: &Path,
    options: &ArchiveOptions,
    tuning: Tuning,
) -> Result<Archived, TreeError> {
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
        Some(id) => Some((*id, load_tree(store, id, Path::new("/")).await?)),
        None => None,
    };
    let shared = Shared::new(store, options, tuning);
    let context = Arc::new(ListContext { accounts: Mutex::default(), filter: options.filter.clone(), root_mount });
    let (steps, step_rx) = mpsc::channel(STEPS_AHEAD);
    let (jobs, job_rx) = mpsc::unbounded_channel();
    let walker = Walker {
        shared: &shared,
        context,
        steps,
        jobs: jobs.clone(),
        batch: Batch::default(),
        linked: HashSet::new(),
        small_max: store.chunker().params().max as u64,
    };
    let consumer =
        Consumer { shared: &shared, stats: ArchiveStats::default(), warnings: Vec::new(), links: HashMap::new(), jobs };
    let at = options.root_at.clone().unwrap_or_else(|| PathBuf::from("/"));
    let ((), (root, mut stats, warnings), ()) =
        futures::try_join!(walker.run(source, meta, at, parent), consumer.run(step_rx), run_jobs(job_rx))?;
    stats.blobs_new = shared.blobs_new.load(Ordering::Relaxed);
    stats.bytes_new = shared.bytes_new.load(Ordering::Relaxed);
    Ok(Archived { root, stats, warnings })
}

/// Whether the parent's stamps of a file cannot be trusted: it changed in the second its
/// backup started or later, so a change after its read may not have moved them.
fn racy(previous: &Node, parent_started_ns: Option<i64>) -> bool {
    let Some(started) = parent_started_ns else { return false };
    let second = started.div_euclid(1_000_000_000).saturating_mul(1_000_000_000);
    previous.mtime_ns.max(previous.ctime_ns) >= second
}

/// The error of a parent tree that does not parse.
fn corrupt_tree(id: &BlobId, at: &Path, reason: String) -> TreeError {
    TreeError::Corrupt { tree: id.to_hex(), path: at.display().to_string(), reason }
}

/// The warning for a parent tree that cannot be used.
fn unusable(at: &Path, e: &TreeError) -> String {
    format!("the parent backup's tree of {} is unusable ({e}); its files are read again", at.display())
}

/// Lists `path` (blocking) with the nodes of `parent`, its tree in the parent backup.
fn list_fetched(
    path: &Path,
    context: &ListContext,
    parent: Option<(BlobId, Tree)>,
    warning: Option<String>,
) -> Fetched {
    let counted = parent.as_ref().map(|(id, tree)| (*id, tree.nodes.len()));
    let listing = list_dir(path, context, parent.map(|(_, tree)| tree));
    Fetched { listing, parent: counted, warning }
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

/// The error of a step that cannot happen: the archiver's own parts disagree.
fn internal(path: &Path, what: &str) -> TreeError {
    io_error("archive", path)(io::Error::other(what.to_owned()))
}

/// User and group names by id, looked up once each.
#[derive(Default)]
struct Accounts {
    users: HashMap<u32, Option<String>>,
    groups: HashMap<u32, Option<String>>,
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
    meta: Stat,
    /// On another file system or mount than the source, under `one-file-system`.
    other_fs: bool,
    /// The node of the same name in the parent backup's tree of the directory.
    previous: Option<Node>,
    /// A directory's listing, when it was started ahead of the walk.
    ahead: Option<oneshot::Receiver<Fetched>>,
}

/// What `lstat` said of an entry: the fields a node and the walk need.
#[derive(Debug, Clone, Copy)]
struct Stat {
    /// `st_mode`, type bits included.
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    ino: u64,
    dev: u64,
    nlink: u64,
    rdev: u64,
}

impl Stat {
    fn of(meta: &Metadata) -> Stat {
        Stat {
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            size: meta.size(),
            mtime_ns: nanos(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: nanos(meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
            nlink: meta.nlink(),
            rdev: meta.rdev(),
        }
    }

    /// The kernel's `struct stat` (the casts keep its bits: times before 1970 stay negative).
    #[allow(clippy::unnecessary_cast)]
    fn of_raw(st: &rustix::fs::Stat) -> Stat {
        Stat {
            mode: st.st_mode as u32,
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
            size: st.st_size as u64,
            mtime_ns: nanos(st.st_mtime as i64, st.st_mtime_nsec as i64),
            ctime_ns: nanos(st.st_ctime as i64, st.st_ctime_nsec as i64),
            ino: st.st_ino as u64,
            dev: st.st_dev as u64,
            nlink: st.st_nlink as u64,
            rdev: st.st_rdev as u64,
        }
    }

    fn file_type(&self) -> u32 {
        self.mode & libc::S_IFMT
    }

    fn is_dir(&self) -> bool {
        self.file_type() == libc::S_IFDIR
    }
}

/// A directory listed, with what its tree in the parent backup said.
struct Fetched {
    listing: io::Result<Listing>,
    /// The parent backup's tree of the directory and its node count: a directory whose
    /// nodes all equal the parent's keeps its tree id without encoding it again.
    parent: Option<(BlobId, usize)>,
    /// Why the parent's tree could not be used.
    warning: Option<String>,
}

/// What the walker, the runner and the consumer share.
struct Shared<'a, S> {
    store: &'a S,
    options: &'a ArchiveOptions,
    tuning: Tuning,
    chunker: Arc<Chunker>,
    /// Bytes in flight, in KiB.
    budget: Semaphore,
    budget_kib: u32,
    reads: Semaphore,
    puts: Semaphore,
    /// Blobs this run is putting: a blob two files share is put and counted once.
    claimed: Mutex<HashSet<BlobId>>,
    /// Directories being listed ahead of the walk, or listed and not yet walked.
    ahead: AtomicUsize,
    blobs_new: AtomicU64,
    bytes_new: AtomicU64,
}

/// What reading one file gave: its content stored, and the stats around the read.
struct FileRead {
    content: Vec<BlobId>,
    size: u64,
    before: Metadata,
    after: Metadata,
}

/// The outcome of one file's read. The store's failure ends the archive; the file's own
/// (it became a symlink, cannot be read) is judged by the consumer.
type ReadOutcome = Result<io::Result<FileRead>, TreeError>;

/// Work for the runner; it ends the archive when it fails.
type Job<'j> = BoxFuture<'j, Result<(), TreeError>>;

/// A small file waiting for its batch to be read: where it is, where it goes, who waits.
type Waiting = (PathBuf, PathBuf, oneshot::Sender<ReadOutcome>);

impl<'a, S: BlobStore> Shared<'a, S> {
    fn new(store: &'a S, options: &'a ArchiveOptions, tuning: Tuning) -> Self {
        let budget_kib = u32::try_from((tuning.bytes_in_flight / 1024).max(1)).unwrap_or(u32::MAX >> 4);
        Shared {
            store,
            options,
            tuning,
            chunker: Arc::new(store.chunker().clone()),
            budget: Semaphore::new(budget_kib as usize),
            budget_kib,
            reads: Semaphore::new(tuning.reads.max(1)),
            puts: Semaphore::new(tuning.puts.max(1)),
            claimed: Mutex::default(),
            ahead: AtomicUsize::new(0),
            blobs_new: AtomicU64::new(0),
            bytes_new: AtomicU64::new(0),
        }
    }

    /// The budget `bytes` in `files` files take: their KiB and one per file, at most all of it.
    fn cost(&self, bytes: u64, files: usize) -> u32 {
        let kib = (bytes / 1024).saturating_add(files as u64);
        u32::try_from(kib).unwrap_or(u32::MAX).min(self.budget_kib)
    }

    /// What a large file's streamed read holds: the chunker's buffer (two maximum chunks)
    /// and the chunks on their way to the store.
    fn large_cost(&self) -> u32 {
        let max = self.chunker.params().max as u64;
        self.cost(max * (2 + 2 * LARGE_CHUNKS_IN_FLIGHT as u64), 1)
    }

    /// Whether the parent's node describes the same unchanged file, all of whose chunks
    /// the store still has.
    fn unchanged(&self, previous: &Node, now: &Node) -> bool {
        !self.options.force
            && previous.kind == NodeType::File
            && (previous.inode, previous.device, previous.size, previous.mtime_ns, previous.ctime_ns)
                == (now.inode, now.device, now.size, now.mtime_ns, now.ctime_ns)
            && !racy(previous, self.options.parent_started_ns)
            && previous.content.iter().all(|id| self.store.has_blob(id))
    }

    /// Lists a directory and reads its tree in the parent backup (`subtree`) on a
    /// blocking thread. A parent tree that cannot be read or parsed only costs reading the
    /// directory's files again: it is a warning.
    async fn fetch_dir(
        &self,
        path: PathBuf,
        at: PathBuf,
        subtree: Option<BlobId>,
        context: Arc<ListContext>,
    ) -> Fetched {
        let bytes = match subtree {
            Some(id) => Some(self.store.get_blob(&id).await.map(|bytes| (id, bytes))),
            None => None,
        };
        let work = move || {
            let (parent, warning) = match bytes {
                None => (None, None),
                Some(Err(e)) => (None, Some(unusable(&at, &store_error("read tree of", &at)(e)))),
                Some(Ok((id, bytes))) => match Tree::from_json(&bytes) {
                    Ok(tree) => (Some((id, tree)), None),
                    Err(reason) => (None, Some(unusable(&at, &corrupt_tree(&id, &at, reason)))),
                },
            };
            list_fetched(&path, &context, parent, warning)
        };
        match tokio::task::spawn_blocking(work).await {
            Ok(fetched) => fetched,
            Err(e) => Fetched { listing: Err(io::Error::other(e)), parent: None, warning: None },
        }
    }

    /// Whether `id` is new to the store and to this run; if so this caller puts it, and it
    /// is counted.
    fn claim(&self, id: &BlobId, len: usize) -> bool {
        if self.store.has_blob(id) {
            return false;
        }
        let fresh = self.claimed.lock().map(|mut claimed| claimed.insert(*id)).unwrap_or(true);
        if fresh {
            self.blobs_new.fetch_add(1, Ordering::Relaxed);
            self.bytes_new.fetch_add(len as u64, Ordering::Relaxed);
        }
        fresh
    }

    /// Stores a chunk unless the store has it or this run is storing it.
    async fn put_chunk(&self, plaintext: Bytes, at: &Path) -> Result<BlobId, TreeError> {
        let id = self.store.blob_id(&plaintext);
        if self.claim(&id, plaintext.len()) {
            self.store_blob(BlobKind::Data, id, plaintext, at).await?;
        }
        Ok(id)
    }

    /// Puts a claimed blob; once the store has it, the claim is dropped (`has_blob` answers).
    async fn store_blob(&self, kind: BlobKind, id: BlobId, plaintext: Bytes, at: &Path) -> Result<(), TreeError> {
        let operation = if kind == BlobKind::Tree { "store tree of" } else { "store a chunk of" };
        let _permit = self.puts.acquire().await.map_err(|e| internal(at, &e.to_string()))?;
        self.store.put_blob_with_id(kind, id, plaintext).await.map_err(store_error(operation, at))?;
        if let Ok(mut claimed) = self.claimed.lock() {
            claimed.remove(&id);
        }
        Ok(())
    }

    /// Reads a batch of small files whole on one blocking thread, then stores their chunks
    /// (several files at once) and answers each file's waiter.
    async fn read_small(&self, files: Vec<Waiting>) {
        let paths: Vec<PathBuf> = files.iter().map(|(abs, _, _)| abs.clone()).collect();
        let chunker = self.chunker.clone();
        let read = match self.reads.acquire().await {
            Ok(_permit) => tokio::task::spawn_blocking(move || read_batch(&paths, &chunker)).await,
            Err(e) => Ok(paths.iter().map(|_| Err(io::Error::other(e.to_string()))).collect()),
        };
        let read = match read {
            Ok(read) => read,
            Err(e) => {
                for (abs, _, reply) in files {
                    // The consumer is gone when it failed; its error is the one reported.
                    let _ = reply.send(Err(io_error("read file", &abs)(io::Error::other(e.to_string()))));
                }
                return;
            }
        };
        let puts = self.tuning.puts.max(1);
        futures::stream::iter(files.into_iter().zip(read))
            .map(|((_, at, reply), read)| async move {
                let outcome = match read {
                    Ok(whole) => self.store_whole(whole, &at).await.map(Ok),
                    Err(e) => Ok(Err(e)),
                };
                let _ = reply.send(outcome);
            })
            .buffer_unordered(puts)
            .collect::<()>()
            .await;
    }

    /// Stores the chunks of a file read whole.
    async fn store_whole(&self, whole: WholeFile, at: &Path) -> Result<FileRead, TreeError> {
        let WholeFile { data, chunks, before, after } = whole;
        let mut content = Vec::with_capacity(chunks.len());
        for range in chunks {
            content.push(self.put_chunk(data.slice(range), at).await?);
        }
        Ok(FileRead { content, size: data.len() as u64, before, after })
    }

    /// Streams a large file through the chunker on a blocking thread, storing its chunks
    /// as they come (a few at once).
    async fn read_large(&self, abs: &Path, at: &Path) -> ReadOutcome {
        let _permit = self.reads.acquire().await.map_err(|e| internal(abs, &e.to_string()))?;
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(LARGE_CHUNKS_IN_FLIGHT);
        let chunker = self.chunker.clone();
        let path = abs.to_owned();
        let reader = tokio::task::spawn_blocking(move || stream_chunks(&path, &chunker, &tx));
        let mut stored = futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
            .map(|chunk| {
                let len = chunk.len() as u64;
                async move { self.put_chunk(Bytes::from(chunk), at).await.map(|id| (id, len)) }
            })
            .buffered(LARGE_CHUNKS_IN_FLIGHT);
        let (mut content, mut size, mut failure) = (Vec::new(), 0u64, None);
        while let Some(put) = stored.next().await {
            match put {
                Ok((id, len)) => {
                    content.push(id);
                    size += len;
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        // Closes the channel: a reader still reading stops.
        drop(stored);
        let read = reader.await.map_err(|e| io_error("read file", abs)(io::Error::other(e)))?;
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(read.map(|stamps| FileRead { content, size, before: stamps.before, after: stamps.after }))
    }
}

/// Drives the jobs it is given, all at once, until every sender is gone and every job is
/// done; the first failure ends it.
async fn run_jobs(mut jobs: mpsc::UnboundedReceiver<Job<'_>>) -> Result<(), TreeError> {
    let mut running = FuturesUnordered::new();
    let mut open = true;
    loop {
        tokio::select! {
            job = jobs.recv(), if open => match job {
                Some(job) => running.push(job),
                None => open = false,
            },
            Some(done) = running.next(), if !running.is_empty() => done?,
            else => return Ok(()),
        }
    }
}

/// One thing the walker saw, in walk order.
enum Step {
    /// A directory starts: its node (`None` for the root), its node in the parent backup,
    /// its path in the backup, and its tree in the parent backup with that tree's node count.
    Enter { node: Option<Node>, previous: Option<Node>, at: PathBuf, parent: Option<(BlobId, usize)> },
    /// The directory entered last is complete.
    Leave,
    /// A directory on another file system under `one-file-system`: recorded empty.
    Mount { node: Node, at: PathBuf },
    /// A regular file, and how its content is had (boxed: it is the largest step).
    File(Box<FileStep>),
    /// A symlink, FIFO or device, and its node in the parent backup.
    Other(Node, Option<Node>),
    /// Entries skipped or left out, and what to tell the operator.
    Notes { skipped: u64, excluded: u64, warnings: Vec<String> },
}

/// A regular file as the walker left it.
struct FileStep {
    node: Node,
    meta: Stat,
    abs: PathBuf,
    at: PathBuf,
    /// Its node in the parent backup.
    previous: Option<Node>,
    work: Work,
}

/// How a file's content is had.
enum Work {
    /// It is being read; the outcome comes here.
    Read(oneshot::Receiver<ReadOutcome>),
    /// The parent backup has it unchanged.
    Reuse,
    /// A later name of a file with several links: its first name has the content.
    Link,
}

/// Why the walk stopped early.
enum Halt {
    Failed(TreeError),
    /// The consumer or the runner stopped (it failed; its error is the one reported).
    Gone,
}

impl From<TreeError> for Halt {
    fn from(e: TreeError) -> Self {
        Halt::Failed(e)
    }
}

/// Small files waiting to be read together.
#[derive(Default)]
struct Batch {
    files: Vec<Waiting>,
    bytes: u64,
}

struct Walker<'w, 'a, S> {
    shared: &'w Shared<'a, S>,
    context: Arc<ListContext>,
    steps: mpsc::Sender<Step>,
    jobs: mpsc::UnboundedSender<Job<'w>>,
    batch: Batch,
    /// Files with several links whose first name was seen, by (device, inode).
    linked: HashSet<(u64, u64)>,
    /// The largest file read whole: one maximum chunk.
    small_max: u64,
}

impl<'w, 'a: 'w, S: BlobStore> Walker<'w, 'a, S> {
    /// Walks from the source (a directory, or one file), then closes its channels.
    async fn run(
        mut self,
        source: PathBuf,
        meta: Metadata,
        at: PathBuf,
        parent: Option<(BlobId, Tree)>,
    ) -> Result<(), TreeError> {
        match self.root(source, meta, at, parent).await {
            Ok(()) | Err(Halt::Gone) => Ok(()),
            Err(Halt::Failed(e)) => Err(e),
        }
    }

    async fn root(
        &mut self,
        source: PathBuf,
        meta: Metadata,
        at: PathBuf,
        parent: Option<(BlobId, Tree)>,
    ) -> Result<(), Halt> {
        if meta.is_dir() {
            let context = self.context.clone();
            let fetched = blocking(&source, "list directory", {
                let source = source.clone();
                move || Ok(list_fetched(&source, &context, parent, None))
            })
            .await?;
            let listing = fetched.listing.map_err(io_error("list directory", &source))?;
            self.emit(Step::Enter { node: None, previous: None, at: at.clone(), parent: fetched.parent }).await?;
            self.dir(source, at.clone(), listing).await?;
        } else {
            let counted = parent.as_ref().map(|(id, tree)| (*id, tree.nodes.len()));
            self.emit(Step::Enter { node: None, previous: None, at: at.clone(), parent: counted }).await?;
            let name = source.file_name().map(|n| n.as_bytes().to_vec()).unwrap_or_default();
            let mut entry = describe(&source, name, Stat::of(&meta), &self.context.accounts);
            entry.previous = parent.as_ref().and_then(|(_, tree)| tree.get(&entry.node.name)).cloned();
            self.entry(entry, source.clone(), &at).await?;
        }
        self.flush_batch().await?;
        self.emit(Step::Leave).await
    }

    /// Sends a step; when the consumer is that far behind, the files it may be waiting for
    /// are sent to be read first.
    async fn emit(&mut self, step: Step) -> Result<(), Halt> {
        match self.steps.try_send(step) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(step)) => {
                self.flush_batch().await?;
                self.steps.send(step).await.map_err(|_| Halt::Gone)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Halt::Gone),
        }
    }

    /// Walks the entries of the directory at `path` (at `at` in the backup).
    fn dir(&mut self, path: PathBuf, at: PathBuf, listing: Listing) -> BoxFuture<'_, Result<(), Halt>> {
        Box::pin(async move {
            let skipped = listing.skipped.len() as u64;
            let warnings = listing.skipped.into_iter().chain(listing.notes).collect();
            self.emit(Step::Notes { skipped, excluded: listing.excluded, warnings }).await?;
            let mut entries = listing.entries;
            list_ahead(self.shared, &self.jobs, &self.context, (&path, &at), &mut entries);
            for entry in entries {
                let abs = path.join(entry.node.name_os());
                self.entry(entry, abs, &at).await?;
            }
            Ok(())
        })
    }

    /// Walks one entry of the directory at `dir_at`.
    async fn entry(&mut self, entry: Entry, abs: PathBuf, dir_at: &Path) -> Result<(), Halt> {
        let Entry { node, meta, other_fs, previous, ahead } = entry;
        let at = child_path(dir_at, &node.name);
        match node.kind {
            _ if other_fs && !meta.is_dir() => {
                self.emit(Step::Notes { skipped: 0, excluded: 1, warnings: Vec::new() }).await
            }
            NodeType::Dir if other_fs => self.emit(Step::Mount { node, at }).await,
            NodeType::Dir => {
                let fetched = match ahead {
                    Some(fetched) => {
                        self.shared.ahead.fetch_sub(1, Ordering::Relaxed);
                        fetched.await.map_err(|_| Halt::Gone)?
                    }
                    None => {
                        let subtree = parent_subtree(previous.as_ref());
                        self.shared.fetch_dir(abs.clone(), at.clone(), subtree, self.context.clone()).await
                    }
                };
                let listing = fetched.listing.map_err(io_error("list directory", &abs))?;
                if let Some(warning) = fetched.warning {
                    self.emit(Step::Notes { skipped: 0, excluded: 0, warnings: vec![warning] }).await?;
                }
                let parent = fetched.parent;
                self.emit(Step::Enter { node: Some(node), previous, at: at.clone(), parent }).await?;
                self.dir(abs, at, listing).await?;
                self.emit(Step::Leave).await
            }
            NodeType::File => {
                let work = self.plan_file(&node, &meta, &abs, &at, previous.as_ref()).await?;
                self.emit(Step::File(Box::new(FileStep { node, meta, abs, at, previous, work }))).await
            }
            NodeType::Symlink | NodeType::Fifo | NodeType::Chardev | NodeType::Blockdev => {
                self.emit(Step::Other(node, previous)).await
            }
        }
    }

    /// Decides how a file's content is had, and sends it to be read if it must be.
    async fn plan_file(
        &mut self,
        node: &Node,
        meta: &Stat,
        abs: &Path,
        at: &Path,
        previous: Option<&Node>,
    ) -> Result<Work, Halt> {
        if meta.nlink > 1 && !self.linked.insert((meta.dev, meta.ino)) {
            return Ok(Work::Link);
        }
        if previous.is_some_and(|p| self.shared.unchanged(p, node)) {
            return Ok(Work::Reuse);
        }
        let (reply, outcome) = oneshot::channel();
        if node.size <= self.small_max {
            self.batch.files.push((abs.to_owned(), at.to_owned(), reply));
            self.batch.bytes += node.size;
            let tuning = &self.shared.tuning;
            if self.batch.files.len() >= tuning.batch_files || self.batch.bytes >= tuning.batch_bytes {
                self.flush_batch().await?;
            }
        } else {
            let shared = self.shared;
            let cost = shared.large_cost();
            let permit = match shared.budget.try_acquire_many(cost) {
                Ok(permit) => permit,
                Err(_) => {
                    self.flush_batch().await?;
                    acquire(shared, cost, abs).await?
                }
            };
            let (abs, at) = (abs.to_owned(), at.to_owned());
            self.send(Box::pin(async move {
                let _permit = permit;
                let _ = reply.send(shared.read_large(&abs, &at).await);
                Ok(())
            }))?;
        }
        Ok(Work::Read(outcome))
    }

    /// Sends the small files waiting to be read, once the budget has room for them.
    async fn flush_batch(&mut self) -> Result<(), Halt> {
        if self.batch.files.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let shared = self.shared;
        let cost = shared.cost(batch.bytes, batch.files.len());
        let first = batch.files[0].0.clone();
        let permit = acquire(shared, cost, &first).await?;
        self.send(Box::pin(async move {
            let _permit = permit;
            shared.read_small(batch.files).await;
            Ok(())
        }))
    }

    fn send(&self, job: Job<'w>) -> Result<(), Halt> {
        self.jobs.send(job).map_err(|_| Halt::Gone)
    }
}

/// Starts listing the subdirectories among `entries` (the directory `path`, at `at` in the
/// backup) and reading their parent trees, while fewer than [`DIRS_AHEAD`] are ahead of
/// the walk. Each listing starts those of its own subdirectories the same way, so the
/// listings run ahead of the walk however deep the tree.
fn list_ahead<'w, S: BlobStore>(
    shared: &'w Shared<'_, S>,
    jobs: &mpsc::UnboundedSender<Job<'w>>,
    context: &Arc<ListContext>,
    (path, at): (&Path, &Path),
    entries: &mut [Entry],
) {
    for entry in entries.iter_mut().filter(|e| e.node.kind == NodeType::Dir && !e.other_fs && e.ahead.is_none()) {
        if shared.ahead.fetch_add(1, Ordering::Relaxed) >= DIRS_AHEAD {
            shared.ahead.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let (reply, fetched) = oneshot::channel();
        let abs = path.join(entry.node.name_os());
        let child_at = child_path(at, &entry.node.name);
        let subtree = parent_subtree(entry.previous.as_ref());
        let (more, context) = (jobs.clone(), context.clone());
        let job: Job<'w> = Box::pin(async move {
            let mut fetched = shared.fetch_dir(abs.clone(), child_at.clone(), subtree, context.clone()).await;
            if let Ok(listing) = &mut fetched.listing {
                list_ahead(shared, &more, &context, (&abs, &child_at), &mut listing.entries);
            }
            // The walker is gone when it failed; its error is the one reported.
            let _ = reply.send(fetched);
            Ok(())
        });
        if jobs.send(job).is_err() {
            // The runner stopped: the walk is ending.
            shared.ahead.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        entry.ahead = Some(fetched);
    }
}

/// The parent backup's tree of a directory whose node there was `previous`.
fn parent_subtree(previous: Option<&Node>) -> Option<BlobId> {
    previous.filter(|p| p.kind == NodeType::Dir).and_then(|p| p.subtree)
}

/// Takes `cost` KiB of the budget, waiting for running reads to return them.
async fn acquire<'w, S>(shared: &'w Shared<'_, S>, cost: u32, path: &Path) -> Result<SemaphorePermit<'w>, TreeError> {
    shared.budget.acquire_many(cost).await.map_err(|e| internal(path, &e.to_string()))
}

/// A directory being built by the consumer.
struct Frame {
    /// Its node in the directory above (`None`: the root).
    node: Option<Node>,
    /// That node in the parent backup.
    previous: Option<Node>,
    at: PathBuf,
    nodes: Vec<Node>,
    /// Its tree in the parent backup, and that tree's node count.
    parent: Option<(BlobId, usize)>,
    /// Every node so far equals the parent backup's node of the same name.
    same: bool,
}

impl Frame {
    /// Adds a node; `previous` is the parent backup's node of the same name.
    fn push(&mut self, node: Node, previous: Option<&Node>) {
        self.same &= previous == Some(&node);
        self.nodes.push(node);
    }

    /// The parent backup's tree when this directory's nodes are exactly its nodes: the
    /// tree would encode to the same blob, so its id is reused without encoding it.
    fn unchanged_tree(&self) -> Option<BlobId> {
        let (id, count) = self.parent?;
        (self.same && self.nodes.len() == count).then_some(id)
    }
}

struct Consumer<'w, 'a, S> {
    shared: &'w Shared<'a, S>,
    stats: ArchiveStats,
    warnings: Vec<String>,
    /// The first name of every file with several links, by (device, inode), with the
    /// node stored for it: later names repeat its content without reading it again.
    links: HashMap<(u64, u64), Node>,
    jobs: mpsc::UnboundedSender<Job<'w>>,
}

impl<'w, 'a: 'w, S: BlobStore> Consumer<'w, 'a, S> {
    fn warn(&mut self, message: String) {
        tracing::info!("{message}");
        self.warnings.push(message);
    }

    /// Takes the walker's steps in order until the root's tree is stored.
    async fn run(mut self, mut steps: mpsc::Receiver<Step>) -> Result<(BlobId, ArchiveStats, Vec<String>), TreeError> {
        let mut stack: Vec<Frame> = Vec::new();
        let root = Path::new("/");
        while let Some(step) = steps.recv().await {
            match step {
                Step::Enter { node, previous, at, parent } => {
                    stack.push(Frame { node, previous, at, nodes: Vec::new(), parent, same: true })
                }
                Step::Leave => {
                    let frame = stack.pop().ok_or_else(|| internal(root, "the walk left a directory twice"))?;
                    let id = match frame.unchanged_tree() {
                        Some(id) if self.shared.store.has_blob(&id) => id,
                        _ => self.put_tree(Tree { nodes: frame.nodes }, &frame.at)?,
                    };
                    match (frame.node, stack.last_mut()) {
                        (Some(mut node), Some(up)) => {
                            node.subtree = Some(id);
                            self.stats.dirs += 1;
                            up.push(node, frame.previous.as_ref());
                        }
                        _ => return Ok((id, self.stats, self.warnings)),
                    }
                }
                Step::Mount { mut node, at } => {
                    node.subtree = Some(self.put_tree(Tree::default(), &at)?);
                    self.stats.dirs += 1;
                    self.stats.mountpoints += 1;
                    top(&mut stack)?.push(node, None);
                }
                Step::File(file) => {
                    if let Some((node, previous)) = self.file(file).await? {
                        top(&mut stack)?.push(node, previous.as_ref());
                    }
                }
                Step::Other(node, previous) => {
                    if node.kind == NodeType::Symlink {
                        self.stats.symlinks += 1;
                    } else {
                        self.stats.specials += 1;
                    }
                    top(&mut stack)?.push(node, previous.as_ref());
                }
                Step::Notes { skipped, excluded, warnings } => {
                    self.stats.skipped += skipped;
                    self.stats.excluded += excluded;
                    for warning in warnings {
                        self.warn(warning);
                    }
                }
            }
        }
        // The walker stopped early: its error is the one reported.
        Err(internal(root, "the walk stopped before the root was complete"))
    }

    /// Names a tree by its id and has the runner store it unless the store has it.
    fn put_tree(&self, tree: Tree, at: &Path) -> Result<BlobId, TreeError> {
        let json = Bytes::from(tree.to_json());
        let shared = self.shared;
        let id = shared.store.blob_id(&json);
        if shared.claim(&id, json.len()) {
            let owned = at.to_owned();
            let job: Job<'w> = Box::pin(async move { shared.store_blob(BlobKind::Tree, id, json, &owned).await });
            self.jobs.send(job).map_err(|_| internal(at, "the blob writer stopped"))?;
        }
        Ok(id)
    }

    /// The node of one regular file, its content had, with its node in the parent
    /// backup; `None` when it is skipped.
    async fn file(&mut self, step: Box<FileStep>) -> Result<Option<(Node, Option<Node>)>, TreeError> {
        let FileStep { mut node, meta, abs, at, previous, work } = *step;
        let key = (meta.dev, meta.ino);
        let outcome = match work {
            Work::Link => match self.links.get(&key) {
                Some(first) => {
                    node.content = first.content.clone();
                    node.size = first.size;
                    node.sparse = first.sparse;
                    node.hardlink = Some(first.hardlink.clone().unwrap_or_default());
                    self.stats.files += 1;
                    self.stats.hardlinks += 1;
                    return Ok(Some((node, previous)));
                }
                // Its first name was skipped: this one is the first now, as in a walk
                // that reads one file at a time.
                None if previous.as_ref().is_some_and(|p| self.shared.unchanged(p, &node)) => None,
                None => {
                    let shared = self.shared;
                    let _permit = acquire(shared, shared.large_cost(), &abs).await?;
                    Some(shared.read_large(&abs, &at).await)
                }
            },
            Work::Reuse => None,
            Work::Read(outcome) => Some(outcome.await.map_err(|_| internal(&abs, "the file's read was abandoned"))?),
        };
        match outcome {
            None => {
                let previous = previous.as_ref().ok_or_else(|| internal(&abs, "no parent node to reuse"))?;
                node.content = previous.content.clone();
                node.sparse = previous.sparse;
                self.stats.reused_files += 1;
            }
            Some(outcome) => {
                if !self.take_read(&mut node, outcome?, &abs)? {
                    return Ok(None);
                }
            }
        }
        self.stats.files += 1;
        self.stats.bytes_total += node.size;
        if meta.nlink > 1 {
            // Later names point at this one by its path in the backup.
            let mut first = node.clone();
            first.hardlink = Some(at.as_os_str().as_bytes().to_vec());
            self.links.insert(key, first);
        }
        Ok(Some((node, previous)))
    }

    /// Puts what a read gave into the node; `false` when the file is skipped (it stopped
    /// being a regular file).
    fn take_read(&mut self, node: &mut Node, read: io::Result<FileRead>, abs: &Path) -> Result<bool, TreeError> {
        let read = match read {
            Ok(read) => read,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP)) => {
                self.stats.skipped += 1;
                self.warn(format!("skipped {}: it became a symlink while being backed up", abs.display()));
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                self.stats.skipped += 1;
                self.warn(format!("skipped {}: {e}", abs.display()));
                return Ok(false);
            }
            Err(e) => return Err(io_error("read file", abs)(e)),
        };
        self.stats.bytes_read += read.size;
        // What was read is described by the descriptor it was read from.
        fill_from_stat(node, &read.before);
        node.size = read.size;
        node.content = read.content;
        node.sparse = read.before.blocks().saturating_mul(512) < read.before.size();
        if note_change(&read.before, &read.after, abs, &mut self.warnings) {
            self.stats.changed += 1;
        }
        Ok(true)
    }
}

/// The directory being built, which takes the next node.
fn top(stack: &mut [Frame]) -> Result<&mut Frame, TreeError> {
    stack.last_mut().ok_or_else(|| internal(Path::new("/"), "an entry outside the root"))
}

/// Warns when the file's size, mtime or ctime differ after reading from before; true then.
fn note_change(before: &Metadata, after: &Metadata, abs: &Path, warnings: &mut Vec<String>) -> bool {
    let stamp = |m: &Metadata| (m.size(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec());
    let changed = stamp(before) != stamp(after);
    if changed {
        let message = format!("{} changed while being read; the backup holds what was read", abs.display());
        tracing::info!("{message}");
        warnings.push(message);
    }
    changed
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
/// its `lstat` is not followed; entries are stat'ed relative to it) and describes each
/// entry the filter keeps, with its node in `parent`, the directory's tree in the parent
/// backup (blocking). A directory holding a tag file keeps that file only, as in format 2.
fn list_dir(path: &Path, context: &ListContext, parent: Option<Tree>) -> io::Result<Listing> {
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
    // Both are sorted by name bytes: the parent's nodes are taken in one pass, not copied.
    let mut previous = parent.map(|tree| tree.nodes).unwrap_or_default().into_iter().peekable();
    for name in names {
        let child = path.join(std::ffi::OsStr::from_bytes(&name));
        let stat = rustix::fs::statat(&dir, name.as_slice(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
            .map(|st| Stat::of_raw(&st))
            .map_err(io::Error::from);
        match stat {
            Ok(meta) if context.filter.excludes(&child, meta.is_dir()) => out.excluded += 1,
            Ok(meta) if meta.file_type() == libc::S_IFSOCK => {
                out.skipped.push(format!("skipped socket {}", child.display()));
            }
            Ok(meta) => {
                let other_fs = context.root_mount.is_some_and(|root| root.differs(&MountKey::of(&child, meta.dev)));
                let mut entry = describe(&child, name, meta, &context.accounts);
                entry.other_fs = other_fs;
                if entry.node.kind == NodeType::Symlink {
                    let target = rustix::fs::readlinkat(&dir, entry.node.name.as_slice(), Vec::new())?;
                    entry.node.target = Some(target.into_bytes());
                }
                match read_xattrs(&dir, &entry.node.name, &child) {
                    Ok(xattrs) => entry.node.xattrs = xattrs,
                    Err(e) => {
                        out.notes.push(format!("cannot read the extended attributes of {}: {e}", child.display()))
                    }
                }
                while previous.next_if(|p| p.name < entry.node.name).is_some() {}
                entry.previous = previous.next_if(|p| p.name == entry.node.name);
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
fn describe(path: &Path, name: Vec<u8>, meta: Stat, accounts: &Mutex<Accounts>) -> Entry {
    let node_type = match meta.file_type() {
        libc::S_IFDIR => NodeType::Dir,
        libc::S_IFLNK => NodeType::Symlink,
        libc::S_IFIFO => NodeType::Fifo,
        libc::S_IFCHR => NodeType::Chardev,
        libc::S_IFBLK => NodeType::Blockdev,
        _ => NodeType::File,
    };
    let mut node = Node::new(name, node_type);
    fill_from(&mut node, &meta);
    if node_type == NodeType::File {
        node.size = meta.size;
    }
    if matches!(node_type, NodeType::Chardev | NodeType::Blockdev) {
        node.rdev = Some(meta.rdev);
    }
    if let Ok(mut accounts) = accounts.lock() {
        node.user = accounts.users.entry(meta.uid).or_insert_with(|| user_name(meta.uid)).clone();
        node.group = accounts.groups.entry(meta.gid).or_insert_with(|| group_name(meta.gid)).clone();
    }
    tracing::trace!(path = %path.display(), "described");
    Entry { node, meta, other_fs: false, previous: None, ahead: None }
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
    fill_from(node, &Stat::of(meta));
}

/// Mode, owner, times and identity from a [`Stat`].
fn fill_from(node: &mut Node, meta: &Stat) {
    node.mode = meta.mode & 0o7777;
    node.uid = meta.uid;
    node.gid = meta.gid;
    node.mtime_ns = meta.mtime_ns;
    node.ctime_ns = meta.ctime_ns;
    node.inode = meta.ino;
    node.device = meta.dev;
    node.links = meta.nlink;
}

/// Seconds and nanoseconds as nanoseconds since the epoch (saturating far from it).
fn nanos(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// The extended attributes of `path` itself (not of a symlink's target), sorted by name.
/// A file system without them has none.
fn read_xattrs(dir: &std::fs::File, name: &[u8], path: &Path) -> io::Result<Vec<Xattr>> {
    let names = match list_xattrs(dir, name, path) {
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

/// The xattr names of `name` in the directory open as `dir` (that is, of `path`), not
/// following a symlink: by `listxattrat` (Linux 6.13), which spares resolving the whole
/// path again, else by `llistxattr` on the path.
fn list_xattrs(dir: &std::fs::File, name: &[u8], path: &Path) -> io::Result<Vec<u8>> {
    #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        use std::sync::atomic::AtomicBool;
        /// Set once the kernel (or a seccomp filter) refused the call.
        static NO_LISTXATTRAT: AtomicBool = AtomicBool::new(false);
        if !NO_LISTXATTRAT.load(Ordering::Relaxed) {
            let name = std::ffi::CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            match grow(|buf| listxattrat(dir, &name, buf)) {
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                    NO_LISTXATTRAT.store(true, Ordering::Relaxed);
                }
                done => return done,
            }
        }
    }
    grow(|buf| rustix::fs::llistxattr(path, buf))
}

/// `listxattrat(dirfd, name, AT_SYMLINK_NOFOLLOW, buf, len)`: syscall 465 in the table
/// every architecture shares since Linux 6.13; neither libc nor rustix wraps it yet.
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
fn listxattrat(dir: &std::fs::File, name: &std::ffi::CStr, buf: &mut [u8]) -> rustix::io::Result<usize> {
    const SYS_LISTXATTRAT: libc::c_long = 465;
    let fd = std::os::fd::AsRawFd::as_raw_fd(dir);
    // SAFETY: the name is NUL-terminated and the buffer's pointer and length describe
    // memory this call may write; the kernel writes at most `buf.len()` bytes.
    let n = unsafe {
        libc::syscall(
            SYS_LISTXATTRAT,
            fd,
            name.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW as libc::c_uint,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    match usize::try_from(n) {
        Ok(n) => Ok(n),
        Err(_) => Err(rustix::io::Errno::from_raw_os_error(io::Error::last_os_error().raw_os_error().unwrap_or(0))),
    }
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

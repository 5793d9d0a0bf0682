//! Directory trees as a tar stream: the producer that walks paths on a blocking thread,
//! and the restore that unpacks into a private staging folder and publishes it only when
//! the whole backup has been authenticated.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{CStr, CString};
use std::fs::{self, DirBuilder, File, Metadata, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::io::StreamReader;

use crate::error::{RepoError, Result};

/// What a tree walk saw.
#[derive(Debug, Default, Clone)]
pub struct TreeSummary {
    /// Counters: files, dirs, symlinks, hardlinks, bytes, skipped.
    pub stats: BTreeMap<String, u64>,
    /// Skipped entries and changes noticed while reading.
    pub warnings: Vec<String>,
}

/// An `AsyncRead` of the tar stream, fed by a blocking walker thread.
pub type TreeReader = StreamReader<ChunkStream, Bytes>;

/// The chunk stream behind a [`TreeReader`].
pub type ChunkStream = futures::stream::BoxStream<'static, io::Result<Bytes>>;

/// Checks the paths and starts the walker. The returned reader yields the tar stream;
/// when the walk fails (an unreadable file ...) the reader fails with the error naming the
/// path, so a broken tree never becomes a complete-looking backup.
pub fn spawn_tree_producer(paths: &[PathBuf]) -> Result<(TreeReader, tokio::task::JoinHandle<Result<TreeSummary>>)> {
    if paths.is_empty() {
        return Err(RepoError::Source("no paths to back up".into()));
    }
    let mut roots = Vec::new();
    for path in paths {
        fs::symlink_metadata(path).map_err(|e| RepoError::LocalIo {
            what: "cannot read source path",
            path: path.display().to_string(),
            source: e,
        })?;
        roots.push(absolute_path(path)?);
    }
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
    let handle = tokio::task::spawn_blocking(move || {
        let mut walk = Walk::default();
        let writer = ChannelWriter { tx: tx.clone(), buf: Vec::with_capacity(CHUNK) };
        let mut builder = tar::Builder::new(writer);
        builder.follow_symlinks(false);
        let result = roots.iter().try_for_each(|root| append_path(&mut builder, root, &mut walk)).and_then(|()| {
            let mut writer = builder.into_inner().map_err(|e| walk_err("finishing the archive", Path::new(""), e))?;
            writer.flush().map_err(|e| walk_err("finishing the archive", Path::new(""), e))
        });
        if let Err(e) = &result {
            // Surface the failure through the stream, so the pipeline never sees a clean end.
            let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
        }
        result.map(|()| walk.summary)
    });
    let stream: ChunkStream =
        Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }));
    Ok((StreamReader::new(stream), handle))
}

const CHUNK: usize = 256 * 1024;

fn walk_err(what: &'static str, path: &Path, source: io::Error) -> RepoError {
    RepoError::LocalIo { what, path: path.display().to_string(), source }
}

fn absolute_path(path: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(path).map_err(|e| walk_err("cannot resolve source path", path, e))?;
    // Resolve `..` and symlinks in the parent, but keep the last component itself, so that
    // backing up a symlink stores the link, as tar and restic do.
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => {
            Ok(fs::canonicalize(parent).map_err(|e| walk_err("cannot resolve source path", path, e))?.join(name))
        }
        _ => Ok(abs),
    }
}

/// The name inside the archive: the absolute path without its root.
fn archive_name(path: &Path) -> PathBuf {
    path.components().filter(|c| matches!(c, Component::Normal(_))).collect()
}

/// What the walker remembers from one entry to the next.
#[derive(Default)]
struct Walk {
    summary: TreeSummary,
    /// Archive name of the first occurrence of every file with more than one link, by
    /// (device, inode): later names of the same file become tar hard links to it.
    links: HashMap<(u64, u64), PathBuf>,
    /// User names by uid (None: the uid has no name here).
    users: HashMap<u32, Option<String>>,
    /// Group names by gid.
    groups: HashMap<u32, Option<String>>,
}

impl Walk {
    fn bump(&mut self, key: &str, by: u64) {
        *self.summary.stats.entry(key.to_owned()).or_default() += by;
    }

    fn skip(&mut self, message: String) {
        tracing::info!("{message}");
        self.summary.warnings.push(message);
        self.bump("skipped", 1);
    }
}

fn append_path<W: Write>(builder: &mut tar::Builder<W>, path: &Path, walk: &mut Walk) -> Result<()> {
    let meta = fs::symlink_metadata(path).map_err(|e| walk_err("cannot read", path, e))?;
    append_entry(builder, path, &meta, walk)
}

/// Archives `path`, which `lstat` described as `meta`. A regular file is opened without
/// following symlinks and described by its open descriptor, so one swapped for a symlink
/// (or anything else) after the `lstat` is never followed.
fn append_entry<W: Write>(builder: &mut tar::Builder<W>, path: &Path, meta: &Metadata, walk: &mut Walk) -> Result<()> {
    let name = archive_name(path);
    let kind = meta.file_type();
    if kind.is_dir() {
        // Listed through its open descriptor, so a directory swapped for a symlink after
        // the lstat is not followed either.
        let dir = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
        {
            Ok(dir) => dir,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
                walk.skip(format!("skipped {}: it stopped being a directory while being backed up", path.display()));
                return Ok(());
            }
            Err(e) => return Err(walk_err("cannot list directory", path, e)),
        };
        let meta = dir.metadata().map_err(|e| walk_err("cannot list directory", path, e))?;
        if !name.as_os_str().is_empty() {
            let header = header_for(&meta, tar::EntryType::Directory, walk);
            append_pax(builder, &header, path)?;
            let mut header = header.header;
            builder.append_data(&mut header, &name, io::empty()).map_err(|e| walk_err("cannot archive", path, e))?;
        }
        walk.bump("dirs", 1);
        let by_fd = PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir)));
        let listing = if by_fd.is_dir() { fs::read_dir(&by_fd) } else { fs::read_dir(path) };
        let mut entries: Vec<_> = listing
            .map_err(|e| walk_err("cannot list directory", path, e))?
            .map(|e| e.map(|e| path.join(e.file_name())))
            .collect::<io::Result<_>>()
            .map_err(|e| walk_err("cannot list directory", path, e))?;
        drop(dir);
        entries.sort();
        for child in entries {
            append_path(builder, &child, walk)?;
        }
    } else if kind.is_file() {
        append_file(builder, path, &name, walk)?;
    } else if kind.is_symlink() {
        let target = fs::read_link(path).map_err(|e| walk_err("cannot read symlink", path, e))?;
        let header = header_for(meta, tar::EntryType::Symlink, walk);
        append_pax(builder, &header, path)?;
        let mut header = header.header;
        builder.append_link(&mut header, &name, &target).map_err(|e| walk_err("cannot archive", path, e))?;
        walk.bump("symlinks", 1);
    } else {
        walk.skip(format!("skipped {} {}", special_kind(meta), path.display()));
    }
    Ok(())
}

fn special_kind(meta: &Metadata) -> &'static str {
    let kind = meta.file_type();
    if kind.is_socket() {
        "socket"
    } else if kind.is_fifo() {
        "FIFO"
    } else if kind.is_block_device() || kind.is_char_device() {
        "device"
    } else if kind.is_dir() {
        "directory"
    } else if kind.is_symlink() {
        "symlink"
    } else {
        "special file"
    }
}

/// Opens a file for reading without following a symlink in its last component, and
/// without blocking should it have become a FIFO.
fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY).open(path)
}

fn append_file<W: Write>(builder: &mut tar::Builder<W>, path: &Path, name: &Path, walk: &mut Walk) -> Result<()> {
    let file = match open_no_follow(path) {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            walk.skip(format!("skipped {}: it became a symlink while being backed up", path.display()));
            return Ok(());
        }
        Err(e) => return Err(walk_err("cannot read file", path, e)),
    };
    // Everything recorded comes from the descriptor that is read (fstat), not from the lstat.
    let meta = file.metadata().map_err(|e| walk_err("cannot read file", path, e))?;
    if !meta.is_file() {
        walk.skip(format!("skipped {}: it became a {} while being backed up", path.display(), special_kind(&meta)));
        return Ok(());
    }
    if meta.nlink() > 1 {
        if let Some(first) = walk.links.get(&(meta.dev(), meta.ino())).cloned() {
            let header = header_for(&meta, tar::EntryType::Link, walk);
            append_pax(builder, &header, path)?;
            let mut header = header.header;
            builder.append_link(&mut header, name, &first).map_err(|e| walk_err("cannot archive", path, e))?;
            walk.bump("hardlinks", 1);
            return Ok(());
        }
        walk.links.insert((meta.dev(), meta.ino()), name.to_owned());
    }
    let header = header_for(&meta, tar::EntryType::Regular, walk);
    append_pax(builder, &header, path)?;
    let mut header = header.header;
    let mut reader = ExactReader { inner: file.take(meta.len()), remaining: meta.len(), padded: false, path };
    builder.append_data(&mut header, name, &mut reader).map_err(|e| walk_err("cannot read file", path, e))?;
    if reader.padded {
        walk.summary
            .warnings
            .push(format!("{} shrank while being read; the missing tail was stored as zeros", path.display()));
    }
    walk.bump("files", 1);
    walk.bump("bytes", meta.len());
    Ok(())
}

/// A header and the PAX records that must precede it for values its fields cannot hold.
struct EntryHeader {
    header: tar::Header,
    pax: Vec<(&'static str, String)>,
}

/// The GNU header of an entry: permission bits only in `mode` (as GNU tar and POSIX
/// write it), numeric owners plus their names where they resolve, whole-second mtime.
/// A pre-1970 mtime goes into a PAX `mtime` record (the numeric field says 0), since GNU
/// tar and Python's tarfile read no negative number from a GNU header written this way.
fn header_for(meta: &Metadata, kind: tar::EntryType, walk: &mut Walk) -> EntryHeader {
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    header.set_mode(meta.mode() & 0o7777);
    header.set_entry_type(kind);
    if kind != tar::EntryType::Regular {
        header.set_size(0);
    }
    let mut pax = Vec::new();
    if meta.mtime() < 0 {
        header.set_mtime(0);
        pax.push(("mtime", meta.mtime().to_string()));
    }
    let user = walk.users.entry(meta.uid()).or_insert_with(|| user_name(meta.uid())).clone();
    if let Some(user) = user
        && header.set_username(&user).is_err()
    {
        pax.push(("uname", user));
    }
    let group = walk.groups.entry(meta.gid()).or_insert_with(|| group_name(meta.gid())).clone();
    if let Some(group) = group
        && header.set_groupname(&group).is_err()
    {
        pax.push(("gname", group));
    }
    EntryHeader { header, pax }
}

/// Writes the PAX extended header (type `x`) an entry needs, if any.
fn append_pax<W: Write>(builder: &mut tar::Builder<W>, entry: &EntryHeader, path: &Path) -> Result<()> {
    if entry.pax.is_empty() {
        return Ok(());
    }
    let mut data = Vec::new();
    for (key, value) in &entry.pax {
        data.extend_from_slice(&pax_record(key, value));
    }
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    header.set_mtime(0);
    header.set_path("././@PaxHeader").map_err(|e| walk_err("cannot archive", path, e))?;
    header.set_cksum();
    builder.append(&header, data.as_slice()).map_err(|e| walk_err("cannot archive", path, e))
}

/// One PAX record: `"<length> <key>=<value>\n"`, the length counting itself.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    format!("{len} {key}={value}\n").into_bytes()
}

/// Runs a reentrant passwd/group lookup with a growing buffer; `read` takes the answer.
fn lookup<T, R>(
    call: impl Fn(*mut T, *mut libc::c_char, usize, *mut *mut T) -> libc::c_int,
    read: impl Fn(&T) -> Option<R>,
) -> Option<R> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: an all-zero passwd/group struct is a valid value to be overwritten.
        let mut record: T = unsafe { std::mem::zeroed() };
        let mut result: *mut T = std::ptr::null_mut();
        let rc = call(&mut record, buf.as_mut_ptr().cast(), buf.len(), &mut result);
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        return read(&record);
    }
}

/// Reads a C string owned by a passwd/group record.
fn c_text(ptr: *const libc::c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the lookup succeeded, so the pointer is a NUL-terminated string in its buffer.
    let text = unsafe { CStr::from_ptr(ptr) }.to_str().ok()?;
    (!text.is_empty()).then(|| text.to_owned())
}

fn user_name(uid: u32) -> Option<String> {
    // SAFETY: the pointers come from `lookup` and are valid for the call.
    lookup(|p, b, n, r| unsafe { libc::getpwuid_r(uid, p, b, n, r) }, |p: &libc::passwd| c_text(p.pw_name))
}

fn group_name(gid: u32) -> Option<String> {
    // SAFETY: as above.
    lookup(|g, b, n, r| unsafe { libc::getgrgid_r(gid, g, b, n, r) }, |g: &libc::group| c_text(g.gr_name))
}

fn uid_of(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    // SAFETY: as above; `name` outlives the call.
    lookup(|p, b, n, r| unsafe { libc::getpwnam_r(name.as_ptr(), p, b, n, r) }, |p: &libc::passwd| Some(p.pw_uid))
}

fn gid_of(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    // SAFETY: as above.
    lookup(|g, b, n, r| unsafe { libc::getgrnam_r(name.as_ptr(), g, b, n, r) }, |g: &libc::group| Some(g.gr_gid))
}

/// Reads exactly the size recorded in the tar header: a file that shrinks while being read
/// is padded with zeros (and reported), one that grows is cut, so the archive stays valid.
struct ExactReader<'a> {
    inner: io::Take<File>,
    remaining: u64,
    padded: bool,
    path: &'a Path,
}

impl Read for ExactReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let n = match self.inner.read(buf) {
            Ok(0) => {
                self.padded = true;
                let n = buf.len().min(self.remaining as usize);
                buf[..n].fill(0);
                n
            }
            Ok(n) => n,
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", self.path.display()))),
        };
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// `Write` that forwards the tar stream in chunks through a bounded channel.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "backup cancelled"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// How a files restore treats the owners recorded in the backup.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Give every entry its recorded owner (the user and group names when they resolve on
    /// this host, else the numeric ids), as GNU tar does for root. Defaults to true when
    /// running as root. Where an owner is not restored, setuid and setgid bits are
    /// cleared, so nobody's setuid program comes back owned by someone else.
    pub same_owner: bool,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        // SAFETY: geteuid has no preconditions and cannot fail.
        RestoreOptions { same_owner: unsafe { libc::geteuid() } == 0 }
    }
}

/// What a restore into a directory produced.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    /// Where the restored tree now is.
    pub path: PathBuf,
    /// What the operator should know: owners not restored, bits cleared, entries skipped.
    pub warnings: Vec<String>,
}

/// Staging folders not yet published or removed (see [`settle_restore_cleanup`]).
static LIVE_STAGING: AtomicUsize = AtomicUsize::new(0);

/// Waits (up to 10 seconds) until every abandoned restore's staging folder is removed. A
/// program interrupted during a restore calls this before it exits: the folder is removed
/// by the thread still unpacking into it, once that thread has noticed the cancellation.
pub async fn settle_restore_cleanup() {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while LIVE_STAGING.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Owns a staging folder's removal: shared by the restore and the thread unpacking into
/// the folder, so that the folder is removed when the last of them lets go (never while
/// an abandoned unpack is still writing into it, which would recreate what was removed).
pub(crate) struct StagingGuard {
    dir: PathBuf,
    published: AtomicBool,
    cancelled: AtomicBool,
}

impl StagingGuard {
    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

impl Drop for StagingGuard {
    fn drop(&mut self) {
        if !self.published.load(Ordering::SeqCst) {
            let _ = fs::remove_dir_all(&self.dir);
        }
        LIVE_STAGING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A restore target: checked up front, filled in a hidden sibling folder that only the
/// restoring user can enter (0700), and renamed into place only after the whole backup
/// authenticated. Dropping it cancels the unpack and removes the staging folder.
pub(crate) struct Staging {
    pub target: PathBuf,
    pub dir: PathBuf,
    guard: Arc<StagingGuard>,
}

impl Staging {
    pub fn prepare(target: &Path) -> Result<Staging> {
        let bad = |reason: &str| RepoError::Target { path: target.display().to_string(), reason: reason.to_owned() };
        match fs::read_dir(target) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(bad("exists and is not empty; restore into a new or empty directory"));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => return Err(bad("exists and is not a directory")),
            Err(e) => {
                return Err(RepoError::LocalIo {
                    what: "cannot use restore target",
                    path: target.display().to_string(),
                    source: e,
                });
            }
        }
        let target = std::path::absolute(target).map_err(|e| walk_err("cannot resolve restore target", target, e))?;
        let parent = target.parent().ok_or_else(|| bad("has no parent directory"))?;
        fs::create_dir_all(parent).map_err(|e| walk_err("cannot create", parent, e))?;
        let name = target.file_name().ok_or_else(|| bad("has no name"))?.to_string_lossy().into_owned();
        let suffix = hex::encode(lifeboat_crypto::random_bytes::<6>().map_err(|e| RepoError::Internal(e.to_string()))?);
        let dir = parent.join(format!(".{name}.lifeboat-restore-{suffix}"));
        DirBuilder::new().mode(0o700).create(&dir).map_err(|e| walk_err("cannot create staging directory", &dir, e))?;
        LIVE_STAGING.fetch_add(1, Ordering::SeqCst);
        let guard = Arc::new(StagingGuard {
            dir: dir.clone(),
            published: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
        });
        Ok(Staging { target, dir, guard })
    }

    /// The removal guard, for the thread that unpacks into the folder.
    pub fn guard(&self) -> Arc<StagingGuard> {
        self.guard.clone()
    }

    /// Moves the staged tree into place, the folder itself getting the mode a new
    /// directory gets (0777 less the umask) now that everything inside has its own.
    pub fn publish(self) -> Result<PathBuf> {
        fs::set_permissions(&self.dir, Permissions::from_mode(default_dir_mode()))
            .map_err(|e| walk_err("cannot set the mode of", &self.dir, e))?;
        if self.target.exists() {
            fs::remove_dir(&self.target).map_err(|e| walk_err("cannot replace empty target", &self.target, e))?;
        }
        fs::rename(&self.dir, &self.target).map_err(|e| walk_err("cannot move restored tree into", &self.target, e))?;
        self.guard.published.store(true, Ordering::SeqCst);
        Ok(self.target.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Stops an unpack still running; the guard removes the folder when it ends.
        self.guard.cancelled.store(true, Ordering::SeqCst);
    }
}

/// The mode `mkdir` gives a new directory here: 0777 less the process umask (read from
/// /proc, since `umask(2)` can only be read by changing it for every thread).
fn default_dir_mode() -> u32 {
    let umask = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Umask:")).and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022);
    0o777 & !umask
}

/// Creates a file that only its owner can read or write (0600 whatever the umask, and
/// never through an existing file or symlink): restored data is private until its
/// recorded mode is set.
pub(crate) fn create_private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// A reader that fails once the restore it feeds was abandoned.
struct CancelReader<R> {
    inner: R,
    guard: Arc<StagingGuard>,
}

impl<R: Read> Read for CancelReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.guard.cancelled() {
            return Err(io::Error::other("restore cancelled"));
        }
        self.inner.read(buf)
    }
}

/// Unpacks a tar stream into `dir` (blocking) and returns the warnings. Entry paths are
/// made relative; `..`, and any path through a symlink or other non-directory already
/// restored, are refused. Files are created 0600 and get their recorded owner, mode and
/// mtime once written; directories are created 0700 and get theirs after every entry,
/// deepest first, so that writing their contents cannot change their mtime.
pub(crate) fn unpack(
    reader: impl Read,
    dir: &Path,
    options: &RestoreOptions,
    guard: Arc<StagingGuard>,
) -> Result<Vec<String>> {
    let mut archive = tar::Archive::new(CancelReader { inner: reader, guard });
    let mut unpacker = Unpacker::new(dir, options);
    let entries = archive.entries().map_err(|e| walk_err("cannot restore into", dir, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| walk_err("cannot restore into", dir, e))?;
        unpacker.entry(&mut entry)?;
    }
    let warnings = unpacker.finish()?;
    // The archive ends at its first end-of-archive block; read the rest of the stream too,
    // so that every remaining segment is authenticated and the recorded digests checked.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| walk_err("cannot restore into", dir, e))?;
    Ok(warnings)
}

/// Owner, mode and time recorded for one entry.
#[derive(Debug, Clone)]
struct EntryMeta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
}

struct Unpacker<'a> {
    root: &'a Path,
    same_owner: bool,
    /// Relative directories known to be real directories (created or checked by us; in
    /// the private staging folder nothing else changes them).
    known_dirs: HashSet<PathBuf>,
    /// Directories to finish last: their entry's metadata, or None for a directory the
    /// archive did not list (a parent of a backed-up path).
    dirs: BTreeMap<PathBuf, Option<EntryMeta>>,
    owner_error: Option<String>,
    cleared: u64,
    first_cleared: Option<PathBuf>,
    warnings: Vec<String>,
    uids: HashMap<String, Option<u32>>,
    gids: HashMap<String, Option<u32>>,
}

impl<'a> Unpacker<'a> {
    fn new(root: &'a Path, options: &RestoreOptions) -> Self {
        Unpacker {
            root,
            same_owner: options.same_owner,
            known_dirs: HashSet::new(),
            dirs: BTreeMap::new(),
            owner_error: None,
            cleared: 0,
            first_cleared: None,
            warnings: Vec::new(),
            uids: HashMap::new(),
            gids: HashMap::new(),
        }
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<()> {
        let raw = entry.path().map_err(|e| walk_err("cannot read an entry name into", self.root, e))?.into_owned();
        let Some(rel) = relative(&raw) else {
            return Err(refuse(&raw, "has a `..` component"));
        };
        if rel.as_os_str().is_empty() {
            return Ok(());
        }
        let meta = self.meta_of(entry, &rel)?;
        let kind = entry.header().entry_type();
        let path = self.root.join(&rel);
        if kind.is_dir() {
            self.ensure_parent(&rel)?;
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(_) => return Err(refuse(&rel, "is a directory where another entry already is")),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    DirBuilder::new().mode(0o700).create(&path).map_err(|e| walk_err("cannot create", &path, e))?;
                }
                Err(e) => return Err(walk_err("cannot restore", &path, e)),
            }
            self.known_dirs.insert(rel.clone());
            self.dirs.insert(rel, Some(meta));
        } else if kind.is_file() {
            self.ensure_parent(&rel)?;
            let mut file = create_private_file(&path).map_err(|e| walk_err("cannot create", &path, e))?;
            io::copy(entry, &mut file).map_err(|e| walk_err("cannot restore", &path, e))?;
            self.settle(&file, &rel, &meta)?;
        } else if kind.is_symlink() {
            self.ensure_parent(&rel)?;
            let target = entry
                .link_name()
                .map_err(|e| walk_err("cannot read the link of", &path, e))?
                .ok_or_else(|| refuse(&rel, "is a symlink without a target"))?;
            std::os::unix::fs::symlink(&target, &path).map_err(|e| walk_err("cannot create symlink", &path, e))?;
            set_symlink_mtime(&path, meta.mtime).map_err(|e| walk_err("cannot set the mtime of", &path, e))?;
            if self.same_owner
                && let Err(e) = std::os::unix::fs::lchown(&path, Some(meta.uid), Some(meta.gid))
            {
                self.owner_error.get_or_insert_with(|| format!("{}: {e}", rel.display()));
            }
        } else if kind.is_hard_link() {
            self.ensure_parent(&rel)?;
            let link = entry
                .link_name()
                .map_err(|e| walk_err("cannot read the link of", &path, e))?
                .ok_or_else(|| refuse(&rel, "is a hard link without a target"))?;
            let source = match relative(&link) {
                Some(s) if !s.as_os_str().is_empty() => s,
                _ => return Err(refuse(&rel, "is a hard link to a path outside the restore")),
            };
            self.ensure_parent(&source)?;
            match fs::symlink_metadata(self.root.join(&source)) {
                Ok(m) if !m.is_dir() => {}
                _ => return Err(refuse(&rel, "is a hard link to an entry that was not restored before it")),
            }
            fs::hard_link(self.root.join(&source), &path).map_err(|e| walk_err("cannot create hard link", &path, e))?;
        } else {
            self.warnings.push(format!("skipped archive entry {} of unsupported type {:?}", rel.display(), kind));
        }
        Ok(())
    }

    /// Mode (permission bits: older backups stored the whole st_mode), owner and mtime,
    /// the PAX records overriding the header fields.
    fn meta_of<R: Read>(&mut self, entry: &mut tar::Entry<R>, rel: &Path) -> Result<EntryMeta> {
        let bad = |what: &str| refuse(rel, &format!("has an invalid {what}"));
        let header = entry.header();
        let mut user = header.username().ok().flatten().filter(|n| !n.is_empty()).map(str::to_owned);
        let mut group = header.groupname().ok().flatten().filter(|n| !n.is_empty()).map(str::to_owned);
        // An empty numeric field (some writers leave owners blank) reads as 0, as in
        // Python's tarfile; only a value that cannot be an id is refused.
        let mode = header.mode().unwrap_or(0) & 0o7777;
        let uid = u32::try_from(header.uid().unwrap_or(0)).map_err(|_| bad("uid"))?;
        let gid = u32::try_from(header.gid().unwrap_or(0)).map_err(|_| bad("gid"))?;
        let field = header.as_old().mtime;
        let mut mtime = if field[0] == 0xff {
            // GNU base-256, negative: the value is the two's complement in the low bytes.
            let mut low = [0u8; 8];
            low.copy_from_slice(&field[4..]);
            i64::from_be_bytes(low)
        } else {
            i64::try_from(header.mtime().unwrap_or(0)).map_err(|_| bad("mtime"))?
        };
        if let Some(extensions) = entry.pax_extensions().map_err(|_| bad("PAX header"))? {
            for extension in extensions {
                let extension = extension.map_err(|_| bad("PAX header"))?;
                match extension.key() {
                    Ok("mtime") => {
                        let value = extension.value().map_err(|_| bad("PAX mtime"))?;
                        let whole = value.split('.').next().unwrap_or_default();
                        mtime = whole.parse().map_err(|_| bad("PAX mtime"))?;
                    }
                    Ok("uname") => user = extension.value().ok().map(str::to_owned),
                    Ok("gname") => group = extension.value().ok().map(str::to_owned),
                    _ => {}
                }
            }
        }
        // The owner to give the entry: its user and group names where they resolve here,
        // else the recorded numbers (GNU tar's rule).
        let uid = user.and_then(|u| *self.uids.entry(u.clone()).or_insert_with(|| uid_of(&u))).unwrap_or(uid);
        let gid = group.and_then(|g| *self.gids.entry(g.clone()).or_insert_with(|| gid_of(&g))).unwrap_or(gid);
        Ok(EntryMeta { mode, uid, gid, mtime })
    }

    /// Creates the missing parents of `rel` (0700 until the end) and checks that the
    /// existing ones are real directories, so no entry is written through a symlink.
    fn ensure_parent(&mut self, rel: &Path) -> Result<()> {
        let mut current = PathBuf::new();
        let parents: Vec<_> = rel.parent().map(|p| p.components().collect()).unwrap_or_default();
        for component in parents {
            current.push(component);
            if self.known_dirs.contains(&current) {
                continue;
            }
            let path = self.root.join(&current);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(_) => {
                    let reason = format!("lies under {}, which is not a directory", current.display());
                    return Err(refuse(rel, &reason));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    DirBuilder::new().mode(0o700).create(&path).map_err(|e| walk_err("cannot create", &path, e))?;
                    self.dirs.entry(current.clone()).or_insert(None);
                }
                Err(e) => return Err(walk_err("cannot restore", &path, e)),
            }
            self.known_dirs.insert(current.clone());
        }
        Ok(())
    }

    /// Gives an open entry its owner (when restoring owners), then its mode, then its
    /// mtime: chown clears setuid bits, and chmod would not change the mtime. Setuid and
    /// setgid are kept only where the file ended up with the recorded owner and group.
    fn settle(&mut self, file: &File, rel: &Path, meta: &EntryMeta) -> Result<()> {
        let path = self.root.join(rel);
        if self.same_owner
            && let Err(e) = std::os::unix::fs::fchown(file, Some(meta.uid), Some(meta.gid))
        {
            self.owner_error.get_or_insert_with(|| format!("{}: {e}", rel.display()));
        }
        let mut mode = meta.mode;
        let wanted = (meta.uid, meta.gid);
        let actual = file.metadata().map_err(|e| walk_err("cannot restore", &path, e))?;
        if mode & (libc::S_ISUID | libc::S_ISGID) != 0 && (actual.uid(), actual.gid()) != wanted {
            if actual.uid() != wanted.0 {
                mode &= !libc::S_ISUID;
            }
            if actual.gid() != wanted.1 {
                mode &= !libc::S_ISGID;
            }
            if mode != meta.mode {
                self.cleared += 1;
                self.first_cleared.get_or_insert_with(|| rel.to_owned());
            }
        }
        file.set_permissions(Permissions::from_mode(mode)).map_err(|e| walk_err("cannot set the mode of", &path, e))?;
        if let Some(when) = time_of(meta.mtime) {
            file.set_modified(when).map_err(|e| walk_err("cannot set the mtime of", &path, e))?;
        }
        Ok(())
    }

    /// Finishes the directories, deepest first, and returns the warnings.
    fn finish(mut self) -> Result<Vec<String>> {
        let mut dirs: Vec<_> = std::mem::take(&mut self.dirs).into_iter().collect();
        dirs.sort_by_key(|(rel, _)| std::cmp::Reverse(rel.components().count()));
        let default_mode = default_dir_mode();
        for (rel, meta) in dirs {
            let path = self.root.join(&rel);
            let dir = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&path)
                .map_err(|e| walk_err("cannot finish directory", &path, e))?;
            match meta {
                Some(meta) => self.settle(&dir, &rel, &meta)?,
                None => dir
                    .set_permissions(Permissions::from_mode(default_mode))
                    .map_err(|e| walk_err("cannot set the mode of", &path, e))?,
            }
        }
        // One message says what happened to owners, and what that cost.
        let owners = match &self.owner_error {
            Some(error) => format!("owners could not be restored ({error})"),
            None => "owners were not restored (that needs root)".to_owned(),
        };
        if self.cleared > 0 {
            self.warnings.push(format!(
                "{owners}: setuid/setgid bits were cleared on {} entr{} (first: {})",
                self.cleared,
                if self.cleared == 1 { "y" } else { "ies" },
                self.first_cleared.as_deref().unwrap_or(Path::new("")).display()
            ));
        } else if self.owner_error.is_some() {
            self.warnings.push(owners);
        }
        Ok(self.warnings)
    }
}

fn refuse(rel: &Path, reason: &str) -> RepoError {
    RepoError::Integrity(format!("archive entry {} {reason}; restore refused", rel.display()))
}

/// `path` without its root (or `.` components), or None when it has a `..`.
fn relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Sets a symlink's own access and modification times (`utimensat` with
/// `AT_SYMLINK_NOFOLLOW`; std has no call for it).
fn set_symlink_mtime(path: &Path, secs: i64) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let time = libc::timespec { tv_sec: secs as libc::time_t, tv_nsec: 0 };
    let times = [time, time];
    // SAFETY: a NUL-terminated path and an array of two timespecs, both live for the call.
    let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c_path.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Seconds since the epoch (negative before 1970) as a SystemTime.
fn time_of(secs: i64) -> Option<SystemTime> {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(magnitude)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(magnitude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn the_staging_folder_is_private_and_removed_when_dropped() {
        let base = tempfile::tempdir().unwrap();
        let target = base.path().join("restored");
        let staging = Staging::prepare(&target).unwrap();
        // Whatever the umask, other users cannot enter the folder while it is filled.
        assert_eq!(mode_of(&staging.dir), 0o700, "staging folder {}", staging.dir.display());
        let dir = staging.dir.clone();
        let guard = staging.guard();
        drop(staging);
        assert!(guard.cancelled(), "dropping the staging cancels the unpack");
        assert!(dir.exists(), "not removed while the unpack still holds the guard");
        drop(guard);
        assert!(!dir.exists(), "removed once the unpack let go");
    }

    /// A reader over a tar archive that, when the archive has been read up to `at`,
    /// records the mode the file being restored has at that moment.
    struct Observer {
        data: io::Cursor<Vec<u8>>,
        at: u64,
        watch: PathBuf,
        seen: Option<u32>,
    }

    impl Read for Observer {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let pos = self.data.position();
            if pos >= self.at && self.seen.is_none() {
                self.seen = Some(mode_of(&self.watch));
            }
            // Small reads, so the observation falls inside the file's data.
            let n = buf.len().min(512);
            self.data.read(&mut buf[..n])
        }
    }

    #[test]
    fn restored_files_are_private_until_their_mode_is_set() {
        let base = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(64 * 1024);
        header.set_mtime(1_000_000_000);
        builder.append_data(&mut header, "public.txt", io::repeat(7).take(64 * 1024)).unwrap();
        let archive = builder.into_inner().unwrap();
        let target = base.path().join("out");
        let staging = Staging::prepare(&target).unwrap();
        let mut observer = Observer {
            data: io::Cursor::new(archive),
            at: 512 + 32 * 1024,
            watch: staging.dir.join("public.txt"),
            seen: None,
        };
        let warnings =
            unpack(&mut observer, &staging.dir.clone(), &RestoreOptions { same_owner: false }, staging.guard())
                .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(observer.seen, Some(0o600), "the half-written file was readable by others");
        assert_eq!(mode_of(&staging.dir.join("public.txt")), 0o644, "then it got its recorded mode");
        let published = staging.publish().unwrap();
        assert_eq!(fs::metadata(published.join("public.txt")).unwrap().mtime(), 1_000_000_000);
    }

    #[test]
    fn a_file_swapped_for_a_symlink_after_lstat_is_not_followed() {
        let base = tempfile::tempdir().unwrap();
        let secret = base.path().join("secret");
        fs::write(&secret, b"the secret of another user").unwrap();
        let path = base.path().join("innocent");
        fs::write(&path, b"plain").unwrap();
        // What the walk's lstat saw...
        let seen = fs::symlink_metadata(&path).unwrap();
        // ...and what is there when the file is opened.
        fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&secret, &path).unwrap();

        let mut walk = Walk::default();
        let mut builder = tar::Builder::new(Vec::new());
        append_entry(&mut builder, &path, &seen, &mut walk).unwrap();
        let archive = builder.into_inner().unwrap();
        assert!(
            !archive.windows(b"the secret".len()).any(|w| w == b"the secret"),
            "the symlink was followed into the archive"
        );
        assert!(
            walk.summary.warnings.iter().any(|w| w.contains("innocent") && w.contains("became a symlink")),
            "{:?}",
            walk.summary.warnings
        );
        assert_eq!(walk.summary.stats.get("skipped"), Some(&1));
    }

    #[test]
    fn a_directory_swapped_for_a_symlink_after_lstat_is_not_listed() {
        let base = tempfile::tempdir().unwrap();
        let private = base.path().join("private");
        fs::create_dir(&private).unwrap();
        fs::write(private.join("key"), b"the secret of another user").unwrap();
        let path = base.path().join("dir");
        fs::create_dir(&path).unwrap();
        let seen = fs::symlink_metadata(&path).unwrap();
        fs::remove_dir(&path).unwrap();
        std::os::unix::fs::symlink(&private, &path).unwrap();

        let mut walk = Walk::default();
        let mut builder = tar::Builder::new(Vec::new());
        append_entry(&mut builder, &path, &seen, &mut walk).unwrap();
        let archive = builder.into_inner().unwrap();
        assert!(!archive.windows(b"the secret".len()).any(|w| w == b"the secret"), "the symlink was followed");
        assert!(walk.summary.warnings.iter().any(|w| w.contains("stopped being a directory")), "{:?}", walk.summary);
    }

    #[test]
    fn pax_records_count_their_own_length() {
        assert_eq!(pax_record("mtime", "-315619200"), b"20 mtime=-315619200\n");
        // 9 + 1 digit would be 10, which has two digits: the length must be 11.
        assert_eq!(pax_record("a", "12345"), b"11 a=12345\n");
        let long = "x".repeat(95);
        let record = pax_record("k", &long);
        assert_eq!(record.len(), 102);
        assert!(record.starts_with(b"102 k="));
    }

    #[test]
    fn entries_through_symlinks_or_with_dotdot_are_refused() {
        let base = tempfile::tempdir().unwrap();
        let outside = base.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let build = |entries: &[(&str, tar::EntryType, &str)]| {
            let mut builder = tar::Builder::new(Vec::new());
            for (name, kind, link) in entries {
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(*kind);
                header.set_mode(0o644);
                header.set_size(if *kind == tar::EntryType::Regular { 2 } else { 0 });
                if kind.is_symlink() || kind.is_hard_link() {
                    builder.append_link(&mut header, name, link).unwrap();
                } else {
                    builder.append_data(&mut header, name, &b"hi"[..]).unwrap();
                }
            }
            builder.into_inner().unwrap()
        };
        let escape_link = outside.to_str().unwrap();
        let cases = [
            build(&[("a", tar::EntryType::Symlink, escape_link), ("a/evil", tar::EntryType::Regular, "")]),
            build(&[("a", tar::EntryType::Symlink, escape_link), ("a/sub", tar::EntryType::Directory, "")]),
            build(&[("x", tar::EntryType::Link, "../outside/f")]),
            build(&[("x", tar::EntryType::Link, "/etc/passwd")]),
        ];
        for (n, archive) in cases.iter().enumerate() {
            let target = base.path().join(format!("t{n}"));
            let staging = Staging::prepare(&target).unwrap();
            let result =
                unpack(&archive[..], &staging.dir.clone(), &RestoreOptions { same_owner: false }, staging.guard());
            assert!(result.is_err(), "case {n} was accepted");
            assert_eq!(fs::read_dir(&outside).unwrap().count(), 0, "case {n} wrote outside the target");
        }
        // A `..` in a plain entry name is refused too (the tar crate's Builder will not
        // write one, so patch the name field of a header by hand).
        let mut archive = build(&[("zz/f", tar::EntryType::Regular, "")]);
        archive[..5].copy_from_slice(b"../f\0");
        let mut header = tar::Header::new_old();
        header.as_mut_bytes().copy_from_slice(&archive[..512]);
        header.set_cksum();
        archive[..512].copy_from_slice(header.as_bytes());
        let staging = Staging::prepare(&base.path().join("dotdot")).unwrap();
        let err = unpack(&archive[..], &staging.dir.clone(), &RestoreOptions { same_owner: false }, staging.guard())
            .unwrap_err();
        assert!(err.to_string().contains(".."), "{err}");
        assert!(!base.path().join("f").exists());
    }
}

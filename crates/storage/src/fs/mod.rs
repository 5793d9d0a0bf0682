//! The filesystem backend: the embedded default.
//!
//! Writes are crash-safe: bytes go to a temporary file in the destination folder, which
//! is fsynced, renamed over the key (or hard-linked, for put-if-absent, which fails when
//! the key exists), and then the folder itself is fsynced so that the rename survives a
//! power cut. A failed or cancelled write removes its temporary file; one killed outright
//! leaves it behind for [`Storage::sweep_temp`].
//!
//! Nothing below the root is ever reached through a symbolic link: every path is resolved
//! from a descriptor of the root with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, or,
//! where the kernel lacks it, one `O_NOFOLLOW` component at a time, and an object that is
//! itself a link is refused. A link planted inside a repository (`locks/x -> /etc/passwd`,
//! `data/ab -> /home/someone`) therefore cannot make a read, a write or a delete touch
//! anything outside it. The root's own path may contain links: that is the operator's.
//!
//! Everything is created private (folders 0700, files 0600, whatever the umask), so that
//! other local users cannot copy `config` and guess its password offline.
//!
//! [`write_atomic`] is the same crash-safe write for one whole file anywhere (state files,
//! caches), so that the workspace has one such write, not one per crate.

mod atomic;
mod beneath;

pub use atomic::write_atomic;

use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use self::atomic::TempFile;
use self::beneath::{open_beneath, open_dir_component, refuse_link_at, refused_link, stat_entry};
use crate::drain::{DrainError, drain_into};
use crate::key::{validate_key, validate_prefix};
use crate::temp::TEMP_MARK;
use crate::{ByteStream, Capabilities, MetaStream, ObjectMeta, Op, PutOutcome, Storage, StorageError};

/// Bytes per read of a `get`: large, so that a reader's frames mostly lie within one
/// buffer and can be sliced rather than copied.
const READ_BUFFER: usize = 2 * 1024 * 1024;
/// Bytes written between requests to start writeback, so that the final fsync of a large
/// object waits for the last few megabytes rather than all of them.
const WRITEBACK_EVERY: u64 = 8 * 1024 * 1024;
/// Mode of every folder this backend creates: the owner's only.
const DIR_MODE: u32 = 0o700;

/// A directory holding one object per file, keys mapped to relative paths.
#[derive(Debug, Clone)]
pub struct FsStorage {
    root: PathBuf,
}

/// A key's folder (empty at the root) and name.
fn split_key(key: &str) -> (String, String) {
    let (dir, name) = key.rsplit_once('/').unwrap_or(("", key));
    (dir.to_owned(), name.to_owned())
}

/// The modification time of a stat result, by the filesystem's clock.
#[allow(clippy::unnecessary_cast)] // the field types differ between architectures
fn mtime(st: &Stat) -> Option<SystemTime> {
    let (secs, nanos) = (st.st_mtime as i64, st.st_mtime_nsec as u32);
    let whole = if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    };
    whole?.checked_add(Duration::from_nanos(u64::from(nanos)))
}

/// An object's description from its stat result.
fn meta_of(key: String, st: &Stat) -> ObjectMeta {
    ObjectMeta { key, size: u64::try_from(st.st_size).unwrap_or(0), modified: mtime(st) }
}

impl FsStorage {
    /// A backend rooted at `root`. Nothing is created until the first write.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory this backend stores objects in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Who can read the repository, for `init` to tell the operator: e.g. `readable only by
    /// user alice (mode 0700)`, or `readable by group staff and by every local user (mode
    /// 0755)`. Judged from the root folder's owner and mode.
    pub fn describe_access(&self) -> io::Result<String> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&self.root)?;
        let mode = meta.mode() & 0o7777;
        let user = name_of("/etc/passwd", meta.uid()).unwrap_or_else(|| format!("uid {}", meta.uid()));
        let group = name_of("/etc/group", meta.gid()).unwrap_or_else(|| format!("gid {}", meta.gid()));
        // Reading a repository needs to enter (x) and read (r) its folders.
        let (group_reads, others_read) = (mode & 0o050 == 0o050, mode & 0o005 == 0o005);
        let who = match (group_reads, others_read) {
            (false, false) => format!("readable only by user {user}"),
            (true, false) => format!("readable by user {user} and group {group}"),
            (false, true) => format!("readable by user {user} and every other local user"),
            (true, true) => format!("readable by user {user}, group {group} and every other local user"),
        };
        Ok(format!("{who} (mode {mode:04o})"))
    }

    fn err(&self, op: Op, key: &str, e: io::Error) -> StorageError {
        StorageError::from_io(op, &self.location(), key, e)
    }

    /// Runs blocking file-system work off the reactor.
    async fn blocking<T: Send + 'static>(
        &self,
        op: Op,
        key: &str,
        work: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> Result<T, StorageError> {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| self.err(op, key, io::Error::other(e)))?
            .map_err(|e| self.err(op, key, e))
    }

    /// Opens the root folder.
    fn open_root(&self) -> io::Result<OwnedFd> {
        rustix::fs::open(&self.root, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(Into::into)
    }

    /// Opens the root folder, creating it (0700) when missing. Its parents are not the
    /// repository's and get the usual mode.
    fn open_root_creating(&self) -> io::Result<OwnedFd> {
        use std::os::unix::fs::DirBuilderExt;
        match self.open_root() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(parent) = self.root.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)?;
                }
                match std::fs::DirBuilder::new().mode(DIR_MODE).create(&self.root) {
                    Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                    _ => {}
                }
                self.open_root()
            }
            other => other,
        }
    }

    /// Opens the folder `rel` (empty: the root), or `None` when it does not exist.
    fn open_dir(&self, rel: &str) -> io::Result<Option<OwnedFd>> {
        let root = match self.open_root() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            other => other?,
        };
        if rel.is_empty() {
            return Ok(Some(root));
        }
        match open_beneath(root.as_fd(), rel, OFlags::RDONLY | OFlags::DIRECTORY) {
            Ok(fd) => Ok(Some(fd)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens the folder `rel`, creating what is missing (0700); each new folder is made
    /// durable in its parent.
    fn open_dir_creating(&self, rel: &str) -> io::Result<OwnedFd> {
        let root = self.open_root_creating()?;
        if rel.is_empty() {
            return Ok(root);
        }
        match open_beneath(root.as_fd(), rel, OFlags::RDONLY | OFlags::DIRECTORY) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
        let mut dir = root;
        for part in rel.split('/') {
            match rustix::fs::mkdirat(&dir, part, Mode::from_raw_mode(DIR_MODE)) {
                Ok(()) => rustix::fs::fsync(&dir)?,
                Err(Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            dir = open_dir_component(dir.as_fd(), part)?;
        }
        Ok(dir)
    }

    /// Opens an object for reading; it must be a regular file.
    fn open_object(&self, key: &str) -> io::Result<std::fs::File> {
        let root = self.open_root()?;
        // O_NONBLOCK: a FIFO planted in the repository must not hang the reader.
        let file = std::fs::File::from(open_beneath(root.as_fd(), key, OFlags::RDONLY | OFlags::NONBLOCK)?);
        if !file.metadata()?.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        Ok(file)
    }

    /// Visits every regular file below the root whose key starts with `prefix`: the
    /// temporary files when `temp`, the objects otherwise. The walk starts at the deepest
    /// folder the prefix names, so that listing `data/ab/` does not read all of `data/`,
    /// holds one folder open at a time, and never enters a link.
    fn walk(
        &self,
        prefix: &str,
        temp: bool,
        mut visit: impl FnMut(BorrowedFd<'_>, &str, String, &Stat) -> io::Result<()>,
    ) -> io::Result<()> {
        let root = match self.open_root() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            other => other?,
        };
        let start = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
        let mut pending = vec![start.to_owned()];
        while let Some(rel) = pending.pop() {
            let held;
            let dir = if rel.is_empty() {
                root.as_fd()
            } else {
                match open_beneath(root.as_fd(), &rel, OFlags::RDONLY | OFlags::DIRECTORY) {
                    Ok(fd) => {
                        held = fd;
                        held.as_fd()
                    }
                    Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => continue,
                    Err(e) => return Err(e),
                }
            };
            for entry in rustix::fs::Dir::read_from(dir)? {
                let entry = entry?;
                let Ok(name) = entry.file_name().to_str() else { continue };
                if name == "." || name == ".." {
                    continue;
                }
                let key = if rel.is_empty() { name.to_owned() } else { format!("{rel}/{name}") };
                let mut kind = entry.file_type();
                let mut stat = None;
                if kind == FileType::Unknown {
                    let Some(st) = stat_entry(dir, name)? else { continue };
                    kind = FileType::from_raw_mode(st.st_mode);
                    stat = Some(st);
                }
                match kind {
                    FileType::Directory
                        if !name.starts_with(TEMP_MARK)
                            && (key.starts_with(prefix) || prefix.starts_with(&format!("{key}/"))) =>
                    {
                        pending.push(key);
                    }
                    FileType::RegularFile if name.starts_with(TEMP_MARK) == temp && key.starts_with(prefix) => {
                        let st = match stat {
                            Some(st) => st,
                            None => match stat_entry(dir, name)? {
                                Some(st) => st,
                                None => continue, // removed meanwhile
                            },
                        };
                        visit(dir, name, key, &st)?;
                    }
                    // Links are never followed; sockets and devices are not objects.
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Writes `body` to a fresh temporary file in folder `dir` (created if need be) and
    /// fsyncs it.
    async fn write_temp(&self, key: &str, dir: String, body: ByteStream) -> Result<TempFile, StorageError> {
        let this = self.clone();
        let (temp, file) = self
            .blocking(Op::Put, key, move || {
                let dir = Arc::new(this.open_dir_creating(&dir)?);
                TempFile::create_in(dir)
            })
            .await?;
        let mut synced = 0u64;
        let start_writeback_every = move |file: &mut std::fs::File, written: u64| {
            if written - synced >= WRITEBACK_EVERY {
                start_writeback(file, synced, written - synced);
                synced = written;
            }
        };
        let (_, file) = drain_into(body, file, start_writeback_every).await.map_err(|e| match e {
            DrainError::Stream(e) => e,
            DrainError::Write(e) => self.err(Op::Put, key, e),
        })?;
        self.blocking(Op::Put, key, move || file.sync_all()).await?;
        Ok(temp)
    }

    /// Temporary files under `prefix` older than `older_than`, removed unless `dry_run`.
    fn sweep(&self, prefix: &str, older_than: Duration, dry_run: bool) -> io::Result<Vec<ObjectMeta>> {
        let cutoff = SystemTime::now().checked_sub(older_than).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut swept = Vec::new();
        self.walk(prefix, true, |dir, name, key, st| {
            if mtime(st).is_some_and(|t| t < cutoff) {
                if !dry_run {
                    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
                        Ok(()) | Err(Errno::NOENT) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                swept.push(meta_of(key, st));
            }
            Ok(())
        })?;
        Ok(swept)
    }
}

/// The name of user or group `id` in a passwd-style file, when listed there.
fn name_of(file: &str, id: u32) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let found: u32 = fields.nth(1)?.parse().ok()?;
        (found == id).then(|| name.to_owned())
    })
}

#[async_trait]
impl Storage for FsStorage {
    fn location(&self) -> String {
        format!("file://{}", self.root.display())
    }

    async fn put(&self, key: &str, body: ByteStream, _size_hint: Option<u64>) -> Result<(), StorageError> {
        validate_key(key)?;
        let (dir, name) = split_key(key);
        let temp = self.write_temp(key, dir, body).await?;
        self.blocking(Op::Put, key, move || {
            refuse_link_at(temp.dir().as_fd(), &name)?;
            temp.rename_over(name.as_ref())
        })
        .await
    }

    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<PutOutcome, StorageError> {
        validate_key(key)?;
        let (dir, name) = split_key(key);
        let stream: ByteStream = Box::pin(futures::stream::once(async move { Ok(body) }));
        let temp = self.write_temp(key, dir, stream).await?;
        let (fd, temp_name) = (temp.dir().clone(), temp.name().to_owned());
        // link(2) fails with EEXIST instead of replacing: an atomic create-if-absent that
        // also publishes the complete, fsynced content in one step. It follows no link.
        let outcome = self
            .blocking(Op::Put, key, move || {
                match rustix::fs::linkat(&*fd, temp_name.as_str(), &*fd, name.as_str(), AtFlags::empty()) {
                    Ok(()) => {
                        // Drop the temporary name before the folder's fsync, so both changes last.
                        rustix::fs::unlinkat(&*fd, temp_name.as_str(), AtFlags::empty())?;
                        rustix::fs::fsync(&*fd)?;
                        Ok(PutOutcome::Created)
                    }
                    Err(Errno::EXIST) => refuse_link_at(fd.as_fd(), &name).map(|()| PutOutcome::AlreadyExists),
                    Err(e) => Err(e.into()),
                }
            })
            .await;
        drop(temp);
        outcome
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
        validate_key(key)?;
        let (this, owned) = (self.clone(), key.to_owned());
        let file = self.blocking(Op::Get, key, move || this.open_object(&owned)).await?;
        let (location, owned_key) = (self.location(), key.to_owned());
        let map_err = move |e: io::Error| StorageError::from_io(Op::Get, &location, &owned_key, e);
        Ok(read_stream(file, range, map_err))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        validate_key(key)?;
        let (this, owned) = (self.clone(), key.to_owned());
        self.blocking(Op::Head, key, move || {
            let (dir, name) = split_key(&owned);
            let Some(dir) = this.open_dir(&dir)? else { return Ok(None) };
            match stat_entry(dir.as_fd(), &name)? {
                Some(st) => match FileType::from_raw_mode(st.st_mode) {
                    FileType::RegularFile => Ok(Some(meta_of(owned, &st))),
                    FileType::Symlink => Err(refused_link()),
                    _ => Ok(None),
                },
                None => Ok(None),
            }
        })
        .await
    }

    fn list(&self, prefix: &str) -> MetaStream {
        if let Err(e) = validate_prefix(prefix) {
            return Box::pin(futures::stream::once(async move { Err(e) }));
        }
        let (this, prefix) = (self.clone(), prefix.to_owned());
        let task = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let walked = this.walk(&prefix, false, |_, _, key, st| {
                out.push(meta_of(key, st));
                Ok(())
            });
            walked.map(|()| out).map_err(|e| this.err(Op::List, &prefix, e))
        });
        Box::pin(
            futures::stream::once(async move {
                let items = match task.await {
                    Ok(Ok(items)) => items.into_iter().map(Ok).collect(),
                    Ok(Err(e)) => vec![Err(e)],
                    Err(join) => vec![Err(StorageError::Source { message: join.to_string(), source: None })],
                };
                futures::stream::iter(items)
            })
            .flatten(),
        )
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        let (this, owned) = (self.clone(), key.to_owned());
        self.blocking(Op::Delete, key, move || {
            let (dir, name) = split_key(&owned);
            let Some(dir) = this.open_dir(&dir)? else { return Ok(()) };
            // Deleting a link would be harmless, but a key that is a link is not an object.
            if stat_entry(dir.as_fd(), &name)?.is_none() {
                return Ok(());
            }
            refuse_link_at(dir.as_fd(), &name)?;
            match rustix::fs::unlinkat(&dir, name.as_str(), AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn capabilities(&self) -> Result<Capabilities, StorageError> {
        // put_if_absent publishes with link(2), which fails when the name exists: a true
        // conditional create. No object lock.
        Ok(Capabilities { conditional_put: true, object_lock: false })
    }

    async fn sweep_temp(
        &self,
        prefix: &str,
        older_than: Duration,
        dry_run: bool,
    ) -> Result<Vec<ObjectMeta>, StorageError> {
        validate_prefix(prefix)?;
        let (this, owned) = (self.clone(), prefix.to_owned());
        self.blocking(Op::Delete, prefix, move || this.sweep(&owned, older_than, dry_run)).await
    }
}

/// Streams a file, or a range of it, read on a blocking thread in buffers of
/// `READ_BUFFER` bytes, each filled by the kernel directly (no further copy).
fn read_stream(
    file: std::fs::File,
    range: Option<Range<u64>>,
    map_err: impl Fn(io::Error) -> StorageError + Send + 'static,
) -> ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, StorageError>>(2);
    tokio::task::spawn_blocking(move || {
        let read = |tx: &tokio::sync::mpsc::Sender<Result<Bytes, StorageError>>| -> io::Result<()> {
            let mut file = file;
            let len = file.metadata()?.len();
            let (start, end) = range.map_or((0, len), |r| (r.start, r.end.min(len)));
            if start > 0 {
                file.seek(SeekFrom::Start(start))?;
            }
            let mut remaining = end.saturating_sub(start);
            while remaining > 0 {
                let want = remaining.min(READ_BUFFER as u64);
                let mut buf = Vec::with_capacity(want as usize);
                let n = (&mut file).take(want).read_to_end(&mut buf)?;
                if n == 0 {
                    break; // the file shrank while being read
                }
                remaining -= n as u64;
                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    break; // the reader went away
                }
            }
            Ok(())
        };
        if let Err(e) = read(&tx) {
            let _ = tx.blocking_send(Err(map_err(e)));
        }
    });
    Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }))
}

/// Asks the kernel to start writing back a range just written, without waiting for it.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else { return };
    // SAFETY: a valid open descriptor and plain integers; sync_file_range(2) only schedules
    // I/O, and its result is advisory (the fsync that follows is what durability rests on).
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &std::fs::File, _offset: u64, _len: u64) {}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::StorageExt;

    fn store() -> (tempfile::TempDir, FsStorage) {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStorage::new(dir.path().join("repo"));
        (dir, store)
    }

    #[tokio::test]
    async fn put_get_head_list_delete() {
        let (_d, s) = store();
        s.put_bytes("data/ab/one", Bytes::from_static(b"hello world")).await.unwrap();
        s.put_bytes("data/cd/two", Bytes::from_static(b"x")).await.unwrap();
        s.put_bytes("config", Bytes::from_static(b"{}")).await.unwrap();
        assert_eq!(&s.get_bytes("data/ab/one").await.unwrap()[..], b"hello world");
        assert_eq!(s.head("data/ab/one").await.unwrap().unwrap().size, 11);
        assert!(s.head("data/zz").await.unwrap().is_none());
        let keys: Vec<_> = s.list_all("data/").await.unwrap().into_iter().map(|m| m.key).collect();
        assert_eq!(keys, ["data/ab/one", "data/cd/two"]);
        let keys: Vec<_> = s.list_all("data/a").await.unwrap().into_iter().map(|m| m.key).collect();
        assert_eq!(keys, ["data/ab/one"]);
        assert_eq!(s.list_all("").await.unwrap().len(), 3);
        s.delete("data/ab/one").await.unwrap();
        s.delete("data/ab/one").await.unwrap();
        assert!(s.get_bytes("data/ab/one").await.unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn ranged_reads() {
        let (_d, s) = store();
        s.put_bytes("k", Bytes::from_static(b"0123456789")).await.unwrap();
        let mut st = s.get("k", Some(2..5)).await.unwrap();
        let mut got = Vec::new();
        while let Some(c) = st.next().await {
            got.extend_from_slice(&c.unwrap());
        }
        assert_eq!(got, b"234");
    }

    #[tokio::test]
    async fn put_if_absent_never_overwrites() {
        let (_d, s) = store();
        assert_eq!(s.put_if_absent("locks/a", Bytes::from_static(b"1")).await.unwrap(), PutOutcome::Created);
        assert_eq!(s.put_if_absent("locks/a", Bytes::from_static(b"2")).await.unwrap(), PutOutcome::AlreadyExists);
        assert_eq!(&s.get_bytes("locks/a").await.unwrap()[..], b"1");
        assert_eq!(s.list_all("locks/").await.unwrap().len(), 1, "no temporary file left behind");
    }

    #[tokio::test]
    async fn failed_stream_leaves_nothing() {
        let (d, s) = store();
        let body: ByteStream = Box::pin(futures::stream::iter(vec![
            Ok(Bytes::from_static(b"partial")),
            Err(StorageError::Source { message: "source died".into(), source: None }),
        ]));
        let err = s.put("data/x", body, None).await.unwrap_err();
        assert!(err.to_string().contains("source died"));
        assert!(s.head("data/x").await.unwrap().is_none());
        let leftovers: Vec<_> = std::fs::read_dir(d.path().join("repo/data")).unwrap().collect();
        assert!(leftovers.is_empty(), "temporary file removed: {leftovers:?}");
    }

    #[tokio::test]
    async fn keys_cannot_escape_the_root() {
        let (_d, s) = store();
        for key in ["../escape", "/etc/passwd", "a/../../b"] {
            assert!(matches!(s.put_bytes(key, Bytes::new()).await.unwrap_err(), StorageError::InvalidKey { .. }));
            assert!(s.get(key, None).await.is_err());
        }
    }

    #[tokio::test]
    async fn missing_root_lists_nothing_and_reads_not_found() {
        let (_d, s) = store();
        assert!(s.list_all("").await.unwrap().is_empty());
        assert!(s.get_bytes("config").await.unwrap_err().is_not_found());
    }
}

//! The filesystem backend: the embedded default.
//!
//! Writes are crash-safe: bytes go to a temporary file in the destination folder, which
//! is fsynced, renamed over the key (or hard-linked, for put-if-absent, which fails when
//! the key exists), and then the folder itself is fsynced so that the rename survives a
//! power cut. A failed or cancelled write removes its temporary file.

use std::io::{self, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use ring::rand::{SecureRandom, SystemRandom};
use std::io::{Read, Seek};

use crate::drain::{DrainError, drain_into};
use crate::key::{validate_key, validate_prefix};
use crate::{ByteStream, MetaStream, ObjectMeta, Op, PutOutcome, Storage, StorageError};

/// Names of temporary files start with this; listings never show them.
const TEMP_MARK: &str = ".lifeboat-tmp-";
/// Bytes per read of a `get`: large, so that a reader's frames mostly lie within one
/// buffer and can be sliced rather than copied.
const READ_BUFFER: usize = 2 * 1024 * 1024;
/// Bytes written between requests to start writeback, so that the final fsync of a large
/// object waits for the last few megabytes rather than all of them.
const WRITEBACK_EVERY: u64 = 8 * 1024 * 1024;

/// A directory holding one object per file, keys mapped to relative paths.
#[derive(Debug, Clone)]
pub struct FsStorage {
    root: PathBuf,
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

    fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    fn err(&self, op: Op, key: &str, e: io::Error) -> StorageError {
        StorageError::from_io(op, &self.location(), key, e)
    }

    /// Writes `body` to a fresh temporary file beside `path` and fsyncs it.
    async fn write_temp(&self, key: &str, path: &Path, body: ByteStream) -> Result<TempFile, StorageError> {
        let dir = path.parent().unwrap_or(&self.root);
        tokio::fs::create_dir_all(dir).await.map_err(|e| self.err(Op::Put, key, e))?;
        let temp = TempFile::new(dir);
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp.path)
            .await
            .map_err(|e| self.err(Op::Put, key, e))?
            .into_std()
            .await;
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
        tokio::task::spawn_blocking(move || file.sync_all())
            .await
            .map_err(|e| self.err(Op::Put, key, io::Error::other(e)))?
            .map_err(|e| self.err(Op::Put, key, e))?;
        Ok(temp)
    }

    async fn sync_dir(&self, key: &str, path: &Path) -> Result<(), StorageError> {
        let dir = path.parent().unwrap_or(&self.root).to_owned();
        tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
            .await
            .map_err(|e| self.err(Op::Put, key, io::Error::other(e)))?
            .map_err(|e| self.err(Op::Put, key, e))
    }
}

#[async_trait]
impl Storage for FsStorage {
    fn location(&self) -> String {
        format!("file://{}", self.root.display())
    }

    async fn put(&self, key: &str, body: ByteStream, _size_hint: Option<u64>) -> Result<(), StorageError> {
        let path = self.path_of(key)?;
        let mut temp = self.write_temp(key, &path, body).await?;
        tokio::fs::rename(&temp.path, &path).await.map_err(|e| self.err(Op::Put, key, e))?;
        temp.disarm();
        self.sync_dir(key, &path).await
    }

    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<PutOutcome, StorageError> {
        let path = self.path_of(key)?;
        let stream: ByteStream = Box::pin(futures::stream::once(async move { Ok(body) }));
        let temp = self.write_temp(key, &path, stream).await?;
        // link(2) fails with EEXIST instead of replacing: an atomic create-if-absent that
        // also publishes the complete, fsynced content in one step.
        match tokio::fs::hard_link(&temp.path, &path).await {
            Ok(()) => {
                drop(temp);
                self.sync_dir(key, &path).await?;
                Ok(PutOutcome::Created)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(PutOutcome::AlreadyExists),
            Err(e) => Err(self.err(Op::Put, key, e)),
        }
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
        let path = self.path_of(key)?;
        let file = tokio::fs::File::open(&path).await.map_err(|e| self.err(Op::Get, key, e))?.into_std().await;
        let (location, owned_key) = (self.location(), key.to_owned());
        let map_err = move |e: io::Error| StorageError::from_io(Op::Get, &location, &owned_key, e);
        Ok(read_stream(file, range, map_err))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        let path = self.path_of(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(Some(ObjectMeta { key: key.to_owned(), size: meta.len() })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(Op::Head, key, e)),
        }
    }

    fn list(&self, prefix: &str) -> MetaStream {
        if let Err(e) = validate_prefix(prefix) {
            return Box::pin(futures::stream::once(async move { Err(e) }));
        }
        let (root, prefix, location) = (self.root.clone(), prefix.to_owned(), self.location());
        let task = tokio::task::spawn_blocking(move || walk(&root, &prefix, &location));
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
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err(Op::Delete, key, e)),
        }
    }
}

/// Lists files under `root` whose key starts with `prefix`, starting the walk at the
/// deepest folder the prefix names so that listing `data/ab/` does not read all of `data/`.
fn walk(root: &Path, prefix: &str, location: &str) -> Result<Vec<ObjectMeta>, StorageError> {
    let start_rel = match prefix.rfind('/') {
        Some(i) => &prefix[..i],
        None => "",
    };
    let mut out = Vec::new();
    let mut pending = vec![(root.join(start_rel), start_rel.to_owned())];
    while let Some((dir, rel)) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StorageError::from_io(Op::List, location, prefix, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| StorageError::from_io(Op::List, location, prefix, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
            if name.starts_with(TEMP_MARK) {
                continue;
            }
            let key = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let kind = entry.file_type().map_err(|e| StorageError::from_io(Op::List, location, &key, e))?;
            if kind.is_dir() {
                if key.starts_with(prefix) || prefix.starts_with(&format!("{key}/")) {
                    pending.push((entry.path(), key));
                }
            } else if kind.is_file() && key.starts_with(prefix) {
                let size = entry.metadata().map_err(|e| StorageError::from_io(Op::List, location, &key, e))?.len();
                out.push(ObjectMeta { key, size });
            }
        }
    }
    Ok(out)
}

/// A temporary file that removes itself unless disarmed, so that an error or a dropped
/// future (Ctrl-C) leaves no debris behind.
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

struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    fn new(dir: &Path) -> Self {
        let mut rnd = [0u8; 8];
        // SystemRandom only fails when the OS has no entropy source at all; a fixed
        // suffix then still works because create_new refuses to reuse a name.
        let _ = SystemRandom::new().fill(&mut rnd);
        Self { path: dir.join(format!("{TEMP_MARK}{}", hex::encode(rnd))), armed: true }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

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

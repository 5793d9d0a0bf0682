//! Directory trees as a tar stream: the producer that walks paths on a blocking thread,
//! and the restore that unpacks into a staging folder and publishes it only when the
//! whole backup has been authenticated.

use std::collections::BTreeMap;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::io::StreamReader;

use crate::error::{RepoError, Result};

/// What a tree walk saw.
#[derive(Debug, Default, Clone)]
pub struct TreeSummary {
    /// Counters: files, dirs, symlinks, bytes, skipped.
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
        let mut summary = TreeSummary::default();
        let writer = ChannelWriter { tx: tx.clone(), buf: Vec::with_capacity(CHUNK) };
        let mut builder = tar::Builder::new(writer);
        builder.follow_symlinks(false);
        let result = roots.iter().try_for_each(|root| append_path(&mut builder, root, &mut summary)).and_then(|()| {
            let mut writer = builder.into_inner().map_err(|e| walk_err("finishing the archive", Path::new(""), e))?;
            writer.flush().map_err(|e| walk_err("finishing the archive", Path::new(""), e))
        });
        if let Err(e) = &result {
            // Surface the failure through the stream, so the pipeline never sees a clean end.
            let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
        }
        result.map(|()| summary)
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

fn bump(summary: &mut TreeSummary, key: &str, by: u64) {
    *summary.stats.entry(key.to_owned()).or_default() += by;
}

fn append_path<W: Write>(builder: &mut tar::Builder<W>, path: &Path, summary: &mut TreeSummary) -> Result<()> {
    let meta = fs::symlink_metadata(path).map_err(|e| walk_err("cannot read", path, e))?;
    let name = archive_name(path);
    let kind = meta.file_type();
    if kind.is_dir() {
        if !name.as_os_str().is_empty() {
            let mut header = header_for(&meta, tar::EntryType::Directory);
            builder.append_data(&mut header, &name, io::empty()).map_err(|e| walk_err("cannot archive", path, e))?;
        }
        bump(summary, "dirs", 1);
        let mut entries: Vec<_> = fs::read_dir(path)
            .map_err(|e| walk_err("cannot list directory", path, e))?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<_>>()
            .map_err(|e| walk_err("cannot list directory", path, e))?;
        entries.sort();
        for child in entries {
            append_path(builder, &child, summary)?;
        }
    } else if kind.is_file() {
        let file = File::open(path).map_err(|e| walk_err("cannot read file", path, e))?;
        let mut header = header_for(&meta, tar::EntryType::Regular);
        let mut reader = ExactReader { inner: file.take(meta.len()), remaining: meta.len(), padded: false, path };
        builder.append_data(&mut header, &name, &mut reader).map_err(|e| walk_err("cannot read file", path, e))?;
        if reader.padded {
            summary
                .warnings
                .push(format!("{} shrank while being read; the missing tail was stored as zeros", path.display()));
        }
        bump(summary, "files", 1);
        bump(summary, "bytes", meta.len());
    } else if kind.is_symlink() {
        let target = fs::read_link(path).map_err(|e| walk_err("cannot read symlink", path, e))?;
        let mut header = header_for(&meta, tar::EntryType::Symlink);
        builder.append_link(&mut header, &name, &target).map_err(|e| walk_err("cannot archive", path, e))?;
        bump(summary, "symlinks", 1);
    } else {
        let what = if kind.is_socket() {
            "socket"
        } else if kind.is_fifo() {
            "FIFO"
        } else if kind.is_block_device() || kind.is_char_device() {
            "device"
        } else {
            "special file"
        };
        tracing::info!("skipping {what} {}", path.display());
        summary.warnings.push(format!("skipped {what} {}", path.display()));
        bump(summary, "skipped", 1);
    }
    Ok(())
}

fn header_for(meta: &Metadata, kind: tar::EntryType) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    header.set_entry_type(kind);
    if kind != tar::EntryType::Regular {
        header.set_size(0);
    }
    header
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

/// A restore target: checked up front, filled in a hidden sibling folder, and renamed into
/// place only after the whole backup authenticated. Dropping it removes the staging folder.
pub(crate) struct Staging {
    pub target: PathBuf,
    pub dir: PathBuf,
    done: bool,
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
        fs::create_dir(&dir).map_err(|e| walk_err("cannot create staging directory", &dir, e))?;
        Ok(Staging { target, dir, done: false })
    }

    /// Moves the staged tree into place.
    pub fn publish(mut self) -> Result<PathBuf> {
        if self.target.exists() {
            fs::remove_dir(&self.target).map_err(|e| walk_err("cannot replace empty target", &self.target, e))?;
        }
        fs::rename(&self.dir, &self.target).map_err(|e| walk_err("cannot move restored tree into", &self.target, e))?;
        self.done = true;
        Ok(self.target.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Unpacks a tar stream into `dir` (blocking). Entries that would escape `dir` are refused
/// by the tar crate; permissions and modification times are restored.
pub(crate) fn unpack(reader: impl Read, dir: &Path) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(false);
    archive.unpack(dir).map_err(|e| walk_err("cannot restore into", dir, e))?;
    // The archive ends at its first end-of-archive block; read the rest of the stream too,
    // so that every remaining segment is authenticated and the recorded digests checked.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| walk_err("cannot restore into", dir, e))?;
    Ok(())
}

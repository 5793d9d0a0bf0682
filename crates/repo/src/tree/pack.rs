//! The producer: walks paths on a blocking thread and streams them as a tar archive (PAX
//! records for what ustar cannot hold), never following a symlink swapped in mid-walk.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::io::StreamReader;

use super::accounts::{group_name, user_name};
use super::filter::{MountKey, TreeFilter};
use crate::error::{RepoError, Result, local_io};

/// What a tree walk saw.
#[derive(Debug, Default, Clone)]
pub struct TreeSummary {
    /// Counters: files, dirs, symlinks, hardlinks, bytes, skipped, changed (files written
    /// to while they were read, each also a warning), and with a filter
    /// `excluded` (entries left out, an excluded directory counting once) and `mountpoints`
    /// (directories of another file system recorded empty under `one-file-system`).
    pub stats: BTreeMap<String, u64>,
    /// Skipped entries and changes noticed while reading.
    pub warnings: Vec<String>,
}

/// An `AsyncRead` of the tar stream, fed by a blocking walker thread.
pub type TreeReader = StreamReader<ChunkStream, Bytes>;

/// The chunk stream behind a [`TreeReader`].
pub type ChunkStream = futures::stream::BoxStream<'static, io::Result<Bytes>>;

/// Checks the paths and starts the walker, which leaves out what `filter` excludes (an
/// excluded directory is never opened). The returned reader yields the tar stream;
/// when the walk fails (an unreadable file ...) the reader fails with the error naming the
/// path, so a broken tree never becomes a complete-looking backup.
pub fn spawn_tree_producer(
    paths: &[PathBuf],
    filter: TreeFilter,
) -> Result<(TreeReader, tokio::task::JoinHandle<Result<TreeSummary>>)> {
    let roots = source_paths(paths)?;
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
    let handle = tokio::task::spawn_blocking(move || {
        let mut walk = Walk { filter, ..Walk::default() };
        let writer = ChannelWriter { tx: tx.clone(), buf: Vec::with_capacity(CHUNK) };
        let mut builder = tar::Builder::new(writer);
        builder.follow_symlinks(false);
        let result = roots.iter().try_for_each(|root| append_root(&mut builder, root, &mut walk)).and_then(|()| {
            let mut writer = builder.into_inner().map_err(|e| local_io("finishing the archive", Path::new(""), e))?;
            writer.flush().map_err(|e| local_io("finishing the archive", Path::new(""), e))
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

/// The paths a files backup reads, as it records and archives them: each one absolute
/// and canonical (`.` is the current directory's real path), checked to exist.
pub fn source_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if paths.is_empty() {
        return Err(RepoError::Source("no paths to back up".into()));
    }
    paths
        .iter()
        .map(|path| {
            fs::symlink_metadata(path).map_err(|e| local_io("cannot read source path", path, e))?;
            absolute_path(path)
        })
        .collect()
}

fn absolute_path(path: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(path).map_err(|e| local_io("cannot resolve source path", path, e))?;
    let resolve = |p: &Path| fs::canonicalize(p).map_err(|e| local_io("cannot resolve source path", path, e));
    // Resolve `..` and symlinks in the parent, but keep the last component itself, so that
    // backing up a symlink stores the link, as tar and restic do. A path ending in `..` (or
    // `/`) has no such component: it is resolved whole.
    match (abs.parent(), abs.file_name(), abs.components().next_back()) {
        (Some(parent), Some(name), Some(Component::Normal(_))) => Ok(resolve(parent)?.join(name)),
        _ => resolve(&abs),
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
    /// What to leave out.
    filter: TreeFilter,
    /// Under `one-file-system`: the file system and mount of the root being walked.
    root: Option<MountKey>,
}

impl Walk {
    fn bump(&mut self, key: &str, by: u64) {
        *self.summary.stats.entry(key.to_owned()).or_default() += by;
    }

    /// A file that changed while it was read: warned about and counted (`changed`).
    fn changed(&mut self, message: String) {
        tracing::warn!("{message}");
        self.summary.warnings.push(message);
        self.bump("changed", 1);
    }

    fn skip(&mut self, message: String) {
        tracing::info!("{message}");
        self.summary.warnings.push(message);
        self.bump("skipped", 1);
    }

    /// Leaves `path` out on the filter's word: counted, not a warning.
    fn exclude(&mut self, path: &Path, why: &str) {
        tracing::debug!(path = %path.display(), "excluded: {why}");
        self.bump("excluded", 1);
    }

    /// Under `one-file-system`, whether `path` (whose `lstat` is `meta`) is on another file
    /// system or mount than the root it was reached from.
    fn crosses_mount(&self, path: &Path, meta: &Metadata) -> bool {
        self.root.is_some_and(|root| root.differs(&MountKey::of(path, meta.dev())))
    }
}

/// Archives one of the paths given to the backup, remembering its file system first.
fn append_root<W: Write>(builder: &mut tar::Builder<W>, root: &Path, walk: &mut Walk) -> Result<()> {
    if walk.filter.one_file_system() {
        let meta = fs::symlink_metadata(root).map_err(|e| local_io("cannot read", root, e))?;
        walk.root = Some(MountKey::of(root, meta.dev()));
    }
    append_path(builder, root, walk)
}

fn append_path<W: Write>(builder: &mut tar::Builder<W>, path: &Path, walk: &mut Walk) -> Result<()> {
    let meta = fs::symlink_metadata(path).map_err(|e| local_io("cannot read", path, e))?;
    // Decided on the lstat alone: an excluded directory is never opened (nor is a mount
    // point, which would trigger an automount or fail on an unreadable file system).
    if walk.filter.excludes(path, meta.is_dir()) {
        walk.exclude(path, "matches an exclude pattern");
        return Ok(());
    }
    if walk.crosses_mount(path, &meta) {
        if meta.is_dir() {
            return append_mount_point(builder, path, &meta, walk);
        }
        walk.exclude(path, "on another file system");
        return Ok(());
    }
    append_entry(builder, path, &meta, walk)
}

/// A directory where another file system is mounted, under `one-file-system`: recorded
/// as an empty directory with what `lstat` says of it (the mounted root's owner and mode).
fn append_mount_point<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &Path,
    meta: &Metadata,
    walk: &mut Walk,
) -> Result<()> {
    tracing::debug!(path = %path.display(), "a mount point: recorded empty");
    let name = archive_name(path);
    if !name.as_os_str().is_empty() {
        let header = header_for(meta, tar::EntryType::Directory, walk);
        append_pax(builder, &header, path)?;
        let mut header = header.header;
        builder.append_data(&mut header, &name, io::empty()).map_err(|e| local_io("cannot archive", path, e))?;
    }
    walk.bump("dirs", 1);
    walk.bump("mountpoints", 1);
    Ok(())
}

/// The names of the tags in the directory open as `dir` (empty: it is not tagged). A tag
/// that is there but cannot be read is reported and does not count.
fn tags_in(dir: &File, path: &Path, walk: &mut Walk) -> Vec<std::ffi::OsString> {
    let mut found = Vec::new();
    for tag in walk.filter.tags().to_vec() {
        match tag.is_in(dir) {
            Ok(true) => found.push(tag.name),
            Ok(false) => {}
            Err(e) => walk.summary.warnings.push(format!(
                "cannot read the exclusion tag {} in {}: {e}; the directory is backed up whole",
                tag.name.to_string_lossy(),
                path.display()
            )),
        }
    }
    found
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
            Err(e) => return Err(local_io("cannot list directory", path, e)),
        };
        let meta = dir.metadata().map_err(|e| local_io("cannot list directory", path, e))?;
        // What was opened may not be what the lstat saw: check its device again.
        if walk.root.is_some_and(|root| root.device != meta.dev()) {
            return append_mount_point(builder, path, &meta, walk);
        }
        if !name.as_os_str().is_empty() {
            let header = header_for(&meta, tar::EntryType::Directory, walk);
            append_pax(builder, &header, path)?;
            let mut header = header.header;
            builder.append_data(&mut header, &name, io::empty()).map_err(|e| local_io("cannot archive", path, e))?;
        }
        walk.bump("dirs", 1);
        let by_fd = PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir)));
        let listing = if by_fd.is_dir() { fs::read_dir(&by_fd) } else { fs::read_dir(path) };
        let mut entries: Vec<_> = listing
            .map_err(|e| local_io("cannot list directory", path, e))?
            .map(|e| e.map(|e| path.join(e.file_name())))
            .collect::<io::Result<_>>()
            .map_err(|e| local_io("cannot list directory", path, e))?;
        let tags = tags_in(&dir, path, walk);
        drop(dir);
        if !tags.is_empty() {
            // A tagged directory keeps itself and its tag files only, as restic does.
            let before = entries.len();
            entries.retain(|child| child.file_name().is_some_and(|n| tags.iter().any(|t| t == n)));
            tracing::debug!(path = %path.display(), "tagged: its other entries are excluded");
            walk.bump("excluded", (before - entries.len()) as u64);
        }
        entries.sort();
        for child in entries {
            append_path(builder, &child, walk)?;
        }
    } else if kind.is_file() {
        append_file(builder, path, &name, walk)?;
    } else if kind.is_symlink() {
        let target = fs::read_link(path).map_err(|e| local_io("cannot read symlink", path, e))?;
        let header = header_for(meta, tar::EntryType::Symlink, walk);
        append_pax(builder, &header, path)?;
        let mut header = header.header;
        builder.append_link(&mut header, &name, &target).map_err(|e| local_io("cannot archive", path, e))?;
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
pub(crate) fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY).open(path)
}

fn append_file<W: Write>(builder: &mut tar::Builder<W>, path: &Path, name: &Path, walk: &mut Walk) -> Result<()> {
    let file = match open_no_follow(path) {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            walk.skip(format!("skipped {}: it became a symlink while being backed up", path.display()));
            return Ok(());
        }
        Err(e) => return Err(local_io("cannot read file", path, e)),
    };
    // Everything recorded comes from the descriptor that is read (fstat), not from the lstat.
    let meta = file.metadata().map_err(|e| local_io("cannot read file", path, e))?;
    if !meta.is_file() {
        walk.skip(format!("skipped {}: it became a {} while being backed up", path.display(), special_kind(&meta)));
        return Ok(());
    }
    if meta.nlink() > 1 {
        if let Some(first) = walk.links.get(&(meta.dev(), meta.ino())).cloned() {
            let header = header_for(&meta, tar::EntryType::Link, walk);
            append_pax(builder, &header, path)?;
            let mut header = header.header;
            builder.append_link(&mut header, name, &first).map_err(|e| local_io("cannot archive", path, e))?;
            walk.bump("hardlinks", 1);
            return Ok(());
        }
        walk.links.insert((meta.dev(), meta.ino()), name.to_owned());
    }
    let header = header_for(&meta, tar::EntryType::Regular, walk);
    append_pax(builder, &header, path)?;
    let mut header = header.header;
    let stored = if meta.len() <= READ_WHOLE_UP_TO {
        append_whole(builder, &mut header, &file, path, name)?
    } else {
        append_sized(builder, &mut header, &file, meta.len(), path, name)?
    };
    let after = file.metadata().map_err(|e| local_io("cannot read file", path, e))?;
    if let Some(note) = stored.note {
        walk.changed(note);
    } else if changed_between(&meta, &after) {
        walk.changed(format!(
            "{} changed while being read (size {} -> {} bytes, or its modification time): the backup holds the {} \
             bytes read, which may mix both versions",
            path.display(),
            meta.len(),
            after.len(),
            stored.bytes
        ));
    }
    walk.bump("files", 1);
    walk.bump("bytes", stored.bytes);
    Ok(())
}

/// Files whose size says at most this are read to their end before their header is
/// written, the header then giving the length read: /proc and /sys files say 0 or 4096
/// bytes whatever they hold, and a tar header needs the size before the data.
const READ_WHOLE_UP_TO: u64 = 1024 * 1024;

/// At most this much is kept of a file read whole (memory is bounded): one that keeps
/// growing past it, or a pseudo-file that never ends, is cut here and reported.
const READ_WHOLE_LIMIT: u64 = 16 * 1024 * 1024;

/// What was archived of one file.
struct Stored {
    /// Bytes in the archive.
    bytes: u64,
    /// Why they are not the whole file, if the reading itself showed it.
    note: Option<String>,
}

/// Archives a small file read to its end.
fn append_whole<W: Write>(
    builder: &mut tar::Builder<W>,
    header: &mut tar::Header,
    file: &File,
    path: &Path,
    name: &Path,
) -> Result<Stored> {
    let mut data = Vec::new();
    file.take(READ_WHOLE_LIMIT + 1).read_to_end(&mut data).map_err(|e| local_io("cannot read file", path, e))?;
    let note = (data.len() as u64 > READ_WHOLE_LIMIT).then(|| {
        data.truncate(READ_WHOLE_LIMIT as usize);
        format!("{} kept growing while being read: the backup holds its first {READ_WHOLE_LIMIT} bytes", path.display())
    });
    header.set_size(data.len() as u64);
    builder.append_data(header, name, data.as_slice()).map_err(|e| local_io("cannot archive", path, e))?;
    Ok(Stored { bytes: data.len() as u64, note })
}

/// Archives a large file streamed at the size its header was written with (`size`):
/// padded with zeros if it shrinks, cut if it grows (the caller's `fstat` sees that).
fn append_sized<W: Write>(
    builder: &mut tar::Builder<W>,
    header: &mut tar::Header,
    file: &File,
    size: u64,
    path: &Path,
    name: &Path,
) -> Result<Stored> {
    let mut reader = ExactReader { inner: file.take(size), remaining: size, padded: false, path };
    builder.append_data(header, name, &mut reader).map_err(|e| local_io("cannot read file", path, e))?;
    let note = reader
        .padded
        .then(|| format!("{} shrank while being read; the missing tail was stored as zeros", path.display()));
    Ok(Stored { bytes: size, note })
}

/// Whether a file's size or modification time differs between two `fstat`s: it was
/// written to while it was read.
fn changed_between(before: &Metadata, after: &Metadata) -> bool {
    before.len() != after.len() || before.mtime() != after.mtime() || before.mtime_nsec() != after.mtime_nsec()
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
    header.set_path("././@PaxHeader").map_err(|e| local_io("cannot archive", path, e))?;
    header.set_cksum();
    builder.append(&header, data.as_slice()).map_err(|e| local_io("cannot archive", path, e))
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

/// Reads exactly the size recorded in the tar header: a file that shrinks while being read
/// is padded with zeros (and reported), one that grows is cut, so the archive stays valid.
struct ExactReader<'a> {
    inner: io::Take<&'a File>,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

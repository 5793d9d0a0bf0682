//! Format v3 trees (issue 14): the archiver and restorer over an in-memory blob store —
//! round trips of every kind of entry, the parent's reuse, include/exclude and sub-path
//! restores, dump, ls, find, diff, and forged trees refused.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::future::Future;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use lifeboat_chunker::{Chunker, ChunkerParams};
use lifeboat_crypto::SecretKey;
use lifeboat_repo::v3::archiver::{ArchiveOptions, Archived, Tuning, archive, archive_tuned};
use lifeboat_repo::v3::restorer::{ChangeKind, RestoreSpec, Restorer};
use lifeboat_repo::v3::tree::{Node, NodeType, Tree, TreeError};
use lifeboat_repo::v3::{BlobId, BlobKind, BlobStore, DomainKeys, StoreError};
use lifeboat_repo::{FilesFilter, TreeFilter};

/// A test's code run from inside the store.
type Hook = Box<dyn FnOnce() + Send>;

/// A blob store in a map, counting the blobs it was given that it did not have, and
/// every blob read.
struct MemStore {
    keys: DomainKeys,
    chunker: Chunker,
    blobs: Mutex<HashMap<BlobId, (BlobKind, Bytes)>>,
    new_blobs: AtomicU64,
    reads: AtomicU64,
    /// Runs when the first chunk of data is put (a test's way into the middle of a read).
    on_data: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    /// Runs when the first chunk of data starting with these bytes is put.
    on_data_starting: Mutex<Option<(Vec<u8>, Hook)>>,
}

impl MemStore {
    fn new() -> MemStore {
        let keys = DomainKeys::derive(&SecretKey::from_bytes([9u8; 32]));
        // Small chunks, so that a test file of a few hundred KiB is several chunks.
        let chunker = Chunker::new(keys.chunker_key(), ChunkerParams { min: 4 << 10, avg: 16 << 10, max: 64 << 10 });
        MemStore {
            keys,
            chunker,
            blobs: Mutex::default(),
            new_blobs: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            on_data: Mutex::default(),
            on_data_starting: Mutex::default(),
        }
    }

    fn count(&self) -> usize {
        self.blobs.lock().unwrap().len()
    }

    fn new_blobs(&self) -> u64 {
        self.new_blobs.load(Ordering::SeqCst)
    }

    /// Stores a hand-made tree (JSON) as a tree blob, as a forger with the keys could.
    fn forge(&self, json: &str) -> BlobId {
        let id = self.keys.blob_id(json.as_bytes());
        self.blobs.lock().unwrap().insert(id, (BlobKind::Tree, Bytes::from(json.as_bytes().to_vec())));
        id
    }
}

impl BlobStore for MemStore {
    fn blob_id(&self, plaintext: &[u8]) -> BlobId {
        self.keys.blob_id(plaintext)
    }

    fn chunker(&self) -> &Chunker {
        &self.chunker
    }

    fn has_blob(&self, id: &BlobId) -> bool {
        self.blobs.lock().unwrap().contains_key(id)
    }

    fn put_blob(&self, kind: BlobKind, plaintext: Bytes) -> impl Future<Output = Result<BlobId, StoreError>> + Send {
        let id = self.keys.blob_id(&plaintext);
        if kind == BlobKind::Data
            && let Some(hook) = self.on_data.lock().unwrap().take()
        {
            hook();
        }
        let starting = {
            let mut slot = self.on_data_starting.lock().unwrap();
            match slot.as_ref() {
                Some((prefix, _)) if kind == BlobKind::Data && plaintext.starts_with(prefix) => slot.take(),
                _ => None,
            }
        };
        if let Some((_, hook)) = starting {
            hook();
        }
        if self.blobs.lock().unwrap().insert(id, (kind, plaintext)).is_none() {
            self.new_blobs.fetch_add(1, Ordering::SeqCst);
        }
        async move { Ok(id) }
    }

    fn get_blob(&self, id: &BlobId) -> impl Future<Output = Result<Bytes, StoreError>> + Send {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let found = self.blobs.lock().unwrap().get(id).map(|(_, b)| b.clone());
        let id = *id;
        async move { found.ok_or_else(|| StoreError::MissingBlob(id.to_hex())) }
    }

    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Pseudo-random bytes (xorshift), so that chunks differ.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn at(secs: u64, nanos: u32) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::new(secs, nanos)
}

fn set_mtime(path: &Path, when: SystemTime) {
    File::options().write(!path.is_dir()).read(path.is_dir()).open(path).unwrap().set_modified(when).unwrap();
}

/// Sets a symlink's own mtime.
fn set_link_mtime(path: &Path, secs: i64, nanos: i64) {
    let time = rustix::fs::Timespec { tv_sec: secs, tv_nsec: nanos };
    let times = rustix::fs::Timestamps { last_access: time, last_modification: time };
    rustix::fs::utimensat(rustix::fs::CWD, path, &times, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).unwrap();
}

fn mkfifo(path: &Path, mode: u32) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_bits_truncate(mode),
        0,
    )
    .unwrap();
}

/// Whether the file system under `dir` keeps user xattrs.
fn set_xattr(path: &Path, name: &str, value: &[u8]) -> bool {
    rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty()).is_ok()
}

/// A source tree with one of everything; returns whether it has a user xattr.
fn build_source(root: &Path) -> bool {
    fs::create_dir_all(root.join("a/b/c")).unwrap();
    fs::create_dir(root.join("empty-dir")).unwrap();
    fs::write(root.join("big.bin"), noise(300_000, 1)).unwrap();
    fs::write(root.join("empty"), b"").unwrap();
    fs::write(root.join("notes.txt"), b"some notes\n").unwrap();
    fs::write(root.join("debug.log"), b"log line\n").unwrap();
    fs::write(root.join("a/b/c/deep.txt"), b"deep file\n").unwrap();
    fs::write(root.join("a/b/other.log"), b"other\n").unwrap();
    fs::write(root.join(OsStr::from_bytes(b"caf\xe9-latin1")), b"not utf-8 name\n").unwrap();
    // Sparse: a hole, a little data, a hole.
    let sparse = File::create(root.join("sparse")).unwrap();
    sparse.set_len(1 << 20).unwrap();
    std::os::unix::fs::FileExt::write_at(&sparse, b"middle", 500_000).unwrap();
    drop(sparse);
    fs::write(root.join("a/linked"), b"hard linked content\n").unwrap();
    fs::hard_link(root.join("a/linked"), root.join("a/b/also-linked")).unwrap();
    std::os::unix::fs::symlink("../notes.txt", root.join("a/rel-link")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", root.join("abs-link")).unwrap();
    mkfifo(&root.join("pipe"), 0o620);
    fs::set_permissions(root.join("notes.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::set_permissions(root.join("big.bin"), fs::Permissions::from_mode(0o4751)).unwrap();
    fs::set_permissions(root.join("a/b"), fs::Permissions::from_mode(0o750)).unwrap();
    let xattr = set_xattr(&root.join("notes.txt"), "user.lifeboat", b"\x00\xffvalue");
    set_mtime(&root.join("notes.txt"), at(1_600_000_000, 123_456_789));
    set_mtime(&root.join("big.bin"), at(1_500_000_000, 1));
    set_mtime(&root.join("a/b/c/deep.txt"), at(1_400_000_000, 999_999_999));
    set_link_mtime(&root.join("a/rel-link"), 1_300_000_000, 42);
    // Directories last: writing into them would change their mtimes.
    set_mtime(&root.join("a/b/c"), at(1_200_000_000, 7));
    set_mtime(&root.join("a/b"), at(1_200_000_001, 8));
    set_mtime(&root.join("a"), at(1_200_000_002, 9));
    xattr
}

/// What a restore must reproduce of every entry below `root`, by relative path.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    kind: &'static str,
    mode: u32,
    mtime_ns: i128,
    /// BLAKE3 of the content, so that a failure prints a line, not the bytes.
    content: Option<String>,
    target: Option<PathBuf>,
}

fn survey(root: &Path) -> BTreeMap<PathBuf, Seen> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let kind = meta.file_type();
            let (name, content, target) = if kind.is_dir() {
                stack.push(path.clone());
                ("dir", None, None)
            } else if kind.is_symlink() {
                ("symlink", None, Some(fs::read_link(&path).unwrap()))
            } else if kind.is_file() {
                ("file", Some(blake3::hash(&fs::read(&path).unwrap()).to_hex().to_string()), None)
            } else {
                ("other", None, None)
            };
            let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            out.insert(rel, Seen { kind: name, mode: meta.mode() & 0o7777, mtime_ns, content, target });
        }
    }
    out
}

async fn archive_of(store: &MemStore, source: &Path, parent: Option<BlobId>, force: bool) -> Archived {
    let options = ArchiveOptions { parent, force, ..Default::default() };
    archive(store, source, &options).await.unwrap()
}

/// A source tree built by [`build_source`] in a temporary folder, a store, and its archive.
async fn fixture() -> (tempfile::TempDir, PathBuf, MemStore, Archived) {
    let base = tempfile::tempdir().unwrap();
    let source = base.path().join("src");
    build_source(&source);
    let store = MemStore::new();
    let done = archive_of(&store, &source, None, false).await;
    (base, source, store, done)
}

fn spec() -> RestoreSpec {
    RestoreSpec { parallel: 3, ..Default::default() }
}

async fn root_tree(store: &MemStore, id: &BlobId) -> Tree {
    Tree::from_json(&store.get_blob(id).await.unwrap()).unwrap()
}

#[tokio::test]
async fn a_tree_of_every_kind_round_trips_with_modes_mtimes_and_links() {
    let base = tempfile::tempdir().unwrap();
    let source = base.path().join("src");
    let xattr = build_source(&source);
    let store = MemStore::new();
    let done = archive_of(&store, &source, None, false).await;
    assert!(done.warnings.is_empty(), "{:?}", done.warnings);
    assert_eq!(done.stats.files, 10, "{:?}", done.stats);
    assert_eq!(done.stats.hardlinks, 1);
    assert_eq!((done.stats.dirs, done.stats.symlinks, done.stats.specials), (4, 2, 1));
    let linked = 20u64;
    assert_eq!(
        done.stats.bytes_read,
        300_000 + 11 + 9 + 10 + 6 + 15 + (1 << 20) + linked,
        "the hard link is read once"
    );

    // The root tree: sorted by name bytes, the Latin-1 name in name_hex.
    let json = String::from_utf8(store.get_blob(&done.root).await.unwrap().to_vec()).unwrap();
    assert!(json.contains(&format!("\"name_hex\":\"{}\"", hex::encode(b"caf\xe9-latin1"))), "{json}");
    let tree = root_tree(&store, &done.root).await;
    let names: Vec<_> = tree.nodes.iter().map(|n| n.name.clone()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let big = tree.get(b"big.bin").unwrap();
    assert!(big.content.len() > 3, "300 kB in 16 KiB chunks: {}", big.content.len());
    assert_eq!(tree.get(b"pipe").unwrap().kind, NodeType::Fifo);
    assert!(tree.get(b"sparse").unwrap().sparse);
    assert_eq!(tree.get(b"notes.txt").unwrap().mtime_ns, 1_600_000_000_123_456_789);

    let target = base.path().join("restored");
    let restored = Restorer::new(&store).restore(&done.root, &target, &spec()).await.unwrap();
    assert_eq!(restored.path, target);
    assert_eq!((restored.files, restored.hardlinks), (9, 1));
    assert_eq!(survey(&target), survey(&source));
    let first = fs::metadata(target.join("a/linked")).unwrap();
    let second = fs::metadata(target.join("a/b/also-linked")).unwrap();
    assert_eq!(first.ino(), second.ino(), "the hard link is a hard link again");
    assert!(fs::symlink_metadata(target.join("pipe")).unwrap().file_type().is_fifo_like());
    let sparse = fs::metadata(target.join("sparse")).unwrap();
    assert!(sparse.blocks() * 512 < sparse.len() / 2, "holes restored as holes: {} blocks", sparse.blocks());
    if xattr {
        let mut value = [0u8; 16];
        let n = rustix::fs::lgetxattr(target.join("notes.txt"), "user.lifeboat", &mut value[..]).unwrap();
        assert_eq!(&value[..n], b"\x00\xffvalue");
    }
}

/// `is_fifo` through the extension trait, spelled so the assertion above reads plainly.
trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}

impl FifoLike for fs::FileType {
    fn is_fifo_like(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_fifo(self)
    }
}

#[tokio::test]
async fn an_unchanged_tree_with_its_parent_reads_nothing_and_writes_nothing() {
    let (_base, source, store, first) = fixture().await;
    let blobs = store.count();
    let again = archive_of(&store, &source, Some(first.root), false).await;
    assert_eq!(again.root, first.root, "an unchanged directory is the same tree");
    assert_eq!(again.stats.bytes_read, 0, "{:?}", again.stats);
    assert_eq!((again.stats.blobs_new, again.stats.bytes_new), (0, 0));
    assert_eq!(again.stats.reused_files, 9, "every file but the second name of the hard link");
    assert_eq!(store.count(), blobs, "no new blob");

    // Without the parent, everything is read again, yet nothing new is stored.
    let unparented = archive_of(&store, &source, None, false).await;
    assert_eq!(unparented.root, first.root);
    assert_eq!(unparented.stats.bytes_read, first.stats.bytes_read);
    assert_eq!(unparented.stats.blobs_new, 0);

    // --force reads everything even with the parent.
    let forced = archive_of(&store, &source, Some(first.root), true).await;
    assert_eq!(forced.root, first.root);
    assert_eq!(forced.stats.bytes_read, first.stats.bytes_read);
    assert_eq!(forced.stats.reused_files, 0);
    assert_eq!(store.count(), blobs);
}

#[tokio::test]
async fn a_changed_file_costs_its_chunks_and_the_trees_on_its_path_only() {
    let (_base, source, store, first) = fixture().await;
    let before = store.new_blobs();
    let dir_mtime = fs::metadata(source.join("a/b/c")).unwrap().modified().unwrap();
    fs::write(source.join("a/b/c/deep.txt"), b"deep file, changed\n").unwrap();
    set_mtime(&source.join("a/b/c"), dir_mtime);
    let second = archive_of(&store, &source, Some(first.root), false).await;
    assert_ne!(second.root, first.root);
    assert_eq!(second.stats.bytes_read, 19, "only the changed file is read: {:?}", second.stats);
    // One chunk, and the trees of a/b/c, a/b, a and the root.
    assert_eq!(store.new_blobs() - before, 5);
    assert_eq!(second.stats.blobs_new, 5);

    // A parent whose chunk is gone from the store is not trusted: the file is read.
    let third = {
        let tree = root_tree(&store, &second.root).await;
        let big = tree.get(b"big.bin").unwrap().content[0];
        store.blobs.lock().unwrap().remove(&big);
        archive_of(&store, &source, Some(second.root), false).await
    };
    assert_eq!(third.root, second.root);
    assert_eq!(third.stats.bytes_read, 300_000, "{:?}", third.stats);

    let restorer = Restorer::new(&store);
    let changes = restorer.diff(&first.root, &second.root).await.unwrap();
    let expected = vec![PathBuf::from("/a/b/c/deep.txt")];
    assert_eq!(changes.iter().map(|c| c.path.clone()).collect::<Vec<_>>(), expected);
    assert_eq!(changes[0].kind, ChangeKind::Changed);
}

#[tokio::test]
async fn diff_lists_added_removed_and_changed_and_skips_equal_subtrees() {
    let (_base, source, store, first) = fixture().await;
    fs::remove_file(source.join("debug.log")).unwrap();
    fs::write(source.join("a/new.txt"), b"new").unwrap();
    fs::set_permissions(source.join("notes.txt"), fs::Permissions::from_mode(0o600)).unwrap();
    let second = archive_of(&store, &source, Some(first.root), false).await;
    let restorer = Restorer::new(&store);
    let reads = store.reads.load(Ordering::SeqCst);
    let changes = restorer.diff(&first.root, &second.root).await.unwrap();
    let got: Vec<_> = changes.iter().map(|c| (c.path.to_str().unwrap().to_owned(), c.kind)).collect();
    assert_eq!(
        got,
        [
            ("/a/new.txt".to_owned(), ChangeKind::Added),
            ("/debug.log".to_owned(), ChangeKind::Removed),
            ("/notes.txt".to_owned(), ChangeKind::Changed),
        ]
    );
    // Only the two roots and the two trees of `a` were read: a/b is the same id in both.
    assert_eq!(store.reads.load(Ordering::SeqCst) - reads, 4);
    assert!(restorer.diff(&first.root, &first.root).await.unwrap().is_empty());
}

#[tokio::test]
async fn include_exclude_and_sub_path_restores_take_only_what_they_name() {
    let (base, _source, store, done) = fixture().await;
    let restorer = Restorer::new(&store);
    let files_of = |dir: &Path| -> Vec<String> {
        survey(dir).into_iter().filter(|(_, s)| s.kind != "dir").map(|(p, _)| p.display().to_string()).collect()
    };

    let only_b = base.path().join("only-b");
    let include = RestoreSpec { include: vec!["/a/b".into()], ..spec() };
    restorer.restore(&done.root, &only_b, &include).await.unwrap();
    assert_eq!(files_of(&only_b), ["a/b/also-linked", "a/b/c/deep.txt", "a/b/other.log"]);
    assert_eq!(fs::read(only_b.join("a/b/also-linked")).unwrap(), b"hard linked content\n");
    assert!(!only_b.join("a/linked").exists());
    assert_eq!(fs::metadata(only_b.join("a/b")).unwrap().mode() & 0o7777, 0o750);

    let no_logs = base.path().join("no-logs");
    let exclude = RestoreSpec { exclude: vec!["*.log".into(), "/big.bin".into()], ..spec() };
    restorer.restore(&done.root, &no_logs, &exclude).await.unwrap();
    let files = files_of(&no_logs);
    assert!(!files.iter().any(|f| f.ends_with(".log") || f == "big.bin"), "{files:?}");
    assert!(files.contains(&"a/b/c/deep.txt".to_owned()) && files.contains(&"notes.txt".to_owned()), "{files:?}");

    let sub = base.path().join("sub");
    let sub_spec = RestoreSpec { sub_path: Some("a/b".into()), ..spec() };
    restorer.restore(&done.root, &sub, &sub_spec).await.unwrap();
    assert_eq!(files_of(&sub), ["also-linked", "c/deep.txt", "other.log"]);

    let one = base.path().join("one");
    let file_spec = RestoreSpec { sub_path: Some("/a/b/c/deep.txt".into()), ..spec() };
    restorer.restore(&done.root, &one, &file_spec).await.unwrap();
    assert_eq!(fs::read(one.join("deep.txt")).unwrap(), b"deep file\n");

    // The target must be new or empty, and a missing sub-path says so.
    let err = restorer.restore(&done.root, &one, &spec()).await.unwrap_err();
    assert!(matches!(err, TreeError::Target { .. }), "{err}");
    let missing = RestoreSpec { sub_path: Some("nope".into()), ..spec() };
    let err = restorer.restore(&done.root, &base.path().join("x"), &missing).await.unwrap_err();
    assert!(err.to_string().contains("not in the backup"), "{err}");
}

#[tokio::test]
async fn dump_ls_and_find_read_one_path() {
    let (_base, _source, store, done) = fixture().await;
    let restorer = Restorer::new(&store);

    let mut out = Vec::new();
    let n = restorer.dump(&done.root, Path::new("/big.bin"), &mut out).await.unwrap();
    assert_eq!(n, 300_000);
    assert_eq!(out, noise(300_000, 1));
    let err = restorer.dump(&done.root, Path::new("/a"), &mut Vec::new()).await.unwrap_err();
    assert!(err.to_string().contains("is not a file"), "{err}");
    let err = restorer.dump(&done.root, Path::new("/a/../etc/passwd"), &mut Vec::new()).await.unwrap_err();
    assert!(err.to_string().contains(".."), "{err}");

    let listed = restorer.ls(&done.root, Path::new("a/b")).await.unwrap();
    let paths: Vec<_> = listed.iter().map(|l| l.path.display().to_string()).collect();
    assert_eq!(paths, ["/a/b/also-linked", "/a/b/c", "/a/b/other.log"]);
    assert_eq!(listed[1].node.kind, NodeType::Dir);
    assert_eq!(restorer.ls(&done.root, Path::new("/")).await.unwrap().len(), 10);

    let found = restorer.find(&done.root, &["*.log".into()]).await.unwrap();
    let paths: Vec<_> = found.iter().map(|l| l.path.display().to_string()).collect();
    assert_eq!(paths, ["/a/b/other.log", "/debug.log"]);
}

#[tokio::test]
async fn a_file_is_read_to_its_end_not_to_its_stat_size() {
    let hostname = Path::new("/proc/sys/kernel/hostname");
    assert_eq!(fs::metadata(hostname).unwrap().len(), 0, "procfs reports size 0");
    let content = fs::read(hostname).unwrap();
    assert!(!content.is_empty());
    let store = MemStore::new();
    let done = archive_of(&store, hostname, None, false).await;
    let tree = root_tree(&store, &done.root).await;
    assert_eq!(tree.nodes.len(), 1);
    assert_eq!(tree.nodes[0].size, content.len() as u64);
    let mut out = Vec::new();
    Restorer::new(&store).dump(&done.root, Path::new("hostname"), &mut out).await.unwrap();
    assert_eq!(out, content);
    // The parent cannot vouch for it (its stat size is not the size read): read again.
    let again = archive_of(&store, hostname, Some(done.root), false).await;
    assert_eq!(again.stats.bytes_read, content.len() as u64);
}

#[tokio::test]
async fn excluded_entries_are_not_archived() {
    let base = tempfile::tempdir().unwrap();
    let source = base.path().join("src");
    build_source(&source);
    let store = MemStore::new();
    let filter: TreeFilter =
        FilesFilter { exclude: vec!["*.log".into(), "a/b/c".into()], ..Default::default() }.compile().unwrap();
    let done = archive(&store, &source, &ArchiveOptions { filter, ..Default::default() }).await.unwrap();
    assert_eq!(done.stats.excluded, 3, "{:?}", done.stats);
    let found = Restorer::new(&store).find(&done.root, &["*.log".into(), "c".into()]).await.unwrap();
    assert!(found.is_empty(), "{found:?}");
}

#[tokio::test]
async fn a_tagged_directory_keeps_its_tag_only() {
    let base = tempfile::tempdir().unwrap();
    let source = base.path().join("src");
    fs::create_dir_all(source.join("cache/sub")).unwrap();
    fs::write(source.join("cache/CACHEDIR.TAG"), b"Signature: 8a477f597d28d172789f06886806bc55\n").unwrap();
    fs::write(source.join("cache/blob"), b"cached").unwrap();
    fs::write(source.join("kept"), b"kept").unwrap();
    let store = MemStore::new();
    let filter = FilesFilter { exclude_caches: true, ..Default::default() }.compile().unwrap();
    let done = archive(&store, &source, &ArchiveOptions { filter, ..Default::default() }).await.unwrap();
    assert_eq!(done.stats.excluded, 2, "{:?}", done.stats);
    let listed = Restorer::new(&store).ls(&done.root, Path::new("/cache")).await.unwrap();
    let names: Vec<_> = listed.iter().map(|l| l.path.display().to_string()).collect();
    assert_eq!(names, ["/cache/CACHEDIR.TAG"]);
}

/// Unmounts what it names when dropped, so that a failing test leaves no mount behind.
struct Mounted(std::ffi::CString);

impl Drop for Mounted {
    fn drop(&mut self) {
        // SAFETY: a NUL-terminated path, live for the call.
        unsafe { libc::umount2(self.0.as_ptr(), libc::MNT_DETACH) };
    }
}

#[tokio::test]
async fn one_file_system_records_a_mount_point_empty() {
    let base = tempfile::tempdir().unwrap();
    let source = base.path().join("src");
    fs::create_dir_all(source.join("mnt")).unwrap();
    fs::write(source.join("here"), b"here").unwrap();
    let target = std::ffi::CString::new(source.join("mnt").as_os_str().as_bytes()).unwrap();
    let fstype = c"tmpfs";
    // SAFETY: NUL-terminated strings, live for the call; no data argument.
    let rc = unsafe { libc::mount(fstype.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    assert_eq!(rc, 0, "mounting a tmpfs needs root: {}", std::io::Error::last_os_error());
    let _mounted = Mounted(target);
    fs::write(source.join("mnt/elsewhere"), b"on another file system").unwrap();
    let store = MemStore::new();
    let filter = FilesFilter { one_file_system: true, ..Default::default() }.compile().unwrap();
    let done = archive(&store, &source, &ArchiveOptions { filter, ..Default::default() }).await.unwrap();
    assert_eq!(done.stats.mountpoints, 1, "{:?}", done.stats);
    let restorer = Restorer::new(&store);
    assert!(restorer.ls(&done.root, Path::new("/mnt")).await.unwrap().is_empty());
    assert_eq!(restorer.ls(&done.root, Path::new("/")).await.unwrap().len(), 2);
    let whole = archive_of(&store, &source, None, false).await;
    assert_eq!(restorer.ls(&whole.root, Path::new("/mnt")).await.unwrap().len(), 1, "without it, the mount is read");
}

#[tokio::test]
async fn a_file_written_to_while_read_is_reported_and_read_again_next_time() {
    let base = tempfile::tempdir().unwrap();
    let source = base.path().join("src");
    fs::create_dir(&source).unwrap();
    let path = source.join("growing");
    fs::write(&path, noise(1 << 20, 3)).unwrap();
    let store = MemStore::new();
    let appended = path.clone();
    // While its first chunk is stored, the file's reader has not reached its end.
    *store.on_data.lock().unwrap() = Some(Box::new(move || {
        let mut file = File::options().append(true).open(&appended).unwrap();
        file.write_all(b"appended while being read").unwrap();
    }));
    let first = archive_of(&store, &source, None, false).await;
    assert!(
        first.warnings.iter().any(|w| w.contains("growing") && w.contains("changed while being read")),
        "{:?}",
        first.warnings
    );
    let again = archive_of(&store, &source, Some(first.root), false).await;
    assert_eq!(again.stats.reused_files, 0, "what the parent recorded is not what is there now");
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
    let mut out = Vec::new();
    Restorer::new(&store).dump(&again.root, Path::new("growing"), &mut out).await.unwrap();
    assert_eq!(out, fs::read(&path).unwrap());
}

// --- Parallel archiving (issue 14): the trees of a walk that reads one file at a time ---

/// Archives with `tuning` into a fresh store (same keys, so the same ids).
async fn tuned_archive(source: &Path, tuning: Tuning) -> (MemStore, Archived) {
    let store = MemStore::new();
    let done = archive_tuned(&store, source, &ArchiveOptions::default(), tuning).await.unwrap();
    (store, done)
}

/// Reads in flight that overlap a lot: tiny batches, a budget smaller than one large read.
fn tight() -> Tuning {
    Tuning { reads: 2, puts: 3, bytes_in_flight: 48 << 10, batch_files: 3, batch_bytes: 20 << 10 }
}

/// The chunk ids of `data` as the store's chunker cuts it, computed here and not by the
/// archiver.
fn expected_content(store: &MemStore, data: &[u8]) -> Vec<BlobId> {
    let mut at = 0;
    store
        .chunker
        .split(data)
        .map(|len| {
            let id = store.blob_id(&data[at..at + len]);
            at += len;
            id
        })
        .collect()
}

/// Checks every file node below tree `id` against the file on disk (name order, size,
/// content cut and hashed independently); returns how many files it saw.
fn check_against_disk<'a>(store: &'a MemStore, id: BlobId, dir: PathBuf) -> futures::future::BoxFuture<'a, usize> {
    Box::pin(async move {
        let tree = root_tree(store, &id).await;
        let mut names: Vec<Vec<u8>> =
            fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().as_bytes().to_vec()).collect();
        names.sort();
        let listed: Vec<Vec<u8>> = tree.nodes.iter().map(|n| n.name.clone()).collect();
        assert_eq!(listed, names, "{} is listed in name order, whole", dir.display());
        let mut files = 0;
        for node in &tree.nodes {
            let path = dir.join(node.name_os());
            match node.kind {
                NodeType::Dir => files += check_against_disk(store, node.subtree.unwrap(), path).await,
                NodeType::File => {
                    let data = fs::read(&path).unwrap();
                    assert_eq!(node.size, data.len() as u64, "{}", path.display());
                    if node.hardlink.is_none() {
                        assert_eq!(node.content, expected_content(store, &data), "{}", path.display());
                    }
                    files += 1;
                }
                _ => {}
            }
        }
        files
    })
}

/// 24 directories of 30 small files (some equal to others), a few streamed large files,
/// empty files and a nested directory.
fn build_many(root: &Path) -> usize {
    let mut files = 0;
    for dir in 0..24u64 {
        let sub = root.join(format!("d{dir:02}"));
        fs::create_dir_all(sub.join("nested")).unwrap();
        for file in 0..30u64 {
            // Every seventh file repeats another's content: the same chunk from two reads in flight.
            let seed = if file % 7 == 0 { 7 } else { dir * 100 + file + 1 };
            let len = ((seed * 997) % 9000) as usize;
            fs::write(sub.join(format!("f{file:02}")), noise(len, seed)).unwrap();
            files += 1;
        }
        fs::write(sub.join("empty"), b"").unwrap();
        fs::write(sub.join("nested/n"), noise(5000, 50_000 + dir)).unwrap();
        files += 2;
        if dir % 6 == 0 {
            // Above one maximum chunk (64 KiB here): streamed, not read whole.
            fs::write(sub.join("large"), noise(300_000 + dir as usize, 90_000 + dir)).unwrap();
            files += 1;
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parallel_archive_of_many_files_has_the_trees_of_a_sequential_one() {
    let base = tempfile::tempdir().unwrap();
    let source = base.path().join("src");
    let files = build_many(&source);
    let (store, sequential) = tuned_archive(&source, Tuning::sequential()).await;
    assert_eq!(check_against_disk(&store, sequential.root, source.clone()).await, files);
    assert_eq!(sequential.stats.files, files as u64);
    assert_eq!(sequential.stats.blobs_new, store.new_blobs(), "each new blob counted once");
    for tuning in [Tuning::default(), tight()] {
        let (other, parallel) = tuned_archive(&source, tuning).await;
        assert_eq!(parallel.root, sequential.root, "{tuning:?}");
        assert_eq!(parallel.stats, sequential.stats, "{tuning:?}");
        assert_eq!(other.count(), store.count(), "{tuning:?}");
        assert!(parallel.warnings.is_empty(), "{:?}", parallel.warnings);
    }
    // And with the parent: nothing read, the same root.
    let again = archive_of(&store, &source, Some(sequential.root), false).await;
    assert_eq!((again.root, again.stats.bytes_read, again.stats.reused_files), (sequential.root, 0, files as u64));
}

/// The node at `path` (`/`-separated, from the root) of the tree `root`.
async fn node_at(store: &MemStore, root: BlobId, path: &str) -> Node {
    let mut tree = root_tree(store, &root).await;
    let mut parts = path.trim_start_matches('/').split('/').peekable();
    loop {
        let name = parts.next().unwrap();
        let node = tree.get(name.as_bytes()).unwrap().clone();
        if parts.peek().is_none() {
            return node;
        }
        tree = root_tree(store, &node.subtree.unwrap()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_links_across_directories_name_the_first_name_in_walk_order() {
    let base = tempfile::tempdir().unwrap();
    let source = base.path().join("src");
    // Walk order: a/0-pad..., a/big, a/small, b/x/big-2, c/small-2, c/small-3.
    fs::create_dir_all(source.join("a")).unwrap();
    fs::create_dir_all(source.join("b/x")).unwrap();
    fs::create_dir_all(source.join("c")).unwrap();
    // Files before the first names, so that their reads are still in flight when the
    // later names are reached.
    for i in 0..40 {
        fs::write(source.join(format!("a/0-pad{i:02}")), noise(20_000, 300 + i)).unwrap();
    }
    fs::write(source.join("a/big"), noise(400_000, 11)).unwrap();
    fs::write(source.join("a/small"), noise(3000, 12)).unwrap();
    fs::hard_link(source.join("a/big"), source.join("b/x/big-2")).unwrap();
    fs::hard_link(source.join("a/small"), source.join("c/small-2")).unwrap();
    fs::hard_link(source.join("a/small"), source.join("c/small-3")).unwrap();
    let (store, sequential) = tuned_archive(&source, Tuning::sequential()).await;
    for tuning in [Tuning::default(), tight(), Tuning::default()] {
        let (_, parallel) = tuned_archive(&source, tuning).await;
        assert_eq!(parallel.root, sequential.root, "{tuning:?}");
        assert_eq!(parallel.stats, sequential.stats, "{tuning:?}");
    }
    assert_eq!((sequential.stats.files, sequential.stats.hardlinks), (45, 3));
    let node = |path: &'static str| node_at(&store, sequential.root, path);
    let (big, big2) = (node("/a/big").await, node("/b/x/big-2").await);
    assert_eq!(big.hardlink, None);
    assert_eq!(big.content, expected_content(&store, &fs::read(source.join("a/big")).unwrap()));
    assert_eq!((big2.hardlink.as_deref(), &big2.content), (Some(&b"/a/big"[..]), &big.content));
    let small = node("/a/small").await;
    for later in ["/c/small-2", "/c/small-3"] {
        let later = node(later).await;
        assert_eq!((later.hardlink.as_deref(), &later.content), (Some(&b"/a/small"[..]), &small.content));
    }
    let target = base.path().join("restored");
    Restorer::new(&store).restore(&sequential.root, &target, &spec()).await.unwrap();
    assert_eq!(
        fs::metadata(target.join("a/big")).unwrap().ino(),
        fs::metadata(target.join("b/x/big-2")).unwrap().ino()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_written_to_during_a_parallel_archive_is_reported_alone() {
    let base = tempfile::tempdir().unwrap();
    let source = base.path().join("src");
    let files = build_many(&source);
    let path = source.join("d10/growing");
    let data = noise(1 << 20, 4242);
    fs::write(&path, &data).unwrap();
    let store = MemStore::new();
    let appended = path.clone();
    // While its first chunk is stored, its streamed read has not reached its end.
    *store.on_data_starting.lock().unwrap() = Some((
        data[..64].to_vec(),
        Box::new(move || {
            let mut file = File::options().append(true).open(&appended).unwrap();
            file.write_all(b"appended while being read").unwrap();
        }),
    ));
    let first = archive_tuned(&store, &source, &ArchiveOptions::default(), Tuning::default()).await.unwrap();
    assert_eq!(first.warnings.len(), 1, "{:?}", first.warnings);
    assert!(first.warnings[0].contains("growing") && first.warnings[0].contains("changed while being read"));
    assert_eq!(first.stats.files, files as u64 + 1);
    let again = archive_of(&store, &source, Some(first.root), false).await;
    assert_eq!(again.stats.reused_files, files as u64, "all but the file that changed");
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
    let mut out = Vec::new();
    Restorer::new(&store).dump(&again.root, Path::new("d10/growing"), &mut out).await.unwrap();
    assert_eq!(out, fs::read(&path).unwrap());
    // The second archive read the file once, as a sequential one would have stored it.
    let (_, sequential) = tuned_archive(&source, Tuning::sequential()).await;
    let (_, parallel) = tuned_archive(&source, Tuning::default()).await;
    assert_eq!(parallel.root, sequential.root);
}

/// A node as JSON, with the fields every node needs.
fn node_json(name_field: &str, extra: &str) -> String {
    format!(
        r#"{{{name_field},"type":"file","mode":420,"uid":0,"gid":0,"mtime_ns":0,"ctime_ns":0,"inode":1,"device":1,"links":1,"size":2{extra}}}"#
    )
}

#[tokio::test]
async fn forged_trees_with_traversal_names_are_refused() {
    let base = tempfile::tempdir().unwrap();
    let outside = base.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let store = MemStore::new();
    let restorer = Restorer::new(&store);
    let bad_names = [
        r#""name":"..""#.to_owned(),
        r#""name":".""#.to_owned(),
        r#""name":"../outside/evil""#.to_owned(),
        r#""name":"a/b""#.to_owned(),
        r#""name":"""#.to_owned(),
        format!(r#""name_hex":"{}""#, hex::encode(b"../outside/evil")),
        format!(r#""name_hex":"{}""#, hex::encode(b"nul\0byte")),
        r#""name":"x","name_hex":"78""#.to_owned(),
    ];
    for (n, name) in bad_names.iter().enumerate() {
        let root = store.forge(&format!(r#"{{"nodes":[{}]}}"#, node_json(name, "")));
        let target = base.path().join(format!("t{n}"));
        let err = restorer.restore(&root, &target, &spec()).await.unwrap_err();
        assert!(matches!(err, TreeError::Corrupt { .. }), "case {n}: {err}");
        assert!(!target.exists(), "case {n} created the target");
    }
    // Repeated names are refused too.
    let dup =
        store.forge(&format!(r#"{{"nodes":[{},{}]}}"#, node_json(r#""name":"s""#, ""), node_json(r#""name":"s""#, "")));
    let err = restorer.restore(&dup, &base.path().join("dup"), &spec()).await.unwrap_err();
    assert!(err.to_string().contains("out of order or repeated"), "{err}");
    // A hard link naming a path outside the backup gets its own content, never a link.
    let chunk = store.put_blob(BlobKind::Data, Bytes::from_static(b"hi")).await.unwrap();
    let link = store.forge(&format!(
        r#"{{"nodes":[{}]}}"#,
        node_json(r#""name":"passwd""#, &format!(r#","content":["{chunk}"],"hardlink":"/../../etc/passwd""#))
    ));
    let target = base.path().join("link");
    let restored = restorer.restore(&link, &target, &spec()).await.unwrap();
    assert!(restored.warnings.is_empty(), "{:?}", restored.warnings);
    let restored = fs::metadata(target.join("passwd")).unwrap();
    assert_eq!(restored.nlink(), 1);
    assert_eq!(fs::read(target.join("passwd")).unwrap(), b"hi");
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0, "nothing was written outside the target");
    // A node whose size disagrees with its content restores the content, with a warning.
    let short = store.forge(&format!(
        r#"{{"nodes":[{}]}}"#,
        node_json(r#""name":"f""#, &format!(r#","content":["{chunk}","{chunk}"]"#))
    ));
    let restored = restorer.restore(&short, &base.path().join("short"), &spec()).await.unwrap();
    assert_eq!(fs::read(base.path().join("short/f")).unwrap(), b"hihi");
    assert!(
        restored.warnings.iter().any(|w| w.contains("restored 4 bytes where the backup records 2")),
        "{restored:?}"
    );
}

#[test]
fn nodes_serialize_with_their_spec_fields_and_round_trip() {
    let mut node = Node::new(b"caf\xe9".to_vec(), NodeType::Symlink);
    node.target = Some(b"t\xff".to_vec());
    node.mtime_ns = -1_500;
    let tree = Tree { nodes: vec![node.clone(), Node::new(b"a".to_vec(), NodeType::Fifo)] };
    let json = tree.to_json();
    let text = String::from_utf8(json.clone()).unwrap();
    assert!(text.starts_with(r#"{"nodes":[{"name":"a","type":"fifo""#), "sorted by name bytes: {text}");
    assert!(text.contains(r#""name_hex":"636166e9""#) && text.contains(r#""target_hex":"74ff""#), "{text}");
    let back = Tree::from_json(&json).unwrap();
    assert_eq!(back.get(b"caf\xe9"), Some(&node));
    assert!(Tree::from_json(br#"{"nodes":[],"extra":1}"#).is_err(), "unknown fields are refused");
    let dir_without_tree =
        format!(r#"{{"nodes":[{}]}}"#, node_json(r#""name":"d""#, "").replace("\"file\"", "\"dir\""));
    assert!(Tree::from_json(dir_without_tree.as_bytes()).unwrap_err().contains("lacks"));
}

/// Timings of the archiver and restorer on ~57 MB (400 files of 64 KiB, 4 of 8 MiB):
/// `cargo test -p lifeboat-repo --test it v3_trees::measure -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn measure_archive_and_restore() {
    let base = tempfile::tempdir().unwrap();
    let source = base.path().join("src");
    for dir in 0..20 {
        fs::create_dir_all(source.join(format!("d{dir}"))).unwrap();
        for file in 0..20 {
            fs::write(source.join(format!("d{dir}/f{file}")), noise(64 << 10, (dir * 100 + file + 1) as u64)).unwrap();
        }
    }
    for big in 0..4 {
        fs::write(source.join(format!("big{big}")), noise(8 << 20, 7_000 + big)).unwrap();
    }
    let store = MemStore::new();
    let timed = std::time::Instant::now();
    let first = archive_of(&store, &source, None, false).await;
    let first_time = timed.elapsed();
    let timed = std::time::Instant::now();
    let second = archive_of(&store, &source, Some(first.root), false).await;
    let second_time = timed.elapsed();
    assert_eq!(second.stats.bytes_read, 0);
    let mb = first.stats.bytes_read as f64 / 1e6;
    println!("archive, first: {mb:.1} MB in {first_time:.2?} ({:.0} MB/s)", mb / first_time.as_secs_f64());
    println!("archive, unchanged with parent: {second_time:.2?} ({} files reused)", second.stats.reused_files);
    for parallel in [1, 4] {
        let target = base.path().join(format!("restore-{parallel}"));
        let timed = std::time::Instant::now();
        let spec = RestoreSpec { parallel, ..spec() };
        Restorer::new(&store).restore(&first.root, &target, &spec).await.unwrap();
        let took = timed.elapsed();
        println!("restore, {parallel} in flight: {took:.2?} ({:.0} MB/s)", mb / took.as_secs_f64());
    }
}

// --- Restores by pack runs over a real chunk store ----------------------------------------

/// A memory storage counting the reads of pack objects (range reads included).
#[derive(Debug, Default)]
struct RunsCountingStorage {
    inner: lifeboat_storage::MemoryStorage,
    pack_reads: AtomicU64,
}

#[async_trait::async_trait]
impl lifeboat_storage::layer::StorageLayer for RunsCountingStorage {
    type Inner = lifeboat_storage::MemoryStorage;

    fn inner(&self) -> &Self::Inner {
        &self.inner
    }

    async fn get(
        &self,
        key: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<lifeboat_storage::ByteStream, lifeboat_storage::StorageError> {
        if key.starts_with("packs/") {
            self.pack_reads.fetch_add(1, Ordering::SeqCst);
        }
        lifeboat_storage::Storage::get(&self.inner, key, range).await
    }
}

/// A chunk store with small chunks (16 KiB on average) and small packs (`pack_target`),
/// over a counting memory storage.
async fn runs_store(pack_target: usize) -> (std::sync::Arc<RunsCountingStorage>, lifeboat_repo::v3::ChunkStore) {
    use lifeboat_repo::v3::{ChunkStore, StoreOptions};
    let counting = std::sync::Arc::new(RunsCountingStorage::default());
    let storage: std::sync::Arc<dyn lifeboat_storage::Storage> = counting.clone();
    let keys = std::sync::Arc::new(DomainKeys::derive(&SecretKey::from_bytes([9u8; 32])));
    let options = StoreOptions {
        pack_target,
        chunker: ChunkerParams { min: 4 << 10, avg: 16 << 10, max: 64 << 10 },
        ..StoreOptions::default()
    };
    (counting, ChunkStore::open(storage, keys, options).await.unwrap())
}

/// Archives `source` into `store` and makes it durable.
async fn runs_archive(store: &lifeboat_repo::v3::ChunkStore, source: &Path) -> BlobId {
    let done = archive(store, source, &ArchiveOptions::default()).await.unwrap();
    store.flush().await.unwrap();
    done.root
}

fn runs_spec(parallel: usize) -> RestoreSpec {
    RestoreSpec { parallel, ..Default::default() }
}

/// Every regular file below `root` by relative path, with its bytes.
fn runs_contents(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(root).unwrap().to_path_buf(), fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_files_across_several_packs_restore_byte_for_byte_with_few_reads() {
    let base = tempfile::tempdir().unwrap();
    let source = base.path().join("src");
    for dir in 0..6 {
        fs::create_dir_all(source.join(format!("d{dir}/sub"))).unwrap();
        for file in 0..40u64 {
            let seed = dir * 1000 + file + 1;
            let len = (seed as usize * 7919) % 30_000;
            fs::write(source.join(format!("d{dir}/f{file}")), noise(len, seed)).unwrap();
        }
        fs::write(source.join(format!("d{dir}/sub/mid")), noise(200_000, dir + 77)).unwrap();
        fs::write(source.join(format!("d{dir}/sub/empty")), b"").unwrap();
    }
    // The same content twice: one blob, two places.
    fs::write(source.join("twin-a"), noise(50_000, 4242)).unwrap();
    fs::write(source.join("twin-b"), noise(50_000, 4242)).unwrap();
    set_mtime(&source.join("d3/f7"), at(1_500_000_000, 5));
    let (counting, store) = runs_store(256 << 10).await;
    let root = runs_archive(&store, &source).await;
    let packs = lifeboat_storage::StorageExt::list_all(counting.as_ref(), "packs/").await.unwrap().len();
    assert!(packs >= 4, "the test needs several packs, got {packs}");
    let before = counting.pack_reads.load(Ordering::SeqCst);
    let target = base.path().join("restored");
    let restored = Restorer::new(&store).restore(&root, &target, &runs_spec(3)).await.unwrap();
    let reads = counting.pack_reads.load(Ordering::SeqCst) - before;
    let files = runs_contents(&source);
    assert_eq!(restored.files, files.len() as u64);
    assert_eq!(runs_contents(&target), files, "every file byte for byte");
    assert_eq!(survey(&target), survey(&source), "modes, mtimes and kinds too");
    // 14 trees and a few reads per pack; one read per chunk would be far more than 300.
    let chunks: u64 = files.values().map(|data| data.len() as u64 / (16 << 10) + 1).sum();
    assert!(reads < 14 + 3 * packs as u64, "{reads} pack reads for {packs} packs and about {chunks} chunks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_files_of_one_pack_cost_far_fewer_reads_than_files() {
    let base = tempfile::tempdir().unwrap();
    let source = base.path().join("src");
    fs::create_dir(&source).unwrap();
    for file in 0..200u64 {
        fs::write(source.join(format!("f{file:03}")), noise(1_000 + file as usize * 10, file + 1)).unwrap();
    }
    let (counting, store) = runs_store(32 << 20).await;
    let root = runs_archive(&store, &source).await;
    let before = counting.pack_reads.load(Ordering::SeqCst);
    let target = base.path().join("restored");
    Restorer::new(&store).restore(&root, &target, &runs_spec(8)).await.unwrap();
    let reads = counting.pack_reads.load(Ordering::SeqCst) - before;
    assert_eq!(runs_contents(&target), runs_contents(&source));
    // One read for the root tree, one for the contents of 200 files.
    assert!(reads <= 2, "{reads} pack reads for 200 files of one pack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_multi_chunk_file_is_restored_exactly_in_parallel_ranges() {
    let base = tempfile::tempdir().unwrap();
    let source = base.path().join("src");
    fs::create_dir(&source).unwrap();
    let mut data = noise(6 << 20, 99);
    // Compressible stretches, so blobs differ in sealed and plain length.
    data[1 << 20..(1 << 20) + 300_000].fill(b'x');
    fs::write(source.join("large"), &data).unwrap();
    let (counting, store) = runs_store(256 << 10).await;
    let root = runs_archive(&store, &source).await;
    let packs = lifeboat_storage::StorageExt::list_all(counting.as_ref(), "packs/").await.unwrap().len();
    assert!(packs >= 8, "the file must span many packs (runs), got {packs}");
    let before = counting.pack_reads.load(Ordering::SeqCst);
    let target = base.path().join("restored");
    let restored = Restorer::new(&store).restore(&root, &target, &runs_spec(6)).await.unwrap();
    let reads = counting.pack_reads.load(Ordering::SeqCst) - before;
    assert_eq!(restored.bytes, data.len() as u64);
    let back = fs::read(target.join("large")).unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "the restored file differs from its source");
    assert!(reads <= 1 + packs as u64, "{reads} reads for {packs} packs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sparse_file_restored_by_runs_stays_sparse() {
    let base = tempfile::tempdir().unwrap();
    let source = base.path().join("src");
    fs::create_dir(&source).unwrap();
    let path = source.join("sparse");
    let file = File::create(&path).unwrap();
    file.set_len(8 << 20).unwrap();
    std::os::unix::fs::FileExt::write_at(&file, &noise(100_000, 5), 3 << 20).unwrap();
    drop(file);
    let meta = fs::metadata(&path).unwrap();
    if meta.blocks() * 512 >= meta.len() {
        eprintln!("the temporary folder's file system keeps no holes; nothing to check");
        return;
    }
    let (_counting, store) = runs_store(256 << 10).await;
    let root = runs_archive(&store, &source).await;
    let target = base.path().join("restored");
    Restorer::new(&store).restore(&root, &target, &runs_spec(4)).await.unwrap();
    let restored = target.join("sparse");
    assert!(fs::read(&restored).unwrap() == fs::read(&path).unwrap(), "content differs");
    let back = fs::metadata(&restored).unwrap();
    assert_eq!(back.len(), 8 << 20);
    assert!(back.blocks() * 512 < 1 << 20, "{} bytes allocated for 100 kB of data", back.blocks() * 512);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_blob_in_a_coalesced_read_names_its_file_and_leaves_no_target() {
    let base = tempfile::tempdir().unwrap();
    let source = base.path().join("src");
    fs::create_dir(&source).unwrap();
    for file in 0..50u64 {
        fs::write(source.join(format!("f{file:02}")), noise(3_000, file + 1)).unwrap();
    }
    let (counting, store) = runs_store(32 << 20).await;
    let root = runs_archive(&store, &source).await;
    let victim = store.blob_id(&noise(3_000, 26));
    let location = store.blob_location(&victim).expect("the victim's chunk is indexed");
    let key = location.pack.key();
    let mut bytes = lifeboat_storage::StorageExt::get_bytes(counting.as_ref(), &key).await.unwrap().to_vec();
    bytes[location.entry.offset as usize + 20] ^= 0x40;
    lifeboat_storage::StorageExt::put_bytes(counting.as_ref(), &key, Bytes::from(bytes)).await.unwrap();
    let target = base.path().join("restored");
    let error = Restorer::new(&store).restore(&root, &target, &runs_spec(4)).await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("/f25"), "names the file: {message}");
    assert!(message.contains(&victim.to_hex()), "names the blob: {message}");
    assert!(matches!(&error, TreeError::Store { .. }), "{message}");
    assert!(!target.exists(), "a failed restore left its target");
    let left: Vec<_> = fs::read_dir(base.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![OsStr::new("src").to_owned()], "staging folders left behind");
}

#[tokio::test]
async fn an_unchanged_directory_keeps_its_parent_tree_id_without_encoding_it_again() {
    let (_base, source, store, first) = fixture().await;
    // The same nodes in other bytes (indented): only a reused id can name this blob.
    let pretty = serde_json::to_string_pretty(&root_tree(&store, &first.root).await).unwrap();
    let forged = store.forge(&pretty);
    assert_ne!(forged, first.root);
    let again = archive_of(&store, &source, Some(forged), false).await;
    assert_eq!(again.root, forged, "the parent's tree is reused as it is");
    assert_eq!((again.stats.blobs_new, again.stats.bytes_read), (0, 0), "{:?}", again.stats);

    // One deep file changed: its directory and every one above it get new trees.
    let dir_mtime = fs::metadata(source.join("a/b/c")).unwrap().modified().unwrap();
    fs::write(source.join("a/b/c/deep.txt"), b"deep file, longer now\n").unwrap();
    set_mtime(&source.join("a/b/c"), dir_mtime);
    let changed = archive_of(&store, &source, Some(forged), false).await;
    assert_ne!(changed.root, forged);
    assert_ne!(changed.root, first.root);
    assert_eq!(node_at(&store, changed.root, "/a/b/c/deep.txt").await.size, 22);
    // Siblings off the changed path keep the parent's subtrees.
    let before = node_at(&store, first.root, "/empty-dir").await.subtree;
    assert_eq!(node_at(&store, changed.root, "/empty-dir").await.subtree, before);
}

#[tokio::test]
async fn a_changed_mode_mtime_xattr_or_entry_deep_down_still_changes_the_root() {
    let (_base, source, store, first) = fixture().await;
    let deep = source.join("a/b/c/deep.txt");
    let keep_dir_mtimes = |source: &Path| {
        set_mtime(&source.join("a/b/c"), at(1_200_000_000, 7));
        set_mtime(&source.join("a/b"), at(1_200_000_001, 8));
    };
    let mut parent = first.root;

    fs::set_permissions(&deep, fs::Permissions::from_mode(0o600)).unwrap();
    parent = changed_root(&store, &source, parent, "mode", "/a/b/c/deep.txt", &|n| n.mode == 0o600).await;

    set_mtime(&deep, at(1_400_000_123, 5));
    let mtime = |n: &Node| n.mtime_ns == 1_400_000_123_000_000_005;
    parent = changed_root(&store, &source, parent, "mtime", "/a/b/c/deep.txt", &mtime).await;

    if set_xattr(&deep, "user.lifeboat-test", b"v") {
        let xattr = |n: &Node| n.xattrs.iter().any(|x| x.name == "user.lifeboat-test");
        parent = changed_root(&store, &source, parent, "xattr", "/a/b/c/deep.txt", &xattr).await;
    }

    fs::remove_file(source.join("a/b/other.log")).unwrap();
    keep_dir_mtimes(&source);
    parent = changed_root(&store, &source, parent, "removed entry", "/a/b", &|n| n.subtree.is_some()).await;
    let b = root_tree(&store, &node_at(&store, parent, "/a/b").await.subtree.unwrap()).await;
    assert!(b.get(b"other.log").is_none(), "{b:?}");

    fs::write(source.join("a/b/c/new.txt"), b"").unwrap();
    keep_dir_mtimes(&source);
    changed_root(&store, &source, parent, "added entry", "/a/b/c/new.txt", &|n| n.size == 0).await;
}

/// Archives `source` with `parent`, checks that the root changed and that the node at
/// `path` passes `check`, and that a second archive (nothing changed) keeps the root.
async fn changed_root(
    store: &MemStore,
    source: &Path,
    parent: BlobId,
    what: &str,
    path: &str,
    check: &dyn Fn(&Node) -> bool,
) -> BlobId {
    let done = archive_of(store, source, Some(parent), false).await;
    assert_ne!(done.root, parent, "{what}: the root must change");
    let node = node_at(store, done.root, path).await;
    assert!(check(&node), "{what}: {node:?}");
    let again = archive_of(store, source, Some(done.root), false).await;
    assert_eq!(again.root, done.root, "{what}: unchanged since, the same root");
    assert_eq!(again.stats.blobs_new, 0, "{what}: {:?}", again.stats);
    done.root
}

#[tokio::test]
async fn a_file_changed_in_the_second_its_parent_backup_started_is_read_again() {
    let (_base, source, store, first) = fixture().await;
    // A parent that names other content for notes.txt under its current stamps: as if it
    // changed after the parent read it, in a second that did not move its stamps.
    let mut root = root_tree(&store, &first.root).await;
    let other = root.get(b"debug.log").unwrap().content.clone();
    let notes = root.nodes.iter_mut().find(|n| n.name == b"notes.txt").unwrap();
    notes.content = other.clone();
    let stamp = notes.mtime_ns.max(notes.ctime_ns);
    let forged = store.forge(std::str::from_utf8(&root.to_json()).unwrap());
    let second = |ns: i64| ns.div_euclid(1_000_000_000) * 1_000_000_000;
    let run = async |started: Option<i64>| {
        let options = ArchiveOptions { parent: Some(forged), parent_started_ns: started, ..Default::default() };
        let done = archive(&store, &source, &options).await.unwrap();
        node_at(&store, done.root, "/notes.txt").await.content
    };
    let truth = expected_content(&store, b"some notes\n");
    assert_eq!(run(None).await, other, "without the start time the stamps are trusted");
    assert_eq!(run(Some(stamp)).await, truth, "changed at the start: read again");
    assert_eq!(run(Some(second(stamp))).await, truth, "changed in the start's second: read again");
    assert_eq!(run(Some(second(stamp) + 999_999_999)).await, truth, "the end of that second");
    let later = second(stamp) + 1_000_000_000;
    assert_eq!(run(Some(later)).await, other, "changed in an earlier second than the start: trusted");
}

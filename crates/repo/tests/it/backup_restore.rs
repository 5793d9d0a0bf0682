//! Backing up and restoring: streams and trees, owners, modes, times, failed sources, the injected clock.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_open_and_wrong_password() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    Repository::init(storage.clone(), pw("right"), cheap()).await.unwrap();
    let again = Repository::init(storage.clone(), pw("right"), cheap()).await.unwrap_err();
    assert!(matches!(again, RepoError::AlreadyInitialized { .. }), "{again}");
    let wrong = Repository::open(storage.clone(), pw("wrong")).await.unwrap_err();
    assert!(matches!(wrong, RepoError::WrongCredential { .. }), "{wrong}");
    assert!(wrong.to_string().contains("wrong password"));
    Repository::open(storage.clone(), pw("right")).await.unwrap();

    let empty: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let missing = Repository::open(empty, pw("right")).await.unwrap_err();
    assert!(matches!(missing, RepoError::NotFound { .. }), "{missing}");

    storage.put_bytes("config", Bytes::from_static(b"{\"format\": \"lifeboat-repository\"")).await.unwrap();
    let corrupt = Repository::open(storage, pw("right")).await.unwrap_err();
    assert!(matches!(corrupt, RepoError::CorruptConfig { .. }), "{corrupt}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_are_listed_resolved_and_restored() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage, pw("pw"), cheap()).await.unwrap();
    let a = repo.backup_stream(&b"first"[..], request("a")).await.unwrap();
    let b = repo.backup_stream(&b"second"[..], request("b")).await.unwrap();
    let (all, bad) = repo.list().await.unwrap();
    assert!(bad.is_empty());
    assert_eq!(all.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), [a.id.as_str(), b.id.as_str()]);
    assert_eq!(restore(&repo, "latest").await, b"second");
    assert_eq!(restore(&repo, &a.id[..10]).await, b"first");
    assert!(matches!(repo.resolve("ffffffffff", None).await, Err(RepoError::NoSuchBackup(_))));
    assert!(matches!(repo.resolve("zz", None).await, Err(RepoError::NoSuchBackup(_))));
    assert_eq!(a.objects[0].plain_size, 5);
    assert_eq!(a.kind, "stream");
    assert!(repo.verify(&all, true).await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_source_leaves_no_backup_and_no_lock() {
    struct Failing(usize);
    impl tokio::io::AsyncRead for Failing {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            if self.0 == 0 {
                return std::task::Poll::Ready(Err(std::io::Error::other("the database went away")));
            }
            self.0 -= 1;
            buf.put_slice(&[1; 4096]);
            std::task::Poll::Ready(Ok(()))
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.path()));
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let err = repo.backup_stream(Failing(600), request("dump")).await.unwrap_err();
    assert!(err.to_string().contains("the database went away"), "{err}");
    assert!(repo.list().await.unwrap().0.is_empty());
    assert!(storage.list_all("data/").await.unwrap().is_empty(), "partial object removed");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(storage.list_all("locks/").await.unwrap().is_empty(), "lock released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_backups_round_trip_and_record_skips() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("a/b")).unwrap();
    std::fs::write(src.join("a/b/file.txt"), b"hello").unwrap();
    std::fs::write(src.join("empty"), b"").unwrap();
    std::os::unix::fs::symlink("a/b/file.txt", src.join("link")).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(src.join("sock")).unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.path().join("repo")));
    let repo = Repository::init(storage, pw("pw"), cheap()).await.unwrap();
    let m = repo.backup_files(std::slice::from_ref(&src), BackupRequest::default()).await.unwrap();
    assert_eq!(m.kind, "files");
    assert_eq!(m.stats["files"], 2);
    assert_eq!(m.stats["symlinks"], 1);
    assert!(m.warnings.iter().any(|w| w.contains("socket") && w.contains("sock")), "{:?}", m.warnings);
    let target = dir.path().join("restored");
    repo.restore_to_dir(&m, &target).await.unwrap();
    let root = target.join(src.strip_prefix("/").unwrap());
    assert_eq!(std::fs::read(root.join("a/b/file.txt")).unwrap(), b"hello");
    assert_eq!(std::fs::read_link(root.join("link")).unwrap(), std::path::Path::new("a/b/file.txt"));
    assert!(!root.join("sock").exists());
    // A non-empty target is refused and left alone.
    let err = repo.restore_to_dir(&m, &target).await.unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    // A missing source is named.
    let err = repo.backup_files(&[dir.path().join("nope")], BackupRequest::default()).await.unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2)) == Some("0")
}

/// Issue 9 item 1: a user's setuid file must not come back setuid root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_restore_gives_owners_back_or_clears_setuid() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert!(is_root(), "this test creates files owned by another user and needs root (CI runs the suite as root)");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("home")).unwrap();
    let tool = src.join("home/tool");
    std::fs::write(&tool, b"#!/bin/sh\n").unwrap();
    let shared = src.join("home/shared");
    std::fs::write(&shared, b"group tool\n").unwrap();
    std::os::unix::fs::chown(src.join("home"), Some(12345), Some(12346)).unwrap();
    std::os::unix::fs::chown(&tool, Some(12345), Some(12346)).unwrap();
    std::os::unix::fs::chown(&shared, Some(0), Some(12346)).unwrap();
    // chmod after chown: chown clears the bits.
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o2755)).unwrap();
    std::fs::set_permissions(src.join("home"), std::fs::Permissions::from_mode(0o750)).unwrap();

    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.path().join("repo")));
    let repo = Repository::init(storage, pw("pw"), cheap()).await.unwrap();
    let m = repo.backup_files(std::slice::from_ref(&src), BackupRequest::default()).await.unwrap();
    let rel = src.strip_prefix("/").unwrap();

    // As root, owners come back with the bits.
    let target = dir.path().join("as-root");
    let report = repo.restore_to_dir_with(&m, &target, &lifeboat_repo::RestoreOptions::default()).await.unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let meta = |p: &std::path::Path| std::fs::symlink_metadata(p).unwrap();
    let root = target.join(rel);
    let t = meta(&root.join("home/tool"));
    assert_eq!((t.uid(), t.gid(), t.mode() & 0o7777), (12345, 12346, 0o4755), "setuid tool of uid 12345");
    let s = meta(&root.join("home/shared"));
    assert_eq!((s.uid(), s.gid(), s.mode() & 0o7777), (0, 12346, 0o2755), "setgid file of gid 12346");
    let h = meta(&root.join("home"));
    assert_eq!((h.uid(), h.gid(), h.mode() & 0o7777), (12345, 12346, 0o750), "directory owner and mode");

    // Without owners (what a non-root restore gets), the bits go, and that is said once.
    let target = dir.path().join("no-owner");
    let options = lifeboat_repo::RestoreOptions { same_owner: false };
    let report = repo.restore_to_dir_with(&m, &target, &options).await.unwrap();
    let root = target.join(rel);
    let t = meta(&root.join("home/tool"));
    assert_eq!((t.uid(), t.mode() & 0o7777), (0, 0o755), "the tool must not be setuid root");
    let s = meta(&root.join("home/shared"));
    assert_eq!(s.mode() & 0o7777, 0o755, "setgid cleared: the file's group is not 12346");
    assert_eq!(meta(&root.join("home")).mode() & 0o7777, 0o750);
    assert_eq!(report.warnings.len(), 1, "said once: {:?}", report.warnings);
    assert!(
        report.warnings[0].contains("setuid/setgid") && report.warnings[0].contains("2 entries"),
        "{:?}",
        report.warnings
    );
}

/// Issue 9 item 3: directory mtimes survive their contents being written; hard links stay links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_restore_keeps_directory_mtimes_and_hard_links() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("a/b")).unwrap();
    std::fs::write(src.join("a/b/one"), b"one").unwrap();
    std::fs::write(src.join("a/first"), b"linked content").unwrap();
    std::fs::hard_link(src.join("a/first"), src.join("a/b/second")).unwrap();
    std::fs::hard_link(src.join("a/first"), src.join("third")).unwrap();
    std::os::unix::fs::symlink("b/one", src.join("a/link")).unwrap();
    let touch = std::process::Command::new("touch").args(["-h", "-d", "@1150000000"]).arg(src.join("a/link")).status();
    assert!(touch.unwrap().success(), "touch -h");
    let when = |secs: u64| std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    for (path, secs) in [("a/b", 1_100_000_000), ("a", 1_200_000_000), ("", 1_300_000_000)] {
        std::fs::File::open(src.join(path)).unwrap().set_modified(when(secs)).unwrap();
    }
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.path().join("repo")));
    let repo = Repository::init(storage, pw("pw"), cheap()).await.unwrap();
    let m = repo.backup_files(std::slice::from_ref(&src), BackupRequest::default()).await.unwrap();
    assert_eq!((m.stats["files"], m.stats["hardlinks"]), (2, 2), "stats: {:?}", m.stats);
    let target = dir.path().join("restored");
    repo.restore_to_dir(&m, &target).await.unwrap();
    let root = target.join(src.strip_prefix("/").unwrap());
    for (path, secs) in [("a/b", 1_100_000_000), ("a", 1_200_000_000), ("", 1_300_000_000)] {
        assert_eq!(std::fs::metadata(root.join(path)).unwrap().mtime(), secs, "mtime of directory {path:?}");
    }
    let first = std::fs::metadata(root.join("a/first")).unwrap();
    for other in ["a/b/second", "third"] {
        let meta = std::fs::metadata(root.join(other)).unwrap();
        assert_eq!(meta.ino(), first.ino(), "{other} is a hard link to a/first");
    }
    assert_eq!(first.nlink(), 3);
    assert_eq!(std::fs::read(root.join("third")).unwrap(), b"linked content");
    assert_eq!(std::fs::read_link(root.join("a/link")).unwrap(), std::path::Path::new("b/one"));
    assert_eq!(std::fs::symlink_metadata(root.join("a/link")).unwrap().mtime(), 1_150_000_000, "symlink mtime");
}

/// A clock given at open dates what the handle writes (in this host's time zone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_injected_clock_dates_backups_and_locks() {
    #[derive(Debug)]
    struct Fixed(chrono::DateTime<chrono::Utc>);
    impl lifeboat_storage::clock::Clock for Fixed {
        fn now(&self) -> chrono::DateTime<chrono::Utc> {
            self.0
        }
    }
    let when = chrono::DateTime::parse_from_rfc3339("2030-05-06T07:08:09Z").unwrap().to_utc();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let options = OpenOptions { clock: Some(Arc::new(Fixed(when))), ..Default::default() };
    let repo = Repository::init_with(storage.clone(), pw("pw"), cheap(), options.clone()).await.unwrap();
    assert_eq!(repo.config().created.to_utc(), when);
    assert_eq!(repo.config().slots[0].created.to_utc(), when, "the key slot's date");
    let writer = repo.start_backup(request("dated")).await.unwrap();
    let lock = storage.list_all("locks/").await.unwrap().into_iter().find(|m| m.key.len() == 38).unwrap();
    let info: lifeboat_repo::LockInfo = serde_json::from_slice(&storage.get_bytes(&lock.key).await.unwrap()).unwrap();
    assert_eq!(info.created.to_utc(), when);
    let local = when.with_timezone(&chrono::Local).fixed_offset();
    assert_eq!(info.created.offset(), local.offset(), "not this host's time zone");
    drop(writer);
    let manifest = repo.backup_stream(&b"x"[..], request("dated")).await.unwrap();
    assert_eq!((manifest.started.to_utc(), manifest.finished.to_utc()), (when, when));
    repo.settle().await;
}

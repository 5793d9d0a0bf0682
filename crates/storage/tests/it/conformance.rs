//! The storage contract on the backends and layers that need no server.

use std::sync::Arc;

use crate::common::{Suite, conformance};
use lifeboat_storage::layer::{MetricsLayer, RateLimitLayer, RetryLayer, TenantLayer};
use lifeboat_storage::{FsStorage, MemoryStorage, open_url};

#[tokio::test]
async fn fs_backend() {
    let dir = tempfile::tempdir().unwrap();
    conformance(Arc::new(FsStorage::new(dir.path().join("repo"))), Suite::default()).await;
}

#[tokio::test]
async fn memory_backend() {
    conformance(Arc::new(MemoryStorage::new()), Suite::default()).await;
}

#[tokio::test]
async fn every_layer_stacked_on_fs() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FsStorage::new(dir.path());
    let stacked = TenantLayer::new(
        MetricsLayer::new(RetryLayer::new(RateLimitLayer::new(fs, Some(1 << 30), Some(1 << 30))), "fs"),
        "acme",
    )
    .unwrap();
    conformance(Arc::new(stacked), Suite::default()).await;
    // Everything went under the tenant's prefix and was cleaned up there.
    let left: Vec<_> = walk(dir.path());
    assert!(left.iter().all(|p| p.starts_with(dir.path().join("tenants/acme"))), "{left:?}");
}

#[tokio::test]
async fn two_tenants_on_one_memory_store() {
    let shared = MemoryStorage::new();
    let other = TenantLayer::new(shared.clone(), "acme2").unwrap();
    lifeboat_storage::StorageExt::put_bytes(&other, "config", bytes::Bytes::from_static(b"x")).await.unwrap();
    // acme's run starts from an empty view although acme2 has objects.
    conformance(Arc::new(TenantLayer::new(shared.clone(), "acme").unwrap()), Suite::default()).await;
    assert_eq!(lifeboat_storage::StorageExt::list_all(&shared, "").await.unwrap().len(), 1);
}

#[tokio::test]
async fn open_url_file_backend() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("r").display());
    conformance(open_url(&url).unwrap(), Suite::default()).await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Symbolic links planted inside an fs repository are never followed: not in a folder
/// component, not as the object itself, for get, put, put_if_absent, head, list and delete.
#[tokio::test]
async fn fs_never_follows_links_below_its_root() {
    use lifeboat_storage::{Storage, StorageExt};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let store = FsStorage::new(&root);
    store.put_bytes("locks/real", bytes::Bytes::from_static(b"{}")).await.unwrap();
    // Outside the repository: a victim file and a folder holding an object-named file.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("obj"), b"outside").unwrap();
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::os::unix::fs::symlink(&victim, root.join("locks/x")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.join("data/ab")).unwrap();

    for key in ["locks/x", "data/ab/obj"] {
        assert!(store.get_bytes(key).await.is_err(), "get {key} followed a link");
        assert!(store.head(key).await.is_err(), "head {key} followed a link");
        assert!(store.delete(key).await.is_err(), "delete {key} followed a link");
        let err = store.put_bytes(key, bytes::Bytes::from_static(b"evil")).await.unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(store.put_if_absent(key, bytes::Bytes::from_static(b"evil")).await.is_err(), "{key}");
    }
    assert!(store.put_bytes("data/ab/new", bytes::Bytes::from_static(b"evil")).await.is_err());
    let listed: Vec<_> = store.list_all("").await.unwrap().into_iter().map(|m| m.key).collect();
    assert_eq!(listed, ["locks/real"], "a listing entered a link");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(std::fs::read(elsewhere.join("obj")).unwrap(), b"outside");
    let outside: Vec<_> = std::fs::read_dir(&elsewhere).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(outside, ["obj"], "something was written through the link");
    assert!(std::fs::symlink_metadata(root.join("locks/x")).unwrap().file_type().is_symlink());
}

/// A new fs repository is private: folders 0700 and files 0600 whatever the umask allows.
#[tokio::test]
async fn fs_creates_folders_0700_and_files_0600() {
    use lifeboat_storage::{Storage, StorageExt};
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("parent/repo");
    let store = FsStorage::new(&root);
    store.put_bytes("config", bytes::Bytes::from_static(b"{}")).await.unwrap();
    store.put_bytes("data/ab/abcdef", bytes::Bytes::from_static(b"x")).await.unwrap();
    store.put_if_absent("locks/l", bytes::Bytes::from_static(b"{}")).await.unwrap();
    let mode = |p: &str| std::fs::metadata(root.join(p)).unwrap().permissions().mode() & 0o777;
    for folder in ["", "data", "data/ab", "locks"] {
        assert_eq!(mode(folder), 0o700, "folder {folder:?}");
    }
    for file in ["config", "data/ab/abcdef", "locks/l"] {
        assert_eq!(mode(file), 0o600, "file {file}");
    }
    let access = store.describe_access().unwrap();
    assert!(access.starts_with("readable only by user ") && access.ends_with("(mode 0700)"), "{access}");
}

/// head and list report the filesystem's modification time: the storage's clock.
#[tokio::test]
async fn fs_reports_modification_times() {
    use lifeboat_storage::{Storage, StorageExt};
    let dir = tempfile::tempdir().unwrap();
    let store = FsStorage::new(dir.path());
    store.put_bytes("locks/a", bytes::Bytes::from_static(b"{}")).await.unwrap();
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(40 * 60);
    std::fs::File::options().write(true).open(dir.path().join("locks/a")).unwrap().set_modified(past).unwrap();
    assert_eq!(store.head("locks/a").await.unwrap().unwrap().modified, Some(past));
    assert_eq!(store.list_all("locks/").await.unwrap()[0].modified, Some(past));
}

/// sweep_temp finds (and unless a dry run removes) only temporary files older than asked,
/// where listings never show them.
#[tokio::test]
async fn fs_sweeps_only_old_temporary_files() {
    use lifeboat_storage::{Storage, StorageExt};
    let dir = tempfile::tempdir().unwrap();
    let store = FsStorage::new(dir.path());
    store.put_bytes("data/ab/abcd", bytes::Bytes::from_static(b"kept")).await.unwrap();
    let old = dir.path().join("data/ab/.lifeboat-tmp-0011223344556677");
    let fresh = dir.path().join("data/ab/.lifeboat-tmp-8899aabbccddeeff");
    std::fs::write(&old, vec![7u8; 1000]).unwrap();
    std::fs::write(&fresh, b"being written").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 3600);
    std::fs::File::options().write(true).open(&old).unwrap().set_modified(two_hours_ago).unwrap();
    let hour = std::time::Duration::from_secs(3600);

    let found = store.sweep_temp("", hour, true).await.unwrap();
    assert_eq!(
        found.iter().map(|m| (m.key.as_str(), m.size)).collect::<Vec<_>>(),
        [("data/ab/.lifeboat-tmp-0011223344556677", 1000)]
    );
    assert!(old.exists(), "a dry run removed something");
    assert!(store.sweep_temp("backups/", hour, false).await.unwrap().is_empty(), "outside the prefix");
    assert_eq!(store.sweep_temp("data/", hour, false).await.unwrap().len(), 1);
    assert!(!old.exists() && fresh.exists());
    assert_eq!(store.list_all("").await.unwrap().len(), 1, "the object itself is untouched");
    // Through the layers too (the tenant layer maps the prefix).
    let tenant = TenantLayer::new(FsStorage::new(dir.path()), "acme").unwrap();
    let debris = dir.path().join("tenants/acme/data/cd/.lifeboat-tmp-0000000000000000");
    std::fs::create_dir_all(debris.parent().unwrap()).unwrap();
    std::fs::write(&debris, b"x").unwrap();
    std::fs::File::options().write(true).open(&debris).unwrap().set_modified(two_hours_ago).unwrap();
    let swept = tenant.sweep_temp("", hour, false).await.unwrap();
    assert_eq!(swept.iter().map(|m| m.key.as_str()).collect::<Vec<_>>(), ["data/cd/.lifeboat-tmp-0000000000000000"]);
    assert!(!debris.exists() && fresh.exists());
}

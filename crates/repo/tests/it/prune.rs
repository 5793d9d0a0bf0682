//! Forget and prune: what is unreferenced, when they may run, temporary files of killed writes.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_and_prune_remove_exactly_the_unreferenced_data() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let keep = repo.backup_stream(&b"keep"[..], request("k")).await.unwrap();
    let drop = repo.backup_stream(&b"drop"[..], request("d")).await.unwrap();
    // An orphan, as an interrupted backup would leave.
    storage.put_bytes("data/ee/eeee", Bytes::from_static(b"orphan")).await.unwrap();
    repo.forget(std::slice::from_ref(&drop.id)).await.unwrap();
    let dry = repo.prune(true).await.unwrap();
    assert_eq!(dry.unreferenced.len(), 2);
    assert!(!dry.deleted);
    assert_eq!(storage.list_all("data/").await.unwrap().len(), 3);
    let done = repo.prune(false).await.unwrap();
    assert!(done.deleted);
    let left: Vec<_> = storage.list_all("data/").await.unwrap().into_iter().map(|m| m.key).collect();
    assert_eq!(left, [keep.objects[0].key.clone()]);
    assert_eq!(restore(&repo, &keep.id).await, b"keep");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_waits_for_no_one_and_refuses_during_a_backup() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let held = lifeboat_repo::Lock::acquire(storage.clone(), LockKind::Shared, "backup stream").await.unwrap();
    let err = repo.prune(false).await.unwrap_err();
    assert!(matches!(err, RepoError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("backup stream"));
    held.release().await;
    repo.prune(false).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_refuses_when_a_manifest_is_unreadable() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let identity = Identity::generate().unwrap();
    let writer = write_only(&storage, &mut repo, &identity).await;
    writer.backup_stream(&b"sealed for someone else"[..], request("x")).await.unwrap();
    let err = repo.prune(false).await.unwrap_err();
    assert!(err.to_string().contains("prune refused"), "{err}");
    assert_eq!(storage.list_all("data/").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_removes_old_temporary_files_of_killed_writes() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.path()));
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let kept = repo.backup_stream(&b"kept"[..], request("a")).await.unwrap();
    let folder = dir.path().join("data/ab");
    std::fs::create_dir_all(&folder).unwrap();
    let old = folder.join(".lifeboat-tmp-00112233aabbccdd");
    let fresh = folder.join(".lifeboat-tmp-44556677eeff0011");
    std::fs::write(&old, vec![1u8; 5000]).unwrap();
    std::fs::write(&fresh, b"a write in progress").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options().write(true).open(&old).unwrap().set_modified(two_hours_ago).unwrap();

    let dry = repo.prune(true).await.unwrap();
    assert_eq!(dry.temp_files, ["data/ab/.lifeboat-tmp-00112233aabbccdd"]);
    assert!(old.exists(), "a dry run removed a temporary file");
    let done = repo.prune(false).await.unwrap();
    assert_eq!((done.temp_files.len(), done.temp_bytes), (1, 5000));
    assert!(!old.exists(), "prune left the old temporary file");
    assert!(fresh.exists(), "prune removed a temporary file younger than a lease");
    assert_eq!(restore(&repo, &kept.id).await, b"kept");
}

//! Copies between repositories: resumable, locked, repairing corrupt or incomplete replicas.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_between_repositories_with_different_keys_is_resumable() {
    let src_store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let dst_store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let src = Repository::init(src_store.clone(), pw("one"), cheap()).await.unwrap();
    let dst = Repository::init(dst_store.clone(), pw("two"), cheap()).await.unwrap();
    let m = src.backup_stream(std::io::Cursor::new(vec![3u8; 2_500_000]), request("x")).await.unwrap();
    let report = src.copy_to(&dst, std::slice::from_ref(&m)).await.unwrap();
    assert_eq!((report.copied.len(), report.objects_sent), (1, 1));
    let again = src.copy_to(&dst, std::slice::from_ref(&m)).await.unwrap();
    assert_eq!((again.copied.len(), again.skipped.len()), (0, 1));
    // Data objects travel byte for byte; the manifest is sealed for the destination.
    let key = &m.objects[0].key;
    assert_eq!(src_store.get_bytes(key).await.unwrap(), dst_store.get_bytes(key).await.unwrap());
    assert_eq!(restore(&dst, &m.id).await, vec![3u8; 2_500_000]);
    // A half-finished copy (object there, manifest not) resumes without re-sending.
    dst_store.delete(&format!("backups/{}", m.id)).await.unwrap();
    let resumed = src.copy_to(&dst, std::slice::from_ref(&m)).await.unwrap();
    assert_eq!((resumed.copied.len(), resumed.objects_sent, resumed.objects_present), (1, 0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_holds_a_shared_lock_on_the_destination() {
    let source = Repository::init(Arc::new(MemoryStorage::new()), pw("a"), cheap()).await.unwrap();
    source.backup_stream(&b"payload"[..], request("x")).await.unwrap();
    let dest_storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let dest = Repository::init(dest_storage.clone(), pw("b"), cheap()).await.unwrap();
    let pruning = lifeboat_repo::Lock::acquire(dest_storage.clone(), LockKind::Exclusive, "prune").await.unwrap();
    let (all, _) = source.list().await.unwrap();
    let err = source.copy_to(&dest, &all).await.unwrap_err();
    assert!(matches!(err, RepoError::Locked { .. }), "{err}");
    assert!(dest_storage.list_all("data/").await.unwrap().is_empty(), "nothing copied under a prune");
    pruning.release().await;
    assert_eq!(source.copy_to(&dest, &all).await.unwrap().copied.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_sends_again_a_corrupt_replica_of_the_same_size() {
    let src_store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let dst_store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let src = Repository::init(src_store.clone(), pw("one"), cheap()).await.unwrap();
    let dst = Repository::init(dst_store.clone(), pw("two"), cheap()).await.unwrap();
    let m = src.backup_stream(std::io::Cursor::new(vec![5u8; 300_000]), request("x")).await.unwrap();
    let key = m.objects[0].key.clone();
    // An interrupted earlier copy left a replica of the right size with one flipped byte.
    let mut corrupt = src_store.get_bytes(&key).await.unwrap().to_vec();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0x20;
    dst_store.put_bytes(&key, Bytes::from(corrupt)).await.unwrap();
    let report = src.copy_to(&dst, std::slice::from_ref(&m)).await.unwrap();
    assert_eq!(report.objects_repaired, vec![key.clone()], "{report:?}");
    assert_eq!((report.objects_sent, report.objects_present), (1, 0), "{report:?}");
    assert_eq!(dst_store.get_bytes(&key).await.unwrap(), src_store.get_bytes(&key).await.unwrap());
    assert!(dst.verify(std::slice::from_ref(&dst.load_manifest(&m.id).await.unwrap()), true).await.unwrap().is_ok());
    // An intact replica still counts as present.
    dst_store.delete(&format!("backups/{}", m.id)).await.unwrap();
    let again = src.copy_to(&dst, std::slice::from_ref(&m)).await.unwrap();
    assert_eq!((again.objects_sent, again.objects_present, again.objects_repaired.len()), (0, 1, 0), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_does_not_count_a_damaged_or_incomplete_replica_backup_as_copied() {
    let src_store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let dst_store: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let src = Repository::init(src_store.clone(), pw("one"), cheap()).await.unwrap();
    let dst = Repository::init(dst_store.clone(), pw("two"), cheap()).await.unwrap();
    let m = src.backup_stream(std::io::Cursor::new(vec![7u8; 200_000]), request("x")).await.unwrap();
    let first = src.copy_to(&dst, std::slice::from_ref(&m)).await.unwrap();
    assert_eq!(first.copied, vec![m.id.clone()]);
    let manifest_key = format!("backups/{}", m.id);

    // The destination's manifest was damaged: copying again repairs it instead of skipping.
    let mut damaged = dst_store.get_bytes(&manifest_key).await.unwrap().to_vec();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x01;
    dst_store.put_bytes(&manifest_key, Bytes::from(damaged)).await.unwrap();
    assert!(dst.load_manifest(&m.id).await.is_err(), "the damage went unnoticed");
    let again = src.copy_to(&dst, std::slice::from_ref(&m)).await.unwrap();
    assert!(again.skipped.is_empty(), "a damaged replica counted as copied: {again:?}");
    assert_eq!(again.manifests_repaired.len(), 1, "{again:?}");
    assert!(again.manifests_repaired[0].contains(&manifest_key), "{again:?}");
    let repaired = dst.load_manifest(&m.id).await.unwrap();
    assert!(dst.verify(std::slice::from_ref(&repaired), true).await.unwrap().is_ok());

    // One of its objects went missing: sent again, not skipped.
    let object = m.objects[0].key.clone();
    dst_store.delete(&object).await.unwrap();
    let third = src.copy_to(&dst, std::slice::from_ref(&m)).await.unwrap();
    assert!(third.manifests_repaired[0].contains("is missing"), "{third:?}");
    assert_eq!(third.objects_sent, 1, "{third:?}");
    assert!(dst.verify(std::slice::from_ref(&repaired), true).await.unwrap().is_ok());

    // An intact replica is skipped.
    let fourth = src.copy_to(&dst, std::slice::from_ref(&m)).await.unwrap();
    assert_eq!((fourth.skipped.len(), fourth.manifests_repaired.len(), fourth.objects_sent), (1, 0, 0));
}

/// Format 3: every backup of a v3 repository (files and a stream) copied into another v3
/// repository with another password restores there once the source is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_v3_backup_copied_into_a_v3_repository_with_other_passwords_restores_there() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data");
    std::fs::create_dir_all(source.join("sub")).unwrap();
    std::fs::write(source.join("sub/f"), vec![9u8; 700_000]).unwrap();
    let v3 = InitOptions { data_format: 3, ..cheap() };
    let src_store: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.path().join("a")));
    let dst_store: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.path().join("b")));
    let src = Repository::init(src_store.clone(), pw("one"), v3.clone()).await.unwrap();
    let dst = Repository::init(dst_store.clone(), pw("two"), v3).await.unwrap();
    let files = src.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
    let stream = src.backup_stream(std::io::Cursor::new(vec![4u8; 2_000_000]), request("s")).await.unwrap();
    let (all, _) = src.list().await.unwrap();
    let report = src.copy_to_observed(&dst, &all, &lifeboat_repo::Progress::new()).await.unwrap();
    assert_eq!((report.copied.len(), report.failed.len()), (2, 0), "{report:?}");
    let again = src.copy_to_observed(&dst, &all, &lifeboat_repo::Progress::new()).await.unwrap();
    assert_eq!((again.skipped.len(), again.packs_sent, again.objects_sent), (2, 0, 0), "{again:?}");
    std::fs::remove_dir_all(dir.path().join("a")).unwrap();
    let dst = Repository::open(dst_store, pw("two")).await.unwrap();
    assert_eq!(restore(&dst, &stream.id).await, vec![4u8; 2_000_000]);
    let m = dst.load_manifest(&files.id).await.unwrap();
    let path = dst.restore_to_dir(&m, &dir.path().join("r")).await.unwrap();
    assert_eq!(std::fs::read(path.join(source.strip_prefix("/").unwrap()).join("sub/f")).unwrap(), vec![9u8; 700_000]);
}

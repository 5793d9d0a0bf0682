//! Format 2 stream backups into format 3 (docs/FORMAT.md 11.7): `migrate` and `copy` into a
//! format 3 repository re-chunk each v2 stream object into a v3 stream record of a root
//! tree (as `backup stdin` writes them), keeping the backup's id, and a restore of the
//! re-chunked stream gives the same bytes.

use lifeboat_repo::v3::PACKS_PREFIX;
use lifeboat_repo::{BackupKind, MANIFEST_VERSION_V3};

use super::*;

/// A v2 repository on the file system, its storage and an open handle.
async fn v2_repo(dir: &std::path::Path, name: &str) -> (Arc<dyn Storage>, Repository) {
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.join(name)));
    let repo = Repository::init(storage.clone(), pw("one"), cheap()).await.unwrap();
    (storage, repo)
}

/// A database-like backup of two streams, one of them in a subdirectory.
async fn two_stream_backup(repo: &Repository, dump: &[u8], globals: &[u8]) -> lifeboat_repo::Manifest {
    let request = BackupRequest { kind: BackupKind::Postgres, ..request("db") };
    let mut writer = repo.start_backup(request).await.unwrap();
    writer.add_stream("db/app.pgdump", std::io::Cursor::new(dump.to_vec())).await.unwrap();
    writer.add_stream("globals.sql", std::io::Cursor::new(globals.to_vec())).await.unwrap();
    writer.commit().await.unwrap()
}

/// The bytes of object `name` of backup `id`.
async fn object_bytes(repo: &Repository, id: &str, name: &str) -> Vec<u8> {
    let manifest = repo.load_manifest(id).await.unwrap();
    let mut out = Vec::new();
    repo.restore_to_writer(&manifest, Some(name), &mut out).await.unwrap();
    out
}

/// True when `manifest` is a v3 stream backup whose records name its root tree and no data
/// object.
fn is_v3_stream(manifest: &lifeboat_repo::Manifest) -> bool {
    manifest.version == MANIFEST_VERSION_V3
        && manifest.tree.is_some()
        && !manifest.objects.is_empty()
        && manifest.objects.iter().all(|o| o.key.is_empty() && o.size == 0 && o.tree == manifest.tree)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_rechunks_v2_streams_into_v3_records_with_the_same_bytes_and_leaves_no_v2_data() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, mut repo) = v2_repo(dir.path(), "a").await;
    let big = noise(41, 5 << 20);
    let stdin = repo.backup_stream(std::io::Cursor::new(big.clone()), request("stdin")).await.unwrap();
    assert_eq!(stdin.version, 2);
    let (dump, globals) = (noise(42, 3 << 20), b"CREATE ROLE app;\n".to_vec());
    let db = two_stream_backup(&repo, &dump, &globals).await;
    assert_eq!((db.version, db.objects.len()), (2, 2));
    let empty = repo.backup_stream(&b""[..], request("empty")).await.unwrap();

    let plan = repo.migrate_to_v3(true).await.unwrap();
    let mut planned = plan.migrated_streams.clone();
    planned.sort();
    let mut expected = vec![stdin.id.clone(), db.id.clone(), empty.id.clone()];
    expected.sort();
    assert_eq!(planned, expected, "{plan:?}");
    assert!(storage.list_all(PACKS_PREFIX).await.unwrap().is_empty(), "a dry run stores nothing");

    let done = repo.migrate_to_v3(false).await.unwrap();
    assert!(done.failed.is_empty() && done.kept.is_empty(), "{done:?}");
    assert_eq!(done.migrated_streams.len(), 3, "{done:?}");
    let reopened = Repository::open(storage.clone(), pw("one")).await.unwrap();
    for (id, kind) in [(&stdin.id, BackupKind::Stream), (&db.id, BackupKind::Postgres), (&empty.id, BackupKind::Stream)]
    {
        let m = reopened.load_manifest(id).await.unwrap();
        assert!(is_v3_stream(&m), "{id}: {m:?}");
        assert_eq!(m.kind, kind, "the kind stays");
        assert_eq!(m.source["reformatted"]["from_version"], 2);
    }
    let migrated_db = reopened.load_manifest(&db.id).await.unwrap();
    let names: Vec<&str> = migrated_db.objects.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["db/app.pgdump", "globals.sql"], "both streams, in their order");
    for (old, new) in db.objects.iter().zip(&migrated_db.objects) {
        assert_eq!((old.plain_size, &old.plain_blake3), (new.plain_size, &new.plain_blake3), "{}", old.name);
    }
    assert_eq!(object_bytes(&reopened, &stdin.id, "stream").await, big, "the multi-MiB stream, byte for byte");
    assert_eq!(object_bytes(&reopened, &db.id, "db/app.pgdump").await, dump);
    assert_eq!(object_bytes(&reopened, &db.id, "globals.sql").await, globals);
    assert_eq!(object_bytes(&reopened, &empty.id, "stream").await, b"");
    let all: Vec<_> = reopened.list().await.unwrap().0;
    let check = reopened.verify(&all, true).await.unwrap();
    assert!(check.is_ok() && check.bytes_read >= 8 << 20, "{check:?}");

    // No manifest names a format 2 object any more: prune finds every one unreferenced.
    let prune = reopened.prune(true).await.unwrap();
    let v2_objects = storage.list_all("data/").await.unwrap().len();
    assert!(v2_objects >= 4, "the v2 objects stay until prune: {v2_objects}");
    assert_eq!(prune.unreferenced.len(), v2_objects, "{prune:?}");
    assert_eq!(prune.referenced, 0, "v3 records name no data object: {prune:?}");

    // A new stream backup of the same bytes dedups against the migrated chunks.
    let next = reopened.backup_stream(std::io::Cursor::new(big.clone()), request("stdin")).await.unwrap();
    assert!(is_v3_stream(&next));
    assert!(next.stats["bytes_new"] < 64 * 1024, "{:?}", next.stats);
    let mut reopened = reopened;
    let rerun = reopened.migrate_to_v3(false).await.unwrap();
    assert!(rerun.migrated_streams.is_empty() && rerun.migrated.is_empty(), "{rerun:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_lists_a_damaged_v2_stream_as_failed_and_keeps_it_format_2() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, mut repo) = v2_repo(dir.path(), "a").await;
    let intact = repo.backup_stream(std::io::Cursor::new(noise(5, 1 << 20)), request("ok")).await.unwrap();
    let damaged = repo.backup_stream(std::io::Cursor::new(noise(6, 1 << 20)), request("bad")).await.unwrap();
    let key = damaged.objects[0].key.clone();
    let mut bytes = storage.get_bytes(&key).await.unwrap().to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    storage.put_bytes(&key, Bytes::from(bytes)).await.unwrap();

    let done = repo.migrate_to_v3(false).await.unwrap();
    assert_eq!(done.migrated_streams, vec![intact.id.clone()], "{done:?}");
    assert_eq!(done.failed.len(), 1, "{done:?}");
    assert_eq!(done.failed[0].backup, damaged.id);
    assert_eq!(repo.load_manifest(&damaged.id).await.unwrap().version, 2, "left as it was");
    assert!(is_v3_stream(&repo.load_manifest(&intact.id).await.unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_streams_copied_into_a_v3_repository_are_rechunked_and_restore_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (_a_store, a) = v2_repo(dir.path(), "a").await;
    let b_store: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.path().join("b")));
    let b = Repository::init(b_store.clone(), pw("two"), v3_init()).await.unwrap();
    let big = noise(43, 4 << 20);
    let stdin = a.backup_stream(std::io::Cursor::new(big.clone()), request("stdin")).await.unwrap();
    let (dump, globals) = (noise(44, 2 << 20), b"-- globals\n".to_vec());
    let db = two_stream_backup(&a, &dump, &globals).await;

    let report = a.copy_to(&b, &[stdin.clone(), db.clone()]).await.unwrap();
    assert_eq!(report.copied.len(), 2, "{report:?}");
    let mut rechunked = report.rechunked.clone();
    rechunked.sort();
    let mut expected = vec![stdin.id.clone(), db.id.clone()];
    expected.sort();
    assert_eq!(rechunked, expected, "{report:?}");
    assert!(b_store.list_all("data/").await.unwrap().is_empty(), "no format 2 object travelled");
    for id in [&stdin.id, &db.id] {
        assert!(is_v3_stream(&b.load_manifest(id).await.unwrap()), "{id}");
    }
    assert_eq!(object_bytes(&b, &stdin.id, "stream").await, big);
    assert_eq!(object_bytes(&b, &db.id, "db/app.pgdump").await, dump);
    assert_eq!(object_bytes(&b, &db.id, "globals.sql").await, globals);

    // A second copy finds them there and sends nothing.
    let again = a.copy_to(&b, &[stdin.clone(), db.clone()]).await.unwrap();
    assert_eq!((again.copied.len(), again.skipped.len(), again.objects_sent), (0, 2, 0), "{again:?}");
}

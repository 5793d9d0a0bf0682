//! Format v3 files backups through a `Repository` whose config asks for them: the domain,
//! the parent rule (an unchanged second backup reads nothing), restore, verify, and the
//! commands that refuse v3 data they do not handle yet.

use std::path::Path;

use lifeboat_repo::v3::PACKS_PREFIX;
use lifeboat_repo::{DOMAINS_PREFIX, MANIFEST_VERSION_V3};

use super::*;

/// A tree with small files, a 3 MiB file (several chunks) and a nested directory.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::write(root.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(root.join("sub/b.txt"), b"bravo\n").unwrap();
    std::fs::write(root.join("sub/deeper/empty"), b"").unwrap();
    std::fs::hard_link(root.join("a.txt"), root.join("sub/deeper/hard")).unwrap();
    let mut state = 7u64;
    let big: Vec<u8> = (0..3 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(root.join("sub/big.bin"), big).unwrap();
    into_next_second();
}

/// Sleeps into the next second of the clock: a file changed in the second its parent
/// backup started is read again (its stamps may not show a later change), so the tests of
/// the parent rule back up files written in an earlier second.
fn into_next_second() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    std::thread::sleep(std::time::Duration::from_nanos(u64::from(1_000_000_000 - now.subsec_nanos()) + 10_000_000));
}

async fn v3_repo(dir: &Path) -> (Arc<dyn Storage>, Repository) {
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.join("repo")));
    let repo = Repository::init(storage.clone(), pw("pw"), v3_init()).await.unwrap();
    (storage, repo)
}

#[tokio::test]
async fn a_v3_backup_restores_and_an_unchanged_second_one_reads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data");
    make_tree(&source);
    let (storage, repo) = v3_repo(dir.path()).await;
    assert!(repo.writes_v3());

    let first = repo.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
    assert_eq!(first.version, MANIFEST_VERSION_V3);
    assert!(first.objects.is_empty() && first.tree.is_some() && first.domain.is_some());
    assert_eq!(first.stats["files"], 5, "{:?}", first.stats);
    assert!(first.stats["bytes"] >= 3 << 20, "{:?}", first.stats);
    assert_eq!(storage.list_all(DOMAINS_PREFIX).await.unwrap().len(), 1);
    assert!(!storage.list_all(PACKS_PREFIX).await.unwrap().is_empty());

    let second = repo.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
    assert_eq!(second.stats["bytes"], 0, "nothing read: {:?}", second.stats);
    // At most the trees of the ancestors (/, /tmp, the temp dir), whose times other tests
    // change; the backed-up directory's own tree is the same id.
    assert!(second.stats["blobs_new"] <= 3, "{:?}", second.stats);
    assert!(second.stats["bytes_new"] < 4096, "nothing but ancestor trees stored: {:?}", second.stats);
    assert_eq!(second.stats["files_reused"], 4, "{:?}", second.stats);

    // Reopened (a new process, the index from the cache or the repository): still restores.
    let reopened = Repository::open(storage.clone(), pw("pw")).await.unwrap();
    let target = dir.path().join("restored");
    let path = reopened.restore_to_dir(&second, &target).await.unwrap();
    let inner = path.join(source.strip_prefix("/").unwrap());
    assert_eq!(files(&inner), files(&source));
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &str| std::fs::metadata(inner.join(p)).unwrap().ino();
    assert_eq!(ino("a.txt"), ino("sub/deeper/hard"), "hard links come back as hard links under the full path");
}

#[tokio::test]
async fn a_changed_file_stores_only_its_chunks_and_force_reads_everything() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data");
    make_tree(&source);
    let (_storage, repo) = v3_repo(dir.path()).await;
    repo.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
    std::fs::write(source.join("a.txt"), b"alpha, edited\n").unwrap();
    let changed = repo.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
    assert_eq!(changed.stats["files_reused"], 3, "{:?}", changed.stats);
    assert!(changed.stats["bytes"] < 100, "only the edited file is read: {:?}", changed.stats);
    assert!(changed.stats["bytes_new"] < 64 << 10, "a few trees and one chunk: {:?}", changed.stats);

    let forced = BackupRequest { force: true, ..request("tree") };
    let forced = repo.backup_files(std::slice::from_ref(&source), forced).await.unwrap();
    assert!(forced.stats["bytes"] >= 3 << 20, "--force reads every file: {:?}", forced.stats);
    assert!(forced.stats["blobs_new"] <= 3, "and finds every chunk stored: {:?}", forced.stats);
}

#[tokio::test]
async fn verify_reads_v3_data_and_names_a_damaged_blob_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data");
    make_tree(&source);
    let (storage, repo) = v3_repo(dir.path()).await;
    let manifest = repo.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
    let clean = repo.verify(std::slice::from_ref(&manifest), true).await.unwrap();
    assert!(clean.damage.is_empty(), "{:?}", clean.damage);
    assert!(clean.objects >= 5 && clean.bytes_read >= 3 << 20, "{clean:?}");

    // Flip a byte in the middle of the largest pack: the big file's chunks live there.
    let packs = storage.list_all(PACKS_PREFIX).await.unwrap();
    let pack = packs.iter().max_by_key(|m| m.size).unwrap();
    let file = dir.path().join("repo").join(&pack.key);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&file, bytes).unwrap();

    let fresh = Repository::open(storage.clone(), pw("pw")).await.unwrap();
    let report = fresh.verify(std::slice::from_ref(&manifest), true).await.unwrap();
    assert!(!report.damage.is_empty(), "a flipped byte in a pack is found");
    let text = format!("{:?}", report.damage);
    assert!(text.contains("big.bin"), "the damage names the file it belongs to: {text}");
    // The structural check reads no data and so cannot see it.
    let quick = fresh.verify(std::slice::from_ref(&manifest), false).await.unwrap();
    assert!(quick.damage.is_empty() && quick.bytes_read == 0, "{quick:?}");
}

#[tokio::test]
async fn commands_that_do_not_handle_v3_data_yet_refuse_it_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data");
    make_tree(&source);
    let (_storage, repo) = v3_repo(dir.path()).await;
    let manifest = repo.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();

    let mut out = Vec::new();
    let err = repo.restore_to_writer(&manifest, None, &mut out).await.unwrap_err();
    assert!(err.to_string().contains("--target"), "{err}");

    let other: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let dest = Repository::init(other.clone(), pw("pw"), cheap()).await.unwrap();
    let err = repo.copy_to(&dest, std::slice::from_ref(&manifest)).await.unwrap_err();
    assert!(err.to_string().contains("format 3") && err.to_string().contains("nothing was copied"), "{err}");
    assert!(other.list_all("backups/").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_v2_repository_keeps_writing_v2_and_streams_are_v3_in_a_v3_one() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data");
    make_tree(&source);
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let v2 = Repository::init(storage, pw("pw"), cheap()).await.unwrap();
    assert!(!v2.writes_v3());
    let manifest = v2.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
    assert_eq!(manifest.version, 2);

    let (_storage, v3) = v3_repo(dir.path()).await;
    let stream = v3.backup_stream(&b"a stream"[..], request("s")).await.unwrap();
    assert_eq!(stream.version, MANIFEST_VERSION_V3);
    assert_eq!(restore(&v3, &stream.id).await, b"a stream");
    let err = Repository::init(Arc::new(MemoryStorage::new()), pw("pw"), InitOptions { data_format: 4, ..cheap() })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("data format 4"), "{err}");
}

#[tokio::test]
async fn key_rotation_rewraps_the_domain_and_v3_backups_still_restore() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data");
    make_tree(&source);
    let (storage, mut repo) = v3_repo(dir.path()).await;
    let manifest = repo.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
    let packs_before = storage.list_all(PACKS_PREFIX).await.unwrap();
    repo.rotate_master_key().await.unwrap();
    // Packs are not rewritten: the same objects, byte for byte the same sizes.
    let packs_after = storage.list_all(PACKS_PREFIX).await.unwrap();
    let names = |l: &[lifeboat_storage::ObjectMeta]| l.iter().map(|m| (m.key.clone(), m.size)).collect::<Vec<_>>();
    assert_eq!(names(&packs_before), names(&packs_after));
    // A fresh handle knows only the new key: the domain must open with it.
    let fresh = Repository::open(storage.clone(), pw("pw")).await.unwrap();
    let path = fresh.restore_to_dir(&manifest, &dir.path().join("after-rotation")).await.unwrap();
    assert_eq!(files(&path.join(source.strip_prefix("/").unwrap())), files(&source));
    let next = fresh.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
    assert_eq!(next.stats["files_reused"], 4, "the index still dedups after rotation: {:?}", next.stats);
}

/// `len` pseudo-random bytes (incompressible, so every chunk is its own blob).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// The bytes of every pack, summed.
async fn pack_bytes(storage: &Arc<dyn Storage>) -> (usize, u64) {
    let packs = storage.list_all(PACKS_PREFIX).await.unwrap();
    (packs.len(), packs.iter().map(|m| m.size).sum())
}

#[tokio::test]
async fn a_v3_stream_backup_round_trips_through_its_root_tree() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, repo) = v3_repo(dir.path()).await;
    let data = noise(5 << 20, 11);
    let manifest = repo.backup_stream(std::io::Cursor::new(data.clone()), request("app.sql")).await.unwrap();
    assert_eq!(manifest.version, MANIFEST_VERSION_V3);
    assert!(manifest.tree.is_some() && manifest.domain.is_some());
    let [record] = manifest.objects.as_slice() else { panic!("one record: {:?}", manifest.objects) };
    assert!(record.is_v3() && record.key.is_empty(), "{record:?}");
    assert_eq!(record.tree, manifest.tree);
    assert_eq!((record.name.as_str(), record.plain_size), ("stream", data.len() as u64));
    assert_eq!(record.plain_blake3, blake3::hash(&data).to_hex().to_string());
    assert_eq!(manifest.stats["size"], data.len() as u64, "{:?}", manifest.stats);
    assert_eq!(manifest.stats["bytes_new"], data.len() as u64, "{:?}", manifest.stats);
    assert!(storage.list_all("data/").await.unwrap().is_empty(), "no format 2 object is written");

    // A fresh handle reads the manifest back (validation accepts the v3 records) and every
    // way of reading a stream returns the same bytes.
    let fresh = Repository::open(storage.clone(), pw("pw")).await.unwrap();
    assert_eq!(restore(&fresh, &manifest.id).await, data);
    let (written, out) = fresh.restore_to_sync_writer(&manifest, None, Vec::new()).await.unwrap();
    assert_eq!((written, out == data), (data.len() as u64, true));
    let path = fresh.restore_to_dir(&manifest, &dir.path().join("out")).await.unwrap();
    assert_eq!(std::fs::read(path.join("app.sql")).unwrap(), data, "named after the backup, as in format 2");
    let clean = fresh.verify(std::slice::from_ref(&manifest), true).await.unwrap();
    assert!(clean.damage.is_empty(), "{:?}", clean.damage);

    // Several streams with directory names (as a database source writes them).
    let mut writer = fresh.start_backup(request("app")).await.unwrap();
    writer.add_stream("db/app.pgdump", std::io::Cursor::new(data[..3 << 20].to_vec())).await.unwrap();
    writer.add_stream("db/other.pgdump", std::io::Cursor::new(b"small".to_vec())).await.unwrap();
    writer.add_stream("globals.sql", std::io::Cursor::new(Vec::new())).await.unwrap();
    let err = writer.add_stream("db", std::io::Cursor::new(Vec::new())).await.unwrap_err();
    assert!(err.to_string().contains("clashes"), "{err}");
    let err = writer.add_stream("../up", std::io::Cursor::new(Vec::new())).await.unwrap_err();
    assert!(err.to_string().contains("plain names"), "{err}");
    let dump = writer.commit().await.unwrap();
    assert_eq!(dump.version, MANIFEST_VERSION_V3);
    // The chunks before the cut at 3 MiB were stored already: only the last one and the
    // small stream are new.
    assert!(dump.stats["blobs_new"] <= 2 && dump.stats["bytes_new"] < 3 << 20, "{:?}", dump.stats);
    for (record, want) in dump.objects.iter().zip([&data[..3 << 20], b"small", b""]) {
        let mut stream = fresh.open_object(record).await.unwrap();
        let mut got = Vec::new();
        while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(got, want, "{}", record.name);
    }
    let path = fresh.restore_to_dir(&dump, &dir.path().join("dump")).await.unwrap();
    assert_eq!(std::fs::read(path.join("db/other.pgdump")).unwrap(), b"small");
    assert_eq!(std::fs::read(path.join("globals.sql")).unwrap(), b"");
    let err = fresh.restore_to_writer(&dump, None, &mut Vec::new()).await.unwrap_err();
    assert!(err.to_string().contains("name one of"), "{err}");
}

#[tokio::test]
async fn a_second_backup_of_a_slightly_changed_stream_adds_little() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, repo) = v3_repo(dir.path()).await;
    let mut data = noise(16 << 20, 5);
    let first = repo.backup_stream(std::io::Cursor::new(data.clone()), request("db")).await.unwrap();
    let (packs_first, bytes_first) = pack_bytes(&storage).await;
    assert_eq!(first.stats["bytes_new"], 16 << 20);

    // A few bytes changed in the middle, and a row appended at the end.
    data[9 << 20..(9 << 20) + 100].fill(0);
    data.extend_from_slice(b"one more row\n");
    let second = repo.backup_stream(std::io::Cursor::new(data.clone()), request("db")).await.unwrap();
    let (packs_second, bytes_second) = pack_bytes(&storage).await;
    let added = bytes_second - bytes_first;
    // Chunks average 1 MiB (at most 4): the two edits cost at most a few chunks.
    assert!(second.stats["bytes_new"] <= 9 << 20, "{:?}", second.stats);
    assert!(second.stats["blobs_new"] <= 6, "{:?}", second.stats);
    assert!(added < bytes_first / 2, "the second backup added {added} of {bytes_first} bytes");
    assert!(packs_second - packs_first <= 1, "{packs_first} packs, then {packs_second}");
    assert_eq!(restore(&repo, &second.id).await, data);
    assert_eq!(restore(&repo, &first.id).await[..9 << 20], data[..9 << 20]);

    // The same stream again adds no chunk.
    let third = repo.backup_stream(std::io::Cursor::new(data.clone()), request("db")).await.unwrap();
    assert_eq!((third.stats["bytes_new"], third.stats["blobs_new"]), (0, 0), "{:?}", third.stats);
}

#[tokio::test]
async fn damage_to_a_chunk_of_a_v3_stream_is_found_on_restore_naming_the_object() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, repo) = v3_repo(dir.path()).await;
    let data = noise(6 << 20, 3);
    let mut writer = repo.start_backup(request("app")).await.unwrap();
    writer.add_stream("db/app.pgdump", std::io::Cursor::new(data.clone())).await.unwrap();
    let manifest = writer.commit().await.unwrap();

    let packs = storage.list_all(PACKS_PREFIX).await.unwrap();
    let pack = packs.iter().max_by_key(|m| m.size).unwrap();
    let file = dir.path().join("repo").join(&pack.key);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&file, bytes).unwrap();

    let fresh = Repository::open(storage.clone(), pw("pw")).await.unwrap();
    let mut out = Vec::new();
    let err = fresh.restore_to_writer(&manifest, None, &mut out).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("db/app.pgdump") && text.contains("chunk"), "the error names the object: {text}");
    assert!(out.len() < data.len(), "the damaged chunk is not written");
    let err = fresh.restore_to_sync_writer(&manifest, Some("db/app.pgdump"), Vec::new()).await.unwrap_err();
    assert!(err.to_string().contains("db/app.pgdump"), "{err}");
    let report = fresh.verify(std::slice::from_ref(&manifest), true).await.unwrap();
    assert!(!report.damage.is_empty(), "verify --deep finds it too");
}

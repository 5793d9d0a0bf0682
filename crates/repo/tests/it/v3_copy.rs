//! Format 3 across repositories (docs/FORMAT.md 11.2, 11.7): copying v3 backups (the domain
//! carried, packs byte for byte), re-chunking v2 files backups into a v3 destination, and
//! migrating a v2 repository in place.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use lifeboat_repo::v3::PACKS_PREFIX;
use lifeboat_repo::{DOMAINS_PREFIX, MANIFEST_VERSION_V3};

use super::*;

/// A tree with a 3 MiB file (several chunks), a mode, an old mtime, a symlink, a hard
/// link and a nested directory.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::write(root.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(root.join("sub/b.txt"), b"bravo\n").unwrap();
    std::fs::write(root.join("sub/deeper/empty"), b"").unwrap();
    std::fs::hard_link(root.join("a.txt"), root.join("sub/deeper/hard")).unwrap();
    std::os::unix::fs::symlink("../a.txt", root.join("sub/link")).unwrap();
    std::fs::set_permissions(root.join("sub/b.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    std::fs::File::options().write(true).open(root.join("sub/b.txt")).unwrap().set_modified(old).unwrap();
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
}

/// Every entry under `root`: relative path -> (kind, mode, mtime seconds, content or target).
fn entries(root: &Path) -> BTreeMap<String, (char, u32, i64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let (kind, data) = if meta.file_type().is_symlink() {
                ('l', std::fs::read_link(&path).unwrap().into_os_string().into_encoded_bytes())
            } else if meta.is_dir() {
                pending.push(path.clone());
                ('d', Vec::new())
            } else {
                ('f', std::fs::read(&path).unwrap())
            };
            // Directories' mtimes change as their entries are written; files' must not.
            let mtime = if kind == 'f' { meta.mtime() } else { 0 };
            out.insert(rel, (kind, meta.mode() & 0o7777, mtime, data));
        }
    }
    out
}

async fn fs_repo(dir: &Path, name: &str, password: &str, options: InitOptions) -> (Arc<dyn Storage>, Repository) {
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.join(name)));
    let repo = Repository::init(storage.clone(), pw(password), options).await.unwrap();
    (storage, repo)
}

async fn keys_under(storage: &Arc<dyn Storage>, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = storage.list_all(prefix).await.unwrap().into_iter().map(|m| m.key).collect();
    keys.sort();
    keys
}

/// Restores `id` from `repo` and returns the entries of the backed-up `source` in it.
async fn restored(
    repo: &Repository,
    id: &str,
    target: &Path,
    source: &Path,
) -> BTreeMap<String, (char, u32, i64, Vec<u8>)> {
    let manifest = repo.load_manifest(id).await.unwrap();
    let path = repo.restore_to_dir(&manifest, target).await.unwrap();
    let inner = path.join(source.strip_prefix("/").unwrap());
    let ino = |p: &str| std::fs::metadata(inner.join(p)).unwrap().ino();
    assert_eq!(ino("a.txt"), ino("sub/deeper/hard"), "the hard link comes back as one");
    entries(&inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v3_backup_copied_restores_from_the_copy_alone_and_a_second_copy_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data");
    make_tree(&source);
    let (a_store, a) = fs_repo(dir.path(), "a", "one", v3_init()).await;
    let (b_store, b) = fs_repo(dir.path(), "b", "two", v3_init()).await;
    let manifest = a.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
    assert_eq!(manifest.version, MANIFEST_VERSION_V3);

    let report = a.copy_to(&b, std::slice::from_ref(&manifest)).await.unwrap();
    assert_eq!(report.copied, vec![manifest.id.clone()], "{report:?}");
    let a_packs = keys_under(&a_store, PACKS_PREFIX).await;
    assert_eq!(keys_under(&b_store, PACKS_PREFIX).await, a_packs, "every pack of the backup, under its own name");
    assert_eq!(report.packs_sent, a_packs.len(), "{report:?}");
    for key in &a_packs {
        assert_eq!(a_store.get_bytes(key).await.unwrap(), b_store.get_bytes(key).await.unwrap(), "{key} byte for byte");
    }
    // The domain object is sealed again for B: A's password does not open B's copy of it.
    let domain_key = format!("{DOMAINS_PREFIX}{}", manifest.domain.as_deref().unwrap());
    assert_ne!(a_store.get_bytes(&domain_key).await.unwrap(), b_store.get_bytes(&domain_key).await.unwrap());

    let again = a.copy_to(&b, std::slice::from_ref(&manifest)).await.unwrap();
    assert_eq!((again.copied.len(), again.skipped.len(), again.packs_sent), (0, 1, 0), "{again:?}");
    assert_eq!(keys_under(&b_store, PACKS_PREFIX).await, a_packs, "no pack added by the second copy");
    // Interrupted before the manifest: the copy resumes without sending a pack again.
    b_store.delete(&format!("backups/{}", manifest.id)).await.unwrap();
    let resumed = a.copy_to(&b, std::slice::from_ref(&manifest)).await.unwrap();
    assert_eq!((resumed.copied.len(), resumed.packs_sent, resumed.packs_present), (1, 0, a_packs.len()));

    // A gone, B alone (a new handle, another password) restores it byte for byte.
    std::fs::remove_dir_all(dir.path().join("a")).unwrap();
    let b = Repository::open(b_store.clone(), pw("two")).await.unwrap();
    assert!(Repository::open(b_store.clone(), pw("one")).await.is_err(), "B has its own password");
    let copied = restored(&b, &manifest.id, &dir.path().join("r1"), &source).await;
    assert_eq!(copied, entries(&source));
    let check = b.verify(&[b.load_manifest(&manifest.id).await.unwrap()], true).await.unwrap();
    assert!(check.is_ok() && check.bytes_read >= 3 << 20, "verify reads the carried domain: {check:?}");

    // B's own backups go into B's own domain, never into the carried one, and both restore.
    let own = b.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
    assert_ne!(own.domain, manifest.domain, "a carried domain is not B's main domain");
    assert_eq!(keys_under(&b_store, DOMAINS_PREFIX).await.len(), 2);
    let mine = restored(&b, &own.id, &dir.path().join("r2"), &source).await;
    assert_eq!(mine, entries(&source));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_goes_on_past_a_v3_backup_whose_pack_is_lost_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let first_dir = dir.path().join("first");
    std::fs::create_dir_all(&first_dir).unwrap();
    std::fs::write(first_dir.join("f"), b"first backup").unwrap();
    let (a_store, a) = fs_repo(dir.path(), "a", "one", v3_init()).await;
    let (_b_store, b) = fs_repo(dir.path(), "b", "two", v3_init()).await;
    let lost = a.backup_files(std::slice::from_ref(&first_dir), request("first")).await.unwrap();
    for key in keys_under(&a_store, PACKS_PREFIX).await {
        a_store.delete(&key).await.unwrap();
    }
    let second_dir = dir.path().join("second");
    std::fs::create_dir_all(&second_dir).unwrap();
    std::fs::write(second_dir.join("g"), b"second backup").unwrap();
    let intact = a.backup_files(std::slice::from_ref(&second_dir), request("second")).await.unwrap();
    let progress = lifeboat_repo::Progress::new();
    let report = a.copy_to_observed(&b, &[lost.clone(), intact.clone()], &progress).await.unwrap();
    assert_eq!(report.copied, vec![intact.id.clone()], "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].backup, lost.id);
    let m = b.load_manifest(&intact.id).await.unwrap();
    let path = b.restore_to_dir(&m, &dir.path().join("r")).await.unwrap();
    assert_eq!(std::fs::read(path.join(second_dir.strip_prefix("/").unwrap()).join("g")).unwrap(), b"second backup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v3_backup_is_not_copied_into_a_v2_repository() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data");
    make_tree(&source);
    let (_a_store, a) = fs_repo(dir.path(), "a", "one", v3_init()).await;
    let (b_store, b) = fs_repo(dir.path(), "b", "two", cheap()).await;
    let manifest = a.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
    let err = a.copy_to(&b, std::slice::from_ref(&manifest)).await.unwrap_err();
    assert!(err.to_string().contains("lifeboat migrate"), "{err}");
    assert!(b_store.list_all("backups/").await.unwrap().is_empty());
    assert!(b_store.list_all(PACKS_PREFIX).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_files_backup_copied_into_a_v3_repository_is_rechunked_with_its_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data");
    make_tree(&source);
    let (_a_store, a) = fs_repo(dir.path(), "a", "one", cheap()).await;
    let (b_store, b) = fs_repo(dir.path(), "b", "two", v3_init()).await;
    let manifest = a.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
    assert_eq!(manifest.version, 2);
    let stream = a.backup_stream(&b"a stream"[..], request("s")).await.unwrap();

    let report = a.copy_to(&b, &[manifest.clone(), stream.clone()]).await.unwrap();
    assert_eq!(report.rechunked, vec![manifest.id.clone(), stream.id.clone()], "{report:?}");
    assert_eq!(report.copied.len(), 2, "{report:?}");
    let copied = b.load_manifest(&manifest.id).await.unwrap();
    assert_eq!(copied.version, MANIFEST_VERSION_V3);
    assert!(copied.objects.is_empty() && copied.tree.is_some());
    assert_eq!(
        (copied.name.as_str(), copied.plan.as_deref(), copied.started),
        (manifest.name.as_str(), Some("test"), manifest.started)
    );
    assert_eq!(copied.source["reformatted"]["from_version"], 2);
    assert!(b_store.list_all("data/").await.unwrap().is_empty(), "no format 2 object travels");
    assert_eq!(b.load_manifest(&stream.id).await.unwrap().version, MANIFEST_VERSION_V3, "streams re-chunk too");
    assert_eq!(restore(&b, &stream.id).await, b"a stream");

    let back = restored(&b, &manifest.id, &dir.path().join("r"), &source).await;
    assert_eq!(back, entries(&source), "contents, modes, mtimes, symlink targets");
    let again = a.copy_to(&b, std::slice::from_ref(&manifest)).await.unwrap();
    assert_eq!((again.copied.len(), again.skipped.len()), (0, 1), "{again:?}");
    let check = b.verify(std::slice::from_ref(&copied), true).await.unwrap();
    assert!(check.is_ok(), "{check:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_rechunks_every_files_backup_in_place_and_each_restores() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data");
    make_tree(&source);
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("x"), b"another tree").unwrap();
    let (storage, mut repo) = fs_repo(dir.path(), "a", "one", cheap()).await;
    let first = repo.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
    let second = repo.backup_files(std::slice::from_ref(&other), request("other")).await.unwrap();
    let stream = repo.backup_stream(&b"a stream"[..], request("s")).await.unwrap();

    let plan = repo.migrate_to_v3(true).await.unwrap();
    assert!(plan.dry_run && plan.config_changed);
    let mut planned = plan.migrated.clone();
    planned.sort();
    let mut expected = vec![first.id.clone(), second.id.clone()];
    expected.sort();
    assert_eq!(planned, expected);
    assert!(plan.kept.is_empty(), "{plan:?}");
    assert_eq!(plan.migrated_streams, vec![stream.id.clone()], "{plan:?}");
    assert!(config_json(&storage).await.get("data_format").is_none(), "a dry run changes nothing");
    assert_eq!(repo.load_manifest(&first.id).await.unwrap().version, 2);

    let done = repo.migrate_to_v3(false).await.unwrap();
    assert_eq!(done.migrated.len(), 2, "{done:?}");
    assert!(done.failed.is_empty(), "{done:?}");
    assert_eq!(config_json(&storage).await["data_format"], 3);
    // A new handle checks the config's MAC: the change is authenticated.
    let reopened = Repository::open(storage.clone(), pw("one")).await.unwrap();
    assert!(reopened.writes_v3());
    for id in [&first.id, &second.id] {
        let m = reopened.load_manifest(id).await.unwrap();
        assert_eq!(m.version, MANIFEST_VERSION_V3, "same id, now format 3");
    }
    assert_eq!(restored(&reopened, &first.id, &dir.path().join("r1"), &source).await, entries(&source));
    let m = reopened.load_manifest(&second.id).await.unwrap();
    let path = reopened.restore_to_dir(&m, &dir.path().join("r2")).await.unwrap();
    assert_eq!(std::fs::read(path.join(other.strip_prefix("/").unwrap()).join("x")).unwrap(), b"another tree");
    assert_eq!(restore(&reopened, &stream.id).await, b"a stream");
    // The v2 data objects stay for prune; a second run has nothing left to do.
    assert!(!storage.list_all("data/").await.unwrap().is_empty());
    let mut reopened = reopened;
    let rerun = reopened.migrate_to_v3(false).await.unwrap();
    assert!(rerun.migrated.is_empty() && !rerun.config_changed, "{rerun:?}");
    // New files backups are format 3 now, and dedup against the migrated chunks.
    let next = reopened.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
    assert_eq!(next.version, MANIFEST_VERSION_V3);
    assert!(next.stats["bytes_new"] < 64 * 1024, "the big file's chunks were there: {:?}", next.stats);
    let _ = PathBuf::new();
}

// A write-only host's backups (FORMAT.md 11.2): their own domain, sealed for the recipients.

/// A v3 repository whose owner added `identity` as a recipient, with one backup of the
/// owner's (main domain) and one of a write-only host's (its own domain) of `source`.
async fn with_host_backup(
    dir: &Path,
    source: &Path,
    identity: &Identity,
) -> (Arc<dyn Storage>, Repository, lifeboat_repo::Manifest, lifeboat_repo::Manifest) {
    let (storage, mut owner) = fs_repo(dir, "a", "one", v3_init()).await;
    owner.add_recipient(identity.public(), Some("escrow".into())).await.unwrap();
    let own = owner.backup_files(&[source.to_path_buf()], request("owner")).await.unwrap();
    let host = write_only(&storage, &mut owner, identity).await;
    let hosts = host.backup_files(&[source.to_path_buf()], request("host")).await.unwrap();
    assert_ne!(own.domain, hosts.domain, "the host writes into its own domain");
    (storage, owner, own, hosts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_only_hosts_backup_copies_with_a_recipients_identity_and_restores_from_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data");
    make_tree(&source);
    let identity = Arc::new(Identity::generate().unwrap());
    let (a_store, owner, own, hosts) = with_host_backup(dir.path(), &source, &identity).await;
    let (b_store, mut b) = fs_repo(dir.path(), "b", "two", v3_init()).await;

    // With the password the host's domain does not open: the copy names why and how.
    let err = owner.copy_to(&b, std::slice::from_ref(&hosts)).await.unwrap_err();
    assert!(err.to_string().contains("identity"), "{err}");
    assert!(b_store.list_all("backups/").await.unwrap().is_empty());

    // The recipient's identity lists both backups; a destination that lacks that recipient
    // could never read the host's packs (their keys are wrapped for it): refused, nothing sent.
    let reader = Repository::open(a_store.clone(), Credential::Identity(identity.clone())).await.unwrap();
    let (listed, unreadable) = reader.list().await.unwrap();
    assert!(unreadable.is_empty(), "{unreadable:?}");
    assert_eq!(listed.len(), 2);
    let err = reader.copy_to(&b, std::slice::from_ref(&hosts)).await.unwrap_err();
    assert!(err.to_string().contains("recipient"), "{err}");
    assert!(b_store.list_all(PACKS_PREFIX).await.unwrap().is_empty(), "refused before any pack");

    b.add_recipient(identity.public(), Some("escrow".into())).await.unwrap();
    let progress = lifeboat_repo::Progress::new();
    let report = reader.copy_to_observed(&b, &listed, &progress).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.copied.len(), 2, "{report:?}");
    let a_packs = keys_under(&a_store, PACKS_PREFIX).await;
    assert_eq!(keys_under(&b_store, PACKS_PREFIX).await, a_packs);
    for key in &a_packs {
        assert_eq!(a_store.get_bytes(key).await.unwrap(), b_store.get_bytes(key).await.unwrap(), "{key} byte for byte");
    }
    let domain_key = format!("{DOMAINS_PREFIX}{}", hosts.domain.as_deref().unwrap());
    assert_ne!(a_store.get_bytes(&domain_key).await.unwrap(), b_store.get_bytes(&domain_key).await.unwrap());

    // A gone: the identity restores both from B alone, and B's own backups stay in B's domain.
    std::fs::remove_dir_all(dir.path().join("a")).unwrap();
    let b_reader = Repository::open(b_store.clone(), Credential::Identity(identity.clone())).await.unwrap();
    assert_eq!(restored(&b_reader, &hosts.id, &dir.path().join("r1"), &source).await, entries(&source));
    assert_eq!(restored(&b_reader, &own.id, &dir.path().join("r2"), &source).await, entries(&source));
    let b = Repository::open(b_store.clone(), pw("two")).await.unwrap();
    let next = b.backup_files(std::slice::from_ref(&source), request("b")).await.unwrap();
    assert!(next.domain != hosts.domain && next.domain != own.domain, "B writes into its own domain");
    let again = reader.copy_to(&b, &listed).await.unwrap();
    assert_eq!((again.copied.len(), again.skipped.len(), again.packs_sent), (0, 2, 0), "{again:?}");
}

// Adding a recipient (FORMAT.md 2.3, 11.2): domain objects are sealed again for it.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_added_after_the_first_v3_backup_restores_the_backups_written_since() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data");
    make_tree(&source);
    let (storage, mut owner) = fs_repo(dir.path(), "a", "one", v3_init()).await;
    let before = owner.backup_files(std::slice::from_ref(&source), request("before")).await.unwrap();

    let late = Arc::new(Identity::generate().unwrap());
    let added = owner.add_recipient(late.public(), Some("late".into())).await.unwrap();
    assert_eq!(added.domains_resealed, 1, "{added:?}");
    assert!(added.domains_skipped.is_empty(), "{added:?}");
    // Written since: sealed for the new recipient, and its chunks are the earlier backup's
    // (dedup), so reading it needs the main domain's secret, now sealed for it too.
    let after = owner.backup_files(std::slice::from_ref(&source), request("after")).await.unwrap();
    assert_eq!(after.domain, before.domain);
    assert!(after.stats["bytes_new"] < 64 * 1024, "{:?}", after.stats);
    let big = noise(3, 2 << 20);
    let stream = owner.backup_stream(std::io::Cursor::new(big.clone()), request("s")).await.unwrap();

    let reader = Repository::open(storage.clone(), Credential::Identity(late.clone())).await.unwrap();
    assert_eq!(restored(&reader, &after.id, &dir.path().join("r"), &source).await, entries(&source));
    assert_eq!(restore(&reader, &stream.id).await, big);
    // A manifest written before the recipient was added stays sealed without it (FORMAT.md 2.3).
    assert!(reader.load_manifest(&before.id).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_recipient_with_the_password_names_the_write_only_host_domain_it_cannot_reseal() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data");
    make_tree(&source);
    let identity = Arc::new(Identity::generate().unwrap());
    let (_storage, mut owner, own, hosts) = with_host_backup(dir.path(), &source, &identity).await;
    let late = Identity::generate().unwrap();
    let added = owner.add_recipient(late.public(), None).await.unwrap();
    assert_eq!(added.domains_resealed, 1, "the main domain: {added:?}");
    assert_eq!(added.domains_skipped, vec![hosts.domain.clone().unwrap()], "{added:?}");
    let _ = own;
}

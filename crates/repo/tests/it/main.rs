//! Repository behaviour on the in-memory and filesystem backends.

use std::sync::Arc;

use bytes::Bytes;
use lifeboat_crypto::{Argon2Params, Identity, WriterKey};
use lifeboat_repo::{
    BackupRequest, Credential, FileStateStore, InitOptions, KnownStateStore, LockKind, OpenOptions, RepoError,
    Repository,
};
use lifeboat_storage::{FsStorage, MemoryStorage, Storage, StorageExt};

fn cheap() -> InitOptions {
    InitOptions { kdf: Argon2Params::MINIMUM, ..Default::default() }
}

fn pw(p: &str) -> Credential {
    Credential::password(p)
}

fn request(name: &str) -> BackupRequest {
    BackupRequest { name: name.into(), plan: Some("test".into()), ..Default::default() }
}

/// A write-only handle for `identity`, with a writer key the owner registered.
async fn write_only(storage: &Arc<dyn Storage>, owner: &mut Repository, identity: &Identity) -> Repository {
    let key = Arc::new(WriterKey::generate().unwrap());
    owner.add_writer(key.public(), Some("backup host".into())).await.unwrap();
    let trust = OpenOptions { writer_key: Some(key), ..Default::default() };
    Repository::open_with(storage.clone(), Credential::WriteOnly(vec![identity.public()]), trust).await.unwrap()
}

async fn restore(repo: &Repository, id: &str) -> Vec<u8> {
    let m = repo.resolve(id, None).await.unwrap();
    let mut out = Vec::new();
    repo.restore_to_writer(&m, None, &mut out).await.unwrap();
    out
}

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
async fn verify_names_damaged_objects() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let m = repo.backup_stream(std::io::Cursor::new(vec![7u8; 3_000_000]), request("big")).await.unwrap();
    let key = m.objects[0].key.clone();
    let mut bytes = storage.get_bytes(&key).await.unwrap().to_vec();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x40;
    storage.put_bytes(&key, Bytes::from(bytes)).await.unwrap();
    for deep in [false, true] {
        let report = repo.verify(std::slice::from_ref(&m), deep).await.unwrap();
        assert_eq!(report.damage.len(), 1, "deep={deep}");
        assert_eq!(report.damage[0].object, key);
    }
    let mut out = Vec::new();
    let err = repo.restore_to_writer(&m, None, &mut out).await.unwrap_err();
    assert!(err.to_string().contains(&key), "{err}");
    assert!(out.len() < 3_000_000 && out.iter().all(|b| *b == 7), "only authenticated bytes were written");
    storage.delete(&key).await.unwrap();
    let report = repo.verify(std::slice::from_ref(&m), false).await.unwrap();
    assert_eq!(report.damage[0].problem, "missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_manifests_are_refused() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let a = repo.backup_stream(&b"a"[..], request("a")).await.unwrap();
    let b = repo.backup_stream(&b"b"[..], request("b")).await.unwrap();
    let b_bytes = storage.get_bytes(&format!("backups/{}", b.id)).await.unwrap();
    storage.put_bytes(&format!("backups/{}", a.id), b_bytes).await.unwrap();
    let err = repo.load_manifest(&a.id).await.unwrap_err();
    assert!(matches!(err, RepoError::BadManifest { .. }), "{err}");
}

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
async fn rotation_rewraps_manifests_only_and_revokes_old_slots() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut repo = Repository::init(storage.clone(), pw("main"), cheap()).await.unwrap();
    repo.add_slot(pw("other"), Argon2Params::MINIMUM, None).await.unwrap();
    let m = repo.backup_stream(&b"payload"[..], request("p")).await.unwrap();
    let data_before = storage.get_bytes(&m.objects[0].key).await.unwrap();
    let report = repo.rotate_master_key().await.unwrap();
    assert_eq!(report.manifests_resealed, 1);
    assert_eq!(report.slots_removed.len(), 1);
    assert_eq!(storage.get_bytes(&m.objects[0].key).await.unwrap(), data_before, "data untouched");
    let reopened = Repository::open(storage.clone(), pw("main")).await.unwrap();
    assert_eq!(restore(&reopened, &m.id).await, b"payload");
    assert!(reopened.config().retired_master_keys.is_empty());
    assert!(matches!(Repository::open(storage, pw("other")).await, Err(RepoError::WrongCredential { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_only_hosts_cannot_read_what_they_write() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut owner = Repository::init(storage.clone(), pw("owner"), cheap()).await.unwrap();
    let identity = Arc::new(Identity::generate().unwrap());
    let writer = write_only(&storage, &mut owner, &identity).await;
    let m = writer.backup_stream(&b"secret logs"[..], request("logs")).await.unwrap();
    assert!(matches!(writer.list().await.unwrap().1.first(), Some(RepoError::NeedsCredential(_))));
    // The owner's password does not open it either: it was sealed for the identity only.
    let owner = Repository::open(storage.clone(), pw("owner")).await.unwrap();
    assert!(owner.load_manifest(&m.id).await.is_err());
    let reader = Repository::open(storage, Credential::Identity(identity)).await.unwrap();
    assert_eq!(restore(&reader, &m.id).await, b"secret logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_added_with_the_master_key_receive_new_backups() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut repo = Repository::init(storage.clone(), pw("owner"), cheap()).await.unwrap();
    let identity = Arc::new(Identity::generate().unwrap());
    repo.add_recipient(identity.public(), Some("escrow".into())).await.unwrap();
    let m = repo.backup_stream(&b"both can read"[..], request("x")).await.unwrap();
    let escrow = Repository::open(storage.clone(), Credential::Identity(identity)).await.unwrap();
    assert_eq!(restore(&escrow, &m.id).await, b"both can read");
    // A recipient smuggled into the config without the master key is refused.
    let mut config: serde_json::Value = serde_json::from_slice(&storage.get_bytes("config").await.unwrap()).unwrap();
    let intruder = Identity::generate().unwrap().public();
    config["recipients"][0]["public_key"] = serde_json::Value::String(intruder.to_string());
    config["recipients"][0]["id"] = serde_json::Value::String(hex::encode(intruder.id()));
    storage.put_bytes("config", Bytes::from(serde_json::to_vec(&config).unwrap())).await.unwrap();
    let err = Repository::open(storage, pw("owner")).await.unwrap_err();
    assert!(err.to_string().contains("MAC does not verify"), "{err}");
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

/// Memory storage that, like WebDAV or s3s-fs, has no true conditional create.
#[derive(Debug)]
struct NoConditionalCreate(MemoryStorage);

#[async_trait::async_trait]
impl lifeboat_storage::layer::StorageLayer for NoConditionalCreate {
    type Inner = MemoryStorage;
    fn inner(&self) -> &MemoryStorage {
        &self.0
    }
    fn location(&self) -> String {
        "no-conditional://test".into()
    }
    async fn put_if_absent(
        &self,
        key: &str,
        _body: Bytes,
    ) -> Result<lifeboat_storage::PutOutcome, lifeboat_storage::StorageError> {
        Err(lifeboat_storage::StorageError::Unsupported {
            op: lifeboat_storage::Op::Put,
            location: "no-conditional://test".into(),
            key: key.to_owned(),
            message: "no conditional create".into(),
        })
    }
    async fn capabilities(&self) -> Result<lifeboat_storage::Capabilities, lifeboat_storage::StorageError> {
        Ok(lifeboat_storage::Capabilities { conditional_put: false, object_lock: false })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_conditional_create_backups_work_and_exclusive_operations_are_refused() {
    let storage: Arc<dyn Storage> = Arc::new(NoConditionalCreate(MemoryStorage::new()));
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let again = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap_err();
    assert!(matches!(again, RepoError::AlreadyInitialized { .. }), "{again}");

    let first = repo.backup_stream(&b"one"[..], request("a")).await.unwrap();
    let second = repo.backup_stream(&b"two"[..], request("a")).await.unwrap();
    assert_eq!(restore(&repo, &first.id).await, b"one");
    assert_eq!(repo.list().await.unwrap().0.len(), 2);
    assert!(storage.list_all("locks/").await.unwrap().is_empty(), "the shared locks were released");

    // Copying into such a repository takes only a shared lock, so it works too.
    let dest_storage: Arc<dyn Storage> = Arc::new(NoConditionalCreate(MemoryStorage::new()));
    let dest = Repository::init(dest_storage, pw("other"), cheap()).await.unwrap();
    let (all, _) = repo.list().await.unwrap();
    let report = repo.copy_to(&dest, &all).await.unwrap();
    assert_eq!(report.copied.len(), 2);

    // Forget and prune need the exclusive lock, and refuse rather than race.
    let err = repo.forget(std::slice::from_ref(&second.id)).await.unwrap_err();
    assert!(matches!(err, RepoError::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("exclusive lock") && err.to_string().contains("forget"), "{err}");
    let err = repo.prune(false).await.unwrap_err();
    assert!(err.to_string().contains("conditionally"), "{err}");
    assert_eq!(repo.list().await.unwrap().0.len(), 2, "nothing was forgotten");
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

/// Writes a lock object by hand, as another process or host would have, and sets the
/// file's modification time (the storage's clock) to `written`.
async fn plant_lock(
    dir: &std::path::Path,
    storage: &dyn Storage,
    name: &str,
    info: serde_json::Value,
    written: std::time::SystemTime,
) -> String {
    let key = format!("locks/{name}");
    storage.put_bytes(&key, Bytes::from(serde_json::to_vec(&info).unwrap())).await.unwrap();
    std::fs::File::options().write(true).open(dir.join(&key)).unwrap().set_modified(written).unwrap();
    key
}

fn lock_body(id: &str, kind: &str, host: &str, created: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    serde_json::json!({
        "id": id, "kind": kind, "operation": "backup stream", "host": host, "pid": 4242,
        "created": created.to_rfc3339(), "expires": (created + chrono::Duration::minutes(30)).to_rfc3339(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlock_deletes_the_listed_lock_never_the_one_its_content_names() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.path()));
    let live = lifeboat_repo::Lock::acquire(storage.clone(), LockKind::Shared, "backup stream").await.unwrap();
    let live_key = storage.list_all("locks/").await.unwrap()[0].key.clone();
    let live_id = live_key.strip_prefix("locks/").unwrap().to_owned();
    // A long-dead lock whose content claims to be the live one.
    let old = chrono::Utc::now() - chrono::Duration::hours(2);
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    let forged = plant_lock(
        dir.path(),
        storage.as_ref(),
        &"f".repeat(32),
        lock_body(&live_id, "shared", "elsewhere", old),
        two_hours_ago,
    )
    .await;
    let removed = lifeboat_repo::remove_locks(storage.as_ref(), false).await.unwrap();
    assert_eq!(removed.iter().map(|(l, _)| l.key.as_str()).collect::<Vec<_>>(), [forged.as_str()]);
    assert!(storage.head(&live_key).await.unwrap().is_some(), "unlock deleted the live lock its content named");
    assert!(storage.head(&forged).await.unwrap().is_none(), "the dead lock is still there");
    live.release().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_judged_by_the_storages_clock_not_the_holders() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.path()));
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    // Written just now by a host whose clock is 40 minutes behind: by its content the lease
    // ended 10 minutes ago, by the storage's clock it was renewed a moment ago.
    let behind = chrono::Utc::now() - chrono::Duration::minutes(40);
    let key = plant_lock(
        dir.path(),
        storage.as_ref(),
        &"a".repeat(32),
        lock_body(&"a".repeat(32), "shared", "slow-clock-host", behind),
        std::time::SystemTime::now(),
    )
    .await;
    let err = repo.prune(false).await.unwrap_err();
    assert!(matches!(err, RepoError::Locked { .. }), "a live lock was taken for expired: {err}");
    // Judged by its lease, which `unlock` waits out (the CLI's hint says so: cli hints.rs).
    assert!(matches!(err, RepoError::Locked { lapses_in_minutes: Some(_), .. }), "{err}");
    assert!(err.to_string().contains("slow-clock-host") && err.to_string().contains("lapses in"), "{err}");
    assert!(
        lifeboat_repo::remove_locks(storage.as_ref(), false).await.unwrap().is_empty(),
        "unlock removed a live lock"
    );
    storage.delete(&key).await.unwrap();

    // Conversely: content claiming a fresh lease (a clock 40 minutes ahead), but the storage
    // last saw it renewed 40 minutes ago: dead.
    let ahead = chrono::Utc::now() + chrono::Duration::minutes(40);
    let forty_minutes_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(40 * 60);
    let key = plant_lock(
        dir.path(),
        storage.as_ref(),
        &"b".repeat(32),
        lock_body(&"b".repeat(32), "exclusive", "fast-clock-host", ahead),
        forty_minutes_ago,
    )
    .await;
    repo.prune(false).await.expect("an expired lock blocked prune");
    let removed = lifeboat_repo::remove_locks(storage.as_ref(), false).await.unwrap();
    assert_eq!(
        removed.iter().map(|(l, s)| (l.key.as_str(), *s)).collect::<Vec<_>>(),
        [(key.as_str(), lifeboat_repo::LockState::Expired)]
    );
}

/// A storage whose clock runs 40 minutes ahead of this host's.
#[derive(Debug)]
struct FastClock(FsStorage);

impl FastClock {
    fn shift(meta: lifeboat_storage::ObjectMeta) -> lifeboat_storage::ObjectMeta {
        let modified = meta.modified.map(|t| t + std::time::Duration::from_secs(40 * 60));
        lifeboat_storage::ObjectMeta { modified, ..meta }
    }
}

#[async_trait::async_trait]
impl lifeboat_storage::layer::StorageLayer for FastClock {
    type Inner = FsStorage;
    fn inner(&self) -> &FsStorage {
        &self.0
    }
    async fn head(&self, key: &str) -> Result<Option<lifeboat_storage::ObjectMeta>, lifeboat_storage::StorageError> {
        Ok(self.0.head(key).await?.map(Self::shift))
    }
    fn list(&self, prefix: &str) -> lifeboat_storage::MetaStream {
        use futures::StreamExt;
        Box::pin(self.0.list(prefix).map(|m| m.map(Self::shift)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_operations_are_refused_while_the_clocks_disagree() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FastClock(FsStorage::new(dir.path())));
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let err = repo.prune(false).await.unwrap_err();
    assert!(matches!(err, RepoError::ClockSkew(_)), "{err}");
    assert!(err.to_string().contains("clock") && err.to_string().contains("prune"), "{err}");
    assert!(storage.list_all("locks/").await.unwrap().is_empty(), "the refused lock was left behind");
    // Backups (shared locks) still work: a skewed clock cannot make them misjudge anyone.
    repo.backup_stream(&b"still fine"[..], request("a")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_whose_process_on_this_host_is_gone_is_stale_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.path()));
    let mine = lifeboat_repo::Lock::acquire(storage.clone(), LockKind::Shared, "backup stream").await.unwrap();
    let my_key = storage.list_all("locks/").await.unwrap()[0].key.clone();
    let me: serde_json::Value = serde_json::from_slice(&storage.get_bytes(&my_key).await.unwrap()).unwrap();
    assert!(me["start_time"].is_u64() && me["boot_id"].is_string(), "the holder is not identified: {me}");
    let now = std::time::SystemTime::now();

    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let mut gone = me.clone();
    gone["pid"] = dead_pid.into();
    gone["kind"] = "exclusive".into();
    let gone = plant_lock(dir.path(), storage.as_ref(), &"1".repeat(32), gone, now).await;
    // Our own pid, but a process started at another time: the pid was reused.
    let mut reused = me.clone();
    reused["start_time"] = (me["start_time"].as_u64().unwrap() + 1).into();
    reused["kind"] = "exclusive".into();
    let reused = plant_lock(dir.path(), storage.as_ref(), &"2".repeat(32), reused, now).await;
    // A lock of this host before it rebooted.
    let mut rebooted = me.clone();
    rebooted["boot_id"] = "00000000-0000-0000-0000-000000000000".into();
    rebooted["kind"] = "exclusive".into();
    let rebooted = plant_lock(dir.path(), storage.as_ref(), &"3".repeat(32), rebooted, now).await;

    // Dead locks do not block; the running holder does, and the error says it runs here.
    let err = lifeboat_repo::Lock::acquire(storage.clone(), LockKind::Exclusive, "prune").await.unwrap_err();
    assert!(matches!(err, RepoError::Locked { .. }), "{err}");
    assert!(err.to_string().contains(&my_key) && err.to_string().contains("running on this host"), "{err}");

    let removed = lifeboat_repo::remove_locks(storage.as_ref(), false).await.unwrap();
    let mut keys: Vec<_> = removed.iter().map(|(l, s)| (l.key.clone(), *s)).collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    let stale = lifeboat_repo::LockState::Stale;
    assert_eq!(keys, [(gone, stale), (reused, stale), (rebooted, stale)]);
    assert!(storage.head(&my_key).await.unwrap().is_some(), "the running holder's lock was removed");
    mine.release().await;
    lifeboat_repo::Lock::acquire(storage.clone(), LockKind::Exclusive, "prune").await.unwrap().release().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_of_another_machine_with_the_same_host_name_is_not_judged_by_pid() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.path()));
    let mine = lifeboat_repo::Lock::acquire(storage.clone(), LockKind::Shared, "backup stream").await.unwrap();
    let my_key = storage.list_all("locks/").await.unwrap()[0].key.clone();
    let me: serde_json::Value = serde_json::from_slice(&storage.get_bytes(&my_key).await.unwrap()).unwrap();
    assert!(me["machine_id"].is_string(), "the holder's machine is not identified: {me}");
    mine.release().await;

    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_here = child.id();
    child.wait().unwrap();
    // Same host name and (initial) PID namespace, other machine: its pid means nothing here.
    let mut twin = me.clone();
    twin["pid"] = dead_here.into();
    twin["kind"] = "exclusive".into();
    twin["boot_id"] = "11111111-1111-1111-1111-111111111111".into();
    twin["machine_id"] = "0123456789abcdef0123456789abcdef".into();
    let twin = plant_lock(dir.path(), storage.as_ref(), &"4".repeat(32), twin, std::time::SystemTime::now()).await;
    // Same host name, no machine id recorded, another boot: cannot tell a reboot from a twin.
    let mut unknown = me.clone();
    unknown["pid"] = dead_here.into();
    unknown["boot_id"] = "22222222-2222-2222-2222-222222222222".into();
    unknown.as_object_mut().unwrap().remove("machine_id");
    let unknown =
        plant_lock(dir.path(), storage.as_ref(), &"5".repeat(32), unknown, std::time::SystemTime::now()).await;

    let removed = lifeboat_repo::remove_locks(storage.as_ref(), false).await.unwrap();
    assert!(removed.is_empty(), "live locks of other machines were removed: {removed:?}");
    let err = lifeboat_repo::Lock::acquire(storage.clone(), LockKind::Exclusive, "prune").await.unwrap_err();
    assert!(matches!(err, RepoError::Locked { .. }), "{err}");
    assert!(storage.head(&twin).await.unwrap().is_some() && storage.head(&unknown).await.unwrap().is_some());
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

// ---------------------------------------------------------------- issue 9, items 5 to 9

async fn config_json(storage: &Arc<dyn Storage>) -> serde_json::Value {
    serde_json::from_slice(&storage.get_bytes("config").await.unwrap()).unwrap()
}

async fn put_config(storage: &Arc<dyn Storage>, config: &serde_json::Value) {
    storage.put_bytes("config", Bytes::from(serde_json::to_vec_pretty(config).unwrap())).await.unwrap();
}

fn trust_in(dir: &std::path::Path) -> OpenOptions {
    OpenOptions { state: Some(Arc::new(FileStateStore::new(dir))), ..Default::default() }
}

/// Item 5: putting back a config saved before `key rotate` is refused, naming both
/// generations and the flag that accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_put_back_after_rotation_is_refused_as_a_rollback() {
    let state = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut repo = Repository::init_with(storage.clone(), pw("pw"), cheap(), trust_in(state.path())).await.unwrap();
    let old = storage.get_bytes("config").await.unwrap();
    let old_generation = repo.config().generation;
    repo.rotate_master_key().await.unwrap();
    let new_generation = repo.config().generation;
    assert!(new_generation > old_generation);
    storage.put_bytes("config", old).await.unwrap();

    let err = Repository::open_with(storage.clone(), pw("pw"), trust_in(state.path())).await.unwrap_err();
    assert!(matches!(err, RepoError::ConfigRollback { .. }), "{err}");
    let text = err.to_string();
    // (The way past it, --accept-config-rollback, is the CLI's hint: cli hints.rs.)
    for needle in [format!("generation {old_generation}"), format!("generation {new_generation}")] {
        assert!(text.contains(&needle), "{text} does not name {needle}");
    }
    // Accepting it on purpose works, and the store then follows the accepted config.
    let accept = OpenOptions { accept_config_rollback: true, ..trust_in(state.path()) };
    Repository::open_with(storage.clone(), pw("pw"), accept).await.unwrap();
    let known = FileStateStore::new(state.path()).load(repo.id()).unwrap().unwrap();
    assert_eq!(known.generation, old_generation);
    // The state file is private.
    use std::os::unix::fs::PermissionsExt;
    let file = state.path().join(format!("{}.json", repo.id()));
    assert_eq!(std::fs::metadata(file).unwrap().permissions().mode() & 0o777, 0o600);
}

/// Item 6: slots whose Argon2id parameters are below the floor or above the ceiling are
/// refused by name, the slot count is capped, and a slot that unwraps some other key is
/// told apart from the repository's master key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_decoy_and_surplus_slots_are_refused() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let good = config_json(&storage).await;

    let mut weak = good.clone();
    let mut decoy = good["slots"][0].clone();
    decoy["id"] = "00112233445566ff".into();
    decoy["kdf"]["memory_kib"] = 8.into();
    decoy["kdf"]["iterations"] = 1.into();
    weak["slots"].as_array_mut().unwrap().insert(0, decoy);
    put_config(&storage, &weak).await;
    let err = Repository::open(storage.clone(), pw("pw")).await.unwrap_err();
    assert!(matches!(err, RepoError::CorruptConfig { .. }), "{err}");
    assert!(err.to_string().contains("00112233445566ff") && err.to_string().contains("8 KiB"), "{err}");

    let mut greedy = good.clone();
    greedy["slots"][0]["kdf"]["memory_kib"] = (64u64 * 1024 * 1024).into();
    put_config(&storage, &greedy).await;
    let err = Repository::open(storage.clone(), pw("pw")).await.unwrap_err();
    assert!(err.to_string().contains("memory"), "{err}");

    let mut many = good.clone();
    let slot = good["slots"][0].clone();
    many["slots"] = serde_json::Value::Array(vec![slot; lifeboat_repo::MAX_KEY_SLOTS + 1]);
    put_config(&storage, &many).await;
    let err = Repository::open(storage.clone(), pw("pw")).await.unwrap_err();
    assert!(err.to_string().contains("key slots"), "{err}");

    // A decoy with sound parameters that the password opens, wrapping the attacker's key.
    let repo_id: [u8; 16] = hex::decode(good["id"].as_str().unwrap()).unwrap().try_into().unwrap();
    let slot_id = [9u8; 8];
    let salt = [7u8; 16];
    let kek = lifeboat_crypto::password_kek(b"pw", &salt, Argon2Params::MINIMUM).unwrap();
    let aad = [b"lifeboat/v1/slot".as_slice(), &repo_id, &slot_id].concat();
    let (nonce, wrapped) =
        lifeboat_crypto::wrap_key(&kek, &aad, &lifeboat_crypto::SecretKey::generate().unwrap()).unwrap();
    let mut planted = good.clone();
    let mut decoy = good["slots"][0].clone();
    decoy["id"] = hex::encode(slot_id).into();
    decoy["kdf"]["salt"] = hex::encode(salt).into();
    decoy["nonce"] = hex::encode(nonce).into();
    decoy["wrapped"] = hex::encode(wrapped).into();
    planted["slots"].as_array_mut().unwrap().insert(0, decoy);
    put_config(&storage, &planted).await;
    let err = Repository::open(storage.clone(), pw("pw")).await.unwrap_err();
    assert!(err.to_string().contains("0909090909090909") && err.to_string().contains("decoy"), "{err}");
}

/// Item 7: every member of the config is authenticated; a write-only host notices a removed
/// recipient through its known state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_config_member_is_authenticated_and_lost_recipients_are_noticed() {
    let state = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut owner = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let escrow = Identity::generate().unwrap();
    owner.add_recipient(escrow.public(), Some("escrow".into())).await.unwrap();
    let good = config_json(&storage).await;

    type Tamper = fn(&mut serde_json::Value);
    let tamper: [(&str, Tamper); 4] = [
        ("compression_level", |c| c["compression_level"] = 0.into()),
        ("segment_size", |c| c["segment_size"] = 4096.into()),
        ("recipients", |c| c["recipients"] = serde_json::Value::Array(vec![])),
        ("unknown member", |c| c["future"] = "x".into()),
    ];
    for (what, change) in tamper {
        let mut config = good.clone();
        change(&mut config);
        put_config(&storage, &config).await;
        let err = Repository::open(storage.clone(), pw("pw")).await.unwrap_err();
        assert!(err.to_string().contains("MAC does not verify"), "{what}: {err}");
    }

    // A write-only host that saw the escrow recipient refuses a config without it.
    put_config(&storage, &good).await;
    let key = Arc::new(WriterKey::generate().unwrap());
    let mut owner = Repository::open(storage.clone(), pw("pw")).await.unwrap();
    owner.add_writer(key.public(), None).await.unwrap();
    let trust = OpenOptions { writer_key: Some(key), ..trust_in(state.path()) };
    let writer = Credential::WriteOnly(vec![escrow.public()]);
    Repository::open_with(storage.clone(), writer.clone(), trust.clone()).await.unwrap();
    let mut shrunk = config_json(&storage).await;
    shrunk["recipients"] = serde_json::Value::Array(vec![]);
    put_config(&storage, &shrunk).await;
    let err = Repository::open_with(storage.clone(), writer, trust).await.unwrap_err();
    assert!(matches!(err, RepoError::RecipientsRemoved { .. }), "{err}");
    assert!(err.to_string().contains(&hex::encode(escrow.public().id())), "{err}");
}

/// Item 8: a recipients-only manifest must be signed by a registered writer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_recipient_manifests_are_refused() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut owner = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let identity = Arc::new(Identity::generate().unwrap());
    owner.add_recipient(identity.public(), None).await.unwrap();

    // Without a writer key a write-only host refuses to start, and with an unregistered one too.
    let bare = Repository::open(storage.clone(), Credential::WriteOnly(vec![identity.public()])).await.unwrap();
    let err = bare.backup_stream(&b"x"[..], request("x")).await.unwrap_err();
    assert!(err.to_string().contains("writer key"), "{err}");
    let stranger = OpenOptions { writer_key: Some(Arc::new(WriterKey::generate().unwrap())), ..Default::default() };
    let host =
        Repository::open_with(storage.clone(), Credential::WriteOnly(vec![identity.public()]), stranger).await.unwrap();
    let err = host.backup_stream(&b"x"[..], request("x")).await.unwrap_err();
    assert!(err.to_string().contains("not registered"), "{err}");

    let genuine = write_only(&storage, &mut owner, &identity).await;
    let real = genuine.backup_stream(&b"genuine"[..], request("real")).await.unwrap();
    let by_owner = owner.backup_stream(&b"from the owner"[..], request("owner")).await.unwrap();
    let reader = Repository::open(storage.clone(), Credential::Identity(identity.clone())).await.unwrap();
    assert_eq!(restore(&reader, &real.id).await, b"genuine");
    assert_eq!(restore(&reader, &by_owner.id).await, b"from the owner");

    // Forgeries: the genuine manifest re-sealed for the identity, unsigned and signed by a stranger.
    let mut forged = real.clone();
    for (n, signer) in [None, Some(WriterKey::generate().unwrap())].into_iter().enumerate() {
        forged.id = format!("{:032x}", n + 1);
        let plain = serde_json::to_vec(&forged).unwrap();
        let object_id: [u8; 16] = hex::decode(&forged.id).unwrap().try_into().unwrap();
        let recipients = [identity.public()];
        let audience = lifeboat_crypto::Audience { master: None, recipients: &recipients };
        let options = lifeboat_crypto::PipelineOptions::default();
        let kind = lifeboat_crypto::ObjectKind::Manifest;
        let sealed = match &signer {
            None => lifeboat_crypto::seal_bytes(&plain, kind, object_id, audience, options).unwrap(),
            Some(k) => lifeboat_crypto::seal_bytes_signed(&plain, kind, object_id, audience, options, k).unwrap(),
        };
        let key = format!("backups/{}", forged.id);
        storage.put_bytes(&key, Bytes::from(sealed)).await.unwrap();
        let err = reader.load_manifest(&forged.id).await.unwrap_err();
        assert!(matches!(err, RepoError::BadManifest { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(&key), "{text}");
        match &signer {
            None => assert!(text.contains("no writer signature"), "{text}"),
            Some(k) => {
                assert!(text.contains(&hex::encode(k.public().id())) && text.contains("does not list"), "{text}")
            }
        }
    }
}

/// Item 8 for readers that hold only an identity: they cannot check the config's MAC, so a
/// writer that someone with storage write registers by editing the config must not be
/// trusted; the signers pinned on this host are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_planted_in_the_config_does_not_fool_an_identity_reader() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let state = tempfile::tempdir().unwrap();
    let mut owner = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let identity = Arc::new(Identity::generate().unwrap());
    owner.add_recipient(identity.public(), None).await.unwrap();
    let genuine = write_only(&storage, &mut owner, &identity).await;
    let real = genuine.backup_stream(&b"genuine"[..], request("real")).await.unwrap();
    let open_reader =
        |trust: OpenOptions| Repository::open_with(storage.clone(), Credential::Identity(identity.clone()), trust);
    let reader = open_reader(trust_in(state.path())).await.unwrap();
    assert_eq!(restore(&reader, &real.id).await, b"genuine");

    // The attacker registers a writer of their own by editing the config (its MAC no longer
    // verifies, which only a master-key holder can tell) and writes a backup with it.
    let attacker = Arc::new(WriterKey::generate().unwrap());
    let mut doc: serde_json::Value = serde_json::from_slice(&storage.get_bytes("config").await.unwrap()).unwrap();
    let planted =
        serde_json::json!({"id": hex::encode(attacker.public().id()), "public_key": attacker.public().to_string()});
    doc["writers"].as_array_mut().unwrap().push(planted);
    storage.put_bytes("config", Bytes::from(serde_json::to_vec_pretty(&doc).unwrap())).await.unwrap();
    let as_attacker = OpenOptions { writer_key: Some(attacker), ..Default::default() };
    let forger = Repository::open_with(storage.clone(), Credential::WriteOnly(vec![identity.public()]), as_attacker)
        .await
        .unwrap();
    let forged = forger.backup_stream(&b"forged"[..], request("forged")).await.unwrap();

    let reader = open_reader(trust_in(state.path())).await.unwrap();
    let err = reader.load_manifest(&forged.id).await.unwrap_err();
    // Unpinned signers: the CLI's hint (hints.rs) names --trust-new-signers for this variant.
    assert!(matches!(err, RepoError::SignerNotPinned { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&forged.id) && text.contains("possibly forged"), "{text}");
    assert_eq!(restore(&reader, &real.id).await, b"genuine", "the genuine backup stopped opening");
    // A master-key holder notices the edit outright.
    assert!(Repository::open(storage.clone(), pw("pw")).await.is_err(), "the edited config was accepted");
    // Trusting the listed signers on purpose (after checking `key list`) accepts it.
    let trusting = OpenOptions { trust_new_signers: true, ..trust_in(state.path()) };
    let reader = open_reader(trusting).await.unwrap();
    assert_eq!(restore(&reader, &forged.id).await, b"forged");
}

/// Item 9: a backup that opened the repository before a `key rotate` finished is sealed
/// for the new master key, or fails loudly when its credential cannot open that key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_after_a_concurrent_rotation_is_sealed_for_the_new_key() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut admin = Repository::init(storage.clone(), pw("main"), cheap()).await.unwrap();
    admin.add_slot(pw("other"), Argon2Params::MINIMUM, None).await.unwrap();
    let same = Repository::open(storage.clone(), pw("main")).await.unwrap();
    let other = Repository::open(storage.clone(), pw("other")).await.unwrap();
    let old_id = same.config().master_key_id.clone();
    let report = admin.rotate_master_key().await.unwrap();

    let m = same.backup_stream(&b"after rotation"[..], request("late")).await.unwrap();
    let fresh = Repository::open(storage.clone(), pw("main")).await.unwrap();
    assert_eq!(restore(&fresh, &m.id).await, b"after rotation");

    let err = other.backup_stream(&b"lost"[..], request("lost")).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&old_id) && text.contains(&report.new_key_id) && text.contains("NOT committed"), "{text}");
    assert_eq!(fresh.list().await.unwrap().0.len(), 1, "the failed backup was listed");
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

// ---------------------------------------------------------------- object trust (issue 9, items 10-13)

/// The master key of a repository made with `cheap()`, unwrapped from its first password slot
/// as FORMAT.md 2.1 says, so that tests can seal manifests a buggy or hostile writer could make.
async fn master_of(storage: &Arc<dyn Storage>, password: &str) -> ([u8; 8], lifeboat_crypto::SecretKey) {
    let config = config_json(storage).await;
    let slot = &config["slots"][0];
    let kdf = &slot["kdf"];
    let num = |v: &serde_json::Value| u32::try_from(v.as_u64().unwrap()).unwrap();
    let params = Argon2Params {
        memory_kib: num(&kdf["memory_kib"]),
        iterations: num(&kdf["iterations"]),
        parallelism: num(&kdf["parallelism"]),
    };
    let unhex = |v: &serde_json::Value| hex::decode(v.as_str().unwrap()).unwrap();
    let kek = lifeboat_crypto::password_kek(password.as_bytes(), &unhex(&kdf["salt"]), params).unwrap();
    let aad = [b"lifeboat/v1/slot".as_slice(), &unhex(&config["id"]), &unhex(&slot["id"])].concat();
    let nonce: [u8; 12] = unhex(&slot["nonce"]).try_into().unwrap();
    let master = lifeboat_crypto::unwrap_key(&kek, &nonce, &aad, &unhex(&slot["wrapped"])).unwrap();
    (unhex(&config["master_key_id"]).try_into().unwrap(), master)
}

/// Seals `manifest` (any JSON) for the master key and stores it as `backups/<id>`.
async fn put_manifest(
    storage: &Arc<dyn Storage>,
    master: &([u8; 8], lifeboat_crypto::SecretKey),
    id: &str,
    manifest: &serde_json::Value,
) {
    let audience = lifeboat_crypto::Audience { master: Some((&master.0, &master.1)), recipients: &[] };
    let options = lifeboat_crypto::PipelineOptions { segment_size: 4096, compression_level: 3, parallelism: 2 };
    let object_id: [u8; 16] = hex::decode(id).unwrap().try_into().unwrap();
    let plain = serde_json::to_vec(manifest).unwrap();
    let sealed =
        lifeboat_crypto::seal_bytes(&plain, lifeboat_crypto::ObjectKind::Manifest, object_id, audience, options)
            .unwrap();
    storage.put_bytes(&format!("backups/{id}"), Bytes::from(sealed)).await.unwrap();
}

/// The decrypted JSON of a manifest as the repository reads it.
async fn manifest_json(repo: &Repository, id: &str) -> serde_json::Value {
    serde_json::to_value(repo.load_manifest(id).await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_slot_that_does_not_open_is_damage_and_latest_does_not_skip_it() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let older = repo.backup_stream(&b"older"[..], request("a")).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let newest = repo.backup_stream(&b"newest"[..], request("b")).await.unwrap();
    assert_eq!(repo.resolve("latest", None).await.unwrap().id, newest.id);
    // One flipped bit in the newest manifest's master slot key id (fixed header 72 bytes,
    // slot count 2, slot type 1 and length 2: the key id starts at 77).
    let key = format!("backups/{}", newest.id);
    let mut bytes = storage.get_bytes(&key).await.unwrap().to_vec();
    bytes[77] ^= 0x01;
    storage.put_bytes(&key, Bytes::from(bytes)).await.unwrap();

    let (listed, unreadable) = repo.list().await.unwrap();
    assert_eq!(listed.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), [older.id.as_str()]);
    let [err] = unreadable.as_slice() else { panic!("{unreadable:?}") };
    assert!(!err.is_recipients_only(), "a damaged master slot taken for a recipients-only manifest: {err}");
    assert_eq!(err.object_key(), Some(key.as_str()));
    let text = err.to_string();
    assert!(
        text.contains(&key) && text.contains("master-key slot") && text.contains("does not open (damaged or forged"),
        "{text}"
    );
    // `latest` does not silently fall back to the older backup: it names the damage and
    // the newest readable backup, which can be asked for by id.
    let err = repo.resolve("latest", None).await.unwrap_err();
    assert!(matches!(err, RepoError::LatestUnknown { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&key) && text.contains(&older.id), "{text}");
    assert_eq!(repo.resolve(&older.id, None).await.unwrap().id, older.id);
    let err = repo.resolve(&newest.id, None).await.unwrap_err();
    assert!(err.to_string().contains("master-key slot"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_read_from_a_manifest_are_validated_not_sliced() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let m = repo.backup_stream(&b"x"[..], request("x")).await.unwrap();
    let master = master_of(&storage, "pw").await;
    let good = manifest_json(&repo, &m.id).await;
    let cases: Vec<(&str, &str, serde_json::Value)> = vec![
        // A multibyte character at byte 1: slicing the first two bytes used to panic `list`.
        ("object_id", "object_id", serde_json::json!("aé000000000000000000000000000000")),
        ("short object_id", "object_id", serde_json::json!("ab")),
        ("upper-case object_id", "object_id", serde_json::json!(m.objects[0].object_id.to_uppercase())),
        ("digest", "blake3", serde_json::json!("ü".repeat(32))),
        ("plain digest", "plain_blake3", serde_json::json!("00")),
        ("dek", "dek", serde_json::json!("é".repeat(32))),
    ];
    for (case, field, value) in cases {
        let mut bad = good.clone();
        bad["objects"][0][field] = value;
        put_manifest(&storage, &master, &m.id, &bad).await;
        let (listed, unreadable) = repo.list().await.unwrap();
        assert!(listed.is_empty(), "{case}: accepted");
        let [err] = unreadable.as_slice() else { panic!("{case}: {unreadable:?}") };
        assert!(matches!(err, RepoError::BadManifest { .. }), "{case}: {err}");
        assert!(err.to_string().contains(&format!("backups/{}", m.id)), "{case}: {err}");
        assert!(err.to_string().contains(if field == "dek" { "dek" } else { "hex digits" }), "{case}: {err}");
    }
    for (case, member, value) in [
        ("id", "id", serde_json::json!("ß".repeat(16))),
        ("repository", "repository", serde_json::json!("r")),
        ("parent", "parent", serde_json::json!("päre")),
    ] {
        let mut bad = good.clone();
        bad[member] = value;
        put_manifest(&storage, &master, &m.id, &bad).await;
        let err = repo.load_manifest(&m.id).await.unwrap_err();
        assert!(matches!(err, RepoError::BadManifest { .. }), "{case}: {err}");
    }
    // A manifest stored under a name that is not an id is named, not opened.
    storage.put_bytes("backups/not-an-id", Bytes::from_static(b"junk")).await.unwrap();
    let (_, unreadable) = repo.list().await.unwrap();
    assert!(unreadable.iter().any(|e| e.to_string().contains("backups/not-an-id")), "{unreadable:?}");
}

/// Rewrites backup `m`'s only data object with `object` and re-seals its manifest to match
/// (stored size and digest), so that only what the test changed is wrong.
async fn replace_object(
    storage: &Arc<dyn Storage>,
    repo: &Repository,
    m: &lifeboat_repo::Manifest,
    object: Vec<u8>,
    plain_size: Option<u64>,
) {
    let master = master_of(storage, "pw").await;
    let mut doc = manifest_json(repo, &m.id).await;
    doc["objects"][0]["size"] = serde_json::json!(object.len());
    doc["objects"][0]["blake3"] = serde_json::json!(blake3::hash(&object).to_hex().to_string());
    if let Some(size) = plain_size {
        doc["objects"][0]["plain_size"] = serde_json::json!(size);
    }
    storage.put_bytes(&m.objects[0].key, Bytes::from(object)).await.unwrap();
    put_manifest(storage, &master, &m.id, &doc).await;
}

/// Seals `bodies` (already encoded as the test wants) as the segments of an object with `header`.
fn seal_segments(
    header: &lifeboat_crypto::ObjectHeader,
    dek: &lifeboat_crypto::SecretKey,
    bodies: &[Vec<u8>],
) -> Vec<u8> {
    let cipher = lifeboat_crypto::SegmentCipher::new(header, dek).unwrap();
    let mut object = header.encode();
    for (i, body) in bodies.iter().enumerate() {
        object.extend_from_slice(&cipher.seal_encoded(i as u64, i + 1 == bodies.len(), body).unwrap());
    }
    object
}

/// Restore and deep verify of `m` both fail, naming its object and `needle`.
async fn assert_rejected(repo: &Repository, m: &lifeboat_repo::Manifest, case: &str, needle: &str) {
    let m = repo.load_manifest(&m.id).await.unwrap();
    let key = &m.objects[0].key;
    let mut out = Vec::new();
    let err = repo.restore_to_writer(&m, None, &mut out).await.unwrap_err().to_string();
    assert!(err.contains(key.as_str()) && err.contains(needle), "{case}: restore: {err}");
    let dir = tempfile::tempdir().unwrap();
    let err = repo.restore_to_dir(&m, &dir.path().join("t")).await.unwrap_err().to_string();
    assert!(err.contains(key.as_str()) && err.contains(needle), "{case}: restore to a directory: {err}");
    let report = repo.verify(std::slice::from_ref(&m), true).await.unwrap();
    assert_eq!(report.damage.len(), 1, "{case}: verify --deep: {report:?}");
    assert_eq!(&report.damage[0].object, key, "{case}");
    assert!(report.damage[0].problem.contains(needle), "{case}: verify --deep: {}", report.damage[0].problem);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_enforce_slots_frames_and_plain_size_by_name() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let plain = b"nine bytes, then some more to have two halves".to_vec();
    let m = repo.backup_stream(std::io::Cursor::new(plain.clone()), request("s")).await.unwrap();
    let original = storage.get_bytes(&m.objects[0].key).await.unwrap().to_vec();
    let (header, _) = lifeboat_crypto::parse_complete_header(&original).unwrap();
    let dek = m.objects[0].dek.clone();
    let frame = |p: &[u8]| zstd::bulk::compress(p, 3).unwrap();

    // A plain_size the restored bytes do not have (the digest is right): too small, too large.
    for (case, size) in
        [("plain_size too small", plain.len() as u64 - 1), ("plain_size too large", plain.len() as u64 + 1)]
    {
        replace_object(&storage, &repo, &m, original.clone(), Some(size)).await;
        assert_rejected(&repo, &m, case, "plain_size").await;
    }
    // A data object given a key slot (its segments sealed to match the new slot section).
    let mut with_slot = header.clone();
    let (mk_id, mk) = master_of(&storage, "pw").await;
    with_slot.slots =
        lifeboat_crypto::Audience { master: Some((&mk_id, &mk)), recipients: &[] }.slots(&header.fixed, &dek).unwrap();
    replace_object(&storage, &repo, &m, seal_segments(&with_slot, &dek, &[frame(&plain)]), Some(plain.len() as u64))
        .await;
    assert_rejected(&repo, &m, "data object with a key slot", "no key slots").await;
    // Segments holding two zstd frames, or a skippable frame.
    let (a, b) = plain.split_at(9);
    let skippable = [&0x184D_2A50u32.to_le_bytes()[..], &4u32.to_le_bytes(), b"junk"].concat();
    for (case, body, needle) in [
        ("two zstd frames", [frame(a), frame(b)].concat(), "follow the zstd frame"),
        ("a skippable frame", [skippable, frame(&plain)].concat(), "not a standard zstd frame"),
    ] {
        replace_object(&storage, &repo, &m, seal_segments(&header, &dek, &[body]), Some(plain.len() as u64)).await;
        assert_rejected(&repo, &m, case, needle).await;
    }
    // The object as written still restores (the manifests above were sealed the same way).
    replace_object(&storage, &repo, &m, original, Some(plain.len() as u64)).await;
    assert_eq!(restore(&repo, &m.id).await, plain);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_stripped_of_its_master_slot_is_damage_not_recipients_only() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut owner = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let identity = Arc::new(Identity::generate().unwrap());
    owner.add_recipient(identity.public(), Some("escrow".into())).await.unwrap();
    let older = owner.backup_stream(&b"older"[..], request("a")).await.unwrap();
    // A genuine recipients-only backup by a registered write-only host.
    let writer = write_only(&storage, &mut owner, &identity).await;
    let by_writer = writer.backup_stream(&b"from the writer"[..], request("w")).await.unwrap();
    let owner = Repository::open(storage.clone(), pw("pw")).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let newest = owner.backup_stream(&b"newest"[..], request("b")).await.unwrap();
    // Whoever can write the storage removes the newest manifest's master-key slot, so that
    // the owner would take it for a recipients-only manifest and restore `older` as latest.
    let key = format!("backups/{}", newest.id);
    let bytes = storage.get_bytes(&key).await.unwrap().to_vec();
    let (mut header, used) = lifeboat_crypto::parse_complete_header(&bytes).unwrap();
    assert!(matches!(header.slots[0], lifeboat_crypto::Slot::Master { .. }));
    header.slots.remove(0);
    storage.put_bytes(&key, Bytes::from([header.encode(), bytes[used..].to_vec()].concat())).await.unwrap();

    let (listed, unreadable) = owner.list().await.unwrap();
    assert_eq!(listed.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), [older.id.as_str()]);
    let writer_key = format!("backups/{}", by_writer.id);
    let recipients_only: Vec<_> = unreadable.iter().filter(|e| e.is_recipients_only()).collect();
    assert_eq!(recipients_only.len(), 1, "{unreadable:?}");
    assert_eq!(recipients_only[0].object_key(), Some(writer_key.as_str()));
    let damaged: Vec<_> = unreadable.iter().filter(|e| !e.is_recipients_only()).collect();
    assert_eq!(damaged.len(), 1, "{unreadable:?}");
    assert!(
        damaged[0].to_string().contains(&key) && damaged[0].to_string().contains("no master-key slot"),
        "{}",
        damaged[0]
    );
    let err = owner.resolve("latest", None).await.unwrap_err();
    assert!(matches!(err, RepoError::LatestUnknown { .. }) && err.to_string().contains(&key), "{err}");
    // The identity holder sees the change through the slot section's hash.
    let reader = Repository::open(storage, Credential::Identity(identity)).await.unwrap();
    assert!(reader.load_manifest(&newest.id).await.is_err());
    assert_eq!(restore(&reader, &by_writer.id).await, b"from the writer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_opened_before_a_rotation_is_told_to_reopen_not_that_manifests_are_damaged() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let stale = Repository::open(storage.clone(), pw("pw")).await.unwrap();
    let m = stale.backup_stream(&b"x"[..], request("x")).await.unwrap();
    let mut rotating = Repository::open(storage.clone(), pw("pw")).await.unwrap();
    rotating.rotate_master_key().await.unwrap();
    let err = stale.load_manifest(&m.id).await.unwrap_err();
    assert!(matches!(err, RepoError::Key(_)) && err.to_string().contains("open the repository again"), "{err}");
    assert_eq!(restore(&Repository::open(storage, pw("pw")).await.unwrap(), &m.id).await, b"x");
}

/// Locks dropped without a release (failed or cancelled operations) are removed by tasks
/// their repository tracks: finished ones are forgotten, so a long-lived process does not
/// collect them, and `settle` waits for the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_locks_are_settled_by_their_repository_and_do_not_pile_up() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let mut most = 0;
    for i in 0..60 {
        let writer = repo.start_backup(request(&format!("abandoned {i}"))).await.unwrap();
        drop(writer);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        most = most.max(repo.lock_releases().outstanding());
    }
    assert!(most < 60, "finished removals were kept: {most}");
    repo.settle().await;
    assert_eq!(repo.lock_releases().outstanding(), 0);
    assert!(storage.list_all("locks/").await.unwrap().is_empty(), "a dropped lock was left behind");
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

/// `list_backups` and `verify_backups` sort what cannot be read: a backup sealed for a
/// recipient is someone else's (listed apart, never damage), a swapped manifest is damage
/// (with a frontend's advice appended when it gives one), and `latest` names the damage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_and_verify_triage_what_cannot_be_read() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut owner = Repository::init(storage.clone(), pw("owner"), cheap()).await.unwrap();
    let identity = Arc::new(Identity::generate().unwrap());
    let writer = write_only(&storage, &mut owner, &identity).await;
    let theirs = writer.backup_stream(&b"for the escrow"[..], request("escrow")).await.unwrap();
    let good = owner.backup_stream(&b"good"[..], request("good")).await.unwrap();
    let other =
        owner.backup_stream(&b"other"[..], BackupRequest { plan: Some("other".into()), ..request("o") }).await.unwrap();
    let damaged = owner.backup_stream(&b"damaged"[..], request("damaged")).await.unwrap();
    let good_bytes = storage.get_bytes(&format!("backups/{}", good.id)).await.unwrap();
    storage.put_bytes(&format!("backups/{}", damaged.id), good_bytes).await.unwrap();

    let listing = owner.list_backups().await.unwrap();
    let ids = |ms: Vec<&lifeboat_repo::Manifest>| ms.into_iter().map(|m| m.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(listing.readable.iter().collect()), [good.id.clone(), other.id.clone()]);
    assert_eq!(ids(listing.in_plan(Some("test")).collect()), vec![good.id.clone()]);
    assert_eq!(listing.summaries(Some("other")).len(), 1);
    assert_eq!(listing.sealed_for_others, [format!("backups/{}", theirs.id)]);
    assert_eq!(listing.unreadable.len(), 1);
    assert_eq!(listing.unreadable[0].object_key(), Some(format!("backups/{}", damaged.id).as_str()));
    assert!(!listing.is_complete());

    let outcome = owner.verify_backups_with_advice(None, false, |_| Some(" [advice]".into())).await.unwrap();
    assert_eq!(outcome.sealed_for_others, listing.sealed_for_others);
    assert_eq!((outcome.report.backups, outcome.report.damage.len()), (2, 1));
    let damage = &outcome.report.damage[0];
    assert_eq!(damage.backup, damaged.id);
    assert!(damage.problem.ends_with(" [advice]"), "{}", damage.problem);
    // One backup by id: the damaged one is damage found, not an error; "latest" is unsure.
    let one = owner.verify_backups(Some(&damaged.id), false).await.unwrap();
    assert_eq!((one.report.backups, one.report.damage.len()), (0, 1));
    let err = owner.resolve("latest", None).await.unwrap_err();
    assert!(
        matches!(&err, RepoError::LatestUnknown { damaged: d, newest: Some(n) } if d.len() == 1 && *n == other.id),
        "{err}"
    );
    // Someone else's backup alone is neither damage nor an error.
    let theirs_only = owner.verify_backups(Some(&theirs.id), false).await.unwrap();
    assert!(theirs_only.report.is_ok() && theirs_only.sealed_for_others.len() == 1);
}

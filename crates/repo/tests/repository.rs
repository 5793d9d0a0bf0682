//! Repository behaviour on the in-memory and filesystem backends.

use std::sync::Arc;

use bytes::Bytes;
use lifeboat_crypto::{Argon2Params, Identity};
use lifeboat_repo::{BackupRequest, Credential, InitOptions, LockKind, RepoError, Repository};
use lifeboat_storage::{FsStorage, MemoryStorage, Storage, StorageExt};

fn cheap() -> InitOptions {
    InitOptions { kdf: Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 }, ..Default::default() }
}

fn pw(p: &str) -> Credential {
    Credential::password(p)
}

fn request(name: &str) -> BackupRequest {
    BackupRequest { name: name.into(), plan: Some("test".into()), ..Default::default() }
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
    repo.add_slot(pw("other"), Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 }, None).await.unwrap();
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
    Repository::init(storage.clone(), pw("owner"), cheap()).await.unwrap();
    let identity = Arc::new(Identity::generate().unwrap());
    let writer = Repository::open(storage.clone(), Credential::WriteOnly(vec![identity.public()])).await.unwrap();
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
    let intruder = Identity::generate().unwrap().public().to_string();
    config["recipients"][0]["public_key"] = serde_json::Value::String(intruder);
    storage.put_bytes("config", Bytes::from(serde_json::to_vec(&config).unwrap())).await.unwrap();
    let err = Repository::open(storage, pw("owner")).await.unwrap_err();
    assert!(err.to_string().contains("not authenticated"), "{err}");
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
    assert!(matches!(err, RepoError::Locked(_)), "{err}");
    assert!(err.to_string().contains("backup stream"));
    held.release().await;
    repo.prune(false).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_refuses_when_a_manifest_is_unreadable() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let identity = Identity::generate().unwrap();
    let writer = Repository::open(storage.clone(), Credential::WriteOnly(vec![identity.public()])).await.unwrap();
    writer.backup_stream(&b"sealed for someone else"[..], request("x")).await.unwrap();
    let err = repo.prune(false).await.unwrap_err();
    assert!(err.to_string().contains("prune refused"), "{err}");
    assert_eq!(storage.list_all("data/").await.unwrap().len(), 1);
}

/// Memory storage that, like WebDAV or s3s-fs, has no true conditional create.
#[derive(Debug)]
struct NoConditionalCreate(MemoryStorage);

#[async_trait::async_trait]
impl Storage for NoConditionalCreate {
    fn location(&self) -> String {
        "no-conditional://test".into()
    }
    async fn put(
        &self,
        key: &str,
        body: lifeboat_storage::ByteStream,
        size_hint: Option<u64>,
    ) -> Result<(), lifeboat_storage::StorageError> {
        self.0.put(key, body, size_hint).await
    }
    async fn put_if_absent(
        &self,
        key: &str,
        _body: Bytes,
    ) -> Result<lifeboat_storage::PutOutcome, lifeboat_storage::StorageError> {
        Err(lifeboat_storage::StorageError::Unsupported {
            op: lifeboat_storage::Op::Put,
            location: self.location(),
            key: key.to_owned(),
            message: "no conditional create".into(),
        })
    }
    async fn get(
        &self,
        key: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<lifeboat_storage::ByteStream, lifeboat_storage::StorageError> {
        self.0.get(key, range).await
    }
    async fn head(&self, key: &str) -> Result<Option<lifeboat_storage::ObjectMeta>, lifeboat_storage::StorageError> {
        self.0.head(key).await
    }
    fn list(&self, prefix: &str) -> lifeboat_storage::MetaStream {
        self.0.list(prefix)
    }
    async fn delete(&self, key: &str) -> Result<(), lifeboat_storage::StorageError> {
        self.0.delete(key).await
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
    assert!(matches!(err, RepoError::Locked(_)), "{err}");
    assert!(dest_storage.list_all("data/").await.unwrap().is_empty(), "nothing copied under a prune");
    pruning.release().await;
    assert_eq!(source.copy_to(&dest, &all).await.unwrap().copied.len(), 1);
}

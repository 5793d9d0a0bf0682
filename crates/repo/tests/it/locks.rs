//! Locks: conditional create, leases by the storage clock, stale holders, unlock, releases of dropped locks.

use super::*;

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

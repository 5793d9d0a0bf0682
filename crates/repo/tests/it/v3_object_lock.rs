//! Locked format 3 backups (S3 object lock; issue 14) on a memory storage that keeps
//! retentions as S3 does (deletes refused, never shortened): the packs a locked backup
//! writes and the packs it reuses all stay retained at least until its lock ends, a later
//! lock extends them (each pack once) and an earlier one leaves them alone, the backup
//! verifies, and prune neither fails on retained packs nor counts them deleted; a copy
//! carries the lock where the destination has object lock and says so where it has none. The same
//! on moto_server end to end: `cli_remote.rs`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use lifeboat_repo::v3::{INDEX_PREFIX, PACKS_PREFIX};
use lifeboat_storage::{ByteStream, Capabilities, Op, PutOptions, Retention, RetentionMode, StorageError};

use lifeboat_repo::{Manifest, PruneReport};
use lifeboat_testkit::ManualClock;

use super::*;

/// What an object-lock bucket does, on memory: retentions kept per key, deletes of a
/// retained object refused, and every extension request recorded (one asking for an
/// earlier date than the object has is a violation: S3 refuses it in compliance mode).
#[derive(Debug, Default)]
struct ObjectLock {
    inner: MemoryStorage,
    held: Mutex<HashMap<String, Retention>>,
    extensions: Mutex<Vec<String>>,
    shortening: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl lifeboat_storage::layer::StorageLayer for ObjectLock {
    type Inner = MemoryStorage;
    fn inner(&self) -> &MemoryStorage {
        &self.inner
    }
    async fn capabilities(&self) -> Result<Capabilities, StorageError> {
        Ok(Capabilities { conditional_put: true, object_lock: true })
    }
    async fn put_with_options(
        &self,
        key: &str,
        body: ByteStream,
        size_hint: Option<u64>,
        options: &PutOptions,
    ) -> Result<(), StorageError> {
        self.inner.put(key, body, size_hint).await?;
        if let Some(r) = options.retention {
            self.held.lock().unwrap().insert(key.to_owned(), r);
        }
        Ok(())
    }
    async fn retention(&self, key: &str) -> Result<Option<Retention>, StorageError> {
        Ok(self.held.lock().unwrap().get(key).copied())
    }
    async fn extend_retention(&self, key: &str, wanted: &Retention) -> Result<Retention, StorageError> {
        if self.inner.head(key).await?.is_none() {
            return Err(StorageError::NotFound { op: Op::Put, location: "lock://".into(), key: key.into() });
        }
        self.extensions.lock().unwrap().push(key.to_owned());
        let mut held = self.held.lock().unwrap();
        let now = match held.get(key) {
            Some(current) if current.until > wanted.until => {
                self.shortening.lock().unwrap().push(key.to_owned());
                *current
            }
            Some(current) => current.extended_by(wanted),
            None => *wanted,
        };
        held.insert(key.to_owned(), now);
        Ok(now)
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        if self.held.lock().unwrap().get(key).is_some_and(Retention::is_active) {
            return Err(StorageError::Retained {
                op: Op::Delete,
                location: "lock://".into(),
                key: key.into(),
                mode: "GOVERNANCE".into(),
                until: "later".into(),
            });
        }
        self.inner.delete(key).await
    }
}

impl ObjectLock {
    fn extended(&self) -> Vec<String> {
        std::mem::take(&mut *self.extensions.lock().unwrap())
    }
}

/// Writes `count` files of 64 KiB under `dir`, seeded from `seed` (one pack holds them).
fn make_files(dir: &std::path::Path, seed: u64, count: u64) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..count {
        std::fs::write(dir.join(format!("f{i}.bin")), noise(seed * 100 + i, 64 << 10)).unwrap();
    }
}

/// A files backup of `source`.
async fn backup(repo: &Repository, source: &std::path::Path) -> Manifest {
    repo.backup_files(&[source.to_path_buf()], request("tree")).await.unwrap()
}

/// The backup `id` of `source` restores to what `source` holds now.
async fn check_restores(repo: &Repository, id: &str, source: &std::path::Path, scratch: &std::path::Path) {
    let manifest = repo.resolve(id, None).await.unwrap();
    let target = scratch.join(format!("restore-{id}"));
    let path = repo.restore_to_dir(&manifest, &target).await.unwrap();
    assert!(files(&path.join(source.strip_prefix("/").unwrap())) == files(source), "backup {id} restored other bytes");
}

/// The packs stored now.
async fn stored_packs(storage: &Arc<dyn Storage>) -> std::collections::BTreeSet<String> {
    storage.list_all(PACKS_PREFIX).await.unwrap().into_iter().map(|m| m.key).collect()
}

fn v3(report: &PruneReport) -> lifeboat_repo::V3PruneCounts {
    report.v3.clone().expect("a v3 repository reports v3 counts")
}

fn locked(name: &str, days: u32) -> BackupRequest {
    BackupRequest { retention: Some(Retention::days_from_now(RetentionMode::Governance, days)), ..request(name) }
}

/// The retention of every object under `prefix` (`None` for one without).
async fn retentions(storage: &Arc<dyn Storage>, prefix: &str) -> Vec<(String, Option<Retention>)> {
    let mut out = Vec::new();
    for meta in storage.list_all(prefix).await.unwrap() {
        let r = storage.retention(&meta.key).await.unwrap();
        out.push((meta.key, r));
    }
    out
}

/// Every pack is retained at least until `until`.
async fn every_pack_reaches(storage: &Arc<dyn Storage>, until: SystemTime, what: &str) {
    let packs = retentions(storage, PACKS_PREFIX).await;
    assert!(!packs.is_empty(), "{what}: no packs");
    for (key, r) in packs {
        let r = r.unwrap_or_else(|| panic!("{what}: pack {key} has no retention"));
        assert!(r.reaches(until), "{what}: pack {key} retained only until {r:?}");
    }
}

fn until(manifest: &lifeboat_repo::Manifest) -> SystemTime {
    SystemTime::from(manifest.locked_until.expect("a locked manifest records its lock"))
}

fn new_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(chrono::Utc::now()))
}

async fn init(storage: &Arc<dyn Storage>, clock: &Arc<ManualClock>) -> Repository {
    let options = OpenOptions { clock: Some(clock.clone()), ..Default::default() };
    Repository::init_with(storage.clone(), pw("pw"), v3_init(), options).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_backup_retains_the_packs_it_writes_and_reuses() {
    let dir = tempfile::tempdir().unwrap();
    let lock = Arc::new(ObjectLock::default());
    let storage: Arc<dyn Storage> = lock.clone();
    let clock = new_clock();
    let repo = init(&storage, &clock).await;
    let source = dir.path().join("src");
    make_files(&source, 1, 3);
    let first = backup(&repo, &source).await;
    let old_pack = stored_packs(&storage).await.into_iter().next().expect("one pack");
    let unlocked = retentions(&storage, PACKS_PREFIX).await;
    assert!(unlocked.iter().all(|(_, r)| r.is_none()), "an unlocked backup locks nothing: {unlocked:?}");

    // Two files more: the three old ones dedup against the unlocked backup's packs.
    make_files(&source.join("more"), 2, 2);
    let one_day = repo.backup_files(std::slice::from_ref(&source), locked("tree", 1)).await.unwrap();
    assert_eq!(one_day.version, lifeboat_repo::MANIFEST_VERSION_V3, "locked backups are format 3 now");
    assert_eq!(stored_packs(&storage).await.len(), 2, "the old files were reused, not written again");
    every_pack_reaches(&storage, until(&one_day), "first lock").await;
    let packs_extended = |keys: &[String]| keys.iter().filter(|k| k.starts_with(PACKS_PREFIX)).cloned().collect();
    let extended: Vec<String> = packs_extended(&lock.extended());
    assert_eq!(extended, vec![old_pack.clone()], "the reused pack is extended; the new one was put retained");
    let index = retentions(&storage, INDEX_PREFIX).await;
    assert!(
        index.iter().any(|(_, r)| r.is_some_and(|r| r.reaches(until(&one_day)))),
        "an index object naming the backup's packs is retained: {index:?}"
    );
    let domains = retentions(&storage, "domains/").await;
    assert!(domains.iter().all(|(_, r)| r.is_some()), "the domain object is retained: {domains:?}");

    // A longer lock extends the packs it reuses; a shorter one never shortens them.
    let three_days = repo.backup_files(std::slice::from_ref(&source), locked("tree", 3)).await.unwrap();
    every_pack_reaches(&storage, until(&three_days), "longer lock").await;
    let extended: Vec<String> = packs_extended(&lock.extended());
    assert_eq!(extended.len(), 2, "both packs, once each: {extended:?}");
    let before_short = stored_packs(&storage).await;
    repo.backup_files(std::slice::from_ref(&source), locked("tree", 1)).await.unwrap();
    for key in before_short {
        let r = storage.retention(&key).await.unwrap().expect("still retained");
        assert!(r.reaches(until(&three_days)), "a shorter lock shortened {key}: {r:?}");
    }
    let extended: Vec<String> = packs_extended(&lock.extended());
    assert!(extended.is_empty(), "packs retained long enough are left alone: {extended:?}");
    assert!(lock.shortening.lock().unwrap().is_empty(), "no request ever asked for an earlier date");

    let outcome = repo.verify_backups(Some(&one_day.id), true).await.unwrap();
    assert!(outcome.report.damage.is_empty(), "{:?}", outcome.report.damage);
    let all = repo.verify_backups(None, false).await.unwrap();
    assert!(all.report.damage.is_empty(), "{:?}", all.report.damage);
    std::fs::remove_dir_all(source.join("more")).unwrap();
    check_restores(&repo, &first.id, &source, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_stream_backup_is_format_3_and_restores() {
    let lock = Arc::new(ObjectLock::default());
    let storage: Arc<dyn Storage> = lock.clone();
    let clock = new_clock();
    let repo = init(&storage, &clock).await;
    let data = noise(7, 300 << 10);
    let plain = repo.backup_stream(std::io::Cursor::new(data.clone()), request("dump")).await.unwrap();
    let before = stored_packs(&storage).await;
    let locked = repo.backup_stream(std::io::Cursor::new(data.clone()), locked("dump", 1)).await.unwrap();
    assert_eq!(locked.version, lifeboat_repo::MANIFEST_VERSION_V3);
    let after = stored_packs(&storage).await;
    assert!(before.is_subset(&after) && after.len() <= before.len() + 1, "the chunks were reused: {after:?}");
    every_pack_reaches(&storage, until(&locked), "stream lock").await;
    assert_eq!(restore(&repo, &locked.id).await, data);
    // The unlocked one goes; prune leaves the shared packs alone and does not fail.
    repo.forget(std::slice::from_ref(&plain.id)).await.unwrap();
    let report = v3(&repo.prune(false).await.unwrap());
    assert_eq!((report.packs_condemned, report.packs_deleted), (0, 0), "{report:?}");
    assert_eq!(restore(&repo, &locked.id).await, data);
    // A repair supersedes every index object; the retained one stays, and that is no error.
    let repaired = repo.repair_v3_index().await.unwrap();
    assert!(storage.list_all(INDEX_PREFIX).await.unwrap().len() >= 2, "{repaired:?}");
    assert_eq!(restore(&repo, &locked.id).await, data);
}

/// A pack a locked backup extended, whose backup then never committed: condemned, but
/// kept (and counted waiting, never deleted) while its retention lasts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_a_retained_condemned_pack_waiting_and_does_not_fail() {
    let dir = tempfile::tempdir().unwrap();
    let clock = new_clock();
    let lock = Arc::new(ObjectLock::default());
    let storage: Arc<dyn Storage> = lock.clone();
    let repo = init(&storage, &clock).await;
    make_files(&dir.path().join("keep"), 1, 2);
    make_files(&dir.path().join("gone"), 2, 2);
    let keep = backup(&repo, &dir.path().join("keep")).await;
    let before = stored_packs(&storage).await;
    let gone = backup(&repo, &dir.path().join("gone")).await;
    let gone_pack = stored_packs(&storage).await.difference(&before).next().cloned().expect("a pack of its own");
    storage.extend_retention(&gone_pack, &Retention::days_from_now(RetentionMode::Governance, 1)).await.unwrap();
    let locked = repo.backup_files(&[dir.path().join("keep")], locked("tree", 1)).await.unwrap();

    repo.forget(std::slice::from_ref(&gone.id)).await.unwrap();
    let first = v3(&repo.prune(false).await.unwrap());
    assert_eq!(first.packs_condemned, 1, "{first:?}");
    clock.advance(chrono::TimeDelta::minutes(31));
    let second = v3(&repo.prune(false).await.unwrap());
    assert_eq!((second.packs_deleted, second.packs_waiting), (0, 1), "{second:?}");
    assert!(stored_packs(&storage).await.contains(&gone_pack), "a retained pack stays");
    let indexed: Vec<String> = repo.v3_indexed_packs().await.unwrap().iter().map(|p| p.key()).collect();
    assert!(indexed.contains(&gone_pack), "it stays indexed while it waits");
    assert_eq!(repo.v3_condemned().await.unwrap().len(), 1, "and condemned, for a later prune");
    check_restores(&repo, &keep.id, &dir.path().join("keep"), dir.path()).await;
    let outcome = repo.verify_backups(Some(&locked.id), false).await.unwrap();
    assert!(outcome.report.damage.is_empty(), "{:?}", outcome.report.damage);
}

/// A write-only host cannot read its earlier trees: its locked backup retains every pack
/// of its own domain (a superset), and a reader with the identity verifies it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_only_hosts_locked_backup_retains_its_domains_packs() {
    let dir = tempfile::tempdir().unwrap();
    let lock = Arc::new(ObjectLock::default());
    let storage: Arc<dyn Storage> = lock.clone();
    let mut owner = Repository::init(storage.clone(), pw("pw"), v3_init()).await.unwrap();
    let identity = Arc::new(lifeboat_crypto::Identity::generate().unwrap());
    owner.add_recipient(identity.public(), Some("escrow".into())).await.unwrap();
    let host = write_only(&storage, &mut owner, &identity).await;
    let source = dir.path().join("src");
    make_files(&source, 3, 2);
    host.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
    assert!(retentions(&storage, PACKS_PREFIX).await.iter().all(|(_, r)| r.is_none()));
    make_files(&source.join("more"), 4, 1);
    let locked = host.backup_files(std::slice::from_ref(&source), locked("tree", 1)).await.unwrap();
    assert_eq!(locked.version, lifeboat_repo::MANIFEST_VERSION_V3);
    every_pack_reaches(&storage, until(&locked), "write-only lock").await;
    let reader = Repository::open(storage.clone(), Credential::Identity(identity.clone())).await.unwrap();
    let outcome = reader.verify_backups(Some(&locked.id), true).await.unwrap();
    assert!(outcome.report.damage.is_empty(), "{:?}", outcome.report.damage);
}

/// A locked backup copied into a repository with object lock is locked there as at the
/// source (same date, same mode): every pack it needs, the index object naming them, the
/// domain object and the manifest. Copied into one without object lock, its copy does not
/// claim a lock it lacks: no `locked_until`, a warning saying what was dropped, and the
/// report names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_backup_copied_keeps_its_lock_where_the_destination_has_object_lock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = new_clock();
    let source_storage: Arc<dyn Storage> = Arc::new(ObjectLock::default());
    let repo = init(&source_storage, &clock).await;
    let source = dir.path().join("src");
    make_files(&source, 5, 3);
    let compliance = Retention::days_from_now(RetentionMode::Compliance, 2);
    let request = BackupRequest { retention: Some(compliance), ..request("tree") };
    let manifest = repo.backup_files(std::slice::from_ref(&source), request).await.unwrap();
    let plain = repo.backup_files(std::slice::from_ref(&source), super::request("plain")).await.unwrap();

    let locking: Arc<dyn Storage> = Arc::new(ObjectLock::default());
    let dest = init(&locking, &clock).await;
    let report = repo.copy_to(&dest, &[manifest.clone(), plain.clone()]).await.unwrap();
    assert_eq!(report.copied.len(), 2, "{report:?}");
    assert!(report.locks_dropped.is_empty(), "{report:?}");
    let copy = dest.resolve(&manifest.id, None).await.unwrap();
    assert_eq!(copy.locked_until, manifest.locked_until, "the copy records the same lock");
    every_pack_reaches(&locking, until(&manifest), "the copy's packs").await;
    for (what, prefix) in [("manifest", format!("backups/{}", manifest.id)), ("domain", "domains/".to_owned())] {
        let held = retentions(&locking, &prefix).await;
        assert!(!held.is_empty(), "{what}: nothing under {prefix}");
        for (key, r) in held {
            let r = r.unwrap_or_else(|| panic!("{what} {key} is not retained at the destination"));
            assert!(r.reaches(until(&manifest)), "{what} {key}: {r:?}");
            assert_eq!(r.mode, RetentionMode::Compliance, "{what} {key}: the source's mode is carried");
        }
    }
    let index = retentions(&locking, INDEX_PREFIX).await;
    assert!(index.iter().any(|(_, r)| r.is_some_and(|r| r.reaches(until(&manifest)))), "{index:?}");
    let plain_key = format!("backups/{}", plain.id);
    assert_eq!(locking.retention(&plain_key).await.unwrap(), None, "an unlocked backup's copy is not locked");
    check_restores(&dest, &manifest.id, &source, &dir.path().join("at-dest")).await;

    let unlocking: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let dest = init(&unlocking, &clock).await;
    let report = repo.copy_to(&dest, std::slice::from_ref(&manifest)).await.unwrap();
    assert_eq!(report.locks_dropped, vec![manifest.id.clone()], "{report:?}");
    let copy = dest.resolve(&manifest.id, None).await.unwrap();
    assert_eq!(copy.locked_until, None, "a copy without object lock claims none");
    assert!(copy.warnings.iter().any(|w| w.contains("without its object lock")), "{:?}", copy.warnings);
    check_restores(&dest, &manifest.id, &source, &dir.path().join("at-plain")).await;
}

/// The same for format 2: a locked stream backup copied between format 2 repositories with
/// object lock keeps its lock on every data object and on the manifest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_format_2_backup_copied_keeps_its_lock_on_its_objects() {
    let clock = new_clock();
    let options = || OpenOptions { clock: Some(clock.clone()), ..Default::default() };
    let source_storage: Arc<dyn Storage> = Arc::new(ObjectLock::default());
    let repo = Repository::init_with(source_storage.clone(), pw("pw"), cheap(), options()).await.unwrap();
    let data = noise(9, 200 << 10);
    let manifest = repo.backup_stream(std::io::Cursor::new(data.clone()), locked("dump", 2)).await.unwrap();
    assert_eq!(manifest.version, lifeboat_repo::MANIFEST_VERSION, "a format 2 repository writes format 2");

    let locking: Arc<dyn Storage> = Arc::new(ObjectLock::default());
    let dest = Repository::init_with(locking.clone(), pw("other"), cheap(), options()).await.unwrap();
    let report = repo.copy_to(&dest, std::slice::from_ref(&manifest)).await.unwrap();
    assert_eq!(report.copied, vec![manifest.id.clone()], "{report:?}");
    let mut keys: Vec<String> = manifest.objects.iter().map(|o| o.key.clone()).collect();
    keys.push(format!("backups/{}", manifest.id));
    for key in keys {
        let r = locking.retention(&key).await.unwrap().unwrap_or_else(|| panic!("{key} is not retained"));
        assert!(r.reaches(until(&manifest)), "{key}: {r:?}");
    }
    assert_eq!(restore(&dest, &manifest.id).await, data);
}

//! Format v3 prune through a `Repository` (docs/FORMAT.md 11.6, issue 14): packs are
//! condemned, then deleted only after the delay; repacking by `max_unused`; a late
//! manifest revives its pack; backups never deduplicate against condemned packs; a lapsed
//! lease refuses the manifest; and a prune killed after any of its writes leaves every
//! backup restorable and an index that names no missing pack.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lifeboat_repo::v3::PACKS_PREFIX;
use lifeboat_repo::{Manifest, PruneOptions, PruneReport};
use lifeboat_storage::clock::Clock;
use lifeboat_storage::layer::StorageLayer;
use lifeboat_storage::{ByteStream, MetaStream, ObjectMeta, Op, PutOptions, PutOutcome, StorageError};

use super::*;

/// A clock the test moves: the repository's clock, and (on memory storage, which reports
/// no modification times) the storage's too.
#[derive(Debug)]
pub(super) struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    pub(super) fn new() -> Arc<TestClock> {
        Arc::new(TestClock(Mutex::new(Utc::now())))
    }

    pub(super) fn advance_minutes(&self, minutes: i64) {
        *self.0.lock().unwrap() += chrono::Duration::minutes(minutes);
    }
}

pub(super) fn with_clock(clock: &Arc<TestClock>) -> OpenOptions {
    OpenOptions { clock: Some(clock.clone()), ..Default::default() }
}

pub(super) async fn open(storage: &Arc<dyn Storage>, clock: &Arc<TestClock>) -> Repository {
    Repository::open_with(storage.clone(), pw("pw"), with_clock(clock)).await.unwrap()
}

/// Writes `count` files of 64 KiB under `dir`, seeded from `seed`.
pub(super) fn make_files(dir: &Path, seed: u64, count: u64) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..count {
        std::fs::write(dir.join(format!("f{i}.bin")), noise(seed * 100 + i, 64 << 10)).unwrap();
    }
}

/// A backup and what it must restore to.
#[derive(Clone)]
pub(super) struct Expected {
    pub(super) id: String,
    pub(super) source: PathBuf,
    pub(super) content: BTreeMap<String, Vec<u8>>,
}

pub(super) async fn backup(repo: &Repository, source: &Path) -> (Manifest, Expected) {
    let manifest = repo.backup_files(&[source.to_path_buf()], request("tree")).await.unwrap();
    let expected = Expected { id: manifest.id.clone(), source: source.to_path_buf(), content: files(source) };
    (manifest, expected)
}

/// Restores `expected` into a new directory under `scratch` and compares byte for byte.
pub(super) async fn check_restores(repo: &Repository, expected: &Expected, scratch: &Path, what: &str) {
    let manifest = repo.resolve(&expected.id, None).await.unwrap_or_else(|e| panic!("{what}: {e}"));
    let target = scratch.join(format!("restore-{}", lifeboat_crypto::random_bytes::<8>().map(hex::encode).unwrap()));
    let path = repo.restore_to_dir(&manifest, &target).await.unwrap_or_else(|e| panic!("{what}: restore: {e}"));
    let inner = path.join(expected.source.strip_prefix("/").unwrap());
    assert!(files(&inner) == expected.content, "{what}: backup {} restored different bytes", expected.id);
    std::fs::remove_dir_all(&target).unwrap();
}

/// The packs stored now.
pub(super) async fn stored_packs(storage: &Arc<dyn Storage>) -> BTreeSet<String> {
    storage.list_all(PACKS_PREFIX).await.unwrap().into_iter().map(|m| m.key).collect()
}

/// Every pack the index names exists.
async fn index_names_only_stored_packs(repo: &Repository, storage: &Arc<dyn Storage>, what: &str) {
    let stored = stored_packs(storage).await;
    for pack in repo.v3_indexed_packs().await.unwrap() {
        assert!(stored.contains(&pack.key()), "{what}: the index names missing pack {}", pack.key());
    }
}

pub(super) fn v3(report: &PruneReport) -> lifeboat_repo::V3PruneCounts {
    report.v3.clone().expect("a v3 repository reports v3 counts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgotten_packs_go_only_after_the_delay_and_the_rest_restores() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let clock = TestClock::new();
    let repo = Repository::init_with(storage.clone(), pw("pw"), v3_init(), with_clock(&clock)).await.unwrap();
    make_files(&dir.path().join("a"), 1, 3);
    make_files(&dir.path().join("b"), 2, 3);
    let (_, keep) = backup(&repo, &dir.path().join("a")).await;
    let (gone, _) = backup(&repo, &dir.path().join("b")).await;
    let before = stored_packs(&storage).await;
    assert_eq!(before.len(), 2, "one pack per backup");

    repo.forget(std::slice::from_ref(&gone.id)).await.unwrap();
    let first = v3(&repo.prune(false).await.unwrap());
    assert_eq!((first.packs_condemned, first.packs_deleted, first.packs_repacked), (1, 0, 0), "{first:?}");
    assert_eq!(stored_packs(&storage).await, before, "condemning deletes nothing");
    assert_eq!(repo.v3_condemned().await.unwrap().len(), 1);

    clock.advance_minutes(20);
    let early = v3(&repo.prune(false).await.unwrap());
    assert_eq!((early.packs_deleted, early.packs_waiting, early.packs_condemned), (0, 1, 0), "{early:?}");
    assert_eq!(stored_packs(&storage).await, before, "20 minutes are less than a lock lifetime");

    clock.advance_minutes(11);
    let late = v3(&repo.prune(false).await.unwrap());
    assert_eq!((late.packs_deleted, late.packs_waiting), (1, 0), "{late:?}");
    assert!(late.pack_bytes_freed > 3 * (64 << 10), "{late:?}");
    assert_eq!(stored_packs(&storage).await.len(), 1);
    assert!(repo.v3_condemned().await.unwrap().is_empty(), "the record goes once its packs are decided");
    index_names_only_stored_packs(&repo, &storage, "after delete").await;
    check_restores(&open(&storage, &clock).await, &keep, dir.path(), "kept backup").await;

    // Nothing left to do.
    clock.advance_minutes(60);
    let idle = v3(&repo.prune(false).await.unwrap());
    assert_eq!((idle.packs_condemned, idle.packs_deleted, idle.packs_waiting), (0, 0, 0), "{idle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let clock = TestClock::new();
    let repo = Repository::init_with(storage.clone(), pw("pw"), v3_init(), with_clock(&clock)).await.unwrap();
    make_files(&dir.path().join("b"), 2, 2);
    let (gone, _) = backup(&repo, &dir.path().join("b")).await;
    repo.forget(std::slice::from_ref(&gone.id)).await.unwrap();
    let listing = |s: Arc<dyn Storage>| async move {
        let mut keys: Vec<String> = Vec::new();
        for prefix in ["packs/", "index/", "prune/"] {
            keys.extend(s.list_all(prefix).await.unwrap().into_iter().map(|m| m.key));
        }
        keys
    };
    let before = listing(storage.clone()).await;
    let dry = v3(&repo.prune_with(PruneOptions { dry_run: true, ..Default::default() }).await.unwrap());
    assert_eq!(dry.packs_condemned, 1, "{dry:?}");
    assert_eq!(listing(storage.clone()).await, before, "a dry run wrote or deleted something");
    repo.prune(false).await.unwrap();
    clock.advance_minutes(31);
    let dry = v3(&repo.prune_with(PruneOptions { dry_run: true, ..Default::default() }).await.unwrap());
    assert_eq!(dry.packs_deleted, 1, "{dry:?}");
    assert_eq!(stored_packs(&storage).await.len(), 1, "a dry run deleted a pack");
}

/// One backup of 6 files, a second of 2 of them: the first's pack is two thirds unused.
async fn mostly_unused_pack(dir: &Path, repo: &Repository) -> Expected {
    let source = dir.join("src");
    make_files(&source, 3, 6);
    let (first, _) = backup(repo, &source).await;
    for i in 2..6 {
        std::fs::remove_file(source.join(format!("f{i}.bin"))).unwrap();
    }
    let (_, second) = backup(repo, &source).await;
    repo.forget(std::slice::from_ref(&first.id)).await.unwrap();
    second
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mostly_unused_pack_is_repacked_unless_max_unused_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let clock = TestClock::new();
    let repo = Repository::init_with(storage.clone(), pw("pw"), v3_init(), with_clock(&clock)).await.unwrap();
    let second = mostly_unused_pack(dir.path(), &repo).await;
    let packs = stored_packs(&storage).await;

    let lenient = v3(&repo.prune_with(PruneOptions { dry_run: false, max_unused: 0.9 }).await.unwrap());
    assert_eq!((lenient.packs_condemned, lenient.packs_repacked), (0, 0), "{lenient:?}");
    assert_eq!(stored_packs(&storage).await, packs);

    let strict = v3(&repo.prune_with(PruneOptions { dry_run: false, max_unused: 0.1 }).await.unwrap());
    assert_eq!((strict.packs_condemned, strict.packs_repacked), (1, 1), "{strict:?}");
    assert_eq!(strict.blobs_repacked, 2, "the two live chunks are copied: {strict:?}");
    assert_eq!(stored_packs(&storage).await.len(), packs.len() + 1, "one new pack");
    check_restores(&open(&storage, &clock).await, &second, dir.path(), "after repack").await;

    clock.advance_minutes(31);
    let deleted = v3(&repo.prune(false).await.unwrap());
    assert_eq!(deleted.packs_deleted, 1, "{deleted:?}");
    assert_eq!(stored_packs(&storage).await.len(), packs.len());
    index_names_only_stored_packs(&repo, &storage, "after repack and delete").await;
    check_restores(&open(&storage, &clock).await, &second, dir.path(), "after the repacked pack went").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_landing_after_the_condemnation_revives_its_pack() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let clock = TestClock::new();
    let repo = Repository::init_with(storage.clone(), pw("pw"), v3_init(), with_clock(&clock)).await.unwrap();
    make_files(&dir.path().join("a"), 1, 2);
    make_files(&dir.path().join("b"), 2, 2);
    backup(&repo, &dir.path().join("a")).await;
    let (late, expected) = backup(&repo, &dir.path().join("b")).await;
    // A backup that deduplicated against this pack before it was condemned, and whose
    // manifest lands only after: its manifest is away while the prune plans.
    let key = format!("backups/{}", late.id);
    let manifest_bytes = storage.get_bytes(&key).await.unwrap();
    storage.delete(&key).await.unwrap();
    let condemned = v3(&repo.prune(false).await.unwrap());
    assert_eq!(condemned.packs_condemned, 1, "{condemned:?}");
    storage.put_bytes(&key, manifest_bytes).await.unwrap();

    clock.advance_minutes(31);
    let revived = v3(&repo.prune(false).await.unwrap());
    assert_eq!((revived.packs_revived, revived.packs_deleted), (1, 0), "{revived:?}");
    assert!(repo.v3_condemned().await.unwrap().is_empty(), "the revived pack left its record");
    clock.advance_minutes(31);
    let again = v3(&repo.prune(false).await.unwrap());
    assert_eq!((again.packs_condemned, again.packs_deleted), (0, 0), "{again:?}");
    check_restores(&open(&storage, &clock).await, &expected, dir.path(), "revived").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_writes_again_what_only_a_condemned_pack_holds() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let clock = TestClock::new();
    let repo = Repository::init_with(storage.clone(), pw("pw"), v3_init(), with_clock(&clock)).await.unwrap();
    let source = dir.path().join("b");
    make_files(&source, 2, 3);
    let (gone, _) = backup(&repo, &source).await;
    repo.forget(std::slice::from_ref(&gone.id)).await.unwrap();
    assert_eq!(v3(&repo.prune(false).await.unwrap()).packs_condemned, 1);

    // Same content again: the only copies are in the condemned pack, so they are written anew.
    let fresh = open(&storage, &clock).await;
    let (again, expected) = backup(&fresh, &source).await;
    assert!(again.stats["bytes_new"] >= 3 * (64 << 10), "deduplicated against a condemned pack: {:?}", again.stats);
    clock.advance_minutes(31);
    let deleted = v3(&repo.prune(false).await.unwrap());
    assert_eq!((deleted.packs_deleted, deleted.packs_revived), (1, 0), "{deleted:?}");
    index_names_only_stored_packs(&repo, &storage, "after delete").await;
    check_restores(&open(&storage, &clock).await, &expected, dir.path(), "rewritten").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_whose_lease_lapsed_refuses_its_manifest() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let clock = TestClock::new();
    let repo = Repository::init_with(storage.clone(), pw("pw"), cheap(), with_clock(&clock)).await.unwrap();
    let mut writer = repo.start_backup(request("stalled")).await.unwrap();
    writer.add_stream("stream", &b"data"[..]).await.unwrap();
    clock.advance_minutes(31);
    let err = writer.commit().await.unwrap_err();
    assert!(matches!(err, RepoError::LeaseLapsed(_)), "{err}");
    assert!(err.to_string().contains("manifest") && err.to_string().contains("lease"), "{err}");
    assert!(storage.list_all("backups/").await.unwrap().is_empty(), "the manifest was written");

    // Within its lease a backup commits.
    let mut writer = repo.start_backup(request("prompt")).await.unwrap();
    writer.add_stream("stream", &b"data"[..]).await.unwrap();
    clock.advance_minutes(29);
    writer.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_whose_lease_lapsed_refuses_its_index_object() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let clock = TestClock::new();
    let repo = Repository::init_with(storage.clone(), pw("pw"), v3_init(), with_clock(&clock)).await.unwrap();
    let owner = lifeboat_repo::LockOwner { clock: clock.clone(), ..Default::default() };
    let lock =
        lifeboat_repo::Lock::acquire_for(storage.clone(), LockKind::Shared, "backup files", &owner).await.unwrap();
    let store = repo.v3_store().await.unwrap();
    store.set_lease(lock.lease());
    use lifeboat_repo::v3::BlobStore;
    store.put_blob(lifeboat_repo::v3::BlobKind::Data, Bytes::from_static(b"late")).await.unwrap();
    clock.advance_minutes(31);
    let err = store.flush().await.unwrap_err();
    assert!(err.to_string().contains("index objects") && err.to_string().contains("lease"), "{err}");
    assert!(storage.list_all("index/").await.unwrap().is_empty(), "an index object was written");
    lock.release().await;
}

/// A storage that works for `budget` writes and deletes, then fails every operation, as
/// a process killed at that instant would leave the repository (simulated kill -9). Made
/// with [`Killed::full_under`] it fails only writes under one prefix instead, as a full
/// disk or a failing storage would (everything else goes on working).
#[derive(Debug)]
pub(super) struct Killed {
    inner: Arc<dyn Storage>,
    budget: AtomicI64,
    dead: AtomicBool,
    /// `Some`: only writes and deletes under this prefix fail, and only while `failing`.
    only_under: Option<&'static str>,
    failing: AtomicBool,
    /// Whether a write failed (or the process was killed).
    hit: AtomicBool,
}

impl Killed {
    pub(super) fn new(inner: Arc<dyn Storage>, budget: i64) -> Arc<Killed> {
        Arc::new(Killed {
            inner,
            budget: AtomicI64::new(budget),
            dead: AtomicBool::new(false),
            only_under: None,
            failing: AtomicBool::new(false),
            hit: AtomicBool::new(false),
        })
    }

    /// A storage whose puts under `prefix` fail with "no space left" and whose deletes
    /// there fail with an I/O error, after `budget` of them succeeded, until
    /// [`heal`](Self::heal).
    pub(super) fn full_under(inner: Arc<dyn Storage>, prefix: &'static str, budget: i64) -> Arc<Killed> {
        Arc::new(Killed {
            inner,
            budget: AtomicI64::new(budget),
            dead: AtomicBool::new(false),
            only_under: Some(prefix),
            failing: AtomicBool::new(true),
            hit: AtomicBool::new(false),
        })
    }

    /// Space freed, storage repaired: every write works again.
    pub(super) fn heal(&self) {
        self.failing.store(false, Ordering::SeqCst);
    }

    /// In [`full_under`](Self::full_under) mode: fails a write under the prefix past the budget.
    fn full(&self, op: Op, key: &str, prefix: &str) -> Result<(), StorageError> {
        if !key.starts_with(prefix) || !self.failing.load(Ordering::SeqCst) {
            return Ok(());
        }
        if self.budget.fetch_sub(1, Ordering::SeqCst) > 0 {
            return Ok(());
        }
        self.hit.store(true, Ordering::SeqCst);
        let location = self.inner.location();
        Err(match op {
            Op::Delete => StorageError::from_io(op, &location, key, std::io::Error::other("storage failing")),
            _ => StorageError::NoSpace { op, location, key: key.to_owned() },
        })
    }

    fn alive(&self, op: Op, key: &str) -> Result<(), StorageError> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(StorageError::from_io(op, "killed", key, std::io::Error::other("process killed")));
        }
        Ok(())
    }

    /// Spends one write; the one past the budget never happens.
    fn write(&self, op: Op, key: &str) -> Result<(), StorageError> {
        if let Some(prefix) = self.only_under {
            return self.full(op, key, prefix);
        }
        self.alive(op, key)?;
        if self.budget.fetch_sub(1, Ordering::SeqCst) <= 0 {
            self.dead.store(true, Ordering::SeqCst);
            self.hit.store(true, Ordering::SeqCst);
            return self.alive(op, key);
        }
        Ok(())
    }

    /// Whether the kill (or, in `full_under` mode, a failed write) happened.
    pub(super) fn killed(&self) -> bool {
        self.hit.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl StorageLayer for Killed {
    type Inner = dyn Storage;
    fn inner(&self) -> &(dyn Storage + 'static) {
        self.inner.as_ref()
    }
    async fn put_with_options(
        &self,
        key: &str,
        body: ByteStream,
        size_hint: Option<u64>,
        options: &PutOptions,
    ) -> Result<(), StorageError> {
        self.write(Op::Put, key)?;
        self.inner.put_with_options(key, body, size_hint, options).await
    }
    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<PutOutcome, StorageError> {
        self.write(Op::Put, key)?;
        self.inner.put_if_absent(key, body).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.write(Op::Delete, key)?;
        self.inner.delete(key).await
    }
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
        self.alive(Op::Get, key)?;
        self.inner.get(key, range).await
    }
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        self.alive(Op::Head, key)?;
        self.inner.head(key).await
    }
    fn list(&self, prefix: &str) -> MetaStream {
        if let Err(e) = self.alive(Op::List, prefix) {
            return Box::pin(futures::stream::once(async move { Err(e) }));
        }
        self.inner.list(prefix)
    }
}

/// A copy of every object of `from` in a new memory storage.
pub(super) async fn copy_storage(from: &Arc<dyn Storage>) -> Arc<dyn Storage> {
    let to: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    for meta in from.list_all("").await.unwrap() {
        to.put_bytes(&meta.key, from.get_bytes(&meta.key).await.unwrap()).await.unwrap();
    }
    to
}

/// Every backup restores and the index names only stored packs.
async fn consistent(storage: &Arc<dyn Storage>, clock: &Arc<TestClock>, kept: &[Expected], scratch: &Path, what: &str) {
    let repo = open(storage, clock).await;
    index_names_only_stored_packs(&repo, storage, what).await;
    let listed: BTreeSet<String> = repo.list().await.unwrap().0.into_iter().map(|m| m.id).collect();
    for expected in kept {
        assert!(listed.contains(&expected.id), "{what}: backup {} is gone", expected.id);
        check_restores(&repo, expected, scratch, what).await;
    }
}

/// Runs one prune over `template` killed after `budget` writes, then what a later
/// operator does: prunes again (the dead lock is stale), and after the delays twice more.
/// Returns whether the kill hit (false: the prune finished within the budget).
async fn kill_and_recover(
    template: &Arc<dyn Storage>,
    clock: &Arc<TestClock>,
    budget: i64,
    kept: &[Expected],
    scratch: &Path,
    phase: &str,
) -> bool {
    let base = copy_storage(template).await;
    let killed = Killed::new(base.clone(), budget);
    let faulty: Arc<dyn Storage> = killed.clone();
    let repo = open(&faulty, clock).await;
    let result = repo.prune(false).await;
    let hit = killed.killed();
    assert!(hit || result.is_ok(), "{phase}: prune failed without a kill: {:?}", result.err());
    drop(repo);
    // The killed process's lock is stale (its holder is gone): remove it as unlock would.
    lifeboat_repo::remove_locks(base.as_ref(), true).await.unwrap();
    let what = format!("{phase}, killed after {budget} writes");
    consistent(&base, clock, kept, scratch, &format!("{what}, at once")).await;
    let repo = open(&base, clock).await;
    repo.prune(false).await.unwrap_or_else(|e| panic!("{what}: the next prune: {e}"));
    consistent(&base, clock, kept, scratch, &format!("{what}, after the next prune")).await;
    for _ in 0..2 {
        clock.advance_minutes(31);
        repo.prune(false).await.unwrap_or_else(|e| panic!("{what}: a later prune: {e}"));
    }
    consistent(&base, clock, kept, scratch, &format!("{what}, after the delays")).await;
    assert!(repo.v3_condemned().await.unwrap().is_empty(), "{what}: records are left after the delays");
    hit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prune_killed_after_any_write_leaves_every_backup_restorable() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let clock = TestClock::new();
    let repo = Repository::init_with(storage.clone(), pw("pw"), v3_init(), with_clock(&clock)).await.unwrap();
    // A repacked pack (two thirds unused), a wholly unused one, and a kept backup.
    let repacked = mostly_unused_pack(dir.path(), &repo).await;
    make_files(&dir.path().join("other"), 7, 2);
    let (gone, _) = backup(&repo, &dir.path().join("other")).await;
    repo.forget(std::slice::from_ref(&gone.id)).await.unwrap();
    let kept = [repacked];

    // Kills during the condemning run.
    let condemning = copy_storage(&storage).await;
    let mut positions = 0;
    for budget in 0.. {
        if !kill_and_recover(&condemning, &clock, budget, &kept, dir.path(), "condemning run").await {
            break;
        }
        positions += 1;
    }
    eprintln!("condemning run: killed at {positions} positions");
    assert!(positions >= 5, "the condemning run makes at least lock, repack pack, index, record, release");

    // Kills during the deleting run: condemned a lifetime ago.
    let deleting = copy_storage(&storage).await;
    open(&deleting, &clock).await.prune(false).await.unwrap();
    clock.advance_minutes(31);
    let mut positions = 0;
    for budget in 0.. {
        if !kill_and_recover(&deleting, &clock, budget, &kept, dir.path(), "deleting run").await {
            break;
        }
        positions += 1;
    }
    eprintln!("deleting run: killed at {positions} positions");
    assert!(positions >= 5, "the deleting run makes at least lock, index, deletes of index, packs, record");
}

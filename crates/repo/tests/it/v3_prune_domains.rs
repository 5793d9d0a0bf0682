//! Format v3 prune of every dedup domain (docs/FORMAT.md 11.2, 11.6, issue 14): a write-only
//! host's domain and a domain a copy carried are pruned like the main one (condemned, then
//! deleted after the delay), each from the backups that name it; a domain the credential
//! cannot open is reported and left alone; a full disk or a failing storage while the
//! records are written leaves every backup restorable; a prune whose own lease lapsed
//! stops before it deletes or condemns anything.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use lifeboat_repo::v3::{PACKS_PREFIX, PRUNE_PREFIX};
use lifeboat_repo::{DomainRole, Manifest, PruneReport, V3DomainPrune, V3PruneCounts};
use lifeboat_storage::MetaStream;
use lifeboat_storage::layer::StorageLayer;

use super::v3_prune::{
    Expected, Killed, TestClock, backup, check_restores, copy_storage, make_files, open, v3, with_clock,
};
use super::*;

/// The packs of domain `domain` (16 hex) stored now: their headers name the domain.
async fn packs_of(storage: &Arc<dyn Storage>, domain: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for meta in storage.list_all(PACKS_PREFIX).await.unwrap() {
        let bytes = storage.get_bytes(&meta.key).await.unwrap();
        if bytes.get(8..16).map(hex::encode).as_deref() == Some(domain) {
            out.insert(meta.key);
        }
    }
    out
}

/// The counts of domain `domain` in a prune's report.
fn of<'a>(counts: &'a V3PruneCounts, domain: &str) -> &'a V3DomainPrune {
    counts.domains.iter().find(|d| d.domain == domain).unwrap_or_else(|| panic!("no counts of {domain}: {counts:?}"))
}

fn domain_of(manifest: &Manifest) -> String {
    manifest.domain.clone().expect("a v3 manifest names its domain")
}

/// A handle reading with the recipient's identity.
async fn reader(storage: &Arc<dyn Storage>, identity: &Arc<Identity>, clock: &Arc<TestClock>) -> Repository {
    Repository::open_with(storage.clone(), Credential::Identity(identity.clone()), with_clock(clock)).await.unwrap()
}

/// A write-only host's session (its writer key, sealing for `identity`).
async fn host(
    storage: &Arc<dyn Storage>,
    key: &Arc<WriterKey>,
    identity: &Identity,
    clock: &Arc<TestClock>,
) -> Repository {
    let trust = OpenOptions { writer_key: Some(key.clone()), ..with_clock(clock) };
    Repository::open_with(storage.clone(), Credential::WriteOnly(vec![identity.public()]), trust).await.unwrap()
}

/// A v3 repository on memory storage whose owner (password `pw`) added `identity` as a
/// recipient and registered a writer key, with one backup of its own.
struct Owned {
    storage: Arc<dyn Storage>,
    owner: Repository,
    writer: Arc<WriterKey>,
    own: Expected,
    main_domain: String,
}

async fn owned(dir: &Path, identity: &Identity, clock: &Arc<TestClock>) -> Owned {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut owner = Repository::init_with(storage.clone(), pw("pw"), v3_init(), with_clock(clock)).await.unwrap();
    owner.add_recipient(identity.public(), Some("escrow".into())).await.unwrap();
    let writer = Arc::new(WriterKey::generate().unwrap());
    owner.add_writer(writer.public(), Some("backup host".into())).await.unwrap();
    make_files(&dir.join("own"), 1, 2);
    let (manifest, own) = backup(&owner, &dir.join("own")).await;
    Owned { storage, owner, writer, own, main_domain: domain_of(&manifest) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_prune_deletes_a_write_only_hosts_forgotten_packs_and_its_other_backups_restore() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let identity = Arc::new(Identity::generate().unwrap());
    let Owned { storage, owner, writer, own, main_domain } = owned(dir.path(), &identity, &clock).await;
    let session = host(&storage, &writer, &identity, &clock).await;
    make_files(&dir.path().join("a"), 2, 2);
    make_files(&dir.path().join("b"), 3, 2);
    let (kept_manifest, kept) = backup(&session, &dir.path().join("a")).await;
    let (gone, _) = backup(&session, &dir.path().join("b")).await;
    let host_domain = domain_of(&kept_manifest);
    assert_ne!(host_domain, main_domain, "the host writes into its own domain");
    let main_packs = packs_of(&storage, &main_domain).await;
    let host_packs = packs_of(&storage, &host_domain).await;
    assert_eq!(host_packs.len(), 2, "one pack per backup of the host");

    let reader = reader(&storage, &identity, &clock).await;
    reader.forget(std::slice::from_ref(&gone.id)).await.unwrap();
    let first = v3(&reader.prune(false).await.unwrap());
    assert!(first.skipped.is_empty(), "the identity opens every domain: {first:?}");
    let host_first = of(&first, &host_domain);
    assert_eq!(host_first.role, DomainRole::WriteOnly, "{first:?}");
    assert_eq!((host_first.counts.packs_condemned, host_first.counts.packs_deleted), (1, 0), "{first:?}");
    assert_eq!(of(&first, &main_domain).counts.packs_condemned, 0, "{first:?}");
    assert_eq!(first.packs_condemned, 1, "the sum over the domains: {first:?}");
    assert_eq!(packs_of(&storage, &host_domain).await, host_packs, "condemning deletes nothing");

    clock.advance_minutes(31);
    let second = v3(&reader.prune(false).await.unwrap());
    assert_eq!(of(&second, &host_domain).counts.packs_deleted, 1, "{second:?}");
    assert_eq!(second.packs_deleted, 1, "{second:?}");
    let left = packs_of(&storage, &host_domain).await;
    assert_eq!(left.len(), 1, "the forgotten backup's pack is gone");
    assert!(left.is_subset(&host_packs));
    assert_eq!(packs_of(&storage, &main_domain).await, main_packs, "the main domain is untouched");
    assert!(storage.list_all(PRUNE_PREFIX).await.unwrap().is_empty(), "no record is left");

    check_restores(&reader, &kept, dir.path(), "the host's kept backup, by the identity").await;
    check_restores(&reader, &own, dir.path(), "the owner's backup, by the identity").await;
    check_restores(&owner, &own, dir.path(), "the owner's backup, by the password").await;
    // The host goes on: a new session still dedups against what is left of its index.
    let later = host(&storage, &writer, &identity, &clock).await;
    let (again, again_expected) = backup(&later, &dir.path().join("a")).await;
    assert!(again.stats["bytes_new"] < 4096, "deduplicated against its kept pack: {:?}", again.stats);
    check_restores(&reader, &again_expected, dir.path(), "the host's backup after the prune").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_prune_deletes_a_carried_domains_forgotten_packs_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let source: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let src = Repository::init(source.clone(), pw("one"), v3_init()).await.unwrap();
    make_files(&dir.path().join("x"), 4, 2);
    make_files(&dir.path().join("y"), 5, 2);
    let (xm, x) = backup(&src, &dir.path().join("x")).await;
    let (ym, _) = backup(&src, &dir.path().join("y")).await;

    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let dest = Repository::init_with(storage.clone(), pw("pw"), v3_init(), with_clock(&clock)).await.unwrap();
    make_files(&dir.path().join("own"), 6, 2);
    let (own_manifest, own) = backup(&dest, &dir.path().join("own")).await;
    let report = src.copy_to(&dest, &[xm.clone(), ym.clone()]).await.unwrap();
    assert_eq!(report.copied.len(), 2, "{report:?}");
    let (carried, main_domain) = (domain_of(&xm), domain_of(&own_manifest));
    assert_ne!(carried, main_domain);
    let carried_packs = packs_of(&storage, &carried).await;
    let main_packs = packs_of(&storage, &main_domain).await;
    assert_eq!(carried_packs.len(), 2, "both backups' packs were carried");

    dest.forget(std::slice::from_ref(&ym.id)).await.unwrap();
    let first = v3(&dest.prune(false).await.unwrap());
    assert_eq!(of(&first, &carried).role, DomainRole::Carried, "{first:?}");
    assert_eq!(of(&first, &main_domain).role, DomainRole::Own, "{first:?}");
    assert_eq!(of(&first, &carried).counts.packs_condemned, 1, "{first:?}");
    clock.advance_minutes(31);
    let second = v3(&dest.prune(false).await.unwrap());
    assert_eq!(of(&second, &carried).counts.packs_deleted, 1, "{second:?}");
    assert_eq!(of(&second, &main_domain).counts.packs_deleted, 0, "{second:?}");
    assert_eq!(packs_of(&storage, &carried).await.len(), 1);
    assert_eq!(packs_of(&storage, &main_domain).await, main_packs);
    assert!(storage.list_all(PRUNE_PREFIX).await.unwrap().is_empty(), "no record is left");
    let fresh = open(&storage, &clock).await;
    check_restores(&fresh, &x, dir.path(), "the carried backup kept").await;
    check_restores(&fresh, &own, dir.path(), "the destination's own backup").await;
    // The source is untouched by the destination's prune.
    check_restores(&src, &x, dir.path(), "the source's backup").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_prune_reports_a_domain_it_cannot_open_and_prunes_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let identity = Arc::new(Identity::generate().unwrap());
    let Owned { storage, owner, writer, own, main_domain } = owned(dir.path(), &identity, &clock).await;
    make_files(&dir.path().join("drop"), 7, 2);
    let (dropped, _) = backup(&owner, &dir.path().join("drop")).await;
    let session = host(&storage, &writer, &identity, &clock).await;
    make_files(&dir.path().join("h"), 8, 2);
    let (by_host, _) = backup(&session, &dir.path().join("h")).await;
    let host_domain = domain_of(&by_host);
    // The password cannot read the host's backup: the identity forgets it, so that the
    // password's prune can list every manifest.
    reader(&storage, &identity, &clock).await.forget(std::slice::from_ref(&by_host.id)).await.unwrap();
    owner.forget(std::slice::from_ref(&dropped.id)).await.unwrap();
    // And a domain object that no key opens at all (damaged).
    let damaged = "00112233aabbccdd";
    storage.put_bytes(&format!("domains/{damaged}"), Bytes::from_static(b"not a domain object")).await.unwrap();
    let host_packs = packs_of(&storage, &host_domain).await;

    let first = v3(&owner.prune(false).await.unwrap());
    let skipped: BTreeSet<&str> = first.skipped.iter().map(|s| s.domain.as_str()).collect();
    assert_eq!(skipped, BTreeSet::from([host_domain.as_str(), damaged]), "{first:?}");
    let host_skip = first.skipped.iter().find(|s| s.domain == host_domain).unwrap();
    assert!(host_skip.reason.contains("recipient"), "the reason says why: {host_skip:?}");
    assert!(first.domains.iter().all(|d| d.domain != host_domain), "{first:?}");
    assert_eq!(of(&first, &main_domain).counts.packs_condemned, 1, "{first:?}");
    clock.advance_minutes(31);
    let second = v3(&owner.prune(false).await.unwrap());
    assert_eq!(second.packs_deleted, 1, "{second:?}");
    assert_eq!(second.skipped.len(), 2, "{second:?}");
    assert_eq!(packs_of(&storage, &host_domain).await, host_packs, "the unopened domain is left alone");
    check_restores(&owner, &own, dir.path(), "the owner's kept backup").await;

    // The identity opens the host's domain: its pack, referenced by no backup, goes.
    let reader = reader(&storage, &identity, &clock).await;
    let third = v3(&reader.prune(false).await.unwrap());
    assert_eq!(of(&third, &host_domain).counts.packs_condemned, 1, "{third:?}");
    clock.advance_minutes(31);
    let fourth = v3(&reader.prune(false).await.unwrap());
    assert_eq!(of(&fourth, &host_domain).counts.packs_deleted, 1, "{fourth:?}");
    assert!(packs_of(&storage, &host_domain).await.is_empty());
    check_restores(&reader, &own, dir.path(), "the owner's kept backup, by the identity").await;
}

/// A repository with three domains (the main one, a write-only host's, a carried one),
/// one backup forgotten in each: what is kept, and the storage.
struct ThreeDomains {
    storage: Arc<dyn Storage>,
    identity: Arc<Identity>,
    kept: Vec<Expected>,
    domains: [String; 3],
}

async fn three_domains(dir: &Path, clock: &Arc<TestClock>) -> ThreeDomains {
    let identity = Arc::new(Identity::generate().unwrap());
    let Owned { storage, owner, writer, own, main_domain } = owned(dir, &identity, clock).await;
    make_files(&dir.join("main-gone"), 10, 2);
    let (main_gone, _) = backup(&owner, &dir.join("main-gone")).await;
    let session = host(&storage, &writer, &identity, clock).await;
    make_files(&dir.join("host-kept"), 11, 2);
    make_files(&dir.join("host-gone"), 12, 2);
    let (host_manifest, host_kept) = backup(&session, &dir.join("host-kept")).await;
    let (host_gone, _) = backup(&session, &dir.join("host-gone")).await;
    // The source seals for the same recipient, so the carried backups are readable by it.
    let source: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut src = Repository::init(source, pw("one"), v3_init()).await.unwrap();
    src.add_recipient(identity.public(), None).await.unwrap();
    make_files(&dir.join("carried-kept"), 13, 2);
    make_files(&dir.join("carried-gone"), 14, 2);
    let (carried_manifest, carried_kept) = backup(&src, &dir.join("carried-kept")).await;
    let (carried_gone, _) = backup(&src, &dir.join("carried-gone")).await;
    src.copy_to(&owner, &[carried_manifest.clone(), carried_gone.clone()]).await.unwrap();
    let reader = reader(&storage, &identity, clock).await;
    reader.forget(&[main_gone.id, host_gone.id, carried_gone.id]).await.unwrap();
    let domains = [main_domain, domain_of(&host_manifest), domain_of(&carried_manifest)];
    ThreeDomains { storage, identity, kept: vec![own, host_kept, carried_kept], domains }
}

/// Every kept backup restores with the identity, and each domain's index names only
/// stored packs (the identity's `verify` reads every backup's blobs through its index).
async fn all_restore(storage: &Arc<dyn Storage>, setup: &ThreeDomains, clock: &Arc<TestClock>, what: &str) {
    let reader = reader(storage, &setup.identity, clock).await;
    let listed: BTreeSet<String> = reader.list().await.unwrap().0.into_iter().map(|m| m.id).collect();
    let scratch = tempfile::tempdir().unwrap();
    for expected in &setup.kept {
        assert!(listed.contains(&expected.id), "{what}: backup {} is gone", expected.id);
        check_restores(&reader, expected, scratch.path(), what).await;
    }
}

/// How many packs each of the three domains holds.
async fn pack_counts(storage: &Arc<dyn Storage>, domains: &[String; 3]) -> [usize; 3] {
    let mut out = [0; 3];
    for (n, domain) in domains.iter().enumerate() {
        out[n] = packs_of(storage, domain).await.len();
    }
    out
}

/// Prunes `storage` with the identity until every forgotten pack went (twice past the delay).
async fn prune_to_the_end(storage: &Arc<dyn Storage>, setup: &ThreeDomains, clock: &Arc<TestClock>, what: &str) {
    let reader = reader(storage, &setup.identity, clock).await;
    for _ in 0..3 {
        reader.prune(false).await.unwrap_or_else(|e| panic!("{what}: a later prune: {e}"));
        clock.advance_minutes(31);
    }
    assert_eq!(pack_counts(storage, &setup.domains).await, [1, 1, 1], "{what}: the forgotten packs are gone");
    assert!(storage.list_all(PRUNE_PREFIX).await.unwrap().is_empty(), "{what}: records are left");
    all_restore(storage, setup, clock, &format!("{what}, after the later prunes")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_prune_on_a_full_disk_while_writing_its_records_leaves_every_backup_restorable() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let setup = three_domains(dir.path(), &clock).await;
    assert_eq!(pack_counts(&setup.storage, &setup.domains).await, [2, 2, 2]);

    // The condemning run: the n-th record write finds the disk full.
    let mut hits = 0;
    for budget in 0.. {
        let base = copy_storage(&setup.storage).await;
        let full = Killed::full_under(base.clone(), PRUNE_PREFIX, budget);
        let faulty: Arc<dyn Storage> = full.clone();
        let result = reader(&faulty, &setup.identity, &clock).await.prune(false).await;
        let what = format!("condemning, the record write {budget} on a full disk");
        if !full.killed() {
            result.unwrap_or_else(|e| panic!("{what}: failed without a fault: {e}"));
            break;
        }
        hits += 1;
        let err = result.expect_err("a prune whose record cannot be written fails");
        assert!(matches!(err, RepoError::NoSpace(_)), "{what}: {err}");
        let text = err.to_string();
        assert!(text.contains("prune/") && text.contains("full") && text.contains("restor"), "{what}: {text}");
        assert_eq!(pack_counts(&base, &setup.domains).await, [2, 2, 2], "{what}: a pack was deleted");
        all_restore(&base, &setup, &clock, &what).await;
        full.heal();
        prune_to_the_end(&faulty, &setup, &clock, &what).await;
    }
    assert_eq!(hits, 3, "one record per domain, each write failed once");

    // The deleting run: a record cannot be deleted (a failing storage) after its packs went.
    let condemned = copy_storage(&setup.storage).await;
    reader(&condemned, &setup.identity, &clock).await.prune(false).await.unwrap();
    clock.advance_minutes(31);
    let mut hits = 0;
    for budget in 0.. {
        let base = copy_storage(&condemned).await;
        let full = Killed::full_under(base.clone(), PRUNE_PREFIX, budget);
        let faulty: Arc<dyn Storage> = full.clone();
        let result = reader(&faulty, &setup.identity, &clock).await.prune(false).await;
        let what = format!("deleting, the record write {budget} failing");
        if !full.killed() {
            result.unwrap_or_else(|e| panic!("{what}: failed without a fault: {e}"));
            break;
        }
        hits += 1;
        let err = result.expect_err("a prune whose record cannot be deleted fails");
        assert!(err.to_string().contains("prune/"), "{what}: {err}");
        all_restore(&base, &setup, &clock, &what).await;
        full.heal();
        prune_to_the_end(&faulty, &setup, &clock, &what).await;
    }
    assert_eq!(hits, 3, "one record per domain to delete");
}

/// A storage that stalls the prune (moves the test clock on by a lock lifetime and more)
/// when it lists the condemned records for the `at`-th time: the run's own lease lapses.
#[derive(Debug)]
struct Stalls {
    inner: Arc<dyn Storage>,
    clock: Arc<TestClock>,
    at: AtomicUsize,
}

impl StorageLayer for Stalls {
    type Inner = dyn Storage;
    fn inner(&self) -> &(dyn Storage + 'static) {
        self.inner.as_ref()
    }
    fn list(&self, prefix: &str) -> MetaStream {
        if prefix.starts_with(PRUNE_PREFIX) && self.at.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.clock.advance_minutes(31);
        }
        self.inner.list(prefix)
    }
}

async fn stalled_prune(storage: &Arc<dyn Storage>, clock: &Arc<TestClock>, at: usize) -> RepoError {
    let stalls: Arc<dyn Storage> = Arc::new(Stalls { inner: storage.clone(), clock: clock.clone(), at: at.into() });
    let repo = open(&stalls, clock).await;
    let err = repo.prune(false).await.expect_err("a prune whose lease lapsed stops");
    repo.settle().await;
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_prune_stops_before_deleting_or_condemning_once_its_own_lease_lapsed() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let clock = TestClock::new();
    let repo = Repository::init_with(storage.clone(), pw("pw"), v3_init(), with_clock(&clock)).await.unwrap();
    make_files(&dir.path().join("a"), 1, 2);
    make_files(&dir.path().join("b"), 2, 2);
    let (_, keep) = backup(&repo, &dir.path().join("a")).await;
    let (gone, _) = backup(&repo, &dir.path().join("b")).await;
    repo.forget(std::slice::from_ref(&gone.id)).await.unwrap();
    let everything = |s: Arc<dyn Storage>| async move {
        let mut keys = BTreeSet::new();
        for prefix in ["packs/", "index/", "prune/", "backups/"] {
            keys.extend(s.list_all(prefix).await.unwrap().into_iter().map(|m| (m.key, m.size)));
        }
        keys
    };

    // Stalled before it condemns: no record, no repack.
    let before = everything(storage.clone()).await;
    let err = stalled_prune(&storage, &clock, 1).await;
    assert!(matches!(err, RepoError::LeaseLapsed(_)), "{err}");
    assert!(err.to_string().contains("lease") && err.to_string().contains("prune"), "{err}");
    assert_eq!(everything(storage.clone()).await, before, "a prune whose lease lapsed wrote or deleted something");
    assert_eq!(v3(&open(&storage, &clock).await.prune(false).await.unwrap()).packs_condemned, 1);

    // Stalled before it deletes: the pack, its index object and the record stay.
    clock.advance_minutes(31);
    let before = everything(storage.clone()).await;
    let err = stalled_prune(&storage, &clock, 1).await;
    assert!(matches!(err, RepoError::LeaseLapsed(_)), "{err}");
    assert_eq!(everything(storage.clone()).await, before, "a prune whose lease lapsed deleted something");
    let fresh = open(&storage, &clock).await;
    check_restores(&fresh, &keep, dir.path(), "after the stalled prune").await;
    // Run again with a live lease, it deletes.
    let done = v3(&fresh.prune(false).await.unwrap());
    assert_eq!(done.packs_deleted, 1, "{done:?}");
    check_restores(&fresh, &keep, dir.path(), "after the prune that deleted").await;
}

/// Keeps `PruneReport` in use for the report's JSON: the per-domain breakdown serialises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_prune_reports_each_domain_in_its_json() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let setup = three_domains(dir.path(), &clock).await;
    let report: PruneReport = reader(&setup.storage, &setup.identity, &clock).await.prune(true).await.unwrap();
    let json = serde_json::to_value(&report).unwrap();
    let domains = json["v3"]["domains"].as_array().expect("a list of domains");
    assert_eq!(domains.len(), 3, "{json}");
    let roles: BTreeSet<&str> = domains.iter().filter_map(|d| d["role"].as_str()).collect();
    assert_eq!(roles, BTreeSet::from(["own", "write-only", "carried"]), "{json}");
    assert_eq!(json["v3"]["packs_condemned"], 3, "a dry run counts what it would condemn: {json}");
    assert_eq!(pack_counts(&setup.storage, &setup.domains).await, [2, 2, 2], "a dry run deleted something");
}

/// Runs one prune of `template` (with the identity) killed after `budget` writes; then,
/// the dead lock removed, checks every backup and prunes to the end. Whether the kill hit.
async fn killed_then_recovered(
    template: &Arc<dyn Storage>,
    setup: &ThreeDomains,
    clock: &Arc<TestClock>,
    budget: i64,
    phase: &str,
) -> bool {
    let base = copy_storage(template).await;
    let killed = Killed::new(base.clone(), budget);
    let faulty: Arc<dyn Storage> = killed.clone();
    let result = reader(&faulty, &setup.identity, clock).await.prune(false).await;
    if !killed.killed() {
        result.unwrap_or_else(|e| panic!("{phase}: prune failed without a kill: {e}"));
        return false;
    }
    lifeboat_repo::remove_locks(base.as_ref(), true).await.unwrap();
    let what = format!("{phase}, killed after {budget} writes");
    all_restore(&base, setup, clock, &what).await;
    prune_to_the_end(&base, setup, clock, &what).await;
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_prune_of_three_domains_killed_after_any_write_leaves_every_backup_restorable() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let setup = three_domains(dir.path(), &clock).await;
    let mut positions = 0;
    while killed_then_recovered(&setup.storage, &setup, &clock, positions, "condemning run").await {
        positions += 1;
    }
    assert!(positions >= 3 * 3, "each domain's condemning makes at least a clock probe and its record: {positions}");

    let condemned = copy_storage(&setup.storage).await;
    reader(&condemned, &setup.identity, &clock).await.prune(false).await.unwrap();
    clock.advance_minutes(31);
    let mut positions = 0;
    while killed_then_recovered(&condemned, &setup, &clock, positions, "deleting run").await {
        positions += 1;
    }
    assert!(positions >= 3 * 5, "each domain's deleting makes at least index, index delete, pack, record: {positions}");
}

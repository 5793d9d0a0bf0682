//! Verifying format 3 repositories: the structural check (trees, index, packs; no content
//! read), reading all or a subset of the packs, damage traced to every backup it affects;
//! the index cache's place; `repair index`.

use std::path::Path;

use lifeboat_repo::v3::{INDEX_PREFIX, PACKS_PREFIX};
use lifeboat_repo::{CacheDir, Manifest, Progress};
use lifeboat_repo::{DataCheck, DataSubset};
use lifeboat_storage::ObjectMeta;

use super::*;

/// A v3 repository in `dir/repo` whose index cache is `dir/cache`.
async fn v3_repo(dir: &Path) -> (Arc<dyn Storage>, Repository) {
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.join("repo")));
    Repository::init(storage.clone(), pw("pw"), v3_init()).await.unwrap();
    (storage.clone(), reopen(&storage, dir).await)
}

async fn reopen(storage: &Arc<dyn Storage>, dir: &Path) -> Repository {
    let options = OpenOptions { cache: CacheDir::At(dir.join("cache")), ..Default::default() };
    Repository::open_with(storage.clone(), pw("pw"), options).await.unwrap()
}

/// A backup of `dir/src-<seed>` holding one 2 MiB file of noise named `file-<seed>.bin`.
async fn backup_noise(repo: &Repository, dir: &Path, seed: u64) -> Manifest {
    let source = dir.join(format!("src-{seed}"));
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join(format!("file-{seed}.bin")), noise(seed, 2 << 20)).unwrap();
    repo.backup_files(std::slice::from_ref(&source), request("noise")).await.unwrap()
}

async fn packs(storage: &Arc<dyn Storage>) -> Vec<ObjectMeta> {
    storage.list_all(PACKS_PREFIX).await.unwrap()
}

async fn check(repo: &Repository, manifests: &[Manifest], data: DataCheck) -> lifeboat_repo::VerifyReport {
    let progress = Progress::default();
    repo.verify_reading(manifests, data, &progress).await.unwrap()
}

async fn all_manifests(repo: &Repository) -> Vec<Manifest> {
    let (manifests, errors) = repo.list().await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    manifests
}

#[tokio::test]
async fn a_missing_pack_is_found_without_reading_data_and_named_for_every_backup_that_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, repo) = v3_repo(dir.path()).await;
    let source = dir.path().join("shared");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("kept.bin"), noise(1, 2 << 20)).unwrap();
    let first = repo.backup_files(std::slice::from_ref(&source), request("shared")).await.unwrap();
    let first_packs = packs(&storage).await;
    // The second backup reuses kept.bin's chunks from the first backup's pack.
    std::fs::write(source.join("new.bin"), noise(2, 1 << 20)).unwrap();
    let second = repo.backup_files(std::slice::from_ref(&source), request("shared")).await.unwrap();
    let third = backup_noise(&repo, dir.path(), 3).await;

    let clean = check(&repo, &all_manifests(&repo).await, DataCheck::Structure).await;
    assert!(clean.damage.is_empty(), "{:?}", clean.damage);
    assert_eq!(clean.bytes_read, 0, "the structural check reads no pack: {clean:?}");

    let gone = first_packs.iter().max_by_key(|m| m.size).unwrap();
    storage.delete(&gone.key).await.unwrap();
    let report = check(&repo, &all_manifests(&repo).await, DataCheck::Structure).await;
    assert_eq!(report.bytes_read, 0, "{report:?}");
    let affected: std::collections::BTreeSet<&str> = report.damage.iter().map(|d| d.backup.as_str()).collect();
    assert!(affected.contains(first.id.as_str()) && affected.contains(second.id.as_str()), "{:?}", report.damage);
    assert!(!affected.contains(third.id.as_str()), "the third backup needs nothing of that pack: {:?}", report.damage);
    let text = format!("{:?}", report.damage);
    assert!(text.contains(&gone.key) && text.contains("missing"), "the damage names the pack: {text}");
}

#[tokio::test]
async fn a_truncated_pack_is_found_by_its_size_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, repo) = v3_repo(dir.path()).await;
    let manifest = backup_noise(&repo, dir.path(), 4).await;
    let pack = packs(&storage).await.into_iter().max_by_key(|m| m.size).unwrap();
    let file = dir.path().join("repo").join(&pack.key);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();

    let report = check(&repo, std::slice::from_ref(&manifest), DataCheck::Structure).await;
    assert_eq!(report.bytes_read, 0, "{report:?}");
    let text = format!("{:?}", report.damage);
    assert!(text.contains("truncated") && text.contains(&manifest.id), "{text}");
}

#[tokio::test]
async fn reading_the_data_finds_a_flipped_byte_and_names_the_file_that_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, repo) = v3_repo(dir.path()).await;
    let manifest = backup_noise(&repo, dir.path(), 5).await;
    let pack = packs(&storage).await.into_iter().max_by_key(|m| m.size).unwrap();
    let file = dir.path().join("repo").join(&pack.key);
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();

    let structure = check(&repo, std::slice::from_ref(&manifest), DataCheck::Structure).await;
    assert!(structure.damage.is_empty(), "a flipped byte inside a blob is invisible to the structure");
    let report = check(&repo, std::slice::from_ref(&manifest), DataCheck::All).await;
    assert!(report.deep && report.bytes_read >= 2 << 20, "{report:?}");
    assert_eq!(report.damage.len(), 1, "one damaged chunk: {:?}", report.damage);
    let damage = &report.damage[0];
    assert_eq!(damage.backup, manifest.id);
    assert!(damage.object.contains("file-5.bin") && damage.object.contains(&pack.key), "{damage:?}");
}

#[tokio::test]
async fn subsets_n_of_m_split_the_packs_and_together_read_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, repo) = v3_repo(dir.path()).await;
    for seed in 10..16 {
        backup_noise(&repo, dir.path(), seed).await;
    }
    let total = packs(&storage).await.len() as u64;
    assert!(total >= 6, "each backup stored its own pack: {total}");
    let manifests = all_manifests(&repo).await;
    let refs: Vec<&Manifest> = manifests.iter().collect();
    let progress = Progress::default();

    let everything = repo.verify_v3_backups(&refs, DataCheck::All, &progress).await.unwrap();
    assert_eq!(everything.packs_read, total);
    let mut read = 0;
    for n in 1..=3 {
        let part = DataCheck::Subset(DataSubset::Part { n, m: 3 });
        let checked = repo.verify_v3_backups(&refs, part, &progress).await.unwrap();
        assert!(checked.problems.is_empty(), "{:?}", checked.problems);
        read += checked.packs_read;
    }
    assert_eq!(read, total, "1/3, 2/3 and 3/3 read every pack once");
    let one = DataCheck::Subset(DataSubset::Percent(1.0));
    assert_eq!(repo.verify_v3_backups(&refs, one, &progress).await.unwrap().packs_read, 1, "1% rounds up to one");
    let half = DataCheck::Subset(DataSubset::Percent(50.0));
    assert_eq!(repo.verify_v3_backups(&refs, half, &progress).await.unwrap().packs_read, total.div_ceil(2));
    let structure = repo.verify_v3_backups(&refs, DataCheck::Structure, &progress).await.unwrap();
    assert_eq!((structure.packs_read, structure.packs), (0, total), "{structure:?}");
}

#[test]
fn subsets_parse_n_of_m_and_percentages_and_refuse_the_rest() {
    assert_eq!("2/5".parse::<DataSubset>().unwrap(), DataSubset::Part { n: 2, m: 5 });
    assert_eq!("12.5%".parse::<DataSubset>().unwrap(), DataSubset::Percent(12.5));
    for bad in ["0/3", "4/3", "1/0", "0%", "101%", "x", "1/", "/2", "-5%"] {
        let e = bad.parse::<DataSubset>().unwrap_err();
        assert!(e.contains("n/m") && e.contains(bad), "{bad}: {e}");
    }
}

#[tokio::test]
async fn the_index_cache_lives_where_the_options_say_and_losing_it_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, repo) = v3_repo(dir.path()).await;
    let manifest = backup_noise(&repo, dir.path(), 20).await;
    let cached = dir.path().join("cache").join(repo.id()).join("index");
    let entries = std::fs::read_dir(&cached).unwrap().count();
    assert_eq!(entries, storage.list_all(INDEX_PREFIX).await.unwrap().len(), "each index object cached once");

    std::fs::remove_dir_all(dir.path().join("cache")).unwrap();
    let off = OpenOptions { cache: CacheDir::Off, ..Default::default() };
    let uncached = Repository::open_with(storage.clone(), pw("pw"), off).await.unwrap();
    let report = uncached.verify(std::slice::from_ref(&manifest), true).await.unwrap();
    assert!(report.damage.is_empty(), "{:?}", report.damage);
    assert!(!dir.path().join("cache").exists(), "CacheDir::Off writes no cache");

    let fresh = reopen(&storage, dir.path()).await;
    let target = dir.path().join("restored");
    fresh.restore_v3(&manifest, &target, &Default::default()).await.unwrap();
    assert_eq!(std::fs::read(restored_file(&target, dir.path(), 20)).unwrap(), noise(20, 2 << 20));
    assert_eq!(std::fs::read_dir(&cached).unwrap().count(), entries, "the cache is filled again");
}

/// Where `backup_noise`'s file of `seed` lands in a restore of the whole root into `target`.
fn restored_file(target: &Path, dir: &Path, seed: u64) -> std::path::PathBuf {
    target.join(dir.strip_prefix("/").unwrap()).join(format!("src-{seed}/file-{seed}.bin"))
}

#[tokio::test]
async fn repair_index_rebuilds_a_lost_index_from_the_packs() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, repo) = v3_repo(dir.path()).await;
    let first = backup_noise(&repo, dir.path(), 30).await;
    let second = backup_noise(&repo, dir.path(), 31).await;
    for object in storage.list_all(INDEX_PREFIX).await.unwrap() {
        storage.delete(&object.key).await.unwrap();
    }
    let lost = reopen(&storage, dir.path()).await;
    let broken = lost.verify(&[first.clone(), second.clone()], false).await.unwrap();
    assert!(!broken.damage.is_empty(), "without an index the blobs are not found");

    let report = lost.repair_v3_index().await.unwrap();
    assert_eq!(report.packs, packs(&storage).await.len());
    assert!(report.damaged.is_empty(), "{:?}", report.damaged);
    let repaired = reopen(&storage, dir.path()).await;
    let check = repaired.verify(&[first.clone(), second], true).await.unwrap();
    assert!(check.damage.is_empty(), "{:?}", check.damage);
    let target = dir.path().join("restored");
    repaired.restore_v3(&first, &target, &Default::default()).await.unwrap();
    assert_eq!(std::fs::read(restored_file(&target, dir.path(), 30)).unwrap(), noise(30, 2 << 20));
}

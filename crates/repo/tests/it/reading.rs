//! How a files backup reads files (issue 15): to their end, not to the size `stat` gives
//! (a /proc file says 0 bytes), and a file written to while it is read is a warning and a
//! `changed` count, never a silent mix.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use super::*;

async fn restored_file(repo: &Repository, m: &lifeboat_repo::Manifest, path: &Path) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("restored");
    repo.restore_to_dir(m, &target).await.unwrap();
    std::fs::read(target.join(path.strip_prefix("/").unwrap())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_whose_size_says_less_than_they_hold_are_read_to_their_end() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage, pw("pw"), cheap()).await.unwrap();
    for proc_file in ["/proc/sys/kernel/hostname", "/proc/self/status"] {
        let path = Path::new(proc_file);
        assert_eq!(std::fs::metadata(path).unwrap().len(), 0, "{proc_file}: its size says 0");
        let m = repo.backup_files(&[path.to_path_buf()], BackupRequest::default()).await.unwrap();
        assert!(m.warnings.is_empty(), "{proc_file}: {:?}", m.warnings);
        // /proc/self resolves to this process's own directory, recorded as such.
        let restored = restored_file(&repo, &m, &m.paths()[0]).await;
        assert!(!restored.is_empty(), "{proc_file} was stored empty");
        assert_eq!(m.stats["bytes"], restored.len() as u64, "{proc_file}");
        if proc_file.ends_with("hostname") {
            assert_eq!(restored, std::fs::read(path).unwrap());
        } else {
            // The reader's own status: its name line at least is the same.
            assert!(String::from_utf8_lossy(&restored).starts_with("Name:"), "{proc_file}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_files_small_and_large_round_trip_with_no_warning() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let small = pattern(100_000, 1);
    let at_threshold = pattern(1024 * 1024, 2);
    let large = pattern(3 * 1024 * 1024 + 17, 3);
    std::fs::write(src.join("small"), &small).unwrap();
    std::fs::write(src.join("at-threshold"), &at_threshold).unwrap();
    std::fs::write(src.join("large"), &large).unwrap();
    std::fs::write(src.join("empty"), b"").unwrap();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage, pw("pw"), cheap()).await.unwrap();
    let m = repo.backup_files(std::slice::from_ref(&src), BackupRequest::default()).await.unwrap();
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    assert!(!m.stats.contains_key("changed"), "{:?}", m.stats);
    assert_eq!(m.stats["bytes"], (small.len() + at_threshold.len() + large.len()) as u64);
    for (name, content) in [("small", &small), ("at-threshold", &at_threshold), ("large", &large)] {
        assert!(restored_file(&repo, &m, &src.join(name)).await == *content, "{name} differs");
    }
    assert!(restored_file(&repo, &m, &src.join("empty")).await.is_empty());
}

/// `len` bytes that differ with `seed` (their content is all that matters here).
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    (0..len as u64).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 7) as u8).collect()
}

/// A large file whose modification time moves on and on while the backup reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_written_to_while_read_is_a_warning_and_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let busy = dir.path().join("busy");
    std::fs::write(&busy, pattern(32 * 1024 * 1024, 9)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let toucher = {
        let (stop, busy) = (stop.clone(), busy.clone());
        std::thread::spawn(move || {
            let file = std::fs::File::options().write(true).open(&busy).unwrap();
            let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                file.set_modified(base + Duration::from_secs(i)).unwrap();
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage, pw("pw"), cheap()).await.unwrap();
    let m = repo.backup_files(std::slice::from_ref(&busy), BackupRequest::default()).await;
    stop.store(true, Ordering::Relaxed);
    toucher.join().unwrap();
    let m = m.unwrap();
    assert_eq!(m.stats.get("changed"), Some(&1), "{:?}", m.stats);
    assert!(
        m.warnings.iter().any(|w| w.contains("busy") && w.contains("changed while being read")),
        "{:?}",
        m.warnings
    );
}

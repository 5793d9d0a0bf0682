//! `Repository::restore_salvage` and `Progress` through the library: a tree backup with one
//! damaged segment gives back every other file, and the counters see every file and byte.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use lifeboat_repo::{Progress, RestoreOptions};

const SEGMENT: u32 = 4096;
const FILES: usize = 8;
const FILE_SIZE: usize = 20_000;

/// A tree of [`FILES`] files of pseudo-random bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut state = 0x9e37_79b9_u32;
    for n in 0..FILES {
        let data: Vec<u8> = (0..FILE_SIZE)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        std::fs::write(dir.join(format!("f{n}")), &data).unwrap();
        files.insert(format!("f{n}"), data);
    }
    files
}

/// The byte ranges of the segments of a stored data object.
fn segments(object: &[u8]) -> Vec<std::ops::Range<usize>> {
    let (_, mut pos) = lifeboat_crypto::parse_complete_header(object).unwrap();
    let mut out = Vec::new();
    while pos < object.len() {
        let len = u32::from_le_bytes(object[pos..pos + 4].try_into().unwrap()) as usize;
        out.push(pos..pos + 4 + len);
        pos += 4 + len;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_segment_costs_only_the_file_in_it_and_progress_counts_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let files = tree(&src);
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo =
        Repository::init(storage.clone(), pw("pw"), InitOptions { segment_size: SEGMENT, ..cheap() }).await.unwrap();
    let progress = Progress::new();
    let m = repo
        .backup_files(std::slice::from_ref(&src), BackupRequest { progress: progress.clone(), ..request("t") })
        .await
        .unwrap();
    let counted = progress.snapshot();
    assert_eq!(counted.files, FILES as u64, "{counted:?}");
    assert_eq!(counted.bytes, m.objects[0].plain_size, "every byte of the tree stream counted: {counted:?}");

    let key = m.objects[0].key.clone();
    let mut object = storage.get_bytes(&key).await.unwrap().to_vec();
    let segs = segments(&object);
    let index = segs.len() / 2;
    let at = segs[index].start + 4 + (segs[index].len() - 4) / 2;
    object[at] ^= 0x01;
    storage.put_bytes(&key, Bytes::from(object)).await.unwrap();

    let target = tmp.path().join("out");
    let options = RestoreOptions { same_owner: false };
    let report = repo.restore_salvage(&m, &target, &options, &Progress::new()).await.unwrap();
    assert!(!report.is_complete());
    let [damaged] = report.damaged.as_slice() else { panic!("{report:?}") };
    assert_eq!(damaged.segment, index as u64);
    let start = index as u64 * u64::from(SEGMENT);
    assert_eq!(damaged.range, start..start + u64::from(SEGMENT));
    assert!(damaged.reason.contains("authentication"), "{}", damaged.reason);
    let restored_dir = target.join(src.strip_prefix("/").unwrap());
    let mut restored = 0;
    for (name, data) in &files {
        let lost = report.lost.iter().any(|l| l.path.ends_with(&format!("/{name}")));
        match std::fs::read(restored_dir.join(name)) {
            Ok(got) => {
                assert!(!lost, "{name} is reported lost but was restored");
                assert!(got == *data, "{name} differs");
                restored += 1;
            }
            Err(_) => assert!(lost || !report.unnamed.is_empty(), "{name} is missing and not reported: {report:?}"),
        }
    }
    assert_eq!(report.files_restored, restored);
    assert!(restored >= FILES as u64 - 2, "{report:?}");
    assert!(!report.lost.is_empty() || !report.unnamed.is_empty(), "nothing reported lost: {report:?}");
}

//! Damaged tree backups: what `restore --target` says about the cause, what
//! `restore --salvage` gets back, and `sync` copying around a backup it cannot read.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::common::*;

/// The smallest segment a repository accepts, so that a small tree spans many segments.
const SEGMENT: usize = 4096;
/// Bytes per file: each spans several segments, so a damaged segment lands inside one.
const FILE_SIZE: usize = 20_000;
/// Files in the tree.
const FILES: usize = 12;

/// A repository with a files backup of a tree of [`FILES`] random files.
struct Tree {
    env: Env,
    src: PathBuf,
    id: String,
    key: String,
    files: BTreeMap<String, Vec<u8>>,
}

impl Tree {
    fn new() -> Tree {
        let env = Env::init_with(Some(SEGMENT as u32));
        let src = env.path("src");
        std::fs::create_dir(&src).expect("mkdir src");
        let mut files = BTreeMap::new();
        for n in 0..FILES {
            let name = format!("file{n:02}.bin");
            let data = random_bytes(FILE_SIZE, n as u64 + 10);
            std::fs::write(src.join(&name), &data).expect("write source file");
            files.insert(name, data);
        }
        let out = env.run(&["backup", "files", src.to_str().expect("utf-8"), "--json"], b"");
        out.ok();
        let id = backup_id(&out);
        let key = env.object_key(&id, "tree");
        Tree { env, src, id, key, files }
    }

    /// The tar stream of the intact backup.
    fn stream(&self) -> Vec<u8> {
        self.env.restore_stdout(&self.id)
    }

    /// Flips one byte in the body of segment `index` of the tree object.
    fn damage_segment(&self, index: usize) {
        let path = self.env.repo.join(&self.key);
        let mut object = std::fs::read(&path).expect("read object");
        let (_, segs) = segments(&object);
        assert!(index < segs.len(), "the object has only {} segments", segs.len());
        let range = segs[index].clone();
        object[range.start + 4 + (range.end - range.start - 4) / 2] ^= 0x01;
        std::fs::write(&path, &object).expect("write object");
    }

    /// Where the file `name` lies in the restored tree.
    fn restored(&self, target: &Path, name: &str) -> PathBuf {
        let rel = self.src.strip_prefix("/").expect("absolute source");
        target.join(rel).join(name)
    }
}

/// Each file's data range in a tar stream, by file name (ustar headers, PAX extensions skipped).
fn data_ranges(tar: &[u8]) -> BTreeMap<String, Range<usize>> {
    let mut out = BTreeMap::new();
    let mut pos = 0;
    while pos + 512 <= tar.len() && tar[pos..pos + 512].iter().any(|b| *b != 0) {
        let header = &tar[pos..pos + 512];
        let size_field =
            String::from_utf8_lossy(&header[124..136]).trim_matches(|c: char| c == '\0' || c == ' ').to_owned();
        let size = usize::from_str_radix(&size_field, 8).unwrap_or(0);
        let name = String::from_utf8_lossy(&header[..100]).trim_end_matches('\0').to_owned();
        if header[156] == b'0' || header[156] == 0 {
            let base = name.rsplit('/').next().unwrap_or_default().to_owned();
            out.insert(base, pos + 512..pos + 512 + size);
        }
        pos += 512 + size.div_ceil(512) * 512;
    }
    out
}

#[test]
fn restore_target_of_a_damaged_tree_names_the_segment_that_failed_authentication() {
    let tree = Tree::new();
    // Inside a file's data, and (where the tar reader reads a header, whose error hid the
    // cause behind its own message) a segment that begins with an entry's header.
    let ranges = data_ranges(&tree.stream());
    let header_aligned = ranges
        .values()
        .map(|r| r.start - 512)
        .find(|h| h % SEGMENT == 0)
        .map(|h| h / SEGMENT)
        .expect("some entry header starts a segment");
    for index in [5, header_aligned] {
        let tree = Tree::new();
        tree.damage_segment(index);
        let target = tree.env.path("out");
        let out = tree.env.run(&["restore", &tree.id, "--target", target.to_str().expect("utf-8")], b"");
        assert_ne!(out.code, EXIT_OK, "a damaged restore succeeded:\n{}", out.stderr);
        out.no_panic().stderr_has(&format!("segment {index} failed authentication")).stderr_has(&tree.key);
        assert!(!target.exists(), "the target was created by a failed restore");
    }
}

#[test]
fn salvage_restores_every_file_outside_the_damaged_segment_and_lists_the_lost_one() {
    let tree = Tree::new();
    let stream = tree.stream();
    let ranges = data_ranges(&stream);
    assert_eq!(ranges.len(), FILES, "the tar stream should hold every file: {ranges:?}");
    // A segment in the middle of the tree, whose plaintext lies inside one file's data.
    let (_, segs) = segments(&std::fs::read(tree.env.repo.join(&tree.key)).expect("read object"));
    let index = segs.len() / 2;
    let lost_range = index * SEGMENT..(index + 1) * SEGMENT;
    let overlaps = |r: &Range<usize>| r.start < lost_range.end && lost_range.start < r.end;
    let lost: Vec<&String> = ranges.iter().filter(|(_, r)| overlaps(r)).map(|(n, _)| n).collect();
    assert!(!lost.is_empty(), "segment {index} ({lost_range:?}) holds no file data: {ranges:?}");
    tree.damage_segment(index);

    let target = tree.env.path("out");
    let out = tree.env.run(&["restore", &tree.id, "--target", target.to_str().expect("utf-8"), "--salvage"], b"");
    out.no_panic();
    assert_eq!(out.code, EXIT_DAMAGE, "a salvage with losses must exit {EXIT_DAMAGE}:\n{}", out.stderr);
    out.stderr_has(&format!("{} files restored", FILES - lost.len()))
        .stderr_has(&format!("{} lost", lost.len()))
        .stderr_has(&format!("segment {index}"));
    for (name, data) in &tree.files {
        let path = tree.restored(&target, name);
        if lost.contains(&name) {
            assert!(!path.exists(), "lost file {name} was left behind");
            out.stderr_has(name);
        } else {
            let restored = std::fs::read(&path).unwrap_or_else(|e| panic!("{name} not restored: {e}\n{}", out.stderr));
            assert!(restored == *data, "{name} differs from its source");
        }
    }
}

#[test]
fn salvage_finds_the_next_entry_after_a_damaged_header() {
    let tree = Tree::new();
    let ranges = data_ranges(&tree.stream());
    // The segment holding the header of a file in the middle of the tree: that file's
    // name is lost with it, and the entries after it must be found again by their headers.
    let (victim, data) = ranges.iter().nth(FILES / 2).map(|(n, r)| (n.clone(), r.clone())).expect("a middle file");
    let index = (data.start - 512) / SEGMENT;
    let lost_range = index * SEGMENT..(index + 1) * SEGMENT;
    let overlaps = |r: &Range<usize>| r.start < lost_range.end && lost_range.start < r.end;
    tree.damage_segment(index);

    let target = tree.env.path("out");
    let out = tree.env.run(&["restore", &tree.id, "--target", target.to_str().expect("utf-8"), "--salvage"], b"");
    out.no_panic();
    assert_eq!(out.code, EXIT_DAMAGE, "{}", out.stderr);
    out.stderr_has("names were damaged");
    let mut restored = 0;
    for (name, data) in &tree.files {
        let path = tree.restored(&target, name);
        if *name == victim || ranges.get(name).is_some_and(overlaps) {
            assert!(!path.exists(), "{name}, whose header or data was damaged, was left behind");
        } else {
            let got = std::fs::read(&path).unwrap_or_else(|e| panic!("{name} not restored: {e}\n{}", out.stderr));
            assert!(got == *data, "{name} differs from its source");
            restored += 1;
        }
    }
    assert!(restored >= FILES - 2, "only {restored} files restored:\n{}", out.stderr);
    out.stderr_has(&format!("{restored} files restored"));
}

#[test]
fn salvage_of_an_intact_backup_restores_everything_and_succeeds() {
    let tree = Tree::new();
    let target = tree.env.path("out");
    let out = tree.env.run(&["restore", &tree.id, "--target", target.to_str().expect("utf-8"), "--salvage"], b"");
    out.ok().stderr_has(&format!("{FILES} files restored, 0 lost"));
    for (name, data) in &tree.files {
        assert!(std::fs::read(tree.restored(&target, name)).expect("restored") == *data, "{name} differs");
    }
}

#[test]
fn sync_copies_the_readable_backups_and_names_the_damaged_ones() {
    let env = Env::init_v2();
    let good_a = env.backup_stdin("a", &random_bytes(10_000, 1));
    let bad_manifest = env.backup_stdin("b", &random_bytes(10_000, 2));
    let bad_data = env.backup_stdin("c", &random_bytes(10_000, 3));
    let good_d = env.backup_stdin("d", &random_bytes(10_000, 4));
    // One manifest cannot be read at all; another backup's data object is damaged.
    let data_key = env.object_key(&bad_data, "stream");
    flip_near_end(&env.repo.join(format!("backups/{bad_manifest}")));
    flip_near_end(&env.repo.join(&data_key));

    let dest = env.path("dest");
    let mut init = lifeboat();
    init.env("LIFEBOAT_REPO", &dest).env("LIFEBOAT_PASSWORD", PASSWORD).env("LIFEBOAT_STATE_DIR", env.state_dir());
    init.arg("init").args(cheap_kdf());
    run(init, b"").ok();
    let mut sync = env.cmd(&["sync", "--to", dest.to_str().expect("utf-8")]);
    sync.env("LIFEBOAT_TO_PASSWORD", PASSWORD);
    let out = run(sync, b"");
    out.no_panic();
    assert_ne!(out.code, EXIT_OK, "sync with damaged backups succeeded:\n{}", out.all());
    out.stderr_has(&bad_manifest).stderr_has(&bad_data).stderr_has(&data_key).stderr_has("2 backup(s) not copied");
    for id in [&good_a, &good_d] {
        assert!(dest.join(format!("backups/{id}")).is_file(), "backup {id} was not copied:\n{}", out.all());
    }
    for id in [&bad_manifest, &bad_data] {
        assert!(!dest.join(format!("backups/{id}")).exists(), "damaged backup {id} was copied");
    }
}

/// Flips a byte 20 bytes before the end of a stored object (inside its last tag or segment).
fn flip_near_end(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let at = bytes.len() - 20;
    bytes[at] ^= 0x01;
    std::fs::write(path, &bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

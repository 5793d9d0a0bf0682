//! Files backups with filters: exclude patterns, tag files (exclude-if-present,
//! CACHEDIR.TAG) and one-file-system across real mounts; what is left out is not restored
//! and everything else comes back byte for byte.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lifeboat_repo::{FilesFilter, Manifest};

use super::*;

const CACHEDIR_TAG: &[u8] = b"Signature: 8a477f597d28d172789f06886806bc55\n# a cache directory tag\n";

fn write(path: &Path, content: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Every file, symlink and directory under `root`, relative, with a file's bytes (a
/// directory maps to `None`).
fn tree(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_owned();
            let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
            if kind.is_dir() {
                pending.push(path);
                out.insert(rel, None);
            } else if kind.is_symlink() {
                out.insert(rel, Some(std::fs::read_link(&path).unwrap().into_os_string().into_encoded_bytes()));
            } else {
                out.insert(rel, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

struct Fixture {
    dir: tempfile::TempDir,
    repo: Repository,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.path().join("repo")));
        let repo = Repository::init(storage, pw("pw"), cheap()).await.unwrap();
        Fixture { dir, repo }
    }

    fn src(&self) -> PathBuf {
        self.dir.path().join("src")
    }

    async fn backup(&self, filter: &FilesFilter) -> Manifest {
        let src = self.src();
        self.repo.backup_files_filtered(std::slice::from_ref(&src), filter, request("files")).await.unwrap()
    }

    /// Restores `m` into a new folder and returns the tree of the source's place in it.
    async fn restored(&self, m: &Manifest, name: &str) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
        let target = self.dir.path().join(name);
        let report = self.repo.restore_to_dir_with(m, &target, &Default::default()).await.unwrap();
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        tree(&target.join(self.src().strip_prefix("/").unwrap()))
    }
}

fn paths(tree: &BTreeMap<PathBuf, Option<Vec<u8>>>) -> Vec<String> {
    tree.keys().map(|p| p.display().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_entries_are_left_out_and_the_rest_restores_byte_for_byte() {
    let f = Fixture::new().await;
    let src = f.src();
    write(&src.join("keep.txt"), b"kept");
    write(&src.join("notes/a.md"), b"# notes");
    write(&src.join("build/out.o"), b"object code");
    write(&src.join("other/build"), b"a file called build: `build/` matches directories only");
    write(&src.join("x.log"), b"noise");
    write(&src.join("keep.log"), b"re-included by !keep.log");
    write(&src.join("deep/a/b/c.tmp"), b"temporary");
    write(&src.join("deep/a/b/c.txt"), b"stays");
    write(&src.join("Photo.JPG"), b"case folded away");
    write(&src.join("node_modules/pkg/index.js"), b"from the exclude file");
    write(&src.join("sub/node_modules"), b"a file, excluded too: no trailing slash");
    std::os::unix::fs::symlink("keep.txt", src.join("link")).unwrap();
    let excludes = f.dir.path().join("excludes");
    std::fs::write(&excludes, "# dependencies\n\n  node_modules  \n").unwrap();
    let filter = FilesFilter {
        exclude: vec!["build/".into(), "*.log".into(), "!keep.log".into(), "**/*.tmp".into()],
        iexclude: vec!["*.jpg".into()],
        exclude_file: vec![excludes],
        ..Default::default()
    };
    let before = tree(&src);
    let m = f.backup(&filter).await;
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    // build, x.log, c.tmp, Photo.JPG, node_modules (dir), sub/node_modules (file).
    assert_eq!(m.stats.get("excluded"), Some(&6), "{:?}", m.stats);
    assert_eq!(m.source["filter"]["exclude"][0], "build/");
    assert_eq!(m.source["filter"]["iexclude"][0], "*.jpg");

    let restored = f.restored(&m, "restored").await;
    let left_out = ["build", "build/out.o", "x.log", "deep/a/b/c.tmp", "Photo.JPG", "node_modules", "sub/node_modules"];
    let mut expected = before.clone();
    expected.retain(|p, _| !left_out.iter().any(|l| p == Path::new(l) || p.starts_with(l)));
    assert!(expected.contains_key(Path::new("other/build")) && expected.contains_key(Path::new("keep.log")));
    assert_eq!(paths(&restored), paths(&expected));
    assert_eq!(restored, expected, "what was kept comes back byte for byte");

    // Without the filter everything is there (the same tree, so the test can tell).
    let all = f.backup(&FilesFilter::default()).await;
    assert!(all.source.get("filter").is_none() && all.source["paths"].is_array(), "{}", all.source);
    assert_eq!(f.restored(&all, "unfiltered").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_pattern_fails_before_anything_is_written() {
    let f = Fixture::new().await;
    write(&f.src().join("a"), b"a");
    let filter = FilesFilter { exclude: vec!["*.o".into(), "[oops".into()], ..Default::default() };
    let src = f.src();
    let err = f.repo.backup_files_filtered(std::slice::from_ref(&src), &filter, request("files")).await.unwrap_err();
    assert!(
        matches!(err, RepoError::Filter(lifeboat_repo::FilterError::BadPattern { ref pattern, .. }) if pattern == "[oops")
    );
    assert_eq!(err.kind(), lifeboat_repo::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("[oops"), "{err}");
    assert!(f.repo.list().await.unwrap().0.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_cachedir_tag_excludes_its_directory_contents_and_an_unsigned_one_does_not() {
    let f = Fixture::new().await;
    let src = f.src();
    write(&src.join("cache/CACHEDIR.TAG"), CACHEDIR_TAG);
    write(&src.join("cache/blob"), b"cached");
    write(&src.join("cache/sub/more"), b"cached too");
    write(&src.join("fake/CACHEDIR.TAG"), b"not a signature, just a file\n");
    write(&src.join("fake/data"), b"real data");
    write(&src.join("plain.txt"), b"plain");
    let before = tree(&src);

    let m = f.backup(&FilesFilter { exclude_caches: true, ..Default::default() }).await;
    assert_eq!(m.stats.get("excluded"), Some(&2), "blob and sub: {:?}", m.stats);
    let restored = f.restored(&m, "restored").await;
    assert_eq!(
        paths(&restored),
        ["cache", "cache/CACHEDIR.TAG", "fake", "fake/CACHEDIR.TAG", "fake/data", "plain.txt"],
        "the tagged directory keeps itself and its tag (restic's rule)"
    );
    assert_eq!(restored[Path::new("cache/CACHEDIR.TAG")].as_deref(), Some(CACHEDIR_TAG));

    let all = f.backup(&FilesFilter::default()).await;
    assert_eq!(f.restored(&all, "unfiltered").await, before, "without --exclude-caches the cache is backed up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclude_if_present_keeps_the_directory_and_its_tag_file_only() {
    let f = Fixture::new().await;
    let src = f.src();
    write(&src.join("vm/.nobackup"), b"");
    write(&src.join("vm/disk.img"), b"big");
    write(&src.join("vm/nested/x"), b"x");
    write(&src.join("marked/MARK"), b"yes, skip me");
    write(&src.join("marked/data"), b"d1");
    write(&src.join("unmarked/MARK"), b"no");
    write(&src.join("unmarked/data"), b"d2");
    write(&src.join("top.txt"), b"top");
    let filter = FilesFilter { exclude_if_present: vec![".nobackup".into(), "MARK:yes".into()], ..Default::default() };
    let m = f.backup(&filter).await;
    assert_eq!(m.stats.get("excluded"), Some(&3), "{:?}", m.stats);
    let restored = f.restored(&m, "restored").await;
    assert_eq!(
        paths(&restored),
        ["marked", "marked/MARK", "top.txt", "unmarked", "unmarked/MARK", "unmarked/data", "vm", "vm/.nobackup"]
    );
    assert_eq!(restored[Path::new("unmarked/data")].as_deref(), Some(&b"d2"[..]));
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2)) == Some("0")
}

/// Unmounts on drop, also when the test fails.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount(args: &[&str], at: &Path) -> Mounted {
    std::fs::create_dir_all(at).unwrap();
    let out = std::process::Command::new("mount").args(args).arg(at).output().expect("run mount");
    assert!(
        out.status.success(),
        "`mount {} {}` failed (this test needs root and mount permission; CI runs the suite as root): {}",
        args.join(" "),
        at.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Mounted(at.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_file_system_records_mount_points_empty_and_crosses_neither_tmpfs_nor_bind_mounts() {
    // Guards drop in reverse order: the file mount (inside src) goes before the others.
    assert!(is_root(), "this test mounts a tmpfs and a bind mount and needs root (CI runs the suite as root)");
    let f = Fixture::new().await;
    let src = f.src();
    write(&src.join("home/file"), b"on the root's file system");
    write(&f.dir.path().join("elsewhere/secret"), b"reached through a bind mount");
    let tmpfs = src.join("mnt");
    let _tmpfs = mount(&["-t", "tmpfs", "-o", "size=1m,mode=0751", "tmpfs"], &tmpfs);
    write(&tmpfs.join("inner/file"), b"on the tmpfs");
    let bind = src.join("bind");
    let elsewhere = f.dir.path().join("elsewhere");
    let _bind = mount(&["--bind", elsewhere.to_str().unwrap()], &bind);
    // A file bind-mounted over a file: not a directory, so left out entirely.
    let file_mount = src.join("home/mounted-file");
    write(&file_mount, b"the file underneath");
    let out = std::process::Command::new("mount")
        .arg("--bind")
        .arg(elsewhere.join("secret"))
        .arg(&file_mount)
        .output()
        .expect("run mount");
    assert!(out.status.success(), "mount --bind of a file failed: {}", String::from_utf8_lossy(&out.stderr));
    let _file_mount = Mounted(file_mount);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&bind).unwrap().dev(),
        std::fs::metadata(&src).unwrap().dev(),
        "a bind mount of the same file system: the same st_dev"
    );

    let m = f.backup(&FilesFilter { one_file_system: true, ..Default::default() }).await;
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    assert_eq!(m.stats.get("mountpoints"), Some(&2), "{:?}", m.stats);
    assert_eq!(m.stats.get("excluded"), Some(&1), "the bind-mounted file: {:?}", m.stats);
    let target = f.dir.path().join("restored");
    f.repo.restore_to_dir_with(&m, &target, &Default::default()).await.unwrap();
    let restored_src = target.join(src.strip_prefix("/").unwrap());
    assert_eq!(paths(&tree(&restored_src)), ["bind", "home", "home/file", "mnt"]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(restored_src.join("mnt")).unwrap().permissions().mode() & 0o7777,
        0o751,
        "the mount point is recorded with what lstat shows there (the mounted root)"
    );

    // Without the option both mounts are crossed.
    let all = f.backup(&FilesFilter::default()).await;
    assert_eq!(all.stats.get("mountpoints"), None);
    let restored = f.restored(&all, "unfiltered").await;
    assert_eq!(restored[Path::new("mnt/inner/file")].as_deref(), Some(&b"on the tmpfs"[..]));
    assert_eq!(restored[Path::new("bind/secret")].as_deref(), Some(&b"reached through a bind mount"[..]));
    assert_eq!(restored[Path::new("home/mounted-file")].as_deref(), Some(&b"reached through a bind mount"[..]));
}

/// Where the as-nobody half of the next test finds its tree.
const AS_NOBODY_DIR: &str = "LIFEBOAT_TEST_FILTERS_DIR";

/// Root opens every directory, so the backup that meets an unreadable one runs as `nobody`:
/// this test runs its second half (the ignored test below) in this test binary again under
/// `setpriv`, which passes only if excluding the directory avoided the error that backing
/// it up gives.
#[test]
fn an_excluded_directory_that_cannot_be_opened_causes_no_warning_or_error() {
    use std::os::unix::fs::PermissionsExt;
    assert!(is_root(), "this test runs a backup as the user nobody and needs root (CI runs the suite as root)");
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    write(&dir.path().join("src/public.txt"), b"readable");
    write(&dir.path().join("src/private/secret"), b"not for nobody");
    std::fs::set_permissions(dir.path().join("src/private"), std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::create_dir(dir.path().join("repo")).unwrap();
    std::os::unix::fs::chown(dir.path().join("repo"), Some(65534), Some(65534)).unwrap();

    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "filters::as_nobody_an_unreadable_directory_is_excluded_unopened", "--ignored"])
        .env(AS_NOBODY_DIR, dir.path())
        .output()
        .expect("run setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the backup as nobody failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as nobody by an_excluded_directory_that_cannot_be_opened_causes_no_warning_or_error"]
async fn as_nobody_an_unreadable_directory_is_excluded_unopened() {
    let dir = PathBuf::from(std::env::var_os(AS_NOBODY_DIR).expect("run by the test above"));
    assert!(!is_root(), "this half must not run as root");
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.join("repo")));
    let repo = Repository::init(storage, pw("pw"), cheap()).await.unwrap();
    let src = vec![dir.join("src")];

    let unfiltered = repo.backup_files(&src, request("files")).await.unwrap_err();
    assert!(unfiltered.to_string().contains("private"), "backing the directory up fails: {unfiltered}");

    let filter = FilesFilter { exclude: vec!["/**/src/private".into()], ..Default::default() };
    let m = repo.backup_files_filtered(&src, &filter, request("files")).await.unwrap();
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    assert_eq!(m.stats.get("excluded"), Some(&1));
    assert_eq!(m.stats.get("files"), Some(&1));
}

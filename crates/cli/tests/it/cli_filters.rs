//! `lifeboat backup files` with --exclude, --iexclude, --exclude-file, --exclude-if-present,
//! --exclude-caches and --one-file-system: the flags reach the library (what they exclude is
//! neither in the backup's record nor restored), bad patterns are refused by name, and an
//! excluded directory that cannot be opened is never touched.

use std::path::Path;

use crate::common::*;

fn write(path: &Path, content: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn backup_files_filter_flags_leave_out_what_they_match() {
    let env = Env::init();
    let src = env.path("src");
    write(&src.join("keep.txt"), b"kept");
    write(&src.join("app.log"), b"by --exclude");
    write(&src.join("keep.log"), b"back by --exclude !keep.log");
    write(&src.join("IMG.JPG"), b"by --iexclude");
    write(&src.join("target/debug/bin"), b"by --exclude-file");
    write(&src.join("vm/.nobackup"), b"");
    write(&src.join("vm/disk.img"), b"by --exclude-if-present");
    write(&src.join("cache/CACHEDIR.TAG"), b"Signature: 8a477f597d28d172789f06886806bc55");
    write(&src.join("cache/blob"), b"by --exclude-caches");
    let excludes = env.path("excludes.txt");
    std::fs::write(&excludes, "# build output\ntarget/\n").expect("write");

    let out = env.run(
        &[
            "backup",
            "files",
            utf8(&src),
            "--exclude",
            "*.log",
            "--exclude",
            "!keep.log",
            "--iexclude",
            "*.jpg",
            "--exclude-file",
            utf8(&excludes),
            "--exclude-if-present",
            ".nobackup",
            "--exclude-caches",
            "-x",
            "--json",
        ],
        b"",
    );
    out.ok();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    let id = backup_id(&out);
    let show = env.show(&id);
    assert_eq!(show["stats"]["excluded"], 5, "{show}");
    assert_eq!(show["source"]["filter"]["exclude"][1], "!keep.log", "{show}");
    assert_eq!(show["source"]["filter"]["one-file-system"], true, "{show}");

    let target = env.path("restored");
    env.run(&["restore", &id, "--target", utf8(&target)], b"").ok();
    let root = target.join(src.strip_prefix("/").expect("absolute"));
    let mut restored: Vec<String> =
        all_files(&root).iter().map(|p| p.strip_prefix(&root).expect("inside").display().to_string()).collect();
    restored.sort();
    assert_eq!(restored, ["cache/CACHEDIR.TAG", "keep.log", "keep.txt", "vm/.nobackup"]);
    assert_eq!(std::fs::read(root.join("keep.log")).expect("read"), b"back by --exclude !keep.log");
}

#[test]
fn a_bad_exclude_pattern_is_refused_by_name_and_nothing_is_written() {
    let env = Env::init();
    let src = env.path("src");
    write(&src.join("a"), b"a");
    let out = env.run(&["backup", "files", utf8(&src), "--exclude", "cache[0-9"], b"");
    out.code(EXIT_FAILURE).no_panic().stderr_has("cache[0-9").stderr_has("never closed");
    assert!(env.list_ids().is_empty(), "no backup was written");
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2)) == Some("0")
}

/// Root opens every directory: the backup runs as nobody (setpriv), for whom `private` is
/// unreadable. Excluded, it causes no warning and no error; included, the backup fails.
#[test]
fn an_unreadable_excluded_directory_is_never_opened() {
    use std::os::unix::fs::PermissionsExt;
    assert!(is_root(), "this test runs lifeboat as the user nobody and needs root (CI runs the suite as root)");
    let base = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let src = base.path().join("src");
    write(&src.join("public.txt"), b"readable");
    write(&src.join("private/secret"), b"not for nobody");
    std::fs::set_permissions(src.join("private"), std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let home = base.path().join("nobody");
    std::fs::create_dir(&home).expect("mkdir");
    std::os::unix::fs::chown(&home, Some(65534), Some(65534)).expect("chown");
    let env = Env {
        tmp: tempfile::tempdir_in(&home).expect("tempdir"),
        repo: home.join("repo"),
        password: Some(PASSWORD.into()),
    };
    std::os::unix::fs::chown(env.tmp.path(), Some(65534), Some(65534)).expect("chown");
    let as_nobody = |args: &[&str]| {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        let inner = env.cmd(args);
        cmd.arg(inner.get_program()).args(inner.get_args());
        cmd.env_clear();
        for (k, v) in inner.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        run(cmd, b"")
    };
    let mut init = vec!["init"];
    init.extend(cheap_kdf());
    as_nobody(&init).ok();

    let failed = as_nobody(&["backup", "files", utf8(&src)]);
    failed.code(EXIT_FAILURE).stderr_has("private");

    let out = as_nobody(&["backup", "files", utf8(&src), "--exclude", "private", "--json"]);
    out.ok();
    assert!(!out.stderr.contains("warning") && !out.stderr.contains("private"), "{}", out.stderr);
    let json = out.json();
    assert_eq!(json["stats"]["excluded"], 1, "{json}");
}

//! End-to-end failures of the `lifeboat` binary: each gives one clear message naming what
//! and where, the documented exit code, and leaves nothing that looks complete.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

/// Asserts that a failed operation left no listed backup, no temporary file and no lock.
#[track_caller]
fn assert_nothing_left(env: &Env) {
    assert_nothing_listed(env);
    wait_for_no_locks(&env.repo);
}

/// Asserts that a failed operation left no listed backup and no temporary file.
#[track_caller]
fn assert_nothing_listed(env: &Env) {
    assert_eq!(env.list_ids(), Vec::<String>::new(), "a failed backup is listed");
    assert_eq!(temp_files(&env.repo), Vec::<PathBuf>::new(), "temporary files left in the repository");
}

/// Locks are removed when their holder ends; allow the clean-up a moment.
#[track_caller]
fn wait_for_no_locks(repo: &Path) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !lock_files(repo).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(lock_files(repo), Vec::<PathBuf>::new(), "lock files left in {}", repo.display());
}

#[test]
fn missing_source_path_fails_naming_it() {
    let env = Env::init();
    let good = env.path("good");
    std::fs::create_dir(&good).expect("mkdir");
    std::fs::write(good.join("f"), "data").expect("write");
    let missing = env.path("does-not-exist");
    let out = env.run(&["backup", "files", good.to_str().expect("utf-8"), missing.to_str().expect("utf-8")], b"");
    out.code(EXIT_FAILURE).no_panic().stderr_has(missing.to_str().expect("utf-8")).stderr_has("no such file");
    assert_nothing_left(&env);
}

#[test]
fn unreadable_file_fails_naming_it_and_records_nothing() {
    let env = Env::init();
    let dir = env.path("tree");
    std::fs::create_dir(&dir).expect("mkdir");
    // Some real content first, so the failure happens in the middle of the stream.
    std::fs::write(dir.join("a-first.bin"), random_bytes(2 * 1024 * 1024, 41)).expect("write");
    let unreadable: PathBuf = if is_root() {
        // Root reads through chmod 000; this sysctl is write-only even for root.
        let p = PathBuf::from("/proc/sys/vm/compact_memory");
        assert!(std::fs::File::open(&p).is_err(), "{} is readable here; pick another unreadable file", p.display());
        p
    } else {
        let p = dir.join("b-locked.txt");
        std::fs::write(&p, "secret").expect("write");
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o000)).expect("chmod 000");
        p
    };
    let out = env.run(&["backup", "files", dir.to_str().expect("utf-8"), unreadable.to_str().expect("utf-8")], b"");
    out.code(EXIT_FAILURE).no_panic().stderr_has(unreadable.to_str().expect("utf-8")).stderr_has("permission denied");
    assert!(out.stdout.is_empty() || !out.text().contains("done"), "a failed backup reported success:\n{}", out.text());
    assert_nothing_listed(&env);
    // Operations that need the exclusive lock are not blocked by the failed backup.
    env.run(&["prune", "--dry-run"], b"").ok();
    wait_for_no_locks(&env.repo);
}

#[test]
fn init_twice_says_already_exists() {
    let env = Env::init();
    let before = std::fs::read(env.repo.join("config")).expect("config");
    let mut args = vec!["init"];
    args.extend(cheap_kdf());
    let out = env.run(&args, b"");
    out.code(EXIT_FAILURE).no_panic().stderr_has("already exists").stderr_has(env.repo.to_str().expect("utf-8"));
    assert_eq!(std::fs::read(env.repo.join("config")).expect("config"), before, "a second init changed the config");
}

#[test]
fn missing_repository_is_named() {
    let env = Env::new();
    for args in [&["list"][..], &["show", "latest"], &["verify"], &["restore", "latest", "--stdout"]] {
        let out = env.run(args, b"");
        out.code(EXIT_FAILURE)
            .no_panic()
            .stderr_has("no Lifeboat repository at")
            .stderr_has(env.repo.to_str().expect("utf-8"));
    }
    let out = env.run(&["backup", "stdin", "--name", "x"], b"some data");
    out.code(EXIT_FAILURE).stderr_has("no Lifeboat repository at");
    assert!(!env.repo.exists(), "a backup into a missing repository created {}", env.repo.display());
}

#[test]
fn wrong_password_is_reported_and_writes_nothing() {
    let env = Env::init();
    let id = env.backup_stdin("first", b"first backup");
    let wrong = Env { tmp: tempfile::tempdir().expect("tmp"), repo: env.repo.clone(), password: Some("not it".into()) };
    for args in [&["list"][..], &["show", &id], &["restore", &id, "--stdout"], &["verify", "--deep"], &["key", "list"]]
    {
        let out = wrong.run(args, b"");
        out.code(EXIT_FAILURE).no_panic().stderr_has("wrong password").stderr_has(env.repo.to_str().expect("utf-8"));
        assert!(out.stdout.is_empty() || !out.text().contains("first backup"), "output with a wrong password");
    }
    let out = wrong.run(&["backup", "stdin", "--name", "second"], b"second backup");
    out.code(EXIT_FAILURE).stderr_has("wrong password");
    assert!(!out.all().contains("not it"), "the wrong password was echoed");
    assert_eq!(env.list_ids(), vec![id], "a backup with a wrong password was recorded");
    assert_eq!(temp_files(&env.repo), Vec::<PathBuf>::new());
}

#[test]
fn corrupt_config_is_reported() {
    let env = Env::init();
    let config = env.repo.join("config");
    let good = std::fs::read(&config).expect("config");
    let variants: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"\x00\x01garbage, not JSON at all \xff".to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("empty", Vec::new()),
        (
            "wrong-format",
            String::from_utf8(good.clone()).expect("utf-8").replace("lifeboat-repository", "other").into_bytes(),
        ),
    ];
    for (what, bytes) in variants {
        std::fs::write(&config, &bytes).expect("overwrite config");
        for args in [&["list"][..], &["backup", "stdin", "--name", "x"]] {
            let out = env.run(args, b"data");
            out.code(EXIT_FAILURE).no_panic();
            let err = out.stderr.to_lowercase();
            assert!(
                err.contains("config")
                    && err.contains("corrupt")
                    && out.stderr.contains(env.repo.to_str().expect("utf-8")),
                "{what}: `{}` does not say the config at the repository is corrupt:\n{}",
                out.what,
                out.stderr
            );
        }
    }
    std::fs::write(&config, &good).expect("restore config");
    assert_eq!(env.list_ids(), Vec::<String>::new(), "backups were recorded against a corrupt config");
}

#[test]
fn no_password_without_a_terminal_is_a_clear_error() {
    let mut env = Env::init();
    env.password = None;
    for args in [&["list"][..], &["backup", "stdin", "--name", "x"]] {
        let out = env.run(args, b"data");
        out.code(EXIT_FAILURE).no_panic().stderr_has("password").stderr_has("LIFEBOAT_PASSWORD");
    }
    let fresh = Env { password: None, ..Env::new() };
    let mut args = vec!["init"];
    args.extend(cheap_kdf());
    fresh.run(&args, b"").code(EXIT_FAILURE).stderr_has("password");
    assert!(!fresh.repo.join("config").exists(), "init without a password created a repository");
    // An empty password variable is refused, not used.
    let empty = Env { password: Some(String::new()), ..Env::new() };
    empty.run(&args, b"").code(EXIT_FAILURE).stderr_has("LIFEBOAT_PASSWORD").stderr_has("empty");
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::init();
    let id = env.backup_stdin("s", b"stream");
    let cases: Vec<Vec<&str>> = vec![
        vec!["restore", &id],
        vec!["restore", &id, "--stdout", "--target", "/tmp/x"],
        vec!["restore"],
        vec!["backup", "stdin"],
        vec!["backup", "files"],
        vec!["frobnicate"],
        vec!["init", "--kdf-memory-kib", "lots"],
        vec!["list", "--no-such-flag"],
        vec![],
    ];
    for args in cases {
        let out = env.run(&args, b"");
        out.code(EXIT_USAGE).no_panic();
        assert!(!out.stderr.trim().is_empty(), "`{}`: a usage error without a message", out.what);
        let hint = out.stderr.to_lowercase();
        assert!(hint.contains("usage") || hint.contains("--help"), "`{}`: no usage hint:\n{}", out.what, out.stderr);
    }
    env.run(&["restore", &id], b"").stderr_has("--target").stderr_has("--stdout");
    env.run(&["--help"], b"").ok();
    env.run(&["--version"], b"").ok().output_has("lifeboat");
}

#[test]
fn unset_repository_is_a_clear_error() {
    let out = run(
        {
            let mut cmd = lifeboat();
            cmd.env("LIFEBOAT_PASSWORD", PASSWORD).args(["list"]);
            cmd
        },
        b"",
    );
    out.code(EXIT_FAILURE).no_panic().stderr_has("no repository").stderr_has("--repo").stderr_has("LIFEBOAT_REPO");
}

#[test]
fn empty_repository_has_no_latest() {
    let env = Env::init();
    env.run(&["list"], b"").ok().output_has("no backups");
    assert_eq!(env.list_ids(), Vec::<String>::new());
    env.run(&["restore", "latest", "--stdout"], b"")
        .code(EXIT_FAILURE)
        .stderr_has("no backup matches")
        .stderr_has("latest");
    env.run(&["backup", "stdin", "--name", "  "], b"x").code(EXIT_FAILURE).stderr_has("--name");
    let id = env.backup_stdin("s", b"x");
    env.run(&["restore", &id, "--stdout", "--object", "nope"], b"").code(EXIT_FAILURE).stderr_has("nope");
}

/// Unmounts a tmpfs when dropped (declared after the temp dir, so dropped before it).
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let status = std::process::Command::new("umount").arg(&self.0).status();
        if !status.is_ok_and(|s| s.success()) {
            let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

#[test]
fn disk_full_fails_cleanly() {
    assert!(is_root(), "this test mounts a 2 MiB tmpfs to fill the disk and needs root (CI runs the suite as root)");
    let env_base = Env::new();
    let small = env_base.path("small");
    let _mount = mount_tmpfs(&small, "2m");
    let env = init_repository_at(&env_base, small.join("repo"));

    let out = env.run(&["backup", "stdin", "--name", "too-big"], &random_bytes(5 * 1024 * 1024, 51));
    out.code(EXIT_FAILURE).no_panic().stderr_has("no space").stderr_has(env.repo.to_str().expect("utf-8"));
    assert_nothing_listed(&env);
    // The space of the failed attempt was given back: a small backup fits.
    let data = random_bytes(100_000, 52);
    let id = env.backup_stdin("small", &data);
    assert_eq!(env.restore_stdout(&id), data);
    assert_eq!(env.list_ids(), vec![id]);
    // The failed backup's lock is gone too (checked last, so the checks above always run).
    wait_for_no_locks(&env.repo);
}

#[test]
fn ctrl_c_during_backup_exits_130_and_leaves_nothing() {
    let env = Env::init_v2();
    let mut cmd = env.cmd(&["backup", "stdin", "--name", "interrupted"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start lifeboat");
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin");
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    // The feeder sends data slowly and then keeps the pipe open: the backup cannot finish.
    let feeder = std::thread::spawn(move || {
        let chunk = random_bytes(64 * 1024, 61);
        for _ in 0..40 {
            if stdin.write_all(&chunk).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = stop_rx.recv_timeout(Duration::from_secs(120));
    });

    // Wait until the backup is under way: its lock and a temporary data object exist.
    let deadline = Instant::now() + Duration::from_secs(60);
    while (lock_files(&env.repo).is_empty() || temp_files(&env.repo.join("data")).is_empty())
        && Instant::now() < deadline
    {
        assert!(child.try_wait().expect("try_wait").is_none(), "the backup ended before it was interrupted");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!lock_files(&env.repo).is_empty(), "the running backup holds no lock");
    assert!(!temp_files(&env.repo.join("data")).is_empty(), "the running backup writes no temporary object");
    let kill = std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status().expect("run kill");
    assert!(kill.success(), "kill -INT {pid} failed");

    let out = collect(child, "backup stdin (interrupted)");
    let _ = stop_tx.send(());
    feeder.join().expect("feeder");
    out.code(EXIT_INTERRUPTED).no_panic().stderr_has("interrupted");
    std::thread::sleep(Duration::from_millis(300));
    assert_nothing_left(&env);
}

#[test]
fn init_creates_a_private_repository_and_says_who_can_read_it() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let mut args = vec!["init"];
    args.extend(cheap_kdf());
    let out = env.run(&args, b"");
    out.ok();
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&env.repo), 0o700, "repository folder");
    assert_eq!(mode(&env.repo.join("config")), 0o600, "config");
    let said = out.text();
    assert!(
        said.contains("readable only by user") && said.contains("(mode 0700)"),
        "init does not say who can read it:\n{said}"
    );
}

#[test]
fn unlock_removes_the_lock_of_a_killed_backup_at_once() {
    let env = Env::init();
    let mut cmd = env.cmd(&["backup", "stdin", "--name", "killed"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start lifeboat");
    let pid = child.id();
    // Some data, then a pipe that stays open: the backup cannot finish.
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&random_bytes(256 * 1024, 71)).expect("feed");
    let deadline = Instant::now() + Duration::from_secs(60);
    while lock_files(&env.repo).is_empty() && Instant::now() < deadline {
        assert!(child.try_wait().expect("try_wait").is_none(), "the backup ended before it was killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(lock_files(&env.repo).len(), 1, "the running backup holds no lock");
    let kill = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().expect("run kill");
    assert!(kill.success(), "kill -KILL {pid} failed");
    let _ = collect(child, "backup stdin (killed)");
    drop(stdin);
    assert_eq!(lock_files(&env.repo).len(), 1, "kill -9 gave the backup no chance to remove its lock");

    let out = env.run(&["unlock"], b"");
    out.ok().output_has("its process is gone");
    assert_eq!(lock_files(&env.repo), Vec::<PathBuf>::new(), "unlock left the dead backup's lock");
    env.run(&["prune"], b"").ok();
}

#[test]
fn database_tools_inherit_no_lifeboat_secrets() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::init();
    let bin = env.path("fake-bin");
    std::fs::create_dir(&bin).expect("mkdir");
    let seen = env.path("child-env");
    // Stand-ins for the PostgreSQL tools: record the environment, then fail to connect.
    for tool in ["psql", "pg_dump", "pg_dumpall"] {
        let script = format!(
            "#!/bin/sh\nenv > '{}'\necho 'psql: error: connection to server at \"127.0.0.1\", port 9 failed: Connection refused' >&2\nexit 2\n",
            seen.display()
        );
        let path = bin.join(tool);
        std::fs::write(&path, script).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut cmd = env.cmd(&["backup", "postgres", "--url", "postgres://someone@127.0.0.1:9/db"]);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()));
    cmd.env("PATH", path)
        .env("LIFEBOAT_TO_PASSWORD", "to-secret-xyzzy")
        .env("LIFEBOAT_NEW_PASSWORD", "new-secret-xyzzy")
        .env("LIFEBOAT_WEBDAV_PASSWORD", "dav-secret-xyzzy")
        .env("LIFEBOAT_ES_API_KEY", "es-secret-xyzzy")
        .env("AWS_SECRET_ACCESS_KEY", "aws-secret-xyzzy");
    let out = run(cmd, b"");
    out.code(EXIT_FAILURE).no_panic();
    let child_env = std::fs::read_to_string(&seen).expect("the stand-in tool did not run");
    assert!(child_env.contains("PGAPPNAME=lifeboat"), "not the dumper's environment:\n{child_env}");
    assert!(!child_env.contains(PASSWORD), "the repository password reached a database tool:\n{child_env}");
    assert!(!child_env.contains("xyzzy"), "a secret reached a database tool:\n{child_env}");
    assert!(!child_env.lines().any(|l| l.starts_with("LIFEBOAT_")), "LIFEBOAT_* reached a database tool:\n{child_env}");
}

#[test]
fn forget_with_prune_frees_space_on_a_full_disk() {
    assert!(is_root(), "this test mounts a 2 MiB tmpfs to fill the disk and needs root (CI runs the suite as root)");
    let env_base = Env::new();
    let small = env_base.path("small");
    let _mount = mount_tmpfs(&small, "2m");
    let env = init_repository_at(&env_base, small.join("repo"));
    let old = env.backup_stdin("db", &random_bytes(500_000, 81));
    let new = env.backup_stdin("db", &random_bytes(500_000, 82));
    // Fill the filesystem to the last byte.
    let mut filler = std::fs::File::create(small.join("filler")).expect("create filler");
    let chunk = vec![0x5au8; 4096];
    while filler.write_all(&chunk).is_ok() {}
    drop(filler);
    let mut probe = 0;
    while std::fs::write(small.join(format!("probe-{probe}")), b"x").is_ok() {
        probe += 1;
        assert!(probe < 10_000, "the tmpfs does not fill up");
    }

    let out = env.run(&["forget", "--keep-last", "1", "--prune"], b"");
    out.ok().no_panic().stderr_has("space reserve");
    assert_eq!(env.list_ids(), vec![new.clone()], "forget did not forget {old}");
    assert!(out.text().contains("pruned 1 unreferenced object(s)"), "prune freed nothing:\n{}", out.all());
    // The space is usable again.
    std::fs::write(small.join("after"), vec![0u8; 100_000]).expect("no space was freed");
    wait_for_no_locks(&env.repo);
}

/// A repository initialised (cheap KDF) at `repo`, a place of the test's choosing (a small
/// tmpfs), with the rest of its environment in a new directory inside `base`.
/// A format 2 repository at `repo`: these tests fill its disk, and format 2's prune frees
/// space in the same run (format 3's deletes condemned packs only in a later run, 11.6).
fn init_repository_at(base: &Env, repo: PathBuf) -> Env {
    let env = Env { tmp: tempfile::tempdir_in(base.tmp.path()).expect("tmp"), repo, password: Some(PASSWORD.into()) };
    let mut args = vec!["init", "--format", "2"];
    args.extend(cheap_kdf());
    env.run(&args, b"").ok();
    env
}

/// Mounts a tmpfs of `size` at `dir` (root only); unmounted when the guard drops.
fn mount_tmpfs(dir: &Path, size: &str) -> Mount {
    std::fs::create_dir_all(dir).expect("mkdir");
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .expect("run mount");
    assert!(status.success(), "mount -t tmpfs failed");
    Mount(dir.to_owned())
}

/// Issue 9 item 21: a full or read-only repository during `backup files` is reported as
/// the storage error, not as a source file that could not be read.
#[test]
fn backup_files_names_the_storage_error_of_a_full_or_read_only_repository() {
    assert!(is_root(), "this test mounts a 2 MiB tmpfs and needs root (CI runs the suite as root)");
    let base = Env::new();
    let small = base.path("small");
    let _mount = mount_tmpfs(&small, "2m");
    let env = init_repository_at(&base, small.join("repo"));
    let src = env.path("src");
    std::fs::create_dir(&src).expect("mkdir");
    std::fs::write(src.join("big.bin"), random_bytes(5 * 1024 * 1024, 81)).expect("write");

    let out = env.run(&["backup", "files", src.to_str().expect("utf-8")], b"");
    out.code(EXIT_FAILURE).no_panic().stderr_has("no space").stderr_has(env.repo.to_str().expect("utf-8"));
    assert!(!out.stderr.contains("cannot read file"), "a storage failure blamed on a source file:\n{}", out.stderr);
    assert_nothing_listed(&env);

    let status = std::process::Command::new("mount").args(["-o", "remount,ro"]).arg(&small).status();
    assert!(status.expect("run mount").success(), "remount read-only");
    std::fs::write(src.join("big.bin"), b"small now").expect("write");
    let out = env.run(&["backup", "files", src.to_str().expect("utf-8")], b"");
    out.code(EXIT_FAILURE).no_panic().stderr_has("read-only").stderr_has(env.repo.to_str().expect("utf-8"));
    assert!(!out.stderr.contains("cannot read file"), "a storage failure blamed on a source file:\n{}", out.stderr);
}

/// Staging folders of restores into `parent`.
fn staging_dirs(parent: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(parent)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(".lifeboat-restore-")))
        .collect()
}

/// Issue 9 items 21 and 2: Ctrl-C (or SIGTERM) during `restore --target` removes the
/// hidden staging folder, which other users could not enter while it existed.
#[test]
fn interrupting_a_restore_removes_its_private_staging_folder() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::init();
    let src = env.path("src");
    for d in 0..4 {
        std::fs::create_dir_all(src.join(format!("d{d}"))).expect("mkdir");
        for f in 0..20 {
            std::fs::write(src.join(format!("d{d}/f{f}")), random_bytes(100 * 1024, d * 100 + f)).expect("write");
        }
    }
    let id = backup_id(env.run(&["backup", "files", src.to_str().expect("utf-8"), "--json"], b"").ok());
    for (signal, code) in [("-INT", EXIT_INTERRUPTED), ("-TERM", 143)] {
        let parent = env.path(&format!("restores{signal}"));
        std::fs::create_dir(&parent).expect("mkdir");
        let target = parent.join("restored");
        // 8 MiB at 1 MiB/s: the restore is still running when the signal comes.
        let mut cmd =
            env.cmd(&["restore", &id, "--target", target.to_str().expect("utf-8"), "--limit-download", "1048576"]);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start lifeboat");
        // Wait until the restore is writing into its staging folder.
        let deadline = Instant::now() + Duration::from_secs(120);
        let staging = loop {
            assert!(child.try_wait().expect("try_wait").is_none(), "the restore ended before it was interrupted");
            assert!(Instant::now() < deadline, "no staging folder appeared");
            if let Some(dir) = staging_dirs(&parent).pop()
                && !all_files(&dir).is_empty()
            {
                break dir;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let mode = std::fs::metadata(&staging).expect("staging folder").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "other users can enter the staging folder {}", staging.display());
        let kill = std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().expect("kill");
        assert!(kill.success(), "kill {signal} failed");
        let out = collect(child, "restore (interrupted)");
        out.code(code).no_panic().stderr_has("interrupted");
        assert_eq!(staging_dirs(&parent), Vec::<PathBuf>::new(), "the staging folder was left behind ({signal})");
        assert!(!target.exists(), "an interrupted restore published a target");
    }
}

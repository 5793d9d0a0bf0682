//! Format 3 through the binary: `init --format 3`, files backups that reuse unchanged
//! files, and the browsing commands (ls, dump, diff, find, stats, partial restores).

use std::path::{Path, PathBuf};

use crate::common::*;

/// A repository made by `init --format 3`.
fn init_v3() -> Env {
    let env = Env::new();
    let mut args = vec!["init"];
    args.extend(cheap_kdf());
    args.extend(["--format", "3"]);
    env.run(&args, b"").ok();
    env
}

/// A small tree: `a.txt`, `big.bin` (1 MiB of noise), `sub/b.txt`, `sub/deep/c.conf`.
fn make_tree(env: &Env) -> PathBuf {
    let src = env.path("src");
    std::fs::create_dir_all(src.join("sub/deep")).expect("mkdir");
    std::fs::write(src.join("a.txt"), b"alpha\n").expect("write");
    std::fs::write(src.join("big.bin"), random_bytes(1 << 20, 7)).expect("write");
    std::fs::write(src.join("sub/b.txt"), b"bravo\n").expect("write");
    std::fs::write(src.join("sub/deep/c.conf"), b"charlie = 3\n").expect("write");
    src.canonicalize().expect("canonical source")
}

fn text(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn backup(env: &Env, src: &Path) -> String {
    let out = env.run(&["backup", "files", text(src), "--json"], b"");
    out.ok().no_panic();
    backup_id(&out)
}

#[test]
fn format_3_backups_browse_diff_find_and_restore_parts() {
    let env = init_v3();
    let src = make_tree(&env);
    // A file changed in the second a backup starts is read again by the next one (its
    // change could follow the backup's read within the same mtime second): start the
    // first backup in the next second so that the second trusts the files cache.
    into_next_second();
    let first = backup(&env, &src);
    assert_eq!(env.show(&first)["version"], 3, "init --format 3 writes v3 files backups");
    let second = backup(&env, &src);
    let show = env.show(&second);
    assert_eq!(show["stats"]["bytes"], 0, "an unchanged second backup reads no file: {show}");

    // ls: a long listing of the backed-up directory, and its JSON.
    let ls = env.run(&["ls", &second, text(&src)], b"");
    ls.ok();
    let lines = ls.text();
    let line_of = |name: &str| lines.lines().find(|l| l.ends_with(&format!(" {name}"))).map(str::to_owned);
    let a = line_of("a.txt").unwrap_or_else(|| panic!("ls misses a.txt:\n{lines}"));
    assert!(a.starts_with("-rw") && a.contains(" 6 "), "a.txt is a 6-byte file: {a}");
    assert!(line_of("sub").is_some_and(|l| l.starts_with('d')), "sub is a directory:\n{lines}");
    let json = env.run(&["ls", "latest", text(&src), "--json"], b"");
    json.ok();
    let mut names: Vec<String> = json
        .json()
        .as_array()
        .expect("ls --json array")
        .iter()
        .map(|e| e["name"].as_str().unwrap_or("").to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.txt", "big.bin", "sub"], "ls --json names");

    // dump: one file's bytes; a directory is refused.
    let dump = env.run(&["dump", &second, text(&src.join("big.bin"))], b"");
    dump.ok();
    assert!(
        dump.stdout == random_bytes(1 << 20, 7),
        "dump of big.bin differs from the file ({} bytes)",
        dump.stdout.len()
    );
    env.run(&["dump", &second, text(&src.join("sub"))], b"").code(EXIT_FAILURE).stderr_has("is a directory");

    // diff after a change, an addition and a removal.
    std::fs::write(src.join("a.txt"), b"alpha, changed\n").expect("write");
    std::fs::write(src.join("new.txt"), b"new\n").expect("write");
    std::fs::remove_file(src.join("sub/deep/c.conf")).expect("rm");
    let third = backup(&env, &src);
    let diff = env.run(&["diff", &second, &third], b"");
    diff.ok();
    let diff_text = diff.text();
    for line in [
        format!("M {}", src.join("a.txt").display()),
        format!("+ {}", src.join("new.txt").display()),
        format!("- {}", src.join("sub/deep/c.conf").display()),
    ] {
        assert!(diff_text.lines().any(|l| l == line), "diff misses {line:?}:\n{diff_text}");
    }
    assert!(!diff_text.contains("big.bin"), "diff lists an unchanged file:\n{diff_text}");
    let diff_json = env.run(&["diff", &second, &third, "--json"], b"");
    diff_json.ok();
    assert_eq!(diff_json.json()["changes"].as_array().map(Vec::len), Some(diff_text.lines().count()), "diff --json");

    // find: c.conf is in the first two backups only.
    let find = env.run(&["find", "*.conf"], b"");
    find.ok();
    let find_text = find.text();
    let found: Vec<&str> = find_text.lines().collect();
    assert_eq!(found.len(), 2, "find *.conf:\n{}", find.text());
    assert!(found.iter().all(|l| l.ends_with("/sub/deep/c.conf")), "find prints paths:\n{}", find.text());
    assert!(
        found[0].starts_with(&first[..8]) && found[1].starts_with(&second[..8]),
        "find prints backup ids:\n{}",
        find.text()
    );
    let find_json = env.run(&["find", "*.conf", "--json"], b"");
    find_json.ok();
    let backups: Vec<String> = find_json
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["backup"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(backups, [first.clone(), second.clone()], "find --json backups");

    // stats: raw size counts every backup's files; the big file is stored once.
    let stats = env.run(&["stats", "--json"], b"");
    stats.ok();
    let stats = stats.json();
    let tree_bytes = (6 + (1 << 20) + 6 + 12) as u64;
    let third_bytes = (15 + (1 << 20) + 6 + 4) as u64;
    assert_eq!(stats["backups"], 3, "{stats}");
    assert_eq!(stats["raw_bytes"], 2 * tree_bytes + third_bytes, "{stats}");
    let stored = stats["stored_bytes"].as_u64().expect("stored_bytes");
    assert!(stored > 1 << 20 && stored < (1 << 20) + (256 << 10), "stored size {stored}: {stats}");
    assert!(stats["dedup_ratio"].as_f64().is_some_and(|r| r > 2.5), "{stats}");

    // restore --include: only the matching files and the directories leading to them.
    let only_txt = env.path("only-txt");
    env.run(&["restore", &third, "--target", text(&only_txt), "--include", "*.txt"], b"").ok();
    let restored = only_txt.join(src.strip_prefix("/").expect("absolute"));
    assert_eq!(std::fs::read(restored.join("a.txt")).ok(), Some(b"alpha, changed\n".to_vec()));
    assert_eq!(std::fs::read(restored.join("sub/b.txt")).ok(), Some(b"bravo\n".to_vec()));
    assert!(restored.join("new.txt").is_file(), "new.txt restored");
    assert!(!restored.join("big.bin").exists(), "--include *.txt restored big.bin");

    // restore ID PATH: the directory's contents go into the target.
    let part = env.path("part");
    env.run(&["restore", &first, "--target", text(&part), text(&src.join("sub"))], b"").ok();
    assert_eq!(std::fs::read(part.join("b.txt")).ok(), Some(b"bravo\n".to_vec()));
    assert_eq!(std::fs::read(part.join("deep/c.conf")).ok(), Some(b"charlie = 3\n".to_vec()));
    assert!(!part.join("a.txt").exists(), "a path restore restored its siblings");

    env.run(&["restore", &first, "--stdout", "--include", "*.txt"], b"").code(EXIT_USAGE);
    let missing = src.join("no-such-dir");
    env.run(&["restore", &first, "--target", text(&env.path("none")), text(&missing)], b"")
        .code(EXIT_FAILURE)
        .stderr_has(&format!("backup {}", &first[..8]))
        .stderr_has("is not in the backup");
    env.run(&["ls", &first, text(&missing)], b"").code(EXIT_FAILURE).stderr_has("is not in the backup");

    env.run(&["verify", "--deep"], b"").ok().output_has("no damage");
}

#[test]
fn format_2_backups_are_refused_by_the_browsing_commands() {
    let env = Env::init_v2();
    let src = make_tree(&env);
    let id = backup(&env, &src);
    for args in [vec!["ls", id.as_str()], vec!["dump", id.as_str(), "/x"], vec!["diff", id.as_str(), id.as_str()]] {
        env.run(&args, b"").code(EXIT_FAILURE).no_panic().stderr_has("is format 2").stderr_has("--format 3");
    }
    env.run(&["find", "*.txt"], b"").code(EXIT_FAILURE).stderr_has("format 2");
    let target = env.path("t");
    env.run(&["restore", &id, "--target", text(&target), "--include", "*.txt"], b"")
        .code(EXIT_FAILURE)
        .stderr_has("need a format 3 backup");
    assert!(!target.exists(), "a refused restore wrote its target");
    let stats = env.run(&["stats", "--json"], b"");
    stats.ok();
    assert_eq!(stats.json()["backups"], 1);
    assert!(stats.json()["raw_bytes"].as_u64().is_some_and(|b| b > 1 << 20), "v2 raw size is the tar stream's");
}

/// A write-only host (recipient public key and a registered writer key, no password)
/// makes format 3 files backups into its own dedup domain: the recipient's identity
/// restores them, the host cannot, and an unchanged second backup stores almost nothing.
#[test]
fn a_write_only_host_writes_format_3_backups_the_identity_restores() {
    let env = init_v3();
    let src = make_tree(&env);
    let other = |env: &Env| Env { tmp: tempfile::tempdir().expect("tmp"), repo: env.repo.clone(), password: None };
    let identity = env.path("owner.identity");
    let out = env.run(&["key", "recipient", "generate", "--output", text(&identity)], b"");
    out.ok();
    let public = out.text().trim().to_owned();
    env.run(&["key", "recipient", "add", &public], b"").ok();

    let host = other(&env);
    let writer = host.path("host.writer");
    let out = host.run(&["key", "writer", "generate", "--output", text(&writer)], b"");
    out.ok();
    env.run(&["key", "writer", "add", out.text().trim()], b"").ok();
    let backup = || {
        let args =
            ["backup", "files", text(&src), "--recipient", &public, "--writer-key-file", text(&writer), "--json"];
        let out = host.run(&args, b"");
        out.ok().no_panic();
        backup_id(&out)
    };
    let first = backup();

    let reader = other(&env);
    let show = |id: &str| {
        let out = reader.run(&["show", id, "--json", "--identity-file", text(&identity)], b"");
        out.ok();
        out.json()
    };
    assert_eq!(show(&first)["version"], 3, "a write-only host writes v3 files backups");
    let target = reader.path("restored");
    reader.run(&["restore", &first, "--target", text(&target), "--identity-file", text(&identity)], b"").ok();
    let inner = target.join(src.strip_prefix("/").expect("absolute"));
    for file in ["a.txt", "big.bin", "sub/b.txt", "sub/deep/c.conf"] {
        assert!(std::fs::read(inner.join(file)).ok() == std::fs::read(src.join(file)).ok(), "{file} differs");
    }

    let second = backup();
    let stats = &show(&second)["stats"];
    assert!(stats["bytes"].as_u64().is_some_and(|b| b >= 1 << 20), "the host reads every file: {stats}");
    assert!(stats["bytes_new"].as_u64().is_some_and(|b| b < 4096), "yet stores almost nothing: {stats}");

    // The host cannot read back what it wrote.
    let out = host.run(&["restore", &first, "--target", text(&host.path("x")), "--recipient", &public], b"");
    out.code(EXIT_FAILURE).stderr_has("write-only");
    assert!(!host.path("x").join("a.txt").exists());
}

/// `lifeboat` against the repository at `repo` with `password` (its own state directory).
fn at(env: &Env, repo: &Path, password: &str, args: &[&str]) -> Out {
    let mut cmd = lifeboat();
    cmd.env("LIFEBOAT_REPO", repo).env("LIFEBOAT_PASSWORD", password).env("LIFEBOAT_STATE_DIR", env.path("state-b"));
    cmd.args(args);
    run(cmd, b"")
}

#[test]
fn copy_and_sync_of_format_3_backups_restore_from_the_destination_with_its_own_password() {
    let env = init_v3();
    let src = make_tree(&env);
    let first = backup(&env, &src);
    let dest = env.path("dest");
    let mut args = vec!["init"];
    args.extend(cheap_kdf());
    args.extend(["--format", "3"]);
    at(&env, &dest, "other password", &args).ok();

    let mut copy = env.cmd(&["copy", &first, "--to", text(&dest), "--json"]);
    copy.env("LIFEBOAT_TO_PASSWORD", "other password");
    let out = run(copy, b"");
    out.ok();
    assert_eq!(out.json()["copied"][0], first.as_str(), "{}", out.all());
    assert!(out.json()["packs_sent"].as_u64().unwrap_or(0) >= 1, "{}", out.all());

    std::fs::write(src.join("a.txt"), b"alpha, changed\n").expect("write");
    let second = backup(&env, &src);
    let mut sync = env.cmd(&["sync", "--to", text(&dest), "--json"]);
    sync.env("LIFEBOAT_TO_PASSWORD", "other password");
    let out = run(sync, b"");
    out.ok();
    assert_eq!(out.json()["copied"], serde_json::json!([second]), "{}", out.all());
    assert_eq!(out.json()["skipped"], serde_json::json!([first]), "{}", out.all());

    std::fs::remove_dir_all(&env.repo).expect("remove the source repository");
    let target = env.path("restored");
    at(&env, &dest, "other password", &["restore", &second, "--target", text(&target)]).ok();
    let inner = target.join(src.strip_prefix("/").expect("absolute"));
    assert_eq!(std::fs::read(inner.join("a.txt")).expect("a.txt"), b"alpha, changed\n");
    assert_eq!(std::fs::read(inner.join("big.bin")).expect("big.bin"), random_bytes(1 << 20, 7));
    let ls = at(&env, &dest, "other password", &["ls", &first, text(&src)]);
    ls.ok();
    assert!(ls.text().contains("a.txt"), "{}", ls.all());
}

#[test]
fn migrate_turns_a_format_2_repository_into_format_3_and_its_backups_still_restore() {
    let env = Env::new();
    let mut args = vec!["init"];
    args.extend(cheap_kdf());
    args.extend(["--format", "2"]);
    env.run(&args, b"").ok();
    let src = make_tree(&env);
    let files = backup(&env, &src);
    assert_eq!(env.show(&files)["version"], 2);
    let stream = env.backup_stdin("s", b"stream bytes");

    let plan = env.run(&["migrate", "--dry-run", "--json"], b"");
    plan.ok();
    assert_eq!(plan.json()["migrated"], serde_json::json!([files]), "{}", plan.all());
    assert_eq!(plan.json()["migrated_streams"], serde_json::json!([stream]), "{}", plan.all());
    assert_eq!(env.show(&files)["version"], 2, "a dry run changes nothing");

    let out = env.run(&["migrate"], b"");
    out.ok().output_has("re-chunked 1 format 2 files backup");
    assert_eq!(env.show(&files)["version"], 3, "same id, now format 3");
    out.output_has("re-chunked 1 format 2 stream and database backup");
    assert_eq!(env.show(&stream)["version"], 3, "streams re-chunk too");
    let target = env.path("restored");
    env.run(&["restore", &files, "--target", text(&target)], b"").ok();
    let inner = target.join(src.strip_prefix("/").expect("absolute"));
    assert_eq!(std::fs::read(inner.join("sub/deep/c.conf")).expect("c.conf"), b"charlie = 3\n");
    assert_eq!(std::fs::read(inner.join("big.bin")).expect("big.bin"), random_bytes(1 << 20, 7));
    assert_eq!(env.restore_stdout(&stream), b"stream bytes");
    let next = backup(&env, &src);
    assert_eq!(env.show(&next)["version"], 3, "new files backups are format 3");
}

/// Every regular file under `root`, relative path -> content.
fn tree_files(root: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let rel = path.strip_prefix(root).expect("under root").to_path_buf();
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

/// kill -9 of `lifeboat prune` while it condemns and repacks (FORMAT.md 11.6): after each
/// kill, verify and a restore of the kept backup succeed, and the next prune gets past
/// the dead lock (its process is gone) and finishes the work.
#[test]
fn a_prune_killed_with_sigkill_leaves_a_repository_that_verifies_and_restores() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let env = init_v3();
    let src = env.path("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    for i in 0..6u64 {
        std::fs::write(src.join(format!("f{i}.bin")), random_bytes(3 << 20, 100 + i)).expect("write");
    }
    let src = src.canonicalize().expect("canonical source");
    backup(&env, &src);
    for i in 2..6 {
        std::fs::remove_file(src.join(format!("f{i}.bin"))).expect("remove");
    }
    let kept = backup(&env, &src);
    env.run(&["forget", "--keep-last", "1"], b"").ok();

    let mut killed_while_running = 0;
    for (round, delay_ms) in [0u64, 60, 250, 700].into_iter().enumerate() {
        let mut cmd = env.cmd(&["prune"]);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start lifeboat prune");
        let deadline = Instant::now() + Duration::from_secs(60);
        while lock_files(&env.repo).is_empty() && Instant::now() < deadline && child.try_wait().expect("wait").is_none()
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().expect("try_wait").is_none() {
            killed_while_running += 1;
        }
        let pid = child.id().to_string();
        let _ = std::process::Command::new("kill").args(["-KILL", &pid]).status().expect("run kill");
        let _ = collect(child, "prune (killed)");

        env.run(&["verify"], b"").ok().no_panic();
        let target = env.path(&format!("restored-{round}"));
        env.run(&["restore", &kept, "--target", text(&target)], b"").ok();
        let restored = tree_files(&target.join(src.strip_prefix("/").expect("absolute")));
        assert!(restored == tree_files(&src), "round {round}: the kept backup restored different files");
    }
    assert!(killed_while_running > 0, "every prune finished before its kill: the test killed nothing");

    // The next prune is not blocked by the dead locks and finishes the condemnation.
    let out = env.run(&["prune", "--json"], b"");
    out.ok().no_panic();
    let records = std::fs::read_dir(env.repo.join("prune")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(records, 1, "one condemned record names the repacked pack:\n{}", out.text());
    env.run(&["verify", "--deep"], b"").ok().output_has("no damage");
    let target = env.path("restored-last");
    env.run(&["restore", &kept, "--target", text(&target)], b"").ok();
    assert!(tree_files(&target.join(src.strip_prefix("/").expect("absolute"))) == tree_files(&src));
}

/// The first `packs/` object under the repository, by size (largest first).
fn largest_pack(env: &Env) -> PathBuf {
    let mut packs: Vec<PathBuf> = Vec::new();
    let mut pending = vec![env.repo.join("packs")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read packs") {
            let path = entry.expect("entry").path();
            if path.is_dir() { pending.push(path) } else { packs.push(path) }
        }
    }
    packs.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)));
    packs.into_iter().next().expect("a pack")
}

#[test]
fn verify_reads_all_or_part_of_the_packs_and_names_the_damaged_file_and_backup() {
    let env = init_v3();
    let src = make_tree(&env);
    let id = backup(&env, &src);
    env.run(&["verify"], b"").ok();
    env.run(&["verify", "--read-data-subset", "1/1"], b"").ok();
    let bad = env.run(&["verify", "--read-data-subset", "4/3"], b"");
    bad.code(2).stderr_has("n/m");

    let pack = largest_pack(&env);
    let mut bytes = std::fs::read(&pack).expect("read pack");
    let at = bytes.len() / 3;
    bytes[at] ^= 0x08;
    std::fs::write(&pack, bytes).expect("write pack");
    // No data read: the structure is intact.
    env.run(&["verify"], b"").ok();
    let deep = env.run(&["verify", "--read-data", "--json"], b"");
    deep.code(3);
    let report = deep.json();
    let damage = report["damage"].as_array().expect("damage list");
    assert!(!damage.is_empty(), "{report}");
    assert_eq!(damage[0]["backup"], id.as_str(), "{report}");
    let object = damage[0]["object"].as_str().unwrap_or_default();
    assert!(object.contains("big.bin"), "the damage names the file: {report}");
    env.run(&["verify", "--read-data-subset", "100%"], b"").code(3);
}

#[test]
fn repair_index_rebuilds_a_deleted_index_and_restores_work_again() {
    let env = init_v3();
    let src = make_tree(&env);
    let id = backup(&env, &src);
    for entry in std::fs::read_dir(env.repo.join("index")).expect("index dir") {
        std::fs::remove_file(entry.expect("entry").path()).expect("remove index object");
    }
    std::fs::remove_dir_all(env.path("cache")).ok();
    let broken = env.run(&["restore", &id, "--target", text(&env.path("lost"))], b"");
    assert_ne!(broken.code, 0, "without an index nothing is found: {}", broken.all());
    assert!(!env.path("lost").exists(), "a failed restore leaves no target");

    let repaired = env.run(&["repair", "index", "--json"], b"");
    repaired.ok();
    let report = repaired.json();
    assert!(report["packs"].as_u64().is_some_and(|n| n >= 1), "{report}");
    assert_eq!(report["damaged"].as_array().map(Vec::len), Some(0), "{report}");
    let target = env.path("back");
    env.run(&["restore", &id, "--target", text(&target)], b"").ok();
    let inner = target.join(src.strip_prefix("/").expect("absolute"));
    assert_eq!(std::fs::read(inner.join("big.bin")).expect("restored"), random_bytes(1 << 20, 7));
    env.run(&["verify", "--read-data"], b"").ok();
}

#[test]
fn the_index_cache_goes_where_cache_dir_says_and_no_cache_writes_none() {
    let env = init_v3();
    let src = make_tree(&env);
    let custom = env.path("elsewhere");
    let out = env.run(&["--cache-dir", text(&custom), "backup", "files", text(&src), "--json"], b"");
    out.ok();
    let repo_dirs: Vec<_> = std::fs::read_dir(&custom).expect("cache dir made").collect();
    assert_eq!(repo_dirs.len(), 1, "one folder, named by the repository id");
    std::fs::remove_dir_all(env.path("cache")).ok();
    env.run(&["--no-cache", "verify", "--read-data"], b"").ok();
    assert!(!env.path("cache").exists(), "--no-cache writes no cache");
}

/// `backup stdin` in a format 3 repository writes a version 3 stream backup (a root tree
/// with one file): `restore --stdout` and `dump` return the bytes, `ls` lists the stream,
/// `verify --deep` passes, and the same stream again stores no new chunk.
#[test]
fn format_3_backup_stdin_restores_to_stdout_and_dedups_a_second_run() {
    let env = init_v3();
    let data = random_bytes(3 << 20, 11);
    let out = env.run(&["backup", "stdin", "--name", "app.sql", "--json"], &data);
    out.ok().no_panic();
    let id = backup_id(&out);
    let show = env.run(&["show", &id, "--json"], b"").ok().json();
    assert_eq!(show["version"], 3, "{show}");
    assert_eq!(show["objects"][0]["name"], "stream", "{show}");
    assert_eq!(show["stats"]["bytes_new"], data.len() as u64, "{show}");
    let restored = env.run(&["restore", &id, "--stdout"], b"");
    restored.ok();
    assert!(restored.stdout == data, "restore --stdout returns the stream ({} bytes)", restored.stdout.len());
    let dumped = env.run(&["dump", &id, "/stream"], b"");
    dumped.ok();
    assert!(dumped.stdout == data, "dump returns the stream");
    env.run(&["ls", &id], b"").ok().output_has("stream");
    env.run(&["verify", &id, "--deep"], b"").ok();

    let again = env.run(&["backup", "stdin", "--name", "app.sql", "--json"], &data);
    again.ok();
    let second = backup_id(&again);
    let show = env.run(&["show", &second, "--json"], b"").ok().json();
    assert_eq!(show["stats"]["bytes_new"], 0, "the same stream stores no chunk again: {show}");
    let target = env.path("restored");
    env.run(&["restore", &second, "--target", text(&target)], b"").ok();
    assert!(std::fs::read(target.join("app.sql")).expect("restored file") == data);
}

/// Sleeps until the wall clock's second changes.
fn into_next_second() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970");
    std::thread::sleep(
        std::time::Duration::from_nanos(1_000_000_000 - u64::from(now.subsec_nanos()))
            + std::time::Duration::from_millis(5),
    );
}

/// `prune` reports each dedup domain on a line of its own when there are several: with the
/// recipient's identity it condemns a write-only host's forgotten pack in that host's domain
/// and leaves the repository's own alone. The password cannot read the host's backups, so
/// its prune refuses while one is listed; once none is, it prunes its own domain and names
/// the host's, which it cannot open, as not pruned.
#[test]
fn prune_reports_each_dedup_domain_and_the_ones_it_cannot_open() {
    let env = init_v3();
    let identity = env.path("owner.identity");
    let out = env.run(&["key", "recipient", "generate", "--output", text(&identity)], b"");
    out.ok();
    let public = out.text().trim().to_owned();
    env.run(&["key", "recipient", "add", &public], b"").ok();
    let own = make_tree(&env);
    backup(&env, &own);
    let host = Env { tmp: tempfile::tempdir().expect("tmp"), repo: env.repo.clone(), password: None };
    let writer = host.path("host.writer");
    let out = host.run(&["key", "writer", "generate", "--output", text(&writer)], b"");
    out.ok();
    env.run(&["key", "writer", "add", out.text().trim()], b"").ok();
    let host_backup = |name: &str, seed: u64| {
        let src = host.path(name);
        std::fs::create_dir_all(&src).expect("mkdir");
        std::fs::write(src.join("data.bin"), random_bytes(1 << 20, seed)).expect("write");
        let args =
            ["backup", "files", text(&src), "--recipient", &public, "--writer-key-file", text(&writer), "--json"];
        let out = host.run(&args, b"");
        out.ok().no_panic();
        backup_id(&out)
    };
    let kept = host_backup("kept", 11);
    let gone = host_backup("gone", 12);

    let reader = Env { tmp: tempfile::tempdir().expect("tmp"), repo: env.repo.clone(), password: None };
    let with_identity = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--identity-file", text(&identity)]);
        reader.run(&all, b"")
    };
    with_identity(&["forget", &gone]).ok();
    let out = with_identity(&["prune"]);
    out.ok().no_panic();
    let text_out = out.text();
    let lines: Vec<&str> = text_out.lines().filter(|l| l.trim_start().starts_with("dedup domain")).collect();
    assert_eq!(lines.len(), 2, "one line per domain:\n{text_out}");
    let host_line = lines.iter().find(|l| l.contains("a write-only host's")).expect("the host's domain line");
    assert!(host_line.contains("condemned 1"), "the forgotten backup's pack is condemned: {host_line}");
    let own_line = lines.iter().find(|l| l.contains("this repository's")).expect("the repository's own domain line");
    assert!(own_line.contains("condemned 0"), "nothing of the repository's own goes: {own_line}");

    let target = reader.path("restored");
    with_identity(&["restore", &kept, "--target", text(&target)]).ok();
    let inner = target.join(host.path("kept").canonicalize().expect("canonical").strip_prefix("/").expect("absolute"));
    assert_eq!(std::fs::read(inner.join("data.bin")).expect("restored"), random_bytes(1 << 20, 11));

    env.run(&["prune"], b"").code(EXIT_FAILURE).stderr_has("cannot be read");
    with_identity(&["forget", &kept]).ok();
    let out = env.run(&["prune", "--json"], b"");
    out.ok().no_panic();
    let skipped = out.json()["v3"]["skipped"].as_array().cloned().unwrap_or_default();
    assert_eq!(skipped.len(), 1, "the password cannot open the host's domain: {}", out.json());
    env.run(&["prune"], b"").ok().output_has("not pruned");
    let target = env.path("own-restored");
    env.run(&["restore", "latest", "--target", text(&target)], b"").ok();
    assert!(tree_files(&target.join(own.strip_prefix("/").expect("absolute"))) == tree_files(&own));
}

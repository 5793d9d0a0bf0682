//! End-to-end round trips through the `lifeboat` binary: streams at segment boundaries,
//! JSON output, id resolution, and directory trees with every kind of entry.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::common::*;

const MIB: usize = 1024 * 1024;

/// Finds a member called `name` anywhere in a JSON document.
fn has_member(value: &serde_json::Value, name: &str) -> bool {
    match value {
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k == name || has_member(v, name)),
        serde_json::Value::Array(items) => items.iter().any(|v| has_member(v, name)),
        _ => false,
    }
}

/// A compressible, non-trivial text of `len` bytes.
fn text_bytes(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(format!("line {i:08} of a compressible test stream\n").as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

#[test]
fn stream_roundtrips_at_segment_boundaries() {
    let env = Env::init_v2();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("one-byte", vec![0x5a]),
        ("one-mib", text_bytes(MIB)),
        ("three-mib", random_bytes(3 * MIB, 3)),
        ("five-mib-odd", random_bytes(5 * MIB + 12_345, 5)),
    ];
    let mut ids = Vec::new();
    for (name, data) in &cases {
        let out = env.run(&["backup", "stdin", "--name", name, "--json"], data);
        out.ok().no_panic();
        let json = out.json();
        let id = backup_id(&out);
        assert_eq!(json["size"], data.len() as u64, "{name}: backup --json size");
        assert_eq!(json["kind"], "stream", "{name}: kind");
        assert_eq!(json["name"], *name, "{name}: name");
        assert!(!has_member(&json, "dek"), "{name}: backup --json reveals a data key: {json}");
        assert!(!out.all().contains(PASSWORD), "{name}: the password appears in the output");

        // The stored object has exactly the segments FORMAT.md 3.3 prescribes.
        let key = json["objects"][0]["key"].as_str().expect("object key");
        let stored = std::fs::read(env.repo.join(key)).expect("data object file");
        let (header_len, segs) = segments(&stored);
        assert_eq!(header_len, 74, "{name}: a data object has no slots");
        assert_eq!(segs.len(), data.len().div_ceil(MIB).max(1), "{name}: segment count for {} bytes", data.len());

        let restored = env.restore_stdout(&id);
        assert_eq!(restored.len(), data.len(), "{name}: restored length");
        assert!(restored == *data, "{name}: restored bytes differ from the input");
        ids.push(id);
    }

    let listed = env.list_ids();
    assert_eq!(listed, ids, "list --json shows every backup, oldest first");
    let list = env.run(&["list"], b"");
    list.ok();
    for name in ["empty", "one-byte", "one-mib", "three-mib", "five-mib-odd"] {
        assert!(list.text().contains(name), "list table misses {name}:\n{}", list.text());
    }

    let verify = env.run(&["verify"], b"");
    verify.ok().output_has("5 backup(s)").output_has("no damage");
    let deep = env.run(&["verify", "--deep"], b"");
    deep.ok().output_has("deep-verified").output_has("5 backup(s)");
    // A single backup by id.
    env.run(&["verify", &ids[4], "--deep"], b"").ok().output_has("1 backup(s)");
}

#[test]
fn show_and_list_json_reveal_no_secrets() {
    let env = Env::init_v2();
    let data = random_bytes(200_000, 11);
    let id = env.backup_stdin("secret-check", &data);

    let show = env.run(&["show", &id, "--json"], b"");
    show.ok();
    let json = show.json();
    assert_eq!(json["id"], id.as_str());
    assert_eq!(json["kind"], "stream");
    assert_eq!(json["objects"][0]["name"], "stream");
    assert_eq!(json["objects"][0]["plain_size"], data.len() as u64);
    let key = json["objects"][0]["key"].as_str().expect("key");
    assert!(key.starts_with("data/") && env.repo.join(key).is_file(), "object key {key} is not a stored file");
    assert!(!has_member(&json, "dek"), "show --json contains a dek member: {json}");
    assert!(!show.text().contains("\"dek\""), "show --json text contains \"dek\"");
    assert!(!show.all().contains(PASSWORD), "show --json prints the password");

    let text = env.run(&["show", &id], b"");
    text.ok();
    assert!(
        text.text().contains(&id) && text.text().contains(key),
        "show names the backup and object:\n{}",
        text.text()
    );
    assert!(!text.all().contains(PASSWORD));

    let list = env.run(&["list", "--json"], b"");
    list.ok();
    assert!(!has_member(&list.json(), "dek") && !list.all().contains(PASSWORD), "list --json leaks a secret");
    assert_eq!(ids_of(&list.json()), vec![id.clone()]);

    // The manifest stored on disk is encrypted: neither the id's stream name nor JSON is readable.
    let manifest = std::fs::read(env.repo.join("backups").join(&id)).expect("manifest file");
    assert_eq!(&manifest[..8], b"LIFEBOAT");
    assert!(!String::from_utf8_lossy(&manifest).contains("secret-check"), "manifest is stored in clear");
}

#[test]
fn ids_resolve_by_unique_prefix_and_latest() {
    let env = Env::init();
    let mut backups: Vec<(String, Vec<u8>)> = Vec::new();
    // Make backups until two share their first hex digit (at most 17 by pigeonhole).
    let shared = loop {
        let data = random_bytes(1000 + backups.len(), 100 + backups.len() as u64);
        let id = env.backup_stdin(&format!("b{}", backups.len()), &data);
        backups.push((id, data));
        let firsts: Vec<char> = backups.iter().map(|(id, _)| id.chars().next().expect("id")).collect();
        if let Some(c) = firsts.iter().copied().find(|c| firsts.iter().filter(|d| **d == *c).count() > 1) {
            break c;
        }
        assert!(backups.len() <= 17, "17 backups without a shared first digit is impossible");
    };

    for (id, data) in &backups {
        // The shortest prefix that is unique among the backups.
        let len = (1..=32)
            .find(|&n| backups.iter().filter(|(other, _)| other.starts_with(&id[..n])).count() == 1)
            .expect("a full id is unique");
        assert_eq!(env.restore_stdout(&id[..len]), *data, "restore by unique prefix {}", &id[..len]);
        assert_eq!(env.show(&id[..len].to_uppercase())["id"], id.as_str(), "an upper-case prefix resolves too");
        assert_eq!(env.show(id)["id"], id.as_str(), "a full id resolves");
    }
    let (last_id, last_data) = backups.last().expect("backups");
    assert_eq!(env.restore_stdout("latest"), *last_data, "latest is the newest backup");
    assert_eq!(env.show("latest")["id"], last_id.as_str());

    let ambiguous = env.run(&["show", &shared.to_string()], b"");
    ambiguous.code(EXIT_FAILURE).no_panic().stderr_has("ambiguous");
    for (id, _) in backups.iter().filter(|(id, _)| id.starts_with(shared)) {
        ambiguous.stderr_has(id);
    }
    let restore = env.run(&["restore", &shared.to_string(), "--stdout"], b"");
    restore.code(EXIT_FAILURE).stderr_has("ambiguous");
    assert!(restore.stdout.is_empty(), "an ambiguous restore wrote data");

    let unused = (0..256u32)
        .map(|n| format!("{n:02x}"))
        .find(|p| !backups.iter().any(|(id, _)| id.starts_with(p.as_str())))
        .expect("an unused two-digit prefix");
    env.run(&["show", &unused], b"").code(EXIT_FAILURE).no_panic().stderr_has("no backup matches").stderr_has(&unused);
    env.run(&["restore", &unused, "--stdout"], b"").code(EXIT_FAILURE).stderr_has("no backup matches");
    env.run(&["show", "not-an-id"], b"").code(EXIT_FAILURE).stderr_has("no backup matches").stderr_has("not-an-id");
}

#[test]
fn password_file_works_for_init_backup_and_restore() {
    let mut env = Env::new();
    env.password = None;
    let pw_file = env.path("pw.txt");
    std::fs::write(&pw_file, "file password 🔑\nsecond line is ignored\n").expect("write password file");
    let pw = pw_file.to_str().expect("utf-8 path");

    let mut init = vec!["init", "--password-file", pw];
    init.extend(cheap_kdf());
    env.run(&init, b"").ok();
    let data = random_bytes(70_000, 9);
    let out = env.run(&["backup", "stdin", "--name", "pwfile", "--json", "--password-file", pw], &data);
    out.ok();
    let id = backup_id(&out);
    let restored = env.run(&["restore", &id, "--stdout", "--password-file", pw], b"");
    restored.ok();
    assert!(restored.stdout == data, "restore with --password-file differs");

    // The same password from the environment opens it; the first line only counts.
    let mut by_env = env.cmd(&["list", "--json"]);
    by_env.env("LIFEBOAT_PASSWORD", "file password 🔑");
    let listed = run(by_env, b"");
    listed.ok();
    assert_eq!(ids_of(&listed.json()), vec![id]);
    // LIFEBOAT_PASSWORD_FILE works as the flag does.
    let mut by_var = env.cmd(&["verify"]);
    by_var.env("LIFEBOAT_PASSWORD_FILE", &pw_file);
    run(by_var, b"").ok();
    // A password file holding another password is a wrong password.
    let wrong = env.path("wrong.txt");
    std::fs::write(&wrong, "file password\n").expect("write");
    env.run(&["list", "--password-file", wrong.to_str().expect("utf-8")], b"")
        .code(EXIT_FAILURE)
        .stderr_has("wrong password");
}

/// What a test tree holds, to compare a restore against.
struct Tree {
    /// The (canonical) source root.
    root: PathBuf,
    /// Relative paths of the entries that must be skipped.
    skipped: Vec<PathBuf>,
}

const MTIME_SECS: u64 = 1_000_000_000; // 2001-09-09T01:46:40Z
const LONG_DIR: &str = "a-rather-long-directory-name-that-goes-on-and-on-0123456789";
const LONG_FILE: &str =
    "and-a-file-name-that-is-also-quite-long-so-the-path-exceeds-100-bytes-abcdefghijklmnopqrstuvwxyz.txt";

fn build_tree(base: &Path) -> Tree {
    let root = base.join("src");
    std::fs::create_dir_all(root.join("nested/deeper/deepest")).expect("mkdir");
    std::fs::create_dir_all(root.join(LONG_DIR)).expect("mkdir long");
    std::fs::create_dir_all(root.join("données/日本語")).expect("mkdir unicode");
    std::fs::write(root.join("nested/deeper/deepest/leaf.bin"), random_bytes(300_000, 21)).expect("write");
    std::fs::write(root.join("nested/readme.txt"), "hello from a nested directory\n").expect("write");
    std::fs::write(root.join("empty"), b"").expect("write");
    std::fs::write(root.join(LONG_DIR).join(LONG_FILE), "long path content\n").expect("write");
    std::fs::write(root.join("données/日本語/ünïcødé 🚣.txt"), "unicode content ✓\n").expect("write");

    let private = root.join("private.key");
    std::fs::write(&private, "only the owner may read this\n").expect("write");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    let file = std::fs::File::options().write(true).open(&private).expect("open");
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(MTIME_SECS)).expect("set mtime");
    drop(file);
    let script = root.join("nested/run.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod 755");

    std::os::unix::fs::symlink("nested/deeper/deepest/leaf.bin", root.join("link-to-leaf")).expect("symlink");
    std::os::unix::fs::symlink("/nonexistent/dangling/target", root.join("dangling")).expect("symlink");

    let fifo = root.join("a.fifo");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status().expect("run mkfifo");
    assert!(status.success(), "mkfifo failed");
    let socket = root.join("a.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind unix socket");
    drop(listener); // the socket file stays
    assert!(
        long_relative_path().as_os_str().len() > 100,
        "the long path must exceed the 100 bytes of a plain tar name"
    );
    Tree {
        root: std::fs::canonicalize(&root).expect("canonicalize"),
        skipped: vec![PathBuf::from("a.fifo"), PathBuf::from("a.sock")],
    }
}

fn long_relative_path() -> PathBuf {
    Path::new(LONG_DIR).join(LONG_FILE)
}

/// Where a restore puts `root`: the target plus the absolute source path without its `/`.
fn restored_root(target: &Path, root: &Path) -> PathBuf {
    target.join(root.strip_prefix("/").expect("absolute root"))
}

/// Compares every entry of `src` (except `skipped`) with `dst`: type, content, mode,
/// symlink target, and file mtimes (whole seconds).
fn assert_same_tree(src: &Path, dst: &Path, skipped: &[PathBuf]) {
    let mut seen = BTreeSet::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let (s, d) = (src.join(&rel), dst.join(&rel));
        let sm = std::fs::symlink_metadata(&s).expect("source metadata");
        let dm = std::fs::symlink_metadata(&d).unwrap_or_else(|e| panic!("restored {} is missing: {e}", d.display()));
        assert_eq!(sm.file_type().is_dir(), dm.file_type().is_dir(), "{}: type", rel.display());
        assert_eq!(sm.file_type().is_symlink(), dm.file_type().is_symlink(), "{}: type", rel.display());
        if sm.file_type().is_symlink() {
            assert_eq!(
                std::fs::read_link(&s).expect("link"),
                std::fs::read_link(&d).expect("link"),
                "{}: link",
                rel.display()
            );
            seen.insert(rel);
            continue;
        }
        assert_eq!(sm.mode() & 0o7777, dm.mode() & 0o7777, "{}: mode", rel.display());
        if sm.is_dir() {
            for entry in std::fs::read_dir(&s).expect("read_dir") {
                let child = rel.join(entry.expect("entry").file_name());
                if !skipped.contains(&child) {
                    pending.push(child);
                }
            }
            let restored: BTreeSet<_> =
                std::fs::read_dir(&d).expect("read_dir").map(|e| rel.join(e.expect("entry").file_name())).collect();
            let extra: Vec<_> = restored.iter().filter(|p| std::fs::symlink_metadata(src.join(p)).is_err()).collect();
            assert!(extra.is_empty(), "restore created entries the source does not have: {extra:?}");
            for skip in skipped.iter().filter(|p| p.parent() == Some(rel.as_path())) {
                assert!(!restored.contains(skip), "the skipped {} was restored", skip.display());
            }
        } else {
            assert!(std::fs::read(&s).expect("read") == std::fs::read(&d).expect("read"), "{}: content", rel.display());
            assert_eq!(sm.mtime(), dm.mtime(), "{}: mtime seconds", rel.display());
        }
        seen.insert(rel);
    }
    assert!(seen.len() >= 16, "the comparison walked only {} entries", seen.len());
}

#[test]
fn files_backup_restores_contents_modes_mtimes_and_links() {
    let env = Env::init_v2();
    let tree = build_tree(env.tmp.path());
    let src = tree.root.to_str().expect("utf-8");

    let out = env.run(&["backup", "files", src, "--json", "--tag", "e2e"], b"");
    out.ok().no_panic();
    out.stderr_has("warning").stderr_has("a.fifo").stderr_has("a.sock");
    let id = backup_id(&out);

    let show = env.show(&id);
    assert_eq!(show["kind"], "files");
    assert_eq!(show["objects"][0]["name"], "tree");
    let warnings: Vec<String> = show["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("show --json has no warnings array: {show}"))
        .iter()
        .map(|w| w.as_str().expect("warning text").to_owned())
        .collect();
    assert_eq!(warnings.len(), 2, "one warning per skipped entry: {warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("FIFO") && w.contains("a.fifo")), "no FIFO warning: {warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("socket") && w.contains("a.sock")), "no socket warning: {warnings:?}");
    assert_eq!(show["stats"]["symlinks"], 2, "stats: {}", show["stats"]);
    assert_eq!(show["stats"]["files"], 7, "stats: {}", show["stats"]);
    assert_eq!(show["tags"], serde_json::json!(["e2e"]));

    env.run(&["verify", "--deep"], b"").ok();

    let target = env.path("restored");
    let restore = env.run(&["restore", &id, "--target", target.to_str().expect("utf-8")], b"");
    restore.ok().no_panic();
    let root = restored_root(&target, &tree.root);
    assert_same_tree(&tree.root, &root, &tree.skipped);

    // Spot checks of what the tree walk compared, to be explicit.
    let private = std::fs::metadata(root.join("private.key")).expect("private.key restored");
    assert_eq!(private.mode() & 0o777, 0o600);
    assert_eq!(private.mtime(), MTIME_SECS as i64);
    assert_eq!(
        std::fs::read_link(root.join("link-to-leaf")).expect("link"),
        Path::new("nested/deeper/deepest/leaf.bin")
    );
    assert_eq!(std::fs::read(root.join(long_relative_path())).expect("long path file"), b"long path content\n");
    assert_eq!(
        std::fs::read(root.join("données/日本語/ünïcødé 🚣.txt")).expect("unicode file"),
        "unicode content ✓\n".as_bytes()
    );
    assert_eq!(std::fs::metadata(root.join("empty")).expect("empty file").len(), 0);
    // Nothing but the restored tree is in the target; no staging folder is left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(env.tmp.path())
        .expect("read tmp")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("lifeboat-restore"))
        .collect();
    assert!(leftovers.is_empty(), "staging folders left behind: {leftovers:?}");

    // An existing empty directory is an acceptable target too.
    let empty_target = env.path("empty-target");
    std::fs::create_dir(&empty_target).expect("mkdir");
    env.run(&["restore", "latest", "--target", empty_target.to_str().expect("utf-8")], b"").ok();
    assert_same_tree(&tree.root, &restored_root(&empty_target, &tree.root), &tree.skipped);
}

/// docs/FORMAT.md section 5: a files backup is a tar stream with "pax extensions for long
/// names and precise times", so sub-second modification times must survive a round trip.
#[test]
fn files_restore_keeps_mtime_to_the_second() {
    // The tree is a GNU tar stream (docs/FORMAT.md 5): modification times are whole seconds.
    let env = Env::init_v2();
    let src = env.path("precise");
    std::fs::create_dir(&src).expect("mkdir");
    let file_path = src.join("f.txt");
    std::fs::write(&file_path, "precise time\n").expect("write");
    let when = SystemTime::UNIX_EPOCH + Duration::new(MTIME_SECS, 123_456_789);
    std::fs::File::options().write(true).open(&file_path).expect("open").set_modified(when).expect("set mtime");
    let id = backup_id(env.run(&["backup", "files", src.to_str().expect("utf-8"), "--json"], b"").ok());
    let target = env.path("out");
    env.run(&["restore", &id, "--target", target.to_str().expect("utf-8")], b"").ok();
    let restored = restored_root(&target, &std::fs::canonicalize(&src).expect("canonicalize")).join("f.txt");
    let meta = std::fs::metadata(&restored).expect("restored file");
    assert_eq!(meta.mtime(), MTIME_SECS as i64, "whole seconds");
    assert_eq!(meta.mtime_nsec(), 0, "the format stores whole seconds; a fraction would be invented");
}

#[test]
fn restore_into_non_empty_dir_is_refused_and_untouched() {
    let env = Env::init();
    let data = random_bytes(50_000, 31);
    let id = env.backup_stdin("stream", &data);

    let target = env.path("busy");
    std::fs::create_dir_all(target.join("sub")).expect("mkdir");
    std::fs::write(target.join("keep.txt"), "precious\n").expect("write");
    std::fs::write(target.join("sub/also.txt"), "also precious\n").expect("write");
    let before = snapshot(&target);
    let siblings_before: BTreeSet<_> =
        std::fs::read_dir(env.tmp.path()).expect("ls").map(|e| e.expect("e").file_name()).collect();

    let out = env.run(&["restore", &id, "--target", target.to_str().expect("utf-8")], b"");
    out.code(EXIT_FAILURE).no_panic().stderr_has(target.to_str().expect("utf-8")).stderr_has("not empty");
    assert_eq!(snapshot(&target), before, "the non-empty target was modified");
    let siblings_after: BTreeSet<_> =
        std::fs::read_dir(env.tmp.path()).expect("ls").map(|e| e.expect("e").file_name()).collect();
    assert_eq!(siblings_before, siblings_after, "a refused restore left something beside the target");

    // A plain file as target is refused as well.
    let file_target = env.path("a-file");
    std::fs::write(&file_target, "x").expect("write");
    env.run(&["restore", &id, "--target", file_target.to_str().expect("utf-8")], b"")
        .code(EXIT_FAILURE)
        .stderr_has("a-file");
    assert_eq!(std::fs::read(&file_target).expect("read"), b"x");

    // A new directory receives a stream backup as a file with the name it was backed up with.
    let fresh = env.path("fresh");
    env.run(&["restore", &id, "--target", fresh.to_str().expect("utf-8")], b"").ok();
    assert!(std::fs::read(fresh.join("stream")).expect("restored stream file") == data);

    // Issue 15: `backup stdin --name nightly/app.sql` restores as app.sql, not as "stream".
    let named = env.backup_stdin("nightly/app.sql", &data);
    let into = env.path("named");
    env.run(&["restore", &named, "--target", into.to_str().expect("utf-8")], b"").ok();
    let names: Vec<_> = std::fs::read_dir(&into).expect("ls").map(|e| e.expect("e").file_name()).collect();
    assert_eq!(names, ["app.sql"], "the restored stream is named after its backup");
    assert!(std::fs::read(into.join("app.sql")).expect("restored app.sql") == data);
}

/// 1960-01-01T00:00:00Z.
const MTIME_1960: i64 = -315_619_200;

/// Issue 9, FORMAT.md 5: a pre-1970 mtime is written so that GNU tar and Python's tarfile
/// read it (a PAX record); hard links are tar hard links; `mode` holds permission bits
/// only; owners carry their names. Read from the raw tree object (`restore --stdout`).
#[test]
fn tree_objects_are_read_by_gnu_tar_and_python_tarfile() {
    let env = Env::init_v2();
    let src = env.path("old");
    std::fs::create_dir(&src).expect("mkdir");
    let old = src.join("old.txt");
    std::fs::write(&old, "from 1960\n").expect("write");
    let when = SystemTime::UNIX_EPOCH - Duration::from_secs(MTIME_1960.unsigned_abs());
    std::fs::File::options().write(true).open(&old).expect("open").set_modified(when).expect("set mtime");
    std::fs::write(src.join("first"), "shared inode\n").expect("write");
    std::fs::hard_link(src.join("first"), src.join("second")).expect("hard link");
    std::os::unix::fs::chown(src.join("first"), Some(65534), Some(65534)).expect("chown to nobody");
    let id = backup_id(env.run(&["backup", "files", src.to_str().expect("utf-8"), "--json"], b"").ok());

    let tree = env.path("tree.tar");
    std::fs::write(&tree, env.restore_stdout(&id)).expect("write tree");
    let root = std::fs::canonicalize(&src).expect("canonicalize");
    let name = |file: &str| root.join(file).strip_prefix("/").expect("absolute").to_str().expect("utf-8").to_owned();

    let listing = std::process::Command::new("tar").arg("-tvf").arg(&tree).output().expect("run tar");
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.status.success(), "tar -tvf failed: {}", String::from_utf8_lossy(&listing.stderr));
    let line =
        |file: &str| text.lines().find(|l| l.contains(&name(file))).unwrap_or_else(|| panic!("{text}")).to_owned();
    assert!(line("old.txt").contains("1960-01-01"), "GNU tar reads the 1960 mtime: {text}");
    assert!(line("second").starts_with('h') && line("second").contains("link to"), "a hard link: {text}");
    let nobody =
        String::from_utf8(std::process::Command::new("id").args(["-nu", "65534"]).output().expect("id").stdout)
            .expect("utf-8");
    assert!(line("first").contains(&format!("{}/", nobody.trim())), "owner name recorded: {text}");

    let script = r#"
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    old = t.getmember(sys.argv[2]); second = t.getmember(sys.argv[3])
    assert old.mtime == -315619200, old.mtime
    assert old.mode == 0o644, oct(old.mode)
    assert second.islnk() and second.linkname == sys.argv[4], (second.type, second.linkname)
    print("ok")
"#;
    let python = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&tree)
        .args([name("old.txt"), name("second"), name("first")])
        .output()
        .expect("run python3");
    assert!(
        python.status.success() && python.stdout.starts_with(b"ok"),
        "Python's tarfile: {}{}",
        String::from_utf8_lossy(&python.stdout),
        String::from_utf8_lossy(&python.stderr)
    );

    // And lifeboat restores the time and the link.
    let target = env.path("out");
    env.run(&["restore", &id, "--target", target.to_str().expect("utf-8")], b"").ok();
    let restored = restored_root(&target, &root);
    assert_eq!(std::fs::metadata(restored.join("old.txt")).expect("old.txt").mtime(), MTIME_1960);
    assert_eq!(
        std::fs::metadata(restored.join("first")).expect("first").ino(),
        std::fs::metadata(restored.join("second")).expect("second").ino()
    );
}

/// Issue 9 item 17: names from a backup cannot drive the operator's terminal.
#[test]
fn names_from_backups_are_escaped_in_warnings_and_listings() {
    let env = Env::init();
    let evil = env.path("evil\x1b]0;owned\x07\x1b[2J");
    std::fs::create_dir(&evil).expect("mkdir");
    std::fs::write(evil.join("plain"), "x").expect("write");
    let _socket = std::os::unix::net::UnixListener::bind(evil.join("s\x1b[31m.sock")).expect("bind");
    let backup = env.run(&["backup", "files", evil.to_str().expect("utf-8")], b"");
    backup.ok().stderr_has("socket");
    let outputs = [backup, env.run(&["list"], b""), env.run(&["show", "latest"], b"")];
    for out in &outputs {
        out.ok();
        let all = out.all();
        assert!(
            !all.contains('\x1b') && !all.contains('\x07'),
            "`{}` printed a raw control character:\n{all:?}",
            out.what
        );
        assert!(all.contains("\\x1b"), "`{}` shows the escape: {all:?}", out.what);
    }
}

/// Issue 9 item 2: a database dump restored into a directory is not readable by others.
#[test]
fn dumps_restored_into_a_directory_stay_private() {
    let env = Env::init();
    let id = env.backup_stdin("app.sql", b"CREATE TABLE secrets (x text);\n");
    let target = env.path("dumps");
    env.run(&["restore", &id, "--target", target.to_str().expect("utf-8")], b"").ok();
    let meta = std::fs::metadata(target.join("app.sql")).expect("restored dump");
    assert_eq!(meta.mode() & 0o777, 0o600, "the dump is readable by others");
}

/// Issue 9 item 1: a restore that cannot give files their owners (not root) must not
/// hand out setuid programs, and says so once.
#[test]
fn restore_without_root_clears_setuid_and_says_so_once() {
    assert!(is_root(), "this test makes a file of another user and restores as nobody; it needs root");
    let env = Env::init();
    let src = env.path("src");
    std::fs::create_dir(&src).expect("mkdir");
    for name in ["tool-a", "tool-b"] {
        let tool = src.join(name);
        std::fs::write(&tool, "#!/bin/sh\n").expect("write");
        std::os::unix::fs::chown(&tool, Some(12345), Some(12345)).expect("chown");
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    }
    let id = backup_id(env.run(&["backup", "files", src.to_str().expect("utf-8"), "--json"], b"").ok());
    // Hand the test directory (repository, state, target parent) to nobody.
    let status = std::process::Command::new("chown").args(["-R", "65534:65534"]).arg(env.tmp.path()).status();
    assert!(status.expect("run chown").success(), "chown -R");
    let target = env.path("as-nobody");
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
    cmd.arg(env!("CARGO_BIN_EXE_lifeboat"));
    cmd.args(["restore", &id, "--target", target.to_str().expect("utf-8")]);
    cmd.env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd.env("LIFEBOAT_REPO", &env.repo).env("LIFEBOAT_PASSWORD", PASSWORD);
    cmd.env("LIFEBOAT_STATE_DIR", env.state_dir()).env("HOME", env.tmp.path());
    let out = run(cmd, b"");
    out.ok().no_panic();
    assert_eq!(out.stderr.matches("setuid").count(), 1, "said once:\n{}", out.stderr);
    out.stderr_has("2 entries");
    for name in ["tool-a", "tool-b"] {
        let meta = std::fs::metadata(restored_root(&target, &std::fs::canonicalize(&src).expect("canon")).join(name))
            .expect("restored tool");
        assert_eq!((meta.uid(), meta.mode() & 0o7777), (65534, 0o755), "{name} must not be setuid for nobody");
    }
}

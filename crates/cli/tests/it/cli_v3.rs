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
    let env = Env::init();
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

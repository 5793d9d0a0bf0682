//! `lifeboat list` and `show` as an operator reads them (issue 15): a host column, times in
//! the local zone (`TZ`) with their offset while JSON stays RFC 3339 UTC, columns that line
//! up, `--host` / `--tag` / `--path` filters, relative sources recorded by their real path,
//! the same time keys in `list --json` and `show --json`; and files read to their end
//! (a /proc file whose size says 0), with a file changed while read warned about.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, FixedOffset};

use crate::common::*;

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// `lifeboat args` with `TZ` set to `tz`.
fn run_in_zone(env: &Env, tz: &str, args: &[&str]) -> Out {
    let mut cmd = env.cmd(args);
    cmd.env("TZ", tz);
    run(cmd, b"")
}

/// `backup stdin` of `data` with extra flags; returns the id.
fn backup_with(env: &Env, name: &str, flags: &[&str]) -> String {
    let mut args = vec!["backup", "stdin", "--name", name, "--json"];
    args.extend_from_slice(flags);
    let out = env.run(&args, name.as_bytes());
    out.ok();
    backup_id(&out)
}

/// `backup files PATH --json` run in `dir`; returns the `backup --json` document.
fn backup_files_in(env: &Env, dir: &Path, path: &str) -> serde_json::Value {
    let mut cmd = env.cmd(&["backup", "files", path, "--json"]);
    cmd.current_dir(dir);
    let out = run(cmd, b"");
    out.ok();
    out.json()
}

/// The ids `list --json` prints with `filters`.
fn listed(env: &Env, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["list", "--json"];
    args.extend_from_slice(filters);
    let out = env.run(&args, b"");
    out.ok();
    ids_of(&out.json())
}

/// The byte offset where column `name` starts in the header line.
fn column(header: &str, name: &str) -> usize {
    header.find(name).unwrap_or_else(|| panic!("no {name} column in {header:?}"))
}

/// The cell of `row` between the starts of two header columns, trimmed.
fn cell(row: &str, from: usize, to: usize) -> &str {
    row.get(from..to).unwrap_or_else(|| panic!("row {row:?} is shorter than its header")).trim_end()
}

fn parse_time(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
}

#[test]
fn list_has_a_host_column_and_local_times_that_line_up_with_the_header() {
    let env = Env::init();
    let short = backup_with(&env, "first", &["--host", "db1"]);
    let long = backup_with(&env, "second", &["--host", "a-much-longer-host-name", "--tag", "nightly"]);
    let json = env.run(&["list", "--json"], b"");
    json.ok();
    let finished: Vec<DateTime<FixedOffset>> =
        json.json().as_array().expect("array").iter().map(|b| parse_time(b["finished"].as_str().expect("f"))).collect();

    let out = run_in_zone(&env, "Asia/Kolkata", &["list"]);
    out.ok();
    let text = out.text();
    let mut lines = text.lines();
    let header = lines.next().expect("a header line");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{text}");
    let (time, host, kind, plan) =
        (column(header, "TIME"), column(header, "HOST"), column(header, "KIND"), column(header, "PLAN"));
    let size_end = column(header, "SIZE") + "SIZE".len();
    let kolkata = FixedOffset::east_opt(5 * 3600 + 1800).expect("offset");
    let expected = [(&short, "db1"), (&long, "a-much-longer-host-name")];
    for ((row, (id, host_name)), when) in rows.iter().zip(expected).zip(&finished) {
        assert!(row.starts_with(&id[..8]), "{row:?} is not backup {id}");
        // The time fills its column exactly: in the local zone, with its offset.
        let local = when.with_timezone(&kolkata).format("%Y-%m-%d %H:%M:%S +05:30").to_string();
        assert_eq!(cell(row, time, host), local, "TZ=Asia/Kolkata, row {row:?}\n{text}");
        assert_eq!(cell(row, host, kind), host_name, "the HOST column of {row:?}\n{text}");
        assert_eq!(cell(row, kind, plan), "stream", "{row:?}\n{text}");
        // SIZE is right-aligned: the cell ends where the header does.
        let bytes = row.as_bytes();
        assert!(bytes[size_end - 1] != b' ' && bytes[size_end] == b' ', "SIZE of {row:?}\n{text}");
    }
    assert!(rows[1].contains("[nightly]"), "{text}");

    // `show` gives its times in the local zone too.
    let shown = run_in_zone(&env, "Asia/Kolkata", &["show", &short]);
    shown.ok();
    let local = finished[0].with_timezone(&kolkata).format("%Y-%m-%d %H:%M:%S +05:30").to_string();
    assert!(shown.text().contains(&format!("finished {local}")), "{}", shown.text());
    // In UTC the same instants are shown with +00:00; JSON stays UTC whatever TZ says.
    let utc = run_in_zone(&env, "UTC", &["list"]);
    utc.ok();
    let first = utc.text().lines().nth(1).expect("a row").to_owned();
    assert!(first.contains(&finished[0].format("%Y-%m-%d %H:%M:%S +00:00").to_string()), "{first}");
    let zoned_json = run_in_zone(&env, "Asia/Kolkata", &["list", "--json"]);
    zoned_json.ok();
    for b in zoned_json.json().as_array().expect("array") {
        for key in ["started", "finished", "time"] {
            let value = b[key].as_str().unwrap_or_else(|| panic!("list --json has no {key}: {b}"));
            assert_eq!(parse_time(value).offset().local_minus_utc(), 0, "{key} = {value} is not UTC");
        }
    }
}

#[test]
fn a_backup_made_in_another_zone_is_listed_in_utc_as_json() {
    let env = Env::init();
    let mut cmd = env.cmd(&["backup", "stdin", "--name", "zoned", "--json"]);
    cmd.env("TZ", "Asia/Kolkata");
    let out = run(cmd, b"data");
    out.ok();
    let recorded = out.json()["finished"].as_str().expect("finished").to_owned();
    assert!(recorded.ends_with("+05:30"), "the manifest records the host's offset: {recorded}");
    let list = env.run(&["list", "--json"], b"");
    list.ok();
    let listed = list.json()[0]["finished"].as_str().expect("finished").to_owned();
    assert_eq!(parse_time(&listed).offset().local_minus_utc(), 0, "{listed} is not UTC");
    assert_eq!(parse_time(&listed), parse_time(&recorded), "the same instant");
}

#[test]
fn list_and_show_json_name_the_times_alike() {
    let env = Env::init();
    let id = env.backup_stdin("times", b"x");
    let list = env.run(&["list", "--json"], b"");
    list.ok();
    let entry = &list.json()[0];
    let show = env.show(&id);
    for key in ["started", "finished"] {
        let (a, b) = (entry[key].as_str(), show[key].as_str());
        let (Some(a), Some(b)) = (a, b) else { panic!("{key} missing: list {entry}, show {show}") };
        assert_eq!(parse_time(a), parse_time(b), "{key}: list and show differ");
    }
    // `time` stays, for `retention plan --input` and older scripts: it is `finished`.
    assert_eq!(entry["time"], entry["finished"], "{entry}");
    assert!(
        parse_time(entry["started"].as_str().expect("started")) <= parse_time(entry["finished"].as_str().expect("f"))
    );
}

#[test]
fn list_filters_by_host_tag_path_and_plan() {
    let env = Env::init();
    let a = backup_with(&env, "a", &["--host", "alpha", "--tag", "nightly", "--tag", "eu"]);
    let b = backup_with(&env, "b", &["--host", "beta", "--tag", "nightly", "--plan", "web"]);
    let (one, two) = (env.path("one"), env.path("two"));
    for dir in [&one, &two] {
        std::fs::create_dir_all(dir).expect("mkdir");
        std::fs::write(dir.join("f"), b"f").expect("write");
    }
    let files_one = backup_files_in(&env, env.tmp.path(), "one")["id"].as_str().expect("id").to_owned();
    let files_two = backup_files_in(&env, env.tmp.path(), utf8(&two))["id"].as_str().expect("id").to_owned();

    assert_eq!(listed(&env, &[]), [a.as_str(), b.as_str(), files_one.as_str(), files_two.as_str()]);
    assert_eq!(listed(&env, &["--host", "alpha"]), [a.as_str()]);
    assert_eq!(listed(&env, &["--tag", "nightly"]), [a.as_str(), b.as_str()]);
    assert_eq!(listed(&env, &["--tag", "nightly,eu"]), [a.as_str()], "every tag given");
    assert_eq!(listed(&env, &["--tag", "nightly", "--tag", "eu"]), [a.as_str()]);
    assert_eq!(listed(&env, &["--host", "beta", "--tag", "eu"]), Vec::<String>::new());
    assert_eq!(listed(&env, &["--plan", "web"]), [b.as_str()]);
    let canonical_one = std::fs::canonicalize(&one).expect("canonical");
    assert_eq!(listed(&env, &["--path", utf8(&canonical_one)]), [files_one.as_str()]);
    assert_eq!(listed(&env, &["--path", &format!("{}/", utf8(&two))]), [files_two.as_str()], "a trailing slash");
    // A relative --path is resolved as the backup resolved its source.
    let mut cmd = env.cmd(&["list", "--json", "--path", "one"]);
    cmd.current_dir(env.tmp.path());
    let out = run(cmd, b"");
    out.ok();
    assert_eq!(ids_of(&out.json()), [files_one.as_str()]);
    assert_eq!(listed(&env, &["--path", "/nowhere/at/all"]), Vec::<String>::new());
    let table = env.run(&["list", "--host", "nobody"], b"");
    table.ok();
    assert_eq!(table.text().trim(), "no backups");
    // show/restore `latest` take --path too (the same scope).
    let latest = env.run(&["show", "latest", "--json", "--path", utf8(&canonical_one)], b"");
    latest.ok();
    assert_eq!(latest.json()["id"], files_one.as_str());
}

#[test]
fn a_relative_source_is_recorded_listed_and_restored_by_its_real_path() {
    let env = Env::init();
    let src = env.path("project");
    std::fs::create_dir_all(src.join("sub")).expect("mkdir");
    std::fs::write(src.join("sub/file.txt"), b"content").expect("write");
    let real: PathBuf = std::fs::canonicalize(&src).expect("canonical");

    let done = backup_files_in(&env, &src, ".");
    let id = done["id"].as_str().expect("id").to_owned();
    assert_eq!(done["name"], utf8(&real), "{done}");
    let show = env.show(&id);
    assert_eq!(show["name"], utf8(&real));
    assert_eq!(show["source"]["paths"][0], utf8(&real), "{show}");
    let list = env.run(&["list"], b"");
    list.ok();
    let row = list.text().lines().nth(1).expect("a row").to_owned();
    assert!(row.ends_with(utf8(&real)), "{row}");
    // `sub/..` names the same directory.
    let again = backup_files_in(&env, &src, "sub/..");
    assert_eq!(again["name"], utf8(&real), "{again}");

    let target = env.path("restored");
    env.run(&["restore", &id, "--target", utf8(&target)], b"").ok();
    let restored = target.join(real.strip_prefix("/").expect("absolute")).join("sub/file.txt");
    assert_eq!(std::fs::read(&restored).expect("restored file"), b"content");
}

/// /proc/sys/kernel/hostname says it is 0 bytes long; its content must be stored anyway.
#[test]
fn a_proc_file_whose_size_says_zero_is_stored_whole() {
    let proc_file = Path::new("/proc/sys/kernel/hostname");
    assert_eq!(std::fs::metadata(proc_file).expect("stat").len(), 0, "the premise: its size says 0");
    let expected = std::fs::read(proc_file).expect("read it as cat does");
    assert!(!expected.is_empty());
    let env = Env::init();
    let out = env.run(&["backup", "files", utf8(proc_file), "--json"], b"");
    out.ok();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    let json = out.json();
    assert_eq!(json["stats"]["bytes"], expected.len() as u64, "{json}");
    let id = backup_id(&out);
    let target = env.path("restored");
    env.run(&["restore", &id, "--target", utf8(&target)], b"").ok();
    let restored = std::fs::read(target.join("proc/sys/kernel/hostname")).expect("restored file");
    assert_eq!(restored, expected);
}

/// A file written to while `backup files` reads it: a warning on stderr naming it, counted
/// in the `changed` stat and on the line the backup ends with.
#[test]
fn a_file_changed_while_read_is_warned_about_and_counted() {
    let env = Env::init();
    let src = env.path("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let busy = src.join("busy.log");
    std::fs::write(&busy, random_bytes(48 * 1024 * 1024, 7)).expect("write");

    let stop = Arc::new(AtomicBool::new(false));
    let toucher = {
        let (stop, busy) = (stop.clone(), busy.clone());
        // Sets a new modification time over and over while the backup runs (distinct
        // values, so no clock granularity can hide the change).
        std::thread::spawn(move || {
            let file = std::fs::File::options().write(true).open(&busy).expect("open");
            let base = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                file.set_modified(base + std::time::Duration::from_secs(i)).expect("set mtime");
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        })
    };
    let out = env.run(&["backup", "files", utf8(&src)], b"");
    stop.store(true, Ordering::Relaxed);
    toucher.join().expect("toucher");
    out.ok();
    out.stderr_has("lifeboat: warning:").stderr_has("busy.log").stderr_has("changed while being read");
    assert!(out.text().contains("1 warning"), "the closing line counts it:\n{}", out.text());
    let list = env.list_ids();
    let show = env.show(&list[0]);
    assert_eq!(show["stats"]["changed"], 1, "{show}");
}

#[test]
fn forget_with_host_or_tag_touches_only_the_backups_within_them() {
    let env = Env::init();
    let db1_old = backup_with(&env, "db1-old", &["--host", "db1"]);
    let db1_new = backup_with(&env, "db1-new", &["--host", "db1"]);
    let web_old = backup_with(&env, "web-old", &["--host", "web", "--tag", "t"]);
    let web_new = backup_with(&env, "web-new", &["--host", "web", "--tag", "t"]);

    let dry = env.run(&["forget", "--host", "db1", "--keep-last", "1", "--dry-run", "--json"], b"");
    dry.ok();
    assert_eq!(dry.json()["forgotten"], serde_json::json!([db1_old]), "only db1's older backup: {}", dry.text());
    env.run(&["forget", "--host", "db1", "--keep-last", "1"], b"").ok();
    let mut left = listed(&env, &[]);
    left.sort();
    let mut expected = vec![db1_new.clone(), web_old.clone(), web_new.clone()];
    expected.sort();
    assert_eq!(left, expected, "web's backups are neither kept nor forgotten by a db1 forget");

    env.run(&["forget", "--tag", "t", "--keep-last", "1"], b"").ok();
    let mut left = listed(&env, &[]);
    left.sort();
    let mut expected = vec![db1_new, web_new];
    expected.sort();
    assert_eq!(left, expected);
}

/// `forget ID...` (restic's form) forgets exactly the backups named, by full id or unique
/// prefix, within --host; a dry run changes nothing; ids and keep rules together, an
/// unknown id, or one outside the scope are refused with nothing forgotten.
#[test]
fn forget_by_id_forgets_exactly_the_backups_named() {
    let env = Env::init();
    let a = backup_with(&env, "a", &["--host", "db1"]);
    let b = backup_with(&env, "b", &["--host", "db1"]);
    let c = backup_with(&env, "c", &["--host", "web"]);
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };

    let dry = env.run(&["forget", &a, "--dry-run", "--json"], b"");
    dry.ok();
    assert_eq!(dry.json()["forgotten"], serde_json::json!([a]), "{}", dry.text());
    assert_eq!(listed(&env, &[]).len(), 3, "a dry run forgets nothing");

    env.run(&["forget", "--keep-last", "1", &a], b"").code(EXIT_FAILURE).stderr_has("not both");
    env.run(&["forget", "0000000000000000"], b"").code(EXIT_FAILURE).stderr_has("0000000000000000");
    env.run(&["forget", "--host", "db1", &c], b"").code(EXIT_FAILURE);
    env.run(&["forget", &a, "0000000000000000"], b"").code(EXIT_FAILURE);
    assert_eq!(listed(&env, &[]).len(), 3, "a refused forget forgets nothing");

    let out = env.run(&["forget", &a[..12], &c, &a], b"");
    out.ok().output_has("forgot 2 backup(s)");
    assert_eq!(sorted(listed(&env, &[])), vec![b], "a (named twice) and c are gone, b stays");
}

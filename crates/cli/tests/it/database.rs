//! End-to-end tests of `lifeboat backup postgres|mysql|redis` and `lifeboat restore --to`
//! against the real servers that scripts/services.sh starts. A missing service fails the test
//! with a message saying to run `bash scripts/services.sh start`.
//!
//! The servers' helpers (URLs, datasets, fingerprints, the RESP client) come from
//! lifeboat-testkit, the runner from `common`.

use std::path::PathBuf;
use std::process::Command;

use lifeboat_testkit::datasets::{mysql_dataset, mysql_fingerprint, pg_dataset, pg_fingerprint};
use lifeboat_testkit::files::all_files;
use lifeboat_testkit::sql::psql;
use lifeboat_testkit::{
    Cleanup, R, Redis, password_of, service_url, unique, with_password, with_path, without_password,
};

use crate::common::{self, Out, backup_id};

const WRONG_PASSWORD: &str = "wrong-password-4d2b8a";

/// A repository of the end-to-end tests ([`common::Env`]) whose runs take no input and
/// fail the test on a panic, whatever the exit code.
struct Env(common::Env);

impl Env {
    fn init() -> Env {
        Env(common::Env::init())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path(name)
    }

    /// Runs `lifeboat ARGS` against the repository, with no input.
    fn run(&self, args: &[&str]) -> Out {
        let out = self.0.run(args, b"");
        out.no_panic();
        out
    }

    /// The ids `list --json` prints.
    fn listed(&self) -> Vec<String> {
        self.0.list_ids()
    }

    /// Every file under `<repo>/<sub>`.
    fn files_under(&self, sub: &str) -> Vec<PathBuf> {
        all_files(&self.0.repo.join(sub))
    }
}

/// `show ID --json` and `show ID` must not contain `secret`; returns the JSON.
fn show_without(env: &Env, id: &str, secret: &str) -> serde_json::Value {
    let json = env.run(&["show", id, "--json"]);
    json.ok();
    assert!(!json.text().contains(secret), "show --json prints the database password:\n{}", json.text());
    let text = env.run(&["show", id]);
    text.ok();
    assert!(!text.all().contains(secret), "show prints the database password:\n{}", text.all());
    json.json()
}

fn write_secret(env: &Env, name: &str, secret: &str) -> PathBuf {
    let path = env.path(name);
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    path
}

// ---------------------------------------------------------------- tests

#[test]
fn postgres_backup_then_restore_latest_into_a_new_database() {
    let url = service_url("LIFEBOAT_TEST_PG_URL");
    let password = password_of(&url);
    let (src, dst) = (unique("lbcli_pg_src"), unique("lbcli_pg_dst"));
    let _cleanup = Cleanup::pg(&url, &[&src, &dst]);
    pg_dataset(&url, &src, 5_000);
    let before = pg_fingerprint(&url, &src);
    let env = Env::init();

    let src_url = with_path(&url, &src);
    let out = env.run(&["backup", "postgres", "--url", &src_url, "--json", "--tag", "cli-db"]);
    out.ok();
    assert!(!out.all().contains(&password), "backup output shows the database password:\n{}", out.all());
    let id = backup_id(&out);
    let json = out.json();
    assert_eq!(json["kind"], "postgres");
    assert_eq!(json["objects"][0]["name"], format!("db/{src}.pgdump"));
    assert_eq!(env.listed(), vec![id.clone()]);

    let show = show_without(&env, &id, &password);
    let stream = &show["source"]["streams"][0];
    assert_eq!(stream["tool"]["name"], "pg_dump", "{show}");
    assert_eq!(stream["position"]["type"], "postgres_lsn", "{show}");
    assert!(stream["server_version"].as_str().is_some_and(|v| !v.is_empty()), "{show}");
    assert!(show["objects"][0].get("dek").is_none(), "show --json prints the data key");

    // The restore takes its password from --db-password-file, the URL has none.
    let pwfile = write_secret(&env, "pg.pw", &password);
    let dst_url = without_password(&with_path(&url, &dst));
    let out =
        env.run(&["restore", "latest", "--to", &dst_url, "--create", "--db-password-file", pwfile.to_str().unwrap()]);
    out.ok();
    assert!(out.stderr.contains(&dst), "restore does not say where it restored:\n{}", out.stderr);
    assert!(!out.all().contains(&password));
    assert_eq!(pg_fingerprint(&url, &dst), before);
}

/// pg_restore stops at the first error (`--exit-on-error`) and closes its input early; the
/// restore must then fail with the tool's message and exit 1 (not die of SIGPIPE, silently).
#[test]
fn restore_into_a_database_that_already_has_the_tables_fails_with_a_message() {
    let url = service_url("LIFEBOAT_TEST_PG_URL");
    let password = password_of(&url);
    let src = unique("lbcli_pg_twice");
    let _cleanup = Cleanup::pg(&url, &[&src]);
    // Big enough that pg_restore fails while lifeboat is still writing to it.
    pg_dataset(&url, &src, 100_000);
    let before = pg_fingerprint(&url, &src);
    let env = Env::init();
    let out = env.run(&["backup", "postgres", "--url", &with_path(&url, &src), "--json"]);
    out.ok();
    let id = backup_id(&out);

    // Restoring into the source itself, without --clean: CREATE TABLE fails (it exists).
    let out = env.run(&["restore", &id, "--to", &with_path(&url, &src)]);
    assert_eq!(
        out.code,
        1,
        "expected exit 1 with a message, got {} (141: killed by SIGPIPE):\n{}",
        out.code,
        out.all()
    );
    assert!(out.stderr.contains("lifeboat: error:"), "{}", out.stderr);
    assert!(out.stderr.contains("pg_restore"), "the message does not name the tool:\n{}", out.stderr);
    assert!(out.stderr.contains("already exists"), "the message does not say why:\n{}", out.stderr);
    assert!(!out.all().contains(&password), "{}", out.all());
    assert_eq!(pg_fingerprint(&url, &src), before, "the failed restore changed the database");
}

#[test]
fn mysql_backup_then_restore_into_a_new_database() {
    let url = service_url("LIFEBOAT_TEST_MYSQL_URL");
    let password = password_of(&url);
    let (src, dst) = (unique("lbcli_my_src"), unique("lbcli_my_dst"));
    let _cleanup = Cleanup::my(&url, &[&src, &dst]);
    mysql_dataset(&url, &src, 5_000);
    let before = mysql_fingerprint(&url, &src);
    let env = Env::init();

    let out = env.run(&["backup", "mysql", "--url", &with_path(&url, &src), "--json"]);
    out.ok();
    assert!(!out.all().contains(&password), "{}", out.all());
    let id = backup_id(&out);
    assert_eq!(out.json()["kind"], "mysql");
    let show = show_without(&env, &id, &password);
    let stream = &show["source"]["streams"][0];
    assert!(matches!(stream["tool"]["name"].as_str(), Some("mariadb-dump" | "mysqldump")), "{show}");
    assert_eq!(stream["position"]["type"], "mysql_binlog", "{show}");

    // Without --create the missing database is refused, and the line says which flag creates it.
    let refused = env.run(&["restore", &id, "--to", &with_path(&url, &dst)]);
    refused.code(common::EXIT_FAILURE);
    let line = format!("database `{dst}` does not exist on ");
    assert!(
        refused.stderr.lines().any(|l| l.contains(&line) && l.ends_with(" (ask for it to be created: --create)")),
        "{}",
        refused.stderr
    );
    assert!(!refused.all().contains(&password), "{}", refused.all());

    let out = env.run(&["restore", &id, "--to", &with_path(&url, &dst), "--create"]);
    out.ok();
    assert!(!out.all().contains(&password), "{}", out.all());
    assert_eq!(mysql_fingerprint(&url, &dst), before);
}

#[test]
fn redis_logical_backup_then_restore_into_another_database() {
    let url = service_url("LIFEBOAT_TEST_REDIS_URL");
    let password = password_of(&url);
    let prefix = unique("lbcli_redis");
    let pattern = format!("{prefix}*");
    let (src_url, dst_url) = (with_path(&url, "/9"), with_path(&url, "/10"));
    {
        let mut r = Redis::connect(&src_url);
        assert_eq!(r.cmd(&[b"SET", format!("{prefix}:s").as_bytes(), "héllo 🚀".as_bytes()]), R::Simple("OK".into()));
        assert_eq!(r.cmd(&[b"SET", format!("{prefix}:ttl").as_bytes(), b"x", b"EX", b"3600"]), R::Simple("OK".into()));
        r.cmd(&[b"HSET", format!("{prefix}:h").as_bytes(), b"a", b"1", b"b", b"\x00\xff"]);
        r.cmd(&[b"RPUSH", format!("{prefix}:l").as_bytes(), b"x", b"y", b"x"]);
        r.cmd(&[b"SADD", format!("{prefix}:set").as_bytes(), b"m1", b"m2"]);
        r.cmd(&[b"ZADD", format!("{prefix}:z").as_bytes(), b"1.5", b"one", b"-2", b"two"]);
        Redis::connect(&dst_url).clear(pattern.as_bytes());
    }
    let before = Redis::connect(&src_url).snapshot_by_key(pattern.as_bytes());
    assert_eq!(before.len(), 6);
    let env = Env::init();

    let out = env.run(&["backup", "redis", "--url", &src_url, "--mode", "logical", "--pattern", &pattern, "--json"]);
    out.ok();
    assert!(!out.all().contains(&password), "{}", out.all());
    let id = backup_id(&out);
    assert_eq!(out.json()["objects"][0]["name"], "redis.logical");
    show_without(&env, &id, &password);

    let out = env.run(&["restore", &id, "--to", &dst_url]);
    out.ok();
    assert_eq!(Redis::connect(&dst_url).snapshot_by_key(pattern.as_bytes()), before);

    Redis::connect(&src_url).clear(pattern.as_bytes());
    Redis::connect(&dst_url).clear(pattern.as_bytes());
}

#[test]
fn restore_target_writes_the_raw_dump_files() {
    let url = service_url("LIFEBOAT_TEST_PG_URL");
    let src = unique("lbcli_pg_raw");
    let _cleanup = Cleanup::pg(&url, &[&src]);
    pg_dataset(&url, &src, 2_000);
    let env = Env::init();
    let out = env.run(&["backup", "postgres", "--url", &with_path(&url, &src), "--json"]);
    out.ok();
    let id = backup_id(&out);

    let target = env.path("restored");
    env.run(&["restore", &id, "--target", target.to_str().unwrap()]).ok();
    let file = target.join("db").join(format!("{src}.pgdump"));
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{} not written: {e}", file.display()));
    assert!(bytes.starts_with(b"PGDMP"), "not a custom-format dump");
    let listing = Command::new("pg_restore").arg("-l").arg(&file).output().expect("pg_restore");
    assert!(listing.status.success(), "pg_restore -l rejects the file: {}", String::from_utf8_lossy(&listing.stderr));
    let listing = String::from_utf8_lossy(&listing.stdout);
    for needle in ["TABLE public a_small", "TABLE public z_big", "TABLE DATA public z_big", "VIEW public z_summary"] {
        assert!(listing.contains(needle), "pg_restore -l does not list {needle}:\n{listing}");
    }
}

#[test]
fn wrong_database_password_exits_1_and_records_nothing() {
    let url = service_url("LIFEBOAT_TEST_PG_URL");
    let password = password_of(&url);
    let src = unique("lbcli_pg_auth");
    let _cleanup = Cleanup::pg(&url, &[&src]);
    pg_dataset(&url, &src, 10);
    let env = Env::init();

    let wrong = with_password(&with_path(&url, &src), WRONG_PASSWORD);
    let out = env.run(&["backup", "postgres", "--url", &wrong, "--json"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("lifeboat: error:"), "{}", out.stderr);
    assert!(out.stderr.to_lowercase().contains("authentication"), "not a clear message:\n{}", out.stderr);
    assert!(out.stderr.contains("127.0.0.1"), "the message does not name the server:\n{}", out.stderr);
    assert!(!out.all().contains(WRONG_PASSWORD) && !out.all().contains(&password), "{}", out.all());
    assert_eq!(out.text(), "", "a failed backup printed a result");
    assert_eq!(env.listed(), Vec::<String>::new());
    assert_eq!(env.files_under("data"), Vec::<PathBuf>::new());

    // The same through --db-password-file (which overrides the URL's password).
    let pwfile = write_secret(&env, "wrong.pw", WRONG_PASSWORD);
    let out = env.run(&[
        "backup",
        "postgres",
        "--url",
        &with_path(&url, &src),
        "--db-password-file",
        pwfile.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.to_lowercase().contains("authentication"), "{}", out.stderr);
    assert!(!out.all().contains(WRONG_PASSWORD), "{}", out.all());
    assert_eq!(env.listed(), Vec::<String>::new());

    // And MariaDB.
    let my = service_url("LIFEBOAT_TEST_MYSQL_URL");
    let out = env.run(&["backup", "mysql", "--url", &with_password(&with_path(&my, "mysql"), WRONG_PASSWORD)]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.to_lowercase().contains("authentication"), "{}", out.stderr);
    assert!(!out.all().contains(WRONG_PASSWORD), "{}", out.all());
    assert_eq!(env.listed(), Vec::<String>::new());
    assert_eq!(env.files_under("data"), Vec::<PathBuf>::new());

    // A restore with a wrong password fails too, and creates nothing.
    let good = env.run(&["backup", "postgres", "--url", &with_path(&url, &src), "--json"]);
    good.ok();
    let dst = unique("lbcli_pg_auth_dst");
    let _cleanup_dst = Cleanup::pg(&url, &[&dst]);
    let out =
        env.run(&["restore", "latest", "--to", &with_password(&with_path(&url, &dst), WRONG_PASSWORD), "--create"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.to_lowercase().contains("authentication"), "{}", out.stderr);
    assert!(!out.all().contains(WRONG_PASSWORD), "{}", out.all());
    assert_eq!(psql(&url, "postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{dst}';")), "0");
}

#[test]
fn database_options_that_do_not_apply_are_refused() {
    let env = Env::init();
    let pg = service_url("LIFEBOAT_TEST_PG_URL");
    let out = env.run(&["backup", "redis", "--url", "redis://127.0.0.1:1/0", "--mode", "snapshot"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("snapshot"), "{}", out.stderr);
    let out = env.run(&["backup", "postgres", "--url", &with_path(&pg, ""), "--json"]);
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(!out.all().contains(&password_of(&pg)), "{}", out.all());
    assert_eq!(env.listed(), Vec::<String>::new());
}

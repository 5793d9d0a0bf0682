//! Database backups through the repository, against the real PostgreSQL, MariaDB and Redis
//! servers that scripts/services.sh starts: round trips compared by checksum, what the manifest
//! records (and never records), and what a failure leaves behind (nothing).
//!
//! Run `bash scripts/services.sh start` first; a missing service makes these tests fail.

use lifeboat_dump::{DumpError, RedisMode, RestoreOptions, Restorer, Source, SourceOptions};
use lifeboat_ops::{OpsError, backup_database, restore_database};
use lifeboat_repo::{BackupRequest, Manifest};
use lifeboat_testkit::datasets::{
    mysql_dataset, mysql_fingerprint, pg_dataset, pg_db_exists, pg_fingerprint, pg_tables, redis_dataset,
};
use lifeboat_testkit::failing::INJECTED;
use lifeboat_testkit::files::damage_file;
use lifeboat_testkit::process::{my_children, tool_processes, wait_until_empty};
use lifeboat_testkit::sql::{mysql, psql};
use lifeboat_testkit::{
    Cleanup, Redis, closed_port, mysql_url, password_of, pg_url, redis_url, unique, with_password, with_path, with_port,
};

use crate::common::TestRepo;

const WRONG_PASSWORD: &str = "wrong-password-7c1f9e";

fn request(plan: &str) -> BackupRequest {
    BackupRequest { plan: Some(plan.into()), tags: vec!["ops-test".into()], ..Default::default() }
}

fn restorer(url: &str, create: bool) -> Restorer {
    Restorer::from_url(url, &RestoreOptions { create, ..Default::default() }).unwrap()
}

/// The serialized manifest must not contain `password` anywhere (nor its Debug form).
fn assert_no_secret(manifest: &Manifest, password: &str) {
    let json = serde_json::to_string(manifest).unwrap();
    assert!(!json.contains(password), "the manifest records the database password:\n{json}");
    assert!(!format!("{manifest:?}").contains(password), "the manifest's Debug form shows the database password");
}

/// The only stream's metadata in `manifest.source`.
fn stream_meta(manifest: &Manifest) -> &serde_json::Value {
    let streams = manifest.source["streams"].as_array().unwrap_or_else(|| panic!("no streams: {}", manifest.source));
    assert_eq!(streams.len(), 1, "{}", manifest.source);
    &streams[0]
}

/// Asserts a failed backup's error mentions none of `secrets`, and the repository is untouched.
async fn assert_failed_cleanly(repo: &TestRepo, err: &OpsError, secrets: &[&str], what: &str) {
    let text = format!("{err} / {err:?}");
    for s in secrets {
        assert!(!text.contains(s), "{what}: the error shows a password: {text}");
    }
    repo.assert_empty_after_failure(what).await;
}

/// The faults every database kind shares: a wrong password, a refused connection and a
/// missing database (`missing_url`) each fail the backup of `db_url` with the right error,
/// show no password and leave the repository untouched. `missing_is_named` checks the last
/// error, whose form differs per kind.
async fn assert_connection_faults_leave_nothing(
    db_url: &str,
    missing_url: &str,
    opts: &SourceOptions,
    plan: &str,
    missing_is_named: impl FnOnce(&OpsError),
) {
    let password = password_of(db_url);
    let repo = TestRepo::new().await;

    let wrong = with_password(db_url, WRONG_PASSWORD);
    let e = backup_database(&repo.repo, &Source::from_url(&wrong, opts).unwrap(), request(plan)).await.unwrap_err();
    assert!(matches!(e, OpsError::Dump(DumpError::AuthFailed { .. })), "wrong password: {e}");
    assert_failed_cleanly(&repo, &e, &[&password, WRONG_PASSWORD], "wrong password").await;

    let refused = with_port(db_url, closed_port());
    let e = backup_database(&repo.repo, &Source::from_url(&refused, opts).unwrap(), request(plan)).await.unwrap_err();
    assert!(matches!(e, OpsError::Dump(DumpError::ConnectFailed { .. })), "refused connection: {e}");
    assert_failed_cleanly(&repo, &e, &[&password], "refused connection").await;

    let e =
        backup_database(&repo.repo, &Source::from_url(missing_url, opts).unwrap(), request(plan)).await.unwrap_err();
    missing_is_named(&e);
    assert_failed_cleanly(&repo, &e, &[&password], "missing database").await;
}

/// A backup of `source` into a repository whose storage fails after 256 KiB fails with the
/// storage's error and leaves the repository empty.
async fn assert_repository_failing_midstream_aborts(source: &Source, plan: &str) {
    let (repo, failing) = TestRepo::failing_after(256 * 1024).await;
    let e = backup_database(&repo.repo, source, request(plan)).await.unwrap_err();
    assert!(failing.failures.load(std::sync::atomic::Ordering::SeqCst) >= 1, "the injected failure never fired: {e}");
    assert!(e.to_string().contains(INJECTED), "the error hides the repository failure that caused it: {e}");
    repo.assert_empty_after_failure("repository failing mid-stream").await;
}

/// No process of `tools` that mentions database `db` runs any more, and none is our child.
fn assert_dump_tools_gone(tools: &[&str], db: &str) {
    for tool in tools {
        let left = wait_until_empty(10, || tool_processes(tool, db));
        assert!(left.is_empty(), "{tool} still runs after the failed backup: {left:?}");
        let children = wait_until_empty(10, || my_children(tool));
        assert!(children.is_empty(), "{tool} children left: {children:?}");
    }
}

/// Backs up `src_url`, damages the stored object late (80 % in: the schema and the small
/// table come before it) and restores into `dst_url` (created): the restore fails naming the
/// object.
async fn assert_damaged_backup_fails_restore_naming_it(src_url: &str, dst_url: &str, plan: &str) {
    let repo = TestRepo::new().await;
    let source = Source::from_url(src_url, &SourceOptions::default()).unwrap();
    let manifest = backup_database(&repo.repo, &source, request(plan)).await.unwrap();
    let record = &manifest.objects[0];
    damage_file(&repo.root().join(&record.key), 0.8);

    let e = restore_database(&repo.repo, &manifest, &restorer(dst_url, true)).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(&record.key) || msg.contains(&record.name), "the error does not name the object: {msg}");
}

/// What differs between the PostgreSQL and the MariaDB fault tests: the server, how to fill
/// and drop a database, the name in plans and test databases, and the dump tools.
struct SqlKind {
    url: fn() -> String,
    dataset: fn(&str, &str, u32),
    cleanup: fn(&str, &[&String]) -> Cleanup,
    /// `pg` or `my`: the plan name and the infix of the test databases' names.
    short: &'static str,
    /// The programs a dump runs (any of them).
    dump_tools: &'static [&'static str],
}

const POSTGRES: SqlKind =
    SqlKind { url: pg_url, dataset: pg_dataset, cleanup: Cleanup::pg, short: "pg", dump_tools: &["pg_dump"] };

const MARIADB: SqlKind = SqlKind {
    url: mysql_url,
    dataset: mysql_dataset,
    cleanup: Cleanup::my,
    short: "my",
    dump_tools: &["mariadb-dump", "mysqldump"],
};

/// [`assert_connection_faults_leave_nothing`] on a small database of `kind`; the missing
/// database is named in its `DatabaseMissing` error.
async fn sql_faults_fail_and_leave_nothing(kind: &SqlKind) {
    let url = (kind.url)();
    let db = unique(&format!("lbops_{}_fault", kind.short));
    let _cleanup = (kind.cleanup)(&url, &[&db]);
    (kind.dataset)(&url, &db, 100);
    let missing = unique(&format!("lbops_{}_missing", kind.short));
    assert_connection_faults_leave_nothing(
        &with_path(&url, &db),
        &with_path(&url, &missing),
        &SourceOptions::default(),
        kind.short,
        |e| {
            assert!(
                matches!(e, OpsError::Dump(DumpError::DatabaseMissing { database, .. }) if *database == missing),
                "{e}"
            );
        },
    )
    .await;
}

/// A backup of a big database of `kind` into a repository failing mid-stream aborts, and the
/// dump tool is gone afterwards.
async fn sql_repository_failing_midstream_aborts_and_kills_the_tool(kind: &SqlKind) {
    let url = (kind.url)();
    let db = unique(&format!("lbops_{}_midfail", kind.short));
    let _cleanup = (kind.cleanup)(&url, &[&db]);
    (kind.dataset)(&url, &db, 100_000);
    let source = Source::from_url(&with_path(&url, &db), &SourceOptions::default()).unwrap();
    assert_repository_failing_midstream_aborts(&source, kind.short).await;
    assert_dump_tools_gone(kind.dump_tools, &db);
}

// ================================================================ PostgreSQL

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_round_trip_records_the_source_but_not_the_password() {
    let url = pg_url();
    let password = password_of(&url);
    let (src, dst) = (unique("lbops_pg_src"), unique("lbops_pg_dst"));
    let _cleanup = Cleanup::pg(&url, &[&src, &dst]);
    pg_dataset(&url, &src, 20_000);
    let before = pg_fingerprint(&url, &src);
    assert!(before.contains("z_big: 20000:") && before.contains("a_small: 501:"), "{before}");
    let repo = TestRepo::new().await;

    let source = Source::from_url(&with_path(&url, &src), &SourceOptions::default()).unwrap();
    let manifest = backup_database(&repo.repo, &source, request("pg")).await.unwrap();

    assert_eq!(manifest.kind, "postgres");
    assert_eq!(manifest.plan.as_deref(), Some("pg"));
    assert_eq!(manifest.objects.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), [format!("db/{src}.pgdump")]);
    assert!(manifest.objects[0].plain_size > 4_000_000, "{} bytes", manifest.objects[0].plain_size);
    assert_eq!(repo.listed().await, vec![manifest.id.clone()]);
    assert_eq!(manifest.source["kind"], "postgres");
    let meta = stream_meta(&manifest);
    let server_version = psql(&url, "postgres", "SHOW server_version;");
    assert!(
        meta["server_version"]
            .as_str()
            .is_some_and(|v| !v.is_empty() && v.contains(server_version.split(' ').next().unwrap())),
        "server version {server_version} not recorded: {meta}"
    );
    assert_eq!(meta["tool"]["name"], "pg_dump", "{meta}");
    assert!(meta["tool"]["version"].as_str().is_some_and(|v| v.contains("pg_dump")), "{meta}");
    assert_eq!(meta["position"]["type"], "postgres_lsn", "{meta}");
    assert!(meta["position"]["lsn"].as_str().is_some_and(|l| l.contains('/')), "{meta}");
    assert_eq!(meta["databases"], serde_json::json!([src]), "{meta}");
    assert!(!meta["endpoint"].as_str().unwrap().is_empty());
    assert_no_secret(&manifest, &password);

    // The stored object is pg_dump's custom format, byte for byte.
    let mut raw = Vec::new();
    repo.repo.restore_to_writer(&manifest, None, &mut raw).await.unwrap();
    assert!(raw.starts_with(b"PGDMP"), "not a custom-format dump");

    // Without --create the missing target is refused, and nothing is created.
    let e = restore_database(&repo.repo, &manifest, &restorer(&with_path(&url, &dst), false)).await.unwrap_err();
    assert!(matches!(e, OpsError::Dump(DumpError::DatabaseMissing { .. })), "{e}");
    assert!(!pg_db_exists(&url, &dst));

    let reports = restore_database(&repo.repo, &manifest, &restorer(&with_path(&url, &dst), true)).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].database.as_deref(), Some(dst.as_str()));
    assert_eq!(reports[0].bytes, manifest.objects[0].plain_size);
    assert!(!reports[0].target.contains(&password), "{}", reports[0].target);
    assert_eq!(pg_fingerprint(&url, &dst), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_faults_fail_and_leave_nothing() {
    sql_faults_fail_and_leave_nothing(&POSTGRES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_repository_failing_midstream_aborts_and_kills_pg_dump() {
    sql_repository_failing_midstream_aborts_and_kills_the_tool(&POSTGRES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_damaged_object_fails_restore_naming_it_and_leaves_no_partial_tables() {
    let url = pg_url();
    let (src, dst) = (unique("lbops_pg_dmg_src"), unique("lbops_pg_dmg_dst"));
    let _cleanup = Cleanup::pg(&url, &[&src, &dst]);
    pg_dataset(&url, &src, 30_000);
    assert_damaged_backup_fails_restore_naming_it(&with_path(&url, &src), &with_path(&url, &dst), "pg").await;
    assert!(pg_db_exists(&url, &dst), "--create should have created {dst}");
    assert_eq!(pg_tables(&url, &dst), "", "a failed restore left partial tables in {dst}");
    let left = wait_until_empty(10, || tool_processes("pg_restore", &dst));
    assert!(left.is_empty(), "pg_restore still runs: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_backups_are_not_restored_into_a_database() {
    let repo = TestRepo::new().await;
    let manifest = repo
        .repo
        .backup_stream(&b"just bytes"[..], BackupRequest { name: "x.bin".into(), ..Default::default() })
        .await
        .unwrap();
    let url = with_path(&pg_url(), "never_created_db");
    let e = restore_database(&repo.repo, &manifest, &restorer(&url, true)).await.unwrap_err();
    assert!(matches!(e, OpsError::NotRestorable(_)), "{e}");
    assert!(e.to_string().contains(manifest.short_id()), "{e}");
}

// ================================================================ MariaDB

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_round_trip_records_the_source_but_not_the_password() {
    let url = mysql_url();
    let password = password_of(&url);
    let (src, dst) = (unique("lbops_my_src"), unique("lbops_my_dst"));
    let _cleanup = Cleanup::my(&url, &[&src, &dst]);
    mysql_dataset(&url, &src, 20_000);
    let before = mysql_fingerprint(&url, &src);
    assert!(before.contains("z_big: 20000 rows") && before.contains("a_small: 501 rows"), "{before}");
    let repo = TestRepo::new().await;

    let source = Source::from_url(&with_path(&url, &src), &SourceOptions::default()).unwrap();
    let manifest = backup_database(&repo.repo, &source, request("my")).await.unwrap();
    assert_eq!(manifest.kind, "mysql");
    assert_eq!(manifest.objects.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), [format!("db/{src}.sql")]);
    assert_eq!(repo.listed().await, vec![manifest.id.clone()]);
    let meta = stream_meta(&manifest);
    let server_version = mysql(&url, None, "SELECT VERSION();");
    assert!(
        meta["server_version"].as_str().is_some_and(|v| v.contains(server_version.split('-').next().unwrap())),
        "server version {server_version} not recorded: {meta}"
    );
    let tool = meta["tool"]["name"].as_str().unwrap_or("");
    assert!(tool == "mariadb-dump" || tool == "mysqldump", "{meta}");
    assert_eq!(meta["position"]["type"], "mysql_binlog", "{meta}");
    assert!(meta["position"]["file"].as_str().is_some_and(|f| !f.is_empty()), "{meta}");
    assert!(meta["position"]["position"].as_u64().is_some_and(|p| p > 0), "{meta}");
    assert_no_secret(&manifest, &password);

    let reports = restore_database(&repo.repo, &manifest, &restorer(&with_path(&url, &dst), true)).await.unwrap();
    assert_eq!(reports[0].database.as_deref(), Some(dst.as_str()));
    assert!(!reports[0].target.contains(&password));
    assert_eq!(mysql_fingerprint(&url, &dst), before.replace(&src, &dst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_faults_fail_and_leave_nothing() {
    sql_faults_fail_and_leave_nothing(&MARIADB).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_repository_failing_midstream_aborts_and_kills_the_dump_tool() {
    sql_repository_failing_midstream_aborts_and_kills_the_tool(&MARIADB).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_damaged_object_fails_restore_naming_it() {
    let url = mysql_url();
    let (src, dst) = (unique("lbops_my_dmg_src"), unique("lbops_my_dmg_dst"));
    let _cleanup = Cleanup::my(&url, &[&src, &dst]);
    mysql_dataset(&url, &src, 30_000);
    assert_damaged_backup_fails_restore_naming_it(&with_path(&url, &src), &with_path(&url, &dst), "my").await;
    // The restore stopped before the end: the big table cannot be complete.
    let rows = mysql(
        &url,
        None,
        &format!(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{dst}' AND table_name = 'z_big';"
        ),
    );
    if rows == "1" {
        let n: u64 = mysql(&url, Some(&dst), "SELECT COUNT(*) FROM z_big;").parse().unwrap();
        assert!(n < 30_000, "the damaged restore claims all {n} rows");
    }
    let left = wait_until_empty(10, || tool_processes("mariadb", &dst));
    assert!(left.is_empty(), "the mariadb client still runs: {left:?}");
}

// ================================================================ Redis (logical)

fn redis_logical(pattern: &str) -> SourceOptions {
    SourceOptions { redis_mode: RedisMode::Logical, key_pattern: Some(pattern.into()), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_logical_round_trip_into_another_database() {
    let url = redis_url();
    let password = password_of(&url);
    let prefix = unique("lbops_redis");
    let pattern = format!("{prefix}*");
    let (src_url, dst_url) = (with_path(&url, "/7"), with_path(&url, "/8"));
    let _cleanup = Cleanup::Redis(vec![src_url.clone(), dst_url.clone()], prefix.clone());
    redis_dataset(&src_url, &prefix, 40);
    let before = Redis::connect(&src_url).snapshot_by_key(pattern.as_bytes());
    assert_eq!(before.len(), 7 + 40, "{:?}", before.keys().collect::<Vec<_>>());
    assert!(Redis::connect(&dst_url).keys(pattern.as_bytes()).is_empty(), "database 8 already holds test keys");
    let repo = TestRepo::new().await;

    let source = Source::from_url(&src_url, &redis_logical(&pattern)).unwrap();
    let manifest = backup_database(&repo.repo, &source, request("redis")).await.unwrap();
    assert_eq!(manifest.kind, "redis");
    assert_eq!(manifest.objects.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["redis.logical"]);
    let meta = stream_meta(&manifest);
    assert!(
        meta["server_version"].as_str().is_some_and(|v| v.chars().next().is_some_and(|c| c.is_ascii_digit())),
        "{meta}"
    );
    assert_eq!(meta["position"]["type"], "redis_replication", "{meta}");
    assert_eq!(meta["position"]["exact"], false, "a SCAN export is not a point in time: {meta}");
    assert_eq!(meta["databases"], serde_json::json!(["7"]), "{meta}");
    assert!(meta["options"].to_string().contains(&prefix), "the key pattern is not recorded: {meta}");
    assert_no_secret(&manifest, &password);

    let reports = restore_database(&repo.repo, &manifest, &restorer(&dst_url, false)).await.unwrap();
    assert_eq!(reports[0].database.as_deref(), Some("8"));
    assert!(!reports[0].target.contains(&password));
    let after = Redis::connect(&dst_url).snapshot_by_key(pattern.as_bytes());
    assert_eq!(after, before, "database 8 differs from database 7 after the restore");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_faults_fail_and_leave_nothing() {
    let url = redis_url();
    let prefix = unique("lbops_redis_fault");
    let pattern = format!("{prefix}*");
    // Redis has no named databases; a number past `databases` is its "missing database".
    assert_connection_faults_leave_nothing(
        &with_path(&url, "/7"),
        &with_path(&url, "/4000"),
        &redis_logical(&pattern),
        "r",
        |e| {
            assert!(e.to_string().contains("4000"), "the error does not name the database: {e}");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_repository_failing_midstream_aborts() {
    let url = redis_url();
    let prefix = unique("lbops_redis_midfail");
    let src_url = with_path(&url, "/7");
    let _cleanup = Cleanup::Redis(vec![src_url.clone()], prefix.clone());
    redis_dataset(&src_url, &prefix, 64);
    let source = Source::from_url(&src_url, &redis_logical(&format!("{prefix}*"))).unwrap();
    assert_repository_failing_midstream_aborts(&source, "r").await;
}

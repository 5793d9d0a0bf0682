//! Content digests: recorded at dump time, measured on a restore into a scratch target, equal;
//! a changed row names its table; a changed key changes the digest. Real servers.

use lifeboat_dump::content::{self, MYSQL_ALGORITHM, PG_ALGORITHM, REDIS_ALGORITHM};
use lifeboat_dump::{
    ContentDigest, RedisMode, ScratchDatabase, ScratchRedis, ScratchRedisOptions, Source, SourceMetadata, SourceOptions,
};
use lifeboat_testkit::cleanup::Cleanup;
use lifeboat_testkit::datasets::{mysql_dataset, pg_create_db, pg_dataset, redis_dataset};
use lifeboat_testkit::process::wait_gone;
use lifeboat_testkit::redis_server::PrivateRedis;
use lifeboat_testkit::sql::{mysql, psql};
use lifeboat_testkit::{R, Redis, mysql_url, pg_url, unique, with_path};

use crate::common::{read_slowly, servers_shared};
use crate::postgres::FIDELITY_SCHEMA;

/// Dumps `url` (one stream) and returns it with its metadata.
async fn dump_one(url: &str, options: &SourceOptions) -> (String, Vec<u8>, SourceMetadata) {
    let all = Source::from_url(url, options).unwrap().dump().await.unwrap().collect_all().await.unwrap();
    assert_eq!(all.len(), 1, "one stream");
    all.into_iter().next().unwrap()
}

fn tables(d: &ContentDigest) -> Vec<(String, u64)> {
    match d {
        ContentDigest::Tables { tables, .. } => tables.iter().map(|t| (t.table.clone(), t.rows)).collect(),
        other => panic!("not tables: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dump_records_content_a_scratch_restore_matches_and_a_change_names_its_table() {
    let _servers = servers_shared().await;
    let url = pg_url();
    let src = unique("lbcontent");
    let _cleanup = Cleanup::pg(&url, &[&src]);
    pg_create_db(&url, &src);
    psql(&url, &src, FIDELITY_SCHEMA);
    psql(
        &url,
        &src,
        "CREATE SCHEMA other; CREATE TABLE other.\"Mixed Case\" (k int, v text); INSERT INTO other.\"Mixed Case\" VALUES (1, 'a'), (2, NULL);",
    );

    let (name, bytes, meta) = dump_one(&with_path(&url, &src), &SourceOptions::default()).await;
    let recorded = meta.content.clone().expect("content recorded");
    assert_eq!(recorded.algorithm(), PG_ALGORITHM);
    let t = tables(&recorded);
    assert!(t.contains(&("public.everything".into(), 3)), "{t:?}");
    assert!(t.contains(&("public.blobs".into(), 3)), "{t:?}");
    assert!(t.contains(&("public.audit".into(), 0)), "{t:?}");
    assert!(t.contains(&("other.Mixed Case".into(), 2)), "{t:?}");
    assert!(!t.iter().any(|(n, _)| n.contains("counts") || n.contains("happy_rows")), "views are not tables: {t:?}");
    // The manifest form round-trips.
    let json = serde_json::to_string(&meta).unwrap();
    let back: SourceMetadata = serde_json::from_str(&json).unwrap();
    assert_eq!(back.content.as_ref(), Some(&recorded));

    // The live source measures the same.
    let live = content::measure(&with_path(&url, &src), None, &recorded).await.unwrap();
    assert_eq!(recorded.compare(&live), vec![]);

    // Restore into a scratch database: equal.
    let scratch = ScratchDatabase::create(&url, None, "content test").await.unwrap();
    assert!(scratch.name().starts_with("lifeboat_drill_content_test_"), "{}", scratch.name());
    scratch.restorer().unwrap().restore(&name, &mut &bytes[..]).await.unwrap();
    let restored = scratch.measure(&recorded).await.unwrap();
    assert_eq!(recorded.compare(&restored), vec![], "restore equals the dump");

    // One changed value: one mismatch, naming the table; a deleted row: the row count.
    psql(
        &url,
        scratch.name(),
        "UPDATE everything SET t = 'changed' WHERE i2 = 0; DELETE FROM other.\"Mixed Case\" WHERE k = 2; CREATE TABLE extra (x int);",
    );
    let changed = scratch.measure(&recorded).await.unwrap();
    let diff = recorded.compare(&changed);
    let objects: Vec<&str> = diff.iter().map(|m| m.object.as_str()).collect();
    assert_eq!(objects, ["other.Mixed Case", "public.everything", "public.extra"], "{diff:?}");
    assert!(diff[0].expected.contains("2 rows") && diff[0].actual.contains("1 rows"), "{}", diff[0]);
    assert!(diff[1].expected.contains("checksum"), "{}", diff[1]);
    assert_eq!(diff[2].expected, "missing");
    psql(&url, scratch.name(), "DROP TABLE blobs;");
    let diff = recorded.compare(&scratch.measure(&recorded).await.unwrap());
    assert!(diff.iter().any(|m| m.object == "public.blobs" && m.actual == "missing"), "{diff:?}");

    let name = scratch.name().to_string();
    scratch.drop_database().await.unwrap();
    assert_eq!(psql(&url, "postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}';")), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_content_follows_the_table_selection_and_can_be_skipped() {
    let _servers = servers_shared().await;
    let url = pg_url();
    let src = unique("lbsel");
    let _cleanup = Cleanup::pg(&url, &[&src]);
    pg_dataset(&url, &src, 50);
    let db_url = with_path(&url, &src);

    let only = SourceOptions { tables: vec!["a_*".into()], ..Default::default() };
    let (_, _, meta) = dump_one(&db_url, &only).await;
    assert_eq!(tables(meta.content.as_ref().unwrap()), [("public.a_small".to_string(), 501)]);

    let without = SourceOptions { exclude_tables: vec!["public.a_small".into()], ..Default::default() };
    let (_, _, meta) = dump_one(&db_url, &without).await;
    assert_eq!(tables(meta.content.as_ref().unwrap()), [("public.z_big".to_string(), 50)]);

    let (_, _, meta) = dump_one(&db_url, &SourceOptions { skip_content: true, ..Default::default() }).await;
    assert!(meta.content.is_none());

    let (_, _, meta) = dump_one(&db_url, &SourceOptions { schema_only: true, ..Default::default() }).await;
    assert!(meta.content.is_none());
    assert!(meta.notes.iter().any(|n| n.contains("schema-only")), "{:?}", meta.notes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_dump_records_content_a_scratch_restore_matches_and_a_change_names_its_table() {
    let _servers = servers_shared().await;
    let url = mysql_url();
    let src = unique("lbcontent");
    let _cleanup = Cleanup::my(&url, &[&src]);
    mysql_dataset(&url, &src, 300);
    mysql(
        &url,
        Some(&src),
        "CREATE TABLE nulls (a INT, b VARCHAR(10), c DOUBLE, d TIMESTAMP NULL); INSERT INTO nulls VALUES (NULL, 'x', 1.5, '2024-03-01 10:00:00'), (1, NULL, NULL, NULL);",
    );

    let (name, bytes, meta) = dump_one(&with_path(&url, &src), &SourceOptions::default()).await;
    let recorded = meta.content.clone().expect("content recorded");
    assert_eq!(recorded.algorithm(), MYSQL_ALGORITHM);
    let t = tables(&recorded);
    assert_eq!(
        t,
        [
            (format!("{src}.a_small"), 501),
            (format!("{src}.audit"), 0),
            (format!("{src}.nulls"), 2),
            (format!("{src}.z_big"), 300)
        ]
    );
    // The test server writes a binary log: the two snapshots' positions are compared.
    assert!(meta.notes.iter().any(|n| n.starts_with("content digest:") && n.ends_with("(exact)")), "{:?}", meta.notes);

    let scratch = ScratchDatabase::create(&url, None, "content").await.unwrap();
    scratch.restorer().unwrap().restore(&name, &mut &bytes[..]).await.unwrap();
    let restored = scratch.measure(&recorded).await.unwrap();
    assert_eq!(recorded.compare(&restored), vec![], "restore equals the dump");

    mysql(&url, Some(scratch.name()), "UPDATE z_big SET amount = amount + 1 WHERE id = 7;");
    let diff = recorded.compare(&scratch.measure(&recorded).await.unwrap());
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert_eq!(diff[0].object, format!("{src}.z_big"));
    let name = scratch.name().to_string();
    scratch.drop_database().await.unwrap();
    assert_eq!(mysql(&url, None, &format!("SHOW DATABASES LIKE '{name}';")), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_logical_dump_records_keys_and_digest_a_scratch_restore_matches() {
    let source = PrivateRedis::start("content-src-pw", None);
    redis_dataset(&source.url, "c", 3);
    let mut r = Redis::connect(&source.url);
    r.cmd_str(&["XADD", "cstream", "1-1", "k", "v"]);
    r.cmd_str(&["SELECT", "3"]);
    r.cmd_str(&["SET", "in-db-3", "x"]);
    let opts = SourceOptions { redis_mode: RedisMode::Logical, ..Default::default() };
    let (name, bytes, meta) = dump_one(&source.url, &opts).await;
    let recorded = meta.content.clone().expect("content recorded");
    match &recorded {
        ContentDigest::Keys { algorithm, keys, digest } => {
            assert_eq!(algorithm, REDIS_ALGORITHM);
            assert_eq!(*keys, 12);
            assert_eq!(digest.len(), 32);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(recorded.compare(&content::measure(&source.url, None, &recorded).await.unwrap()), vec![]);

    let scratch = ScratchRedis::start(ScratchRedisOptions::default()).await.unwrap();
    let pid = scratch.pid().expect("started");
    scratch.restorer().unwrap().restore(&name, &mut &bytes[..]).await.unwrap();
    assert_eq!(recorded.compare(&scratch.measure(&recorded).await.unwrap()), vec![], "restore equals the dump");

    // One changed hash field: the digest differs, the count does not.
    let mut s = Redis::connect(&source.url);
    assert_eq!(s.cmd(&[b"HSET", b"c:hash", b"a", b"changed"]), R::Int(0));
    let diff = recorded.compare(&content::measure(&source.url, None, &recorded).await.unwrap());
    assert_eq!(diff.iter().map(|m| m.object.as_str()).collect::<Vec<_>>(), ["digest"], "{diff:?}");

    scratch.stop().await.unwrap();
    assert!(wait_gone(pid, 10), "the scratch redis-server {pid} is gone");
}

#[tokio::test]
async fn a_digest_of_another_kind_is_refused() {
    let pg = ContentDigest::Tables { algorithm: PG_ALGORITHM.into(), tables: vec![] };
    let e = content::measure(&mysql_url(), None, &pg).await.unwrap_err();
    assert!(e.to_string().contains("cannot measure a MySQL database"), "{e}");
    let keys = ContentDigest::Keys { algorithm: REDIS_ALGORITHM.into(), keys: 0, digest: String::new() };
    assert_eq!(pg.compare(&keys)[0].object, "algorithm");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_rdb_dump_records_the_snapshot_digest_and_a_scratch_server_on_it_matches() {
    let source = PrivateRedis::start("content-rdb-pw", None);
    redis_dataset(&source.url, "r", 2);
    let mut r = Redis::connect(&source.url);
    r.cmd_str(&["XADD", "rstream", "1-1", "k", "v"]);
    r.cmd_str(&["SELECT", "5"]);
    r.cmd_str(&["SADD", "in-db-5", "a", "b"]);
    let (name, bytes, meta) = dump_one(&source.url, &SourceOptions::default()).await;
    assert_eq!(name, "dump.rdb");
    let recorded = meta.content.clone().unwrap_or_else(|| panic!("content recorded: {:?}", meta.notes));
    assert!(matches!(&recorded, ContentDigest::Keys { keys: 11, .. }), "{recorded:?}");
    assert_eq!(recorded.compare(&content::measure(&source.url, None, &recorded).await.unwrap()), vec![]);

    let dir = tempfile::tempdir().unwrap();
    let rdb = dir.path().join("dump.rdb");
    std::fs::write(&rdb, &bytes).unwrap();
    let scratch = ScratchRedis::start_with_rdb(ScratchRedisOptions::default(), &rdb).await.unwrap();
    assert_eq!(recorded.compare(&scratch.measure(&recorded).await.unwrap()), vec![], "snapshot equals the dump");
    let pid = scratch.pid().unwrap();
    scratch.stop().await.unwrap();
    assert!(wait_gone(pid, 10));

    let (_, _, meta) = dump_one(&source.url, &SourceOptions { skip_content: true, ..Default::default() }).await;
    assert!(meta.content.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_content_is_exact_for_the_dump_while_a_writer_commits() {
    let _servers = servers_shared().await;
    let url = pg_url();
    let src = unique("lbcontw");
    let _cleanup = Cleanup::pg(&url, &[&src]);
    pg_create_db(&url, &src);
    psql(
        &url,
        &src,
        "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
         INSERT INTO accounts SELECT i, 1000 FROM generate_series(1, 200) i;
         CREATE TABLE filler AS SELECT i, repeat(md5(i::text), 20) AS pad FROM generate_series(1, 60000) i;
         CREATE TABLE log (id bigserial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp());",
    );
    // Transfers and log rows, each in its own transaction, for up to 60 s.
    let mut writer = lifeboat_testkit::sql::psql_spawn(
        &url,
        &src,
        "DO $$
        DECLARE a int; b int; t0 timestamptz := clock_timestamp();
        BEGIN
          WHILE clock_timestamp() - t0 < interval '60 seconds' LOOP
            a := 1 + floor(random() * 200); b := 1 + floor(random() * 200);
            UPDATE accounts SET balance = balance - 7 WHERE id = a;
            UPDATE accounts SET balance = balance + 7 WHERE id = b;
            INSERT INTO log DEFAULT VALUES;
            COMMIT;
          END LOOP;
        END $$;",
    );
    let started = std::time::Instant::now();
    while psql(&url, &src, "SELECT count(*) FROM log;") == "0" {
        assert!(started.elapsed().as_secs() < 20, "writer did not start");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let source = Source::from_url(&with_path(&url, &src), &SourceOptions::default()).unwrap();
    let mut dumps = source.dump().await.unwrap();
    let stream = dumps.next().await.unwrap().unwrap();
    let name = stream.name.clone();
    // Read slowly: the writer commits while pg_dump and the checksums run.
    let (bytes, meta) = read_slowly(stream).await;
    let recorded = meta.content.expect("content recorded");
    // The live database has moved on ...
    let live = content::measure(&with_path(&url, &src), None, &recorded).await.unwrap();
    assert!(!recorded.compare(&live).is_empty(), "the writer changed the source after the dump");
    let _ = writer.kill();
    let _ = writer.wait();
    // ... and the restore is exactly what the dump recorded.
    let scratch = ScratchDatabase::create(&url, None, "writer").await.unwrap();
    scratch.restorer().unwrap().restore(&name, &mut &bytes[..]).await.unwrap();
    assert_eq!(recorded.compare(&scratch.measure(&recorded).await.unwrap()), vec![]);
    scratch.drop_database().await.unwrap();
}

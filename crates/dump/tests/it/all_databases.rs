//! `--all` dumps of PostgreSQL and MariaDB. They dump every database of the shared servers, so
//! tests creating and dropping databases concurrently would race with them: each holds the
//! servers exclusively ([`servers_exclusive`]), the other database tests hold them shared.

use lifeboat_dump::{Position, RestoreOptions, Restorer, Source, SourceOptions};
use lifeboat_testkit::datasets::{pg_create_db, pg_drop};
use lifeboat_testkit::sql::{mysql, psql};
use lifeboat_testkit::{pg_url, service_url, unique, with_path};

use crate::common::servers_exclusive;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_all_dumps_globals_and_every_database() {
    let _servers = servers_exclusive().await;
    let url = pg_url();
    let a = unique("lball_a");
    let b = unique("lball_b");
    let role = unique("lbrole");
    pg_create_db(&pg_url(), &a);
    pg_create_db(&pg_url(), &b);
    psql(&url, "postgres", &format!("CREATE ROLE {role} LOGIN PASSWORD 'role-pw';"));
    psql(&url, &a, &format!("CREATE TABLE t (x int); INSERT INTO t VALUES (1),(2); ALTER TABLE t OWNER TO {role};"));
    psql(&url, &b, "CREATE TABLE u (y text); INSERT INTO u VALUES ('b');");

    let source = Source::from_url(&with_path(&url, ""), &SourceOptions { all: true, ..Default::default() }).unwrap();
    let dumps = source.dump().await.unwrap();
    let names = dumps.names().to_vec();
    assert_eq!(names[0], "globals.sql");
    assert!(names.contains(&format!("db/{a}.pgdump")) && names.contains(&format!("db/{b}.pgdump")), "{names:?}");
    assert!(names.contains(&"db/postgres.pgdump".to_string()));
    let all = dumps.collect_all().await.unwrap();
    let globals = &all[0].1;
    assert!(String::from_utf8_lossy(globals).contains(&format!("CREATE ROLE {role}")));
    for (name, _, meta) in &all[1..] {
        assert!(matches!(meta.position, Some(Position::PostgresLsn { .. })), "{name}");
    }

    // Drop the originals, then restore globals and the two databases under their own names.
    pg_drop(&pg_url(), &a);
    pg_drop(&pg_url(), &b);
    psql(&url, "postgres", &format!("DROP ROLE {role};"));
    let restorer =
        Restorer::from_url(&with_path(&url, ""), &RestoreOptions { create: true, ..Default::default() }).unwrap();
    let report = restorer.restore("globals.sql", &mut &globals[..]).await.unwrap();
    assert!(report.warnings.iter().any(|w| w.contains("already exists")), "{:?}", report.warnings);
    for (name, bytes, _) in &all {
        if name == &format!("db/{a}.pgdump") || name == &format!("db/{b}.pgdump") {
            restorer.restore(name, &mut &bytes[..]).await.unwrap();
        }
    }
    assert_eq!(
        psql(
            &url,
            &a,
            "SELECT string_agg(x::text, ',' ORDER BY x) || ' ' || (SELECT tableowner FROM pg_tables WHERE tablename='t') FROM t;"
        ),
        format!("1,2 {role}")
    );
    assert_eq!(psql(&url, &b, "SELECT y FROM u;"), "b");
    pg_drop(&pg_url(), &a);
    pg_drop(&pg_url(), &b);
    psql(&url, "postgres", &format!("DROP ROLE {role};"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_all_recreates_every_database() {
    let _servers = servers_exclusive().await;
    let url = service_url("LIFEBOAT_TEST_MYSQL_URL");
    let a = unique("lbmall_a");
    let b = unique("lbmall_b");
    for d in [&a, &b] {
        mysql(&url, None, &format!("CREATE DATABASE `{d}`;"));
    }
    mysql(
        &url,
        Some(&a),
        "CREATE TABLE t1 (x INT PRIMARY KEY); INSERT INTO t1 VALUES (1); CREATE TABLE t2 (y INT); INSERT INTO t2 VALUES (2);",
    );
    mysql(&url, Some(&b), "CREATE TABLE u (s VARCHAR(10)); INSERT INTO u VALUES ('b');");
    let all = Source::from_url(&with_path(&url, ""), &SourceOptions { all: true, ..Default::default() }).unwrap();
    let mut dumps = all.dump().await.unwrap();
    assert_eq!(dumps.names(), ["all-databases.sql"]);
    let (bytes, meta) = dumps.next().await.unwrap().unwrap().into_vec().await.unwrap();
    assert!(meta.databases.contains(&a) && meta.databases.contains(&b));
    assert!(!meta.databases.iter().any(|d| d == "mysql" || d == "information_schema"));
    assert!(matches!(meta.position, Some(Position::MysqlBinlog { .. })));
    for d in [&a, &b] {
        mysql(&url, None, &format!("DROP DATABASE `{d}`;"));
    }
    // A URL naming a database is refused for a multi-database stream.
    let e = Restorer::from_url(&with_path(&url, &a), &RestoreOptions::default())
        .unwrap()
        .restore("all-databases.sql", &mut &bytes[..])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("without a database"), "{e}");
    Restorer::from_url(&with_path(&url, ""), &RestoreOptions::default())
        .unwrap()
        .restore("all-databases.sql", &mut &bytes[..])
        .await
        .unwrap();
    assert_eq!(mysql(&url, Some(&a), "SELECT (SELECT x FROM t1) + (SELECT y FROM t2);"), "3");
    assert_eq!(mysql(&url, Some(&b), "SELECT s FROM u;"), "b");
    for d in [&a, &b] {
        mysql(&url, None, &format!("DROP DATABASE `{d}`;"));
    }
}

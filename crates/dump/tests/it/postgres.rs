//! PostgreSQL dump/restore against the real server started by scripts/services.sh.

use std::time::Duration;

use lifeboat_dump::{
    DumpError, PgConn, Position, PostgresOptions, PostgresRestoreOptions, PostgresRestorer, PostgresSource,
    RestoreOptions, Restorer, Source, SourceOptions,
};
use lifeboat_testkit::datasets::{pg_create_db, pg_drop, pg_table_digests};
use lifeboat_testkit::failing::FailingWriter;
use lifeboat_testkit::process::{alive, children_of, processes_exposing, wait_gone};
use lifeboat_testkit::sql::{psql, psql_spawn};
use lifeboat_testkit::{parse, pg_url, unique, with_path, with_user};
use tokio::io::AsyncReadExt;

use crate::common::{
    assert_connection_errors_are_clear, assert_dump_consistent_under_writer, assert_private_credentials_file,
    finish_dump_unrecorded, servers_shared, start_dump_unseen,
};

pub(crate) const FIDELITY_SCHEMA: &str = r#"
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE SEQUENCE invoice_no START 1000 INCREMENT 7;
SELECT setval('invoice_no', 1234);
CREATE TABLE everything (
    id bigserial PRIMARY KEY,
    i2 smallint, i4 integer, i8 bigint, num numeric(30,10), f4 real, f8 double precision,
    b boolean, t text, vc varchar(50), ch char(5), ci citext, by bytea,
    d date, tm time, tmtz timetz, ts timestamp, tstz timestamptz, iv interval,
    u uuid, j json, jb jsonb, arr int[], tarr text[], ip inet, net cidr, mac macaddr,
    m mood, hs hstore, rng int4range, tsr tstzrange, pt point, bits bit varying(16), money_col money, x xml
);
INSERT INTO everything (i2,i4,i8,num,f4,f8,b,t,vc,ch,ci,by,d,tm,tmtz,ts,tstz,iv,u,j,jb,arr,tarr,ip,net,mac,m,hs,rng,tsr,pt,bits,money_col,x)
VALUES
 (-32768, 2147483647, -9223372036854775808, 12345678901234567890.0123456789, 3.25, -1.5e300, true,
  'héllo wörld 🚀🦀 日本語 '' quote \ backslash', 'vc', 'abc', 'CaseLess', '\x00ff10'::bytea,
  '2024-02-29', '23:59:59.999999', '12:00+05:30', '1999-12-31 23:59:59', '2000-01-01 00:00:00+00', '1 year 2 mons 3 days 04:05:06',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2, {"b": null}]}', '{"emoji": "😀", "n": 1.5}', '{1,NULL,3}', '{"x","y z",NULL}',
  '192.168.1.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', 'happy', 'a=>1, b=>NULL', '[1,10)', '[2020-01-01,2021-01-01)', '(1.5,2.5)', B'1011',
  '12.34', '<a>x</a>'),
 (NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL),
 (0, 0, 0, 'NaN', 'Infinity', '-Infinity', false, '', '', '', '', ''::bytea, 'infinity', '00:00', '00:00+00', '-infinity', 'infinity', '0',
  '00000000-0000-0000-0000-000000000000', 'null', '[]', '{}', '{}', '::1', '::/0', 'ff:ff:ff:ff:ff:ff', 'sad', '', 'empty', 'empty', '(0,0)', B'', '0', '<r/>');
-- 17 MiB of every byte value.
CREATE TABLE blobs (id int PRIMARY KEY, data bytea);
INSERT INTO blobs SELECT 1, decode(repeat((SELECT string_agg(lpad(to_hex(i), 2, '0'), '') FROM generate_series(0,255) i), 69632), 'hex');
INSERT INTO blobs VALUES (2, NULL), (3, '\x'::bytea);
CREATE TABLE audit (id serial PRIMARY KEY, what text, at_no bigint);
CREATE FUNCTION audit_everything() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit (what, at_no) VALUES ('insert ' || NEW.id, nextval('invoice_no'));
  RETURN NEW;
END $$;
CREATE TRIGGER everything_audit AFTER INSERT ON everything FOR EACH ROW EXECUTE FUNCTION audit_everything();
CREATE FUNCTION add_up(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
CREATE PROCEDURE bump(n int) LANGUAGE plpgsql AS $$ BEGIN PERFORM setval('invoice_no', nextval('invoice_no') + n); END $$;
CREATE VIEW happy_rows AS SELECT id, t FROM everything WHERE m = 'happy';
CREATE MATERIALIZED VIEW counts AS SELECT count(*) AS n FROM everything;
COMMENT ON TABLE everything IS 'every common type';
"#;

/// A new database (named `<prefix>_<unique>`) set up by `sql`.
fn new_database(prefix: &str, sql: &str) -> String {
    let db = unique(prefix);
    pg_create_db(&pg_url(), &db);
    psql(&pg_url(), &db, sql);
    db
}

/// A digest of the content and schema objects of a database.
fn fingerprint(db: &str) -> String {
    let url = pg_url();
    let mut parts = pg_table_digests(&url, db);
    for (what, q) in [
        (
            "views",
            "SELECT string_agg(viewname || '=' || md5(definition), ',' ORDER BY viewname) FROM pg_views WHERE schemaname='public'",
        ),
        (
            "matviews",
            "SELECT string_agg(matviewname || ':' || ispopulated, ',') FROM pg_matviews WHERE schemaname='public'",
        ),
        (
            "functions",
            "SELECT string_agg(proname || '=' || md5(prosrc) || prokind::text, ',' ORDER BY proname, md5(prosrc)) FROM pg_proc p WHERE pronamespace = 'public'::regnamespace AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')",
        ),
        (
            "triggers",
            "SELECT string_agg(tgname || '=' || md5(pg_get_triggerdef(oid)), ',' ORDER BY tgname) FROM pg_trigger WHERE NOT tgisinternal",
        ),
        (
            "sequences",
            "SELECT string_agg(sequencename || '=' || coalesce(last_value::text, 'null') || '/' || increment_by, ',' ORDER BY sequencename) FROM pg_sequences",
        ),
        ("extensions", "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension"),
        ("types", "SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum"),
        (
            "comments",
            "SELECT string_agg(relname || '=' || obj_description(oid), ',') FROM pg_class WHERE obj_description(oid) IS NOT NULL AND relnamespace = 'public'::regnamespace",
        ),
    ] {
        parts.push(format!("{what}: {}", psql(&url, db, &format!("{q};"))));
    }
    parts.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_keeps_every_type_and_object() {
    let _servers = servers_shared().await;
    let url = pg_url();
    let src = unique("lbsrc");
    let dst = unique("lbdst");
    pg_create_db(&pg_url(), &src);
    psql(&url, &src, FIDELITY_SCHEMA);
    let before = fingerprint(&src);
    assert!(before.contains("blobs: 3:"), "{before}");

    let source = Source::from_url(&with_path(&url, &src), &SourceOptions::default()).unwrap();
    let mut dumps = source.dump().await.unwrap();
    assert_eq!(dumps.names(), [format!("db/{src}.pgdump")]);
    let stream = dumps.next().await.unwrap().unwrap();
    let (bytes, meta) = stream.into_vec().await.unwrap();
    assert!(dumps.next().await.unwrap().is_none());
    assert!(bytes.starts_with(b"PGDMP"), "custom format");
    assert!(bytes.len() > 17 * 1024 * 1024, "uncompressed (-Z0): {} bytes", bytes.len());
    assert_eq!(meta.databases, vec![src.clone()]);
    assert_eq!(meta.format, "pg_dump custom");
    assert!(meta.tool.as_ref().unwrap().version.contains("pg_dump"));
    match &meta.position {
        Some(Position::PostgresLsn { lsn, snapshot }) => {
            assert!(lsn.contains('/'), "{lsn}");
            assert!(!snapshot.is_empty());
        }
        other => panic!("no LSN: {other:?}"),
    }
    let json = serde_json::to_string(&meta).unwrap();
    assert!(!json.contains(&parse(&url).password), "password in metadata");

    // Restore into a database that does not exist yet: refused without create, done with it.
    let target = with_path(&url, &dst);
    let no_create = Restorer::from_url(&target, &RestoreOptions::default()).unwrap();
    let err = no_create.restore(&format!("db/{src}.pgdump"), &mut &bytes[..]).await.unwrap_err();
    assert!(matches!(err, DumpError::DatabaseMissing { creatable: true, .. }), "{err}");

    let restorer = Restorer::from_url(&target, &RestoreOptions { create: true, ..Default::default() }).unwrap();
    let report = restorer.restore(&format!("db/{src}.pgdump"), &mut &bytes[..]).await.unwrap();
    assert_eq!(report.database.as_deref(), Some(dst.as_str()));
    assert_eq!(report.bytes, bytes.len() as u64);
    let after = fingerprint(&dst);
    assert_eq!(before, after);

    // The trigger and the sequence still work in the copy.
    psql(&url, &dst, "INSERT INTO everything (t) VALUES ('after restore');");
    assert_eq!(
        psql(&url, &dst, "SELECT max(at_no) FROM audit;"),
        psql(&url, &dst, "SELECT last_value FROM invoice_no;")
    );
    pg_drop(&pg_url(), &src);
    pg_drop(&pg_url(), &dst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_from_file_runs_parallel_jobs() {
    let _servers = servers_shared().await;
    let url = pg_url();
    let src = new_database(
        "lbpar",
        "CREATE TABLE a AS SELECT i, md5(i::text) m FROM generate_series(1,20000) i; CREATE TABLE b AS SELECT i FROM generate_series(1,5000) i; CREATE INDEX ON a (m);",
    );
    let before = fingerprint(&src);
    let source =
        PostgresSource::new(PgConn::parse(&with_path(&url, &src)).unwrap(), PostgresOptions::default()).unwrap();
    let all = source.dump().await.unwrap().collect_all().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.pgdump");
    std::fs::write(&file, &all[0].1).unwrap();
    let dst = unique("lbpar_dst");
    let r = PostgresRestorer::new(
        PgConn::parse(&with_path(&url, &dst)).unwrap(),
        PostgresRestoreOptions { create: true, jobs: 2, ..Default::default() },
    );
    r.restore_file("db/x.pgdump", &file).await.unwrap();
    assert_eq!(before, fingerprint(&dst));
    pg_drop(&pg_url(), &src);
    pg_drop(&pg_url(), &dst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_selection_schema_only_and_data_only() {
    let _servers = servers_shared().await;
    let url = pg_url();
    let src = new_database(
        "lbsel",
        "CREATE TABLE keep (x int); INSERT INTO keep VALUES (1); CREATE TABLE other (y int); INSERT INTO other VALUES (2); CREATE TABLE skip (z int);",
    );
    let conn = PgConn::parse(&with_path(&url, &src)).unwrap();

    let dump = |opts: PostgresOptions| {
        let conn = conn.clone();
        async move { PostgresSource::new(conn, opts).unwrap().dump().await.unwrap().collect_all().await.unwrap().remove(0) }
    };
    let restore = |bytes: Vec<u8>| {
        let url = url.clone();
        async move {
            let dst = unique("lbsel_dst");
            let r = PostgresRestorer::new(
                PgConn::parse(&with_path(&url, &dst)).unwrap(),
                PostgresRestoreOptions { create: true, ..Default::default() },
            );
            r.restore("db/x.pgdump", &mut &bytes[..]).await.unwrap();
            dst
        }
    };
    let tables = |db: &str| {
        psql(&url, db, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname='public';")
    };

    let (_, bytes, meta) = dump(PostgresOptions { tables: vec!["keep".into()], ..Default::default() }).await;
    assert_eq!(meta.tables, vec!["keep"]);
    let d = restore(bytes).await;
    assert_eq!(tables(&d), "keep");
    pg_drop(&pg_url(), &d);

    let (_, bytes, _) = dump(PostgresOptions { exclude_tables: vec!["skip".into()], ..Default::default() }).await;
    let d = restore(bytes).await;
    assert_eq!(tables(&d), "keep,other");
    pg_drop(&pg_url(), &d);

    let (_, bytes, meta) = dump(PostgresOptions { schema_only: true, ..Default::default() }).await;
    assert_eq!(meta.options, vec!["schema-only"]);
    let d = restore(bytes).await;
    assert_eq!(tables(&d), "keep,other,skip");
    assert_eq!(psql(&url, &d, "SELECT count(*) FROM keep;"), "0");
    // data-only into the schema-only copy fills it.
    let (_, bytes, _) = dump(PostgresOptions { data_only: true, ..Default::default() }).await;
    PostgresRestorer::new(PgConn::parse(&with_path(&url, &d)).unwrap(), Default::default())
        .restore("db/x.pgdump", &mut &bytes[..])
        .await
        .unwrap();
    assert_eq!(psql(&url, &d, "SELECT (SELECT x FROM keep) + (SELECT y FROM other);"), "3");
    pg_drop(&pg_url(), &d);

    // A table that does not exist is an error, not an empty dump.
    let e = PostgresSource::new(conn.clone(), PostgresOptions { tables: vec!["nope".into()], ..Default::default() })
        .unwrap()
        .dump()
        .await
        .unwrap()
        .collect_all()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    pg_drop(&pg_url(), &src);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_is_consistent_under_a_concurrent_writer() {
    let _servers = servers_shared().await;
    let url = pg_url();
    let src = new_database(
        "lbcons",
        "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
         INSERT INTO accounts SELECT i, 1000 FROM generate_series(1, 200) i;
         CREATE TABLE filler AS SELECT i, repeat(md5(i::text), 20) AS pad FROM generate_series(1, 60000) i;
         CREATE TABLE ticks (n bigint); INSERT INTO ticks VALUES (0);",
    );
    // Transfers between random accounts, each in its own transaction, for up to 60 s.
    let writer = psql_spawn(
        &url,
        &src,
        "DO $$
        DECLARE a int; b int; amt int; t0 timestamptz := clock_timestamp();
        BEGIN
          WHILE clock_timestamp() - t0 < interval '60 seconds' LOOP
            a := 1 + floor(random() * 200); b := 1 + floor(random() * 200); amt := floor(random() * 100);
            UPDATE accounts SET balance = balance - amt WHERE id = a;
            UPDATE accounts SET balance = balance + amt WHERE id = b;
            UPDATE ticks SET n = n + 1;
            COMMIT;
          END LOOP;
        END $$;",
    );
    let dst = unique("lbcons_dst");
    let query = |db: &str, sql: &str| psql(&url, db, sql);
    assert_dump_consistent_under_writer(
        &url,
        &src,
        &dst,
        "db/x.pgdump",
        writer,
        query,
        "SELECT sum(balance) FROM accounts;",
    )
    .await;
    pg_drop(&pg_url(), &src);
    pg_drop(&pg_url(), &dst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_database_and_address_give_clear_errors() {
    let _servers = servers_shared().await;
    let url = pg_url();
    assert_connection_errors_are_clear(&url, "postgres", "postgres", "db/x.pgdump").await;

    // A truncated dump fails the restore and leaves nothing behind (single transaction).
    let src = new_database("lbtrunc", "CREATE TABLE t AS SELECT i FROM generate_series(1, 50000) i;");
    let (_, bytes, _) = Source::from_url(&with_path(&url, &src), &SourceOptions::default())
        .unwrap()
        .dump()
        .await
        .unwrap()
        .collect_all()
        .await
        .unwrap()
        .remove(0);
    let dst = unique("lbtrunc_dst");
    let e = Restorer::from_url(&with_path(&url, &dst), &RestoreOptions { create: true, ..Default::default() })
        .unwrap()
        .restore("db/x.pgdump", &mut &bytes[..bytes.len() / 2])
        .await
        .unwrap_err();
    assert!(matches!(e, DumpError::ToolFailed { .. }), "{e}");
    assert_eq!(psql(&url, &dst, "SELECT count(*) FROM pg_tables WHERE schemaname='public';"), "0");
    pg_drop(&pg_url(), &src);
    pg_drop(&pg_url(), &dst);
}

async fn big_database() -> String {
    new_database(
        "lbbig",
        "CREATE TABLE big AS SELECT i, repeat(md5(i::text), 10) AS pad FROM generate_series(1, 250000) i;",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_kill_mid_dump_fails_the_dump() {
    let _servers = servers_shared().await;
    let url = pg_url();
    let src = big_database().await;
    let mut dumps = Source::from_url(&with_path(&url, &src), &SourceOptions::default()).unwrap().dump().await.unwrap();
    let mut stream = dumps.next().await.unwrap().unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    stream.reader.read_exact(&mut buf).await.unwrap();
    // pg_dump is blocked on the pipe in the middle of COPY; terminate its server process.
    let killed = psql(
        &url,
        "postgres",
        &format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{src}' AND application_name = 'lifeboat' AND query LIKE 'COPY%';"
        ),
    );
    assert_eq!(killed, "1");
    let pid = stream.pid.unwrap();
    let e = stream.copy_to(&mut tokio::io::sink()).await.unwrap_err();
    assert!(matches!(e, DumpError::ToolFailed { ref tool, .. } if tool == "pg_dump"), "{e}");
    assert!(wait_gone(pid, 5), "pg_dump left behind");
    pg_drop(&pg_url(), &src);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_stream_or_failing_its_writer_kills_the_tool() {
    let _servers = servers_shared().await;
    let url = pg_url();
    let src = big_database().await;
    let source = Source::from_url(&with_path(&url, &src), &SourceOptions::default()).unwrap();

    // The consumer drops the stream after a little.
    let mut dumps = source.dump().await.unwrap();
    let mut stream = dumps.next().await.unwrap().unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    stream.reader.read_exact(&mut buf).await.unwrap();
    let pid = stream.pid.unwrap();
    assert!(alive(pid));
    let me = std::process::id();
    assert!(children_of(me).contains(&pid));
    drop(stream);
    drop(dumps);
    assert!(wait_gone(pid, 5), "pg_dump still running or a zombie after the stream was dropped");
    // The snapshot session (psql) is gone too, and no backend of ours is left.
    let mut tries = 0;
    loop {
        let left = psql(
            &url,
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = '{src}' AND application_name = 'lifeboat';"
            ),
        );
        if left == "0" {
            break;
        }
        tries += 1;
        assert!(tries < 100, "{left} lifeboat sessions left on the server");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The repository fails mid-stream: the write error is reported and the tool is gone.
    let mut dumps = source.dump().await.unwrap();
    let stream = dumps.next().await.unwrap().unwrap();
    let pid = stream.pid.unwrap();
    let mut failing = FailingWriter { written: 0, limit: 1 << 20 };
    let e = stream.copy_to(&mut failing).await.unwrap_err();
    assert!(e.to_string().contains("injected"), "{e}");
    assert!(wait_gone(pid, 5));

    // Reading only part of the stream and then awaiting finish is refused as incomplete.
    let mut dumps = source.dump().await.unwrap();
    let mut stream = dumps.next().await.unwrap().unwrap();
    stream.reader.read_exact(&mut buf).await.unwrap();
    let pid = stream.pid.unwrap();
    drop(stream.reader);
    let e = stream.finish.await.unwrap_err();
    assert!(matches!(e, DumpError::Incomplete { .. } | DumpError::ToolFailed { .. }), "{e}");
    assert!(wait_gone(pid, 5));
    pg_drop(&pg_url(), &src);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_is_never_on_a_command_line_or_in_the_environment() {
    let _servers = servers_shared().await;
    let url = pg_url();
    // A role with a password full of URL and pgpass special characters.
    let role = unique("lbpw");
    let password = format!("p@ss:w/o\\rd'x#{}", std::process::id());
    psql(&url, "postgres", &format!("CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{}';", password.replace('\'', "''")));
    let src = big_database().await;
    let role_url = with_user(&with_path(&url, &src), &role, &password);

    // pg_dump and the snapshot psql are running once this returns.
    let (dumps, stream, pid) = start_dump_unseen(&role_url, &password).await;
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let passfile = String::from_utf8_lossy(&environ)
        .split('\0')
        .find_map(|v| v.strip_prefix("PGPASSFILE=").map(str::to_string))
        .expect("PGPASSFILE set for pg_dump");
    assert_private_credentials_file(&passfile);
    finish_dump_unrecorded(dumps, stream, &password, &passfile, "pgpass file").await;

    // Restore with the same role: the password never shows either.
    let all = Source::from_url(&role_url, &SourceOptions::default())
        .unwrap()
        .dump()
        .await
        .unwrap()
        .collect_all()
        .await
        .unwrap();
    let dst = unique("lbpw_dst");
    let restorer =
        Restorer::from_url(&with_path(&role_url, &dst), &RestoreOptions { create: true, ..Default::default() })
            .unwrap();
    let watcher = tokio::spawn({
        let password = password.clone();
        async move {
            let mut seen = Vec::new();
            for _ in 0..40 {
                seen.extend(processes_exposing(&password));
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            seen
        }
    });
    restorer.restore("db/x.pgdump", &mut &all[0].1[..]).await.unwrap();
    assert!(watcher.await.unwrap().is_empty());
    assert!(!format!("{restorer:?}").contains(&password));
    pg_drop(&pg_url(), &src);
    pg_drop(&pg_url(), &dst);
    psql(&url, "postgres", &format!("DROP ROLE {role};"));
}

/// Runs the dump with an empty PATH in a child copy of this test binary.
#[test]
fn missing_client_tool_names_the_debian_package() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--ignored", "--exact", "postgres::missing_tool_child", "--nocapture"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

#[tokio::test]
#[ignore = "run by missing_client_tool_names_the_debian_package with an empty PATH"]
async fn missing_tool_child() {
    assert_eq!(std::env::var("PATH").unwrap(), "/nonexistent");
    let e = Source::from_url("postgres://u:pw@127.0.0.1:1/db", &SourceOptions::default())
        .unwrap()
        .dump()
        .await
        .unwrap_err();
    assert!(matches!(e, DumpError::ToolMissing { package: "postgresql-client", .. }), "{e}");
    assert!(e.to_string().contains("postgresql-client") && e.to_string().contains("pg_dump"), "{e}");
    let e = Restorer::from_url("postgres://u:pw@127.0.0.1:1/db", &RestoreOptions::default())
        .unwrap()
        .restore("db/x.pgdump", &mut &b""[..])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("postgresql-client"), "{e}");
    let e =
        Source::from_url("mysql://u:pw@127.0.0.1:1/db", &SourceOptions::default()).unwrap().dump().await.unwrap_err();
    assert!(matches!(e, DumpError::ToolMissing { package: "mariadb-client", .. }), "{e}");
    assert!(e.to_string().contains("mariadb-dump"), "{e}");
    let e = Restorer::from_url("mysql://u:pw@127.0.0.1:1/db", &RestoreOptions::default())
        .unwrap()
        .restore("db/x.sql", &mut &b""[..])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("mariadb-client"), "{e}");
}

//! Data sets for the three servers and fingerprints to compare a restored copy with its
//! source: content digests plus the schema objects a dump must carry.

use std::hash::{DefaultHasher, Hash, Hasher};

use crate::files::random_bytes;
use crate::resp::{R, Redis};
use crate::sql::{mysql, psql};

/// The length and a hash of a text (for comparing large query results in messages).
pub fn digest(text: &str) -> String {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    format!("{} bytes, {:016x}", text.len(), h.finish())
}

// ---------------------------------------------------------------- PostgreSQL

/// Creates database `db` holding a small table with text in several scripts, a sequence, a
/// view, an index and `rows` rows of a wide table (`z_big`, about 230 bytes a row, half of it
/// hex digests that compress about 2:1). pg_dump writes `a_small`'s data before `z_big`'s.
pub fn pg_dataset(url: &str, db: &str, rows: u32) {
    pg_create_db(url, db);
    psql(
        url,
        db,
        &format!(
            r#"
CREATE TABLE a_small (id int PRIMARY KEY, name text NOT NULL, note text, flag boolean);
INSERT INTO a_small SELECT i, 'name ' || i, 'héllo wörld 🚀 日本語 '' \ ' || i, i % 2 = 0 FROM generate_series(1, 500) i;
INSERT INTO a_small VALUES (0, '', NULL, NULL);
CREATE SEQUENCE order_no START 100 INCREMENT 3;
SELECT setval('order_no', 4242);
CREATE TABLE z_big (
    id bigint PRIMARY KEY, payload text, raw bytea, amount numeric(14,2), at timestamptz, tags text[], doc jsonb
);
INSERT INTO z_big
SELECT i, md5(i::text) || md5((i * 7)::text) || md5((i * 13)::text), decode(md5((i * 3)::text), 'hex'),
       (i * 37 % 100000) / 100.0, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute',
       ARRAY['t' || (i % 10), 'u' || (i % 7)], jsonb_build_object('n', i, 's', md5((i * 11)::text))
FROM generate_series(1, {rows}) i;
CREATE INDEX z_big_amount ON z_big (amount);
CREATE VIEW z_summary AS SELECT count(*) AS n, sum(amount) AS total FROM z_big;
"#
        ),
    );
}

/// `tables: <names>` and then `<table>: <rows>:<md5 of every row>` for every user table of a
/// PostgreSQL database: the content half of a fingerprint.
pub fn pg_table_digests(url: &str, db: &str) -> Vec<String> {
    let tables = pg_tables(url, db);
    let mut parts = vec![format!("tables: {tables}")];
    for t in tables.split_whitespace() {
        parts.push(format!(
            "{t}: {}",
            psql(
                url,
                db,
                &format!(
                    "SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '-') FROM {t} x;"
                )
            )
        ));
    }
    parts
}

/// A digest of every table's content plus the schema objects of a PostgreSQL database.
pub fn pg_fingerprint(url: &str, db: &str) -> String {
    let mut parts = pg_table_digests(url, db);
    for (what, q) in [
        (
            "views",
            "SELECT string_agg(viewname || '=' || md5(definition), ',' ORDER BY viewname) FROM pg_views WHERE schemaname='public'",
        ),
        (
            "sequences",
            "SELECT string_agg(sequencename || '=' || coalesce(last_value::text, 'null') || '/' || increment_by, ',' ORDER BY sequencename) FROM pg_sequences WHERE schemaname='public'",
        ),
        (
            "indexes",
            "SELECT string_agg(indexname || '=' || md5(indexdef), ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname='public'",
        ),
    ] {
        parts.push(format!("{what}: {}", psql(url, db, &format!("{q};"))));
    }
    parts.join("\n")
}

/// The user tables of a PostgreSQL database.
pub fn pg_tables(url: &str, db: &str) -> String {
    psql(
        url,
        db,
        "SELECT coalesce(string_agg(tablename, ' ' ORDER BY tablename), '') FROM pg_tables WHERE schemaname = 'public';",
    )
}

/// Creates the empty database `db` on the PostgreSQL server.
pub fn pg_create_db(url: &str, db: &str) {
    psql(url, "postgres", &format!("CREATE DATABASE {db};"));
}

/// Whether database `db` exists on the PostgreSQL server.
pub fn pg_db_exists(url: &str, db: &str) -> bool {
    psql(url, "postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}';")) == "1"
}

/// Drops database `db` (forcing its sessions off).
pub fn pg_drop(url: &str, db: &str) {
    psql(url, "postgres", &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE);"));
}

// ---------------------------------------------------------------- MariaDB

/// Creates database `db` with a small table in several scripts, `rows` rows of a wide table
/// (`z_big`), a view, a trigger and a stored function.
pub fn mysql_dataset(url: &str, db: &str, rows: u32) {
    mysql_create_db(url, db);
    mysql(
        url,
        Some(db),
        &format!(
            r#"
CREATE TABLE a_small (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, note TEXT, flag BOOLEAN) ENGINE=InnoDB;
INSERT INTO a_small SELECT seq, CONCAT('name ', seq), CONCAT('héllo wörld 🚀 日本語 '' \\ ', seq), seq % 2 = 0 FROM seq_1_to_500;
INSERT INTO a_small VALUES (0, '', NULL, NULL);
CREATE TABLE z_big (
    id BIGINT PRIMARY KEY, payload VARCHAR(255), raw VARBINARY(32), amount DECIMAL(14,2), at DATETIME(6), doc LONGTEXT
) ENGINE=InnoDB;
INSERT INTO z_big
SELECT seq, CONCAT(MD5(seq), MD5(seq * 7), MD5(seq * 13)), UNHEX(MD5(seq * 3)), (seq * 37 % 100000) / 100.0,
       TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq MINUTE, JSON_OBJECT('n', seq, 's', MD5(seq * 11))
FROM seq_1_to_{rows};
CREATE INDEX z_big_amount ON z_big (amount);
CREATE VIEW z_summary AS SELECT COUNT(*) AS n, SUM(amount) AS total FROM z_big;
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(64));
CREATE TRIGGER a_small_audit AFTER INSERT ON a_small FOR EACH ROW INSERT INTO audit (what) VALUES (CONCAT('insert ', NEW.id));
CREATE FUNCTION add_up(a INT, b INT) RETURNS INT DETERMINISTIC RETURN a + b;
"#
        ),
    );
}

/// A digest of every table's content plus views, triggers and routines of a MariaDB database.
pub fn mysql_fingerprint(url: &str, db: &str) -> String {
    let tables = mysql(
        url,
        None,
        &format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '{db}' AND table_type = 'BASE TABLE' ORDER BY table_name;"
        ),
    );
    let mut parts = vec![format!("tables: {}", tables.split_whitespace().collect::<Vec<_>>().join(" "))];
    for t in tables.split_whitespace() {
        let count = mysql(url, Some(db), &format!("SELECT COUNT(*) FROM `{t}`;"));
        let rows = mysql(url, Some(db), &format!("SELECT * FROM `{t}` ORDER BY 1;"));
        parts.push(format!("{t}: {count} rows, {}", digest(&rows)));
    }
    for (what, q) in [
        (
            "views",
            format!(
                "SELECT table_name, MD5(REPLACE(view_definition, '`{db}`.', '')) FROM information_schema.views WHERE table_schema = '{db}' ORDER BY 1;"
            ),
        ),
        (
            "triggers",
            format!(
                "SELECT trigger_name, MD5(action_statement) FROM information_schema.triggers WHERE trigger_schema = '{db}' ORDER BY 1;"
            ),
        ),
        (
            "routines",
            format!(
                "SELECT routine_name, MD5(routine_definition) FROM information_schema.routines WHERE routine_schema = '{db}' ORDER BY 1;"
            ),
        ),
    ] {
        parts.push(format!("{what}: {}", mysql(url, None, &q).replace('\n', ", ")));
    }
    parts.join("\n")
}

/// Creates the empty database `db` (utf8mb4) on the MariaDB server.
pub fn mysql_create_db(url: &str, db: &str) {
    mysql(url, None, &format!("CREATE DATABASE `{db}` CHARACTER SET utf8mb4;"));
}

/// Drops database `db` of the MariaDB server.
pub fn mysql_drop(url: &str, db: &str) {
    mysql(url, None, &format!("DROP DATABASE IF EXISTS `{db}`;"));
}

// ---------------------------------------------------------------- Redis

/// Writes 7 keys of every common type under `prefix` (binary keys and values, TTLs) into the
/// URL's database, plus `big` string keys of 64 KiB of incompressible bytes each.
pub fn redis_dataset(url: &str, prefix: &str, big: u32) {
    let mut r = Redis::connect(url);
    let p = prefix.as_bytes();
    let key = |s: &[u8]| [p, s].concat();
    assert_eq!(r.cmd(&[b"SET", &key(b":plain"), "héllo 🚀".as_bytes()]), R::Simple("OK".into()));
    assert_eq!(r.cmd(&[b"SET", &key(b":bin\x00\xff"), b"\x00\x01\x02\xfe\xff"]), R::Simple("OK".into()));
    assert_eq!(r.cmd(&[b"SET", &key(b":ttl"), b"expires", b"EX", b"3600"]), R::Simple("OK".into()));
    r.cmd(&[b"HSET", &key(b":hash"), b"a", b"1", b"b", b"2", b"\xff", b"\x00"]);
    r.cmd(&[b"RPUSH", &key(b":list"), b"x", b"y", b"x", b""]);
    r.cmd(&[b"SADD", &key(b":set"), b"m1", b"m2", b"m3"]);
    r.cmd(&[b"ZADD", &key(b":zset"), b"1.5", b"one", b"-2", b"two", b"1e10", b"three"]);
    r.cmd(&[b"EXPIRE", &key(b":hash"), b"7200"]);
    for i in 0..big {
        let value = random_bytes(65536, u64::from(i) + 1);
        assert_eq!(r.cmd(&[b"SET", &key(format!(":big:{i}").as_bytes()), &value]), R::Simple("OK".into()));
    }
}

/// Deletes every key under `prefix` in the URL's database.
pub fn redis_clear(url: &str, prefix: &str) {
    let mut r = Redis::connect(url);
    r.clear(format!("{prefix}*").as_bytes());
}

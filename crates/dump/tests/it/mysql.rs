//! MariaDB dump/restore against the real server started by scripts/services.sh.

use lifeboat_dump::{
    DumpError, MysqlConn, MysqlOptions, MysqlSource, Position, RestoreOptions, Restorer, Source, SourceOptions,
};
use lifeboat_testkit::datasets::{mysql_create_db, mysql_drop};
use lifeboat_testkit::failing::FailingWriter;
use lifeboat_testkit::process::{alive, wait_gone};
use lifeboat_testkit::sql::{mysql, mysql_spawn};
use lifeboat_testkit::{mysql_url as my_url, parse, unique, with_path, with_user};
use tokio::io::AsyncReadExt;

use crate::common::{
    assert_connection_errors_are_clear, assert_dump_consistent_under_writer, assert_private_credentials_file,
    finish_dump_unrecorded, servers_shared, start_dump_unseen,
};

/// A new database (named `<prefix>_<unique>`) set up by `sql`.
fn new_database(prefix: &str, sql: &str) -> String {
    let db = unique(prefix);
    mysql_create_db(&my_url(), &db);
    mysql(&my_url(), Some(&db), sql);
    db
}

const FIDELITY_SCHEMA: &str = r#"
CREATE TABLE everything (
  id INT AUTO_INCREMENT PRIMARY KEY,
  ti TINYINT, si SMALLINT, mi MEDIUMINT, bi BIGINT, ubi BIGINT UNSIGNED,
  dec_col DECIMAL(30,10), f FLOAT, d DOUBLE, bits BIT(12), b BOOL,
  dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(2), yr YEAR,
  c CHAR(5), vc VARCHAR(200), tx TEXT, lt LONGTEXT, vb VARBINARY(50), bl BLOB,
  e ENUM('sad','ok','happy'), s SET('a','b','c'), j JSON, g POINT NULL
) ENGINE=InnoDB;
INSERT INTO everything (ti,si,mi,bi,ubi,dec_col,f,d,bits,b,dt,dtm,ts,tm,yr,c,vc,tx,lt,vb,bl,e,s,j,g) VALUES
 (-128, -32768, 8388607, -9223372036854775808, 18446744073709551615, 12345678901234567890.0123456789, 1.5, -1.5e300, b'101010101010', TRUE,
  '2024-02-29', '1999-12-31 23:59:59.999999', '2000-01-01 00:00:00.123', '-838:59:59.99', 2155,
  'abc', 'héllo wörld 🚀🦀 日本語 '' quote \\ backslash', 'tab\there\nnewline', REPEAT('long ', 1000), X'00FF10', X'DEADBEEF00',
  'happy', 'a,c', '{"a": [1, 2, {"b": null}], "emoji": "😀"}', ST_GeomFromText('POINT(1 2)')),
 (NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL),
 (0,0,0,0,0,0,0,0,b'0',FALSE,'1000-01-01','1000-01-01 00:00:00',NULL,'00:00',1901,'','','','',X'',X'','sad','','[]',NULL);
CREATE TABLE blobs (id INT PRIMARY KEY, data LONGBLOB) ENGINE=InnoDB;
CREATE TABLE seed (v VARBINARY(256));
INSERT INTO seed SELECT UNHEX(GROUP_CONCAT(LPAD(HEX(seq), 2, '0') ORDER BY seq SEPARATOR '')) FROM seq_0_to_255;
INSERT INTO blobs SELECT 1, REPEAT(v, 69632) FROM seed;
INSERT INTO blobs VALUES (2, NULL), (3, X'');
DROP TABLE seed;
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(100)) ENGINE=InnoDB;
CREATE TRIGGER everything_audit AFTER INSERT ON everything FOR EACH ROW INSERT INTO audit (what) VALUES (CONCAT('insert ', NEW.id));
CREATE VIEW happy_rows AS SELECT id, vc FROM everything WHERE e = 'happy';
CREATE FUNCTION add_up(a INT, b INT) RETURNS INT DETERMINISTIC RETURN a + b;
DELIMITER //
CREATE PROCEDURE bump(IN n INT) BEGIN INSERT INTO audit (what) VALUES (CONCAT('bump ', n)); END //
DELIMITER ;
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM audit WHERE id < 0;
CREATE SEQUENCE invoice_no START WITH 1000 INCREMENT BY 7;
SELECT NEXTVAL(invoice_no);
"#;

fn fingerprint(db: &str) -> String {
    let url = my_url();
    let q = |sql: &str| mysql(&url, Some(db), sql);
    let tables = q(&format!(
        "SELECT GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME SEPARATOR ' ') FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = '{db}' AND TABLE_TYPE = 'BASE TABLE';"
    ));
    let mut parts = vec![format!("tables: {tables}")];
    for t in tables.split_whitespace() {
        if t == "invoice_no" {
            continue;
        }
        // Content checksum of every row, every column (hex for binary-safe comparison).
        let cols = q(&format!(
            "SELECT GROUP_CONCAT(CONCAT('IFNULL(HEX(`', COLUMN_NAME, '`), ''<null>'')') ORDER BY ORDINAL_POSITION SEPARATOR ',') \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = '{t}';"
        ));
        parts.push(format!(
            "{t}: {}",
            q(&format!(
                "SELECT CONCAT(COUNT(*), ':', IFNULL(MD5(GROUP_CONCAT(MD5(CONCAT_WS('|', {cols})) ORDER BY id SEPARATOR ',')), '-')) FROM `{t}`;"
            ))
        ));
    }
    for (what, sql) in [
        (
            "views",
            format!(
                "SELECT GROUP_CONCAT(TABLE_NAME, '=', MD5(REPLACE(VIEW_DEFINITION, '`{db}`.', '')) ORDER BY TABLE_NAME) FROM information_schema.VIEWS WHERE TABLE_SCHEMA='{db}'"
            ),
        ),
        (
            "routines",
            format!(
                "SELECT GROUP_CONCAT(ROUTINE_NAME, ':', ROUTINE_TYPE, '=', MD5(ROUTINE_DEFINITION) ORDER BY ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA='{db}'"
            ),
        ),
        (
            "triggers",
            format!(
                "SELECT GROUP_CONCAT(TRIGGER_NAME, '=', MD5(ACTION_STATEMENT) ORDER BY TRIGGER_NAME) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA='{db}'"
            ),
        ),
        (
            "events",
            format!(
                "SELECT GROUP_CONCAT(EVENT_NAME, '=', MD5(EVENT_DEFINITION), STATUS ORDER BY EVENT_NAME) FROM information_schema.EVENTS WHERE EVENT_SCHEMA='{db}'"
            ),
        ),
        ("sequence", "SELECT NEXT_NOT_CACHED_VALUE FROM invoice_no".to_string()),
    ] {
        parts.push(format!("{what}: {}", q(&format!("{sql};"))));
    }
    parts.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_keeps_every_type_and_object() {
    let _servers = servers_shared().await;
    let url = my_url();
    let src = unique("lbsrc");
    let dst = unique("lbdst");
    mysql_create_db(&my_url(), &src);
    mysql(&url, Some(&src), FIDELITY_SCHEMA);
    let before = fingerprint(&src);
    assert!(before.contains("blobs: 3:") && before.contains("nightly="), "{before}");

    let source = Source::from_url(&with_path(&url, &src), &SourceOptions::default()).unwrap();
    let mut dumps = source.dump().await.unwrap();
    assert_eq!(dumps.names(), [format!("db/{src}.sql")]);
    let (bytes, meta) = dumps.next().await.unwrap().unwrap().into_vec().await.unwrap();
    assert!(bytes.len() > 34 * 1024 * 1024, "hex blob: {} bytes", bytes.len());
    assert_eq!(meta.databases, vec![src.clone()]);
    assert!(meta.tool.as_ref().unwrap().name == "mariadb-dump");
    match &meta.position {
        Some(Position::MysqlBinlog { file, position, gtid }) => {
            assert!(file.starts_with("mariadb-bin."), "{file}");
            assert!(*position > 0);
            assert!(gtid.as_deref().is_some_and(|g| g.contains('-')), "{gtid:?}");
        }
        other => panic!("no binlog position: {other:?} notes {:?}", meta.notes),
    }
    assert!(!serde_json::to_string(&meta).unwrap().contains(&parse(&url).password));

    let target = with_path(&url, &dst);
    let e = Restorer::from_url(&target, &RestoreOptions::default())
        .unwrap()
        .restore(&format!("db/{src}.sql"), &mut &bytes[..])
        .await
        .unwrap_err();
    assert!(matches!(e, DumpError::DatabaseMissing { .. }), "{e}");
    let restorer = Restorer::from_url(&target, &RestoreOptions { create: true, ..Default::default() }).unwrap();
    let report = restorer.restore(&format!("db/{src}.sql"), &mut &bytes[..]).await.unwrap();
    assert_eq!(report.database.as_deref(), Some(dst.as_str()));
    assert_eq!(before, fingerprint(&dst));
    // The trigger works in the copy.
    mysql(&url, Some(&dst), "INSERT INTO everything (vc) VALUES ('after');");
    assert_eq!(mysql(&url, Some(&dst), "SELECT what FROM audit ORDER BY id DESC LIMIT 1;"), "insert 4");
    mysql_drop(&my_url(), &src);
    mysql_drop(&my_url(), &dst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_selection_and_schema_only() {
    let _servers = servers_shared().await;
    let url = my_url();
    let a = unique("lbmall_a");
    let b = unique("lbmall_b");
    mysql_create_db(&my_url(), &a);
    mysql_create_db(&my_url(), &b);
    mysql(
        &url,
        Some(&a),
        "CREATE TABLE t1 (x INT PRIMARY KEY); INSERT INTO t1 VALUES (1); CREATE TABLE t2 (y INT); INSERT INTO t2 VALUES (2); CREATE TABLE t3 (z INT);",
    );
    mysql(&url, Some(&b), "CREATE TABLE u (s VARCHAR(10)); INSERT INTO u VALUES ('b');");

    // Table selection and exclusion.
    let conn = MysqlConn::parse(&with_path(&url, &a)).unwrap();
    let one = MysqlSource::new(conn.clone(), MysqlOptions { tables: vec!["t1".into()], ..Default::default() }).unwrap();
    let (_, bytes, meta) = one.dump().await.unwrap().collect_all().await.unwrap().remove(0);
    assert_eq!(meta.tables, vec!["t1"]);
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("CREATE TABLE `t1`") && !text.contains("CREATE TABLE `t2`"));
    let ex = MysqlSource::new(conn.clone(), MysqlOptions { exclude_tables: vec!["t3".into()], ..Default::default() })
        .unwrap();
    let (_, bytes, _) = ex.dump().await.unwrap().collect_all().await.unwrap().remove(0);
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("CREATE TABLE `t2`") && !text.contains("CREATE TABLE `t3`"));
    let schema = MysqlSource::new(conn.clone(), MysqlOptions { schema_only: true, ..Default::default() }).unwrap();
    let (_, bytes, _) = schema.dump().await.unwrap().collect_all().await.unwrap().remove(0);
    assert!(!String::from_utf8_lossy(&bytes).contains("INSERT INTO"));
    let missing = MysqlSource::new(conn, MysqlOptions { tables: vec!["nope".into()], ..Default::default() }).unwrap();
    let e = missing.dump().await.unwrap().collect_all().await.unwrap_err();
    assert!(matches!(e, DumpError::ToolFailed { .. }) && e.to_string().contains("nope"), "{e}");

    mysql_drop(&my_url(), &a);
    mysql_drop(&my_url(), &b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_is_consistent_under_a_concurrent_writer() {
    let _servers = servers_shared().await;
    let url = my_url();
    let src = new_database(
        "lbmcons",
        "CREATE TABLE accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB;
        INSERT INTO accounts SELECT seq, 1000 FROM seq_1_to_200;
        CREATE TABLE filler ENGINE=InnoDB AS SELECT seq AS i, REPEAT(MD5(seq), 20) AS pad FROM seq_1_to_60000;
        CREATE TABLE ticks (n BIGINT) ENGINE=InnoDB; INSERT INTO ticks VALUES (0);",
    );
    let writer = mysql_spawn(
        &url,
        &src,
        "DELIMITER //
        CREATE PROCEDURE mover() BEGIN
          DECLARE a INT; DECLARE b INT; DECLARE amt INT; DECLARE t0 DATETIME DEFAULT NOW();
          WHILE NOW() < t0 + INTERVAL 60 SECOND DO
            SET a = 1 + FLOOR(RAND() * 200), b = 1 + FLOOR(RAND() * 200), amt = FLOOR(RAND() * 100);
            START TRANSACTION;
            UPDATE accounts SET balance = balance - amt WHERE id = a;
            UPDATE accounts SET balance = balance + amt WHERE id = b;
            UPDATE ticks SET n = n + 1;
            COMMIT;
          END WHILE;
        END //
        DELIMITER ;
        CALL mover();",
    );
    let dst = unique("lbmcons_dst");
    let query = |db: &str, sql: &str| mysql(&url, Some(db), sql);
    assert_dump_consistent_under_writer(
        &url,
        &src,
        &dst,
        "db/x.sql",
        writer,
        query,
        "SELECT SUM(balance) FROM accounts;",
    )
    .await;
    mysql_drop(&my_url(), &src);
    mysql_drop(&my_url(), &dst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_database_and_address_give_clear_errors() {
    let _servers = servers_shared().await;
    let url = my_url();
    assert_connection_errors_are_clear(&url, "mysql", "x", "db/x.sql").await;

    // Garbage into the client is one clear error from the client.
    let dst = unique("lbmbad");
    let e = Restorer::from_url(&with_path(&url, &dst), &RestoreOptions { create: true, ..Default::default() })
        .unwrap()
        .restore("db/x.sql", &mut &b"CREATE TABLE t (x INT);\nTHIS IS NOT SQL;\n"[..])
        .await
        .unwrap_err();
    assert!(matches!(e, DumpError::ToolFailed { .. }) && e.to_string().contains("syntax"), "{e}");
    mysql_drop(&my_url(), &dst);
}

async fn big_database() -> String {
    new_database(
        "lbmbig",
        "CREATE TABLE big ENGINE=InnoDB AS SELECT seq AS i, REPEAT(MD5(seq), 10) AS pad FROM seq_1_to_250000;",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connection_mid_dump_fails_and_dropping_kills_the_tool() {
    let _servers = servers_shared().await;
    let url = my_url();
    let src = big_database().await;
    let source = Source::from_url(&with_path(&url, &src), &SourceOptions::default()).unwrap();

    let mut dumps = source.dump().await.unwrap();
    let mut stream = dumps.next().await.unwrap().unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    stream.reader.read_exact(&mut buf).await.unwrap();
    let ids = mysql(
        &url,
        None,
        &format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{src}' AND INFO LIKE 'SELECT /*!40001 SQL_NO_CACHE */%';"
        ),
    );
    assert!(!ids.is_empty(), "the dump's connection was not found");
    for id in ids.lines() {
        mysql(&url, None, &format!("KILL {id};"));
    }
    let pid = stream.pid.unwrap();
    let e = stream.copy_to(&mut tokio::io::sink()).await.unwrap_err();
    assert!(matches!(e, DumpError::ToolFailed { ref tool, .. } if tool == "mariadb-dump"), "{e}");
    assert!(wait_gone(pid, 5));

    let mut dumps = source.dump().await.unwrap();
    let mut stream = dumps.next().await.unwrap().unwrap();
    stream.reader.read_exact(&mut buf).await.unwrap();
    let pid = stream.pid.unwrap();
    assert!(alive(pid));
    drop(stream);
    assert!(wait_gone(pid, 5), "mariadb-dump left behind");

    let mut dumps = source.dump().await.unwrap();
    let stream = dumps.next().await.unwrap().unwrap();
    let pid = stream.pid.unwrap();
    let e = stream.copy_to(&mut FailingWriter { written: 0, limit: 1 << 20 }).await.unwrap_err();
    assert!(e.to_string().contains("injected"), "{e}");
    assert!(wait_gone(pid, 5));
    mysql_drop(&my_url(), &src);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_is_never_on_a_command_line_or_in_the_environment() {
    let _servers = servers_shared().await;
    let url = my_url();
    let user = unique("lbpw");
    let password = format!("p@ss:w/o\\rd'x\"#{}", std::process::id());
    let sql_pw = password.replace('\\', "\\\\").replace('\'', "\\'");
    mysql(&url, None, &format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{sql_pw}'; GRANT ALL ON *.* TO '{user}'@'%';"));
    let src = big_database().await;
    let user_url = with_user(&with_path(&url, &src), &user, &password);

    let (dumps, stream, pid) = start_dump_unseen(&user_url, &password).await;
    let cmdline = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap()).replace('\0', " ");
    let optfile = cmdline
        .split_whitespace()
        .find_map(|a| a.strip_prefix("--defaults-extra-file="))
        .expect("option file on the command line")
        .to_string();
    assert_private_credentials_file(&optfile);
    finish_dump_unrecorded(dumps, stream, &password, &optfile, "option file").await;
    mysql(&url, None, &format!("DROP USER '{user}'@'%';"));
    mysql_drop(&my_url(), &src);
}

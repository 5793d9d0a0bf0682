//! MariaDB: tricky values round-trip exactly; mapped imports; conflicts.

use lifeboat_dump::client::SqlClient;
use lifeboat_export::{ExportError, IdMap, ImportOptions, OnConflict, TableFormat, import_export};
use lifeboat_testkit::cleanup::Cleanup;
use lifeboat_testkit::datasets::mysql_create_db;
use lifeboat_testkit::env::mysql_url;
use lifeboat_testkit::names::unique;
use lifeboat_testkit::sql::mysql;

use crate::common::{db_url, export_to, rows};

const SCHEMA: &str = r#"
CREATE TABLE biz (bk_biz_id INT PRIMARY KEY, name VARCHAR(40) NOT NULL) ENGINE=InnoDB;
CREATE TABLE tricky (
    id BIGINT PRIMARY KEY, bk_biz_id INT, n DECIMAL(45,20), big BIGINT UNSIGNED, f DOUBLE, b VARBINARY(600), bl LONGBLOB,
    ts TIMESTAMP(6) NULL, t DATETIME, j JSON, u TEXT CHARACTER SET utf8mb4, flag TINYINT(1), d DATE, nul VARCHAR(5)
) ENGINE=InnoDB;
"#;

const DATA: &str = r#"
INSERT INTO biz VALUES (2, 'two'), (3, 'three');
SET time_zone = '+02:00';
INSERT INTO tricky VALUES
 (1, 2, 12345678901234567890.12345678901234567891, 18446744073709551615, 0.1, X'00ff10', REPEAT(X'ab', 300),
  '2024-05-01 12:34:56.789012', '2024-05-01 12:34:56', '{"b": 1,  "a": [1, 2.50]}',
  'héllo 🚀 日本語 \' " \\ tab\there\nnewline', 1, '2024-02-29', NULL),
 (2, 2, -0.00000000000000000001, 0, 1e300, X'', X'', '1999-12-31 23:59:59', '1999-12-31 23:59:59', '"null"', '', 0, NULL, NULL),
 (3, 3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"#;

const FINGERPRINT: &str = "SET time_zone = '+00:00'; SELECT (GROUP_CONCAT(CONCAT_WS('|', id, IFNULL(bk_biz_id, 'N'), IFNULL(n, 'N'), IFNULL(big, 'N'), IFNULL(f, 'N'), IFNULL(HEX(b), 'N'), IFNULL(HEX(bl), 'N'), IFNULL(ts, 'N'), IFNULL(t, 'N'), IFNULL(JSON_COMPACT(j), 'N'), IFNULL(HEX(u), 'N'), IFNULL(flag, 'N'), IFNULL(d, 'N'), IFNULL(nul, 'N')) ORDER BY id SEPARATOR '#')) FROM tricky;";

fn fresh(label: &str) -> (String, String, Cleanup) {
    let server = mysql_url();
    let src = unique(&format!("lbx_{label}_src"));
    let dst = unique(&format!("lbx_{label}_dst"));
    mysql_create_db(&server, &src);
    mysql_create_db(&server, &dst);
    mysql(&server, Some(&src), &format!("{SCHEMA}{DATA}"));
    mysql(&server, Some(&dst), SCHEMA);
    let cleanup = Cleanup::my(&server, &[&src, &dst]);
    (src, dst, cleanup)
}

#[tokio::test(flavor = "multi_thread")]
async fn tricky_values_round_trip_exactly() {
    let server = mysql_url();
    let (src, dst, _cleanup) = fresh("rt");
    for format in [TableFormat::Jsonl, TableFormat::Json] {
        let dir = tempfile::tempdir().unwrap();
        let m = export_to(&db_url(&server, &src), &["biz", "tricky"], None, format, dir.path()).await;
        assert_eq!(m.tables.iter().map(|t| (t.name.as_str(), t.rows)).collect::<Vec<_>>(), [("biz", 2), ("tricky", 3)]);
        let r = rows(dir.path(), &m.tables[1].file);
        assert_eq!(r[0]["n"], "12345678901234567890.12345678901234567891");
        assert_eq!(r[0]["big"], "18446744073709551615");
        assert_eq!(r[0]["f"], serde_json::json!(0.1));
        assert_eq!(r[1]["f"], serde_json::json!(1e300));
        assert_eq!(r[0]["b"], "AP8Q");
        assert_eq!(r[0]["bl"].as_str().unwrap().len(), 400, "300 bytes of base64 without line breaks");
        assert_eq!(r[1]["b"], "");
        assert_eq!(r[0]["ts"], "2024-05-01T10:34:56.789012+00:00");
        assert_eq!(r[0]["t"], "2024-05-01T12:34:56");
        assert_eq!(r[0]["j"], serde_json::json!({"b": 1, "a": [1, 2.5]}));
        assert_eq!(r[0]["u"], "héllo 🚀 日本語 ' \" \\ tab\there\nnewline");
        assert!(r[0]["nul"].is_null() && r[2]["ts"].is_null() && r[2]["j"].is_null());
        let text = std::fs::read_to_string(dir.path().join(&m.tables[1].file)).unwrap();
        assert!(text.contains(r#""j":{"b":1,"a":[1,2.50]}"#), "{text}");

        let target = SqlClient::from_url(&db_url(&server, &dst), None).await.unwrap();
        let report = import_export(&target, dir.path(), &ImportOptions::default()).await.unwrap();
        assert_eq!(
            report.tables.iter().map(|t| (t.table.as_str(), t.inserted)).collect::<Vec<_>>(),
            [("biz", 2), ("tricky", 3)]
        );
        assert_eq!(mysql(&server, Some(&dst), FINGERPRINT), mysql(&server, Some(&src), FINGERPRINT));
        mysql(&server, Some(&dst), "DELETE FROM tricky; DELETE FROM biz;");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mapped_import_and_conflicts() {
    let server = mysql_url();
    let (src, dst, _cleanup) = fresh("map");
    let dir = tempfile::tempdir().unwrap();
    let m = export_to(&db_url(&server, &src), &["biz", "tricky"], Some("bk_biz_id = 2"), TableFormat::Json, dir.path())
        .await;
    assert_eq!(m.tables.iter().map(|t| t.rows).collect::<Vec<_>>(), [1, 2]);
    let target = SqlClient::from_url(&db_url(&server, &dst), None).await.unwrap();
    let opts = ImportOptions { maps: IdMap::parse_list("bk_biz_id=2:7").unwrap(), ..Default::default() };
    let report = import_export(&target, dir.path(), &opts).await.unwrap();
    assert_eq!(report.tables.iter().map(|t| t.mapped).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(mysql(&server, Some(&dst), "SELECT bk_biz_id, name FROM biz;"), "7\ttwo");
    assert_eq!(
        mysql(&server, Some(&dst), "SELECT GROUP_CONCAT(id, ':', bk_biz_id ORDER BY id) FROM tricky;"),
        "1:7,2:7"
    );

    mysql(&server, Some(&dst), "UPDATE biz SET name = 'changed';");
    let err = import_export(&target, dir.path(), &opts).await.unwrap_err();
    match &err {
        ExportError::Conflict { table, key, .. } => {
            assert_eq!(table, "biz");
            assert!(key.contains("'7'"), "{key}");
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert_eq!(mysql(&server, Some(&dst), "SELECT COUNT(*) FROM tricky;"), "2");

    let skip = ImportOptions { on_conflict: OnConflict::Skip, ..opts.clone() };
    let report = import_export(&target, dir.path(), &skip).await.unwrap();
    assert_eq!(
        report.tables.iter().map(|t| (t.inserted, t.skipped, t.updated)).collect::<Vec<_>>(),
        [(0, 1, 0), (0, 2, 0)]
    );
    assert_eq!(mysql(&server, Some(&dst), "SELECT name FROM biz;"), "changed");

    let update = ImportOptions { on_conflict: OnConflict::Update, ..opts };
    let report = import_export(&target, dir.path(), &update).await.unwrap();
    assert_eq!(
        report.tables.iter().map(|t| (t.inserted, t.skipped, t.updated)).collect::<Vec<_>>(),
        [(0, 0, 1), (0, 0, 2)]
    );
    assert_eq!(mysql(&server, Some(&dst), "SELECT name FROM biz;"), "two");
}

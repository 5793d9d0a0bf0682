//! PostgreSQL: tricky values round-trip exactly; mapped imports; conflicts.

use lifeboat_dump::client::SqlClient;
use lifeboat_export::{ExportError, IdMap, ImportOptions, OnConflict, TableFormat, import_export};
use lifeboat_testkit::cleanup::Cleanup;
use lifeboat_testkit::datasets::pg_create_db;
use lifeboat_testkit::env::pg_url;
use lifeboat_testkit::names::unique;
use lifeboat_testkit::sql::psql;

use crate::common::{db_url, export_to, rows};

const SCHEMA: &str = r#"
CREATE TABLE biz (bk_biz_id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE tricky (
    id bigint PRIMARY KEY, bk_biz_id int REFERENCES biz, n numeric(45,20), big bigint, f float8, b bytea,
    ts timestamptz, t timestamp, j json, jb jsonb, u text, flag boolean, d date, arr int[], nul text
);
"#;

const DATA: &str = r#"
INSERT INTO biz VALUES (2, 'two'), (3, 'three');
INSERT INTO tricky VALUES
 (1, 2, 12345678901234567890.12345678901234567891, 9223372036854775807, 0.1, '\x00ff10'::bytea,
  '2024-05-01 12:34:56.789012+02', '2024-05-01 12:34:56.5', '{"b": 1,  "a": [1, 2.50], "b": 3}', '{"x": "y"}',
  E'héllo 🚀 日本語 '' " \\ tab\there\nnewline', true, '2024-02-29', '{1,2,3}', NULL),
 (2, 2, -0.00000000000000000001, -9223372036854775808, 1e300, decode(repeat('ab', 200), 'hex'),
  '1999-12-31 23:59:59+00', '1999-12-31 23:59:59', '"null"', '[]', '', false, NULL, '{}', NULL),
 (3, 3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"#;

/// Every value of `tricky` as text (JSON columns as jsonb: whitespace is not content).
const FINGERPRINT: &str = "SELECT (string_agg(row(id, bk_biz_id, n, big, f, b, ts, t, j::jsonb, jb, u, flag, d, arr, nul)::text, '|' ORDER BY id)) FROM tricky;";

fn fresh(label: &str) -> (String, String, Cleanup) {
    let server = pg_url();
    let src = unique(&format!("lbx_{label}_src"));
    let dst = unique(&format!("lbx_{label}_dst"));
    pg_create_db(&server, &src);
    pg_create_db(&server, &dst);
    psql(&server, &src, &format!("{SCHEMA}{DATA}"));
    psql(&server, &dst, SCHEMA);
    let cleanup = Cleanup::pg(&server, &[&src, &dst]);
    (src, dst, cleanup)
}

#[tokio::test(flavor = "multi_thread")]
async fn tricky_values_round_trip_exactly() {
    let server = pg_url();
    let (src, dst, _cleanup) = fresh("rt");
    for format in [TableFormat::Jsonl, TableFormat::Json] {
        let dir = tempfile::tempdir().unwrap();
        let m = export_to(&db_url(&server, &src), &["biz", "public.tricky"], None, format, dir.path()).await;
        assert_eq!(
            m.tables.iter().map(|t| (t.name.as_str(), t.rows)).collect::<Vec<_>>(),
            [("public.biz", 2), ("public.tricky", 3)]
        );
        assert_eq!(m.tables[1].primary_key, ["id"]);
        let r = rows(dir.path(), &m.tables[1].file);
        assert_eq!(r[0]["n"], "12345678901234567890.12345678901234567891");
        assert_eq!(r[0]["big"], "9223372036854775807");
        assert_eq!(r[1]["big"], "-9223372036854775808");
        assert_eq!(r[0]["f"], serde_json::json!(0.1));
        assert_eq!(r[0]["b"], "AP8Q");
        assert_eq!(r[0]["ts"], "2024-05-01T10:34:56.789012+00:00");
        assert_eq!(r[0]["t"], "2024-05-01T12:34:56.5");
        assert_eq!(r[0]["u"], "héllo 🚀 日本語 ' \" \\ tab\there\nnewline");
        assert_eq!(r[0]["arr"], "{1,2,3}");
        assert!(r[0]["nul"].is_null() && r[2]["ts"].is_null());
        assert_eq!(r[1]["b"].as_str().unwrap().len(), 268, "400 bytes of base64 without line breaks");
        // The json column keeps its keys' order and duplicates, numbers as written.
        let text = std::fs::read_to_string(dir.path().join(&m.tables[1].file)).unwrap();
        assert!(text.contains(r#""j":{"b":1,"a":[1,2.50],"b":3}"#), "{text}");
        let digest = blake3::hash(text.as_bytes()).to_hex().to_string();
        assert_eq!(m.tables[1].blake3, digest);

        let target = SqlClient::from_url(&db_url(&server, &dst), None).await.unwrap();
        let report = import_export(&target, dir.path(), &ImportOptions::default()).await.unwrap();
        assert_eq!(
            report.tables.iter().map(|t| (t.table.as_str(), t.inserted)).collect::<Vec<_>>(),
            [("public.biz", 2), ("public.tricky", 3)]
        );
        assert_eq!(psql(&server, &dst, FINGERPRINT), psql(&server, &src, FINGERPRINT));
        assert_eq!(
            psql(&server, &dst, "SELECT j::text FROM tricky WHERE id = 1;").trim(),
            r#"{"b":1,"a":[1,2.50],"b":3}"#
        );
        psql(&server, &dst, "DELETE FROM tricky; DELETE FROM biz;");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mapped_import_and_conflicts() {
    let server = pg_url();
    let (src, dst, _cleanup) = fresh("map");
    let dir = tempfile::tempdir().unwrap();
    let m =
        export_to(&db_url(&server, &src), &["biz", "tricky"], Some("bk_biz_id = 2"), TableFormat::Jsonl, dir.path())
            .await;
    assert_eq!(m.tables.iter().map(|t| t.rows).collect::<Vec<_>>(), [1, 2]);
    let target = SqlClient::from_url(&db_url(&server, &dst), None).await.unwrap();
    let opts = ImportOptions { maps: IdMap::parse_list("bk_biz_id=2:7").unwrap(), ..Default::default() };
    let report = import_export(&target, dir.path(), &opts).await.unwrap();
    assert_eq!(report.tables[0].mapped, 1);
    assert_eq!(report.tables[1].mapped, 2);
    assert_eq!(psql(&server, &dst, "SELECT bk_biz_id, name FROM biz;").trim(), "7|two");
    assert_eq!(
        psql(&server, &dst, "SELECT string_agg(id || ':' || bk_biz_id, ',' ORDER BY id) FROM tricky;").trim(),
        "1:7,2:7"
    );

    // Again: the keys exist now. An error names table and key, and nothing changed.
    psql(&server, &dst, "UPDATE biz SET name = 'changed';");
    let err = import_export(&target, dir.path(), &opts).await.unwrap_err();
    match &err {
        ExportError::Conflict { table, key, .. } => {
            assert_eq!(table, "public.biz");
            assert!(key.contains("(bk_biz_id)=(7)"), "{key}");
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert!(err.to_string().contains("public.biz"), "{err}");
    assert_eq!(psql(&server, &dst, "SELECT count(*) FROM tricky;").trim(), "2");

    let skip = ImportOptions { on_conflict: OnConflict::Skip, ..opts.clone() };
    let report = import_export(&target, dir.path(), &skip).await.unwrap();
    assert_eq!(
        report.tables.iter().map(|t| (t.inserted, t.skipped, t.updated)).collect::<Vec<_>>(),
        [(0, 1, 0), (0, 2, 0)]
    );
    assert_eq!(psql(&server, &dst, "SELECT name FROM biz;").trim(), "changed");

    let update = ImportOptions { on_conflict: OnConflict::Update, ..opts };
    let report = import_export(&target, dir.path(), &update).await.unwrap();
    assert_eq!(
        report.tables.iter().map(|t| (t.inserted, t.skipped, t.updated)).collect::<Vec<_>>(),
        [(0, 0, 1), (0, 0, 2)]
    );
    assert_eq!(psql(&server, &dst, "SELECT name FROM biz;").trim(), "two");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_table_is_named() {
    let server = pg_url();
    let (src, _dst, _cleanup) = fresh("missing");
    let client = SqlClient::from_url(&db_url(&server, &src), None).await.unwrap();
    let sel = lifeboat_export::TableSelection { tables: vec!["nope".into()], ..Default::default() };
    let dir = tempfile::tempdir().unwrap();
    let err = lifeboat_export::export_tables(&client, &sel, dir.path()).await.unwrap_err();
    assert!(matches!(err, ExportError::NoSuchTable { .. }) && err.to_string().contains("nope"), "{err}");
}

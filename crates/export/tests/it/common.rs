//! Helpers shared by the modules.

use std::path::Path;

use lifeboat_dump::client::SqlClient;
use lifeboat_export::{ExportKind, ExportManifest, TableFormat, TableSelection, export_tables, write_manifest};

/// `server` (a URL with or without a database) with database `db`.
pub fn db_url(server: &str, db: &str) -> String {
    let (base, _) = server.rsplit_once('/').expect("a URL with a path");
    format!("{base}/{db}")
}

/// Exports `tables` of `url` into `dir` (manifest written) and returns the manifest.
pub async fn export_to(
    url: &str,
    tables: &[&str],
    filter: Option<&str>,
    format: TableFormat,
    dir: &Path,
) -> ExportManifest {
    let client = SqlClient::from_url(url, None).await.unwrap();
    let sel = TableSelection {
        tables: tables.iter().map(|t| t.to_string()).collect(),
        filter: filter.map(str::to_string),
        format,
    };
    let entries = export_tables(&client, &sel, dir).await.unwrap();
    let mut m = ExportManifest::new("test", ExportKind::Tables, client.target());
    m.tables = entries;
    m.filter = sel.filter.clone();
    m.dialect = Some(match client.dialect() {
        lifeboat_dump::client::SqlDialect::Postgres => "postgres".into(),
        lifeboat_dump::client::SqlDialect::Mysql => "mysql".into(),
    });
    m.database = client.database().map(str::to_string);
    write_manifest(dir, &m).unwrap();
    m
}

/// The rows of a table file as JSON values.
pub fn rows(dir: &Path, file: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    if file.ends_with(".jsonl") {
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

//! Imports: loads a table export into another database in one transaction, with id mappings
//! applied to named columns, and a choice for rows whose key already exists.
//!
//! The whole import is one SQL script sent to one client session (`BEGIN` ... `COMMIT`; the
//! client stops at the first error and the server rolls everything back). Each statement is
//! one line, so the line number in a server error names the table that failed.

use std::collections::HashMap;
use std::io::{BufRead, Write as _};
use std::path::Path;

use base64::Engine as _;
use lifeboat_dump::client::{SqlClient, SqlDialect};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::error::{ExportError, Result};
use crate::json::{quote, value_text};
use crate::manifest::{Encoding, ExportKind, ExportManifest, TableEntry, TableFormat};
use crate::tables::{my_ident, my_str, pg_ident};

/// Rows per INSERT statement.
const BATCH_ROWS: usize = 200;

/// What to do with a row whose key already exists in the target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnConflict {
    /// Fail the import, naming the table and key (the default).
    #[default]
    Error,
    /// Keep the existing row.
    Skip,
    /// Overwrite the existing row's other columns.
    Update,
}

impl std::str::FromStr for OnConflict {
    type Err = ExportError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "error" => Ok(OnConflict::Error),
            "skip" => Ok(OnConflict::Skip),
            "update" => Ok(OnConflict::Update),
            other => Err(ExportError::invalid("on-conflict", format!("`{other}` is not error, skip or update"))),
        }
    }
}

/// One id mapping: in `column` (of `table`, or of every table that has it), `from` becomes `to`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IdMap {
    /// Only this table, when given (`table.column=OLD:NEW`).
    pub table: Option<String>,
    /// The column.
    pub column: String,
    /// The old value (as text: a string's content or a number as written).
    pub from: String,
    /// The new value.
    pub to: String,
}

impl IdMap {
    /// Parses `column=OLD:NEW[,column=OLD:NEW...]` (a column may be `table.column`).
    pub fn parse_list(text: &str) -> Result<Vec<IdMap>> {
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || ExportError::invalid("--map", format!("`{part}` is not COLUMN=OLD:NEW"));
            let (col, pair) = part.split_once('=').ok_or_else(bad)?;
            let (from, to) = pair.split_once(':').ok_or_else(bad)?;
            if col.is_empty() {
                return Err(bad());
            }
            let (table, column) = match col.rsplit_once('.') {
                Some((t, c)) => (Some(t.to_string()), c.to_string()),
                None => (None, col.to_string()),
            };
            out.push(IdMap { table, column, from: from.to_string(), to: to.to_string() });
        }
        Ok(out)
    }

    fn applies(&self, table: &str, column: &str) -> bool {
        self.column == column
            && self.table.as_deref().is_none_or(|t| t == table || table.rsplit_once('.').is_some_and(|(_, n)| n == t))
    }
}

/// Import options.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Id mappings.
    pub maps: Vec<IdMap>,
    /// Existing keys.
    pub on_conflict: OnConflict,
    /// Only these tables of the export (all when empty).
    pub tables: Vec<String>,
}

/// What an import did to one table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableImport {
    /// The table (as in the target).
    pub table: String,
    /// Rows read from the export.
    pub rows: u64,
    /// Rows inserted.
    pub inserted: u64,
    /// Existing rows overwritten (`--on-conflict update`).
    pub updated: u64,
    /// Rows left out because their key existed (`--on-conflict skip`).
    pub skipped: u64,
    /// Values changed by id mappings.
    pub mapped: u64,
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// The server and database, without password.
    pub target: String,
    /// The export's id.
    pub export_id: String,
    /// Per table, in import order.
    pub tables: Vec<TableImport>,
}

type Row = HashMap<String, Box<RawValue>>;

fn read_rows(dir: &Path, t: &TableEntry) -> Result<Vec<Row>> {
    let path = dir.join(&t.file);
    let data = std::fs::read(&path).map_err(|e| ExportError::io("reading", &path, e))?;
    let digest = blake3::hash(&data).to_hex().to_string();
    if !t.blake3.is_empty() && digest != t.blake3 {
        return Err(ExportError::BadExport {
            path: path.clone(),
            reason: format!("table `{}`: the file's BLAKE3 is {digest}, the manifest says {}", t.name, t.blake3),
        });
    }
    let bad = |reason: String| ExportError::BadExport { path: path.clone(), reason };
    let rows: Vec<Row> = match t.format {
        TableFormat::Json => serde_json::from_slice(&data).map_err(|e| bad(e.to_string()))?,
        TableFormat::Jsonl => {
            let mut rows = Vec::new();
            for (i, line) in data.lines().enumerate() {
                let line = line.map_err(|e| bad(e.to_string()))?;
                if line.trim().is_empty() {
                    continue;
                }
                rows.push(serde_json::from_str(&line).map_err(|e| bad(format!("line {}: {e}", i + 1)))?);
            }
            rows
        }
    };
    if rows.len() as u64 != t.rows {
        return Err(bad(format!("table `{}` has {} rows, the manifest says {}", t.name, rows.len(), t.rows)));
    }
    Ok(rows)
}

fn pg_estr(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 3);
    o.push_str("E'");
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\'' => o.push_str("\\'"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            c => o.push(c),
        }
    }
    o.push('\'');
    o
}

fn literal(dialect: SqlDialect, enc: Encoding, raw: &RawValue, table: &str, column: &str) -> Result<String> {
    let bad = |reason: String| ExportError::invalid(format!("value of {table}.{column}"), reason);
    let Some(mut text) = value_text(raw).map_err(bad)? else { return Ok("NULL".into()) };
    let is_string = raw.get().starts_with('"');
    if enc == Encoding::Json {
        // The JSON itself, a string value with its quotes.
        text = raw.get().to_string();
    }
    Ok(match (dialect, enc) {
        (_, Encoding::Bytes) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map_err(|e| bad(format!("not base64: {e}")))?;
            match dialect {
                SqlDialect::Postgres => format!("'\\x{}'", hex::encode(bytes)),
                SqlDialect::Mysql => format!("X'{}'", hex::encode(bytes)),
            }
        }
        (SqlDialect::Postgres, _) => pg_estr(&text),
        (SqlDialect::Mysql, Encoding::Number) if !is_string => text,
        (SqlDialect::Mysql, Encoding::Bool) if !is_string => {
            if text == "true" {
                "1".into()
            } else {
                "0".into()
            }
        }
        (SqlDialect::Mysql, Encoding::Timestamptz) => my_str(&utc_naive(&text)),
        (SqlDialect::Mysql, Encoding::Timestamp) => my_str(&text.replacen('T', " ", 1)),
        (SqlDialect::Mysql, _) => my_str(&text),
    })
}

/// An RFC 3339 time as a UTC `YYYY-MM-DD HH:MM:SS.ffffff` (MySQL's TIMESTAMP input, with the
/// session in UTC); text that does not parse (a zero date) goes as it is, `T` made a space.
fn utc_naive(text: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(t) => t.to_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        Err(_) => text.trim_end_matches("+00:00").replacen('T', " ", 1),
    }
}

/// The target table of an export's table.
fn target_name(dialect: SqlDialect, m: &ExportManifest, t: &TableEntry) -> String {
    match dialect {
        SqlDialect::Postgres if t.name.contains('.') => t.name.clone(),
        SqlDialect::Postgres => format!("public.{}", t.name),
        SqlDialect::Mysql if m.dialect.as_deref() == Some("mysql") => t.name.clone(),
        SqlDialect::Mysql => t.name.rsplit_once('.').map_or(t.name.clone(), |(_, n)| n.to_string()),
    }
}

fn quoted_table(dialect: SqlDialect, name: &str) -> String {
    let parts: Vec<String> = match dialect {
        SqlDialect::Postgres => name.splitn(2, '.').map(pg_ident).collect(),
        SqlDialect::Mysql => name.splitn(2, '.').map(my_ident).collect(),
    };
    parts.join(".")
}

/// Imports the export in `dir` (as [`crate::archive::open_export`] unpacked it) into
/// `client`'s database, all tables in one transaction, in the manifest's order.
pub async fn import_export(client: &SqlClient, dir: &Path, opts: &ImportOptions) -> Result<ImportReport> {
    let mpath = dir.join(crate::manifest::MANIFEST_NAME);
    let text = std::fs::read(&mpath).map_err(|e| ExportError::io("reading", &mpath, e))?;
    let manifest =
        ExportManifest::parse(&text).map_err(|reason| ExportError::BadExport { path: mpath.clone(), reason })?;
    if manifest.kind != ExportKind::Tables {
        return Err(ExportError::BadExport { path: dir.to_path_buf(), reason: "it holds files, not tables".into() });
    }
    let dialect = client.dialect();
    let chosen: Vec<&TableEntry> =
        manifest.tables.iter().filter(|t| opts.tables.is_empty() || opts.tables.contains(&t.name)).collect();
    if let Some(missing) = opts.tables.iter().find(|n| !manifest.tables.iter().any(|t| &t.name == *n)) {
        return Err(ExportError::invalid("--table", format!("the export has no table `{missing}`")));
    }
    let script_file = tempfile::NamedTempFile::new().map_err(|e| ExportError::io("creating", "a temporary file", e))?;
    let mut w =
        std::io::BufWriter::new(script_file.reopen().map_err(|e| ExportError::io("opening", script_file.path(), e))?);
    let mut line: u64 = 0;
    let mut line_table: Vec<(u64, usize)> = Vec::new();
    let mut reports = Vec::new();
    let mut existing_counted = vec![false; chosen.len()];
    {
        let mut emit = |w: &mut std::io::BufWriter<std::fs::File>, s: &str, table: Option<usize>| -> Result<()> {
            line += 1;
            if let Some(t) = table {
                line_table.push((line, t));
            }
            w.write_all(s.as_bytes())
                .and_then(|_| w.write_all(b"\n"))
                .map_err(|e| ExportError::io("writing", script_file.path(), e))
        };
        match dialect {
            SqlDialect::Postgres => {
                emit(
                    &mut w,
                    "SET standard_conforming_strings = on; SET TimeZone = 'UTC'; SET DateStyle = 'ISO';",
                    None,
                )?;
                emit(&mut w, "BEGIN;", None)?;
            }
            SqlDialect::Mysql => {
                emit(&mut w, "SET time_zone = '+00:00'; SET NAMES utf8mb4;", None)?;
                emit(&mut w, "START TRANSACTION;", None)?;
            }
        }
        for (ti, t) in chosen.iter().enumerate() {
            let target = target_name(dialect, &manifest, t);
            let qt = quoted_table(dialect, &target);
            let mut rows = read_rows(dir, t)?;
            let mut mapped = 0u64;
            let maps: Vec<(&IdMap, &str)> = t
                .columns
                .iter()
                .flat_map(|c| {
                    opts.maps.iter().filter(|m| m.applies(&t.name, &c.name)).map(move |m| (m, c.name.as_str()))
                })
                .collect();
            for row in &mut rows {
                for (m, col) in &maps {
                    let Some(v) = row.get(*col) else { continue };
                    if value_text(v).ok().flatten().as_deref() == Some(m.from.as_str()) {
                        let new =
                            if v.get().starts_with('"') || serde_json::from_str::<serde_json::Number>(&m.to).is_err() {
                                quote(&m.to)
                            } else {
                                m.to.clone()
                            };
                        row.insert(col.to_string(), RawValue::from_string(new).expect("valid JSON"));
                        mapped += 1;
                    }
                }
            }
            let q = |c: &str| match dialect {
                SqlDialect::Postgres => pg_ident(c),
                SqlDialect::Mysql => my_ident(c),
            };
            let cols: Vec<String> = t.columns.iter().map(|c| q(&c.name)).collect();
            if opts.on_conflict == OnConflict::Update && t.primary_key.is_empty() {
                return Err(ExportError::invalid(
                    "--on-conflict update",
                    format!("table `{}` has no primary key in the export to match rows by", t.name),
                ));
            }
            let non_key: Vec<String> =
                t.columns.iter().filter(|c| !t.primary_key.contains(&c.name)).map(|c| q(&c.name)).collect();
            let pk: Vec<String> = t.primary_key.iter().map(|c| q(c)).collect();
            for batch in rows.chunks(BATCH_ROWS) {
                let mut values = Vec::with_capacity(batch.len());
                let mut keys = Vec::with_capacity(batch.len());
                for row in batch {
                    let mut vals = Vec::with_capacity(t.columns.len());
                    for c in &t.columns {
                        vals.push(match row.get(&c.name) {
                            Some(v) => literal(dialect, c.encoding, v, &t.name, &c.name)?,
                            None => "DEFAULT".into(),
                        });
                    }
                    if !pk.is_empty() {
                        let kv: Vec<String> = t
                            .primary_key
                            .iter()
                            .map(|k| {
                                let i = t.columns.iter().position(|c| &c.name == k).unwrap_or(0);
                                vals.get(i).cloned().unwrap_or_else(|| "NULL".into())
                            })
                            .collect();
                        keys.push(format!("({})", kv.join(", ")));
                    }
                    values.push(format!("({})", vals.join(", ")));
                }
                let insert = format!("INSERT INTO {qt} ({}) VALUES {}", cols.join(", "), values.join(", "));
                match dialect {
                    SqlDialect::Postgres => {
                        let conflict = match opts.on_conflict {
                            OnConflict::Error => String::new(),
                            OnConflict::Skip => " ON CONFLICT DO NOTHING".into(),
                            OnConflict::Update if non_key.is_empty() => " ON CONFLICT DO NOTHING".into(),
                            OnConflict::Update => format!(
                                " ON CONFLICT ({}) DO UPDATE SET {}",
                                pk.join(", "),
                                non_key.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect::<Vec<_>>().join(", ")
                            ),
                        };
                        emit(
                            &mut w,
                            &format!(
                                "WITH ins AS ({insert}{conflict} RETURNING (xmax = 0) AS fresh) SELECT {ti}, count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh) FROM ins;"
                            ),
                            Some(ti),
                        )?;
                    }
                    SqlDialect::Mysql => {
                        if opts.on_conflict != OnConflict::Error && !pk.is_empty() {
                            existing_counted[ti] = true;
                            emit(
                                &mut w,
                                &format!(
                                    "SELECT {ti}, COUNT(*) FROM {qt} WHERE ({}) IN ({});",
                                    pk.join(", "),
                                    keys.join(", ")
                                ),
                                Some(ti),
                            )?;
                        }
                        let conflict = match opts.on_conflict {
                            OnConflict::Error => String::new(),
                            OnConflict::Skip => format!(" ON DUPLICATE KEY UPDATE {} = {}", cols[0], cols[0]),
                            OnConflict::Update if non_key.is_empty() => {
                                format!(" ON DUPLICATE KEY UPDATE {} = {}", cols[0], cols[0])
                            }
                            OnConflict::Update => format!(
                                " ON DUPLICATE KEY UPDATE {}",
                                non_key.iter().map(|c| format!("{c} = VALUES({c})")).collect::<Vec<_>>().join(", ")
                            ),
                        };
                        emit(&mut w, &format!("{insert}{conflict};"), Some(ti))?;
                    }
                }
            }
            reports.push(TableImport {
                table: target,
                rows: rows.len() as u64,
                inserted: 0,
                updated: 0,
                skipped: 0,
                mapped,
            });
        }
        emit(&mut w, "COMMIT;", None)?;
    }
    w.flush().map_err(|e| ExportError::io("writing", script_file.path(), e))?;
    drop(w);
    let mut script = tokio::fs::File::open(script_file.path())
        .await
        .map_err(|e| ExportError::io("opening", script_file.path(), e))?;
    let mut counts: Vec<(u64, u64)> = vec![(0, 0); chosen.len()];
    let result = client
        .records("importing an export", &mut script, |rec| {
            let f: Vec<&str> = rec.split(['\x1f', '\t']).collect();
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
            let (Some(ti), Some(a)) = (num(0), num(1)) else { return Ok(()) };
            if let Some(c) = counts.get_mut(ti as usize) {
                c.0 += a;
                c.1 += num(2).unwrap_or(0);
            }
            Ok(())
        })
        .await;
    let target = client.target();
    if let Err(e) = result {
        let msg = e.to_string();
        let table = failing_line(dialect, &msg)
            .and_then(|l| line_table.iter().find(|(n, _)| *n == l).map(|(_, t)| reports[*t].table.clone()));
        let Some(table) = table else { return Err(ExportError::Database(e)) };
        if msg.contains("duplicate key value") || msg.contains("Duplicate entry") {
            return Err(ExportError::Conflict { table, key: conflict_key(&msg), target });
        }
        return Err(ExportError::Import { table, target, detail: msg });
    }
    for (i, r) in reports.iter_mut().enumerate() {
        let (a, b) = counts[i];
        match dialect {
            SqlDialect::Postgres => {
                r.inserted = a;
                r.updated = b;
                r.skipped = r.rows - a - b;
            }
            SqlDialect::Mysql if existing_counted[i] => {
                // `a` sums the keys that existed before each batch.
                r.inserted = r.rows.saturating_sub(a);
                if opts.on_conflict == OnConflict::Update {
                    r.updated = a;
                } else {
                    r.skipped = a;
                }
            }
            SqlDialect::Mysql => r.inserted = r.rows,
        }
    }
    Ok(ImportReport { target, export_id: manifest.id.clone(), tables: reports })
}

/// The script line a client error names (`psql:<stdin>:12: ERROR`, `ERROR 1062 (23000) at line 12`).
fn failing_line(dialect: SqlDialect, msg: &str) -> Option<u64> {
    let after = match dialect {
        SqlDialect::Postgres => msg.split("psql:<stdin>:").nth(1)?,
        SqlDialect::Mysql => msg.split(" at line ").nth(1)?,
    };
    after.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The key of a unique violation as the server names it.
fn conflict_key(msg: &str) -> String {
    if let Some(i) = msg.find("Key (") {
        return msg[i..].lines().next().unwrap_or("").trim().to_string();
    }
    if let Some(i) = msg.find("Duplicate entry") {
        return msg[i..].lines().next().unwrap_or("").trim().to_string();
    }
    "duplicate key".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_parse() {
        let m = IdMap::parse_list("bk_biz_id=2:5, t.id=x:y").unwrap();
        assert_eq!(m[0], IdMap { table: None, column: "bk_biz_id".into(), from: "2".into(), to: "5".into() });
        assert_eq!(m[1].table.as_deref(), Some("t"));
        assert!(IdMap::parse_list("nope").is_err());
        assert!(m[1].applies("public.t", "id") && !m[1].applies("public.u", "id"));
    }

    #[test]
    fn lines_and_keys_from_errors() {
        let pg = "psql:<stdin>:7: ERROR:  duplicate key value violates unique constraint \"t_pkey\"\nDETAIL:  Key (id)=(5) already exists.";
        assert_eq!(failing_line(SqlDialect::Postgres, pg), Some(7));
        assert_eq!(conflict_key(pg), "Key (id)=(5) already exists.");
        let my = "ERROR 1062 (23000) at line 4: Duplicate entry '5' for key 'PRIMARY'";
        assert_eq!(failing_line(SqlDialect::Mysql, my), Some(4));
        assert_eq!(conflict_key(my), "Duplicate entry '5' for key 'PRIMARY'");
    }

    #[test]
    fn times_for_mysql() {
        assert_eq!(utc_naive("2024-05-01T12:00:00.5+02:00"), "2024-05-01 10:00:00.500000");
    }
}

//! Table exports: the server writes every row as one JSON object, column by column in an
//! encoding chosen from the column's type (see [`Encoding`]), all tables in one consistent
//! read (PostgreSQL: one `REPEATABLE READ READ ONLY` transaction; MySQL/MariaDB:
//! `START TRANSACTION WITH CONSISTENT SNAPSHOT`, consistent for InnoDB tables).
//!
//! Exact by construction: numbers that a double cannot hold are strings made by the server's
//! own text output; bytes are base64; time stamps are RFC 3339 in UTC with their offset; JSON
//! columns are the server's JSON text with the whitespace removed. Every row is checked to be
//! valid JSON before it is written.

use std::io::Write as _;
use std::path::Path;

use lifeboat_dump::client::{SqlClient, SqlDialect};

use crate::error::{ExportError, Result};
use crate::json::{minify, quote};
use crate::manifest::{Column, Encoding, TableEntry, TableFormat};

/// The marker row the export script prints after each table.
const END_OF_TABLE: &str = "LIFEBOAT-END-OF-TABLE";

/// What to export.
#[derive(Clone, Debug, Default)]
pub struct TableSelection {
    /// Tables: `schema.table` or `table` (PostgreSQL, `public` by the search path), `table`
    /// (MySQL, in the URL's database).
    pub tables: Vec<String>,
    /// A row filter (SQL, the body of a `WHERE`) applied to every table.
    pub filter: Option<String>,
    /// JSON arrays or JSON lines.
    pub format: TableFormat,
}

/// `"name"` with quotes doubled (PostgreSQL).
pub(crate) fn pg_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `` `name` `` with backquotes doubled (MySQL).
pub(crate) fn my_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A PostgreSQL string literal (standard_conforming_strings).
pub(crate) fn pg_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A MySQL string literal that reads the same whatever the sql_mode: hex bytes in utf8mb4.
pub(crate) fn my_str(s: &str) -> String {
    if s.is_empty() { "''".into() } else { format!("_utf8mb4 X'{}'", hex::encode(s.as_bytes())) }
}

/// A table named by the user, split into schema (PostgreSQL) and name.
fn split_pg(table: &str) -> (String, String) {
    match table.split_once('.') {
        Some((s, t)) => (s.to_string(), t.to_string()),
        None => ("public".to_string(), table.to_string()),
    }
}

fn pg_encoding(typname: &str) -> Encoding {
    match typname {
        "int2" | "int4" | "float4" | "float8" | "oid" => Encoding::Number,
        "int8" | "numeric" => Encoding::Decimal,
        "bool" => Encoding::Bool,
        "bytea" => Encoding::Bytes,
        "json" | "jsonb" => Encoding::Json,
        "timestamptz" => Encoding::Timestamptz,
        "timestamp" => Encoding::Timestamp,
        _ => Encoding::Text,
    }
}

fn pg_value(c: &str, e: Encoding) -> String {
    match e {
        Encoding::Number | Encoding::Bool | Encoding::Timestamptz | Encoding::Timestamp => {
            format!("to_json({c})::text")
        }
        Encoding::Decimal | Encoding::Text => format!("to_json({c}::text)::text"),
        Encoding::Bytes => format!("to_json(translate(encode({c}, 'base64'), E'\\n', ''))::text"),
        Encoding::Json => format!("{c}::text"),
    }
}

fn my_encoding(data_type: &str, json_checked: bool) -> Encoding {
    match data_type {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "float" | "double" | "real" | "bit" | "year" => {
            Encoding::Number
        }
        "bigint" | "decimal" | "numeric" => Encoding::Decimal,
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => Encoding::Bytes,
        "json" => Encoding::Json,
        "longtext" if json_checked => Encoding::Json,
        "timestamp" => Encoding::Timestamptz,
        "datetime" => Encoding::Timestamp,
        _ => Encoding::Text,
    }
}

fn my_value(c: &str, e: Encoding, data_type: &str, fractional: bool) -> String {
    let frac = if fractional { ".%f" } else { "" };
    match e {
        Encoding::Number if data_type == "bit" => format!("CAST({c} + 0 AS CHAR)"),
        Encoding::Number => format!("CAST({c} AS CHAR)"),
        Encoding::Decimal => format!("JSON_QUOTE(CAST({c} AS CHAR))"),
        Encoding::Bool => format!("IF({c}, 'true', 'false')"),
        Encoding::Bytes => format!("JSON_QUOTE(REPLACE(TO_BASE64({c}), CHAR(10), ''))"),
        Encoding::Json => format!("CAST({c} AS CHAR)"),
        Encoding::Timestamptz => format!("JSON_QUOTE(DATE_FORMAT({c}, '%Y-%m-%dT%H:%i:%s{frac}+00:00'))"),
        Encoding::Timestamp => format!("JSON_QUOTE(DATE_FORMAT({c}, '%Y-%m-%dT%H:%i:%s{frac}'))"),
        Encoding::Text => format!("JSON_QUOTE(CAST({c} AS CHAR))"),
    }
}

/// A described table: its entry (without counts yet) and the SQL that prints its rows.
struct Described {
    entry: TableEntry,
    select: String,
}

async fn describe_pg(client: &SqlClient, table: &str, sel: &TableSelection) -> Result<Described> {
    let (schema, name) = split_pg(table);
    let rel = pg_str(&format!("{}.{}", pg_ident(&schema), pg_ident(&name)));
    let cols = client
        .query(
            &format!("describing table `{table}`"),
            &format!(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typname, NOT a.attnotnull, \
                 coalesce(array_position(i.indkey::int2[], a.attnum)::text, '') \
                 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
                 LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary \
                 WHERE a.attrelid = to_regclass({rel}) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;\n"
            ),
        )
        .await?;
    if cols.is_empty() {
        return Err(ExportError::NoSuchTable { table: table.to_string(), target: client.target() });
    }
    let mut columns = Vec::new();
    let mut pk: Vec<(i64, String)> = Vec::new();
    for row in &cols {
        let [n, ty, typname, nullable, pkpos] = &row[..] else {
            return Err(ExportError::invalid(format!("describing `{table}`"), "unexpected psql output"));
        };
        let encoding = pg_encoding(typname);
        columns.push(Column { name: n.clone(), sql_type: ty.clone(), encoding, nullable: nullable == "t" });
        if let Ok(pos) = pkpos.parse::<i64>() {
            pk.push((pos, n.clone()));
        }
    }
    pk.sort();
    let primary_key: Vec<String> = pk.into_iter().map(|(_, n)| n).collect();
    let mut obj = String::from("'{'");
    for (i, c) in columns.iter().enumerate() {
        let key = format!("{}{}:", if i == 0 { "" } else { "," }, quote(&c.name));
        obj.push_str(&format!(
            " || {} || coalesce({}, 'null')",
            pg_str(&key),
            pg_value(&pg_ident(&c.name), c.encoding)
        ));
    }
    obj.push_str(" || '}'");
    let mut select = format!("SELECT {obj} FROM {}.{}", pg_ident(&schema), pg_ident(&name));
    if let Some(f) = &sel.filter {
        select.push_str(&format!(" WHERE ({f})"));
    }
    if !primary_key.is_empty() {
        let order: Vec<String> = primary_key.iter().map(|k| pg_ident(k)).collect();
        select.push_str(&format!(" ORDER BY {}", order.join(", ")));
    }
    select.push_str(";\n");
    let qualified = format!("{schema}.{name}");
    Ok(Described { entry: entry(&qualified, sel.format, columns, primary_key), select })
}

async fn describe_my(client: &SqlClient, table: &str, sel: &TableSelection) -> Result<Described> {
    let Some(db) = client.database().map(str::to_string) else {
        return Err(ExportError::invalid("url", "a MySQL export needs the database in the URL (mysql://.../DB)"));
    };
    let (db, name) = match table.split_once('.') {
        Some((d, t)) => (d.to_string(), t.to_string()),
        None => (db, table.to_string()),
    };
    let cols = client
        .query(
            &format!("describing table `{table}`"),
            &format!(
                "SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, COLUMN_KEY, COALESCE(DATETIME_PRECISION, 0) \
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {} ORDER BY ORDINAL_POSITION;\n",
                my_str(&db),
                my_str(&name)
            ),
        )
        .await?;
    if cols.is_empty() {
        return Err(ExportError::NoSuchTable { table: table.to_string(), target: client.target() });
    }
    // MariaDB's JSON is LONGTEXT with a json_valid() check; MySQL has no TABLE_NAME there.
    let checks = client
        .query(
            "reading check constraints",
            &format!(
                "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = {} AND TABLE_NAME = {};\n",
                my_str(&db),
                my_str(&name)
            ),
        )
        .await
        .unwrap_or_default();
    let pk_rows = client
        .query(
            &format!("reading the primary key of `{table}`"),
            &format!(
                "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE CONSTRAINT_NAME = 'PRIMARY' \
                 AND TABLE_SCHEMA = {} AND TABLE_NAME = {} ORDER BY ORDINAL_POSITION;\n",
                my_str(&db),
                my_str(&name)
            ),
        )
        .await?;
    let primary_key: Vec<String> = pk_rows.into_iter().filter_map(|r| r.into_iter().next()).collect();
    let mut columns = Vec::new();
    let mut exprs = Vec::new();
    for row in &cols {
        let [n, ty, dt, nullable, _key, precision] = &row[..] else {
            return Err(ExportError::invalid(format!("describing `{table}`"), "unexpected client output"));
        };
        let json_checked = checks.iter().any(|c| {
            let c = c.join(" ").to_lowercase();
            c.contains("json_valid") && c.contains(&format!("`{}`", n.to_lowercase()))
        });
        let encoding = my_encoding(dt, json_checked);
        let fractional = precision.parse::<u32>().unwrap_or(0) > 0;
        exprs.push(my_value(&my_ident(n), encoding, dt, fractional));
        columns.push(Column { name: n.clone(), sql_type: ty.clone(), encoding, nullable: nullable == "YES" });
    }
    let mut parts = vec![my_str("{")];
    for (i, (c, e)) in columns.iter().zip(&exprs).enumerate() {
        let key = format!("{}{}:", if i == 0 { "" } else { "," }, quote(&c.name));
        parts.push(my_str(&key));
        parts.push(format!("COALESCE({e}, 'null')"));
    }
    parts.push(my_str("}"));
    let mut select = format!("SELECT CONCAT({}) FROM {}.{}", parts.join(", "), my_ident(&db), my_ident(&name));
    if let Some(f) = &sel.filter {
        select.push_str(&format!(" WHERE ({f})"));
    }
    if !primary_key.is_empty() {
        let order: Vec<String> = primary_key.iter().map(|k| my_ident(k)).collect();
        select.push_str(&format!(" ORDER BY {}", order.join(", ")));
    }
    select.push_str(";\n");
    let display = if Some(db.as_str()) == client.database() { name.clone() } else { format!("{db}.{name}") };
    Ok(Described { entry: entry(&display, sel.format, columns, primary_key), select })
}

fn entry(name: &str, format: TableFormat, columns: Vec<Column>, primary_key: Vec<String>) -> TableEntry {
    let safe: String =
        name.chars().map(|c| if c.is_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    TableEntry {
        name: name.to_string(),
        file: format!("tables/{safe}.{}", format.extension()),
        format,
        rows: 0,
        blake3: String::new(),
        bytes: 0,
        columns,
        primary_key,
    }
}

/// One table's output file while rows arrive.
struct Sink {
    file: std::io::BufWriter<std::fs::File>,
    hasher: blake3::Hasher,
    bytes: u64,
    rows: u64,
    format: TableFormat,
}

impl Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.file.write_all(data)?;
        self.hasher.update(data);
        self.bytes += data.len() as u64;
        Ok(())
    }

    fn row(&mut self, line: &str) -> std::io::Result<()> {
        match self.format {
            TableFormat::Jsonl => {
                self.write(line.as_bytes())?;
                self.write(b"\n")?;
            }
            TableFormat::Json => {
                self.write(if self.rows == 0 { b"[\n" } else { b",\n" })?;
                self.write(line.as_bytes())?;
            }
        }
        self.rows += 1;
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<(u64, u64, String)> {
        if self.format == TableFormat::Json {
            self.write(if self.rows == 0 { b"[]\n" } else { b"\n]\n" })?;
        }
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        Ok((self.rows, self.bytes, self.hasher.finalize().to_hex().to_string()))
    }
}

/// Exports the selected tables of `client`'s database into `dir` (`dir/tables/...`), in one
/// consistent read, and returns their manifest entries.
pub async fn export_tables(client: &SqlClient, sel: &TableSelection, dir: &Path) -> Result<Vec<TableEntry>> {
    if sel.tables.is_empty() {
        return Err(ExportError::invalid("tables", "name at least one table (--table)"));
    }
    let mut described = Vec::new();
    for t in &sel.tables {
        described.push(match client.dialect() {
            SqlDialect::Postgres => describe_pg(client, t, sel).await?,
            SqlDialect::Mysql => describe_my(client, t, sel).await?,
        });
    }
    let mut script = String::new();
    match client.dialect() {
        SqlDialect::Postgres => {
            script.push_str("SET TimeZone = 'UTC';\nSET DateStyle = 'ISO';\nSET extra_float_digits = 1;\n");
            script.push_str("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n");
        }
        SqlDialect::Mysql => {
            script.push_str("SET time_zone = '+00:00';\nSET NAMES utf8mb4;\n");
            script.push_str("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;\n");
        }
    }
    for d in &described {
        script.push_str(&d.select);
        script.push_str(&format!("SELECT '{END_OF_TABLE}';\n"));
    }
    script.push_str("COMMIT;\n");
    std::fs::create_dir_all(dir.join("tables")).map_err(|e| ExportError::io("creating", dir.join("tables"), e))?;
    let open = |e: &TableEntry| -> Result<Sink> {
        let path = dir.join(&e.file);
        let file = std::fs::File::create(&path).map_err(|err| ExportError::io("creating", &path, err))?;
        Ok(Sink {
            file: std::io::BufWriter::new(file),
            hasher: blake3::Hasher::new(),
            bytes: 0,
            rows: 0,
            format: e.format,
        })
    };
    let mut sinks = Vec::new();
    for d in &described {
        sinks.push(Some(open(&d.entry)?));
    }
    let target = client.target();
    let mut current = 0usize;
    let mut bad: Option<ExportError> = None;
    let names: Vec<String> = described.iter().map(|d| d.entry.name.clone()).collect();
    let files: Vec<std::path::PathBuf> = described.iter().map(|d| dir.join(&d.entry.file)).collect();
    client
        .records("exporting tables", &mut script.as_bytes(), |rec| {
            if rec == END_OF_TABLE {
                current += 1;
                return Ok(());
            }
            let Some(Some(sink)) = sinks.get_mut(current) else {
                return Err(format!(
                    "unexpected output after the last table: {}",
                    rec.chars().take(80).collect::<String>()
                ));
            };
            let line = minify(rec);
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&line) {
                let err = ExportError::BadRow {
                    table: names[current].clone(),
                    target: target.clone(),
                    row: sink.rows + 1,
                    reason: e.to_string(),
                };
                let msg = err.to_string();
                bad = Some(err);
                return Err(msg);
            }
            sink.row(&line).map_err(|e| format!("writing {}: {e}", files[current].display()))
        })
        .await
        .map_err(|e| bad.take().unwrap_or(ExportError::Database(e)))?;
    if current != described.len() {
        return Err(ExportError::invalid(
            "export",
            format!("the server printed {current} of {} tables", described.len()),
        ));
    }
    let mut out = Vec::new();
    for (d, sink) in described.into_iter().zip(sinks) {
        let mut entry = d.entry;
        let path = dir.join(&entry.file);
        let (rows, bytes, digest) = sink.expect("sink").finish().map_err(|e| ExportError::io("writing", &path, e))?;
        entry.rows = rows;
        entry.bytes = bytes;
        entry.blake3 = digest;
        out.push(entry);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(pg_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(my_ident("a`b"), "`a``b`");
        assert_eq!(my_str("é'"), "_utf8mb4 X'c3a927'");
        assert_eq!(split_pg("t"), ("public".into(), "t".into()));
    }
}

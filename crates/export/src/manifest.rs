//! The export manifest: `manifest.json` inside every export, and the same document beside
//! every named export file (`<file>.manifest.json`, with [`ArchiveInfo`] filled in) so that
//! expiry can tell Lifeboat's files from anyone else's without opening them.

use serde::{Deserialize, Serialize};

use crate::error::{ExportError, Result};

/// `format` of every export manifest.
pub const FORMAT: &str = "lifeboat-export";
/// The manifest version this crate writes and reads.
pub const VERSION: u32 = 1;
/// The name of the manifest inside an export.
pub const MANIFEST_NAME: &str = "manifest.json";
/// The suffix of the manifest beside a named export file.
pub const SIDECAR_SUFFIX: &str = ".manifest.json";

/// What an export holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportKind {
    /// Tables of a database as JSON.
    Tables,
    /// Files (configuration bundles).
    Files,
}

/// Whether the export completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    /// Complete.
    Ok,
    /// It failed; `error` says why. Kept for its own (usually shorter) retention.
    Failed,
}

/// How a table's rows are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TableFormat {
    /// One JSON array of row objects per table (`tables/<name>.json`).
    #[default]
    Json,
    /// One row object per line (`tables/<name>.jsonl`).
    Jsonl,
}

impl TableFormat {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            TableFormat::Json => "json",
            TableFormat::Jsonl => "jsonl",
        }
    }
}

impl std::str::FromStr for TableFormat {
    type Err = ExportError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "json" => Ok(TableFormat::Json),
            "jsonl" => Ok(TableFormat::Jsonl),
            other => Err(ExportError::invalid("format", format!("`{other}` is not json or jsonl"))),
        }
    }
}

/// How one column's values appear in the JSON (so an import, into either kind of server,
/// knows how to read them back).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// A JSON number, exact as written (small integers; floats in their shortest exact form).
    Number,
    /// An exact number as a JSON string (numeric/decimal, 64-bit integers), so that a reader
    /// parsing JSON numbers as doubles loses no digit.
    Decimal,
    /// `true`/`false`.
    Bool,
    /// Text as a JSON string (also dates, times, UUIDs, enums, arrays in the server's text form).
    Text,
    /// Bytes as a base64 string (standard alphabet, padded, no line breaks).
    Bytes,
    /// A JSON column, embedded as JSON (the server's own text, whitespace removed).
    Json,
    /// A point in time, RFC 3339 with its offset (`2024-05-01T10:00:00.5+00:00`).
    Timestamptz,
    /// A date and time without zone, RFC 3339 without offset (`2024-05-01T10:00:00`).
    Timestamp,
}

/// One column of an exported table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// The server's type, e.g. `numeric(30,10)` or `varbinary(64)`.
    #[serde(rename = "type")]
    pub sql_type: String,
    /// How its values are written.
    pub encoding: Encoding,
    /// Whether it may be NULL.
    pub nullable: bool,
}

/// One exported table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableEntry {
    /// `schema.table` (PostgreSQL) or `table` (MySQL, in `database`).
    pub name: String,
    /// Its file inside the export, e.g. `tables/public.orders.jsonl`.
    pub file: String,
    /// How the rows are written.
    pub format: TableFormat,
    /// Rows written.
    pub rows: u64,
    /// BLAKE3 of the file, hex.
    pub blake3: String,
    /// Bytes of the file.
    pub bytes: u64,
    /// The columns, in table order.
    pub columns: Vec<Column>,
    /// The primary key's columns (empty: none).
    pub primary_key: Vec<String>,
}

/// One file of a files export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Its path inside the export (`files/...`).
    pub path: String,
    /// Where it came from.
    pub source: String,
    /// Bytes (after redaction).
    pub bytes: u64,
    /// BLAKE3 (after redaction), hex.
    pub blake3: String,
}

/// One value taken out of a configuration file by `--redact`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redaction {
    /// The file inside the export.
    pub file: String,
    /// The key whose value was replaced (dotted for nested JSON/YAML keys where known).
    pub key: String,
    /// 1-based line of the value.
    pub line: u64,
}

/// The named file an export was written to (only in the manifest beside that file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveInfo {
    /// The file's name at its destination.
    pub name: String,
    /// `tar.gz` or `tar.zst`.
    pub compression: String,
    /// Bytes of the file as stored (0 when a failed export stored nothing).
    pub bytes: u64,
    /// BLAKE3 of the file as stored, hex.
    pub blake3: String,
    /// The recipients (`lbpk1...`) it is encrypted for; empty: not encrypted.
    #[serde(default)]
    pub recipients: Vec<String>,
}

/// The manifest of one export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportManifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// The export's id.
    pub id: String,
    /// The plan (application) it was made for, if named.
    #[serde(default)]
    pub plan: Option<String>,
    /// Tables or files.
    pub kind: ExportKind,
    /// When it was made, RFC 3339.
    pub created: String,
    /// Complete or failed.
    pub status: ExportStatus,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The database (URL without password) or the directories exported.
    pub source: String,
    /// `postgres` or `mysql` for table exports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialect: Option<String>,
    /// The database the tables are in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The row filter applied to every table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Tables, in export (and import) order.
    #[serde(default)]
    pub tables: Vec<TableEntry>,
    /// Files.
    #[serde(default)]
    pub files: Vec<FileEntry>,
    /// The patterns given to `--redact`.
    #[serde(default)]
    pub redact_patterns: Vec<String>,
    /// Every value redacted.
    #[serde(default)]
    pub redactions: Vec<Redaction>,
    /// The named file, in the manifest beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveInfo>,
}

impl ExportManifest {
    /// A new, complete manifest of `kind` made now.
    pub fn new(id: impl Into<String>, kind: ExportKind, source: impl Into<String>) -> Self {
        ExportManifest {
            format: FORMAT.into(),
            version: VERSION,
            id: id.into(),
            plan: None,
            kind,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            status: ExportStatus::Ok,
            error: None,
            source: source.into(),
            dialect: None,
            database: None,
            filter: None,
            tables: Vec::new(),
            files: Vec::new(),
            redact_patterns: Vec::new(),
            redactions: Vec::new(),
            archive: None,
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a manifest serialises");
        s.push('\n');
        s
    }

    /// Parses a manifest, refusing anything that is not a Lifeboat export manifest.
    pub fn parse(text: &[u8]) -> std::result::Result<Self, String> {
        let m: ExportManifest = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        if m.format != FORMAT {
            return Err(format!("format is `{}`, not `{FORMAT}`", m.format));
        }
        if m.version != VERSION {
            return Err(format!("version {} is not supported (this Lifeboat reads {VERSION})", m.version));
        }
        Ok(m)
    }

    /// When it was made.
    pub fn created_at(&self) -> std::result::Result<chrono::DateTime<chrono::FixedOffset>, String> {
        chrono::DateTime::parse_from_rfc3339(&self.created).map_err(|e| format!("created `{}`: {e}", self.created))
    }
}

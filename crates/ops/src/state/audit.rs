//! The audit_log table: one row per operation that changed or read backups, hash-chained.
//!
//! Each entry's `hash` is BLAKE3 over [`canonical_encoding`] of its fields and the previous
//! entry's hash (docs/SECURITY.md, "Audit log", gives the encoding and a short script that
//! checks it). Appends run in a `BEGIN IMMEDIATE` transaction that reads the head and writes
//! the next row, so lifeboatd and a CLI appending at the same moment still make one chain:
//! SQLite lets one of them write at a time and the other then reads the new head.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::async_store::AsyncStateStore;
use super::columns::{millis, time};
use super::error::StateError;
use super::handle::StateStore;

/// The `prev_hash` of the first entry: 32 zero bytes.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// The domain string that starts every entry's hashed encoding.
pub const AUDIT_DOMAIN: &[u8] = b"lifeboat/audit/v1\n";

const TABLE: &str = "audit_log";
const COLUMNS: &str = "seq, at, actor, operation, target, parameters, result, prev_hash, hash";

/// What a caller records: the entry without its sequence number, time and hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Who: `token:<name>`, `local:<user>`, `scheduler`, `service`.
    pub actor: String,
    /// What, snake_case: `backup`, `restore`, `token_create`, `audit_seal`, ...
    pub operation: String,
    /// On what: a plan, a repository (redacted), a job id, a token name.
    pub target: Option<String>,
    /// How: the operation's options. Sanitised on append ([`sanitize_parameters`]): URLs are
    /// redacted and secret-shaped keys and values dropped.
    pub parameters: serde_json::Value,
    /// `ok`, or `error: <redacted message>`.
    pub result: String,
}

/// One entry of the audit log, as stored and as the API and `lifeboat audit list --json` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1, 2, 3, ... without gaps.
    pub seq: u64,
    /// When it was appended (millisecond precision).
    pub at: DateTime<Utc>,
    /// See [`AuditRecord::actor`].
    pub actor: String,
    /// See [`AuditRecord::operation`].
    pub operation: String,
    /// See [`AuditRecord::target`].
    pub target: Option<String>,
    /// See [`AuditRecord::parameters`].
    pub parameters: serde_json::Value,
    /// See [`AuditRecord::result`].
    pub result: String,
    /// The previous entry's hash, 64 hex digits (zeros for the first entry).
    pub prev_hash: String,
    /// This entry's hash, 64 hex digits.
    pub hash: String,
}

/// A row exactly as stored, for checking the chain: the parameters as their stored text
/// (hashed as is) and the hashes as bytes of any length (a damaged row is reported, not
/// refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditRow {
    /// `seq`.
    pub seq: i64,
    /// `at`, Unix milliseconds.
    pub at_ms: i64,
    /// `actor`.
    pub actor: String,
    /// `operation`.
    pub operation: String,
    /// `target`.
    pub target: Option<String>,
    /// `parameters`, the stored JSON text.
    pub parameters: String,
    /// `result`.
    pub result: String,
    /// `prev_hash`.
    pub prev_hash: Vec<u8>,
    /// `hash`.
    pub hash: Vec<u8>,
}

impl StoredAuditRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(StoredAuditRow {
            seq: row.get(0)?,
            at_ms: row.get(1)?,
            actor: row.get(2)?,
            operation: row.get(3)?,
            target: row.get(4)?,
            parameters: row.get(5)?,
            result: row.get(6)?,
            prev_hash: row.get(7)?,
            hash: row.get(8)?,
        })
    }

    /// The hash this row's fields and its `prev_hash` give (what `hash` must be).
    pub fn computed_hash(&self) -> [u8; 32] {
        entry_hash(
            self.seq,
            self.at_ms,
            &self.actor,
            &self.operation,
            self.target.as_deref(),
            &self.parameters,
            &self.result,
            &self.prev_hash,
        )
    }
}

/// The bytes an entry's hash is computed over (docs/SECURITY.md): [`AUDIT_DOMAIN`], then
/// `seq` and `at` (Unix ms) as 8-byte big-endian signed integers, then actor, operation,
/// target, parameters (the stored JSON text) and result each as an 8-byte big-endian length
/// and its UTF-8 bytes — target preceded by one byte, 0 for none (nothing follows) or 1 —
/// then the previous hash's bytes as they are (32).
#[allow(clippy::too_many_arguments)] // the fields of one entry, in their hashed order
pub fn canonical_encoding(
    seq: i64,
    at_ms: i64,
    actor: &str,
    operation: &str,
    target: Option<&str>,
    parameters: &str,
    result: &str,
    prev_hash: &[u8],
) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    let mut out = Vec::with_capacity(AUDIT_DOMAIN.len() + 128 + parameters.len());
    out.extend_from_slice(AUDIT_DOMAIN);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&at_ms.to_be_bytes());
    field(&mut out, actor.as_bytes());
    field(&mut out, operation.as_bytes());
    match target {
        None => out.push(0),
        Some(target) => {
            out.push(1);
            field(&mut out, target.as_bytes());
        }
    }
    field(&mut out, parameters.as_bytes());
    field(&mut out, result.as_bytes());
    out.extend_from_slice(prev_hash);
    out
}

/// Plain BLAKE3 of [`canonical_encoding`]. Plain, not keyed: a key would live in the same
/// database an attacker rewrites, so it would add nothing, and an auditor can check the
/// chain with nothing but the file. The sealed heads in the repositories are what catches
/// a consistent rewrite.
#[allow(clippy::too_many_arguments)] // as canonical_encoding
pub fn entry_hash(
    seq: i64,
    at_ms: i64,
    actor: &str,
    operation: &str,
    target: Option<&str>,
    parameters: &str,
    result: &str,
    prev_hash: &[u8],
) -> [u8; 32] {
    let bytes = canonical_encoding(seq, at_ms, actor, operation, target, parameters, result, prev_hash);
    *blake3::hash(&bytes).as_bytes()
}

/// Keys whose values are never recorded (compared lower-case, `-` as `_`, as a part of the key).
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "passphrase",
    "credential",
    "authorization",
    "cookie",
    "private",
    "identity",
];

/// The parameters as they may be stored: object keys that look like secrets are dropped
/// (`password`, `secret_key`, `token`, ...; `*_file` and `*_env` references are kept, they
/// name where a secret is, not the secret), string values that look like a token
/// (`lbt_...`) or a private key are dropped, and URLs are redacted with
/// [`lifeboat_storage::redact_url`].
pub fn sanitize_parameters(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(key, _)| !is_secret_key(key))
                .filter_map(|(key, v)| sanitize_value(v).map(|v| (key, v)))
                .collect(),
        ),
        other => sanitize_value(other).unwrap_or(Value::Null),
    }
}

fn sanitize_value(value: serde_json::Value) -> Option<serde_json::Value> {
    use serde_json::Value;
    match value {
        Value::String(text) if is_secret_value(&text) => None,
        Value::String(text) => Some(Value::String(lifeboat_storage::redact_url(&text))),
        Value::Array(items) => Some(Value::Array(items.into_iter().filter_map(sanitize_value).collect())),
        object @ Value::Object(_) => Some(sanitize_parameters(object)),
        other => Some(other),
    }
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace('-', "_");
    if key.ends_with("_file") || key.ends_with("_env") {
        return false;
    }
    SECRET_KEYS.iter().any(|secret| key.contains(secret))
}

fn is_secret_value(text: &str) -> bool {
    text.starts_with("lbt_") || text.contains("PRIVATE KEY") || text.starts_with("lbsk1") || text.starts_with("Bearer ")
}

impl StateStore {
    /// Appends `record` at `at` as the next entry of the chain and returns it. The
    /// parameters are [sanitised](sanitize_parameters) first; actor, operation, target and
    /// result are stored as given (callers redact them).
    pub fn append_audit(&mut self, record: &AuditRecord, at: DateTime<Utc>) -> Result<AuditEntry, StateError> {
        let op = "append to the audit log";
        let path = self.path.clone();
        let parameters = sanitize_parameters(record.parameters.clone());
        // serde_json's map is ordered by key: the text is canonical for the same value.
        let text = serde_json::to_string(&parameters)
            .map_err(|e| StateError::Internal { path: path.clone(), reason: format!("cannot {op}: {e}") })?;
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StateError::sqlite(&path, op, e))?;
        let head: Option<(i64, Vec<u8>)> = tx
            .query_row("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()
            .map_err(|e| StateError::sqlite(&path, op, e))?;
        let (seq, prev) = match head {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, GENESIS_HASH.to_vec()),
        };
        let at_ms = millis(at);
        let target = record.target.as_deref();
        let hash = entry_hash(seq, at_ms, &record.actor, &record.operation, target, &text, &record.result, &prev);
        tx.execute(
            "INSERT INTO audit_log (seq, at, actor, operation, target, parameters, result, prev_hash, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![seq, at_ms, record.actor, record.operation, target, text, record.result, prev, hash.as_slice()],
        )
        .map_err(|e| StateError::sqlite(&path, op, e))?;
        tx.commit().map_err(|e| StateError::sqlite(&path, op, e))?;
        Ok(AuditEntry {
            seq: seq as u64,
            at: time(&path, TABLE, "at", at_ms)?,
            actor: record.actor.clone(),
            operation: record.operation.clone(),
            target: record.target.clone(),
            parameters,
            result: record.result.clone(),
            prev_hash: hex(&prev),
            hash: hex(&hash),
        })
    }

    /// Entries at or after `since` (all when `None`), oldest first; with `limit`, only the
    /// newest `limit` of them.
    pub fn audit_entries(
        &self,
        since: Option<DateTime<Utc>>,
        limit: Option<u32>,
    ) -> Result<Vec<AuditEntry>, StateError> {
        let op = "read the audit log";
        let sql = format!(
            "SELECT {COLUMNS} FROM (SELECT {COLUMNS} FROM audit_log WHERE at >= ?1 ORDER BY seq DESC LIMIT ?2) \
             ORDER BY seq"
        );
        let since = since.map(millis).unwrap_or(i64::MIN);
        let limit = limit.map(i64::from).unwrap_or(-1);
        let mut statement = self.connection.prepare(&sql).map_err(|e| StateError::sqlite(&self.path, op, e))?;
        let rows = statement
            .query_map(params![since, limit], StoredAuditRow::read)
            .map_err(|e| StateError::sqlite(&self.path, op, e))?;
        let mut entries = Vec::new();
        for row in rows {
            let row = row.map_err(|e| StateError::sqlite(&self.path, op, e))?;
            entries.push(self.entry_from(row)?);
        }
        Ok(entries)
    }

    /// Every row as stored, in `seq` order, for checking the chain.
    pub fn audit_rows(&self) -> Result<Vec<StoredAuditRow>, StateError> {
        let op = "read the audit log";
        let sql = format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq");
        let mut statement = self.connection.prepare(&sql).map_err(|e| StateError::sqlite(&self.path, op, e))?;
        let rows = statement.query_map([], StoredAuditRow::read).map_err(|e| StateError::sqlite(&self.path, op, e))?;
        rows.map(|row| row.map_err(|e| StateError::sqlite(&self.path, op, e))).collect()
    }

    /// The newest entry, if any.
    pub fn audit_head(&self) -> Result<Option<AuditEntry>, StateError> {
        let op = "read the audit log's head";
        let sql = format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1");
        let row = self
            .connection
            .query_row(&sql, [], StoredAuditRow::read)
            .optional()
            .map_err(|e| StateError::sqlite(&self.path, op, e))?;
        row.map(|row| self.entry_from(row)).transpose()
    }

    fn entry_from(&self, row: StoredAuditRow) -> Result<AuditEntry, StateError> {
        let bad = |column: &'static str, value: String| StateError::BadValue {
            path: self.path.clone(),
            table: TABLE,
            column,
            value,
        };
        let parameters = serde_json::from_str(&row.parameters)
            .map_err(|_| bad("parameters", row.parameters.chars().take(64).collect()))?;
        Ok(AuditEntry {
            seq: u64::try_from(row.seq).map_err(|_| bad("seq", row.seq.to_string()))?,
            at: time(&self.path, TABLE, "at", row.at_ms)?,
            actor: row.actor,
            operation: row.operation,
            target: row.target,
            parameters,
            result: row.result,
            prev_hash: hex(&row.prev_hash),
            hash: hex(&row.hash),
        })
    }
}

impl AsyncStateStore {
    /// [`StateStore::append_audit`].
    pub async fn append_audit(&self, record: AuditRecord, at: DateTime<Utc>) -> Result<AuditEntry, StateError> {
        self.call(move |s| s.append_audit(&record, at)).await
    }

    /// [`StateStore::audit_entries`].
    pub async fn audit_entries(
        &self,
        since: Option<DateTime<Utc>>,
        limit: Option<u32>,
    ) -> Result<Vec<AuditEntry>, StateError> {
        self.call(move |s| s.audit_entries(since, limit)).await
    }

    /// [`StateStore::audit_head`].
    pub async fn audit_head(&self) -> Result<Option<AuditEntry>, StateError> {
        self.call(|s| s.audit_head()).await
    }

    /// [`StateStore::audit_rows`].
    pub async fn audit_rows(&self) -> Result<Vec<StoredAuditRow>, StateError> {
        self.call(|s| s.audit_rows()).await
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(operation: &str) -> AuditRecord {
        AuditRecord {
            actor: "local:ann".into(),
            operation: operation.into(),
            target: Some("web".into()),
            parameters: json!({"repository": "s3://AKIA:hunter2@host/bucket", "password": "hunter2", "password_file": "/etc/pw"}),
            result: "ok".into(),
        }
    }

    #[test]
    fn entries_chain_and_parameters_lose_their_secrets() {
        let mut store = StateStore::open_in_memory().unwrap();
        let first = store.append_audit(&record("backup"), Utc::now()).unwrap();
        let second = store.append_audit(&record("restore"), Utc::now()).unwrap();
        assert_eq!((first.seq, second.seq), (1, 2));
        assert_eq!(first.prev_hash, hex(&GENESIS_HASH));
        assert_eq!(second.prev_hash, first.hash);
        let text = serde_json::to_string(&second.parameters).unwrap();
        assert!(!text.contains("hunter2") && !text.contains("\"password\""), "{text}");
        assert!(text.contains("password_file"), "{text}");
        for row in store.audit_rows().unwrap() {
            assert_eq!(row.computed_hash().as_slice(), row.hash.as_slice());
        }
        assert_eq!(store.audit_entries(None, Some(1)).unwrap()[0].seq, 2);
    }

    #[test]
    fn secret_shaped_values_are_dropped_anywhere() {
        let clean = sanitize_parameters(json!({"args": ["lbt_0123_abcd", "x"], "nested": {"api-token": "t"}}));
        assert_eq!(clean, json!({"args": ["x"], "nested": {}}));
    }
}

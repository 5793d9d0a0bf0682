//! The content digest types and their comparison (re-exported by the `content` module, which
//! documents the algorithms). A leaf module: the dumpers and the measuring code both use it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The PostgreSQL table checksum algorithm (see the module documentation).
pub const PG_ALGORITHM: &str = "postgres: count(*), sum(hashtextextended(row::text, 0)) per table, UTC/ISO output";

/// The MySQL/MariaDB table checksum algorithm (see the module documentation).
pub const MYSQL_ALGORITHM: &str =
    "mysql: COUNT(*), SUM(CONV(LEFT(MD5(CONCAT_WS(',', QUOTE(col)...)), 16), 16, 10)) per table, UTC";

/// The Redis key digest algorithm (see the module documentation).
pub const REDIS_ALGORITHM: &str = "redis: sum mod 2^128 of blake3(db, key, type, canonical value)[..16]";

/// The content of one dump stream at dump time (or of a restored copy, measured the same way).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ContentDigest {
    /// PostgreSQL, MySQL/MariaDB: each table's row count and checksum.
    Tables {
        /// How the checksums were computed (names the query), so only like is compared.
        algorithm: String,
        /// Every table of the stream, sorted by name.
        tables: Vec<TableDigest>,
    },
    /// Redis: how many keys, and one digest over every key, its type and its value.
    Keys {
        /// How the digest was computed.
        algorithm: String,
        /// Keys in every database of the stream.
        keys: u64,
        /// The digest, hex.
        digest: String,
    },
}

/// One table's row count and checksum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDigest {
    /// `schema.table` (PostgreSQL) or `database.table` (MySQL), unquoted.
    pub table: String,
    /// Rows.
    pub rows: u64,
    /// A checksum over every row, independent of row order, hex.
    pub checksum: String,
}

/// One difference between what a backup recorded and what a restore holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentMismatch {
    /// The table (or `keys`, `digest` for Redis) that differs.
    pub object: String,
    /// What the backup recorded (`missing` when absent).
    pub expected: String,
    /// What the restore holds (`missing` when absent).
    pub actual: String,
}

impl std::fmt::Display for ContentMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: the backup recorded {}, the restore holds {}", self.object, self.expected, self.actual)
    }
}

fn mismatch(object: impl Into<String>, expected: impl Into<String>, actual: impl Into<String>) -> ContentMismatch {
    ContentMismatch { object: object.into(), expected: expected.into(), actual: actual.into() }
}

impl ContentDigest {
    /// The algorithm's name.
    pub fn algorithm(&self) -> &str {
        match self {
            ContentDigest::Tables { algorithm, .. } | ContentDigest::Keys { algorithm, .. } => algorithm,
        }
    }

    /// A one-line summary, e.g. `3 tables, 1042 rows` or `120 keys`.
    pub fn summary(&self) -> String {
        match self {
            ContentDigest::Tables { tables, .. } => {
                format!("{} tables, {} rows", tables.len(), tables.iter().map(|t| t.rows).sum::<u64>())
            }
            ContentDigest::Keys { keys, .. } => format!("{keys} keys"),
        }
    }

    /// Every difference between `self` (recorded) and `actual` (measured); empty: equal.
    ///
    /// Tables: a table missing from the restore, an extra table in it, a different row count,
    /// a different checksum (with equal counts), each naming the table. Keys: the key count
    /// and the digest. A different kind or algorithm is one mismatch (`algorithm`).
    pub fn compare(&self, actual: &ContentDigest) -> Vec<ContentMismatch> {
        if self.algorithm() != actual.algorithm() {
            return vec![mismatch("algorithm", self.algorithm(), actual.algorithm())];
        }
        match (self, actual) {
            (ContentDigest::Tables { tables: want, .. }, ContentDigest::Tables { tables: have, .. }) => {
                let have: BTreeMap<&str, &TableDigest> = have.iter().map(|t| (t.table.as_str(), t)).collect();
                let want_map: BTreeMap<&str, &TableDigest> = want.iter().map(|t| (t.table.as_str(), t)).collect();
                let mut out = Vec::new();
                for (name, w) in &want_map {
                    match have.get(name) {
                        None => out.push(mismatch(*name, format!("{} rows", w.rows), "missing")),
                        Some(h) if h.rows != w.rows => {
                            out.push(mismatch(*name, format!("{} rows", w.rows), format!("{} rows", h.rows)))
                        }
                        Some(h) if h.checksum != w.checksum => out.push(mismatch(
                            *name,
                            format!("checksum {} ({} rows)", w.checksum, w.rows),
                            format!("checksum {} ({} rows)", h.checksum, h.rows),
                        )),
                        Some(_) => {}
                    }
                }
                for (name, h) in &have {
                    if !want_map.contains_key(name) {
                        out.push(mismatch(*name, "missing", format!("{} rows", h.rows)));
                    }
                }
                out
            }
            (ContentDigest::Keys { keys: wk, digest: wd, .. }, ContentDigest::Keys { keys: hk, digest: hd, .. }) => {
                let mut out = Vec::new();
                if wk != hk {
                    out.push(mismatch("keys", format!("{wk} keys"), format!("{hk} keys")));
                }
                if wd != hd {
                    out.push(mismatch("digest", wd.clone(), hd.clone()));
                }
                out
            }
            _ => vec![mismatch("kind", self.summary(), actual.summary())],
        }
    }
}

/// Text from its hex encoding (as the servers print names), `None` when not hex.
pub(crate) fn unhex(h: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> =
        (0..h.len()).step_by(2).map(|i| h.get(i..i + 2).and_then(|x| u8::from_str_radix(x, 16).ok())).collect();
    Some(String::from_utf8_lossy(&bytes?).into_owned())
}

/// A checksum sum (a decimal integer as the server printed it) as 32 hex digits, modulo 2^128.
pub(crate) fn sum_hex(decimal: &str) -> Option<String> {
    let v: i128 = decimal.trim().parse().ok()?;
    Some(format!("{:032x}", v as u128))
}

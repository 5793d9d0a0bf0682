//! Indices as `_cat/indices` lists them, and their shard recoveries (`/{index}/_recovery`).

use serde::{Deserialize, Serialize};

/// One index as listed by `_cat/indices`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IndexSummary {
    /// Index name.
    pub name: String,
    /// Health (`green`, `yellow`, `red`), if known.
    pub health: Option<String>,
    /// Status (`open`, `close`).
    pub status: Option<String>,
    /// Index UUID.
    pub uuid: Option<String>,
    /// Number of primary shards.
    pub primaries: Option<u32>,
    /// Number of replicas.
    pub replicas: Option<u32>,
    /// Document count (unknown while primaries are not started).
    pub docs_count: Option<u64>,
    /// Store size including replicas, bytes.
    pub store_bytes: Option<u64>,
    /// Primary store size, bytes.
    pub pri_store_bytes: Option<u64>,
}

/// Parses a byte size as printed by `_cat` APIs: a bare integer with `bytes=b`, or a human value
/// such as `88.1kb` otherwise.
pub fn parse_cat_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<u64>() {
        return Some(n);
    }
    let lower = s.to_ascii_lowercase();
    let split = lower.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = lower.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult: f64 = match unit {
        "b" => 1.0,
        "kb" => 1024.0,
        "mb" => 1024.0 * 1024.0,
        "gb" => 1024.0f64.powi(3),
        "tb" => 1024.0f64.powi(4),
        "pb" => 1024.0f64.powi(5),
        _ => return None,
    };
    Some((num * mult).round() as u64)
}

/// Size block of a shard recovery.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RecoverySize {
    /// Total bytes.
    #[serde(default)]
    pub total_in_bytes: u64,
    /// Recovered bytes.
    #[serde(default)]
    pub recovered_in_bytes: u64,
}

/// Index block of a shard recovery.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RecoveryIndex {
    /// Sizes.
    #[serde(default)]
    pub size: RecoverySize,
}

/// Source of a shard recovery (for snapshot recoveries: repository and snapshot).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RecoverySource {
    /// Repository (snapshot recoveries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Snapshot (snapshot recoveries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Source index in the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
}

/// One shard in `GET /{index}/_recovery`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShardRecovery {
    /// Shard number.
    pub id: u32,
    /// `SNAPSHOT`, `PEER`, `EXISTING_STORE`, ...
    #[serde(rename = "type")]
    pub recovery_type: String,
    /// `INIT`, `INDEX`, `VERIFY_INDEX`, `TRANSLOG`, `FINALIZE`, `DONE`.
    pub stage: String,
    /// Whether this is the primary.
    #[serde(default)]
    pub primary: bool,
    /// Source.
    #[serde(default)]
    pub source: RecoverySource,
    /// Index/bytes progress.
    #[serde(default)]
    pub index: RecoveryIndex,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cat_bytes_parse_plain_and_human() {
        assert_eq!(parse_cat_bytes("260"), Some(260));
        assert_eq!(parse_cat_bytes("260b"), Some(260));
        assert_eq!(parse_cat_bytes("1kb"), Some(1024));
        assert_eq!(parse_cat_bytes("43.4gb"), Some((43.4 * 1024f64.powi(3)).round() as u64));
        assert_eq!(parse_cat_bytes(""), None);
        assert_eq!(parse_cat_bytes("12xb"), None);
    }
}

//! Where a repository keeps what (docs/FORMAT.md, section 1): the object keys. A leaf
//! module, so manifests can check their objects' keys without depending on the repository.

/// Key of the config object.
pub const CONFIG_KEY: &str = "config";
/// Prefix of manifests.
pub const BACKUPS_PREFIX: &str = "backups/";
/// Prefix of data objects.
pub const DATA_PREFIX: &str = "data/";
/// Prefix of records (frontends' sealed named objects, e.g. the audit log's heads).
pub const RECORDS_PREFIX: &str = "records/";
/// Largest manifest plaintext accepted (a hostile manifest cannot exhaust memory).
pub const MAX_MANIFEST: usize = 256 * 1024 * 1024;

/// The storage key of a data object.
pub fn data_key(object_id_hex: &str) -> String {
    // `get`, not slicing: the id may come from storage, and a multibyte character at byte 1
    // would make a slice panic (a manifest checks its ids on parse; this never relies on it).
    format!("{DATA_PREFIX}{}/{object_id_hex}", object_id_hex.get(..2).unwrap_or(object_id_hex))
}

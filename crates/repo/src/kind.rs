//! What sort of source a backup holds: the manifest's `kind` (docs/FORMAT.md, section 5).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The kind of a backup, stored in its manifest as a plain string (`"stream"`, `"files"`,
/// or a database source kind). A kind this build does not know (written by a newer one)
/// is kept as [`BackupKind::Other`], so such a manifest still parses and lists.
#[derive(Debug, Clone, Default)]
pub enum BackupKind {
    /// One byte stream (object `stream`).
    #[default]
    Stream,
    /// Directory trees and files as a tar stream (object `tree`).
    Files,
    /// PostgreSQL dumps.
    Postgres,
    /// MySQL / MariaDB dumps.
    Mysql,
    /// A Redis snapshot or logical export.
    Redis,
    /// Any other name, kept as written.
    Other(String),
}

impl BackupKind {
    /// The kind named `name`: a known variant, else [`BackupKind::Other`].
    pub fn from_name(name: &str) -> BackupKind {
        match name {
            "stream" => BackupKind::Stream,
            "files" => BackupKind::Files,
            "postgres" => BackupKind::Postgres,
            "mysql" => BackupKind::Mysql,
            "redis" => BackupKind::Redis,
            other => BackupKind::Other(other.to_owned()),
        }
    }

    /// The name the manifest stores.
    pub fn as_str(&self) -> &str {
        match self {
            BackupKind::Stream => "stream",
            BackupKind::Files => "files",
            BackupKind::Postgres => "postgres",
            BackupKind::Mysql => "mysql",
            BackupKind::Redis => "redis",
            BackupKind::Other(name) => name,
        }
    }
}

impl std::fmt::Display for BackupKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kinds compare by name, so `Other("files")` (built by hand) equals `Files`.
impl PartialEq for BackupKind {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for BackupKind {}

impl std::hash::Hash for BackupKind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for BackupKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for BackupKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for BackupKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for BackupKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(BackupKind::from_name(&String::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names are format (FORMAT.md 5): a renamed variant would change manifest bytes.
    #[test]
    fn kinds_serialize_as_the_strings_manifests_always_held() {
        for (kind, name) in [
            (BackupKind::Stream, "stream"),
            (BackupKind::Files, "files"),
            (BackupKind::Postgres, "postgres"),
            (BackupKind::Mysql, "mysql"),
            (BackupKind::Redis, "redis"),
        ] {
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<BackupKind>(&format!("\"{name}\"")).unwrap(), kind);
            assert_eq!(BackupKind::from_name(name), kind);
        }
    }

    #[test]
    fn an_unknown_kind_parses_and_is_written_back_unchanged() {
        let kind: BackupKind = serde_json::from_str("\"mongodb\"").unwrap();
        assert_eq!(kind, BackupKind::Other("mongodb".into()));
        assert_eq!(serde_json::to_string(&kind).unwrap(), "\"mongodb\"");
        let empty: BackupKind = serde_json::from_str("\"\"").unwrap();
        assert_eq!(serde_json::to_string(&empty).unwrap(), "\"\"");
        assert_eq!(BackupKind::Other("files".into()), BackupKind::Files);
    }
}

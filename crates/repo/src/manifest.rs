//! Backup manifests (docs/FORMAT.md, section 5).

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use lifeboat_crypto::SecretKey;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::kind::BackupKind;

/// The manifest format version this crate writes and reads. Version 1 recorded SHA-256
/// digests; version 2 records BLAKE3 (docs/FORMAT.md, section 5).
pub const MANIFEST_VERSION: u32 = 2;
/// The manifest version of a format 3 backup, whose data is a root tree of chunks
/// (docs/FORMAT.md 11.5) instead of data objects.
pub const MANIFEST_VERSION_V3: u32 = 3;

/// Everything recorded about one complete backup. Stored encrypted at `backups/<id>`.
///
/// Deserialising checks the form of every identifier and digest (lowercase hex of the right
/// length), so code holding a `Manifest` read from storage can rely on it; [`Manifest::parse`]
/// also checks what ties the manifest to where it was read from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format version.
    pub version: u32,
    /// Backup id (32 hex).
    #[serde(deserialize_with = "de_backup_id")]
    pub id: String,
    /// Id of the repository holding it.
    #[serde(deserialize_with = "de_repository_id")]
    pub repository: String,
    /// `stream`, `files`, or a database source kind.
    pub kind: BackupKind,
    /// What was backed up.
    pub name: String,
    /// Plan the backup belongs to.
    #[serde(default)]
    pub plan: Option<String>,
    /// Host that made it.
    pub host: String,
    /// Operator tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// When reading the source began.
    pub started: DateTime<FixedOffset>,
    /// When the last object was stored.
    pub finished: DateTime<FixedOffset>,
    /// `lifeboat <version>`.
    pub tool: String,
    /// Parent backup of an incremental one.
    #[serde(default, deserialize_with = "de_opt_id")]
    pub parent: Option<String>,
    /// Source description (server version, consistency position ...); never secrets.
    #[serde(default)]
    pub source: serde_json::Value,
    /// The data objects.
    pub objects: Vec<ObjectRecord>,
    /// Things skipped or noticed during the backup.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Counters (files, bytes ...).
    #[serde(default)]
    pub stats: BTreeMap<String, u64>,
    /// The backup's objects are under object lock until then: nothing deletes them before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<DateTime<FixedOffset>>,
    /// Version 3: the root tree blob of the backup's data (64 hex; docs/FORMAT.md 11.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<String>,
    /// Version 3: the dedup domain holding the blobs (16 hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

impl Manifest {
    /// The object called `name`.
    pub fn object(&self, name: &str) -> Option<&ObjectRecord> {
        self.objects.iter().find(|o| o.name == name)
    }

    /// Total plaintext bytes (version 3: the files' bytes, the `size` stat).
    pub fn plain_size(&self) -> u64 {
        if self.version == MANIFEST_VERSION_V3 {
            return self.stats.get("size").copied().unwrap_or(0);
        }
        self.objects.iter().map(|o| o.plain_size).sum()
    }

    /// Total stored bytes of data objects. Version 3: the plaintext bytes this backup added
    /// to the repository (`bytes_new`); what it shares with others is not counted.
    pub fn stored_size(&self) -> u64 {
        if self.version == MANIFEST_VERSION_V3 {
            return self.stats.get("bytes_new").copied().unwrap_or(0);
        }
        self.objects.iter().map(|o| o.size).sum()
    }

    /// True while the backup is held by object lock.
    pub fn is_locked(&self) -> bool {
        self.locked_until.is_some_and(|until| until > crate::host::now())
    }

    /// The paths a files backup read (none for other kinds): its `source.paths`, or, for
    /// one written before they were recorded, its name taken as one path.
    pub fn paths(&self) -> Vec<std::path::PathBuf> {
        if self.kind != BackupKind::Files {
            return Vec::new();
        }
        match self.source.get("paths").and_then(|p| p.as_array()) {
            Some(paths) => paths.iter().filter_map(|p| p.as_str()).map(std::path::PathBuf::from).collect(),
            None => vec![std::path::PathBuf::from(&self.name)],
        }
    }

    /// The first 8 hex digits of the id (the whole id if it is shorter or not ASCII).
    pub fn short_id(&self) -> &str {
        self.id.get(..8).unwrap_or(&self.id)
    }

    /// Parses the decrypted JSON of the manifest stored at `backups/<key_id>` in the
    /// repository `repo_id`, and checks it (FORMAT.md 5): the form of every id and digest,
    /// the version, that it names itself and its repository, that every object is stored
    /// where its id says, and that object names are unique. The error says what is wrong.
    pub fn parse(plain: &[u8], key_id: &str, repo_id: &str) -> Result<Manifest, String> {
        let manifest: Manifest = serde_json::from_slice(plain).map_err(|e| format!("not valid JSON: {e}"))?;
        manifest.validate(key_id, repo_id)?;
        Ok(manifest)
    }

    /// Checks internal consistency after decryption.
    pub(crate) fn validate(&self, key_id: &str, repo_id: &str) -> Result<(), String> {
        if self.version == 1 {
            return Err("manifest version 1 (SHA-256 digests, written by pre-release builds) is not read by \
                        this build, which reads version 2"
                .into());
        }
        if self.version == MANIFEST_VERSION_V3 {
            // A v3 backup's data is its tree. A files backup has no objects; a stream or
            // database backup lists its streams as records of file nodes in that tree
            // (FORMAT.md 11.5), never data objects, so a v2 reader finds none to misread.
            let tree_ok = self.tree.as_deref().is_some_and(|t| is_lower_hex(t, 64));
            let domain_ok = self.domain.as_deref().is_some_and(|d| is_lower_hex(d, 16));
            if !tree_ok || !domain_ok {
                return Err("a version 3 manifest needs a root tree id and a domain id".into());
            }
        } else if self.version != MANIFEST_VERSION {
            return Err(format!(
                "manifest version {} unsupported (this build reads {MANIFEST_VERSION} and {})",
                self.version, MANIFEST_VERSION_V3
            ));
        }
        if self.id != key_id {
            return Err(format!("its id {} differs from its name {key_id} (swapped manifest?)", self.id));
        }
        if self.repository != repo_id {
            return Err(format!("it belongs to repository {}, not {repo_id}", self.repository));
        }
        let mut names = std::collections::BTreeSet::new();
        for o in &self.objects {
            o.check(self.version, self.tree.as_deref())?;
            if !names.insert(o.name.as_str()) {
                return Err(format!("object name {:?} appears twice", o.name));
            }
        }
        Ok(())
    }
}

/// One data object of a backup.
///
/// A version 2 record names a data object (`key`, `object_id`, `dek`, `size`, `blake3`).
/// A version 3 record (docs/FORMAT.md 11.5) names a file node of the backup's root tree
/// instead: `tree` is that root, `name` the node's path under it, and only the plaintext
/// size and digest are kept; `key`, `object_id` and `blake3` are empty, `size` is 0 and
/// `dek` is all zeros (none of them is written out, and nothing reads them for a v3 record).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// Role in the backup (`stream`, `tree`, `db/app.pgdump` ...).
    pub name: String,
    /// Storage key (empty for a v3 record).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// Object id (32 hex), also in the object's header (empty for a v3 record).
    #[serde(default, deserialize_with = "de_object_id", skip_serializing_if = "String::is_empty")]
    pub object_id: String,
    /// The object's data key (all zeros for a v3 record).
    #[serde(
        default = "no_key",
        serialize_with = "ser_key",
        deserialize_with = "de_key",
        skip_serializing_if = "is_no_key"
    )]
    pub dek: SecretKey,
    /// Stored bytes (0 for a v3 record: its chunks are shared blobs).
    #[serde(default)]
    pub size: u64,
    /// BLAKE3 of the stored bytes (hex; empty for a v3 record).
    #[serde(default, deserialize_with = "de_digest", skip_serializing_if = "String::is_empty")]
    pub blake3: String,
    /// Plaintext bytes.
    pub plain_size: u64,
    /// BLAKE3 of the plaintext (hex).
    #[serde(deserialize_with = "de_digest")]
    pub plain_blake3: String,
    /// Version 3: the root tree (64 hex) whose file node at `name` holds the content.
    #[serde(default, deserialize_with = "de_opt_digest", skip_serializing_if = "Option::is_none")]
    pub tree: Option<String>,
}

impl ObjectRecord {
    /// The raw object id.
    pub fn object_id_bytes(&self) -> Result<[u8; 16], String> {
        crate::config::decode_hex(&self.object_id, "object id")
    }

    /// Whether this record names a file node of a v3 root tree rather than a data object.
    pub fn is_v3(&self) -> bool {
        self.tree.is_some()
    }

    /// What an error about this object names: its storage key, or for a v3 record its
    /// name in the backup and the root tree holding it.
    pub fn label(&self) -> String {
        match &self.tree {
            Some(tree) => format!("{} (tree {})", self.name, tree.get(..16).unwrap_or(tree)),
            None => self.key.clone(),
        }
    }

    /// A v3 record of the file node `name` (its tree is set when the root is built).
    pub(crate) fn v3(name: &str, plain_size: u64, plain_blake3: String) -> ObjectRecord {
        ObjectRecord {
            name: name.to_owned(),
            key: String::new(),
            object_id: String::new(),
            dek: no_key(),
            size: 0,
            blake3: String::new(),
            plain_size,
            plain_blake3,
            tree: None,
        }
    }

    /// What is wrong with this record in a manifest of `version` whose root tree is `tree`.
    fn check(&self, version: u32, tree: Option<&str>) -> Result<(), String> {
        if version == MANIFEST_VERSION_V3 {
            let v2_fields = !self.key.is_empty() || !self.object_id.is_empty() || !self.blake3.is_empty();
            if v2_fields || !is_no_key(&self.dek) || self.size != 0 {
                return Err(format!("object {:?} of a version 3 manifest names a data object", self.name));
            }
            if self.tree.as_deref() != tree {
                return Err(format!("object {:?} names another root tree than its manifest", self.name));
            }
            if self.name.split('/').any(|c| !crate::v3::tree::valid_name(c.as_bytes())) {
                return Err(format!("object name {:?} is not a relative path of plain names", self.name));
            }
            return Ok(());
        }
        if self.tree.is_some() || self.object_id.is_empty() || self.blake3.is_empty() {
            return Err(format!("object {:?} of a version 2 manifest is not a data object", self.name));
        }
        let expected = crate::layout::data_key(&self.object_id);
        if self.key != expected {
            return Err(format!("object {:?} is stored at {:?}, expected {expected}", self.name, self.key));
        }
        Ok(())
    }
}

/// The data key of a v3 record, which has none.
fn no_key() -> SecretKey {
    SecretKey::from_bytes([0; 32])
}

fn is_no_key(key: &SecretKey) -> bool {
    key.expose() == &[0u8; 32]
}

fn ser_key<S: Serializer>(key: &SecretKey, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&key.to_hex())
}

fn de_key<'de, D: Deserializer<'de>>(d: D) -> Result<SecretKey, D::Error> {
    let text = zeroize::Zeroizing::new(String::deserialize(d)?);
    // Checked here so that the error never quotes a character of the key.
    if !is_lower_hex(&text, 64) {
        return Err(serde::de::Error::custom("dek: expected 64 lowercase hex digits"));
    }
    SecretKey::from_hex(&text).map_err(|_| serde::de::Error::custom("dek: expected 64 lowercase hex digits"))
}

/// True when `text` is exactly `len` lowercase hexadecimal digits, the only form FORMAT.md
/// writes ids and digests in.
pub(crate) fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn de_hex<'de, D: Deserializer<'de>>(d: D, len: usize, what: &str) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    if is_lower_hex(&text, len) {
        Ok(text)
    } else {
        // Not quoted: the text came from storage and may hold anything.
        Err(serde::de::Error::custom(format!(
            "{what}: expected {len} lowercase hex digits, found {} characters that are not",
            text.chars().count()
        )))
    }
}

fn de_backup_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    de_hex(d, 32, "id")
}

fn de_repository_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    de_hex(d, 32, "repository")
}

fn de_object_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    de_hex(d, 32, "object_id")
}

fn de_opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) if is_lower_hex(&text, 32) => Ok(Some(text)),
        Some(_) => Err(serde::de::Error::custom("parent: expected null or 32 lowercase hex digits")),
    }
}

fn de_digest<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    de_hex(d, 64, "digest")
}

fn de_opt_digest<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) if is_lower_hex(&text, 64) => Ok(Some(text)),
        Some(_) => Err(serde::de::Error::custom("tree: expected null or 64 lowercase hex digits")),
    }
}

/// The root tree id of a v3 manifest.
pub fn v3_root(manifest: &Manifest) -> crate::error::Result<crate::v3::BlobId> {
    manifest.tree.as_deref().and_then(crate::v3::BlobId::from_hex).ok_or_else(|| {
        crate::error::RepoError::Integrity(format!(
            "backup {}: a version 3 manifest without a valid root tree id",
            manifest.id
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(version: u32) -> Manifest {
        let json = format!(
            r#"{{"version":{version},"id":"00112233445566778899aabbccddeeff","repository":"ffeeddccbbaa99887766554433221100",
"kind":"stream","name":"s","plan":null,"host":"h","tags":[],"started":"2026-11-21T10:00:00+00:00",
"finished":"2026-11-21T10:00:01+00:00","tool":"lifeboat 0.1.0","parent":null,"source":null,
"objects":[{{"name":"stream","key":"data/ab/ab000000000000000000000000000000","object_id":"ab000000000000000000000000000000",
"dek":"{dek}","size":100,"blake3":"{digest}","plain_size":5,"plain_blake3":"{digest}"}}],"warnings":[],"stats":{{}}}}"#,
            dek = "00".repeat(32),
            digest = "11".repeat(32),
        );
        serde_json::from_str(&json).unwrap()
    }

    /// A kind this build does not know (a newer one wrote it) still parses, and writing the
    /// manifest back (a copy re-seals it) keeps every member as it was.
    #[test]
    fn an_unknown_kind_parses_and_is_written_back_unchanged() {
        let mut value = serde_json::to_value(manifest(MANIFEST_VERSION)).unwrap();
        value["kind"] = "mongodb".into();
        let parsed: Manifest = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(parsed.kind, "mongodb");
        assert_eq!(serde_json::to_value(&parsed).unwrap(), value);
    }

    #[test]
    fn versions_2_and_3_are_read_and_3_needs_its_tree() {
        let (id, repo) = ("00112233445566778899aabbccddeeff", "ffeeddccbbaa99887766554433221100");
        assert_eq!(manifest(MANIFEST_VERSION).validate(id, repo), Ok(()));
        let old = manifest(1).validate(id, repo).unwrap_err();
        assert!(old.contains("version 1") && old.contains("SHA-256"), "{old}");
        let newer = manifest(4).validate(id, repo).unwrap_err();
        assert!(newer.contains("version 4 unsupported"), "{newer}");
        // Version 3: a root tree and a domain; objects only as records of its file nodes.
        let no_tree = manifest(MANIFEST_VERSION_V3).validate(id, repo).unwrap_err();
        assert!(no_tree.contains("root tree id"), "{no_tree}");
        let mut v3 = manifest(MANIFEST_VERSION_V3);
        v3.tree = Some("ab".repeat(32));
        v3.domain = Some("cd".repeat(8));
        let data_object = v3.validate(id, repo).unwrap_err();
        assert!(data_object.contains("names a data object"), "{data_object}");
        v3.objects.clear();
        assert_eq!(v3.validate(id, repo), Ok(()), "a files backup has no objects");
        let mut record = ObjectRecord::v3("db/app.pgdump", 5, "11".repeat(32));
        record.tree = v3.tree.clone();
        v3.objects.push(record.clone());
        assert_eq!(v3.validate(id, repo), Ok(()), "a stream backup lists its file nodes");
        // Written out, a v3 record carries no data-object field (and no key), and reads back.
        let text = serde_json::to_string(&v3).unwrap();
        assert!(!text.contains("dek") && !text.contains(r#""key""#), "{text}");
        let back: Manifest = serde_json::from_str(&text).unwrap();
        assert_eq!(back.validate(id, repo), Ok(()));
        v3.objects[0].tree = Some("ef".repeat(32));
        assert!(v3.validate(id, repo).unwrap_err().contains("another root tree"));
        v3.objects[0] = ObjectRecord { name: "../escape".into(), ..record.clone() };
        assert!(v3.validate(id, repo).unwrap_err().contains("plain names"));
        v3.objects[0] = record.clone();
        v3.objects.push(record.clone());
        assert!(v3.validate(id, repo).unwrap_err().contains("twice"));
        // A v2 manifest refuses a v3 record.
        let mut v2 = manifest(MANIFEST_VERSION);
        v2.objects.push(ObjectRecord { name: "other".into(), ..record });
        assert!(v2.validate(id, repo).unwrap_err().contains("not a data object"));
        v3.objects.clear();
        v3.domain = Some("CD".repeat(8));
        assert!(v3.validate(id, repo).is_err(), "ids are lowercase hex");
    }
}

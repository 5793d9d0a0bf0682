//! What may be shown of a backup: views of a [`Manifest`] without its data keys.
//!
//! A `Manifest` serializes its objects' data keys (it is what gets sealed into the
//! repository). Anything printed, logged or returned by an API is one of these views
//! instead, so a handler that serializes "the backup" cannot leak a key: the views have no
//! field that could hold one.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use crate::kind::BackupKind;
use crate::manifest::{Manifest, ObjectRecord};

/// A short listing entry for tables, and what `list --json` prints of each backup. Its
/// times have the names `show --json` gives them (`started`, `finished`); `time` is
/// `finished` under its older name, kept because `lifeboat retention plan --input` reads
/// `time` (a listing is fed to it as-is) and lifeboatd's API says `time` too. The times are
/// in UTC whatever zone the backing-up host recorded them in, so that listings of several
/// hosts sort as text.
#[derive(Debug, Clone, Serialize)]
pub struct BackupSummary {
    /// Backup id.
    pub id: String,
    /// Kind.
    pub kind: BackupKind,
    /// Name.
    pub name: String,
    /// Plan.
    pub plan: Option<String>,
    /// Host.
    pub host: String,
    /// Tags.
    pub tags: Vec<String>,
    /// When reading the source began.
    pub started: DateTime<FixedOffset>,
    /// When the last object was stored.
    pub finished: DateTime<FixedOffset>,
    /// `finished`, under the name listings had first (see the type's documentation).
    pub time: DateTime<FixedOffset>,
    /// Plaintext bytes.
    pub size: u64,
    /// Stored bytes.
    pub stored_size: u64,
}

/// The same instant with offset +00:00.
fn utc(time: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
    time.with_timezone(&chrono::Utc).fixed_offset()
}

impl From<&Manifest> for BackupSummary {
    fn from(m: &Manifest) -> Self {
        BackupSummary {
            id: m.id.clone(),
            kind: m.kind.clone(),
            name: m.name.clone(),
            plan: m.plan.clone(),
            host: m.host.clone(),
            tags: m.tags.clone(),
            started: utc(m.started),
            finished: utc(m.finished),
            time: utc(m.finished),
            size: m.plain_size(),
            stored_size: m.stored_size(),
        }
    }
}

/// Everything a manifest records except the data keys: what `show --json` prints and an
/// API returns for one backup. Fields are declared in alphabetical order, the order the
/// CLI's JSON had when it was a manifest's JSON map with the keys edited out.
#[derive(Debug, Clone, Serialize)]
pub struct BackupView {
    /// When the last object was stored.
    pub finished: DateTime<FixedOffset>,
    /// Host that made it.
    pub host: String,
    /// Backup id (32 hex).
    pub id: String,
    /// `stream`, `files`, or a database source kind.
    pub kind: BackupKind,
    /// The objects are under object lock until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<DateTime<FixedOffset>>,
    /// What was backed up.
    pub name: String,
    /// The data objects, without their keys.
    pub objects: Vec<ObjectView>,
    /// Parent backup of an incremental one.
    pub parent: Option<String>,
    /// Plan the backup belongs to.
    pub plan: Option<String>,
    /// Id of the repository holding it.
    pub repository: String,
    /// Source description (server version, consistency position ...).
    pub source: serde_json::Value,
    /// When reading the source began.
    pub started: DateTime<FixedOffset>,
    /// Counters (files, bytes ...).
    pub stats: BTreeMap<String, u64>,
    /// Operator tags.
    pub tags: Vec<String>,
    /// `lifeboat <version>` that wrote it.
    pub tool: String,
    /// Manifest format version.
    pub version: u32,
    /// Things skipped or noticed during the backup.
    pub warnings: Vec<String>,
}

/// One data object of a backup, without its data key (fields in alphabetical order, as
/// [`BackupView`]'s).
#[derive(Debug, Clone, Serialize)]
pub struct ObjectView {
    /// BLAKE3 of the stored bytes (hex).
    pub blake3: String,
    /// Storage key.
    pub key: String,
    /// Role in the backup (`stream`, `tree`, `db/app.pgdump` ...).
    pub name: String,
    /// Object id (32 hex).
    pub object_id: String,
    /// BLAKE3 of the plaintext (hex).
    pub plain_blake3: String,
    /// Plaintext bytes.
    pub plain_size: u64,
    /// Stored bytes.
    pub size: u64,
}

impl From<&ObjectRecord> for ObjectView {
    fn from(o: &ObjectRecord) -> Self {
        ObjectView {
            blake3: o.blake3.clone(),
            key: o.key.clone(),
            name: o.name.clone(),
            object_id: o.object_id.clone(),
            plain_blake3: o.plain_blake3.clone(),
            plain_size: o.plain_size,
            size: o.size,
        }
    }
}

impl From<&Manifest> for BackupView {
    fn from(m: &Manifest) -> Self {
        BackupView {
            finished: m.finished,
            host: m.host.clone(),
            id: m.id.clone(),
            kind: m.kind.clone(),
            locked_until: m.locked_until,
            name: m.name.clone(),
            objects: m.objects.iter().map(ObjectView::from).collect(),
            parent: m.parent.clone(),
            plan: m.plan.clone(),
            repository: m.repository.clone(),
            source: m.source.clone(),
            started: m.started,
            stats: m.stats.clone(),
            tags: m.tags.clone(),
            tool: m.tool.clone(),
            version: m.version,
            warnings: m.warnings.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let dek = "7c".repeat(16) + &"e1".repeat(16);
        let json = format!(
            r#"{{"version":2,"id":"00112233445566778899aabbccddeeff","repository":"ffeeddccbbaa99887766554433221100",
"kind":"postgres","name":"app","plan":"nightly","host":"h","tags":["t"],"started":"2026-11-21T10:00:00+01:00",
"finished":"2026-11-21T10:00:01+01:00","tool":"lifeboat 0.1.0","parent":null,"source":{{"server":"16"}},
"objects":[{{"name":"db/app.pgdump","key":"data/ab/ab000000000000000000000000000000","object_id":"ab000000000000000000000000000000",
"dek":"{dek}","size":100,"blake3":"{digest}","plain_size":5,"plain_blake3":"{digest}"}}],"warnings":["w"],
"stats":{{"files":1}},"locked_until":"2027-01-01T00:00:00+00:00"}}"#,
            digest = "11".repeat(32),
        );
        serde_json::from_str(&json).unwrap()
    }

    /// The view must never carry a data key, in any encoding a serializer might pick.
    #[test]
    fn the_view_holds_no_key_material() {
        let m = manifest();
        let key = m.objects[0].dek.expose();
        let text = serde_json::to_string(&BackupView::from(&m)).unwrap();
        let hex_key = hex::encode(key);
        assert!(serde_json::to_string(&m).unwrap().contains(&hex_key), "the fixture has no key to leak");
        assert!(!text.contains(&hex_key) && !text.contains(&hex_key.to_uppercase()), "{text}");
        assert!(!text.contains("dek"), "{text}");
        // Neither as base64 nor as a list of byte values.
        let base64 = {
            const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut out = String::new();
            for c in key.chunks(3) {
                let n = c.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
                for i in 0..=c.len() {
                    out.push(char::from(A[(n >> (18 - 6 * i)) as usize & 63]));
                }
            }
            out
        };
        assert!(!text.contains(&base64[..40]), "{text}");
        let bytes = key.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(",");
        assert!(!text.contains(&bytes), "{text}");
    }

    /// The view is the manifest's JSON with the keys taken out, member for member and in
    /// the same (sorted) order: what `show --json` printed before the view existed.
    #[test]
    fn the_view_is_the_manifest_json_without_the_keys() {
        let m = manifest();
        let mut expected = serde_json::to_value(&m).unwrap();
        for object in expected["objects"].as_array_mut().unwrap() {
            object.as_object_mut().unwrap().remove("dek");
        }
        let view = BackupView::from(&m);
        assert_eq!(serde_json::to_value(&view).unwrap(), expected);
        assert_eq!(
            serde_json::to_string_pretty(&view).unwrap(),
            serde_json::to_string_pretty(&expected).unwrap(),
            "member order differs"
        );
        let mut unlocked = m.clone();
        unlocked.locked_until = None;
        let mut expected = serde_json::to_value(&unlocked).unwrap();
        expected["objects"][0].as_object_mut().unwrap().remove("dek");
        assert_eq!(serde_json::to_value(BackupView::from(&unlocked)).unwrap(), expected);
    }
}

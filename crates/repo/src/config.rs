//! The `config` object: repository identity, defaults and the master key's slots
//! (docs/FORMAT.md, section 2).

use chrono::{DateTime, FixedOffset};
use lifeboat_crypto::{
    Argon2Params, RecipientPublicKey, SecretKey, WriterKey, WriterPublicKey, ct_eq, keyfile_kek, password_kek,
    random_bytes, unwrap_key, wrap_key,
};
use serde::{Deserialize, Serialize};

use crate::credential::Credential;

/// The `format` value of every config.
pub const FORMAT_NAME: &str = "lifeboat-repository";
/// The config version this crate reads and writes. Version 1 (per-recipient MACs, random
/// master key ids, no generation counter) is refused: no repository of it was ever released.
pub const CONFIG_VERSION: u32 = 2;
/// The config member that makes new files backups format 3 (`"data_format": 3`); absent,
/// they are format 2. An extra member, so a config without it keeps its MAC and form.
pub const DATA_FORMAT_MEMBER: &str = "data_format";
/// The most key slots a config may hold: unlocking tries each, so a hostile config must
/// not be able to make a client run Argon2id a thousand times.
pub const MAX_KEY_SLOTS: usize = 32;
/// The most recipients a config may hold.
pub const MAX_RECIPIENTS: usize = 64;
/// The most registered writers a config may hold.
pub const MAX_WRITERS: usize = 64;

/// The JSON document stored at `config`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigFile {
    /// Always `lifeboat-repository`.
    pub format: String,
    /// Format version.
    pub version: u32,
    /// Repository id (32 hex).
    pub id: String,
    /// Creation time.
    pub created: DateTime<FixedOffset>,
    /// Incremented by every write of the config (1 at `init`). Authenticated by `mac`, and
    /// remembered per repository by clients, so an older config put back is noticed.
    pub generation: u64,
    /// Default segment size for new objects.
    pub segment_size: u32,
    /// Default zstd level for new objects.
    pub compression_level: i32,
    /// Id of the current master key (16 hex): derived from the key itself
    /// ([`master_key_id`]), so a slot that unwraps some other key is told apart.
    pub master_key_id: String,
    /// Ed25519 public key (`lbwp1…`) derived from the master key: master-key holders sign the
    /// manifests they write with it, so readers with only an identity can check them.
    pub signing_key: String,
    /// Slots wrapping the current master key.
    pub slots: Vec<SlotEntry>,
    /// X25519 recipients every new manifest is also sealed for.
    #[serde(default)]
    pub recipients: Vec<RecipientEntry>,
    /// Writers without the master key whose signed manifests readers accept.
    #[serde(default)]
    pub writers: Vec<WriterEntry>,
    /// Master keys of an unfinished rotation, wrapped by the current one.
    #[serde(default)]
    pub retired_master_keys: Vec<RetiredKey>,
    /// HMAC-SHA256 over every other member (docs/FORMAT.md 2.5), under a key derived from
    /// the master key.
    #[serde(default)]
    pub mac: String,
    /// Members this version does not know: kept on rewrite, and covered by the MAC.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// The canonical bytes the MAC covers, as read (empty for a config built in memory).
    #[serde(skip)]
    pub(crate) signed: Vec<u8>,
}

/// How a slot's key-encryption key is derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlotKind {
    /// From a password through Argon2id.
    Password,
    /// From a key file through HKDF.
    Keyfile,
}

/// Key-derivation parameters of a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "algorithm")]
pub enum Kdf {
    /// Argon2id (RFC 9106).
    #[serde(rename = "argon2id")]
    Argon2id {
        /// Argon2 version (19 = 0x13).
        version: u32,
        /// Memory in KiB.
        memory_kib: u32,
        /// Passes.
        iterations: u32,
        /// Lanes.
        parallelism: u32,
        /// Salt (32 hex).
        salt: String,
    },
    /// HKDF-SHA256 over a key file.
    #[serde(rename = "hkdf-sha256")]
    HkdfSha256 {
        /// Salt (32 hex).
        salt: String,
    },
}

/// One way to unlock the master key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlotEntry {
    /// Slot id (16 hex).
    pub id: String,
    /// Password or key file.
    pub kind: SlotKind,
    /// A note for operators ("ops laptop", "escrow").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// When the slot was added.
    pub created: DateTime<FixedOffset>,
    /// How the key-encryption key is derived.
    pub kdf: Kdf,
    /// AEAD nonce (24 hex).
    pub nonce: String,
    /// The wrapped master key (96 hex).
    pub wrapped: String,
}

/// A recipient of new manifests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecipientEntry {
    /// First 8 bytes of SHA-256 of the key (16 hex).
    pub id: String,
    /// `lbpk1…`.
    pub public_key: String,
    /// A note for operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A host that writes backups without the master key, registered by a master-key holder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriterEntry {
    /// First 8 bytes of SHA-256 of the key (16 hex).
    pub id: String,
    /// `lbwp1…`: the Ed25519 key its manifests are signed with.
    pub public_key: String,
    /// A note for operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A previous master key kept during a rotation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetiredKey {
    /// Its id (16 hex).
    pub id: String,
    /// AEAD nonce (24 hex).
    pub nonce: String,
    /// Wrapped under the current master key (96 hex).
    pub wrapped: String,
}

/// The master key, its id, and the slot that unlocked it.
#[derive(Debug)]
pub(crate) struct Unlocked {
    pub master_id: [u8; 8],
    pub master: SecretKey,
    pub slot_id: String,
    pub retired: Vec<([u8; 8], SecretKey)>,
}

pub(crate) fn decode_hex<const N: usize>(text: &str, what: &str) -> Result<[u8; N], String> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|e| format!("{what}: {e}"))?;
    Ok(out)
}

fn slot_aad(repo_id: &[u8; 16], slot_id: &[u8; 8]) -> Vec<u8> {
    [b"lifeboat/v1/slot".as_slice(), repo_id, slot_id].concat()
}

fn retired_aad(repo_id: &[u8; 16], key_id: &[u8; 8]) -> Vec<u8> {
    [b"lifeboat/v1/retired".as_slice(), repo_id, key_id].concat()
}

/// The id of a master key: the first 8 bytes of HKDF(MK, "lifeboat/v2/key-id"). Being
/// derived, it cannot be claimed by a key it does not belong to.
pub fn master_key_id(master: &SecretKey) -> [u8; 8] {
    let derived = master.derive(b"", "lifeboat/v2/key-id");
    let mut id = [0u8; 8];
    id.copy_from_slice(derived.expose().get(..8).unwrap_or(&[0; 8]));
    id
}

/// HMAC-SHA256 of the canonical config bytes under HKDF(MK, "lifeboat/v2/config-mac").
fn config_mac(master: &SecretKey, canonical: &[u8]) -> Vec<u8> {
    let mac_key = master.derive(b"", "lifeboat/v2/config-mac");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, mac_key.expose());
    let msg = [b"lifeboat/v2/config".as_slice(), canonical].concat();
    ring::hmac::sign(&key, &msg).as_ref().to_vec()
}

/// The canonical form the config MAC covers (docs/FORMAT.md 2.5): the document without its
/// `mac` member, objects with their members sorted by name, no whitespace, strings escaped
/// as JSON does, integers in decimal. A number that is not an integer has no canonical form
/// and is refused, so the independent reader cannot disagree on how it prints.
pub(crate) fn canonical_config(document: &serde_json::Value) -> Result<Vec<u8>, String> {
    fn write(v: &serde_json::Value, out: &mut Vec<u8>) -> Result<(), String> {
        use serde_json::Value;
        match v {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    out.extend_from_slice(i.to_string().as_bytes());
                } else if let Some(u) = n.as_u64() {
                    out.extend_from_slice(u.to_string().as_bytes());
                } else {
                    return Err(format!("number {n} is not an integer (a config holds integers only)"));
                }
            }
            Value::String(s) => out.extend_from_slice(serde_json::to_string(s).map_err(|e| e.to_string())?.as_bytes()),
            Value::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(item, out)?;
                }
                out.push(b']');
            }
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push(b'{');
                for (i, key) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(serde_json::to_string(key).map_err(|e| e.to_string())?.as_bytes());
                    out.push(b':');
                    write(map.get(*key).unwrap_or(&Value::Null), out)?;
                }
                out.push(b'}');
            }
        }
        Ok(())
    }
    let mut document = document.clone();
    document.as_object_mut().ok_or("the config is not a JSON object")?.remove("mac");
    let mut out = Vec::new();
    write(&document, &mut out)?;
    Ok(out)
}

impl ConfigFile {
    /// Parses and sanity-checks a config document. Every member is checked for shape and
    /// range here, before anything trusts it: unauthenticated readers (write-only hosts) rely
    /// on these checks alone, and Argon2id parameters out of range are refused, not clamped.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let document: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not valid config JSON: {e}"))?;
        if let Some(version) = document.get("version").and_then(serde_json::Value::as_u64)
            && version != u64::from(CONFIG_VERSION)
        {
            return Err(format!(
                "config version {version} is not supported (this build reads {CONFIG_VERSION}; version 1 \
                 repositories were never released: re-create the repository and copy the backups over)"
            ));
        }
        let signed = canonical_config(&document)?;
        let mut config: ConfigFile =
            serde_json::from_value(document).map_err(|e| format!("not valid config JSON: {e}"))?;
        config.signed = signed;
        if config.format != FORMAT_NAME {
            return Err(format!("format is {:?}, expected {FORMAT_NAME:?}", config.format));
        }
        if config.version != CONFIG_VERSION {
            return Err(format!(
                "config version {} is not supported (this build reads {CONFIG_VERSION})",
                config.version
            ));
        }
        config.repo_id()?;
        decode_hex::<8>(&config.master_key_id, "master_key_id")?;
        WriterPublicKey::parse(&config.signing_key).map_err(|e| format!("signing_key: {e}"))?;
        if config.generation == 0 {
            return Err("generation 0 (the first config is generation 1)".into());
        }
        if !(lifeboat_crypto::MIN_SEGMENT..=lifeboat_crypto::MAX_SEGMENT).contains(&config.segment_size) {
            return Err(format!("segment_size {} out of range", config.segment_size));
        }
        if !(0..=22).contains(&config.compression_level) {
            return Err(format!("compression_level {} out of range 0..=22", config.compression_level));
        }
        if config.slots.is_empty() {
            return Err("no key slots".into());
        }
        if config.slots.len() > MAX_KEY_SLOTS {
            return Err(format!("{} key slots (at most {MAX_KEY_SLOTS})", config.slots.len()));
        }
        for slot in &config.slots {
            slot.check()?;
        }
        if config.recipients.len() > MAX_RECIPIENTS {
            return Err(format!("{} recipients (at most {MAX_RECIPIENTS})", config.recipients.len()));
        }
        for r in &config.recipients {
            let public = RecipientPublicKey::parse(&r.public_key).map_err(|e| format!("recipient {}: {e}", r.id))?;
            if hex::encode(public.id()) != r.id {
                return Err(format!("recipient {}: id does not match its public key", r.id));
            }
        }
        if config.writers.len() > MAX_WRITERS {
            return Err(format!("{} writers (at most {MAX_WRITERS})", config.writers.len()));
        }
        config.writer_keys()?;
        if config.mac.is_empty() {
            return Err("the config carries no mac".into());
        }
        decode_hex::<32>(&config.mac, "mac")?;
        Ok(config)
    }

    /// The registered writers' public keys, checked against their ids.
    pub fn writer_keys(&self) -> Result<Vec<WriterPublicKey>, String> {
        self.writers
            .iter()
            .map(|w| {
                let public = WriterPublicKey::parse(&w.public_key).map_err(|e| format!("writer {}: {e}", w.id))?;
                if hex::encode(public.id()) != w.id {
                    return Err(format!("writer {}: id does not match its public key", w.id));
                }
                Ok(public)
            })
            .collect()
    }

    /// Every key whose signature a reader accepts on a manifest it opened without the master
    /// key: the master key's own signing key and the registered writers.
    pub fn trusted_signers(&self) -> Result<Vec<WriterPublicKey>, String> {
        let mut keys = self.writer_keys()?;
        keys.push(WriterPublicKey::parse(&self.signing_key).map_err(|e| format!("signing_key: {e}"))?);
        Ok(keys)
    }

    /// Checks the MAC over the whole document (as it was read) under `master`.
    pub(crate) fn verify_mac(&self, master: &SecretKey) -> Result<(), String> {
        let mac = hex::decode(&self.mac).map_err(|e| format!("mac: {e}"))?;
        if self.signed.is_empty() || !ct_eq(&mac, &config_mac(master, &self.signed)) {
            return Err("its MAC does not verify under the master key: the config was altered by someone \
                        without the key (a changed recipient, writer, setting or slot)"
                .into());
        }
        Ok(())
    }

    /// Sets `generation` to one more than `previous` and authenticates every member under
    /// `master`: what every writer of the config calls last before storing it.
    pub(crate) fn seal(&mut self, master: &SecretKey, previous: u64) -> Result<(), String> {
        self.generation = previous.checked_add(1).ok_or("generation overflow")?;
        self.signing_key = WriterKey::derive_from(master).map_err(|e| e.to_string())?.public().to_string();
        self.mac.clear();
        let document = serde_json::to_value(&*self).map_err(|e| e.to_string())?;
        self.signed = canonical_config(&document)?;
        self.mac = hex::encode(config_mac(master, &self.signed));
        Ok(())
    }

    /// The raw repository id.
    pub fn repo_id(&self) -> Result<[u8; 16], String> {
        decode_hex(&self.id, "repository id")
    }

    pub(crate) fn master_id(&self) -> [u8; 8] {
        decode_hex(&self.master_key_id, "master_key_id").unwrap_or_default()
    }

    /// Tries every slot of the credential's kind. Blocking (Argon2id): call off the reactor.
    pub(crate) fn unlock(&self, credential: &Credential) -> Result<Option<Unlocked>, String> {
        let repo_id = self.repo_id()?;
        for slot in &self.slots {
            let kek = match (credential, slot.kind, &slot.kdf) {
                (
                    Credential::Password(pw),
                    SlotKind::Password,
                    Kdf::Argon2id { version, memory_kib, iterations, parallelism, salt },
                ) => {
                    if *version != 19 {
                        return Err(format!("slot {}: Argon2 version {version} unsupported", slot.id));
                    }
                    let salt = hex::decode(salt).map_err(|e| format!("slot {} salt: {e}", slot.id))?;
                    let params =
                        Argon2Params { memory_kib: *memory_kib, iterations: *iterations, parallelism: *parallelism };
                    password_kek(pw.as_bytes(), &salt, params).map_err(|e| format!("slot {}: {e}", slot.id))?
                }
                (Credential::KeyFile(content), SlotKind::Keyfile, Kdf::HkdfSha256 { salt }) => {
                    let salt = hex::decode(salt).map_err(|e| format!("slot {} salt: {e}", slot.id))?;
                    keyfile_kek(content, &salt).map_err(|e| e.to_string())?
                }
                _ => continue,
            };
            let slot_id = decode_hex::<8>(&slot.id, "slot id")?;
            let nonce = decode_hex::<12>(&slot.nonce, "slot nonce")?;
            let wrapped = hex::decode(&slot.wrapped).map_err(|e| format!("slot {} wrapped key: {e}", slot.id))?;
            if let Some(master) = unwrap_key(&kek, &nonce, &slot_aad(&repo_id, &slot_id), &wrapped) {
                let id = master_key_id(&master);
                if id != self.master_id() {
                    return Err(format!(
                        "slot {} unwraps a key whose id is {}, not the repository's master key {}: a decoy slot \
                         (the config was tampered with)",
                        slot.id,
                        hex::encode(id),
                        self.master_key_id
                    ));
                }
                self.verify_mac(&master)?;
                let retired = self.open_retired(&master)?;
                return Ok(Some(Unlocked { master_id: id, master, slot_id: slot.id.clone(), retired }));
            }
        }
        Ok(None)
    }

    fn open_retired(&self, master: &SecretKey) -> Result<Vec<([u8; 8], SecretKey)>, String> {
        let repo_id = self.repo_id()?;
        let kek = master.derive(b"", "lifeboat/v1/retired-wrap");
        self.retired_master_keys
            .iter()
            .map(|r| {
                let id = decode_hex::<8>(&r.id, "retired key id")?;
                let nonce = decode_hex::<12>(&r.nonce, "retired key nonce")?;
                let wrapped = hex::decode(&r.wrapped).map_err(|e| e.to_string())?;
                let key = unwrap_key(&kek, &nonce, &retired_aad(&repo_id, &id), &wrapped)
                    .ok_or_else(|| format!("retired master key {} does not open with the current key", r.id))?;
                if master_key_id(&key) != id {
                    return Err(format!("retired master key {} is not the key its id names", r.id));
                }
                Ok((id, key))
            })
            .collect()
    }

    /// The recipients' public keys. Authenticated only as part of the whole config: call it
    /// on a config whose MAC was verified ([`unlock`](Self::unlock) does).
    pub(crate) fn recipient_keys(&self) -> Result<Vec<RecipientPublicKey>, String> {
        self.recipients
            .iter()
            .map(|r| RecipientPublicKey::parse(&r.public_key).map_err(|e| format!("recipient {}: {e}", r.id)))
            .collect()
    }

    pub(crate) fn retire(&self, current: &SecretKey, old_id: [u8; 8], old: &SecretKey) -> Result<RetiredKey, String> {
        let repo_id = self.repo_id()?;
        let kek = current.derive(b"", "lifeboat/v1/retired-wrap");
        let (nonce, wrapped) = wrap_key(&kek, &retired_aad(&repo_id, &old_id), old).map_err(|e| e.to_string())?;
        Ok(RetiredKey { id: hex::encode(old_id), nonce: hex::encode(nonce), wrapped: hex::encode(wrapped) })
    }
}

impl SlotEntry {
    /// Rejects a slot whose parameters are out of range before anyone derives a key with
    /// them (a decoy with 8 KiB and one pass, or one asking for terabytes).
    fn check(&self) -> Result<(), String> {
        decode_hex::<8>(&self.id, "slot id")?;
        match (&self.kind, &self.kdf) {
            (SlotKind::Password, Kdf::Argon2id { version, memory_kib, iterations, parallelism, .. }) => {
                if *version != 19 {
                    return Err(format!("slot {}: Argon2 version {version} unsupported", self.id));
                }
                Argon2Params { memory_kib: *memory_kib, iterations: *iterations, parallelism: *parallelism }
                    .validate()
                    .map_err(|e| format!("slot {}: {e}", self.id))
            }
            (SlotKind::Keyfile, Kdf::HkdfSha256 { .. }) => Ok(()),
            _ => Err(format!("slot {}: kind and key derivation do not match", self.id)),
        }
    }
}

/// A new slot wrapping `master` for a credential. Blocking (Argon2id).
pub(crate) fn make_slot(
    repo_id: &[u8; 16],
    master: &SecretKey,
    credential: &Credential,
    kdf_params: Argon2Params,
    label: Option<String>,
    created: chrono::DateTime<chrono::FixedOffset>,
) -> Result<SlotEntry, String> {
    let slot_id = random_bytes::<8>().map_err(|e| e.to_string())?;
    let salt = random_bytes::<16>().map_err(|e| e.to_string())?;
    let (kind, kdf, kek) = match credential {
        Credential::Password(pw) => {
            if pw.is_empty() {
                return Err("the password is empty".into());
            }
            let kek = password_kek(pw.as_bytes(), &salt, kdf_params).map_err(|e| e.to_string())?;
            let kdf = Kdf::Argon2id {
                version: 19,
                memory_kib: kdf_params.memory_kib,
                iterations: kdf_params.iterations,
                parallelism: kdf_params.parallelism,
                salt: hex::encode(salt),
            };
            (SlotKind::Password, kdf, kek)
        }
        Credential::KeyFile(content) => {
            let kek = keyfile_kek(content, &salt).map_err(|e| e.to_string())?;
            (SlotKind::Keyfile, Kdf::HkdfSha256 { salt: hex::encode(salt) }, kek)
        }
        Credential::Identity(_) | Credential::WriteOnly(_) => {
            return Err("only a password or a key file can hold a key slot".into());
        }
    };
    let (nonce, wrapped) = wrap_key(&kek, &slot_aad(repo_id, &slot_id), master).map_err(|e| e.to_string())?;
    Ok(SlotEntry {
        id: hex::encode(slot_id),
        kind,
        label,
        created,
        kdf,
        nonce: hex::encode(nonce),
        wrapped: hex::encode(wrapped),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> serde_json::Value {
        serde_json::json!({
            "format": FORMAT_NAME, "version": CONFIG_VERSION, "id": "00112233445566778899aabbccddeeff",
            "created": "2026-11-21T10:00:00+00:00", "generation": 4, "segment_size": 1048576,
            "compression_level": 3, "master_key_id": "0011223344556677",
            "signing_key": format!("lbwp1{}", "03".repeat(32)),
            "slots": [{"id": "8899aabbccddeeff", "kind": "keyfile", "created": "2026-11-21T10:00:00+00:00",
                       "kdf": {"algorithm": "hkdf-sha256", "salt": "000102030405060708090a0b0c0d0e0f"},
                       "nonce": "000102030405060708090a0b", "wrapped": "00"}],
            "a_later_member": {"z": [1, -2, "é\n"], "a": null},
            "mac": "00".repeat(32)
        })
    }

    #[test]
    fn canonical_form_is_sorted_compact_and_refuses_fractions() {
        let doc = serde_json::json!({"b": 1, "a": {"d": [true, "x\"\u{1}"], "c": -5}, "mac": "dropped"});
        assert_eq!(
            String::from_utf8(canonical_config(&doc).unwrap()).unwrap(),
            r#"{"a":{"c":-5,"d":[true,"x\"\u0001"]},"b":1}"#
        );
        assert!(canonical_config(&serde_json::json!({"a": 1.5})).is_err());
        assert!(canonical_config(&serde_json::json!([1])).is_err(), "a config is an object");
    }

    #[test]
    fn unknown_members_survive_a_rewrite_and_stay_authenticated() {
        let mut config = ConfigFile::parse(&serde_json::to_vec(&sample()).unwrap()).unwrap();
        let master = SecretKey::from_bytes([5; 32]);
        config.seal(&master, config.generation).unwrap();
        assert_eq!(config.generation, 5);
        let stored = serde_json::to_vec_pretty(&config).unwrap();
        let again = ConfigFile::parse(&stored).unwrap();
        again.verify_mac(&master).unwrap();
        assert_eq!(again.extra.get("a_later_member"), sample().get("a_later_member"));
        assert!(again.verify_mac(&SecretKey::from_bytes([6; 32])).is_err());
        // Changing the member a newer version wrote is noticed like any other change.
        let mut doc: serde_json::Value = serde_json::from_slice(&stored).unwrap();
        doc["a_later_member"]["a"] = 1.into();
        let changed = ConfigFile::parse(&serde_json::to_vec(&doc).unwrap()).unwrap();
        assert!(changed.verify_mac(&master).is_err());
    }

    #[test]
    fn version_one_and_out_of_range_members_are_refused() {
        let mut v1 = sample();
        v1["version"] = 1.into();
        let err = ConfigFile::parse(&serde_json::to_vec(&v1).unwrap()).unwrap_err();
        assert!(err.contains("version 1"), "{err}");
        let mut zero = sample();
        zero["generation"] = 0.into();
        assert!(ConfigFile::parse(&serde_json::to_vec(&zero).unwrap()).is_err());
        let mut weak = sample();
        weak["slots"][0] = serde_json::json!({"id": "8899aabbccddeeff", "kind": "password",
            "created": "2026-11-21T10:00:00+00:00", "nonce": "000102030405060708090a0b", "wrapped": "00",
            "kdf": {"algorithm": "argon2id", "version": 19, "memory_kib": 8, "iterations": 1, "parallelism": 1,
                    "salt": "000102030405060708090a0b0c0d0e0f"}});
        let err = ConfigFile::parse(&serde_json::to_vec(&weak).unwrap()).unwrap_err();
        assert!(err.contains("slot 8899aabbccddeeff") && err.contains("8 KiB"), "{err}");
    }
}

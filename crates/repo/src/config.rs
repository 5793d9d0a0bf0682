//! The `config` object: repository identity, defaults and the master key's slots
//! (docs/FORMAT.md, section 2).

use chrono::{DateTime, FixedOffset};
use lifeboat_crypto::{
    Argon2Params, RecipientPublicKey, SecretKey, ct_eq, keyfile_kek, password_kek, random_bytes, unwrap_key, wrap_key,
};
use serde::{Deserialize, Serialize};

use crate::credential::Credential;

/// The `format` value of every config.
pub const FORMAT_NAME: &str = "lifeboat-repository";
/// The config version this crate reads and writes.
pub const CONFIG_VERSION: u32 = 1;

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
    /// Default segment size for new objects.
    pub segment_size: u32,
    /// Default zstd level for new objects.
    pub compression_level: i32,
    /// Id of the current master key (16 hex).
    pub master_key_id: String,
    /// Slots wrapping the current master key.
    pub slots: Vec<SlotEntry>,
    /// X25519 recipients every new manifest is also sealed for.
    #[serde(default)]
    pub recipients: Vec<RecipientEntry>,
    /// Master keys of an unfinished rotation, wrapped by the current one.
    #[serde(default)]
    pub retired_master_keys: Vec<RetiredKey>,
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
    /// HMAC under the master key: only a master-key holder can add recipients.
    pub mac: String,
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

fn recipient_mac(master: &SecretKey, repo_id: &[u8; 16], public: &RecipientPublicKey) -> [u8; 32] {
    let mac_key = master.derive(b"", "lifeboat/v1/config-mac");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, mac_key.expose());
    let msg = [b"lifeboat/v1/recipient".as_slice(), repo_id, public.as_bytes()].concat();
    ring::hmac::sign(&key, &msg).as_ref().try_into().expect("32-byte HMAC-SHA256")
}

impl ConfigFile {
    /// Parses and sanity-checks a config document.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let config: ConfigFile = serde_json::from_slice(bytes).map_err(|e| format!("not valid config JSON: {e}"))?;
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
        if !(lifeboat_crypto::MIN_SEGMENT..=lifeboat_crypto::MAX_SEGMENT).contains(&config.segment_size) {
            return Err(format!("segment_size {} out of range", config.segment_size));
        }
        if !(0..=22).contains(&config.compression_level) {
            return Err(format!("compression_level {} out of range 0..=22", config.compression_level));
        }
        if config.slots.is_empty() {
            return Err("no key slots".into());
        }
        Ok(config)
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
                let retired = self.open_retired(&master)?;
                return Ok(Some(Unlocked { master_id: self.master_id(), master, slot_id: slot.id.clone(), retired }));
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
                Ok((id, key))
            })
            .collect()
    }

    /// Recipients whose MAC verifies under `master`; an unauthenticated one is an error,
    /// because someone who can only write the config must not be able to add a reader.
    pub(crate) fn verified_recipients(&self, master: &SecretKey) -> Result<Vec<RecipientPublicKey>, String> {
        let repo_id = self.repo_id()?;
        self.recipients
            .iter()
            .map(|r| {
                let public = RecipientPublicKey::parse(&r.public_key).map_err(|e| e.to_string())?;
                let mac = hex::decode(&r.mac).map_err(|e| e.to_string())?;
                if !ct_eq(&mac, &recipient_mac(master, &repo_id, &public)) {
                    return Err(format!(
                        "recipient {} is not authenticated by the master key (was the config tampered with?)",
                        r.id
                    ));
                }
                Ok(public)
            })
            .collect()
    }

    pub(crate) fn recipient_entry(
        &self,
        master: &SecretKey,
        public: &RecipientPublicKey,
        label: Option<String>,
    ) -> Result<RecipientEntry, String> {
        let repo_id = self.repo_id()?;
        Ok(RecipientEntry {
            id: hex::encode(public.id()),
            public_key: public.to_string(),
            label,
            mac: hex::encode(recipient_mac(master, &repo_id, public)),
        })
    }

    pub(crate) fn retire(&self, current: &SecretKey, old_id: [u8; 8], old: &SecretKey) -> Result<RetiredKey, String> {
        let repo_id = self.repo_id()?;
        let kek = current.derive(b"", "lifeboat/v1/retired-wrap");
        let (nonce, wrapped) = wrap_key(&kek, &retired_aad(&repo_id, &old_id), old).map_err(|e| e.to_string())?;
        Ok(RetiredKey { id: hex::encode(old_id), nonce: hex::encode(nonce), wrapped: hex::encode(wrapped) })
    }
}

/// A new slot wrapping `master` for a credential. Blocking (Argon2id).
pub(crate) fn make_slot(
    repo_id: &[u8; 16],
    master: &SecretKey,
    credential: &Credential,
    kdf_params: Argon2Params,
    label: Option<String>,
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
        created: crate::now(),
        kdf,
        nonce: hex::encode(nonce),
        wrapped: hex::encode(wrapped),
    })
}

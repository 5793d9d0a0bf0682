//! Ed25519 writer keys: a host that writes backups without the master key signs each
//! manifest it seals, so that a reader can tell its backups from ones forged by anybody
//! with write access to the storage (docs/FORMAT.md, sections 2.4 and 3.2).

use ring::digest;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::header::{FixedHeader, ObjectHeader, Slot};
use crate::keys::{SecretKey, random_bytes};

const PUBLIC_PREFIX: &str = "lbwp1";
const SECRET_PREFIX: &str = "lbws1";

/// Slot type of a writer signature in a manifest header: body `writer_id (8) || signature (64)`.
pub const SIGNATURE_SLOT: u8 = 3;

/// What a writer signs: a domain label, the manifest's 72-byte fixed header (which binds the
/// backup id and the data key's commitment) and the manifest plaintext.
pub fn manifest_signature_message(fixed_header: &[u8], plaintext: &[u8]) -> Vec<u8> {
    [b"lifeboat/v2/manifest-signature".as_slice(), fixed_header, plaintext].concat()
}

/// The signature slot `seal_bytes_signed` (in `pipeline.rs`) appends.
pub(crate) fn signature_slot(fixed: &FixedHeader, plaintext: &[u8], signer: &WriterKey) -> Slot {
    let signature = signer.sign(&manifest_signature_message(&fixed.encode(), plaintext));
    Slot::Unknown { kind: SIGNATURE_SLOT, body: [&signer.public().id()[..], &signature[..]].concat() }
}

/// Checks the writer signature of an opened object against the writers the reader trusts,
/// returning the writer that signed it. The error names what is wrong: no signature, a
/// malformed one, a writer nobody registered, or a signature that does not verify.
pub fn verify_signature(
    header: &ObjectHeader,
    plaintext: &[u8],
    trusted: &[WriterPublicKey],
) -> Result<WriterPublicKey, String> {
    let mut signatures = header.slots.iter().filter_map(|slot| match slot {
        Slot::Unknown { kind, body } if *kind == SIGNATURE_SLOT => Some(body),
        _ => None,
    });
    let body = signatures.next().ok_or("it carries no writer signature")?;
    if signatures.next().is_some() {
        return Err("it carries more than one writer signature".into());
    }
    let (Some(id), Some(signature), 72) = (body.get(..8), body.get(8..), body.len()) else {
        return Err(format!("its signature slot is {} bytes, expected 72", body.len()));
    };
    let writer = trusted
        .iter()
        .find(|w| w.id() == id)
        .ok_or_else(|| format!("it is signed by writer {}, which the repository does not list", hex::encode(id)))?;
    if !writer.verify(&manifest_signature_message(&header.fixed.encode(), plaintext), signature) {
        return Err(format!("its signature by writer {} does not verify (forged or altered)", hex::encode(id)));
    }
    Ok(*writer)
}

/// A writer's public key (`lbwp1` + 64 hex digits in text).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct WriterPublicKey([u8; 32]);

impl WriterPublicKey {
    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let hexpart = text.trim().strip_prefix(PUBLIC_PREFIX).ok_or_else(|| CryptoError::InvalidKey {
            what: "writer public key",
            reason: format!("must start with `{PUBLIC_PREFIX}`"),
        })?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hexpart, &mut bytes)
            .map_err(|e| CryptoError::InvalidKey { what: "writer public key", reason: e.to_string() })?;
        Ok(Self(bytes))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 8-byte id stored in signature slots: SHA-256 of the key, truncated.
    pub fn id(&self) -> [u8; 8] {
        let d = digest::digest(&digest::SHA256, &self.0);
        let mut id = [0u8; 8];
        id.copy_from_slice(d.as_ref().get(..8).unwrap_or(&[0; 8]));
        id
    }

    /// True when `signature` is this key's Ed25519 signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, self.0).verify(message, signature).is_ok()
    }
}

impl std::fmt::Display for WriterPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", hex::encode(self.0))
    }
}

impl std::fmt::Debug for WriterPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WriterPublicKey({self})")
    }
}

/// A writer's Ed25519 signing key. Text form `lbws1` + 64 hex digits of the seed; never logged.
pub struct WriterKey {
    seed: Zeroizing<[u8; 32]>,
    pair: Ed25519KeyPair,
}

impl WriterKey {
    /// A fresh signing key.
    pub fn generate() -> Result<Self, CryptoError> {
        Self::from_seed(Zeroizing::new(random_bytes::<32>()?))
    }

    fn from_seed(seed: Zeroizing<[u8; 32]>) -> Result<Self, CryptoError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed.as_ref())
            .map_err(|_| CryptoError::InvalidKey { what: "writer key", reason: "not an Ed25519 seed".into() })?;
        Ok(Self { seed, pair })
    }

    /// The signing key of a master-key holder, derived from the master key (so every holder
    /// of the key signs alike, and a rotation replaces it).
    pub fn derive_from(master: &SecretKey) -> Result<Self, CryptoError> {
        Self::from_seed(Zeroizing::new(*master.derive(b"", "lifeboat/v2/master-signing").expose()))
    }

    /// Parses the text form (the first non-empty, non-comment line of a writer key file).
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let line =
            text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).ok_or_else(|| {
                CryptoError::InvalidKey { what: "writer key", reason: "empty writer key file".into() }
            })?;
        let hexpart = line.strip_prefix(SECRET_PREFIX).ok_or_else(|| CryptoError::InvalidKey {
            what: "writer key",
            reason: format!("must start with `{SECRET_PREFIX}`"),
        })?;
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hexpart, seed.as_mut())
            .map_err(|_| CryptoError::InvalidKey { what: "writer key", reason: "not 64 hex digits".into() })?;
        Self::from_seed(seed)
    }

    /// The text form, in a buffer wiped on drop. Write it only to a file with mode 0600.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{SECRET_PREFIX}{}", hex::encode(self.seed.as_ref())))
    }

    /// HKDF-SHA256 of the seed with `salt` and the label `info`: a secret only this writer
    /// (and whoever holds its key file) can derive, such as its v3 dedup domain
    /// (docs/FORMAT.md 11.2). The seed itself never leaves the key.
    pub fn derive_secret(&self, salt: &[u8], info: &str) -> SecretKey {
        crate::keys::hkdf32(salt, self.seed.as_ref(), info)
    }

    /// The matching public key.
    pub fn public(&self) -> WriterPublicKey {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(self.pair.public_key().as_ref());
        WriterPublicKey(bytes)
    }

    /// The Ed25519 signature (64 bytes) of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(message).as_ref());
        out
    }
}

impl std::fmt::Debug for WriterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WriterKey(public {})", self.public())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_text_forms() {
        let key = WriterKey::generate().unwrap();
        let again = WriterKey::parse(&format!("# writer\n{}\n", *key.to_text())).unwrap();
        assert_eq!(again.public(), key.public());
        let sig = key.sign(b"message");
        assert!(key.public().verify(b"message", &sig));
        assert!(!key.public().verify(b"messagf", &sig));
        assert!(!WriterKey::generate().unwrap().public().verify(b"message", &sig));
        assert_eq!(WriterPublicKey::parse(&key.public().to_string()).unwrap(), key.public());
        assert!(WriterPublicKey::parse("lbpk1").is_err());
        assert!(!format!("{key:?}").contains(key.to_text().as_str()));
    }
}

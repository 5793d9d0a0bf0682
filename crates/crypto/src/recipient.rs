//! X25519 recipients: whoever holds a recipient's public key can write objects that only
//! the holder of the matching identity (secret key) can read.

use ring::digest;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::keys::{NONCE_LEN, SecretKey, hkdf32, random_bytes, unwrap_key, wrap_key};

const PUBLIC_PREFIX: &str = "lbpk1";
const SECRET_PREFIX: &str = "lbsk1";

/// A recipient's public key (`lbpk1` + 64 hex digits in text).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecipientPublicKey([u8; 32]);

impl RecipientPublicKey {
    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let hexpart = text.trim().strip_prefix(PUBLIC_PREFIX).ok_or_else(|| CryptoError::InvalidKey {
            what: "recipient public key",
            reason: format!("must start with `{PUBLIC_PREFIX}`"),
        })?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hexpart, &mut bytes)
            .map_err(|e| CryptoError::InvalidKey { what: "recipient public key", reason: e.to_string() })?;
        Ok(Self(bytes))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 8-byte id stored in slots: SHA-256 of the key, truncated.
    pub fn id(&self) -> [u8; 8] {
        digest::digest(&digest::SHA256, &self.0).as_ref()[..8].try_into().expect("8 bytes")
    }

    /// Wraps `dek` for this recipient, binding it to `aad` (the object's fixed header).
    pub fn wrap(&self, dek: &SecretKey, aad: &[u8]) -> Result<WrappedForRecipient, CryptoError> {
        let ephemeral = StaticSecret::from(random_bytes::<32>()?);
        let ephemeral_public = PublicKey::from(&ephemeral).to_bytes();
        let shared = ephemeral.diffie_hellman(&PublicKey::from(self.0));
        if !shared.was_contributory() {
            return Err(CryptoError::InvalidKey { what: "recipient public key", reason: "low-order point".into() });
        }
        let kek = wrap_kek(shared.as_bytes(), &ephemeral_public, &self.0);
        let (nonce, wrapped) = wrap_key(&kek, aad, dek)?;
        Ok(WrappedForRecipient { ephemeral_public, nonce, wrapped })
    }
}

impl std::fmt::Display for RecipientPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", hex::encode(self.0))
    }
}

impl std::fmt::Debug for RecipientPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecipientPublicKey({self})")
    }
}

/// A data key wrapped for one recipient: the body of a recipient slot.
#[derive(Debug, Clone)]
pub struct WrappedForRecipient {
    /// The sender's one-time public key.
    pub ephemeral_public: [u8; 32],
    /// AEAD nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The sealed data key (48 bytes).
    pub wrapped: Vec<u8>,
}

/// A recipient's secret key. Text form `lbsk1` + 64 hex digits; never logged.
pub struct Identity(StaticSecret);

impl Identity {
    /// A fresh identity.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self(StaticSecret::from(random_bytes::<32>()?)))
    }

    /// Parses the text form (the first non-empty, non-comment line of an identity file).
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| CryptoError::InvalidKey { what: "identity", reason: "empty identity file".into() })?;
        let hexpart = line.strip_prefix(SECRET_PREFIX).ok_or_else(|| CryptoError::InvalidKey {
            what: "identity",
            reason: format!("must start with `{SECRET_PREFIX}`"),
        })?;
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hexpart, bytes.as_mut())
            .map_err(|_| CryptoError::InvalidKey { what: "identity", reason: "not 64 hex digits".into() })?;
        Ok(Self(StaticSecret::from(*bytes)))
    }

    /// The text form, in a buffer wiped on drop. Write it only to a file with mode 0600.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{SECRET_PREFIX}{}", hex::encode(self.0.to_bytes())))
    }

    /// The matching public key.
    pub fn public(&self) -> RecipientPublicKey {
        RecipientPublicKey(PublicKey::from(&self.0).to_bytes())
    }

    /// Opens a recipient slot; `None` when it was not made for this identity or was altered.
    pub fn unwrap(
        &self,
        ephemeral_public: &[u8; 32],
        nonce: &[u8; NONCE_LEN],
        wrapped: &[u8],
        aad: &[u8],
    ) -> Option<SecretKey> {
        let shared = self.0.diffie_hellman(&PublicKey::from(*ephemeral_public));
        if !shared.was_contributory() {
            return None;
        }
        let kek = wrap_kek(shared.as_bytes(), ephemeral_public, self.public().as_bytes());
        unwrap_key(&kek, nonce, aad, wrapped)
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity(public {})", self.public())
    }
}

fn wrap_kek(shared: &[u8; 32], ephemeral_public: &[u8; 32], recipient_public: &[u8; 32]) -> SecretKey {
    let salt = [&ephemeral_public[..], &recipient_public[..]].concat();
    hkdf32(&salt, shared, "lifeboat/v1/x25519-wrap")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_for_recipient_and_open_with_identity() {
        let id = Identity::generate().unwrap();
        let dek = SecretKey::generate().unwrap();
        let w = id.public().wrap(&dek, b"header").unwrap();
        let (eph, nonce, wrapped) = (w.ephemeral_public, w.nonce, w.wrapped);
        assert_eq!(id.unwrap(&eph, &nonce, &wrapped, b"header").unwrap(), dek);
        assert!(id.unwrap(&eph, &nonce, &wrapped, b"other header").is_none());
        assert!(Identity::generate().unwrap().unwrap(&eph, &nonce, &wrapped, b"header").is_none());
    }

    #[test]
    fn text_forms_roundtrip() {
        let id = Identity::generate().unwrap();
        let again = Identity::parse(&format!("# my key\n{}\n", *id.to_text())).unwrap();
        assert_eq!(again.public(), id.public());
        let public = RecipientPublicKey::parse(&id.public().to_string()).unwrap();
        assert_eq!(public, id.public());
        assert!(RecipientPublicKey::parse("lbpk1zz").is_err());
        assert!(Identity::parse("lbpk1").is_err());
        assert!(!format!("{id:?}").contains(id.to_text().as_str()));
    }

    #[test]
    fn low_order_public_key_is_refused() {
        let zero = RecipientPublicKey([0; 32]);
        assert!(zero.wrap(&SecretKey::generate().unwrap(), b"h").is_err());
    }
}

//! Keys: secret material that zeroizes itself, and the derivations between keys.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::CryptoError;

/// Length of every symmetric key.
pub const KEY_LEN: usize = 32;
/// Length of the AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// Length of an AES-GCM nonce.
pub const NONCE_LEN: usize = 12;

/// Fills `buf` from the operating system's secure random generator.
pub fn random_fill(buf: &mut [u8]) -> Result<(), CryptoError> {
    SystemRandom::new().fill(buf).map_err(|_| CryptoError::Random)
}

/// Returns `N` random bytes.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    random_fill(&mut out)?;
    Ok(out)
}

/// 32 bytes of secret key material, wiped from memory when dropped. `Debug` never shows it.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretKey([u8; KEY_LEN]);

impl SecretKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self(random_bytes()?))
    }

    /// Wraps existing bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        let mut out = [0u8; KEY_LEN];
        hex::decode_to_slice(text.trim(), &mut out)
            .map_err(|e| CryptoError::InvalidKey { what: "key", reason: e.to_string() })?;
        Ok(Self(out))
    }

    /// The key as hex, in a buffer that is wiped when dropped.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0))
    }

    /// The raw bytes.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// HKDF-SHA256 of this key with `salt` and the label `info` (FORMAT.md conventions).
    pub fn derive(&self, salt: &[u8], info: &str) -> SecretKey {
        hkdf32(salt, &self.0, info)
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// HKDF-SHA256: extract with `salt` (empty allowed), expand to 32 bytes with `info`.
pub fn hkdf32(salt: &[u8], ikm: &[u8], info: &str) -> SecretKey {
    struct Len32;
    impl hkdf::KeyType for Len32 {
        fn len(&self) -> usize {
            KEY_LEN
        }
    }
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let info = [info.as_bytes()];
    let mut out = [0u8; KEY_LEN];
    // expand and fill only fail when the requested length exceeds 255 * 32 bytes.
    prk.expand(&info, Len32).and_then(|okm| okm.fill(&mut out)).expect("32 bytes is a valid HKDF-SHA256 length");
    SecretKey(out)
}

/// Seals `plaintext` with AES-256-GCM, returning ciphertext followed by the tag.
pub fn aead_seal(key: &SecretKey, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let key = less_safe_key(key);
    let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
    out.extend_from_slice(plaintext);
    // seal_in_place only fails for inputs above GCM's ~64 GiB limit, far beyond a segment.
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), &mut out)
        .expect("segment is far below the AES-GCM size limit");
    out
}

/// Opens what [`aead_seal`] produced; `None` when authentication fails.
pub fn aead_open(key: &SecretKey, nonce: &[u8; NONCE_LEN], aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let key = less_safe_key(key);
    let mut buf = Zeroizing::new(sealed.to_vec());
    let len = key.open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), &mut buf).ok()?.len();
    buf.truncate(len);
    Some(buf)
}

pub(crate) fn less_safe_key(key: &SecretKey) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&aead::AES_256_GCM, key.expose()).expect("AES-256 key is 32 bytes"))
}

/// Wraps a 32-byte key under `kek`: a fresh nonce, and the sealed key (48 bytes).
pub fn wrap_key(kek: &SecretKey, aad: &[u8], key: &SecretKey) -> Result<([u8; NONCE_LEN], Vec<u8>), CryptoError> {
    let nonce = random_bytes::<NONCE_LEN>()?;
    Ok((nonce, aead_seal(kek, &nonce, aad, key.expose())))
}

/// Opens a key wrapped by [`wrap_key`]; `None` when `kek` or `aad` is not the one used.
pub fn unwrap_key(kek: &SecretKey, nonce: &[u8; NONCE_LEN], aad: &[u8], wrapped: &[u8]) -> Option<SecretKey> {
    let plain = aead_open(kek, nonce, aad, wrapped)?;
    let bytes: [u8; KEY_LEN] = plain.as_slice().try_into().ok()?;
    Some(SecretKey(bytes))
}

/// Compares two byte strings in constant time.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_matches_rfc5869_shape() {
        // Deterministic and label-separated.
        let a = hkdf32(b"salt", b"ikm", "one");
        assert_eq!(a, hkdf32(b"salt", b"ikm", "one"));
        assert_ne!(a, hkdf32(b"salt", b"ikm", "two"));
        assert_ne!(a, hkdf32(b"pepper", b"ikm", "one"));
    }

    #[test]
    fn hkdf_known_answers_match_python_cryptography() {
        // Values computed with Python's `cryptography` HKDF, the reference decoder's library.
        let k = hkdf32(b"s", b"k", "lifeboat");
        assert_eq!(hex::encode(k.expose()), "b05c19f455e5c9be31022d89acdd48e7d8b0731177dfb07d3edca77eb4a079bc");
        let k = hkdf32(b"", &[0u8; 32], "lifeboat/v1/master-wrap");
        assert_eq!(hex::encode(k.expose()), "7deeb346904d9556cd6e0df6ae0bc35c2042379bca1858b2339942669e4643e3");
    }

    #[test]
    fn wrap_roundtrip_and_wrong_kek() {
        let kek = SecretKey::generate().unwrap();
        let key = SecretKey::generate().unwrap();
        let (nonce, wrapped) = wrap_key(&kek, b"aad", &key).unwrap();
        assert_eq!(wrapped.len(), 48);
        assert_eq!(unwrap_key(&kek, &nonce, b"aad", &wrapped).unwrap(), key);
        assert!(unwrap_key(&kek, &nonce, b"other", &wrapped).is_none());
        assert!(unwrap_key(&SecretKey::generate().unwrap(), &nonce, b"aad", &wrapped).is_none());
    }

    #[test]
    fn debug_redacts() {
        let key = SecretKey::from_bytes([7; 32]);
        assert_eq!(format!("{key:?}"), "SecretKey(<redacted>)");
    }
}

//! Turning a password or a key file into a key-encryption key.

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::keys::{KEY_LEN, SecretKey, hkdf32};

/// Argon2id parameters, stored in the repository config beside the salt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// RFC 9106's second recommended option: 64 MiB, 3 passes, 4 lanes.
    fn default() -> Self {
        Self { memory_kib: 65536, iterations: 3, parallelism: 4 }
    }
}

impl Argon2Params {
    /// Rejects parameters too weak to protect a password, or absurd enough to be an
    /// attack on the reader (a hostile config asking for terabytes of memory).
    pub fn validate(&self) -> Result<(), CryptoError> {
        let bad = |m: String| Err(CryptoError::Kdf(m));
        if !(8..=4 * 1024 * 1024).contains(&self.memory_kib) {
            return bad(format!("memory {} KiB outside 8 KiB..4 GiB", self.memory_kib));
        }
        if !(1..=64).contains(&self.iterations) {
            return bad(format!("{} iterations outside 1..=64", self.iterations));
        }
        if !(1..=64).contains(&self.parallelism) || self.memory_kib < 8 * self.parallelism {
            return bad(format!("parallelism {} invalid for {} KiB", self.parallelism, self.memory_kib));
        }
        Ok(())
    }
}

/// Derives a key-encryption key from a password with Argon2id (version 0x13).
/// This is deliberately slow; call it off the async reactor.
pub fn password_kek(password: &[u8], salt: &[u8], params: Argon2Params) -> Result<SecretKey, CryptoError> {
    params.validate()?;
    let p = Params::new(params.memory_kib, params.iterations, params.parallelism, Some(KEY_LEN))
        .map_err(|e| CryptoError::Kdf(e.to_string()))?;
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
        .hash_password_into(password, salt, out.as_mut())
        .map_err(|e| CryptoError::Kdf(e.to_string()))?;
    Ok(SecretKey::from_bytes(*out))
}

/// Derives a key-encryption key from the whole content of a key file.
pub fn keyfile_kek(content: &[u8], salt: &[u8]) -> Result<SecretKey, CryptoError> {
    if content.len() < 16 {
        return Err(CryptoError::InvalidKey { what: "key file", reason: "shorter than 16 bytes".into() });
    }
    Ok(hkdf32(salt, content, "lifeboat/v1/keyfile"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_known_answer_matches_python_cryptography() {
        // cryptography's Argon2id(salt=b"0123456789abcdef", length=32, iterations=1, lanes=1,
        // memory_cost=64).derive(b"password")
        let k = password_kek(
            b"password",
            b"0123456789abcdef",
            Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 },
        )
        .unwrap();
        assert_eq!(hex::encode(k.expose()), KNOWN);
    }
    const KNOWN: &str = include_str!("../tests/argon2id-known-answer.txt");

    #[test]
    fn rejects_hostile_parameters() {
        for p in [
            Argon2Params { memory_kib: 1 << 30, iterations: 1, parallelism: 1 },
            Argon2Params { memory_kib: 64, iterations: 0, parallelism: 1 },
            Argon2Params { memory_kib: 64, iterations: 1, parallelism: 100 },
        ] {
            assert!(password_kek(b"pw", b"saltsaltsaltsalt", p).is_err(), "{p:?}");
        }
    }

    #[test]
    fn keyfile_needs_material() {
        assert!(keyfile_kek(b"short", b"salt").is_err());
        assert_ne!(keyfile_kek(&[1; 32], b"a").unwrap(), keyfile_kek(&[1; 32], b"b").unwrap());
    }
}

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

/// Least Argon2id memory a slot may ask for: 19 MiB, the OWASP password-storage minimum
/// (with at least [`MIN_ARGON2_ITERATIONS`] passes). Weaker slots are refused, never clamped:
/// a config is untrusted input, and a decoy slot with 8 KiB and one pass would otherwise make
/// a password cheap to guess from anything it leaks.
pub const MIN_ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// Most Argon2id memory a slot may ask for (4 GiB): more is an attack on the reader.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 4 * 1024 * 1024;
/// Fewest Argon2id passes (OWASP: 2 passes at 19 MiB).
pub const MIN_ARGON2_ITERATIONS: u32 = 2;
/// Most Argon2id passes.
pub const MAX_ARGON2_ITERATIONS: u32 = 32;
/// Most Argon2id lanes.
pub const MAX_ARGON2_PARALLELISM: u32 = 16;

impl Argon2Params {
    /// The cheapest parameters [`validate`](Self::validate) accepts (19 MiB, 2 passes, 1
    /// lane): for tests and examples, never for production.
    pub const MINIMUM: Argon2Params =
        Argon2Params { memory_kib: MIN_ARGON2_MEMORY_KIB, iterations: MIN_ARGON2_ITERATIONS, parallelism: 1 };

    /// Rejects parameters too weak to protect a password (below 19 MiB or 2 passes), or
    /// absurd enough to be an attack on the reader (a hostile config asking for terabytes of
    /// memory or thousands of passes). Out-of-range values are refused, not clamped.
    pub fn validate(&self) -> Result<(), CryptoError> {
        let bad = |m: String| Err(CryptoError::Kdf(m));
        if !(MIN_ARGON2_MEMORY_KIB..=MAX_ARGON2_MEMORY_KIB).contains(&self.memory_kib) {
            return bad(format!(
                "Argon2id memory {} KiB outside {MIN_ARGON2_MEMORY_KIB}..={MAX_ARGON2_MEMORY_KIB} KiB",
                self.memory_kib
            ));
        }
        if !(MIN_ARGON2_ITERATIONS..=MAX_ARGON2_ITERATIONS).contains(&self.iterations) {
            return bad(format!(
                "Argon2id passes {} outside {MIN_ARGON2_ITERATIONS}..={MAX_ARGON2_ITERATIONS}",
                self.iterations
            ));
        }
        if !(1..=MAX_ARGON2_PARALLELISM).contains(&self.parallelism) {
            return bad(format!("Argon2id lanes {} outside 1..={MAX_ARGON2_PARALLELISM}", self.parallelism));
        }
        Ok(())
    }
}

/// Derives a key-encryption key from a password with Argon2id (version 0x13).
/// This is deliberately slow; call it off the async reactor.
pub fn password_kek(password: &[u8], salt: &[u8], params: Argon2Params) -> Result<SecretKey, CryptoError> {
    params.validate()?;
    argon2id(password, salt, params)
}

/// Argon2id without the range checks (the known-answer test uses tiny parameters).
fn argon2id(password: &[u8], salt: &[u8], params: Argon2Params) -> Result<SecretKey, CryptoError> {
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
        let k =
            argon2id(b"password", b"0123456789abcdef", Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 })
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
            // The decoy-slot downgrade of issue 9: 8 KiB, one pass.
            Argon2Params { memory_kib: 8, iterations: 1, parallelism: 1 },
            Argon2Params { memory_kib: MIN_ARGON2_MEMORY_KIB - 1, iterations: 2, parallelism: 1 },
            Argon2Params { memory_kib: MIN_ARGON2_MEMORY_KIB, iterations: 1, parallelism: 1 },
            Argon2Params { memory_kib: MIN_ARGON2_MEMORY_KIB, iterations: 33, parallelism: 1 },
            Argon2Params { memory_kib: MIN_ARGON2_MEMORY_KIB, iterations: 2, parallelism: 0 },
            Argon2Params { memory_kib: MIN_ARGON2_MEMORY_KIB, iterations: 2, parallelism: 17 },
        ] {
            assert!(password_kek(b"pw", b"saltsaltsaltsalt", p).is_err(), "{p:?}");
        }
        assert!(Argon2Params::MINIMUM.validate().is_ok());
        assert!(Argon2Params::default().validate().is_ok());
    }

    #[test]
    fn keyfile_needs_material() {
        assert!(keyfile_kek(b"short", b"salt").is_err());
        assert_ne!(keyfile_kek(&[1; 32], b"a").unwrap(), keyfile_kek(&[1; 32], b"b").unwrap());
    }
}

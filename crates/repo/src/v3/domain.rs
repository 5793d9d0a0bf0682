//! Dedup domains: the secrets a writer chunks, names and seals blobs with.

use lifeboat_crypto::SecretKey;

/// Length of a domain secret in bytes.
pub const DOMAIN_SECRET_LEN: usize = 32;

/// A domain's id: the first 8 bytes of HKDF(ikm = secret, "lifeboat/v3/domain-id").
pub type DomainId = [u8; 8];

/// The keys of one dedup domain, all derived from its 32-byte secret (FORMAT.md 11.2).
pub struct DomainKeys {
    id: DomainId,
    chunker: [u8; 32],
    ids: SecretKey,
    blobs: SecretKey,
}

impl std::fmt::Debug for DomainKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainKeys").field("id", &hex::encode(self.id)).finish_non_exhaustive()
    }
}

impl DomainKeys {
    /// Derives the keys of the domain whose secret is `secret`.
    pub fn derive(secret: &SecretKey) -> DomainKeys {
        let id_bytes = secret.derive(&[], "lifeboat/v3/domain-id");
        let mut id = [0u8; 8];
        id.copy_from_slice(&id_bytes.expose()[..8]);
        let chunker = *secret.derive(&[], "lifeboat/v3/chunker").expose();
        DomainKeys {
            id,
            chunker,
            ids: secret.derive(&[], "lifeboat/v3/blob-id"),
            blobs: secret.derive(&[], "lifeboat/v3/blob-seal"),
        }
    }

    /// The domain's id.
    pub fn id(&self) -> DomainId {
        self.id
    }

    /// The chunker key (gear table seed).
    pub fn chunker_key(&self) -> &[u8; 32] {
        &self.chunker
    }

    /// The keyed BLAKE3 id of a blob's plaintext.
    pub fn blob_id(&self, plaintext: &[u8]) -> super::BlobId {
        super::BlobId(*blake3::keyed_hash(self.ids.expose(), plaintext).as_bytes())
    }

    /// The key packs of this domain derive their per-pack keys from.
    pub fn seal_key(&self) -> &SecretKey {
        &self.blobs
    }
}

//! Dedup domains: the secrets a writer chunks, names and seals blobs with, and how the packs
//! of a domain are keyed (docs/FORMAT.md 11.2, 11.3).
//!
//! Two kinds of domain exist. The main domain's packs derive their key `PK` from the
//! domain's `seal_key`: whoever holds the secret reads them. A write-only host's domain
//! ([`DomainKeys::for_writer`]) seals each pack with a random `PK` wrapped for the
//! repository's recipients in the pack header, so the host itself, which derives the domain
//! secret from its writer key, can dedup against its own index yet cannot read a pack it
//! wrote in an earlier session. The keys of packs written or unwrapped by this handle are
//! kept in memory for its lifetime only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lifeboat_crypto::{Identity, RecipientPublicKey, SecretKey, WriterKey};

/// Length of a domain secret in bytes.
pub const DOMAIN_SECRET_LEN: usize = 32;

/// A domain's id: the first 8 bytes of HKDF(ikm = secret, "lifeboat/v3/domain-id").
pub type DomainId = [u8; 8];

/// The HKDF label of a write-only host's domain secret (FORMAT.md 11.2).
const WRITER_DOMAIN_LABEL: &str = "lifeboat/v3/writer-domain";

/// The keys of one dedup domain, all derived from its 32-byte secret (FORMAT.md 11.2), and
/// how its packs are keyed.
pub struct DomainKeys {
    id: DomainId,
    chunker: [u8; 32],
    ids: SecretKey,
    blobs: SecretKey,
    /// Non-empty: new packs get a random key wrapped for these (a write-only domain).
    recipients: Vec<RecipientPublicKey>,
    /// Identities that may open the key slots of packs (readers of write-only domains).
    identities: Vec<Arc<Identity>>,
    /// Pack id -> key, for packs with slots this handle wrote or unwrapped.
    pack_keys: Mutex<HashMap<[u8; 16], SecretKey>>,
}

impl std::fmt::Debug for DomainKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainKeys")
            .field("id", &hex::encode(self.id))
            .field("recipients", &self.recipients.len())
            .field("identities", &self.identities.len())
            .finish_non_exhaustive()
    }
}

impl DomainKeys {
    /// Derives the keys of the domain whose secret is `secret`. Its packs are keyed from
    /// `seal_key` (no slots) until [`sealed_for`](Self::sealed_for) says otherwise.
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
            recipients: Vec::new(),
            identities: Vec::new(),
            pack_keys: Mutex::new(HashMap::new()),
        }
    }

    /// The secret of a write-only host's own domain in repository `repository_id`:
    /// `HKDF(salt = repository id, ikm = writer seed, "lifeboat/v3/writer-domain")`. The
    /// host finds it again without any state; another writer key, another domain.
    pub fn writer_secret(writer: &WriterKey, repository_id: &[u8; 16]) -> SecretKey {
        writer.derive_secret(repository_id, WRITER_DOMAIN_LABEL)
    }

    /// The domain of a write-only host, its packs sealed for `recipients` (at least one).
    pub fn for_writer(writer: &WriterKey, repository_id: &[u8; 16], recipients: Vec<RecipientPublicKey>) -> DomainKeys {
        DomainKeys::derive(&Self::writer_secret(writer, repository_id)).sealed_for(recipients)
    }

    /// These keys, writing packs with a random key wrapped for `recipients` (type-2 slots);
    /// an empty list keeps packs keyed from `seal_key`.
    pub fn sealed_for(mut self, recipients: Vec<RecipientPublicKey>) -> DomainKeys {
        self.recipients = recipients;
        self
    }

    /// These keys, opening packs with slots through `identities` (a reader of a write-only
    /// domain reads each pack's header once to unwrap its key).
    pub fn opened_by(mut self, identities: Vec<Arc<Identity>>) -> DomainKeys {
        self.identities = identities;
        self
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

    /// The key packs without slots derive their per-pack keys from, and index objects are
    /// sealed with (in every domain, so a write-only host reads its own index).
    pub fn seal_key(&self) -> &SecretKey {
        &self.blobs
    }

    /// True when new packs are sealed for recipients with a random key (a write-only domain).
    pub fn seals_for_recipients(&self) -> bool {
        !self.recipients.is_empty()
    }

    /// The recipients new packs are sealed for (empty: keyed from `seal_key`).
    pub fn recipients(&self) -> &[RecipientPublicKey] {
        &self.recipients
    }

    /// The identities that may open pack key slots.
    pub fn identities(&self) -> &[Arc<Identity>] {
        &self.identities
    }

    /// The key of pack `pack` when this handle wrote or unwrapped it.
    pub(crate) fn known_pack_key(&self, pack: &[u8; 16]) -> Option<SecretKey> {
        self.pack_keys.lock().unwrap_or_else(|p| p.into_inner()).get(pack).cloned()
    }

    /// Remembers the key of pack `pack` for this handle's lifetime.
    pub(crate) fn remember_pack_key(&self, pack: [u8; 16], key: SecretKey) {
        self.pack_keys.lock().unwrap_or_else(|p| p.into_inner()).insert(pack, key);
    }
}

//! Opening format 3 chunk stores on a [`Repository`]: which dedup domain a handle writes
//! into (the main one, or a write-only host's own), the domain objects under `domains/`
//! (docs/FORMAT.md 11.2), and the store a manifest's blobs are in. Backup, restore, copy,
//! prune and verify all open their stores here; the chunk store itself is [`crate::v3`].

use std::sync::Arc;

use bytes::Bytes;
use lifeboat_crypto::{ObjectKind, SecretKey, open_bytes, seal_bytes};
use lifeboat_storage::{PutOutcome, StorageExt};

use crate::config::DATA_FORMAT_MEMBER;
use crate::error::{RepoError, Result};
use crate::manifest::Manifest;
use crate::repository::Repository;
use crate::v3::{
    BlobId, BlobStore, ChunkStore, DomainKeys, IndexCache, RepairReport, StoreError, StoreOptions, repair_index,
};

pub(crate) use crate::v3::store_error;

/// Where dedup-domain secrets are stored: `domains/<domain id, 16 hex>`.
pub const DOMAINS_PREFIX: &str = "domains/";

/// The largest domain object a reader accepts (a 32-byte secret in a container).
const MAX_DOMAIN_PLAIN: usize = 64;
/// Byte 8 of a carried domain object's id (the main domain's is 0).
pub(crate) const CARRIED_MARK: u8 = 1;

impl Repository {
    /// Whether new files backups are written in format 3.
    pub fn writes_v3(&self) -> bool {
        self.config.extra.get(DATA_FORMAT_MEMBER).and_then(|v| v.as_u64()) == Some(3)
    }

    /// The chunk store of the main domain, with its index loaded (from the cache in
    /// `$XDG_CACHE_HOME/lifeboat/<repository id>` when it holds intact copies). The domain is
    /// created by the first holder of the master key that needs it.
    pub async fn v3_store(&self) -> Result<ChunkStore> {
        let keys = Arc::new(self.main_domain().await?);
        let mut cache = self.v3_cache();
        if keys.seals_for_recipients() {
            // A write-only host's own domain keeps its index copies apart (as a carried
            // domain does): a cache it shares with the main domain's readers would hold
            // objects they cannot open, and the reverse.
            let own = |c: IndexCache| c.dir().parent().map(|repo| repo.join("domains").join(hex::encode(keys.id())));
            cache = cache.and_then(own).map(|dir| IndexCache::new(dir.join("index")));
        }
        let options = StoreOptions { cache, ..StoreOptions::default() };
        ChunkStore::open(self.storage.clone(), keys, options).await.map_err(store_error)
    }

    /// The index cache the open options name, if any.
    pub(crate) fn v3_cache(&self) -> Option<IndexCache> {
        let id = &self.config.id;
        match &self.trust.cache {
            crate::CacheDir::UserCache => {
                IndexCache::default_home().and_then(|home| IndexCache::for_repository(&home, id))
            }
            crate::CacheDir::At(dir) => IndexCache::in_dir(dir, id),
            crate::CacheDir::Off => None,
        }
    }

    /// `lifeboat repair index`: rebuilds the main domain's index from its packs alone,
    /// under the exclusive lock (it deletes the index objects it replaces).
    pub async fn repair_v3_index(&self) -> Result<RepairReport> {
        let keys = Arc::new(self.main_domain().await?);
        let lock = self.lock(crate::lock::LockKind::Exclusive, "repair index").await?;
        let report = repair_index(&self.storage, &keys, self.v3_cache().as_ref()).await.map_err(store_error);
        lock.release().await;
        report
    }

    /// Reads the main domain's secret, or creates it (only with the master key). A handle
    /// without the master key but with a writer key writes into its own domain instead
    /// ([`writer_domain`](Self::writer_domain)).
    async fn main_domain(&self) -> Result<DomainKeys> {
        if let (None, Some(writer)) = (&self.master, self.trust.writer_key.clone()) {
            return self.writer_domain(&writer).await;
        }
        if let Some(keys) = self.read_main_domain().await? {
            return Ok(keys);
        }
        if self.master.is_none() {
            return Err(RepoError::Unsupported(format!(
                "{} has no v3 dedup domain yet and this handle has no master key: make the first v3 backup with \
                 the password (write-only hosts' own domains are not built yet)",
                self.location()
            )));
        }
        let secret = SecretKey::generate().map_err(|e| RepoError::Internal(e.to_string()))?;
        let keys = DomainKeys::derive(&secret);
        let id = keys.id();
        let key = format!("{DOMAINS_PREFIX}{}", hex::encode(id));
        let mut object_id = [0u8; 16];
        object_id[..8].copy_from_slice(&id);
        let sealed = seal_bytes(secret.expose(), ObjectKind::Domain, object_id, self.audience(), self.options)
            .map_err(|e| RepoError::object(&key, &self.location(), e))?;
        if lifeboat_storage::create_new(self.storage.as_ref(), &key, Bytes::from(sealed)).await?
            == PutOutcome::AlreadyExists
        {
            return Err(RepoError::Internal(format!("domain {key} already exists")));
        }
        // Two hosts may have created a domain at the same moment: all read the first listed.
        Ok(self.read_main_domain().await?.unwrap_or(keys))
    }

    /// The domain of a write-only host (docs/FORMAT.md 11.2): its secret derived from the
    /// writer key and the repository id, so the host finds it again without state; its
    /// packs sealed with random keys for the recipients. `domains/<id>` is stored once,
    /// sealed for the recipients only (the host holds no master key to seal it for), so
    /// that their identities read the host's backups.
    async fn writer_domain(&self, writer: &lifeboat_crypto::WriterKey) -> Result<DomainKeys> {
        let repo_id = self.config.repo_id().map_err(RepoError::Internal)?;
        let secret = DomainKeys::writer_secret(writer, &repo_id);
        let keys = DomainKeys::derive(&secret).sealed_for(self.recipients.clone());
        if !keys.seals_for_recipients() {
            return Err(RepoError::NeedsCredential("a write-only v3 backup needs at least one recipient".into()));
        }
        let id = keys.id();
        let key = format!("{DOMAINS_PREFIX}{}", hex::encode(id));
        if self.storage.head(&key).await?.is_none() {
            let mut object_id = [0u8; 16];
            object_id[..8].copy_from_slice(&id);
            let sealed = seal_bytes(secret.expose(), ObjectKind::Domain, object_id, self.audience(), self.options)
                .map_err(|e| RepoError::object(&key, &self.location(), e))?;
            // Another run of this host may have stored it a moment ago: the same secret.
            lifeboat_storage::create_new(self.storage.as_ref(), &key, Bytes::from(sealed)).await?;
        }
        Ok(keys)
    }

    /// The recipient identities this handle holds (to open write-only hosts' packs).
    pub(crate) fn v3_identities(&self) -> Vec<Arc<lifeboat_crypto::Identity>> {
        match &self.credential {
            crate::Credential::Identity(identity) => vec![identity.clone()],
            _ => Vec::new(),
        }
    }

    /// The first domain object (by key) this handle can open. One it cannot open (another
    /// domain's, sealed for others) is passed over; when none opens, the first failure is
    /// the answer, so a damaged main domain is reported, not silently replaced.
    pub(crate) async fn read_main_domain(&self) -> Result<Option<DomainKeys>> {
        let mut listed = self.storage.list_all(DOMAINS_PREFIX).await?;
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        let mut first_failure = None;
        for meta in listed {
            match self.open_domain_object(&meta.key).await {
                // A domain that `copy` carried here is read, never written into.
                Ok(object) if object.carried => {}
                Ok(object) => return Ok(Some(object.keys.opened_by(self.v3_identities()))),
                // Sealed for the recipients only: a write-only host's domain, not damage.
                Err(RepoError::Object { source: lifeboat_crypto::CryptoError::NoMatchingSlot, .. }) => {}
                Err(e) => {
                    first_failure.get_or_insert(e);
                }
            }
        }
        first_failure.map_or(Ok(None), Err)
    }

    /// Seals every domain object this handle can open again for its current audience (the
    /// master key and the recipients): key rotation calls it, so domains do not depend on a
    /// key about to be forgotten, and adding a recipient, so that it reads the backups
    /// written from then on. Domains sealed for others only (write-only hosts', which the
    /// master key does not open) are left as they are: returns how many were sealed again
    /// and the ids of those left.
    pub(crate) async fn reseal_domains(&self) -> Result<(usize, Vec<String>)> {
        let (mut resealed, mut skipped) = (0, Vec::new());
        for meta in self.storage.list_all(DOMAINS_PREFIX).await? {
            let bytes = self.storage.get_bytes(&meta.key).await?;
            let (header, plain) = match open_bytes(&bytes, &self.keyring, MAX_DOMAIN_PLAIN) {
                Ok(opened) => opened,
                Err(lifeboat_crypto::CryptoError::NoMatchingSlot) => {
                    skipped.push(meta.key.strip_prefix(DOMAINS_PREFIX).unwrap_or(&meta.key).to_owned());
                    continue;
                }
                Err(e) => return Err(RepoError::object(&meta.key, &self.location(), e)),
            };
            let sealed = seal_bytes(&plain, ObjectKind::Domain, header.fixed.object_id, self.audience(), self.options)
                .map_err(|e| RepoError::object(&meta.key, &self.location(), e))?;
            self.storage.put_bytes(&meta.key, Bytes::from(sealed)).await?;
            resealed += 1;
        }
        Ok((resealed, skipped))
    }
}

/// A domain object opened: its keys, its secret (to seal again elsewhere) and whether it
/// was carried here by a copy.
pub(crate) struct DomainObject {
    /// The keys derived from the secret.
    pub keys: DomainKeys,
    /// The secret itself.
    pub secret: SecretKey,
    /// True for a domain a copy brought, false for this repository's own.
    pub carried: bool,
}

/// The storage key of domain `id`.
pub(crate) fn domain_key(id: &[u8; 8]) -> String {
    format!("{DOMAINS_PREFIX}{}", hex::encode(id))
}

/// A domain id from its 16 hex digits.
pub(crate) fn parse_domain(domain: &str) -> Result<[u8; 8]> {
    let bytes = hex::decode(domain).ok().and_then(|b| <[u8; 8]>::try_from(b).ok());
    bytes.ok_or_else(|| RepoError::Integrity(format!("{domain:?} is not a domain id (16 hex digits)")))
}

/// A store failure as a repository error: storage failures stay storage failures, damage
/// is damage.
pub(crate) fn store_failure(e: StoreError) -> RepoError {
    match e {
        StoreError::Storage { source, .. } => RepoError::Storage(source),
        e @ (StoreError::Corrupt { .. } | StoreError::MissingBlob(_)) => RepoError::Integrity(e.to_string()),
        e => RepoError::Internal(e.to_string()),
    }
}

impl Repository {
    /// Opens `domains/<id>` and checks that its secret derives the id its key names.
    pub(crate) async fn open_domain_object(&self, key: &str) -> Result<DomainObject> {
        let bytes = self.storage.get_bytes(key).await?;
        // A few hundred bytes: opening it on the reactor costs less than a thread hop.
        let (header, plain) = open_bytes(&bytes, &self.keyring, MAX_DOMAIN_PLAIN)
            .map_err(|e| RepoError::object(key, &self.location(), e))?;
        let damaged = |reason: &str| RepoError::Integrity(format!("domain object {key}: {reason}"));
        if header.fixed.kind != ObjectKind::Domain {
            return Err(damaged("is not a domain object"));
        }
        let secret: [u8; 32] = plain.as_slice().try_into().map_err(|_| damaged("holds no 32-byte secret"))?;
        let secret = SecretKey::from_bytes(secret);
        let keys = DomainKeys::derive(&secret);
        if key != domain_key(&keys.id()) {
            return Err(damaged("is stored under another domain's id"));
        }
        let carried = header.fixed.object_id[8] == CARRIED_MARK;
        Ok(DomainObject { keys, secret, carried })
    }

    /// The chunk store of domain `domain` (16 hex), the one a v3 manifest names, with its
    /// index loaded. Unlike [`Repository::v3_store`] this never creates a domain: a domain
    /// that is not stored here is an error naming it. The main domain uses the repository's
    /// index cache; a carried domain has a cache of its own beside it.
    pub async fn v3_store_for(&self, domain: &str) -> Result<ChunkStore> {
        let id = parse_domain(domain)?;
        let key = domain_key(&id);
        if self.storage.head(&key).await?.is_none() {
            return Err(RepoError::Integrity(format!(
                "the dedup domain {domain} is not in {} ({key} is missing)",
                self.location()
            )));
        }
        let object = self.open_domain_object(&key).await?;
        // A carried domain's index objects are cached beside the main domain's, not among
        // them (a cache holds one domain's). `domain` is hex: one safe path component.
        let cache = self.v3_cache().map(|main| match (object.carried, main.dir().parent()) {
            (true, Some(repo_dir)) => IndexCache::new(repo_dir.join("domains").join(domain).join("index")),
            _ => main,
        });
        let options = StoreOptions { cache, ..StoreOptions::default() };
        // An identity opens the key slots of a write-only host's packs.
        let keys = object.keys.opened_by(self.v3_identities());
        ChunkStore::open(self.storage.clone(), Arc::new(keys), options).await.map_err(store_failure)
    }

    /// The chunk store of the domain whose index holds `blob`: the main domain when it
    /// does, else the first other domain (a copy's) this handle opens that does. For
    /// callers that know a root tree but not its manifest's domain (a stream's record).
    pub async fn v3_store_holding(&self, blob: &BlobId) -> Result<ChunkStore> {
        let main = self.v3_store().await?;
        if main.has_blob(blob) {
            return Ok(main);
        }
        let main_id = hex::encode(main.keys().id());
        for meta in self.storage.list_all(DOMAINS_PREFIX).await? {
            let Some(domain) = meta.key.strip_prefix(DOMAINS_PREFIX) else { continue };
            if domain == main_id {
                continue;
            }
            // A domain this handle cannot open (sealed for others) cannot be the one.
            let Ok(store) = self.v3_store_for(domain).await else { continue };
            if store.has_blob(blob) {
                return Ok(store);
            }
        }
        Ok(main)
    }

    /// The chunk store a v3 manifest's blobs are in: the domain it names.
    pub async fn v3_store_of(&self, manifest: &Manifest) -> Result<ChunkStore> {
        match manifest.domain.as_deref() {
            Some(domain) => self.v3_store_for(domain).await,
            None => Err(RepoError::Integrity(format!("backup {}: a version 3 manifest without a domain", manifest.id))),
        }
    }
}

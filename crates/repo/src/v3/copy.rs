//! Format v3 across domains and repositories (docs/FORMAT.md 11.2): opening the chunk
//! store of the domain a manifest names, and copying a v3 backup into another repository.
//!
//! A copy carries the source domain's secret over (`domains/<id>`, sealed again for the
//! destination's master key and recipients), copies the packs holding the backup's blobs
//! byte for byte (a pack the destination has with the same size is not sent again), writes
//! one index object naming the packs it sent or found unindexed there, and the manifest
//! last: a kill at any point leaves at worst packs that no manifest names (prune's
//! garbage), never a manifest whose blobs are missing.
//!
//! A carried domain is marked in its object id (the domain id followed by `01` and seven
//! zero bytes, where the destination's own main domain has eight zero bytes), so the
//! destination's own backups keep writing into its main domain and never into a copy's.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use lifeboat_crypto::{ObjectKind, SecretKey, open_bytes, seal_bytes};
use lifeboat_storage::{PutOutcome, StorageExt};

use super::index::{INDEX_PREFIX, IndexId, IndexObject, index_domain};
use super::pack::{PackEntry, PackId};
use super::store::store_index;
use super::tree::load_tree;
use super::{BlobId, BlobStore, ChunkStore, DOMAINS_PREFIX, DomainKeys, IndexCache, StoreError, StoreOptions, v3_root};
use crate::copy::CopyReport;
use crate::error::{RepoError, Result};
use crate::manifest::Manifest;
use crate::progress::Progress;
use crate::repository::Repository;

/// Byte 8 of a carried domain object's id (the main domain's is 0).
const CARRIED_MARK: u8 = 1;
/// The largest domain object plaintext a reader accepts (a 32-byte secret).
const MAX_DOMAIN_PLAIN: usize = 64;

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
fn domain_key(id: &[u8; 8]) -> String {
    format!("{DOMAINS_PREFIX}{}", hex::encode(id))
}

/// A domain id from its 16 hex digits.
fn parse_domain(domain: &str) -> Result<[u8; 8]> {
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

/// What a copy knows of one domain, kept across the backups of one copy run.
struct DomainCopy {
    /// The source's store of the domain (trees are read through it).
    source: ChunkStore,
    /// The domain's secret, to seal for the destination.
    secret: SecretKey,
    /// Blob -> the source pack holding it.
    blob_packs: HashMap<BlobId, PackId>,
    /// Source pack -> its entries (as its index object lists them).
    packs: HashMap<PackId, Vec<PackEntry>>,
    /// Packs the destination's index of this domain names.
    dest_indexed: HashSet<PackId>,
    /// The destination holds the domain object.
    dest_has_domain: bool,
}

/// The v3 side of one copy run: per-domain state, loaded on first use.
#[derive(Default)]
pub(crate) struct V3Copier {
    domains: HashMap<String, DomainCopy>,
}

/// Every pack of domain `keys` named by an index object in `storage`, with its entries.
async fn domain_packs(
    storage: &Arc<dyn lifeboat_storage::Storage>,
    keys: &DomainKeys,
) -> Result<HashMap<PackId, Vec<PackEntry>>> {
    let mut packs = HashMap::new();
    for meta in storage.list_all(INDEX_PREFIX).await? {
        let Some(id) = IndexId::from_key(&meta.key) else { continue };
        let bytes = storage.get_bytes(&meta.key).await?;
        if index_domain(&bytes).is_some_and(|domain| domain != keys.id()) {
            continue;
        }
        let object = IndexObject::open(keys, id, &bytes).map_err(store_failure)?;
        for (pack, entries) in object.packs {
            packs.entry(pack).or_insert(entries);
        }
    }
    Ok(packs)
}

/// Every blob of the backup whose root tree is `root`: its trees and their files' chunks.
async fn backup_blobs(store: &ChunkStore, root: BlobId) -> Result<HashSet<BlobId>> {
    let mut blobs = HashSet::new();
    let mut pending = vec![(PathBuf::from("/"), root)];
    while let Some((path, id)) = pending.pop() {
        if !blobs.insert(id) {
            continue;
        }
        let tree = load_tree(store, &id, &path).await.map_err(|e| RepoError::Integrity(e.to_string()))?;
        for node in tree.nodes {
            blobs.extend(node.content.iter().copied());
            if let Some(sub) = node.subtree {
                pending.push((path.join(node.name_os()), sub));
            }
        }
    }
    Ok(blobs)
}

impl V3Copier {
    /// Copies the v3 backup `manifest` from `source` into `dest` (see the module docs).
    pub(crate) async fn copy(
        &mut self,
        source: &Repository,
        dest: &Repository,
        manifest: &Manifest,
        report: &mut CopyReport,
        progress: &Progress,
    ) -> Result<()> {
        let root = v3_root(manifest)?;
        let domain_hex = manifest.domain.clone().unwrap_or_default();
        let domain = self.domain(source, dest, &domain_hex).await?;
        let blobs = backup_blobs(&domain.source, root).await?;
        let mut needed = HashSet::new();
        for blob in &blobs {
            let pack = domain.blob_packs.get(blob).ok_or_else(|| {
                RepoError::Integrity(format!(
                    "backup {}: blob {} is in no index object of {} (run `lifeboat repair index` there)",
                    manifest.short_id(),
                    blob.to_hex(),
                    source.location()
                ))
            })?;
            needed.insert(*pack);
        }
        if !domain.dest_has_domain {
            carry_domain(dest, &domain_hex, &domain.secret).await?;
            domain.dest_has_domain = true;
            report.objects_sent += 1;
        }
        let mut to_index = Vec::new();
        let mut needed: Vec<PackId> = needed.into_iter().collect();
        needed.sort();
        for pack in needed {
            copy_pack(source, dest, pack, report, progress).await?;
            if !domain.dest_indexed.contains(&pack) {
                let entries = domain.packs.get(&pack).cloned().unwrap_or_default();
                to_index.push((pack, entries));
            }
        }
        if !to_index.is_empty() {
            let indexed: Vec<PackId> = to_index.iter().map(|(p, _)| *p).collect();
            let object = IndexObject {
                id: IndexId::generate().map_err(store_failure)?,
                supersedes: Vec::new(),
                packs: to_index,
            };
            let keys = Arc::new(DomainKeys::derive(&domain.secret));
            store_index(&dest.storage, &keys, None, object).await.map_err(store_failure)?;
            domain.dest_indexed.extend(indexed);
            report.objects_sent += 1;
        }
        let mut copied = manifest.clone();
        copied.repository = dest.id().to_owned();
        let replace = dest.storage.head(&format!("{}{}", crate::layout::BACKUPS_PREFIX, manifest.id)).await?.is_some();
        dest.write_manifest(&copied, replace).await?;
        report.copied.push(manifest.id.clone());
        Ok(())
    }

    /// The state of domain `domain_hex`, loaded on first use.
    async fn domain(&mut self, source: &Repository, dest: &Repository, domain_hex: &str) -> Result<&mut DomainCopy> {
        if !self.domains.contains_key(domain_hex) {
            let id = parse_domain(domain_hex)?;
            let object = source.open_domain_object(&domain_key(&id)).await?;
            let store = source.v3_store_for(domain_hex).await?;
            let packs = domain_packs(&source.storage, &object.keys).await?;
            let blob_packs =
                packs.iter().flat_map(|(pack, entries)| entries.iter().map(move |e| (e.id, *pack))).collect();
            let dest_has_domain = dest.storage.head(&domain_key(&id)).await?.is_some();
            if dest_has_domain && let Err(e) = dest.open_domain_object(&domain_key(&id)).await {
                return Err(destination_domain(dest, domain_hex, e));
            }
            let dest_indexed = match dest_has_domain {
                true => domain_packs(&dest.storage, &object.keys).await?.into_keys().collect(),
                false => HashSet::new(),
            };
            let copy =
                DomainCopy { source: store, secret: object.secret, blob_packs, packs, dest_indexed, dest_has_domain };
            self.domains.insert(domain_hex.to_owned(), copy);
        }
        self.domains.get_mut(domain_hex).ok_or_else(|| RepoError::Internal("domain state vanished".into()))
    }
}

/// A destination domain object that does not open is the destination's problem, not the
/// source backup's: say so (and keep it out of the "damaged source" class).
fn destination_domain(dest: &Repository, domain: &str, e: RepoError) -> RepoError {
    RepoError::Internal(format!(
        "the destination {} holds domain {domain}, but it does not open there: {e}",
        dest.location()
    ))
}

/// Stores the domain secret at the destination, sealed for its audience and marked
/// carried; one already there (a concurrent copy) is fine.
async fn carry_domain(dest: &Repository, domain_hex: &str, secret: &SecretKey) -> Result<()> {
    let id = parse_domain(domain_hex)?;
    let key = domain_key(&id);
    let mut object_id = [0u8; 16];
    object_id[..8].copy_from_slice(&id);
    object_id[8] = CARRIED_MARK;
    let sealed = seal_bytes(secret.expose(), ObjectKind::Domain, object_id, dest.audience(), dest.options)
        .map_err(|e| RepoError::object(&key, &dest.location(), e))?;
    match lifeboat_storage::create_new(dest.storage.as_ref(), &key, Bytes::from(sealed)).await? {
        PutOutcome::AlreadyExists => tracing::debug!(domain = %key, "carried domain already there"),
        _ => tracing::debug!(domain = %key, destination = %dest.location(), "domain carried"),
    }
    Ok(())
}

/// Copies pack `pack` byte for byte unless the destination has it with the source's size.
async fn copy_pack(
    source: &Repository,
    dest: &Repository,
    pack: PackId,
    report: &mut CopyReport,
    progress: &Progress,
) -> Result<()> {
    let key = pack.key();
    let size = match source.storage.head(&key).await? {
        Some(meta) => meta.size,
        None => {
            return Err(RepoError::Integrity(format!("pack {key} is indexed in {} but missing", source.location())));
        }
    };
    if let Some(there) = dest.storage.head(&key).await?
        && there.size == size
    {
        report.packs_present += 1;
        report.objects_present += 1;
        progress.add_bytes(size);
        return Ok(());
    }
    let stream = progress.count(source.storage.get(&key, None).await?);
    dest.storage.put(&key, Box::pin(stream), Some(size)).await?;
    match dest.storage.head(&key).await? {
        Some(meta) if meta.size == size => {}
        _ => {
            dest.storage.delete(&key).await.ok();
            return Err(RepoError::Internal(format!("pack {key} did not arrive whole at {}", dest.location())));
        }
    }
    report.packs_sent += 1;
    report.objects_sent += 1;
    report.bytes_sent += size;
    Ok(())
}

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
use lifeboat_crypto::{ObjectKind, SecretKey, seal_bytes};
use lifeboat_storage::{PutOutcome, StorageExt};

use crate::copy::{CarriedLock, CopyReport};
use crate::domains::{CARRIED_MARK, domain_key, parse_domain, store_failure};
use crate::error::{RepoError, Result};
use crate::manifest::Manifest;
use crate::manifest::v3_root;
use crate::progress::Progress;
use crate::repository::Repository;
use crate::v3::index::{INDEX_PREFIX, IndexId, IndexObject, index_domain};
use crate::v3::pack::{PackEntry, PackId};
use crate::v3::retention::extend_all;
use crate::v3::store::store_index;
use crate::v3::tree::load_tree;
use crate::v3::{BlobId, ChunkStore, DomainKeys};

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
    /// Packs whose key the destination's recipients can unwrap (none needed for packs
    /// without key slots): checked once each, before anything of a backup is sent.
    readable_at_dest: HashSet<PackId>,
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
        lock: &CarriedLock,
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
        for pack in &needed {
            if !domain.readable_at_dest.contains(pack) {
                check_pack_readable(source, dest, *pack, manifest).await?;
                domain.readable_at_dest.insert(*pack);
            }
        }
        if !domain.dest_has_domain {
            carry_domain(dest, &domain_hex, &domain.secret).await?;
            domain.dest_has_domain = true;
            report.objects_sent += 1;
        }
        let mut to_index = Vec::new();
        let mut needed: Vec<PackId> = needed.into_iter().collect();
        needed.sort();
        for pack in &needed {
            copy_pack(source, dest, *pack, report, progress).await?;
            // A locked copy's index object names every pack it needs (FORMAT.md 11.5), so
            // it stays readable whatever becomes of the destination's other index objects.
            if !domain.dest_indexed.contains(pack) || lock.retention().is_some() {
                let entries = domain.packs.get(pack).cloned().unwrap_or_default();
                to_index.push((*pack, entries));
            }
        }
        let mut index_written = None;
        if !to_index.is_empty() {
            let indexed: Vec<PackId> = to_index.iter().map(|(p, _)| *p).collect();
            let object = IndexObject {
                id: IndexId::generate().map_err(store_failure)?,
                supersedes: Vec::new(),
                packs: to_index,
            };
            let keys = Arc::new(DomainKeys::derive(&domain.secret));
            index_written = Some(object.id);
            store_index(&dest.storage, &keys, None, object).await.map_err(store_failure)?;
            domain.dest_indexed.extend(indexed);
            report.objects_sent += 1;
        }
        if let Some(retention) = lock.retention() {
            let mut keys: Vec<String> = needed.iter().map(|p| p.key()).collect();
            keys.extend(index_written.map(|id| id.key()));
            keys.push(domain_key(&parse_domain(&domain_hex)?));
            extend_all(dest.storage.as_ref(), &keys, &retention).await.map_err(store_failure)?;
        }
        let mut copied = manifest.clone();
        copied.repository = dest.id().to_owned();
        lock.mark(&mut copied, dest, report);
        let replace = dest.storage.head(&format!("{}{}", crate::layout::BACKUPS_PREFIX, manifest.id)).await?.is_some();
        dest.write_manifest_with(&copied, replace, lock.retention()).await?;
        report.copied.push(manifest.id.clone());
        Ok(())
    }

    /// The state of domain `domain_hex`, loaded on first use.
    async fn domain(&mut self, source: &Repository, dest: &Repository, domain_hex: &str) -> Result<&mut DomainCopy> {
        if !self.domains.contains_key(domain_hex) {
            let id = parse_domain(domain_hex)?;
            let object =
                source.open_domain_object(&domain_key(&id)).await.map_err(|e| match e.is_recipients_only() {
                    true => RepoError::NeedsCredential(format!(
                        "dedup domain {domain_hex} of {} is sealed for its recipients only (a write-only host's): \
                     copy its backups with a recipient's identity (--identity) instead of the password",
                        source.location()
                    )),
                    false => e,
                })?;
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
            let copy = DomainCopy {
                source: store,
                secret: object.secret,
                blob_packs,
                packs,
                dest_indexed,
                dest_has_domain,
                readable_at_dest: HashSet::new(),
            };
            self.domains.insert(domain_hex.to_owned(), copy);
        }
        self.domains.get_mut(domain_hex).ok_or_else(|| RepoError::Internal("domain state vanished".into()))
    }
}

/// Refuses to copy a pack of a write-only host's domain that no recipient of `dest` can
/// read: its key is wrapped in its header for the recipients the host sealed for, and the
/// pack travels byte for byte, so at the destination only those recipients' identities
/// read it. A pack without key slots (keyed from the domain secret) is always readable.
async fn check_pack_readable(source: &Repository, dest: &Repository, pack: PackId, manifest: &Manifest) -> Result<()> {
    let addressed = pack_recipients(source, pack).await?;
    if addressed.is_empty() {
        return Ok(());
    }
    if dest.recipients.iter().any(|r| addressed.contains(&r.id())) {
        return Ok(());
    }
    let ids: Vec<String> = addressed.iter().map(hex::encode).collect();
    Err(RepoError::Unsupported(format!(
        "backup {} was written by a write-only host: the key of its pack {} is wrapped for recipient(s) {} only, \
         and the packs are copied byte for byte, so {} must list one of them as a recipient (`lifeboat key add \
         --recipient` there); nothing of it was copied",
        manifest.short_id(),
        pack.key(),
        ids.join(", "),
        dest.location()
    )))
}

/// The recipient ids of the key slots in the header of `pack` in `source` (empty for a
/// pack keyed from its domain's secret): its first bytes, read by range.
async fn pack_recipients(source: &Repository, pack: PackId) -> Result<Vec<[u8; 8]>> {
    use crate::v3::pack::{HEADER_LEN, MAX_PACK_SLOTS, SLOT_LEN};
    let key = pack.key();
    let start = read_range(source, &key, 0..HEADER_LEN as u64).await?;
    let damaged = |reason: &str| RepoError::Integrity(format!("pack {key} in {}: {reason}", source.location()));
    let count = match start.get(32..34) {
        Some(&[lo, hi]) => usize::from(u16::from_le_bytes([lo, hi])),
        _ => return Err(damaged("shorter than a pack header")),
    };
    if count == 0 {
        return Ok(Vec::new());
    }
    if count > MAX_PACK_SLOTS {
        return Err(damaged("more key slots than a pack may have"));
    }
    let header = read_range(source, &key, 0..(HEADER_LEN + count * SLOT_LEN) as u64).await?;
    let slots = header.get(HEADER_LEN..).ok_or_else(|| damaged("ends inside its key slots"))?;
    // A slot: type (1), body length (2), then the body, whose first 8 bytes are the id.
    let ids = slots.chunks_exact(SLOT_LEN).filter_map(|slot| <[u8; 8]>::try_from(slot.get(3..11)?).ok());
    Ok(ids.collect())
}

/// Bytes `range` of the object `key` of `source`.
async fn read_range(source: &Repository, key: &str, range: std::ops::Range<u64>) -> Result<Vec<u8>> {
    use futures::TryStreamExt;
    let stream = source.storage.get(key, Some(range)).await?;
    let chunks: Vec<Bytes> = stream.try_collect().await?;
    Ok(chunks.concat())
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

//! Format v3 backups of files on an open [`Repository`]: the main dedup domain, a files
//! backup (archive, flush, manifest), its parent, and its restore (docs/FORMAT.md 11.2 and
//! 11.5).
//!
//! A repository writes v3 files backups when its config says `"data_format": 3` (set by
//! `init` with [`InitOptions::data_format`](crate::InitOptions)). Other backups (streams,
//! databases) are still written as format 2 objects beside them, and v2 backups stay
//! readable: a reader picks the format by the manifest's `version`.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use lifeboat_crypto::{ObjectKind, SecretKey, open_bytes, seal_bytes};
use lifeboat_storage::{PutOutcome, StorageExt};

use super::archiver::{ArchiveOptions, archive, fill_from_stat};
pub(crate) use super::error::store_error;
use super::restorer::{RestoreSpec, Restored, Restorer};
use super::tree::{Node, NodeType, Tree, TreeError, io_error, load_tree};
use super::{BlobId, BlobKind, BlobStore, ChunkStore, DomainKeys, IndexCache, StoreError, StoreOptions};
use crate::error::{RepoError, Result};
use crate::kind::BackupKind;
use crate::manifest::Manifest;
use crate::repository::{Repository, blocking};
use crate::tree::TreeFilter;

/// Where dedup-domain secrets are stored: `domains/<domain id, 16 hex>`.
pub const DOMAINS_PREFIX: &str = "domains/";
pub use crate::config::DATA_FORMAT_MEMBER;
pub use crate::manifest::MANIFEST_VERSION_V3;

/// The largest domain object a reader accepts (a 32-byte secret in a container).
const MAX_DOMAIN_PLAIN: usize = 64;

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
    pub async fn repair_v3_index(&self) -> Result<super::RepairReport> {
        let keys = Arc::new(self.main_domain().await?);
        let lock = self.lock(crate::lock::LockKind::Exclusive, "repair index").await?;
        let report = super::repair_index(&self.storage, &keys, self.v3_cache().as_ref()).await.map_err(store_error);
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
                // A domain a copy brought (super::copy) is read, never written into.
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
    /// key about to be forgotten. Domains sealed for others only are left as they are.
    pub(crate) async fn reseal_domains(&self) -> Result<usize> {
        let mut resealed = 0;
        for meta in self.storage.list_all(DOMAINS_PREFIX).await? {
            let bytes = self.storage.get_bytes(&meta.key).await?;
            let (header, plain) = match open_bytes(&bytes, &self.keyring, MAX_DOMAIN_PLAIN) {
                Ok(opened) => opened,
                Err(lifeboat_crypto::CryptoError::NoMatchingSlot) => continue,
                Err(e) => return Err(RepoError::object(&meta.key, &self.location(), e)),
            };
            let sealed = seal_bytes(&plain, ObjectKind::Domain, header.fixed.object_id, self.audience(), self.options)
                .map_err(|e| RepoError::object(&meta.key, &self.location(), e))?;
            self.storage.put_bytes(&meta.key, Bytes::from(sealed)).await?;
            resealed += 1;
        }
        Ok(resealed)
    }

    /// The root tree of the newest v3 files backup of the same plan, host and paths: the
    /// parent whose unchanged files a new backup reuses without reading them.
    async fn v3_parent(
        &self,
        host: &str,
        plan: Option<&str>,
        roots: &[PathBuf],
        domain: &str,
    ) -> Result<Option<BlobId>> {
        let paths: Vec<String> = roots.iter().map(|p| p.display().to_string()).collect();
        let mut candidates: Vec<Manifest> = self
            .list()
            .await?
            .0
            .into_iter()
            .filter(|m| m.version == MANIFEST_VERSION_V3 && m.kind == BackupKind::Files)
            // Only backups of the domain written into: a copied one's trees are in another.
            .filter(|m| m.domain.as_deref() == Some(domain))
            .filter(|m| m.host == host && m.plan.as_deref() == plan)
            .filter(|m| {
                m.source.get("paths").and_then(|p| serde_json::from_value::<Vec<String>>(p.clone()).ok())
                    == Some(paths.clone())
            })
            .collect();
        candidates.sort_by_key(|m| m.started);
        Ok(candidates.last().and_then(|m| m.tree.as_deref()).and_then(BlobId::from_hex))
    }

    /// Archives `roots` (absolute, canonical) into the main domain and returns the root
    /// tree, the domain id and the archive's counters and warnings. The blobs are flushed
    /// (packs, then index objects) before this returns, so a manifest may name the root.
    pub(crate) async fn archive_v3(
        &self,
        roots: &[PathBuf],
        filter: TreeFilter,
        host: &str,
        plan: Option<&str>,
        (force, lease): (bool, Option<crate::lock::Lease>),
    ) -> Result<ArchivedRoots> {
        let store = self.v3_store().await?;
        if let Some(lease) = lease {
            store.set_lease(lease);
        }
        // A write-only host cannot read its earlier trees (its packs are sealed for the
        // recipients): it reads every file, and its chunks still dedup against its index.
        let parent = match force || store.keys().seals_for_recipients() {
            true => None,
            false => self.v3_parent(host, plan, roots, &hex::encode(store.keys().id())).await?,
        };
        let mut composer = RootComposer::default();
        let mut stats = BTreeMap::new();
        let mut warnings = Vec::new();
        for root in roots {
            let parent_tree = match &parent {
                Some(parent) => subtree_at(&store, parent, root).await?,
                None => None,
            };
            let options =
                ArchiveOptions { parent: parent_tree, force, filter: filter.clone(), root_at: Some(root.clone()) };
            let archived = archive(&store, root, &options).await.map_err(tree_error)?;
            warnings.extend(archived.warnings);
            let s = &archived.stats;
            for (name, value) in [
                ("files", s.files),
                ("dirs", s.dirs),
                ("symlinks", s.symlinks),
                ("bytes", s.bytes_read),
                ("size", s.bytes_total),
                ("bytes_new", s.bytes_new),
                ("blobs_new", s.blobs_new),
                ("files_reused", s.reused_files),
                ("excluded", s.excluded),
                ("skipped", s.skipped),
                ("changed", s.changed),
            ] {
                *stats.entry(name.to_owned()).or_insert(0) += value;
            }
            composer.add(root, archived.root, &store).await?;
        }
        let root = composer.finish(&store).await?;
        store.flush().await.map_err(store_error)?;
        Ok(ArchivedRoots { root, domain: hex::encode(store.keys().id()), stats, warnings })
    }

    /// A format v3 files backup of `roots` (absolute, canonical): the files cache of the
    /// parent backup makes unchanged files a stat each; the manifest is written only after
    /// every pack and index object it needs.
    pub(crate) async fn backup_files_v3(
        &self,
        roots: &[PathBuf],
        filter: &crate::FilesFilter,
        compiled: TreeFilter,
        request: crate::BackupRequest,
    ) -> Result<Manifest> {
        let host = request.host.clone().unwrap_or_else(crate::host::hostname);
        let (plan, force) = (request.plan.clone(), request.force);
        let mut writer = self.start_backup(request).await?;
        writer.set_source(crate::backup::files_source(roots, filter)?);
        let lease = writer.lease();
        let archived = match self.archive_v3(roots, compiled, &host, plan.as_deref(), (force, lease)).await {
            Ok(archived) => archived,
            Err(e) => {
                writer.abort().await;
                return Err(e);
            }
        };
        for warning in archived.warnings {
            writer.warn(warning);
        }
        for (name, value) in archived.stats {
            writer.stat(&name, value);
        }
        writer.set_v3_tree(archived.root.to_hex(), archived.domain);
        writer.commit().await
    }

    /// Restores a v3 files backup into `target` (new or empty; the tree appears there only
    /// once every file authenticated), reading only the packs of what `spec` selects, from
    /// the domain the manifest names.
    pub async fn restore_v3(&self, manifest: &Manifest, target: &Path, spec: &RestoreSpec) -> Result<Restored> {
        let root = v3_root(manifest)?;
        let store = self.v3_store_of(manifest).await?;
        Restorer::new(&store).restore(&root, target, spec).await.map_err(tree_error)
    }
}

/// What [`Repository::archive_v3`] made.
pub(crate) struct ArchivedRoots {
    /// The root tree: the backed-up paths under their parents, from `/`.
    pub root: BlobId,
    /// The domain the blobs are in (16 hex).
    pub domain: String,
    /// Counters, summed over the roots.
    pub stats: BTreeMap<String, u64>,
    /// Files that changed while read, entries skipped.
    pub warnings: Vec<String>,
}

/// The root tree id of a v3 manifest.
pub fn v3_root(manifest: &Manifest) -> Result<BlobId> {
    manifest.tree.as_deref().and_then(BlobId::from_hex).ok_or_else(|| {
        RepoError::Integrity(format!("backup {}: a version 3 manifest without a valid root tree id", manifest.id))
    })
}

/// The tree the archiver should compare `root` with: for a directory, the parent backup's
/// tree of that directory; for a file, the parent's tree of the directory holding it.
async fn subtree_at(store: &ChunkStore, parent_root: &BlobId, root: &Path) -> Result<Option<BlobId>> {
    let components: Vec<&[u8]> = root.components().skip(1).map(|c| c.as_os_str().as_bytes()).collect();
    let mut tree_id = *parent_root;
    for (at, name) in components.iter().enumerate() {
        let tree = load_tree(store, &tree_id, root).await.map_err(tree_error)?;
        let Some(node) = tree.get(name) else { return Ok(None) };
        match node.subtree {
            Some(sub) => tree_id = sub,
            // The root is a file: the tree holding it is the one to compare with.
            None if at + 1 == components.len() => return Ok(Some(tree_id)),
            None => return Ok(None),
        }
    }
    Ok(Some(tree_id))
}

/// Builds the root tree of several archived paths: each path's directories from `/` down
/// become tree nodes carrying their metadata, as tar keeps `tmp/data/...` in format 2.
#[derive(Default)]
struct RootComposer {
    /// Directory (absolute) -> the nodes it holds so far.
    children: BTreeMap<PathBuf, Vec<Node>>,
    /// A path archived whole: it is the root tree itself.
    whole: Option<BlobId>,
    /// Directory -> the one-node tree of a file in it that this handle cannot read back (a
    /// write-only host's unchanged file, stored by an earlier session): the directory's
    /// listing when nothing else is given in it.
    listed: BTreeMap<PathBuf, BlobId>,
}

impl RootComposer {
    /// Adds an archived path: a directory becomes a node whose subtree is `archived`; a file
    /// is the single node of `archived`.
    async fn add(&mut self, root: &Path, archived: BlobId, store: &ChunkStore) -> Result<()> {
        let Some(parent) = root.parent() else {
            self.whole = Some(archived);
            return Ok(());
        };
        let path = root.to_path_buf();
        // Decided by the file system, as the archiver did: a directory needs no read back of
        // its tree, which a write-only host could not do for one an earlier session stored.
        let is_dir = blocking(move || std::fs::symlink_metadata(&path).map(|m| m.is_dir()))
            .await?
            .map_err(|e| RepoError::Source(format!("read metadata of {}: {e}", root.display())))?;
        if is_dir {
            let path = root.to_path_buf();
            let mut node = blocking(move || dir_node(&path)).await?.map_err(tree_error)?;
            node.subtree = Some(archived);
            self.insert(parent.to_path_buf(), node);
            return Ok(());
        }
        let tree = match load_tree(store, &archived, root).await {
            Ok(tree) => tree,
            Err(TreeError::Store { source, .. })
                if matches!(*source, StoreError::NoPackKey { .. }) && store.keys().seals_for_recipients() =>
            {
                self.listed.insert(parent.to_path_buf(), archived);
                self.children.entry(parent.to_path_buf()).or_default();
                return Ok(());
            }
            Err(e) => return Err(tree_error(e)),
        };
        let name = root.file_name().map(|n| n.as_bytes().to_vec()).unwrap_or_default();
        let node = tree
            .get(&name)
            .cloned()
            .ok_or_else(|| RepoError::Internal(format!("the archived tree of {} does not hold it", root.display())))?;
        self.insert(parent.to_path_buf(), node);
        Ok(())
    }

    /// A name already present (a path given twice, or inside another) keeps the first.
    fn insert(&mut self, dir: PathBuf, node: Node) {
        let nodes = self.children.entry(dir).or_default();
        if !nodes.iter().any(|n| n.name == node.name) {
            nodes.push(node);
        }
    }

    /// Stores the directories from the deepest up and returns the root tree.
    async fn finish(mut self, store: &ChunkStore) -> Result<BlobId> {
        if let (Some(whole), true) = (self.whole, self.children.is_empty()) {
            return Ok(whole);
        }
        loop {
            let Some(deepest) = self.children.keys().max_by_key(|p| p.components().count()).cloned() else {
                return Err(RepoError::Internal("a files backup of no paths".into()));
            };
            let mut nodes = self.children.remove(&deepest).unwrap_or_default();
            nodes.sort_by(|a, b| a.name.cmp(&b.name));
            let id = match (self.listed.remove(&deepest), nodes.is_empty()) {
                (Some(listed), true) => listed,
                (Some(_), false) => {
                    return Err(RepoError::Unsupported(format!(
                        "a write-only host cannot combine an unchanged file of {} with other paths given in that \
                         directory (it cannot read back the file's earlier tree): give the directory itself",
                        deepest.display()
                    )));
                }
                (None, _) => {
                    let tree = Bytes::from(Tree { nodes }.to_json());
                    store.put_blob(BlobKind::Tree, tree).await.map_err(store_error)?
                }
            };
            let Some(parent) = deepest.parent() else { return Ok(id) };
            let path = deepest.clone();
            let mut node = blocking(move || dir_node(&path)).await?.map_err(tree_error)?;
            node.subtree = Some(id);
            self.insert(parent.to_path_buf(), node);
        }
    }
}

/// The node of directory `path` itself (its metadata; the caller sets the subtree).
fn dir_node(path: &Path) -> std::result::Result<Node, TreeError> {
    let meta = std::fs::symlink_metadata(path).map_err(io_error("read metadata of", path))?;
    let name = path.file_name().map(|n| n.as_bytes().to_vec()).unwrap_or_default();
    let mut node = Node::new(name, NodeType::Dir);
    fill_from_stat(&mut node, &meta);
    Ok(node)
}

/// A v3 archiver or restorer failure as a repository error.
fn tree_error(e: TreeError) -> RepoError {
    match e {
        TreeError::Store { source, .. } if matches!(*source, StoreError::Storage { .. }) => store_error(*source),
        TreeError::Filter(e) => RepoError::Filter(e),
        TreeError::Target { source, .. } => *source,
        e @ TreeError::Io { .. } => RepoError::Source(e.to_string()),
        e => RepoError::Integrity(e.to_string()),
    }
}

//! Verifying v3 backups (docs/FORMAT.md 11.8): the structure (trees ↔ index ↔ packs, no
//! content read), and reading packs whole (all of them, or a subset), every problem
//! traced to the backups that need the damaged blob.
//!
//! A check runs in three passes. The first walks the trees of every backup asked for
//! (each tree once, however many backups share it), so it reads trees but no file content,
//! and collects the blobs they need. The second looks those blobs up in the index and
//! compares the packs holding them with the storage's listing: a missing pack, or one too
//! short for the blobs the index puts in it, is damage found without reading it. The third
//! reads the selected packs whole (one GET each), checks each one's own directory against
//! the index and opens every needed blob (authenticated, decompressed, its keyed hash
//! compared with its id). Only when something is damaged are the trees walked again, per
//! backup, to say which backups reach a damaged blob and by which path.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{RepoError, Result};
use crate::manifest::Manifest;
use crate::manifest::v3_root;
use crate::progress::Progress;
use crate::repository::{Repository, blocking};
use crate::v3::pack::{PACKS_PREFIX, PackEntry, PackId, PackReader, TAIL_LEN};
use crate::v3::store::{list_prefix, read_range};
use crate::v3::tree::load_tree;
use crate::v3::{BlobId, ChunkStore};

/// Which data a verify reads.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum DataCheck {
    /// None: the structure only (objects present with their sizes and digests in v2;
    /// trees, index and packs in v3).
    #[default]
    Structure,
    /// Everything, decrypted and compared.
    All,
    /// A part of the packs (v3) or data objects (v2), decrypted and compared.
    Subset(DataSubset),
}

impl DataCheck {
    /// `All` for `deep`, else `Structure`.
    pub fn from_deep(deep: bool) -> DataCheck {
        if deep { DataCheck::All } else { DataCheck::Structure }
    }

    /// Whether any content is read.
    pub fn reads_data(&self) -> bool {
        !matches!(self, DataCheck::Structure)
    }
}

/// Which part of the data `--read-data-subset` reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DataSubset {
    /// `n/m`: the n-th of m groups (1-based), split by the object's id, so that m runs with
    /// n = 1..m read everything once.
    Part {
        /// Which group (1..=m).
        n: u32,
        /// How many groups.
        m: u32,
    },
    /// `P%`: that share of the objects, picked at random at each run.
    Percent(f64),
}

impl FromStr for DataSubset {
    type Err = String;

    /// Parses `n/m` (1 <= n <= m) or `P%` (0 < P <= 100).
    fn from_str(text: &str) -> std::result::Result<DataSubset, String> {
        let bad = || format!("{text:?} is no subset: give n/m (like 1/5, n from 1 to m) or a percentage (like 10%)");
        if let Some(percent) = text.strip_suffix('%') {
            let p: f64 = percent.trim().parse().map_err(|_| bad())?;
            return if p > 0.0 && p <= 100.0 { Ok(DataSubset::Percent(p)) } else { Err(bad()) };
        }
        let (n, m) = text.split_once('/').ok_or_else(bad)?;
        let (n, m): (u32, u32) = (n.trim().parse().map_err(|_| bad())?, m.trim().parse().map_err(|_| bad())?);
        if n == 0 || m == 0 || n > m {
            return Err(bad());
        }
        Ok(DataSubset::Part { n, m })
    }
}

impl DataSubset {
    /// The objects (by their raw ids, sorted or not) this subset selects. `n/m` keeps those
    /// whose first id byte is `n - 1` modulo `m` (ids are random, so groups are near equal);
    /// a percentage keeps that share, rounded up, in an order keyed by a fresh random key.
    pub fn select<T: AsRef<[u8]>>(&self, ids: Vec<T>) -> Result<Vec<T>> {
        match *self {
            DataSubset::Part { n, m } => Ok(ids
                .into_iter()
                .filter(|id| id.as_ref().first().is_some_and(|b| u32::from(*b) % m == n - 1))
                .collect()),
            DataSubset::Percent(p) => {
                let key: [u8; 32] =
                    lifeboat_crypto::random_bytes().map_err(|e| RepoError::Internal(format!("no randomness: {e}")))?;
                let keep = ((ids.len() as f64) * p / 100.0).ceil() as usize;
                let mut keyed: Vec<([u8; 32], T)> =
                    ids.into_iter().map(|id| (*blake3::keyed_hash(&key, id.as_ref()).as_bytes(), id)).collect();
                keyed.sort_unstable_by_key(|(order, _)| *order);
                Ok(keyed.into_iter().take(keep).map(|(_, id)| id).collect())
            }
        }
    }
}

/// One problem a v3 check found, with the blobs it makes unreadable.
#[derive(Debug, Clone)]
struct Problem {
    /// The damaged object or blob ("pack packs/ab/ab…", "blob 1f2e…").
    object: String,
    /// What is wrong with it.
    problem: String,
    /// The needed blobs it concerns.
    blobs: Vec<BlobId>,
}

/// What [`Repository::verify_v3_backups`] found.
#[derive(Debug, Clone, Default)]
pub struct V3Verified {
    /// Trees and content blobs checked (each once).
    pub blobs: u64,
    /// Packs holding them.
    pub packs: u64,
    /// Packs read whole.
    pub packs_read: u64,
    /// Stored bytes of the packs read whole (trees read to find the blobs not counted).
    pub bytes_read: u64,
    /// (backup id, what, problem): each problem once per backup it affects, `what` naming
    /// the object and, where the walk can tell, the path in the backup.
    pub problems: Vec<(String, String, String)>,
}

/// What [`Repository::verify_v3`] found in one backup.
#[derive(Debug, Clone, Default)]
pub struct V3Check {
    /// Trees and content blobs checked (each once, however many files share it).
    pub blobs: u64,
    /// Stored bytes of the packs read.
    pub bytes_read: u64,
    /// (what, problem): the object and the path it belongs to, and what is wrong with it.
    pub problems: Vec<(String, String)>,
}

/// The blobs the walked backups need, and the trees that could not be read.
#[derive(Default)]
struct Needed {
    blobs: HashSet<BlobId>,
    problems: Vec<Problem>,
}

impl Repository {
    /// Checks the v3 backups `manifests` (all of one repository's domains the handle can
    /// open): their trees, the index entries and packs of every blob they need, and with
    /// `data` the content of all or part of those packs. Every problem is reported once for
    /// each backup that needs what is damaged.
    pub async fn verify_v3_backups(
        &self,
        manifests: &[&Manifest],
        data: DataCheck,
        progress: &Progress,
    ) -> Result<V3Verified> {
        let listed = self.listed_packs().await?;
        let mut by_domain: BTreeMap<Option<&str>, Vec<&Manifest>> = BTreeMap::new();
        for manifest in manifests {
            by_domain.entry(manifest.domain.as_deref()).or_default().push(manifest);
        }
        let mut verified = V3Verified::default();
        for group in by_domain.into_values() {
            let store = self.v3_store_of(group[0]).await?;
            let one = self.verify_domain(&store, &group, &listed, data, progress).await?;
            verified.blobs += one.blobs;
            verified.packs += one.packs;
            verified.packs_read += one.packs_read;
            verified.bytes_read += one.bytes_read;
            verified.problems.extend(one.problems);
        }
        Ok(verified)
    }

    /// [`Repository::verify_v3_backups`] for the backups of one domain, whose store is `store`.
    async fn verify_domain(
        &self,
        store: &ChunkStore,
        manifests: &[&Manifest],
        listed: &HashMap<String, u64>,
        data: DataCheck,
        progress: &Progress,
    ) -> Result<V3Verified> {
        let mut verified = V3Verified::default();
        let mut needed = Needed::default();
        for manifest in manifests {
            walk(store, v3_root(manifest)?, listed, &mut needed, progress).await;
        }
        verified.blobs = needed.blobs.len() as u64 + needed.problems.len() as u64;
        let packs = locate(store, &needed.blobs, &mut needed.problems);
        verified.packs = packs.len() as u64;
        let mut readable = Vec::new();
        for (pack, entries) in packs {
            match pack_shape(&pack, &entries, listed.get(&pack.key()).copied()) {
                Some(problem) => needed.problems.push(problem),
                None => readable.push((pack, entries)),
            }
        }
        let selected = match data {
            DataCheck::Structure => Vec::new(),
            DataCheck::All => readable,
            DataCheck::Subset(subset) => {
                let ids: Vec<[u8; 16]> = readable.iter().map(|(p, _)| p.0).collect();
                let keep: HashSet<[u8; 16]> = subset.select(ids)?.into_iter().collect();
                readable.into_iter().filter(|(p, _)| keep.contains(&p.0)).collect()
            }
        };
        progress.add_totals(selected.len() as u64, 0);
        for (pack, entries) in selected {
            let (read, problems) = self.read_pack(store, pack, entries).await?;
            verified.packs_read += 1;
            verified.bytes_read += read;
            progress.add_bytes(read);
            progress.add_file();
            needed.problems.extend(problems);
        }
        if !needed.problems.is_empty() {
            verified.problems = attribute(store, manifests, &needed.problems).await?;
        }
        Ok(verified)
    }

    /// Checks one v3 backup: its structure, and with `read_data` every pack it needs.
    pub async fn verify_v3(&self, manifest: &Manifest, read_data: bool) -> Result<V3Check> {
        let verified =
            self.verify_v3_backups(&[manifest], DataCheck::from_deep(read_data), &Progress::default()).await?;
        let problems = verified.problems.into_iter().map(|(_, what, problem)| (what, problem)).collect();
        Ok(V3Check { blobs: verified.blobs, bytes_read: verified.bytes_read, problems })
    }

    /// `packs/` keys and sizes.
    async fn listed_packs(&self) -> Result<HashMap<String, u64>> {
        let listing = list_prefix(self.storage.as_ref(), "list packs", PACKS_PREFIX).await.map_err(store_error)?;
        Ok(listing.into_iter().map(|meta| (meta.key, meta.size)).collect())
    }

    /// Reads `pack` whole and checks it: its own directory must hold the index's entries,
    /// and each needed blob must open. Returns the bytes read and the problems.
    async fn read_pack(
        &self,
        store: &ChunkStore,
        pack: PackId,
        entries: Vec<PackEntry>,
    ) -> Result<(u64, Vec<Problem>)> {
        let key = pack.key();
        let bytes = match read_range(self.storage.as_ref(), "read pack", &key, None).await {
            Ok(bytes) => bytes,
            Err(e @ crate::v3::StoreError::Storage { .. }) if is_not_found(&e) => {
                let blobs = entries.iter().map(|e| e.id).collect();
                return Ok((0, vec![Problem { object: format!("pack {key}"), problem: "is missing".into(), blobs }]));
            }
            Err(e) => return Err(store_error(e)),
        };
        let read = bytes.len() as u64;
        let keys = store.shared_keys();
        let problems = blocking(move || check_pack(&keys, pack, bytes, &entries)).await?;
        Ok((read, problems))
    }
}

/// Walks the trees from `root`, each tree once across calls, collecting the blobs needed.
/// A tree that cannot be read is a problem, named by its pack when the listing shows why.
async fn walk(
    store: &ChunkStore,
    root: BlobId,
    listed: &HashMap<String, u64>,
    needed: &mut Needed,
    progress: &Progress,
) {
    let mut pending = vec![(PathBuf::from("/"), root)];
    while let Some((path, id)) = pending.pop() {
        if !needed.blobs.insert(id) {
            continue;
        }
        let tree = match load_tree(store, &id, &path).await {
            Ok(tree) => tree,
            Err(e) => {
                needed.blobs.remove(&id);
                let shape = store
                    .locate(&id)
                    .and_then(|at| pack_shape(&at.pack, &[at.entry], listed.get(&at.pack.key()).copied()));
                let problem = match shape {
                    Some(shape) => {
                        Problem { object: format!("{} (tree of {})", shape.object, path.display()), ..shape }
                    }
                    None => Problem {
                        object: format!("tree {} ({})", id.to_hex(), path.display()),
                        problem: e.to_string(),
                        blobs: vec![id],
                    },
                };
                needed.problems.push(problem);
                continue;
            }
        };
        // Each tree read is an object checked, as each data object is in format 2.
        progress.add_totals(1, 0);
        progress.add_file();
        for node in tree.nodes {
            let child = path.join(std::ffi::OsStr::from_bytes(&node.name));
            needed.blobs.extend(node.content.iter().copied());
            if let Some(sub) = node.subtree {
                pending.push((child, sub));
            }
        }
    }
}

/// The packs holding `blobs`, with the index's entries of those blobs; a blob no index
/// names is a problem.
fn locate(
    store: &ChunkStore,
    blobs: &HashSet<BlobId>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<PackId, Vec<PackEntry>> {
    let mut packs: BTreeMap<PackId, Vec<PackEntry>> = BTreeMap::new();
    let mut unindexed = Vec::new();
    for blob in blobs {
        match store.locate(blob) {
            Some(location) => packs.entry(location.pack).or_default().push(location.entry),
            None => unindexed.push(*blob),
        }
    }
    unindexed.sort();
    for blob in unindexed {
        let object = format!("blob {}", blob.to_hex());
        problems.push(Problem { object, problem: "is in no index object".into(), blobs: vec![blob] });
    }
    packs
}

/// What is wrong with `pack` by the listing alone: missing, or too short for its blobs.
fn pack_shape(pack: &PackId, entries: &[PackEntry], listed: Option<u64>) -> Option<Problem> {
    let blobs = || entries.iter().map(|e| e.id).collect();
    let object = format!("pack {}", pack.key());
    let Some(size) = listed else {
        return Some(Problem { object, problem: "is missing".into(), blobs: blobs() });
    };
    let needs = entries.iter().map(|e| e.range().end).max().unwrap_or(0) + TAIL_LEN as u64;
    (size < needs).then(|| Problem {
        object,
        problem: format!("is {size} bytes, shorter than the {needs} its indexed blobs need (truncated)"),
        blobs: blobs(),
    })
}

/// Checks a pack read whole against the index's `entries` for it.
fn check_pack(keys: &crate::v3::DomainKeys, pack: PackId, bytes: bytes::Bytes, entries: &[PackEntry]) -> Vec<Problem> {
    let object = format!("pack {}", pack.key());
    let reader = match PackReader::parse(keys, pack, bytes) {
        Ok(reader) => reader,
        Err(e) => {
            let blobs = entries.iter().map(|e| e.id).collect();
            return vec![Problem { object, problem: e.to_string(), blobs }];
        }
    };
    let directory: HashMap<BlobId, &PackEntry> = reader.entries().iter().map(|e| (e.id, e)).collect();
    let mut problems = Vec::new();
    for entry in entries {
        let blob = format!("blob {} in {object}", entry.id.to_hex());
        let problem = match directory.get(&entry.id) {
            None => Some("is indexed there, but the pack's own directory does not hold it".to_owned()),
            Some(found) if *found != entry => {
                Some("has another place in the index than in the pack's directory".into())
            }
            Some(_) => reader.read_blob(keys, &entry.id).err().map(|e| e.to_string()),
        };
        if let Some(problem) = problem {
            problems.push(Problem { object: blob, problem, blobs: vec![entry.id] });
        }
    }
    problems
}

/// Each problem once for every backup whose trees reach one of its blobs, with the path.
async fn attribute(
    store: &ChunkStore,
    manifests: &[&Manifest],
    problems: &[Problem],
) -> Result<Vec<(String, String, String)>> {
    let damaged: HashMap<BlobId, usize> =
        problems.iter().enumerate().flat_map(|(i, p)| p.blobs.iter().map(move |b| (*b, i))).collect();
    let mut out = Vec::new();
    for manifest in manifests {
        let mut found: BTreeMap<usize, Option<PathBuf>> = BTreeMap::new();
        let mut seen = HashSet::new();
        let mut pending = vec![(PathBuf::from("/"), v3_root(manifest)?)];
        while let Some((path, id)) = pending.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let Some(i) = damaged.get(&id) {
                found.entry(*i).or_insert_with(|| Some(path.clone()));
                continue;
            }
            let Ok(tree) = load_tree(store, &id, &path).await else { continue };
            for node in tree.nodes {
                let child = path.join(std::ffi::OsStr::from_bytes(&node.name));
                for blob in &node.content {
                    if let Some(i) = damaged.get(blob) {
                        found.entry(*i).or_insert_with(|| Some(child.clone()));
                    }
                }
                if let Some(sub) = node.subtree {
                    pending.push((child, sub));
                }
            }
        }
        for (i, path) in found {
            let problem = &problems[i];
            let what = match path {
                Some(path) => format!("{} (needed by {})", problem.object, path.display()),
                None => problem.object.clone(),
            };
            out.push((manifest.id.clone(), what, problem.problem.clone()));
        }
    }
    Ok(out)
}

fn is_not_found(e: &crate::v3::StoreError) -> bool {
    matches!(e, crate::v3::StoreError::Storage { source, .. } if source.is_not_found())
}

fn store_error(e: crate::v3::StoreError) -> RepoError {
    crate::v3::store_error(e)
}

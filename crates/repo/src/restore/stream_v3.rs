//! Reading a format 3 stream back (docs/FORMAT.md 11.5): its chunks in order, a few read
//! ahead, each authenticated against its id; the size and plaintext BLAKE3 the manifest
//! recorded are checked once the last one has been read. The writer is
//! `backup/streams_v3.rs`.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::StreamExt;
use lifeboat_crypto::{CryptoError, PipelineStream};

use crate::error::{RepoError, Result};
use crate::manifest::ObjectRecord;
use crate::repository::Repository;
use crate::v3::tree::{Node, NodeType, TreeError, load_tree};
use crate::v3::{BlobId, BlobStore, ChunkStore, StoreError, store_error};

/// Blobs read ahead when a stream is read back.
const PREFETCH: usize = 4;

impl Repository {
    /// Opens the stream a v3 record names: its file node's chunks in order, several read
    /// ahead, each authenticated against its id; the size and plaintext BLAKE3 the record
    /// holds are checked as the chunks come (nothing past the recorded size is released)
    /// and at the end.
    pub(crate) async fn open_v3_object(&self, record: &ObjectRecord) -> Result<PipelineStream> {
        let root = record
            .tree
            .as_deref()
            .and_then(BlobId::from_hex)
            .ok_or_else(|| RepoError::Integrity(format!("object {:?} names no v3 root tree", record.name)))?;
        // The record names no domain: a copied backup's root is in the domain it came from.
        let store = self.v3_store_holding(&root).await?;
        let node = file_node(&store, &root, &record.name).await?;
        if node.size != record.plain_size {
            return Err(RepoError::object(
                &record.label(),
                &self.location(),
                mismatch(format!("its tree says {} bytes, {} recorded (plain_size)", node.size, record.plain_size)),
            ));
        }
        Ok(read_content(store, node.content, record.clone()))
    }
}

/// The file node at `name` (`/`-separated) under the tree `root`.
async fn file_node(store: &ChunkStore, root: &BlobId, name: &str) -> Result<Node> {
    let parts: Vec<&str> = name.split('/').collect();
    let mut tree_id = *root;
    let mut path = PathBuf::from("/");
    for (i, part) in parts.iter().enumerate() {
        let tree = load_tree(store, &tree_id, &path).await.map_err(tree_failure)?;
        path.push(part);
        let missing =
            |what: &str| RepoError::Integrity(format!("{} {what} in root tree {}", path.display(), root.to_hex()));
        let node = tree.get(part.as_bytes()).ok_or_else(|| missing("is not"))?;
        if i + 1 == parts.len() {
            if node.kind != NodeType::File {
                return Err(missing("is not a file"));
            }
            return Ok(node.clone());
        }
        tree_id = node.subtree.ok_or_else(|| missing("is not a directory"))?;
    }
    Err(RepoError::Internal(format!("empty object name {name:?}")))
}

/// A tree failure as a repository error.
fn tree_failure(e: TreeError) -> RepoError {
    match e {
        TreeError::Store { source, .. } if matches!(*source, StoreError::Storage { .. }) => store_error(*source),
        e => RepoError::Integrity(e.to_string()),
    }
}

fn mismatch(what: String) -> CryptoError {
    CryptoError::RecordMismatch(what)
}

/// Where the checked read of a v3 stream stands.
struct Reading {
    blobs: futures::stream::BoxStream<'static, std::result::Result<Bytes, CryptoError>>,
    hasher: blake3::Hasher,
    seen: u64,
    record: Arc<ObjectRecord>,
}

/// The content chunks, PREFETCH ahead, checked against `record` as [`open_v3_object`]
/// describes.
fn read_content(store: ChunkStore, content: Vec<BlobId>, record: ObjectRecord) -> PipelineStream {
    let record = Arc::new(record);
    let naming = record.clone();
    let blobs = futures::stream::iter(content.into_iter().enumerate())
        .map(move |(index, id)| {
            let (store, record) = (store.clone(), naming.clone());
            async move {
                store.get_blob(&id).await.map_err(|e| {
                    let what = format!("chunk {index} ({}) of {}: {e}", id.to_hex(), record.name);
                    CryptoError::Input(Arc::new(std::io::Error::other(what)))
                })
            }
        })
        .buffered(PREFETCH)
        .boxed();
    let start = Reading { blobs, hasher: blake3::Hasher::new(), seen: 0, record };
    Box::pin(futures::stream::unfold(Some(start), |state| async move {
        let mut state = state?;
        match state.blobs.next().await {
            Some(Ok(chunk)) => {
                state.seen += chunk.len() as u64;
                if state.seen > state.record.plain_size {
                    let e = mismatch(format!(
                        "the plaintext is longer than the {} bytes recorded (plain_size)",
                        state.record.plain_size
                    ));
                    return Some((Err(e), None));
                }
                let (hasher, hashing) = (state.hasher, chunk.clone());
                match tokio::task::spawn_blocking(move || {
                    let mut hasher = hasher;
                    hasher.update(&hashing);
                    hasher
                })
                .await
                {
                    Ok(hasher) => {
                        state.hasher = hasher;
                        Some((Ok(chunk), Some(state)))
                    }
                    Err(e) => Some((Err(CryptoError::Worker(e.to_string())), None)),
                }
            }
            Some(Err(e)) => Some((Err(e), None)),
            None => check_end(&state).err().map(|e| (Err(e), None)),
        }
    }))
}

/// The size and digest check once every chunk was read.
fn check_end(state: &Reading) -> std::result::Result<(), CryptoError> {
    let record = &state.record;
    if state.seen != record.plain_size {
        return Err(mismatch(format!(
            "the plaintext is {} bytes, {} recorded (plain_size)",
            state.seen, record.plain_size
        )));
    }
    let found = state.hasher.finalize().to_hex().to_string();
    if found != record.plain_blake3 {
        return Err(mismatch(format!("plaintext BLAKE3 {found}, {} recorded (plain_blake3)", record.plain_blake3)));
    }
    Ok(())
}

//! Repository behaviour on the in-memory and filesystem backends: one test binary, a module
//! per topic, and the helpers they share here.

use std::sync::Arc;

use bytes::Bytes;
use lifeboat_crypto::{Argon2Params, Identity, WriterKey};
use lifeboat_repo::{
    BackupRequest, Credential, FileStateStore, InitOptions, KnownStateStore, LockKind, OpenOptions, RepoError,
    Repository,
};
use lifeboat_storage::{FsStorage, MemoryStorage, Storage, StorageExt};

mod backup_restore;
mod copy;
mod damage;
mod filters;
mod keys;
mod listing;
mod locks;
mod prune;
mod reading;
mod salvage;
mod scope;
mod v3_backup;
mod v3_check;
mod v3_copy;
mod v3_keys;
mod v3_migrate;
mod v3_object_lock;
mod v3_packs;
mod v3_prune;
mod v3_prune_domains;
mod v3_prune_model;
mod v3_store_puts;
mod v3_trees;

/// A format 2 repository's init options (cheap key derivation): most of this binary's
/// tests are of format 2's objects; format 3's use [`v3_init`].
fn cheap() -> InitOptions {
    InitOptions { kdf: Argon2Params::MINIMUM, data_format: 2, ..Default::default() }
}

fn pw(p: &str) -> Credential {
    Credential::password(p)
}

fn request(name: &str) -> BackupRequest {
    BackupRequest { name: name.into(), plan: Some("test".into()), ..Default::default() }
}

/// A write-only handle for `identity`, with a writer key the owner registered.
async fn write_only(storage: &Arc<dyn Storage>, owner: &mut Repository, identity: &Identity) -> Repository {
    let key = Arc::new(WriterKey::generate().unwrap());
    owner.add_writer(key.public(), Some("backup host".into())).await.unwrap();
    let trust = OpenOptions { writer_key: Some(key), ..Default::default() };
    Repository::open_with(storage.clone(), Credential::WriteOnly(vec![identity.public()]), trust).await.unwrap()
}

async fn restore(repo: &Repository, id: &str) -> Vec<u8> {
    let m = repo.resolve(id, None).await.unwrap();
    let mut out = Vec::new();
    repo.restore_to_writer(&m, None, &mut out).await.unwrap();
    out
}

async fn config_json(storage: &Arc<dyn Storage>) -> serde_json::Value {
    serde_json::from_slice(&storage.get_bytes("config").await.unwrap()).unwrap()
}

/// A format 3 repository's init options (cheap key derivation).
fn v3_init() -> InitOptions {
    InitOptions { kdf: Argon2Params::MINIMUM, ..Default::default() }
}

/// `len` bytes no compressor shrinks and no other seed gives (so every file is its own
/// chunks).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Every regular file under `root`, relative path -> content.
fn files(root: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.insert(path.strip_prefix(root).unwrap().display().to_string(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

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
mod v3_packs;
mod v3_prune;
mod v3_prune_model;
mod v3_trees;

fn cheap() -> InitOptions {
    InitOptions { kdf: Argon2Params::MINIMUM, ..Default::default() }
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

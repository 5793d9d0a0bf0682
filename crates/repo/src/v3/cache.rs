//! The local cache of index objects, `$XDG_CACHE_HOME/lifeboat/<repository id>/index/`
//! (docs/FORMAT.md 11.4): copies byte for byte as stored, still sealed, so the cache holds
//! nothing a reader of the repository could not download. It is an optimisation only:
//! the store checks every cached object against the listing and opens it like a download,
//! and deleting the directory costs one download, never data.
//!
//! Calls block on the filesystem: run them off the async reactor.

// StoreError carries the storage's error by value: it is the error type of the BlobStore
// trait that trees and streams share, and boxing its source would change that API.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};

use super::error::StoreError;
use super::index::IndexId;

/// A directory of cached index objects, one file per object named by its 32-hex id.
#[derive(Debug, Clone)]
pub struct IndexCache {
    dir: PathBuf,
}

impl IndexCache {
    /// A cache in `dir` (created on the first write). Tests pass a temporary directory.
    pub fn new(dir: impl Into<PathBuf>) -> IndexCache {
        IndexCache { dir: dir.into() }
    }

    /// The cache of repository `repo_id` (32 hex digits) under `cache_home`
    /// (`<cache_home>/lifeboat/<repo_id>/index`); `None` when the id is not 32 lowercase
    /// hex digits, so that no stored text becomes a path.
    pub fn for_repository(cache_home: &Path, repo_id: &str) -> Option<IndexCache> {
        IndexCache::in_dir(&cache_home.join("lifeboat"), repo_id)
    }

    /// The cache of repository `repo_id` in a cache directory of lifeboat's own
    /// (`--cache-dir`): `<dir>/<repo_id>/index`. `None` for an id that is not 32 hex digits.
    pub fn in_dir(dir: &Path, repo_id: &str) -> Option<IndexCache> {
        let valid = repo_id.len() == 32 && repo_id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| IndexCache::new(dir.join(repo_id).join("index")))
    }

    /// The user's cache home: `$XDG_CACHE_HOME` when set to an absolute path, else
    /// `$HOME/.cache`; `None` when neither is known.
    pub fn default_home() -> Option<PathBuf> {
        let absolute = |var: &str| std::env::var_os(var).map(PathBuf::from).filter(|p| p.is_absolute());
        absolute("XDG_CACHE_HOME").or_else(|| absolute("HOME").map(|home| home.join(".cache")))
    }

    /// Where the files are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: IndexId) -> PathBuf {
        self.dir.join(id.to_hex())
    }

    fn io(operation: &'static str, path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io { operation, path: path.display().to_string(), source }
    }

    /// The cached bytes of `id`, or `None` when not cached.
    pub fn read(&self, id: IndexId) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(id);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io("read cached index", &path, e)),
        }
    }

    /// Stores a copy of `id` (atomically: a crash leaves the old file or the new one).
    pub fn write(&self, id: IndexId, bytes: &[u8]) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Self::io("create index cache", &self.dir, e))?;
        let path = self.path(id);
        lifeboat_storage::fs::write_atomic(&path, bytes).map_err(|e| Self::io("write cached index", &path, e))
    }

    /// Forgets `id` (missing is fine).
    pub fn remove(&self, id: IndexId) -> Result<(), StoreError> {
        let path = self.path(id);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Self::io("remove cached index", &path, e)),
            _ => Ok(()),
        }
    }

    /// The ids cached (files with other names are ignored); empty when the directory does
    /// not exist.
    pub fn list(&self) -> Result<Vec<IndexId>, StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Self::io("list index cache", &self.dir, e)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Self::io("list index cache", &self.dir, e))?;
            if let Some(id) = entry.file_name().to_str().and_then(IndexId::from_hex) {
                ids.push(id);
            }
        }
        Ok(ids)
    }
}

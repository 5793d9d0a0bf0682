//! An in-process backend for tests of the code above storage.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use crate::key::{validate_key, validate_prefix};
use crate::{ByteStream, Capabilities, MetaStream, ObjectMeta, Op, PutOutcome, Storage, StorageError};

/// Objects held in a shared map. Clones share the same objects.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    objects: Arc<Mutex<BTreeMap<String, Bytes>>>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> MutexGuard<'_, BTreeMap<String, Bytes>> {
        // A panic while holding this lock cannot leave the map half-updated (every
        // critical section is one insert or remove), so a poisoned lock is still sound.
        self.objects.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    fn not_found(op: Op, key: &str) -> StorageError {
        StorageError::NotFound { op, location: "memory://".into(), key: key.into() }
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    fn location(&self) -> String {
        "memory://".into()
    }

    async fn put(&self, key: &str, mut body: ByteStream, _size_hint: Option<u64>) -> Result<(), StorageError> {
        validate_key(key)?;
        let mut buf = BytesMut::new();
        while let Some(chunk) = body.next().await {
            buf.extend_from_slice(&chunk?);
        }
        self.map().insert(key.to_owned(), buf.freeze());
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<PutOutcome, StorageError> {
        validate_key(key)?;
        let mut map = self.map();
        if map.contains_key(key) {
            return Ok(PutOutcome::AlreadyExists);
        }
        map.insert(key.to_owned(), body);
        Ok(PutOutcome::Created)
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
        validate_key(key)?;
        let data = self.map().get(key).cloned().ok_or_else(|| Self::not_found(Op::Get, key))?;
        let data = match range {
            None => data,
            Some(r) => {
                let end = r.end.min(data.len() as u64) as usize;
                let start = (r.start as usize).min(end);
                data.slice(start..end)
            }
        };
        Ok(Box::pin(futures::stream::once(async move { Ok(data) })))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        validate_key(key)?;
        Ok(self.map().get(key).map(|b| ObjectMeta { key: key.to_owned(), size: b.len() as u64, modified: None }))
    }

    fn list(&self, prefix: &str) -> MetaStream {
        if let Err(e) = validate_prefix(prefix) {
            return Box::pin(futures::stream::once(async move { Err(e) }));
        }
        let items: Vec<_> = self
            .map()
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| Ok(ObjectMeta { key: k.clone(), size: v.len() as u64, modified: None }))
            .collect();
        Box::pin(futures::stream::iter(items))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        self.map().remove(key);
        Ok(())
    }

    async fn capabilities(&self) -> Result<Capabilities, StorageError> {
        // One mutex guards the check and the insert of put_if_absent; no object lock.
        Ok(Capabilities { conditional_put: true, object_lock: false })
    }
}

//! Put-if-absent that also works where the storage has no conditional create.

use bytes::Bytes;

use crate::{PutOutcome, Storage, StorageError, StorageExt};

/// Creates `key` with `body` unless it exists. On storage with a true conditional create
/// ([`Capabilities::conditional_put`](crate::Capabilities)) this is atomic; elsewhere it is
/// a check followed by a put, which is only safe for keys that are unique by construction
/// (random lock and backup ids): two writers racing for one chosen key may both "create"
/// it there. Callers that need exclusion must check the capability themselves.
pub async fn create_new(storage: &dyn Storage, key: &str, body: Bytes) -> Result<PutOutcome, StorageError> {
    if storage.capabilities().await?.conditional_put {
        return storage.put_if_absent(key, body).await;
    }
    if storage.head(key).await?.is_some() {
        return Ok(PutOutcome::AlreadyExists);
    }
    storage.put_bytes(key, body).await?;
    Ok(PutOutcome::Created)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Capabilities, MemoryStorage};

    /// Claims no conditional create, and fails the test if `put_if_absent` is called anyway.
    #[derive(Debug)]
    struct NoConditionalCreate(MemoryStorage);

    #[async_trait::async_trait]
    impl crate::layer::StorageLayer for NoConditionalCreate {
        type Inner = MemoryStorage;
        fn inner(&self) -> &MemoryStorage {
            &self.0
        }
        async fn put_if_absent(&self, _key: &str, _body: Bytes) -> Result<PutOutcome, StorageError> {
            panic!("put_if_absent called on a storage that claims no conditional create")
        }
        async fn capabilities(&self) -> Result<Capabilities, StorageError> {
            Ok(Capabilities::default())
        }
    }

    async fn creates_once_and_keeps_the_first_body(storage: &dyn Storage) {
        let first = create_new(storage, "locks/a", Bytes::from_static(b"first")).await.unwrap();
        assert_eq!(first, PutOutcome::Created);
        let second = create_new(storage, "locks/a", Bytes::from_static(b"second")).await.unwrap();
        assert_eq!(second, PutOutcome::AlreadyExists);
        assert_eq!(storage.get_bytes("locks/a").await.unwrap(), Bytes::from_static(b"first"));
    }

    #[tokio::test]
    async fn with_conditional_create_the_storage_decides() {
        creates_once_and_keeps_the_first_body(&MemoryStorage::new()).await;
    }

    #[tokio::test]
    async fn without_it_a_head_then_a_put_stands_in() {
        creates_once_and_keeps_the_first_body(&NoConditionalCreate(MemoryStorage::new())).await;
    }
}

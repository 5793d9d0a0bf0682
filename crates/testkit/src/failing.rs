//! Injected failures: a writer and a storage that fail mid-stream (a repository that becomes
//! unavailable while a backup is being written).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures::StreamExt;
use lifeboat_storage::{ByteStream, Op, PutOptions, Storage, StorageError};

/// An AsyncWrite that accepts `limit` bytes and then fails every write.
pub struct FailingWriter {
    /// Bytes accepted so far.
    pub written: usize,
    /// Bytes accepted before the failure.
    pub limit: usize,
}

impl tokio::io::AsyncWrite for FailingWriter {
    fn poll_write(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if self.written >= self.limit {
            return Poll::Ready(Err(std::io::Error::other("repository unavailable (injected)")));
        }
        let n = buf.len().min(self.limit - self.written);
        self.written += n;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The message of the failure [`FailingStorage`] injects.
pub const INJECTED: &str = "injected failure: repository unavailable";

/// A storage that behaves like the wrapped one, except that uploads under `data/` fail once
/// `limit` bytes of them went through (a repository that becomes unavailable mid-stream).
///
/// Built on lifeboat-storage's forwarding base, so everything it does not change (reads,
/// listings, conditional creates, capabilities) is the wrapped storage's.
#[derive(Debug)]
pub struct FailingStorage {
    inner: Arc<dyn Storage>,
    limit: u64,
    passed: Arc<AtomicU64>,
    /// How many uploads failed (the injected failure fired, or the upload failed otherwise).
    pub failures: AtomicU32,
}

impl FailingStorage {
    /// Wraps `inner`; `data/` uploads fail after `limit` bytes in total.
    pub fn new(inner: Arc<dyn Storage>, limit: u64) -> Self {
        FailingStorage { inner, limit, passed: Arc::new(AtomicU64::new(0)), failures: AtomicU32::new(0) }
    }
}

#[async_trait::async_trait]
impl lifeboat_storage::layer::StorageLayer for FailingStorage {
    type Inner = dyn Storage;

    fn inner(&self) -> &Self::Inner {
        &*self.inner
    }

    async fn put_with_options(
        &self,
        key: &str,
        body: ByteStream,
        size_hint: Option<u64>,
        options: &PutOptions,
    ) -> Result<(), StorageError> {
        if !key.starts_with("data/") {
            return self.inner.put_with_options(key, body, size_hint, options).await;
        }
        let (passed, limit, location, owned) = (self.passed.clone(), self.limit, self.inner.location(), key.to_owned());
        let injected = move || StorageError::Backend {
            op: Op::Put,
            location: location.clone(),
            key: owned.clone(),
            message: INJECTED.into(),
            transient: false,
        };
        let mut tripped = false;
        let body: ByteStream = Box::pin(body.map(move |item| {
            if tripped {
                return Err(injected());
            }
            let chunk = item?;
            if passed.fetch_add(chunk.len() as u64, Ordering::SeqCst) + chunk.len() as u64 > limit {
                tripped = true;
                return Err(injected());
            }
            Ok(chunk)
        }));
        let result = self.inner.put_with_options(key, body, size_hint, options).await;
        if result.is_err() {
            self.failures.fetch_add(1, Ordering::SeqCst);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use lifeboat_storage::{MemoryStorage, StorageExt};

    use super::*;

    #[tokio::test]
    async fn data_uploads_fail_past_the_limit_and_the_rest_is_the_inner_storage() {
        let inner: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let failing = FailingStorage::new(inner.clone(), 10);
        failing.put_bytes("config", Bytes::from(vec![1; 100])).await.unwrap();
        failing.put_bytes("data/a", Bytes::from(vec![2; 10])).await.unwrap();
        let e = failing.put_bytes("data/b", Bytes::from(vec![3; 1])).await.unwrap_err();
        assert!(e.to_string().contains(INJECTED), "{e}");
        assert_eq!(failing.failures.load(Ordering::SeqCst), 1);
        assert!(failing.head("data/b").await.unwrap().is_none(), "a failed upload left an object");
        assert_eq!(failing.location(), inner.location());
        assert_eq!(
            failing.capabilities().await.unwrap().conditional_put,
            inner.capabilities().await.unwrap().conditional_put,
            "capabilities are forwarded, not the conservative default"
        );
    }
}

//! Bandwidth limits for uploads and downloads (`--limit-upload`, `--limit-download`).

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::time::Instant;

use crate::{ByteStream, PutOptions, PutOutcome, Storage, StorageError};

/// Upload bodies are paced in slices of at most this many bytes, so that a limit is
/// smooth rather than one long pause per multi-megabyte chunk.
const SLICE: usize = 64 * 1024;

/// A shared token bucket: `rate` bytes per second, with a burst of one second's worth.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    fn new(rate: u64) -> Self {
        let rate = rate.max(1) as f64;
        Self { rate, state: Mutex::new((rate, Instant::now())) }
    }

    /// Takes `n` bytes' worth of tokens, waiting as long as the debt needs. Concurrent
    /// callers queue behind each other's debt, so the total stays within the rate.
    async fn take(&self, n: usize) {
        let wait = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let (tokens, last) = *st;
            let tokens = (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.rate) - n as f64;
            *st = (tokens, now);
            if tokens < 0.0 { Duration::from_secs_f64(-tokens / self.rate) } else { Duration::ZERO }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Limits the bytes per second written through `put` and read through `get`. The
/// limits are shared by every operation on this handle (and its clones).
#[derive(Debug, Clone)]
pub struct RateLimitLayer<S> {
    inner: S,
    upload: Option<Arc<Bucket>>,
    download: Option<Arc<Bucket>>,
}

impl<S: Storage> RateLimitLayer<S> {
    /// Wraps `inner` with optional upload and download limits in bytes per second
    /// (`None` = unlimited).
    pub fn new(inner: S, upload_bytes_per_sec: Option<u64>, download_bytes_per_sec: Option<u64>) -> Self {
        Self {
            inner,
            upload: upload_bytes_per_sec.map(|r| Arc::new(Bucket::new(r))),
            download: download_bytes_per_sec.map(|r| Arc::new(Bucket::new(r))),
        }
    }

    fn pace_upload(&self, body: ByteStream) -> ByteStream {
        let Some(bucket) = self.upload.clone() else { return body };
        let sliced = body.flat_map(|item| {
            let pieces: Vec<Result<Bytes, StorageError>> = match item {
                Ok(b) => (0..b.len().div_ceil(SLICE))
                    .map(|i| Ok(b.slice(i * SLICE..((i + 1) * SLICE).min(b.len()))))
                    .collect(),
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(pieces)
        });
        Box::pin(sliced.then(move |item| {
            let bucket = bucket.clone();
            async move {
                if let Ok(b) = &item {
                    bucket.take(b.len()).await;
                }
                item
            }
        }))
    }
}

#[async_trait]
impl<S: Storage> super::StorageLayer for RateLimitLayer<S> {
    type Inner = S;

    fn inner(&self) -> &S {
        &self.inner
    }

    async fn put_with_options(
        &self,
        key: &str,
        body: ByteStream,
        size_hint: Option<u64>,
        options: &PutOptions,
    ) -> Result<(), StorageError> {
        self.inner.put_with_options(key, self.pace_upload(body), size_hint, options).await
    }

    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<PutOutcome, StorageError> {
        if let Some(b) = &self.upload {
            b.take(body.len()).await;
        }
        self.inner.put_if_absent(key, body).await
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
        let stream = self.inner.get(key, range).await?;
        let Some(bucket) = self.download.clone() else { return Ok(stream) };
        Ok(Box::pin(stream.then(move |item| {
            let bucket = bucket.clone();
            async move {
                if let Ok(b) = &item {
                    bucket.take(b.len()).await;
                }
                item
            }
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryStorage, StorageExt};

    fn chunks(n: usize, size: usize) -> ByteStream {
        Box::pin(futures::stream::iter((0..n).map(move |_| Ok(Bytes::from(vec![7u8; size])))))
    }

    #[tokio::test(start_paused = true)]
    async fn uploads_are_held_to_the_rate() {
        let s = RateLimitLayer::new(MemoryStorage::new(), Some(100_000), None);
        let start = Instant::now();
        // 500 kB at 100 kB/s with a 100 kB burst: about 4 s.
        s.put("k", chunks(5, 100_000), None).await.unwrap();
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(3900) && took <= Duration::from_millis(4200), "{took:?}");
        assert_eq!(s.head("k").await.unwrap().unwrap().size, 500_000);
        // Downloads are unlimited here.
        let start = Instant::now();
        assert_eq!(s.get_bytes("k").await.unwrap().len(), 500_000);
        assert!(start.elapsed() < Duration::from_millis(10));
    }

    #[tokio::test(start_paused = true)]
    async fn downloads_are_held_to_the_rate_and_shared() {
        let backend = MemoryStorage::new();
        backend.put("k", chunks(1, 300_000), None).await.unwrap();
        let s = RateLimitLayer::new(backend, None, Some(100_000));
        let start = Instant::now();
        let (a, b) = tokio::join!(s.get_bytes("k"), s.get_bytes("k"));
        assert_eq!(a.unwrap().len() + b.unwrap().len(), 600_000);
        // 600 kB shared at 100 kB/s, minus the 100 kB burst: about 5 s.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(4900) && took <= Duration::from_millis(5200), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn no_limit_no_delay() {
        let s = RateLimitLayer::new(MemoryStorage::new(), None, None);
        let start = Instant::now();
        s.put("k", chunks(100, 100_000), None).await.unwrap();
        assert!(start.elapsed() < Duration::from_millis(10));
    }
}

//! Metrics through the `metrics` facade: operations, errors, bytes and latency.
//!
//! | name | kind | labels |
//! | --- | --- | --- |
//! | `lifeboat_storage_operations_total` | counter | `backend`, `op` |
//! | `lifeboat_storage_errors_total` | counter | `backend`, `op`, `kind` (`not_found`, `transient`, `permanent`) |
//! | `lifeboat_storage_bytes_total` | counter | `backend`, `direction` (`upload`, `download`) |
//! | `lifeboat_storage_operation_duration_seconds` | histogram | `backend`, `op` |
//!
//! Durations of `put` cover the whole upload; of `get`, the time until the stream is
//! open (first byte); of `list`, the whole listing.

use std::ops::Range;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use crate::{ByteStream, MetaStream, ObjectMeta, PutOptions, PutOutcome, Retention, Storage, StorageError};

/// Counter of calls.
pub const OPERATIONS: &str = "lifeboat_storage_operations_total";
/// Counter of failed calls.
pub const ERRORS: &str = "lifeboat_storage_errors_total";
/// Counter of bytes moved.
pub const BYTES: &str = "lifeboat_storage_bytes_total";
/// Histogram of call latency in seconds.
pub const DURATION: &str = "lifeboat_storage_operation_duration_seconds";

/// Records metrics of every call to the wrapped storage, labelled with `backend`.
#[derive(Debug, Clone)]
pub struct MetricsLayer<S> {
    inner: S,
    backend: String,
}

impl<S: Storage> MetricsLayer<S> {
    /// Wraps `inner`; `backend` labels its metrics (e.g. `s3`, `fs`, or a repository name).
    pub fn new(inner: S, backend: impl Into<String>) -> Self {
        metrics::describe_counter!(OPERATIONS, "Storage operations started");
        metrics::describe_counter!(ERRORS, "Storage operations that failed");
        metrics::describe_counter!(BYTES, metrics::Unit::Bytes, "Bytes uploaded to or downloaded from storage");
        metrics::describe_histogram!(DURATION, metrics::Unit::Seconds, "Storage operation latency");
        Self { inner, backend: backend.into() }
    }

    fn record<T>(&self, op: &'static str, start: Instant, result: &Result<T, StorageError>) {
        record(&self.backend, op, start, result.as_ref().err());
    }

    fn count_bytes(&self, direction: &'static str, stream: ByteStream) -> ByteStream {
        let counter = metrics::counter!(BYTES, "backend" => self.backend.clone(), "direction" => direction);
        Box::pin(stream.inspect(move |item| {
            if let Ok(b) = item {
                counter.increment(b.len() as u64);
            }
        }))
    }
}

fn record(backend: &str, op: &'static str, start: Instant, err: Option<&StorageError>) {
    metrics::counter!(OPERATIONS, "backend" => backend.to_owned(), "op" => op).increment(1);
    metrics::histogram!(DURATION, "backend" => backend.to_owned(), "op" => op).record(start.elapsed().as_secs_f64());
    if let Some(e) = err {
        let kind = if e.is_not_found() {
            "not_found"
        } else if e.is_transient() {
            "transient"
        } else {
            "permanent"
        };
        metrics::counter!(ERRORS, "backend" => backend.to_owned(), "op" => op, "kind" => kind).increment(1);
    }
}

#[async_trait]
impl<S: Storage> super::StorageLayer for MetricsLayer<S> {
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
        let start = Instant::now();
        let r = self.inner.put_with_options(key, self.count_bytes("upload", body), size_hint, options).await;
        self.record("put", start, &r);
        r
    }

    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<PutOutcome, StorageError> {
        let start = Instant::now();
        let len = body.len() as u64;
        let r = self.inner.put_if_absent(key, body).await;
        if matches!(r, Ok(PutOutcome::Created)) {
            metrics::counter!(BYTES, "backend" => self.backend.clone(), "direction" => "upload").increment(len);
        }
        self.record("put_if_absent", start, &r);
        r
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
        let start = Instant::now();
        let r = self.inner.get(key, range).await;
        self.record("get", start, &r);
        let stream = r?;
        let backend = self.backend.clone();
        let counted = self.count_bytes("download", stream);
        // Errors in the middle of a download count too.
        Ok(Box::pin(counted.inspect(move |item| {
            if let Err(e) = item {
                let kind = if e.is_transient() { "transient" } else { "permanent" };
                metrics::counter!(ERRORS, "backend" => backend.clone(), "op" => "get", "kind" => kind).increment(1);
            }
        })))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        let start = Instant::now();
        let r = self.inner.head(key).await;
        self.record("head", start, &r);
        r
    }

    fn list(&self, prefix: &str) -> MetaStream {
        struct Listing {
            inner: MetaStream,
            backend: String,
            start: Instant,
            finished: bool,
        }
        let state = Listing {
            inner: self.inner.list(prefix),
            backend: self.backend.clone(),
            start: Instant::now(),
            finished: false,
        };
        Box::pin(futures::stream::unfold(state, |mut st| async move {
            if st.finished {
                return None;
            }
            match st.inner.next().await {
                Some(Ok(meta)) => Some((Ok(meta), st)),
                Some(Err(e)) => {
                    record(&st.backend, "list", st.start, Some(&e));
                    st.finished = true;
                    Some((Err(e), st))
                }
                None => {
                    record(&st.backend, "list", st.start, None);
                    None
                }
            }
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let start = Instant::now();
        let r = self.inner.delete(key).await;
        self.record("delete", start, &r);
        r
    }

    async fn retention(&self, key: &str) -> Result<Option<Retention>, StorageError> {
        let start = Instant::now();
        let r = self.inner.retention(key).await;
        self.record("retention", start, &r);
        r
    }

    async fn extend_retention(&self, key: &str, retention: &Retention) -> Result<Retention, StorageError> {
        let start = Instant::now();
        let r = self.inner.extend_retention(key, retention).await;
        self.record("extend_retention", start, &r);
        r
    }

    async fn sweep_temp(
        &self,
        prefix: &str,
        older_than: std::time::Duration,
        dry_run: bool,
    ) -> Result<Vec<ObjectMeta>, StorageError> {
        let start = Instant::now();
        let r = self.inner.sweep_temp(prefix, older_than, dry_run).await;
        self.record("sweep_temp", start, &r);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryStorage, StorageExt};
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    type Sample = (String, Vec<(String, String)>, DebugValue);

    fn counter(snapshot: &[Sample], name: &str, labels: &[(&str, &str)]) -> u64 {
        snapshot
            .iter()
            .filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v)))
            .map(|(_, _, v)| match v {
                DebugValue::Counter(c) => *c,
                _ => 0,
            })
            .sum()
    }

    #[test]
    fn counts_operations_errors_bytes_and_latency() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let s = MetricsLayer::new(MemoryStorage::new(), "mem");
                s.put_bytes("a", Bytes::from(vec![1u8; 1000])).await.unwrap();
                assert_eq!(s.get_bytes("a").await.unwrap().len(), 1000);
                assert!(s.get_bytes("missing").await.is_err());
                assert!(s.put_bytes("../bad", Bytes::new()).await.is_err());
                assert_eq!(s.list_all("").await.unwrap().len(), 1);
                s.delete("a").await.unwrap();
            });
        });
        let snap: Vec<_> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(ck, _, _, v)| {
                let key = ck.key();
                let labels = key.labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
                (key.name().to_owned(), labels, v)
            })
            .collect();
        assert_eq!(counter(&snap, OPERATIONS, &[("backend", "mem"), ("op", "put")]), 2);
        assert_eq!(counter(&snap, OPERATIONS, &[("op", "get")]), 2);
        assert_eq!(counter(&snap, OPERATIONS, &[("op", "list")]), 1);
        assert_eq!(counter(&snap, OPERATIONS, &[("op", "delete")]), 1);
        assert_eq!(counter(&snap, ERRORS, &[("op", "get"), ("kind", "not_found")]), 1);
        assert_eq!(counter(&snap, ERRORS, &[("op", "put"), ("kind", "permanent")]), 1);
        assert_eq!(counter(&snap, BYTES, &[("direction", "upload")]), 1000);
        assert_eq!(counter(&snap, BYTES, &[("direction", "download")]), 1000);
        let histograms = snap
            .iter()
            .filter(|(n, l, _)| n == DURATION && l.iter().any(|(k, v)| k == "op" && v == "put"))
            .map(|(_, _, v)| match v {
                DebugValue::Histogram(h) => h.len(),
                _ => 0,
            })
            .sum::<usize>();
        assert_eq!(histograms, 2, "one latency sample per put");
    }
}

//! [`StorageBuilder`]: the one place that decides how a repository's storage stack is
//! assembled, so that every frontend (the CLI, the service) gets the same layers in the
//! same order.

use std::sync::Arc;

use crate::layer::{MetricsLayer, RateLimitLayer, RetryLayer, RetryPolicy, TenantLayer};
use crate::open::open_parsed;
use crate::{Storage, StorageError, StorageUrl};

/// Builds the storage stack of a repository from a URL and a few options, like tower's
/// `ServiceBuilder`: the caller says which layers it wants, the builder owns their order.
///
/// From the backend outwards:
///
/// 1. the **backend** the URL names ([`open_url`](crate::open_url));
/// 2. **retries** ([`RetryLayer`]), for remote backends only: a local disk fails for reasons
///    a retry does not cure (full, read-only, a permission), and buffering its writes for
///    replay would only delay them. Directly on the backend, so that each attempt is one
///    request and a replayed upload is not paced or counted twice;
/// 3. **bandwidth limits** ([`RateLimitLayer`]), above the retries: the limits pace the
///    bytes the repository moves, once, whatever happens beneath;
/// 4. **metrics** ([`MetricsLayer`]), when asked for: one operation per repository call
///    (retries inside it), its duration including any pacing;
/// 5. the **tenant** prefix ([`TenantLayer`]), outermost: a hostile key is refused before
///    any other layer acts on it, and every layer below sees the full key
///    `tenants/NAME/...` (so retry warnings name the object as stored).
///
/// ```
/// use lifeboat_storage::{StorageBuilder, StorageExt};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), lifeboat_storage::StorageError> {
/// let store = StorageBuilder::new("memory://").tenant("acme").limits(Some(8 << 20), None).build()?;
/// store.put_bytes("config", bytes::Bytes::from_static(b"{}")).await?;
/// assert_eq!(store.location(), "memory:// (tenant acme)");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct StorageBuilder {
    backend: Backend,
    tenant: Option<String>,
    retry: RetryPolicy,
    limit_upload: Option<u64>,
    limit_download: Option<u64>,
    metrics: Option<String>,
}

/// Where the stack's bottom comes from.
#[derive(Debug, Clone)]
enum Backend {
    /// A URL, opened by [`StorageBuilder::build`].
    Url(String),
    /// A backend opened by the caller, and whether it is remote (gets retries).
    Opened { storage: Arc<dyn Storage>, remote: bool },
}

impl StorageBuilder {
    /// A stack on the backend `url` names (see [`StorageUrl::parse`]), with retries when it
    /// is remote, no limits, no metrics and no tenant.
    pub fn new(url: impl Into<String>) -> Self {
        Self::with(Backend::Url(url.into()))
    }

    /// A stack on a backend the caller opened; `remote` says whether its failures can be
    /// transient (and so get retries), as [`StorageUrl::is_remote`] does for URLs.
    pub fn on(storage: Arc<dyn Storage>, remote: bool) -> Self {
        Self::with(Backend::Opened { storage, remote })
    }

    fn with(backend: Backend) -> Self {
        Self {
            backend,
            tenant: None,
            retry: RetryPolicy::default(),
            limit_upload: None,
            limit_download: None,
            metrics: None,
        }
    }

    /// Confines the stack to `tenant`'s prefix `tenants/<tenant>/` (checked by
    /// [`build`](Self::build) with [`validate_tenant`](crate::layer::validate_tenant)).
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Like [`tenant`](Self::tenant), for an optional one (a flag that may be absent).
    pub fn maybe_tenant(mut self, tenant: Option<&str>) -> Self {
        self.tenant = tenant.map(str::to_owned);
        self
    }

    /// Upload and download limits in bytes per second (`None`: unlimited).
    pub fn limits(mut self, upload_bytes_per_sec: Option<u64>, download_bytes_per_sec: Option<u64>) -> Self {
        self.limit_upload = upload_bytes_per_sec;
        self.limit_download = download_bytes_per_sec;
        self
    }

    /// The retry policy of remote backends (default: [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Records metrics of every call, labelled `backend = label` (see [`MetricsLayer`]).
    pub fn metrics(mut self, label: impl Into<String>) -> Self {
        self.metrics = Some(label.into());
        self
    }

    /// Opens the backend and stacks the layers in the documented order. Fails on a bad
    /// URL, a backend this build lacks, or a bad tenant name; remote backends connect on
    /// first use.
    pub fn build(self) -> Result<Arc<dyn Storage>, StorageError> {
        let (backend, remote) = match self.backend {
            Backend::Url(url) => {
                let parsed = StorageUrl::parse(&url)?;
                let remote = parsed.is_remote();
                (open_parsed(parsed, &url)?, remote)
            }
            Backend::Opened { storage, remote } => (storage, remote),
        };
        let retried: Arc<dyn Storage> =
            if remote { Arc::new(RetryLayer::new(backend).with_policy(self.retry)) } else { backend };
        let limited: Arc<dyn Storage> = Arc::new(RateLimitLayer::new(retried, self.limit_upload, self.limit_download));
        let measured = match self.metrics {
            Some(label) => Arc::new(MetricsLayer::new(limited, label)),
            None => limited,
        };
        Ok(match self.tenant {
            Some(tenant) => Arc::new(TenantLayer::new(measured, &tenant)?),
            None => measured,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use bytes::Bytes;
    use tokio::time::Instant;

    use super::*;
    use crate::{ByteStream, MemoryStorage, Op, PutOptions, StorageExt};

    /// A memory store whose first `failures` puts fail transiently; counts every put.
    #[derive(Debug, Default)]
    struct FirstPutsFail {
        store: MemoryStorage,
        failures: u32,
        puts: AtomicU32,
    }

    #[async_trait::async_trait]
    impl crate::layer::StorageLayer for FirstPutsFail {
        type Inner = MemoryStorage;
        fn inner(&self) -> &MemoryStorage {
            &self.store
        }
        async fn put_with_options(
            &self,
            key: &str,
            mut body: ByteStream,
            size_hint: Option<u64>,
            options: &PutOptions,
        ) -> Result<(), StorageError> {
            if self.puts.fetch_add(1, Ordering::SeqCst) < self.failures {
                // Read the body as a real upload would before the connection drops.
                while futures::StreamExt::next(&mut body).await.is_some() {}
                return Err(StorageError::Backend {
                    op: Op::Put,
                    location: "flaky://".into(),
                    key: key.into(),
                    message: "HTTP 503 SlowDown".into(),
                    transient: true,
                });
            }
            self.store.put_with_options(key, body, size_hint, options).await
        }
    }

    fn failing_once() -> Arc<FirstPutsFail> {
        Arc::new(FirstPutsFail { failures: 1, ..FirstPutsFail::default() })
    }

    #[tokio::test]
    async fn the_tenant_prefix_is_outermost_and_reaches_the_backend() {
        let backend = MemoryStorage::new();
        let store = StorageBuilder::on(Arc::new(backend.clone()), true).tenant("acme").limits(Some(1 << 30), None);
        let store = store.metrics("mem").build().unwrap();
        store.put_bytes("config", Bytes::from_static(b"{}")).await.unwrap();
        let keys: Vec<_> = backend.list_all("").await.unwrap().into_iter().map(|m| m.key).collect();
        assert_eq!(keys, ["tenants/acme/config"], "every layer below the tenant saw the full key");
        assert_eq!(store.location(), "memory:// (tenant acme)");
        assert!(matches!(store.get_bytes("../x").await.unwrap_err(), StorageError::InvalidKey { .. }));
        assert!(StorageBuilder::new("memory://").tenant("../evil").build().is_err(), "the tenant name is checked");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_happen_inside_the_limits() {
        let backend = failing_once();
        let store = StorageBuilder::on(backend.clone(), true).limits(Some(100_000), None).build().unwrap();
        let start = Instant::now();
        // 300 kB at 100 kB/s with a one-second burst: 2 s when paced once. Paced again for
        // the retry, it would take 5 s.
        store.put_bytes("k", Bytes::from(vec![7u8; 300_000])).await.unwrap();
        let took = start.elapsed();
        assert_eq!(backend.puts.load(Ordering::SeqCst), 2, "one failure, one retry");
        assert!(took >= Duration::from_millis(1900) && took < Duration::from_millis(2500), "{took:?}");
    }

    #[tokio::test]
    async fn local_backends_get_no_retries() {
        let backend = failing_once();
        let store = StorageBuilder::on(backend.clone(), false).build().unwrap();
        let err = store.put_bytes("k", Bytes::from_static(b"x")).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert_eq!(backend.puts.load(Ordering::SeqCst), 1);
        let local = tempfile::tempdir().unwrap();
        let fs = StorageBuilder::new(local.path().to_str().unwrap()).build().unwrap();
        assert!(!format!("{fs:?}").contains("RetryLayer"), "{fs:?}");
        assert!(format!("{:?}", StorageBuilder::new("memory://").build().unwrap()).contains("RateLimitLayer"));
    }

    #[test]
    fn metrics_count_repository_calls_with_their_retries_inside_and_the_tenant_outside() {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
            rt.block_on(async {
                let store = StorageBuilder::on(failing_once(), true).metrics("flaky").tenant("acme").build().unwrap();
                store.put_bytes("k", Bytes::from_static(b"x")).await.unwrap();
                // Refused by the tenant layer before it reaches the metrics.
                assert!(store.get_bytes("../other/k").await.is_err());
            });
        });
        let counts: Vec<(String, u64)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| match value {
                DebugValue::Counter(n) => Some((key.key().name().to_owned(), n)),
                _ => None,
            })
            .collect();
        let count = |name: &str| counts.iter().filter(|(n, _)| n == name).map(|(_, v)| v).sum::<u64>();
        assert_eq!(count("lifeboat_storage_operations_total"), 1, "{counts:?}");
        assert_eq!(count("lifeboat_storage_errors_total"), 0, "the retried failure is not the caller's: {counts:?}");
    }
}

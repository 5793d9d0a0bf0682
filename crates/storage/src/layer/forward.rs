//! The forwarding base of every layer: a layer names its inner storage and overrides only
//! what it changes; everything else, [`Storage::capabilities`] included, reaches the inner
//! storage untouched.
//!
//! The design is OpenDAL's `LayeredAccess`: a small trait, [`StorageLayer`], whose methods
//! all forward to [`inner`](StorageLayer::inner) by default, and one blanket
//! `impl<L: StorageLayer> Storage for L`. A layer therefore cannot forget a method: a
//! wrapper written by hand against [`Storage`] that forgot `capabilities` would claim nothing
//! (the trait's conservative default), and one that forgot a write method would lose it;
//! on this base both are forwarded without a line of code.

use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{
    ByteStream, Capabilities, MetaStream, ObjectMeta, PutOptions, PutOutcome, Retention, Storage, StorageError,
};

/// A storage that wraps another and changes some of what it does: implement this instead
/// of [`Storage`] (which every `StorageLayer` then is) and override only the methods the
/// layer changes.
///
/// Writes have one path: a layer sees `put` as [`put_with_options`] with empty options, so
/// a layer that changes bodies or keys overrides that one method and cannot miss the other.
///
/// Implement it by path (`impl lifeboat_storage::layer::StorageLayer for MyLayer`) rather
/// than importing it: where both traits are in scope, `layer.get(..)` is ambiguous. Inside
/// the impl block the trait is in scope, so call the inner storage there (`self.0.location()`),
/// not `self.location()`.
///
/// ```
/// use lifeboat_storage::{MemoryStorage, Storage, StorageError, ObjectMeta};
///
/// /// Hides everything under `private/` from `head`; all else, capabilities included,
/// /// behaves as the inner storage does.
/// #[derive(Debug)]
/// struct HidePrivate(MemoryStorage);
///
/// #[async_trait::async_trait]
/// impl lifeboat_storage::layer::StorageLayer for HidePrivate {
///     type Inner = MemoryStorage;
///     fn inner(&self) -> &MemoryStorage {
///         &self.0
///     }
///     async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
///         if key.starts_with("private/") { Ok(None) } else { self.0.head(key).await }
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), StorageError> {
/// let store = HidePrivate(MemoryStorage::new());
/// assert!(store.capabilities().await?.conditional_put, "forwarded from the memory backend");
/// # Ok(())
/// # }
/// ```
///
/// [`put_with_options`]: StorageLayer::put_with_options
#[async_trait]
pub trait StorageLayer: Send + Sync + std::fmt::Debug {
    /// The storage this layer wraps.
    type Inner: Storage + ?Sized;

    /// The wrapped storage, which every method not overridden forwards to.
    fn inner(&self) -> &Self::Inner;

    /// See [`Storage::location`].
    fn location(&self) -> String {
        self.inner().location()
    }

    /// See [`Storage::put_with_options`]; [`Storage::put`] comes here with empty options.
    async fn put_with_options(
        &self,
        key: &str,
        body: ByteStream,
        size_hint: Option<u64>,
        options: &PutOptions,
    ) -> Result<(), StorageError> {
        self.inner().put_with_options(key, body, size_hint, options).await
    }

    /// See [`Storage::put_if_absent`].
    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<PutOutcome, StorageError> {
        self.inner().put_if_absent(key, body).await
    }

    /// See [`Storage::get`].
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
        self.inner().get(key, range).await
    }

    /// See [`Storage::head`].
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        self.inner().head(key).await
    }

    /// See [`Storage::list`].
    fn list(&self, prefix: &str) -> MetaStream {
        self.inner().list(prefix)
    }

    /// See [`Storage::delete`].
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner().delete(key).await
    }

    /// See [`Storage::capabilities`]: the inner storage's, unless the layer changes them.
    async fn capabilities(&self) -> Result<Capabilities, StorageError> {
        self.inner().capabilities().await
    }

    /// See [`Storage::retention`].
    async fn retention(&self, key: &str) -> Result<Option<Retention>, StorageError> {
        self.inner().retention(key).await
    }

    /// See [`Storage::extend_retention`].
    async fn extend_retention(&self, key: &str, retention: &Retention) -> Result<Retention, StorageError> {
        self.inner().extend_retention(key, retention).await
    }

    /// See [`Storage::sweep_temp`].
    async fn sweep_temp(
        &self,
        prefix: &str,
        older_than: Duration,
        dry_run: bool,
    ) -> Result<Vec<ObjectMeta>, StorageError> {
        self.inner().sweep_temp(prefix, older_than, dry_run).await
    }
}

#[async_trait]
impl<L: StorageLayer + ?Sized> Storage for L {
    fn location(&self) -> String {
        StorageLayer::location(self)
    }
    async fn put(&self, key: &str, body: ByteStream, size_hint: Option<u64>) -> Result<(), StorageError> {
        StorageLayer::put_with_options(self, key, body, size_hint, &PutOptions::default()).await
    }
    async fn put_with_options(
        &self,
        key: &str,
        body: ByteStream,
        size_hint: Option<u64>,
        options: &PutOptions,
    ) -> Result<(), StorageError> {
        StorageLayer::put_with_options(self, key, body, size_hint, options).await
    }
    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<PutOutcome, StorageError> {
        StorageLayer::put_if_absent(self, key, body).await
    }
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
        StorageLayer::get(self, key, range).await
    }
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        StorageLayer::head(self, key).await
    }
    fn list(&self, prefix: &str) -> MetaStream {
        StorageLayer::list(self, prefix)
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        StorageLayer::delete(self, key).await
    }
    async fn capabilities(&self) -> Result<Capabilities, StorageError> {
        StorageLayer::capabilities(self).await
    }
    async fn retention(&self, key: &str) -> Result<Option<Retention>, StorageError> {
        StorageLayer::retention(self, key).await
    }
    async fn extend_retention(&self, key: &str, retention: &Retention) -> Result<Retention, StorageError> {
        StorageLayer::extend_retention(self, key, retention).await
    }
    async fn sweep_temp(
        &self,
        prefix: &str,
        older_than: Duration,
        dry_run: bool,
    ) -> Result<Vec<ObjectMeta>, StorageError> {
        StorageLayer::sweep_temp(self, prefix, older_than, dry_run).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{MetricsLayer, RateLimitLayer, RetryLayer, TenantLayer};
    use crate::{MemoryStorage, StorageExt};

    /// A backend that implements only what [`Storage`] requires and states no capabilities.
    #[derive(Debug, Default)]
    struct Unstated(MemoryStorage);

    #[async_trait]
    impl Storage for Unstated {
        fn location(&self) -> String {
            "unstated://".into()
        }
        async fn put(&self, key: &str, body: ByteStream, size_hint: Option<u64>) -> Result<(), StorageError> {
            self.0.put(key, body, size_hint).await
        }
        async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<PutOutcome, StorageError> {
            self.0.put_if_absent(key, body).await
        }
        async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
            self.0.get(key, range).await
        }
        async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
            self.0.head(key).await
        }
        fn list(&self, prefix: &str) -> MetaStream {
            self.0.list(prefix)
        }
        async fn delete(&self, key: &str) -> Result<(), StorageError> {
            self.0.delete(key).await
        }
    }

    /// A backend claiming what no built-in one claims together, so forwarding shows.
    #[derive(Debug, Default)]
    struct Claims(MemoryStorage);

    const CLAIMED: Capabilities = Capabilities { conditional_put: false, object_lock: true };

    #[async_trait]
    impl StorageLayer for Claims {
        type Inner = MemoryStorage;
        fn inner(&self) -> &MemoryStorage {
            &self.0
        }
        async fn capabilities(&self) -> Result<Capabilities, StorageError> {
            Ok(CLAIMED)
        }
    }

    /// A layer that overrides nothing.
    #[derive(Debug)]
    struct Nothing<S>(S);

    impl<S: Storage> StorageLayer for Nothing<S> {
        type Inner = S;
        fn inner(&self) -> &S {
            &self.0
        }
    }

    #[tokio::test]
    async fn a_backend_that_states_nothing_claims_nothing() {
        let caps = seen(&Unstated::default()).capabilities().await.unwrap();
        assert_eq!(caps, Capabilities { conditional_put: false, object_lock: false });
        assert_eq!(caps, Capabilities::default());
    }

    /// The layer as callers see it (this module also has [`StorageLayer`] in scope, which
    /// would make method calls on a layer ambiguous).
    fn seen(layer: &impl Storage) -> &dyn Storage {
        layer
    }

    #[tokio::test]
    async fn a_layer_that_overrides_nothing_reports_and_does_what_the_inner_does() {
        let memory = MemoryStorage::new();
        let layer = Nothing(memory.clone());
        let store = seen(&layer);
        assert_eq!(store.capabilities().await.unwrap(), memory.capabilities().await.unwrap());
        assert_eq!(seen(&Nothing(Claims::default())).capabilities().await.unwrap(), CLAIMED);
        assert_eq!(seen(&Nothing(Unstated::default())).capabilities().await.unwrap(), Capabilities::default());
        assert_eq!(store.location(), "memory://");
        store.put_bytes("a/b", Bytes::from_static(b"x")).await.unwrap();
        assert_eq!(store.put_if_absent("a/b", Bytes::new()).await.unwrap(), PutOutcome::AlreadyExists);
        assert_eq!(&memory.get_bytes("a/b").await.unwrap()[..], b"x");
        assert_eq!(store.list_all("a/").await.unwrap().len(), 1);
        store.delete("a/b").await.unwrap();
        assert!(store.head("a/b").await.unwrap().is_none());
    }

    /// A backend that keeps every extension it is asked for (and refuses nothing).
    #[derive(Debug, Default)]
    struct Extends(MemoryStorage, std::sync::Mutex<Vec<String>>);

    #[async_trait]
    impl StorageLayer for Extends {
        type Inner = MemoryStorage;
        fn inner(&self) -> &MemoryStorage {
            &self.0
        }
        async fn extend_retention(&self, key: &str, retention: &Retention) -> Result<Retention, StorageError> {
            self.1.lock().unwrap().push(key.to_owned());
            Ok(*retention)
        }
    }

    #[tokio::test]
    async fn extend_retention_reaches_the_backend_through_every_layer_and_is_refused_without_one() {
        let want = Retention::days_from_now(crate::RetentionMode::Governance, 1);
        let inner = std::sync::Arc::new(Extends::default());
        let stack = TenantLayer::new(
            MetricsLayer::new(RateLimitLayer::new(RetryLayer::new(inner.clone()), None, None), "x"),
            "acme",
        )
        .unwrap();
        assert_eq!(seen(&stack).extend_retention("data/p", &want).await.unwrap(), want);
        assert_eq!(*inner.1.lock().unwrap(), vec!["tenants/acme/data/p".to_owned()], "forwarded, key mapped");
        let err = seen(&Nothing(MemoryStorage::new())).extend_retention("data/p", &want).await.unwrap_err();
        assert!(matches!(err, StorageError::Unsupported { .. }), "{err}");
    }

    #[test]
    fn an_extension_never_shortens_nor_weakens() {
        use crate::RetentionMode::{Compliance, Governance};
        let now = std::time::SystemTime::now();
        let day = std::time::Duration::from_secs(86_400);
        let long = Retention { mode: Compliance, until: now + 3 * day };
        let short = Retention { mode: Governance, until: now + day };
        assert_eq!(long.extended_by(&short), long);
        assert_eq!(short.extended_by(&long), long);
        let gov_long = Retention { mode: Governance, until: now + 3 * day };
        assert_eq!(short.extended_by(&gov_long), gov_long);
        assert!(long.reaches(now + day) && !short.reaches(now + 3 * day));
    }

    #[tokio::test]
    async fn every_built_in_layer_reports_the_inner_capabilities() {
        let tenant = TenantLayer::new(Claims::default(), "acme").unwrap();
        assert_eq!(seen(&tenant).capabilities().await.unwrap(), CLAIMED, "tenant");
        assert_eq!(seen(&RetryLayer::new(Claims::default())).capabilities().await.unwrap(), CLAIMED, "retry");
        let limited = RateLimitLayer::new(Claims::default(), Some(1 << 20), Some(1 << 20));
        assert_eq!(seen(&limited).capabilities().await.unwrap(), CLAIMED, "limit");
        let metrics = MetricsLayer::new(Claims::default(), "x");
        assert_eq!(seen(&metrics).capabilities().await.unwrap(), CLAIMED, "metrics");
        let unstated = TenantLayer::new(RetryLayer::new(Unstated::default()), "acme").unwrap();
        assert_eq!(seen(&unstated).capabilities().await.unwrap(), Capabilities::default(), "nothing is made up");
    }
}

//! # lifeboat-storage
//!
//! One async, object-store shaped trait, [`Storage`], that every Lifeboat repository
//! sits on, and the backends that implement it:
//!
//! - [`FsStorage`]: the embedded default, a directory on a local or shared filesystem
//!   with crash-safe atomic writes (temporary file, fsync, rename, fsync of the folder);
//! - [`MemoryStorage`]: an in-process map, for tests of the code above storage.
//!
//! Keys are `/`-separated relative paths (`data/ab/ab12…`). Every backend refuses keys
//! that could escape its root (see [`validate_key`]) before touching anything.
//!
//! - `S3Storage` (feature `s3`): AWS S3 and compatible servers (MinIO, Ceph RGW, s3s)
//!   through aws-sdk-s3, with bounded-memory parallel multipart uploads;
//! - `OpendalStorage` (features `cos`, `obs`, `oss`, `gcs`, `azblob`, `webdav`, `sftp`):
//!   the long tail of services through Apache OpenDAL.
//!
//! Cross-cutting behaviour comes from layers in [`layer`] that wrap any backend: tenant
//! isolation, retries with backoff, bandwidth limits and metrics. [`StorageBuilder`] stacks
//! them on a URL's backend in the one order every frontend uses.
//!
//! Small helpers every Lifeboat crate shares, so that each exists once: [`redact_url`]
//! (URLs in messages), [`units::human_bytes`] (sizes for people), [`fs::write_atomic`]
//! (crash-safe local files) and [`clock::Clock`] (the time, injectable in tests).
//!
//! A URL picks and configures a backend: [`open_url`] understands `file:///abs/path`,
//! plain paths, `memory://`, `s3://bucket/prefix?endpoint=...` and the opendal schemes.
//!
//! ```
//! use lifeboat_storage::{MemoryStorage, StorageExt};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), lifeboat_storage::StorageError> {
//! let store = MemoryStorage::new();
//! store.put_bytes("greeting", bytes::Bytes::from_static(b"hello")).await?;
//! assert_eq!(&store.get_bytes("greeting").await?[..], b"hello");
//! # Ok(())
//! # }
//! ```

mod builder;
pub mod clock;
mod create;
mod drain;
mod error;
pub mod fs;
mod key;
pub mod layer;
mod memory;
mod open;
#[cfg(feature = "opendal-core")]
mod opendal;
mod redact;
#[cfg(feature = "s3")]
mod s3;
mod temp;
pub mod units;
mod url;

pub use builder::StorageBuilder;
pub use create::create_new;
pub use drain::{DrainError, drain_into};
pub use error::{Op, StorageError};
pub use fs::FsStorage;
pub use key::validate_key;
pub use memory::MemoryStorage;
pub use open::open_url;
#[cfg(feature = "opendal-core")]
pub use opendal::OpendalStorage;
pub use redact::redact_url;
#[cfg(feature = "s3")]
pub use s3::S3Storage;
pub use url::{OpendalLocation, OpendalService, S3Options, StorageUrl};

use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt, TryStreamExt};

/// A stream of byte chunks, as read from or written to a backend.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, StorageError>> + Send + 'static>>;

/// A stream of object descriptions, as returned by [`Storage::list`].
pub type MetaStream = Pin<Box<dyn Stream<Item = Result<ObjectMeta, StorageError>> + Send + 'static>>;

/// What a backend knows about one stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's key, relative to the storage root.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When the storage last wrote it, by the storage's own clock (a file's mtime, an
    /// object's `Last-Modified`), when the backend reports it. Leases are judged by this
    /// time rather than by the clock of whoever wrote the object.
    pub modified: Option<SystemTime>,
}

/// The outcome of [`Storage::put_if_absent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object did not exist and now holds the given bytes.
    Created,
    /// An object already existed under the key; it was left untouched.
    AlreadyExists,
}

/// What a backend can promise, so that callers can refuse what it cannot do safely.
///
/// The default promises nothing: a backend claims a capability only by saying so in its
/// [`Storage::capabilities`], so one that forgot cannot make callers rely on a guarantee it
/// lacks (a WebDAV server taken for one with atomic conditional creates would let two
/// hosts hold one exclusive lock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// [`Storage::put_if_absent`] is a true conditional create: of two concurrent calls on
    /// one key exactly one gets [`PutOutcome::Created`]. Repository locks require this.
    pub conditional_put: bool,
    /// The backend can keep objects immutable until a date ([`PutOptions::retention`]),
    /// e.g. an S3 bucket with object lock enabled.
    pub object_lock: bool,
}

/// How an object-lock retention period is enforced (S3 semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionMode {
    /// Nobody, not even the account root, can delete or shorten it before it ends.
    Compliance,
    /// Users with a special permission may bypass it; everyone else is held.
    Governance,
}

impl RetentionMode {
    /// Parses `compliance` or `governance` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "compliance" => Some(Self::Compliance),
            "governance" => Some(Self::Governance),
            _ => None,
        }
    }
}

/// An object's immutability: it must not be deleted or overwritten before `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// How strictly the backend enforces it.
    pub mode: RetentionMode,
    /// When the retention ends.
    pub until: SystemTime,
}

impl Retention {
    /// A retention of `days` days from now.
    pub fn days_from_now(mode: RetentionMode, days: u32) -> Self {
        Self { mode, until: SystemTime::now() + std::time::Duration::from_secs(u64::from(days) * 86_400) }
    }

    /// True while the object must be kept.
    pub fn is_active(&self) -> bool {
        self.until > SystemTime::now()
    }

    /// True when this retention keeps the object at least until `until`.
    pub fn reaches(&self, until: SystemTime) -> bool {
        self.until >= until
    }

    /// What extending this retention by `wanted` gives: the later end and the stricter
    /// mode (compliance over governance), so an extension never weakens a retention.
    pub fn extended_by(&self, wanted: &Retention) -> Retention {
        let mode = match (self.mode, wanted.mode) {
            (RetentionMode::Governance, RetentionMode::Governance) => RetentionMode::Governance,
            _ => RetentionMode::Compliance,
        };
        Retention { mode, until: self.until.max(wanted.until) }
    }
}

/// Extra options of [`Storage::put_with_options`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// Keep the object immutable until this retention ends. Backends without object lock
    /// refuse such a put with [`StorageError::Unsupported`] rather than store it unprotected.
    pub retention: Option<Retention>,
}

/// An object store: the one interface every repository operation goes through.
///
/// Contract for implementors:
/// - `put` is atomic: a reader sees the old object, or the whole new one, never a part.
///   When the body stream fails or the future is dropped, nothing is left under the key
///   and no temporary debris is listed.
/// - `put_if_absent` is a conditional create that never overwrites (locks, manifests).
/// - `list` returns every object whose key starts with `prefix`, in no promised order.
/// - Keys are validated with [`validate_key`] before use.
#[async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Where this storage lives, for messages. Never contains credentials.
    fn location(&self) -> String;

    /// Stores the bytes of `body` under `key`, replacing any object there.
    /// `size_hint` is the expected length when known (backends may use it to choose a
    /// single upload over a multipart one).
    async fn put(&self, key: &str, body: ByteStream, size_hint: Option<u64>) -> Result<(), StorageError>;

    /// Creates `key` holding `body` only if nothing is stored under it yet.
    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<PutOutcome, StorageError>;

    /// Reads an object, whole or the byte `range` of it, as a stream.
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError>;

    /// Describes an object, or `None` when nothing is stored under `key`.
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError>;

    /// Lists every object whose key starts with `prefix`.
    fn list(&self, prefix: &str) -> MetaStream;

    /// Deletes an object. Deleting a missing object is not an error. Backends with object
    /// lock refuse with [`StorageError::Retained`] while the object's retention is active.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// What this backend can promise. Remote backends may ask the server once (and cache
    /// the answer), hence the `async`. The default claims nothing ([`Capabilities::default`]):
    /// every backend states its own, and layers forward their inner storage's
    /// ([`layer::StorageLayer`]).
    async fn capabilities(&self) -> Result<Capabilities, StorageError> {
        Ok(Capabilities::default())
    }

    /// Like [`put`](Storage::put), with options such as an object-lock retention; with
    /// empty options it does exactly what `put` does (layers rely on it: their `put` is this
    /// with empty options). The default accepts empty options and refuses a retention it
    /// cannot enforce.
    async fn put_with_options(
        &self,
        key: &str,
        body: ByteStream,
        size_hint: Option<u64>,
        options: &PutOptions,
    ) -> Result<(), StorageError> {
        if options.retention.is_some() {
            return Err(StorageError::Unsupported {
                op: Op::Put,
                location: self.location(),
                key: key.to_owned(),
                message: "this storage has no object lock, so it cannot keep an object under retention".into(),
            });
        }
        self.put(key, body, size_hint).await
    }

    /// The object-lock retention of an object, when it has one. The default: none.
    async fn retention(&self, key: &str) -> Result<Option<Retention>, StorageError> {
        validate_key(key)?;
        Ok(None)
    }

    /// Makes sure the existing object `key` is retained at least until `retention.until`,
    /// and returns the retention it has afterwards. It never shortens: an object already
    /// retained that long is left as it is, and a longer request keeps the stricter of the
    /// two modes (compliance over governance). A missing object is
    /// [`StorageError::NotFound`]. The default refuses with [`StorageError::Unsupported`]:
    /// only a backend with object lock can keep a promise of immutability.
    async fn extend_retention(&self, key: &str, retention: &Retention) -> Result<Retention, StorageError> {
        let _ = retention;
        validate_key(key)?;
        Err(StorageError::Unsupported {
            op: Op::Put,
            location: self.location(),
            key: key.to_owned(),
            message: "this storage has no object lock, so it cannot extend an object's retention".into(),
        })
    }

    /// The temporary debris that writes killed mid-way (`kill -9`, a power cut) left under
    /// `prefix` and that was last modified more than `older_than` ago; removed unless
    /// `dry_run`. Keys are relative to the storage root. Listings never show such debris,
    /// so this is the only way to reclaim its space; callers must make sure no write that
    /// old is still running (prune holds the exclusive lock). The default: none, for
    /// backends whose interrupted writes leave nothing behind.
    async fn sweep_temp(
        &self,
        prefix: &str,
        older_than: std::time::Duration,
        dry_run: bool,
    ) -> Result<Vec<ObjectMeta>, StorageError> {
        let _ = (prefix, older_than, dry_run);
        Ok(Vec::new())
    }
}

#[async_trait]
impl<S: Storage + ?Sized> Storage for Arc<S> {
    fn location(&self) -> String {
        (**self).location()
    }
    async fn put(&self, key: &str, body: ByteStream, size_hint: Option<u64>) -> Result<(), StorageError> {
        (**self).put(key, body, size_hint).await
    }
    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<PutOutcome, StorageError> {
        (**self).put_if_absent(key, body).await
    }
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
        (**self).get(key, range).await
    }
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        (**self).head(key).await
    }
    fn list(&self, prefix: &str) -> MetaStream {
        (**self).list(prefix)
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        (**self).delete(key).await
    }
    async fn capabilities(&self) -> Result<Capabilities, StorageError> {
        (**self).capabilities().await
    }
    async fn put_with_options(
        &self,
        key: &str,
        body: ByteStream,
        size_hint: Option<u64>,
        options: &PutOptions,
    ) -> Result<(), StorageError> {
        (**self).put_with_options(key, body, size_hint, options).await
    }
    async fn retention(&self, key: &str) -> Result<Option<Retention>, StorageError> {
        (**self).retention(key).await
    }
    async fn extend_retention(&self, key: &str, retention: &Retention) -> Result<Retention, StorageError> {
        (**self).extend_retention(key, retention).await
    }
    async fn sweep_temp(
        &self,
        prefix: &str,
        older_than: std::time::Duration,
        dry_run: bool,
    ) -> Result<Vec<ObjectMeta>, StorageError> {
        (**self).sweep_temp(prefix, older_than, dry_run).await
    }
}

/// Conveniences over [`Storage`] for small objects held in memory.
#[async_trait]
pub trait StorageExt: Storage {
    /// Stores a buffer under `key`.
    async fn put_bytes(&self, key: &str, body: Bytes) -> Result<(), StorageError> {
        let len = body.len() as u64;
        let stream: ByteStream = Box::pin(futures::stream::once(async move { Ok(body) }));
        self.put(key, stream, Some(len)).await
    }

    /// Reads a whole object into memory.
    async fn get_bytes(&self, key: &str) -> Result<Bytes, StorageError> {
        let mut stream = self.get(key, None).await?;
        let mut buf = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(buf.freeze())
    }

    /// Collects a listing into a vector sorted by key.
    async fn list_all(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        let mut all: Vec<ObjectMeta> = self.list(prefix).try_collect().await?;
        all.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(all)
    }
}

impl<S: Storage + ?Sized> StorageExt for S {}

//! The S3 backend on aws-sdk-s3: AWS S3 and compatible servers (MinIO, Ceph RGW, s3s).
//!
//! - Uploads stream: objects smaller than one part go in a single `PutObject`; larger ones
//!   in a multipart upload whose parts (default 16 MiB) are sent `parallel` at a time
//!   (default 4) while the next part is read, so one upload holds at most
//!   `part_size * (parallel + 1)` bytes. Any failure, and a cancelled upload, aborts the
//!   multipart upload: no partial object is ever published.
//! - Every upload carries a CRC32C checksum the server verifies; whole-object reads ask
//!   for the stored checksum and the SDK verifies it.
//! - `put_if_absent` is `PutObject` with `If-None-Match: *`. Before its first use the
//!   backend checks, once, that the server honours that header; where it does not, it
//!   refuses with [`StorageError::Unsupported`] instead of racing.
//! - Credentials come only from the standard AWS chain (environment, profile, web
//!   identity, container and instance metadata), never from the URL.
//!
//! One job per module: `client` (the handle's shared state and the SDK client), `upload`
//! (single and multipart uploads), `parts` (cutting a body into parts), `download` (single
//! and parallel ranged reads), `probe` (what the server supports, asked once) and `errors`
//! (SDK errors as [`StorageError`]s); this file is the [`Storage`] implementation.

mod client;
mod download;
mod errors;
mod parts;
mod probe;
mod upload;

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use aws_sdk_s3::types::ObjectLockMode;
use bytes::Bytes;
use futures::TryStreamExt;

use self::client::Inner;
use self::download::get;
use self::errors::{is_no_such_bucket, status_of};
use self::probe::PROBE_DIR;
use crate::key::{validate_key, validate_prefix};
use crate::{
    ByteStream, Capabilities, MetaStream, ObjectMeta, Op, PutOptions, PutOutcome, Retention, RetentionMode, S3Options,
    Storage, StorageError,
};

/// A bucket (and key prefix) on S3 or an S3-compatible server.
///
/// The SDK client is built on first use, inside the caller's Tokio runtime.
#[derive(Clone)]
pub struct S3Storage {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Storage").field("location", &self.inner.location).finish_non_exhaustive()
    }
}

impl S3Storage {
    /// A backend for the bucket and prefix `opts` name. Nothing is contacted yet.
    pub fn new(opts: S3Options) -> Self {
        Self { inner: Arc::new(Inner::new(opts)) }
    }

    /// A backend using an SDK client the caller configured (credentials, endpoint ...).
    /// `opts.bucket` and `opts.prefix`, part size and parallelism still apply.
    pub fn with_client(client: Client, opts: S3Options) -> Self {
        let s = Self::new(opts);
        s.inner.set_client(client);
        s
    }

    /// A backend using the given static credentials instead of the AWS chain, for
    /// embedders that fetch them from a secrets manager.
    pub fn with_static_credentials(opts: S3Options, access_key_id: &str, secret_access_key: &str) -> Self {
        let mut s = Self::new(opts);
        let creds =
            aws_sdk_s3::config::Credentials::new(access_key_id, secret_access_key, None, None, "lifeboat-static");
        if let Some(inner) = Arc::get_mut(&mut s.inner) {
            inner.credentials = Some(creds);
        }
        s
    }

    /// The SDK client (built on first call), for operations outside the [`Storage`]
    /// trait such as creating a bucket.
    pub async fn sdk_client(&self) -> Client {
        self.inner.client().await.clone()
    }

    /// The options this backend was built with.
    pub fn options(&self) -> &S3Options {
        &self.inner.opts
    }
}

#[async_trait]
impl Storage for S3Storage {
    fn location(&self) -> String {
        self.inner.location.clone()
    }

    async fn put(&self, key: &str, body: ByteStream, size_hint: Option<u64>) -> Result<(), StorageError> {
        self.inner.put_stream(key, body, size_hint, None).await
    }

    async fn put_with_options(
        &self,
        key: &str,
        body: ByteStream,
        size_hint: Option<u64>,
        options: &PutOptions,
    ) -> Result<(), StorageError> {
        if let Some(r) = &options.retention {
            validate_key(key)?;
            if !self.inner.object_lock().await? {
                return Err(StorageError::Unsupported {
                    op: Op::Put,
                    location: self.location(),
                    key: key.to_owned(),
                    message: format!(
                        "bucket `{}` has no object lock, so it cannot keep objects under retention; create the bucket \
                         with object lock enabled",
                        self.inner.opts.bucket
                    ),
                });
            }
            return self.inner.put_stream(key, body, size_hint, Some(r)).await;
        }
        self.inner.put_stream(key, body, size_hint, None).await
    }

    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<PutOutcome, StorageError> {
        let full = self.inner.full_key(key)?;
        if !self.inner.conditional_put().await? {
            return Err(StorageError::Unsupported {
                op: Op::Put,
                location: self.location(),
                key: key.to_owned(),
                message: "this S3 server does not honour `If-None-Match: *` on PUT atomically (checked once per handle), so a conditional create could silently \
                          overwrite another writer; refusing rather than racing (use AWS S3, MinIO or another server \
                          with conditional writes)"
                    .into(),
            });
        }
        self.inner.put_object(key, &full, body, None, true).await
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
        get(&self.inner, key, range).await
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        Ok(self.inner.head_raw(key).await?.map(|out| ObjectMeta {
            key: key.to_owned(),
            size: out.content_length().unwrap_or(0).max(0) as u64,
            modified: out.last_modified().and_then(|t| SystemTime::try_from(*t).ok()),
        }))
    }

    fn list(&self, prefix: &str) -> MetaStream {
        if let Err(e) = validate_prefix(prefix) {
            return Box::pin(futures::stream::once(async move { Err(e) }));
        }
        let inner = self.inner.clone();
        let full_prefix = inner.join(prefix);
        let strip = if inner.opts.prefix.is_empty() { 0 } else { inner.opts.prefix.len() + 1 };
        let prefix = prefix.to_owned();
        struct Page {
            token: Option<String>,
            done: bool,
        }
        let pages = futures::stream::try_unfold(Page { token: None, done: false }, move |page| {
            let (inner, full_prefix, prefix) = (inner.clone(), full_prefix.clone(), prefix.clone());
            async move {
                if page.done {
                    return Ok(None);
                }
                let out = inner
                    .client()
                    .await
                    .list_objects_v2()
                    .bucket(&inner.opts.bucket)
                    .prefix(&full_prefix)
                    .set_continuation_token(page.token)
                    .send()
                    .await
                    .map_err(|e| inner.err(Op::List, &prefix, e))?;
                let mut items = VecDeque::new();
                for obj in out.contents() {
                    let Some(k) = obj.key() else { continue };
                    let Some(rel) = k.get(strip..) else { continue };
                    if validate_key(rel).is_err() || rel.starts_with(PROBE_DIR) {
                        continue;
                    }
                    items.push_back(Ok(ObjectMeta {
                        key: rel.to_owned(),
                        size: obj.size().unwrap_or(0).max(0) as u64,
                        modified: obj.last_modified().and_then(|t| SystemTime::try_from(*t).ok()),
                    }));
                }
                let token = out.next_continuation_token().map(str::to_owned);
                let done = !out.is_truncated().unwrap_or(false) || token.is_none();
                Ok(Some((futures::stream::iter(items), Page { token, done })))
            }
        });
        Box::pin(pages.try_flatten())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let full = self.inner.full_key(key)?;
        // Never try to delete an object whose retention has not ended: on a versioned
        // bucket S3 would "succeed" by hiding it behind a delete marker.
        if self.inner.object_lock().await.unwrap_or(true)
            && let Some(r) = self.retention(key).await?
            && r.is_active()
        {
            return Err(StorageError::Retained {
                op: Op::Delete,
                location: self.location(),
                key: key.to_owned(),
                mode: match r.mode {
                    RetentionMode::Compliance => "COMPLIANCE".into(),
                    RetentionMode::Governance => "GOVERNANCE".into(),
                },
                until: DateTime::from(r.until).fmt(DateTimeFormat::DateTime).unwrap_or_default(),
            });
        }
        match self.inner.client().await.delete_object().bucket(&self.inner.opts.bucket).key(&full).send().await {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == Some(404) && !is_no_such_bucket(&e) => Ok(()),
            Err(e) => Err(self.inner.err(Op::Delete, key, e)),
        }
    }

    async fn capabilities(&self) -> Result<Capabilities, StorageError> {
        Ok(Capabilities {
            conditional_put: self.inner.conditional_put().await?,
            object_lock: self.inner.object_lock().await?,
        })
    }

    async fn retention(&self, key: &str) -> Result<Option<Retention>, StorageError> {
        let Some(out) = self.inner.head_raw(key).await? else { return Ok(None) };
        let mode = match out.object_lock_mode() {
            Some(ObjectLockMode::Compliance) => RetentionMode::Compliance,
            Some(ObjectLockMode::Governance) => RetentionMode::Governance,
            _ => return Ok(None),
        };
        let Some(until) = out.object_lock_retain_until_date().and_then(|d| SystemTime::try_from(*d).ok()) else {
            return Ok(None);
        };
        Ok(Some(Retention { mode, until }))
    }

    async fn extend_retention(&self, key: &str, retention: &Retention) -> Result<Retention, StorageError> {
        let full = self.inner.full_key(key)?;
        if !self.inner.object_lock().await? {
            return Err(StorageError::Unsupported {
                op: Op::Put,
                location: self.location(),
                key: key.to_owned(),
                message: format!(
                    "bucket `{}` has no object lock, so it cannot extend an object's retention",
                    self.inner.opts.bucket
                ),
            });
        }
        if self.inner.head_raw(key).await?.is_none() {
            return Err(StorageError::NotFound { op: Op::Put, location: self.location(), key: key.to_owned() });
        }
        // Read the current retention first: asking S3 for an earlier date is refused in
        // compliance mode (and in governance mode without a bypass), and a no-op request
        // would cost a write per already-retained pack.
        let target = match self.retention(key).await? {
            Some(current)
                if current.reaches(retention.until) && current.mode == current.extended_by(retention).mode =>
            {
                return Ok(current);
            }
            Some(current) => current.extended_by(retention),
            None => *retention,
        };
        self.inner.set_retention(key, &full, &target).await?;
        Ok(target)
    }
}

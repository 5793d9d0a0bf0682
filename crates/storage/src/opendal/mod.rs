//! The opendal backend: the long tail of services (COS, OBS, OSS, GCS, Azure Blob,
//! WebDAV, SFTP) through Apache OpenDAL, each behind its own cargo feature.
//!
//! - Atomic puts: on services whose writes are not atomic by themselves (WebDAV, SFTP: a
//!   reader could see a half-written file) the bytes go to a temporary name beside the
//!   key, which is renamed over the key once complete; a failure removes the temporary.
//!   Object stores (COS, OBS, OSS, GCS, Azure) publish a write atomically and are written
//!   directly, in parallel chunks. WebDAV sends a body in one request, so a put there
//!   holds the whole object in memory (fine for manifests and moderate objects; prefer S3
//!   or SFTP for very large artifacts).
//! - `put_if_absent` uses the service's conditional create when it has one (SFTP, the
//!   object stores). WebDAV has none through opendal: there it fails with
//!   [`StorageError::Unsupported`], and [`Storage::capabilities`] says so, rather than
//!   racing.
//! - Credentials come from the environment (see [`OpendalStorage::from_location`]),
//!   never from the URL.
//!
//! `services` builds an operator from a URL, `transport` gives it its HTTP client,
//! `errors` maps opendal's errors; this file is the [`Storage`] implementation.

mod errors;
mod services;
mod transport;

use std::ops::Range;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use opendal::{ErrorKind, Operator};

use self::errors::{is_exists, map_error};
use self::services::operator_for;
use self::transport::{install_http_transport, with_own_http_client};
use crate::key::{validate_key, validate_prefix};
use crate::temp::{TEMP_MARK, temp_name};
use crate::{ByteStream, Capabilities, MetaStream, ObjectMeta, Op, OpendalLocation, PutOutcome, Storage, StorageError};

/// Chunk size of parallel uploads to object stores.
const CHUNK: usize = 16 * 1024 * 1024;
/// Chunks in flight.
const CONCURRENT: usize = 4;

/// A storage served by an opendal [`Operator`].
#[derive(Clone)]
pub struct OpendalStorage {
    op: Operator,
    location: String,
    /// Write to a temporary name and rename (services without atomic writes).
    rename_publish: bool,
}

impl std::fmt::Debug for OpendalStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpendalStorage").field("location", &self.location).finish_non_exhaustive()
    }
}

/// A variable of the process environment, unless unset or empty.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl OpendalStorage {
    /// Wraps an operator the caller built. `location` names it in messages (no secrets);
    /// `atomic_writes` says whether a plain write publishes atomically (object stores) or
    /// must go through a temporary name and a rename (file-like services).
    pub fn new(op: Operator, location: impl Into<String>, atomic_writes: bool) -> Self {
        install_http_transport();
        let op = with_own_http_client(op);
        let rename_publish = !atomic_writes && op.info().capability().rename;
        Self { op, location: location.into(), rename_publish }
    }

    /// Builds the operator a parsed URL names. Credentials come from the environment:
    ///
    /// | service | variables |
    /// | --- | --- |
    /// | cos | `TENCENTCLOUD_SECRET_ID`, `TENCENTCLOUD_SECRET_KEY` |
    /// | obs | `OBS_ACCESS_KEY_ID`, `OBS_SECRET_ACCESS_KEY` |
    /// | oss | `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET` |
    /// | gcs | `GOOGLE_APPLICATION_CREDENTIALS` (or `?credential_path=`) |
    /// | azblob | `AZURE_STORAGE_ACCOUNT`, `AZURE_STORAGE_KEY` |
    /// | webdav | user in the URL, `LIFEBOAT_WEBDAV_PASSWORD` |
    /// | sftp | user in the URL, `?key=/path/to/private_key` (the `ssh` binary does the rest) |
    pub fn from_location(loc: &OpendalLocation) -> Result<Self, StorageError> {
        Self::from_location_with(loc, &env)
    }

    /// Like [`from_location`](Self::from_location), with credentials looked up through
    /// `lookup` instead of the process environment (e.g. from a secrets manager).
    pub fn from_location_with(
        loc: &OpendalLocation,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, StorageError> {
        let built = operator_for(loc, lookup)?;
        Ok(Self::new(built.op, built.location, built.atomic))
    }

    fn err(&self, op: Op, key: &str, e: opendal::Error) -> StorageError {
        map_error(&self.location, op, key, e)
    }

    /// Writes `body` to `path` (streaming, in chunks where the service can).
    async fn write_to(
        &self,
        key: &str,
        path: &str,
        mut body: ByteStream,
        if_not_exists: bool,
    ) -> Result<PutOutcome, StorageError> {
        let cap = self.op.info().capability();
        let mut w = self.op.writer_with(path);
        if cap.write_can_multi {
            w = w.chunk(CHUNK).concurrent(CONCURRENT);
        }
        if if_not_exists {
            w = w.if_not_exists(true);
        }
        let mut writer = match w.await {
            Ok(w) => w,
            Err(e) if if_not_exists && is_exists(&e) => return Ok(PutOutcome::AlreadyExists),
            Err(e) => return Err(self.err(Op::Put, key, e)),
        };
        let result: Result<(), StorageError> = async {
            if cap.write_can_multi {
                while let Some(chunk) = body.next().await {
                    writer.write(chunk?).await.map_err(|e| self.err(Op::Put, key, e))?;
                }
            } else {
                // One-shot services (WebDAV) take the whole body in one request: collect
                // it (without copying the chunks) and send it once.
                let mut chunks = Vec::new();
                while let Some(chunk) = body.next().await {
                    chunks.push(chunk?);
                }
                writer.write(opendal::Buffer::from(chunks)).await.map_err(|e| self.err(Op::Put, key, e))?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            let _ = writer.abort().await;
            return Err(e);
        }
        match writer.close().await {
            Ok(_) => Ok(PutOutcome::Created),
            Err(e) if if_not_exists && is_exists(&e) => Ok(PutOutcome::AlreadyExists),
            Err(e) => Err(self.err(Op::Put, key, e)),
        }
    }
}

/// A fresh temporary name beside `path`, in the same folder.
fn temp_name_beside(path: &str) -> String {
    let name = temp_name();
    match path.rfind('/') {
        Some(i) => format!("{}/{name}", &path[..i]),
        None => name,
    }
}

#[async_trait]
impl Storage for OpendalStorage {
    fn location(&self) -> String {
        self.location.clone()
    }

    async fn put(&self, key: &str, body: ByteStream, _size_hint: Option<u64>) -> Result<(), StorageError> {
        validate_key(key)?;
        if !self.rename_publish {
            self.write_to(key, key, body, false).await?;
            return Ok(());
        }
        let temp = temp_name_beside(key);
        let result = async {
            self.write_to(key, &temp, body, false).await?;
            self.op.rename(&temp, key).await.map_err(|e| self.err(Op::Put, key, e))
        }
        .await;
        if result.is_err() {
            let _ = self.op.delete(&temp).await;
        }
        result
    }

    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<PutOutcome, StorageError> {
        validate_key(key)?;
        if !self.op.info().capability().write_with_if_not_exists {
            return Err(StorageError::Unsupported {
                op: Op::Put,
                location: self.location(),
                key: key.to_owned(),
                message: "this service has no conditional create, so a put-if-absent could overwrite another \
                          writer; refusing rather than racing"
                    .into(),
            });
        }
        let stream: ByteStream = Box::pin(futures::stream::once(async move { Ok(body) }));
        // A conditional create of the final name is atomic enough: the object is either
        // absent, or ours once the close succeeded.
        self.write_to(key, key, stream, true).await
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
        validate_key(key)?;
        let meta = self.op.stat(key).await.map_err(|e| self.err(Op::Get, key, e))?;
        if meta.is_dir() {
            return Err(StorageError::NotFound { op: Op::Get, location: self.location(), key: key.to_owned() });
        }
        let size = meta.content_length();
        let (start, end) = match range {
            None => (0, size),
            Some(r) => (r.start.min(size), r.end.min(size)),
        };
        if start >= end {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let reader = self.op.reader_with(key).chunk(CHUNK).await.map_err(|e| self.err(Op::Get, key, e))?;
        let stream = reader.into_bytes_stream(start..end).await.map_err(|e| self.err(Op::Get, key, e))?;
        let (location, owned) = (self.location(), key.to_owned());
        Ok(Box::pin(stream.map_err(move |e| {
            let transient = matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::Interrupted
            );
            StorageError::Backend {
                op: Op::Get,
                location: location.clone(),
                key: owned.clone(),
                message: format!("reading the object failed: {e}"),
                transient,
            }
        })))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        validate_key(key)?;
        match self.op.stat(key).await {
            Ok(m) if m.is_dir() => Ok(None),
            Ok(m) => Ok(Some(ObjectMeta {
                key: key.to_owned(),
                size: m.content_length(),
                modified: m.last_modified().map(SystemTime::from),
            })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(Op::Head, key, e)),
        }
    }

    fn list(&self, prefix: &str) -> MetaStream {
        if let Err(e) = validate_prefix(prefix) {
            return Box::pin(futures::stream::once(async move { Err(e) }));
        }
        // List from the deepest folder the prefix names and filter, so that `data/a`
        // works on file-like services too.
        let dir = match prefix.rfind('/') {
            Some(i) => prefix[..=i].to_owned(),
            None => String::new(),
        };
        let (op, location, prefix) = (self.op.clone(), self.location(), prefix.to_owned());
        let listing = async move {
            let list_path = if dir.is_empty() { "/".to_owned() } else { dir.clone() };
            let lister = match op.lister_with(&list_path).recursive(true).await {
                Ok(l) => l,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return futures::stream::empty().boxed();
                }
                Err(e) => {
                    let err = map_error(&location, Op::List, &prefix, e);
                    return futures::stream::once(async move { Err(err) }).boxed();
                }
            };
            let (loc2, prefix2) = (location.clone(), prefix.clone());
            lister
                .filter_map(move |entry| {
                    let out = match entry {
                        Err(e) if e.kind() == ErrorKind::NotFound => None,
                        Err(e) => Some(Err(map_error(&loc2, Op::List, &prefix2, e))),
                        Ok(entry) => {
                            let path = entry.path().trim_start_matches('/');
                            let name = path.rsplit('/').next().unwrap_or(path);
                            if entry.metadata().is_dir()
                                || !path.starts_with(&prefix2)
                                || name.starts_with(TEMP_MARK)
                                || validate_key(path).is_err()
                            {
                                None
                            } else {
                                let meta = entry.metadata();
                                Some(Ok(ObjectMeta {
                                    key: path.to_owned(),
                                    size: meta.content_length(),
                                    modified: meta.last_modified().map(SystemTime::from),
                                }))
                            }
                        }
                    };
                    futures::future::ready(out)
                })
                .boxed()
        };
        Box::pin(futures::stream::once(listing).flatten())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        match self.op.delete(key).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err(Op::Delete, key, e)),
        }
    }

    async fn capabilities(&self) -> Result<Capabilities, StorageError> {
        Ok(Capabilities { conditional_put: self.op.info().capability().write_with_if_not_exists, object_lock: false })
    }
}

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

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream as SdkBody, DateTime, DateTimeFormat};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, ObjectLockEnabled, ObjectLockMode,
};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::OnceCell;
use tokio::task::JoinSet;

use crate::key::{validate_key, validate_prefix};
use crate::{
    ByteStream, Capabilities, MetaStream, ObjectMeta, Op, PutOptions, PutOutcome, Retention, RetentionMode, S3Options,
    Storage, StorageError,
};

/// S3 allows at most this many parts in one multipart upload.
const MAX_PARTS: i32 = 10_000;
/// Keys of the one-off conditional-write probe live under this folder of the prefix.
const PROBE_DIR: &str = ".lifeboat-probe";

/// A bucket (and key prefix) on S3 or an S3-compatible server.
///
/// The SDK client is built on first use, inside the caller's Tokio runtime.
#[derive(Clone)]
pub struct S3Storage {
    inner: Arc<Inner>,
}

struct Inner {
    opts: S3Options,
    credentials: Option<aws_sdk_s3::config::Credentials>,
    location: String,
    client: OnceCell<Client>,
    conditional_put: OnceCell<bool>,
    object_lock: OnceCell<bool>,
}

impl std::fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Storage").field("location", &self.inner.location).finish_non_exhaustive()
    }
}

impl S3Storage {
    /// A backend for the bucket and prefix `opts` name. Nothing is contacted yet.
    pub fn new(opts: S3Options) -> Self {
        let mut location = format!("s3://{}", opts.bucket);
        if !opts.prefix.is_empty() {
            location.push('/');
            location.push_str(&opts.prefix);
        }
        if let Some(ep) = &opts.endpoint {
            location.push_str(&format!(" (endpoint {ep})"));
        }
        let inner = Inner {
            opts,
            credentials: None,
            location,
            client: OnceCell::new(),
            conditional_put: OnceCell::new(),
            object_lock: OnceCell::new(),
        };
        Self { inner: Arc::new(inner) }
    }

    /// A backend using an SDK client the caller configured (credentials, endpoint ...).
    /// `opts.bucket` and `opts.prefix`, part size and parallelism still apply.
    pub fn with_client(client: Client, opts: S3Options) -> Self {
        let s = Self::new(opts);
        let _ = s.inner.client.set(client);
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

impl Inner {
    async fn client(&self) -> &Client {
        self.client.get_or_init(|| build_client(&self.opts, self.credentials.clone())).await
    }

    fn full_key(&self, key: &str) -> Result<String, StorageError> {
        validate_key(key)?;
        Ok(self.join(key))
    }

    fn join(&self, key: &str) -> String {
        if self.opts.prefix.is_empty() { key.to_owned() } else { format!("{}/{key}", self.opts.prefix) }
    }

    fn err<E>(&self, op: Op, key: &str, err: SdkError<E, HttpResponse>) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        map_sdk_error(&self.location, &self.opts.bucket, op, key, err)
    }

    async fn put_object(
        &self,
        op_key: &str,
        full: &str,
        data: Bytes,
        retention: Option<&Retention>,
        if_none_match: bool,
    ) -> Result<PutOutcome, StorageError> {
        let len = data.len() as i64;
        let mut req = self
            .client()
            .await
            .put_object()
            .bucket(&self.opts.bucket)
            .key(full)
            .content_length(len)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .body(SdkBody::from(data));
        if let Some(r) = retention {
            req = req.object_lock_mode(lock_mode(r.mode)).object_lock_retain_until_date(DateTime::from(r.until));
        }
        if if_none_match {
            req = req.if_none_match("*");
        }
        match req.send().await {
            Ok(_) => Ok(PutOutcome::Created),
            Err(e) if if_none_match && status_of(&e) == Some(412) => Ok(PutOutcome::AlreadyExists),
            Err(e) => Err(self.err(Op::Put, op_key, e)),
        }
    }

    async fn put_stream(
        &self,
        key: &str,
        body: ByteStream,
        size_hint: Option<u64>,
        retention: Option<&Retention>,
    ) -> Result<(), StorageError> {
        let full = self.full_key(key)?;
        let mut part_size = self.opts.part_size;
        if let Some(hint) = size_hint {
            // Keep within S3's 10 000 parts when the size is known up front.
            let needed = hint.div_ceil((MAX_PARTS - 1) as u64) as usize;
            part_size = part_size.max(needed);
        }
        let mut reader = PartReader::new(body, part_size);
        let (first, eof) = reader.next_part().await?;
        if eof {
            self.put_object(key, &full, first, retention, false).await?;
            return Ok(());
        }
        self.multipart(key, &full, first, reader, retention).await
    }

    async fn multipart(
        &self,
        key: &str,
        full: &str,
        first: Bytes,
        mut reader: PartReader,
        retention: Option<&Retention>,
    ) -> Result<(), StorageError> {
        let client = self.client().await.clone();
        let mut create = client
            .create_multipart_upload()
            .bucket(&self.opts.bucket)
            .key(full)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C);
        if let Some(r) = retention {
            create = create.object_lock_mode(lock_mode(r.mode)).object_lock_retain_until_date(DateTime::from(r.until));
        }
        let created = create.send().await.map_err(|e| self.err(Op::Put, key, e))?;
        let Some(upload_id) = created.upload_id().map(str::to_owned) else {
            return Err(self.backend(
                Op::Put,
                key,
                "the server started a multipart upload without an upload id",
                false,
            ));
        };
        let mut guard = AbortGuard {
            client: client.clone(),
            bucket: self.opts.bucket.clone(),
            key: full.to_owned(),
            upload_id: upload_id.clone(),
            armed: true,
        };
        let result = self.upload_parts(key, full, &client, &upload_id, first, &mut reader).await;
        let result = match result {
            Ok((parts, total)) => {
                let count = parts.len();
                let completed = client
                    .complete_multipart_upload()
                    .bucket(&self.opts.bucket)
                    .key(full)
                    .upload_id(&upload_id)
                    .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                    .send()
                    .await;
                match completed {
                    Ok(_) => Ok(()),
                    // A 200 whose body is no error document but does not parse either
                    // (moto answers `CompleteMultipartUploadResponse`): trust it only if
                    // the object is now there with our size and our part count.
                    Err(e) if status_of(&e) == Some(200) && e.code().is_none() => match self.head_full(full).await {
                        Ok(Some(h))
                            if h.content_length() == Some(total as i64)
                                && h.e_tag().is_some_and(|t| t.trim_matches('"').ends_with(&format!("-{count}"))) =>
                        {
                            Ok(())
                        }
                        _ => Err(self.err(Op::Put, key, e)),
                    },
                    Err(e) => Err(self.err(Op::Put, key, e)),
                }
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                guard.armed = false;
                if let Some(r) = retention {
                    self.ensure_retention(key, full, r).await?;
                }
                Ok(())
            }
            Err(e) => {
                // Abort now (not in the background) so that nothing is left once we return.
                guard.armed = false;
                if let Err(abort) = guard.abort().await {
                    tracing::warn!(location = %self.location, key, error = %DisplayErrorContext(&abort),
                        "could not abort the failed multipart upload; a bucket lifecycle rule should clean it up");
                }
                Err(e)
            }
        }
    }

    /// Some servers (moto) drop the object-lock headers of `CreateMultipartUpload`: set
    /// the retention explicitly when the completed object does not carry it.
    async fn ensure_retention(&self, key: &str, full: &str, r: &Retention) -> Result<(), StorageError> {
        let has = self.head_full(full).await?.is_some_and(|h| h.object_lock_retain_until_date().is_some());
        if has {
            return Ok(());
        }
        let retention = aws_sdk_s3::types::ObjectLockRetention::builder()
            .mode(match r.mode {
                RetentionMode::Compliance => aws_sdk_s3::types::ObjectLockRetentionMode::Compliance,
                RetentionMode::Governance => aws_sdk_s3::types::ObjectLockRetentionMode::Governance,
            })
            .retain_until_date(DateTime::from(r.until))
            .build();
        self.client()
            .await
            .put_object_retention()
            .bucket(&self.opts.bucket)
            .key(full)
            .retention(retention)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err(Op::Put, key, e))
    }

    async fn upload_parts(
        &self,
        key: &str,
        full: &str,
        client: &Client,
        upload_id: &str,
        first: Bytes,
        reader: &mut PartReader,
    ) -> Result<(Vec<CompletedPart>, u64), StorageError> {
        let mut total = 0u64;
        let mut tasks: JoinSet<Result<CompletedPart, StorageError>> = JoinSet::new();
        let mut done = Vec::new();
        let mut next = Some(first);
        let mut number: i32 = 0;
        while let Some(data) = next.take() {
            while tasks.len() >= self.opts.parallel {
                done.push(join_part(tasks.join_next().await)?);
            }
            number += 1;
            total += data.len() as u64;
            if number > MAX_PARTS {
                return Err(self.backend(
                    Op::Put,
                    key,
                    "more than 10000 parts: raise part_size in the URL or give a size hint",
                    false,
                ));
            }
            let req = client
                .upload_part()
                .bucket(&self.opts.bucket)
                .key(full)
                .upload_id(upload_id)
                .part_number(number)
                .content_length(data.len() as i64)
                .checksum_algorithm(ChecksumAlgorithm::Crc32C)
                .body(SdkBody::from(data));
            let (location, bucket, op_key) = (self.location.clone(), self.opts.bucket.clone(), key.to_owned());
            tasks.spawn(async move {
                let out = req.send().await.map_err(|e| map_sdk_error(&location, &bucket, Op::Put, &op_key, e))?;
                Ok(CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .set_checksum_crc32_c(out.checksum_crc32_c().map(str::to_owned))
                    .build())
            });
            // Finished parts are collected while the next one is read.
            while let Some(joined) = tasks.try_join_next() {
                done.push(join_part(Some(joined))?);
            }
            if !reader.eof {
                let (data, _) = reader.next_part().await?;
                if !data.is_empty() {
                    next = Some(data);
                }
            }
        }
        while let Some(joined) = tasks.join_next().await {
            done.push(join_part(Some(joined))?);
        }
        done.sort_by_key(|p| p.part_number());
        Ok((done, total))
    }

    fn backend(&self, op: Op, key: &str, message: &str, transient: bool) -> StorageError {
        StorageError::Backend {
            op,
            location: self.location.clone(),
            key: key.to_owned(),
            message: message.to_owned(),
            transient,
        }
    }

    /// Asks the server once whether it honours `If-None-Match: *` on PUT.
    async fn conditional_put(&self) -> Result<bool, StorageError> {
        if let Some(known) = self.opts.conditional_put {
            return Ok(known);
        }
        self.conditional_put.get_or_try_init(|| self.probe_conditional_put()).await.copied()
    }

    /// Races a few conditional creates of one probe key: a server that honours
    /// `If-None-Match: *` atomically lets exactly one win. One that ignores the header, or
    /// checks it without atomicity (several winners), is reported as unsupported.
    async fn probe_conditional_put(&self) -> Result<bool, StorageError> {
        const RACERS: u8 = 8;
        const ROUNDS: usize = 3;
        let mut rnd = [0u8; 12];
        let _ = SystemRandom::new().fill(&mut rnd);
        let probe = format!("{PROBE_DIR}/{}", hex::encode(rnd));
        let full = self.join(&probe);
        // Several rounds: the first also opens the connections, so that later rounds race
        // on warm connections, which is when a check-then-write server shows its race.
        let mut results = Vec::new();
        for round in 0..ROUNDS {
            let key = format!("{probe}-{round}");
            let full_key = format!("{full}-{round}");
            let (key, full_key) = (&key, &full_key);
            let racing = futures::future::join_all(
                (0..RACERS).map(|i| self.put_object(key, full_key, Bytes::from(vec![i]), None, true)),
            )
            .await;
            results.extend(racing);
            results.push(self.put_object(key, full_key, Bytes::from_static(b"again"), None, true).await);
            let _ = self.client().await.delete_object().bucket(&self.opts.bucket).key(full_key).send().await;
        }
        let (mut created, mut lost) = (0, 0);
        for r in results {
            match r {
                Ok(PutOutcome::Created) => created += 1,
                Ok(PutOutcome::AlreadyExists) => lost += 1,
                Err(StorageError::Backend { ref message, .. }) if message.contains("ConditionalRequestConflict") => {
                    lost += 1
                }
                Err(StorageError::Backend { ref message, .. })
                    if message.contains("NotImplemented") || message.contains("HTTP 501") =>
                {
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
        }
        let supported = created == ROUNDS && lost == ROUNDS * usize::from(RACERS);
        if !supported {
            tracing::warn!(location = %self.location, created, "the S3 server does not honour If-None-Match on PUT atomically: conditional creates (locks) are refused");
        }
        Ok(supported)
    }

    /// Asks the server once whether the bucket has object lock enabled.
    async fn object_lock(&self) -> Result<bool, StorageError> {
        self.object_lock
            .get_or_try_init(|| async {
                let res = self.client().await.get_object_lock_configuration().bucket(&self.opts.bucket).send().await;
                match res {
                    Ok(out) => Ok(out
                        .object_lock_configuration()
                        .and_then(|c| c.object_lock_enabled())
                        .is_some_and(|e| *e == ObjectLockEnabled::Enabled)),
                    Err(e) => {
                        let code = e.code().unwrap_or_default().to_owned();
                        let status = status_of(&e);
                        if code == "ObjectLockConfigurationNotFoundError"
                            || code == "NotImplemented"
                            || matches!(status, Some(404 | 501)) && code != "NoSuchBucket"
                        {
                            Ok(false)
                        } else {
                            Err(self.err(Op::Open, "", e))
                        }
                    }
                }
            })
            .await
            .copied()
    }

    async fn head_full(
        &self,
        full: &str,
    ) -> Result<Option<aws_sdk_s3::operation::head_object::HeadObjectOutput>, StorageError> {
        match self.client().await.head_object().bucket(&self.opts.bucket).key(full).send().await {
            Ok(out) => Ok(Some(out)),
            Err(e) if status_of(&e) == Some(404) && !is_no_such_bucket(&e) => Ok(None),
            Err(e) => Err(self.err(Op::Head, full, e)),
        }
    }

    async fn head_raw(
        &self,
        key: &str,
    ) -> Result<Option<aws_sdk_s3::operation::head_object::HeadObjectOutput>, StorageError> {
        let full = self.full_key(key)?;
        match self.client().await.head_object().bucket(&self.opts.bucket).key(&full).send().await {
            Ok(out) => Ok(Some(out)),
            Err(e) if status_of(&e) == Some(404) && !is_no_such_bucket(&e) => Ok(None),
            Err(e) => Err(self.err(Op::Head, key, e)),
        }
    }
}

/// Collects one finished part upload.
fn join_part(
    joined: Option<Result<Result<CompletedPart, StorageError>, tokio::task::JoinError>>,
) -> Result<CompletedPart, StorageError> {
    match joined {
        Some(Ok(part)) => part,
        Some(Err(join)) => {
            Err(StorageError::Source { message: format!("part upload task failed: {join}"), source: None })
        }
        None => Err(StorageError::Source { message: "part upload task vanished".into(), source: None }),
    }
}

fn lock_mode(mode: RetentionMode) -> ObjectLockMode {
    match mode {
        RetentionMode::Compliance => ObjectLockMode::Compliance,
        RetentionMode::Governance => ObjectLockMode::Governance,
    }
}

fn status_of<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

fn is_no_such_bucket<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    err.code() == Some("NoSuchBucket")
}

/// Turns an SDK error into a [`StorageError`] naming bucket, key and S3 error code, and
/// classifying it as transient (timeouts, resets, 5xx, throttling) or not (auth, 4xx).
fn map_sdk_error<E>(location: &str, bucket: &str, op: Op, key: &str, err: SdkError<E, HttpResponse>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (location, key_s) = (location.to_owned(), key.to_owned());
    let (message, transient) = match &err {
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
            let status = status_of(&err);
            let code = err.code().map(str::to_owned);
            let detail = err.message().map(str::to_owned);
            if status == Some(404) && code.as_deref() != Some("NoSuchBucket") && code.as_deref() != Some("NoSuchUpload")
            {
                return StorageError::NotFound { op, location, key: key_s };
            }
            let code_text = code.clone().unwrap_or_else(|| match status {
                Some(403) => "AccessDenied".into(),
                Some(404) => "NotFound".into(),
                Some(s) => format!("HTTP {s}"),
                None => "no HTTP response".into(),
            });
            let mut msg = format!("S3 error {code_text}");
            if let Some(s) = status {
                msg.push_str(&format!(" (HTTP {s})"));
            }
            if let Some(d) = detail.filter(|d| !d.is_empty()) {
                msg.push_str(&format!(": {d}"));
            } else if code.is_none() {
                msg.push_str(&format!(": {}", DisplayErrorContext(&err)));
            }
            match code.as_deref() {
                Some("NoSuchBucket") => msg.push_str(&format!(" — bucket `{bucket}` does not exist")),
                Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidToken" | "ExpiredToken") => msg.push_str(
                    " — check the credentials of the AWS chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, \
                     AWS_PROFILE)",
                ),
                _ if status == Some(403) => {
                    msg.push_str(" — the credentials of the AWS chain were refused or lack permission")
                }
                _ => {}
            }
            let transient = matches!(status, Some(500..=599) | Some(429) | Some(408))
                || matches!(
                    code.as_deref(),
                    Some(
                        "SlowDown"
                            | "RequestTimeout"
                            | "InternalError"
                            | "ServiceUnavailable"
                            | "Throttling"
                            | "ConditionalRequestConflict"
                    )
                )
                || status.is_none();
            (msg, transient)
        }
        SdkError::TimeoutError(_) => (format!("request timed out: {}", DisplayErrorContext(&err)), true),
        SdkError::DispatchFailure(d) => {
            let text = DisplayErrorContext(&err).to_string();
            if d.is_timeout() {
                (format!("request timed out: {text}"), true)
            } else if d.is_io() {
                (format!("connection failed: {text}"), true)
            } else {
                (format!("request could not be sent: {text}"), false)
            }
        }
        SdkError::ConstructionFailure(_) => {
            (format!("request could not be built: {}", DisplayErrorContext(&err)), false)
        }
        _ => (DisplayErrorContext(&err).to_string(), false),
    };
    let message = if message.contains("credentials") && !transient {
        format!(
            "{message} — no usable credentials in the AWS chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE)"
        )
    } else {
        message
    };
    StorageError::Backend { op, location, key: key_s, message, transient }
}

async fn build_client(opts: &S3Options, credentials: Option<aws_sdk_s3::config::Credentials>) -> Client {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let http =
        aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
    let timeouts = TimeoutConfig::builder().connect_timeout(opts.timeout).read_timeout(opts.timeout).build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(RetryConfig::standard().with_max_attempts(opts.max_attempts))
        .timeout_config(timeouts);
    if let Some(region) = &opts.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(creds) = credentials {
        loader = loader.credentials_provider(creds);
    }
    let shared = loader.load().await;
    let mut conf = aws_sdk_s3::config::Builder::from(&shared).force_path_style(opts.path_style);
    if shared.region().is_none() {
        conf = conf.region(Region::new("us-east-1"));
    }
    if let Some(ep) = &opts.endpoint {
        conf = conf.endpoint_url(ep);
    }
    Client::from_conf(conf.build())
}

/// Cuts a body stream into parts of exactly `part_size` bytes (the last one shorter),
/// knowing after each part whether the stream has ended.
struct PartReader {
    body: ByteStream,
    part_size: usize,
    pending: Option<Bytes>,
    eof: bool,
}

impl PartReader {
    fn new(body: ByteStream, part_size: usize) -> Self {
        Self { body, part_size, pending: None, eof: false }
    }

    /// The next part, and whether it is the last.
    async fn next_part(&mut self) -> Result<(Bytes, bool), StorageError> {
        let mut buf = BytesMut::new();
        while buf.len() < self.part_size {
            let chunk = match self.pending.take() {
                Some(c) => c,
                None => match self.body.next().await {
                    Some(c) => c?,
                    None => {
                        self.eof = true;
                        break;
                    }
                },
            };
            let room = self.part_size - buf.len();
            if chunk.len() > room {
                if buf.is_empty() && chunk.len() == self.part_size {
                    // exact fit, no copy
                    return self.finish(chunk).await;
                }
                buf.extend_from_slice(&chunk[..room]);
                self.pending = Some(chunk.slice(room..));
            } else {
                if buf.is_empty() && chunk.len() == room {
                    return self.finish(chunk).await;
                }
                if buf.capacity() == 0 {
                    buf.reserve(self.part_size.min(64 << 20));
                }
                buf.extend_from_slice(&chunk);
            }
        }
        let part = buf.freeze();
        if self.eof {
            return Ok((part, true));
        }
        self.finish(part).await
    }

    /// Peeks at the stream so the caller knows whether `part` is the last one.
    async fn finish(&mut self, part: Bytes) -> Result<(Bytes, bool), StorageError> {
        while self.pending.is_none() && !self.eof {
            match self.body.next().await {
                Some(c) => {
                    let c = c?;
                    if !c.is_empty() {
                        self.pending = Some(c);
                    }
                }
                None => self.eof = true,
            }
        }
        Ok((part, self.eof && self.pending.is_none()))
    }
}

/// Aborts a multipart upload that was neither completed nor aborted, e.g. because the
/// future driving it was dropped.
struct AbortGuard {
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    armed: bool,
}

impl AbortGuard {
    async fn abort(
        &self,
    ) -> Result<(), SdkError<aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadError, HttpResponse>>
    {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .send()
            .await
            .map(|_| ())
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let req =
                self.client.abort_multipart_upload().bucket(&self.bucket).key(&self.key).upload_id(&self.upload_id);
            handle.spawn(async move {
                let _ = req.send().await;
            });
        }
    }
}

impl S3Storage {
    /// A large object read as the first part of the already open response followed by
    /// ranged GETs of one part each, `parallel` in flight, delivered in order. Memory is at
    /// most about `part_size * (parallel + 1)`. (Whole-object checksums only exist for single-part
    /// objects, which are never this large, so nothing is lost against one GET.)
    fn parallel_get(&self, key: &str, full: &str, first: SdkBody, total: u64) -> ByteStream {
        let inner = self.inner.clone();
        let part = inner.opts.part_size as u64;
        let (location, owned) = (self.location(), key.to_owned());
        let head_err = {
            let (location, key) = (location.clone(), owned.clone());
            move |e: String| StorageError::Backend {
                op: Op::Get,
                location: location.clone(),
                key: key.clone(),
                message: format!("reading the object body failed: {e}"),
                transient: true,
            }
        };
        // The first part streams from the open response, which is dropped after it.
        let first = futures::stream::try_unfold((first, 0u64), move |(mut body, read)| {
            let head_err = head_err.clone();
            async move {
                if read >= part {
                    return Ok(None);
                }
                match body.try_next().await {
                    Ok(Some(chunk)) => {
                        let keep = (part - read).min(chunk.len() as u64) as usize;
                        Ok(Some((chunk.slice(..keep), (body, read + keep as u64))))
                    }
                    Ok(None) => Err(head_err(format!("the body ended after {read} of {total} bytes"))),
                    Err(e) => Err(head_err(DisplayErrorContext(&e).to_string())),
                }
            }
        });
        let full = full.to_owned();
        let ranges: Vec<(u64, u64)> =
            (1..total.div_ceil(part)).map(|i| (i * part, ((i + 1) * part).min(total))).collect();
        let rest = futures::stream::iter(ranges)
            .map(move |(start, end)| {
                let (inner, full, key) = (inner.clone(), full.clone(), owned.clone());
                async move { fetch_range(&inner, &key, &full, start, end).await }
            })
            .buffered(self.inner.opts.parallel)
            .map_ok(|segments| futures::stream::iter(segments.into_iter().map(Ok)))
            .try_flatten();
        let _ = location;
        Box::pin(first.chain(rest))
    }
}

/// Reads `start..end` of an object whole, retrying a failed body read a few times.
/// The part comes back as the segments it arrived in (no copy into one buffer).
async fn fetch_range(inner: &Inner, key: &str, full: &str, start: u64, end: u64) -> Result<Vec<Bytes>, StorageError> {
    let mut attempt = 1;
    loop {
        let sent = inner
            .client()
            .await
            .get_object()
            .bucket(&inner.opts.bucket)
            .key(full)
            .range(format!("bytes={start}-{}", end - 1))
            .send()
            .await
            .map_err(|e| inner.err(Op::Get, key, e))?;
        let err = match sent.body.collect().await {
            Ok(data) => {
                let segments: Vec<Bytes> = data.into_segments().collect();
                let len: u64 = segments.iter().map(|b| b.len() as u64).sum();
                if len == end - start {
                    return Ok(segments);
                }
                format!("range {start}-{end} returned {len} bytes (the object changed while being read?)")
            }
            Err(e) => DisplayErrorContext(&e).to_string(),
        };
        if attempt >= inner.opts.max_attempts.max(1) {
            return Err(inner.backend(Op::Get, key, &format!("reading the object body failed: {err}"), true));
        }
        attempt += 1;
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
        let full = self.inner.full_key(key)?;
        let mut req = self.inner.client().await.get_object().bucket(&self.inner.opts.bucket).key(&full);
        match &range {
            Some(r) if r.start >= r.end => {
                // An empty range: nothing to read, but the object must exist.
                return match self.inner.head_raw(key).await? {
                    Some(_) => Ok(Box::pin(futures::stream::empty())),
                    None => Err(StorageError::NotFound { op: Op::Get, location: self.location(), key: key.to_owned() }),
                };
            }
            Some(r) => req = req.range(format!("bytes={}-{}", r.start, r.end - 1)),
            None => req = req.checksum_mode(ChecksumMode::Enabled),
        }
        let out = match req.send().await {
            Ok(out) => out,
            Err(e) if range.is_some() && (e.code() == Some("InvalidRange") || status_of(&e) == Some(416)) => {
                return Ok(Box::pin(futures::stream::empty()));
            }
            Err(e) => return Err(self.inner.err(Op::Get, key, e)),
        };
        let total = out.content_length().unwrap_or(0).max(0) as u64;
        let part = self.inner.opts.part_size as u64;
        if range.is_none() && self.inner.opts.parallel > 1 && total > 2 * part {
            return Ok(self.parallel_get(key, &full, out.body, total));
        }
        let (location, key) = (self.location(), key.to_owned());
        let body = out.body;
        let stream = futures::stream::try_unfold(Some(body), move |state| {
            let (location, key) = (location.clone(), key.clone());
            async move {
                let Some(mut body) = state else { return Ok(None) };
                match body.try_next().await {
                    Ok(Some(chunk)) => Ok(Some((chunk, Some(body)))),
                    Ok(None) => Ok(None),
                    Err(e) => Err(StorageError::Backend {
                        op: Op::Get,
                        location,
                        key,
                        message: format!("reading the object body failed: {}", DisplayErrorContext(&e)),
                        transient: true,
                    }),
                }
            }
        });
        Ok(Box::pin(stream))
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: Vec<&'static [u8]>) -> ByteStream {
        Box::pin(futures::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c)))))
    }

    #[tokio::test]
    async fn part_reader_cuts_exact_parts_and_knows_the_last() {
        let mut r = PartReader::new(body(vec![b"abc", b"defgh", b"", b"ij"]), 4);
        let mut parts = Vec::new();
        loop {
            let (p, last) = r.next_part().await.unwrap();
            parts.push(p);
            if last {
                break;
            }
        }
        assert_eq!(parts, [&b"abcd"[..], b"efgh", b"ij"]);
    }

    #[tokio::test]
    async fn part_reader_exact_multiple_ends_without_empty_part() {
        let mut r = PartReader::new(body(vec![b"abcd", b"efgh"]), 4);
        assert_eq!(r.next_part().await.unwrap(), (Bytes::from_static(b"abcd"), false));
        assert_eq!(r.next_part().await.unwrap(), (Bytes::from_static(b"efgh"), true));
        let mut small = PartReader::new(body(vec![b"ab"]), 4);
        assert_eq!(small.next_part().await.unwrap(), (Bytes::from_static(b"ab"), true));
        let mut empty = PartReader::new(body(vec![]), 4);
        assert_eq!(empty.next_part().await.unwrap(), (Bytes::new(), true));
    }

    #[tokio::test]
    async fn part_reader_passes_source_errors() {
        let s: ByteStream = Box::pin(futures::stream::iter(vec![
            Ok(Bytes::from_static(b"ab")),
            Err(StorageError::Source { message: "boom".into(), source: None }),
        ]));
        let mut r = PartReader::new(s, 4);
        assert!(r.next_part().await.unwrap_err().to_string().contains("boom"));
    }
}

//! The shared state of an S3 handle and the SDK client it builds on first use.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use tokio::sync::OnceCell;

use super::errors::{is_no_such_bucket, map_sdk_error, status_of};
use crate::key::validate_key;
use crate::{Op, S3Options, StorageError};

/// The state one `S3Storage` handle and its clones share: the options,
/// the lazily built SDK client and the answers of the one-off probes.
pub(super) struct Inner {
    pub(super) opts: S3Options,
    pub(super) credentials: Option<aws_sdk_s3::config::Credentials>,
    /// Where the bucket is, for messages (never credentials).
    pub(super) location: String,
    client: OnceCell<Client>,
    pub(super) conditional_put: OnceCell<bool>,
    pub(super) object_lock: OnceCell<bool>,
}

impl Inner {
    /// The state of a handle on the bucket and prefix `opts` name; nothing is contacted.
    pub(super) fn new(opts: S3Options) -> Self {
        let mut location = format!("s3://{}", opts.bucket);
        if !opts.prefix.is_empty() {
            location.push('/');
            location.push_str(&opts.prefix);
        }
        if let Some(ep) = &opts.endpoint {
            location.push_str(&format!(" (endpoint {ep})"));
        }
        Self {
            opts,
            credentials: None,
            location,
            client: OnceCell::new(),
            conditional_put: OnceCell::new(),
            object_lock: OnceCell::new(),
        }
    }

    /// Uses a client the caller configured instead of building one.
    pub(super) fn set_client(&self, client: Client) {
        let _ = self.client.set(client);
    }

    /// The SDK client, built on first use inside the caller's runtime.
    pub(super) async fn client(&self) -> &Client {
        self.client.get_or_init(|| build_client(&self.opts, self.credentials.clone())).await
    }

    /// The bucket key of `key`, validated, below the prefix.
    pub(super) fn full_key(&self, key: &str) -> Result<String, StorageError> {
        validate_key(key)?;
        Ok(self.join(key))
    }

    /// `key` below the prefix, unvalidated (for keys this backend makes itself).
    pub(super) fn join(&self, key: &str) -> String {
        if self.opts.prefix.is_empty() { key.to_owned() } else { format!("{}/{key}", self.opts.prefix) }
    }

    /// An SDK error of `op` on `key` as a [`StorageError`].
    pub(super) fn err<E>(&self, op: Op, key: &str, err: SdkError<E, HttpResponse>) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        map_sdk_error(&self.location, &self.opts.bucket, op, key, err)
    }

    /// A backend error of this bucket that the SDK did not report.
    pub(super) fn backend(&self, op: Op, key: &str, message: &str, transient: bool) -> StorageError {
        StorageError::Backend {
            op,
            location: self.location.clone(),
            key: key.to_owned(),
            message: message.to_owned(),
            transient,
        }
    }

    /// `HeadObject` of a bucket key; `None` when there is no such object.
    pub(super) async fn head_full(
        &self,
        full: &str,
    ) -> Result<Option<aws_sdk_s3::operation::head_object::HeadObjectOutput>, StorageError> {
        match self.client().await.head_object().bucket(&self.opts.bucket).key(full).send().await {
            Ok(out) => Ok(Some(out)),
            Err(e) if status_of(&e) == Some(404) && !is_no_such_bucket(&e) => Ok(None),
            Err(e) => Err(self.err(Op::Head, full, e)),
        }
    }

    /// `HeadObject` of a storage key; `None` when there is no such object.
    pub(super) async fn head_raw(
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

/// An SDK client for `opts`: rustls with ring, the SDK's retries and timeouts, the
/// standard AWS credential chain unless `credentials` are given.
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

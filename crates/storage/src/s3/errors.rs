//! S3 errors as [`StorageError`]s: which bucket and key, which S3 error code, and whether a
//! retry could help.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::{Op, StorageError};

/// The HTTP status of a failed request, when a response came back.
pub(super) fn status_of<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// The bucket itself is missing (a 404 that is not about the key).
pub(super) fn is_no_such_bucket<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    err.code() == Some("NoSuchBucket")
}

/// Turns an SDK error into a [`StorageError`] naming bucket, key and S3 error code, and
/// classifying it as transient (timeouts, resets, 5xx, throttling) or not (auth, 4xx).
pub(super) fn map_sdk_error<E>(
    location: &str,
    bucket: &str,
    op: Op,
    key: &str,
    err: SdkError<E, HttpResponse>,
) -> StorageError
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

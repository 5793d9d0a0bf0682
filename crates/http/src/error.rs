//! The API's error answers ([`ApiError`], with the stable [`ErrorCode`]s) and the server's
//! own failures ([`HttpError`]).
//!
//! Every error answer is JSON of one shape, whatever produced it (a handler, an extractor,
//! the auth check, the fallback for an unknown path, a timeout, a caught panic):
//!
//! ```json
//! {"error": {"code": "not_found", "message": "no plan \"web\" in lifeboat.toml", "request_id": "4f1c0a9e2b7d3c51-17"}}
//! ```
//!
//! `code` is one of the [`ErrorCode`] names and never changes meaning; `message` is for
//! people and may change; `request_id` is the request's `x-request-id`, also in the access
//! log. An internal error's message says only that one happened: its cause goes to the log.

use std::fmt;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lifeboat_ops::service::{ErrorKind as ServiceErrorKind, ServiceError};
use serde::Serialize;

/// The stable error codes of the API, each with one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No such path, plan or job (404).
    NotFound,
    /// The request does not fit the current state, e.g. cancelling a finished job (409).
    Conflict,
    /// The request is malformed: bad JSON, a wrong type, an unknown field, a bad query
    /// parameter or path segment, a configuration refused on reload (400).
    InvalidRequest,
    /// No bearer token, or one that is not valid (401, with `WWW-Authenticate: Bearer`).
    Unauthorized,
    /// The token is valid but its scopes do not allow this (403).
    Forbidden,
    /// The path exists but not with this method (405, with `Allow`).
    MethodNotAllowed,
    /// The body is larger than the limit (413).
    PayloadTooLarge,
    /// The service cannot answer now: shutting down, the state or a repository unavailable,
    /// the request took longer than the timeout (503).
    Unavailable,
    /// A bug in Lifeboat (500); the cause is in lifeboatd's log under the request id.
    Internal,
}

impl ErrorCode {
    /// The code's name as it appears in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status the code is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer: a code and a message for people. Its response carries the JSON body
/// and the error itself as an extension, so that the outer layer adds the request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The stable code.
    pub code: ErrorCode,
    /// What went wrong, for people (no secret is ever in it).
    pub message: String,
    /// Extra headers (`WWW-Authenticate`, `Allow`).
    pub(crate) headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), headers: Vec::new() }
    }

    /// `invalid_request` (400).
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidRequest, message)
    }

    /// `not_found` (404).
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::NotFound, message)
    }

    /// `internal` (500): the message given is logged, the client is told only that an
    /// internal error happened.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(target: "lifeboat_http", error = %cause, "internal error answering a request");
        ApiError::new(ErrorCode::Internal, "internal error in lifeboatd; its log has the cause under this request id")
    }

    /// The error with a header added.
    pub(crate) fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The JSON body, with `request_id` when known.
    pub(crate) fn body<'a>(&'a self, request_id: Option<&'a str>) -> ErrorBody<'a> {
        ErrorBody { error: ErrorFields { code: self.code, message: &self.message, request_id } }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        let code = match error.kind() {
            ServiceErrorKind::NotFound => ErrorCode::NotFound,
            ServiceErrorKind::Conflict => ErrorCode::Conflict,
            ServiceErrorKind::Invalid => ErrorCode::InvalidRequest,
            ServiceErrorKind::Unavailable => ErrorCode::Unavailable,
            ServiceErrorKind::Internal => return ApiError::internal(error),
        };
        ApiError::new(code, error.to_string())
    }
}

/// `{"error": {...}}`.
#[derive(Serialize)]
pub(crate) struct ErrorBody<'a> {
    error: ErrorFields<'a>,
}

#[derive(Serialize)]
struct ErrorFields<'a> {
    code: ErrorCode,
    message: &'a str,
    request_id: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.code.status(), Json(self.body(None))).into_response();
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// Why `serve` could not serve.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A TLS certificate or key file could not be read.
    #[error("cannot read the TLS {what} {path}: {source}")]
    TlsFile {
        /// "certificate" or "key".
        what: &'static str,
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A TLS certificate or key file holds nothing usable.
    #[error("the TLS {what} {path} is not usable: {reason}")]
    TlsPem {
        /// "certificate" or "key".
        what: &'static str,
        /// The file.
        path: String,
        /// What is wrong (never the key's bytes).
        reason: String,
    },
    /// rustls refused the certificate and key (they do not match, an unsupported key type).
    #[error("the TLS certificate {cert} and key {key} cannot be used together: {source}")]
    TlsConfig {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
        /// rustls's error.
        #[source]
        source: rustls::Error,
    },
    /// Plain HTTP was asked on an address that is not loopback, without allowing it.
    #[error(
        "refusing to serve plain HTTP on {addr}, which is not a loopback address: bearer tokens would cross the \
         network in clear text (give a TLS certificate and key, or allow plain HTTP explicitly)"
    )]
    PlainHttpNotLoopback {
        /// The address.
        addr: std::net::SocketAddr,
    },
    /// The listener's own address could not be read.
    #[error("cannot read the listening socket's address: {0}")]
    Listener(#[source] std::io::Error),
}

impl HttpError {
    /// The category of the failure, for a binary's exit code or message.
    pub fn kind(&self) -> HttpErrorKind {
        match self {
            HttpError::TlsFile { .. } | HttpError::TlsPem { .. } | HttpError::TlsConfig { .. } => HttpErrorKind::Tls,
            HttpError::PlainHttpNotLoopback { .. } => HttpErrorKind::Refused,
            HttpError::Listener(_) => HttpErrorKind::Io,
        }
    }
}

/// What sort of failure an [`HttpError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HttpErrorKind {
    /// The TLS certificate or key is missing, unreadable or unusable (a configuration error).
    Tls,
    /// The listening address is refused by the plain-HTTP rule (a configuration error).
    Refused,
    /// The socket failed.
    Io,
}

//! The layers around every route: request ids, the access log and the request counter
//! ([`observe`]), the request timeout ([`timeout`]), the body limit on `Content-Length`
//! ([`limit_declared_body`]), and the answer for a handler that panicked ([`panic_answer`]).

use std::any::Any;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::TokenName;
use crate::context::Context;
use crate::error::{ApiError, ErrorCode};

/// The header carrying the request id, in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id accepted from a client.
const MAX_REQUEST_ID: usize = 64;

/// The peer's address, put in the request's extensions by `serve`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) std::net::SocketAddr);

/// Request id, access log line, `lifeboat_http_requests_total`, and the request id in the
/// body of every error answer.
pub(crate) async fn observe(State(context): State<Context>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| sane_request_id(id))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        request.headers_mut().insert(REQUEST_ID, value);
    }
    let method = request.method().clone();
    let path = request.uri().path().to_owned(); // never the query: it is not logged
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let peer = request.extensions().get::<Peer>().map(|p| p.0);

    let mut response = next.run(request).await;
    if let Some(error) = response.extensions_mut().remove::<ApiError>() {
        // Rendered again with the request id (and the same status and headers).
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let token = response.extensions_mut().remove::<TokenName>();
        response = (status, Json(error.body(Some(&request_id)))).into_response();
        for (name, value) in headers.iter() {
            if name != header::CONTENT_LENGTH {
                response.headers_mut().insert(name.clone(), value.clone());
            }
        }
        if let Some(token) = token {
            response.extensions_mut().insert(token);
        }
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status();
    let route = route.as_deref().unwrap_or("unmatched");
    context.metrics.count_request(route, status.as_u16());
    let token = response.extensions().get::<TokenName>().map(|t| t.0.as_str()).unwrap_or("-");
    tracing::info!(
        target: "lifeboat_http::access",
        request_id = %request_id,
        method = %method,
        path = %path,
        route = %route,
        status = status.as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        token = %token,
        peer = peer.map(|p| p.to_string()).unwrap_or_default(),
        "request",
    );
    response
}

/// An id from a client is kept when it is 1 to 64 characters of `A-Z a-z 0-9 . _ - :`.
fn sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

/// `<16 hex digits random per process>-<counter>`: unique in a process, unlikely to repeat
/// across restarts.
fn new_request_id() -> String {
    static PREFIX: LazyLock<u64> = LazyLock::new(|| RandomState::new().hash_one(std::process::id()));
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{:016x}-{}", *PREFIX, NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Answers `unavailable` when the handler takes longer than the request timeout.
pub(crate) async fn timeout(State(context): State<Context>, request: Request, next: Next) -> Response {
    let limit = context.options.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            ErrorCode::Unavailable,
            format!("the request took longer than {} s and was abandoned", limit.as_secs_f64()),
        )
        .into_response(),
    }
}

/// Answers `payload_too_large` at once for a declared body over the limit (a body without
/// a length is cut by axum's body limit while it is read).
pub(crate) async fn limit_declared_body(State(context): State<Context>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let limit = context.options.body_limit;
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than the limit of {limit} bytes"),
        )
        .into_response();
    }
    next.run(request).await
}

/// The answer for a handler that panicked (a bug): `internal`, the panic's message logged.
pub(crate) fn panic_answer(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    ApiError::internal(format!("a request handler panicked: {message}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_from_clients_are_kept_only_when_sane() {
        assert!(sane_request_id("abc-123_x.y:z"));
        assert!(!sane_request_id(""));
        assert!(!sane_request_id("a b"));
        assert!(!sane_request_id("line\nbreak"));
        assert!(!sane_request_id(&"x".repeat(65)));
        assert_ne!(new_request_id(), new_request_id());
    }
}

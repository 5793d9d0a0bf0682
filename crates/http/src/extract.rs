//! Extractors that answer bad input with the API's JSON errors instead of axum's plain-text
//! rejections: [`OptionalJson`] (a body that may be empty), [`ApiQuery`] and [`ApiPath`].

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

/// A JSON body that may be absent: an empty body is `None`. A body that is not JSON, has a
/// wrong type or an unknown field (for types that deny them) is `invalid_request`, one over
/// the body limit `payload_too_large`.
pub(crate) struct OptionalJson<T>(pub Option<T>);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = Bytes::from_request(request, state).await.map_err(body_error)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        if let Some(value) = content_type {
            let essence = value.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(ApiError::invalid("the body must be JSON (Content-Type: application/json)"));
            }
        }
        serde_json::from_slice(&bytes)
            .map(|value| OptionalJson(Some(value)))
            .map_err(|e| ApiError::invalid(format!("the body is not the JSON expected: {e}")))
    }
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(ErrorCode::PayloadTooLarge, "the body is larger than the limit")
    } else {
        ApiError::invalid(format!("cannot read the body: {}", rejection.body_text()))
    }
}

/// Query parameters; a bad or unknown one is `invalid_request`.
pub(crate) struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|e| ApiError::invalid(format!("bad query parameters: {}", e.body_text())))
    }
}

/// Path parameters; a segment that does not parse is `invalid_request`.
pub(crate) struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|e| ApiError::invalid(format!("bad path: {}", e.body_text())))
    }
}

//! Bearer-token authentication and scope checks, as a layer on each group of routes.
//!
//! `Authorization: Bearer lbt_<id>_<secret>` is checked against the state's tokens
//! ([`lifeboat_ops::state::StateStore::authenticate_token`]: hashed, constant-time). No
//! header, another scheme, or a token that is unknown, revoked or expired: 401 with
//! `WWW-Authenticate: Bearer`. A valid token without the scope: 403 with
//! `error="insufficient_scope"`. The token's text is never logged nor kept: it is wiped
//! from memory once checked; only the token's name goes to the access log.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lifeboat_ops::state::{Scope, TokenInfo};
use zeroize::Zeroizing;

use crate::context::Context;
use crate::error::{ApiError, ErrorCode};

/// The longest Authorization value looked at (a token is 85 characters).
const MAX_AUTHORIZATION: usize = 512;

/// The token a request was let in with, in the request's extensions.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) TokenInfo);

/// The name of the token a request came with, in the response's extensions (the access log).
#[derive(Debug, Clone)]
pub(crate) struct TokenName(pub(crate) String);

/// The layer's function: lets the request through when its token allows `needed`.
pub(crate) async fn authorize(
    State((context, needed)): State<(Context, Scope)>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(presented) = bearer(request.headers()) else {
        return unauthorized("a bearer token is required (Authorization: Bearer lbt_...)", None);
    };
    let now = context.service.clock().now();
    let info = match context.service.state().authenticate_token(presented, now).await {
        Ok(Some(info)) => info,
        Ok(None) => {
            return unauthorized("the bearer token is not valid (unknown, revoked or expired)", Some("invalid_token"));
        }
        Err(e) => {
            tracing::warn!(target: "lifeboat_http", error = %e, "cannot check a bearer token");
            return ApiError::new(
                ErrorCode::Unavailable,
                "cannot check the token now: the state database is unavailable",
            )
            .into_response();
        }
    };
    let name = TokenName(info.name.clone());
    let mut response = if info.allows(needed) {
        request.extensions_mut().insert(Caller(info));
        next.run(request).await
    } else {
        let challenge = format!("Bearer realm=\"lifeboatd\", error=\"insufficient_scope\", scope=\"{needed}\"");
        ApiError::new(
            ErrorCode::Forbidden,
            format!("token {:?} lacks the {needed} scope this needs (it has {})", info.name, scopes(&info)),
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static("Bearer")),
        )
        .into_response()
    };
    response.extensions_mut().insert(name);
    response
}

fn scopes(info: &TokenInfo) -> String {
    info.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

fn unauthorized(message: &str, error: Option<&'static str>) -> Response {
    let challenge = match error {
        Some(error) => format!("Bearer realm=\"lifeboatd\", error=\"{error}\""),
        None => "Bearer realm=\"lifeboatd\"".to_owned(),
    };
    ApiError::new(ErrorCode::Unauthorized, message)
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static("Bearer")),
        )
        .into_response()
}

/// The bearer token of the request, if it has one (scheme case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<Zeroizing<String>> {
    let value = headers.get(header::AUTHORIZATION)?;
    if value.len() > MAX_AUTHORIZATION {
        return None;
    }
    let text = value.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then(|| Zeroizing::new(token.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bearer_scheme_yields_a_token() {
        let mut headers = HeaderMap::new();
        assert!(bearer(&headers).is_none());
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic dXNlcjpwdw=="));
        assert!(bearer(&headers).is_none());
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer  lbt_x_y "));
        assert_eq!(bearer(&headers).as_deref().map(String::as_str), Some("lbt_x_y"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert!(bearer(&headers).is_none());
    }
}

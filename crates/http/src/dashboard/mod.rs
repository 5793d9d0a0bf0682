//! The dashboard: one HTML page with its stylesheet and script, embedded in the binary and
//! served without authentication (they hold no data: the script asks the API for everything
//! with the token the user typed into its login form, kept in the browser's
//! `sessionStorage`).
//!
//! Every answer carries a strict Content-Security-Policy (`default-src 'self'`, no inline
//! script or style, no frames), `X-Content-Type-Options: nosniff` and `Referrer-Policy:
//! no-referrer`. The page and its assets are revalidated on each load (`Cache-Control:
//! no-cache` with an `ETag` over their bytes), so an upgraded lifeboatd never serves a
//! stale script, while an unchanged one answers 304.
//!
//! `GET /api/v1/whoami` (scope read) tells the page the token's name and scopes, so that it
//! can disable what the token may not do and say why.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiPath;

/// The policy of every dashboard answer: only this origin, no inline code, no framing.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    bytes: include_bytes!("../../assets/index.html"),
};

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/app.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/style.css"),
    },
    Asset { name: "favicon.svg", content_type: "image/svg+xml", bytes: include_bytes!("../../assets/favicon.svg") },
];

/// `GET /`: the page.
pub(crate) async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

/// `GET /assets/{name}`: the page's script, stylesheet and icon.
pub(crate) async fn asset(ApiPath(name): ApiPath<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => serve(asset, &headers),
        None => {
            let shown: String = name.chars().take(100).collect();
            ApiError::not_found(format!("no dashboard asset {shown:?}")).into_response()
        }
    }
}

/// `GET /api/v1/whoami`: the calling token's name and scopes (never its text).
pub(crate) async fn whoami(caller: Option<axum::Extension<Caller>>) -> Response {
    let Some(axum::Extension(Caller(info))) = caller else {
        return ApiError::internal("the token of an authorised request was not recorded").into_response();
    };
    let scopes: Vec<&str> = info.scopes.iter().map(|s| s.as_str()).collect();
    Json(serde_json::json!({ "name": info.name, "scopes": scopes, "expires_at": info.expires_at })).into_response()
}

fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let etag = etag(asset.bytes);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
    let mut response = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { asset.bytes.into_response() };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

/// A strong validator over the bytes: 64-bit FNV-1a, quoted. Not a security measure, only
/// a cache key (the bytes are compiled in, so it changes exactly when they do).
fn etag(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
    format!("\"{hash:016x}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etag_changes_with_the_bytes_and_is_quoted() {
        assert_ne!(etag(b"a"), etag(b"b"));
        assert_eq!(etag(b"a"), etag(b"a"));
        assert!(etag(b"").starts_with('"') && etag(b"").ends_with('"'));
    }

    #[test]
    fn the_page_loads_its_code_only_from_files_never_inline() {
        let page = std::str::from_utf8(INDEX.bytes).unwrap();
        assert!(page.contains(r#"<script src="/assets/app.js""#), "the page loads the script file");
        assert_eq!(page.matches("<script").count(), 1, "one script element, the file");
        assert!(!page.contains("<style"), "no inline style element");
        assert!(!page.contains(" style="), "no inline style attribute");
        assert!(!page.contains("http://") && !page.contains("https://"), "nothing fetched from elsewhere");
    }
}

//! Responses as Elasticsearch sends them: JSON or text bodies, the product header of 7.14+, and the
//! error envelope with its status codes.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

pub(super) type Resp = Response<Full<Bytes>>;

/// Whether a version sends `X-elastic-product: Elasticsearch`: every response of 7.14 and later
/// does (errors included); 7.10-7.13 send no such header.
pub(super) fn sends_product_header(version: &str) -> bool {
    let mut p = version.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    let (major, minor) = (p.next().unwrap_or(0), p.next().unwrap_or(0));
    (major, minor) >= (7, 14)
}

pub(super) fn json_resp(status: u16, body: &Value, product_header: bool) -> Resp {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json");
    if product_header {
        b = b.header("x-elastic-product", "Elasticsearch");
    }
    b.body(Full::new(Bytes::from(body.to_string()))).unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

pub(super) fn text_resp(status: u16, body: String, product_header: bool) -> Resp {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .header("content-type", "text/plain; charset=UTF-8");
    if product_header {
        b = b.header("x-elastic-product", "Elasticsearch");
    }
    b.body(Full::new(Bytes::from(body))).unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// An error answer: status and the Elasticsearch error envelope.
#[derive(Debug)]
pub(super) struct EsErr {
    pub(super) status: u16,
    pub(super) body: Value,
}

pub(super) fn es_err(status: u16, ty: &str, reason: impl Into<String>) -> EsErr {
    let reason = reason.into();
    let cause = json!({"type": ty, "reason": reason});
    EsErr {
        status,
        body: json!({"error": {"root_cause": [cause.clone()], "type": ty, "reason": reason}, "status": status}),
    }
}

pub(super) fn index_not_found(index: &str) -> EsErr {
    let cause = json!({
        "type": "index_not_found_exception",
        "reason": format!("no such index [{index}]"),
        "resource.type": "index_or_alias",
        "resource.id": index,
        "index_uuid": "_na_",
        "index": index
    });
    let mut top = cause.clone();
    top["root_cause"] = json!([cause]);
    EsErr { status: 404, body: json!({"error": top, "status": 404}) }
}

pub(super) fn repo_missing(name: &str) -> EsErr {
    es_err(404, "repository_missing_exception", format!("[{name}] missing"))
}

pub(super) fn snapshot_missing(repo: &str, name: &str) -> EsErr {
    es_err(404, "snapshot_missing_exception", format!("[{repo}:{name}] is missing"))
}

pub(super) type HResult = Result<(u16, Value), EsErr>;

pub(super) fn ok(v: Value) -> HResult {
    Ok((200, v))
}

pub(super) enum Reply {
    Json(u16, Value),
    Text(String),
}

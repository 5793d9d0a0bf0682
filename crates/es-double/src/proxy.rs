//! A spec-checking HTTP proxy in front of a real cluster: every request is matched against the
//! REST spec (violations are recorded and answered like Elasticsearch would, without forwarding),
//! conforming requests are forwarded with the upstream credentials.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use elasticsearch::http::Method;
use elasticsearch::http::headers::HeaderMap;
use elasticsearch::http::transport::Transport;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;

use crate::node::RecordedRequest;
use crate::serve::spawn_server;
use crate::spec::RestSpec;
use crate::upstream::Upstream;

struct ProxyShared {
    spec: RestSpec,
    upstream: Transport,
    requests: Mutex<Vec<RecordedRequest>>,
    violations: Mutex<Vec<String>>,
}

/// The running proxy; dropping it stops it.
pub struct SpecProxy {
    addr: SocketAddr,
    shared: Arc<ProxyShared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SpecProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for SpecProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpecProxy").field("url", &self.url()).finish()
    }
}

impl SpecProxy {
    /// Starts a proxy to `upstream`, checking requests against `spec`.
    pub async fn start(spec: RestSpec, upstream: &Upstream) -> std::io::Result<Self> {
        let transport = upstream.transport().map_err(std::io::Error::other)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(ProxyShared {
            spec,
            upstream: transport,
            requests: Mutex::new(vec![]),
            violations: Mutex::new(vec![]),
        });
        let task = spawn_server(listener, shared.clone(), forward);
        Ok(SpecProxy { addr, shared, task })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests seen.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Requests that did not conform to the spec.
    pub fn spec_violations(&self) -> Vec<String> {
        self.shared.violations.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// A response; `product` is the `X-elastic-product` header to pass on (the client checks it).
fn resp(status: u16, content_type: &str, product: Option<&str>, body: Bytes) -> Response<Full<Bytes>> {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY))
        .header("content-type", content_type);
    if let Some(p) = product {
        b = b.header("x-elastic-product", p);
    }
    b.body(Full::new(body)).unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

async fn forward(shared: Arc<ProxyShared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(raw_query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let record = |status: u16, api: Option<String>| {
        if let Ok(mut r) = shared.requests.lock() {
            r.push(RecordedRequest { method: method.clone(), path: path.clone(), query: query.clone(), api, status });
        }
    };
    let m = match shared.spec.match_request(&method, &path, &query, !body.is_empty()) {
        Ok(m) => m,
        Err(v) => {
            if let Ok(mut vs) = shared.violations.lock() {
                vs.push(format!("{method} {path}?{raw_query}: {}", v.message));
            }
            record(v.status, None);
            let b = serde_json::json!({"error": v.message, "status": v.status}).to_string();
            // Answered in Elasticsearch's place, as Elasticsearch answers an undeclared request.
            return resp(v.status, "application/json", Some("Elasticsearch"), Bytes::from(b));
        }
    };
    let es_method = match method.as_str() {
        "GET" => Method::Get,
        "PUT" => Method::Put,
        "POST" => Method::Post,
        "DELETE" => Method::Delete,
        _ => Method::Head,
    };
    let body_opt = if body.is_empty() { None } else { Some(body.to_vec()) };
    let result = shared.upstream.send(es_method, &path, HeaderMap::new(), Some(&query), body_opt, None).await;
    match result {
        Ok(r) => {
            let status = r.status_code().as_u16();
            let ct = r.content_type().to_string();
            let product = r.headers().get("x-elastic-product").and_then(|v| v.to_str().ok()).map(str::to_string);
            let bytes = r.bytes().await.unwrap_or_default();
            record(status, Some(m.api));
            resp(status, &ct, product.as_deref(), bytes)
        }
        Err(e) => {
            record(502, Some(m.api));
            resp(502, "text/plain", None, Bytes::from(format!("proxy could not reach upstream: {e}")))
        }
    }
}

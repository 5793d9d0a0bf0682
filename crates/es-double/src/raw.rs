//! [`send_raw`]: one request to a double or a proxy as a plain HTTP client sends it, with no
//! knowledge of the spec and no error mapping, so tests see exactly what went over the wire.

use elasticsearch::Elasticsearch;
use elasticsearch::http::Method;
use elasticsearch::http::headers::HeaderMap;
use elasticsearch::http::transport::Transport;
use serde_json::Value;

/// Sends `method path_and_query` (the query part is split off and sent as parameters) with an
/// optional JSON body to `url`; returns the status and the body as JSON, or as a JSON string when
/// it is not JSON. Panics when nothing answers: a test double that is down is a failed test.
pub async fn send_raw(url: &str, method: Method, path_and_query: &str, body: Option<Value>) -> (u16, Value) {
    let transport = Transport::single_node(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let es = Elasticsearch::new(transport);
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let q: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let r = es
        .send(method, path, HeaderMap::new(), Some(&q), body.map(|b| b.to_string()), None)
        .await
        .unwrap_or_else(|e| panic!("{path_and_query} to {url}: {e}"));
    let status = r.status_code().as_u16();
    let text = r.text().await.unwrap_or_else(|e| panic!("reading the answer to {path_and_query}: {e}"));
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

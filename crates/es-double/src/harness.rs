//! A harness that runs one test body against the double and, when `LIFEBOAT_TEST_ES_URL` is set,
//! against a real cluster too (through the spec-checking proxy).

use std::sync::atomic::{AtomicU32, Ordering};

use elasticsearch::Elasticsearch;
use elasticsearch::http::Method;
use elasticsearch::http::headers::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};

use elasticsearch::auth::Credentials;

use crate::node::{DoubleConfig, EsDouble, IndexSeed, RecordedRequest};
use crate::proxy::SpecProxy;
use crate::spec::{RestSpec, default_spec_root};
use crate::upstream::Upstream;

/// URL of a real cluster to run every test against as well.
pub const ENV_TEST_ES_URL: &str = "LIFEBOAT_TEST_ES_URL";
/// A directory listed in the real cluster's `path.repo` (required with `LIFEBOAT_TEST_ES_URL`).
pub const ENV_TEST_ES_REPO_DIR: &str = "LIFEBOAT_TEST_ES_REPO_DIR";

static COUNTER: AtomicU32 = AtomicU32::new(0);

enum Backend {
    Double(EsDouble),
    Real { proxy: SpecProxy, admin: Elasticsearch, repo_dir: String },
}

/// One cluster a test runs against.
pub struct TestCluster {
    backend: Backend,
    prefix: String,
}

impl std::fmt::Debug for TestCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCluster").field("kind", &self.kind()).field("url", &self.url()).finish()
    }
}

impl TestCluster {
    /// A fresh double with the default configuration.
    pub async fn double() -> Self {
        Self::double_with(DoubleConfig::default()).await
    }

    /// A fresh double.
    pub async fn double_with(cfg: DoubleConfig) -> Self {
        let d =
            EsDouble::start_with(cfg).await.unwrap_or_else(|e| panic!("cannot start the Elasticsearch double: {e}"));
        TestCluster { backend: Backend::Double(d), prefix: String::new() }
    }

    /// The real cluster named by `LIFEBOAT_TEST_ES_URL` (credentials from `LIFEBOAT_TEST_ES_USERNAME`
    /// / `LIFEBOAT_TEST_ES_PASSWORD` or `LIFEBOAT_TEST_ES_API_KEY`, CA from
    /// `LIFEBOAT_TEST_ES_CA_FILE`), or `None` when the variable is not set. Panics when it is set
    /// but unusable: a configured cluster that cannot be reached is a failure, not a skip.
    pub async fn real_from_env() -> Option<Self> {
        let url = std::env::var(ENV_TEST_ES_URL).ok().filter(|u| !u.is_empty())?;
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut upstream = Upstream::new(&url).unwrap_or_else(|e| panic!("{ENV_TEST_ES_URL}: {e}"));
        if let Some(key) = env("LIFEBOAT_TEST_ES_API_KEY") {
            upstream = upstream.with_credentials(match key.split_once(':') {
                Some((id, secret)) => Credentials::ApiKey(id.to_string(), secret.to_string()),
                None => Credentials::EncodedApiKey(key),
            });
        } else if let Some(username) = env("LIFEBOAT_TEST_ES_USERNAME") {
            upstream = upstream
                .with_credentials(Credentials::Basic(username, env("LIFEBOAT_TEST_ES_PASSWORD").unwrap_or_default()));
        }
        if let Some(ca) = env("LIFEBOAT_TEST_ES_CA_FILE") {
            upstream = upstream.with_ca_file(ca);
        }
        let repo_dir = env(ENV_TEST_ES_REPO_DIR).unwrap_or_else(|| {
            panic!("{ENV_TEST_ES_URL} is set but {ENV_TEST_ES_REPO_DIR} (a path.repo directory) is not")
        });
        let admin = Elasticsearch::new(upstream.transport().unwrap_or_else(|e| panic!("{e}")));
        let major = major_version(&admin).await;
        let dir = default_spec_root().join(if major >= 9 { "api" } else { "api-8.19" });
        let spec = RestSpec::load(&dir).unwrap_or_else(|e| panic!("{e}"));
        let proxy =
            SpecProxy::start(spec, &upstream).await.unwrap_or_else(|e| panic!("cannot start the spec proxy: {e}"));
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("lbt{}x{n}-", std::process::id());
        Some(TestCluster { backend: Backend::Real { proxy, admin, repo_dir }, prefix })
    }

    /// The double, plus the real cluster when `LIFEBOAT_TEST_ES_URL` is set.
    pub async fn all() -> Vec<TestCluster> {
        let mut v = vec![Self::double().await];
        if let Some(real) = Self::real_from_env().await {
            v.push(real);
        }
        v
    }

    /// `double` or `real`.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Double(_) => "double",
            Backend::Real { .. } => "real",
        }
    }

    /// The URL clients use (the double, or the proxy in front of the real cluster).
    pub fn url(&self) -> String {
        match &self.backend {
            Backend::Double(d) => d.url(),
            Backend::Real { proxy, .. } => proxy.url(),
        }
    }

    /// The double, when this is one (for failure injection).
    pub fn as_double(&self) -> Option<&EsDouble> {
        match &self.backend {
            Backend::Double(d) => Some(d),
            Backend::Real { .. } => None,
        }
    }

    /// A name made unique for this run (real clusters are shared; the double is not).
    pub fn name(&self, base: &str) -> String {
        format!("{}{base}", self.prefix)
    }

    /// A directory usable as an `fs` repository location.
    pub fn fs_location(&self, sub: &str) -> String {
        match &self.backend {
            Backend::Double(_) => format!("/mnt/backups/{sub}"),
            Backend::Real { repo_dir, .. } => format!("{}/{}{sub}", repo_dir.trim_end_matches('/'), self.prefix),
        }
    }

    /// Creates an index with documents (the double directly; a real cluster through index + bulk).
    pub async fn seed_index(&self, name: &str, seed: IndexSeed) {
        match &self.backend {
            Backend::Double(d) => d.create_index(name, seed),
            Backend::Real { admin, .. } => {
                let body = json!({
                    "settings": {"number_of_shards": seed.shards, "number_of_replicas": seed.replicas},
                    "mappings": {"properties": {seed.time_field.clone(): {"type": "date"}}}
                });
                raw(admin, Method::Put, &format!("/{name}"), Some(body.to_string()), "application/json").await;
                if !seed.timestamps.is_empty() {
                    let mut nd = String::new();
                    for ts in &seed.timestamps {
                        nd.push_str("{\"index\":{}}\n");
                        nd.push_str(&json!({seed.time_field.clone(): ts}).to_string());
                        nd.push('\n');
                    }
                    raw(admin, Method::Post, &format!("/{name}/_bulk?refresh=true"), Some(nd), "application/x-ndjson")
                        .await;
                }
            }
        }
    }

    /// Removes an index directly (the way ILM drops old live indices).
    pub async fn drop_index(&self, name: &str) {
        match &self.backend {
            Backend::Double(d) => {
                d.drop_index(name);
            }
            Backend::Real { admin, .. } => {
                raw(admin, Method::Delete, &format!("/{name}"), None, "application/json").await;
            }
        }
    }

    /// Requests the client made.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        match &self.backend {
            Backend::Double(d) => d.requests(),
            Backend::Real { proxy, .. } => proxy.requests(),
        }
    }

    /// Requests that did not conform to the REST spec.
    pub fn spec_violations(&self) -> Vec<String> {
        match &self.backend {
            Backend::Double(d) => d.spec_violations(),
            Backend::Real { proxy, .. } => proxy.spec_violations(),
        }
    }

    /// Deletes what a test created on a real cluster (indices, snapshots and repositories carrying
    /// this run's prefix). Nothing to do for the double.
    pub async fn cleanup(&self) {
        let Backend::Real { admin, .. } = &self.backend else { return };
        let repos = raw(admin, Method::Get, "/_snapshot", None, "application/json").await;
        if let Value::Object(m) = repos {
            for name in m.keys().filter(|k| k.starts_with(&self.prefix)) {
                let snaps = raw(admin, Method::Get, &format!("/_snapshot/{name}/_all"), None, "application/json").await;
                for s in snaps["snapshots"].as_array().cloned().unwrap_or_default() {
                    if let Some(sn) = s["snapshot"].as_str() {
                        raw(admin, Method::Delete, &format!("/_snapshot/{name}/{sn}"), None, "application/json").await;
                    }
                }
                raw(admin, Method::Delete, &format!("/_snapshot/{name}"), None, "application/json").await;
            }
        }
        let indices = raw(admin, Method::Get, "/_cat/indices?format=json&h=index", None, "application/json").await;
        for i in indices.as_array().cloned().unwrap_or_default() {
            if let Some(n) = i["index"].as_str().filter(|n| n.contains(&self.prefix)) {
                raw(admin, Method::Delete, &format!("/{n}"), None, "application/json").await;
            }
        }
    }
}

/// The major version of a real cluster (`GET /`); panics when it does not answer as Elasticsearch.
async fn major_version(es: &Elasticsearch) -> u32 {
    let r = es
        .send(Method::Get, "/", HeaderMap::new(), None::<&()>, None::<String>, None)
        .await
        .unwrap_or_else(|e| panic!("the real test cluster is not usable: {e}"));
    let status = r.status_code().as_u16();
    let info: Value = r.json().await.unwrap_or(Value::Null);
    if status >= 300 {
        panic!("the real test cluster is not usable: GET / answered HTTP {status}: {info}");
    }
    let number = info.pointer("/version/number").and_then(Value::as_str).unwrap_or("");
    number.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0)
}

async fn raw(es: &Elasticsearch, method: Method, path_and_query: &str, body: Option<String>, ct: &str) -> Value {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let q: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(ct) {
        headers.insert(CONTENT_TYPE, v);
    }
    let r = es.send(method, path, headers, Some(&q), body, None).await;
    match r {
        Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null),
        Err(e) => panic!("real cluster request {path} failed: {e}"),
    }
}

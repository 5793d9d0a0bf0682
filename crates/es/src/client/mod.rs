//! A typed client over the official `elasticsearch` crate.
//!
//! Only the APIs declared in the REST contract (`shared/es-rest-api-spec/api`) are used, and only
//! with parameters that exist in Elasticsearch 7.10 through 9.x. Every response is decoded into our
//! own models ([`crate::model`]) so the underlying crate can be swapped without touching callers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use elasticsearch::auth::Credentials;
use elasticsearch::cat::{CatAllocationParts, CatIndicesParts};
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::cluster::ClusterHealthParts;
use elasticsearch::http::response::Response;
use elasticsearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use elasticsearch::indices::{IndicesDeleteParts, IndicesRecoveryParts};
use elasticsearch::params::{Bytes, ExpandWildcards, Level};
use elasticsearch::slm::{
    SlmDeleteLifecycleParts, SlmExecuteLifecycleParts, SlmGetLifecycleParts, SlmPutLifecycleParts,
};
use elasticsearch::snapshot::{
    SnapshotCreateParts, SnapshotCreateRepositoryParts, SnapshotDeleteParts, SnapshotDeleteRepositoryParts,
    SnapshotGetParts, SnapshotGetRepositoryParts, SnapshotRestoreParts, SnapshotStatusParts,
    SnapshotVerifyRepositoryParts,
};
use elasticsearch::{CountParts, Elasticsearch};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

mod wire;

use crate::config::{Auth, ClusterConfig};
use crate::error::{EsError, Result};
use crate::model::names::validate_index_name;
use crate::model::{
    ClusterHealth, ClusterInfo, CreateOutcome, CreateSnapshotBody, DiskUsage, IndexSummary, NodeDisk,
    RepositoryDefinition, RepositoryInfo, RestoreBody, ShardRecovery, SlmPolicy, SlmPolicyInfo, SnapshotInfo,
    SnapshotStatus, VerifyResponse,
};
use wire::{
    CatAllocationRow, CatIndexRow, CountResponse, CreateSnapshotResponse, ErrorEnvelope, IndexRecovery, RepositoryDef,
    RestoreResponse, SlmExecuteResponse, SnapshotList, SnapshotStatusList,
};

/// A typed Elasticsearch client for snapshot and restore work.
///
/// Every response must come from Elasticsearch: 7.14 and later mark each one with
/// `X-elastic-product: Elasticsearch`. A response without it is accepted only when its body is
/// JSON and `GET /` shows an Elasticsearch that predates the header (7.10-7.13) or OpenSearch;
/// anything else (a web server's HTML page, another JSON API) is [`EsError::NotElasticsearch`],
/// and its body is never shown.
#[derive(Clone)]
pub struct EsClient {
    es: Elasticsearch,
    url: String,
    timeout: Duration,
    /// Verdict of the `GET /` check made on the first JSON response without the product header.
    headerless_ok: Arc<Mutex<Option<bool>>>,
}

/// The header Elasticsearch 7.14+ puts on every response.
const PRODUCT_HEADER: &str = "x-elastic-product";

/// What a response looked like, for [`EsError::NotElasticsearch`].
struct Origin {
    status: u16,
    content_type: Option<String>,
    product: Option<String>,
}

/// A header value fit for a one-line message: printable ASCII, at most 80 characters.
fn header_text(v: &elasticsearch::http::headers::HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?.trim();
    Some(s.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(80).collect())
}

impl std::fmt::Debug for EsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsClient").field("url", &self.url).finish()
    }
}

/// Context for mapping error responses to specific errors.
#[derive(Default)]
struct Ctx<'a> {
    op: String,
    repository: Option<&'a str>,
    snapshot: Option<&'a str>,
}

fn ctx(op: impl Into<String>) -> Ctx<'static> {
    Ctx { op: op.into(), repository: None, snapshot: None }
}

fn repo_ctx<'a>(op: impl Into<String>, repository: &'a str, snapshot: Option<&'a str>) -> Ctx<'a> {
    Ctx { op: op.into(), repository: Some(repository), snapshot }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// Builds the underlying HTTP transport (credentials, CA trust, timeout) for a configuration.
fn build_transport(cfg: &ClusterConfig) -> Result<elasticsearch::http::transport::Transport> {
    let pool = SingleNodeConnectionPool::new(cfg.url.clone());
    let mut builder = TransportBuilder::new(pool).timeout(cfg.request_timeout);
    match &cfg.auth {
        Auth::None => {}
        Auth::Basic { username, password } => {
            builder = builder.auth(Credentials::Basic(username.clone(), password.clone()));
        }
        Auth::ApiKey(key) => {
            builder = match key.split_once(':') {
                Some((id, secret)) => builder.auth(Credentials::ApiKey(id.to_string(), secret.to_string())),
                None => builder.auth(Credentials::EncodedApiKey(key.clone())),
            };
        }
    }
    if let Some(ca) = &cfg.ca_file {
        let pem =
            std::fs::read(ca).map_err(|e| EsError::Config(format!("cannot read CA file {}: {e}", ca.display())))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| EsError::Config(format!("CA file {} is not a PEM certificate: {e}", ca.display())))?;
        builder = builder.cert_validation(CertificateValidation::Full(cert));
    }
    builder.build().map_err(|e| EsError::Config(format!("cannot build HTTP client: {e}")))
}

impl EsClient {
    /// Builds a client. Reads the CA file if one is configured.
    pub fn new(cfg: &ClusterConfig) -> Result<Self> {
        let transport = build_transport(cfg)?;
        Ok(EsClient {
            es: Elasticsearch::new(transport),
            url: cfg.url_string(),
            timeout: cfg.request_timeout,
            headerless_ok: Arc::new(Mutex::new(None)),
        })
    }

    /// The cluster URL (without credentials).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends the request result through error mapping; returns the status and the body bytes.
    async fn finish(
        &self,
        c: &Ctx<'_>,
        res: std::result::Result<Response, elasticsearch::Error>,
    ) -> Result<(u16, Vec<u8>)> {
        let resp = match res {
            Ok(r) => r,
            Err(e) => {
                let reason = if e.is_timeout() { "request timed out".to_string() } else { error_chain(&e) };
                return Err(EsError::Unreachable { url: self.url.clone(), op: c.op.clone(), reason });
            }
        };
        let status = resp.status_code().as_u16();
        let origin = Origin {
            status,
            content_type: resp.headers().get(elasticsearch::http::headers::CONTENT_TYPE).and_then(header_text),
            product: resp.headers().get(PRODUCT_HEADER).and_then(header_text),
        };
        let body = resp
            .bytes()
            .await
            .map_err(|e| EsError::Unreachable { url: self.url.clone(), op: c.op.clone(), reason: error_chain(&e) })?
            .to_vec();
        if origin.product.as_deref() != Some("Elasticsearch") {
            self.check_headerless(c, origin, &body).await?;
        }
        if status < 300 {
            return Ok((status, body));
        }
        Err(self.map_error(c, status, &body))
    }

    /// Decides whether a response without `X-elastic-product: Elasticsearch` may be used.
    async fn check_headerless(&self, c: &Ctx<'_>, origin: Origin, body: &[u8]) -> Result<()> {
        let not_es = |o: Origin| EsError::NotElasticsearch {
            url: self.url.clone(),
            op: c.op.clone(),
            status: o.status,
            content_type: o.content_type,
            product: o.product,
        };
        let is_json = serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok();
        if origin.product.is_some() || !is_json {
            return Err(not_es(origin));
        }
        // Security errors of an old cluster: GET / would be refused too; report them as such.
        if origin.status == 401 || origin.status == 403 {
            return Ok(());
        }
        let cached = *self.headerless_ok.lock().unwrap_or_else(|p| p.into_inner());
        let verdict = match cached {
            Some(v) => v,
            None => {
                let Some(v) = self.probe_headerless().await else { return Err(not_es(origin)) };
                *self.headerless_ok.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
                v
            }
        };
        if verdict { Ok(()) } else { Err(not_es(origin)) }
    }

    /// `GET /` without the product check: true for an Elasticsearch that predates the product
    /// header (its tagline) or OpenSearch (its distribution); `None` when it cannot be asked.
    async fn probe_headerless(&self) -> Option<bool> {
        let resp = self.es.info().send().await.ok()?;
        if resp.headers().get(PRODUCT_HEADER).and_then(header_text).as_deref() == Some("Elasticsearch") {
            return Some(true);
        }
        let body = resp.bytes().await.ok()?;
        let Ok(v) = serde_json::from_slice::<Value>(&body) else { return Some(false) };
        let tagline = v.get("tagline").and_then(Value::as_str) == Some("You Know, for Search");
        let opensearch = v.pointer("/version/distribution").and_then(Value::as_str) == Some("opensearch");
        Some(tagline || opensearch)
    }

    fn map_error(&self, c: &Ctx<'_>, status: u16, body: &[u8]) -> EsError {
        let (error_type, reason) = match serde_json::from_slice::<ErrorEnvelope>(body) {
            Ok(env) => env.type_and_reason(),
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let text: String = text.chars().take(300).collect();
                ("http_error".to_string(), if text.trim().is_empty() { format!("HTTP {status}") } else { text })
            }
        };
        if status == 401 || status == 403 {
            return EsError::Auth { url: self.url.clone(), op: c.op.clone(), status, error_type, reason };
        }
        match (error_type.as_str(), c.repository, c.snapshot) {
            ("repository_missing_exception", Some(repo), _) => {
                EsError::RepositoryMissing { repository: repo.to_string(), op: c.op.clone() }
            }
            ("snapshot_missing_exception", Some(repo), Some(snap)) => {
                EsError::SnapshotMissing { repository: repo.to_string(), snapshot: snap.to_string(), op: c.op.clone() }
            }
            _ => EsError::Api { op: c.op.clone(), status, error_type, reason },
        }
    }

    fn decode<T: DeserializeOwned>(&self, c: &Ctx<'_>, body: &[u8]) -> Result<T> {
        serde_json::from_slice(body).map_err(|e| EsError::Decode { op: c.op.clone(), reason: e.to_string() })
    }

    /// `GET /`: cluster name, UUID and version.
    pub async fn info(&self) -> Result<ClusterInfo> {
        let c = ctx("get cluster info");
        let res = self.es.info().send().await;
        let (_, body) = self.finish(&c, res).await?;
        self.decode(&c, &body)
    }

    /// `PUT /_snapshot/{repository}`: registers (or updates) a repository. With `verify`, the
    /// cluster checks that all nodes can access it.
    pub async fn put_repository(&self, name: &str, def: &RepositoryDefinition, verify: bool) -> Result<()> {
        let c = ctx(format!("register repository [{name}]"));
        let res = self
            .es
            .snapshot()
            .create_repository(SnapshotCreateRepositoryParts::Repository(name))
            .verify(verify)
            .body(def)
            .send()
            .await;
        self.finish(&c, res).await.map(|_| ())
    }

    /// `GET /_snapshot` or `GET /_snapshot/{names}`: repositories by name or pattern.
    pub async fn get_repositories(&self, names: Option<&str>) -> Result<Vec<RepositoryInfo>> {
        let c = match names {
            Some(n) => repo_ctx(format!("get repository [{n}]"), n, None),
            None => ctx("list repositories"),
        };
        let list: Vec<&str>;
        let parts = match names {
            Some(n) => {
                list = vec![n];
                SnapshotGetRepositoryParts::Repository(&list)
            }
            None => SnapshotGetRepositoryParts::None,
        };
        let res = self.es.snapshot().get_repository(parts).send().await;
        let (_, body) = self.finish(&c, res).await?;
        let map: BTreeMap<String, RepositoryDef> = self.decode(&c, &body)?;
        Ok(map
            .into_iter()
            .map(|(name, d)| RepositoryInfo { name, repo_type: d.repo_type, uuid: d.uuid, settings: d.settings })
            .collect())
    }

    /// One repository by exact name.
    pub async fn get_repository(&self, name: &str) -> Result<RepositoryInfo> {
        let repos = self.get_repositories(Some(name)).await?;
        repos.into_iter().find(|r| r.name == name).ok_or_else(|| EsError::RepositoryMissing {
            repository: name.to_string(),
            op: format!("get repository [{name}]"),
        })
    }

    /// `DELETE /_snapshot/{repository}`: unregisters a repository (its data stays in storage).
    pub async fn delete_repository(&self, name: &str) -> Result<()> {
        let c = repo_ctx(format!("delete repository [{name}]"), name, None);
        let names = [name];
        let res = self.es.snapshot().delete_repository(SnapshotDeleteRepositoryParts::Repository(&names)).send().await;
        self.finish(&c, res).await.map(|_| ())
    }

    /// `POST /_snapshot/{repository}/_verify`.
    pub async fn verify_repository(&self, name: &str) -> Result<VerifyResponse> {
        let c = repo_ctx(format!("verify repository [{name}]"), name, None);
        let res = self.es.snapshot().verify_repository(SnapshotVerifyRepositoryParts::Repository(name)).send().await;
        let (_, body) = self.finish(&c, res).await?;
        self.decode(&c, &body)
    }

    /// `PUT /_snapshot/{repository}/{snapshot}`. `name` may be a date-math expression such as
    /// `<nightly-{now/d}>`; the resolved name is in the returned snapshot when `wait` is true.
    pub async fn create_snapshot(
        &self,
        repository: &str,
        name: &str,
        body: &CreateSnapshotBody,
        wait: bool,
        timeout: Option<Duration>,
    ) -> Result<CreateOutcome> {
        let c = repo_ctx(format!("create snapshot [{repository}:{name}]"), repository, None);
        let res = self
            .es
            .snapshot()
            .create(SnapshotCreateParts::RepositorySnapshot(repository, name))
            .wait_for_completion(wait)
            .request_timeout(timeout.unwrap_or(self.timeout))
            .body(body)
            .send()
            .await;
        let (_, bytes) = self.finish(&c, res).await?;
        let resp: CreateSnapshotResponse = self.decode(&c, &bytes)?;
        match (resp.snapshot, resp.accepted) {
            (Some(s), _) => Ok(CreateOutcome::Completed(Box::new(s))),
            (None, Some(true)) => Ok(CreateOutcome::Accepted),
            _ if !wait => Ok(CreateOutcome::Accepted),
            _ => Err(EsError::Decode { op: c.op, reason: "neither `snapshot` nor `accepted` in the response".into() }),
        }
    }

    /// `GET /_snapshot/{repository}/{names}` where `names` is `_all`, a pattern or a comma list.
    pub async fn get_snapshots(
        &self,
        repository: &str,
        names: &str,
        ignore_unavailable: bool,
    ) -> Result<Vec<SnapshotInfo>> {
        let c = repo_ctx(format!("get snapshots [{repository}:{names}]"), repository, Some(names));
        let list = [names];
        let res = self
            .es
            .snapshot()
            .get(SnapshotGetParts::RepositorySnapshot(repository, &list))
            .ignore_unavailable(ignore_unavailable)
            .send()
            .await;
        let (_, body) = self.finish(&c, res).await?;
        let list: SnapshotList = self.decode(&c, &body)?;
        if let Some(failures) = list.failures.filter(|f| !f.is_empty()) {
            let reason = failures.into_iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; ");
            return Err(EsError::Api { op: c.op, status: 200, error_type: "repository_failure".into(), reason });
        }
        let mut snaps = list.snapshots;
        snaps.sort_by(|a, b| a.start_time_in_millis.cmp(&b.start_time_in_millis).then(a.snapshot.cmp(&b.snapshot)));
        Ok(snaps)
    }

    /// One snapshot by exact name.
    pub async fn get_snapshot(&self, repository: &str, name: &str) -> Result<SnapshotInfo> {
        let snaps = self.get_snapshots(repository, name, false).await?;
        snaps.into_iter().find(|s| s.snapshot == name).ok_or_else(|| EsError::SnapshotMissing {
            repository: repository.to_string(),
            snapshot: name.to_string(),
            op: format!("get snapshot [{repository}:{name}]"),
        })
    }

    /// `GET /_snapshot/{repository}/{snapshot}/_status`: per-index sizes.
    pub async fn snapshot_status(&self, repository: &str, name: &str) -> Result<SnapshotStatus> {
        let c = repo_ctx(format!("get status of snapshot [{repository}:{name}]"), repository, Some(name));
        let list = [name];
        let res = self.es.snapshot().status(SnapshotStatusParts::RepositorySnapshot(repository, &list)).send().await;
        let (_, body) = self.finish(&c, res).await?;
        let st: SnapshotStatusList = self.decode(&c, &body)?;
        st.snapshots.into_iter().find(|s| s.snapshot == name).ok_or_else(|| EsError::SnapshotMissing {
            repository: repository.to_string(),
            snapshot: name.to_string(),
            op: c.op,
        })
    }

    /// `DELETE /_snapshot/{repository}/{snapshot}`.
    pub async fn delete_snapshot(&self, repository: &str, name: &str) -> Result<()> {
        let c = repo_ctx(format!("delete snapshot [{repository}:{name}]"), repository, Some(name));
        let list = [name];
        let res = self.es.snapshot().delete(SnapshotDeleteParts::RepositorySnapshot(repository, &list)).send().await;
        self.finish(&c, res).await.map(|_| ())
    }

    /// `POST /_snapshot/{repository}/{snapshot}/_restore` without waiting for completion.
    pub async fn restore_snapshot(&self, repository: &str, snapshot: &str, body: &RestoreBody) -> Result<()> {
        let c = repo_ctx(format!("restore snapshot [{repository}:{snapshot}]"), repository, Some(snapshot));
        let res = self
            .es
            .snapshot()
            .restore(SnapshotRestoreParts::RepositorySnapshot(repository, snapshot))
            .wait_for_completion(false)
            .body(body)
            .send()
            .await;
        let (_, bytes) = self.finish(&c, res).await?;
        let resp: RestoreResponse = self.decode(&c, &bytes)?;
        if resp.accepted == Some(true) || resp.snapshot.is_some() {
            Ok(())
        } else {
            Err(EsError::Decode { op: c.op, reason: "the restore was not accepted".into() })
        }
    }

    /// `GET /_cat/indices/{pattern}?format=json&bytes=b`: indices (open and closed, including hidden)
    /// matching a pattern or comma list; every index when `pattern` is `None`.
    pub async fn cat_indices(&self, pattern: Option<&str>) -> Result<Vec<IndexSummary>> {
        let c = ctx(format!("list indices [{}]", pattern.unwrap_or("*")));
        let list: Vec<&str>;
        let parts = match pattern {
            Some(p) => {
                list = vec![p];
                CatIndicesParts::Index(&list)
            }
            None => CatIndicesParts::None,
        };
        let res = self
            .es
            .cat()
            .indices(parts)
            .format("json")
            .bytes(Bytes::B)
            .expand_wildcards(&[ExpandWildcards::All])
            .send()
            .await;
        let (_, body) = match self.finish(&c, res).await {
            Err(EsError::Api { error_type, .. }) if error_type == "index_not_found_exception" => return Ok(vec![]),
            other => other?,
        };
        let rows: Vec<CatIndexRow> = self.decode(&c, &body)?;
        let mut out: Vec<IndexSummary> = rows.into_iter().filter_map(CatIndexRow::into_summary).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// `GET /_cat/allocation?format=json&bytes=b`: disk usage per data node.
    pub async fn cat_allocation(&self) -> Result<Vec<NodeDisk>> {
        let c = ctx("get disk allocation");
        let res = self.es.cat().allocation(CatAllocationParts::None).format("json").bytes(Bytes::B).send().await;
        let (_, body) = self.finish(&c, res).await?;
        let rows: Vec<CatAllocationRow> = self.decode(&c, &body)?;
        Ok(rows.into_iter().filter_map(CatAllocationRow::into_node).collect())
    }

    /// Cluster-wide disk usage over the data nodes.
    pub async fn disk_usage(&self) -> Result<DiskUsage> {
        let nodes = self.cat_allocation().await?;
        if nodes.is_empty() {
            return Err(EsError::Decode {
                op: "get disk allocation".into(),
                reason: "no data node reported disk usage".into(),
            });
        }
        Ok(DiskUsage::from_nodes(&nodes))
    }

    /// `GET /_cluster/health/{indices}?level=shards` (returns immediately; does not wait): the
    /// health of each index and of each of its shards.
    pub async fn health_of(&self, indices: &[String]) -> Result<ClusterHealth> {
        let c = ctx(format!("get health of {} index(es)", indices.len()));
        let names: Vec<&str> = indices.iter().map(String::as_str).collect();
        let parts = if names.is_empty() { ClusterHealthParts::None } else { ClusterHealthParts::Index(&names) };
        let res = self.es.cluster().health(parts).level(Level::Shards).send().await;
        // Cluster health answers 408 with a normal body when a wait condition times out.
        let (_, body) = match self.finish(&c, res).await {
            Err(EsError::Api { status: 408, .. }) => return self.health_of_timeout(&c),
            other => other?,
        };
        self.decode(&c, &body)
    }

    fn health_of_timeout(&self, c: &Ctx<'_>) -> Result<ClusterHealth> {
        Err(EsError::Timeout { op: c.op.clone(), seconds: self.timeout.as_secs() })
    }

    /// `GET /{indices}/_recovery`: shard recoveries per index.
    pub async fn recovery(&self, indices: &[String]) -> Result<BTreeMap<String, Vec<ShardRecovery>>> {
        let c = ctx(format!("get recovery of {} index(es)", indices.len()));
        let names: Vec<&str> = indices.iter().map(String::as_str).collect();
        let parts = if names.is_empty() { IndicesRecoveryParts::None } else { IndicesRecoveryParts::Index(&names) };
        let res = self.es.indices().recovery(parts).ignore_unavailable(true).send().await;
        let (_, body) = self.finish(&c, res).await?;
        let map: BTreeMap<String, IndexRecovery> = self.decode(&c, &body)?;
        Ok(map.into_iter().map(|(k, v)| (k, v.shards)).collect())
    }

    /// `DELETE /{indices}` for explicit index names (never wildcards).
    pub async fn delete_indices(&self, indices: &[String]) -> Result<()> {
        if indices.is_empty() {
            return Ok(());
        }
        for i in indices {
            validate_index_name(i)?;
        }
        let c = ctx(format!("delete index(es) [{}]", indices.join(",")));
        let names: Vec<&str> = indices.iter().map(String::as_str).collect();
        let res = self.es.indices().delete(IndicesDeleteParts::Index(&names)).ignore_unavailable(true).send().await;
        self.finish(&c, res).await.map(|_| ())
    }

    /// `POST /{index}/_count`, optionally restricted to `field` in `[gte, lt)` epoch millis.
    pub async fn count(&self, index: &str, range: Option<(&str, i64, i64)>) -> Result<u64> {
        let c = ctx(format!("count documents of [{index}]"));
        let names = [index];
        let body = match range {
            Some((field, gte, lt)) => json!({
                "query": {"range": {field: {"gte": gte, "lt": lt, "format": "epoch_millis"}}}
            }),
            None => json!({"query": {"match_all": {}}}),
        };
        let res = self.es.count(CountParts::Index(&names)).body(body).send().await;
        let (_, bytes) = self.finish(&c, res).await?;
        let resp: CountResponse = self.decode(&c, &bytes)?;
        Ok(resp.count)
    }

    /// `PUT /_slm/policy/{id}`.
    pub async fn slm_put(&self, id: &str, policy: &SlmPolicy) -> Result<()> {
        let c = repo_ctx(format!("put SLM policy [{id}]"), &policy.repository, None);
        let res = self.es.slm().put_lifecycle(SlmPutLifecycleParts::PolicyId(id)).body(policy).send().await;
        self.finish(&c, res).await.map(|_| ())
    }

    /// `GET /_slm/policy[/{id}]`.
    pub async fn slm_get(&self, id: Option<&str>) -> Result<Vec<SlmPolicyInfo>> {
        let c = ctx(format!("get SLM policy [{}]", id.unwrap_or("*")));
        let list: Vec<&str>;
        let parts = match id {
            Some(i) => {
                list = vec![i];
                SlmGetLifecycleParts::PolicyId(&list)
            }
            None => SlmGetLifecycleParts::None,
        };
        let res = self.es.slm().get_lifecycle(parts).send().await;
        let (_, body) = match self.finish(&c, res).await {
            Err(EsError::Api { status: 404, error_type, .. })
                if id.is_some() && error_type == "resource_not_found_exception" =>
            {
                return Err(EsError::NotFound {
                    what: "SLM policy",
                    name: id.unwrap_or("").into(),
                    detail: String::new(),
                    remedy: None,
                });
            }
            other => other?,
        };
        let map: BTreeMap<String, SlmPolicyInfo> = self.decode(&c, &body)?;
        Ok(map
            .into_iter()
            .map(|(k, mut v)| {
                v.id = k;
                v
            })
            .collect())
    }

    /// `DELETE /_slm/policy/{id}`.
    pub async fn slm_delete(&self, id: &str) -> Result<()> {
        let c = ctx(format!("delete SLM policy [{id}]"));
        let res = self.es.slm().delete_lifecycle(SlmDeleteLifecycleParts::PolicyId(id)).send().await;
        match self.finish(&c, res).await {
            Err(EsError::Api { status: 404, .. }) => {
                Err(EsError::NotFound { what: "SLM policy", name: id.into(), detail: String::new(), remedy: None })
            }
            other => other.map(|_| ()),
        }
    }

    /// `PUT /_slm/policy/{id}/_execute`: takes a snapshot now; returns its name.
    pub async fn slm_execute(&self, id: &str) -> Result<String> {
        let c = ctx(format!("execute SLM policy [{id}]"));
        let res = self.es.slm().execute_lifecycle(SlmExecuteLifecycleParts::PolicyId(id)).send().await;
        let (_, body) = match self.finish(&c, res).await {
            Err(EsError::Api { status: 404, .. }) => {
                return Err(EsError::NotFound {
                    what: "SLM policy",
                    name: id.into(),
                    detail: String::new(),
                    remedy: None,
                });
            }
            other => other?,
        };
        let r: SlmExecuteResponse = self.decode(&c, &body)?;
        Ok(r.snapshot_name)
    }
}

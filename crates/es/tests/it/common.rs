//! Shared helpers of the integration tests.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lifeboat_es::{Clock, ClusterConfig, EsClient, EsManager, RepositorySpec, RetryConfig, Scope, StateStore};
use lifeboat_es_double::{RestSpec, TestCluster, default_spec_root};

/// Our client for a test cluster. The double knows nothing of `lifeboat-es`, so the tests build
/// the client under test themselves.
pub trait ClusterClient {
    /// A client configuration pointing at [`TestCluster::url`].
    fn client_config(&self) -> ClusterConfig;
    /// A client.
    fn client(&self) -> EsClient;
}

impl ClusterClient for TestCluster {
    fn client_config(&self) -> ClusterConfig {
        ClusterConfig::new(&self.url()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn client(&self) -> EsClient {
        EsClient::new(&self.client_config()).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// A manager over `cluster` with a fresh state directory, fast polling and fast retries.
pub fn manager(cluster: &TestCluster, state: &tempfile::TempDir) -> EsManager {
    manager_scoped(cluster, state, Scope::Admin)
}

/// Same, for a scope.
pub fn manager_scoped(cluster: &TestCluster, state: &tempfile::TempDir, scope: Scope) -> EsManager {
    EsManager::new(cluster.client(), StateStore::new(state.path()), scope)
        .with_poll_interval(Duration::from_millis(50))
        .with_retry(RetryConfig {
            attempts: 10,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(400),
        })
        .with_snapshot_timeout(Duration::from_secs(120))
}

/// A clock that always tells the same instant.
#[derive(Debug)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A fixed clock.
pub fn clock_at(t: DateTime<Utc>) -> Arc<dyn Clock> {
    Arc::new(FixedClock(t))
}

/// An `fs` repository spec at the cluster's scratch location.
pub fn fs_repo(cluster: &TestCluster, sub: &str) -> RepositorySpec {
    RepositorySpec::Fs { location: cluster.fs_location(sub), readonly: false, compress: None }
}

/// Checks, with the spec files loaded independently here, that every request the client made is
/// declared (path, method, parameters, body), and that the double/proxy recorded no violation.
pub fn assert_spec_clean(cluster: &TestCluster) {
    let violations = cluster.spec_violations();
    assert!(violations.is_empty(), "[{}] requests outside the REST spec: {violations:#?}", cluster.kind());
    let root = default_spec_root();
    let main = RestSpec::load(root.join("api")).expect("load api/");
    let old = RestSpec::load(root.join("api-8.19")).expect("load api-8.19/");
    let requests = cluster.requests();
    assert!(!requests.is_empty(), "no request was recorded");
    for r in requests {
        for spec in [&main, &old] {
            let m = spec
                .match_request(&r.method, &r.path, &r.query, false)
                .or_else(|_| spec.match_request(&r.method, &r.path, &r.query, true));
            assert!(
                m.is_ok(),
                "[{}] {} {} {:?} is not declared in {}: {:?}",
                cluster.kind(),
                r.method,
                r.path,
                r.query,
                spec.dir.display(),
                m.err()
            );
            if r.api.is_some() {
                assert_eq!(m.map(|m| m.api).ok(), r.api, "the recorded API differs from the spec match");
            }
        }
    }
}

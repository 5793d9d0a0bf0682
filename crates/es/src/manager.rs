//! [`EsManager`]: the high-level API used by the CLI and the daemon. It holds one cluster, one state
//! directory and one scope; its operations are grouped by job in handles (the `ops` module, which builds on this one):
//! `es.repositories()`, `es.snapshots()`, `es.catalog()`, `es.policies()`, `es.slm()` and
//! `es.restores()`, all checked against the caller's [`Scope`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lifeboat_storage::clock::{Clock, SystemClock};

use crate::client::EsClient;
use crate::error::Result;
use crate::model::Scope;
use crate::store::StateStore;

/// How deletes blocked by a running snapshot are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Attempts in total (at least 1).
    pub attempts: u32,
    /// First back-off.
    pub initial_backoff: Duration,
    /// Largest back-off.
    pub max_backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig { attempts: 8, initial_backoff: Duration::from_secs(2), max_backoff: Duration::from_secs(60) }
    }
}

/// The high-level API: one cluster, one state directory, one scope.
#[derive(Clone)]
pub struct EsManager {
    client: EsClient,
    store: StateStore,
    scope: Scope,
    clock: Arc<dyn Clock>,
    retry: RetryConfig,
    poll_interval: Duration,
    snapshot_timeout: Duration,
}

impl std::fmt::Debug for EsManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsManager")
            .field("client", &self.client)
            .field("store", &self.store)
            .field("scope", &self.scope)
            .finish()
    }
}

impl EsManager {
    /// A manager for `scope`.
    pub fn new(client: EsClient, store: StateStore, scope: Scope) -> Self {
        EsManager {
            client,
            store,
            scope,
            clock: Arc::new(SystemClock),
            retry: RetryConfig::default(),
            poll_interval: Duration::from_secs(2),
            snapshot_timeout: Duration::from_secs(6 * 3600),
        }
    }

    /// A manager for a registered tenant (`org/namespace`), or the admin scope when `None`.
    pub async fn for_tenant(client: EsClient, store: StateStore, tenant: Option<&str>) -> Result<Self> {
        let scope = match tenant {
            Some(id) => Scope::Tenant(store.tenant(id).await?),
            None => Scope::Admin,
        };
        Ok(EsManager::new(client, store, scope))
    }

    /// Replaces the clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the delete retry configuration.
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Sets how often running snapshots and restores are polled.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets how long a snapshot may take before waiting for it gives up.
    pub fn with_snapshot_timeout(mut self, timeout: Duration) -> Self {
        self.snapshot_timeout = timeout;
        self
    }

    /// The current time according to the clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The typed client.
    pub fn client(&self) -> &EsClient {
        &self.client
    }

    /// The state store.
    pub fn store(&self) -> &StateStore {
        &self.store
    }

    /// The scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    pub(crate) fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    pub(crate) fn state_key(&self) -> String {
        self.scope.state_key()
    }

    pub(crate) fn retry(&self) -> RetryConfig {
        self.retry
    }

    pub(crate) fn snapshot_timeout(&self) -> Duration {
        self.snapshot_timeout
    }
}

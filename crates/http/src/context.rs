//! What every handler and layer shares: the service, the metrics and the options.

use std::time::Duration;

use lifeboat_ops::service::Service;

use crate::metrics::Metrics;

/// How the API behaves; [`Default`] is what lifeboatd uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiOptions {
    /// The longest a request may take before it is answered `unavailable` (503).
    pub request_timeout: Duration,
    /// The largest request body accepted (a larger one is `payload_too_large`, 413).
    pub body_limit: usize,
    /// How long the gauges of `/metrics` (read from the service's status and repositories)
    /// are reused before they are read again, so that scrapes stay cheap.
    pub metrics_refresh: Duration,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            request_timeout: Duration::from_secs(30),
            body_limit: 64 * 1024,
            metrics_refresh: Duration::from_secs(5),
        }
    }
}

/// The state of the router.
#[derive(Clone)]
pub(crate) struct Context {
    pub(crate) service: Service,
    pub(crate) metrics: Metrics,
    pub(crate) options: ApiOptions,
}

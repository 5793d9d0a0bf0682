//! # lifeboat-http
//!
//! The HTTP API of lifeboatd over a running [`Service`]: JSON under `/api/v1`, bearer tokens
//! with scopes, Prometheus metrics, request ids and access logs, HTTPS with rustls.
//!
//! - [`router`] (or [`router_with`] and [`ApiOptions`]): the axum [`Router`] of every route;
//! - [`serve`]: serves it on a listener, plain HTTP or HTTPS ([`Tls`]), until a shutdown
//!   future completes; [`check_listen`] is the plain-HTTP rule (loopback only unless allowed);
//! - [`tokens`]: the API's tokens (kept hashed in the state database);
//! - [`metrics`]: what `/metrics` exports;
//! - [`error`]: the JSON error answers and their stable codes.
//! - the dashboard at `/`: an embedded page, stylesheet and script (no framework, nothing
//!   fetched from elsewhere, a strict Content-Security-Policy) that shows the API's data to a
//!   browser signed in with a token.
//!
//! ## Routes
//!
//! | method and path | scope | answer |
//! | --- | --- | --- |
//! | `GET /healthz` | none | 200 `{"status":"ok"}` while the process runs |
//! | `GET /readyz` | none | 200 when the state database answers, else 503 |
//! | `GET /api/v1/status` (also `GET /api/status`) | read | overall health and each plan's last success, age against its RPO, next run, running job |
//! | `GET /api/v1/plans` | read | `{"plans": [...]}` as configured |
//! | `GET /api/v1/plans/{name}` | read | the plan with its `status` |
//! | `POST /api/v1/plans/{name}/run` | operate | queues a job: body empty or `{"kind": "backup"\|"verify"\|"prune"\|"copy"}`; 202 with the job, `Location: /api/v1/jobs/{id}` |
//! | `GET /api/v1/jobs?plan=&state=&kind=&limit=&before=` | read | a page of jobs, newest first, and `next_before` |
//! | `GET /api/v1/jobs/{id}` | read | the job |
//! | `GET /api/v1/jobs/{id}/log` | read | its kept log lines |
//! | `POST /api/v1/jobs/{id}/cancel` | operate | the job after the request (409 when it had ended) |
//! | `GET /api/v1/backups?plan=` | read | `{"backups": [...]}` from the repositories |
//! | `GET /api/v1/repositories` | read | `{"repositories": [...]}`: reachable, locks, size, last verify |
//! | `POST /api/v1/reload` | admin | re-reads the configuration file; an invalid one is refused (400), the old kept |
//! | `GET /api/v1/alerts?state=&plan=&limit=` | read | `{"alerts": [...]}`, newest first; `state` firing, acknowledged, resolved, open (firing or acknowledged) or all (default); `limit` 1 to 1000, default 100 |
//! | `GET /api/v1/alerts/{id}` | read | one alert (`A17`); 404 if unknown |
//! | `POST /api/v1/alerts/{id}/acknowledge` | operate | body `{"comment": "...", "until": "RFC 3339"}` (both optional): the alert, acknowledged by `token:<name>` (audited); 404 unknown, 409 resolved already |
//! | `GET /api/v1/audit?since=&limit=` | admin | `{"entries": [...]}`: the audit log, oldest first (`since` RFC 3339, `limit` 1 to 10000, default 100); admin because it says who did what to which backups |
//! | `GET /metrics` | metrics (or read) | Prometheus metrics ([`metrics`]) |
//! | `POST /api/v1/plans/{name}/drill` | operate | queues a restore drill of the plan (audited as `drill_run`); 202 with the job, `Location: /api/v1/jobs/{id}` |
//! | `GET /api/v1/drills?plan=&scenario=&limit=` | read | `{"drills": [...]}`: the kept drill and recovery reports, newest first, each summarised (passed, RTO and RPO with their objectives, the backup, scratch targets removed, `report_url`); `limit` 1 to 1000, default 100 |
//! | `GET /api/v1/drills/{id}` | read | the whole report (JSON); 404 if unknown |
//! | `GET /api/v1/drills/{id}/report.md` | read | the report as a Markdown page (`text/markdown`) |
//! | `GET /api/v1/dr/assess` | read | whether every plan could be recovered now: `status` (healthy, degraded, at_risk), `reasons`, `recommendations` |
//! | `GET /api/v1/whoami` | read | the calling token's `name` and `scopes` (the dashboard disables what it may not do) |
//! | `GET /` and `GET /assets/{name}` | none | the dashboard: an embedded page, script and stylesheet (they hold no data; the script asks the API with the token typed into its login form) |
//!
//! Scopes nest: admin ⊇ operate ⊇ read ⊇ metrics. Every route but `/healthz` and `/readyz`
//! answers 401 (`WWW-Authenticate: Bearer`) without a valid `Authorization: Bearer lbt_...`
//! and 403 with too little scope. Errors are `{"error": {"code", "message", "request_id"}}`
//! ([`error`]): an unknown path 404, a wrong method 405, bad JSON, a wrong type, an unknown
//! field, a bad query parameter or a bad job id 400, a body over 64 KiB 413, a request over
//! 30 s 503; a panic in a handler (a bug) is a 500 in the same shape, never a dropped
//! connection. Every answer carries `x-request-id` (the client's, when it sent a sane one);
//! every request is logged at info level under the target `lifeboat_http::access` with its
//! method, path (never the query), route, status, latency, the token's name (never the
//! token) and the peer.
//!
//! ## Example
//!
//! `examples/serve.rs` runs the API on a temporary state with one plan and prints a token:
//!
//! ```text
//! cargo run -p lifeboat-http --example serve
//! ```
//!
//! ```no_run
//! use lifeboat_http::{Tls, check_listen, router, serve};
//! # async fn demo(service: lifeboat_ops::service::Service) -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
//! let tls: Option<Tls> = None;
//! check_listen(listener.local_addr()?, tls.is_some(), false)?;
//! serve(listener, router(service), tls, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

mod alerts;
mod audit;
mod auth;
mod context;
mod dashboard;
mod drills;
pub mod error;
mod extract;
mod layers;
pub mod metrics;
mod notifications;
mod routes;
mod serve;
pub mod tokens;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use lifeboat_ops::service::Service;
use lifeboat_ops::state::Scope;
use tower_http::catch_panic::CatchPanicLayer;

pub use context::ApiOptions;
pub use error::{ApiError, ErrorCode, HttpError, HttpErrorKind};
pub use layers::REQUEST_ID;
pub use serve::{Tls, check_listen, is_loopback, serve};

use context::Context;
use metrics::Metrics;

/// The API's router over `service`, with [`ApiOptions::default`]. Must be called inside a
/// tokio runtime (it starts the task that feeds the metrics from the service's events).
pub fn router(service: Service) -> Router {
    router_with(service, ApiOptions::default())
}

/// [`router`] with options.
pub fn router_with(service: Service, options: ApiOptions) -> Router {
    let metrics = Metrics::start(service.clone(), options.metrics_refresh);
    let context = Context { service, metrics, options };
    let scoped = |routes: Router<Context>, scope: Scope| {
        routes.route_layer(from_fn_with_state((context.clone(), scope), auth::authorize))
    };
    let read = Router::new()
        .route("/api/v1/status", get(routes::status))
        .route("/api/status", get(routes::status))
        .route("/api/v1/plans", get(routes::plans))
        .route("/api/v1/plans/{name}", get(routes::plan))
        .route("/api/v1/jobs", get(routes::jobs))
        .route("/api/v1/jobs/{id}", get(routes::job))
        .route("/api/v1/jobs/{id}/log", get(routes::job_log))
        .route("/api/v1/backups", get(routes::backups))
        .route("/api/v1/alerts", get(alerts::alerts))
        .route("/api/v1/alerts/{id}", get(alerts::alert))
        .route("/api/v1/repositories", get(routes::repositories))
        .route("/api/v1/drills", get(drills::drills))
        .route("/api/v1/drills/{id}", get(drills::drill))
        .route("/api/v1/drills/{id}/report.md", get(drills::report_markdown))
        .route("/api/v1/dr/assess", get(drills::assess))
        .route("/api/v1/whoami", get(dashboard::whoami));
    let operate = Router::new()
        .route("/api/v1/plans/{name}/run", post(routes::run))
        .route("/api/v1/plans/{name}/drill", post(drills::run))
        .route("/api/v1/alerts/{id}/acknowledge", post(alerts::acknowledge))
        .route("/api/v1/jobs/{id}/cancel", post(routes::cancel));
    let admin = Router::new()
        .route("/api/v1/reload", post(routes::reload))
        .route("/api/v1/audit", get(audit::audit))
        .route("/api/v1/notifications/test", post(notifications::test));
    let scrape = Router::new().route("/metrics", get(routes::metrics));
    let open = Router::new().route("/healthz", get(routes::healthz)).route("/readyz", get(routes::readyz));
    let page = Router::new().route("/", get(dashboard::index)).route("/assets/{name}", get(dashboard::asset));
    let body_limit = context.options.body_limit;
    Router::new()
        .merge(scoped(read, Scope::Read))
        .merge(scoped(operate, Scope::Operate))
        .merge(scoped(admin, Scope::Admin))
        .merge(scoped(scrape, Scope::Metrics))
        .merge(open)
        .merge(page)
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        // Innermost first: the body limits, the timeout, the panic catcher, then request
        // ids and the access log around everything.
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn_with_state(context.clone(), layers::limit_declared_body))
        .layer(from_fn_with_state(context.clone(), layers::timeout))
        .layer(CatchPanicLayer::custom(layers::panic_answer))
        .layer(from_fn_with_state(context.clone(), layers::observe))
        .with_state(context)
}

//! `GET /api/v1/audit?since=&limit=`: the audit log's entries, oldest first (scope admin:
//! the log says who did what to which backups, which a read token need not see).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use lifeboat_ops::service::ServiceError;
use serde::Deserialize;

use crate::context::Context;
use crate::error::ApiError;
use crate::extract::ApiQuery;

/// The most entries one request returns.
pub const MAX_AUDIT_LIMIT: u32 = 10_000;

/// The query of `GET /api/v1/audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// Entries at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// At most this many, the newest (default 100).
    limit: Option<u32>,
}

/// `GET /api/v1/audit?since=&limit=`: `{"entries": [AuditEntry...]}`, oldest first.
pub(crate) async fn audit(
    State(context): State<Context>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_AUDIT_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!("limit must be between 1 and {MAX_AUDIT_LIMIT}, not {limit}")));
    }
    let entries = context
        .service
        .state()
        .audit_entries(query.since, Some(limit))
        .await
        .map_err(|e| ApiError::from(ServiceError::from(e)))?;
    Ok(Json(serde_json::json!({ "entries": entries })).into_response())
}

/// Appends an entry for an API request by the token named `caller` (`token:<name>`); never
/// fails the request.
pub(crate) async fn record(
    context: &Context,
    caller: Option<&str>,
    operation: &str,
    target: Option<String>,
    parameters: serde_json::Value,
    result: String,
) {
    let record = lifeboat_ops::audit::AuditRecord {
        actor: lifeboat_ops::audit::token_actor(caller.unwrap_or("unknown")),
        operation: operation.to_owned(),
        target,
        parameters,
        result,
    };
    lifeboat_ops::audit::record_at(context.service.state(), record, context.service.clock().now()).await;
}

//! The alerts' routes: `GET /api/v1/alerts?state=&plan=&limit=` and `GET /api/v1/alerts/{id}`
//! (scope read), `POST /api/v1/alerts/{id}/acknowledge` (scope operate; the service records
//! it in the audit log with the token as the actor).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use lifeboat_ops::alerts::{AlertFilter, AlertStateFilter};
use serde::Deserialize;

use crate::auth::Caller;
use crate::context::Context;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery, OptionalJson};

/// The query of `GET /api/v1/alerts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertsQuery {
    /// firing, acknowledged, resolved, open (firing or acknowledged), all (the default).
    state: Option<AlertStateFilter>,
    /// Only this plan's.
    plan: Option<String>,
    /// At most this many, the newest (default 100, at most 1000).
    limit: Option<u32>,
}

/// `GET /api/v1/alerts`: `{"alerts": [Alert...]}`, newest first.
pub(crate) async fn alerts(
    State(context): State<Context>,
    ApiQuery(query): ApiQuery<AlertsQuery>,
) -> Result<Response, ApiError> {
    if let Some(limit) = query.limit
        && !(1..=AlertFilter::MAX_LIMIT).contains(&limit)
    {
        return Err(ApiError::invalid(format!("limit must be between 1 and {}, not {limit}", AlertFilter::MAX_LIMIT)));
    }
    let filter = AlertFilter { state: query.state, plan: query.plan, limit: query.limit };
    let alerts = context.service.alerts(filter).await?;
    Ok(Json(serde_json::json!({ "alerts": alerts })).into_response())
}

/// `GET /api/v1/alerts/{id}`: one alert.
pub(crate) async fn alert(State(context): State<Context>, ApiPath(id): ApiPath<String>) -> Result<Response, ApiError> {
    Ok(Json(context.service.alert(&id).await?).into_response())
}

/// The body of `POST /api/v1/alerts/{id}/acknowledge` (both optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcknowledgeRequest {
    /// Why, for the people who see it next.
    comment: Option<String>,
    /// Until when (RFC 3339); past it, a condition that still holds fires again.
    until: Option<DateTime<Utc>>,
}

/// `POST /api/v1/alerts/{id}/acknowledge`: the alert as acknowledged (404 unknown, 409
/// resolved already).
pub(crate) async fn acknowledge(
    State(context): State<Context>,
    caller: Option<axum::Extension<Caller>>,
    ApiPath(id): ApiPath<String>,
    OptionalJson(body): OptionalJson<AcknowledgeRequest>,
) -> Result<Response, ApiError> {
    let body = body.unwrap_or_default();
    let name = caller.map(|c| c.0.0.name.clone()).unwrap_or_else(|| "unknown".to_owned());
    let by = lifeboat_ops::audit::token_actor(&name);
    let alert = context.service.acknowledge(&id, &by, body.comment, body.until).await?;
    Ok(Json(alert).into_response())
}

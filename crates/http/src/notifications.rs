//! `POST /api/v1/notifications/test` (scope admin): sends a test message through every
//! notification channel of the running configuration, or through `{"channel": "NAME"}` only,
//! and answers `{"results": [{"channel", "kind", "ok", "error"}...]}` (200 even when a channel
//! failed: each result says so, with the channel's exact error, never a secret). An unknown
//! channel is one failed result naming the channels there are. The test is audited
//! (`notification_test`, the token as the actor).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use lifeboat_ops::audit::{AuditRecord, record, token_actor};
use serde::Deserialize;

use crate::auth::Caller;
use crate::context::Context;
use crate::error::ApiError;
use crate::extract::OptionalJson;

/// The body of `POST /api/v1/notifications/test` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestRequest {
    /// Only this channel.
    channel: Option<String>,
}

/// `POST /api/v1/notifications/test`.
pub(crate) async fn test(
    State(context): State<Context>,
    caller: Option<axum::Extension<Caller>>,
    OptionalJson(body): OptionalJson<TestRequest>,
) -> Result<Response, ApiError> {
    let only = body.unwrap_or_default().channel;
    let config = context.service.config();
    let results = lifeboat_ops::notifications::test_channels(&config, only.as_deref()).await;
    let failed: Vec<&str> = results.iter().filter(|r| !r.ok).map(|r| r.channel.as_str()).collect();
    let name = caller.map(|c| c.0.0.name.clone()).unwrap_or_else(|| "unknown".to_owned());
    let audit = AuditRecord {
        actor: token_actor(&name),
        operation: "notification_test".into(),
        target: only.clone(),
        parameters: serde_json::json!({ "channels": results.iter().map(|r| &r.channel).collect::<Vec<_>>() }),
        result: if failed.is_empty() { "ok".into() } else { format!("error: failed: {}", failed.join(", ")) },
    };
    record(context.service.state(), audit).await;
    Ok(Json(serde_json::json!({ "results": results })).into_response())
}

//! The disaster-recovery routes: the kept drill reports (`GET /api/v1/drills?plan=&scenario=&limit=`,
//! `GET /api/v1/drills/{id}`, `GET /api/v1/drills/{id}/report.md`) and the assessment
//! (`GET /api/v1/dr/assess`), scope read; a drill run now (`POST /api/v1/plans/{name}/drill`),
//! scope operate, audited as `drill_run`.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use lifeboat_ops::dr::DrillReport;
use lifeboat_ops::state::{DrillFilter, DrillRecord, Trigger};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::context::Context;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};

/// The most reports one `GET /api/v1/drills` answers with.
const MAX_LIMIT: u32 = 1000;

/// The query of `GET /api/v1/drills`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DrillsQuery {
    /// Only this plan's.
    plan: Option<String>,
    /// Only this scenario's.
    scenario: Option<String>,
    /// At most this many, the newest (default 100, at most 1000).
    limit: Option<u32>,
}

/// One report in the list: its summary, the objectives it was held to, and where to read
/// the whole of it.
#[derive(Debug, Serialize)]
struct DrillListed {
    id: String,
    kind: String,
    plan: Option<String>,
    scenario: Option<String>,
    started: DateTime<Utc>,
    finished: DateTime<Utc>,
    passed: bool,
    rto_seconds: f64,
    rto_objective_seconds: Option<i64>,
    rpo_seconds: Option<i64>,
    largest_gap_seconds: Option<i64>,
    rpo_objective_seconds: Option<i64>,
    objectives_met: Option<bool>,
    failure: Option<String>,
    /// The backup restored.
    backup: Option<String>,
    /// The scratch targets made, and how many of them were removed.
    scratch_targets: usize,
    scratch_cleaned: usize,
    /// `/api/v1/drills/{id}/report.md`.
    report_url: String,
}

impl DrillListed {
    fn of(record: DrillRecord) -> DrillListed {
        let report = &record.report;
        let number = |path: &[&str]| path.iter().fold(report, |v, key| &v[*key]).as_i64();
        let scratch = report["scratch"].as_array().map(Vec::as_slice).unwrap_or_default();
        DrillListed {
            rto_objective_seconds: number(&["rto", "objective_seconds"]),
            rpo_objective_seconds: number(&["rpo", "objective_seconds"]),
            backup: report["rpo"]["backup"].as_str().map(str::to_owned),
            scratch_targets: scratch.len(),
            scratch_cleaned: scratch.iter().filter(|s| s["cleaned"].as_bool() == Some(true)).count(),
            report_url: format!("/api/v1/drills/{}/report.md", record.id),
            id: record.id,
            kind: record.kind,
            plan: record.plan,
            scenario: record.scenario,
            started: record.started,
            finished: record.finished,
            passed: record.passed,
            rto_seconds: record.rto_seconds,
            rpo_seconds: record.rpo_seconds,
            largest_gap_seconds: record.largest_gap_seconds,
            objectives_met: record.objectives_met,
            failure: record.failure,
        }
    }
}

/// `GET /api/v1/drills`: `{"drills": [...]}`, newest first.
pub(crate) async fn drills(
    State(context): State<Context>,
    ApiQuery(query): ApiQuery<DrillsQuery>,
) -> Result<Response, ApiError> {
    if let Some(limit) = query.limit
        && !(1..=MAX_LIMIT).contains(&limit)
    {
        return Err(ApiError::invalid(format!("limit must be between 1 and {MAX_LIMIT}, not {limit}")));
    }
    let filter = DrillFilter { plan: query.plan, scenario: query.scenario, limit: query.limit };
    let drills: Vec<DrillListed> = context.service.drills(filter).await?.into_iter().map(DrillListed::of).collect();
    Ok(Json(serde_json::json!({ "drills": drills })).into_response())
}

/// `GET /api/v1/drills/{id}`: the whole report as kept (JSON).
pub(crate) async fn drill(State(context): State<Context>, ApiPath(id): ApiPath<String>) -> Result<Response, ApiError> {
    Ok(Json(context.service.drill(&id).await?.report).into_response())
}

/// `GET /api/v1/drills/{id}/report.md`: the report as a readable Markdown page.
pub(crate) async fn report_markdown(
    State(context): State<Context>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let record = context.service.drill(&id).await?;
    let report: DrillReport = serde_json::from_value(record.report)
        .map_err(|e| ApiError::internal(format!("the kept report {} cannot be read: {e}", record.id)))?;
    let headers = [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")];
    Ok((headers, report.to_markdown()).into_response())
}

/// `GET /api/v1/dr/assess`: could every plan be recovered now.
pub(crate) async fn assess(State(context): State<Context>) -> Result<Response, ApiError> {
    Ok(Json(context.service.assess().await?).into_response())
}

/// `POST /api/v1/plans/{name}/drill`: queues a restore drill of the plan; 202 with the job
/// and its `Location` (its report is in `/api/v1/drills` when the job has ended).
pub(crate) async fn run(
    State(context): State<Context>,
    caller: Option<axum::Extension<Caller>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    let by = caller.map(|c| c.0.0.name.clone());
    let queued = context.service.run_drill(&name, Trigger::Api, by.clone()).await;
    let parameters = serde_json::json!({ "job": queued.as_ref().ok().map(|id| id.0) });
    let result = lifeboat_ops::audit::result_text(&queued);
    crate::audit::record(&context, by.as_deref(), "drill_run", Some(name.clone()), parameters, result).await;
    crate::routes::accepted(&context, queued?).await
}

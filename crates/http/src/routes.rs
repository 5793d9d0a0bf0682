//! The handlers of the API's routes, each a thin call of the service.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lifeboat_ops::service::{PlanStatus, PlanSummary, SchedulerState};
use lifeboat_ops::state::{JobFilter, JobId, JobKind, JobState, Trigger};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::context::Context;
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiPath, ApiQuery, OptionalJson};
use crate::metrics::{OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE};

type ApiResult<T> = Result<T, ApiError>;

/// `GET /healthz`: the process answers.
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: the state database answers within two seconds and the scheduler loop is
/// alive (or was never asked to run).
pub(crate) async fn readyz(State(context): State<Context>) -> ApiResult<Json<serde_json::Value>> {
    let scheduler = context.service.scheduler();
    if matches!(scheduler, SchedulerState::Stalled | SchedulerState::Stopped) {
        let state = serde_json::to_value(scheduler).unwrap_or_default();
        return Err(ApiError::new(
            ErrorCode::Unavailable,
            format!("not ready: the scheduler is {}", state.as_str().unwrap_or("?")),
        ));
    }
    let check = context.service.state().call(|s| s.schema_version());
    match tokio::time::timeout(std::time::Duration::from_secs(2), check).await {
        Ok(Ok(_)) => Ok(Json(serde_json::json!({"status": "ready", "scheduler": scheduler}))),
        Ok(Err(e)) => Err(ApiError::new(ErrorCode::Unavailable, format!("not ready: {e}"))),
        Err(_) => Err(ApiError::new(ErrorCode::Unavailable, "not ready: the state database did not answer in 2 s")),
    }
}

/// `GET /api/v1/status` (and `/api/status`).
pub(crate) async fn status(State(context): State<Context>) -> ApiResult<Response> {
    Ok(Json(context.service.status().await?).into_response())
}

#[derive(Serialize)]
struct Plans {
    plans: Vec<PlanSummary>,
}

/// `GET /api/v1/plans`.
pub(crate) async fn plans(State(context): State<Context>) -> Response {
    Json(Plans { plans: context.service.plans() }).into_response()
}

#[derive(Serialize)]
struct PlanDetail {
    #[serde(flatten)]
    plan: PlanSummary,
    status: Option<PlanStatus>,
}

/// `GET /api/v1/plans/{name}`: the plan as configured, with its status.
pub(crate) async fn plan(State(context): State<Context>, ApiPath(name): ApiPath<String>) -> ApiResult<Response> {
    let plan = find_plan(&context, &name)?;
    let status = context.service.status().await?.plans.into_iter().find(|p| p.plan == name);
    Ok(Json(PlanDetail { plan, status }).into_response())
}

fn find_plan(context: &Context, name: &str) -> ApiResult<PlanSummary> {
    let origin = "the configuration";
    context
        .service
        .plans()
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no plan {name:?} in {origin}")))
}

/// What `POST /api/v1/plans/{name}/run` may run.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RunKind {
    Backup,
    Verify,
    Prune,
    Copy,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunRequest {
    #[serde(default)]
    kind: Option<RunKind>,
}

/// `POST /api/v1/plans/{name}/run`: queues a job (a backup unless the body says otherwise);
/// 202 with the job and its `Location`.
pub(crate) async fn run(
    State(context): State<Context>,
    caller: Option<axum::Extension<Caller>>,
    ApiPath(name): ApiPath<String>,
    OptionalJson(body): OptionalJson<RunRequest>,
) -> ApiResult<Response> {
    let kind = match body.and_then(|b| b.kind).unwrap_or(RunKind::Backup) {
        RunKind::Backup => JobKind::Backup,
        RunKind::Verify => JobKind::Verify,
        RunKind::Prune => JobKind::Prune,
        RunKind::Copy => JobKind::Copy,
    };
    let by = caller.map(|c| c.0.0.name.clone());
    let queued = context.service.run_now(&name, kind, Trigger::Api, by.clone()).await;
    let parameters = serde_json::json!({ "kind": kind, "job": queued.as_ref().ok().map(|id| id.0) });
    let result = lifeboat_ops::audit::result_text(&queued);
    crate::audit::record(&context, by.as_deref(), "job_run", Some(name.clone()), parameters, result).await;
    accepted(&context, queued?).await
}

/// 202 with queued job `id` and its `Location`.
pub(crate) async fn accepted(context: &Context, id: JobId) -> ApiResult<Response> {
    let job = context
        .service
        .job(id)
        .await?
        .ok_or_else(|| ApiError::internal(format!("job {id} was queued but cannot be read back")))?;
    let mut response = (StatusCode::ACCEPTED, Json(job)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/jobs/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The query of `GET /api/v1/jobs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobsQuery {
    plan: Option<String>,
    state: Option<JobState>,
    kind: Option<JobKind>,
    limit: Option<u32>,
    before: Option<i64>,
}

/// `GET /api/v1/jobs?plan=&state=&kind=&limit=&before=`: a page, newest first.
pub(crate) async fn jobs(State(context): State<Context>, ApiQuery(query): ApiQuery<JobsQuery>) -> ApiResult<Response> {
    if let Some(limit) = query.limit
        && !(1..=JobFilter::MAX_LIMIT).contains(&limit)
    {
        return Err(ApiError::invalid(format!("limit must be between 1 and {}, not {limit}", JobFilter::MAX_LIMIT)));
    }
    let before = query.before.map(job_id).transpose()?;
    let filter = JobFilter { plan: query.plan, state: query.state, kind: query.kind, limit: query.limit, before };
    Ok(Json(context.service.jobs(filter).await?).into_response())
}

fn job_id(n: i64) -> ApiResult<JobId> {
    if n < 1 {
        return Err(ApiError::invalid(format!("a job id is a positive integer, not {n}")));
    }
    Ok(JobId(n))
}

fn parse_job_id(text: &str) -> ApiResult<JobId> {
    let shown: String = text.chars().take(32).collect();
    text.parse::<i64>()
        .map_err(|_| ApiError::invalid(format!("a job id is a positive integer, not {shown:?}")))
        .and_then(job_id)
}

/// `GET /api/v1/jobs/{id}`.
pub(crate) async fn job(State(context): State<Context>, ApiPath(id): ApiPath<String>) -> ApiResult<Response> {
    let id = parse_job_id(&id)?;
    let job = context.service.job(id).await?.ok_or_else(|| ApiError::not_found(format!("no job {id}")))?;
    Ok(Json(job).into_response())
}

/// `GET /api/v1/jobs/{id}/log`.
pub(crate) async fn job_log(State(context): State<Context>, ApiPath(id): ApiPath<String>) -> ApiResult<Response> {
    let id = parse_job_id(&id)?;
    if context.service.job(id).await?.is_none() {
        return Err(ApiError::not_found(format!("no job {id}")));
    }
    Ok(Json(context.service.job_log(id).await?).into_response())
}

/// `POST /api/v1/jobs/{id}/cancel`: the job as it is after the request.
pub(crate) async fn cancel(
    State(context): State<Context>,
    caller: Option<axum::Extension<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let id = parse_job_id(&id)?;
    let by = caller.map(|c| c.0.0.name.clone());
    let cancelled = context.service.cancel(id, by.clone()).await;
    let result = lifeboat_ops::audit::result_text(&cancelled);
    let parameters = serde_json::json!({ "job": id.0 });
    crate::audit::record(&context, by.as_deref(), "job_cancel", Some(id.to_string()), parameters, result).await;
    Ok(Json(cancelled?).into_response())
}

/// The query of `GET /api/v1/backups`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackupsQuery {
    plan: Option<String>,
}

/// `GET /api/v1/backups?plan=`.
pub(crate) async fn backups(
    State(context): State<Context>,
    ApiQuery(query): ApiQuery<BackupsQuery>,
) -> ApiResult<Response> {
    if let Some(plan) = &query.plan {
        find_plan(&context, plan)?;
    }
    let backups = context.service.backups(query.plan.as_deref()).await?;
    Ok(Json(serde_json::json!({ "backups": backups })).into_response())
}

/// `GET /api/v1/repositories`.
pub(crate) async fn repositories(State(context): State<Context>) -> ApiResult<Response> {
    let repositories = context.service.repositories().await?;
    Ok(Json(serde_json::json!({ "repositories": repositories })).into_response())
}

/// `POST /api/v1/reload`: re-reads the configuration file; an invalid one is refused (400)
/// and the old one kept.
pub(crate) async fn reload(
    State(context): State<Context>,
    caller: Option<axum::Extension<Caller>>,
) -> ApiResult<Response> {
    let by = caller.map(|c| c.0.0.name.clone()).unwrap_or_default();
    let reloaded = context.service.reload_from_file().await;
    let result = lifeboat_ops::audit::result_text(&reloaded);
    crate::audit::record(&context, Some(&by), "config_reload", None, serde_json::json!({}), result).await;
    let report = reloaded?;
    tracing::info!(target: "lifeboat_http", token = %by, ?report, "configuration reloaded through the API");
    Ok(Json(report).into_response())
}

/// `GET /metrics`: OpenMetrics when asked for, else the Prometheus text format.
pub(crate) async fn metrics(State(context): State<Context>, request: Request) -> Response {
    let openmetrics = request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let body = context.metrics.render(openmetrics).await;
    let content_type = if openmetrics { OPENMETRICS_CONTENT_TYPE } else { PROMETHEUS_TEXT_CONTENT_TYPE };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Any path the API does not have.
pub(crate) async fn not_found(request: Request) -> ApiError {
    let path: String = request.uri().path().chars().take(200).collect();
    ApiError::not_found(format!("no such path: {path}"))
}

/// A path the API has, with a method it does not take.
pub(crate) async fn method_not_allowed(request: Request) -> ApiError {
    let path: String = request.uri().path().chars().take(200).collect();
    ApiError::new(ErrorCode::MethodNotAllowed, format!("{} is not allowed on {path}", request.method()))
}

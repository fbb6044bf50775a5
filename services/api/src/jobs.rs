//! `/api/v0/jobs`: estimate, submit, list, get, events, logs (paged, or followed as
//! `text/event-stream`), cancel, artifacts and their downloads. Thin: each handler turns its
//! path, query and body into the `grid` tool's arguments and calls `canopy-jobs`, which asks the
//! policy, reads, decides and answers the body; its refusals keep their codes
//! (`INVALID_REQUEST` naming the field, `NOT_FOUND` for another tenant's job too, `CONFLICT`,
//! `ARTIFACT_NOT_READY`, `INSUFFICIENT_FUNDS`, `MAINTENANCE_ACTIVE`).

use crate::openapi::{
    BadRequest, Conflict, Forbidden, IdempotencyKey, InternalError, NotFound, PaymentRequired, ServiceUnavailable,
};
use crate::principal::Principal;
use crate::{error::ApiError, input, ApiState};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use canopy_api_types::jobs::{
    ArtifactDownloadView, ArtifactsView, CancelJobRequest, CancelledJobView, EstimateJobRequest, EstimateView,
    JobEventsView, JobListView, JobLogsView, JobView, SubmitJobRequest,
};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use utoipa::IntoParams;

/// `{id}` in `/api/v0/jobs/{id}/...`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct JobIdParam {
    /// The job's id (`job_...`).
    id: String,
}

/// `{artifact_id}` in `/api/v0/jobs/{id}/artifacts/{artifact_id}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ArtifactIdParam {
    /// The artifact's id (`art_...`).
    artifact_id: String,
}

/// `list_jobs`' query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListJobsQuery {
    /// 1 to 100 (default 20).
    limit: Option<String>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
    /// Only jobs with this status (free-form: an unknown status lists nothing).
    status: Option<String>,
}

/// `get_job_logs`' query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// 1 to 1000 (default 100).
    limit: Option<String>,
    /// The previous page's `next_cursor`: entries after it.
    cursor: Option<String>,
    /// `true`: answer `text/event-stream`, one `log` event per line as it is stored (from
    /// `cursor`), then an `end` event when the job has ended.
    follow: Option<String>,
}

/// The query's present values as tool arguments.
fn arguments(pairs: &[(&str, &Option<String>)]) -> Map<String, Value> {
    pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), Value::String(v.clone())))).collect()
}

/// Estimate a job
///
/// Jungle Grid's `estimate_job`: the classification, the route and capacity source the router
/// would pick for a submit now, the estimated cost range (its upper bound is what a submit
/// holds), availability and the tenant's queue ahead. Creates nothing; not a reservation.
#[utoipa::path(
    post,
    path = "/api/v0/jobs/estimate",
    tag = "jobs",
    operation_id = "estimate_job",
    request_body = EstimateJobRequest,
    responses(
        (status = 200, description = "The estimate.", body = EstimateView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn estimate(
    State(state): State<ApiState>,
    principal: Principal,
    body: Result<input::Json<Value>, ApiError>,
) -> Result<Json<EstimateView>, ApiError> {
    let input::Json(arguments) = body?;
    Ok(Json(state.jobs.estimate_job(&principal.caller(), &arguments).await?))
}

/// Submit a job
///
/// Jungle Grid's `submit_job` (aliases accepted). Holds the estimate's upper bound on the
/// tenant's credits and queues the job; it may start compute and incur charges. With an
/// `Idempotency-Key` (or the body's `idempotency_key`), a retried submit answers the job the
/// first one created instead of queueing another; the same key with another body is 409.
#[utoipa::path(
    post,
    path = "/api/v0/jobs",
    tag = "jobs",
    operation_id = "submit_job",
    params(IdempotencyKey),
    request_body = SubmitJobRequest,
    responses(
        (status = 201, description = "Queued.", body = JobView),
        (status = 400, response = BadRequest),
        (status = 402, response = PaymentRequired),
        (status = 403, response = Forbidden),
        (status = 404, description = "`JOB_INPUT_NOT_FOUND`: an input id the tenant does not have.", body = canopy_api_types::ErrorEnvelope),
        (status = 409, description = "`JOB_INPUT_NOT_READY`: an input whose upload is not completed; `CONFLICT`: the idempotency key was used with another request.", body = canopy_api_types::ErrorEnvelope),
        (status = 500, response = InternalError),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn submit(
    State(state): State<ApiState>,
    principal: Principal,
    headers: axum::http::HeaderMap,
    body: Result<input::Json<Value>, ApiError>,
) -> Result<Response, ApiError> {
    let input::Json(mut arguments) = body?;
    if let (Some(key), Value::Object(map)) = (headers.get("idempotency-key"), &mut arguments) {
        let key = key.to_str().map_err(|_| ApiError::invalid("Idempotency-Key must be printable ASCII"))?;
        map.insert("idempotency_key".into(), Value::String(key.to_string()));
    }
    let job = state.jobs.submit_job(&principal.caller(), &arguments).await?;
    Ok((StatusCode::CREATED, Json(job)).into_response())
}

/// List jobs
#[utoipa::path(
    get,
    path = "/api/v0/jobs",
    tag = "jobs",
    operation_id = "list_jobs",
    params(ListJobsQuery),
    responses(
        (status = 200, description = "The tenant's jobs, newest first.", body = JobListView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn list(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<input::Query<ListJobsQuery>, ApiError>,
) -> Result<Json<JobListView>, ApiError> {
    let input::Query(q) = query?;
    let args = arguments(&[("limit", &q.limit), ("cursor", &q.cursor), ("status", &q.status)]);
    Ok(Json(state.jobs.list_jobs(&principal.caller(), &Value::Object(args)).await?))
}

/// Get a job
#[utoipa::path(
    get,
    path = "/api/v0/jobs/{id}",
    tag = "jobs",
    operation_id = "get_job",
    params(JobIdParam),
    responses(
        (status = 200, description = "Status, phases, scheduling, provider, failure, inputs, artifact contract, costs.", body = JobView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
    ),
)]
pub async fn get(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(id): input::Path<String>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(state.jobs.get_job(&principal.caller(), &json!({"job_id": id})).await?))
}

/// A job's lifecycle events
#[utoipa::path(
    get,
    path = "/api/v0/jobs/{id}/events",
    tag = "jobs",
    operation_id = "get_job_events",
    params(JobIdParam),
    responses(
        (status = 200, description = "Queueing, routing, claims, phases, start, failures, cancellation, oldest first.", body = JobEventsView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
    ),
)]
pub async fn events(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(id): input::Path<String>,
) -> Result<Json<JobEventsView>, ApiError> {
    Ok(Json(state.jobs.get_job_events(&principal.caller(), &json!({"job_id": id})).await?))
}

/// A job's logs, paged or followed
///
/// Stored lines after `cursor`. With `follow=true` the answer is `text/event-stream`: one
/// `log` event per line (its `id` is the entry id, its data the entry's JSON) as the job prints
/// it, then an `end` event once the job has ended and every line was sent (or after
/// `jobs.follow_max_secs`).
#[utoipa::path(
    get,
    path = "/api/v0/jobs/{id}/logs",
    tag = "jobs",
    operation_id = "get_job_logs",
    params(JobIdParam, LogsQuery),
    responses(
        (status = 200, description = "A page of log lines; with `follow=true`, a `text/event-stream` of them.",
            content((JobLogsView = "application/json"), (String = "text/event-stream"))),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
    ),
)]
pub async fn logs(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(id): input::Path<String>,
    query: Result<input::Query<LogsQuery>, ApiError>,
) -> Result<Response, ApiError> {
    let input::Query(q) = query?;
    let mut args = arguments(&[("limit", &q.limit), ("cursor", &q.cursor)]);
    args.insert("job_id".into(), Value::String(id.clone()));
    let arguments = Value::Object(args);
    let follow = match q.follow.as_deref() {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(_) => return Err(ApiError::invalid("follow must be true or false")),
    };
    let caller = principal.caller();
    if !follow {
        return Ok(Json(state.jobs.get_job_logs(&caller, &arguments).await?).into_response());
    }
    let lines = state.jobs.follow_job_logs(&caller, &arguments, None).await?;
    let events = lines.map(|entry| {
        Event::default().event("log").id(entry.entry_id.clone()).json_data(&entry).map_err(axum::Error::new)
    });
    let (jobs, end_args) = (state.jobs.clone(), json!({"job_id": id}));
    let end = futures::stream::once(async move {
        let status = jobs.get_job(&caller, &end_args).await.map(|j| j.status).unwrap_or_default();
        Event::default()
            .event("end")
            .json_data(json!({"job_id": end_args["job_id"], "status": status}))
            .map_err(axum::Error::new)
    });
    let mut response = Sse::new(events.chain(end)).keep_alive(KeepAlive::default()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Cancel a job
///
/// A queued job is cancelled at once (its credit hold released); a running one is asked to
/// stop and reports `cancelled` when it has. An ended job is a 409.
#[utoipa::path(
    post,
    path = "/api/v0/jobs/{id}/cancel",
    tag = "jobs",
    operation_id = "cancel_job",
    params(JobIdParam),
    request_body(content = CancelJobRequest, description = "Optional.", content_type = "application/json"),
    responses(
        (status = 200, description = "Cancelled, or cancellation requested.", body = CancelledJobView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 500, response = InternalError),
    ),
)]
pub async fn cancel(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(id): input::Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<CancelledJobView>, ApiError> {
    let mut arguments = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        input::parse_json::<Value>(&body, "request body")?
    };
    let Some(map) = arguments.as_object_mut() else {
        return Err(ApiError::invalid("request body must be a JSON object"));
    };
    map.insert("job_id".into(), Value::String(id));
    Ok(Json(state.jobs.cancel_job(&principal.caller(), &arguments).await?))
}

/// A job's artifacts
#[utoipa::path(
    get,
    path = "/api/v0/jobs/{id}/artifacts",
    tag = "jobs",
    operation_id = "list_artifacts",
    params(JobIdParam),
    responses(
        (status = 200, description = "What the job left under /workspace/artifacts/ (empty until it ended), and the expected ones it did not leave.", body = ArtifactsView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
    ),
)]
pub async fn artifacts(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(id): input::Path<String>,
) -> Result<Json<ArtifactsView>, ApiError> {
    Ok(Json(state.jobs.list_artifacts(&principal.caller(), &json!({"job_id": id})).await?))
}

/// An artifact, with a signed download URL
///
/// `download_url` is a short-lived bearer secret for this one object: keep it out of logs.
#[utoipa::path(
    get,
    path = "/api/v0/jobs/{id}/artifacts/{artifact_id}",
    tag = "jobs",
    operation_id = "get_artifact",
    params(JobIdParam, ArtifactIdParam),
    responses(
        (status = 200, description = "The artifact, its signed URL and when the URL expires.", body = ArtifactDownloadView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "`ARTIFACT_NOT_READY`: the job has not ended.", body = canopy_api_types::ErrorEnvelope),
        (status = 500, response = InternalError),
    ),
)]
pub async fn artifact(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path((id, artifact_id)): input::Path<(String, String)>,
) -> Result<Json<ArtifactDownloadView>, ApiError> {
    let arguments = json!({"job_id": id, "artifact_id": artifact_id});
    Ok(Json(state.jobs.get_artifact(&principal.caller(), &arguments).await?))
}

/// Download an artifact
///
/// A `307` redirect to the artifact's signed URL (so the bytes stream from storage, never
/// through the API).
#[utoipa::path(
    get,
    path = "/api/v0/jobs/{id}/artifacts/{artifact_id}/download",
    tag = "jobs",
    operation_id = "download_artifact",
    params(JobIdParam, ArtifactIdParam),
    responses(
        (status = 307, description = "Redirect to the signed download URL (`Location`)."),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "`ARTIFACT_NOT_READY`: the job has not ended.", body = canopy_api_types::ErrorEnvelope),
        (status = 500, response = InternalError),
    ),
)]
pub async fn download(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path((id, artifact_id)): input::Path<(String, String)>,
) -> Result<Response, ApiError> {
    let arguments = json!({"job_id": id, "artifact_id": artifact_id});
    let view = state.jobs.get_artifact(&principal.caller(), &arguments).await?;
    let location = header::HeaderValue::from_str(&view.download_url)
        .map_err(|e| ApiError::internal("the signed URL is not a header value", &e))?;
    let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

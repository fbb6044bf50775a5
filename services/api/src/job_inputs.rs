//! `/api/v0/job-inputs`: create an upload slot, list inputs, complete an upload. Thin handlers
//! over `canopy-jobs` (the `upload_job_input` and `list_job_inputs` tools, and the
//! `complete_url` every slot names).

use crate::jobs::JobIdParam;
use crate::openapi::{BadRequest, Forbidden, InternalError};
use crate::principal::Principal;
use crate::{error::ApiError, input, ApiState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use canopy_api_types::jobs::{
    CompleteJobInputRequest, CreateJobInputRequest, JobInputView, JobInputsView, UploadSlotView,
};
use serde_json::Value;

/// Create an upload slot
///
/// Jungle Grid's `upload_job_input`: a pending input, a signed `PUT` URL for its bytes (a
/// short-lived bearer secret, limited to the tenant's upload size), a token, and the
/// `complete_url` to post `{token, filename, content_type, size_bytes}` to afterwards.
#[utoipa::path(
    post,
    path = "/api/v0/job-inputs",
    tag = "jobs",
    operation_id = "upload_job_input",
    request_body = CreateJobInputRequest,
    responses(
        (status = 201, description = "The slot and where to upload.", body = UploadSlotView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn create(
    State(state): State<ApiState>,
    principal: Principal,
    body: Result<input::Json<Value>, ApiError>,
) -> Result<impl IntoResponse, ApiError> {
    let input::Json(arguments) = body?;
    let slot = state.jobs.upload_job_input(&principal.caller(), &arguments).await?;
    Ok((StatusCode::CREATED, Json(slot)))
}

/// List inputs
#[utoipa::path(
    get,
    path = "/api/v0/job-inputs",
    tag = "jobs",
    operation_id = "list_job_inputs",
    responses(
        (status = 200, description = "The tenant's inputs and scripts, newest first.", body = JobInputsView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn list(State(state): State<ApiState>, principal: Principal) -> Result<Json<JobInputsView>, ApiError> {
    Ok(Json(state.jobs.list_job_inputs(&principal.caller(), &Value::Null).await?))
}

/// Complete an upload
///
/// Checks the slot's token and what storage holds (its size against `size_bytes` and the
/// limit); the input becomes `ready` with its mount path.
#[utoipa::path(
    post,
    path = "/api/v0/job-inputs/{id}/complete",
    tag = "jobs",
    operation_id = "complete_job_input",
    params(JobIdParam),
    request_body = CompleteJobInputRequest,
    responses(
        (status = 200, description = "Ready.", body = JobInputView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, description = "`JOB_INPUT_NOT_FOUND`.", body = canopy_api_types::ErrorEnvelope),
        (status = 409, description = "`JOB_INPUT_NOT_READY` (nothing uploaded yet) or `CONFLICT` (completed with other content).", body = canopy_api_types::ErrorEnvelope),
        (status = 500, response = InternalError),
    ),
)]
pub async fn complete(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(id): input::Path<String>,
    body: Result<input::Json<Value>, ApiError>,
) -> Result<Json<JobInputView>, ApiError> {
    let input::Json(mut arguments) = body?;
    let Some(map) = arguments.as_object_mut() else {
        return Err(ApiError::invalid("request body must be a JSON object"));
    };
    map.insert("input_id".into(), Value::String(id));
    Ok(Json(state.jobs.complete_job_input(&principal.caller(), &arguments).await?))
}

//! Credits and maintenance: `GET /api/v0/credits` (the tenant's own), and the platform
//! operator's `POST /api/v0/tenants/{id}/credits` (grant) and `GET`/`PUT /api/v0/maintenance`
//! (new job submissions refused with `MAINTENANCE_ACTIVE` while it is on). Thin handlers over
//! `canopy-jobs`.

use crate::openapi::{BadRequest, Forbidden, InternalError, NotFound, TenantIdParam};
use crate::principal::Principal;
use crate::{error::ApiError, input, ApiState};
use axum::extract::State;
use axum::Json;
use canopy_api_types::jobs::{CreditsView, GrantCreditsRequest, MaintenanceView, SetMaintenanceRequest};
use serde_json::Value;

/// The tenant's credits
#[utoipa::path(
    get,
    path = "/api/v0/credits",
    tag = "jobs",
    operation_id = "get_credits",
    responses(
        (status = 200, description = "Granted, held by running jobs, spent, available.", body = CreditsView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn get(State(state): State<ApiState>, principal: Principal) -> Result<Json<CreditsView>, ApiError> {
    Ok(Json(state.jobs.credits(&principal.caller()).await?))
}

/// Grant a tenant credits
///
/// The platform operator only.
#[utoipa::path(
    post,
    path = "/api/v0/tenants/{id}/credits",
    tag = "tenants",
    operation_id = "grant_credits",
    params(TenantIdParam),
    request_body = GrantCreditsRequest,
    responses(
        (status = 200, description = "The tenant's credits after the grant.", body = CreditsView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
    ),
)]
pub async fn grant(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(id): input::Path<String>,
    body: Result<input::Json<Value>, ApiError>,
) -> Result<Json<CreditsView>, ApiError> {
    let input::Json(arguments) = body?;
    Ok(Json(state.jobs.grant_credits(&principal.caller(), &id, &arguments).await?))
}

/// Whether maintenance is on
///
/// The platform operator only.
#[utoipa::path(
    get,
    path = "/api/v0/maintenance",
    tag = "tenants",
    operation_id = "get_maintenance",
    responses(
        (status = 200, description = "On (with its message and since when) or off.", body = MaintenanceView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn maintenance(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<MaintenanceView>, ApiError> {
    Ok(Json(state.jobs.maintenance(&principal.caller()).await?))
}

/// Turn maintenance on or off
///
/// The platform operator only. While on, new job submissions are refused with
/// `MAINTENANCE_ACTIVE` (503); queued and running jobs go on.
#[utoipa::path(
    put,
    path = "/api/v0/maintenance",
    tag = "tenants",
    operation_id = "set_maintenance",
    request_body = SetMaintenanceRequest,
    responses(
        (status = 200, description = "The switch as it is now.", body = MaintenanceView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn set_maintenance(
    State(state): State<ApiState>,
    principal: Principal,
    body: Result<input::Json<SetMaintenanceRequest>, ApiError>,
) -> Result<Json<MaintenanceView>, ApiError> {
    let input::Json(request) = body?;
    Ok(Json(state.jobs.set_maintenance(&principal.caller(), request.active, &request.message).await?))
}

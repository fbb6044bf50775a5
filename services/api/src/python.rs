//! `/api/v0/python/environments`: the python built-in's environments for admins and their
//! owners. Reads come from the read models (`rm_python_envs`, `rm_python_sessions`) with the
//! built-in's own ownership rule ([`canopy_readmodels::python_visible`]); destroying calls the
//! built-in's `destroy_environment` tool through the path `tools/invoke` takes, as the caller, so
//! admission, policy, limits and audit apply once and a worker that has the environment removes
//! it. Another tenant's environment, or one the caller may not see, is `NOT_FOUND`.

use crate::openapi::{BadRequest, Conflict, Forbidden, InternalError, NotFound, TooManyRequests, UpstreamError};
use crate::principal::Principal;
use crate::{error::ApiError, input, ApiState};
use axum::extract::State;
use axum::{Extension, Json};
use canopy_admission::{Ask, Method, Payload};
use canopy_api_types::python::{DestroyedPythonEnvView, PythonEnvView, PythonSessionView};
use canopy_api_types::ErrorCode;
use canopy_limits::Limiter;
use canopy_policy::{Action, Target};
use canopy_readmodels::{PythonEnvRow, PythonSessionRow};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use utoipa::IntoParams;

/// The python built-in's server name.
const PYTHON: &str = "python";

/// `{id}` in `/api/v0/python/environments/{id}/...`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct EnvIdParam {
    /// The environment's id (`env_...`).
    id: String,
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("python environment '{id}' not found"))
}

/// Whether `principal` may see what `owner` created: the built-in's rule, for this caller.
fn visible(principal: &Principal, owner: &str) -> bool {
    canopy_readmodels::python_visible(owner, principal.subject(), principal.identity.manages_tenant())
}

/// The python server, as a target the caller must be able to discover (an MCP client whose
/// allow list leaves python out sees no environment).
fn require_python(principal: &Principal, not_found: impl FnOnce() -> ApiError) -> Result<(), ApiError> {
    principal.require(Action::Discover, Target::server(PYTHON), not_found)
}

/// The environment `id` of the caller's tenant, active or destroyed, if the caller may see it.
async fn find(state: &ApiState, principal: &Principal, id: &str) -> Result<PythonEnvRow, ApiError> {
    require_python(principal, || not_found(id))?;
    let row = canopy_readmodels::get_python_env(state.pool(), &principal.tenant, id).await?;
    row.filter(|r| visible(principal, &r.owner)).ok_or_else(|| not_found(id))
}

/// The tenant's REPL sessions and processes the caller may see, by environment.
async fn sessions(
    state: &ApiState,
    principal: &Principal,
) -> Result<BTreeMap<String, Vec<PythonSessionRow>>, ApiError> {
    let mut by_env: BTreeMap<String, Vec<PythonSessionRow>> = BTreeMap::new();
    for kind in ["repl", "process"] {
        for row in canopy_readmodels::list_python_sessions(state.pool(), &principal.tenant, kind).await? {
            if visible(principal, &row.owner) {
                by_env.entry(row.env_id.clone()).or_default().push(row);
            }
        }
    }
    for rows in by_env.values_mut() {
        rows.sort_by(|a, b| (a.started_at, &a.session_id).cmp(&(b.started_at, &b.session_id)));
    }
    Ok(by_env)
}

/// List python environments
///
/// The tenant's active environments the caller may see (its own; an owner or admin sees every
/// one), each with its REPL sessions and processes: `running`, or `ended` with the reason.
#[utoipa::path(
    get,
    path = "/api/v0/python/environments",
    tag = "python",
    operation_id = "list_python_environments",
    responses(
        (status = 200, description = "The environments, oldest first.", body = [PythonEnvView]),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn list(State(state): State<ApiState>, principal: Principal) -> Result<Json<Vec<PythonEnvView>>, ApiError> {
    if require_python(&principal, || ApiError::not_found("not found")).is_err() {
        return Ok(Json(Vec::new()));
    }
    let rows = canopy_readmodels::list_python_envs(state.pool(), &principal.tenant).await?;
    let mut sessions = sessions(&state, &principal).await?;
    let views = rows
        .iter()
        .filter(|r| visible(&principal, &r.owner))
        .map(|r| view(r, sessions.remove(&r.env_id).unwrap_or_default()))
        .collect();
    Ok(Json(views))
}

/// Get one python environment
///
/// Active or destroyed, with its REPL sessions and processes.
#[utoipa::path(
    get,
    path = "/api/v0/python/environments/{id}",
    tag = "python",
    operation_id = "get_python_environment",
    params(EnvIdParam),
    responses(
        (status = 200, description = "The environment.", body = PythonEnvView),
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
) -> Result<Json<PythonEnvView>, ApiError> {
    let row = find(&state, &principal, &id).await?;
    let mut sessions = sessions(&state, &principal).await?;
    Ok(Json(view(&row, sessions.remove(&row.env_id).unwrap_or_default())))
}

/// Get a python environment's frozen specification
///
/// What re-creates it (its Python version and packages), as last recorded.
#[utoipa::path(
    get,
    path = "/api/v0/python/environments/{id}/freeze",
    tag = "python",
    operation_id = "freeze_python_environment",
    params(EnvIdParam),
    responses(
        (status = 200, description = "The frozen specification.", body = BTreeMap<String, Value>),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
    ),
)]
pub async fn freeze(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(id): input::Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(find(&state, &principal, &id).await?.frozen))
}

/// Destroy a python environment
///
/// Calls the python built-in's `destroy_environment` as the caller (admitted, limited and
/// audited as that tool call is): the worker that has the environment removes it, its REPL
/// sessions and processes end (`environment_destroyed`). An environment already destroyed is a
/// 409.
#[utoipa::path(
    delete,
    path = "/api/v0/python/environments/{id}",
    tag = "python",
    operation_id = "destroy_python_environment",
    params(EnvIdParam),
    responses(
        (status = 200, description = "Destroyed.", body = DestroyedPythonEnvView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalError),
        (status = 502, response = UpstreamError),
    ),
)]
pub async fn destroy(
    State(state): State<ApiState>,
    principal: Principal,
    limiter: Option<Extension<Limiter>>,
    input::Path(id): input::Path<String>,
) -> Result<Json<DestroyedPythonEnvView>, ApiError> {
    let row = find(&state, &principal, &id).await?;
    if !row.is_active() {
        return Err(ApiError::conflict(format!("python environment '{id}' is already destroyed")));
    }
    let name = canopy_mcp::names::prefixed(PYTHON, "destroy_environment");
    let arguments = json!({"env_id": id}).as_object().cloned().unwrap_or_default();
    let ask = Ask { method: Method::CallTool, name: &name };
    let digest = || Some(canopy_mcp::call::object_sha256(Some(&arguments)));
    let admitted = crate::upstream::admit(&state, &principal, limiter.as_ref(), ask, digest, || not_found(&id)).await?;
    let result = crate::upstream::request(&state, admitted, Payload::Arguments(Some(arguments)), &name).await?;
    let envelope = envelope(&result);
    if result["isError"].as_bool() == Some(true) || envelope["success"] != true {
        let message = envelope["error"].as_str().unwrap_or("the python built-in refused").to_string();
        return Err(if message.contains("no such environment") {
            not_found(&id)
        } else {
            ApiError::new(ErrorCode::UpstreamError, format!("{name} failed: {message}"))
        });
    }
    Ok(Json(DestroyedPythonEnvView { id, destroyed: true }))
}

/// The python built-in's answer envelope (`{"success", "data", "error"}`), the text of a
/// `CallToolResult`'s first content block.
fn envelope(result: &Value) -> Value {
    result["content"][0]["text"].as_str().and_then(|t| serde_json::from_str(t).ok()).unwrap_or(Value::Null)
}

fn view(row: &PythonEnvRow, sessions: Vec<PythonSessionRow>) -> PythonEnvView {
    PythonEnvView {
        id: row.env_id.clone(),
        name: row.name.clone(),
        owner: row.owner.clone(),
        python_version: row.python_version.clone(),
        allow_egress: row.allow_egress,
        status: row.status.clone(),
        created_at: row.created_at.to_rfc3339(),
        updated_at: row.updated_at.to_rfc3339(),
        sessions: sessions.iter().map(session_view).collect(),
    }
}

fn session_view(row: &PythonSessionRow) -> PythonSessionView {
    PythonSessionView {
        id: row.session_id.clone(),
        kind: row.kind.clone(),
        name: row.name.clone(),
        owner: row.owner.clone(),
        script_path: row.script_path.clone(),
        state: row.status.clone(),
        ended_reason: row.ended_reason.clone(),
        started_at: row.started_at.to_rfc3339(),
        ended_at: row.ended_at.map(|t| t.to_rfc3339()),
    }
}

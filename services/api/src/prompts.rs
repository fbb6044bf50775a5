//! `/api/v0/prompts`, `/api/v0/prompt`, `/api/v0/prompts/render`: MCPJungle's prompt routes.

use crate::error::ApiError;
use crate::input;
use crate::openapi::{BadRequest, Forbidden, InternalError, NotFound, TooManyRequests, UpstreamError, UpstreamTimeout};
use crate::principal::Principal;
use crate::ApiState;
use axum::extract::State;
use axum::{Extension, Json};
use canopy_admission::{Ask, Method, Payload};
use canopy_api_types::{PromptView, RenderPromptRequest};
use canopy_limits::Limiter;
use canopy_mcp::names;
use canopy_policy::{Action, Target};
use canopy_readmodels::PromptRow;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this server's prompts.
    server: Option<String>,
}

/// List prompts
///
/// Every prompt of every server the caller may see (an MCP client: what its allow list
/// admits), disabled ones included (see `enabled`).
#[utoipa::path(
    get,
    path = "/api/v0/prompts",
    tag = "prompts",
    operation_id = "list_prompts",
    params(ListQuery),
    responses(
        (status = 200, description = "The prompts.", body = [PromptView]),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
    ),
)]
pub async fn list(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<input::Query<ListQuery>, ApiError>,
) -> Result<Json<Vec<PromptView>>, ApiError> {
    let input::Query(query) = query?;
    let mut rows = canopy_readmodels::list_prompts(state.pool(), &principal.tenant, query.server.as_deref()).await?;
    principal.retain(&mut rows, |r| Target::prompt(&r.server_name, &r.prompt_name));
    crate::servers::require_filter(&state, &principal, query.server.as_deref(), !rows.is_empty()).await?;
    Ok(Json(rows.iter().map(view).collect()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    /// `server__prompt`
    name: String,
}

/// Get one prompt
#[utoipa::path(
    get,
    path = "/api/v0/prompt",
    tag = "prompts",
    operation_id = "get_prompt",
    params(GetQuery),
    responses(
        (status = 200, description = "The prompt.", body = PromptView),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
    ),
)]
pub async fn get(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<input::Query<GetQuery>, ApiError>,
) -> Result<Json<PromptView>, ApiError> {
    let input::Query(query) = query?;
    Ok(Json(view(&find(&state, &principal, Action::Discover, &query.name).await?)))
}

/// The prompt named `server__prompt`, if `principal` may do `action` to it; a prompt it may not
/// see gets the very answer of an unknown one.
async fn find(state: &ApiState, principal: &Principal, action: Action, name: &str) -> Result<PromptRow, ApiError> {
    let (server, prompt) = names::split(name)
        .ok_or_else(|| ApiError::invalid(format!("prompt name '{name}' must be of the form server__prompt")))?;
    let not_found = || ApiError::not_found(format!("prompt '{name}' not found"));
    principal.require(action, Target::prompt(server, prompt), not_found)?;
    let rows = canopy_readmodels::list_prompts(state.pool(), &principal.tenant, Some(server)).await?;
    rows.into_iter().find(|r| r.prompt_name == prompt).ok_or_else(not_found)
}

/// Render a prompt with arguments
///
/// Goes through the same path as MCP `prompts/get`; a disabled prompt is refused. The answer
/// is the MCP `GetPromptResult` (`description`, `messages`). Counts against the same rate limits
/// as MCP calls (429 `RATE_LIMITED` with `Retry-After` when over one).
#[utoipa::path(
    post,
    path = "/api/v0/prompts/render",
    tag = "prompts",
    operation_id = "render_prompt",
    request_body = RenderPromptRequest,
    responses(
        (status = 200, description = "The MCP `GetPromptResult`.", body = BTreeMap<String, Value>),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalError),
        (status = 502, response = UpstreamError),
        (status = 504, response = UpstreamTimeout),
    ),
)]
pub async fn render(
    State(state): State<ApiState>,
    principal: Principal,
    limiter: Option<Extension<Limiter>>,
    body: Result<input::Json<RenderPromptRequest>, ApiError>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let input::Json(request) = body?;
    let arguments: Option<serde_json::Map<String, serde_json::Value>> =
        request.arguments.map(|a| a.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect());
    let name = request.name.as_str();
    if names::split(name).is_none() {
        return Err(ApiError::invalid(format!("prompt name '{name}' must be of the form server__prompt")));
    }
    let ask = Ask { method: Method::GetPrompt, name };
    let digest = || Some(canopy_mcp::call::object_sha256(arguments.as_ref()));
    let not_found = || ApiError::not_found(format!("prompt '{name}' not found"));
    let admitted = crate::upstream::admit(&state, &principal, limiter.as_ref(), ask, digest, not_found).await?;
    crate::upstream::request(&state, admitted, Payload::Arguments(arguments), name).await.map(Json)
}

fn view(row: &PromptRow) -> PromptView {
    let d = &row.definition;
    PromptView {
        name: names::prefixed(&row.server_name, &row.prompt_name),
        enabled: row.enabled,
        description: d.get("description").and_then(|v| v.as_str()).map(str::to_string),
        title: d.get("title").and_then(|v| v.as_str()).map(str::to_string),
        arguments: d.get("arguments").cloned().unwrap_or_else(|| serde_json::json!([])),
    }
}

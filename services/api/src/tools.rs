//! `/api/v0/tools`, `/api/v0/tool`, `/api/v0/tools/invoke`: MCPJungle's tool routes. Invoke
//! is admitted as MCP `tools/call` is ([`canopy_admission`]) and goes the same session-worker
//! path; what is not in the catalog or disabled is unknown (MCPJungle's invoke ignores the
//! flag; Canopy's does not).

use crate::error::ApiError;
use crate::input;
use crate::openapi::{BadRequest, Forbidden, InternalError, NotFound, TooManyRequests, UpstreamError, UpstreamTimeout};
use crate::principal::Principal;
use crate::ApiState;
use axum::extract::State;
use axum::{Extension, Json};
use canopy_admission::{Ask, Method, Payload};
use canopy_api_types::{InvokeToolRequest, ToolView};
use canopy_limits::Limiter;
use canopy_mcp::names;
use canopy_policy::{Action, Target};
use canopy_readmodels::ToolRow;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this server's tools.
    server: Option<String>,
}

/// List tools
///
/// Every tool of every server the caller may see (an MCP client: what its allow list admits),
/// disabled ones included (see `enabled`).
#[utoipa::path(
    get,
    path = "/api/v0/tools",
    tag = "tools",
    operation_id = "list_tools",
    params(ListQuery),
    responses(
        (status = 200, description = "The tools.", body = [ToolView]),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
    ),
)]
pub async fn list(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<input::Query<ListQuery>, ApiError>,
) -> Result<Json<Vec<ToolView>>, ApiError> {
    let input::Query(query) = query?;
    let mut rows = canopy_readmodels::list_tools(state.pool(), &principal.tenant, query.server.as_deref()).await?;
    principal.retain(&mut rows, |r| Target::tool(&r.server_name, &r.tool_name));
    crate::servers::require_filter(&state, &principal, query.server.as_deref(), !rows.is_empty()).await?;
    Ok(Json(rows.iter().map(view).collect()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    /// `server__tool`
    name: String,
}

/// Get one tool
#[utoipa::path(
    get,
    path = "/api/v0/tool",
    tag = "tools",
    operation_id = "get_tool",
    params(GetQuery),
    responses(
        (status = 200, description = "The tool.", body = ToolView),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
    ),
)]
pub async fn get(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<input::Query<GetQuery>, ApiError>,
) -> Result<Json<ToolView>, ApiError> {
    let input::Query(query) = query?;
    let row = find(&state, &principal, Action::Discover, &query.name).await?;
    Ok(Json(view(&row)))
}

/// The tool named `server__tool`, if `principal` may do `action` to it; a tool it may not see
/// gets the very answer of an unknown one.
async fn find(state: &ApiState, principal: &Principal, action: Action, name: &str) -> Result<ToolRow, ApiError> {
    let (server, tool) = names::split(name)
        .ok_or_else(|| ApiError::invalid(format!("tool name '{name}' must be of the form server__tool")))?;
    let not_found = || ApiError::not_found(format!("tool '{name}' not found"));
    principal.require(action, Target::tool(server, tool), not_found)?;
    let rows = canopy_readmodels::list_tools(state.pool(), &principal.tenant, Some(server)).await?;
    rows.into_iter().find(|r| r.tool_name == tool).ok_or_else(not_found)
}

/// Invoke a tool
///
/// Goes through the same path as MCP `tools/call`; a disabled tool is refused. The answer is
/// the MCP `CallToolResult` (`content`, `structuredContent`, `isError`); a tool that fails
/// answers 200 with `isError: true`. Counts against the same rate limits as MCP calls (429
/// `RATE_LIMITED` with `Retry-After` when over one).
#[utoipa::path(
    post,
    path = "/api/v0/tools/invoke",
    tag = "tools",
    operation_id = "invoke_tool",
    request_body = InvokeToolRequest,
    responses(
        (status = 200, description = "The MCP `CallToolResult`.", body = BTreeMap<String, Value>),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalError),
        (status = 502, response = UpstreamError),
        (status = 504, response = UpstreamTimeout),
    ),
)]
pub async fn invoke(
    State(state): State<ApiState>,
    principal: Principal,
    limiter: Option<Extension<Limiter>>,
    body: Result<input::Json<serde_json::Map<String, serde_json::Value>>, ApiError>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let input::Json(mut arguments) = body?;
    let name = match arguments.remove("name") {
        Some(serde_json::Value::String(n)) => n,
        _ => return Err(ApiError::invalid("'name' (the tool's server__tool name) is required")),
    };
    if names::split(&name).is_none() {
        return Err(ApiError::invalid(format!("tool name '{name}' must be of the form server__tool")));
    }
    let ask = Ask { method: Method::CallTool, name: &name };
    let digest = || Some(canopy_mcp::call::object_sha256(Some(&arguments)));
    let not_found = || ApiError::not_found(format!("tool '{name}' not found"));
    let admitted = crate::upstream::admit(&state, &principal, limiter.as_ref(), ask, digest, not_found).await?;
    crate::upstream::request(&state, admitted, Payload::Arguments(Some(arguments)), &name).await.map(Json)
}

pub(crate) fn view(row: &ToolRow) -> ToolView {
    let d = &row.definition;
    let text = |k: &str| d.get(k).and_then(|v| v.as_str()).map(str::to_string);
    ToolView {
        name: names::prefixed(&row.server_name, &row.tool_name),
        enabled: row.enabled,
        description: text("description"),
        input_schema: d.get("inputSchema").cloned().unwrap_or_else(|| serde_json::json!({"type": "object"})),
        annotations: d.get("annotations").cloned(),
        title: text("title"),
        output_schema: d.get("outputSchema").cloned(),
    }
}

//! `/api/v0/tools`, `/api/v0/tool`, `/api/v0/tools/invoke`: MCPJungle's tool routes. Invoke
//! goes through the same session-worker path as MCP `tools/call`, and refuses what is not
//! in the catalog or disabled (MCPJungle's invoke ignores the flag; Canopy's does not).

use crate::error::ApiError;
use crate::principal::Principal;
use crate::ApiState;
use axum::extract::{Query, State};
use axum::Json;
use canopy_api_types::{ErrorCode, ToolView};
use canopy_mcp::call::UpstreamOp;
use canopy_mcp::names;
use canopy_readmodels::ToolRow;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    server: Option<String>,
}

pub async fn list(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<ToolView>>, ApiError> {
    let Query(query) = query?;
    if let Some(server) = &query.server {
        if canopy_readmodels::get_server(state.pool(), &principal.tenant, server).await?.is_none() {
            return Err(ApiError::not_found(format!("server '{server}' is not registered")));
        }
    }
    let rows = canopy_readmodels::list_tools(state.pool(), &principal.tenant, query.server.as_deref()).await?;
    Ok(Json(rows.iter().map(view).collect()))
}

#[derive(Debug, Deserialize)]
pub struct GetQuery {
    name: String,
}

pub async fn get(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<Query<GetQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ToolView>, ApiError> {
    let Query(query) = query?;
    let row = find(&state, &principal, &query.name).await?;
    Ok(Json(view(&row)))
}

async fn find(state: &ApiState, principal: &Principal, name: &str) -> Result<ToolRow, ApiError> {
    let (server, tool) = names::split(name)
        .ok_or_else(|| ApiError::invalid(format!("tool name '{name}' must be of the form server__tool")))?;
    let rows = canopy_readmodels::list_tools(state.pool(), &principal.tenant, Some(server)).await?;
    rows.into_iter()
        .find(|r| r.tool_name == tool)
        .ok_or_else(|| ApiError::not_found(format!("tool '{name}' not found")))
}

pub async fn invoke(
    State(state): State<ApiState>,
    principal: Principal,
    body: Result<Json<serde_json::Map<String, serde_json::Value>>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(mut arguments) = body?;
    let name = match arguments.remove("name") {
        Some(serde_json::Value::String(n)) => n,
        _ => return Err(ApiError::invalid("'name' (the tool's server__tool name) is required")),
    };
    let row = find(&state, &principal, &name).await?;
    if !row.enabled {
        return Err(ApiError::new(ErrorCode::Forbidden, format!("tool '{name}' is disabled")));
    }
    let op = UpstreamOp::CallTool { tool: row.tool_name.clone(), arguments: Some(arguments) };
    crate::upstream::request(&state, &principal, &row.server_name, op, &name).await.map(Json)
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

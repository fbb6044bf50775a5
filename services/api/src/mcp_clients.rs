//! `/api/v0/mcp-clients` (enterprise mode): MCPJungle's MCP client identities. A client uses
//! what its allow list admits (`allowed_servers`, `"*"` for all; Canopy adds `allowed_groups`
//! and `allowed_tools`) and manages nothing. Deleting one revokes its token at once.

use crate::identities::{self, identity_name, issue_token, require_enterprise};
use crate::openapi::{BadRequest, ClientNameParam, Conflict, Forbidden, InternalError, NotFound};
use crate::principal::Principal;
use crate::{error::ApiError, input, ApiState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use canopy_api_types::{CreateMcpClientRequest, CreatedMcpClient, McpClientView, UpdateMcpClientRequest};
use canopy_domain::identity::{AllowSpec, McpClient, McpClientCommand};
use canopy_domain::TenantId;
use canopy_readmodels::McpClientRow;

const WHAT: &str = "MCP clients";

fn what(name: &str) -> String {
    format!("MCP client '{name}'")
}

/// Create an MCP client
///
/// MCPJungle's client JSON. Without `access_token`, one is generated and answered once; a token
/// another user or client holds is a 409. Empty allow lists admit nothing.
#[utoipa::path(
    post,
    path = "/api/v0/mcp-clients",
    tag = "mcp-clients",
    operation_id = "create_mcp_client",
    request_body = CreateMcpClientRequest,
    responses(
        (status = 201, description = "Created; `access_token` only when generated.", body = CreatedMcpClient),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 500, response = InternalError),
    ),
)]
pub async fn create(
    State(state): State<ApiState>,
    principal: Principal,
    body: Result<input::Json<CreateMcpClientRequest>, ApiError>,
) -> Result<impl IntoResponse, ApiError> {
    require_enterprise(&state, WHAT)?;
    principal.require_manage_tenant()?;
    let input::Json(request) = body?;
    let name = identity_name("client name", &request.name)?;
    let allow =
        AllowSpec { servers: request.allowed_servers, groups: request.allowed_groups, tools: request.allowed_tools };
    // Checked before a token is issued, so a bad list answers 400 and not "token in use".
    allow.validate().map_err(|e| ApiError::invalid(e.to_string()))?;
    let (digest, token) = issue_token(&state, request.access_token).await?;
    let ctx = principal.context(None, &[]);
    let command =
        McpClientCommand::Create { name: name.clone(), description: request.description, allow, token: digest };
    state
        .executor
        .execute::<McpClient>(&ctx, name.as_str(), &command)
        .await
        .map_err(|e| identities::execute_error(e, &what(name.as_str())))?;
    let client = find(&state, &principal.tenant, name.as_str()).await?;
    Ok((StatusCode::CREATED, Json(CreatedMcpClient { client, access_token: token })))
}

/// List MCP clients
#[utoipa::path(
    get,
    path = "/api/v0/mcp-clients",
    tag = "mcp-clients",
    operation_id = "list_mcp_clients",
    responses(
        (status = 200, description = "Every MCP client of the tenant (never their tokens).", body = [McpClientView]),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn list(State(state): State<ApiState>, principal: Principal) -> Result<Json<Vec<McpClientView>>, ApiError> {
    require_enterprise(&state, WHAT)?;
    principal.require_manage_tenant()?;
    let rows = canopy_readmodels::list_mcp_clients(state.pool(), &principal.tenant).await?;
    Ok(Json(rows.iter().map(view).collect()))
}

/// Replace an MCP client's description and allow lists
///
/// Each list in the body replaces the client's; `name`, if given, must match the URL. The token
/// is not changed. Takes effect on the client's next request.
#[utoipa::path(
    put,
    path = "/api/v0/mcp-clients/{name}",
    tag = "mcp-clients",
    operation_id = "update_mcp_client",
    params(ClientNameParam),
    request_body = UpdateMcpClientRequest,
    responses(
        (status = 200, description = "Updated.", body = McpClientView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 500, response = InternalError),
    ),
)]
pub async fn update(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(name): input::Path<String>,
    body: Result<input::Json<UpdateMcpClientRequest>, ApiError>,
) -> Result<Json<McpClientView>, ApiError> {
    require_enterprise(&state, WHAT)?;
    principal.require_manage_tenant()?;
    let input::Json(request) = body?;
    if !request.name.is_empty() && request.name != name {
        return Err(ApiError::invalid(format!(
            "the body names MCP client '{}', the URL '{name}'; clients cannot be renamed",
            request.name
        )));
    }
    let allow =
        AllowSpec { servers: request.allowed_servers, groups: request.allowed_groups, tools: request.allowed_tools };
    let ctx = principal.context(None, &[]);
    let command = McpClientCommand::Update { description: request.description, allow };
    state
        .executor
        .execute::<McpClient>(&ctx, &name, &command)
        .await
        .map_err(|e| identities::execute_error(e, &what(&name)))?;
    Ok(Json(find(&state, &principal.tenant, &name).await?))
}

/// Delete an MCP client
///
/// Its token stops working at once.
#[utoipa::path(
    delete,
    path = "/api/v0/mcp-clients/{name}",
    tag = "mcp-clients",
    operation_id = "delete_mcp_client",
    params(ClientNameParam),
    responses(
        (status = 204, description = "Deleted; its token is revoked."),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 500, response = InternalError),
    ),
)]
pub async fn delete(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(name): input::Path<String>,
) -> Result<StatusCode, ApiError> {
    require_enterprise(&state, WHAT)?;
    principal.require_manage_tenant()?;
    let ctx = principal.context(None, &[]);
    state
        .executor
        .execute::<McpClient>(&ctx, &name, &McpClientCommand::Delete)
        .await
        .map_err(|e| identities::execute_error(e, &what(&name)))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn find(state: &ApiState, tenant: &TenantId, name: &str) -> Result<McpClientView, ApiError> {
    let clients = canopy_readmodels::list_mcp_clients(state.pool(), tenant).await?;
    clients.iter().find(|c| c.name == name).map(view).ok_or_else(|| identities::not_found(&what(name)))
}

fn view(row: &McpClientRow) -> McpClientView {
    McpClientView {
        name: row.name.clone(),
        description: row.description.clone(),
        allowed_servers: row.allow.servers.clone(),
        allowed_groups: row.allow.groups.clone(),
        allowed_tools: row.allow.tools.clone(),
        created_at: row.created_at.to_rfc3339(),
        updated_at: row.updated_at.to_rfc3339(),
    }
}

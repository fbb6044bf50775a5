//! `/api/v0/groups`: MCPJungle's tool groups (create, list, get, delete), which Canopy can also
//! update in place, with prompts and resources, and `effective-tools` to see what a group
//! holds right now.

use crate::error::{from_execute, ApiError};
use crate::input;
use crate::openapi::{BadRequest, Conflict, Forbidden, GroupNameParam, InternalError, NotFound};
use crate::principal::Principal;
use crate::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use canopy_api_types::{ErrorCode, GroupRequest, GroupView, ToolView};
use canopy_domain::group::{Group, GroupCommand, GroupError, GroupSpec};
use canopy_domain::server::FeatureKind;
use canopy_domain::ServerName;
use canopy_policy::{Action, Target};
use canopy_readmodels::GroupRow;

type Body = Result<input::Json<GroupRequest>, ApiError>;

fn spec(r: GroupRequest) -> GroupSpec {
    GroupSpec {
        description: r.description,
        included_tools: r.included_tools,
        included_servers: r.included_servers,
        excluded_tools: r.excluded_tools,
        included_prompts: r.included_prompts,
        excluded_prompts: r.excluded_prompts,
        included_resources: r.included_resources,
        excluded_resources: r.excluded_resources,
    }
}

fn domain_error(e: GroupError) -> ApiError {
    match e {
        GroupError::AlreadyExists(_) => ApiError::new(ErrorCode::Conflict, e.to_string()),
        GroupError::NotFound => ApiError::not_found(e.to_string()),
        GroupError::InvalidSpec(_) => ApiError::invalid(e.to_string()),
    }
}

/// A change to a group that does not exist answers as a denied name does.
fn unknown_as(name: &str, e: GroupError) -> ApiError {
    match e {
        GroupError::NotFound => group_not_found(name),
        e => domain_error(e),
    }
}

fn group_name(name: &str) -> Result<ServerName, ApiError> {
    ServerName::parse(name.to_string())
        .map_err(|e| ApiError::invalid(e.to_string().replace("server name", "group name")))
}

/// The answer for a group name that is unknown, or that the caller may not see.
fn group_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("group '{name}' does not exist"))
}

/// The group, if the caller may see it.
async fn find(state: &ApiState, principal: &Principal, name: &str) -> Result<GroupRow, ApiError> {
    principal.require(Action::Discover, Target::group(name), || group_not_found(name))?;
    canopy_readmodels::get_group(state.pool(), &principal.tenant, name).await?.ok_or_else(|| group_not_found(name))
}

async fn show(state: &ApiState, principal: &Principal, name: &str) -> Result<GroupView, ApiError> {
    Ok(view(state, &find(state, principal, name).await?))
}

/// Create a group
#[utoipa::path(
    post,
    path = "/api/v0/groups",
    tag = "groups",
    operation_id = "create_group",
    request_body = GroupRequest,
    responses(
        (status = 201, description = "Created.", body = GroupView),
        (status = 400, response = BadRequest),
        (status = 409, response = Conflict),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn create(
    State(state): State<ApiState>,
    principal: Principal,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    principal.require_manage_tenant()?;
    let input::Json(request) = body?;
    let name = group_name(&request.name)?;
    let ctx = principal.context(None, &[]);
    let command = GroupCommand::Create { name: name.clone(), spec: spec(request) };
    state.executor.execute::<Group>(&ctx, name.as_str(), &command).await.map_err(|e| from_execute(e, domain_error))?;
    Ok((StatusCode::CREATED, Json(show(&state, &principal, name.as_str()).await?)))
}

/// Replace a group's rules
///
/// The body replaces every list; `name`, if given, must match the URL (groups cannot be renamed).
#[utoipa::path(
    put,
    path = "/api/v0/groups/{name}",
    tag = "groups",
    operation_id = "update_group",
    params(GroupNameParam),
    request_body = GroupRequest,
    responses(
        (status = 200, description = "Updated.", body = GroupView),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn update(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(name): input::Path<String>,
    body: Body,
) -> Result<Json<GroupView>, ApiError> {
    principal.require(Action::Manage, Target::group(&name), || group_not_found(&name))?;
    let input::Json(request) = body?;
    if !request.name.is_empty() && request.name != name {
        return Err(ApiError::invalid(format!(
            "the body names group '{}', the URL '{name}'; groups cannot be renamed",
            request.name
        )));
    }
    let ctx = principal.context(None, &[]);
    state
        .executor
        .execute::<Group>(&ctx, &name, &GroupCommand::Update { spec: spec(request) })
        .await
        .map_err(|e| from_execute(e, |e| unknown_as(&name, e)))?;
    Ok(Json(show(&state, &principal, &name).await?))
}

/// Delete a group
#[utoipa::path(
    delete,
    path = "/api/v0/groups/{name}",
    tag = "groups",
    operation_id = "delete_group",
    params(GroupNameParam),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn delete(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(name): input::Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Action::Manage, Target::group(&name), || group_not_found(&name))?;
    let ctx = principal.context(None, &[]);
    state
        .executor
        .execute::<Group>(&ctx, &name, &GroupCommand::Delete)
        .await
        .map_err(|e| from_execute(e, |e| unknown_as(&name, e)))?;
    Ok(StatusCode::NO_CONTENT)
}

/// List groups
#[utoipa::path(
    get,
    path = "/api/v0/groups",
    tag = "groups",
    operation_id = "list_groups",
    responses(
        (status = 200, description = "Every group of the tenant.", body = [GroupView]),
        (status = 500, response = InternalError),
    ),
)]
pub async fn list(State(state): State<ApiState>, principal: Principal) -> Result<Json<Vec<GroupView>>, ApiError> {
    let mut rows = canopy_readmodels::list_groups(state.pool(), &principal.tenant).await?;
    principal.retain(&mut rows, |r| Target::group(&r.name));
    Ok(Json(rows.iter().map(|r| view(&state, r)).collect()))
}

/// Get one group
#[utoipa::path(
    get,
    path = "/api/v0/groups/{name}",
    tag = "groups",
    operation_id = "get_group",
    params(GroupNameParam),
    responses(
        (status = 200, description = "The group.", body = GroupView),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
    ),
)]
pub async fn get(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(name): input::Path<String>,
) -> Result<Json<GroupView>, ApiError> {
    Ok(Json(show(&state, &principal, &name).await?))
}

/// List the tools a group's endpoint offers now
///
/// Enabled tools admitted by the group's rule (and that the caller may see): what an MCP
/// client of `/v0/groups/{name}/mcp` sees in `tools/list`.
#[utoipa::path(
    get,
    path = "/api/v0/groups/{name}/effective-tools",
    tag = "groups",
    operation_id = "group_effective_tools",
    params(GroupNameParam),
    responses(
        (status = 200, description = "The tools the group's MCP endpoint offers.", body = [ToolView]),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
    ),
)]
pub async fn effective_tools(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(name): input::Path<String>,
) -> Result<Json<Vec<ToolView>>, ApiError> {
    let row = find(&state, &principal, &name).await?;
    let mut tools = canopy_readmodels::list_tools(state.pool(), &principal.tenant, None).await?;
    tools.retain(|t| t.enabled && row.spec.includes(FeatureKind::Tool, &t.server_name, &t.tool_name));
    // Each member is checked on its own, never the group as a whole.
    principal.retain(&mut tools, |t| Target::tool(&t.server_name, &t.tool_name));
    Ok(Json(tools.iter().map(crate::tools::view).collect()))
}

fn view(state: &ApiState, row: &GroupRow) -> GroupView {
    let s = row.spec.clone();
    GroupView {
        endpoint: format!("{}/v0/groups/{}/mcp", state.public_url, row.name),
        name: row.name.clone(),
        description: s.description,
        included_tools: s.included_tools,
        included_servers: s.included_servers,
        excluded_tools: s.excluded_tools,
        included_prompts: s.included_prompts,
        excluded_prompts: s.excluded_prompts,
        included_resources: s.included_resources,
        excluded_resources: s.excluded_resources,
        created_at: row.created_at.to_rfc3339(),
        updated_at: row.updated_at.to_rfc3339(),
    }
}

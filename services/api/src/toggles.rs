//! Enable/disable, MCPJungle's way: `POST /api/v0/tools/disable?entity=server__tool` (one tool)
//! or `?entity=server` (every tool of the server), the same for prompts and resources, and
//! `POST /api/v0/servers/{name}/disable` for a whole server. Answers with the names affected.
//! Disabled means invisible and uncallable on every path, REST included.

use crate::error::{from_execute, ApiError};
use crate::input;
use crate::openapi::{BadRequest, Conflict, Forbidden, InternalError, NotFound, ServerNameParam};
use crate::principal::Principal;
use crate::ApiState;
use axum::extract::State;
use axum::Json;
use canopy_api_types::ServerView;
use canopy_domain::server::{FeatureKind, Server, ServerCommand, ServerError};
use canopy_mcp::names;
use canopy_policy::{Action, Target};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntityQuery {
    /// One item (`server__name`; `canopy://server/<uri>` for a resource), or a server's name for
    /// all of its items.
    entity: String,
}

type QueryResult = Result<input::Query<EntityQuery>, ApiError>;

/// Enable a tool, or every tool of a server
#[utoipa::path(
    post,
    path = "/api/v0/tools/enable",
    tag = "tools",
    operation_id = "enable_tools",
    params(EntityQuery),
    responses(
        (status = 200, description = "The names affected.", body = [String]),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn enable_tools(s: State<ApiState>, p: Principal, q: QueryResult) -> Result<Json<Vec<String>>, ApiError> {
    toggle(s, p, q, FeatureKind::Tool, true).await
}
/// Disable a tool, or every tool of a server
#[utoipa::path(
    post,
    path = "/api/v0/tools/disable",
    tag = "tools",
    operation_id = "disable_tools",
    params(EntityQuery),
    responses(
        (status = 200, description = "The names affected.", body = [String]),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn disable_tools(s: State<ApiState>, p: Principal, q: QueryResult) -> Result<Json<Vec<String>>, ApiError> {
    toggle(s, p, q, FeatureKind::Tool, false).await
}
/// Enable a prompt, or every prompt of a server
#[utoipa::path(
    post,
    path = "/api/v0/prompts/enable",
    tag = "prompts",
    operation_id = "enable_prompts",
    params(EntityQuery),
    responses(
        (status = 200, description = "The names affected.", body = [String]),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn enable_prompts(s: State<ApiState>, p: Principal, q: QueryResult) -> Result<Json<Vec<String>>, ApiError> {
    toggle(s, p, q, FeatureKind::Prompt, true).await
}
/// Disable a prompt, or every prompt of a server
#[utoipa::path(
    post,
    path = "/api/v0/prompts/disable",
    tag = "prompts",
    operation_id = "disable_prompts",
    params(EntityQuery),
    responses(
        (status = 200, description = "The names affected.", body = [String]),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn disable_prompts(s: State<ApiState>, p: Principal, q: QueryResult) -> Result<Json<Vec<String>>, ApiError> {
    toggle(s, p, q, FeatureKind::Prompt, false).await
}
/// Enable a resource, or every resource of a server
#[utoipa::path(
    post,
    path = "/api/v0/resources/enable",
    tag = "resources",
    operation_id = "enable_resources",
    params(EntityQuery),
    responses(
        (status = 200, description = "The names affected.", body = [String]),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn enable_resources(s: State<ApiState>, p: Principal, q: QueryResult) -> Result<Json<Vec<String>>, ApiError> {
    toggle(s, p, q, FeatureKind::Resource, true).await
}
/// Disable a resource, or every resource of a server
#[utoipa::path(
    post,
    path = "/api/v0/resources/disable",
    tag = "resources",
    operation_id = "disable_resources",
    params(EntityQuery),
    responses(
        (status = 200, description = "The names affected.", body = [String]),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn disable_resources(
    s: State<ApiState>,
    p: Principal,
    q: QueryResult,
) -> Result<Json<Vec<String>>, ApiError> {
    toggle(s, p, q, FeatureKind::Resource, false).await
}

/// `server__name` names one item, `server` all of them; resources use `canopy://server/<uri>`.
fn parse_entity(kind: FeatureKind, entity: &str) -> Result<(String, Option<String>), ApiError> {
    if kind == FeatureKind::Resource {
        if let Some(rest) = entity.strip_prefix("canopy://") {
            let (server, uri) = rest
                .split_once('/')
                .ok_or_else(|| ApiError::invalid(format!("'{entity}' is not canopy://server/<uri>")))?;
            return Ok((server.to_string(), Some(uri.to_string())));
        }
        return Ok((entity.to_string(), None));
    }
    Ok(match names::split(entity) {
        Some((server, name)) => (server.to_string(), Some(name.to_string())),
        None => (entity.to_string(), None),
    })
}

async fn toggle(
    State(state): State<ApiState>,
    principal: Principal,
    query: QueryResult,
    kind: FeatureKind,
    enabled: bool,
) -> Result<Json<Vec<String>>, ApiError> {
    let input::Query(query) = query?;
    let (server, name) = parse_entity(kind, &query.entity)?;
    let target = match (kind, name.as_deref()) {
        (_, None) => Target::server(&server),
        (FeatureKind::Tool, Some(n)) => Target::tool(&server, n),
        (FeatureKind::Prompt, Some(n)) => Target::prompt(&server, n),
        (FeatureKind::Resource, Some(n)) => Target::resource(&server, n),
    };
    // Denied as the domain answers an unknown server or item.
    principal.require(Action::Manage, target, || match &name {
        None => crate::servers::server_not_found(&server),
        Some(n) => crate::servers::domain_error(ServerError::UnknownFeatures { kind, names: vec![n.clone()] }),
    })?;
    let command = ServerCommand::SetFeaturesEnabled { kind, names: name.clone().map(|n| vec![n]), enabled };
    let ctx = principal.context(None, &[]);
    let outcome = state.executor.execute::<Server>(&ctx, &server, &command).await.map_err(|e| {
        from_execute(e, |e| match e {
            ServerError::NotRegistered => crate::servers::server_not_found(&server),
            e => crate::servers::domain_error(e),
        })
    })?;
    let affected: Vec<String> = match name {
        Some(n) => vec![n],
        None => outcome
            .state
            .registered()
            .map(|r| r.catalog.names(kind).into_iter().map(str::to_string).collect())
            .unwrap_or_default(),
    };
    Ok(Json(
        affected
            .into_iter()
            .map(|n| {
                if kind == FeatureKind::Resource {
                    format!("canopy://{server}/{n}")
                } else {
                    names::prefixed(&server, &n)
                }
            })
            .collect(),
    ))
}

/// Enable a whole server
#[utoipa::path(
    post,
    path = "/api/v0/servers/{name}/enable",
    tag = "servers",
    operation_id = "enable_server",
    params(ServerNameParam),
    responses(
        (status = 200, description = "The server, now enabled.", body = ServerView),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn enable_server(
    s: State<ApiState>,
    p: Principal,
    name: input::Path<String>,
) -> Result<Json<canopy_api_types::ServerView>, ApiError> {
    toggle_server(s, p, name, true).await
}
/// Disable a whole server
///
/// Its tools, prompts and resources disappear from every endpoint and are refused by REST.
#[utoipa::path(
    post,
    path = "/api/v0/servers/{name}/disable",
    tag = "servers",
    operation_id = "disable_server",
    params(ServerNameParam),
    responses(
        (status = 200, description = "The server, now disabled.", body = ServerView),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn disable_server(
    s: State<ApiState>,
    p: Principal,
    name: input::Path<String>,
) -> Result<Json<canopy_api_types::ServerView>, ApiError> {
    toggle_server(s, p, name, false).await
}

async fn toggle_server(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(name): input::Path<String>,
    enabled: bool,
) -> Result<Json<canopy_api_types::ServerView>, ApiError> {
    let not_found = || crate::servers::server_not_found(&name);
    principal.require(Action::Manage, Target::server(&name), not_found)?;
    let ctx = principal.context(None, &[]);
    state
        .executor
        .execute::<Server>(&ctx, &name, &ServerCommand::SetServerEnabled { enabled })
        .await
        .map_err(|e| from_execute(e, |_| not_found()))?;
    let row = canopy_readmodels::get_server(state.pool(), &principal.tenant, &name).await?.ok_or_else(not_found)?;
    Ok(Json(crate::servers::view(&row)))
}

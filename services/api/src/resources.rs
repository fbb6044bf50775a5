//! `/api/v0/resources` and `/api/v0/resources/read`: resources and templates of every server,
//! under the same `canopy://server/<uri>` names as on `/mcp`.

use crate::error::ApiError;
use crate::input;
use crate::openapi::{BadRequest, Forbidden, InternalError, NotFound, TooManyRequests, UpstreamError, UpstreamTimeout};
use crate::principal::Principal;
use crate::ApiState;
use axum::extract::State;
use axum::{Extension, Json};
use canopy_admission::{Ask, Method, Payload, Scope};
use canopy_api_types::{ReadResourceRequest, ResourceView};
use canopy_limits::Limiter;
use canopy_policy::Target;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this server's resources (an unknown server has none).
    server: Option<String>,
}

/// List resources and resource templates
///
/// Every resource and template of every server the caller may see (an MCP client: what its
/// allow list admits), disabled ones included (see `enabled`).
#[utoipa::path(
    get,
    path = "/api/v0/resources",
    tag = "resources",
    operation_id = "list_resources",
    params(ListQuery),
    responses(
        (status = 200, description = "The resources and templates.", body = [ResourceView]),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
    ),
)]
pub async fn list(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<input::Query<ListQuery>, ApiError>,
) -> Result<Json<Vec<ResourceView>>, ApiError> {
    let input::Query(query) = query?;
    let mut rows = canopy_readmodels::list_resources(state.pool(), &principal.tenant, query.server.as_deref()).await?;
    principal.retain(&mut rows, |r| match r.is_template {
        true => Target::template(&r.server_name, &r.uri),
        false => Target::resource(&r.server_name, &r.uri),
    });
    crate::servers::require_filter(&state, &principal, query.server.as_deref(), !rows.is_empty()).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| ResourceView {
                uri: format!("canopy://{}/{}", r.server_name, r.uri),
                server: r.server_name,
                is_template: r.is_template,
                enabled: r.enabled,
                definition: r.definition,
            })
            .collect(),
    ))
}

/// Read a resource
///
/// Goes through the same path as MCP `resources/read`; a disabled resource or server is
/// refused. The answer is the MCP `ReadResourceResult` (`contents`). Counts against the same
/// rate limits as MCP calls (429 `RATE_LIMITED` with `Retry-After` when over one).
#[utoipa::path(
    post,
    path = "/api/v0/resources/read",
    tag = "resources",
    operation_id = "read_resource",
    request_body = ReadResourceRequest,
    responses(
        (status = 200, description = "The MCP `ReadResourceResult`.", body = BTreeMap<String, Value>),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalError),
        (status = 502, response = UpstreamError),
        (status = 504, response = UpstreamTimeout),
    ),
)]
pub async fn read(
    State(state): State<ApiState>,
    principal: Principal,
    limiter: Option<Extension<Limiter>>,
    body: Result<input::Json<ReadResourceRequest>, ApiError>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let input::Json(request) = body?;
    let Some((server, _)) = Scope::All.resolve_uri(&request.uri) else {
        return Err(ApiError::invalid(format!("'{}' is not canopy://server/<uri>", request.uri)));
    };
    // Reading is asked of the resource's own URI (templates are only listed), and answered as
    // for an unknown server when refused as unknown.
    let not_found = || crate::servers::server_not_found(server);
    let ask = Ask { method: Method::ReadResource, name: &request.uri };
    let admitted = crate::upstream::admit(&state, &principal, limiter.as_ref(), ask, || None, not_found).await?;
    crate::upstream::request(&state, admitted, Payload::None, &request.uri).await.map(Json)
}

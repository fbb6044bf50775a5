//! `/api/v0/tenants` (enterprise mode): the platform operator's routes. The operator creates a
//! tenant with its first owner (whose token is generated and answered once, or supplied),
//! lists and inspects tenants, and suspends and resumes them (a suspended tenant's users and
//! clients are refused: their tokens find no holder). Everyone else gets 403: tenants are
//! `Manage` (and `Discover`) of `Target::Platform`, which the policy gives the operator alone.
//! The operator sees tenants, never what is inside them: on a tenant's routes its token gets
//! what the policy says there (`NotFound`: empty lists, unknown names).
//!
//! `init-server` (in `users.rs`) creates the first operator through [`create_first_operator`].
//! Operators are aggregates like users (token digest only, `rm_operators`,
//! `migrations/0008_operators.sql`) whose streams live under the reserved tenant id `platform`
//! (`canopy_domain::operator`). A token's digest finds a user, a client or an operator
//! (`canopy_readmodels` `token_holder`); the operator's principal acts in `platform`, where the
//! policy answers `NotFound` for everything of a tenant, never a 403 that confirms one.
//!
//! Creating a tenant runs two commands in one transaction, the tenant's `Create` and its
//! owner's `User::Create` in the new tenant, after the owner's token is checked free. `tenant.suspended` sets
//! `rm_tenants.suspended`: `token_holder` and the edge's warm-up skip that tenant's identities
//! (what each edge does with the events, and why an operator's token is unknown there: the
//! edge's `identities.rs`).

use crate::identities::{self, identity_name, issue_token, require_enterprise};
use crate::openapi::{BadRequest, Conflict, Forbidden, InternalError, NotFound, TenantIdParam};
use crate::principal::Principal;
use crate::{error::ApiError, input, ApiState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use canopy_api_types::{CreateTenantRequest, CreatedTenant, OperatorView, TenantView, UserView};
use canopy_domain::identity::{Role, TokenDigest, User, UserCommand};
use canopy_domain::operator::{Operator, OperatorCommand, FIRST_OPERATOR};
use canopy_domain::tenant::{Tenant, TenantCommand, TenantError};
use canopy_domain::TenantId;
use canopy_eventstore::CommandContext;
use canopy_policy::{Action, Target};
use canopy_readmodels::TenantRow;

const WHAT: &str = "tenants";

/// The longest display name a tenant may have.
const MAX_DISPLAY_NAME: usize = 200;

fn not_found(id: &str) -> ApiError {
    identities::not_found(&format!("tenant '{id}'"))
}

/// Tenants are the platform's: the operator's alone (403 for everyone else).
fn require_operator(principal: &Principal, action: Action) -> Result<(), ApiError> {
    principal.require(action, Target::Platform, || ApiError::forbidden("only the platform operator manages tenants"))
}

/// Create a tenant
///
/// The operator only. Creates the tenant and its first user, an owner; without
/// `owner_access_token` the owner's token is generated and answered once. A token another
/// identity holds is a 409, checked before anything is created.
#[utoipa::path(
    post,
    path = "/api/v0/tenants",
    tag = "tenants",
    operation_id = "create_tenant",
    request_body = CreateTenantRequest,
    responses(
        (status = 201, description = "Created; `owner_access_token` only when generated.", body = CreatedTenant),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 500, response = InternalError),
    ),
)]
pub async fn create(
    State(state): State<ApiState>,
    principal: Principal,
    body: Result<input::Json<CreateTenantRequest>, ApiError>,
) -> Result<impl IntoResponse, ApiError> {
    require_enterprise(&state, WHAT)?;
    require_operator(&principal, Action::Manage)?;
    let input::Json(request) = body?;
    let id = TenantId::parse(request.id.clone()).map_err(|e| ApiError::invalid(e.to_string()))?;
    if id.as_str() == TenantId::PLATFORM {
        return Err(ApiError::invalid(format!("tenant id '{}' is reserved for the platform", id.as_str())));
    }
    let display_name = request.display_name.as_deref().map(str::trim).unwrap_or(id.as_str()).to_string();
    if display_name.is_empty() || display_name.chars().count() > MAX_DISPLAY_NAME {
        return Err(ApiError::invalid(format!("display_name must be 1 to {MAX_DISPLAY_NAME} characters")));
    }
    let owner = identity_name("owner name", &request.owner)?;
    if canopy_readmodels::get_tenant(state.pool(), id.as_str()).await?.is_some() {
        return Err(ApiError::conflict(format!("tenant '{}' already exists", id.as_str())));
    }
    let (digest, token) = issue_token(&state, request.owner_access_token).await?;

    // The tenant and its owner commit together: a tenant is never left without its owner (a
    // process that died between two commits left one, and a retry was refused as a duplicate).
    let ctx = CommandContext::new(id.clone(), principal.subject().to_string());
    let mut tx = state.pool().begin().await?;
    let command = TenantCommand::Create { id: id.clone(), display_name };
    state
        .executor
        .execute_in::<Tenant>(&mut tx, &ctx, id.as_str(), &command, None)
        .await
        .map_err(|e| tenant_error(e, id.as_str()))?;
    let command = UserCommand::Create { name: owner.clone(), role: Role::Owner, token: digest };
    state
        .executor
        .execute_in::<User>(&mut tx, &ctx, owner.as_str(), &command, None)
        .await
        .map_err(|e| identities::execute_error(e, &format!("user '{owner}'")))?;
    tx.commit().await?;

    let tenant = find(&state, id.as_str()).await?;
    let users = canopy_readmodels::list_users(state.pool(), &id).await?;
    let owner = users
        .iter()
        .find(|u| u.name == owner.as_str())
        .map(|u| UserView {
            name: u.name.clone(),
            role: u.role.clone(),
            created_at: u.created_at.to_rfc3339(),
            updated_at: u.updated_at.to_rfc3339(),
        })
        .ok_or_else(|| identities::not_found(&format!("user '{owner}'")))?;
    Ok((StatusCode::CREATED, Json(CreatedTenant { tenant, owner, owner_access_token: token })))
}

/// List tenants
///
/// The operator only: every tenant, `default` included, with its status (never anything inside).
#[utoipa::path(
    get,
    path = "/api/v0/tenants",
    tag = "tenants",
    operation_id = "list_tenants",
    responses(
        (status = 200, description = "Every tenant, by id.", body = [TenantView]),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn list(State(state): State<ApiState>, principal: Principal) -> Result<Json<Vec<TenantView>>, ApiError> {
    require_enterprise(&state, WHAT)?;
    require_operator(&principal, Action::Discover)?;
    let rows = canopy_readmodels::list_tenants(state.pool()).await?;
    Ok(Json(rows.iter().map(view).collect()))
}

/// Get a tenant
#[utoipa::path(
    get,
    path = "/api/v0/tenants/{id}",
    tag = "tenants",
    operation_id = "get_tenant",
    params(TenantIdParam),
    responses(
        (status = 200, description = "The tenant.", body = TenantView),
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
) -> Result<Json<TenantView>, ApiError> {
    require_enterprise(&state, WHAT)?;
    require_operator(&principal, Action::Discover)?;
    Ok(Json(find(&state, &id).await?))
}

/// Suspend a tenant
///
/// The operator only. Every token of the tenant's users and MCP clients is refused from now on,
/// on the REST API and the MCP endpoints; nothing of the tenant is deleted. Suspending a
/// suspended tenant changes nothing.
#[utoipa::path(
    post,
    path = "/api/v0/tenants/{id}/suspend",
    tag = "tenants",
    operation_id = "suspend_tenant",
    params(TenantIdParam),
    responses(
        (status = 200, description = "Suspended.", body = TenantView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 500, response = InternalError),
    ),
)]
pub async fn suspend(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(id): input::Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    change(state, principal, id, TenantCommand::Suspend).await
}

/// Resume a suspended tenant
///
/// The operator only. Its users' and clients' tokens work again.
#[utoipa::path(
    post,
    path = "/api/v0/tenants/{id}/resume",
    tag = "tenants",
    operation_id = "resume_tenant",
    params(TenantIdParam),
    responses(
        (status = 200, description = "Active again.", body = TenantView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 500, response = InternalError),
    ),
)]
pub async fn resume(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(id): input::Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    change(state, principal, id, TenantCommand::Resume).await
}

async fn change(
    state: ApiState,
    principal: Principal,
    id: String,
    command: TenantCommand,
) -> Result<Json<TenantView>, ApiError> {
    require_enterprise(&state, WHAT)?;
    require_operator(&principal, Action::Manage)?;
    // An id that cannot be a tenant's is one that does not exist.
    let tenant = TenantId::parse(id.clone()).map_err(|_| not_found(&id))?;
    if canopy_readmodels::get_tenant(state.pool(), tenant.as_str()).await?.is_none() {
        return Err(not_found(&id));
    }
    let ctx = CommandContext::new(tenant.clone(), principal.subject().to_string());
    state.executor.execute::<Tenant>(&ctx, tenant.as_str(), &command).await.map_err(|e| tenant_error(e, &id))?;
    Ok(Json(find(&state, &id).await?))
}

/// `init-server`'s second half: the first platform operator, whose token `digest` stands for.
/// Its stream is under the reserved platform id; a second initialization is refused by the
/// stream already existing.
pub(crate) async fn create_first_operator(state: &ApiState, digest: TokenDigest) -> Result<OperatorView, ApiError> {
    let name = identity_name("operator name", FIRST_OPERATOR)?;
    let ctx = CommandContext::new(TenantId::platform(), "system:init-server");
    let command = OperatorCommand::Create { name, token: digest };
    state
        .executor
        .execute::<Operator>(&ctx, FIRST_OPERATOR, &command)
        .await
        .map_err(|e| identities::execute_error(e, &format!("operator '{FIRST_OPERATOR}'")))?;
    let operators = canopy_readmodels::list_operators(state.pool()).await?;
    operators
        .iter()
        .find(|o| o.name == FIRST_OPERATOR)
        .map(|o| OperatorView { name: o.name.clone(), created_at: o.created_at.to_rfc3339() })
        .ok_or_else(|| identities::not_found(&format!("operator '{FIRST_OPERATOR}'")))
}

/// Whether any operator exists (`init-server` has run).
pub(crate) async fn any_operator(state: &ApiState) -> Result<bool, ApiError> {
    Ok(!canopy_readmodels::list_operators(state.pool()).await?.is_empty())
}

async fn find(state: &ApiState, id: &str) -> Result<TenantView, ApiError> {
    let row = canopy_readmodels::get_tenant(state.pool(), id).await?;
    row.as_ref().map(view).ok_or_else(|| not_found(id))
}

fn tenant_error(e: canopy_eventstore::ExecuteError<TenantError>, id: &str) -> ApiError {
    crate::error::from_execute(e, |e| match e {
        TenantError::AlreadyExists(_) => ApiError::conflict(format!("tenant '{id}' already exists")),
        TenantError::NotFound => not_found(id),
        e @ (TenantError::EmptyName
        | TenantError::Reserved(_)
        | TenantError::NoIdentityProvider
        | TenantError::InvalidIdentityProvider(_)) => ApiError::invalid(e.to_string()),
    })
}

fn view(row: &TenantRow) -> TenantView {
    TenantView {
        id: row.tenant_id.clone(),
        display_name: row.display_name.clone(),
        status: if row.suspended { "suspended" } else { "active" }.to_string(),
        created_at: row.created_at.to_rfc3339(),
        updated_at: row.updated_at.to_rfc3339(),
    }
}

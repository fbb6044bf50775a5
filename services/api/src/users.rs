//! `/api/v0/init-server` and `/api/v0/users` (enterprise mode): MCPJungle's bootstrap and user
//! accounts. `init-server` works once, while the default tenant has no user and no operator
//! exists: it creates the owner `admin` and the first platform operator (`tenants.rs`) and
//! answers both tokens. Owners and admins then create and remove users and change their roles;
//! only an owner creates, removes, makes or unmakes an owner, and a tenant's last owner stays one
//! (the user aggregate decides that, `canopy_domain::identity`). A role change takes effect on the
//! user's next request, OAuth-issued tokens included (the role is read live, never from a token).

use crate::identities::{self, identity_name, issue_token, require_enterprise};
use crate::openapi::{BadRequest, Conflict, Forbidden, InternalError, NotFound, UserNameParam};
use crate::principal::Principal;
use crate::tenants;
use crate::{error::ApiError, input, ApiState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use canopy_api_types::{CreateUserRequest, CreatedUser, InitializedServer, UpdateUserRequest, UserView};
use canopy_domain::identity::{Role, User, UserCommand};
use canopy_domain::TenantId;
use canopy_eventstore::{CommandContext, ExecuteError};
use canopy_readmodels::UserRow;

/// The owner `init-server` creates.
pub const INITIAL_ADMIN: &str = "admin";

/// The class of the transaction-scoped advisory locks (`pg_advisory_xact_lock(class,
/// hashtext(tenant))`) that take a tenant's owner-changing decisions one at a time ("ownr").
const OWNER_LOCKS: i32 = 0x6f77_6e72;
/// Times a decision is tried again when another writer of the user's stream got there first.
const OWNER_TRIES: usize = 5;

/// Decides `command(other_owners)` on user `name` and records it, with the count of the tenant's
/// other owners read in the same transaction, under the tenant's owner lock: a demotion and a
/// deletion (the only commands that can take an owner away) are decided one at a time per
/// tenant, across processes, so two owners demoting or deleting each other at once cannot both
/// see the other still an owner and leave the tenant with none (the second sees the first's
/// change, committed, and is refused: the last owner, 409). The count is read after the lock is
/// held, so it sees every decision committed before; and the events, their projection (the
/// count's table) and the release of the lock commit together.
async fn decide_with_owners(
    state: &ApiState,
    ctx: &CommandContext,
    name: &str,
    what: &str,
    command: impl Fn(usize) -> UserCommand,
) -> Result<(), ApiError> {
    let mut tries = 0;
    loop {
        tries += 1;
        let mut tx = state.pool().begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(OWNER_LOCKS)
            .bind(ctx.tenant.as_str())
            .execute(&mut *tx)
            .await?;
        let other_owners: i64 =
            sqlx::query_scalar("SELECT count(*) FROM rm_users WHERE tenant_id = $1 AND role = $2 AND name <> $3")
                .bind(ctx.tenant.as_str())
                .bind(Role::Owner.as_str())
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
        let command = command(usize::try_from(other_owners).unwrap_or(0));
        match state.executor.execute_in::<User>(&mut tx, ctx, name, &command, None).await {
            Ok(_) => {
                tx.commit().await?;
                return Ok(());
            }
            // Another writer of the stream (a token rotation) got there first: decide again.
            Err(ExecuteError::Contention(_)) if tries < OWNER_TRIES => tx.rollback().await?,
            Err(e) => {
                tx.rollback().await?;
                return Err(identities::execute_error(e, what));
            }
        }
    }
}

/// Initialize an enterprise deployment
///
/// Creates the owner user `admin` in the default tenant and the first platform operator
/// (`operator`: creates tenants, sees nothing inside them), and answers both access tokens, once.
/// Needs no token, and works only while the default tenant has no user and no operator exists;
/// afterwards it is a 409.
#[utoipa::path(
    post,
    path = "/api/v0/init-server",
    tag = "users",
    operation_id = "init_server",
    responses(
        (status = 201, description = "Initialized: the owner and the operator, with their access tokens (shown only now).", body = InitializedServer),
        (status = 400, response = BadRequest),
        (status = 409, response = Conflict),
        (status = 500, response = InternalError),
    ),
)]
pub async fn init_server(State(state): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    require_enterprise(&state, "init-server and users")?;
    let tenant = TenantId::default_tenant();
    let already = || ApiError::conflict("this Canopy is already initialized; log in with a user's token instead");
    if !canopy_readmodels::list_users(state.pool(), &tenant).await?.is_empty() || tenants::any_operator(&state).await? {
        return Err(already());
    }
    let (digest, token) = issue_token(&state, None).await?;
    let (operator_digest, operator_token) = issue_token(&state, None).await?;
    let name = identity_name("user name", INITIAL_ADMIN)?;
    let ctx = CommandContext::new(tenant.clone(), "system:init-server");
    let command = UserCommand::Create { name, role: Role::Owner, token: digest };
    // Two racing initializations create the same stream: the second is refused here.
    state.executor.execute::<User>(&ctx, INITIAL_ADMIN, &command).await.map_err(
        |e| match identities::execute_error(e, &format!("user '{INITIAL_ADMIN}'")) {
            e if e.code == canopy_api_types::ErrorCode::Conflict => already(),
            e => e,
        },
    )?;
    let operator = tenants::create_first_operator(&state, operator_digest).await.map_err(|e| match e {
        e if e.code == canopy_api_types::ErrorCode::Conflict => already(),
        e => e,
    })?;
    let user = find(&state, &tenant, INITIAL_ADMIN).await?;
    let operator_token = operator_token.unwrap_or_default(); // issue_token(None) always generates
    Ok((StatusCode::CREATED, Json(InitializedServer { user, access_token: token, operator, operator_token })))
}

/// Create a user
///
/// MCPJungle's user JSON. Without `access_token`, one is generated and answered once; a token
/// another user or client holds is a 409. Only an owner creates an owner.
#[utoipa::path(
    post,
    path = "/api/v0/users",
    tag = "users",
    operation_id = "create_user",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created; `access_token` only when generated.", body = CreatedUser),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 500, response = InternalError),
    ),
)]
pub async fn create(
    State(state): State<ApiState>,
    principal: Principal,
    body: Result<input::Json<CreateUserRequest>, ApiError>,
) -> Result<impl IntoResponse, ApiError> {
    require_enterprise(&state, "users")?;
    principal.require_manage_tenant()?;
    let input::Json(request) = body?;
    let name = identity_name("user name", &request.name)?;
    let role = match request.role.as_deref() {
        None => Role::Member,
        Some(role) => Role::parse(role).map_err(|e| ApiError::invalid(e.to_string()))?,
    };
    if role == Role::Owner && !principal.is_owner() {
        return Err(ApiError::forbidden("only an owner can create an owner"));
    }
    let (digest, token) = issue_token(&state, request.access_token).await?;
    let ctx = principal.context(None, &[]);
    let command = UserCommand::Create { name: name.clone(), role, token: digest };
    state
        .executor
        .execute::<User>(&ctx, name.as_str(), &command)
        .await
        .map_err(|e| identities::execute_error(e, &format!("user '{name}'")))?;
    let user = find(&state, &principal.tenant, name.as_str()).await?;
    Ok((StatusCode::CREATED, Json(CreatedUser { user, access_token: token })))
}

/// List users
#[utoipa::path(
    get,
    path = "/api/v0/users",
    tag = "users",
    operation_id = "list_users",
    responses(
        (status = 200, description = "Every user of the tenant (never their tokens).", body = [UserView]),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn list(State(state): State<ApiState>, principal: Principal) -> Result<Json<Vec<UserView>>, ApiError> {
    require_enterprise(&state, "users")?;
    principal.require_manage_tenant()?;
    let rows = canopy_readmodels::list_users(state.pool(), &principal.tenant).await?;
    Ok(Json(rows.iter().map(view).collect()))
}

/// Change a user's role
///
/// `{"role": "admin"}`: `owner`, `admin` or `member`. Only an owner makes an owner or changes an
/// owner's role; the tenant's last owner cannot be given another role (409: make another user
/// owner first). The token is not changed; the new role applies from the user's next request.
/// Setting the role a user already has changes nothing.
#[utoipa::path(
    patch,
    path = "/api/v0/users/{name}",
    tag = "users",
    operation_id = "update_user",
    params(UserNameParam),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The user, with its role now.", body = UserView),
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
    body: Result<input::Json<UpdateUserRequest>, ApiError>,
) -> Result<Json<UserView>, ApiError> {
    require_enterprise(&state, "users")?;
    principal.require_manage_tenant()?;
    let input::Json(request) = body?;
    let role = Role::parse(&request.role).map_err(|e| ApiError::invalid(e.to_string()))?;
    let what = format!("user '{name}'");
    let users = canopy_readmodels::list_users(state.pool(), &principal.tenant).await?;
    let user = users.iter().find(|u| u.name == name).ok_or_else(|| identities::not_found(&what))?;
    let owner = Role::Owner.as_str();
    if (user.role == owner || role == Role::Owner) && user.role != role.as_str() && !principal.is_owner() {
        return Err(ApiError::forbidden("only an owner can make an owner or change an owner's role"));
    }
    let ctx = principal.context(None, &[]);
    decide_with_owners(&state, &ctx, &name, &what, |other_owners| UserCommand::ChangeRole { role, other_owners })
        .await?;
    find(&state, &principal.tenant, &name).await.map(Json)
}

/// Delete a user
///
/// Its token stops working at once. Only an owner removes an owner, and a tenant's last owner
/// stays (409).
#[utoipa::path(
    delete,
    path = "/api/v0/users/{name}",
    tag = "users",
    operation_id = "delete_user",
    params(UserNameParam),
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
    require_enterprise(&state, "users")?;
    principal.require_manage_tenant()?;
    let what = format!("user '{name}'");
    let users = canopy_readmodels::list_users(state.pool(), &principal.tenant).await?;
    let user = users.iter().find(|u| u.name == name).ok_or_else(|| identities::not_found(&what))?;
    if user.role == Role::Owner.as_str() && !principal.is_owner() {
        return Err(ApiError::forbidden("only an owner can remove an owner"));
    }
    let ctx = principal.context(None, &[]);
    decide_with_owners(&state, &ctx, &name, &what, |other_owners| UserCommand::Delete { other_owners }).await?;
    // Their OAuth grants end with them (a refresh would be refused anyway: the user is gone).
    if let Some(oauth) = &state.oauth {
        let subject = format!("user:{name}");
        if let Err(e) = oauth.grants().revoke_subject(&principal.tenant, &subject, chrono::Utc::now()).await {
            tracing::warn!(error = %e, user = name, "the deleted user's OAuth grants were not revoked; their refreshes fail anyway");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn find(state: &ApiState, tenant: &TenantId, name: &str) -> Result<UserView, ApiError> {
    let users = canopy_readmodels::list_users(state.pool(), tenant).await?;
    users.iter().find(|u| u.name == name).map(view).ok_or_else(|| identities::not_found(&format!("user '{name}'")))
}

fn view(row: &UserRow) -> UserView {
    UserView {
        name: row.name.clone(),
        role: row.role.clone(),
        created_at: row.created_at.to_rfc3339(),
        updated_at: row.updated_at.to_rfc3339(),
    }
}

//! `GET/PUT/DELETE /api/v0/identity-provider`: a tenant's own OpenID Connect provider, for single
//! sign-on at Canopy's authorization server (`oauth/oidc.rs`). Owners and admins only; the
//! client secret is sealed at rest (bound to the tenant) and never shown again.

use crate::error::ApiError;
use crate::identities::require_enterprise;
use crate::input;
use crate::oauth::oidc;
use crate::openapi::{BadRequest, Forbidden, InternalError, NotFound};
use crate::principal::Principal;
use crate::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use canopy_api_types::{IdentityProviderRequest, IdentityProviderView};
use canopy_domain::tenant::{IdentityProvider, Tenant, TenantCommand, TenantError};
use chrono::{DateTime, Utc};

/// An issuer Canopy may fetch from on a tenant admin's say-so: https at a public address (never
/// the deployment's own network: a tenant must not probe it), without query or fragment.
fn check_issuer(server: &crate::oauth::OAuthServer, issuer: &str) -> Result<(), ApiError> {
    let url =
        url::Url::parse(issuer).map_err(|_| ApiError::invalid(format!("issuer '{issuer}' is not an absolute URL")))?;
    if !server.may_fetch(&url) || url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(ApiError::invalid(format!(
            "issuer '{issuer}' must be an https URL of a public address, without query or fragment"
        )));
    }
    Ok(())
}

/// A change of the tenant's identity provider: a tenant event (audited with its actor; the
/// read model `tenant_identity_providers` follows from it, secret still sealed).
async fn execute(state: &ApiState, principal: &Principal, command: TenantCommand) -> Result<(), ApiError> {
    let ctx = principal.context(None, &[]);
    match state.executor.execute::<Tenant>(&ctx, principal.tenant.as_str(), &command).await {
        Ok(_) => Ok(()),
        Err(e) => Err(crate::error::from_execute(e, |e| match e {
            TenantError::NoIdentityProvider => ApiError::not_found("this tenant has no identity provider"),
            TenantError::InvalidIdentityProvider(message) => ApiError::invalid(message),
            other => ApiError::invalid(other.to_string()),
        })),
    }
}

fn server(state: &ApiState) -> Result<&crate::oauth::OAuthServer, ApiError> {
    state.oauth.as_deref().ok_or_else(|| ApiError::invalid("this Canopy has no authorization server"))
}

/// Get the tenant's identity provider
#[utoipa::path(
    get,
    path = "/api/v0/identity-provider",
    tag = "identity-provider",
    operation_id = "get_identity_provider",
    responses(
        (status = 200, description = "The tenant's identity provider (never its secret).", body = IdentityProviderView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
    ),
)]
pub async fn get(State(state): State<ApiState>, principal: Principal) -> Result<Json<IdentityProviderView>, ApiError> {
    require_enterprise(&state, "identity providers")?;
    principal.require_manage_tenant()?;
    let server = server(&state)?;
    let row: Option<(String, String, String, DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT issuer, client_id, username_claim, updated_at, updated_by FROM tenant_identity_providers
         WHERE tenant_id = $1",
    )
    .bind(principal.tenant.as_str())
    .fetch_optional(state.pool())
    .await?;
    let (issuer, client_id, username_claim, updated_at, updated_by) =
        row.ok_or_else(|| ApiError::not_found("this tenant has no identity provider"))?;
    Ok(Json(IdentityProviderView {
        issuer,
        client_id,
        username_claim,
        redirect_uri: oidc::callback_url(server),
        updated_at: updated_at.to_rfc3339(),
        updated_by,
    }))
}

/// Set the tenant's identity provider
///
/// Users of the tenant can then sign in to OAuth clients (Claude, ChatGPT, the Inspector) with
/// the organisation's own provider. The provider's discovery document is fetched now, so a
/// wrong issuer is refused at once.
#[utoipa::path(
    put,
    path = "/api/v0/identity-provider",
    tag = "identity-provider",
    operation_id = "set_identity_provider",
    request_body = IdentityProviderRequest,
    responses(
        (status = 200, description = "Set.", body = IdentityProviderView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn put(
    State(state): State<ApiState>,
    principal: Principal,
    body: Result<input::Json<IdentityProviderRequest>, ApiError>,
) -> Result<Json<IdentityProviderView>, ApiError> {
    require_enterprise(&state, "identity providers")?;
    principal.require_manage_tenant()?;
    let input::Json(request) = body?;
    let server = server(&state)?;
    check_issuer(server, &request.issuer)?;
    if request.client_id.trim().is_empty() || request.client_secret.is_empty() {
        return Err(ApiError::invalid("client_id and client_secret are required"));
    }
    let claim = request.username_claim.unwrap_or_else(|| "preferred_username".into());
    if claim.is_empty() || claim.len() > 100 {
        return Err(ApiError::invalid("username_claim must name a claim"));
    }
    server
        .check_provider(&request.issuer)
        .await
        .map_err(|e| ApiError::invalid(format!("the identity provider at '{}' is not usable: {e}", request.issuer)))?;
    let sealed = state.sealer.seal(oidc::seal_context(&principal.tenant), &request.client_secret);
    let provider = IdentityProvider {
        issuer: request.issuer.clone(),
        client_id: request.client_id.clone(),
        client_secret: sealed,
        username_claim: claim,
    };
    execute(&state, &principal, TenantCommand::SetIdentityProvider(provider)).await?;
    tracing::info!(
        tenant = principal.tenant.as_str(),
        by = principal.subject(),
        issuer = request.issuer,
        "identity provider set"
    );
    get(State(state), principal).await
}

/// Remove the tenant's identity provider
#[utoipa::path(
    delete,
    path = "/api/v0/identity-provider",
    tag = "identity-provider",
    operation_id = "delete_identity_provider",
    responses(
        (status = 204, description = "Removed: single sign-on ends; grants already made stay until they expire or are revoked."),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
    ),
)]
pub async fn delete(State(state): State<ApiState>, principal: Principal) -> Result<StatusCode, ApiError> {
    require_enterprise(&state, "identity providers")?;
    principal.require_manage_tenant()?;
    execute(&state, &principal, TenantCommand::RemoveIdentityProvider).await?;
    tracing::info!(tenant = principal.tenant.as_str(), by = principal.subject(), "identity provider removed");
    Ok(StatusCode::NO_CONTENT)
}

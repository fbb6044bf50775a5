//! `GET /api/v0/oauth-grants`, `DELETE /api/v0/oauth-grants/{id}`: which applications hold a
//! grant in this tenant (the authorization code flow's refresh-token families), and revoking
//! one. Owners and admins see and revoke every grant of the tenant; other users only their
//! own; MCP clients none (403). A grant of another tenant, or another user's for a member, is
//! 404 like one that does not exist. Revoking ends its refresh tokens at once; access tokens
//! already issued from it expire on their own (`oauth.access_token_ttl_secs`).

use crate::error::ApiError;
use crate::identities::require_enterprise;
use crate::input;
use crate::openapi::{BadRequest, Forbidden, InternalError, NotFound};
use crate::principal::Principal;
use crate::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use canopy_api_types::OAuthGrantView;
use canopy_auth::FamilyId;
use canopy_policy::PrincipalKind;
use chrono::{DateTime, Utc};

/// Whose grants a principal may see: all of the tenant's (`None`), or those of one subject.
fn visible_to(principal: &Principal) -> Result<Option<String>, ApiError> {
    if principal.require_manage_tenant().is_ok() {
        return Ok(None);
    }
    match principal.identity.kind {
        PrincipalKind::User { .. } => Ok(Some(principal.subject().to_string())),
        _ => Err(ApiError::forbidden("OAuth grants are users' and their admins' to see")),
    }
}

type GrantRow = (uuid::Uuid, String, String, Vec<String>, Option<String>, DateTime<Utc>, DateTime<Utc>, Option<String>);

/// List OAuth grants
#[utoipa::path(
    get,
    path = "/api/v0/oauth-grants",
    tag = "oauth",
    operation_id = "list_oauth_grants",
    responses(
        (status = 200, description = "The live grants this principal may see, newest first (admins: all of the tenant's; users: their own).", body = [OAuthGrantView]),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn list(State(state): State<ApiState>, principal: Principal) -> Result<Json<Vec<OAuthGrantView>>, ApiError> {
    require_enterprise(&state, "OAuth grants")?;
    let subject = visible_to(&principal)?;
    let rows: Vec<GrantRow> = sqlx::query_as(
        "SELECT f.family_id, f.client_id, f.subject, f.scopes, f.resource, f.created_at, f.expires_at,
                c.metadata->>'client_name'
         FROM oauth_refresh_families f LEFT JOIN oauth_clients c ON c.client_id = f.client_id
         WHERE f.tenant_id = $1 AND f.revoked_at IS NULL AND f.expires_at > now()
           AND ($2::text IS NULL OR f.subject = $2)
         ORDER BY f.created_at DESC",
    )
    .bind(principal.tenant.as_str())
    .bind(subject)
    .fetch_all(state.pool())
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(|(id, client_id, subject, scopes, resource, created_at, expires_at, client_name)| OAuthGrantView {
                id: id.to_string(),
                client_name,
                client_id,
                subject,
                scopes,
                resource,
                created_at: created_at.to_rfc3339(),
                expires_at: expires_at.to_rfc3339(),
            })
            .collect(),
    ))
}

/// Revoke an OAuth grant
///
/// Its refresh tokens stop working at once; its access tokens expire on their own.
#[utoipa::path(
    delete,
    path = "/api/v0/oauth-grants/{id}",
    tag = "oauth",
    operation_id = "revoke_oauth_grant",
    params(("id" = String, Path, description = "The grant's id.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
    ),
)]
pub async fn revoke(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(id): input::Path<String>,
) -> Result<StatusCode, ApiError> {
    require_enterprise(&state, "OAuth grants")?;
    let subject = visible_to(&principal)?;
    let not_found = || ApiError::not_found(format!("OAuth grant '{id}' does not exist"));
    let family = FamilyId(uuid::Uuid::parse_str(&id).map_err(|_| not_found())?);
    let grants =
        state.oauth.as_ref().ok_or_else(|| ApiError::invalid("this Canopy has no authorization server"))?.grants();
    let now = Utc::now();
    let revoked = match &subject {
        None => grants.revoke_family(&principal.tenant, family, now).await,
        Some(subject) => grants.revoke_family_of(&principal.tenant, family, subject, now).await,
    };
    if !revoked.map_err(|e| ApiError::internal("revoking an OAuth grant", &e))? {
        return Err(not_found());
    }
    tracing::info!(tenant = principal.tenant.as_str(), by = principal.subject(), grant = id, "OAuth grant revoked");
    Ok(StatusCode::NO_CONTENT)
}

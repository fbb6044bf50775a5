//! `GET /api/v0/me`: who the request's token is (principal kind and name, tenant, role,
//! scopes) and whether it manages its tenant or the platform, as `canopy-policy` decides it for
//! this very token (an owner's OAuth token without `canopy:admin` manages nothing). Works in
//! both modes: development mode answers its single principal. The console reads it to show who
//! is signed in and to hide the actions the principal may not take; the API still refuses them.

use crate::error::ApiError;
use crate::openapi::InternalError;
use crate::principal::Principal;
use axum::Json;
use canopy_api_types::MeView;
use canopy_policy::{Action, PrincipalKind, Scopes, Target};

/// Who am I
///
/// The principal the request's token stands for, and what it may manage. Needs a token in
/// enterprise mode, like every route; any valid one will do (user, MCP client, operator, OAuth).
#[utoipa::path(
    get,
    path = "/api/v0/me",
    tag = "me",
    operation_id = "get_me",
    responses(
        (status = 200, description = "The principal of the request's token.", body = MeView),
        (status = 500, response = InternalError),
    ),
)]
pub async fn get(principal: Principal) -> Result<Json<MeView>, ApiError> {
    Ok(Json(view(&principal)))
}

fn view(principal: &Principal) -> MeView {
    let identity = &principal.identity;
    let (kind, role) = match &identity.kind {
        PrincipalKind::User { role } => ("user", Some(role.as_str().to_string())),
        PrincipalKind::Client { .. } => ("client", None),
        PrincipalKind::Operator => ("operator", None),
        PrincipalKind::Development => ("development", None),
    };
    let subject = identity.subject.clone();
    let name = subject.split_once(':').map(|(_, name)| name).unwrap_or(&subject).to_string();
    let scopes = match &identity.scopes {
        Scopes::All => None,
        Scopes::Only(granted) => Some(granted.iter().cloned().collect()),
    };
    MeView {
        kind: kind.into(),
        name,
        subject,
        tenant: identity.tenant.as_ref().map(|t| t.as_str().to_string()),
        role,
        scopes,
        manages_tenant: principal.decide(Action::Manage, Target::Tenant).is_allow(),
        manages_platform: principal.decide(Action::Manage, Target::Platform).is_allow(),
    }
}

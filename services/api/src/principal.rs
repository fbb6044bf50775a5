//! Who is asking, and what the access policy lets them do: the one place a REST request gets
//! its identity and tenant.
//!
//! - Development mode: no authentication; every request is [`canopy_policy::Principal::development`],
//!   acting in the `default` tenant as `user:dev`.
//! - Enterprise mode: `Authorization: Bearer <token>`; the token's keyed digest
//!   (`Sealer::token_digest`) finds its holder in the read models (`token_holder`: a user or an
//!   MCP client in `rm_users`/`rm_mcp_clients`, and so its tenant; or a platform operator, who
//!   belongs to none and sees no tenant's data). A missing, unknown or revoked token (or one of a suspended
//!   tenant) is a 401 with
//!   `WWW-Authenticate: Bearer`. Tokens are looked up by digest only, never stored or logged.
//!   OAuth access tokens (a JWT; an opaque token only an introspecting external issuer knows)
//!   are checked by `canopy-bearer` for the resource `{public_url}/api/v0`; the principal is the
//!   identity they name (tenant and subject) as the read models hold it, narrowed by their scopes.
//!
//! The tenant of every read and command comes from here, never from the request. Handlers ask
//! [`Principal::require`] before they look a name up, and [`Principal::retain`] on every list:
//! both are `canopy_policy::decide`, so REST answers as the MCP endpoints do. Lists are filtered
//! (`Discover`); gets, invoke, render and read are decided for the item; changes are
//! `Manage` (members and MCP clients: 403). A `NotFound` denial is built by the same function as
//! the unknown-name answer, so a client cannot tell a name outside its allow list from one that
//! does not exist.

use crate::error::ApiError;
use crate::ApiState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use canopy_api_types::ErrorCode;
use canopy_config::Mode;
use canopy_domain::TenantId;
use canopy_eventstore::CommandContext;
use canopy_policy::{Action, Decision, Denial, PrincipalKind, Role, Target, TenantView};

#[derive(Debug, Clone)]
pub struct Principal {
    /// The tenant this request reads and changes: the principal's own.
    pub tenant: TenantId,
    pub identity: canopy_policy::Principal,
    /// The tenant's groups the policy needs for this principal (a client's allowed groups).
    view: TenantView,
}

impl Principal {
    /// A principal acting in its own tenant; `None` for a user or client without one. The
    /// operator belongs to no tenant: it acts in the reserved platform id, where no tenant's
    /// data is, and the policy answers `NotFound` for anything of a tenant (`tenants.rs`).
    pub fn new(identity: canopy_policy::Principal, view: TenantView) -> Option<Self> {
        let tenant = match identity.kind {
            PrincipalKind::Operator => TenantId::platform(),
            _ => identity.tenant.clone()?,
        };
        Some(Principal { tenant, identity, view })
    }

    /// Who, for audit records and call records: `user:alice`, `client:cursor`, `user:dev`.
    pub fn subject(&self) -> &str {
        &self.identity.subject
    }

    /// The owner role (or development mode, which may do anything): only these create or
    /// remove owners.
    pub fn is_owner(&self) -> bool {
        matches!(self.identity.kind, PrincipalKind::Development | PrincipalKind::User { role: Role::Owner })
    }

    /// A command context for this principal, idempotent when the request carried an
    /// `Idempotency-Key` header.
    pub fn context(&self, parts_idempotency: Option<&str>, body: &[u8]) -> CommandContext {
        let ctx = CommandContext::new(self.tenant.clone(), self.identity.subject.clone());
        match parts_idempotency {
            Some(key) => ctx.idempotent(key, body),
            None => ctx,
        }
    }

    /// Who asks, as the admission of a call reads it.
    pub fn who(&self) -> canopy_admission::Who<'_> {
        canopy_admission::Who { principal: &self.identity, tenant: &self.tenant, view: &self.view }
    }

    pub fn decide(&self, action: Action, target: Target<'_>) -> Decision {
        canopy_policy::decide(&self.identity, &self.tenant, action, &target, &self.view)
    }

    /// Allowed, or the denial as the REST answer. `not_found` must build exactly the answer an
    /// unknown name gets, so a denied name cannot be told from one that does not exist.
    pub fn require(
        &self,
        action: Action,
        target: Target<'_>,
        not_found: impl FnOnce() -> ApiError,
    ) -> Result<(), ApiError> {
        match self.decide(action, target) {
            Decision::Allow => Ok(()),
            Decision::Deny(denial) => Err(denied(denial, not_found)),
        }
    }

    /// Managing the tenant itself (its users and MCP clients, creating servers and groups).
    /// Nobody is denied the tenant as `NotFound` here: the principal is in it.
    pub fn require_manage_tenant(&self) -> Result<(), ApiError> {
        self.require(Action::Manage, Target::Tenant, || ApiError::not_found("not found"))
    }

    pub fn may_discover(&self, target: Target<'_>) -> bool {
        self.decide(Action::Discover, target).is_allow()
    }

    /// This principal as a caller of the jobs service (which asks the policy itself).
    pub fn caller(&self) -> canopy_jobs::Caller {
        canopy_jobs::Caller::new(self.tenant.clone(), self.identity.clone(), self.view.clone())
    }

    /// Keeps the items of a list this principal may discover.
    pub fn retain<T>(&self, items: &mut Vec<T>, target: impl Fn(&T) -> Target<'_>) {
        canopy_policy::retain(&self.identity, &self.tenant, &self.view, items, target)
    }
}

/// A denial as the REST answer: `NotFound` as an unknown name, `Forbidden` as 403 with its
/// reason, `InsufficientScope` as 403 naming the scope, with the RFC 6750 challenge.
pub fn denied(denial: Denial, not_found: impl FnOnce() -> ApiError) -> ApiError {
    match denial {
        Denial::NotFound => not_found(),
        Denial::Forbidden { reason } => ApiError::forbidden(reason.to_string()),
        Denial::InsufficientScope { needed } => ApiError {
            challenge: Some(format!("Bearer error=\"insufficient_scope\", scope=\"{needed}\"")),
            ..ApiError::new(ErrorCode::Forbidden, denial.to_string())
        },
    }
}

const REALM: &str = "Bearer realm=\"canopy\"";

impl FromRequestParts<ApiState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let identity = match state.mode {
            Mode::Development => canopy_policy::Principal::development(),
            Mode::Enterprise => authenticate(parts, state).await?,
        };
        let view = groups_for(state, &identity).await?;
        Principal::new(identity, view).ok_or_else(invalid_token)
    }
}

/// The holder of the request's bearer token, as a policy principal.
async fn authenticate(parts: &Parts, state: &ApiState) -> Result<canopy_policy::Principal, ApiError> {
    let Some(header) = parts.headers.get(AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "this Canopy runs in enterprise mode: send an access token as `Authorization: Bearer <token>` \
             (the CLI: `canopy login <token>`)",
            REALM,
        ));
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or_else(invalid_token)?;
    let tokens = state.access_tokens.as_deref();
    if let Some(tokens) = tokens.filter(|_| canopy_bearer::AccessTokens::is_jwt(token)) {
        return oauth_principal(state, tokens, token).await;
    }
    let digest = state.sealer.token_digest(token);
    let holder = canopy_readmodels::token_holder(state.pool(), digest.as_str()).await?;
    match (holder.and_then(|h| h.principal()), tokens.filter(|t| t.introspects(token))) {
        (Some(principal), _) => Ok(principal),
        (None, Some(tokens)) => oauth_principal(state, tokens, token).await,
        (None, None) => Err(invalid_token()),
    }
}

/// An OAuth access token's principal: verified for this API's resource URL, then the identity
/// it names as the read models hold it, narrowed by the token's scopes.
async fn oauth_principal(
    state: &ApiState,
    tokens: &canopy_bearer::AccessTokens,
    token: &str,
) -> Result<canopy_policy::Principal, ApiError> {
    let resource = format!("{}/api/v0", state.public_url.trim_end_matches('/'));
    let principal = match tokens.verify(token, &resource).await {
        Ok(verified) => verified.principal_from_read_models(state.pool()).await,
        Err(refused) => Err(refused),
    };
    principal.map_err(|refused| match refused {
        canopy_bearer::BearerError::InvalidToken(description) => ApiError::unauthorized(
            format!("the access token is not valid: {description}"),
            format!("{REALM}, error=\"invalid_token\", error_description=\"{description}\""),
        ),
        canopy_bearer::BearerError::Unavailable(message) => ApiError::new(ErrorCode::Unavailable, message),
    })
}

fn invalid_token() -> ApiError {
    ApiError::unauthorized(
        "the access token is not valid: unknown, malformed or revoked",
        format!("{REALM}, error=\"invalid_token\""),
    )
}

/// The groups a client's allow list names, as they are now (the policy admits their members);
/// nobody else's decisions read groups.
async fn groups_for(state: &ApiState, identity: &canopy_policy::Principal) -> Result<TenantView, ApiError> {
    let (PrincipalKind::Client { allow }, Some(tenant)) = (&identity.kind, &identity.tenant) else {
        return Ok(TenantView::new());
    };
    if allow.groups.is_empty() {
        return Ok(TenantView::new());
    }
    let groups = canopy_readmodels::list_groups(state.pool(), tenant).await?;
    Ok(TenantView::from_groups(groups.into_iter().filter(|g| allow.groups.contains(&g.name)).map(|g| (g.name, g.spec))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;
    use canopy_policy::ForbiddenReason;

    #[test]
    fn denials_become_rest_answers() {
        let unknown = || ApiError::not_found("tool 'x__y' not found");
        let answer = |denial| denied(denial, unknown).into_response();

        let not_found = answer(Denial::NotFound);
        assert_eq!(not_found.status(), 404);
        assert!(not_found.headers().get("www-authenticate").is_none());

        let forbidden = denied(Denial::Forbidden { reason: ForbiddenReason::MembersCannotManage }, unknown);
        assert_eq!((forbidden.code, forbidden.message.contains("members")), (ErrorCode::Forbidden, true));

        let scope = answer(Denial::InsufficientScope { needed: "mcp:tools" });
        assert_eq!(scope.status(), 403);
        assert_eq!(scope.headers()["www-authenticate"], "Bearer error=\"insufficient_scope\", scope=\"mcp:tools\"");
        let message = denied(Denial::InsufficientScope { needed: "mcp:tools" }, unknown).message;
        assert!(message.contains("'mcp:tools'"), "{message}");
    }
}

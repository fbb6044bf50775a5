//! From a verified token to the principal it stands for: the identity as Canopy knows it now
//! (role, allow list), narrowed by the token's scopes. The edge looks the identity up in its
//! identity cache; REST in the read models, by tenant and name, as the static-token lookup does
//! by digest.
//!
//! The platform operator: Canopy's authorization server signs an operator in to the REST API
//! only, with the subject `operator:NAME` in the reserved tenant `platform` (which no tenant can
//! be, so no user or client is ever there) and the one scope [`OPERATOR_SCOPE`]. Such a token
//! stands for the operator while it exists (`rm_operators`), as exactly the principal its static
//! token gets (`TokenHolder::principal`: no tenant, so the policy shows it nothing inside any
//! tenant); without that scope it stands for nobody. No other subject or tenant maps to the
//! operator, and an external issuer's subject never names one (`subjects_named`).

use crate::{BearerError, VerifiedToken};
use canopy_domain::TenantId;
use canopy_policy::{Principal, PrincipalKind};
use canopy_readmodels::TokenHolder;
use sqlx::PgPool;

/// The scope of an access token that lets its operator act as the platform operator (the REST
/// API's tenant routes); granted to operators only, meaningless to anyone else.
pub const OPERATOR_SCOPE: &str = "canopy:operator";

/// The subjects an external token's identity claim may mean: `user:NAME` or `client:NAME`
/// exactly, or for a bare name the user and the MCP client of that name.
pub fn subjects_named(name: &str) -> Vec<String> {
    let name = name.trim();
    if name.is_empty() {
        return vec![];
    }
    if name.starts_with("user:") || name.starts_with("client:") {
        return vec![name.to_string()];
    }
    vec![format!("user:{name}"), format!("client:{name}")]
}

impl VerifiedToken {
    /// The principal, given a lookup of (tenant, subject) among the identities that exist now.
    pub fn principal(&self, lookup: impl Fn(&TenantId, &str) -> Option<Principal>) -> Result<Principal, BearerError> {
        let found = self.subjects.iter().filter_map(|subject| lookup(&self.tenant, subject)).collect();
        self.narrowed(found)
    }

    /// [`Self::principal`] from `rm_users` and `rm_mcp_clients` (REST).
    pub async fn principal_from_read_models(&self, pool: &PgPool) -> Result<Principal, BearerError> {
        let mut found = Vec::new();
        for subject in &self.subjects {
            let holder = holder(pool, &self.tenant, subject).await.map_err(|e| {
                tracing::warn!(error = %e, "identities are not readable");
                BearerError::Unavailable("identities cannot be read now")
            })?;
            found.extend(holder.and_then(|h| h.principal()));
        }
        self.narrowed(found)
    }

    fn narrowed(&self, found: Vec<Principal>) -> Result<Principal, BearerError> {
        let mut found = found.into_iter().filter(|p| self.may_be(p));
        match (found.next(), found.next()) {
            (Some(principal), None) if principal.kind == PrincipalKind::Operator => {
                if !self.scopes.grants(OPERATOR_SCOPE) {
                    return Err(BearerError::invalid("the token does not carry the canopy:operator scope"));
                }
                // The operator's own principal (confined to the platform by its kind).
                Ok(principal)
            }
            (Some(principal), None) => Ok(principal.with_scopes(self.scopes.clone())),
            (None, _) => Err(BearerError::invalid("the token names no identity of its tenant")),
            (Some(_), Some(_)) => Err(BearerError::invalid("the token names both a user and a client")),
        }
    }
}

impl VerifiedToken {
    /// Whether the token may stand for `principal`: an identity of the token's tenant, or the
    /// operator for a token of the platform's reserved tenant.
    fn may_be(&self, principal: &Principal) -> bool {
        match principal.kind {
            PrincipalKind::Operator => {
                principal.tenant.is_none() && self.tenant.as_str() == TenantId::PLATFORM && self.subjects.len() == 1
            }
            _ => principal.tenant.as_ref() == Some(&self.tenant),
        }
    }
}

/// Identities of a suspended tenant hold nothing (as in the static-token lookup).
const NOT_SUSPENDED: &str = "NOT EXISTS (SELECT 1 FROM rm_tenants t WHERE t.tenant_id = i.tenant_id AND t.suspended)";

/// The user or MCP client `subject` (`user:NAME`, `client:NAME`) of `tenant`, unless the
/// tenant is suspended; or the operator `operator:NAME`, in the platform's tenant only.
async fn holder(pool: &PgPool, tenant: &TenantId, subject: &str) -> Result<Option<TokenHolder>, sqlx::Error> {
    let tenant_id = tenant.as_str();
    if let Some(name) = subject.strip_prefix("operator:") {
        if tenant_id != TenantId::PLATFORM || !canopy_readmodels::operator_exists(pool, name).await? {
            return Ok(None);
        }
        return Ok(Some(TokenHolder::Operator { name: name.into() }));
    }
    if let Some(name) = subject.strip_prefix("user:") {
        let role: Option<(String,)> = sqlx::query_as(&format!(
            "SELECT role FROM rm_users i WHERE tenant_id = $1 AND name = $2 AND {NOT_SUSPENDED}"
        ))
        .bind(tenant_id)
        .bind(name)
        .fetch_optional(pool)
        .await?;
        return Ok(role.map(|(role,)| TokenHolder::User { tenant_id: tenant_id.into(), name: name.into(), role }));
    }
    if let Some(name) = subject.strip_prefix("client:") {
        let allow: Option<(sqlx::types::Json<canopy_domain::identity::AllowSpec>,)> = sqlx::query_as(&format!(
            "SELECT allow FROM rm_mcp_clients i WHERE tenant_id = $1 AND name = $2 AND {NOT_SUSPENDED}"
        ))
        .bind(tenant_id)
        .bind(name)
        .fetch_optional(pool)
        .await?;
        return Ok(allow.map(|(allow,)| TokenHolder::Client {
            tenant_id: tenant_id.into(),
            name: name.into(),
            allow: allow.0,
        }));
    }
    Ok(None)
}

/// A string claim of a JWT's payload. Only for a token whose signature has been verified.
pub(crate) fn verified_payload_claim(token: &str, claim: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&json).ok()?;
    value.get(claim)?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_policy::{AllowList, Role, Scopes};

    fn token(subjects: Vec<String>) -> VerifiedToken {
        VerifiedToken {
            tenant: TenantId::parse("acme".to_string()).unwrap(),
            subjects,
            scopes: Scopes::parse("mcp:tools"),
            issuer: "https://as".into(),
            client_id: None,
            expires_at: None,
        }
    }

    #[test]
    fn a_token_stands_for_exactly_one_existing_identity_narrowed_by_its_scopes() {
        assert_eq!(subjects_named("alice"), ["user:alice", "client:alice"]);
        assert_eq!(subjects_named("client:cursor"), ["client:cursor"]);
        assert!(subjects_named(" ").is_empty());

        let acme = TenantId::parse("acme".to_string()).unwrap();
        let alice = Principal::user(acme.clone(), "user:alice", Role::Owner);
        let lookup = |tenant: &TenantId, subject: &str| {
            (subject == "user:alice").then(|| alice.clone()).filter(|_| tenant == &acme)
        };
        let p = token(subjects_named("alice")).principal(lookup).unwrap();
        assert_eq!(p.subject, "user:alice");
        assert!(p.scopes.grants(Scopes::TOOLS) && !p.scopes.grants(Scopes::ADMIN), "the token's scopes, not All");

        assert!(token(vec!["user:bob".into()]).principal(lookup).is_err(), "unknown identity");
        let both = |_: &TenantId, s: &str| Some(Principal::client(acme.clone(), s, AllowList::default()));
        assert!(token(subjects_named("alice")).principal(both).is_err(), "ambiguous");
        let elsewhere = |_: &TenantId, s: &str| {
            Some(Principal::user(TenantId::parse("other".to_string()).unwrap(), s, Role::Owner))
        };
        assert!(token(vec!["user:alice".into()]).principal(elsewhere).is_err(), "another tenant's identity");
    }

    #[test]
    fn only_a_platform_token_with_the_operator_scope_stands_for_the_operator() {
        let operator = || Principal::operator("operator:ops");
        let lookup = |_: &TenantId, subject: &str| (subject == "operator:ops").then(operator);
        let platform = |scope: &str| VerifiedToken {
            tenant: TenantId::platform(),
            scopes: Scopes::parse(scope),
            ..token(vec!["operator:ops".into()])
        };
        let p = platform("canopy:operator").principal(lookup).unwrap();
        assert_eq!(p, operator(), "exactly the static token's principal");
        assert!(platform("canopy:admin mcp:tools").principal(lookup).is_err(), "no operator scope");
        // In a tenant, an operator subject names nobody, whatever the scopes.
        let in_acme = VerifiedToken { scopes: Scopes::parse("canopy:operator"), ..token(vec!["operator:ops".into()]) };
        assert!(in_acme.principal(lookup).is_err());
        // An external issuer's identity claim never names an operator.
        assert!(subjects_named("operator:ops").iter().all(|s| !s.starts_with("operator:")));
        let bare =
            VerifiedToken { subjects: vec!["operator:ops".into(), "client:x".into()], ..platform("canopy:operator") };
        assert!(bare.principal(lookup).is_err(), "one subject only");
    }
}

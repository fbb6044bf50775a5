//! Who is asking. Development mode has no authentication: every request acts in the `default`
//! tenant as `dev`. Enterprise mode (authentication, tenants, ACLs) replaces this extractor.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use canopy_domain::TenantId;
use canopy_eventstore::CommandContext;

#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant: TenantId,
    pub actor: String,
}

impl Principal {
    /// A command context for this principal, idempotent when the request carried an
    /// `Idempotency-Key` header.
    pub fn context(&self, parts_idempotency: Option<&str>, body: &[u8]) -> CommandContext {
        let ctx = CommandContext::new(self.tenant.clone(), self.actor.clone());
        match parts_idempotency {
            Some(key) => ctx.idempotent(key, body),
            None => ctx,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Principal { tenant: TenantId::default_tenant(), actor: "user:dev".into() })
    }
}

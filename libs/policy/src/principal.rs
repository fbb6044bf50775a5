//! Who is asking: the kinds of principal, a user's role in its tenant, and the OAuth scopes its
//! token carries. Authentication (tokens, sessions) builds a [`Principal`]; this crate only reads it.

use crate::allow::AllowList;
use canopy_domain::TenantId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The tenant the principal belongs to. `None` for the operator, who belongs to none; a user
    /// or client without one is denied everything (fail closed).
    pub tenant: Option<TenantId>,
    /// Who, for audit records (`user:alice`, `client:cursor`); never consulted by a decision.
    pub subject: String,
    pub kind: PrincipalKind,
    pub scopes: Scopes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PrincipalKind {
    /// Runs the deployment: creates tenants and manages the platform. Sees nothing inside a
    /// tenant: a tenant's tools, prompts and resources are its customers' data.
    Operator,
    /// A human of a tenant (the CLI and REST API; also an MCP client when it uses a user token).
    User { role: Role },
    /// A machine identity for MCP clients (MCPJungle's `create mcp-client`): uses only what its
    /// allow list admits, manages nothing.
    Client { allow: AllowList },
    /// The single principal of development mode (no authentication): everything in the `default`
    /// tenant, nothing elsewhere.
    Development,
}

/// A user's role in its tenant, as the user aggregate records it. Owners are decided exactly
/// like admins here (both manage the tenant and use everything in it; the tenant's own rules,
/// such as who may remove an owner, are the place for the difference); members discover and
/// use everything and manage nothing.
pub use canopy_domain::identity::Role;

/// The OAuth scopes a token carries. A scope limits what a principal's kind and role would allow;
/// it never grants more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scopes {
    /// Not scope-limited: MCPJungle-style static tokens, development mode.
    All,
    /// Exactly these scopes (unknown ones are kept but grant nothing).
    Only(BTreeSet<String>),
}

impl Scopes {
    /// Discover and use tools.
    pub const TOOLS: &'static str = "mcp:tools";
    /// Discover and use (render, complete) prompts.
    pub const PROMPTS: &'static str = "mcp:prompts";
    /// Discover and use (read, subscribe, complete) resources and resource templates.
    pub const RESOURCES: &'static str = "mcp:resources";
    /// Every `Manage` action: servers, groups, enable/disable, users, clients, audit, platform.
    pub const ADMIN: &'static str = "canopy:admin";
    /// Every scope that means something, for `scopes_supported` in the OAuth metadata.
    pub const SUPPORTED: [&'static str; 4] = [Self::TOOLS, Self::PROMPTS, Self::RESOURCES, Self::ADMIN];

    pub fn all() -> Self {
        Scopes::All
    }

    pub fn none() -> Self {
        Scopes::Only(BTreeSet::new())
    }

    /// The OAuth `scope` form: names separated by spaces.
    pub fn parse(space_separated: &str) -> Self {
        Scopes::Only(space_separated.split_ascii_whitespace().map(str::to_string).collect())
    }

    pub fn grants(&self, scope: &str) -> bool {
        match self {
            Scopes::All => true,
            Scopes::Only(granted) => granted.contains(scope),
        }
    }
}

impl Principal {
    pub fn operator(subject: impl Into<String>) -> Self {
        Principal { tenant: None, subject: subject.into(), kind: PrincipalKind::Operator, scopes: Scopes::All }
    }

    pub fn user(tenant: TenantId, subject: impl Into<String>, role: Role) -> Self {
        Principal {
            tenant: Some(tenant),
            subject: subject.into(),
            kind: PrincipalKind::User { role },
            scopes: Scopes::All,
        }
    }

    pub fn client(tenant: TenantId, subject: impl Into<String>, allow: AllowList) -> Self {
        Principal {
            tenant: Some(tenant),
            subject: subject.into(),
            kind: PrincipalKind::Client { allow },
            scopes: Scopes::All,
        }
    }

    pub fn development() -> Self {
        Principal {
            tenant: Some(TenantId::default_tenant()),
            subject: "user:dev".into(),
            kind: PrincipalKind::Development,
            scopes: Scopes::All,
        }
    }

    /// Whether it manages its tenant (an owner or admin; the development principal): it may
    /// see and end what any principal of the tenant created (e.g. python environments).
    pub fn manages_tenant(&self) -> bool {
        matches!(self.kind, PrincipalKind::User { role: Role::Owner | Role::Admin } | PrincipalKind::Development)
    }

    /// The same principal, limited to the scopes of its token.
    pub fn with_scopes(self, scopes: Scopes) -> Self {
        Principal { scopes, ..self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_the_oauth_form() {
        let s = Scopes::parse(" mcp:tools  mcp:prompts unknown:thing ");
        assert!(s.grants(Scopes::TOOLS) && s.grants(Scopes::PROMPTS));
        assert!(!s.grants(Scopes::RESOURCES) && !s.grants(Scopes::ADMIN));
        assert!(!Scopes::parse("").grants(Scopes::TOOLS));
        assert!(!Scopes::none().grants(Scopes::TOOLS));
        assert!(Scopes::SUPPORTED.iter().all(|s| Scopes::all().grants(s)));
    }
}

//! Authorization at the edge: every endpoint, list item, call and notification is decided by
//! the one policy ([`canopy_policy::decide`]) for the principal of the request (set by
//! [`crate::bearer`]; development mode: [`Principal::development`]), in the principal's tenant.
//! A denial the caller must not learn from (`NotFound`) answers exactly like a name that does
//! not exist; see `canopy_policy` for the rules.
//!
//! What is decided where: the endpoint (`Use`; denied = the 404 of an unknown server or group,
//! in the crate's `require_endpoint`), each list item (`Discover`), each call, get, read,
//! completion and subscription (`Use`, through [`canopy_admission`]). A missing OAuth scope is
//! a JSON-RPC error naming it ([`denied`]), and HTTP 403 `insufficient_scope` for 2026-07-28
//! requests, whose headers name the target (`crate::bearer`).

use crate::cache::CatalogCache;
use canopy_admission::{Scope, Who};
use canopy_domain::TenantId;
use canopy_policy::{decide, Action, Decision, Denial, Principal, PrincipalKind, Target, TenantView};
use rmcp::ErrorData;
use serde_json::json;
use std::sync::Arc;

/// The authenticated principal of an HTTP request, in its extensions.
#[derive(Debug, Clone)]
pub struct RequestPrincipal(pub Arc<Principal>);

/// What the principal of one MCP request may do: its principal, the tenant it reads, and the
/// tenant's groups its decisions need.
pub(crate) struct Access {
    pub principal: Arc<Principal>,
    pub tenant: TenantId,
    view: TenantView,
}

impl Access {
    pub fn new(cache: &CatalogCache, principal: Arc<Principal>) -> Option<Access> {
        let tenant = principal.tenant.clone()?;
        let view = view(cache, &principal, &tenant);
        Some(Access { principal, tenant, view })
    }

    /// The access of the principal the HTTP request (whose parts rmcp hands to handlers)
    /// was authenticated as. Without one the request did not pass [`crate::bearer`]: refused.
    pub fn of_request(cache: &CatalogCache, extensions: &rmcp::model::Extensions) -> Result<Access, ErrorData> {
        let principal = extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<RequestPrincipal>())
            .map(|p| p.0.clone());
        principal
            .and_then(|p| Access::new(cache, p))
            .ok_or_else(|| ErrorData::invalid_request("this request is not authenticated", None))
    }

    /// The same principal as it is now, for what outlives a request (a listen stream, a
    /// session's notifications): its allow list may have changed, or it may be gone (`None`).
    pub fn refreshed(&self, cache: &CatalogCache) -> Option<Access> {
        Access::new(cache, current(cache, &self.principal, &self.tenant)?)
    }

    pub fn decide(&self, action: Action, target: &Target<'_>) -> Decision {
        decide(&self.principal, &self.tenant, action, target, &self.view)
    }

    pub fn may_discover(&self, target: &Target<'_>) -> bool {
        self.decide(Action::Discover, target).is_allow()
    }

    /// Who asks, as the admission of a call reads it.
    pub fn who(&self) -> Who<'_> {
        Who { principal: &self.principal, tenant: &self.tenant, view: &self.view }
    }

    /// Whether a session of this principal on `scope` is told of a change to `changed` (a
    /// server's name, or `group:NAME`): only when what the principal may see through that
    /// endpoint can have changed.
    pub fn hears_of(&self, scope: &Scope, changed: &str) -> bool {
        if !self.may_discover(&Target::Tenant) {
            return false;
        }
        if let Some(group) = changed.strip_prefix("group:") {
            return match scope {
                Scope::Group(g) => g == group && self.may_discover(&Target::group(group)),
                // A client's /mcp shows what its allowed groups hold now.
                Scope::All => self.allow_list().is_some_and(|allow| allow.groups.contains(group)),
                Scope::Server(_) => false,
            };
        }
        scope.includes(changed) && (self.may_discover(&Target::server(changed)) || self.sees_part_of(changed))
    }

    /// A client admitted to some of `server`'s items but not the whole server: single tools,
    /// or members of its allowed groups.
    fn sees_part_of(&self, server: &str) -> bool {
        let Some(allow) = self.allow_list() else { return false };
        let (prefixed, uri) = (format!("{server}__"), format!("canopy://{server}/"));
        let names_it = |names: &[String], start: &str| names.iter().any(|n| n.starts_with(start));
        allow.tools.iter().any(|t| t.starts_with(&prefixed))
            || allow.groups.iter().filter_map(|g| self.view.group(g)).any(|spec| {
                spec.included_servers.iter().any(|s| s == server)
                    || names_it(&spec.included_tools, &prefixed)
                    || names_it(&spec.included_prompts, &prefixed)
                    || names_it(&spec.included_resources, &uri)
            })
    }

    fn allow_list(&self) -> Option<&canopy_policy::AllowList> {
        match &self.principal.kind {
            PrincipalKind::Client { allow } => Some(allow),
            _ => None,
        }
    }
}

/// `subject` of `tenant` as it is now; the development principal never changes.
pub(crate) fn current(cache: &CatalogCache, principal: &Arc<Principal>, tenant: &TenantId) -> Option<Arc<Principal>> {
    match principal.kind {
        PrincipalKind::Development => Some(principal.clone()),
        _ => cache.identities().by_subject(tenant, &principal.subject),
    }
}

/// The tenant's groups a decision for `principal` reads: a client's allowed groups as they
/// are now (nobody else's decisions read groups).
fn view(cache: &CatalogCache, principal: &Principal, tenant: &TenantId) -> TenantView {
    match &principal.kind {
        PrincipalKind::Client { allow } => TenantView::from_groups(
            allow.groups.iter().filter_map(|g| cache.group(tenant.as_str(), g).map(|spec| (g.clone(), spec))),
        ),
        _ => TenantView::new(),
    }
}

/// What a denied request answers: `NotFound` as an unknown name; the others say why, with the
/// OAuth error in `data` (and for a missing scope, the scope that would allow it).
pub(crate) fn denied(denial: Denial, not_found: impl FnOnce() -> ErrorData) -> ErrorData {
    match denial {
        Denial::NotFound => not_found(),
        Denial::Forbidden { reason } => {
            ErrorData::invalid_request(reason.to_string(), Some(json!({"error": "forbidden"})))
        }
        Denial::InsufficientScope { needed } => ErrorData::invalid_request(
            format!("insufficient scope: this needs the '{needed}' scope"),
            Some(json!({"error": "insufficient_scope", "scope": needed})),
        ),
    }
}

/// The policy's target for an endpoint: `/mcp` is the tenant, the others their server or group.
pub(crate) fn endpoint(scope: &Scope) -> Target<'_> {
    match scope {
        Scope::All => Target::Tenant,
        Scope::Server(s) => Target::server(s),
        Scope::Group(g) => Target::group(g),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_domain::group::GroupSpec;
    use canopy_policy::{AllowList, Role, Scopes};

    fn acme() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    fn client(servers: &[&str], groups: &[&str], tools: &[&str]) -> Arc<Principal> {
        let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        let allow = AllowList { servers: set(servers), groups: set(groups), tools: set(tools) };
        Arc::new(Principal::client(acme(), "client:c", allow))
    }

    fn access(principal: Arc<Principal>, groups: &[(&str, GroupSpec)]) -> Access {
        let tenant = principal.tenant.clone().unwrap();
        Access { principal, tenant, view: TenantView::from_groups(groups.iter().cloned()) }
    }

    #[test]
    fn list_changed_reaches_only_sessions_that_see_the_server() {
        let jira = GroupSpec { included_tools: vec!["jira__search".into()], ..Default::default() };
        let cases: Vec<(Access, Scope, &str, bool)> = vec![
            (access(client(&["a"], &[], &[]), &[]), Scope::All, "a", true),
            (access(client(&["a"], &[], &[]), &[]), Scope::All, "b", false),
            (access(client(&["*"], &[], &[]), &[]), Scope::All, "b", true),
            (access(client(&[], &[], &["b__x"]), &[]), Scope::All, "b", true),
            (access(client(&[], &[], &["b__x"]), &[]), Scope::All, "bb", false),
            (access(client(&[], &["triage"], &[]), &[("triage", jira.clone())]), Scope::All, "jira", true),
            (access(client(&[], &["triage"], &[]), &[("triage", jira.clone())]), Scope::All, "time", false),
            // A group's definition changes what its clients' /mcp shows.
            (access(client(&[], &["triage"], &[]), &[("triage", jira.clone())]), Scope::All, "group:triage", true),
            (access(client(&[], &["triage"], &[]), &[]), Scope::All, "group:other", false),
            (access(client(&[], &["triage"], &[]), &[]), Scope::Group("triage".into()), "group:triage", true),
            (access(client(&["a"], &[], &[]), &[]), Scope::Group("triage".into()), "group:triage", false),
            (access(Arc::new(Principal::user(acme(), "user:u", Role::Member)), &[]), Scope::All, "b", true),
            (access(Arc::new(Principal::user(acme(), "user:u", Role::Member)), &[]), Scope::All, "group:g", false),
            (access(Arc::new(Principal::development()), &[]), Scope::Server("a".into()), "a", true),
            (access(Arc::new(Principal::development()), &[]), Scope::Server("a".into()), "b", false),
        ];
        for (access, scope, changed, expected) in cases {
            assert_eq!(access.hears_of(&scope, changed), expected, "{:?} on {scope:?} of {changed}", access.principal);
        }
    }

    #[test]
    fn denials_answer_as_unknown_names_or_say_why() {
        let unknown = || ErrorData::invalid_params("unknown tool 'x'", None);
        assert_eq!(denied(Denial::NotFound, unknown), unknown());
        let scope = denied(Denial::InsufficientScope { needed: Scopes::TOOLS }, unknown);
        assert!(scope.message.contains("'mcp:tools'"), "{scope:?}");
        assert_eq!(scope.data, Some(json!({"error": "insufficient_scope", "scope": "mcp:tools"})));
    }
}

//! The decision itself, and the helpers every list and endpoint uses.

use crate::builtin::builtin_tool_scope;
use crate::decision::{Decision, Denial, ForbiddenReason};
use crate::principal::{Principal, PrincipalKind, Role, Scopes};
use crate::target::{Action, Target};
use crate::view::TenantView;
use canopy_domain::TenantId;

/// May `principal` do `action` to `target` in `tenant`? `view` is that tenant's current groups.
///
/// Checked in this order, so a denial never says more than the principal may know:
/// 1. the platform is the operator's alone (`Forbidden`);
/// 2. anything of a tenant the principal is not in, and any tenant data for the operator:
///    `NotFound`;
/// 3. for a client, anything its allow list does not admit: `NotFound`;
/// 4. `Manage` by a member or a client: `Forbidden`;
/// 5. a token without the scope the action needs ([`scope_needed`]): `InsufficientScope`.
pub fn decide(
    principal: &Principal,
    tenant: &TenantId,
    action: Action,
    target: &Target<'_>,
    view: &TenantView,
) -> Decision {
    if let Err(denial) = authority(principal, tenant, action, target, view) {
        return Decision::Deny(denial);
    }
    match scope_needed(action, target) {
        Some(needed) if !principal.scopes.grants(needed) => Decision::Deny(Denial::InsufficientScope { needed }),
        _ => Decision::Allow,
    }
}

/// Steps 1 to 4 of [`decide`]: what the principal's kind and role allow, whatever its scopes.
fn authority(
    principal: &Principal,
    tenant: &TenantId,
    action: Action,
    target: &Target<'_>,
    view: &TenantView,
) -> Result<(), Denial> {
    let forbidden = |reason| Err(Denial::Forbidden { reason });
    if *target == Target::Platform {
        return match principal.kind {
            PrincipalKind::Operator => Ok(()),
            _ => forbidden(ForbiddenReason::OperatorOnly),
        };
    }
    let in_tenant = principal.tenant.as_ref() == Some(tenant);
    let sees_tenant = match &principal.kind {
        PrincipalKind::Operator => false,
        PrincipalKind::Development => in_tenant && tenant.as_str() == TenantId::DEFAULT,
        PrincipalKind::User { .. } | PrincipalKind::Client { .. } => in_tenant,
    };
    if !sees_tenant {
        return Err(Denial::NotFound);
    }
    if let PrincipalKind::Client { allow } = &principal.kind {
        if !allow.admits(target, view) {
            return Err(Denial::NotFound);
        }
    }
    if action == Action::Manage {
        match principal.kind {
            PrincipalKind::User { role: Role::Member } => return forbidden(ForbiddenReason::MembersCannotManage),
            PrincipalKind::Client { .. } => return forbidden(ForbiddenReason::ClientsCannotManage),
            _ => {}
        }
    }
    Ok(())
}

/// The scope a token needs for `action` on `target`: [`Scopes::ADMIN`] to manage anything; the
/// feature's scope to discover or use a tool, prompt, resource or template (a built-in server's
/// tool: its own scope, [`builtin_tool_scope`], instead of `mcp:tools`); none to discover or
/// open a server, group or the tenant (what they contain is checked item by item).
pub fn scope_needed(action: Action, target: &Target<'_>) -> Option<&'static str> {
    match (action, target) {
        (Action::Manage, _) => Some(Scopes::ADMIN),
        (_, Target::Jobs(tool)) => Some(tool.scope()),
        (_, Target::Tool { server, name }) => builtin_tool_scope(server, name).or(Some(Scopes::TOOLS)),
        (_, Target::Prompt { .. }) => Some(Scopes::PROMPTS),
        (_, Target::Resource { .. } | Target::Template { .. }) => Some(Scopes::RESOURCES),
        (_, Target::Server { .. } | Target::Group { .. } | Target::Tenant | Target::Platform) => None,
    }
}

/// The items of a list that `principal` may discover, in their order. `target` says what each
/// item is (borrowing from it).
pub fn filter<T>(
    principal: &Principal,
    tenant: &TenantId,
    view: &TenantView,
    items: impl IntoIterator<Item = T>,
    target: impl Fn(&T) -> Target<'_>,
) -> Vec<T> {
    items
        .into_iter()
        .filter(|item| decide(principal, tenant, Action::Discover, &target(item), view).is_allow())
        .collect()
}

/// [`filter`] in place.
pub fn retain<T>(
    principal: &Principal,
    tenant: &TenantId,
    view: &TenantView,
    items: &mut Vec<T>,
    target: impl Fn(&T) -> Target<'_>,
) {
    items.retain(|item| decide(principal, tenant, Action::Discover, &target(item), view).is_allow());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AllowList;

    fn acme() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    fn ask(p: &Principal, tenant: &TenantId, action: Action, target: Target<'_>) -> Decision {
        decide(p, tenant, action, &target, &TenantView::new())
    }

    #[test]
    fn forbidden_comes_before_insufficient_scope() {
        // More scope would not make a member an admin: say Forbidden, not "step up".
        let member = Principal::user(acme(), "user:m", Role::Member).with_scopes(Scopes::parse("mcp:tools"));
        assert_eq!(
            ask(&member, &acme(), Action::Manage, Target::server("x")),
            Decision::Deny(Denial::Forbidden { reason: ForbiddenReason::MembersCannotManage })
        );
        let owner = Principal::user(acme(), "user:o", Role::Owner).with_scopes(Scopes::parse("mcp:tools"));
        assert_eq!(
            ask(&owner, &acme(), Action::Manage, Target::server("x")),
            Decision::Deny(Denial::InsufficientScope { needed: Scopes::ADMIN })
        );
        assert_eq!(ask(&owner, &acme(), Action::Use, Target::tool("x", "t")), Decision::Allow);
        assert_eq!(
            ask(&owner, &acme(), Action::Use, Target::resource("x", "r://")),
            Decision::Deny(Denial::InsufficientScope { needed: Scopes::RESOURCES })
        );
    }

    #[test]
    fn builtin_tools_need_their_own_scope_instead_of_mcp_tools() {
        let with = |scopes: &str| Principal::user(acme(), "user:a", Role::Member).with_scopes(Scopes::parse(scopes));
        let tools_only = with("mcp:tools");
        assert_eq!(
            ask(&tools_only, &acme(), Action::Use, Target::tool("grid", "submit_job")),
            Decision::Deny(Denial::InsufficientScope { needed: "jobs:submit" })
        );
        assert_eq!(ask(&tools_only, &acme(), Action::Use, Target::tool("fx", "submit_job")), Decision::Allow);
        let grid = with("jobs:read jobs:submit");
        assert_eq!(ask(&grid, &acme(), Action::Use, Target::tool("grid", "submit_job")), Decision::Allow);
        assert_eq!(ask(&grid, &acme(), Action::Discover, Target::tool("grid", "list_jobs")), Decision::Allow);
        assert_eq!(
            ask(&grid, &acme(), Action::Discover, Target::tool("grid", "get_job_logs")),
            Decision::Deny(Denial::InsufficientScope { needed: "logs:read" })
        );
        assert_eq!(
            ask(&grid, &acme(), Action::Use, Target::tool("fx", "echo")),
            Decision::Deny(Denial::InsufficientScope { needed: "mcp:tools" })
        );
        // Managing a built-in (enable/disable) is still canopy:admin; static tokens carry all.
        assert_eq!(scope_needed(Action::Manage, &Target::tool("grid", "submit_job")), Some(Scopes::ADMIN));
        let owner = Principal::user(acme(), "user:o", Role::Owner);
        assert_eq!(ask(&owner, &acme(), Action::Use, Target::tool("python", "run_code")), Decision::Allow);
        // A client's allow list still comes first: not listed is NotFound, whatever the scope.
        let client =
            Principal::client(acme(), "client:c", AllowList::default()).with_scopes(Scopes::parse("jobs:submit"));
        assert_eq!(
            ask(&client, &acme(), Action::Use, Target::tool("grid", "submit_job")),
            Decision::Deny(Denial::NotFound)
        );
    }

    #[test]
    fn principals_without_a_tenant_see_nothing() {
        for kind in
            [PrincipalKind::User { role: Role::Owner }, PrincipalKind::Client { allow: AllowList::everything() }]
        {
            let p = Principal { tenant: None, subject: "x".into(), kind, scopes: Scopes::all() };
            assert_eq!(ask(&p, &acme(), Action::Discover, Target::Tenant), Decision::Deny(Denial::NotFound));
        }
    }

    #[test]
    fn development_is_confined_to_the_default_tenant() {
        let mut dev = Principal::development();
        assert_eq!(ask(&dev, &TenantId::default_tenant(), Action::Manage, Target::server("x")), Decision::Allow);
        assert_eq!(ask(&dev, &acme(), Action::Discover, Target::tool("x", "t")), Decision::Deny(Denial::NotFound));
        dev.tenant = Some(acme());
        assert_eq!(ask(&dev, &acme(), Action::Discover, Target::tool("x", "t")), Decision::Deny(Denial::NotFound));
    }

    #[test]
    fn an_operator_with_a_tenant_still_sees_no_tenant_data() {
        let mut op = Principal::operator("op:root");
        op.tenant = Some(acme());
        assert_eq!(ask(&op, &acme(), Action::Discover, Target::Tenant), Decision::Deny(Denial::NotFound));
        let limited = Principal::operator("op:ro").with_scopes(Scopes::none());
        assert_eq!(ask(&limited, &acme(), Action::Discover, Target::Platform), Decision::Allow);
        assert_eq!(
            ask(&limited, &acme(), Action::Manage, Target::Platform),
            Decision::Deny(Denial::InsufficientScope { needed: Scopes::ADMIN })
        );
    }

    #[test]
    fn filter_and_retain_keep_what_discover_allows_in_order() {
        let allow = AllowList {
            servers: ["a".to_string()].into(),
            tools: ["b__keep".to_string()].into(),
            ..Default::default()
        };
        let client = Principal::client(acme(), "client:c", allow);
        let tools = vec![("a", "1"), ("b", "drop"), ("b", "keep"), ("c", "x"), ("a", "2")];
        let view = TenantView::new();
        let kept = filter(&client, &acme(), &view, tools.clone(), |(s, n)| Target::tool(s, n));
        assert_eq!(kept, vec![("a", "1"), ("b", "keep"), ("a", "2")]);
        let mut in_place = tools;
        retain(&client, &acme(), &view, &mut in_place, |(s, n)| Target::tool(s, n));
        assert_eq!(in_place, kept);
        let other = TenantId::parse("globex").unwrap();
        assert!(filter(&client, &other, &view, kept, |(s, n)| Target::tool(s, n)).is_empty());
    }
}

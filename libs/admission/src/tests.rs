//! The decision, table-driven: every refusal kind, for every method, through every path (`/mcp`
//! and REST, a server's endpoint, a group's endpoint) gives one answer.

use super::*;
use canopy_domain::group::GroupSpec;
use canopy_domain::{ServerId, TenantId};
use canopy_mcp::call::{Refusal, UpstreamOp};
use canopy_policy::{AllowList, Denial, Principal, Role, Scopes, TenantView};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

struct Server {
    id: ServerId,
    enabled: bool,
    items: Vec<(ItemKind, &'static str, bool)>,
}

#[derive(Default)]
struct Fake {
    servers: HashMap<&'static str, Server>,
    groups: HashMap<&'static str, Arc<GroupSpec>>,
}

impl Catalog for Fake {
    fn enabled_server(&self, server: &str) -> Option<ServerId> {
        self.servers.get(server).filter(|s| s.enabled).map(|s| s.id)
    }
    fn item(&self, server: &str, item: ItemKind, name: &str) -> Listed {
        let found = self.servers.get(server).and_then(|s| s.items.iter().find(|(k, n, _)| *k == item && *n == name));
        match found {
            Some((_, _, true)) => Listed::Enabled,
            Some((_, _, false)) => Listed::Disabled,
            None => Listed::Absent,
        }
    }
    fn group(&self, group: &str) -> Option<Arc<GroupSpec>> {
        self.groups.get(group).cloned()
    }
}

fn id(n: u128) -> ServerId {
    ServerId(uuid::Uuid::from_u128(n))
}

fn catalog() -> Fake {
    let items = vec![
        (ItemKind::Tool, "echo", true),
        (ItemKind::Tool, "off", false),
        (ItemKind::Prompt, "greet", true),
        (ItemKind::Prompt, "off", false),
        (ItemKind::Resource, "test://on", true),
        (ItemKind::Resource, "test://off", false),
        (ItemKind::Template, "test://t/{id}", true),
        (ItemKind::Template, "test://off/{id}", false),
    ];
    let mut fake = Fake::default();
    fake.servers.insert("fx", Server { id: id(1), enabled: true, items: items.clone() });
    fake.servers.insert("down", Server { id: id(2), enabled: false, items });
    let every = GroupSpec { included_servers: vec!["fx".into(), "down".into(), "gone".into()], ..Default::default() };
    fake.groups.insert("g", Arc::new(every));
    fake
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

/// The name of (server, item) as each path asks it, with the path's scope.
fn paths(method: Method, server: &str, item: &str) -> Vec<(Scope, String)> {
    let by_uri = matches!(method.item(), ItemKind::Resource | ItemKind::Template);
    let prefixed = if by_uri { format!("canopy://{server}/{item}") } else { format!("{server}__{item}") };
    vec![
        (Scope::All, prefixed.clone()), // `/mcp`, and REST invoke/render/read
        (Scope::Server(server.to_string()), item.to_string()),
        (Scope::Group("g".into()), prefixed),
    ]
}

const METHODS: [Method; 6] = [
    Method::CallTool,
    Method::GetPrompt,
    Method::ReadResource,
    Method::Subscribe,
    Method::CompletePrompt,
    Method::CompleteTemplate,
];

/// An enabled, a disabled and an absent name of the method's kind.
fn names(method: Method) -> (&'static str, &'static str, &'static str) {
    match method.item() {
        ItemKind::Tool => ("echo", "off", "nope"),
        ItemKind::Prompt => ("greet", "off", "nope"),
        ItemKind::Resource => ("test://on", "test://off", "test://absent"),
        ItemKind::Template => ("test://t/{id}", "test://off/{id}", "test://absent/{id}"),
    }
}

/// `None`: admitted; else the refusal's code.
fn outcome(principal: &Principal, view: &TenantView, scope: &Scope, method: Method, name: &str) -> Option<Refusal> {
    let (t, catalog) = (tenant(), catalog());
    let who = Who { principal, tenant: &t, view };
    match decide(who, scope, Ask { method, name }, &catalog) {
        Ok(admitted) => {
            assert_eq!(admitted.method, method);
            assert_eq!(admitted.server_id, id(1));
            None
        }
        Err(refused) => Some(refused.refusal()),
    }
}

#[test]
fn every_refusal_is_the_same_on_every_path() {
    let member = Principal::user(tenant(), "user:m", Role::Member);
    let no_scope = Principal::user(tenant(), "user:m", Role::Member).with_scopes(Scopes::none());
    let allow = AllowList { servers: ["other".to_string()].into(), ..Default::default() };
    let stranger = Principal::client(tenant(), "client:c", allow);
    let view = TenantView::new();
    let not_found = Some(Refusal::NotFound);
    for method in METHODS {
        let (on, off, absent) = names(method);
        let open_ended = matches!(method.item(), ItemKind::Resource | ItemKind::Template);
        let cases: Vec<(&str, &Principal, &str, &str, Option<Refusal>)> = vec![
            ("enabled", &member, "fx", on, None),
            ("disabled item", &member, "fx", off, not_found),
            ("absent item", &member, "fx", absent, if open_ended { None } else { not_found }),
            ("disabled server", &member, "down", on, not_found),
            ("unregistered server", &member, "gone", on, not_found),
            ("outside the allow list", &stranger, "fx", on, not_found),
            ("outside the allow list, disabled", &stranger, "fx", off, not_found),
            ("without the scope", &no_scope, "fx", on, Some(Refusal::InsufficientScope)),
        ];
        for (case, principal, server, item, expected) in cases {
            for (scope, name) in paths(method, server, item) {
                let got = outcome(principal, &view, &scope, method, &name);
                assert_eq!(got, expected, "{method:?} {case}: {name} through {scope:?}");
            }
        }
    }
}

#[test]
fn names_that_resolve_to_nothing_and_items_outside_a_group_are_unknown() {
    let member = Principal::user(tenant(), "user:m", Role::Member);
    let view = TenantView::new();
    for method in METHODS {
        let (on, _, _) = names(method);
        for scope in [Scope::All, Scope::Group("g".into())] {
            assert_eq!(outcome(&member, &view, &scope, method, on), Some(Refusal::NotFound), "{method:?} {on}");
        }
        // A group that does not exist (any more) admits nothing.
        let (_, name) = paths(method, "fx", on).remove(2);
        assert_eq!(outcome(&member, &view, &Scope::Group("gone".into()), method, &name), Some(Refusal::NotFound));
    }
    // A group's exclusions apply to calls as to lists.
    let mut catalog = catalog();
    let spec = GroupSpec {
        included_servers: vec!["fx".into()],
        excluded_tools: vec!["fx__echo".into()],
        ..Default::default()
    };
    catalog.groups.insert("g", Arc::new(spec));
    let t = tenant();
    let who = Who { principal: &member, tenant: &t, view: &view };
    let refused = decide(who, &Scope::Group("g".into()), Ask { method: Method::CallTool, name: "fx__echo" }, &catalog);
    assert_eq!(refused.unwrap_err().reason, Reason::NotFound);
}

#[test]
fn a_policy_not_found_is_not_found_and_other_denials_say_why() {
    let allow = AllowList { servers: ["other".to_string()].into(), ..Default::default() };
    let stranger = Principal::client(tenant(), "client:c", allow);
    let (t, catalog, view) = (tenant(), catalog(), TenantView::new());
    let who = Who { principal: &stranger, tenant: &t, view: &view };
    let refused = decide(who, &Scope::All, Ask { method: Method::CallTool, name: "fx__echo" }, &catalog).unwrap_err();
    assert_eq!((refused.reason, refused.server.as_str(), refused.item.as_str()), (Reason::NotFound, "fx", "echo"));
    let no_scope = Principal::user(tenant(), "user:m", Role::Member).with_scopes(Scopes::parse("mcp:tools"));
    let who = Who { principal: &no_scope, tenant: &t, view: &view };
    let refused = decide(who, &Scope::All, Ask { method: Method::GetPrompt, name: "fx__greet" }, &catalog).unwrap_err();
    assert_eq!(refused.reason, Reason::Denied(Denial::InsufficientScope { needed: Scopes::PROMPTS }));
    // Another tenant's principal, asking about this tenant's catalog, learns nothing either.
    let outsider = Principal::user(TenantId::parse("globex").unwrap(), "user:o", Role::Owner);
    let who = Who { principal: &outsider, tenant: &t, view: &view };
    let refused = decide(who, &Scope::All, Ask { method: Method::CallTool, name: "fx__echo" }, &catalog).unwrap_err();
    assert_eq!(refused.refusal(), Refusal::NotFound);
}

#[test]
fn an_admitted_call_is_the_request_as_it_is() {
    let member = Principal::user(tenant(), "user:m", Role::Member);
    let (t, catalog, view) = (tenant(), catalog(), TenantView::new());
    let who = Who { principal: &member, tenant: &t, view: &view };
    let admitted = decide(who, &Scope::All, Ask { method: Method::CallTool, name: "fx__echo" }, &catalog).unwrap();
    let again = decide(who, &Scope::All, Ask { method: Method::CallTool, name: "fx__echo" }, &catalog).unwrap();
    assert_ne!(admitted.call_id, again.call_id, "each call has its own id");
    let counted = admitted.counted_as();
    assert_eq!(
        (counted.tenant, counted.principal, counted.server, counted.tool),
        ("acme", "user:m", "fx", Some("echo"))
    );
    let arguments = serde_json::json!({"message": "hi"}).as_object().cloned();
    let call_id = admitted.call_id.clone();
    let request =
        admitted.into_request(Payload::Arguments(arguments.clone()), Duration::from_secs(3), Some("s".into()));
    assert_eq!(request.call_id, call_id);
    assert_eq!(
        (request.tenant.as_str(), request.server.as_str(), request.principal.as_str()),
        ("acme", "fx", "user:m")
    );
    assert_eq!(request.server_id, id(1).0);
    assert_eq!(request.op, UpstreamOp::CallTool { tool: "echo".into(), arguments });
    assert_eq!((request.timeout_ms, request.client_subject.as_deref()), (3000, Some("s")));
    let identity: Principal = serde_json::from_value(request.identity.clone().unwrap()).unwrap();
    assert_eq!(identity, member, "the worker decides for the principal admission decided for");
    let read =
        decide(who, &Scope::Server("fx".into()), Ask { method: Method::ReadResource, name: "test://x" }, &catalog);
    let read = read.unwrap();
    assert_eq!(read.counted_as().tool, None);
    let request = read.into_request(Payload::None, Duration::from_secs(1), None);
    assert_eq!(request.op, UpstreamOp::ReadResource { uri: "test://x".into() });
}

#[test]
fn only_calls_that_do_upstream_work_are_counted() {
    let counted: Vec<Method> = METHODS.into_iter().filter(|m| m.is_counted()).collect();
    assert_eq!(counted, [Method::CallTool, Method::GetPrompt, Method::ReadResource]);
    for method in counted {
        assert_eq!(Method::counted_by_name(method.as_str()), Some(method));
    }
    assert_eq!(Method::counted_by_name("completion/complete"), None);
}

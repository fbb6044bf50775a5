//! The decision itself, pure: a name asked through a scope by a principal, against a view of the
//! catalog, is [`Admitted`] (a complete call) or [`Refused`] (and why). No I/O, no clock: the
//! only thing it makes up is the admitted call's id.

use crate::scope::Scope;
use canopy_domain::group::GroupSpec;
use canopy_domain::server::FeatureKind;
use canopy_domain::{ServerId, TenantId};
use canopy_mcp::call::{CallRequest, Refusal, UpstreamOp};
use canopy_policy::{Action, Decision, Denial, Principal, Target, TenantView};
use std::sync::Arc;
use std::time::Duration;

/// What a call does upstream. Each is one MCP method; REST invoke, render and read are the
/// first three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    CallTool,
    GetPrompt,
    ReadResource,
    Subscribe,
    /// `completion/complete` of a prompt's argument (`ref/prompt`, by the prompt's name).
    CompletePrompt,
    /// `completion/complete` of a resource template's argument (`ref/resource`, by its URI
    /// template).
    CompleteTemplate,
}

impl Method {
    /// The counted methods of the edge's pre-rmcp middleware, by their MCP method name.
    pub fn counted_by_name(method: &str) -> Option<Method> {
        match method {
            "tools/call" => Some(Method::CallTool),
            "prompts/get" => Some(Method::GetPrompt),
            "resources/read" => Some(Method::ReadResource),
            _ => None,
        }
    }

    /// The MCP method, as call records and metrics name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::CallTool => "tools/call",
            Method::GetPrompt => "prompts/get",
            Method::ReadResource => "resources/read",
            Method::Subscribe => "resources/subscribe",
            Method::CompletePrompt | Method::CompleteTemplate => "completion/complete",
        }
    }

    /// Whether a call of this method counts against the rate limits and quotas (those that do
    /// work upstream on a caller's behalf; completions and subscriptions do not).
    pub fn is_counted(self) -> bool {
        matches!(self, Method::CallTool | Method::GetPrompt | Method::ReadResource)
    }

    /// What the name of a call of this method is in the catalog.
    pub fn item(self) -> ItemKind {
        match self {
            Method::CallTool => ItemKind::Tool,
            Method::GetPrompt | Method::CompletePrompt => ItemKind::Prompt,
            Method::ReadResource | Method::Subscribe => ItemKind::Resource,
            Method::CompleteTemplate => ItemKind::Template,
        }
    }
}

/// What a name is in a server's catalog (and what a list shows, by the key the list uses:
/// name, URI or URI template, in the upstream's own terms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    Tool,
    Prompt,
    Resource,
    Template,
}

impl ItemKind {
    pub fn kind(self) -> FeatureKind {
        match self {
            ItemKind::Tool => FeatureKind::Tool,
            ItemKind::Prompt => FeatureKind::Prompt,
            ItemKind::Resource | ItemKind::Template => FeatureKind::Resource,
        }
    }

    /// The policy's target for an item of this kind.
    pub fn target<'a>(self, server: &'a str, key: &'a str) -> Target<'a> {
        match self {
            ItemKind::Tool => Target::tool(server, key),
            ItemKind::Prompt => Target::prompt(server, key),
            ItemKind::Resource => Target::resource(server, key),
            ItemKind::Template => Target::template(server, key),
        }
    }

    /// Resource URIs are open-ended (templates make them so): one the catalog does not list may
    /// still be read. Tools and prompts must be listed.
    fn open_ended(self) -> bool {
        matches!(self, ItemKind::Resource | ItemKind::Template)
    }
}

/// An item as a server's catalog lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    Enabled,
    Disabled,
    Absent,
}

/// What the decision reads of the catalog of the tenant being admitted. The edge answers from
/// its in-memory cache; the api from the read model rows of the one server a name resolves to
/// (fetched before deciding, [`crate::resolve`] says which).
pub trait Catalog {
    /// The registration of `server`, if it is registered and enabled.
    fn enabled_server(&self, server: &str) -> Option<ServerId>;
    /// How `server` lists `name` (a name, URI or URI template) of kind `item`.
    fn item(&self, server: &str, item: ItemKind, name: &str) -> Listed;
    /// A group's current membership rule, for group endpoints.
    fn group(&self, group: &str) -> Option<Arc<GroupSpec>>;
}

/// Who asks: the principal, the tenant it reads (its own) and that tenant's groups its
/// decisions need.
#[derive(Clone, Copy)]
pub struct Who<'a> {
    pub principal: &'a Principal,
    pub tenant: &'a TenantId,
    pub view: &'a TenantView,
}

/// A call as the client named it: the method and the name (tool or prompt name, resource URI,
/// URI template) in the endpoint's terms.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub method: Method,
    pub name: &'a str,
}

/// An admitted call, complete: handed on as it is into the [`CallRequest`] the worker gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// Unique per call (UUID v7): the call's record, its cancellation and its client subject
    /// name it.
    pub call_id: String,
    pub tenant: TenantId,
    /// The caller's subject (`user:alice`, `client:cursor`).
    pub principal: String,
    /// The caller as the policy decided for it; carried to the worker for built-in servers.
    pub identity: canopy_policy::Principal,
    pub server: String,
    /// The registration the caller saw; a worker holding another one reconnects first.
    pub server_id: ServerId,
    pub method: Method,
    /// The tool, prompt, resource URI or URI template in the upstream's own terms.
    pub item: String,
}

/// What a call sends upstream besides its name.
#[derive(Debug, Clone, Default)]
pub enum Payload {
    /// Resource reads and subscriptions.
    #[default]
    None,
    /// A tool call's or prompt get's arguments.
    Arguments(Option<serde_json::Map<String, serde_json::Value>>),
    /// A completion's params, their reference already in the upstream's names.
    Completion(serde_json::Value),
}

impl Admitted {
    /// The limits' view of this call: whose budgets it counts against.
    pub fn counted_as(&self) -> canopy_limits::Call<'_> {
        let tool = (self.method == Method::CallTool).then_some(self.item.as_str());
        canopy_limits::Call { tenant: self.tenant.as_str(), principal: &self.principal, server: &self.server, tool }
    }

    /// The request a worker runs: this call, `payload`, the caller's `timeout`, and where what
    /// the upstream says to the caller goes meanwhile (`client_subject`; REST has none).
    pub fn into_request(self, payload: Payload, timeout: Duration, client_subject: Option<String>) -> CallRequest {
        let arguments = |payload| match payload {
            Payload::Arguments(arguments) => arguments,
            _ => None,
        };
        let op = match self.method {
            Method::CallTool => UpstreamOp::CallTool { tool: self.item, arguments: arguments(payload) },
            Method::GetPrompt => UpstreamOp::GetPrompt { prompt: self.item, arguments: arguments(payload) },
            Method::ReadResource => UpstreamOp::ReadResource { uri: self.item },
            Method::Subscribe => UpstreamOp::Subscribe { uri: self.item },
            Method::CompletePrompt | Method::CompleteTemplate => UpstreamOp::Complete {
                params: match payload {
                    Payload::Completion(params) => params,
                    _ => serde_json::Value::Null,
                },
            },
        };
        CallRequest {
            tenant: self.tenant.to_string(),
            server: self.server,
            server_id: self.server_id.0,
            op,
            principal: self.principal,
            timeout_ms: timeout.as_millis() as u64,
            call_id: self.call_id,
            client_subject,
            identity: serde_json::to_value(&self.identity).ok(),
        }
    }
}

/// A refused call: what was asked, by whom, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub tenant: TenantId,
    pub principal: String,
    pub method: Method,
    /// The server the name resolves to (`""` when it resolves to none).
    pub server: String,
    /// The name in the upstream's terms (the name as asked when it resolves to none).
    pub item: String,
    pub reason: Reason,
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Answered exactly as a name that does not exist: no such name, a server or item that is
    /// not registered, disabled or outside the endpoint, or a policy `NotFound`.
    NotFound,
    /// The policy says why (`Forbidden`, `InsufficientScope`).
    Denied(Denial),
    /// Over a rate limit or quota (or the limits cannot be checked and the deployment fails
    /// closed): [`crate::settle`] says so, never [`decide`].
    Limited(canopy_limits::Limited),
}

impl Refused {
    /// The call record's code for this refusal.
    pub fn refusal(&self) -> Refusal {
        match &self.reason {
            Reason::NotFound | Reason::Denied(Denial::NotFound) => Refusal::NotFound,
            Reason::Denied(Denial::Forbidden { .. }) => Refusal::Forbidden,
            Reason::Denied(Denial::InsufficientScope { .. }) => Refusal::InsufficientScope,
            Reason::Limited(_) => Refusal::RateLimited,
        }
    }
}

/// The (server, item) a name asked through `scope` stands for, in the upstream's terms, if it
/// stands for any: `server__name` and `canopy://server/<uri>` on `/mcp`, group endpoints and
/// REST; the name itself on a server's endpoint.
pub fn resolve<'a>(scope: &'a Scope, ask: &Ask<'a>) -> Option<(&'a str, &'a str)> {
    match ask.method.item() {
        ItemKind::Tool | ItemKind::Prompt => scope.resolve(ask.name),
        ItemKind::Resource | ItemKind::Template => scope.resolve_uri(ask.name),
    }
}

/// Decides a call: in this order, so a refusal never says more than the principal may know,
/// (1) the name resolves through the scope, (2) the policy allows `Use` of the item, (3) the
/// endpoint admits it (a group endpoint: the group's current members), (4) its server is
/// registered and enabled, (5) the item is listed and enabled (resource URIs and templates:
/// not listed as disabled). Every refusal but the policy's `Forbidden` and `InsufficientScope`
/// is [`Reason::NotFound`]: a disabled item is unknown for `Use`, on every path.
pub fn decide(who: Who<'_>, scope: &Scope, ask: Ask<'_>, catalog: &impl Catalog) -> Result<Admitted, Refused> {
    let refuse = |server: &str, item: &str, reason| Refused {
        tenant: who.tenant.clone(),
        principal: who.principal.subject.clone(),
        method: ask.method,
        server: server.to_string(),
        item: item.to_string(),
        reason,
    };
    let kind = ask.method.item();
    let Some((server, item)) = resolve(scope, &ask) else {
        return Err(refuse("", ask.name, Reason::NotFound));
    };
    let decision = canopy_policy::decide(who.principal, who.tenant, Action::Use, &kind.target(server, item), who.view);
    if let Decision::Deny(denial) = decision {
        let reason = match denial {
            Denial::NotFound => Reason::NotFound,
            denial => Reason::Denied(denial),
        };
        return Err(refuse(server, item, reason));
    }
    let in_scope = match scope {
        Scope::Group(group) => catalog.group(group).is_some_and(|g| g.includes(kind.kind(), server, item)),
        Scope::All | Scope::Server(_) => true,
    };
    let Some(server_id) = catalog.enabled_server(server).filter(|_| in_scope) else {
        return Err(refuse(server, item, Reason::NotFound));
    };
    let usable = match catalog.item(server, kind, item) {
        Listed::Enabled => true,
        Listed::Disabled => false,
        Listed::Absent => kind.open_ended(),
    };
    if !usable {
        return Err(refuse(server, item, Reason::NotFound));
    }
    Ok(Admitted {
        call_id: uuid::Uuid::now_v7().to_string(),
        tenant: who.tenant.clone(),
        principal: who.principal.subject.clone(),
        identity: who.principal.clone(),
        server: server.to_string(),
        server_id,
        method: ask.method,
        item: item.to_string(),
    })
}

//! The edge's side of [`canopy_admission`]: its catalog cache as the decision's [`Catalog`],
//! a refusal as the JSON-RPC error an MCP client gets, and the one way a handler gets its call
//! admitted ([`admit`]): the decision the pre-rmcp middleware ([`crate::limits`]) made and
//! settled for this very request, handed on in the request's extensions, or else a decision
//! made and settled here. Either way a call is decided, counted and recorded once.

use crate::access::Access;
use crate::cache::{CachedServer, CatalogCache};
use crate::EdgeState;
use canopy_admission::{Admitted, Ask, Catalog, ItemKind, Listed, Reason, Refused, Scope};
use canopy_domain::group::GroupSpec;
use canopy_domain::ServerId;
use canopy_limits::Limiter;
use rmcp::model::ErrorCode;
use rmcp::ErrorData;
use serde_json::json;
use std::sync::Arc;

/// The JSON-RPC error code of a call refused by a rate limit (implementation-defined server
/// error range; "429").
pub const RATE_LIMITED: i32 = -32029;

/// One tenant's part of the catalog cache, as the admission reads it.
pub(crate) struct TenantCatalog<'a> {
    pub cache: &'a CatalogCache,
    pub tenant: &'a str,
}

impl Catalog for TenantCatalog<'_> {
    fn enabled_server(&self, server: &str) -> Option<ServerId> {
        self.cache.server(self.tenant, server).filter(|s| s.state.enabled).map(|s| s.state.id)
    }

    fn item(&self, server: &str, item: ItemKind, name: &str) -> Listed {
        let Some(server) = self.cache.server(self.tenant, server) else { return Listed::Absent };
        listed(&server, item, name)
    }

    fn group(&self, group: &str) -> Option<Arc<GroupSpec>> {
        self.cache.group(self.tenant, group)
    }
}

/// How a cached server lists an item (definitions the edge cannot parse are not listed, so they
/// cannot be called either).
fn listed(server: &CachedServer, item: ItemKind, name: &str) -> Listed {
    let (present, enabled) = match item {
        ItemKind::Tool => (server.tools.iter().any(|t| t.name == name), server.enabled_tools().any(|t| t.name == name)),
        ItemKind::Prompt => {
            (server.prompts.iter().any(|p| p.name == name), server.enabled_prompts().any(|p| p.name == name))
        }
        ItemKind::Resource => {
            (server.resources.iter().any(|r| r.uri == name), server.enabled_resources().any(|r| r.uri == name))
        }
        ItemKind::Template => (
            server.templates.iter().any(|t| t.uri_template == name),
            server.enabled_templates().any(|t| t.uri_template == name),
        ),
    };
    match (present, enabled) {
        (_, true) => Listed::Enabled,
        (true, false) => Listed::Disabled,
        (false, false) => Listed::Absent,
    }
}

/// A call's decision made before rmcp saw the request ([`crate::limits`]), for the handler:
/// admitted and counted, or refused by the decision and not yet recorded (a refusal by a
/// limit is answered by the middleware itself and never reaches the handler).
#[derive(Debug, Clone)]
pub(crate) struct Decided {
    /// The request's method and the name it asks for, as the client sent them.
    pub method: String,
    pub name: String,
    pub outcome: Result<Admitted, Refused>,
}

/// The decision for the call `ask` of this request on `scope`: the middleware's, when it
/// decided this very call, or else decided and settled here (counted against the limits the
/// runtime put in the request's extensions, a refusal recorded). `arguments_sha256` is asked
/// only to record a refusal.
pub(crate) async fn admit(
    state: &EdgeState,
    access: &Access,
    scope: &Scope,
    ask: Ask<'_>,
    extensions: &rmcp::model::Extensions,
    arguments_sha256: impl FnOnce() -> Option<String>,
) -> Result<Admitted, Refused> {
    let http = extensions.get::<http::request::Parts>().map(|p| &p.extensions);
    admit_request(state, access, scope, ask, http, arguments_sha256).await
}

/// [`admit`] for an HTTP request's own extensions (where the middleware's decision and the
/// runtime's [`Limiter`] are).
pub(crate) async fn admit_request(
    state: &EdgeState,
    access: &Access,
    scope: &Scope,
    ask: Ask<'_>,
    http: Option<&http::Extensions>,
    arguments_sha256: impl FnOnce() -> Option<String>,
) -> Result<Admitted, Refused> {
    let carried =
        http.and_then(|e| e.get::<Decided>()).filter(|d| d.method == ask.method.as_str() && d.name == ask.name);
    match carried {
        Some(Decided { outcome: Ok(admitted), .. }) => Ok(admitted.clone()),
        Some(Decided { outcome: Err(refused), .. }) => {
            canopy_admission::record(&state.bus, refused, arguments_sha256());
            Err(refused.clone())
        }
        None => {
            let catalog = TenantCatalog { cache: &state.cache, tenant: access.tenant.as_str() };
            let decided = canopy_admission::decide(access.who(), scope, ask, &catalog);
            let limiter = http.and_then(|e| e.get::<Limiter>());
            canopy_admission::settle(decided, limiter, &state.bus, arguments_sha256).await
        }
    }
}

/// What a refused call answers: an unknown name (`not_found`) whether it is unknown, disabled,
/// outside the endpoint or hidden by the policy; the policy's other denials say why; a limit is
/// [`RATE_LIMITED`] with when to retry.
pub(crate) fn refusal(refused: &Refused, not_found: impl FnOnce() -> ErrorData) -> ErrorData {
    match &refused.reason {
        Reason::NotFound => not_found(),
        Reason::Denied(denial) => crate::access::denied(*denial, not_found),
        Reason::Limited(limited) => refusal_of_limit(limited),
    }
}

/// The JSON-RPC error of a call over a limit.
pub(crate) fn refusal_of_limit(limited: &canopy_limits::Limited) -> ErrorData {
    let data = json!({ "retryAfter": limited.retry_after_secs(), "limit": limited.limit.as_str() });
    ErrorData::new(ErrorCode(RATE_LIMITED), limited.message(), Some(data))
}

/// The enabled servers visible through `scope`, in name order.
pub(crate) fn servers(scope: &Scope, cache: &CatalogCache, tenant: &str) -> Vec<Arc<CachedServer>> {
    let all = match scope {
        Scope::All | Scope::Group(_) => cache.servers(tenant),
        Scope::Server(s) => cache.server(tenant, s).into_iter().collect(),
    };
    all.into_iter().filter(|s| s.state.enabled).collect()
}

//! The gateway-edge service: the public MCP endpoints (Streamable HTTP via rmcp):
//! `/mcp` (every server, names `server__name`), `/servers/{server}/mcp` (one server, its own
//! names) and `/groups/{group}/mcp` or `/v0/groups/{group}/mcp` (a group's members). Lists come from an in-memory catalog cache kept fresh from the event stream; calls,
//! prompt gets and resource reads are routed to a session-worker over NATS; catalog changes
//! reach connected sessions as `notifications/*/list_changed`. Edges hold no state another edge
//! could not rebuild from Postgres and the bus. In enterprise mode every request is
//! authenticated ([`bearer`]) and every endpoint, item and notification decided for its
//! principal ([`access`]). Each call (tool call, prompt get, resource read, completion,
//! subscription) is admitted once by [`canopy_admission`] ([`admission`]: name, policy, catalog,
//! rate limits and quotas shared by every edge through Redis, the refusal's record), before
//! rmcp when the edge can read the call ([`limits`]) or else in the handler.

mod access;
mod admission;
mod audience;
mod bearer;
mod cache;
mod fast;
mod handler;
mod identities;
mod limits;
mod mrtr;
mod paging;
mod param_headers;
mod protocol;
mod redis_store;
mod relay;
mod resource_updates;
mod service;
mod session_caps;
mod sessions;
mod subscribers;

pub use access::RequestPrincipal;
pub use audience::Audience;
pub use bearer::ProtectedResource;
pub use cache::{run_catalog_sync, CatalogCache};
pub use canopy_admission::Scope;
pub use canopy_config::Mode;
pub use handler::GatewayHandler;
pub use identities::IdentityCache;
pub use limits::Limiter;
pub use mrtr::StateCodec;
pub use redis_store::RedisStores;
pub use relay::{run_client_channels, ClientChannels};
pub use resource_updates::{run_list_changes, run_resource_updates, ResourceSubscriptions};
pub use service::{Edge, EdgeParts, EdgeSettings};
pub use session_caps::{SessionLimits, SESSION_CAP_REACHED};
pub use subscribers::{run_notifier, Subscribers};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use canopy_bus::Bus;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct EdgeState {
    pub cache: Arc<CatalogCache>,
    pub bus: Bus,
    pub call_timeout: Duration,
    /// Sessions that want `list_changed` (in Redis, like the stores).
    pub subscribers: Arc<Subscribers>,
    /// Items per page of the lists the edge serves.
    pub page_size: usize,
    /// Sessions' `resources/subscribe` (in Redis, like the stores).
    pub resource_subs: Arc<ResourceSubscriptions>,
    pub channels: Arc<ClientChannels>,
    /// Seals the `requestState` of 2026-07-28 `input_required` rounds; the same key on every
    /// edge of the deployment.
    pub mrtr: Arc<StateCodec>,
    /// Development: no authentication, everything is the default tenant's. Enterprise: every
    /// request authenticated, each principal sees what the policy allows it.
    pub mode: Mode,
    /// Digests presented tokens (enterprise mode) the way the API digested them when it issued
    /// them: the deployment's key.
    pub sealer: canopy_secrets::Sealer,
}

pub struct EdgeOptions {
    /// Host header values accepted besides loopback (from the public URL).
    pub allowed_hosts: Vec<String>,
    /// `Origin` values a browser-based client may send (the public URL's origin); any other
    /// Origin is refused with 403 (DNS rebinding). Requests without Origin are not browsers.
    pub allowed_origins: Vec<String>,
    /// Where sessions and SSE events live, so any edge serves any session; a session's
    /// standalone GET stream is read from there, so notifications any edge appends reach it.
    pub stores: redis_store::RedisStores,
    /// The protected-resource metadata (enterprise mode): the public URL, the authorization
    /// servers.
    pub resource: ProtectedResource,
    /// OAuth access tokens (enterprise mode: Canopy's own and external issuers'); `None`:
    /// static tokens only.
    pub access_tokens: Option<Arc<canopy_bearer::AccessTokens>>,
    pub shutdown: CancellationToken,
    /// Whether session-era tool calls take the edge's short route ([`fast`]); off: rmcp
    /// answers every request (`gateway.short_route`).
    pub short_route: bool,
}

/// The MCP routes, with the default session caps.
pub fn router(state: EdgeState, options: EdgeOptions) -> Router {
    router_with_sessions(state, options, SessionLimits::default())
}

/// The MCP routes, sessions capped per principal and in all as `sessions` says.
pub fn router_with_sessions(state: EdgeState, options: EdgeOptions, sessions: SessionLimits) -> Router {
    let mut hosts = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    hosts.extend(options.allowed_hosts);
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(options.allowed_origins)
        .enforce_origin_validation()
        .with_cancellation_token(options.shutdown.child_token());
    let mut config = config;
    config.session_store = Some(Arc::new(options.stores.clone()));
    let owners = Arc::new(bearer::SessionOwners::new(options.stores.clone()));
    let sessions = Arc::new(sessions::SharedSessions::new(options.stores.clone(), sessions, state.call_timeout));
    let front = protocol::Front { sessions: sessions.clone(), stores: options.stores };
    let fast_sessions = Arc::new(fast::FastSessions::default());
    let fast = fast::Fast { state: state.clone(), sessions: fast_sessions.clone(), shared: sessions.clone() };
    let factory_state = state.clone();
    let factory = move || Ok(GatewayHandler::with_fast_sessions(factory_state.clone(), fast_sessions.clone()));
    let service = StreamableHttpService::new(factory, sessions, config);
    let resource = Arc::new(options.resource);
    let shared = Arc::new(state.clone());
    let authenticator = bearer::Authenticator {
        state: state.clone(),
        resource: resource.clone(),
        owners,
        tokens: options.access_tokens,
    };
    // Route layers run last-added first: authenticate, open the endpoint, check the headers,
    // count the call against its rate limits (the `Limiter` in the request's extensions), take
    // a session's tool call on the short route (`fast`), then the protocol answers and session
    // caps in front of rmcp.
    let mut mcp = Router::new()
        .route_service("/mcp", service.clone())
        .route_service("/servers/{server}/mcp", service.clone())
        .route_service("/groups/{group}/mcp", service.clone())
        .route_service("/v0/groups/{group}/mcp", service)
        .route_layer(axum::middleware::from_fn_with_state(Arc::new(front), protocol::front));
    if options.short_route {
        mcp = mcp.route_layer(axum::middleware::from_fn_with_state(Arc::new(fast), fast::fast));
    }
    // Each middleware's state is one Arc: axum clones a middleware's state for every request.
    let mcp = mcp
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), limits::check))
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), param_headers::check))
        .route_layer(axum::middleware::from_fn_with_state(shared, require_endpoint))
        .route_layer(axum::middleware::from_fn_with_state(Arc::new(authenticator), bearer::authenticate));
    match state.mode {
        Mode::Development => mcp,
        Mode::Enterprise => mcp.merge(bearer::metadata_routes(resource)),
    }
}

/// Opening an endpoint is `Use` of the tenant (`/mcp`), the server or the group by the
/// request's principal, in its tenant. A server that is not registered (or is disabled), a
/// group that does not exist and an endpoint the principal may not know of are the same 404, so
/// a client learns at once that the URL is wrong, and nothing more.
async fn require_endpoint(State(state): State<Arc<EdgeState>>, request: Request, next: Next) -> Response {
    let Some(scope) = Scope::from_path(request.uri().path()) else {
        return next.run(request).await;
    };
    let not_found = || {
        let message = match &scope {
            Scope::All => "no MCP endpoint here".to_string(),
            Scope::Server(server) => format!("no MCP server '{server}' here"),
            Scope::Group(group) => format!("no group '{group}' here"),
        };
        (StatusCode::NOT_FOUND, message).into_response()
    };
    let principal = request.extensions().get::<RequestPrincipal>().map(|p| p.0.clone());
    let Some(access) = principal.and_then(|p| access::Access::new(&state.cache, p)) else {
        return not_found();
    };
    match access.decide(canopy_policy::Action::Use, &access::endpoint(&scope)) {
        canopy_policy::Decision::Allow => {}
        canopy_policy::Decision::Deny(canopy_policy::Denial::NotFound) => return not_found(),
        canopy_policy::Decision::Deny(denial) => return (StatusCode::FORBIDDEN, denial.to_string()).into_response(),
    }
    let tenant = access.tenant.as_str();
    let exists = match &scope {
        Scope::All => true,
        Scope::Server(server) => {
            caught_up(|| state.cache.server(tenant, server).is_some_and(|s| s.state.enabled)).await
        }
        Scope::Group(group) => caught_up(|| state.cache.group(tenant, group).is_some()).await,
    };
    if exists {
        next.run(request).await
    } else {
        not_found()
    }
}

/// The cache follows the event stream a few milliseconds behind the API. A client that has
/// just created a group or registered a server, and connects at once, should not see a 404:
/// on a miss, give the cache a moment to catch up before answering that the name is unknown.
async fn caught_up(present: impl Fn() -> bool) -> bool {
    caught_up_within(Duration::from_secs(1), present).await
}

async fn caught_up_within(patience: Duration, present: impl Fn() -> bool) -> bool {
    let started = std::time::Instant::now();
    loop {
        if present() {
            return true;
        }
        if started.elapsed() >= patience {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

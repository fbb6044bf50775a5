//! The gateway-edge service: the public MCP endpoints (Streamable HTTP via rmcp):
//! `/mcp` (every server, names `server__name`), `/servers/{server}/mcp` (one server, its own
//! names) and `/groups/{group}/mcp` or `/v0/groups/{group}/mcp` (a group's members). Lists come from an in-memory catalog cache kept fresh from the event stream; calls,
//! prompt gets and resource reads are routed to a session-worker over NATS; catalog changes
//! reach connected sessions as `notifications/*/list_changed`. Edges hold no state another edge
//! could not rebuild from Postgres and the bus.

mod cache;
mod handler;
mod identities;
mod mrtr;
mod paging;
mod param_headers;
mod redis_store;
mod relay;
mod resource_updates;
mod scope;
mod sessions;
mod subscribers;

pub use cache::{run_catalog_sync, CatalogCache};
pub use handler::GatewayHandler;
pub use identities::IdentityCache;
pub use mrtr::StateCodec;
pub use redis_store::RedisStores;
pub use relay::{run_client_channels, ClientChannels};
pub use resource_updates::{run_list_changes, run_resource_updates, ResourceSubscriptions};
pub use scope::Scope;
pub use subscribers::{run_notifier, Subscribers};

use axum::extract::{Path, State};
use axum::http::StatusCode;
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
    pub shutdown: CancellationToken,
}

/// The MCP routes.
pub fn router(state: EdgeState, options: EdgeOptions) -> Router {
    let mut hosts = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    hosts.extend(options.allowed_hosts);
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(options.allowed_origins)
        .enforce_origin_validation()
        .with_cancellation_token(options.shutdown.child_token());
    let mut config = config;
    config.session_store = Some(Arc::new(options.stores.clone()));
    let sessions = sessions::SharedSessions::new(options.stores);
    let factory_state = state.clone();
    let service = StreamableHttpService::new(
        move || Ok(GatewayHandler::for_tenant(factory_state.clone(), canopy_domain::TenantId::default_tenant())),
        Arc::new(sessions),
        config,
    );
    let per_server = Router::new()
        .route_service("/servers/{server}/mcp", service.clone())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), require_server));
    let per_group = Router::new()
        .route_service("/groups/{group}/mcp", service.clone())
        .route_service("/v0/groups/{group}/mcp", service.clone())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), require_group));
    Router::new()
        .route_service("/mcp", service)
        .merge(per_server)
        .merge(per_group)
        .layer(axum::middleware::from_fn_with_state(state.clone(), param_headers::check))
}

/// `/groups/{group}/mcp` of a group that does not exist is a 404.
async fn require_group(
    State(state): State<EdgeState>,
    Path(group): Path<String>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let tenant = canopy_domain::TenantId::default_tenant();
    if caught_up(|| state.cache.group(tenant.as_str(), &group).is_some()).await {
        next.run(request).await
    } else {
        (StatusCode::NOT_FOUND, format!("no group '{group}' here")).into_response()
    }
}

/// `/servers/{server}/mcp` of a server that is not registered (or is disabled) is a 404, so a
/// client learns at once that the URL is wrong.
async fn require_server(
    State(state): State<EdgeState>,
    Path(server): Path<String>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let tenant = canopy_domain::TenantId::default_tenant();
    if caught_up(|| state.cache.server(tenant.as_str(), &server).is_some_and(|s| s.state.enabled)).await {
        next.run(request).await
    } else {
        (StatusCode::NOT_FOUND, format!("no MCP server '{server}' here")).into_response()
    }
}

/// The cache follows the event stream a few milliseconds behind the API. A client that has
/// just created a group or registered a server, and connects at once, should not see a 404:
/// on a miss, give the cache a moment to catch up before answering that the name is unknown.
async fn caught_up(present: impl Fn() -> bool) -> bool {
    const PATIENCE: Duration = Duration::from_secs(1);
    let started = std::time::Instant::now();
    loop {
        if present() {
            return true;
        }
        if started.elapsed() >= PATIENCE {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

//! The gateway-edge service: the public MCP endpoint (`/mcp`, Streamable HTTP via rmcp),
//! answering `tools/list` from an in-memory catalog cache kept fresh from the event stream and
//! routing `tools/call` to a session-worker over NATS. Edges hold no state of their own that
//! another edge could not rebuild from Postgres and the bus.

mod cache;
mod handler;

pub use cache::{run_catalog_sync, CatalogCache};
pub use handler::GatewayHandler;

use axum::Router;
use canopy_bus::Bus;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct EdgeState {
    pub cache: Arc<CatalogCache>,
    pub bus: Bus,
    pub call_timeout: Duration,
}

pub struct EdgeOptions {
    /// Host header values accepted besides loopback (from the public URL).
    pub allowed_hosts: Vec<String>,
    pub shutdown: CancellationToken,
}

/// The MCP routes: `/mcp`.
pub fn router(state: EdgeState, options: EdgeOptions) -> Router {
    let mut hosts = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    hosts.extend(options.allowed_hosts);
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_cancellation_token(options.shutdown.child_token());
    let factory_state = state.clone();
    let service = StreamableHttpService::new(
        move || {
            Ok(GatewayHandler::for_tenant(
                factory_state.clone(),
                canopy_domain::TenantId::default_tenant(),
            ))
        },
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new().nest_service("/mcp", service)
}

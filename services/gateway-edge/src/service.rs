//! The gateway-edge as one service: [`Edge::build`] makes its parts from the process's
//! connections and its settings, [`Edge::router`] serves the MCP endpoints, and [`Edge::run`]
//! runs its background work (the catalog and identity caches kept from the event stream, the
//! channels of calls listening to their upstreams, resource updates, list changes and their
//! notifier, the heartbeat that tells other edges this one is alive) until it is told to stop, then waits for all of it. The binary only composes
//! services; what the edge is made of is decided here.

use crate::{
    run_catalog_sync, run_client_channels, run_list_changes, run_notifier, run_resource_updates, Audience,
    CatalogCache, ClientChannels, EdgeOptions, EdgeState, ProtectedResource, RedisStores, ResourceSubscriptions,
    SessionLimits, StateCodec, Subscribers,
};
use axum::Router;
use canopy_bus::Bus;
use canopy_config::Mode;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long sessions, their streams and subscriptions live in Redis without use.
const STORE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// What the edge takes from its process.
pub struct EdgeParts {
    pub pool: sqlx::PgPool,
    pub bus: Bus,
    pub redis: redis::aio::ConnectionManager,
    pub sealer: canopy_secrets::Sealer,
    /// OAuth access tokens (enterprise mode); `None`: static tokens only.
    pub access_tokens: Option<Arc<canopy_bearer::AccessTokens>>,
}

/// The edge's settings (from the deployment's configuration).
pub struct EdgeSettings {
    pub mode: Mode,
    /// The NATS prefix, which also prefixes the edge's Redis keys.
    pub prefix: String,
    pub call_timeout: Duration,
    pub page_size: usize,
    /// Host header values accepted besides loopback, and the origins browsers may send.
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub resource: ProtectedResource,
    pub sessions: SessionLimits,
    /// Session-era tool calls answered on the edge's short route (`gateway.short_route`).
    pub short_route: bool,
}

/// The gateway-edge service of a process.
pub struct Edge {
    router: Router,
    cache: Arc<CatalogCache>,
    pool: sqlx::PgPool,
    bus: Bus,
    channels: Arc<ClientChannels>,
    resource_subs: Arc<ResourceSubscriptions>,
    subscribers: Arc<Subscribers>,
    audience: Arc<Audience>,
    stores: RedisStores,
}

impl Edge {
    /// The edge's state, router and background work; nothing runs before [`Edge::run`].
    /// `http_shutdown` ends the MCP endpoints' streams when the listener stops.
    pub fn build(parts: EdgeParts, settings: EdgeSettings, http_shutdown: CancellationToken) -> Edge {
        let EdgeParts { pool, bus, redis, sealer, access_tokens } = parts;
        let cache = Arc::new(CatalogCache::default());
        let stores = RedisStores::new(redis, &settings.prefix, STORE_TTL).with_wakeups(bus.client.clone());
        let subscribers = Arc::new(Subscribers::new(stores.clone()));
        let resource_subs = Arc::new(ResourceSubscriptions::new(stores.clone()));
        let channels = Arc::new(ClientChannels::default());
        let audience = Arc::new(Audience::new(settings.mode, cache.clone(), stores.clone()));
        let state = EdgeState {
            cache: cache.clone(),
            bus: bus.clone(),
            call_timeout: settings.call_timeout,
            subscribers: subscribers.clone(),
            page_size: settings.page_size,
            resource_subs: resource_subs.clone(),
            channels: channels.clone(),
            mrtr: Arc::new(StateCodec::new(sealer.derive_key("mrtr-request-state/v1"))),
            mode: settings.mode,
            sealer,
        };
        let options = EdgeOptions {
            allowed_hosts: settings.allowed_hosts,
            allowed_origins: settings.allowed_origins,
            stores: stores.clone(),
            resource: settings.resource,
            access_tokens,
            shutdown: http_shutdown,
            short_route: settings.short_route,
        };
        let router = crate::router_with_sessions(state, options, settings.sessions);
        Edge { router, cache, pool, bus, channels, resource_subs, subscribers, audience, stores }
    }

    /// The MCP endpoints.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Whether the catalog cache has caught up with the event stream (for `/readyz`).
    pub fn in_step(&self) -> canopy_bus::InStep {
        self.cache.in_step().clone()
    }

    /// Runs the edge's background work until `shutdown`, then waits for it to end.
    pub async fn run(self, shutdown: CancellationToken) {
        let Edge { cache, pool, bus, channels, resource_subs, subscribers, audience, stores, .. } = self;
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(stores.run_heartbeat(shutdown.clone()));
        tasks.spawn(run_catalog_sync(pool, bus.clone(), cache.clone(), shutdown.clone()));
        tasks.spawn(run_client_channels(bus.clone(), channels, shutdown.clone()));
        tasks.spawn(run_resource_updates(bus.clone(), resource_subs, audience.clone(), shutdown.clone()));
        tasks.spawn(run_list_changes(bus, cache.clone(), shutdown.clone()));
        tasks.spawn(run_notifier(cache, subscribers, audience, shutdown));
        while tasks.join_next().await.is_some() {}
    }
}

//! The catalog cache: every tenant's servers and tools, in memory, for `tools/list` without a
//! database round trip. Kept fresh from the EVENTS stream: the tail is opened first, then the
//! snapshot is read from Postgres, then events are applied; each server entry carries the
//! stream version it reflects and ignores anything older, so the overlap between tail and
//! snapshot is harmless.

use canopy_bus::Bus;
use canopy_domain::server::ServerEvent;
use canopy_domain::Aggregate;
use canopy_eventstore::StoredEvent;
use futures::StreamExt;
use rmcp::model::Tool;
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct CachedServer {
    pub server_id: String,
    pub version: i64,
    /// The upstream's tools with their own names.
    pub tools: Arc<Vec<Tool>>,
}

#[derive(Debug, Default)]
struct TenantCatalog {
    servers: BTreeMap<String, CachedServer>,
    /// Every tool as `server__tool`, rebuilt when a server of the tenant changes.
    prefixed: Arc<Vec<Tool>>,
}

impl TenantCatalog {
    fn rebuild(&mut self) {
        let mut all = Vec::new();
        for (server, entry) in &self.servers {
            for tool in entry.tools.iter() {
                let mut t = tool.clone();
                t.name = canopy_mcp::names::prefixed(server, &tool.name).into();
                all.push(t);
            }
        }
        self.prefixed = Arc::new(all);
    }
}

pub struct CatalogCache {
    tenants: RwLock<HashMap<String, TenantCatalog>>,
    /// Bumped on every change; ready once the first snapshot is loaded.
    generation: watch::Sender<u64>,
    ready: watch::Sender<bool>,
}

impl Default for CatalogCache {
    fn default() -> Self {
        Self {
            tenants: RwLock::default(),
            generation: watch::channel(0).0,
            ready: watch::channel(false).0,
        }
    }
}

fn to_tools(definitions: &[serde_json::Value], server: &str) -> Vec<Tool> {
    definitions
        .iter()
        .filter_map(|d| match serde_json::from_value::<Tool>(d.clone()) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(server, error = %e, "skipping a tool definition the gateway cannot serve");
                None
            }
        })
        .collect()
}

impl CatalogCache {
    /// All tools of a tenant as `server__tool`.
    pub fn prefixed_tools(&self, tenant: &str) -> Arc<Vec<Tool>> {
        let tenants = self.tenants.read().expect("cache lock");
        tenants
            .get(tenant)
            .map(|t| t.prefixed.clone())
            .unwrap_or_default()
    }

    pub fn server(&self, tenant: &str, server: &str) -> Option<CachedServer> {
        let tenants = self.tenants.read().expect("cache lock");
        tenants.get(tenant)?.servers.get(server).cloned()
    }

    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    fn update(&self, tenant: &str, change: impl FnOnce(&mut TenantCatalog) -> bool) {
        let changed = {
            let mut tenants = self.tenants.write().expect("cache lock");
            let catalog = tenants.entry(tenant.to_string()).or_default();
            let changed = change(catalog);
            if changed {
                catalog.rebuild();
            }
            changed
        };
        if changed {
            self.generation.send_modify(|g| *g += 1);
        }
    }

    fn load_snapshot(&self, entries: Vec<canopy_readmodels::CatalogEntry>) {
        for entry in entries {
            let tools = Arc::new(to_tools(&entry.tools, &entry.server_name));
            self.update(&entry.tenant_id, |catalog| {
                let newer = catalog
                    .servers
                    .get(&entry.server_name)
                    .is_none_or(|s| s.version < entry.version);
                if newer {
                    catalog.servers.insert(
                        entry.server_name.clone(),
                        CachedServer {
                            server_id: entry.server_id.to_string(),
                            version: entry.version,
                            tools,
                        },
                    );
                }
                newer
            });
        }
    }

    /// Applies one server event; anything not newer than what is cached is ignored.
    pub fn apply(&self, stored: &StoredEvent) {
        let Ok(event) = stored.decode::<ServerEvent>() else {
            return;
        };
        let server = stored.aggregate_id.clone();
        let version = stored.version;
        self.update(&stored.tenant_id, |catalog| {
            let current = catalog.servers.get(&server);
            if current.is_some_and(|s| s.version >= version) {
                return false;
            }
            match event {
                ServerEvent::Registered { id, .. } | ServerEvent::Replaced { id, .. } => {
                    catalog.servers.insert(
                        server,
                        CachedServer {
                            server_id: id.to_string(),
                            version,
                            tools: Arc::default(),
                        },
                    );
                }
                ServerEvent::CatalogDiscovered { id, catalog: c }
                | ServerEvent::CatalogRefreshed { id, catalog: c } => {
                    let tools = Arc::new(to_tools(&c.tools, &server));
                    catalog.servers.insert(
                        server,
                        CachedServer {
                            server_id: id.to_string(),
                            version,
                            tools,
                        },
                    );
                }
                ServerEvent::DiscoveryFailed { .. } => {
                    if let Some(s) = catalog.servers.get_mut(&server) {
                        s.version = version;
                    }
                    return false;
                }
                ServerEvent::Deregistered { .. } => {
                    catalog.servers.remove(&server);
                }
            }
            true
        });
    }
}

/// Keeps `cache` in step with the event stream until `shutdown`; re-syncs from a fresh
/// snapshot whenever the tail breaks.
pub async fn run_catalog_sync(
    pool: PgPool,
    bus: Bus,
    cache: Arc<CatalogCache>,
    shutdown: CancellationToken,
) {
    let filter = bus
        .subjects
        .events_of_type(canopy_domain::server::Server::TYPE);
    loop {
        match sync_once(&pool, &bus, &cache, &filter, &shutdown).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %e, "catalog sync interrupted; re-syncing"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

async fn sync_once(
    pool: &PgPool,
    bus: &Bus,
    cache: &CatalogCache,
    filter: &str,
    shutdown: &CancellationToken,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut tail = canopy_bus::tail_events(bus, filter.to_string()).await?;
    let snapshot = canopy_readmodels::all_catalogs(pool).await?;
    cache.load_snapshot(snapshot);
    cache.ready.send_replace(true);
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            e = tail.next() => e,
        };
        match next {
            Some(Ok(event)) => cache.apply(&event),
            Some(Err(e)) => return Err(Box::new(e)),
            None => return Err("event tail ended".into()),
        }
    }
}

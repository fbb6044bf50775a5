//! The catalog cache: every tenant's servers with their tools, prompts and resources, in
//! memory, so list requests never touch the database. It holds each server's aggregate state
//! (the same `apply` as the domain and the read models) at a stream version. It is kept from
//! the event stream by [`canopy_bus::follow`]: the tail is opened first, then a snapshot read
//! from Postgres REPLACES what the cache holds (a server, group or identity the snapshot lacks
//! is dropped), then events are applied; anything not newer than what is cached is ignored,
//! so the overlap is harmless. A gap, a broken tail or a lost NATS connection marks the cache
//! behind (refused requests in enterprise mode, `/readyz` not ready) until a fresh snapshot has
//! replaced it. Users and MCP clients ride along ([`IdentityCache`]).

use crate::identities::IdentityCache;
use canopy_bus::{Bus, FollowError, Follower, InStep};
use canopy_domain::group::{Group, GroupEvent, GroupSpec};
use canopy_domain::server::{FeatureKind, RegisteredServer, Server, ServerEvent};
use canopy_domain::Aggregate;
use canopy_eventstore::StoredEvent;
use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// One server as the gateway serves it: its state plus its catalog parsed into MCP types.
#[derive(Debug)]
pub struct CachedServer {
    pub version: i64,
    pub state: RegisteredServer,
    pub tools: Vec<Tool>,
    pub prompts: Vec<Prompt>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
}

fn parse<T: serde::de::DeserializeOwned>(items: &[serde_json::Value], server: &str, what: &str) -> Vec<T> {
    items
        .iter()
        .filter_map(|d| match serde_json::from_value::<T>(d.clone()) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(server, what, error = %e, "skipping a definition the gateway cannot serve");
                None
            }
        })
        .collect()
}

impl CachedServer {
    fn new(version: i64, state: RegisteredServer) -> Self {
        let name = state.name.to_string();
        let c = &state.catalog;
        Self {
            version,
            tools: parse(&c.tools, &name, "tool"),
            prompts: parse(&c.prompts, &name, "prompt"),
            resources: parse(&c.resources, &name, "resource"),
            templates: parse(&c.resource_templates, &name, "resource template"),
            state,
        }
    }

    pub fn server_id(&self) -> String {
        self.state.id.to_string()
    }

    pub fn enabled_tools(&self) -> impl Iterator<Item = &Tool> {
        self.tools.iter().filter(|t| self.state.is_enabled(FeatureKind::Tool, &t.name))
    }
    pub fn enabled_prompts(&self) -> impl Iterator<Item = &Prompt> {
        self.prompts.iter().filter(|p| self.state.is_enabled(FeatureKind::Prompt, &p.name))
    }
    pub fn enabled_resources(&self) -> impl Iterator<Item = &Resource> {
        self.resources.iter().filter(|r| self.state.is_enabled(FeatureKind::Resource, &r.uri))
    }
    pub fn enabled_templates(&self) -> impl Iterator<Item = &ResourceTemplate> {
        self.templates.iter().filter(|t| self.state.is_enabled(FeatureKind::Resource, &t.uri_template))
    }
    pub fn has_tool(&self, name: &str) -> bool {
        self.enabled_tools().any(|t| t.name == name)
    }
    pub fn has_prompt(&self, name: &str) -> bool {
        self.enabled_prompts().any(|p| p.name == name)
    }
}

/// Which tenant's which server changed; sent to whoever notifies connected clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogChange {
    pub tenant: String,
    pub server: String,
    /// The same on every edge for the same change (the aggregate's version, or the id of an
    /// upstream's announcement), so that one edge tells the sessions.
    pub id: String,
}

/// A tenant's groups: name to (stream version, spec).
type TenantGroups = BTreeMap<String, (i64, Arc<GroupSpec>)>;

pub struct CatalogCache {
    tenants: RwLock<HashMap<String, BTreeMap<String, Arc<CachedServer>>>>,
    /// (version, spec) of each group, per tenant.
    groups: RwLock<HashMap<String, TenantGroups>>,
    /// Users and MCP clients by token digest (enterprise mode), fed by the same tail.
    identities: IdentityCache,
    changes: broadcast::Sender<CatalogChange>,
    /// Whether the cache is known to hold what the log says (false until the first snapshot,
    /// and while the event stream is lost).
    in_step: InStep,
}

impl Default for CatalogCache {
    fn default() -> Self {
        Self {
            tenants: RwLock::default(),
            groups: RwLock::default(),
            identities: IdentityCache::default(),
            changes: broadcast::channel(1024).0,
            in_step: InStep::default(),
        }
    }
}

impl CatalogCache {
    pub fn server(&self, tenant: &str, server: &str) -> Option<Arc<CachedServer>> {
        self.tenants.read().expect("cache lock").get(tenant)?.get(server).cloned()
    }

    /// The tenant's servers in name order (cheap: `Arc`s).
    pub fn servers(&self, tenant: &str) -> Vec<Arc<CachedServer>> {
        self.tenants.read().expect("cache lock").get(tenant).map(|s| s.values().cloned().collect()).unwrap_or_default()
    }

    pub fn group(&self, tenant: &str, name: &str) -> Option<Arc<GroupSpec>> {
        self.groups.read().expect("cache lock").get(tenant)?.get(name).map(|(_, spec)| spec.clone())
    }

    fn group_version(&self, tenant: &str, name: &str) -> Option<i64> {
        self.groups.read().expect("cache lock").get(tenant)?.get(name).map(|(v, _)| *v)
    }

    /// `version` is the version of the group the change leaves (of its deletion when `entry`
    /// is `None`).
    fn set_group(&self, tenant: &str, name: &str, version: i64, entry: Option<(i64, GroupSpec)>) {
        {
            let mut groups = self.groups.write().expect("cache lock");
            let tenant_groups = groups.entry(tenant.to_string()).or_default();
            match entry {
                Some((version, spec)) => tenant_groups.insert(name.to_string(), (version, Arc::new(spec))),
                None => tenant_groups.remove(name),
            };
        }
        // The group's members change: tell its sessions (server names never contain ':').
        let _ = self.changes.send(CatalogChange {
            tenant: tenant.to_string(),
            server: format!("group:{name}"),
            id: format!("group/{tenant}/{name}@{version}"),
        });
    }

    fn apply_group(&self, stored: &StoredEvent) {
        let Ok(event) = stored.decode::<GroupEvent>() else { return };
        let (tenant, name) = (stored.tenant_id.as_str(), stored.aggregate_id.as_str());
        if self.group_version(tenant, name).is_some_and(|v| v >= stored.version) {
            return;
        }
        match event {
            GroupEvent::Created { spec, .. } | GroupEvent::Updated { spec } => {
                self.set_group(tenant, name, stored.version, Some((stored.version, spec)))
            }
            GroupEvent::Deleted => self.set_group(tenant, name, stored.version, None),
        }
    }

    pub fn identities(&self) -> &IdentityCache {
        &self.identities
    }

    /// True when the cache is known to hold what the log says.
    pub fn is_ready(&self) -> bool {
        self.in_step.get()
    }

    pub fn in_step(&self) -> &InStep {
        &self.in_step
    }

    pub fn changes(&self) -> broadcast::Receiver<CatalogChange> {
        self.changes.subscribe()
    }

    /// Tells the clients watching `server` that its lists changed, when the upstream says so
    /// though the catalog the gateway holds stayed the same. `id` names the announcement.
    pub fn announce(&self, tenant: &str, server: &str, id: &str) {
        let _ = self.changes.send(CatalogChange {
            tenant: tenant.to_string(),
            server: server.to_string(),
            id: format!("announce/{id}"),
        });
    }

    /// `version` is the version of the server the change leaves (of its deregistration when
    /// `entry` is `None`).
    fn set(&self, tenant: &str, server: &str, version: i64, entry: Option<CachedServer>) {
        {
            let mut tenants = self.tenants.write().expect("cache lock");
            let servers = tenants.entry(tenant.to_string()).or_default();
            match entry {
                Some(e) => servers.insert(server.to_string(), Arc::new(e)),
                None => servers.remove(server),
            };
        }
        let _ = self.changes.send(CatalogChange {
            tenant: tenant.to_string(),
            server: server.to_string(),
            id: format!("server/{tenant}/{server}@{version}"),
        });
    }

    /// Makes the servers exactly the snapshot's: newer states replace cached ones, and a
    /// server the snapshot lacks (deregistered while the stream was lost) is dropped.
    fn replace_servers(&self, snapshot: Vec<canopy_readmodels::ServerSnapshot>) {
        let mut registered = HashSet::new();
        for s in snapshot {
            if let Server::Registered(state) = s.state {
                registered.insert((s.tenant_id.clone(), s.name.clone()));
                if self.server(&s.tenant_id, &s.name).is_none_or(|c| c.version < s.version) {
                    self.set(&s.tenant_id, &s.name, s.version, Some(CachedServer::new(s.version, state)));
                }
            }
        }
        let gone: Vec<(String, String, i64)> = {
            let tenants = self.tenants.read().expect("cache lock");
            tenants
                .iter()
                .flat_map(|(tenant, servers)| servers.iter().map(move |(name, c)| (tenant, name, c.version)))
                .filter(|(tenant, name, _)| !registered.contains(&((*tenant).clone(), (*name).clone())))
                .map(|(tenant, name, version)| (tenant.clone(), name.clone(), version))
                .collect()
        };
        for (tenant, name, version) in gone {
            // The version its removal most likely had, so edges that saw the event itself and
            // edges that resynced name the change alike (a mismatch only repeats a list_changed).
            self.set(&tenant, &name, version + 1, None);
        }
    }

    /// Makes the groups exactly the snapshot's, as [`Self::replace_servers`] does servers.
    fn replace_groups(&self, snapshot: Vec<canopy_readmodels::GroupRow>) {
        let mut present = HashSet::new();
        for g in snapshot {
            present.insert((g.tenant_id.clone(), g.name.clone()));
            if self.group_version(&g.tenant_id, &g.name).is_none_or(|v| v < g.version) {
                self.set_group(&g.tenant_id, &g.name, g.version, Some((g.version, g.spec)));
            }
        }
        let gone: Vec<(String, String, i64)> = {
            let groups = self.groups.read().expect("cache lock");
            groups
                .iter()
                .flat_map(|(tenant, named)| named.iter().map(move |(name, (v, _))| (tenant, name, *v)))
                .filter(|(tenant, name, _)| !present.contains(&((*tenant).clone(), (*name).clone())))
                .map(|(tenant, name, version)| (tenant.clone(), name.clone(), version))
                .collect()
        };
        for (tenant, name, version) in gone {
            self.set_group(&tenant, &name, version + 1, None);
        }
    }

    /// Applies one server event. Returns false on a gap (an event that does not follow the
    /// cached version and cannot stand alone), which calls for a fresh snapshot.
    pub fn apply(&self, stored: &StoredEvent) -> bool {
        if stored.aggregate_type == Group::TYPE {
            self.apply_group(stored);
            return true;
        }
        if !self.identities.apply(stored) {
            return false;
        }
        if stored.aggregate_type != Server::TYPE {
            return true;
        }
        let Ok(event) = stored.decode::<ServerEvent>() else {
            return true;
        };
        let (tenant, name) = (stored.tenant_id.as_str(), stored.aggregate_id.as_str());
        let current = self.server(tenant, name);
        let starts_fresh = matches!(
            event,
            ServerEvent::Registered { .. } | ServerEvent::Replaced { .. } | ServerEvent::Deregistered { .. }
        );
        let state = match &current {
            Some(c) if c.version >= stored.version => return true,
            Some(c) if c.version + 1 == stored.version => Server::Registered(c.state.clone()),
            _ if starts_fresh => Server::Absent,
            _ => return false,
        };
        match state.apply(&event) {
            Server::Registered(state) => {
                self.set(tenant, name, stored.version, Some(CachedServer::new(stored.version, state)))
            }
            _ => self.set(tenant, name, stored.version, None),
        }
        true
    }
}

/// Keeps `cache` in step with the event stream until `shutdown`, replacing it from a fresh
/// snapshot whenever the stream may have missed something (see the module doc).
pub async fn run_catalog_sync(pool: PgPool, bus: Bus, cache: Arc<CatalogCache>, shutdown: CancellationToken) {
    // Servers, groups, identities and tenants (other aggregates are ignored): NATS 2.9 takes one
    // filter per consumer.
    let filter = bus.subjects.events_all();
    let in_step = cache.in_step.clone();
    canopy_bus::follow(bus, filter, Arc::new(CatalogFollower { pool, cache }), in_step, shutdown).await
}

struct CatalogFollower {
    pool: PgPool,
    cache: Arc<CatalogCache>,
}

impl Follower for CatalogFollower {
    async fn resync(&self) -> Result<(), FollowError> {
        let (servers, tokens, groups) = futures::try_join!(
            canopy_readmodels::all_server_states(&self.pool),
            canopy_readmodels::all_held_tokens(&self.pool),
            canopy_readmodels::all_groups(&self.pool),
        )?;
        self.cache.replace_servers(servers);
        self.cache.identities.replace(tokens);
        self.cache.replace_groups(groups);
        Ok(())
    }

    fn apply(&self, event: &StoredEvent) -> bool {
        self.cache.apply(event)
    }
}

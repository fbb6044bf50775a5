//! Jumpboot's mDNS federation, opt-in (`[python.federation]`; the mDNS side and the naming
//! rules are `canopy_federation`'s).
//!
//! The api service runs it: it owns registrations (the command executor, the same
//! [`crate::servers::register_server`] REST `POST /api/v0/servers` goes through) and its
//! background work ([`crate::Api::run`]). [`Federation::start`] (from `Api::build`, so a bad
//! interface name or an mDNS socket that cannot open stops the start with the reason) starts
//! one mDNS daemon bound to `python.federation.interfaces` and, with `announce`, announces this
//! Canopy's `python` server: instance `instance_name` (the host name by default), TXT
//! `endpoint` = `<public base>/servers/python/mcp`, `tls` = whether that is https, `note`.
//! [`Federation::run`] browses (with `discover`) until shutdown, then says goodbye.
//!
//! Each instance heard (not this one: same instance name, or same endpoint) becomes an upstream
//! Streamable HTTP server of `python.federation.tenant`, described by
//! `canopy_federation::description` (its instance and note), which is how an admin sees in any
//! server list that it came from discovery and how `list_servers` finds it:
//!
//! - **Already registered** (a server of the tenant whose description names the instance): left
//!   alone when its URL and description are what is announced; otherwise registered again
//!   under the same name (`force`), which in enterprise mode needs approval again.
//! - **Name**: the first of `canopy_federation::candidate_names` that is free: a name held by
//!   any other server (registered by hand, a built-in, another instance whose name sanitises the
//!   same) is skipped, never replaced; a registration refused as a conflict (a reserved name,
//!   a race) tries the next one.
//! - **Pending approval** (enterprise mode): registered and disabled in one transaction, so
//!   nothing of it is callable, and nothing contacts its endpoint, until an admin enables it
//!   (`canopy enable server NAME`, `POST /api/v0/servers/NAME/enable`). Its catalog stays
//!   `pending` meanwhile (the admin sees the announced endpoint and note, not its tools); the
//!   session-worker discovers it when it is enabled (`canopy_session_worker::discovery`).
//!   Development mode registers it enabled, discovered at once.
//! - **An instance that stops announcing** (goodbye, or its records expire) is **not**
//!   deregistered: mDNS is lossy (a missed refresh on a busy network, a peer restarting) and
//!   removing a server takes its tools from every agent and group mid-work and throws away an
//!   admin's approval; a server that is really gone shows as failing discovery and calls, and an
//!   admin deregisters it. It is only logged; a new announcement is checked again.
//! - A registration that fails (the database away) is tried again every
//!   [`RETRY_EVERY`] until it succeeds or the instance announces something else.
//!
//! Trust: mDNS is unauthenticated, so anyone on the link can announce any endpoint; bind it to
//! trusted interfaces (`python.federation.interfaces`). In enterprise mode approval keeps a
//! discovered server from being contacted at all: no worker connects to the announced endpoint
//! (to list its catalog or otherwise) before an admin enables it, so an announcement cannot
//! make Canopy send requests to an address of the announcer's choosing. In development mode a
//! discovery is registered enabled and contacted at once. The catalog is stored as the
//! announcer lists it; the edges list its tools as Jumpboot does, each description prefixed
//! `[NOTE] ` (`canopy_gateway_edge`'s `list_tools`, from the server's description).

use crate::servers::register_server;
use crate::ApiState;
use canopy_api_types::{ErrorCode, RegisterServerRequest};
use canopy_config::{FederationConfig, Mode};
use canopy_domain::TenantId;
use canopy_eventstore::CommandContext;
use canopy_federation::{Announcement, Discovered, Event, Mdns};
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often a discovered instance whose registration failed is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(15);

/// Who registrations are recorded as.
const ACTOR: &str = "system:federation";

/// The running federation of a process.
pub struct Federation {
    mdns: Mdns,
    /// This instance's name and endpoint, when it announces (to ignore itself).
    own: Option<(String, String)>,
    discover: bool,
    tenant: TenantId,
}

#[derive(Debug, thiserror::Error)]
pub enum FederationStartError {
    #[error(transparent)]
    Mdns(#[from] canopy_federation::FederationError),
    #[error("python.federation.tenant: {0}")]
    Tenant(String),
}

impl Federation {
    /// Starts mDNS and the announcement, when the configuration asks for either; `None` when it
    /// asks for neither.
    pub fn start(
        config: &FederationConfig,
        public_base: &str,
        pool_tenant_exists: bool,
    ) -> Result<Option<Federation>, FederationStartError> {
        if !config.announce && !config.discover {
            return Ok(None);
        }
        let tenant = TenantId::parse(config.tenant.clone()).map_err(|e| FederationStartError::Tenant(e.to_string()))?;
        if config.discover && !pool_tenant_exists {
            return Err(FederationStartError::Tenant(format!("tenant '{tenant}' does not exist")));
        }
        let mdns = Mdns::start(&config.interfaces)?;
        let mut own = None;
        if config.announce {
            let instance = if config.instance_name.is_empty() {
                canopy_federation::host_name()
            } else {
                config.instance_name.clone()
            };
            let endpoint = format!("{public_base}/servers/python/mcp");
            let port = url::Url::parse(&endpoint).ok().and_then(|u| u.port_or_known_default()).unwrap_or(80);
            let announcement = Announcement {
                instance: instance.clone(),
                endpoint: endpoint.clone(),
                tls: endpoint.starts_with("https://"),
                note: config.note.clone(),
                port,
            };
            mdns.announce(&announcement)?;
            tracing::info!(instance = %instance, endpoint = %endpoint, "announcing the python server over mDNS (_jumpboot-mcp._tcp)");
            own = Some((instance, endpoint));
        }
        Ok(Some(Federation { mdns, own, discover: config.discover, tenant }))
    }

    /// Browses and registers what it hears (with `discover`) until `shutdown`; then says goodbye.
    pub async fn run(self, state: ApiState, shutdown: CancellationToken) {
        let Federation { mdns, own, discover, tenant } = self;
        if discover {
            match mdns.browse() {
                Ok(browse) => {
                    tracing::info!(tenant = %tenant, "discovering _jumpboot-mcp._tcp servers over mDNS");
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = discover_loop(&state, &tenant, own.as_ref(), &browse) => {}
                    }
                }
                Err(e) => tracing::error!(error = %e, "mDNS discovery could not start"),
            }
        } else {
            shutdown.cancelled().await;
        }
        tokio::task::spawn_blocking(move || mdns.shutdown()).await.ok();
    }
}

async fn discover_loop(
    state: &ApiState,
    tenant: &TenantId,
    own: Option<&(String, String)>,
    browse: &canopy_federation::Browse,
) {
    // What was last registered (or last failed) per full name.
    let mut handled: HashMap<String, Discovered> = HashMap::new();
    let mut failed: HashMap<String, Discovered> = HashMap::new();
    let mut retry = tokio::time::interval(RETRY_EVERY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            event = browse.next() => match event {
                Some(event) => event,
                None => {
                    tracing::warn!("mDNS stopped; discovery ends");
                    return;
                }
            },
            _ = retry.tick() => {
                for (fullname, found) in std::mem::take(&mut failed) {
                    handle(state, tenant, found, fullname, &mut handled, &mut failed).await;
                }
                continue;
            }
        };
        match event {
            Event::Resolved(found) => {
                let itself =
                    own.is_some_and(|(instance, endpoint)| *instance == found.instance || *endpoint == found.endpoint);
                if itself || handled.get(&found.fullname) == Some(&found) {
                    continue;
                }
                let fullname = found.fullname.clone();
                handle(state, tenant, found, fullname, &mut handled, &mut failed).await;
            }
            Event::Removed(fullname) => {
                if let Some(gone) = handled.remove(&fullname) {
                    tracing::info!(instance = %gone.instance, "a discovered server stopped announcing; it stays registered (an admin may deregister it)");
                }
                failed.remove(&fullname);
            }
        }
    }
}

async fn handle(
    state: &ApiState,
    tenant: &TenantId,
    found: Discovered,
    fullname: String,
    handled: &mut HashMap<String, Discovered>,
    failed: &mut HashMap<String, Discovered>,
) {
    match ensure_registered(state, tenant, &found).await {
        Ok(name) => {
            failed.remove(&fullname);
            handled.insert(fullname, found);
            tracing::debug!(server = %name, "discovered server registered");
        }
        Err(e) => {
            tracing::warn!(instance = %found.instance, error = %e.message, "registering a discovered server failed; trying again later");
            handled.remove(&fullname);
            failed.insert(fullname, found);
        }
    }
}

/// Makes sure `found` is registered in `tenant` as the module says; returns its server name.
pub(crate) async fn ensure_registered(
    state: &ApiState,
    tenant: &TenantId,
    found: &Discovered,
) -> Result<String, crate::ApiError> {
    let description = canopy_federation::description(&found.instance, &found.note);
    let rows = canopy_readmodels::list_servers(state.pool(), tenant).await?;
    let request = |name: &str| RegisterServerRequest {
        name: name.to_string(),
        transport: Some("streamable_http".into()),
        description: description.clone(),
        url: Some(found.endpoint.clone()),
        ..Default::default()
    };
    let ctx = CommandContext::new(tenant.clone(), ACTOR);
    let pending = state.mode == Mode::Enterprise;
    let existing = rows.iter().find(|row| {
        canopy_federation::parse_description(&row.description).is_some_and(|(instance, _)| instance == found.instance)
    });
    if let Some(row) = existing {
        if row.spec.url.as_deref() == Some(found.endpoint.as_str()) && row.description == description {
            return Ok(row.name.clone());
        }
        register_server(state, tenant, &request(&row.name), true, &ctx, pending).await?;
        tracing::info!(server = %row.name, instance = %found.instance, endpoint = %found.endpoint, pending, "a discovered server announced a new endpoint or note; registered again");
        return Ok(row.name.clone());
    }
    for name in canopy_federation::candidate_names(&found.instance) {
        if rows.iter().any(|row| row.name == name) {
            continue;
        }
        match register_server(state, tenant, &request(&name), false, &ctx, pending).await {
            Ok(_) => {
                tracing::info!(server = %name, instance = %found.instance, endpoint = %found.endpoint, pending, "registered a server discovered over mDNS");
                return Ok(name);
            }
            Err(e) if e.code == ErrorCode::Conflict => continue,
            Err(e) => return Err(e),
        }
    }
    Err(crate::ApiError::new(
        ErrorCode::Conflict,
        format!(
            "no free server name for instance '{}' (tried {} names)",
            found.instance,
            canopy_federation::CANDIDATES
        ),
    ))
}

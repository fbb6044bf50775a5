//! Discovery: a durable consumer shared by all worker replicas takes each registration event
//! once, connects to the new upstream, lists its catalog and reports the result to the api
//! service (a built-in server's catalog is what it declares: no connection). Reports are
//! idempotent, so a redelivered registration is harmless.
//!
//! **A disabled server is not contacted.** Before it connects, discovery reads the
//! registration from the read model: one that is disabled at that moment is left `pending`
//! (the REST view says `pending`, `enabled: false`; the CLI adds that discovery waits for the
//! server to be enabled). A server registered pending an admin's approval (mDNS federation in
//! enterprise mode, `canopy_api::federation`) is disabled in the registration's own
//! transaction, so the read model already says so when its `Registered` (or `Replaced`) event
//! arrives here: an announcement on the LAN, which anyone can make, never makes a worker
//! connect to the endpoint it names. When such a server is enabled (`ServerToggled { enabled:
//! true }`) and its catalog is still `pending`, it is discovered then, on the same path and
//! with the same kind of report (caused by the toggle event, message id `report-{event id}`).
//! Enabling a server whose catalog was discovered (or whose discovery failed) does not list it
//! again: the refreshes (`refresh.rs`) keep a catalog current. A server registered enabled
//! (REST, federation in development mode) is discovered at once, as before; a built-in declares
//! its catalog, so it is reported whether enabled or not. Events of one server may be handled
//! side by side (a toggle with the registration before it): each reads the read model as it is
//! then, so a server enabled is discovered by one of them at least, and a second report of the
//! same catalog appends nothing.
//!
//! JetStream redelivers an event whose ack does not come within [`ACK_WAIT`]. That wait is
//! short, so a registration whose worker died mid-discovery is taken up again by a live (or
//! restarted) worker within seconds; a live discovery that takes longer (a slow upstream, up to
//! the connect timeout and every page of the catalog) tells JetStream it is still working on it
//! every [`HEARTBEAT`] (`+WPI`: the consumer loop of `canopy_bus::Durable` sends them), so it is
//! not redelivered meanwhile.

use crate::builtin::Builtins;
use crate::upstream::{self, UpstreamError, UpstreamPool};
use canopy_bus::{Bus, Handling, Outcome};
use canopy_domain::server::{ServerEvent, Transport};
use canopy_domain::Aggregate;
use canopy_domain::BuiltinKind;
use canopy_eventstore::StoredEvent;
use canopy_mcp::report::{CatalogReport, DiscoveryOutcome, COMMAND_KIND};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const CONSUMER: &str = "session-worker-discovery";

/// How long JetStream waits for a discovery's ack (or its next heartbeat) before giving the
/// registration to another worker: how long a registration whose worker died stays pending.
pub const ACK_WAIT: Duration = Duration::from_secs(5);

/// How often a running discovery tells JetStream it is still at work: well within
/// [`ACK_WAIT`], so a heartbeat or two may be late or lost without a redelivery.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Discoveries under way at once, at most, on one worker (and unacked on the consumer): each
/// runs on its own, so one slow upstream does not hold up the others.
const CONCURRENT: usize = 64;

/// Runs the discovery consumer until `shutdown`: a registration's report sent is `Ack`; one
/// that could not be sent is retried a second later (`Nak`).
pub async fn run(bus: Bus, upstreams: Arc<UpstreamPool>, builtins: Arc<Builtins>, shutdown: CancellationToken) {
    let consumer = canopy_bus::Durable {
        stream: bus.subjects.events_stream(),
        name: CONSUMER,
        filter_subject: bus.subjects.events_of_type(canopy_domain::server::Server::TYPE),
        // Short: a running discovery sends heartbeats; a dead worker's is redelivered soon.
        ack_wait: ACK_WAIT,
        max_ack_pending: CONCURRENT as i64,
    };
    let handling = Handling { concurrency: CONCURRENT, heartbeat: Some(HEARTBEAT) };
    let reporter = bus.clone();
    consumer
        .run(&bus, shutdown, handling, move |stored: StoredEvent, _| {
            let (bus, upstreams, builtins) = (reporter.clone(), upstreams.clone(), builtins.clone());
            async move {
                match handle(&bus, &upstreams, &builtins, &stored).await {
                    Ok(()) => Outcome::Ack,
                    Err(e) => {
                        tracing::warn!(error = %e, server = %stored.aggregate_id, "discovery not done (registration not read, or report not sent); will be retried");
                        Outcome::Nak(Duration::from_secs(1))
                    }
                }
            }
        })
        .await
}

/// Why an event could not be handled now (it is retried).
#[derive(Debug, thiserror::Error)]
enum HandleError {
    #[error("reading the registration: {0}")]
    Registration(sqlx::Error),
    #[error(transparent)]
    Report(#[from] canopy_bus::BusError),
}

/// What an event asks of discovery.
enum Due {
    /// A registration (or a replacement): discover it, unless it is disabled now.
    Registered { id: canopy_domain::ServerId, spec: canopy_domain::server::UpstreamSpec },
    /// The server was enabled: discover it if its catalog was never discovered.
    Enabled { id: canopy_domain::ServerId },
}

/// The registration could not be read: the database away is retried; anything else (a tenant
/// id that does not parse) never gets better, so the event is left, saying why.
fn unreadable(tenant: &str, server: &str, error: UpstreamError) -> Result<(), HandleError> {
    match error {
        UpstreamError::Database(e) => Err(HandleError::Registration(e)),
        other => {
            tracing::warn!(tenant, server, error = %other, "registration not readable: not discovered");
            Ok(())
        }
    }
}

async fn handle(
    bus: &Bus,
    upstreams: &UpstreamPool,
    builtins: &Builtins,
    stored: &StoredEvent,
) -> Result<(), HandleError> {
    let due = match stored.decode::<ServerEvent>() {
        Ok(ServerEvent::Registered { id, spec, .. }) | Ok(ServerEvent::Replaced { id, spec, .. }) => {
            Due::Registered { id, spec }
        }
        Ok(ServerEvent::ServerToggled { id, enabled: true }) => Due::Enabled { id },
        _ => return Ok(()),
    };
    let (tenant, server) = (stored.tenant_id.as_str(), stored.aggregate_id.as_str());
    let (id, spec) = match due {
        // A built-in declares its catalog: nothing is contacted, so it is reported even disabled.
        Due::Registered { id, spec } if spec.transport == Transport::Builtin => (id, spec),
        Due::Registered { id, spec } => match upstreams.registration(tenant, server).await {
            // A newer registration, or a deregistration, supersedes this one: nothing to report.
            Ok(None) => return Ok(()),
            Ok(Some(row)) if row.server_id != id.0 => return Ok(()),
            Ok(Some(row)) if !row.enabled => {
                tracing::info!(tenant, server, "registered disabled: not contacted; discovered when it is enabled");
                return Ok(());
            }
            Ok(Some(_)) => (id, spec),
            Err(e) => return unreadable(tenant, server, e),
        },
        Due::Enabled { id } => match upstreams.registration(tenant, server).await {
            // Enabled, still current, still enabled and never discovered: as a registration.
            Ok(Some(row)) if row.server_id == id.0 && row.enabled && row.status == "pending" => {
                tracing::info!(tenant, server, "enabled before its catalog was discovered: discovering it now");
                (id, row.spec)
            }
            Ok(_) => return Ok(()),
            Err(e) => return unreadable(tenant, server, e),
        },
    };
    let started = std::time::Instant::now();
    let builtin = (spec.transport == Transport::Builtin).then(|| BuiltinKind::of_server_name(server));
    let outcome = match builtin {
        // A built-in declares its catalog: nothing to connect to.
        Some(Some(kind)) => builtins.catalog(kind),
        Some(None) => DiscoveryOutcome::Failed { error: format!("'{server}' is not a built-in server") },
        // Through the pool: the connection (for stdio, the process) that discovered the catalog
        // is the one later calls reuse.
        None => match upstreams.get(tenant, server, id.0, None).await {
            Ok(connection) => {
                upstream::discover(&connection).await.unwrap_or_else(|error| DiscoveryOutcome::Failed { error })
            }
            // A newer registration, or a deregistration, supersedes this one: nothing to report.
            Err(UpstreamError::Stale { .. } | UpstreamError::NotRegistered(_)) => return Ok(()),
            Err(e) => DiscoveryOutcome::Failed { error: e.to_string() },
        },
    };
    match &outcome {
        DiscoveryOutcome::Catalog { tools, .. } => {
            tracing::info!(
                tenant,
                server,
                tools = tools.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "discovered catalog"
            )
        }
        DiscoveryOutcome::Failed { error } => {
            tracing::warn!(tenant, server, %error, "discovery failed")
        }
    }
    let report = CatalogReport {
        announced: false,
        tenant: tenant.to_string(),
        server: server.to_string(),
        server_id: id.0,
        caused_by: stored.event_id.to_string(),
        correlation_id: stored.metadata.correlation_id.to_string(),
        outcome,
    };
    // One report per registration (or enabling) event: a redelivery within the window is dropped.
    Ok(send_report(bus, report, &format!("report-{}", stored.event_id)).await?)
}

/// Publishes a catalog report on the COMMANDS work queue. A catalog too large for one NATS
/// message (which would cost the worker its bus connection) is reported as a failed discovery
/// saying so.
pub(crate) async fn send_report(
    bus: &Bus,
    mut report: CatalogReport,
    msg_id: &str,
) -> Result<(), canopy_bus::BusError> {
    let mut payload = serde_json::to_vec(&report).expect("reports serialise");
    if let Err(too_large) = canopy_bus::payload::check(&bus.client, None, &payload) {
        tracing::warn!(tenant = %report.tenant, server = %report.server, %too_large, "catalog too large for the bus");
        report.outcome = DiscoveryOutcome::Failed {
            error: format!(
                "the catalog is too large: {} bytes, limit {} bytes (the message bus's max_payload)",
                too_large.size, too_large.limit
            ),
        };
        payload = serde_json::to_vec(&report).expect("reports serialise");
    }
    bus.publish_durable(bus.subjects.command(COMMAND_KIND), msg_id, payload).await.map(|_| ())
}

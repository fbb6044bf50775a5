//! Keeping catalogs current after registration: an upstream's `list_changed` notification, or
//! the periodic sweep over the connections this worker holds, lists the catalog again and
//! reports it. The domain appends `catalog_refreshed` only when something changed, so a sweep
//! that finds nothing new writes nothing.

use crate::upstream::{self, RefreshRequest, UpstreamError, UpstreamPool};
use canopy_bus::Bus;
use canopy_mcp::report::{CatalogReport, DiscoveryOutcome};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// Notifications arriving close together are listed once.
const DEBOUNCE: Duration = Duration::from_millis(200);

pub async fn run(
    bus: Bus,
    upstreams: Arc<UpstreamPool>,
    mut requests: UnboundedReceiver<RefreshRequest>,
    sweep: Option<Duration>,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(sweep.unwrap_or(Duration::from_secs(3600)));
    ticker.tick().await; // the first tick is immediate; discovery just listed everything
    loop {
        // Each target, and whether its upstream announced a change (rather than the sweep).
        let mut due: HashMap<RefreshRequest, bool> = HashMap::new();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = requests.recv() => match r {
                Some(r) => { due.insert(r, true); }
                None => return,
            },
            _ = ticker.tick(), if sweep.is_some() => due.extend(upstreams.held().into_iter().map(|t| (t, false))),
        }
        tokio::time::sleep(DEBOUNCE).await;
        while let Ok(r) = requests.try_recv() {
            due.insert(r, true);
        }
        for (target, announced) in due {
            if let Err(e) = refresh(&bus, &upstreams, &target, announced).await {
                tracing::warn!(server = %target.server, error = %e, "catalog refresh not reported");
            }
        }
    }
}

async fn refresh(
    bus: &Bus,
    upstreams: &UpstreamPool,
    target: &RefreshRequest,
    announced: bool,
) -> Result<(), canopy_bus::BusError> {
    let outcome = match upstreams.get(&target.tenant, &target.server, target.server_id, None).await {
        Ok(connection) => {
            upstream::discover(&connection).await.unwrap_or_else(|error| DiscoveryOutcome::Failed { error })
        }
        Err(UpstreamError::Stale { .. } | UpstreamError::NotRegistered(_)) => return Ok(()),
        Err(e) => DiscoveryOutcome::Failed { error: e.to_string() },
    };
    let id = uuid::Uuid::now_v7();
    let report = CatalogReport {
        tenant: target.tenant.clone(),
        server: target.server.clone(),
        server_id: target.server_id,
        caused_by: String::new(),
        correlation_id: id.to_string(),
        outcome,
        announced,
    };
    tracing::debug!(server = %target.server, "catalog refreshed");
    crate::discovery::send_report(bus, report, &format!("refresh-{id}")).await
}

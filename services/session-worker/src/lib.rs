//! The session-worker service: everything that talks to upstream MCP servers.
//! - discovery: on a registration event, connect, list every page of the catalog, and report
//!   it to the api service over the COMMANDS work queue;
//! - calls: serve tool calls arriving over NATS request/reply, on pooled upstream connections;
//! - invalidation: drop connections of replaced or deregistered registrations.
//!
//! Invariant: upstream credentials are unsealed only here, only for the registration they
//! were sealed for, and only to be sent to that registration's upstream.

mod calls;
mod discovery;
mod upstream;

pub use upstream::UpstreamPool;

use canopy_bus::Bus;
use canopy_secrets::Sealer;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct WorkerConfig {
    pub connect_timeout: Duration,
    pub drain_timeout: Duration,
}

/// Runs discovery, the call server and invalidation until `shutdown`, then drains in-flight
/// calls (up to `drain_timeout`) before returning.
pub async fn run(
    pool: PgPool,
    bus: Bus,
    sealer: Sealer,
    config: WorkerConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let upstreams = Arc::new(UpstreamPool::new(
        pool.clone(),
        sealer,
        config.connect_timeout,
    ));
    let discovery = tokio::spawn(discovery::run(
        bus.clone(),
        upstreams.clone(),
        shutdown.clone(),
    ));
    let invalidation = tokio::spawn(upstream::run_invalidation(
        bus.clone(),
        upstreams.clone(),
        shutdown.clone(),
    ));
    let served = calls::serve(
        bus.clone(),
        upstreams.clone(),
        config.drain_timeout,
        shutdown.clone(),
    )
    .await;
    let _ = discovery.await;
    let _ = invalidation.await;
    upstreams.close_all().await;
    served
}

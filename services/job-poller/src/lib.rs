//! The job-poller service: will own the job lifecycle (claim, run on an execution backend,
//! poll, logs, artifacts, cancellation, recovery of jobs whose runner died). Today it holds
//! its connections, reports health through the shared `/healthz` and `/readyz`, and waits:
//! the workload service's jobs arrive with their own issue.
//!
//! [`backends`] holds where jobs run (a local sandbox, a Ray cluster), independent of how the
//! poller records them; the loop that claims jobs and drives backends comes next.

pub mod backends;

use canopy_bus::Bus;
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub async fn run(pool: PgPool, bus: Bus, shutdown: CancellationToken) {
    tracing::info!("job-poller ready (no execution backends configured yet)");
    let mut heartbeat = tokio::time::interval(Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = heartbeat.tick() => {
                let db_ok = sqlx::query("SELECT 1").execute(&pool).await.is_ok();
                if !db_ok || !bus.is_connected() {
                    tracing::warn!(db_ok, nats_ok = bus.is_connected(), "job-poller: a dependency is unreachable");
                }
            }
        }
    }
    tracing::info!("job-poller stopped");
}

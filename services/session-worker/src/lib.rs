//! The session-worker service: everything that talks to upstream MCP servers.
//! - discovery: on a registration event, connect, list every page of the catalog, and report
//!   it to the api service over the COMMANDS work queue;
//! - calls: serve tool calls arriving over NATS request/reply, on pooled upstream connections;
//! - invalidation: drop connections of replaced or deregistered registrations;
//! - built-in servers (`builtin/`): `grid`, `python` (and the diagnostic `canopy-echo`), whose
//!   catalogs discovery reports and whose calls run here, with no upstream.
//!
//! Invariant: upstream credentials are unsealed only here, only for the registration they
//! were sealed for, and only to be sent to that registration's upstream.

pub mod builtin;
mod calls;
mod direct;
mod discovery;
mod http;
mod progress;
pub mod quickack;
mod refresh;
mod sse;
pub mod streamable;
mod upstream;

pub use http::{HttpSetupError, UpstreamHttp};
pub use upstream::UpstreamPool;

use canopy_bus::Bus;
use canopy_secrets::Sealer;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A name for this worker instance, unique across restarts: `HOST:PID:UUID`. Other workers send
/// it the calls that need what it holds (a python environment's files, REPLs and processes).
pub fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}:{}:{}", host.trim(), std::process::id(), uuid::Uuid::now_v7().simple())
}

#[derive(Clone)]
pub struct WorkerConfig {
    pub connect_timeout: Duration,
    pub drain_timeout: Duration,
    /// Connections (and hosted processes) unused this long are closed; `None`: never.
    pub idle_timeout: Option<Duration>,
    /// How often the catalogs of held connections are listed again; `None`: only on the
    /// upstream's `list_changed`.
    pub refresh_interval: Option<Duration>,
    /// The HTTP clients of Streamable HTTP and SSE upstreams (which CAs https:// trusts).
    pub http: UpstreamHttp,
    /// Most processes per stdio registration in `session_mode` stateless.
    pub stdio_pool_max: usize,
    /// Whether the worker's view of current registrations is in step with the event log
    /// (for `/readyz`).
    pub in_step: canopy_bus::InStep,
    /// The jobs service the `grid` built-in runs on; `None`: its tools answer "not available".
    pub jobs: Option<canopy_jobs::Jobs>,
    /// The python built-in's engine and quotas; `None`: it answers every call with a failure.
    pub python: Option<builtin::python::PythonSettings>,
    /// Whether this worker also takes the calls of an edge or api in its own process directly,
    /// without NATS (`canopy_bus::calls::LocalWorker`).
    pub local_calls: bool,
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
    let worker = worker_id();
    let (refresh_tx, refresh_rx) = tokio::sync::mpsc::unbounded_channel();
    let routes = Arc::new(progress::ProgressRoutes::new(bus.clone()));
    let upstreams = Arc::new(
        UpstreamPool::new(pool.clone(), sealer, config.connect_timeout)
            .with_http(config.http.clone())
            .with_stdio_pool_max(config.stdio_pool_max)
            .with_refresh(refresh_tx)
            .with_progress(routes, bus.subjects.prefix()),
    );
    let mut background = tokio::task::JoinSet::new();
    let grid = config.jobs.clone().map(|jobs| builtin::grid::GridJobs { jobs, pool: pool.clone() });
    let builtins = Arc::new(
        builtin::Builtins::with_python(
            grid,
            config.python.clone(),
            builtin::python::PythonStore::for_worker(pool.clone(), worker.clone(), Some(bus.clone())),
        )
        .await,
    );
    background.spawn(discovery::run(bus.clone(), upstreams.clone(), builtins.clone(), shutdown.clone()));
    background.spawn(upstream::run_invalidation(
        pool.clone(),
        bus.clone(),
        upstreams.clone(),
        config.in_step.clone(),
        shutdown.clone(),
    ));
    background.spawn(refresh::run(
        bus.clone(),
        upstreams.clone(),
        refresh_rx,
        config.refresh_interval,
        shutdown.clone(),
    ));
    if let Some(idle) = config.idle_timeout {
        let (upstreams, stop) = (upstreams.clone(), shutdown.clone());
        background.spawn(async move {
            let mut tick = tokio::time::interval((idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(30)));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => { upstreams.reap_idle(idle); }
                }
            }
        });
    }
    let server = calls::CallServer::new(bus.clone(), upstreams.clone(), builtins, worker);
    let served = server.serve(config.local_calls, config.drain_timeout, shutdown.clone()).await;
    while background.join_next().await.is_some() {}
    upstreams.close_all().await;
    served
}

//! The job-poller service: owns the job lifecycle. It claims queued jobs fairly across
//! tenants, places them on an execution backend, follows them (logs, cancellation, leases),
//! collects their artifacts and records every transition through `canopy-jobs`; a job whose
//! poller died is taken over by another one (or by itself when it restarts).
//!
//! - [`runner`]: the loop and one job's life (see its module doc for the mechanism and why).
//! - [`backends`]: where jobs run (a local sandbox, a Ray cluster), independent of how the
//!   poller records them.

pub mod backends;
pub mod runner;

pub use runner::{Poller, PollerConfig};

use backends::{Backend, BlobArtifactDrop, LocalBackend, LocalConfig, RayBackend, RayConfig};
use canopy_bus::Bus;
use canopy_jobs::Jobs;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The backends `[jobs.backends]` enables. One that cannot start here (no sandbox support on
/// this host) is left out with an error in the log; the others run.
pub async fn backends_from_config(config: &canopy_config::Config, jobs: &Jobs) -> Vec<Arc<dyn Backend>> {
    let mut backends: Vec<Arc<dyn Backend>> = Vec::new();
    if let Some(local) = config.jobs.backends.get("local").filter(|b| b.enabled) {
        let mut settings = LocalConfig::default();
        if local.slots > 0 {
            settings.slots = local.slots;
        }
        match LocalBackend::new(settings).await {
            Ok(backend) => backends.push(Arc::new(backend)),
            Err(e) => tracing::error!(
                error = %error_chain(&e),
                "the local job backend cannot run on this host (bubblewrap and user namespaces are needed); \
                 jobs routed to it wait queued until a job-poller that can run them is up"
            ),
        }
    }
    if let Some(ray) = config.jobs.backends.get("ray").filter(|b| b.enabled) {
        let mut settings = RayConfig::new(&ray.dashboard_url);
        if ray.slots > 0 {
            settings.slots = ray.slots;
        }
        match RayBackend::new(settings, Arc::new(BlobArtifactDrop::new(jobs.urls().clone()))) {
            Ok(backend) => backends.push(Arc::new(backend)),
            Err(e) => tracing::error!(error = %error_chain(&e), "the ray job backend cannot be set up"),
        }
    }
    backends
}

/// Where a poller makes jobs' host workspaces: under the system's temporary directory (the
/// sandbox's uid must traverse every level above a workspace, which a state directory under a
/// home directory would not allow), one directory per Canopy uid.
pub fn default_work_dir() -> std::path::PathBuf {
    // SAFETY: geteuid(2) cannot fail.
    let uid = unsafe { libc::geteuid() };
    std::env::temp_dir().join(format!("canopy-jobs-{uid}"))
}

/// The service as `canopy start` runs it: the configured backends and one [`Poller`].
pub async fn run(config: canopy_config::Config, jobs: Jobs, bus: Bus, shutdown: CancellationToken) {
    let backends = backends_from_config(&config, &jobs).await;
    if backends.is_empty() {
        tracing::error!("job-poller: no execution backend can run here; it claims no jobs");
    }
    let mut settings = PollerConfig::new(PollerConfig::default_runner(), default_work_dir());
    settings.drain = Duration::from_secs(config.worker.drain_timeout_secs);
    Poller::new(jobs, bus, backends, settings).run(shutdown).await;
}

pub(crate) use canopy_domain::error_chain;

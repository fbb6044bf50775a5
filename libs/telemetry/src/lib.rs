//! canopy-telemetry: the one place where logging, tracing and metrics are set up for every
//! Canopy service.
//!
//! Call [`init`] once at start-up (calling it again is harmless) and keep the returned
//! [`Telemetry`] alive until the service stops:
//!
//! - `tracing` events and spans are written to stderr (human or JSON, filtered by
//!   `log_filter` or `RUST_LOG`) and, when `otlp_endpoint` is set, spans are exported over
//!   OTLP/HTTP (protobuf, batched) with resource `service.name`;
//! - `metrics::counter!` / `gauge!` / `histogram!` go to a Prometheus registry (render it with
//!   [`Telemetry::render_prometheus`] or [`prometheus_handle`]; this crate opens no listener)
//!   and, when `otlp_endpoint` is set, to OTLP/HTTP metrics (periodic reader, cumulative);
//! - the W3C trace-context propagator and the tracer/meter providers are registered with
//!   `opentelemetry::global`; [`current_traceparent`] and [`set_parent_from_traceparent`] carry
//!   the trace across processes.
//!
//! Everything installed is process-global and set up by the first successful [`init`]; later
//! calls validate their config, log a warning for settings that differ from the first call, and
//! return another handle to the same state (same Prometheus registry, same exporters). OTLP
//! export is flushed whenever a handle is shut down or dropped and stopped when the last live
//! handle goes; it is not restarted by a later [`init`].

mod config;
mod error;
mod otlp;
mod propagation;
mod recorder;

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::{Layered, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry};

pub use config::{LogFormat, TelemetryConfig};
pub use error::TelemetryError;
pub use metrics_exporter_prometheus::PrometheusHandle;
pub use propagation::{current_traceparent, set_parent_from_traceparent};

/// Instrumentation scope of Canopy's tracer and meter.
const SCOPE: &str = "canopy";

/// Bucket bounds (seconds) for histograms whose name ends in `_seconds`; other histograms are
/// rendered as Prometheus summaries.
const SECONDS_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Serialises [`init`] calls.
static INIT_LOCK: Mutex<()> = Mutex::new(());
/// Set by the first successful [`init`].
static GLOBAL: OnceLock<Global> = OnceLock::new();

/// Process-wide telemetry state.
struct Global {
    /// The config of the first `init`, which decided what is installed.
    config: TelemetryConfig,
    prometheus: Option<PrometheusHandle>,
    otlp: Option<otlp::OtlpPipeline>,
    /// Live [`Telemetry`] handles; OTLP export stops when it drops to zero.
    live: Mutex<usize>,
    otlp_stopped: AtomicBool,
}

impl Global {
    fn acquire(&'static self) -> Telemetry {
        *self.live.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        if self.otlp_stopped.load(Ordering::Acquire) {
            tracing::warn!(
                "OTLP export was stopped when the last Telemetry handle was released; \
                 it is not restarted"
            );
        }
        Telemetry { global: self, released: false }
    }

    fn release(&self) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        *live = live.saturating_sub(1);
        // Flush while holding the count so a concurrent `init` sees a settled state.
        if let Some(otlp) = self.otlp.as_ref().filter(|_| !self.otlp_stopped.load(Ordering::Acquire)) {
            if *live == 0 {
                self.otlp_stopped.store(true, Ordering::Release);
                otlp.shutdown();
            } else {
                otlp.flush();
            }
        }
    }
}

/// Handle on the process's telemetry. Shutting it down (or dropping it) flushes the OTLP
/// exporters; when the last handle goes, OTLP export is stopped. Both may block for up to
/// a few seconds while buffered data is sent; from async code prefer
/// `tokio::task::spawn_blocking(move || telemetry.shutdown())`.
#[must_use = "dropping the Telemetry handle flushes and may stop OTLP export"]
pub struct Telemetry {
    global: &'static Global,
    released: bool,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("service_name", &self.global.config.service_name)
            .field("prometheus", &self.global.prometheus.is_some())
            .field("otlp", &self.global.otlp.is_some())
            .finish()
    }
}

impl Telemetry {
    /// The Prometheus text exposition of every metric recorded so far (empty when the first
    /// `init` had `prometheus: false`).
    pub fn render_prometheus(&self) -> String {
        self.global.prometheus.as_ref().map(PrometheusHandle::render).unwrap_or_default()
    }

    /// Flushes the exporters and releases this handle (see the type's docs).
    pub fn shutdown(mut self) {
        self.release();
    }

    fn release(&mut self) {
        if !std::mem::replace(&mut self.released, true) {
            self.global.release();
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.release();
    }
}

/// The process's Prometheus registry, for a `/metrics` handler that does not own a
/// [`Telemetry`]: `prometheus_handle().map(|h| h.render())`. `None` before the first [`init`]
/// or when it had `prometheus: false`.
pub fn prometheus_handle() -> Option<PrometheusHandle> {
    GLOBAL.get()?.prometheus.clone()
}

/// Installs logging, tracing and metrics for this process (see the crate docs). Safe to call
/// more than once: only the first successful call installs anything.
pub fn init(cfg: &TelemetryConfig) -> Result<Telemetry, TelemetryError> {
    // Validate everything first, so that a bad config never leaves half-installed state.
    if cfg.service_name.trim().is_empty() {
        return Err(TelemetryError::InvalidServiceName(cfg.service_name.clone()));
    }
    let filter = env_filter(cfg)?;
    let endpoint = match cfg.otlp_endpoint.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(value) => Some(otlp::parse_endpoint(value)?),
    };

    let _guard = INIT_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(global) = GLOBAL.get() {
        if global.config != *cfg {
            tracing::warn!(
                service_name = %cfg.service_name,
                installed_for = %global.config.service_name,
                "telemetry is already initialised in this process; keeping the first configuration"
            );
        }
        return Ok(global.acquire());
    }

    let otlp = match &endpoint {
        Some(endpoint) => Some(otlp::OtlpPipeline::build(&cfg.service_name, endpoint)?),
        None => None,
    };

    let mut notes = Vec::new();

    // Metrics.
    let prometheus = cfg.prometheus.then(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)
            .expect("SECONDS_BUCKETS is not empty")
            .build_recorder()
    });
    let prometheus_handle = prometheus.as_ref().map(|r| r.handle());
    let meter = otlp.as_ref().map(|o| o.meter_provider.meter(SCOPE));
    if prometheus.is_some() || meter.is_some() {
        let recorder = recorder::FanoutRecorder::new(prometheus, meter);
        if metrics::set_global_recorder(recorder).is_err() {
            notes.push(
                "a global `metrics` recorder was already installed; metrics macros will not reach canopy-telemetry",
            );
        }
    }
    if let Some(handle) = &prometheus_handle {
        spawn_upkeep(handle.clone())?;
    }

    // Tracing.
    let fmt_layer = match cfg.log_format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    };
    let mut layers: Vec<Box<dyn Layer<Layered<EnvFilter, Registry>> + Send + Sync>> = vec![fmt_layer];
    if let Some(otlp) = &otlp {
        let tracer = otlp.tracer_provider.tracer(SCOPE);
        layers.push(tracing_opentelemetry::layer().with_tracer(tracer).boxed());
        opentelemetry::global::set_tracer_provider(otlp.tracer_provider.clone());
        opentelemetry::global::set_meter_provider(otlp.meter_provider.clone());
    }
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    if let Err(e) = tracing_subscriber::registry().with(filter).with(layers).try_init() {
        // Another subscriber (or `log` logger) was installed first, e.g. by a test harness.
        tracing::debug!(error = %e, "global tracing subscriber not installed");
        if otlp.is_some() {
            notes.push("a global tracing subscriber was already installed; spans are not exported over OTLP");
        }
    }
    for note in notes {
        tracing::warn!("{note}");
    }

    let global = GLOBAL.get_or_init(|| Global {
        config: cfg.clone(),
        prometheus: prometheus_handle,
        otlp,
        live: Mutex::new(0),
        otlp_stopped: AtomicBool::new(false),
    });
    let telemetry = global.acquire();
    tracing::debug!(
        service_name = %cfg.service_name,
        otlp_endpoint = endpoint.as_ref().map(|e| e.base.as_str()),
        prometheus = cfg.prometheus,
        "telemetry initialised"
    );
    Ok(telemetry)
}

/// `RUST_LOG` (when set and non-empty) or `log_filter` (default `info`).
fn env_filter(cfg: &TelemetryConfig) -> Result<EnvFilter, TelemetryError> {
    let (setting, value) = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => ("RUST_LOG", v),
        _ if cfg.log_filter.trim().is_empty() => ("log_filter", "info".to_owned()),
        _ => ("log_filter", cfg.log_filter.clone()),
    };
    EnvFilter::try_new(&value).map_err(|e| TelemetryError::InvalidLogFilter { setting, value, reason: e.to_string() })
}

/// Drains histogram samples into the Prometheus registry every few seconds, so memory stays
/// bounded even when nobody scrapes `/metrics`.
fn spawn_upkeep(handle: PrometheusHandle) -> Result<(), TelemetryError> {
    std::thread::Builder::new()
        .name("canopy-metrics-upkeep".to_owned())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            handle.run_upkeep();
        })
        .map(drop)
        .map_err(|source| TelemetryError::Io { what: "the Prometheus upkeep thread", source })
}

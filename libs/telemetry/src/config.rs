//! Telemetry settings: what every Canopy service reads from its configuration to decide how it
//! logs (format, filter), where it sends traces and metrics (OTLP/HTTP endpoint) and whether it
//! keeps a Prometheus registry for `/metrics`.

use serde::Deserialize;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable single lines (ANSI colours when stderr is a terminal).
    #[default]
    Human,
    /// One JSON object per line, event fields flattened, with the current span.
    Json,
}

/// Telemetry settings of one service (or of the all-in-one `canopy start` process).
///
/// Every field has a default, so `{}` deserialises to [`TelemetryConfig::default`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    /// `service.name` resource attribute of exported spans and metrics.
    pub service_name: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// `tracing_subscriber::EnvFilter` directives, e.g. `info,canopy_api=debug`.
    /// A non-empty `RUST_LOG` environment variable takes precedence.
    pub log_filter: String,
    /// Base URL of an OTLP/HTTP receiver, e.g. `http://127.0.0.1:4318`. Spans go to
    /// `{endpoint}/v1/traces`, metrics to `{endpoint}/v1/metrics`. `None` (or an empty string)
    /// disables OTLP export.
    pub otlp_endpoint: Option<String>,
    /// Keep a Prometheus registry fed by the `metrics` macros, rendered by
    /// [`crate::Telemetry::render_prometheus`] / [`crate::prometheus_handle`].
    pub prometheus: bool,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            service_name: "canopy".to_owned(),
            log_format: LogFormat::Human,
            log_filter: "info".to_owned(),
            otlp_endpoint: None,
            prometheus: true,
        }
    }
}

//! Errors returned by [`crate::init`]; each message names the offending setting.

/// Why telemetry could not be initialised.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `service_name` is empty.
    #[error("invalid service_name '{0}': must not be empty")]
    InvalidServiceName(String),

    /// `log_filter` (or the `RUST_LOG` variable overriding it) is not valid `EnvFilter` syntax.
    #[error("invalid {setting} '{value}': {reason}")]
    InvalidLogFilter {
        /// `log_filter` or `RUST_LOG`.
        setting: &'static str,
        value: String,
        reason: String,
    },

    /// `otlp_endpoint` is not an `http://` or `https://` base URL.
    #[error("invalid otlp_endpoint '{value}': {reason}")]
    InvalidOtlpEndpoint { value: String, reason: String },

    /// An OTLP exporter could not be built for a valid-looking endpoint.
    #[error("otlp_endpoint '{endpoint}': cannot build the OTLP {signal} exporter: {reason}")]
    OtlpExporter { endpoint: String, signal: &'static str, reason: String },

    /// A background thread or runtime could not be started.
    #[error("telemetry: cannot start {what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

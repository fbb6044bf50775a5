//! OTLP/HTTP (protobuf) export of spans (batch processor) and metrics (periodic reader).
//!
//! The SDK's batch span processor and periodic reader run on their own threads and drive the
//! exporter with a plain `block_on`, outside any tokio runtime, so the async `reqwest` client
//! cannot be used there directly. [`IoClient`] runs each request on a small dedicated
//! current-thread tokio runtime instead: exports work whether or not the service has a runtime,
//! and flushing never waits on the (possibly blocked) caller's runtime. That thread also has
//! tracing switched off, so the HTTP stack's own spans and events cannot feed back into export.

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

use crate::TelemetryError;

/// Time allowed for one OTLP HTTP request.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-signal URLs derived from a validated `otlp_endpoint`.
#[derive(Debug, Clone)]
pub(crate) struct OtlpEndpoint {
    pub(crate) base: String,
    pub(crate) traces: String,
    pub(crate) metrics: String,
}

/// Checks `otlp_endpoint` and derives `{base}/v1/traces` and `{base}/v1/metrics`.
pub(crate) fn parse_endpoint(value: &str) -> Result<OtlpEndpoint, TelemetryError> {
    let invalid = |reason: String| TelemetryError::InvalidOtlpEndpoint { value: value.to_owned(), reason };
    let url = reqwest::Url::parse(value.trim()).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("scheme must be http or https (OTLP/HTTP), not '{}'", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("missing host".to_owned()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment".to_owned()));
    }
    let base = url.as_str().trim_end_matches('/').to_owned();
    Ok(OtlpEndpoint { traces: format!("{base}/v1/traces"), metrics: format!("{base}/v1/metrics"), base })
}

/// The OpenTelemetry providers feeding the OTLP exporters.
#[derive(Debug)]
pub(crate) struct OtlpPipeline {
    pub(crate) tracer_provider: SdkTracerProvider,
    pub(crate) meter_provider: SdkMeterProvider,
}

impl OtlpPipeline {
    pub(crate) fn build(service_name: &str, endpoint: &OtlpEndpoint) -> Result<Self, TelemetryError> {
        let exporter_err = |signal: &'static str| {
            let endpoint = endpoint.base.clone();
            move |e: opentelemetry_otlp::ExporterBuildError| TelemetryError::OtlpExporter {
                endpoint,
                signal,
                reason: e.to_string(),
            }
        };
        let client = IoClient::new().map_err(|e| TelemetryError::OtlpExporter {
            endpoint: endpoint.base.clone(),
            signal: "HTTP",
            reason: e.to_string(),
        })?;

        let span_exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client.clone())
            .with_endpoint(endpoint.traces.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(exporter_err("trace"))?;
        let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_endpoint(endpoint.metrics.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .with_temporality(Temporality::Cumulative)
            .build()
            .map_err(exporter_err("metrics"))?;

        let resource = Resource::builder().with_service_name(service_name.to_owned()).build();
        let tracer_provider =
            SdkTracerProvider::builder().with_batch_exporter(span_exporter).with_resource(resource.clone()).build();
        // Export interval: SDK default (60 s, or OTEL_METRIC_EXPORT_INTERVAL).
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metric_exporter).build())
            .with_resource(resource)
            .build();
        Ok(Self { tracer_provider, meter_provider })
    }

    /// Exports everything buffered so far; exporters stay usable.
    pub(crate) fn flush(&self) {
        if let Err(e) = self.tracer_provider.force_flush() {
            tracing::warn!(error = %e, "flushing OTLP spans failed");
        }
        if let Err(e) = self.meter_provider.force_flush() {
            tracing::warn!(error = %e, "flushing OTLP metrics failed");
        }
    }

    /// Flushes and stops both exporters for good.
    pub(crate) fn shutdown(&self) {
        if let Err(e) = self.tracer_provider.shutdown() {
            tracing::warn!(error = %e, "shutting down OTLP span export failed");
        }
        if let Err(e) = self.meter_provider.shutdown() {
            tracing::warn!(error = %e, "shutting down OTLP metric export failed");
        }
    }
}

/// `reqwest` client whose requests run on the telemetry I/O runtime.
#[derive(Debug, Clone)]
struct IoClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl IoClient {
    fn new() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let client = reqwest::Client::builder().timeout(EXPORT_TIMEOUT).build()?;
        Ok(Self { client, runtime: io_runtime()? })
    }
}

#[async_trait::async_trait]
impl HttpClient for IoClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        // The JoinHandle can be awaited from any executor, including the SDK's `block_on`.
        self.runtime.spawn(async move { client.send_bytes(request).await }).await?
    }
}

/// Handle of the process-wide telemetry I/O runtime (one thread, started on first use, never
/// stopped: it must outlive every exporter, including ones flushed during process exit).
fn io_runtime() -> Result<tokio::runtime::Handle, std::io::Error> {
    static HANDLE: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().thread_name("canopy-otlp-io").build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new().name("canopy-otlp-io".to_owned()).spawn(move || {
        // No tracing on this thread: the HTTP client's own instrumentation must not create
        // spans that would be exported by the very request that produced them.
        let _no_tracing = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
        runtime.block_on(std::future::pending::<()>());
    })?;
    // Only reached under crate::INIT_LOCK, so at most one runtime is ever started.
    Ok(HANDLE.get_or_init(|| handle).clone())
}

#[cfg(test)]
mod tests {
    use super::parse_endpoint;

    #[test]
    fn endpoint_paths() {
        let e = parse_endpoint("http://127.0.0.1:4318").unwrap();
        assert_eq!(e.traces, "http://127.0.0.1:4318/v1/traces");
        assert_eq!(e.metrics, "http://127.0.0.1:4318/v1/metrics");
        let e = parse_endpoint("https://otel.example.com/prefix/").unwrap();
        assert_eq!(e.traces, "https://otel.example.com/prefix/v1/traces");
    }

    #[test]
    fn endpoint_errors_name_the_setting() {
        for bad in ["xyz", "ftp://host:4318", "http://host:4318/?a=b", "127.0.0.1:4318"] {
            let msg = parse_endpoint(bad).unwrap_err().to_string();
            assert!(msg.starts_with(&format!("invalid otlp_endpoint '{bad}': ")), "{msg}");
        }
    }
}

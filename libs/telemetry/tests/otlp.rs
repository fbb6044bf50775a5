//! Spans and metrics reach an OTLP/HTTP receiver (a tiny HTTP server started here) as
//! protobuf POSTs to /v1/traces and /v1/metrics when the Telemetry handle is shut down.

use std::time::Duration;

use canopy_telemetry::{init, TelemetryConfig};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use prost::Message as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

#[derive(Debug)]
struct Received {
    method: String,
    path: String,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// Accepts connections forever; every request is answered `200` with an empty body.
async fn serve(listener: TcpListener, tx: mpsc::UnboundedSender<Received>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(serve_connection(stream, tx.clone()));
    }
}

/// Minimal HTTP/1.1 keep-alive loop (requests with Content-Length bodies only).
async fn serve_connection(mut stream: TcpStream, tx: mpsc::UnboundedSender<Received>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let head_len = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or_default().split(' ');
        let method = request_line.next().unwrap_or_default().to_owned();
        let path = request_line.next().unwrap_or_default().to_owned();
        let header = |name: &str| {
            head.split("\r\n").skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        let content_type = header("content-type");
        let body_len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        while buf.len() < head_len + body_len {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_len..head_len + body_len].to_vec();
        buf.drain(..head_len + body_len);
        let _ = tx.send(Received { method, path, content_type, body });
        if stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.is_err() {
            return;
        }
    }
}

fn string_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| match &kv.value.as_ref()?.value {
        Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_metrics_are_exported_over_otlp_http() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(serve(listener, tx));

    let telemetry = init(&TelemetryConfig {
        service_name: "canopy-otlp-test".to_owned(),
        otlp_endpoint: Some(format!("http://{addr}")),
        ..TelemetryConfig::default()
    })
    .expect("init");

    // A remote parent (as carried in event metadata), then a child span with our traceparent.
    let remote = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let traceparent = {
        let span = tracing::info_span!("canopy_test_span", answer = 42);
        canopy_telemetry::set_parent_from_traceparent(&span, remote);
        let _entered = span.enter();
        tracing::info!("inside the test span");
        canopy_telemetry::current_traceparent().expect("traceparent inside an exported span")
    };
    assert!(traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{traceparent}");
    assert!(canopy_telemetry::current_traceparent().is_none(), "no span, no traceparent");
    metrics::counter!("canopy_otlp_test_total", "route" => "x").increment(2);
    metrics::counter!("canopy_otlp_test_total", "route" => "x").increment(5);
    // Fan-out: the same counter is in the Prometheus text too.
    let text = telemetry.render_prometheus();
    assert!(text.contains("canopy_otlp_test_total{route=\"x\"} 7"), "{text}");

    // shutdown() blocks while the exporters flush; keep it off the async workers.
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await.unwrap();

    let (mut traces, mut metrics) = (None, None);
    while traces.is_none() || metrics.is_none() {
        let req: Received = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("timed out waiting for OTLP requests")
            .expect("server stopped");
        assert_eq!(req.method, "POST", "{req:?}");
        assert_eq!(req.content_type.as_deref(), Some("application/x-protobuf"), "{req:?}");
        match req.path.as_str() {
            "/v1/traces" => traces = Some(req.body),
            "/v1/metrics" => metrics = Some(req.body),
            other => panic!("unexpected path {other}"),
        }
    }

    let traces = ExportTraceServiceRequest::decode(traces.unwrap().as_slice()).unwrap();
    let resource_spans = &traces.resource_spans[0];
    let resource = resource_spans.resource.as_ref().unwrap();
    assert_eq!(string_attr(&resource.attributes, "service.name"), Some("canopy-otlp-test"));
    let span = resource_spans
        .scope_spans
        .iter()
        .flat_map(|s| &s.spans)
        .find(|s| s.name == "canopy_test_span")
        .expect("span exported");
    let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(hex(&span.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(hex(&span.parent_span_id), "00f067aa0ba902b7");
    assert_eq!(traceparent, format!("00-{}-{}-01", hex(&span.trace_id), hex(&span.span_id)));

    let metrics = ExportMetricsServiceRequest::decode(metrics.unwrap().as_slice()).unwrap();
    let resource_metrics = &metrics.resource_metrics[0];
    let resource = resource_metrics.resource.as_ref().unwrap();
    assert_eq!(string_attr(&resource.attributes, "service.name"), Some("canopy-otlp-test"));
    let counter = resource_metrics
        .scope_metrics
        .iter()
        .flat_map(|s| &s.metrics)
        .find(|m| m.name == "canopy_otlp_test_total")
        .expect("counter exported");
    let Some(metric::Data::Sum(sum)) = &counter.data else { panic!("{counter:?}") };
    assert!(sum.is_monotonic);
    let point = &sum.data_points[0];
    assert_eq!(point.value, Some(number_data_point::Value::AsInt(7)));
    assert_eq!(string_attr(&point.attributes, "route"), Some("x"));
}

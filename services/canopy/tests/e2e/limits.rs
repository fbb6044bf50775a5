//! Rate limits across stateless edges: two `canopy serve edge` processes behind HAProxy (round
//! robin) and the api count one budget in Redis. Over a limit, MCP requests get HTTP 429 with
//! `Retry-After` (a JSON-RPC error when the edge could only tell inside rmcp), REST invoke gets
//! 429 in the error envelope; another tool is unaffected; the window's end is waited for
//! explicitly (the `Retry-After` the refusal named), never guessed. The refusals and the calls
//! are exported as Prometheus metrics labelled with tenant, client, server and tool.

use crate::harness::*;
use crate::stateless::HaProxy;
use rmcp::model::CallToolRequestParams;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// The window of the test's limits: long enough for the calls of one window on a loaded
/// machine, short enough to wait for.
const WINDOW_SECS: u64 = 10;
const TOOL_CALLS: u64 = 4;

/// A session-era MCP client speaking raw HTTP through HAProxy, so statuses and headers show.
struct RawSession {
    http: reqwest::Client,
    url: String,
    session: String,
}

impl RawSession {
    async fn open(url: &str) -> Self {
        let http = reqwest::Client::new();
        let mut raw = RawSession { http, url: url.to_string(), session: String::new() };
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
        let response = raw.post("initialize", init).await;
        raw.session = response.headers()["mcp-session-id"].to_str().unwrap().to_string();
        response.text().await.unwrap();
        let initialized = raw.post("initialized", json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        assert!(initialized.await.status().is_success());
        raw
    }

    async fn post(&self, step: &str, body: Value) -> reqwest::Response {
        let mut request = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .header("x-test-step", step)
            .json(&body);
        if !self.session.is_empty() {
            request = request.header("mcp-session-id", &self.session);
        }
        request.send().await.unwrap()
    }

    /// `tools/call` of `name`: the HTTP status, `Retry-After`, and the JSON-RPC response (from
    /// a JSON body or the SSE stream's message with `id`).
    async fn call(&self, step: &str, id: u64, name: &str, arguments: Value) -> (u16, Option<u64>, Value) {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}});
        let response = self.post(step, body).await;
        let status = response.status().as_u16();
        let retry_after =
            response.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().expect("whole seconds"));
        let text = response.text().await.unwrap();
        let message = serde_json::from_str::<Value>(&text).ok().unwrap_or_else(|| {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
                .find(|m| m["id"] == id)
                .unwrap_or(Value::Null)
        });
        (status, retry_after, message)
    }
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn echo(text: &str) -> Value {
    json!({"message": text})
}

/// The lines of a Prometheus page for `metric` that carry every `labels` pair.
async fn metric_lines(base: &str, metric: &str, labels: &[(&str, &str)]) -> Vec<String> {
    let page = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
    page.lines()
        .filter(|l| l.starts_with(metric))
        .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn two_edges_and_rest_share_one_budget_answer_429_and_reset_with_the_window() {
    let mut d = Deployment::new().await;
    let config = std::env::temp_dir().join(format!("{}-limits.toml", d.prefix));
    std::fs::write(&config, format!("[limits]\nwindow_secs = {WINDOW_SECS}\ntool_calls = {TOOL_CALLS}\n")).unwrap();
    let config = config.to_str().unwrap().to_string();
    let spawn_args = |service: &str| vec!["--config".to_string(), config.clone(), "serve".into(), service.into()];
    let (api_args, worker_args, edge_args) = (spawn_args("api"), spawn_args("worker"), spawn_args("edge"));
    let api = d.spawn("api", &args(&api_args)).await;
    let worker = d.spawn("worker", &args(&worker_args)).await;
    let edge_a = d.spawn("edge-a", &args(&edge_args)).await;
    let edge_b = d.spawn("edge-b", &args(&edge_args)).await;
    let upstream = fixture().await;
    let (status, _) = post_json(&format!("{api}/api/v0/servers"), json!({"name": "fx", "url": upstream.url()})).await;
    assert_eq!(status, 201);
    let haproxy = HaProxy::start(&d, &[("edge-a", &edge_a), ("edge-b", &edge_b)]).await;
    let mcp = format!("{}/mcp", haproxy.url);
    let raw = RawSession::open(&mcp).await;

    // fx__echo's budget: TOOL_CALLS calls, served by both edges.
    for i in 0..TOOL_CALLS {
        let (status, _, message) = raw.call(&format!("call-{i}"), 10 + i, "fx__echo", echo(&format!("call {i}"))).await;
        assert_eq!(status, 200, "{message}");
        assert_eq!(message["result"]["content"][0]["text"], format!("call {i}"), "{message}");
    }
    let mut edges = BTreeSet::new();
    for i in 0..TOOL_CALLS {
        edges.insert(haproxy.served_step(&format!("call-{i}")).await.edge);
    }
    assert_eq!(edges.len(), 2, "the counted calls went to both edges: {edges:?}");

    // The next one, on whichever edge: 429 with Retry-After, the body a JSON-RPC error.
    for (step, id) in [("over-1", 20), ("over-2", 21)] {
        let (status, retry_after, message) = raw.call(step, id, "fx__echo", echo("one too many")).await;
        assert_eq!(status, 429, "{message}");
        let retry_after = retry_after.expect("Retry-After");
        assert!((1..=WINDOW_SECS).contains(&retry_after), "Retry-After {retry_after}");
        assert_eq!(message["id"], id, "{message}");
        assert_eq!(message["error"]["code"], -32029, "{message}");
        assert_eq!(message["error"]["data"], json!({"retryAfter": retry_after, "limit": "tool"}), "{message}");
        assert!(message["error"]["message"].as_str().unwrap().contains("rate limited"), "{message}");
    }
    let over: BTreeSet<String> =
        [haproxy.served_step("over-1").await.edge, haproxy.served_step("over-2").await.edge].into();
    assert_eq!(over.len(), 2, "both edges refuse: {over:?}");

    // Another tool has a budget of its own.
    let (status, _, message) = raw.call("add", 30, "fx__add", json!({"a": 1, "b": 2})).await;
    assert_eq!((status, &message["result"]["structuredContent"]), (200, &json!({"sum": 3.0})), "{message}");

    // A body the edge does not read before rmcp (larger than it peeks at) is refused inside
    // the JSON-RPC response.
    let large = "x".repeat(70 * 1024);
    let (status, _, message) = raw.call("large", 31, "fx__echo", echo(&large)).await;
    assert_eq!(status, 200, "the HTTP request succeeds; its JSON-RPC call does not");
    assert_eq!(message["error"]["code"], -32029, "{}", &message.to_string()[..300.min(message.to_string().len())]);
    assert_eq!(message["error"]["data"]["limit"], "tool");

    // A 2026-07-28 client: the edge reads Mcp-Method/Mcp-Name, rmcp's client sees the 429.
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(mcp.clone());
    let lifecycle = rmcp::service::ClientLifecycleMode::Discover {
        preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
    };
    let modern = rmcp::service::serve_client_with_lifecycle((), transport, lifecycle).await.unwrap();
    let refused = modern
        .call_tool(CallToolRequestParams::new("fx__echo").with_arguments(echo("modern").as_object().unwrap().clone()))
        .await
        .expect_err("over the limit");
    assert!(refused.to_string().contains("429"), "{refused}");
    let _ = modern.cancel().await;

    // REST invoke counts against the same budget: 429 in the error envelope.
    let response = reqwest::Client::new()
        .post(format!("{api}/api/v0/tools/invoke"))
        .json(&json!({"name": "fx__echo", "message": "rest"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=WINDOW_SECS).contains(&retry_after));
    let envelope: Value = response.json().await.unwrap();
    assert_eq!(envelope["ok"], false);
    assert_eq!(envelope["error"]["code"], "RATE_LIMITED", "{envelope}");

    // Metrics, labelled by tenant, client, server and tool: refusals on the edges, call
    // durations on the worker.
    let labels = [("tenant", "default"), ("client", "user:dev"), ("server", "fx"), ("tool", "echo")];
    let refused_labels = [labels.as_slice(), &[("limit", "tool")]].concat();
    for edge in [&edge_a, &edge_b] {
        let lines = metric_lines(edge, "canopy_rate_limited_total", &refused_labels).await;
        assert_eq!(lines.len(), 1, "{edge}: {lines:?}");
    }
    let lines = metric_lines(&api, "canopy_rate_limited_total", &refused_labels).await;
    assert_eq!(lines.len(), 1, "api: {lines:?}");
    let calls = metric_lines(&worker, "canopy_tool_call_duration_seconds_count", &labels).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].ends_with(&format!(" {TOOL_CALLS}")), "the counted calls only: {calls:?}");

    // The window ends when the last refusal said it would; then the budget is whole again.
    let (status, retry_after, _) = raw.call("before-reset", 40, "fx__echo", echo("still too many")).await;
    assert_eq!(status, 429);
    tokio::time::sleep(Duration::from_secs(retry_after.unwrap()) + Duration::from_millis(100)).await;
    for i in 0..TOOL_CALLS {
        let (status, _, message) = raw.call(&format!("reset-{i}"), 50 + i, "fx__echo", echo("again")).await;
        assert_eq!(status, 200, "a new window: {message}");
    }
    let (status, _, _) = raw.call("over-again", 60, "fx__echo", echo("too many again")).await;
    assert_eq!(status, 429);
}

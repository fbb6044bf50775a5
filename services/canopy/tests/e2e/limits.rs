//! Rate limits across stateless edges: two `canopy serve edge` processes behind HAProxy (round
//! robin) and the api count one budget in Redis. Over a limit, MCP requests get HTTP 429 with
//! `Retry-After` (a JSON-RPC error when the edge could only tell inside rmcp), REST invoke gets
//! 429 in the error envelope; another tool is unaffected; the window's end is waited for
//! explicitly (the `Retry-After` the refusal named), never guessed. The refusals and the calls
//! are exported as Prometheus metrics labelled with tenant, client, server and tool.

use crate::harness::*;
use crate::stateless::HaProxy;
use canopy_fixture_server::{serve_http, FixtureOptions};
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
    /// A bearer token (enterprise mode).
    token: Option<String>,
}

impl RawSession {
    async fn open(url: &str, token: Option<&str>) -> Self {
        let http = reqwest::Client::new();
        let token = token.map(str::to_string);
        let mut raw = RawSession { http, url: url.to_string(), session: String::new(), token };
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
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// `tools/call` of `name`: see [`RawSession::rpc`].
    async fn call(&self, step: &str, id: u64, name: &str, arguments: Value) -> (u16, Option<u64>, Value) {
        self.rpc(step, id, "tools/call", json!({"name": name, "arguments": arguments})).await
    }

    /// A request: the HTTP status, `Retry-After`, and the JSON-RPC response (from a JSON body
    /// or the SSE stream's message with `id`).
    async fn rpc(&self, step: &str, id: u64, method: &str, params: Value) -> (u16, Option<u64>, Value) {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
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
    let raw = RawSession::open(&mcp, None).await;

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

    // A name that is no tool counts nothing and is the MCP service's error to give.
    let (status, _, message) = raw.call("unknown", 29, "fx__nope", json!({})).await;
    assert_eq!(status, 200, "{message}");
    assert!(message["error"]["message"].as_str().unwrap().contains("unknown tool"), "{message}");

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
    // The same with raw HTTP: the edge reads only the headers, and the body for the id.
    let body = json!({"jsonrpc": "2.0", "id": 77, "method": "tools/call",
        "params": {"name": "fx__echo", "arguments": echo("raw 2026"), "_meta": {}}});
    let response = reqwest::Client::new()
        .post(&mcp)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "fx__echo")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let message: Value = response.json().await.unwrap();
    assert_eq!((&message["id"], &message["error"]["code"]), (&json!(77), &json!(-32029)), "{message}");

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

/// `POST URL` with a bearer token: status, `Retry-After`, JSON body.
async fn post_as(token: &str, url: &str, body: Value) -> (u16, Option<u64>, Value) {
    let response = reqwest::Client::new().post(url).bearer_auth(token).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    (status, retry_after, response.json().await.unwrap_or(Value::Null))
}

/// Enterprise mode (`canopy start --enterprise`): a principal's budget and its tenant's, on
/// REST invoke and MCP alike; an exhausted principal leaves the tenant's other principals alone,
/// an exhausted tenant leaves other tenants alone.
#[tokio::test]
async fn budgets_are_per_principal_and_per_tenant() {
    let mut d = Deployment::new().await;
    let config = std::env::temp_dir().join(format!("{}-limits.toml", d.prefix));
    std::fs::write(&config, "[limits]\nwindow_secs = 120\nprincipal_calls = 2\ntenant_calls = 3\n").unwrap();
    let config = config.to_str().unwrap().to_string();
    let base = d.spawn("enterprise", &["--config", &config, "start", "--enterprise"]).await;
    let api = format!("{base}/api/v0");
    let upstream = fixture().await;
    let (status, init) = post_json(&format!("{api}/init-server"), json!({})).await;
    assert!(status == 200 || status == 201, "{init}");
    let (owner, operator) = (init["access_token"].as_str().unwrap(), init["operator_token"].as_str().unwrap());
    let (status, _, server) =
        post_as(owner, &format!("{api}/servers"), json!({"name": "fx", "url": upstream.url()})).await;
    assert_eq!(status, 201, "{server}");
    let mut clients = Vec::new();
    for name in ["cursor", "claude"] {
        let body = json!({"name": name, "allowed_servers": ["fx"]});
        let (status, _, created) = post_as(owner, &format!("{api}/mcp-clients"), body).await;
        assert_eq!(status, 201, "{created}");
        clients.push(created["access_token"].as_str().unwrap().to_string());
    }
    let (cursor, claude) = (&clients[0], &clients[1]);
    let (status, _, globex) =
        post_as(operator, &format!("{api}/tenants"), json!({"id": "globex", "owner": "boss"})).await;
    assert_eq!(status, 201, "{globex}");
    let boss = globex["owner_access_token"].as_str().unwrap().to_string();
    let (status, _, server) =
        post_as(&boss, &format!("{api}/servers"), json!({"name": "fx", "url": upstream.url()})).await;
    assert_eq!(status, 201, "{server}");
    let invoke = |token: &str| {
        let (token, url) = (token.to_string(), format!("{api}/tools/invoke"));
        async move { post_as(&token, &url, json!({"name": "fx__echo", "message": "hi"})).await }
    };

    // cursor's budget: 2 calls.
    for _ in 0..2 {
        let (status, _, result) = invoke(cursor).await;
        assert_eq!(status, 200, "{result}");
    }
    let (status, retry_after, refused) = invoke(cursor).await;
    assert_eq!((status, &refused["error"]["code"]), (429, &json!("RATE_LIMITED")), "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("principal"), "{refused}");
    assert!((1..=120).contains(&retry_after.unwrap()));
    // ... over MCP too, on the same budget.
    let raw = RawSession::open(&format!("{base}/mcp"), Some(cursor)).await;
    let (status, retry_after, message) = raw.call("mcp", 7, "fx__echo", echo("over MCP")).await;
    assert_eq!((status, &message["error"]["data"]["limit"]), (429, &json!("principal")), "{message}");
    assert!(retry_after.is_some());

    // claude, in the same tenant, has a budget of its own, until the tenant's (3) runs out.
    let (status, _, result) = invoke(claude).await;
    assert_eq!(status, 200, "another client is not limited by cursor's budget: {result}");
    let (status, _, refused) = invoke(claude).await;
    assert_eq!(status, 429, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("tenant"), "{refused}");

    // globex is another tenant: its budget is whole.
    let (status, _, result) = invoke(&boss).await;
    assert_eq!(status, 200, "another tenant is not limited by default's budget: {result}");
    let boss_mcp = RawSession::open(&format!("{base}/mcp"), Some(&boss)).await;
    let (status, _, message) = boss_mcp.call("mcp-globex", 8, "fx__echo", echo("globex")).await;
    assert_eq!((status, &message["result"]["content"][0]["text"]), (200, &json!("globex")), "{message}");
}

/// Prompts and resources count against the tenant's budget too, over MCP (429 before rmcp, a
/// JSON-RPC error inside the stream for a body the edge does not read) and REST (render, read).
#[tokio::test]
async fn prompts_and_resources_count_on_every_path() {
    let mut d = Deployment::new().await;
    let config = std::env::temp_dir().join(format!("{}-limits.toml", d.prefix));
    std::fs::write(&config, "[limits]\nwindow_secs = 120\ntenant_calls = 4\n").unwrap();
    let base = d.spawn("all", &["--config", config.to_str().unwrap(), "start"]).await;
    let options = FixtureOptions { conformance: true, ..Default::default() };
    let upstream = serve_http("127.0.0.1:0".parse().unwrap(), options).await.unwrap();
    let (status, _) = post_json(&format!("{base}/api/v0/servers"), json!({"name": "fx", "url": upstream.url()})).await;
    assert_eq!(status, 201);
    let raw = RawSession::open(&format!("{base}/mcp"), None).await;
    let prompt = json!({"name": "fx__test_simple_prompt"});
    let resource = json!({"uri": "canopy://fx/test://static-text"});
    let render_url = format!("{base}/api/v0/prompts/render");
    let render = |body: Value| post_json(&render_url, body);

    // The tenant's 4 calls: a prompt and a resource over MCP, a render and a read over REST.
    let (status, _, message) = raw.rpc("prompt", 1, "prompts/get", prompt.clone()).await;
    assert_eq!(status, 200, "{message}");
    assert!(message["result"]["messages"].is_array(), "{message}");
    let (status, _, message) = raw.rpc("resource", 2, "resources/read", resource.clone()).await;
    assert_eq!(status, 200, "{message}");
    assert!(message["result"]["contents"].is_array(), "{message}");
    let (status, rendered) = render(json!({"name": "fx__test_simple_prompt"})).await;
    assert_eq!(status, 200, "{rendered}");
    let (status, read) = post_json(&format!("{base}/api/v0/resources/read"), resource.clone()).await;
    assert_eq!(status, 200, "{read}");

    // Over the tenant's budget, on every path.
    for (id, method, params) in [(3, "prompts/get", &prompt), (4, "resources/read", &resource)] {
        let (status, retry_after, message) = raw.rpc(method, id, method, params.clone()).await;
        assert_eq!((status, &message["error"]["data"]["limit"]), (429, &json!("tenant")), "{method}: {message}");
        assert!(retry_after.is_some_and(|s| (1..=120).contains(&s)), "{method}: {retry_after:?}");
    }
    let (status, refused) = render(json!({"name": "fx__test_simple_prompt"})).await;
    assert_eq!((status, &refused["error"]["code"]), (429, &json!("RATE_LIMITED")), "{refused}");
    let (status, refused) = post_json(&format!("{base}/api/v0/resources/read"), resource.clone()).await;
    assert_eq!((status, &refused["error"]["code"]), (429, &json!("RATE_LIMITED")), "{refused}");
    let large =
        json!({"name": "fx__test_prompt_with_arguments", "arguments": {"arg1": "x".repeat(70 * 1024), "arg2": "y"}});
    let (status, _, message) = raw.rpc("large", 5, "prompts/get", large).await;
    assert_eq!((status, &message["error"]["code"]), (200, &json!(-32029)), "{}", message["error"]);
}

//! End-to-end tests: the fixture served over Streamable HTTP (and stdio through the binary),
//! driven by rmcp's own client.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use canopy_fixture_server::{serve_http, FixtureHandle, FixtureOptions, SERVER_NAME};
use rmcp::{
    model::{
        CallToolRequest, CallToolRequestParams, CallToolResult, ClientRequest, PaginatedRequestParams,
        ProgressNotificationParam, ProtocolVersion, ServerResult,
    },
    service::{NotificationContext, PeerRequestOptions, RunningService},
    transport::{
        streamable_http_client::StreamableHttpClientTransportConfig, StreamableHttpClientTransport, TokioChildProcess,
    },
    ClientHandler, ClientLifecycleMode, ClientServiceExt as _, RoleClient, ServiceExt as _,
};
use serde_json::{json, Value};

/// Client handler that records every `notifications/progress` it receives.
#[derive(Clone, Default)]
struct Recorder {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl Recorder {
    fn progress_for(&self, token: &rmcp::model::ProgressToken) -> Vec<ProgressNotificationParam> {
        self.progress.lock().unwrap().iter().filter(|p| &p.progress_token == token).cloned().collect()
    }

    /// Progress may be dispatched just after the response resolves: poll for a while.
    async fn wait_progress(
        &self,
        token: &rmcp::model::ProgressToken,
        at_least: usize,
    ) -> Vec<ProgressNotificationParam> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let got = self.progress_for(token);
            if got.len() >= at_least || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl ClientHandler for Recorder {
    async fn on_progress(&self, params: ProgressNotificationParam, _context: NotificationContext<RoleClient>) {
        self.progress.lock().unwrap().push(params);
    }
}

type Client = RunningService<RoleClient, Recorder>;

fn opts() -> FixtureOptions {
    FixtureOptions { extra_tools: 5, page_size: Some(2), ..Default::default() }
}

async fn start(options: FixtureOptions) -> FixtureHandle {
    serve_http("127.0.0.1:0".parse().unwrap(), options).await.expect("serve_http")
}

async fn connect(handle: &FixtureHandle, config: StreamableHttpClientTransportConfig) -> (Client, Recorder) {
    let recorder = Recorder::default();
    let transport = StreamableHttpClientTransport::from_config(config);
    let client = recorder.clone().serve(transport).await.expect("connect");
    let _ = handle;
    (client, recorder)
}

async fn connect_plain(handle: &FixtureHandle) -> (Client, Recorder) {
    connect(handle, StreamableHttpClientTransportConfig::with_uri(handle.url())).await
}

fn args(v: Value) -> rmcp::model::JsonObject {
    v.as_object().expect("object").clone()
}

async fn call(client: &Client, name: &'static str, arguments: Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(name).with_arguments(args(arguments)))
        .await
        .unwrap_or_else(|e| panic!("call {name}: {e}"))
}

fn first_text(result: &CallToolResult) -> String {
    result.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone()).expect("text content")
}

fn expected_names() -> BTreeSet<String> {
    ["echo", "add", "fail", "slow", "whoami", "extra_0", "extra_1", "extra_2", "extra_3", "extra_4"]
        .into_iter()
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn server_info_and_capabilities() {
    let handle = start(opts()).await;
    let (client, _) = connect_plain(&handle).await;
    let info = client.peer_info().expect("peer info");
    assert_eq!(info.server_info.as_ref().map(|i| i.name.as_str()), Some(SERVER_NAME));
    let tools = info.capabilities.tools.as_ref().expect("tools capability");
    assert_eq!(tools.list_changed, Some(true));
    assert!(info.capabilities.prompts.is_none());
    assert!(handle.url().starts_with("http://127.0.0.1:"));
    assert!(handle.url().ends_with("/mcp"));
    assert_ne!(handle.addr().port(), 0);
    client.cancel().await.unwrap();
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn tools_list_is_paginated_and_complete() {
    let handle = start(opts()).await;
    let (client, _) = connect_plain(&handle).await;

    // The first page alone has exactly page_size tools and a cursor.
    let first = client.list_tools(None).await.unwrap();
    assert_eq!(first.tools.len(), 2);
    assert!(first.next_cursor.is_some(), "first page must carry nextCursor");

    // Follow every cursor by hand.
    let mut all = first.tools.clone();
    let mut cursor = first.next_cursor.clone();
    let mut pages = 1;
    while let Some(c) = cursor {
        let page = client.list_tools(Some(PaginatedRequestParams::default().with_cursor(Some(c)))).await.unwrap();
        assert!(page.tools.len() <= 2);
        all.extend(page.tools);
        cursor = page.next_cursor;
        pages += 1;
        assert!(pages <= 10, "cursor loop");
    }
    assert_eq!(pages, 5);
    assert_eq!(all.len(), 10);
    let names: BTreeSet<String> = all.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, expected_names());

    // rmcp's helper agrees, and what arrived equals what the server defines.
    let helper = client.list_all_tools().await.unwrap();
    assert_eq!(helper, all);
    assert_eq!(all, handle.server().tool_definitions());

    // Definitions are complete: title, annotations, outputSchema, icons, _meta.
    let echo = all.iter().find(|t| t.name == "echo").unwrap();
    assert_eq!(echo.title.as_deref(), Some("Echo"));
    assert_eq!(echo.annotations.as_ref().unwrap().read_only_hint, Some(true));
    assert!(echo.icons.as_ref().is_some_and(|i| !i.is_empty()));
    assert!(echo.meta.is_some());
    let add = all.iter().find(|t| t.name == "add").unwrap();
    let out = add.output_schema.as_ref().expect("add outputSchema");
    assert_eq!(out.get("required"), Some(&json!(["sum"])));
    assert_eq!(add.title.as_deref(), Some("Add"));

    // An unknown cursor is an error, not an empty page.
    let bad = client.list_tools(Some(PaginatedRequestParams::default().with_cursor(Some("nope".into())))).await;
    assert!(bad.is_err(), "invalid cursor must fail: {bad:?}");

    assert!(handle.stats().tools_list_requests() >= 11);
    client.cancel().await.unwrap();
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_page_size_everything_is_one_page() {
    let handle = start(FixtureOptions::default().with_extra_tools(3)).await;
    let (client, _) = connect_plain(&handle).await;
    let page = client.list_tools(None).await.unwrap();
    assert_eq!(page.tools.len(), 8);
    assert!(page.next_cursor.is_none());
    client.cancel().await.unwrap();
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn echo_add_fail_extra() {
    let handle = start(opts()).await;
    let (client, _) = connect_plain(&handle).await;

    let echo = call(&client, "echo", json!({ "message": "hello, canopy" })).await;
    assert_eq!(first_text(&echo), "hello, canopy");
    assert_ne!(echo.is_error, Some(true));

    let add = call(&client, "add", json!({ "a": 2, "b": 3.5 })).await;
    assert_eq!(first_text(&add), "5.5");
    let structured = add.structured_content.as_ref().expect("structuredContent");
    assert_eq!(structured["sum"].as_f64(), Some(5.5));
    assert_ne!(add.is_error, Some(true));

    let fail = call(&client, "fail", json!({ "message": "boom" })).await;
    assert_eq!(fail.is_error, Some(true));
    assert_eq!(first_text(&fail), "boom");

    let extra = call(&client, "extra_4", json!({})).await;
    assert_eq!(first_text(&extra), "extra_4");

    // Bad arguments are a tool error; an unknown tool is a protocol error.
    let bad = call(&client, "add", json!({ "a": "x" })).await;
    assert_eq!(bad.is_error, Some(true));
    let unknown = client.call_tool(CallToolRequestParams::new("extra_5").with_arguments(args(json!({})))).await;
    assert!(unknown.is_err(), "unknown tool must be an error: {unknown:?}");

    client.cancel().await.unwrap();
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn slow_sends_progress() {
    let handle = start(opts()).await;
    let (client, recorder) = connect_plain(&handle).await;

    // rmcp's client puts a progressToken on every request; keep the handle to learn it.
    let params = CallToolRequestParams::new("slow").with_arguments(args(json!({ "ms": 300, "steps": 3 })));
    let request = client
        .send_request_with_option(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    let token = request.progress_token.clone();
    let response = request.await_response().await.unwrap();
    let ServerResult::CallToolResult(result) = response else {
        panic!("unexpected response {response:?}");
    };
    assert_eq!(first_text(&result), "done");

    let progress = recorder.wait_progress(&token, 3).await;
    assert_eq!(progress.len(), 3, "progress notifications: {progress:?}");
    let values: Vec<f64> = progress.iter().map(|p| p.progress).collect();
    assert_eq!(values, vec![1.0, 2.0, 3.0]);
    assert!(progress.iter().all(|p| p.total == Some(3.0)));

    client.cancel().await.unwrap();
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn slow_stops_when_cancelled() {
    let handle = start(opts()).await;
    let (client, recorder) = connect_plain(&handle).await;

    let params = CallToolRequestParams::new("slow").with_arguments(args(json!({ "ms": 60000, "steps": 600 })));
    let request = client
        .send_request_with_option(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    let token = request.progress_token.clone();
    assert!(!recorder.wait_progress(&token, 1).await.is_empty(), "slow never started");
    assert_eq!(handle.stats().cancelled_calls(), 0);
    request.cancel(Some("test".into())).await.unwrap();

    let stats = handle.stats();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while stats.cancelled_calls() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats.cancelled_calls(), 1, "the server did not see the cancellation");

    client.cancel().await.unwrap();
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn whoami_reports_http_credentials() {
    let handle = start(opts()).await;

    let mut headers = HashMap::new();
    headers.insert(http::HeaderName::from_static("x-fixture"), http::HeaderValue::from_static("tenant-a"));
    let config = StreamableHttpClientTransportConfig::with_uri(handle.url())
        .auth_header("secret-token") // rmcp adds the "Bearer " prefix
        .custom_headers(headers);
    let (client, _) = connect(&handle, config).await;
    let who = call(&client, "whoami", json!({})).await;
    assert_eq!(first_text(&who), "authorization: Bearer secret-token\nx-fixture: tenant-a");
    let s = who.structured_content.as_ref().unwrap();
    assert_eq!(s["transport"], "http");
    assert_eq!(s["authorization"], "Bearer secret-token");
    assert_eq!(s["xFixture"], "tenant-a");
    client.cancel().await.unwrap();

    let (client, _) = connect_plain(&handle).await;
    let who = call(&client, "whoami", json!({})).await;
    assert_eq!(first_text(&who), "authorization: none\nx-fixture: none");
    assert_eq!(who.structured_content.as_ref().unwrap()["authorization"], Value::Null);
    client.cancel().await.unwrap();
    handle.shutdown().await.unwrap();
}

/// The 2026-07-28 stateless path (`server/discover`, per-request `_meta`), as a modern client
/// or gateway would use it.
#[tokio::test]
async fn stateless_2026_client_works() {
    let handle = start(opts()).await;
    let recorder = Recorder::default();
    let transport = StreamableHttpClientTransport::from_uri(handle.url());
    let client = recorder
        .clone()
        .serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] },
        )
        .await
        .expect("discover");
    let all = client.list_all_tools().await.unwrap();
    assert_eq!(all.len(), 10);
    let echo = call(&client, "echo", json!({ "message": "modern" })).await;
    assert_eq!(first_text(&echo), "modern");
    client.cancel().await.unwrap();
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn foreign_host_header_is_rejected() {
    let handle = start(opts()).await;
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#;
    let request = |host: &str| {
        format!(
            "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let status = |host: String| {
        let addr = handle.addr();
        let req = request(&host);
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(req.as_bytes()).await.unwrap();
            let mut buf = vec![0u8; 64];
            let n = s.read(&mut buf).await.unwrap();
            String::from_utf8_lossy(&buf[..n]).split(' ').nth(1).unwrap_or("").to_owned()
        }
    };
    assert_eq!(status("evil.example".into()).await, "403");
    assert_eq!(status(format!("localhost:{}", handle.addr().port())).await, "200");
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let handle = start(opts()).await;
    let addr = handle.addr();
    handle.shutdown().await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still listening after shutdown");

    let handle = start(opts()).await;
    let addr = handle.addr();
    drop(handle);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still listening after drop");
}

/// The binary over stdio: spawned as a child process, like a gateway's stdio upstream.
#[tokio::test]
async fn binary_serves_stdio() {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_canopy-fixture-mcp"));
    cmd.args(["--transport", "stdio", "--extra-tools", "2", "--page-size", "3"]);
    let transport = TokioChildProcess::new(cmd).expect("spawn");
    let recorder = Recorder::default();
    let client = recorder.clone().serve(transport).await.expect("initialize over stdio");
    let first = client.list_tools(None).await.unwrap();
    assert_eq!(first.tools.len(), 3);
    assert_eq!(client.list_all_tools().await.unwrap().len(), 7);
    let who = call(&client, "whoami", json!({})).await;
    assert_eq!(first_text(&who), "authorization: none\nx-fixture: none");
    assert_eq!(who.structured_content.as_ref().unwrap()["transport"], "other");
    let echo = call(&client, "echo", json!({ "message": "over stdio" })).await;
    assert_eq!(first_text(&echo), "over stdio");
    client.cancel().await.unwrap();
}

//! The gateway's endpoints and switches: one server under its own names, enable/disable on
//! every path, and catalog changes reaching connected sessions.

use crate::harness::*;
use rmcp::model::CallToolRequestParams;
use rmcp::service::NotificationContext;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

async fn names_on(url: &str) -> BTreeSet<String> {
    let client = mcp_client(url).await;
    let tools = client.list_all_tools().await.unwrap();
    let _ = client.cancel().await;
    tools.into_iter().map(|t| t.name.to_string()).collect()
}

async fn register(base: &str, name: &str, url: &str) {
    let (status, body) = post_json(&format!("{base}/api/v0/servers"), json!({"name": name, "url": url})).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("ready")), "{body}");
}

#[tokio::test]
async fn single_server_endpoint_speaks_the_upstreams_own_names() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let upstream = fixture().await;
    register(&base, "fx", &upstream.url()).await;

    let client = mcp_client(&format!("{base}/servers/fx/mcp")).await;
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools, upstream.server().tool_definitions(), "exactly the upstream's tools, unprefixed");
    let echo = client
        .call_tool(
            CallToolRequestParams::new("echo")
                .with_arguments(json!({"message": "direct"}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(echo.content[0].as_text().unwrap().text, "direct");
    assert!(
        client.call_tool(CallToolRequestParams::new("fx__echo")).await.is_err(),
        "prefixed names are not valid here"
    );
    let _ = client.cancel().await;

    // Browsers' cross-origin requests are refused (DNS rebinding); our own origin is fine.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let with_origin = |origin: String| {
        reqwest::Client::new()
            .post(format!("{base}/servers/fx/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("origin", origin)
            .json(&init)
            .send()
    };
    assert_eq!(with_origin("http://evil.example".into()).await.unwrap().status(), 403);
    assert_eq!(with_origin(base.clone()).await.unwrap().status(), 200);

    let missing = reqwest::Client::new()
        .post(format!("{base}/servers/nope/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    d.terminate("all").await;
}

#[tokio::test]
async fn aggregated_lists_are_paged_with_cursors_the_gateway_mints() {
    let mut d = Deployment::new().await;
    std::env::set_var("CANOPY_PAGE_SIZE", "3");
    let base = d.spawn("all", &["start"]).await;
    std::env::remove_var("CANOPY_PAGE_SIZE");
    let upstream = fixture().await;
    register(&base, "fx", &upstream.url()).await;
    let client = mcp_client(&format!("{base}/mcp")).await;
    let first = client.list_tools(None).await.unwrap();
    assert_eq!(first.tools.len(), 3);
    let cursor = first.next_cursor.clone().expect("more pages");
    let all = client.list_all_tools().await.unwrap();
    assert_eq!(all.len(), 10, "following every cursor gives every tool once");
    let names: BTreeSet<String> = all.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names.len(), 10);
    let second = client
        .list_tools(Some(rmcp::model::PaginatedRequestParams::default().with_cursor(Some(cursor))))
        .await
        .unwrap();
    assert_eq!(second.tools.len(), 3);
    assert!(second.tools.iter().all(|t| !first.tools.contains(t)));
    let bad = client
        .list_tools(Some(rmcp::model::PaginatedRequestParams::default().with_cursor(Some("forged".into()))))
        .await;
    assert!(bad.is_err(), "a cursor the gateway did not mint is refused");
    let _ = client.cancel().await;
    d.terminate("all").await;
}

#[tokio::test]
async fn disabled_tools_and_servers_vanish_from_every_path() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let upstream = fixture().await;
    register(&base, "fx", &upstream.url()).await;
    let mcp = format!("{base}/mcp");
    let invoke = format!("{base}/api/v0/tools/invoke");

    let (status, affected) = post_json(&format!("{base}/api/v0/tools/disable?entity=fx__echo"), json!({})).await;
    assert_eq!((status, affected), (200, json!(["fx__echo"])));
    eventually(Duration::from_secs(2), || async { !names_on(&mcp).await.contains("fx__echo") }).await;
    assert!(names_on(&mcp).await.contains("fx__add"), "only the one tool is gone");
    let client = mcp_client(&mcp).await;
    let refused = client.call_tool(CallToolRequestParams::new("fx__echo")).await;
    assert!(refused.is_err(), "a disabled tool cannot be called over MCP");
    let _ = client.cancel().await;
    let (status, body) = post_json(&invoke, json!({"name": "fx__echo", "message": "x"})).await;
    // Unknown, as over MCP (once 403 over REST: the paths disagreed).
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("NOT_FOUND")), "nor over REST: {body}");
    let (_, tool) = get_json(&format!("{base}/api/v0/tool?name=fx__echo")).await;
    assert_eq!(tool["enabled"], false);
    let (status, body) = post_json(&format!("{base}/api/v0/tools/disable?entity=fx__nope"), json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("NOT_FOUND")), "{body}");

    // The whole server off: nothing of it anywhere; back on: as it was (echo still disabled).
    let (status, server) = post_json(&format!("{base}/api/v0/servers/fx/disable"), json!({})).await;
    assert_eq!((status, server["enabled"].as_bool()), (200, Some(false)), "{server}");
    eventually(Duration::from_secs(2), || async { names_on(&mcp).await.is_empty() }).await;
    let (status, _) = post_json(&invoke, json!({"name": "fx__add", "a": 1, "b": 2})).await;
    assert_eq!(status, 404);
    let single = reqwest::Client::new().post(format!("{base}/servers/fx/mcp")).json(&json!({})).send().await.unwrap();
    assert_eq!(single.status(), 404, "a disabled server's own endpoint is gone too");
    post_json(&format!("{base}/api/v0/servers/fx/enable"), json!({})).await;
    eventually(Duration::from_secs(2), || async {
        let names = names_on(&mcp).await;
        names.contains("fx__add") && !names.contains("fx__echo")
    })
    .await;
    let (status, _) = post_json(&format!("{base}/api/v0/tools/enable?entity=fx"), json!({})).await;
    assert_eq!(status, 200);
    eventually(Duration::from_secs(2), || async { names_on(&mcp).await.contains("fx__echo") }).await;
    let (status, result) = post_json(&invoke, json!({"name": "fx__echo", "message": "back"})).await;
    assert_eq!((status, result["content"][0]["text"].as_str()), (200, Some("back")));
    d.terminate("all").await;
}

#[derive(Clone, Default)]
struct CountingClient {
    tool_list_changed: Arc<AtomicUsize>,
}

impl ClientHandler for CountingClient {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tool_list_changed.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn catalog_changes_reach_connected_sessions_as_list_changed() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let upstream = fixture().await;
    register(&base, "fx", &upstream.url()).await;

    let watcher = CountingClient::default();
    let counter = watcher.tool_list_changed.clone();
    let client =
        watcher.serve(StreamableHttpClientTransport::from_uri(format!("{base}/servers/fx/mcp"))).await.unwrap();
    let everything = CountingClient::default();
    let all_counter = everything.tool_list_changed.clone();
    let all_client = everything.serve(StreamableHttpClientTransport::from_uri(format!("{base}/mcp"))).await.unwrap();

    // A change to another server reaches /mcp sessions but not /servers/fx/mcp sessions.
    let other = fixture().await;
    register(&base, "other", &other.url()).await;
    eventually(Duration::from_secs(3), || async { all_counter.load(Ordering::SeqCst) > 0 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(counter.load(Ordering::SeqCst), 0, "fx's session is not told about 'other'");
    assert!(all_client.list_all_tools().await.unwrap().iter().any(|t| t.name == "other__echo"));

    // A change to fx reaches both.
    post_json(&format!("{base}/api/v0/tools/disable?entity=fx__add"), json!({})).await;
    eventually(Duration::from_secs(3), || async { counter.load(Ordering::SeqCst) > 0 }).await;
    assert!(!client.list_all_tools().await.unwrap().iter().any(|t| t.name == "add"));
    let _ = client.cancel().await;
    let _ = all_client.cancel().await;
    d.terminate("all").await;
}

#[tokio::test]
async fn tool_groups_serve_their_members_and_follow_updates_and_switches() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let (fx, other) = (fixture().await, fixture().await);
    register(&base, "fx", &fx.url()).await;
    register(&base, "other", &other.url()).await;
    let groups = format!("{base}/api/v0/groups");
    let (status, group) = post_json(
        &groups,
        json!({"name": "claude-tools", "description": "for Claude",
               "included_tools": ["fx__echo"], "included_servers": ["other"], "excluded_tools": ["other__fail"]}),
    )
    .await;
    assert_eq!(status, 201, "{group}");
    assert_eq!(group["endpoint"], format!("{base}/v0/groups/claude-tools/mcp"));

    let expected: BTreeSet<String> = std::iter::once("fx__echo".to_string())
        .chain(
            other
                .server()
                .tool_definitions()
                .iter()
                .map(|t| format!("other__{}", t.name))
                .filter(|n| n != "other__fail"),
        )
        .collect();
    let endpoint = format!("{base}/groups/claude-tools/mcp");
    assert_eq!(names_on(&endpoint).await, expected);
    assert_eq!(names_on(&format!("{base}/v0/groups/claude-tools/mcp")).await, expected, "MCPJungle's path too");
    let (_, effective) = get_json(&format!("{groups}/claude-tools/effective-tools")).await;
    let effective: BTreeSet<String> =
        effective.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(effective, expected);

    let client = mcp_client(&endpoint).await;
    let add = client
        .call_tool(
            CallToolRequestParams::new("other__add")
                .with_arguments(json!({"a": 1, "b": 2}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(add.structured_content, Some(json!({"sum": 3.0})));
    assert!(client.call_tool(CallToolRequestParams::new("fx__add")).await.is_err(), "not a member");
    assert!(client.call_tool(CallToolRequestParams::new("other__fail")).await.is_err(), "excluded");
    let _ = client.cancel().await;

    // Updated in place: the endpoint follows.
    let updated = reqwest::Client::new()
        .put(format!("{groups}/claude-tools"))
        .json(&json!({"included_tools": ["fx__add", "fx__echo"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let want: BTreeSet<String> = ["fx__add", "fx__echo"].into_iter().map(String::from).collect();
    eventually(Duration::from_secs(2), || async { names_on(&endpoint).await == want }).await;

    // A disabled member disappears and returns.
    post_json(&format!("{base}/api/v0/tools/disable?entity=fx__add"), json!({})).await;
    eventually(Duration::from_secs(2), || async { names_on(&endpoint).await.len() == 1 }).await;
    post_json(&format!("{base}/api/v0/tools/enable?entity=fx__add"), json!({})).await;
    eventually(Duration::from_secs(2), || async { names_on(&endpoint).await == want }).await;

    let (status, body) = post_json(&groups, json!({"name": "claude-tools"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("CONFLICT")));
    let (status, body) = post_json(&groups, json!({"name": "bad", "included_tools": ["noseparator"]})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("INVALID_REQUEST")), "{body}");
    let deleted = reqwest::Client::new().delete(format!("{groups}/claude-tools")).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    eventually(Duration::from_secs(2), || async {
        let r = reqwest::Client::new().post(&endpoint).json(&json!({})).send().await.unwrap();
        r.status() == 404
    })
    .await;
    d.terminate("all").await;
}

#[derive(Clone, Default)]
struct ProgressClient {
    seen: Arc<std::sync::Mutex<Vec<rmcp::model::ProgressNotificationParam>>>,
}

impl ClientHandler for ProgressClient {
    async fn on_progress(&self, params: rmcp::model::ProgressNotificationParam, _: NotificationContext<RoleClient>) {
        self.seen.lock().unwrap().push(params);
    }
}

async fn start_slow_call(
    client: &rmcp::service::RunningService<RoleClient, ProgressClient>,
    ms: u64,
    steps: u64,
) -> rmcp::service::RequestHandle<RoleClient> {
    start_slow_call_of(client, "fx", ms, steps).await
}

async fn start_slow_call_of(
    client: &rmcp::service::RunningService<RoleClient, ProgressClient>,
    server: &str,
    ms: u64,
    steps: u64,
) -> rmcp::service::RequestHandle<RoleClient> {
    let params = CallToolRequestParams::new(format!("{server}__slow"))
        .with_arguments(json!({"ms": ms, "steps": steps}).as_object().unwrap().clone());
    client
        .send_request_with_option(
            rmcp::model::ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(params)),
            rmcp::service::PeerRequestOptions::no_options(),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn progress_comes_back_under_the_clients_token_and_cancellation_reaches_the_upstream() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let upstream = fixture().await;
    register(&base, "fx", &upstream.url()).await;
    let handler = ProgressClient::default();
    let seen = handler.seen.clone();
    let client = handler.serve(StreamableHttpClientTransport::from_uri(format!("{base}/mcp"))).await.unwrap();

    let call = start_slow_call(&client, 300, 3).await;
    let token = call.progress_token.clone();
    let result = call.await_response().await.unwrap();
    assert!(matches!(result, rmcp::model::ServerResult::CallToolResult(_)), "{result:?}");
    eventually(Duration::from_secs(2), || async { seen.lock().unwrap().len() >= 3 }).await;
    let progress: Vec<(f64, Option<f64>)> = seen.lock().unwrap().iter().map(|p| (p.progress, p.total)).collect();
    assert_eq!(progress, vec![(1.0, Some(3.0)), (2.0, Some(3.0)), (3.0, Some(3.0))]);
    assert!(
        seen.lock().unwrap().iter().all(|p| p.progress_token == token),
        "the client's own token, not the upstream's"
    );

    // A cancelled call is cancelled upstream too.
    let before = upstream.stats().cancelled_calls();
    let call = start_slow_call(&client, 10_000, 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    call.cancel(Some("changed my mind".into())).await.unwrap();
    eventually(Duration::from_secs(3), || async { upstream.stats().cancelled_calls() > before }).await;
    let _ = client.cancel().await;
    d.terminate("all").await;
}

#[derive(Clone, Default)]
struct UpdateWatcher {
    updated: Arc<std::sync::Mutex<Vec<String>>>,
}

impl ClientHandler for UpdateWatcher {
    async fn on_resource_updated(
        &self,
        params: rmcp::model::ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.updated.lock().unwrap().push(params.uri);
    }
}

#[tokio::test]
#[allow(deprecated)] // resources/subscribe: the session era's way
async fn resource_updates_reach_only_the_sessions_that_subscribed() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let options = canopy_fixture_server::FixtureOptions { conformance: true, ..Default::default() };
    let upstream = canopy_fixture_server::serve_http("127.0.0.1:0".parse().unwrap(), options).await.unwrap();
    register(&base, "fx", &upstream.url()).await;
    let mcp = format!("{base}/mcp");
    let (subscriber, bystander) = (UpdateWatcher::default(), UpdateWatcher::default());
    let (got, bystander_got) = (subscriber.updated.clone(), bystander.updated.clone());
    let a = subscriber.serve(StreamableHttpClientTransport::from_uri(mcp.clone())).await.unwrap();
    let b = bystander.serve(StreamableHttpClientTransport::from_uri(mcp.clone())).await.unwrap();
    let uri = "canopy://fx/test://static-text";
    a.subscribe(rmcp::model::SubscribeRequestParams::new(uri)).await.unwrap();

    let invoke = format!("{base}/api/v0/tools/invoke");
    let touch = || post_json(&invoke, json!({"name": "fx__touch_resource", "uri": "test://static-text"}));
    let (status, result) = touch().await;
    assert_eq!((status, result["content"][0]["text"].as_str()), (200, Some("updated test://static-text")), "{result}");
    eventually(Duration::from_secs(3), || async { !got.lock().unwrap().is_empty() }).await;
    assert_eq!(got.lock().unwrap().as_slice(), [uri.to_string()], "the subscriber's own URI");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(bystander_got.lock().unwrap().is_empty(), "a session that did not subscribe hears nothing");

    a.unsubscribe(rmcp::model::UnsubscribeRequestParams::new(uri)).await.unwrap();
    touch().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(got.lock().unwrap().len(), 1, "nothing after unsubscribing");
    let _ = a.cancel().await;
    let _ = b.cancel().await;
    d.terminate("all").await;
}

/// rmcp numbers progress tokens per upstream connection (0, 1, ...), so two calls running at
/// once on two connections carry the same token upstream: each caller still hears only its own
/// call's progress (a worker-wide map from token to caller once sent one call's progress to
/// the other, across servers and so across tenants).
#[tokio::test]
async fn progress_of_calls_on_two_connections_with_the_same_token_reaches_only_its_caller() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let (one, two) = (fixture().await, fixture().await);
    register(&base, "one", &one.url()).await;
    register(&base, "two", &two.url()).await;
    let (a, b) = (ProgressClient::default(), ProgressClient::default());
    let (seen_a, seen_b) = (a.seen.clone(), b.seen.clone());
    let url = format!("{base}/mcp");
    let a = a.serve(StreamableHttpClientTransport::from_uri(url.clone())).await.unwrap();
    let b = b.serve(StreamableHttpClientTransport::from_uri(url)).await.unwrap();
    // Each is the first call on its connection upstream: both carry progress token 0 there.
    let (call_a, call_b) = (start_slow_call_of(&a, "one", 600, 6).await, start_slow_call_of(&b, "two", 600, 3).await);
    let (done_a, done_b) = tokio::join!(call_a.await_response(), call_b.await_response());
    assert!(done_a.is_ok() && done_b.is_ok());
    eventually(Duration::from_secs(3), || async {
        seen_a.lock().unwrap().len() >= 6 && seen_b.lock().unwrap().len() >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let totals = |seen: &Arc<std::sync::Mutex<Vec<rmcp::model::ProgressNotificationParam>>>| -> Vec<Option<f64>> {
        seen.lock().unwrap().iter().map(|p| p.total).collect()
    };
    assert_eq!(totals(&seen_a), vec![Some(6.0); 6], "only the progress of a's call");
    assert_eq!(totals(&seen_b), vec![Some(3.0); 3], "only the progress of b's call");
    let _ = a.cancel().await;
    let _ = b.cancel().await;
}

//! Notifications across stateless edges: two edges behind HAProxy (round robin, no
//! stickiness), session-era clients whose session was initialized on one edge while their
//! standalone GET stream lives on the same or on the other edge. A catalog change reaches each
//! client as exactly one `notifications/tools/list_changed`, and a resource update exactly one
//! `notifications/resources/updated`, wherever the session's requests and stream were served;
//! and both keep arriving after the edge that initialized the sessions stops.

use crate::harness::*;
use crate::stateless::{two_edges, HaProxy};
use rmcp::model::{CallToolRequestParams, ResourceUpdatedNotificationParam};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A session-era client that records what the gateway tells it.
#[derive(Clone, Default)]
struct Watcher {
    tools_changed: Arc<AtomicUsize>,
    updated: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Watcher {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.tools_changed.fetch_add(1, Ordering::SeqCst);
    }

    async fn on_resource_updated(&self, params: ResourceUpdatedNotificationParam, _: NotificationContext<RoleClient>) {
        self.updated.lock().unwrap().push(params.uri);
    }
}

impl Watcher {
    fn tools_changed(&self) -> usize {
        self.tools_changed.load(Ordering::SeqCst)
    }
    fn updated(&self) -> Vec<String> {
        self.updated.lock().unwrap().clone()
    }
}

/// Makes HAProxy send the next balanced request to `edge`: round robin over two edges
/// alternates, so probe requests go through until one lands on the other edge.
async fn next_request_to(haproxy: &HaProxy, edge: &str) {
    for _ in 0..4 {
        let step = format!("steer-{}", uuid::Uuid::new_v4().simple());
        let probe = reqwest::Client::new().get(format!("{}/readyz", haproxy.url)).header("x-test-step", &step);
        probe.send().await.unwrap();
        if haproxy.served_step(&step).await.edge != edge {
            return;
        }
    }
    panic!("could not steer HAProxy's round robin to {edge}");
}

/// A client whose every request carries `X-Test-Step: name` (so HAProxy's log tells its
/// requests apart) and whose standalone GET stream HAProxy pins to `get_edge` while it is UP.
/// Its `initialize` goes to edge-a. Returns once HAProxy has logged the GET stream.
async fn connect(haproxy: &HaProxy, name: &str, get_edge: &str) -> (Watcher, RunningService<RoleClient, Watcher>) {
    use reqwest::header::{HeaderName, HeaderValue};
    let headers = HashMap::from([
        (HeaderName::from_static("x-test-step"), HeaderValue::from_str(name).unwrap()),
        (HeaderName::from_static("x-test-get-edge"), HeaderValue::from_str(get_edge).unwrap()),
    ]);
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", haproxy.url)).custom_headers(headers);
    let transport = StreamableHttpClientTransport::from_config(config);
    next_request_to(haproxy, "edge-a").await;
    let watcher = Watcher::default();
    let client = watcher.clone().serve(transport).await.expect("MCP client connects through HAProxy");
    eventually(Duration::from_secs(5), || async {
        haproxy.served().iter().any(|s| s.step == name && s.method == "GET")
    })
    .await;
    (watcher, client)
}

/// What HAProxy logged of one client's requests: (the session, edges of its POSTs in order,
/// edges of its GETs in order).
fn traffic(haproxy: &HaProxy, name: &str) -> (String, Vec<String>, Vec<String>) {
    let served: Vec<_> = haproxy.served().into_iter().filter(|s| s.step == name).collect();
    let session = served.iter().map(|s| s.session.clone()).find(|s| !s.is_empty()).unwrap_or_default();
    let edges = |method: &str| served.iter().filter(|s| s.method == method).map(|s| s.edge.clone()).collect();
    (session, edges("POST"), edges("GET"))
}

fn echo(text: &str) -> CallToolRequestParams {
    CallToolRequestParams::new("fx__echo").with_arguments(json!({"message": text}).as_object().unwrap().clone())
}

/// Waits until `count` reaches `want`, then a while longer, and checks it stayed there: the
/// notification arrived, and only once.
async fn exactly(what: &str, want: usize, count: impl Fn() -> usize) {
    let within = Duration::from_secs(10);
    let started = std::time::Instant::now();
    while count() < want {
        assert!(started.elapsed() < within, "{what}: {} of {want} within {within:?}", count());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("{what}: {want} after {:?}", started.elapsed());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(count(), want, "{what}: no copies");
}

#[tokio::test]
#[allow(deprecated)] // resources/subscribe: the session era's way
async fn notifications_reach_sessions_wherever_their_stream_lives_and_survive_the_initializing_edge() {
    let mut d = Deployment::new().await;
    let upstream = fixture().await;
    let (api, edge_a, edge_b) = two_edges(&mut d, &upstream.url()).await;
    // The conformance fixture takes resource subscriptions and updates them on request.
    let options = canopy_fixture_server::FixtureOptions { conformance: true, ..Default::default() };
    let watched = canopy_fixture_server::serve_http("127.0.0.1:0".parse().unwrap(), options).await.unwrap();
    let (status, _) = post_json(&format!("{api}/api/v0/servers"), json!({"name": "cf", "url": watched.url()})).await;
    assert_eq!(status, 201);
    // Both edges serve both servers before any client connects, so no registration is
    // still on its way to a session.
    for edge in [&edge_a, &edge_b] {
        eventually(Duration::from_secs(5), || async {
            let names = crate::tool_names(&format!("{edge}/mcp")).await;
            names.contains("fx__echo") && names.contains("cf__touch_resource")
        })
        .await;
    }
    let haproxy = HaProxy::start(&d, &[("edge-a", &edge_a), ("edge-b", &edge_b)]).await;

    // Both sessions are initialized on edge-a; "across" keeps its stream on edge-b, "home" on
    // edge-a.
    let (across, across_client) = connect(&haproxy, "across", "edge-b").await;
    let (home, home_client) = connect(&haproxy, "home", "edge-a").await;
    for (i, client) in [&across_client, &home_client, &across_client, &home_client].into_iter().enumerate() {
        let result = client.call_tool(echo(&format!("call {i}"))).await.unwrap();
        assert_eq!(result.content[0].as_text().unwrap().text, format!("call {i}"));
    }
    let (across_session, across_posts, across_gets) = traffic(&haproxy, "across");
    let (home_session, home_posts, home_gets) = traffic(&haproxy, "home");
    eprintln!("across {across_session}: POSTs {across_posts:?}, GETs {across_gets:?}");
    eprintln!("home {home_session}: POSTs {home_posts:?}, GETs {home_gets:?}");
    assert_ne!(across_session, home_session);
    for posts in [&across_posts, &home_posts] {
        assert_eq!(posts[0], "edge-a", "initialize went to edge-a");
        assert!(posts.iter().any(|e| e == "edge-b"), "later requests also went to edge-b");
    }
    assert_eq!(across_gets, ["edge-b"]);
    assert_eq!(home_gets, ["edge-a"]);

    // "across" subscribes to a resource through edge-a, where its stream is not.
    let uri = "canopy://cf/test://static-text";
    next_request_to(&haproxy, "edge-a").await;
    across_client.subscribe(rmcp::model::SubscribeRequestParams::new(uri)).await.unwrap();
    let (_, posts, _) = traffic(&haproxy, "across");
    assert_eq!(posts.last().map(String::as_str), Some("edge-a"), "the subscription was made on edge-a");

    // A catalog change: each session hears of it once.
    let (status, _) = post_json(&format!("{api}/api/v0/tools/disable?entity=fx__add"), json!({})).await;
    assert_eq!(status, 200);
    exactly("across: tools/list_changed", 1, || across.tools_changed()).await;
    exactly("home: tools/list_changed", 1, || home.tools_changed()).await;
    assert!(!across_client.list_all_tools().await.unwrap().iter().any(|t| t.name == "fx__add"));

    // A resource update: the subscriber hears of it once, under its own URI.
    let invoke = format!("{api}/api/v0/tools/invoke");
    let touch = || post_json(&invoke, json!({"name": "cf__touch_resource", "uri": "test://static-text"}));
    let (status, result) = touch().await;
    assert_eq!((status, result["content"][0]["text"].as_str()), (200, Some("updated test://static-text")), "{result}");
    exactly("across: resources/updated", 1, || across.updated().len()).await;
    assert_eq!(across.updated(), [uri]);
    assert!(home.updated().is_empty(), "a session that did not subscribe hears nothing");

    // The edge that initialized both sessions (and held home's stream and across's
    // subscription) stops.
    assert!(d.terminate("edge-a").await.success());
    haproxy.wait_status("edge-a", "DOWN").await;

    let (status, _) = post_json(&format!("{api}/api/v0/tools/enable?entity=fx__add"), json!({})).await;
    assert_eq!(status, 200);
    exactly("across: tools/list_changed after edge-a stopped", 2, || across.tools_changed()).await;
    exactly("home: tools/list_changed after edge-a stopped", 2, || home.tools_changed()).await;
    assert!(home_client.list_all_tools().await.unwrap().iter().any(|t| t.name == "fx__add"));

    let (status, result) = touch().await;
    assert_eq!((status, result["content"][0]["text"].as_str()), (200, Some("updated test://static-text")), "{result}");
    exactly("across: resources/updated after edge-a stopped", 2, || across.updated().len()).await;
    assert!(home.updated().is_empty());

    // Home's stream moved to edge-b; both sessions carry on there.
    let (_, _, home_gets) = traffic(&haproxy, "home");
    assert_eq!(home_gets.last().map(String::as_str), Some("edge-b"), "home's stream resumed on edge-b: {home_gets:?}");
    for client in [&across_client, &home_client] {
        let result = client.call_tool(echo("still here")).await.unwrap();
        assert_eq!(result.content[0].as_text().unwrap().text, "still here");
    }
    let _ = across_client.cancel().await;
    let _ = home_client.cancel().await;
    d.terminate("edge-b").await;
}

//! Stateless edges: two `canopy serve edge` processes behind a per-request round-robin
//! balancer (no stickiness) serve one MCP session, keep serving it when one edge stops, and
//! replay a stream's events on the other edge after `Last-Event-ID`.

use crate::harness::*;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A load balancer without stickiness: each request goes to the next backend in turn.
/// Backends can be taken out, as a balancer's health check would.
#[derive(Clone)]
struct RoundRobin {
    backends: Arc<Mutex<Vec<String>>>,
    next: Arc<AtomicUsize>,
    served_by: Arc<Mutex<Vec<String>>>,
}

impl RoundRobin {
    async fn start(backends: Vec<String>) -> (Self, String) {
        let lb =
            RoundRobin { backends: Arc::new(Mutex::new(backends)), next: Arc::default(), served_by: Arc::default() };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = lb.clone();
        let app = axum::Router::new().fallback(move |request: Request| {
            let lb = state.clone();
            async move { lb.forward(request).await }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (lb, url)
    }

    fn remove(&self, backend: &str) {
        self.backends.lock().unwrap().retain(|b| b != backend);
    }

    async fn forward(&self, request: Request) -> Response {
        let backend = {
            let backends = self.backends.lock().unwrap();
            backends[self.next.fetch_add(1, Ordering::SeqCst) % backends.len()].clone()
        };
        self.served_by.lock().unwrap().push(backend.clone());
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 16 << 20).await.unwrap();
        let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut upstream = reqwest::Client::new().request(parts.method, format!("{backend}{path}")).body(body);
        for (name, value) in &parts.headers {
            if name != "host" && name != "content-length" {
                upstream = upstream.header(name, value);
            }
        }
        let Ok(response) = upstream.send().await else {
            return Response::builder().status(502).body(Body::empty()).unwrap();
        };
        let mut builder = Response::builder().status(response.status());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let chunks = futures::stream::unfold(response, |mut r| async move {
            match r.chunk().await {
                Ok(Some(chunk)) => Some((Ok::<_, std::io::Error>(chunk), r)),
                _ => None,
            }
        });
        builder.body(Body::from_stream(chunks)).unwrap()
    }
}

fn echo(text: &str) -> CallToolRequestParams {
    CallToolRequestParams::new("fx__echo").with_arguments(json!({"message": text}).as_object().unwrap().clone())
}

#[tokio::test]
async fn two_edges_without_stickiness_serve_one_session_and_survive_losing_one() {
    let mut d = Deployment::new().await;
    let api = d.spawn("api", &["serve", "api"]).await;
    d.spawn("worker", &["serve", "worker"]).await;
    let edge_a = d.spawn("edge-a", &["serve", "edge"]).await;
    let edge_b = d.spawn("edge-b", &["serve", "edge"]).await;
    let upstream = fixture().await;
    let (status, _) = post_json(&format!("{api}/api/v0/servers"), json!({"name": "fx", "url": upstream.url()})).await;
    assert_eq!(status, 201);
    let (lb, lb_url) = RoundRobin::start(vec![edge_a.clone(), edge_b.clone()]).await;

    let client = mcp_client(&format!("{lb_url}/mcp")).await;
    for i in 0..6 {
        let result = client.call_tool(echo(&format!("round {i}"))).await.unwrap();
        assert_eq!(result.content[0].as_text().unwrap().text, format!("round {i}"));
    }
    assert_eq!(client.list_all_tools().await.unwrap().len(), 10);
    let served = lb.served_by.lock().unwrap().clone();
    assert!(served.contains(&edge_a) && served.contains(&edge_b), "requests alternated: {served:?}");

    // Edge A goes away; the balancer stops sending to it; the session carries on on B.
    let status = d.terminate("edge-a").await;
    assert!(status.success());
    lb.remove(&edge_a);
    let result = client.call_tool(echo("after losing an edge")).await.unwrap();
    assert_eq!(result.content[0].as_text().unwrap().text, "after losing an edge");
    let _ = client.cancel().await;
    d.terminate("edge-b").await;
}

/// Reads the `id:` and `data:` lines of an SSE body.
fn sse_events(body: &str) -> Vec<(Option<String>, String)> {
    body.split("\n\n")
        .filter_map(|event| {
            let id = event
                .lines()
                .find_map(|l| l.strip_prefix("id: ").or_else(|| l.strip_prefix("id:")).map(str::to_string));
            let data: String =
                event.lines().filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:"))).collect();
            (!data.trim().is_empty()).then_some((id, data))
        })
        .collect()
}

#[tokio::test]
async fn a_stream_started_on_one_edge_resumes_on_another() {
    let mut d = Deployment::new().await;
    let api = d.spawn("api", &["serve", "api"]).await;
    d.spawn("worker", &["serve", "worker"]).await;
    let edge_a = d.spawn("edge-a", &["serve", "edge"]).await;
    let edge_b = d.spawn("edge-b", &["serve", "edge"]).await;
    let upstream = fixture().await;
    post_json(&format!("{api}/api/v0/servers"), json!({"name": "fx", "url": upstream.url()})).await;

    let http = reqwest::Client::new();
    let post = |base: &str, session: Option<&str>, body: serde_json::Value| {
        let mut r = http
            .post(format!("{base}/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&body);
        if let Some(s) = session {
            r = r.header("mcp-session-id", s);
        }
        r.send()
    };
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let response = post(&edge_a, None, init).await.unwrap();
    let session = response.headers()["mcp-session-id"].to_str().unwrap().to_string();
    response.text().await.unwrap();
    post(&edge_a, Some(&session), json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await.unwrap();

    // A call with progress on edge A: progress events, then the result.
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "fx__slow", "arguments": {"ms": 200, "steps": 2}, "_meta": {"progressToken": "p1"}}});
    let body = post(&edge_a, Some(&session), call).await.unwrap().text().await.unwrap();
    let events = sse_events(&body);
    // At least one progress event, then the result. (A progress notification the upstream
    // sends right before its result can still be in flight when the result arrives, and is
    // then not relayed: the number of progress events before the result may vary.)
    assert!(events.len() >= 2, "progress, then the result: {body}");
    assert!(events.last().unwrap().1.contains("\"result\""), "the stream ends with the result: {body}");
    let (first_id, _) = &events[0];
    let first_id = first_id.clone().expect("events carry ids");

    // On edge B, Last-Event-ID replays what followed the first event, the result included.
    let replay = http
        .get(format!("{edge_b}/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18")
        .header("last-event-id", &first_id)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);
    let mut replayed = String::new();
    let mut replay = replay;
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while let Ok(Some(chunk)) = replay.chunk().await {
            replayed.push_str(&String::from_utf8_lossy(&chunk));
            if replayed.contains("\"result\"") {
                break;
            }
        }
    })
    .await;
    let replayed = sse_events(&replayed);
    let expected: Vec<String> = events[1..].iter().map(|(_, data)| data.clone()).collect();
    let got: Vec<String> = replayed.iter().map(|(_, data)| data.clone()).collect();
    assert_eq!(got, expected, "edge B replays exactly the events after {first_id}");
    d.terminate("edge-a").await;
    d.terminate("edge-b").await;
}

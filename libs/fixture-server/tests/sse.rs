//! The legacy HTTP+SSE mode of the fixture (MCP 2024-11-05), driven by hand over HTTP so the
//! test does not depend on any SSE client implementation.

use std::time::Duration;

use canopy_fixture_server::{serve_sse, FixtureOptions, SERVER_NAME};
use serde_json::{json, Value};

/// Reads one SSE stream: `next` returns the next (event, data), skipping comments.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn next(&mut self) -> (String, String) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut event, mut data) = (String::from("message"), Vec::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim_start().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                    }
                }
                if !data.is_empty() {
                    return (event, data.join("\n"));
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.response.chunk())
                .await
                .expect("an event within 5 s")
                .expect("stream readable")
                .expect("stream still open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    async fn next_message(&mut self) -> Value {
        let (event, data) = self.next().await;
        assert_eq!(event, "message");
        serde_json::from_str(&data).unwrap()
    }
}

#[tokio::test]
async fn legacy_sse_session_end_to_end() {
    let fixture =
        serve_sse("127.0.0.1:0".parse().unwrap(), FixtureOptions::default(), Some("s3cret".into())).await.unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://{}", fixture.addr());

    let refused = http.get(fixture.url()).send().await.unwrap();
    assert_eq!(refused.status(), 401, "no token");
    let refused = http.get(fixture.url()).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(refused.status(), 401, "wrong token");

    let response = http.get(fixture.url()).bearer_auth("s3cret").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut events = Events { response, buffer: String::new() };
    let (event, endpoint) = events.next().await;
    assert_eq!(event, "endpoint");
    assert!(endpoint.starts_with("/messages?sessionId="), "{endpoint}");
    let endpoint = format!("{base}{endpoint}");

    let post = |body: Value, token: &'static str| http.post(&endpoint).bearer_auth(token).json(&body).send();
    assert_eq!(post(json!({"jsonrpc": "2.0", "id": 0, "method": "ping"}), "wrong").await.unwrap().status(), 401);
    let bad = http.post(&endpoint).bearer_auth("s3cret").body("{nope").send().await.unwrap();
    assert_eq!(bad.status(), 400);

    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}});
    assert_eq!(post(initialize, "s3cret").await.unwrap().status(), 202);
    let answer = events.next_message().await;
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(answer["result"]["serverInfo"]["name"], SERVER_NAME, "{answer}");
    assert_eq!(answer["result"]["protocolVersion"], "2024-11-05", "{answer}");

    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(post(initialized, "s3cret").await.unwrap().status(), 202);
    let call =
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}});
    assert_eq!(post(call, "s3cret").await.unwrap().status(), 202);
    let answer = events.next_message().await;
    assert_eq!(answer["id"], 2, "{answer}");
    assert_eq!(answer["result"]["structuredContent"]["authorization"], "Bearer s3cret", "{answer}");

    let seen = fixture.stream_requests();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2]["authorization"], "Bearer s3cret");

    // Closing the stream ends the session.
    drop(events);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let status = post(json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}), "s3cret").await.unwrap().status();
        if status == 404 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "session still open after its stream closed: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let unknown = http.post(format!("{base}/messages?sessionId=nope")).bearer_auth("s3cret").json(&json!({}));
    assert_eq!(unknown.send().await.unwrap().status(), 404);
    fixture.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let fixture = serve_sse("127.0.0.1:0".parse().unwrap(), FixtureOptions::default(), None).await.unwrap();
    let response = reqwest::get(fixture.url()).await.unwrap();
    let mut events = Events { response, buffer: String::new() };
    assert_eq!(events.next().await.0, "endpoint");
    tokio::time::timeout(Duration::from_secs(3), fixture.shutdown()).await.expect("shutdown is prompt").unwrap();
    let drained = async { while let Ok(Some(_)) = events.response.chunk().await {} };
    tokio::time::timeout(Duration::from_secs(3), drained).await.expect("the stream ends");
}

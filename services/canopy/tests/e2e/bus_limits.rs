//! Calls larger than the message bus carries in one message (NATS `max_payload`, 1 MiB by
//! default): arguments too large are refused at once with an error naming the limit, results
//! too large for one message travel in chunks, results too large even for that are refused at
//! once, and none of it costs a process its bus connection (the next call works at once).

use crate::harness::*;
use canopy_fixture_server::{serve_http, FixtureOptions};
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use std::time::{Duration, Instant};

fn call(name: &str, arguments: serde_json::Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_string()).with_arguments(arguments.as_object().unwrap().clone())
}

/// Well under the 60 s call timeout a call waited for before.
const PROMPT: Duration = Duration::from_secs(10);

/// api, worker and edge as separate processes, and an upstream with the `large` tool.
async fn deployment() -> (Deployment, String, String, canopy_fixture_server::FixtureHandle) {
    let mut d = Deployment::new().await;
    let api = d.spawn("api", &["serve", "api"]).await;
    d.spawn("worker", &["serve", "worker"]).await;
    let edge = d.spawn("edge", &["serve", "edge"]).await;
    let upstream =
        serve_http("127.0.0.1:0".parse().unwrap(), FixtureOptions::default().with_large_output(true)).await.unwrap();
    let (status, body) =
        post_json(&format!("{api}/api/v0/servers"), json!({"name": "fx", "url": upstream.url()})).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("ready")), "{body}");
    (d, api, edge, upstream)
}

/// A normal call right after a large one answers at once: the edge's (and the worker's) bus
/// connection survived.
async fn next_call_works(client: &rmcp::service::RunningService<rmcp::RoleClient, ()>, label: &str) {
    let started = Instant::now();
    let result = tokio::time::timeout(PROMPT, client.call_tool(call("fx__echo", json!({"message": label}))))
        .await
        .unwrap_or_else(|_| panic!("the call after {label} hangs"))
        .unwrap_or_else(|e| panic!("the call after {label} fails: {e}"));
    assert_eq!(result.content[0].as_text().unwrap().text, label);
    assert!(started.elapsed() < Duration::from_secs(2), "the call after {label} took {:?}", started.elapsed());
}

fn assert_no_payload_violation(d: &mut Deployment) {
    for name in ["api", "worker", "edge"] {
        let log = std::fs::read_to_string(&d.process(name).log).unwrap_or_default();
        assert!(!log.to_lowercase().contains("maximum payload"), "{name} exceeded NATS's max_payload:\n{log}");
    }
}

#[tokio::test]
async fn arguments_over_the_bus_limit_are_refused_at_once_and_the_connection_survives() {
    let (mut d, api, edge, _upstream) = deployment().await;
    let limit = d.bus().await.client.server_info().max_payload;
    let client = mcp_client(&format!("{edge}/mcp")).await;
    next_call_works(&client, "warm-up").await;

    // ~2 MiB of arguments: accepted by the edge's HTTP (4 MiB), more than NATS carries.
    let big = "a".repeat(2 * 1024 * 1024);
    let started = Instant::now();
    let refused = tokio::time::timeout(PROMPT, client.call_tool(call("fx__echo", json!({"message": big}))))
        .await
        .expect("a call with too large arguments is answered at once, not after the call timeout");
    let elapsed = started.elapsed();
    eprintln!("MCP: too large arguments refused in {elapsed:?}");
    let error = match refused {
        Err(rmcp::service::ServiceError::McpError(e)) => e,
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    };
    assert_eq!(error.code, rmcp::model::ErrorCode::INVALID_PARAMS, "{error:?}");
    assert!(
        error.message.contains("arguments too large") && error.message.contains(&format!("limit {limit} bytes")),
        "the error names the size and the limit: {}",
        error.message
    );
    next_call_works(&client, "after large arguments").await;

    // REST invoke alike: 400 INVALID_REQUEST at once, and the api's connection survives.
    let invoke = format!("{api}/api/v0/tools/invoke");
    let started = Instant::now();
    let big = "b".repeat(1536 * 1024);
    let (status, body) = tokio::time::timeout(PROMPT, post_json(&invoke, json!({"name": "fx__echo", "message": big})))
        .await
        .expect("REST answers at once");
    eprintln!("REST: too large arguments refused in {:?}", started.elapsed());
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("INVALID_REQUEST")), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("arguments too large") && message.contains(&format!("limit {limit} bytes")), "{body}");
    let started = Instant::now();
    let (status, body) = post_json(&invoke, json!({"name": "fx__echo", "message": "after"})).await;
    assert_eq!(status, 200, "{body}");
    assert!(started.elapsed() < Duration::from_secs(2), "the next REST call took {:?}", started.elapsed());
    next_call_works(&client, "after the REST call").await;

    let _ = client.cancel().await;
    assert_no_payload_violation(&mut d);
}

#[tokio::test]
async fn results_over_the_bus_limit_travel_in_chunks_and_oversized_ones_fail_at_once() {
    let (mut d, api, edge, _upstream) = deployment().await;
    let client = mcp_client(&format!("{edge}/mcp")).await;

    // 3 MiB: three times what one NATS message carries, delivered whole.
    let size = 3 * 1024 * 1024;
    let started = Instant::now();
    let result = tokio::time::timeout(PROMPT, client.call_tool(call("fx__large", json!({"bytes": size}))))
        .await
        .expect("a large result arrives promptly")
        .expect("a large result is a result");
    eprintln!("MCP: a {size}-byte result in {:?}", started.elapsed());
    let text = &result.content[0].as_text().unwrap().text;
    assert_eq!(text.len(), size);
    assert!(text.bytes().all(|b| b == b'x'));
    next_call_works(&client, "after a large result").await;

    // Over REST too.
    let invoke = format!("{api}/api/v0/tools/invoke");
    let (status, body) = tokio::time::timeout(PROMPT, post_json(&invoke, json!({"name": "fx__large", "bytes": size})))
        .await
        .expect("REST answers promptly");
    assert_eq!(status, 200);
    assert_eq!(body["content"][0]["text"].as_str().map(str::len), Some(size), "a {size}-byte text");

    // Over the most a result may be in chunks: a prompt error saying so.
    let over = canopy_bus::payload::MAX_CHUNKED + 1;
    let started = Instant::now();
    let refused =
        tokio::time::timeout(Duration::from_secs(30), client.call_tool(call("fx__large", json!({"bytes": over}))))
            .await
            .expect("a result too large is answered promptly, not after the call timeout");
    eprintln!("MCP: a {over}-byte result refused in {:?}", started.elapsed());
    let error = match refused {
        Err(rmcp::service::ServiceError::McpError(e)) => e,
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    };
    assert!(
        error.message.contains("result too large")
            && error.message.contains(&format!("limit {} bytes", canopy_bus::payload::MAX_CHUNKED)),
        "{error:?}"
    );
    next_call_works(&client, "after a result too large").await;

    let _ = client.cancel().await;
    assert_no_payload_violation(&mut d);
}

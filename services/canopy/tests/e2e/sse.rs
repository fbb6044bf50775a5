//! Upstreams on the legacy HTTP+SSE transport (MCP 2024-11-05): registered with
//! `transport: "sse"`, discovered, listed and called through `/mcp` like any other, with the
//! registration's credentials on the stream and on every message; a lost stream reconnects.

use crate::args;
use crate::harness::*;
use canopy_fixture_server::{serve_sse, FixtureOptions, SseFixtureHandle};
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use std::collections::BTreeSet;
use std::net::SocketAddr;

const TOKEN: &str = "sse-secret-7";

/// The fixture over legacy SSE, requiring `TOKEN`: 10 tools, 2 per page.
async fn sse_fixture(listen: SocketAddr) -> SseFixtureHandle {
    let options = FixtureOptions { extra_tools: 5, page_size: Some(2), ..Default::default() };
    serve_sse(listen, options, Some(TOKEN.into())).await.unwrap()
}

#[tokio::test]
async fn a_legacy_sse_upstream_is_discovered_listed_and_called() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let upstream = sse_fixture("127.0.0.1:0".parse().unwrap()).await;
    let servers = format!("{base}/api/v0/servers");

    let (status, server) = post_json(
        &servers,
        json!({"name": "legacy", "transport": "sse", "url": upstream.url(), "bearer_token": TOKEN,
               "headers": {"X-Fixture": "sse-header"}}),
    )
    .await;
    assert_eq!(
        (status, server["status"].as_str(), server["tool_count"].as_u64()),
        (201, Some("ready"), Some(10)),
        "every page of the upstream's tools: {server}"
    );
    assert_eq!((server["transport"].as_str(), server["bearer_token"].as_str()), (Some("sse"), Some("***")));

    let client = mcp_client(&format!("{base}/mcp")).await;
    let names: BTreeSet<String> =
        client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    let expected: BTreeSet<String> =
        upstream.server().tool_definitions().iter().map(|t| format!("legacy__{}", t.name)).collect();
    assert_eq!(names, expected);

    let echo = client
        .call_tool(CallToolRequestParams::new("legacy__echo").with_arguments(args(json!({"message": "over sse"}))))
        .await
        .unwrap();
    assert_eq!(echo.content[0].as_text().unwrap().text, "over sse");
    let add = client
        .call_tool(CallToolRequestParams::new("legacy__add").with_arguments(args(json!({"a": 2, "b": 40}))))
        .await
        .unwrap();
    assert_eq!(add.structured_content, Some(json!({"sum": 42.0})));

    // The registration's credentials, unsealed, on the messages (POSTs) and on the stream (GET).
    let who = client.call_tool(CallToolRequestParams::new("legacy__whoami")).await.unwrap();
    let who = who.structured_content.unwrap();
    assert_eq!(who["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(who["xFixture"], "sse-header");
    let streams = upstream.stream_requests();
    assert!(!streams.is_empty());
    for headers in &streams {
        assert_eq!(headers["authorization"], format!("Bearer {TOKEN}").as_str());
        assert_eq!(headers["x-fixture"], "sse-header");
    }
    let _ = client.cancel().await;

    // A wrong token: registered, with the upstream's refusal visible.
    let (status, locked) = post_json(
        &servers,
        json!({"name": "locked", "transport": "sse", "url": upstream.url(), "bearer_token": "bad-token-93"}),
    )
    .await;
    assert_eq!((status, locked["status"].as_str()), (201, Some("error")), "{locked}");
    let why = locked["status_error"].as_str().unwrap();
    assert!(why.contains("HTTP 401") && why.contains(&upstream.url()), "{why}");
    assert!(!why.contains("bad-token-93"), "no secret in the error: {why}");

    // The upstream restarts: its stream ends, and the next call reconnects on its own.
    let addr = upstream.addr();
    upstream.shutdown().await.unwrap();
    let upstream = sse_fixture(addr).await;
    let invoke = format!("{base}/api/v0/tools/invoke");
    let (status, body) = post_json(&invoke, json!({"name": "legacy__echo", "message": "again"})).await;
    assert_eq!((status, body["content"][0]["text"].as_str()), (200, Some("again")), "{body}");
    assert_eq!(upstream.stream_requests().len(), 1, "one new stream");
    d.terminate("all").await;
}

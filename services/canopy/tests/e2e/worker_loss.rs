//! A call whose session-worker dies under it (`kill -9`) is answered within seconds, not after
//! the caller's timeout: the worker says every second that it still runs the call, and the
//! edge gives a call up once it heard nothing of it for four seconds. A call that merely takes
//! long, on a live worker, is not cut short.

use crate::harness::*;
use canopy_fixture_server::{serve_http, FixtureOptions};
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use std::time::{Duration, Instant};

fn slow(ms: u64) -> CallToolRequestParams {
    CallToolRequestParams::new("fx__slow").with_arguments(json!({"ms": ms, "steps": 0}).as_object().unwrap().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_worker_is_killed_is_answered_within_seconds_and_a_long_one_is_not_cut() {
    let mut d = Deployment::new().await;
    let api = d.spawn("api", &["serve", "api"]).await;
    d.spawn("worker", &["serve", "worker"]).await;
    let edge = d.spawn("edge", &["serve", "edge"]).await;
    let upstream = serve_http("127.0.0.1:0".parse().unwrap(), FixtureOptions::default()).await.unwrap();
    let (status, body) =
        post_json(&format!("{api}/api/v0/servers"), json!({"name": "fx", "url": upstream.url()})).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("ready")), "{body}");
    let client = mcp_client(&format!("{edge}/mcp")).await;

    // 6 s on a live worker: longer than the silence that gives a call up, and it is not.
    let result = client.call_tool(slow(6000)).await.expect("a long call on a live worker completes");
    assert_eq!(result.content[0].as_text().unwrap().text, "done");

    // A 60 s call; its worker is killed a second in.
    let call = tokio::spawn(async move {
        let started = Instant::now();
        let outcome = client.call_tool(slow(60_000)).await;
        (outcome, started.elapsed())
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed = Instant::now();
    d.kill_hard("worker");
    let (outcome, took) = call.await.unwrap();
    let answered_after_kill = killed.elapsed();
    let text = match outcome {
        Ok(result) => {
            assert_eq!(result.is_error, Some(true), "{result:?}");
            result.content[0].as_text().map(|t| t.text.clone()).unwrap_or_default()
        }
        Err(e) => e.to_string(),
    };
    assert!(text.contains("session-worker running this call stopped"), "{text}");
    assert!(answered_after_kill < Duration::from_secs(8), "answered {answered_after_kill:?} after the kill");
    println!("FIGURE call whose worker was killed: answered {answered_after_kill:?} after the kill ({took:?} in all)");
}

/// The same through REST (`POST /api/v0/tools/invoke`): an api in a process without a worker
/// gives a call up within seconds of its worker's death, and a long call on a live worker
/// completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_invoke_whose_worker_is_killed_is_answered_within_seconds() {
    let mut d = Deployment::new().await;
    let api = d.spawn("api", &["serve", "api"]).await;
    d.spawn("worker", &["serve", "worker"]).await;
    let upstream = serve_http("127.0.0.1:0".parse().unwrap(), FixtureOptions::default()).await.unwrap();
    let (status, body) =
        post_json(&format!("{api}/api/v0/servers"), json!({"name": "fx", "url": upstream.url()})).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("ready")), "{body}");
    let invoke = |ms: u64| {
        let url = format!("{api}/api/v0/tools/invoke");
        async move { post_json(&url, json!({"name": "fx__slow", "ms": ms, "steps": 0})).await }
    };

    let (status, body) = invoke(6000).await;
    assert_eq!(status, 200, "a long call on a live worker completes: {body}");

    let call = tokio::spawn(invoke(60_000));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed = Instant::now();
    d.kill_hard("worker");
    let (status, body) = call.await.unwrap();
    let answered_after_kill = killed.elapsed();
    assert!(status >= 500, "{status} {body}");
    assert_eq!(body["error"]["code"].as_str(), Some("UPSTREAM_UNAVAILABLE"), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("session-worker running this call stopped"), "{body}");
    assert!(answered_after_kill < Duration::from_secs(8), "answered {answered_after_kill:?} after the kill");
    println!("FIGURE REST invoke whose worker was killed: answered {answered_after_kill:?} after the kill");
}

//! Hosted stdio upstreams: one process serves every call, with a clean environment that holds
//! only the registration's own (unsealed) variables, and it stops when the server goes.

use crate::harness::*;
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// The fixture server's binary, built next to `canopy` (building it if this run did not).
pub(crate) fn fixture_binary() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_canopy")).parent().unwrap().to_path_buf();
    let path = dir.join("canopy-fixture-mcp");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "canopy-fixture-server", "--bin", "canopy-fixture-mcp"])
            .status()
            .unwrap();
        assert!(status.success());
    }
    path
}

/// (pid, environment) of every process whose environment holds `marker`.
pub(crate) fn processes_with(marker: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        let environ = String::from_utf8_lossy(&environ).replace('\0', "\n");
        if environ.lines().any(|l| l == format!("FIXTURE_MARK={marker}")) {
            found.push((pid, environ));
        }
    }
    found
}

#[tokio::test]
async fn a_stdio_upstream_runs_one_clean_process_for_every_call() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let marker = canopy_testkit::unique("mark");
    let (status, server) = post_json(
        &format!("{base}/api/v0/servers"),
        json!({"name": "local", "transport": "stdio", "command": fixture_binary(),
               "args": ["--transport", "stdio", "--extra-tools", "2"],
               "env": {"FIXTURE_MARK": marker, "UPSTREAM_API_KEY": "stdio-secret-42"}}),
    )
    .await;
    assert_eq!(
        (status, server["status"].as_str(), server["tool_count"].as_u64()),
        (201, Some("ready"), Some(7)),
        "{server}"
    );
    assert_eq!(server["env"]["UPSTREAM_API_KEY"], "***");

    let started = processes_with(&marker);
    assert_eq!(started.len(), 1, "discovery started exactly one process");
    let (pid, environ) = &started[0];
    assert!(environ.contains("UPSTREAM_API_KEY=stdio-secret-42"), "the registration's env reaches its process");
    for leaked in ["CANOPY_SECRET_KEY", "CANOPY_DATABASE_URL", "CANOPY_NATS_URL", "CANOPY_REDIS_URL"] {
        assert!(!environ.contains(leaked), "{leaked} must not reach a hosted process");
    }

    let client = mcp_client(&format!("{base}/mcp")).await;
    for i in 0..100 {
        let text = format!("call {i}");
        let result = client
            .call_tool(
                CallToolRequestParams::new("local__echo")
                    .with_arguments(json!({"message": text}).as_object().unwrap().clone()),
            )
            .await
            .unwrap();
        assert_eq!(result.content[0].as_text().unwrap().text, text);
    }
    let _ = client.cancel().await;
    let after: Vec<u32> = processes_with(&marker).into_iter().map(|(p, _)| p).collect();
    assert_eq!(after, vec![*pid], "100 calls, still the one process");

    let status = reqwest::Client::new().delete(format!("{base}/api/v0/servers/local")).send().await.unwrap().status();
    assert_eq!(status, 204);
    eventually(Duration::from_secs(3), || async { processes_with(&marker).is_empty() }).await;
    d.terminate("all").await;
}

async fn register_crashing(base: &str, name: &str, exit_after_calls: &str, starts: &std::path::Path) {
    let (status, server) = post_json(
        &format!("{base}/api/v0/servers"),
        json!({"name": name, "transport": "stdio", "command": fixture_binary(),
               "args": ["--transport", "stdio", "--exit-after-calls", exit_after_calls],
               "env": {"FIXTURE_START_LOG": starts}}),
    )
    .await;
    assert_eq!((status, server["status"].as_str()), (201, Some("ready")), "{server}");
}

fn starts(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).unwrap_or_default().lines().count()
}

#[tokio::test]
async fn a_crashed_stdio_upstream_is_restarted_at_once_and_the_call_goes_through() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let log = std::env::temp_dir().join(format!("{}.starts", canopy_testkit::unique("fixture")));
    // Each process answers one call and crashes on the next.
    register_crashing(&base, "flaky", "1", &log).await;
    let invoke = format!("{base}/api/v0/tools/invoke");
    for (i, text) in ["one", "two", "three", "four"].into_iter().enumerate() {
        let (status, body) = post_json(&invoke, json!({"name": "flaky__echo", "message": text})).await;
        assert_eq!((status, body["content"][0]["text"].as_str()), (200, Some(text)), "{body}");
        assert_eq!(starts(&log), i + 1, "the first process, then one restart per crash, none more");
    }
    let _ = std::fs::remove_file(&log);
    d.terminate("all").await;
}

#[tokio::test]
async fn a_stdio_upstream_that_keeps_crashing_is_restarted_with_backoff() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let log = std::env::temp_dir().join(format!("{}.starts", canopy_testkit::unique("fixture")));
    // Every process crashes on its first call.
    register_crashing(&base, "broken", "0", &log).await;
    let invoke = format!("{base}/api/v0/tools/invoke");
    let call = || post_json(&invoke, json!({"name": "broken__echo", "message": "x"}));

    let (status, body) = call().await;
    assert_eq!(status, 502, "crashed, restarted at once, crashed again: {body}");
    assert_eq!(starts(&log), 2);
    let (status, body) = call().await;
    assert_eq!(status, 502);
    assert!(body["error"]["message"].as_str().unwrap().contains("restarted in"), "{body}");
    assert_eq!(starts(&log), 2, "no process started while backing off");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = call().await;
    assert_eq!(status, 502);
    assert_eq!(starts(&log), 3, "after the back-off, one more try");
    let (status, body) = call().await;
    assert!(status == 502 && body["error"]["message"].as_str().unwrap().contains("restarted in"), "{body}");
    assert_eq!(starts(&log), 3);
    let _ = std::fs::remove_file(&log);
    d.terminate("all").await;
}

async fn register_counted(base: &str, name: &str, session_mode: &str, starts: &std::path::Path) {
    let (status, server) = post_json(
        &format!("{base}/api/v0/servers"),
        json!({"name": name, "transport": "stdio", "command": fixture_binary(),
               "args": ["--transport", "stdio"], "session_mode": session_mode,
               "env": {"FIXTURE_START_LOG": starts}}),
    )
    .await;
    assert_eq!((status, server["status"].as_str()), (201, Some("ready")), "{server}");
}

/// `n` concurrent 600 ms calls of `server__slow` over REST; all must succeed.
async fn concurrent_slow_calls(base: &str, server: &str, n: usize) {
    let invoke = format!("{base}/api/v0/tools/invoke");
    let calls = (0..n).map(|_| {
        let invoke = invoke.clone();
        async move { post_json(&invoke, json!({"name": format!("{server}__slow"), "ms": 600})).await }
    });
    for (status, body) in futures::future::join_all(calls).await {
        assert_eq!(status, 200, "{body}");
        assert_ne!(body["isError"], json!(true), "{body}");
    }
}

/// In `session_mode` stateless (the default), a call never shares its stdio process with
/// another call in flight: concurrent calls get processes of their own, up to the pool's size
/// (8 by default; a ninth call waits for one to come free), and idle processes are reused.
/// In `session_mode` stateful, concurrent calls share the one long-lived process.
#[tokio::test]
async fn concurrent_calls_get_their_own_stdio_processes_unless_the_server_is_stateful() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let log = |name: &str| std::env::temp_dir().join(format!("{}-{name}.starts", canopy_testkit::unique("fixture")));

    let (solo, shared) = (log("solo"), log("shared"));
    register_counted(&base, "solo", "stateless", &solo).await;
    assert_eq!(starts(&solo), 1, "discovery starts the first process, which stays warm");
    concurrent_slow_calls(&base, "solo", 3).await;
    assert_eq!(starts(&solo), 3, "three calls at once: three processes");
    let invoke = format!("{base}/api/v0/tools/invoke");
    for i in 0..5 {
        let (status, body) = post_json(&invoke, json!({"name": "solo__echo", "message": format!("{i}")})).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(starts(&solo), 3, "calls one after another reuse idle processes");
    concurrent_slow_calls(&base, "solo", 9).await;
    assert_eq!(starts(&solo), 8, "the pool stops at 8 processes; the ninth call waited for one");

    register_counted(&base, "shared", "stateful", &shared).await;
    concurrent_slow_calls(&base, "shared", 4).await;
    assert_eq!(starts(&shared), 1, "a stateful server's calls share its one process");

    for path in [&solo, &shared] {
        let _ = std::fs::remove_file(path);
    }
    d.terminate("all").await;
}

/// Sequential calls to a stateless stdio server all use the one process discovery started,
/// through REST and MCP alike, also while the worker lists the catalog again because the
/// upstream announced a change: a listing is no call and takes no process from one.
#[tokio::test]
async fn sequential_calls_use_the_process_discovery_started_even_while_the_catalog_is_listed() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let log = std::env::temp_dir().join(format!("{}-sequential.starts", canopy_testkit::unique("fixture")));
    // One tool per page: listing the catalog again takes dozens of round trips to the process.
    let (status, server) = post_json(
        &format!("{base}/api/v0/servers"),
        json!({"name": "seq", "transport": "stdio", "command": fixture_binary(),
               "args": ["--transport", "stdio", "--conformance", "--page-size", "1"],
               "env": {"FIXTURE_START_LOG": log}}),
    )
    .await;
    assert_eq!((status, server["status"].as_str()), (201, Some("ready")), "{server}");
    assert_eq!(starts(&log), 1, "discovery starts one process");
    // Every tenth call makes the upstream announce a tool-list change, so the calls after it
    // arrive while the worker lists the catalog again.
    let invoke = format!("{base}/api/v0/tools/invoke");
    for i in 0..100 {
        let body = match i % 10 {
            0 => json!({"name": "seq__test_trigger_tool_change"}),
            _ => json!({"name": "seq__echo", "message": format!("{i}")}),
        };
        let (status, body) = post_json(&invoke, body).await;
        assert_eq!(status, 200, "{body}");
    }
    let client = mcp_client(&format!("{base}/mcp")).await;
    for i in 0..100 {
        let (name, arguments) = match i % 10 {
            0 => ("seq__test_trigger_tool_change", json!({})),
            _ => ("seq__echo", json!({"message": format!("{i}")})),
        };
        let params = CallToolRequestParams::new(name).with_arguments(arguments.as_object().unwrap().clone());
        client.call_tool(params).await.unwrap();
    }
    let _ = client.cancel().await;
    assert_eq!(starts(&log), 1, "200 sequential calls and 20 catalog listings: still the one process");
    let _ = std::fs::remove_file(&log);
    d.terminate("all").await;
}

/// `POST path` with a bearer token; (status, JSON body).
async fn post_as(url: &str, token: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new().post(url).bearer_auth(token).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

/// In enterprise mode a `session_mode` stateful server keeps one upstream session per
/// principal: what one caller did to the upstream's session state is never another's. The
/// first principal to call uses the process discovery started; each other principal gets a
/// process of its own, kept for its later calls. A stateless server still pools per call.
#[tokio::test]
async fn a_stateful_server_keeps_one_upstream_session_per_principal() {
    let mut d = Deployment::new().await;
    let base = d.spawn("enterprise", &["start", "--enterprise"]).await;
    let (status, init) = post_json(&format!("{base}/api/v0/init-server"), json!({})).await;
    assert_eq!(status, 201, "{init}");
    let owner = init["access_token"].as_str().unwrap().to_string();
    let starts_log = std::env::temp_dir().join(format!("{}-stateful.starts", canopy_testkit::unique("fixture")));
    let (status, server) = post_as(
        &format!("{base}/api/v0/servers"),
        &owner,
        json!({"name": "shared", "transport": "stdio", "command": fixture_binary(),
               "args": ["--transport", "stdio"], "session_mode": "stateful",
               "env": {"FIXTURE_START_LOG": starts_log}}),
    )
    .await;
    assert_eq!((status, server["status"].as_str()), (201, Some("ready")), "{server}");
    assert_eq!(starts(&starts_log), 1, "discovery starts one process");
    let mut robots = Vec::new();
    for name in ["robot1", "robot2"] {
        let (status, created) =
            post_as(&format!("{base}/api/v0/mcp-clients"), &owner, json!({"name": name, "allowed_servers": ["*"]}))
                .await;
        assert_eq!(status, 201, "{created}");
        robots.push(created["access_token"].as_str().unwrap().to_string());
    }
    let invoke = format!("{base}/api/v0/tools/invoke");
    let call = |token: String, text: &'static str| {
        let invoke = invoke.clone();
        async move {
            let (status, body) = post_as(&invoke, &token, json!({"name": "shared__echo", "message": text})).await;
            assert_eq!(status, 200, "{body}");
        }
    };
    call(robots[0].clone(), "a").await;
    assert_eq!(starts(&starts_log), 1, "the first principal takes the process discovery started");
    call(robots[1].clone(), "b").await;
    assert_eq!(starts(&starts_log), 2, "another principal: a process of its own");
    for _ in 0..3 {
        call(robots[0].clone(), "a").await;
        call(robots[1].clone(), "b").await;
    }
    call(owner.clone(), "o").await;
    assert_eq!(starts(&starts_log), 3, "each principal keeps its own; the owner is a third");
    let _ = std::fs::remove_file(&starts_log);
    d.terminate("enterprise").await;
}

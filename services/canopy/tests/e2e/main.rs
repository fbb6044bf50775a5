//! End-to-end tests of the `canopy` binary: the thin path of the foundation issue through
//! real processes, real infrastructure, a real MCP upstream and a real MCP client.

mod access_tokens;
mod audit;
mod builtin;
mod bus_limits;
mod cli;
mod cli_runner;
mod discovery_pending;
mod discovery_recovery;
mod enterprise;
mod enterprise_cli;
mod federation;
mod gateway;
mod grid;
mod grid_workflows;
mod hardening;
mod harness;
mod jobs_kill;
mod limits;
mod nats_restart;
mod operator;
mod python;
mod sse;
mod stateless;
mod stateless_notify;
mod stdio;
mod stdio_bridge;
mod tenants_cli;
mod tls;
mod tls_listener;
mod worker_loss;

use harness::*;
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

fn args(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

async fn tool_names(mcp: &str) -> BTreeSet<String> {
    let client = mcp_client(mcp).await;
    let tools = client.list_all_tools().await.unwrap();
    let _ = client.cancel().await;
    tools.into_iter().map(|t| t.name.to_string()).collect()
}

/// Register over REST, list and call over MCP, deregister, through whatever processes serve
/// `api` and `mcp`. Shared by the all-in-one and the four-process tests.
async fn exercise(api: &str, mcp: &str) {
    let upstream = fixture().await;
    let (status, server) = post_json(
        &format!("{api}/api/v0/servers"),
        json!({"name": "fx", "transport": "streamable_http", "description": "fixture", "url": upstream.url(),
               "bearer_token": "upstream-secret-1", "headers": {"X-Fixture": "tenant-header"}}),
    )
    .await;
    assert_eq!(status, 201, "{server}");
    assert_eq!(server["status"], "ready", "{server}");
    assert_eq!(server["tool_count"], 10, "every page of the upstream's tools: {server}");
    assert_eq!(server["bearer_token"], "***");
    assert_eq!(server["headers"]["X-Fixture"], "***");

    // The MCP client sees every tool, prefixed, with its definition relayed faithfully.
    let client = mcp_client(mcp).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: BTreeSet<String> = tools.iter().map(|t| t.name.to_string()).collect();
    let expected: BTreeSet<String> =
        upstream.server().tool_definitions().iter().map(|t| format!("fx__{}", t.name)).collect();
    assert_eq!(names, expected);
    assert_eq!(names.len(), 10);
    for original in upstream.server().tool_definitions() {
        let relayed = tools.iter().find(|t| t.name == format!("fx__{}", original.name)).unwrap();
        let mut relayed = relayed.clone();
        relayed.name = original.name.clone();
        assert_eq!(relayed, original, "tool definition relayed unchanged");
    }

    let echo = client
        .call_tool(
            CallToolRequestParams::new("fx__echo").with_arguments(args(json!({"message": "hello through canopy"}))),
        )
        .await
        .unwrap();
    assert_eq!(echo.content[0].as_text().unwrap().text, "hello through canopy");
    assert_ne!(echo.is_error, Some(true));

    let add = client
        .call_tool(CallToolRequestParams::new("fx__add").with_arguments(args(json!({"a": 2, "b": 40}))))
        .await
        .unwrap();
    assert_eq!(add.structured_content, Some(json!({"sum": 42.0})));

    let fail = client
        .call_tool(CallToolRequestParams::new("fx__fail").with_arguments(args(json!({"message": "boom"}))))
        .await
        .unwrap();
    assert_eq!(fail.is_error, Some(true));

    // The upstream received the registration's own credentials, unsealed, and nothing else.
    let who = client.call_tool(CallToolRequestParams::new("fx__whoami")).await.unwrap();
    assert_eq!(who.structured_content.as_ref().unwrap()["authorization"], "Bearer upstream-secret-1");
    assert_eq!(who.structured_content.as_ref().unwrap()["xFixture"], "tenant-header");

    let unknown = client.call_tool(CallToolRequestParams::new("fx__nope")).await;
    assert!(unknown.is_err(), "unknown tools are a protocol error");
    let _ = client.cancel().await;

    // REST sees the same catalog.
    let (status, rest_tools) = get_json(&format!("{api}/api/v0/tools")).await;
    assert_eq!(status, 200);
    assert_eq!(rest_tools.as_array().unwrap().len(), 10);

    // Deregistering removes the tools from /mcp within a second, without restart.
    let status = reqwest::Client::new().delete(format!("{api}/api/v0/servers/fx")).send().await.unwrap().status();
    assert_eq!(status, 204);
    let took = eventually(Duration::from_secs(1), || async { tool_names(mcp).await.is_empty() }).await;
    eprintln!("tools gone from /mcp {took:?} after deregistration");
}

async fn assert_events_and_stream(deployment: &Deployment) {
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT event_type, metadata FROM events WHERE aggregate_type = 'server' ORDER BY global_position",
    )
    .fetch_all(&deployment.db.pool)
    .await
    .unwrap();
    let types: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["server.registered", "server.catalog_discovered", "server.deregistered"]);
    let (registered, discovered) = (&rows[0].1, &rows[1].1);
    assert_eq!(registered["actor"], "user:dev");
    assert_eq!(discovered["actor"], "service:session-worker");
    assert_eq!(
        discovered["correlation_id"], registered["correlation_id"],
        "discovery continues the registration's correlation"
    );
    assert!(discovered["causation_id"].is_string());

    // Every event reached JetStream exactly once.
    let (total,): (i64,) = sqlx::query_as("SELECT count(*) FROM events").fetch_one(&deployment.db.pool).await.unwrap();
    let bus = deployment.bus().await;
    eventually(Duration::from_secs(5), || {
        let bus = bus.clone();
        async move {
            let stream = bus.jetstream.get_stream(bus.subjects.events_stream()).await.unwrap();
            stream.get_info().await.unwrap().state.messages as i64 == total
        }
    })
    .await;
    bus.delete_streams().await;
}

#[tokio::test]
async fn all_in_one_register_list_call_deregister() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    exercise(&base, &format!("{base}/mcp")).await;
    assert_events_and_stream(&d).await;
    let status = d.terminate("all").await;
    assert!(status.success(), "SIGTERM exits 0, got {status}");
}

#[tokio::test]
async fn four_processes_give_the_same_result() {
    let mut d = Deployment::new().await;
    let api = d.spawn("api", &["serve", "api"]).await;
    let edge = d.spawn("edge", &["serve", "edge"]).await;
    d.spawn("worker", &["serve", "worker"]).await;
    d.spawn("poller", &["serve", "poller"]).await;
    let (_, health) = get_json(&format!("{api}/healthz")).await;
    assert_eq!(health["services"], json!(["api"]));
    exercise(&api, &format!("{edge}/mcp")).await;
    assert_events_and_stream(&d).await;
    for name in ["edge", "api", "worker", "poller"] {
        let status = d.terminate(name).await;
        assert!(status.success(), "{name}: SIGTERM exits 0, got {status}");
    }
}

#[tokio::test]
async fn rest_errors_use_one_envelope() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let servers = format!("{base}/api/v0/servers");
    let check = |(status, body): (u16, serde_json::Value), want_status: u16, want_code: &str, fragment: &str| {
        assert_eq!(status, want_status, "{body}");
        assert_eq!(body["ok"], false, "{body}");
        assert_eq!(body["error"]["code"], want_code, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(fragment), "'{message}' should mention '{fragment}'");
    };
    let raw = reqwest::Client::new()
        .post(&servers)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    check(
        (raw.status().as_u16(), raw.json().await.unwrap()),
        400,
        "INVALID_REQUEST",
        "not a valid server registration",
    );
    check(
        post_json(&servers, json!({"name": "a__b", "url": "http://x"})).await,
        400,
        "INVALID_REQUEST",
        "must not contain '__'",
    );
    check(
        post_json(&servers, json!({"name": "s", "transport": "carrier-pigeon"})).await,
        400,
        "INVALID_REQUEST",
        "carrier-pigeon",
    );
    check(
        post_json(&servers, json!({"name": "s", "transport": "streamable_http"})).await,
        400,
        "INVALID_REQUEST",
        "'url' is required",
    );
    check(
        post_json(&servers, json!({"name": "s", "url": "http://x", "surprise": 1})).await,
        400,
        "INVALID_REQUEST",
        "surprise",
    );
    check(get_json(&format!("{base}/api/v0/servers/missing")).await, 404, "NOT_FOUND", "missing");
    check(get_json(&format!("{base}/api/v0/no-such-route")).await, 404, "NOT_FOUND", "no route");
    check(get_json(&format!("{base}/api/v0/tool?name=noseparator")).await, 400, "INVALID_REQUEST", "server__tool");
    check(post_json(&format!("{base}/api/v0/tools/invoke"), json!({"name": "x__y"})).await, 404, "NOT_FOUND", "x__y");

    // An unreachable upstream registers, with the failure visible, not a 500.
    let dead = format!("http://127.0.0.1:{}/mcp", free_port());
    let (status, body) = post_json(&servers, json!({"name": "dead", "url": dead})).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("error")), "{body}");
    assert!(body["status_error"].as_str().unwrap().contains("connect"), "{body}");
    check(post_json(&servers, json!({"name": "dead", "url": dead})).await, 409, "CONFLICT", "already registered");

    // Forced re-registration replaces it.
    let upstream = fixture().await;
    let (status, body) =
        post_json(&format!("{servers}?force=true"), json!({"name": "dead", "url": upstream.url()})).await;
    assert_eq!(
        (status, body["status"].as_str(), body["tool_count"].as_u64()),
        (201, Some("ready"), Some(10)),
        "{body}"
    );
    d.terminate("all").await;
}

#[tokio::test]
async fn idempotency_key_replays_the_first_registration() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let upstream = fixture().await;
    let client = reqwest::Client::new();
    let send = |body: serde_json::Value| {
        client.post(format!("{base}/api/v0/servers")).header("idempotency-key", "reg-1").json(&body).send()
    };
    let body = json!({"name": "fx", "url": upstream.url()});
    let first = send(body.clone()).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: serde_json::Value = first.json().await.unwrap();
    let again = send(body).await.unwrap();
    assert_eq!(again.status(), 200, "a replay is not a new creation");
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    let other = send(json!({"name": "fx", "url": "http://127.0.0.1:1/mcp"})).await.unwrap();
    assert_eq!(other.status(), 409);
    let (registered,): (i64,) = sqlx::query_as("SELECT count(*) FROM events WHERE event_type = 'server.registered'")
        .fetch_one(&d.db.pool)
        .await
        .unwrap();
    assert_eq!(registered, 1);
    d.terminate("all").await;
}

#[tokio::test]
async fn sigterm_drains_in_flight_calls_then_exits_zero() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let upstream = fixture().await;
    let (status, _) = post_json(&format!("{base}/api/v0/servers"), json!({"name": "fx", "url": upstream.url()})).await;
    assert_eq!(status, 201);
    let call = tokio::spawn({
        let base = base.clone();
        async move {
            post_json(&format!("{base}/api/v0/tools/invoke"), json!({"name": "fx__slow", "ms": 1500, "steps": 3})).await
        }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = d.terminate("all").await;
    let (code, result) = call.await.unwrap();
    assert_eq!(code, 200, "the in-flight call completed: {result}");
    assert_eq!(result["content"][0]["text"], "done");
    assert!(status.success(), "exit 0 after draining, got {status}");
}

/// Services started with their infrastructure come up in any order: a process started while
/// PostgreSQL does not answer waits for it (`startup_wait_secs`) and is ready once it does.
#[tokio::test]
async fn a_process_started_before_postgres_waits_for_it() {
    let mut d = Deployment::new().await;
    // PostgreSQL "comes up" 7 s after Canopy starts (after a first attempt's 5 s of its own
    // retries): a forwarder to the real one appears on a port Canopy was told to use.
    let port = free_port();
    let real = d.db.url.clone();
    let authority = real.split('@').nth(1).and_then(|rest| rest.split('/').next()).unwrap().to_string();
    d.env.push(("CANOPY_DATABASE_URL".into(), real.replacen(&authority, &format!("127.0.0.1:{port}"), 1)));
    d.env.push(("CANOPY_STARTUP_WAIT_SECS".into(), "30".into()));
    let forwarder = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(7)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        loop {
            let (mut inbound, _) = listener.accept().await.unwrap();
            let authority = authority.clone();
            tokio::spawn(async move {
                let mut outbound = tokio::net::TcpStream::connect(authority).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    let started = std::time::Instant::now();
    let base = d.spawn("all", &["start"]).await;
    assert!(started.elapsed() >= Duration::from_secs(7), "ready only once PostgreSQL answered");
    let (status, _) = get_json(&format!("{base}/api/v0/servers")).await;
    assert_eq!(status, 200);
    let log = std::fs::read_to_string(&d.process("all").log).unwrap();
    assert!(log.contains("waiting for PostgreSQL"), "{log}");
    forwarder.abort();
}

#[tokio::test]
async fn start_up_errors_name_the_setting_and_url() {
    let d = Deployment::new().await;
    let out = d
        .command(&["start", "--listen", &format!("127.0.0.1:{}", free_port())])
        .env("CANOPY_DATABASE_URL", "postgres://postgres:hunter2@127.0.0.1:1/nowhere")
        .env("CANOPY_STARTUP_WAIT_SECS", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot connect to PostgreSQL at postgres://postgres:***@127.0.0.1:1/nowhere"), "{stderr}");
    assert!(stderr.contains("CANOPY_DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "passwords never printed: {stderr}");

    let out = d.command(&["start"]).env("CANOPY_NATS_PREFIX", "Not.Valid").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nats.prefix (CANOPY_NATS_PREFIX)"));
}

/// A TCP forwarder to the real PostgreSQL that can be cut (listener and open connections), so
/// a process can lose its database while the others keep theirs, or stalled (open connections
/// cut, new ones accepted and never answered: a database in the middle of a restart).
struct CuttablePostgres {
    port: u16,
    tasks: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    stalled: Arc<std::sync::atomic::AtomicBool>,
}

impl CuttablePostgres {
    async fn start(real_url: &str) -> Self {
        let authority = real_url.split('@').nth(1).and_then(|rest| rest.split('/').next()).unwrap().to_string();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tasks: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let stalled: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let spawned = tasks.clone();
        let stalling = stalled.clone();
        let accept = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                if stalling.load(std::sync::atomic::Ordering::SeqCst) {
                    held.push(inbound);
                    continue;
                }
                let authority = authority.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(authority).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                spawned.lock().unwrap().push(task);
            }
        });
        tasks.lock().unwrap().push(accept);
        CuttablePostgres { port, tasks, stalled }
    }

    fn url(&self, real_url: &str) -> String {
        let authority = real_url.split('@').nth(1).and_then(|rest| rest.split('/').next()).unwrap();
        real_url.replacen(authority, &format!("127.0.0.1:{}", self.port), 1)
    }

    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn stall(&self) {
        self.stalled.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut tasks = self.tasks.lock().unwrap();
        // The first task accepts (and now holds what it accepts); the others are connections.
        for task in tasks.drain(1..) {
            task.abort();
        }
    }
}

/// The call path does not use PostgreSQL: an edge whose database goes away stays ready (a
/// balancer keeps it) and its clients' calls go on; while the database accepts connections and
/// answers nothing (a restart), `/readyz` still answers within a balancer's check timeout
/// (HAProxy's is the check interval, 200 ms in the chaos harness: at least one of four probes in
/// time here, where each used to take 250 ms and both edges left the balancer).
#[tokio::test]
async fn an_edge_stays_ready_and_serves_calls_while_its_postgres_is_away() {
    let mut d = Deployment::new().await;
    let api = d.spawn("api", &["serve", "api"]).await;
    d.spawn("worker", &["serve", "worker"]).await;
    let postgres = CuttablePostgres::start(&d.db.url).await;
    d.env.push(("CANOPY_DATABASE_URL".into(), postgres.url(&d.db.url)));
    let edge = d.spawn("edge", &["serve", "edge"]).await;
    let upstream = fixture().await;
    let (status, body) =
        post_json(&format!("{api}/api/v0/servers"), json!({"name": "fx", "url": upstream.url()})).await;
    assert_eq!(status, 201, "{body}");
    let call = |edge: String| async move {
        let client = mcp_client(&format!("{edge}/mcp")).await;
        let params = CallToolRequestParams::new("fx__echo")
            .with_arguments(json!({"message": "no database"}).as_object().unwrap().clone());
        let result = client.call_tool(params).await;
        let _ = client.cancel().await;
        result.map(|r| r.content[0].as_text().map(|t| t.text.clone()).unwrap_or_default())
    };
    eventually(Duration::from_secs(10), || async { call(edge.clone()).await.is_ok_and(|t| t == "no database") }).await;

    postgres.stall();
    let mut fastest = Duration::MAX;
    for _ in 0..4 {
        let asked = std::time::Instant::now();
        let (status, readiness) = get_json(&format!("{edge}/readyz")).await;
        fastest = fastest.min(asked.elapsed());
        assert_eq!(status, 200, "{readiness}");
        assert_ne!(readiness["checks"]["postgres"], "ok", "the check sees it gone: {readiness}");
        assert_eq!(call(edge.clone()).await.ok().as_deref(), Some("no database"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(fastest < Duration::from_millis(200), "/readyz took {fastest:?} at best while Postgres hung");
    postgres.cut();
    for _ in 0..2 {
        let (status, readiness) = get_json(&format!("{edge}/readyz")).await;
        assert_eq!(status, 200, "{readiness}");
        assert_ne!(readiness["checks"]["postgres"], "ok", "the check sees it gone: {readiness}");
        assert_eq!(call(edge.clone()).await.ok().as_deref(), Some("no database"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

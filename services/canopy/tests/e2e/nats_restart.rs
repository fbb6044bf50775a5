//! After NATS restarts, every edge and worker holds exactly what the log says, removals
//! included. Removals committed while NATS is down (a deleted MCP client, a deleted user, a
//! suspended tenant, a deregistered server, a deleted group) reach the caches only through a
//! resync from Postgres: the events are still in the outbox when the edges reconnect. Before
//! the fix an edge's resync only added entries, so each of these kept working at `/mcp` until
//! the edge restarted.
//!
//! The test runs a NATS server of its own (never the machine's shared one), so it can stop it.

use crate::harness::*;
use crate::stdio::{fixture_binary, processes_with};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A nats-server with JetStream on a free port and a store of its own, restartable.
struct OwnNats {
    port: u16,
    store: std::path::PathBuf,
    child: Option<Child>,
}

impl OwnNats {
    fn start() -> Self {
        let port = free_port();
        let store = std::env::temp_dir().join(canopy_testkit::unique("nats-store"));
        let mut nats = Self { port, store, child: None };
        nats.up();
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn up(&mut self) {
        let bin = ["nats-server", "/usr/sbin/nats-server"]
            .into_iter()
            .find(|b| Command::new(b).arg("--version").output().is_ok())
            .expect("nats-server (scripts/lib/infra.sh installs it)");
        let child = Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.down();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

async fn send(method: reqwest::Method, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The HTTP status of an MCP `initialize` with `token` at `base` + `path`.
async fn initialize(base: &str, path: &str, token: &str) -> u16 {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "nats-restart", "version": "1"}}});
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The tool names `token` sees at `base`/mcp.
async fn tools(base: &str, token: &str) -> Vec<String> {
    let config =
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"))
            .auth_header(token.to_string());
    let transport = rmcp::transport::StreamableHttpClientTransport::from_config(config);
    let client = rmcp::ServiceExt::serve((), transport).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    let _ = client.cancel().await;
    tools.into_iter().map(|t| t.name.to_string()).collect()
}

#[tokio::test]
async fn removals_made_while_nats_is_down_reach_every_edge_and_worker() {
    let mut nats = OwnNats::start();
    let mut d = Deployment::new().await;
    d.nats_url = nats.url();
    let base = d.spawn("one", &["start", "--enterprise"]).await;
    let edge2 = d.spawn("edge2", &["serve", "edge", "--enterprise"]).await;
    let edges = [base.clone(), edge2.clone()];
    let api = format!("{base}/api/v0");

    let (status, init) = send(reqwest::Method::POST, &format!("{api}/init-server"), "", Some(json!({}))).await;
    assert_eq!(status, 201, "{init}");
    let owner = init["access_token"].as_str().unwrap().to_string();
    let operator = init["operator_token"].as_str().unwrap().to_string();

    // fx stays; doomed (a hosted stdio process, so the worker's connection can be seen) goes.
    let upstream = fixture().await;
    let fx = json!({"name": "fx", "transport": "streamable_http", "url": upstream.url()});
    assert_eq!(send(reqwest::Method::POST, &format!("{api}/servers"), &owner, Some(fx)).await.0, 201);
    let marker = canopy_testkit::unique("doomed");
    let doomed = json!({"name": "doomed", "transport": "stdio", "command": fixture_binary(),
                        "args": ["--transport", "stdio"], "env": {"FIXTURE_MARK": marker}});
    let (status, body) = send(reqwest::Method::POST, &format!("{api}/servers"), &owner, Some(doomed)).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("ready")), "{body}");
    assert_eq!(processes_with(&marker).len(), 1, "the worker holds doomed's process");
    let group = json!({"name": "g", "included_servers": ["fx"]});
    assert_eq!(send(reqwest::Method::POST, &format!("{api}/groups"), &owner, Some(group)).await.0, 201);
    let robot = "robot-token-0123456789abcdef";
    let client = json!({"name": "robot", "allowed_servers": ["fx"], "access_token": robot});
    assert_eq!(send(reqwest::Method::POST, &format!("{api}/mcp-clients"), &owner, Some(client)).await.0, 201);
    let alice = "alice-token-0123456789abcdef";
    let user = json!({"name": "alice", "role": "member", "access_token": alice});
    assert_eq!(send(reqwest::Method::POST, &format!("{api}/users"), &owner, Some(user)).await.0, 201);
    let globex = "globex-owner-token-0123456789";
    let tenant = json!({"id": "globex", "owner": "gina", "owner_access_token": globex});
    assert_eq!(send(reqwest::Method::POST, &format!("{api}/tenants"), &operator, Some(tenant)).await.0, 201);

    // Every edge knows all of it.
    for edge in &edges {
        eventually(Duration::from_secs(10), || async {
            initialize(edge, "/mcp", robot).await == 200
                && initialize(edge, "/mcp", alice).await == 200
                && initialize(edge, "/mcp", globex).await == 200
                && initialize(edge, "/groups/g/mcp", &owner).await == 200
        })
        .await;
        assert!(tools(edge, &owner).await.contains(&"doomed__echo".to_string()));
    }

    // NATS goes away; the removals are committed meanwhile (REST needs only Postgres).
    nats.down();
    for edge in &edges {
        eventually(Duration::from_secs(10), || async {
            reqwest::get(format!("{edge}/readyz")).await.unwrap().status() == 503
        })
        .await;
    }
    let del = reqwest::Method::DELETE;
    let post = reqwest::Method::POST;
    assert!(send(del.clone(), &format!("{api}/mcp-clients/robot"), &owner, None).await.0 < 300);
    assert!(send(del.clone(), &format!("{api}/users/alice"), &owner, None).await.0 < 300);
    assert!(send(post, &format!("{api}/tenants/globex/suspend"), &operator, None).await.0 < 300);
    assert!(send(del.clone(), &format!("{api}/servers/doomed"), &owner, None).await.0 < 300);
    assert!(send(del, &format!("{api}/groups/g"), &owner, None).await.0 < 300);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // NATS comes back: within seconds every edge refuses the removed identities, serves no
    // removed server or group, and says it is ready only once it has caught up; the worker
    // stops the removed server's process.
    nats.up();
    let back = Instant::now();
    for edge in &edges {
        let took = eventually(Duration::from_secs(15), || async {
            initialize(edge, "/mcp", robot).await == 401
                && initialize(edge, "/mcp", alice).await == 401
                && initialize(edge, "/mcp", globex).await == 401
                && initialize(edge, "/groups/g/mcp", &owner).await == 404
        })
        .await;
        eprintln!("{edge}: removals applied {took:?} after the wait began ({:?} after NATS returned)", back.elapsed());
        let names = tools(edge, &owner).await;
        assert!(names.contains(&"fx__echo".to_string()), "{names:?}");
        assert!(!names.iter().any(|n| n.starts_with("doomed__")), "deregistered: {names:?}");
        eventually(Duration::from_secs(15), || async {
            reqwest::get(format!("{edge}/readyz")).await.unwrap().status() == 200
        })
        .await;
    }
    eventually(Duration::from_secs(15), || async { processes_with(&marker).is_empty() }).await;
    // What stays keeps working.
    assert_eq!(initialize(&edge2, "/mcp", &owner).await, 200);
}

/// All-in-one, the edge hands a call to the worker of its own process without NATS
/// (`worker.local_calls`): tool calls go on working while NATS is down (only their audit
/// records, published on NATS, are lost meanwhile). Over the bus (`CANOPY_WORKER_LOCAL_CALLS`
/// false) the same call finds no worker. The client here, like the TypeScript and Python SDKs
/// by default, asks for no progress (rmcp's client always does: its calls take the bus).
#[tokio::test]
async fn all_in_one_serves_calls_while_nats_is_down() {
    let mut nats = OwnNats::start();
    let mut d = Deployment::new().await;
    d.nats_url = nats.url();
    let base = d.spawn("local", &["start"]).await;
    d.env.push(("CANOPY_WORKER_LOCAL_CALLS".into(), "false".into()));
    let over_bus = d.spawn("bus", &["start"]).await;
    let upstream = fixture().await;
    let fx = json!({"name": "fx", "transport": "streamable_http", "url": upstream.url()});
    let (status, body) = post_json(&format!("{base}/api/v0/servers"), fx).await;
    assert_eq!(status, 201, "{body}");
    // A session-era client without a progress token: the answer's text, or the failure.
    let call = |base: String| async move {
        let http = reqwest::Client::new();
        let post = |session: Option<String>, body: Value| {
            let mut request = http
                .post(format!("{base}/mcp"))
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2025-06-18")
                .json(&body);
            if let Some(session) = session {
                request = request.header("mcp-session-id", session);
            }
            request.send()
        };
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "plain", "version": "1"}}});
        let opened = post(None, init).await.map_err(|e| e.to_string())?;
        let session = opened.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        let _ = opened.text().await;
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let _ = post(session.clone(), initialized).await.map_err(|e| e.to_string())?;
        let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "fx__echo", "arguments": {"message": "still here"}}});
        let answer = post(session, call).await.map_err(|e| e.to_string())?.text().await.map_err(|e| e.to_string())?;
        let message = answer
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .chain(std::iter::once(answer.as_str()))
            .find_map(|data| serde_json::from_str::<Value>(data.trim()).ok().filter(|v| v.get("id") == Some(&json!(2))))
            .ok_or_else(|| format!("no answer in {answer}"))?;
        match message["result"]["isError"].as_bool() {
            Some(true) => Err(message.to_string()),
            _ => message["result"]["content"][0]["text"].as_str().map(str::to_string).ok_or(message.to_string()),
        }
    };
    for edge in [&base, &over_bus] {
        eventually(Duration::from_secs(15), || async { call(edge.clone()).await.is_ok() }).await;
    }

    nats.down();
    for _ in 0..3 {
        assert_eq!(call(base.clone()).await, Ok("still here".to_string()), "a call while NATS is down");
    }
    assert!(call(over_bus.clone()).await.is_err(), "over the bus a call needs NATS");
    nats.up();
}

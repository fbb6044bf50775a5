//! Stateless edges: two `canopy serve edge` processes behind a real HAProxy (Debian's
//! `haproxy`, `balance roundrobin`, no stickiness, server connections closed after each
//! response so every request is balanced on its own) serve one MCP session, keep serving it
//! when one edge stops, and a stream started on the stopped edge resumes on the other with
//! `Last-Event-ID`. HAProxy's own request log (which edge served each request, with the
//! request's `Mcp-Session-Id`) and its stats page (is an edge UP or DOWN) are the evidence.

use crate::harness::*;
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// An `haproxy -db` child process in front of the edges, with its generated configuration.
pub(crate) struct HaProxy {
    /// Where clients connect: `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    stats_url: String,
    log: PathBuf,
    stderr: PathBuf,
    /// Killed when dropped (`kill_on_drop`), pass or fail.
    child: tokio::process::Child,
}

/// One request as HAProxy logged it.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    /// The edge (HAProxy server name) that served it.
    pub(crate) edge: String,
    pub(crate) method: String,
    /// The request's `Mcp-Session-Id` header, "" when it had none.
    pub(crate) session: String,
    /// The test's `X-Test-Step` header, "" when it had none.
    pub(crate) step: String,
}

/// Debian installs haproxy in /usr/sbin, which a normal user's PATH often lacks.
fn haproxy_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("haproxy"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "haproxy not found on PATH or in /usr/sbin: the stateless-edge tests need it. \
                 Run scripts/test.sh, which installs it (Debian package `haproxy`), or `apt-get install haproxy`."
            )
        })
}

impl HaProxy {
    /// Starts HAProxy in front of `edges` (name, base URL) and waits until it reports every
    /// edge UP. A GET carrying `X-Test-Get-Edge: NAME` goes to that edge while it is UP.
    pub(crate) async fn start(d: &Deployment, edges: &[(&str, &str)]) -> Self {
        let (port, stats_port) = (free_port(), free_port());
        let servers: String = edges
            .iter()
            .map(|(name, base)| format!("    server {name} {}\n", base.trim_start_matches("http://")))
            .collect();
        let pinned_gets: String = edges
            .iter()
            .map(|(name, _)| {
                format!("    use-server {name} if METH_GET {{ req.hdr(x-test-get-edge) -m str {name} }}\n")
            })
            .collect();
        // - http-server-close: the client may keep its connection, but each response closes
        //   the one to the edge, so every request is balanced anew (round robin, no stickiness).
        // - Timeouts of an hour, so SSE streams stay open.
        // - Health checks every 200 ms on /readyz, one failure marks an edge DOWN; a request
        //   whose connection is refused before then is retried and redispatched to the other.
        // - logasap: a request is logged when its response headers arrive, so a still-open SSE
        //   stream is logged too.
        let config = format!(
            r#"global
    log stdout format raw local0 info
    maxconn 512

defaults
    mode http
    log global
    option http-server-close
    option redispatch
    retries 3
    timeout connect 1s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout http-request 10s

frontend mcp
    bind 127.0.0.1:{port}
    option logasap
    http-request capture req.hdr(mcp-session-id) len 200
    http-request capture req.hdr(x-test-step) len 50
    log-format "served edge=%s method=%HM status=%ST session=%[capture.req.hdr(0)] step=%[capture.req.hdr(1)]"
    default_backend edges

backend edges
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    default-server check inter 200ms fastinter 100ms downinter 200ms rise 1 fall 1
{pinned_gets}{servers}
listen stats
    bind 127.0.0.1:{stats_port}
    no log
    stats enable
    stats uri /stats
"#
        );
        let base = std::env::temp_dir().join(format!("{}-haproxy", d.prefix));
        let (cfg, log, stderr) =
            (base.with_extension("cfg"), base.with_extension("log"), base.with_extension("stderr"));
        std::fs::write(&cfg, config).unwrap();
        let child = tokio::process::Command::new(haproxy_binary())
            .arg("-f")
            .arg(&cfg)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("start haproxy");
        let mut haproxy = HaProxy {
            url: format!("http://127.0.0.1:{port}"),
            stats_url: format!("http://127.0.0.1:{stats_port}/stats;csv"),
            log,
            stderr,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = haproxy.child.try_wait().unwrap() {
                panic!("haproxy exited with {status} ({}):\n{}", cfg.display(), read(&haproxy.stderr));
            }
            let mut up = true;
            for (name, _) in edges {
                up &= haproxy.status(name).await.is_some_and(|s| s == "UP");
            }
            if up {
                return haproxy;
            }
            assert!(Instant::now() < deadline, "haproxy did not see every edge UP:\n{}", read(&haproxy.stderr));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The `status` column of HAProxy's stats for one edge ("UP", "DOWN", ...).
    async fn status(&self, edge: &str) -> Option<String> {
        let csv = reqwest::get(&self.stats_url).await.ok()?.text().await.ok()?;
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next()?.trim_start_matches("# ").split(',').collect();
        let column = |name: &str| header.iter().position(|h| *h == name);
        let (px, sv, status) = (column("pxname")?, column("svname")?, column("status")?);
        lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|row| row[px] == "edges" && row[sv] == edge)
            .map(|row| row[status].to_string())
    }

    pub(crate) async fn wait_status(&self, edge: &str, want: &str) {
        let took =
            eventually(Duration::from_secs(10), || async { self.status(edge).await.as_deref() == Some(want) }).await;
        eprintln!("haproxy saw {edge} {want} after {took:?}");
    }

    /// Every request HAProxy has logged so far, in order.
    pub(crate) fn served(&self) -> Vec<Served> {
        read(&self.log)
            .lines()
            .filter_map(|line| line.strip_prefix("served "))
            .map(|line| {
                let field = |key: &str| {
                    line.split(' ')
                        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                        .filter(|v| *v != "-")
                        .unwrap_or_default()
                        .to_string()
                };
                Served { edge: field("edge"), method: field("method"), session: field("session"), step: field("step") }
            })
            .collect()
    }

    /// Waits until HAProxy has logged the request tagged `step`.
    pub(crate) async fn served_step(&self, step: &str) -> Served {
        eventually(Duration::from_secs(5), || async { self.served().iter().any(|s| s.step == step) }).await;
        self.served().into_iter().find(|s| s.step == step).unwrap()
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// An api, a worker and two edges (`edge-a`, `edge-b`) as processes of their own, with
/// `upstream_url` registered as `fx`: the base URLs of the api and the edges.
pub(crate) async fn two_edges(d: &mut Deployment, upstream_url: &str) -> (String, String, String) {
    let api = d.spawn("api", &["serve", "api"]).await;
    d.spawn("worker", &["serve", "worker"]).await;
    let edge_a = d.spawn("edge-a", &["serve", "edge"]).await;
    let edge_b = d.spawn("edge-b", &["serve", "edge"]).await;
    let (status, _) = post_json(&format!("{api}/api/v0/servers"), json!({"name": "fx", "url": upstream_url})).await;
    assert_eq!(status, 201);
    (api, edge_a, edge_b)
}

fn echo(text: &str) -> CallToolRequestParams {
    CallToolRequestParams::new("fx__echo").with_arguments(json!({"message": text}).as_object().unwrap().clone())
}

#[tokio::test]
async fn two_edges_without_stickiness_serve_one_session_and_survive_losing_one() {
    let mut d = Deployment::new().await;
    let upstream = fixture().await;
    let (_, edge_a, edge_b) = two_edges(&mut d, &upstream.url()).await;
    let haproxy = HaProxy::start(&d, &[("edge-a", &edge_a), ("edge-b", &edge_b)]).await;

    let client = mcp_client(&format!("{}/mcp", haproxy.url)).await;
    for i in 0..6 {
        let result = client.call_tool(echo(&format!("round {i}"))).await.unwrap();
        assert_eq!(result.content[0].as_text().unwrap().text, format!("round {i}"));
    }
    assert_eq!(client.list_all_tools().await.unwrap().len(), 10);

    // One session, its requests spread over both edges by HAProxy.
    let served = haproxy.served();
    let sessions: BTreeSet<&str> = served.iter().map(|s| s.session.as_str()).filter(|s| !s.is_empty()).collect();
    assert_eq!(sessions.len(), 1, "one client, one session: {served:#?}");
    let session = sessions.into_iter().next().unwrap().to_string();
    let by = |edge: &str| served.iter().filter(|s| s.session == session && s.edge == edge).count();
    let (on_a, on_b) = (by("edge-a"), by("edge-b"));
    eprintln!("session {session}: {on_a} requests on edge-a, {on_b} on edge-b");
    assert!(on_a >= 3 && on_b >= 3, "the session's requests alternate between the edges: {served:#?}");

    // Edge A stops; HAProxy's health check takes it out; the session carries on on B.
    let status = d.terminate("edge-a").await;
    assert!(status.success());
    haproxy.wait_status("edge-a", "DOWN").await;
    let before = haproxy.served().len();
    let result = client.call_tool(echo("after losing an edge")).await.unwrap();
    assert_eq!(result.content[0].as_text().unwrap().text, "after losing an edge");
    let after: Vec<Served> = haproxy.served().split_off(before);
    assert!(
        after.iter().any(|s| s.session == session && s.method == "POST") && after.iter().all(|s| s.edge == "edge-b"),
        "after edge-a stopped, the same session is served by edge-b only: {after:#?}"
    );
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
async fn a_stream_started_on_one_edge_resumes_on_another_after_that_edge_stops() {
    let mut d = Deployment::new().await;
    let upstream = fixture().await;
    let (_, edge_a, edge_b) = two_edges(&mut d, &upstream.url()).await;
    let haproxy = HaProxy::start(&d, &[("edge-a", &edge_a), ("edge-b", &edge_b)]).await;
    let mcp = format!("{}/mcp", haproxy.url);

    // One keep-alive client, every request through HAProxy, each tagged with its step.
    let http = reqwest::Client::new();
    let post = |step: &str, session: Option<&str>, body: serde_json::Value| {
        let mut r = http
            .post(&mcp)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .header("x-test-step", step)
            .json(&body);
        if let Some(s) = session {
            r = r.header("mcp-session-id", s);
        }
        r.send()
    };
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let response = post("initialize", None, init).await.unwrap();
    let session = response.headers()["mcp-session-id"].to_str().unwrap().to_string();
    response.text().await.unwrap();
    let response =
        post("initialized", Some(&session), json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    assert!(response.unwrap().status().is_success());

    // A call with progress: progress events, then the result, on whichever edge HAProxy picks.
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "fx__slow", "arguments": {"ms": 200, "steps": 2}, "_meta": {"progressToken": "p1"}}});
    let body = post("call", Some(&session), call).await.unwrap().text().await.unwrap();
    let events = sse_events(&body);
    // At least one progress event, then the result. (A progress notification the upstream
    // sends right before its result can still be in flight when the result arrives, and is
    // then not relayed: the number of progress events before the result may vary.)
    assert!(events.len() >= 2, "progress, then the result: {body}");
    assert!(events.last().unwrap().1.contains("\"result\""), "the stream ends with the result: {body}");
    let first_id = events[0].0.clone().expect("events carry ids");

    // Round robin without stickiness: the session's three requests went edge X, Y, X.
    let steps = [
        haproxy.served_step("initialize").await,
        haproxy.served_step("initialized").await,
        haproxy.served_step("call").await,
    ];
    assert!(steps[1..].iter().all(|s| s.session == session), "{steps:#?}");
    assert!(steps[0].edge != steps[1].edge && steps[1].edge != steps[2].edge, "requests alternate: {steps:#?}");
    let (stream_edge, other_edge) = (steps[2].edge.clone(), steps[1].edge.clone());

    // The edge that served the stream stops, and HAProxy notices.
    let status = d.terminate(&stream_edge).await;
    assert!(status.success());
    haproxy.wait_status(&stream_edge, "DOWN").await;

    // Through HAProxy, Last-Event-ID replays what followed the first event, the result
    // included, from the other edge.
    let mut replay = http
        .get(&mcp)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18")
        .header("last-event-id", &first_id)
        .header("x-test-step", "resume")
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);
    let mut replayed = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while let Ok(Some(chunk)) = replay.chunk().await {
            replayed.push_str(&String::from_utf8_lossy(&chunk));
            if replayed.contains("\"result\"") {
                break;
            }
        }
    })
    .await;
    let resumed = haproxy.served_step("resume").await;
    assert_eq!((resumed.edge.as_str(), resumed.session.as_str()), (other_edge.as_str(), session.as_str()));
    let replayed = sse_events(&replayed);
    let expected: Vec<String> = events[1..].iter().map(|(_, data)| data.clone()).collect();
    let got: Vec<String> = replayed.iter().map(|(_, data)| data.clone()).collect();
    assert_eq!(got, expected, "{other_edge} replays exactly the events after {first_id}");
    d.terminate(&other_edge).await;
}

/// A 2026-07-28 client that declares elicitation (and nothing else).
#[derive(Clone)]
struct ElicitingClient;

impl rmcp::ClientHandler for ElicitingClient {
    fn get_info(&self) -> rmcp::model::ClientConfig {
        let capabilities = rmcp::model::ClientCapabilities::builder().enable_elicitation().build();
        rmcp::model::ClientConfig::new(capabilities, rmcp::model::Implementation::new("mrtr-e2e", "0"))
    }
}

/// Multi round-trip requests across stateless edges: a 2026-07-28 client calls a session-era
/// upstream tool that asks two questions in turn. Each question ends an HTTP request with
/// `input_required`; each retry (with the answers and the sealed `requestState`) may land on
/// the other edge, which delivers the answers to the upstream call still running on its worker.
#[tokio::test]
async fn input_required_rounds_of_one_call_alternate_between_edges() {
    use rmcp::model::{CallToolResponse, ProtocolVersion};
    use rmcp::service::ClientLifecycleMode;
    use rmcp::transport::StreamableHttpClientTransport;

    let mut d = Deployment::new().await;
    let options = canopy_fixture_server::FixtureOptions { conformance: true, ..Default::default() };
    let upstream = canopy_fixture_server::serve_http("127.0.0.1:0".parse().unwrap(), options).await.unwrap();
    let (_, edge_a, edge_b) = two_edges(&mut d, &upstream.url()).await;
    let haproxy = HaProxy::start(&d, &[("edge-a", &edge_a), ("edge-b", &edge_b)]).await;

    let transport = StreamableHttpClientTransport::from_uri(format!("{}/mcp", haproxy.url));
    let lifecycle = ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] };
    let client = rmcp::service::serve_client_with_lifecycle(ElicitingClient, transport, lifecycle).await.unwrap();
    let before = haproxy.served().len();
    let call = || CallToolRequestParams::new("fx__test_input_required_result_multi_round");

    let CallToolResponse::InputRequired(first) = client.call_tool_once(call()).await.unwrap() else {
        panic!("the first round asks for input");
    };
    let requests = first.input_requests.clone().unwrap();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let (key, question) = requests.into_iter().next().unwrap();
    assert!(serde_json::to_string(&question).unwrap().contains("Step 1: What is your name?"));
    let answer = |field: &str, value: &str| json!({"action": "accept", "content": {field: value}});

    let mut retry = call();
    retry.input_responses = Some([(key, answer("name", "Ada"))].into_iter().collect());
    retry.request_state = first.request_state.clone();
    let CallToolResponse::InputRequired(second) = client.call_tool_once(retry).await.unwrap() else {
        panic!("the second round asks again");
    };
    let (key, question) = second.input_requests.clone().unwrap().into_iter().next().unwrap();
    assert!(serde_json::to_string(&question).unwrap().contains("Step 2: What is your favorite color?"));

    // An altered state is refused, and the call it belongs to carries on untouched.
    let mut forged = call();
    forged.input_responses = Some([(key.clone(), answer("color", "red"))].into_iter().collect());
    forged.request_state = second.request_state.clone().map(|s| format!("{s}x"));
    let refused = client.call_tool_once(forged).await.unwrap_err().to_string();
    assert!(refused.contains("requestState"), "{refused}");

    let mut last = call();
    last.input_responses = Some([(key, answer("color", "green"))].into_iter().collect());
    last.request_state = second.request_state.clone();
    let CallToolResponse::Complete(done) = client.call_tool_once(last).await.unwrap() else {
        panic!("the third request completes");
    };
    assert_eq!(done.content[0].as_text().unwrap().text, "Ada's favorite color is green");

    let served: Vec<Served> = haproxy.served().split_off(before);
    let posts: Vec<&str> = served.iter().filter(|s| s.method == "POST").map(|s| s.edge.as_str()).collect();
    assert!(
        posts.contains(&"edge-a") && posts.contains(&"edge-b"),
        "the rounds were served by both edges: {served:#?}"
    );
    let _ = client.cancel().await;
}

/// What a session-era client on `edge` (a base URL) sends: one POST, its SSE response.
async fn post_on(
    http: &reqwest::Client,
    edge: &str,
    session: Option<&str>,
    body: serde_json::Value,
) -> reqwest::Response {
    let mut request = http
        .post(format!("{edge}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&body);
    if let Some(s) = session {
        request = request.header("mcp-session-id", s);
    }
    request.send().await.unwrap()
}

/// Reads an SSE response until its first event id (a request's stream starts with a priming
/// event that carries one) and returns it, leaving the rest unread.
async fn first_event_id(response: &mut reqwest::Response) -> String {
    let mut seen = String::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk()).await;
        let chunk = chunk.expect("the stream's first event in time").unwrap().expect("an event before the end");
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(id) = seen.lines().find_map(|l| l.strip_prefix("id:")) {
            if seen.contains("\n\n") {
                return id.trim().to_string();
            }
        }
    }
}

/// Resumes a request's stream on `edge` after `last_event_id` and reads it to its end (at most
/// `within`): the JSON-RPC messages it carried and how long it took.
async fn resume_on(
    http: &reqwest::Client,
    edge: &str,
    session: &str,
    last_event_id: &str,
    within: Duration,
) -> (Vec<serde_json::Value>, Duration) {
    let started = Instant::now();
    let mut response = http
        .get(format!("{edge}/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-06-18")
        .header("last-event-id", last_event_id)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = String::new();
    let read = tokio::time::timeout(within, async {
        while let Ok(Some(chunk)) = response.chunk().await {
            body.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(read.is_ok(), "the resumed stream ended within {within:?}: {body}");
    let messages = sse_events(&body).into_iter().map(|(_, data)| serde_json::from_str(&data).unwrap()).collect();
    (messages, started.elapsed())
}

/// A request whose edge dies under it (`kill -9`, mid-call) is answered when its client resumes
/// the stream on another edge: an error that says so, within seconds, not a stream that stays
/// empty for ever (rmcp's client resumes such a stream again and again and never ends the call:
/// the chaos harness's "no answer within 15 s"). And a request whose client went away while its
/// edge lives on is answered on resumption elsewhere with its real result, which the edge
/// stored because nobody was reading it.
#[tokio::test]
async fn a_call_resumed_on_another_edge_gets_its_result_or_an_error_when_its_edge_died() {
    let mut d = Deployment::new().await;
    let upstream = fixture().await;
    let (_, edge_a, edge_b) = two_edges(&mut d, &upstream.url()).await;
    let http = reqwest::Client::new();
    // A client that declares roots: the upstream may ask it something mid-call, so its calls
    // take rmcp's resumable streams, not the edge's short route (whose streams have no ids).
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {"roots": {}}, "clientInfo": {"name": "t", "version": "1"}}});
    let response = post_on(&http, &edge_a, None, init).await;
    let session = response.headers()["mcp-session-id"].to_str().unwrap().to_string();
    response.text().await.unwrap();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert!(post_on(&http, &edge_a, Some(&session), initialized).await.status().is_success());
    let slow = |id: u64, ms: u64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "fx__slow", "arguments": {"ms": ms, "steps": 0}}})
    };

    // The client goes away from a call on edge A, which lives on: resumed on edge B, the stream
    // gives the call's result (stored by A for it), and ends.
    let mut response = post_on(&http, &edge_a, Some(&session), slow(2, 1500)).await;
    let first = first_event_id(&mut response).await;
    drop(response);
    let (messages, _) = resume_on(&http, &edge_b, &session, &first, Duration::from_secs(20)).await;
    let last = messages.last().unwrap_or_else(|| panic!("the result: {messages:?}"));
    assert_eq!((&last["id"], &last["result"]["content"][0]["text"]), (&json!(2), &json!("done")), "{messages:?}");

    // Edge A dies mid-call: resumed on edge B, the stream answers request 3 with an error
    // naming what happened, in seconds (A's heartbeat lasts 3 s, then 1.5 s of patience).
    let mut response = post_on(&http, &edge_a, Some(&session), slow(3, 30_000)).await;
    let first = first_event_id(&mut response).await;
    d.kill_hard("edge-a");
    drop(response);
    let (messages, took) = resume_on(&http, &edge_b, &session, &first, Duration::from_secs(20)).await;
    let last = messages.last().unwrap_or_else(|| panic!("an answer: {messages:?}"));
    assert_eq!((&last["id"], &last["error"]["code"]), (&json!(3), &json!(-32031)), "{messages:?}");
    assert!(last["error"]["message"].as_str().unwrap().contains("stopped before it answered"), "{last}");
    assert!(took < Duration::from_secs(10), "answered {took:?} after resuming");
    eprintln!("a call whose edge died was answered {took:?} after its client resumed on another edge");
    d.terminate("edge-b").await;
}

/// A session-era tool call of a client that can be asked nothing mid-call takes the edge's
/// short route: one SSE response with the result and no event ids (nothing to resume), and its
/// cancellation is taken there too; a client that declared roots gets rmcp's resumable stream.
#[tokio::test]
async fn tool_calls_of_clients_that_can_be_asked_nothing_take_the_short_route() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let upstream = fixture().await;
    let (status, _) = post_json(&format!("{base}/api/v0/servers"), json!({"name": "fx", "url": upstream.url()})).await;
    assert_eq!(status, 201);
    let http = reqwest::Client::new();
    let open = |capabilities: serde_json::Value| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": capabilities, "clientInfo": {"name": "t", "version": "1"}}});
            let response = post_on(&http, &base, None, init).await;
            let session = response.headers()["mcp-session-id"].to_str().unwrap().to_string();
            response.text().await.unwrap();
            let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
            assert!(post_on(&http, &base, Some(&session), initialized).await.status().is_success());
            session
        }
    };
    let echo = |id: u64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "fx__echo", "arguments": {"message": "hi"}, "_meta": {"progressToken": id}}})
    };

    let short = open(json!({})).await;
    // The session takes the short route once its handler has seen `initialized` (rmcp answers
    // the notification before its handler runs): until then rmcp answers, which is right too.
    let mut body = String::new();
    for _ in 0..40 {
        body = post_on(&http, &base, Some(&short), echo(2)).await.text().await.unwrap();
        if sse_events(&body).first().is_some_and(|(id, _)| id.is_none()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events = sse_events(&body);
    assert_eq!(events.len(), 1, "{body}");
    let (id, data) = &events[0];
    assert_eq!(id, &None, "no event ids on the short route: {body}");
    let result: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!((&result["id"], &result["result"]["content"][0]["text"]), (&json!(2), &json!("hi")), "{body}");
    assert!(result["result"].get("resultType").is_none(), "shaped for a 2025-06-18 client: {body}");

    // Cancelled on the short route: the upstream call ends at once instead of after 20 s.
    let slow = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "fx__slow", "arguments": {"ms": 20_000, "steps": 0}}});
    let started = Instant::now();
    let call = tokio::spawn({
        let (http, base, short) = (http.clone(), base.clone(), short.clone());
        async move { post_on(&http, &base, Some(&short), slow).await.text().await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}});
    assert_eq!(post_on(&http, &base, Some(&short), cancel).await.status(), 202);
    let body = tokio::time::timeout(Duration::from_secs(10), call).await.expect("ended by the cancellation").unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "{body}");
    assert!(body.contains("cancelled by the client"), "{body}");

    let asked = open(json!({"roots": {}})).await;
    let body = post_on(&http, &base, Some(&asked), echo(4)).await.text().await.unwrap();
    let events = sse_events(&body);
    assert!(events.last().is_some_and(|(id, data)| id.is_some() && data.contains("\"hi\"")), "rmcp's stream: {body}");
    d.terminate("all").await;
}

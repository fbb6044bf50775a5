//! Defences of the HTTP listener and the MCP edge against clients that use up resources, and
//! answers the edge owes a client whatever goes wrong (issue 9, items 4, 5, 6 and 8):
//! slow headers and bodies time out and a connection cap keeps the process serving under a low
//! open-file limit; MCP sessions are capped per principal and in all, with a clear refusal and
//! room made by closing idle ones; a call that completes while Redis is down still delivers
//! its result; malformed bodies at `/mcp` get 400 with a JSON-RPC error, and `DELETE` of an
//! unknown session 404.

use crate::harness::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts `canopy ARGS` with extra environment variables, under `prlimit --nofile=N:N` when
/// `nofile` is given, and waits until /readyz says ready.
async fn spawn_with(d: &Deployment, name: &str, args: &[&str], env: &[(&str, &str)], nofile: Option<u64>) -> Process {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut all_args: Vec<&str> = args.to_vec();
    all_args.extend(["--listen", &listen]);
    let template = d.command(&all_args);
    let mut command = match nofile {
        Some(n) => {
            let mut c = Command::new("prlimit");
            c.arg(format!("--nofile={n}:{n}")).arg("--").arg(template.get_program());
            c
        }
        None => Command::new(template.get_program()),
    };
    command.args(template.get_args());
    for (key, value) in template.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    command.envs(env.iter().copied());
    let log = std::env::temp_dir().join(format!("{}-{name}.log", d.prefix));
    let file = std::fs::File::create(&log).unwrap();
    let child = command.stdout(Stdio::null()).stderr(Stdio::from(file)).spawn().expect("spawn canopy");
    let mut process = Process { name: name.into(), child, base: format!("http://{listen}"), log };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = process.child.try_wait().unwrap() {
            panic!("{name} exited with {status}:\n{}", std::fs::read_to_string(&process.log).unwrap_or_default());
        }
        if let Ok(r) = client.get(format!("{}/readyz", process.base)).send().await {
            if r.status().is_success() {
                return process;
            }
        }
        assert!(Instant::now() < deadline, "{name} not ready:\n{}", std::fs::read_to_string(&process.log).unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the server to close `stream` (EOF or reset), at most `within`; what it sent first
/// (a response, if any) is returned.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> Result<String, &'static str> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return Err("still open"),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(String::from_utf8_lossy(&seen).into_owned()),
            Ok(Ok(n)) => seen.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Item 4. 300 connections that send half a request line, under an open-file limit of 256:
/// without a cap the process accepts until EMFILE and then serves nobody (the slow clients
/// never let go); with it, at most half the limit are served at once, the rest wait in the
/// backlog, each slow one is closed after the header-read timeout (2 s here), and a well-behaved
/// request behind them is answered. A body that does not arrive is given up on after the
/// body-read timeout.
#[tokio::test]
async fn slow_clients_time_out_and_the_connection_cap_keeps_the_listener_serving() {
    let d = Deployment::new().await;
    let env = [("CANOPY_HEADER_READ_TIMEOUT_SECS", "2"), ("CANOPY_BODY_READ_TIMEOUT_SECS", "2")];
    let process = spawn_with(&d, "slow", &["start"], &env, Some(256)).await;
    let address = process.base.trim_start_matches("http://").to_string();

    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
        slow.push(stream);
    }
    let started = Instant::now();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let ready = client.get(format!("{}/readyz", process.base)).send().await;
    let ready = ready.map(|r| r.status().as_u16());
    assert_eq!(ready.ok(), Some(200), "a request behind 300 slow clients is served");
    eprintln!("served after {:?} behind 300 slow clients", started.elapsed());
    for (i, stream) in slow.iter_mut().enumerate() {
        let closed = closed_by_server(stream, Duration::from_secs(20)).await;
        assert!(closed.is_ok(), "slow connection {i} is closed by the server");
    }

    // A body announced but not sent: the request fails after the body-read timeout.
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let head = "POST /api/v0/servers HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                Content-Length: 100\r\n\r\n{\"na";
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let answer = closed_by_server(&mut stream, Duration::from_secs(10)).await;
    assert!(answer.is_ok(), "a body that never comes is given up on");
    assert!(started.elapsed() >= Duration::from_millis(1500), "not before the timeout: {:?}", started.elapsed());
    // Still serving.
    let status = client.get(format!("{}/healthz", process.base)).send().await.unwrap().status();
    assert_eq!(status, 200);
}

/// A session-era MCP client speaking raw HTTP, so statuses and bodies show.
struct Raw {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

const ACCEPT: &str = "application/json, text/event-stream";

impl Raw {
    fn new(url: &str, token: Option<&str>) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Raw { http, url: url.to_string(), token: token.map(str::to_string) }
    }

    fn request(&self, method: reqwest::Method, session: Option<&str>) -> reqwest::RequestBuilder {
        let mut request =
            self.http.request(method, &self.url).header("accept", ACCEPT).header("mcp-protocol-version", "2025-06-18");
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request
    }

    async fn post(&self, session: Option<&str>, body: &Value) -> reqwest::Response {
        self.request(reqwest::Method::POST, session).json(body).send().await.unwrap()
    }

    /// `initialize` (and `notifications/initialized` when it succeeds): the response, and the
    /// session id when one was opened.
    async fn open(&self) -> (u16, Option<String>, String) {
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
        let response = self.post(None, &init).await;
        let status = response.status().as_u16();
        let session = response.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_string());
        let body = response.text().await.unwrap();
        if let Some(session) = &session {
            let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
            assert!(self.post(Some(session), &initialized).await.status().is_success());
        }
        (status, session, body)
    }
}

/// The JSON-RPC messages of an SSE body (or the body itself when it is JSON).
fn messages(body: &str) -> Vec<Value> {
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        return vec![value];
    }
    body.lines().filter_map(|l| l.strip_prefix("data:")).filter_map(|d| serde_json::from_str(d.trim()).ok()).collect()
}

/// Item 6. A session-era call on a session opened while Redis was up, made after Redis has
/// gone: the tool runs and its result reaches the client (before the fix: HTTP 200 with only
/// the stream's priming event, as rmcp dropped the response its event store could not store).
#[tokio::test]
async fn a_call_completing_while_redis_is_down_still_delivers_its_result() {
    let port = free_port();
    let mut redis = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    let redis_url = format!("redis://127.0.0.1:{port}");
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let d = Deployment::new().await;
    let process = spawn_with(&d, "redis-down", &["start"], &[("CANOPY_REDIS_URL", &redis_url)], None).await;
    let upstream = fixture().await;
    let (status, body) =
        post_json(&format!("{}/api/v0/servers", process.base), json!({"name": "fx", "url": upstream.url()})).await;
    assert_eq!(status, 201, "{body}");

    let raw = Raw::new(&format!("{}/mcp", process.base), None);
    let (status, session, _) = raw.open().await;
    assert_eq!(status, 200);
    let session = session.unwrap();
    let call = |id: u64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "fx__echo", "arguments": {"message": format!("call {id}")}}})
    };
    let result_of = |body: &str, id: u64| {
        messages(body).into_iter().find(|m| m["id"] == id).map(|m| m["result"]["content"][0]["text"].clone())
    };
    let body = raw.post(Some(&session), &call(2)).await.text().await.unwrap();
    assert_eq!(result_of(&body, 2), Some(json!("call 2")), "{body}");

    redis.kill().unwrap();
    redis.wait().unwrap();
    let response = raw.post(Some(&session), &call(3)).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert_eq!(result_of(&body, 3), Some(json!("call 3")), "the result arrives with Redis down: {body}");
    let body = raw.post(Some(&session), &call(4)).await.text().await.unwrap();
    assert_eq!(result_of(&body, 4), Some(json!("call 4")), "and so does the next one: {body}");
}

async fn rpc(response: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    let body = response.text().await.unwrap();
    (status, retry_after, messages(&body).into_iter().next().unwrap_or(Value::Null))
}

/// Item 5. Caps of 3 sessions per principal and 5 in all (enterprise mode, two MCP clients and
/// the owner): a client's 4th session is refused with 429 and JSON-RPC error -32030, another
/// client still opens sessions until the edge's cap, then gets 503; once sessions have been
/// idle for the pressure timeout (4 s here), the idlest is closed to make room, and its
/// client's next request restores it from Redis.
#[tokio::test]
async fn sessions_are_capped_per_principal_and_in_all_and_idle_ones_make_room() {
    let d = Deployment::new().await;
    let env = [
        ("CANOPY_MAX_SESSIONS", "5"),
        ("CANOPY_MAX_SESSIONS_PER_PRINCIPAL", "3"),
        ("CANOPY_SESSION_IDLE_UNDER_PRESSURE_SECS", "4"),
    ];
    let process = spawn_with(&d, "caps", &["start", "--enterprise"], &env, None).await;
    let base = &process.base;
    let (status, init) = post_json(&format!("{base}/api/v0/init-server"), json!({})).await;
    assert_eq!(status, 201, "{init}");
    let owner = init["access_token"].as_str().unwrap().to_string();
    let mut tokens = Vec::new();
    for name in ["robot1", "robot2"] {
        let response = reqwest::Client::new()
            .post(format!("{base}/api/v0/mcp-clients"))
            .bearer_auth(&owner)
            .json(&json!({"name": name, "allowed_servers": ["*"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.unwrap();
        tokens.push(created["access_token"].as_str().unwrap().to_string());
    }
    let mcp = format!("{base}/mcp");
    let (robot1, robot2, owner) =
        (Raw::new(&mcp, Some(&tokens[0])), Raw::new(&mcp, Some(&tokens[1])), Raw::new(&mcp, Some(&owner)));

    let mut sessions1 = Vec::new();
    for _ in 0..3 {
        let (status, session, body) = robot1.open().await;
        assert_eq!(status, 200, "{body}");
        sessions1.push(session.unwrap());
    }
    let init = json!({"jsonrpc": "2.0", "id": 41, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let (status, retry_after, body) = rpc(robot1.post(None, &init).await).await;
    assert_eq!(status, 429, "the principal's 4th session is refused: {body}");
    assert!(retry_after.is_some());
    assert_eq!(
        (&body["id"], &body["error"]["code"], &body["error"]["data"]["cap"]),
        (&json!(41), &json!(-32030), &json!("principal")),
        "{body}"
    );
    assert!(body["error"]["message"].as_str().unwrap().contains("session cap reached"), "{body}");

    for _ in 0..2 {
        let (status, _, body) = robot2.open().await;
        assert_eq!(status, 200, "another principal is not held by robot1's cap: {body}");
    }
    for client in [&robot2, &owner] {
        let (status, retry_after, body) = rpc(client.post(None, &init).await).await;
        assert_eq!(status, 503, "the edge's cap: {body}");
        assert!(retry_after.is_some());
        assert_eq!((&body["error"]["code"], &body["error"]["data"]["cap"]), (&json!(-32030), &json!("edge")), "{body}");
    }

    tokio::time::sleep(Duration::from_millis(4500)).await;
    let (status, _, body) = owner.open().await;
    assert_eq!(status, 200, "an idle session was closed to make room: {body}");
    // robot1's first session, closed for the owner's, is restored on its next request.
    let ping = json!({"jsonrpc": "2.0", "id": 5, "method": "ping"});
    let (status, _, body) = rpc(robot1.post(Some(&sessions1[0]), &ping).await).await;
    assert_eq!((status, &body["id"]), (200, &json!(5)), "{body}");
}

/// Item 8. What rmcp answers 415 with plain text gets 400 with a JSON-RPC error; `DELETE` of
/// an unknown session is 404; a real session is still deleted, then unknown.
#[tokio::test]
async fn malformed_bodies_get_json_rpc_errors_and_deleting_an_unknown_session_is_404() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let raw = Raw::new(&format!("{base}/mcp"), None);
    let (status, session, _) = raw.open().await;
    assert_eq!(status, 200);
    let session = session.unwrap();
    let cases: [(&[u8], i64, Value); 6] = [
        (b"{not json", -32700, Value::Null),
        (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}", -32700, Value::Null),
        (br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, -32600, Value::Null),
        (br#"{"hello":"world"}"#, -32600, Value::Null),
        (br#"{"jsonrpc":"1.0","id":7,"method":"ping"}"#, -32600, json!(7)),
        (br#"42"#, -32600, Value::Null),
    ];
    for (body, code, id) in cases {
        for session in [None, Some(session.as_str())] {
            let request = raw.request(reqwest::Method::POST, session).header("content-type", "application/json");
            let response = request.body(body.to_vec()).send().await.unwrap();
            let shown = String::from_utf8_lossy(body);
            assert_eq!(response.status(), 400, "{shown}");
            assert_eq!(response.headers()["content-type"], "application/json", "{shown}");
            let answer: Value = response.json().await.unwrap();
            assert_eq!(
                (&answer["jsonrpc"], &answer["error"]["code"], &answer["id"]),
                (&json!("2.0"), &json!(code), &id),
                "{shown}: {answer}"
            );
        }
    }
    // A body that is not declared JSON is still rmcp's 415.
    let request = raw.request(reqwest::Method::POST, Some(&session)).header("content-type", "text/plain");
    assert_eq!(request.body("{}").send().await.unwrap().status(), 415);
    // The session still works.
    let ping = json!({"jsonrpc": "2.0", "id": 9, "method": "ping"});
    let (status, _, body) = rpc(raw.post(Some(&session), &ping).await).await;
    assert_eq!((status, &body["id"]), (200, &json!(9)));

    let unknown = uuid::Uuid::new_v4().to_string();
    let delete = |id: String| raw.request(reqwest::Method::DELETE, Some(&id)).send();
    assert_eq!(delete(unknown).await.unwrap().status(), 404, "an unknown session");
    assert!(delete(session.clone()).await.unwrap().status().is_success(), "a real session is deleted");
    assert_eq!(delete(session.clone()).await.unwrap().status(), 404, "and is unknown afterwards");
    let (status, _, _) = rpc(raw.post(Some(&session), &ping).await).await;
    assert_eq!(status, 404);
}

//! The mixed load of a chaos run, all through HAProxy as a client would see the deployment:
//! admin tasks (registrations and deregistrations with idempotency keys, group changes, MCP
//! client creations and deletions, user creations and deletions, and commands the API must
//! refuse), each on names of its own so its model of what exists is exact; and callers, one
//! rmcp client each, calling `fx__echo` with a unique message per call so each call can be
//! found in the audit log. A request whose answer is lost (connection error, 5xx, HAProxy's
//! 503) is retried with the same body and the same `Idempotency-Key` until a definite answer or
//! a time limit. Only server registrations and deregistrations (and job submits) take a key;
//! groups, clients, users and tenants have none, so a create whose retry gets 409, or a delete
//! whose retry gets 404, counts as committed by the attempt whose answer was lost.

use crate::chaos::ledger::{CallRecord, CommandKind, CommandRecord, Ledger, Outcome};
use crate::chaos::rng::Rng;
use anyhow::Context;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long a command is retried while its answers are lost.
const RETRY_FOR: Duration = Duration::from_secs(120);
/// One attempt's limit (a registration waits for discovery).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// The error of a call that got no answer within [`CALL_TIMEOUT`].
pub const TIMED_OUT: &str = "no answer within 15 s";

/// The REST API as the load reaches it: HAProxy's URL and the owner's token.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    /// `http://HAPROXY/api/v0`
    pub base: String,
    pub owner: String,
}

/// One HTTP answer, or why there was none.
pub type Answer = Result<(u16, Value), String>;

impl Api {
    pub fn new(public_url: &str, owner: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(ATTEMPT_TIMEOUT).build().context("building the HTTP client")?;
        Ok(Self { http, base: format!("{public_url}/api/v0"), owner: owner.to_string() })
    }

    /// The same API as another principal (e.g. the platform operator, or another tenant's owner).
    pub fn with_token(&self, token: &str) -> Self {
        Self { http: self.http.clone(), base: self.base.clone(), owner: token.to_string() }
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>, key: Option<&str>) -> Answer {
        self.send_as(&self.owner, method, path, body, key).await
    }

    pub async fn send_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.map_err(|e| format!("{e:#}"))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| format!("reading the answer: {e:#}"))?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    /// Sends until a definite answer: 2xx (acknowledged) or 4xx (refused), retrying lost
    /// answers (no response, 5xx, 408, 429) with the same request. `earlier` is the status a
    /// retry gets when an earlier attempt committed (409 for a create, 404 for a delete).
    pub async fn until_definite(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
        earlier: Option<u16>,
    ) -> (Outcome, u32) {
        self.until_definite_within(RETRY_FOR, method, path, body, key, earlier).await
    }

    /// [`Api::until_definite`], giving up (outcome unknown) after `retry_for`.
    pub async fn until_definite_within(
        &self,
        retry_for: Duration,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
        earlier: Option<u16>,
    ) -> (Outcome, u32) {
        let start = Instant::now();
        let mut attempts = 0;
        let mut lost_before = false;
        loop {
            attempts += 1;
            let last = match self.send(method.clone(), path, body, key).await {
                Ok((status, _)) if (200..300).contains(&status) => return (Outcome::Acked { status }, attempts),
                Ok((status, _)) if lost_before && Some(status) == earlier => {
                    return (Outcome::AckedEarlier { status }, attempts)
                }
                Ok((status, _)) if (400..500).contains(&status) && status != 408 && status != 429 => {
                    return (Outcome::Refused { status }, attempts)
                }
                Ok((status, body)) => format!("{status} {body}"),
                Err(e) => e,
            };
            lost_before = true;
            if start.elapsed() > retry_for {
                return (Outcome::Unknown { last }, attempts);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// What an admin task believes exists (it alone touches its names).
#[derive(Default)]
struct Owned {
    servers: Vec<String>,
    /// Keys of registrations already made (reused by commands that must be refused).
    used_keys: Vec<String>,
    groups: Vec<String>,
    clients: Vec<(String, String)>,
    users: Vec<String>,
}

/// When the load stops: at `until`, but not before the faults are all done (an outage may push
/// the last ones back), so no fault falls on an idle deployment.
#[derive(Clone)]
pub struct Deadline {
    pub until: Instant,
    pub faults_done: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Deadline {
    pub fn running(&self) -> bool {
        Instant::now() < self.until || !self.faults_done.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Runs one admin task until the deadline. Names are `t{task}-s{n}`, `-g{n}`, `-c{n}`, `-u{n}`,
/// `-x{n}`.
pub async fn admin_task(
    task: usize,
    seed: u64,
    api: Api,
    upstream_url: String,
    ledger: Ledger,
    run_start: Instant,
    deadline: Deadline,
) {
    let mut rng = Rng::derive(seed, 100 + task as u64);
    let mut owned = Owned::default();
    let mut n = 0usize;
    while deadline.running() {
        n += 1;
        let at = run_start.elapsed().as_secs_f64();
        let roll = rng.below(100);
        let post = reqwest::Method::POST;
        let delete = reqwest::Method::DELETE;
        let record = if roll < 28 || owned.servers.len() < 3 {
            let name = format!("t{task}-s{n}");
            let key = uuid::Uuid::new_v4().to_string();
            let body = json!({"name": name, "transport": "streamable_http", "url": upstream_url});
            let (outcome, attempts) = api.until_definite(post, "/servers", Some(&body), Some(&key), None).await;
            owned.used_keys.push(key.clone());
            if matches!(outcome, Outcome::Acked { .. }) {
                owned.servers.push(name.clone());
            }
            CommandRecord {
                kind: CommandKind::Register,
                name,
                idempotency_key: Some(key),
                group_servers: None,
                outcome,
                attempts,
                at,
            }
        } else if roll < 42 {
            let index = rng.below(owned.servers.len());
            let name = owned.servers.remove(index);
            let key = uuid::Uuid::new_v4().to_string();
            let path = format!("/servers/{name}");
            // With the key, a retry of a committed deregistration replays its 204.
            let (outcome, attempts) = api.until_definite(delete, &path, None, Some(&key), None).await;
            if !matches!(outcome, Outcome::Acked { .. }) {
                owned.servers.push(name.clone());
            }
            CommandRecord {
                kind: CommandKind::Deregister,
                name,
                idempotency_key: Some(key),
                group_servers: None,
                outcome,
                attempts,
                at,
            }
        } else if roll < 52 || (roll < 62 && owned.groups.is_empty()) {
            let name = format!("t{task}-g{n}");
            let servers = some_of(&mut rng, &owned.servers);
            let body = json!({"name": name, "included_servers": servers});
            let (outcome, attempts) = api.until_definite(post, "/groups", Some(&body), None, Some(409)).await;
            let record = CommandRecord {
                kind: CommandKind::CreateGroup,
                name: name.clone(),
                idempotency_key: None,
                group_servers: Some(servers),
                outcome,
                attempts,
                at,
            };
            if record.committed() {
                owned.groups.push(name);
            }
            record
        } else if roll < 62 {
            let name = rng.pick(&owned.groups).cloned().unwrap_or_default();
            let servers = some_of(&mut rng, &owned.servers);
            let body = json!({"name": name, "included_servers": servers});
            let path = format!("/groups/{name}");
            let (outcome, attempts) = api.until_definite(reqwest::Method::PUT, &path, Some(&body), None, None).await;
            CommandRecord {
                kind: CommandKind::UpdateGroup,
                name,
                idempotency_key: None,
                group_servers: Some(servers),
                outcome,
                attempts,
                at,
            }
        } else if roll < 67 && !owned.groups.is_empty() {
            let name = owned.groups.remove(rng.below(owned.groups.len()));
            let path = format!("/groups/{name}");
            let (outcome, attempts) = api.until_definite(delete, &path, None, None, Some(404)).await;
            let record = CommandRecord {
                kind: CommandKind::DeleteGroup,
                name: name.clone(),
                idempotency_key: None,
                group_servers: None,
                outcome,
                attempts,
                at,
            };
            if !record.committed() {
                owned.groups.push(name);
            }
            record
        } else if roll < 76 || (roll < 84 && owned.clients.is_empty()) {
            let name = format!("t{task}-c{n}");
            let token = format!("chaos-token-{name}-{}", rng.hex());
            let body = if rng.chance(0.3) {
                json!({"name": name, "allowed_servers": ["*"], "access_token": token})
            } else if rng.chance(0.4) && !owned.groups.is_empty() {
                let group = rng.pick(&owned.groups).cloned().unwrap_or_default();
                json!({"name": name, "allowed_groups": [group], "access_token": token})
            } else {
                json!({"name": name, "allowed_servers": some_of(&mut rng, &owned.servers), "access_token": token})
            };
            ledger.note_token(&name, &token);
            let (outcome, attempts) = api.until_definite(post, "/mcp-clients", Some(&body), None, Some(409)).await;
            let record = CommandRecord {
                kind: CommandKind::CreateClient,
                name: name.clone(),
                idempotency_key: None,
                group_servers: None,
                outcome,
                attempts,
                at,
            };
            if record.committed() {
                owned.clients.push((name, token));
            }
            record
        } else if roll < 84 {
            let (name, token) = owned.clients.remove(rng.below(owned.clients.len()));
            let path = format!("/mcp-clients/{name}");
            let (outcome, attempts) = api.until_definite(delete, &path, None, None, Some(404)).await;
            let record = CommandRecord {
                kind: CommandKind::DeleteClient,
                name: name.clone(),
                idempotency_key: None,
                group_servers: None,
                outcome,
                attempts,
                at,
            };
            if !record.committed() {
                owned.clients.push((name, token));
            }
            record
        } else if roll < 89 || (roll < 92 && owned.users.is_empty()) {
            // A member of the default tenant, with a token of the load's: the check tries it at
            // every edge (accepted while the user exists, refused once deleted).
            let name = format!("t{task}-u{n}");
            let token = format!("chaos-token-{name}-{}", rng.hex());
            let body = json!({"name": name, "role": "member", "access_token": token});
            ledger.note_token(&name, &token);
            let (outcome, attempts) = api.until_definite(post, "/users", Some(&body), None, Some(409)).await;
            let record = CommandRecord {
                kind: CommandKind::CreateUser,
                name: name.clone(),
                idempotency_key: None,
                group_servers: None,
                outcome,
                attempts,
                at,
            };
            if record.committed() {
                owned.users.push(name);
            }
            record
        } else if roll < 92 {
            let name = owned.users.remove(rng.below(owned.users.len()));
            let path = format!("/users/{name}");
            let (outcome, attempts) = api.until_definite(delete, &path, None, None, Some(404)).await;
            let record = CommandRecord {
                kind: CommandKind::DeleteUser,
                name: name.clone(),
                idempotency_key: None,
                group_servers: None,
                outcome,
                attempts,
                at,
            };
            if !record.committed() {
                owned.users.push(name);
            }
            record
        } else {
            must_refuse(task, n, &mut rng, &api, &owned, &upstream_url, at).await
        };
        ledger.command(record);
        tokio::time::sleep(Duration::from_millis(rng.between(100.0, 400.0) as u64)).await;
    }
}

/// A command the API must refuse, on a fresh name that must therefore never exist.
async fn must_refuse(
    task: usize,
    n: usize,
    rng: &mut Rng,
    api: &Api,
    owned: &Owned,
    upstream_url: &str,
    at: f64,
) -> CommandRecord {
    let name = format!("t{task}-x{n}");
    let post = reqwest::Method::POST;
    let (outcome, attempts, key) = match (rng.below(3), rng.pick(&owned.used_keys), rng.pick(&owned.clients)) {
        (0, Some(key), _) => {
            // The key of an earlier registration with another body: 409.
            let body = json!({"name": name, "transport": "streamable_http", "url": upstream_url});
            let (o, a) = api.until_definite(post, "/servers", Some(&body), Some(key), None).await;
            (o, a, Some(key.clone()))
        }
        (1, _, Some((_, token))) => {
            // A token another client holds: 409.
            let body = json!({"name": name, "allowed_servers": ["*"], "access_token": token});
            let (o, a) = api.until_definite(post, "/mcp-clients", Some(&body), None, None).await;
            (o, a, None)
        }
        _ => {
            // An unknown transport: 400.
            let body = json!({"name": name, "transport": "carrier-pigeon", "url": upstream_url});
            let (o, a) = api.until_definite(post, "/servers", Some(&body), None, None).await;
            (o, a, None)
        }
    };
    CommandRecord {
        kind: CommandKind::MustRefuse,
        name,
        idempotency_key: key,
        group_servers: None,
        outcome,
        attempts,
        at,
    }
}

/// One to three of `items` (none if empty), without repeats.
fn some_of(rng: &mut Rng, items: &[String]) -> Vec<String> {
    let want = 1 + rng.below(3);
    let mut chosen: Vec<String> = Vec::new();
    for _ in 0..want * 2 {
        if let Some(item) = rng.pick(items) {
            if !chosen.contains(item) && chosen.len() < want {
                chosen.push(item.clone());
            }
        }
    }
    chosen.sort();
    chosen
}

type Client = RunningService<RoleClient, ()>;

pub async fn mcp_connect(url: &str, token: &str) -> anyhow::Result<Client> {
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_string()).auth_header(token);
    let transport = StreamableHttpClientTransport::from_config(config);
    let client = tokio::time::timeout(CALL_TIMEOUT, ().serve(transport))
        .await
        .map_err(|_| anyhow::anyhow!("initialize timed out"))?
        .with_context(|| format!("MCP session at {url}"))?;
    Ok(client)
}

/// One caller: a session through HAProxy, `fx__echo` with a unique message, a new session
/// after any failure (the edge that held it may be gone, or Redis forgot it).
pub async fn caller_task(
    caller: usize,
    mcp_url: String,
    token: String,
    ledger: Ledger,
    run_start: Instant,
    deadline: Deadline,
) {
    let mut client: Option<Client> = None;
    let mut n = 0u64;
    let now = || run_start.elapsed().as_secs_f64();
    while deadline.running() {
        let Some(session) = client.as_ref() else {
            let start = now();
            match mcp_connect(&mcp_url, &token).await {
                Ok(c) => client = Some(c),
                Err(e) => {
                    ledger.call(CallRecord { message: None, start, end: now(), error: Some(format!("{e:#}")) });
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            continue;
        };
        n += 1;
        let message = format!("chaos-{caller}-{n}");
        let mut arguments = serde_json::Map::new();
        arguments.insert("message".into(), message.clone().into());
        let start = now();
        let request = CallToolRequestParams::new("fx__echo".to_string()).with_arguments(arguments);
        let error = match tokio::time::timeout(CALL_TIMEOUT, session.call_tool(request)).await {
            Err(_) => Some(TIMED_OUT.to_string()),
            Ok(Err(e)) => Some(format!("{e:#}")),
            Ok(Ok(result)) if result.is_error == Some(true) => Some(format!("isError: {:?}", result.content)),
            Ok(Ok(_)) => None,
        };
        let failed = error.is_some();
        ledger.call(CallRecord { message: Some(message), start, end: now(), error });
        if failed {
            if let Some(old) = client.take() {
                let _ = tokio::time::timeout(Duration::from_secs(2), old.cancel()).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    if let Some(old) = client.take() {
        let _ = tokio::time::timeout(Duration::from_secs(2), old.cancel()).await;
    }
}

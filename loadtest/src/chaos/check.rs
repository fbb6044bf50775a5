//! The checks after a chaos run has settled, each against what the load was told:
//! - every command the API acknowledged is in the event log exactly once (registrations and
//!   deregistrations by their idempotency key; creations and deletions of groups, clients,
//!   users and tenants by aggregate), and the read models show the final state the acknowledged
//!   commands imply (`rm_tenants.suspended` included); nothing the API refused left an event or
//!   a row;
//! - the JetStream EVENTS stream holds every event of the events table exactly once (by
//!   `Nats-Msg-Id`, the event id) and nothing else;
//! - every edge, asked directly (not through HAProxy), lists for each principal exactly the
//!   tools the read models give that principal (REST `GET /api/v0/tools` with its token), and
//!   refuses the token of every deleted MCP client (issue 9's defect: removals lost at the edge);
//! - every edge, asked directly, lists on each existing group's endpoint (`/groups/NAME/mcp`)
//!   exactly the group's effective tools (REST `GET /api/v0/groups/NAME/effective-tools`), and
//!   answers every deleted group's endpoint with the edge's unknown-group 404;
//! - every edge, asked directly, accepts the token of every user of the default tenant that
//!   exists (`initialize` on `/mcp` answered 2xx) and refuses every deleted user's with the
//!   documented 401 (`WWW-Authenticate: Bearer error="invalid_token", ...,
//!   resource_metadata="<public URL>/.well-known/oauth-protected-resource/mcp"`);
//! - every edge, asked directly, refuses the same way every token of a tenant the operator
//!   suspended (its owner's and its MCP client's), and accepts those of tenants that are active
//!   (never suspended, or resumed);
//! - every call that returned has exactly one audit record (found by the SHA-256 of its unique
//!   arguments), once the audit consumer has caught up.

use crate::chaos::cluster::Member;
use crate::chaos::ledger::{CallRecord, CommandKind, CommandRecord, Ledger, Outcome};
use crate::chaos::load::{mcp_connect, Api};
use anyhow::Context;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

const TENANT: &str = "default";
/// The owner `init-server` creates in the default tenant (`services/api/src/users.rs`).
const INITIAL_OWNER: &str = "admin";

#[derive(Debug, Default)]
pub struct CommandFindings {
    pub acknowledged: usize,
    /// Answers lost, then a retry's 409/404 showed an earlier attempt had committed.
    pub acknowledged_earlier: usize,
    pub refused_as_expected: usize,
    pub unknown: usize,
    pub lost: Vec<String>,
    pub duplicated: Vec<String>,
    /// Commands that must be refused but were accepted, or left an event or a row.
    pub wrongly_accepted: Vec<String>,
    /// Valid commands refused at the first answer (not an invariant, but worth a look).
    pub refused_unexpectedly: Vec<String>,
    pub read_model_mismatches: Vec<String>,
}

#[derive(Debug, Default)]
pub struct StreamFindings {
    pub events_in_table: usize,
    pub messages_in_stream: usize,
    pub missing: Vec<String>,
    pub duplicated: Vec<String>,
    pub not_in_table: Vec<String>,
}

#[derive(Debug, Default)]
pub struct EdgeFindings {
    /// (edge, principal) catalogs compared.
    pub catalogs_compared: usize,
    /// Deleted clients' tokens tried (per edge).
    pub deleted_tokens_tried: usize,
    pub mismatches: Vec<String>,
    /// Groups that exist at the end, each compared at every edge.
    pub groups: usize,
    /// Deleted groups, each tried at every edge.
    pub deleted_groups: usize,
    /// The edges the group endpoints were asked at.
    pub group_edges: usize,
    /// (edge, group) endpoint lists that differ from the group's effective tools, and deleted
    /// groups' endpoints that did not answer the unknown-group 404.
    pub group_mismatches: Vec<String>,
    /// Users of the default tenant that exist at the end, each token tried at every edge.
    pub users_present: usize,
    /// Deleted users, each token tried at every edge.
    pub users_deleted: usize,
    /// The edges the users' tokens were tried at.
    pub user_edges: usize,
    /// (edge, user) answers other than expected: an existing user's token refused, or a
    /// deleted user's not refused with the documented 401.
    pub user_mismatches: Vec<String>,
    /// Tenants (other than the default) active at the end, and suspended.
    pub tenants_active: usize,
    pub tenants_suspended: usize,
    /// The tokens of those tenants' identities, each tried at every edge.
    pub tenant_tokens: usize,
    /// The edges the tenants' tokens were tried at.
    pub tenant_edges: usize,
    /// (edge, token) answers other than expected: a suspended tenant's token not refused with
    /// the documented 401, or an active tenant's refused.
    pub tenant_mismatches: Vec<String>,
}

#[derive(Debug, Default)]
pub struct AuditFindings {
    pub calls_returned: usize,
    pub records_found: usize,
    pub missing: Vec<String>,
    pub duplicated: Vec<String>,
    /// How long the audit log took to catch up after the load stopped.
    pub caught_up_after: f64,
}

/// The expected final state of one name, from its commands in order.
#[derive(Clone, Debug, Default)]
struct Expected {
    present: bool,
    /// An outcome was unknown: either state is acceptable.
    uncertain: bool,
    group_servers: Option<Vec<String>>,
}

fn expected_states(commands: &[CommandRecord], kinds: (CommandKind, CommandKind)) -> BTreeMap<String, Expected> {
    let mut states: BTreeMap<String, Expected> = BTreeMap::new();
    for c in commands {
        let state = states.entry(c.name.clone()).or_default();
        let unknown = matches!(c.outcome, Outcome::Unknown { .. });
        if c.kind == kinds.0 {
            if c.committed() {
                state.present = true;
                state.group_servers = c.group_servers.clone();
            }
            state.uncertain |= unknown;
        } else if c.kind == kinds.1 {
            if c.committed() {
                state.present = false;
            }
            state.uncertain |= unknown;
        } else if c.kind == CommandKind::UpdateGroup {
            if c.committed() {
                state.group_servers = c.group_servers.clone();
            }
            state.uncertain |= unknown;
        }
    }
    states
}

struct EventRow {
    event_id: String,
    aggregate_id: String,
    event_type: String,
    idempotency_key: Option<String>,
}

async fn events(pool: &PgPool) -> anyhow::Result<Vec<EventRow>> {
    let rows = sqlx::query(
        "SELECT event_id::text AS id, aggregate_id, event_type, metadata->>'idempotency_key' AS key \
         FROM events ORDER BY global_position",
    )
    .fetch_all(pool)
    .await
    .context("reading the events table")?;
    Ok(rows
        .iter()
        .map(|r| EventRow {
            event_id: r.get("id"),
            aggregate_id: r.get("aggregate_id"),
            event_type: r.get("event_type"),
            idempotency_key: r.get("key"),
        })
        .collect())
}

pub async fn commands(pool: &PgPool, ledger: &Ledger) -> anyhow::Result<CommandFindings> {
    let commands = ledger.commands();
    let events = events(pool).await?;
    let mut by_type_and_name: HashMap<(String, String), usize> = HashMap::new();
    let mut by_key: HashMap<(String, String), usize> = HashMap::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for e in &events {
        *by_type_and_name.entry((e.event_type.clone(), e.aggregate_id.clone())).or_default() += 1;
        *by_name.entry(e.aggregate_id.clone()).or_default() += 1;
        if let Some(key) = &e.idempotency_key {
            *by_key.entry((e.event_type.clone(), key.clone())).or_default() += 1;
        }
    }
    let mut f = CommandFindings::default();
    for c in &commands {
        let describe =
            || format!("{} `{}` at {:.1}s ({:?}, {} attempts)", c.kind.label(), c.name, c.at, c.outcome, c.attempts);
        match (&c.outcome, c.kind) {
            (Outcome::Acked { .. } | Outcome::AckedEarlier { .. }, CommandKind::MustRefuse) => {
                f.wrongly_accepted.push(describe())
            }
            (Outcome::Refused { .. }, CommandKind::MustRefuse) => f.refused_as_expected += 1,
            (Outcome::Refused { .. }, _) => f.refused_unexpectedly.push(describe()),
            (Outcome::Acked { .. }, _) => f.acknowledged += 1,
            (Outcome::AckedEarlier { .. }, _) => f.acknowledged_earlier += 1,
            (Outcome::Unknown { .. }, _) => f.unknown += 1,
        }
        // How many times the command is in the log, where that can be told.
        let count = match c.kind {
            CommandKind::Register => {
                c.idempotency_key.as_ref().map(|k| by_key.get(&("server.registered".into(), k.clone())))
            }
            CommandKind::Deregister => {
                c.idempotency_key.as_ref().map(|k| by_key.get(&("server.deregistered".into(), k.clone())))
            }
            CommandKind::CreateGroup => Some(by_type_and_name.get(&("group.created".into(), c.name.clone()))),
            CommandKind::DeleteGroup => Some(by_type_and_name.get(&("group.deleted".into(), c.name.clone()))),
            CommandKind::CreateClient => Some(by_type_and_name.get(&("mcp_client.created".into(), c.name.clone()))),
            CommandKind::DeleteClient => Some(by_type_and_name.get(&("mcp_client.deleted".into(), c.name.clone()))),
            CommandKind::CreateUser => Some(by_type_and_name.get(&("user.created".into(), c.name.clone()))),
            CommandKind::DeleteUser => Some(by_type_and_name.get(&("user.deleted".into(), c.name.clone()))),
            CommandKind::CreateTenant => Some(by_type_and_name.get(&("tenant.created".into(), c.name.clone()))),
            // Suspending a suspended tenant (or resuming an active one) appends nothing, and a
            // tenant may be suspended and resumed several times: `rm_tenants.suspended` is
            // what is checked.
            CommandKind::SuspendTenant | CommandKind::ResumeTenant => None,
            // Unchanged updates append nothing, and several acknowledged updates may be equal:
            // the read model's final spec is what is checked.
            CommandKind::UpdateGroup => None,
            CommandKind::MustRefuse => Some(by_name.get(&c.name)),
        };
        let Some(count) = count else { continue };
        let count = count.copied().unwrap_or(0);
        match (&c.outcome, c.kind) {
            (_, CommandKind::MustRefuse) if count > 0 => {
                f.wrongly_accepted.push(format!("{}: {count} events for a refused name", describe()))
            }
            (Outcome::Acked { .. } | Outcome::AckedEarlier { .. }, _) if count == 0 => f.lost.push(describe()),
            (_, _) if count > 1 => f.duplicated.push(format!("{}: {count} events", describe())),
            _ => {}
        }
    }
    read_models(pool, &commands, &mut f).await?;
    Ok(f)
}

async fn names(pool: &PgPool, table: &str) -> anyhow::Result<BTreeSet<String>> {
    let rows = sqlx::query(&format!("SELECT name FROM {table} WHERE tenant_id = $1"))
        .bind(TENANT)
        .fetch_all(pool)
        .await
        .with_context(|| format!("reading {table}"))?;
    // The built-in servers (grid, python) are the system's, registered in every tenant: not the
    // load's to account for.
    Ok(rows
        .iter()
        .map(|r| r.get::<String, _>("name"))
        .filter(|name| table != "rm_servers" || canopy_domain::BuiltinKind::of_server_name(name).is_none())
        .collect())
}

async fn read_models(pool: &PgPool, commands: &[CommandRecord], f: &mut CommandFindings) -> anyhow::Result<()> {
    let tables = [
        ("rm_servers", (CommandKind::Register, CommandKind::Deregister)),
        ("rm_groups", (CommandKind::CreateGroup, CommandKind::DeleteGroup)),
        ("rm_mcp_clients", (CommandKind::CreateClient, CommandKind::DeleteClient)),
        ("rm_users", (CommandKind::CreateUser, CommandKind::DeleteUser)),
    ];
    for (table, kinds) in tables {
        let expected = expected_states(commands, kinds);
        let actual = names(pool, table).await?;
        for (name, state) in &expected {
            if state.uncertain {
                continue;
            }
            match (state.present, actual.contains(name)) {
                (true, false) => f.read_model_mismatches.push(format!("{table}: `{name}` acknowledged but missing")),
                (false, true) => {
                    f.read_model_mismatches.push(format!("{table}: `{name}` present though removed or never created"))
                }
                _ => {}
            }
        }
        for name in &actual {
            // The set-up's names, and the owner `init-server` made.
            let set_up = name.starts_with("static-") || (table == "rm_users" && name == INITIAL_OWNER);
            if !expected.contains_key(name) && !set_up {
                f.read_model_mismatches.push(format!("{table}: `{name}` exists but the load never created it"));
            }
        }
        if table == "rm_groups" {
            let rows = sqlx::query("SELECT name, spec FROM rm_groups WHERE tenant_id = $1")
                .bind(TENANT)
                .fetch_all(pool)
                .await
                .context("reading rm_groups")?;
            for row in rows {
                let name: String = row.get("name");
                let spec: serde_json::Value = row.get("spec");
                let Some(state) = expected.get(&name).filter(|s| !s.uncertain && s.present) else { continue };
                let Some(want) = &state.group_servers else { continue };
                let mut have: Vec<String> = spec["included_servers"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                    .unwrap_or_default();
                have.sort();
                if &have != want {
                    f.read_model_mismatches.push(format!(
                        "rm_groups: `{name}` includes {have:?}, the last acknowledged change says {want:?}"
                    ));
                }
            }
        }
    }
    tenants_read_model(pool, commands, f).await
}

/// `rm_tenants` against the operator's acknowledged commands: each tenant the load certainly
/// created exists, suspended exactly when its last acknowledged suspend or resume says so; no
/// other tenant but the default exists.
async fn tenants_read_model(pool: &PgPool, commands: &[CommandRecord], f: &mut CommandFindings) -> anyhow::Result<()> {
    let expected = tenant_states(commands);
    let rows = sqlx::query("SELECT tenant_id, suspended FROM rm_tenants")
        .fetch_all(pool)
        .await
        .context("reading rm_tenants")?;
    let actual: BTreeMap<String, bool> =
        rows.iter().map(|r| (r.get::<String, _>("tenant_id"), r.get::<bool, _>("suspended"))).collect();
    for (id, state) in &expected {
        if state.uncertain {
            continue;
        }
        match (state.created, actual.get(id)) {
            (true, None) => f.read_model_mismatches.push(format!("rm_tenants: `{id}` acknowledged but missing")),
            (false, Some(_)) => f.read_model_mismatches.push(format!("rm_tenants: `{id}` exists though never created")),
            (true, Some(suspended)) if *suspended != state.suspended => f.read_model_mismatches.push(format!(
                "rm_tenants: `{id}` suspended = {suspended}, the last acknowledged suspend/resume says {}",
                state.suspended
            )),
            _ => {}
        }
    }
    for id in actual.keys() {
        if !expected.contains_key(id) && id != TENANT {
            f.read_model_mismatches.push(format!("rm_tenants: `{id}` exists but the load never created it"));
        }
    }
    Ok(())
}

/// The expected final state of one tenant, from the operator's commands in order.
#[derive(Clone, Debug, Default, PartialEq)]
struct TenantExpected {
    created: bool,
    suspended: bool,
    /// An outcome was unknown: any state is acceptable.
    uncertain: bool,
}

fn tenant_states(commands: &[CommandRecord]) -> BTreeMap<String, TenantExpected> {
    let mut states: BTreeMap<String, TenantExpected> = BTreeMap::new();
    for c in commands {
        let change: fn(&mut TenantExpected) = match c.kind {
            CommandKind::CreateTenant => |s: &mut TenantExpected| s.created = true,
            CommandKind::SuspendTenant => |s: &mut TenantExpected| s.suspended = true,
            CommandKind::ResumeTenant => |s: &mut TenantExpected| s.suspended = false,
            _ => continue,
        };
        let state = states.entry(c.name.clone()).or_default();
        if c.committed() {
            change(state);
        }
        state.uncertain |= matches!(c.outcome, Outcome::Unknown { .. });
    }
    states
}

/// Tenants the load certainly created that are certainly active at the end, and those certainly
/// suspended; a tenant with an unknown outcome is in neither.
pub fn tenants_active_and_suspended(commands: &[CommandRecord]) -> (Vec<String>, Vec<String>) {
    let mut active = Vec::new();
    let mut suspended = Vec::new();
    for (id, state) in tenant_states(commands) {
        if state.uncertain || !state.created {
            continue;
        }
        if state.suspended {
            suspended.push(id);
        } else {
            active.push(id);
        }
    }
    (active, suspended)
}

/// Waits until the outbox is empty (the relay published everything), at most `within`.
pub async fn outbox_drained(pool: &PgPool, within: Duration) -> anyhow::Result<i64> {
    let start = Instant::now();
    loop {
        let left: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(pool).await.context("reading the outbox")?;
        if left == 0 || start.elapsed() > within {
            return Ok(left);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn stream(pool: &PgPool, nats_url: &str, prefix: &str) -> anyhow::Result<StreamFindings> {
    use futures::StreamExt;
    let table: BTreeSet<String> = events(pool).await?.into_iter().map(|e| e.event_id).collect();
    let bus = canopy_bus::Bus::connect(nats_url, prefix, "chaos-check").await.context("connecting to NATS")?;
    let mut stream =
        bus.jetstream.get_stream(bus.subjects.events_stream()).await.context("opening the EVENTS stream")?;
    let total = stream.info().await.context("EVENTS stream info")?.state.messages as usize;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await
        .context("an ordered consumer of EVENTS")?;
    let mut messages = consumer.messages().await.context("reading EVENTS")?;
    let mut in_stream: BTreeMap<String, usize> = BTreeMap::new();
    let mut read = 0;
    while read < total {
        let next = tokio::time::timeout(Duration::from_secs(10), messages.next()).await;
        let Ok(Some(Ok(message))) = next else { break };
        read += 1;
        let id = message
            .headers
            .as_ref()
            // The standard header's constant: a `&str` name would not match the parsed header.
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .map(|v| v.as_str().to_string())
            .unwrap_or_else(|| format!("(no Nats-Msg-Id, subject {})", message.subject));
        *in_stream.entry(id).or_default() += 1;
    }
    let mut f = StreamFindings { events_in_table: table.len(), messages_in_stream: read, ..Default::default() };
    if read < total {
        f.missing.push(format!("read only {read} of the stream's {total} messages"));
    }
    for id in &table {
        match in_stream.get(id) {
            None => f.missing.push(id.clone()),
            Some(n) if *n > 1 => f.duplicated.push(format!("{id} ×{n}")),
            _ => {}
        }
    }
    for id in in_stream.keys() {
        if !table.contains(id) {
            f.not_in_table.push(id.clone());
        }
    }
    Ok(f)
}

/// The tool names the read models give `token`'s holder: REST `GET /api/v0/tools`, enabled ones.
async fn rest_tools(api: &Api, token: &str) -> Result<BTreeSet<String>, String> {
    let (status, body) = api.send_as(token, reqwest::Method::GET, "/tools", None, None).await?;
    if status != 200 {
        return Err(format!("GET /tools answered {status}: {body}"));
    }
    Ok(body
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter(|t| t["enabled"].as_bool() != Some(false))
                .filter_map(|t| t["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default())
}

async fn edge_tools(edge: &Member, token: &str) -> Result<BTreeSet<String>, String> {
    edge_tools_at(edge, "/mcp", token).await
}

/// The HTTP status of `initialize` at `edge` with `token`.
async fn initialize_status(http: &reqwest::Client, edge: &Member, token: &str) -> Result<u16, String> {
    initialize_answer(http, &format!("{}/mcp", edge.base), token).await.map(|(status, _)| status)
}

/// The HTTP status and body of `initialize` at `url` with `token`.
async fn initialize_answer(http: &reqwest::Client, url: &str, token: &str) -> Result<(u16, String), String> {
    initialize_reply(http, url, token).await.map(|r| (r.status, r.body))
}

/// What an MCP endpoint answered to `initialize`.
#[derive(Debug)]
struct InitializeReply {
    status: u16,
    www_authenticate: Option<String>,
    /// Read only when the answer is no session (not 2xx).
    body: String,
}

/// Whether `reply` is the refusal of a token as documented (README, "Enterprise mode"; the
/// edge's `bearer.rs`): 401 with `WWW-Authenticate: Bearer error="invalid_token",
/// error_description="...", resource_metadata="<public URL>/.well-known/oauth-protected-resource/mcp"`
/// (the metadata of `/mcp`, named by the public URL even when the edge is asked directly).
fn refused_as_documented(reply: &InitializeReply, public_url: &str) -> bool {
    let metadata = format!("resource_metadata=\"{public_url}/.well-known/oauth-protected-resource/mcp\"");
    reply.status == 401
        && reply.www_authenticate.as_deref().is_some_and(|challenge| {
            challenge.starts_with("Bearer ")
                && challenge.contains("error=\"invalid_token\"")
                && challenge.contains(&metadata)
        })
}

/// `initialize` at `url` with `token`: its status, `WWW-Authenticate` and (when no session)
/// body.
async fn initialize_reply(http: &reqwest::Client, url: &str, token: &str) -> Result<InitializeReply, String> {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "chaos-check", "version": "1"}}});
    let response = http
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("{e:#}"))?;
    let status = response.status().as_u16();
    let www_authenticate = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    // An accepted initialize may answer with an event stream that stays open: read the body
    // only of what is not a session.
    let body = if (200..300).contains(&status) {
        String::new()
    } else {
        response.text().await.map_err(|e| format!("reading the answer: {e:#}"))?
    };
    Ok(InitializeReply { status, www_authenticate, body })
}

/// The tool names of group `name`'s endpoint as the read models say: REST
/// `GET /api/v0/groups/NAME/effective-tools` (enabled tools the group's rule admits, named
/// `server__tool` as on the endpoint).
async fn rest_group_tools(api: &Api, name: &str) -> Result<BTreeSet<String>, String> {
    let path = format!("/groups/{name}/effective-tools");
    let (status, body) = api.send(reqwest::Method::GET, &path, None, None).await?;
    if status != 200 {
        return Err(format!("GET {path} answered {status}: {body}"));
    }
    Ok(body
        .as_array()
        .map(|tools| tools.iter().filter_map(|t| t["name"].as_str().map(String::from)).collect())
        .unwrap_or_default())
}

/// The edge's `tools/list` on `path` (`/mcp`, `/groups/NAME/mcp`), all pages.
async fn edge_tools_at(edge: &Member, path: &str, token: &str) -> Result<BTreeSet<String>, String> {
    let client = mcp_connect(&format!("{}{path}", edge.base), token).await.map_err(|e| format!("{e:#}"))?;
    let tools = tokio::time::timeout(Duration::from_secs(20), client.list_all_tools()).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), client.cancel()).await;
    match tools {
        Ok(Ok(tools)) => Ok(tools.into_iter().map(|t| t.name.to_string()).collect()),
        Ok(Err(e)) => Err(format!("tools/list: {e:#}")),
        Err(_) => Err("tools/list timed out".into()),
    }
}

fn diff(edge: &BTreeSet<String>, rest: &BTreeSet<String>) -> String {
    let extra: Vec<&String> = edge.difference(rest).take(5).collect();
    let missing: Vec<&String> = rest.difference(edge).take(5).collect();
    format!(
        "the edge lists {} tools, the read models {}; only at the edge: {extra:?}{}; missing at the edge: {missing:?}{}",
        edge.len(),
        rest.len(),
        if edge.difference(rest).count() > 5 { " …" } else { "" },
        if rest.difference(edge).count() > 5 { " …" } else { "" },
    )
}

/// Every edge's view against the read models, for `principals` (label, token) that exist and
/// for `deleted` clients' tokens, which every edge must refuse (401). Each comparison is
/// retried for `within`, as edges follow the log with a small delay.
pub async fn edges(
    api: &Api,
    edges: &[Member],
    principals: &[(String, String)],
    deleted: &[(String, String)],
    within: Duration,
) -> EdgeFindings {
    let mut f = EdgeFindings::default();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
    for edge in edges {
        for (label, token) in principals {
            f.catalogs_compared += 1;
            let start = Instant::now();
            loop {
                let verdict = match (edge_tools(edge, token).await, rest_tools(api, token).await) {
                    (Ok(at_edge), Ok(in_rest)) if at_edge == in_rest => None,
                    (Ok(at_edge), Ok(in_rest)) => Some(diff(&at_edge, &in_rest)),
                    (Err(e), _) => Some(format!("the edge: {e}")),
                    (_, Err(e)) => Some(format!("the API: {e}")),
                };
                let Some(problem) = verdict else { break };
                if start.elapsed() > within {
                    f.mismatches.push(format!("{} for {label}: {problem}", edge.name));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        for (label, token) in deleted {
            f.deleted_tokens_tried += 1;
            let start = Instant::now();
            loop {
                let status = initialize_status(&http, edge, token).await;
                if status == Ok(401) {
                    break;
                }
                if start.elapsed() > within {
                    f.mismatches.push(format!(
                        "{}: deleted MCP client {label}'s token still answered {status:?} to initialize (401 expected)",
                        edge.name
                    ));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    f
}

/// Every edge's group endpoints against the read models, as the owner (who may use every
/// group): for each group in `present`, `tools/list` on `/groups/NAME/mcp` must be exactly the
/// group's effective tools (REST); for each group in `deleted`, `initialize` on
/// `/groups/NAME/mcp` and `/v0/groups/NAME/mcp` must get the edge's answer for an unknown
/// group (404 `no group 'NAME' here`). Each comparison is retried for `within`.
pub async fn group_endpoints(
    api: &Api,
    edges: &[Member],
    present: &[String],
    deleted: &[String],
    within: Duration,
    f: &mut EdgeFindings,
) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
    f.groups = present.len();
    f.deleted_groups = deleted.len();
    f.group_edges = edges.len();
    for edge in edges {
        for name in present {
            let path = format!("/groups/{name}/mcp");
            let start = Instant::now();
            loop {
                let verdict = match (edge_tools_at(edge, &path, &api.owner).await, rest_group_tools(api, name).await) {
                    (Ok(at_edge), Ok(in_rest)) if at_edge == in_rest => None,
                    (Ok(at_edge), Ok(in_rest)) => Some(diff(&at_edge, &in_rest)),
                    (Err(e), _) => Some(format!("the edge: {e}")),
                    (_, Err(e)) => Some(format!("the API: {e}")),
                };
                let Some(problem) = verdict else { break };
                if start.elapsed() > within {
                    f.group_mismatches.push(format!("{} {path}: {problem}", edge.name));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        for name in deleted {
            let expected = format!("no group '{name}' here");
            for path in [format!("/groups/{name}/mcp"), format!("/v0/groups/{name}/mcp")] {
                let url = format!("{}{path}", edge.base);
                let start = Instant::now();
                loop {
                    let answer = initialize_answer(&http, &url, &api.owner).await;
                    if matches!(&answer, Ok((404, body)) if body.contains(&expected)) {
                        break;
                    }
                    if start.elapsed() > within {
                        f.group_mismatches.push(format!(
                            "{} {path}: deleted group `{name}` answered {answer:?} to initialize (404 `{expected}` expected)",
                            edge.name
                        ));
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

/// One token to try at one edge: accepted (`initialize` on `/mcp` answered 2xx) or refused
/// (the documented 401).
struct TokenTry<'a> {
    edge: &'a Member,
    label: String,
    token: &'a str,
    accept: bool,
}

/// Tries every token of `tries` (eight at a time), each retried for `within` as edges follow
/// the log a little behind; answers the mismatches, sorted, each naming the edge, the token's
/// holder and what the edge answered.
async fn tokens_at_edges(tries: Vec<TokenTry<'_>>, public_url: &str, within: Duration) -> Vec<String> {
    use futures::StreamExt;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
    let http = &http;
    let mut mismatches: Vec<String> = futures::stream::iter(tries)
        .map(|t| async move {
            let url = format!("{}/mcp", t.edge.base);
            let start = Instant::now();
            loop {
                let reply = initialize_reply(http, &url, t.token).await;
                let right = match &reply {
                    Ok(r) if t.accept => (200..300).contains(&r.status),
                    Ok(r) => refused_as_documented(r, public_url),
                    Err(_) => false,
                };
                if right {
                    return None;
                }
                if start.elapsed() > within {
                    let expected = if t.accept {
                        "accepted (initialize 2xx)"
                    } else {
                        "refused (401, WWW-Authenticate: Bearer error=\"invalid_token\" with /mcp's resource_metadata)"
                    };
                    let got = match reply {
                        Ok(r) => format!(
                            "{} (WWW-Authenticate: {}; body: {:?})",
                            r.status,
                            r.www_authenticate.as_deref().unwrap_or("none"),
                            r.body.chars().take(120).collect::<String>()
                        ),
                        Err(e) => e,
                    };
                    return Some(format!(
                        "{}: {}'s token: initialize answered {got}; {expected} expected",
                        t.edge.name, t.label
                    ));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .buffer_unordered(8)
        .filter_map(|m| async move { m })
        .collect()
        .await;
    mismatches.sort();
    mismatches
}

/// Every edge's view of the default tenant's users: each token in `present` (name, token) is
/// accepted at `/mcp`, each in `deleted` refused with the documented 401.
pub async fn user_tokens(
    edges: &[Member],
    public_url: &str,
    present: &[(String, String)],
    deleted: &[(String, String)],
    within: Duration,
    f: &mut EdgeFindings,
) {
    f.users_present = present.len();
    f.users_deleted = deleted.len();
    f.user_edges = edges.len();
    let mut tries = Vec::new();
    for edge in edges {
        for (name, token) in present {
            tries.push(TokenTry { edge, label: format!("user `{name}`"), token, accept: true });
        }
        for (name, token) in deleted {
            tries.push(TokenTry { edge, label: format!("deleted user `{name}`"), token, accept: false });
        }
    }
    f.user_mismatches = tokens_at_edges(tries, public_url, within).await;
}

/// Every edge's view of the other tenants: every token of a tenant in `suspended` is refused
/// with the documented 401, every token of one in `active` accepted; `tokens` holds each
/// tenant's (label, token) pairs.
pub async fn tenant_tokens(
    edges: &[Member],
    public_url: &str,
    active: &[String],
    suspended: &[String],
    tokens: &BTreeMap<String, Vec<(String, String)>>,
    within: Duration,
    f: &mut EdgeFindings,
) {
    f.tenants_active = active.len();
    f.tenants_suspended = suspended.len();
    f.tenant_edges = edges.len();
    let mut tries = Vec::new();
    for edge in edges {
        for (tenants, accept, state) in [(active, true, "active"), (suspended, false, "suspended")] {
            for id in tenants {
                for (label, token) in tokens.get(id).into_iter().flatten() {
                    tries.push(TokenTry { edge, label: format!("{state} tenant `{id}` {label}"), token, accept });
                }
            }
        }
    }
    f.tenant_tokens = tries.len() / edges.len().max(1);
    f.tenant_mismatches = tokens_at_edges(tries, public_url, within).await;
}

/// The audit log's key for a call: SHA-256 of the canonical JSON of its arguments.
fn arguments_sha256(message: &str) -> String {
    let canonical = serde_json::json!({"message": message}).to_string();
    Sha256::digest(canonical.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn audit(pool: &PgPool, calls: &[CallRecord], within: Duration) -> anyhow::Result<AuditFindings> {
    let returned: Vec<(&str, String)> = calls
        .iter()
        .filter(|c| c.error.is_none())
        .filter_map(|c| c.message.as_deref().map(|m| (m, arguments_sha256(m))))
        .collect();
    let failed: BTreeSet<String> =
        calls.iter().filter(|c| c.error.is_some()).filter_map(|c| c.message.as_deref().map(arguments_sha256)).collect();
    let start = Instant::now();
    let mut f = AuditFindings { calls_returned: returned.len(), ..Default::default() };
    loop {
        let rows = sqlx::query(
            "SELECT arguments_sha256 AS digest, count(*) AS n FROM audit_calls \
             WHERE tenant_id = $1 AND server = 'fx' AND name = 'echo' GROUP BY 1",
        )
        .bind(TENANT)
        .fetch_all(pool)
        .await
        .context("reading audit_calls")?;
        let counts: HashMap<String, i64> = rows
            .iter()
            .filter_map(|r| r.get::<Option<String>, _>("digest").map(|d| (d, r.get::<i64, _>("n"))))
            .collect();
        let missing: Vec<&(&str, String)> = returned.iter().filter(|(_, d)| !counts.contains_key(d)).collect();
        if missing.is_empty() || start.elapsed() > within {
            f.caught_up_after = start.elapsed().as_secs_f64();
            f.records_found = returned.iter().filter(|(_, d)| counts.contains_key(d)).count();
            f.missing = missing.iter().map(|(m, _)| format!("call with message {m}")).collect();
            for (digest, n) in &counts {
                let ours = returned.iter().any(|(_, d)| d == digest) || failed.contains(digest);
                if ours && *n > 1 {
                    f.duplicated.push(format!("{n} records for arguments {digest}"));
                }
            }
            return Ok(f);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// MCP clients that certainly exist at the end, and those certainly deleted after being created.
pub fn clients_present_and_deleted(commands: &[CommandRecord]) -> (Vec<String>, Vec<String>) {
    present_and_deleted(commands, (CommandKind::CreateClient, CommandKind::DeleteClient))
}

/// Users of the default tenant that certainly exist at the end, and those certainly deleted
/// after being created.
pub fn users_present_and_deleted(commands: &[CommandRecord]) -> (Vec<String>, Vec<String>) {
    present_and_deleted(commands, (CommandKind::CreateUser, CommandKind::DeleteUser))
}

/// Groups that certainly exist at the end, and those certainly deleted after being created.
pub fn groups_present_and_deleted(commands: &[CommandRecord]) -> (Vec<String>, Vec<String>) {
    present_and_deleted(commands, (CommandKind::CreateGroup, CommandKind::DeleteGroup))
}

/// Names of `kinds.0` (create) that certainly exist at the end, and those certainly deleted
/// (by `kinds.1`) after being created; a name with an unknown outcome is in neither.
fn present_and_deleted(commands: &[CommandRecord], kinds: (CommandKind, CommandKind)) -> (Vec<String>, Vec<String>) {
    let states = expected_states(commands, kinds);
    let created: BTreeSet<&str> =
        commands.iter().filter(|c| c.kind == kinds.0 && c.committed()).map(|c| c.name.as_str()).collect();
    let mut present = Vec::new();
    let mut deleted = Vec::new();
    for (name, state) in states {
        if state.uncertain || !created.contains(name.as_str()) {
            continue;
        }
        if state.present {
            present.push(name);
        } else {
            deleted.push(name);
        }
    }
    (present, deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(kind: CommandKind, name: &str, outcome: Outcome) -> CommandRecord {
        CommandRecord {
            kind,
            name: name.into(),
            idempotency_key: None,
            group_servers: None,
            outcome,
            attempts: 1,
            at: 0.0,
        }
    }

    const OK: Outcome = Outcome::Acked { status: 200 };

    #[test]
    fn a_tenant_is_as_its_last_acknowledged_suspend_or_resume_says() {
        let lost = Outcome::Unknown { last: "503".into() };
        let commands = [
            command(CommandKind::CreateTenant, "a", Outcome::Acked { status: 201 }),
            command(CommandKind::CreateTenant, "b", Outcome::AckedEarlier { status: 409 }),
            command(CommandKind::CreateTenant, "c", OK),
            command(CommandKind::CreateTenant, "d", OK),
            command(CommandKind::CreateTenant, "e", Outcome::Refused { status: 400 }),
            command(CommandKind::SuspendTenant, "a", OK),
            command(CommandKind::SuspendTenant, "b", OK),
            command(CommandKind::ResumeTenant, "b", OK),
            command(CommandKind::SuspendTenant, "c", OK),
            command(CommandKind::ResumeTenant, "c", Outcome::Refused { status: 409 }),
            command(CommandKind::SuspendTenant, "d", lost),
            // Another kind on a tenant's name is not the tenant's.
            command(CommandKind::DeleteClient, "a", OK),
        ];
        let (active, suspended) = tenants_active_and_suspended(&commands);
        assert_eq!(active, ["b"]);
        assert_eq!(suspended, ["a", "c"]);
        let states = tenant_states(&commands);
        assert!(states["d"].uncertain);
        assert!(!states["e"].created);
    }

    #[test]
    fn users_deleted_are_told_from_users_present() {
        let commands = [
            command(CommandKind::CreateUser, "kept", Outcome::Acked { status: 201 }),
            command(CommandKind::CreateUser, "gone", Outcome::Acked { status: 201 }),
            command(CommandKind::CreateUser, "unsure", Outcome::Acked { status: 201 }),
            command(CommandKind::DeleteUser, "gone", Outcome::AckedEarlier { status: 404 }),
            command(CommandKind::DeleteUser, "unsure", Outcome::Unknown { last: "timeout".into() }),
            command(CommandKind::DeleteClient, "kept", Outcome::Acked { status: 204 }),
        ];
        assert_eq!(users_present_and_deleted(&commands), (vec!["kept".to_string()], vec!["gone".to_string()]));
    }

    #[test]
    fn only_the_documented_401_is_a_refusal() {
        let public = "http://127.0.0.1:4000";
        let reply = |status, challenge: Option<&str>| InitializeReply {
            status,
            www_authenticate: challenge.map(String::from),
            body: String::new(),
        };
        let documented = "Bearer error=\"invalid_token\", error_description=\"the token is not valid\", \
            resource_metadata=\"http://127.0.0.1:4000/.well-known/oauth-protected-resource/mcp\"";
        assert!(refused_as_documented(&reply(401, Some(documented)), public));
        assert!(!refused_as_documented(&reply(403, Some(documented)), public), "not a 401");
        assert!(!refused_as_documented(&reply(401, None), public), "no challenge");
        let no_error = "Bearer resource_metadata=\"http://127.0.0.1:4000/.well-known/oauth-protected-resource/mcp\"";
        assert!(!refused_as_documented(&reply(401, Some(no_error)), public), "a missing token's, not a refused one's");
        let other_endpoint = documented.replace("resource/mcp", "resource/servers/fx/mcp");
        assert!(!refused_as_documented(&reply(401, Some(&other_endpoint)), public), "another endpoint's metadata");
        let edge_url = documented.replace("4000", "4001");
        assert!(!refused_as_documented(&reply(401, Some(&edge_url)), public), "not the public URL");
    }
}

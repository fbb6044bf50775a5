//! `/api/v0/servers`: register (MCPJungle's JSON), list, get, deregister.

use crate::error::{from_execute, ApiError};
use crate::input;
use crate::openapi::{BadRequest, Conflict, Forbidden, IdempotencyKey, InternalError, NotFound, ServerNameParam};
use crate::principal::Principal;
use crate::ApiState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use bytes::Bytes;
use canopy_api_types::{ErrorCode, RegisterServerRequest, ServerView};
use canopy_domain::server::{Server, ServerCommand, ServerError, SessionMode, Transport, UpstreamSpec};
use canopy_domain::{ServerId, ServerName, TenantId};
use canopy_policy::{Action, Target};
use canopy_readmodels::ServerRow;
use canopy_secrets::{SealContext, Sealer};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegisterQuery {
    /// Replace an existing registration of the same name (as `"force": true` in the body).
    #[serde(default)]
    force: bool,
}

/// The largest registration accepted: its event must travel on the bus whole (NATS's default
/// `max_payload` is 1 MiB), so every worker's discovery hears of it; no real upstream's
/// command, arguments, headers and environment come near this.
pub const REGISTRATION_MAX_BYTES: usize = 256 * 1024;

/// Register an upstream MCP server
///
/// Takes MCPJungle's registration JSON. Secrets (bearer token, header and env values) are
/// sealed before they are stored and never shown again. Answers once the session-worker has
/// discovered the server's catalog, or with `status: pending` if that takes longer than the
/// configured wait.
#[utoipa::path(
    post,
    path = "/api/v0/servers",
    tag = "servers",
    operation_id = "register_server",
    params(RegisterQuery, IdempotencyKey),
    request_body = RegisterServerRequest,
    responses(
        (status = 201, description = "Registered.", body = ServerView),
        (status = 200, description = "A replay of an earlier request with the same `Idempotency-Key`.", body = ServerView),
        (status = 400, response = BadRequest),
        (status = 409, response = Conflict),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn register(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<input::Query<RegisterQuery>, ApiError>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let input::Query(query) = query?;
    principal.require_manage_tenant()?;
    if body.len() > REGISTRATION_MAX_BYTES {
        return Err(ApiError::invalid(format!(
            "request body: a registration is at most {REGISTRATION_MAX_BYTES} bytes, this one is {}",
            body.len()
        )));
    }
    let request: RegisterServerRequest = input::parse_json(&body, "request body is not a valid server registration")?;
    let idempotency_key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let ctx = principal.context(idempotency_key, &body);
    let force = request.force || query.force;
    let (replayed, row) = register_server(&state, &principal.tenant, &request, force, &ctx, false).await?;
    let status = if replayed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(view(&row))))
}

/// Registers `request` in `tenant` under `ctx` and waits for its discovery: the one path of
/// REST `POST /api/v0/servers` and of servers found over mDNS (`federation.rs`). With
/// `disabled`, the registration and its disabling commit in one transaction, so nothing of the
/// server is callable, and nothing contacts its upstream, before an admin enables it (its
/// discovery runs then): there is no discovery to wait for. Returns whether it was a replay,
/// and the row.
pub(crate) async fn register_server(
    state: &ApiState,
    tenant: &TenantId,
    request: &RegisterServerRequest,
    force: bool,
    ctx: &canopy_eventstore::CommandContext,
    disabled: bool,
) -> Result<(bool, ServerRow), ApiError> {
    let name = ServerName::parse(request.name.clone()).map_err(|e| ApiError::invalid(e.to_string()))?;
    let spec = build_spec(&state.sealer, tenant, &name, request)?;
    let id = ServerId(uuid::Uuid::now_v7());
    let command = ServerCommand::Register { id, name: name.clone(), spec, force };
    // Listening before the registration is recorded, so its discovery's event cannot be missed.
    let key = canopy_eventstore::StreamKey::of::<Server>(tenant, name.as_str());
    let events = state.bus.client.subscribe(state.bus.subjects.event(&key.subject())).await.ok();
    let outcome = if disabled {
        register_disabled(state.pool(), &state.executor, ctx, &name, &command).await
    } else {
        state.executor.execute::<Server>(ctx, name.as_str(), &command).await
    }
    .map_err(|e| from_execute(e, domain_error))?;
    let registered_id = outcome.state.registered().map(|r| r.id).unwrap_or(id);
    let row = wait_for_discovery(state, tenant, &name, registered_id, events).await?;
    Ok((outcome.replayed, row))
}

/// `register` then `SetServerEnabled { enabled: false }` in one transaction (tried again in a
/// new one when another writer got there first): a server registered pending approval, whose
/// registration event is never seen enabled (so the session-worker's discovery does not
/// contact it until it is enabled). Public for the end-to-end tests, which register a server
/// exactly as federation does.
pub async fn register_disabled(
    pool: &sqlx::PgPool,
    executor: &canopy_eventstore::CommandExecutor<canopy_readmodels::CanopyProjector>,
    ctx: &canopy_eventstore::CommandContext,
    name: &ServerName,
    register: &ServerCommand,
) -> Result<canopy_eventstore::Outcome<Server>, canopy_eventstore::ExecuteError<ServerError>> {
    let mut attempt = 0;
    loop {
        let mut tx = pool.begin().await?;
        let result = match executor.execute_in::<Server>(&mut tx, ctx, name.as_str(), register, None).await {
            Ok(registered) => {
                let known = Some((registered.state, registered.version));
                let disable = ServerCommand::SetServerEnabled { enabled: false };
                executor.execute_in::<Server>(&mut tx, ctx, name.as_str(), &disable, known).await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(outcome) => {
                tx.commit().await?;
                return Ok(outcome);
            }
            Err(canopy_eventstore::ExecuteError::Contention(_)) if attempt < 5 => {
                tx.rollback().await?;
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// How often the read model is looked at meanwhile when no event says it changed: the event
/// may not come (NATS away), and nothing is lost but time.
const DISCOVERY_LOOK_EVERY: Duration = Duration::from_millis(250);
/// How often it is looked at when nothing can be heard from the bus at all.
const DISCOVERY_POLL_EVERY: Duration = Duration::from_millis(20);

/// Waits until the session-worker reported on this registration, so that a client which
/// registers and then lists tools sees them (as with MCPJungle). Answers with status
/// `pending` if the worker takes longer than the configured wait. `events` (the server's
/// stream on the bus, subscribed to before the registration): each event of the stream (the
/// catalog recorded, the discovery failed) is the moment to read the row again, instead of
/// reading it every few milliseconds.
async fn wait_for_discovery(
    state: &ApiState,
    tenant: &TenantId,
    name: &ServerName,
    id: ServerId,
    mut events: Option<async_nats::Subscriber>,
) -> Result<ServerRow, ApiError> {
    use futures::StreamExt;
    let deadline = Instant::now() + state.discovery_wait;
    loop {
        let row = canopy_readmodels::get_server(state.pool(), tenant, name.as_str()).await?;
        let Some(row) = row else {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("server '{name}' was deregistered while registering"),
            ));
        };
        // A disabled server is not discovered until it is enabled: nothing to wait for.
        if row.server_id != id.0 || row.status != "pending" || !row.enabled || Instant::now() >= deadline {
            return Ok(row);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match events.as_mut() {
            // An event, or a look after a while; a subscription that ended leaves polling.
            Some(subscription) => {
                if let Ok(None) = tokio::time::timeout(DISCOVERY_LOOK_EVERY.min(left), subscription.next()).await {
                    events = None;
                }
            }
            None => tokio::time::sleep(DISCOVERY_POLL_EVERY.min(left)).await,
        }
    }
}

/// The answer for a server name that is unknown, or that the caller may not see.
pub(crate) fn server_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("server '{name}' is not registered"))
}

/// List registered servers
///
/// The servers the caller may see (an MCP client: those its allow list names).
#[utoipa::path(
    get,
    path = "/api/v0/servers",
    tag = "servers",
    operation_id = "list_servers",
    responses(
        (status = 200, description = "Every server of the tenant.", body = [ServerView]),
        (status = 500, response = InternalError),
    ),
)]
pub async fn list(State(state): State<ApiState>, principal: Principal) -> Result<Json<Vec<ServerView>>, ApiError> {
    let mut rows = canopy_readmodels::list_servers(state.pool(), &principal.tenant).await?;
    principal.retain(&mut rows, |r| Target::server(&r.name));
    Ok(Json(rows.iter().map(view).collect()))
}

/// Get one server
#[utoipa::path(
    get,
    path = "/api/v0/servers/{name}",
    tag = "servers",
    operation_id = "get_server",
    params(ServerNameParam),
    responses(
        (status = 200, description = "The server.", body = ServerView),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
    ),
)]
pub async fn get(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(name): input::Path<String>,
) -> Result<Json<ServerView>, ApiError> {
    principal.require(Action::Discover, Target::server(&name), || server_not_found(&name))?;
    match canopy_readmodels::get_server(state.pool(), &principal.tenant, &name).await? {
        Some(row) => Ok(Json(view(&row))),
        None => Err(server_not_found(&name)),
    }
}

/// Deregister a server
///
/// Its tools, prompts and resources disappear from every endpoint and group.
#[utoipa::path(
    delete,
    path = "/api/v0/servers/{name}",
    tag = "servers",
    operation_id = "deregister_server",
    params(ServerNameParam, IdempotencyKey),
    responses(
        (status = 204, description = "Deregistered."),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn deregister(
    State(state): State<ApiState>,
    principal: Principal,
    input::Path(name): input::Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    principal.require(Action::Manage, Target::server(&name), || server_not_found(&name))?;
    let name = ServerName::parse(name).map_err(|e| ApiError::invalid(e.to_string()))?;
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let ctx = principal.context(key, format!("DELETE {name}").as_bytes());
    state.executor.execute::<Server>(&ctx, name.as_str(), &ServerCommand::Deregister).await.map_err(|e| {
        from_execute(e, |e| match e {
            ServerError::NotRegistered => server_not_found(name.as_str()),
            other => domain_error(other),
        })
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// A `?server=` filter of a list route must name a registered server the caller may see: a
/// typo is a 404, not an empty list. `any_listed` says whether the filtered list kept anything:
/// a client allowed only some of a server's items (single tools, group members) may filter by
/// it, since what it sees already shows the server exists; otherwise a server it may not see is
/// answered as an unknown one.
pub(crate) async fn require_filter(
    state: &ApiState,
    principal: &Principal,
    server: Option<&str>,
    any_listed: bool,
) -> Result<(), ApiError> {
    let Some(server) = server else { return Ok(()) };
    if !any_listed && !principal.may_discover(Target::server(server)) {
        return Err(server_not_found(server));
    }
    if canopy_readmodels::get_server(state.pool(), &principal.tenant, server).await?.is_none() {
        return Err(server_not_found(server));
    }
    Ok(())
}

pub(crate) fn domain_error(e: ServerError) -> ApiError {
    match e {
        ServerError::AlreadyRegistered(_) | ServerError::Builtin(_) | ServerError::ReservedName(_) => {
            ApiError::new(ErrorCode::Conflict, e.to_string())
        }
        ServerError::NotRegistered | ServerError::UnknownFeatures { .. } => ApiError::not_found(e.to_string()),
        ServerError::InvalidSpec(_) => ApiError::invalid(e.to_string()),
    }
}

/// Turns the request into a spec, inferring the transport as MCPJungle does and sealing every
/// secret value before it goes anywhere near the event log.
fn build_spec(
    sealer: &Sealer,
    tenant: &TenantId,
    name: &ServerName,
    r: &RegisterServerRequest,
) -> Result<UpstreamSpec, ApiError> {
    let transport = match r.transport.as_deref() {
        Some("streamable_http") | Some("http") => Transport::StreamableHttp,
        Some("stdio") => Transport::Stdio,
        Some("sse") => Transport::Sse,
        // Refused by the domain, which says why.
        Some("builtin") => Transport::Builtin,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "transport '{other}' is not supported; use streamable_http, stdio or sse"
            )))
        }
        None if r.command.is_some() => Transport::Stdio,
        None => Transport::StreamableHttp,
    };
    let session_mode = match r.session_mode.as_deref() {
        None | Some("stateless") => SessionMode::Stateless,
        Some("stateful") => SessionMode::Stateful,
        Some(other) => return Err(ApiError::invalid(format!("session_mode '{other}' must be stateless or stateful"))),
    };
    let seal = |field: &str, value: &str| {
        sealer.seal(SealContext { tenant: tenant.as_str(), server: name.as_str(), field }, value)
    };
    Ok(UpstreamSpec {
        transport,
        description: r.description.clone(),
        url: r.url.clone(),
        bearer_token: r.bearer_token.as_deref().filter(|t| !t.is_empty()).map(|t| seal("bearer_token", t)),
        headers: r.headers.iter().map(|(k, v)| (k.clone(), seal(&format!("header:{k}"), v))).collect(),
        command: r.command.clone(),
        args: r.args.clone(),
        env: r.env.iter().map(|(k, v)| (k.clone(), seal(&format!("env:{k}"), v))).collect(),
        session_mode,
    })
}

const REDACTED: &str = "***";

fn redact<V>(map: &BTreeMap<String, V>) -> BTreeMap<String, String> {
    map.keys().map(|k| (k.clone(), REDACTED.to_string())).collect()
}

pub(crate) fn view(row: &ServerRow) -> ServerView {
    let spec = &row.spec;
    ServerView {
        name: row.name.clone(),
        id: row.server_id.to_string(),
        transport: row.transport.clone(),
        description: row.description.clone(),
        url: spec.url.clone(),
        bearer_token: spec.bearer_token.as_ref().map(|_| REDACTED.to_string()),
        headers: redact(&spec.headers),
        command: spec.command.clone(),
        args: spec.args.clone(),
        env: redact(&spec.env),
        session_mode: match spec.session_mode {
            SessionMode::Stateless => "stateless".into(),
            SessionMode::Stateful => "stateful".into(),
        },
        status: row.status.clone(),
        status_error: row.status_error.clone(),
        enabled: row.enabled,
        tool_count: row.tool_count as usize,
        registered_at: row.registered_at.to_rfc3339(),
        updated_at: row.updated_at.to_rfc3339(),
    }
}

//! The audit log of a tenant: `GET /api/v0/audit` (and `canopy audit`), for its owners and
//! admins (`Manage` of the tenant; members and MCP clients: 403).
//!
//! Two kinds of entries, newest first:
//! - `admin`: every change, which is an event in the event log with its tenant and actor. An
//!   entry shows who (`metadata.actor`), what (event type, aggregate type and id, and for a few
//!   event types a summary built in SQL from named fields that hold no secret) and when; never
//!   the payload, which can hold sealed secrets.
//! - `call`: every tool call, prompt get, resource read, completion and subscription a
//!   session-worker ran. Workers publish a [`CallRecord`] on the JetStream LOGS stream
//!   (`PREFIX.logs.toolcalls.TENANT`, a core publish after the reply has gone, so a call never
//!   waits on its record; records queued together leave as one message per tenant,
//!   [`CallRecords`], `canopy_bus::calls::record`); [`run_audit_consumer`] (the durable consumer `api-audit`, shared by
//!   the api replicas) keeps them in `audit_calls` in batches, `ON CONFLICT (call_id) DO
//!   NOTHING`, then acks: once per call id, so a redelivered record changes nothing. An entry
//!   has the call id, the caller's subject, server, name, the SHA-256 of the canonical arguments
//!   JSON (`canopy_mcp::call::canonical_json`: keys sorted, no whitespace; never the arguments),
//!   the outcome (`ok`, `tool_error`, `error` with its code) and the latency.
//!
//!   Calls refused before any worker saw them are records too (`CallRecord::refused` with a
//!   `Refusal`, published by the admission on every path, `canopy_admission::settle`/`record`:
//!   `NOT_FOUND`, `FORBIDDEN`, `INSUFFICIENT_SCOPE`, `RATE_LIMITED`, latency 0; and
//!   `PAYLOAD_TOO_LARGE` by the bus for a call too large to send).
//!
//! The tenant is the principal's, in every branch of the one query; no parameter names one.
//! Filters (kind, actor, server, name, outcome, since, until) are bound parameters.
//! Paging is by keyset: entries are ordered by (time, kind, sequence), and the opaque cursor is
//! the last entry's key, so a page never repeats an entry nor skips one that existed when the
//! previous page was read, whatever is inserted meanwhile. A call that found no worker running
//! is not recorded.

use crate::error::ApiError;
use crate::input;
use crate::openapi::{BadRequest, Forbidden, InternalError};
use crate::principal::Principal;
use crate::ApiState;
use axum::extract::State;
use axum::Json;
use base64::Engine;
use canopy_bus::{Batching, Delivery, Handling, Outcome};
use canopy_mcp::call::{CallRecord, CallRecords};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use utoipa::{IntoParams, ToSchema};

/// Entries per page when the request says nothing.
pub const DEFAULT_LIMIT: u32 = 50;
/// The most entries one page can have.
pub const MAX_LIMIT: u32 = 500;

/// Which entries: `call` (tool calls, prompt gets, resource reads, ...) or `admin` (changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    Call,
    Admin,
}

/// `ok`; `tool_error` (the tool answered with `isError: true`); `error` (no result: the
/// upstream failed, timed out, was unreachable, or the call was cancelled; see `error_code`).
/// Admin entries are always `ok`: a refused change leaves no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Ok,
    ToolError,
    Error,
}

/// One audit entry: a call or an admin action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub kind: AuditKind,
    /// When (RFC 3339, UTC, microseconds): when an admin action was recorded, when a call ended.
    pub at: String,
    /// The tenant: always the caller's own.
    pub tenant: String,
    /// Who: `user:NAME`, `client:NAME`, `user:dev` (development mode), `service:session-worker`
    /// (catalog discovery), `system`.
    pub actor: String,
    pub outcome: AuditOutcome,
    /// Calls: the call's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// Calls: the server called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Calls: `tools/call`, `prompts/get`, `resources/read`, `completion/complete`, `resources/subscribe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Calls: the tool or prompt name, or the resource URI, in the server's own names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Calls: lowercase hex SHA-256 of the arguments as canonical JSON (keys sorted, no
    /// whitespace; no arguments count as `{}`); absent for reads. Never the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments_sha256: Option<String>,
    /// Calls with outcome `error`: `UPSTREAM_ERROR`, `UPSTREAM_UNAVAILABLE`, `TIMEOUT`, `CANCELLED`, `NOT_FOUND`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Calls: how long the worker took, in milliseconds (microsecond precision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Admin actions: the event's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Admin actions: what happened, e.g. `server.registered`, `user.created`, `group.updated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// Admin actions: the kind of thing changed: `server`, `group`, `user`, `mcp_client`, `tenant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate_type: Option<String>,
    /// Admin actions: which one (its name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate_id: Option<String>,
    /// Admin actions, some: what changed, from fields that hold no secret: `enabled` /
    /// `disabled` (a server), `tool add,sub disabled` (items of a server), `role admin` (a
    /// user), `transport stdio` (a registration). Nothing else of the change is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// One page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only `call` or only `admin` entries.
    #[param(value_type = Option<AuditKind>)]
    kind: Option<String>,
    /// Only this actor's entries, e.g. `user:alice`, `client:cursor`.
    actor: Option<String>,
    /// Only calls to this server, and admin actions on it.
    server: Option<String>,
    /// Only calls of this tool or prompt (the server's own name, e.g. `add`) or resource URI;
    /// admin entries have none.
    name: Option<String>,
    /// The same as `name`.
    tool: Option<String>,
    /// Only entries with this outcome (`admin` entries are `ok`).
    #[param(value_type = Option<AuditOutcome>)]
    outcome: Option<String>,
    /// Only entries at or after this time (RFC 3339, e.g. `2026-01-31T00:00:00Z`).
    since: Option<String>,
    /// Only entries before this time (RFC 3339).
    until: Option<String>,
    /// Entries per page: 1 to 500, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// `next_cursor` of the previous page, unchanged.
    cursor: Option<String>,
}

/// The query, checked: what the SQL binds.
#[derive(Debug, Default, PartialEq)]
struct Filter {
    admin: bool,
    calls: bool,
    actor: Option<String>,
    server: Option<String>,
    name: Option<String>,
    outcome: Option<&'static str>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    limit: u32,
    after: Option<Cursor>,
}

impl Filter {
    fn parse(q: AuditQuery) -> Result<Filter, ApiError> {
        let text = |field: &str, v: Option<String>| match v {
            Some(v) if v.trim().is_empty() => Err(ApiError::invalid(format!("`{field}` is empty"))),
            v => Ok(v),
        };
        let (admin, calls) = match text("kind", q.kind)?.as_deref() {
            None => (true, true),
            Some("call") => (false, true),
            Some("admin") => (true, false),
            Some(other) => return Err(ApiError::invalid(format!("`kind` is `call` or `admin`, not `{other}`"))),
        };
        let name = match (text("name", q.name)?, text("tool", q.tool)?) {
            (Some(a), Some(b)) if a != b => {
                return Err(ApiError::invalid("`name` and `tool` are the same filter; give one"));
            }
            (a, b) => a.or(b),
        };
        let outcome = match text("outcome", q.outcome)?.as_deref() {
            None => None,
            Some("ok") => Some(CallRecord::OK),
            Some("tool_error") => Some(CallRecord::TOOL_ERROR),
            Some("error") => Some(CallRecord::ERROR),
            Some(other) => {
                return Err(ApiError::invalid(format!("`outcome` is `ok`, `tool_error` or `error`, not `{other}`")))
            }
        };
        let time = |field: &str, v: Option<String>| -> Result<Option<DateTime<Utc>>, ApiError> {
            text(field, v)?
                .map(|v| {
                    DateTime::parse_from_rfc3339(v.trim()).map(|t| t.with_timezone(&Utc)).map_err(|e| {
                        ApiError::invalid(format!(
                            "`{field}` is not an RFC 3339 time like 2026-01-31T08:00:00Z: `{v}` ({e})"
                        ))
                    })
                })
                .transpose()
        };
        let since = time("since", q.since)?;
        let until = time("until", q.until)?;
        if let (Some(since), Some(until)) = (since, until) {
            if since >= until {
                return Err(ApiError::invalid("`since` must be before `until`"));
            }
        }
        let limit = match text("limit", q.limit)? {
            None => DEFAULT_LIMIT,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => return Err(ApiError::invalid(format!("`limit` is a number from 1 to {MAX_LIMIT}, not `{v}`"))),
            },
        };
        let after = text("cursor", q.cursor)?.map(|c| Cursor::decode(&c)).transpose()?;
        Ok(Filter {
            admin,
            calls,
            actor: text("actor", q.actor)?,
            server: text("server", q.server)?,
            name,
            outcome,
            since,
            until,
            limit,
            after,
        })
    }
}

/// Where a page ends: the key of its last entry. Entries are ordered by (at, source, seq)
/// descending; `source` 0 is the event log (seq: `global_position`), 1 the call records (seq:
/// their `position`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cursor {
    at_micros: i64,
    source: i16,
    seq: i64,
}

impl Cursor {
    const VERSION: &'static str = "a1";

    fn encode(&self) -> String {
        let text = format!("{}.{}.{}.{}", Self::VERSION, self.at_micros, self.source, self.seq);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    fn decode(cursor: &str) -> Result<Cursor, ApiError> {
        let bad = || ApiError::invalid("`cursor` is not valid: pass the `next_cursor` of a previous page, unchanged");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = text.split('.');
        let (Some(Self::VERSION), Some(at), Some(source), Some(seq), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let cursor = Cursor {
            at_micros: at.parse().map_err(|_| bad())?,
            source: source.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        };
        // Times from 1970 to 9999 (what Postgres and RFC 3339 both hold); sequences are positive.
        const LATEST: i64 = 253_402_300_799_999_999;
        if !(0..=1).contains(&cursor.source) || cursor.seq < 0 || !(0..=LATEST).contains(&cursor.at_micros) {
            return Err(bad());
        }
        Ok(cursor)
    }

    fn at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.at_micros)
    }
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    source: i16,
    seq: i64,
    at: DateTime<Utc>,
    actor: String,
    id: String,
    outcome: String,
    event_type: Option<String>,
    aggregate_type: Option<String>,
    aggregate_id: Option<String>,
    summary: Option<String>,
    server: Option<String>,
    method: Option<String>,
    name: Option<String>,
    arguments_sha256: Option<String>,
    error_code: Option<String>,
    latency_us: Option<i64>,
}

// Both branches filter by the tenant ($1) first; each is ordered and limited on its own index,
// then merged. `(at, source, seq) < cursor` is the keyset condition.
const QUERY: &str = r#"
WITH admin AS (
    SELECT 0::smallint AS source, e.global_position AS seq, e.recorded_at AS at,
           coalesce(e.metadata->>'actor', '') AS actor, e.event_id::text AS id, 'ok'::text AS outcome,
           e.event_type AS event_type, e.aggregate_type AS aggregate_type, e.aggregate_id AS aggregate_id,
           CASE e.event_type
               WHEN 'server.toggled' THEN CASE WHEN e.payload->'enabled' = 'true' THEN 'enabled' ELSE 'disabled' END
               WHEN 'server.features_toggled' THEN concat_ws(' ', e.payload->>'kind',
                   (SELECT string_agg(n, ',') FROM jsonb_array_elements_text(
                       CASE WHEN jsonb_typeof(e.payload->'names') = 'array' THEN e.payload->'names' ELSE '[]' END) n),
                   CASE WHEN e.payload->'enabled' = 'true' THEN 'enabled' ELSE 'disabled' END)
               WHEN 'server.registered' THEN 'transport ' || (e.payload->'spec'->>'transport')
               WHEN 'server.replaced' THEN 'transport ' || (e.payload->'spec'->>'transport')
               WHEN 'user.created' THEN 'role ' || (e.payload->>'role')
               WHEN 'user.role_changed' THEN 'role ' || (e.payload->>'role')
               WHEN 'tenant.identity_provider_set' THEN 'issuer ' || (e.payload->>'issuer')
           END AS summary,
           NULL::text AS server, NULL::text AS method, NULL::text AS name, NULL::text AS arguments_sha256,
           NULL::text AS error_code, NULL::bigint AS latency_us
    FROM events e
    WHERE e.tenant_id = $1 AND $2::boolean
      AND ($4::text IS NULL OR e.metadata->>'actor' = $4)
      AND ($5::text IS NULL OR (e.aggregate_type = 'server' AND e.aggregate_id = $5))
      AND $6::text IS NULL
      AND ($7::text IS NULL OR $7::text = 'ok')
      AND ($8::timestamptz IS NULL OR e.recorded_at >= $8)
      AND ($9::timestamptz IS NULL OR e.recorded_at < $9)
      AND ($10::timestamptz IS NULL OR (e.recorded_at, 0::smallint, e.global_position) < ($10, $11::smallint, $12::bigint))
    ORDER BY e.recorded_at DESC, e.global_position DESC
    LIMIT $13
), calls AS (
    SELECT 1::smallint AS source, c.position AS seq, c.at AS at,
           c.principal AS actor, c.call_id AS id, c.outcome AS outcome,
           NULL::text AS event_type, NULL::text AS aggregate_type, NULL::text AS aggregate_id,
           NULL::text AS summary, c.server AS server, c.method AS method, c.name AS name, c.arguments_sha256 AS arguments_sha256,
           c.error_code AS error_code, c.latency_us AS latency_us
    FROM audit_calls c
    WHERE c.tenant_id = $1 AND $3::boolean
      AND ($4::text IS NULL OR c.principal = $4)
      AND ($5::text IS NULL OR c.server = $5)
      AND ($6::text IS NULL OR c.name = $6)
      AND ($7::text IS NULL OR c.outcome = $7)
      AND ($8::timestamptz IS NULL OR c.at >= $8)
      AND ($9::timestamptz IS NULL OR c.at < $9)
      AND ($10::timestamptz IS NULL OR (c.at, 1::smallint, c.position) < ($10, $11::smallint, $12::bigint))
    ORDER BY c.at DESC, c.position DESC
    LIMIT $13
)
SELECT * FROM (SELECT * FROM admin UNION ALL SELECT * FROM calls) entries
ORDER BY at DESC, source DESC, seq DESC
LIMIT $13
"#;

/// Audit log
///
/// The caller's tenant's admin actions (every change, with its actor; never the change's
/// payload) and calls (tool calls, prompt gets, resource reads, ...: caller, server, name,
/// SHA-256 of the arguments, outcome, latency), newest first, filtered, a page at a time.
/// Owners and admins only. Follow `next_cursor` for older entries; paging never repeats an
/// entry, whatever is recorded meanwhile.
#[utoipa::path(
    get,
    path = "/api/v0/audit",
    tag = "audit",
    operation_id = "list_audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "One page of entries, newest first.", body = AuditPage),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalError),
    ),
)]
pub async fn list(
    State(state): State<ApiState>,
    principal: Principal,
    query: Result<input::Query<AuditQuery>, ApiError>,
) -> Result<Json<AuditPage>, ApiError> {
    principal.require_manage_tenant()?;
    let input::Query(query) = query?;
    let filter = Filter::parse(query)?;
    let fetch = i64::from(filter.limit) + 1;
    let mut rows: Vec<Row> = sqlx::query_as(QUERY)
        .bind(principal.tenant.as_str())
        .bind(filter.admin)
        .bind(filter.calls)
        .bind(&filter.actor)
        .bind(&filter.server)
        .bind(&filter.name)
        .bind(filter.outcome)
        .bind(filter.since)
        .bind(filter.until)
        .bind(filter.after.and_then(|c| c.at()))
        .bind(filter.after.map(|c| c.source))
        .bind(filter.after.map(|c| c.seq))
        .bind(fetch)
        .fetch_all(state.pool())
        .await?;
    let next_cursor = if rows.len() > filter.limit as usize {
        rows.truncate(filter.limit as usize);
        rows.last().map(|r| Cursor { at_micros: r.at.timestamp_micros(), source: r.source, seq: r.seq }.encode())
    } else {
        None
    };
    let tenant = principal.tenant.as_str();
    Ok(Json(AuditPage { entries: rows.into_iter().map(|r| entry(tenant, r)).collect(), next_cursor }))
}

fn entry(tenant: &str, r: Row) -> AuditEntry {
    let outcome = match r.outcome.as_str() {
        "ok" => AuditOutcome::Ok,
        "tool_error" => AuditOutcome::ToolError,
        _ => AuditOutcome::Error,
    };
    let call = r.source == 1;
    AuditEntry {
        kind: if call { AuditKind::Call } else { AuditKind::Admin },
        at: r.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        tenant: tenant.to_string(),
        actor: r.actor,
        outcome,
        call_id: call.then(|| r.id.clone()),
        server: r.server,
        method: r.method,
        name: r.name,
        arguments_sha256: r.arguments_sha256,
        error_code: r.error_code,
        latency_ms: r.latency_us.map(|us| us as f64 / 1000.0),
        event_id: (!call).then_some(r.id),
        event_type: r.event_type,
        aggregate_type: r.aggregate_type,
        aggregate_id: r.aggregate_id,
        summary: r.summary,
    }
}

// ---------------------------------------------------------------------------------------------
// Keeping call records

/// Durable consumer name on the LOGS stream (shared by every api replica: each record is kept
/// by one of them).
pub const AUDIT_CONSUMER: &str = "api-audit";
/// Records taken from the stream at once, kept in one insert.
const BATCH: usize = 256;
/// How long a batch waits for more records after its first: under load one insert (and one
/// database round trip) serves many calls instead of one each; an entry shows in the log at
/// most this much later.
const LINGER: Duration = Duration::from_millis(50);

/// Keeps the call records of the LOGS stream in `audit_calls`: a batch of whatever has arrived
/// in one insert, then the acks (the consumer loop's batches, [`canopy_bus::Durable::run_batches`]).
/// A record already kept (a redelivery: the ack was lost) is skipped by its call id; a malformed
/// one is dropped (`Term`) and logged by the loop; when the database fails, the batch is
/// retried. A record whose tenant is not the one its subject names is dropped too.
pub async fn run_audit_consumer(state: ApiState, shutdown: CancellationToken) {
    let bus = state.bus.clone();
    let consumer = canopy_bus::Durable {
        stream: bus.subjects.logs_stream(),
        name: AUDIT_CONSUMER,
        filter_subject: bus.subjects.log("toolcalls", "*"),
        ack_wait: Duration::from_secs(30),
        max_ack_pending: 4 * BATCH as i64,
    };
    let batching = Batching { max: BATCH, linger: LINGER };
    consumer
        .run_batches(&bus, shutdown, Handling::default(), batching, move |batch: Vec<(CallRecords, Delivery)>| {
            let pool = state.pool().clone();
            async move { keep_messages(&pool, batch).await }
        })
        .await
}

/// Keeps the records of a batch of messages (each one record or several,
/// [`canopy_mcp::call::CallRecords`]): a message is acked once all its records are kept, and
/// takes the outcome of the one that fared worst otherwise (retried, then dropped).
async fn keep_messages(pool: &sqlx::PgPool, batch: Vec<(CallRecords, Delivery)>) -> Vec<Outcome> {
    let mut of_message = Vec::new();
    let mut records = Vec::new();
    for (i, (message, delivery)) in batch.into_iter().enumerate() {
        for record in message.into_vec() {
            of_message.push(i);
            records.push((record, delivery.clone()));
        }
    }
    let messages = of_message.last().map_or(0, |last| last + 1);
    let mut outcomes = vec![Outcome::Ack; messages];
    for (i, outcome) in of_message.into_iter().zip(keep(pool, records).await) {
        outcomes[i] = worse(outcomes[i], outcome);
    }
    outcomes
}

/// Of two records' outcomes, the one their message takes: a retry over a drop over an ack.
fn worse(a: Outcome, b: Outcome) -> Outcome {
    match (a, b) {
        (Outcome::Nak(x), _) | (_, Outcome::Nak(x)) => Outcome::Nak(x),
        (Outcome::Term, _) | (_, Outcome::Term) => Outcome::Term,
        _ => Outcome::Ack,
    }
}

/// Keeps a batch of call records: the outcome of each, in order.
async fn keep(pool: &sqlx::PgPool, batch: Vec<(CallRecord, Delivery)>) -> Vec<Outcome> {
    let mut outcomes = vec![Outcome::Term; batch.len()];
    let mut at = Vec::with_capacity(batch.len());
    let mut records = Vec::with_capacity(batch.len());
    for (i, (record, delivery)) in batch.into_iter().enumerate() {
        // A record is about the tenant its subject names (`PREFIX.logs.toolcalls.TENANT`).
        let subject_tenant = delivery.subject.as_str().rsplit('.').next().unwrap_or_default();
        if record.tenant != subject_tenant {
            tracing::error!(sequence = delivery.sequence, tenant = %record.tenant, subject = %delivery.subject, "audit consumer: dropping a call record published under another tenant's subject");
            continue;
        }
        at.push(i);
        records.push(Kept::of(record, delivery.sequence));
    }
    if records.is_empty() {
        return outcomes;
    }
    match insert(pool, &records).await {
        Ok(()) => at.iter().for_each(|&i| outcomes[i] = Outcome::Ack),
        // One record the database refuses must not hold the others back: one at a time.
        Err(_) => {
            for (&i, record) in at.iter().zip(&records) {
                outcomes[i] = match insert(pool, std::slice::from_ref(record)).await {
                    Ok(()) => Outcome::Ack,
                    Err(e) if refused(&e) => {
                        tracing::error!(error = %e, call_id = %record.call_id, "audit consumer: dropping a call record the database refuses");
                        Outcome::Term
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "audit consumer: keeping a call record failed; will retry");
                        Outcome::Nak(Duration::from_secs(1))
                    }
                };
            }
        }
    }
    outcomes
}

/// The database refuses the record itself (a data exception or a violated constraint), as it
/// would every time: retrying cannot help.
fn refused(e: &sqlx::Error) -> bool {
    let code = e.as_database_error().and_then(|d| d.code()).unwrap_or_default();
    code.starts_with("22") || code.starts_with("23")
}

/// A call record as `audit_calls` keeps it.
#[derive(Debug, Clone, PartialEq)]
struct Kept {
    call_id: String,
    tenant: String,
    principal: String,
    server: String,
    method: String,
    name: String,
    arguments_sha256: Option<String>,
    outcome: &'static str,
    error_code: Option<String>,
    latency_us: i64,
    at: DateTime<Utc>,
}

impl Kept {
    /// Records of older workers (no call id; `outcome` `result` or an error code) are kept too:
    /// their key is their stream sequence, which a redelivery keeps.
    fn of(r: CallRecord, sequence: u64) -> Kept {
        let (outcome, error_code) = match r.outcome.as_str() {
            "ok" => (CallRecord::OK, None),
            "tool_error" => (CallRecord::TOOL_ERROR, None),
            "error" => (CallRecord::ERROR, r.error_code),
            "result" if r.is_error => (CallRecord::TOOL_ERROR, None),
            "result" => (CallRecord::OK, None),
            code => (CallRecord::ERROR, r.error_code.or_else(|| Some(code.to_string()))),
        };
        let call_id = if r.call_id.is_empty() { format!("stream:{sequence}") } else { clean(r.call_id) };
        let at = DateTime::parse_from_rfc3339(&r.at).map(|t| t.with_timezone(&Utc)).unwrap_or_else(|_| Utc::now());
        Kept {
            call_id,
            tenant: clean(r.tenant),
            principal: clean(r.principal),
            server: clean(r.server),
            method: clean(r.method),
            name: clean(r.target),
            arguments_sha256: r.arguments_sha256.map(clean),
            outcome,
            error_code: error_code.map(clean),
            latency_us: i64::try_from(r.latency_us).unwrap_or(i64::MAX),
            at,
        }
    }
}

/// Text as Postgres can hold it: a NUL (which a resource URI could carry) becomes U+FFFD.
fn clean(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

async fn insert(pool: &sqlx::PgPool, records: &[Kept]) -> Result<(), sqlx::Error> {
    let column = |f: fn(&Kept) -> String| records.iter().map(f).collect::<Vec<String>>();
    sqlx::query(
        "INSERT INTO audit_calls (call_id, tenant_id, principal, server, method, name, arguments_sha256, \
                                  outcome, error_code, latency_us, at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                              $7::text[], $8::text[], $9::text[], $10::bigint[], $11::timestamptz[]) \
         ON CONFLICT (call_id) DO NOTHING",
    )
    .bind(column(|r| r.call_id.clone()))
    .bind(column(|r| r.tenant.clone()))
    .bind(column(|r| r.principal.clone()))
    .bind(column(|r| r.server.clone()))
    .bind(column(|r| r.method.clone()))
    .bind(column(|r| r.name.clone()))
    .bind(records.iter().map(|r| r.arguments_sha256.clone()).collect::<Vec<_>>())
    .bind(column(|r| r.outcome.to_string()))
    .bind(records.iter().map(|r| r.error_code.clone()).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.latency_us).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.at).collect::<Vec<_>>())
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Result<Filter, ApiError> {
        let encoded = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
        let uri: axum::http::Uri = format!("/api/v0/audit?{encoded}").parse().unwrap();
        let input::Query(q) = input::Query::<AuditQuery>::try_from_uri(&uri)?;
        Filter::parse(q)
    }

    #[test]
    fn filters_are_checked() {
        let all = query(&[]).unwrap();
        assert_eq!((all.admin, all.calls, all.limit, all.after), (true, true, DEFAULT_LIMIT, None));
        let calls = query(&[("kind", "call"), ("tool", "add"), ("outcome", "tool_error"), ("limit", "500")]).unwrap();
        assert_eq!(
            (calls.admin, calls.name.as_deref(), calls.outcome, calls.limit),
            (false, Some("add"), Some("tool_error"), 500)
        );
        let since = query(&[("since", "2026-01-31T08:00:00%2B01:00")]).unwrap().since.unwrap();
        assert_eq!(since.to_rfc3339(), "2026-01-31T07:00:00+00:00");
        for bad in [
            vec![("kind", "calls")],
            vec![("outcome", "fine")],
            vec![("limit", "0")],
            vec![("limit", "501")],
            vec![("limit", "ten")],
            vec![("since", "yesterday")],
            vec![("since", "2026-01-02T00:00:00Z"), ("until", "2026-01-01T00:00:00Z")],
            vec![("name", "a"), ("tool", "b")],
            vec![("actor", "")],
            vec![("actor", "user%00x")],
            vec![("server", "%00")],
            vec![("cursor", "nonsense")],
            vec![("cursor", &Cursor { at_micros: 1, source: 7, seq: 1 }.encode())],
            vec![("tenant", "other")],
        ] {
            let e = query(&bad).err().unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert_eq!(e.code, canopy_api_types::ErrorCode::InvalidRequest, "{bad:?}");
        }
    }

    #[test]
    fn cursors_round_trip() {
        let c = Cursor { at_micros: 1_780_000_000_123_456, source: 1, seq: 42 };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode(&c.encode()[1..]).is_err());
        for at_micros in [-1, i64::MAX] {
            assert!(Cursor::decode(&Cursor { at_micros, ..c }.encode()).is_err(), "{at_micros}");
        }
        assert!(Cursor::decode(&Cursor { at_micros: 253_402_300_799_999_999, ..c }.encode()).is_ok());
    }

    #[test]
    fn older_records_are_kept_too() {
        let record = |outcome: &str, is_error| CallRecord {
            call_id: String::new(),
            tenant: "t".into(),
            server: "s".into(),
            method: "tools/call".into(),
            target: "x".into(),
            principal: "user:dev".into(),
            outcome: outcome.into(),
            error_code: None,
            is_error,
            arguments_sha256: None,
            latency_us: 5,
            at: "bad time".into(),
        };
        let kept = Kept::of(record("result", true), 9);
        assert_eq!((kept.call_id.as_str(), kept.outcome, kept.error_code), ("stream:9", "tool_error", None));
        let kept = Kept::of(record("TIMEOUT", true), 9);
        assert_eq!((kept.outcome, kept.error_code.as_deref()), ("error", Some("TIMEOUT")));
        assert_eq!(Kept::of(record("ok", false), 1).outcome, "ok");
        let mut nul = record("ok", false);
        nul.target = "file:///a\0b".into();
        assert_eq!(Kept::of(nul, 1).name, "file:///a\u{FFFD}b");
    }
}

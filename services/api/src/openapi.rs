//! The OpenAPI 3.1 document of the REST admin API. Its operations come from the router
//! ([`crate::api_routes`], utoipa-axum: each handler's `#[utoipa::path]` annotation, registered
//! with its route); this module adds the rest: the info, the error responses and the schemas no
//! operation reaches, the tags, the bearer scheme and `/healthz`, `/readyz` (served by the
//! `canopy` binary). The checked-in copy is `openapi/canopy-api.json` (regenerate:
//! `cargo run -p canopy -- openapi > openapi/canopy-api.json`); `tests/openapi.rs` fails when
//! the two drift, or when a route of [`crate::router`] is missing from the document. Admin
//! clients are generated from the checked-in file (`scripts/generate-clients.sh`).

use canopy_api_types::{ErrorEnvelope, Health, Readiness};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoParams, Modify, OpenApi, ToResponse};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Canopy admin API",
        description = "The REST admin API of Canopy, the MCP control plane: MCPJungle's routes under \
            `/api/v0`, extended, with one error envelope everywhere \
            (`{\"ok\": false, \"error\": {\"code\": \"INVALID_REQUEST\", \"message\": \"...\"}}`). \
            Unknown routes under `/api/v0` answer 404 in the same envelope. \
            In enterprise mode every route but `init-server` needs `Authorization: Bearer <token>` \
            (a user's or an MCP client's, or the platform operator's) and answers 401 without a valid \
            one; what a token may see and do follows its holder's role or allow list. The operator \
            manages tenants (`/api/v0/tenants`) and sees nothing inside one. Development mode needs \
            no token.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(healthz, readyz),
    components(
        schemas(ErrorEnvelope),
        responses(
            BadRequest, Unauthorized, Forbidden, NotFound, Conflict, InternalError, UpstreamError, UpstreamTimeout,
            TooManyRequests, PaymentRequired, ServiceUnavailable
        ),
    ),
    tags(
        (name = "servers", description = "Upstream MCP servers: register, list, inspect, deregister, enable and disable."),
        (name = "tools", description = "Tools of every server, named `server__tool`; invoke one."),
        (name = "prompts", description = "Prompts of every server, named `server__prompt`; render one."),
        (name = "resources", description = "Resources and templates of every server, named `canopy://server/<uri>`; read one."),
        (name = "groups", description = "Groups of tools, prompts and resources, each served on its own MCP endpoint."),
        (name = "users", description = "Enterprise mode: initialize the deployment, and the users (owners, admins, members) of a tenant."),
        (name = "me", description = "Who the request's token is: principal kind and name, tenant, role, scopes, and what it may manage."),
        (name = "mcp-clients", description = "Enterprise mode: MCP client identities, each with an allow list of servers, groups and tools."),
        (name = "tenants", description = "Enterprise mode, the platform operator only: create tenants with their first owner, list, suspend and resume them."),
        (name = "jobs", description = "Jungle Grid's workloads: estimate, submit, watch (events, logs, followed live), cancel jobs, upload their inputs and download their artifacts; the tenant's credits."),
        (name = "python", description = "The python built-in's environments, with their REPL sessions and processes: list, inspect, freeze, destroy."),
        (name = "audit", description = "Enterprise mode: the tenant's audit log, admin actions and calls, for owners and admins."),
        (name = "health", description = "Liveness and readiness of a Canopy process (outside `/api/v0`)."),
    ),
)]
struct ApiDoc;

/// The document as a value, for tests and tools: the router's operations, then what this module
/// owns, then the bearer requirement on the `/api/v0` operations.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, operations) = crate::api_routes().split_for_parts();
    let mut document = ApiDoc::openapi().merge_from(operations);
    BearerTokens.modify(&mut document);
    document
}

/// The document as pretty JSON with a final newline: exactly the checked-in
/// `openapi/canopy-api.json`, and what `canopy openapi` prints.
pub fn openapi() -> String {
    let mut json = serde_json::to_string_pretty(&openapi_document()).expect("the OpenAPI document serializes");
    json.push('\n');
    json
}

// Parameters that several routes share. These types only describe; the handlers extract.

/// `{name}` in `/api/v0/servers/{name}/...`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ServerNameParam {
    /// The server's name, as registered.
    name: String,
}

/// `{name}` in `/api/v0/users/{name}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct UserNameParam {
    /// The user's name.
    name: String,
}

/// `{name}` in `/api/v0/mcp-clients/{name}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ClientNameParam {
    /// The MCP client's name.
    name: String,
}

/// `{id}` in `/api/v0/tenants/{id}/...`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct TenantIdParam {
    /// The tenant's id.
    id: String,
}

/// `{name}` in `/api/v0/groups/{name}/...`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct GroupNameParam {
    /// The group's name.
    name: String,
}

/// The `Idempotency-Key` request header.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyKey {
    /// Makes the request safe to retry: a repeat with the same key and body answers as the
    /// first did, without doing it again; the same key with another body is a conflict.
    #[param(rename = "Idempotency-Key", value_type = String, required = false)]
    idempotency_key: Option<String>,
}

/// Enterprise mode's bearer tokens: the `bearer` scheme, and on every `/api/v0` operation but
/// `init-server` the requirement "a bearer token, or none" (development mode needs none) and
/// the 401 answer.
struct BearerTokens;

impl Modify for BearerTokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "Enterprise mode: a user's or an MCP client's access token (`canopy init-server`, \
                 `canopy create user`, `canopy create mcp-client`, `canopy create tenant`), or the \
                 platform operator's (`canopy init-server`). Development mode needs none.",
            ))
            .build();
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/v0/") || path == "/api/v0/init-server" {
                continue;
            }
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                operation.security = Some(vec![
                    SecurityRequirement::new("bearer", Vec::<String>::new()),
                    SecurityRequirement::default(),
                ]);
                operation.responses.responses.insert("401".into(), RefOr::Ref(Ref::from_response_name("Unauthorized")));
            }
        }
    }
}

// The error answers, one reusable response each, all in the one envelope.

/// `INVALID_REQUEST`: the path, query string or body is not valid. A NUL character in any
/// parameter, string or key is refused too; the message names the field (`server: must not
/// contain a NUL character`).
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(example = json!({"ok": false, "error": {"code": "INVALID_REQUEST", "message": "query string: Failed to deserialize query string: missing field `name`"}}))]
pub struct BadRequest(ErrorEnvelope);

/// `UNAUTHORIZED` (enterprise mode): no access token, or one that is unknown or revoked. Sent
/// with `WWW-Authenticate: Bearer`.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(example = json!({"ok": false, "error": {"code": "UNAUTHORIZED", "message": "the access token is not valid: unknown, malformed or revoked"}}))]
pub struct Unauthorized(ErrorEnvelope);

/// `FORBIDDEN`: the caller may see this but not do it (a member or an MCP client managing, a
/// token without the scope, which the message names), or the item is disabled.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(example = json!({"ok": false, "error": {"code": "FORBIDDEN", "message": "tool 'calc__add' is disabled"}}))]
pub struct Forbidden(ErrorEnvelope);

/// `NOT_FOUND`: no such server, tool, prompt, resource or group.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(example = json!({"ok": false, "error": {"code": "NOT_FOUND", "message": "server 'calc' is not registered"}}))]
pub struct NotFound(ErrorEnvelope);

/// `CONFLICT`: the name is taken, the `Idempotency-Key` was used for another request, or the
/// item is being changed concurrently (retry).
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(example = json!({"ok": false, "error": {"code": "CONFLICT", "message": "server 'calc' is already registered"}}))]
pub struct Conflict(ErrorEnvelope);

/// `INTERNAL_ERROR`: the server log has the details.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(example = json!({"ok": false, "error": {"code": "INTERNAL_ERROR", "message": "database error; the server log has the details"}}))]
pub struct InternalError(ErrorEnvelope);

/// `UPSTREAM_UNAVAILABLE` or `UPSTREAM_ERROR`: the upstream MCP server could not be reached or
/// answered with a protocol error. (A tool that fails answers 200 with `isError: true`.)
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(example = json!({"ok": false, "error": {"code": "UPSTREAM_UNAVAILABLE", "message": "calc__add failed: connection refused"}}))]
pub struct UpstreamError(ErrorEnvelope);

/// `TIMEOUT`: the upstream MCP server did not answer in time.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(example = json!({"ok": false, "error": {"code": "TIMEOUT", "message": "calc__add failed: the upstream did not answer within 60000 ms"}}))]
pub struct UpstreamTimeout(ErrorEnvelope);

/// `RATE_LIMITED`: over a rate limit or quota of the tenant, the caller or the tool; the
/// `Retry-After` header says in how many seconds to try again.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(
    headers(("Retry-After" = u64, description = "Seconds until the call may be tried again.")),
    example = json!({"ok": false, "error": {"code": "RATE_LIMITED", "message": "rate limited: too many calls for this principal; retry after 12 s"}})
)]
pub struct TooManyRequests(ErrorEnvelope);

/// `INSUFFICIENT_FUNDS`: the tenant's available credits do not cover the job's estimated upper
/// bound.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(example = json!({"ok": false, "error": {"code": "INSUFFICIENT_FUNDS", "message": "insufficient funds: the job needs 1.001000 credits and 0.500000 credits are available"}}))]
pub struct PaymentRequired(ErrorEnvelope);

/// `MAINTENANCE_ACTIVE`: the operator turned maintenance on; new jobs are refused, running ones
/// go on.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(example = json!({"ok": false, "error": {"code": "MAINTENANCE_ACTIVE", "message": "new jobs are not accepted during maintenance: upgrading"}}))]
pub struct ServiceUnavailable(ErrorEnvelope);

// `/healthz` and `/readyz` are served by the `canopy` binary (`services/canopy/src/health.rs`),
// next to `/api/v0`; they are described here so that the one document covers what admin
// clients call. These functions only carry the annotations.

/// Liveness: the process is up
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    operation_id = "healthz",
    responses((status = 200, description = "The process is alive, with the services it runs.", body = Health)),
)]
#[allow(dead_code)]
fn healthz() {}

/// Readiness: PostgreSQL, NATS, Redis (and the edge's catalog) answer
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Every dependency answered.", body = Readiness),
        (status = 503, description = "At least one dependency did not answer; `checks` says which.", body = Readiness),
    ),
)]
#[allow(dead_code)]
fn readyz() {}

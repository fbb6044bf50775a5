//! The OpenAPI 3.1 document of the REST admin API, generated from the handlers'
//! `#[utoipa::path]` annotations and the `canopy-api-types` schemas. The checked-in copy is
//! `openapi/canopy-api.json` (regenerate: `cargo run -p canopy -- openapi > openapi/canopy-api.json`);
//! `tests/openapi.rs` fails when the two drift, or when a route of [`crate::router`] is missing
//! from the document. Admin clients are generated from the checked-in file
//! (`scripts/generate-clients.sh`).

use crate::{groups, prompts, resources, servers, toggles, tools};
use canopy_api_types::{ErrorEnvelope, Health, Readiness};
use utoipa::{IntoParams, OpenApi, ToResponse};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Canopy admin API",
        description = "The REST admin API of Canopy, the MCP control plane: MCPJungle's routes under \
            `/api/v0`, extended, with one error envelope everywhere \
            (`{\"ok\": false, \"error\": {\"code\": \"INVALID_REQUEST\", \"message\": \"...\"}}`). \
            Unknown routes under `/api/v0` answer 404 in the same envelope.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        servers::register,
        servers::list,
        servers::get,
        servers::deregister,
        toggles::enable_server,
        toggles::disable_server,
        tools::list,
        tools::get,
        tools::invoke,
        toggles::enable_tools,
        toggles::disable_tools,
        prompts::list,
        prompts::get,
        prompts::render,
        toggles::enable_prompts,
        toggles::disable_prompts,
        resources::list,
        resources::read,
        toggles::enable_resources,
        toggles::disable_resources,
        groups::create,
        groups::list,
        groups::get,
        groups::update,
        groups::delete,
        groups::effective_tools,
        healthz,
        readyz,
    ),
    components(
        schemas(ErrorEnvelope),
        responses(BadRequest, Forbidden, NotFound, Conflict, InternalError, UpstreamError, UpstreamTimeout),
    ),
    tags(
        (name = "servers", description = "Upstream MCP servers: register, list, inspect, deregister, enable and disable."),
        (name = "tools", description = "Tools of every server, named `server__tool`; invoke one."),
        (name = "prompts", description = "Prompts of every server, named `server__prompt`; render one."),
        (name = "resources", description = "Resources and templates of every server, named `canopy://server/<uri>`; read one."),
        (name = "groups", description = "Groups of tools, prompts and resources, each served on its own MCP endpoint."),
        (name = "health", description = "Liveness and readiness of a Canopy process (outside `/api/v0`)."),
    ),
)]
struct ApiDoc;

/// The document as a value, for tests and tools.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
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

// The error answers, one reusable response each, all in the one envelope.

/// `INVALID_REQUEST`: the path, query string or body is not valid.
#[derive(ToResponse)]
#[allow(dead_code)]
#[response(example = json!({"ok": false, "error": {"code": "INVALID_REQUEST", "message": "query string: Failed to deserialize query string: missing field `name`"}}))]
pub struct BadRequest(ErrorEnvelope);

/// `FORBIDDEN`: the item exists but is disabled.
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

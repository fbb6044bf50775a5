//! The REST interface's types: request and response bodies of `/api/v0` and the one error
//! envelope every route uses. No behaviour here: the API service implements these, the CLI
//! and generated clients consume them. Every type derives `ToSchema`, so the OpenAPI document
//! (`openapi/canopy-api.json`) describes exactly these shapes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

pub mod jobs;
pub mod python;

/// Stable error codes (Jungle Grid's, extended as needed). Clients switch on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    Unauthorized,
    Forbidden,
    InvalidRequest,
    NotFound,
    Conflict,
    UpstreamUnavailable,
    UpstreamError,
    Timeout,
    Unavailable,
    InternalError,
    /// Over a rate limit or quota (429, with `Retry-After` in seconds).
    RateLimited,
    /// A job names an uploaded input the tenant does not have (404).
    JobInputNotFound,
    /// A job names an input whose upload is not completed (409).
    JobInputNotReady,
    /// The job has not ended, so its artifacts are not collected yet (409).
    ArtifactNotReady,
    /// The tenant's credits do not cover the job's estimated upper bound (402).
    InsufficientFunds,
    /// The operator turned maintenance on: new jobs are refused, running ones go on (503).
    MaintenanceActive,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::InvalidRequest => 400,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::UpstreamUnavailable | ErrorCode::UpstreamError => 502,
            ErrorCode::Timeout => 504,
            ErrorCode::Unavailable => 503,
            ErrorCode::InternalError => 500,
            ErrorCode::RateLimited => 429,
            ErrorCode::JobInputNotFound => 404,
            ErrorCode::JobInputNotReady | ErrorCode::ArtifactNotReady => 409,
            ErrorCode::InsufficientFunds => 402,
            ErrorCode::MaintenanceActive => 503,
        }
    }
}

/// `{"ok": false, "error": {"code": "INVALID_REQUEST", "message": "..."}}`: the body of every
/// error answer of the REST API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorEnvelope {
    /// Always `false`.
    pub ok: bool,
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// For people; clients switch on `code`.
    pub message: String,
}

impl ErrorEnvelope {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { ok: false, error: ErrorBody { code, message: message.into() } }
    }
}

/// MCPJungle's registration JSON (`mcpjungle register -c file.json`), accepted verbatim.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterServerRequest {
    pub name: String,
    /// `streamable_http` (default when `url` is given), `stdio` (default when `command` is given) or `sse`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// `stateless` (default) or `stateful`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_mode: Option<String>,
    /// Replace an existing registration of the same name (also `?force=true`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

/// A registered server as the API shows it. Secrets never appear: header and env values and
/// the bearer token are replaced by `"***"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServerView {
    pub name: String,
    pub id: String,
    /// `streamable_http`, `stdio`, `sse`, or `builtin` (a server Canopy hosts itself, in every
    /// tenant: `grid`, `python`; it cannot be registered, replaced or deregistered).
    pub transport: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    pub session_mode: String,
    /// `pending` (catalog not discovered yet), `ready`, or `error` (see `status_error`).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_error: Option<String>,
    /// False when the whole server is disabled.
    pub enabled: bool,
    pub tool_count: usize,
    pub registered_at: String,
    pub updated_at: String,
}

/// A tool as `GET /api/v0/tools` lists it (MCPJungle's shape, plus the rest of the MCP tool).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolView {
    /// `server__tool`
    pub name: String,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The tool's JSON Schema for its arguments.
    #[schema(value_type = BTreeMap<String, Value>)]
    pub input_schema: serde_json::Value,
    /// MCP tool annotations (`readOnlyHint`, ...), as the upstream sent them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, Value>>)]
    pub annotations: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The tool's JSON Schema for its structured result, if it declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, Value>>)]
    pub output_schema: Option<serde_json::Value>,
}

/// A prompt as `GET /api/v0/prompts` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PromptView {
    /// `server__prompt`
    pub name: String,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The MCP prompt arguments: `[{"name", "description", "required"}]`.
    #[schema(value_type = Vec<BTreeMap<String, Value>>)]
    pub arguments: serde_json::Value,
}

/// `POST /api/v0/tools/invoke`: the tool's `server__tool` name beside its arguments, in one
/// object (MCPJungle's body). A tool argument called `name` cannot be passed this way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvokeToolRequest {
    /// `server__tool`
    pub name: String,
    /// The tool's arguments, as top-level fields next to `name`.
    #[serde(flatten)]
    pub arguments: BTreeMap<String, serde_json::Value>,
}

/// `POST /api/v0/prompts/render`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderPromptRequest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<BTreeMap<String, String>>,
}

/// A resource or resource template as `GET /api/v0/resources` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResourceView {
    /// `canopy://server/<upstream uri or uri template>`
    pub uri: String,
    pub server: String,
    pub is_template: bool,
    pub enabled: bool,
    /// The MCP resource (or template) object as the upstream sent it.
    #[schema(value_type = BTreeMap<String, Value>)]
    pub definition: serde_json::Value,
}

/// `POST /api/v0/resources/read`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadResourceRequest {
    /// `canopy://server/<uri>`
    pub uri: String,
}

/// `POST /api/v0/groups` and `PUT /api/v0/groups/{name}`: MCPJungle's group JSON, plus the
/// same lists for prompts (`server__prompt`) and resources (`canopy://server/<uri>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRequest {
    /// Required to create; on update, if given, must match the URL.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub included_tools: Vec<String>,
    #[serde(default)]
    pub included_servers: Vec<String>,
    #[serde(default)]
    pub excluded_tools: Vec<String>,
    #[serde(default)]
    pub included_prompts: Vec<String>,
    #[serde(default)]
    pub excluded_prompts: Vec<String>,
    #[serde(default)]
    pub included_resources: Vec<String>,
    #[serde(default)]
    pub excluded_resources: Vec<String>,
}

/// A group as the API shows it, with the MCP endpoint that serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupView {
    pub name: String,
    pub description: String,
    pub included_tools: Vec<String>,
    pub included_servers: Vec<String>,
    pub excluded_tools: Vec<String>,
    pub included_prompts: Vec<String>,
    pub excluded_prompts: Vec<String>,
    pub included_resources: Vec<String>,
    pub excluded_resources: Vec<String>,
    /// `PUBLIC_URL/v0/groups/NAME/mcp`
    pub endpoint: String,
    pub created_at: String,
    pub updated_at: String,
}

/// `POST /api/v0/users`: MCPJungle's user JSON. Without `access_token`, Canopy generates one
/// and answers it once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub name: String,
    /// `owner`, `admin` or `member` (the default). Only an owner may create an owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A custom access token; omitted, one is generated and returned once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
}

/// `PATCH /api/v0/users/{name}`: the user's new role. The token is not changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// `owner`, `admin` or `member`. Only an owner makes an owner or changes an owner's role, and
    /// a tenant's last owner stays one.
    pub role: String,
}

/// A user as the API shows it. Tokens are never shown again after creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub name: String,
    /// `owner`, `admin` or `member`.
    pub role: String,
    pub created_at: String,
    pub updated_at: String,
}

/// The answer to creating a user (and to `init-server`): the user, and the access token when
/// Canopy generated it. This is the only time the token is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedUser {
    #[serde(flatten)]
    pub user: UserView,
    /// The generated token; absent when the request supplied its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
}

/// The answer to `init-server`: the owner `admin` of the `default` tenant with its token (the
/// fields of [`CreatedUser`], as before), and the first platform operator with its token. Both
/// tokens are generated and shown only now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InitializedServer {
    #[serde(flatten)]
    pub user: UserView,
    /// The owner's generated token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// The first platform operator: creates and suspends tenants, sees nothing inside them.
    pub operator: OperatorView,
    /// The operator's generated token (the CLI saves it as `operator_token` in ~/.canopy.conf).
    pub operator_token: String,
}

/// `GET /api/v0/me`: who the request's token is, and what that lets it do. The console reads it
/// to show the signed-in principal and to hide what it may not do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MeView {
    /// `user`, `client` (an MCP client identity), `operator` (the platform's) or `development`
    /// (development mode's single principal).
    pub kind: String,
    /// The user's, client's or operator's name (`dev` in development mode).
    pub name: String,
    /// As audit records name it: `user:alice`, `client:cursor`, `operator:operator`, `user:dev`.
    pub subject: String,
    /// The tenant it acts in; absent for the operator, who belongs to none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// A user's role: `owner`, `admin` or `member`; absent for anyone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The scopes of its OAuth access token, sorted; absent when the token is not scope-limited
    /// (a static token, development mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Whether it manages its tenant (servers, groups, toggles, users, MCP clients, the audit
    /// log): an owner's or admin's token that is not scope-limited or has `canopy:admin`, and
    /// development mode.
    pub manages_tenant: bool,
    /// Whether it manages the platform (tenants): the operator.
    pub manages_platform: bool,
}

/// A platform operator as the API shows it (never its token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OperatorView {
    pub name: String,
    pub created_at: String,
}

/// `POST /api/v0/tenants` (the operator only): a tenant and its first owner. Without
/// `owner_access_token`, the owner's token is generated and answered once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    /// The tenant's id: lowercase letters, digits and '-', at most 63 characters (`platform` is
    /// reserved).
    pub id: String,
    /// A name for people; defaults to the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The name of the tenant's first user, an owner.
    pub owner: String,
    /// A custom access token for the owner; omitted, one is generated and returned once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_access_token: Option<String>,
}

/// A tenant as the operator sees it: never anything inside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TenantView {
    pub id: String,
    pub display_name: String,
    /// `active`, or `suspended` (its users' and clients' tokens are refused).
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

/// The answer to creating a tenant: the tenant, its owner, and the owner's token when Canopy
/// generated it (shown only now).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedTenant {
    #[serde(flatten)]
    pub tenant: TenantView,
    pub owner: UserView,
    /// The owner's generated token; absent when the request supplied its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_access_token: Option<String>,
}

/// `POST /api/v0/mcp-clients`: MCPJungle's MCP client JSON (`name`, `description`,
/// `allowed_servers`), plus Canopy's `allowed_groups` and `allowed_tools`. Without
/// `access_token`, Canopy generates one and answers it once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMcpClientRequest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Server names the client may use; `"*"` is every server, including future ones. Empty: none.
    #[serde(default)]
    pub allowed_servers: Vec<String>,
    /// Groups whose members (as each group's rules say now) the client may use.
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    /// Single tools the client may use, as `server__tool`.
    #[serde(default)]
    pub allowed_tools: Vec<String>,
    /// A custom access token; omitted, one is generated and returned once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
}

/// `PUT /api/v0/mcp-clients/{name}`: the client's new description and allow lists (each
/// replaces the old one). The token is not changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMcpClientRequest {
    /// If given, must match the URL (clients cannot be renamed).
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub allowed_servers: Vec<String>,
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    #[serde(default)]
    pub allowed_tools: Vec<String>,
}

/// An MCP client as the API shows it. Tokens are never shown again after creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct McpClientView {
    pub name: String,
    pub description: String,
    pub allowed_servers: Vec<String>,
    pub allowed_groups: Vec<String>,
    pub allowed_tools: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// The answer to creating an MCP client: the client, and the access token when Canopy
/// generated it. This is the only time the token is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedMcpClient {
    #[serde(flatten)]
    pub client: McpClientView,
    /// The generated token; absent when the request supplied its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
}

/// `GET /healthz`: the process is alive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// The services this process runs: `api`, `edge`, `worker`, `poller`.
    pub services: Vec<String>,
    pub version: String,
}

/// `PUT /api/v0/identity-provider`: the tenant's own OpenID Connect provider, for single sign-on
/// at Canopy's authorization server. Register Canopy at the provider as a confidential client
/// with the redirect URI `{public_url}/oauth/oidc/callback`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderRequest {
    /// The provider's issuer identifier, exactly (its discovery document is at
    /// `{issuer}/.well-known/openid-configuration`). https, or http on a loopback host.
    pub issuer: String,
    pub client_id: String,
    /// Sealed at rest, never shown again.
    pub client_secret: String,
    /// The ID token claim whose value is the Canopy user name; default `preferred_username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_claim: Option<String>,
}

/// The tenant's identity provider as the API shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IdentityProviderView {
    pub issuer: String,
    pub client_id: String,
    pub username_claim: String,
    /// The redirect URI to register at the provider.
    pub redirect_uri: String,
    pub updated_at: String,
    pub updated_by: String,
}

/// An OAuth grant: an application a user signed in to with Canopy (authorization code), alive
/// while its refresh tokens are. Never its tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OAuthGrantView {
    /// The grant's id, for `DELETE /api/v0/oauth-grants/{id}`.
    pub id: String,
    pub client_id: String,
    /// The application's name, as it registered (not verified by Canopy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Whose grant it is: `user:alice`.
    pub subject: String,
    pub scopes: Vec<String>,
    /// The resource (RFC 8707) its access tokens are for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    pub created_at: String,
    /// The grant's absolute end.
    pub expires_at: String,
}

/// `GET /readyz`: each dependency and whether it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// Dependency name (`postgres`, `nats`, `redis`, `catalog`) to `ok`, `loading` or `error: ...`.
    pub checks: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invoke_request_is_one_flat_object() {
        let body = json!({"name": "calc__add", "a": 1, "b": {"c": 2}});
        let request: InvokeToolRequest = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(request.name, "calc__add");
        assert_eq!(request.arguments.len(), 2);
        assert_eq!(serde_json::to_value(&request).unwrap(), body);
    }
}

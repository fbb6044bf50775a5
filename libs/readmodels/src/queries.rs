//! Queries over the read models. Every query takes the tenant: no query reads across tenants
//! except [`all_server_states`] and [`all_groups`], which only the gateway edge uses to warm
//! its per-tenant cache.

use canopy_domain::server::UpstreamSpec;
use canopy_domain::TenantId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ServerRow {
    pub tenant_id: String,
    pub name: String,
    pub server_id: Uuid,
    pub transport: String,
    pub description: String,
    #[sqlx(json)]
    pub spec: UpstreamSpec,
    pub status: String,
    pub status_error: Option<String>,
    pub enabled: bool,
    pub version: i64,
    pub registered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub tool_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ToolRow {
    pub server_name: String,
    pub tool_name: String,
    pub definition: serde_json::Value,
    pub enabled: bool,
}

const SERVER_COLUMNS: &str = "s.tenant_id, s.name, s.server_id, s.transport, s.description, s.spec, s.status, \
     s.status_error, s.enabled, s.version, s.registered_at, s.updated_at, \
     (SELECT count(*) FROM rm_tools t WHERE t.tenant_id = s.tenant_id AND t.server_name = s.name) AS tool_count";

pub async fn list_servers(pool: &PgPool, tenant: &TenantId) -> Result<Vec<ServerRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {SERVER_COLUMNS} FROM rm_servers s WHERE s.tenant_id = $1 ORDER BY s.name"))
        .bind(tenant.as_str())
        .fetch_all(pool)
        .await
}

pub async fn get_server(pool: &PgPool, tenant: &TenantId, name: &str) -> Result<Option<ServerRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {SERVER_COLUMNS} FROM rm_servers s WHERE s.tenant_id = $1 AND s.name = $2"))
        .bind(tenant.as_str())
        .bind(name)
        .fetch_optional(pool)
        .await
}

/// Tools of a tenant, optionally of one server, in server then upstream order.
pub async fn list_tools(pool: &PgPool, tenant: &TenantId, server: Option<&str>) -> Result<Vec<ToolRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT server_name, tool_name, definition, enabled FROM rm_tools \
         WHERE tenant_id = $1 AND ($2::text IS NULL OR server_name = $2) ORDER BY server_name, position",
    )
    .bind(tenant.as_str())
    .bind(server)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct PromptRow {
    pub server_name: String,
    pub prompt_name: String,
    pub definition: serde_json::Value,
    pub enabled: bool,
}

/// Prompts of a tenant, optionally of one server, in server then upstream order.
pub async fn list_prompts(
    pool: &PgPool,
    tenant: &TenantId,
    server: Option<&str>,
) -> Result<Vec<PromptRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT server_name, prompt_name, definition, enabled FROM rm_prompts \
         WHERE tenant_id = $1 AND ($2::text IS NULL OR server_name = $2) ORDER BY server_name, position",
    )
    .bind(tenant.as_str())
    .bind(server)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ResourceRow {
    pub server_name: String,
    pub uri: String,
    pub is_template: bool,
    pub definition: serde_json::Value,
    pub enabled: bool,
}

/// Resources and resource templates of a tenant, optionally of one server.
pub async fn list_resources(
    pool: &PgPool,
    tenant: &TenantId,
    server: Option<&str>,
) -> Result<Vec<ResourceRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT server_name, uri, is_template, definition, enabled FROM rm_resources \
         WHERE tenant_id = $1 AND ($2::text IS NULL OR server_name = $2) ORDER BY server_name, position",
    )
    .bind(tenant.as_str())
    .bind(server)
    .fetch_all(pool)
    .await
}

/// A server's aggregate state at a version, as the gateway cache starts from it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSnapshot {
    pub tenant_id: String,
    pub name: String,
    pub version: i64,
    pub state: canopy_domain::server::Server,
}

/// Every registered server's state, for warming the gateway cache.
pub async fn all_server_states(pool: &PgPool) -> Result<Vec<ServerSnapshot>, sqlx::Error> {
    let rows: Vec<(String, String, i64, serde_json::Value)> =
        sqlx::query_as("SELECT tenant_id, name, version, state FROM rm_servers").fetch_all(pool).await?;
    rows.into_iter()
        .map(|(tenant_id, name, version, state)| {
            let state = serde_json::from_value(state).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok(ServerSnapshot { tenant_id, name, version, state })
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct GroupRow {
    pub tenant_id: String,
    pub name: String,
    #[sqlx(json)]
    pub spec: canopy_domain::group::GroupSpec,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const GROUP_COLUMNS: &str = "tenant_id, name, spec, version, created_at, updated_at";

pub async fn list_groups(pool: &PgPool, tenant: &TenantId) -> Result<Vec<GroupRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {GROUP_COLUMNS} FROM rm_groups WHERE tenant_id = $1 ORDER BY name"))
        .bind(tenant.as_str())
        .fetch_all(pool)
        .await
}

pub async fn get_group(pool: &PgPool, tenant: &TenantId, name: &str) -> Result<Option<GroupRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {GROUP_COLUMNS} FROM rm_groups WHERE tenant_id = $1 AND name = $2"))
        .bind(tenant.as_str())
        .bind(name)
        .fetch_optional(pool)
        .await
}

/// Every group of every tenant, for warming the gateway cache.
pub async fn all_groups(pool: &PgPool) -> Result<Vec<GroupRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {GROUP_COLUMNS} FROM rm_groups")).fetch_all(pool).await
}

/// Who holds a token, found by its digest: a user or an MCP client, with its tenant, or a
/// platform operator (no tenant).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TokenHolder {
    User { tenant_id: String, name: String, role: String },
    Client { tenant_id: String, name: String, allow: canopy_domain::identity::AllowSpec },
    Operator { name: String },
}

impl TokenHolder {
    /// The principal the policy engine decides for. Static tokens are not scope-limited.
    pub fn principal(&self) -> Option<canopy_policy::Principal> {
        match self {
            TokenHolder::User { tenant_id, name, role } => {
                let tenant = TenantId::parse(tenant_id.clone()).ok()?;
                let role = canopy_domain::identity::Role::parse(role).ok()?;
                Some(canopy_policy::Principal::user(tenant, format!("user:{name}"), role))
            }
            TokenHolder::Client { tenant_id, name, allow } => {
                let tenant = TenantId::parse(tenant_id.clone()).ok()?;
                Some(canopy_policy::Principal::client(tenant, format!("client:{name}"), allow.into()))
            }
            TokenHolder::Operator { name } => Some(canopy_policy::Principal::operator(format!("operator:{name}"))),
        }
    }
}

/// Every identity with its token digest, for an edge warming its cache (the one cross-tenant
/// read of identities).
pub async fn all_token_holders(pool: &PgPool) -> Result<Vec<(String, TokenHolder)>, sqlx::Error> {
    Ok(all_held_tokens(pool).await?.into_iter().map(|held| (held.digest, held.holder)).collect())
}

/// A token digest, its holder, and the version of the holder's stream the row reflects (so a
/// cache fed by the event tail as well can ignore events it already holds).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldToken {
    pub digest: String,
    pub version: i64,
    pub holder: TokenHolder,
}

/// Identities of a tenant the operator suspended hold no token that works.
const NOT_SUSPENDED: &str = "NOT EXISTS (SELECT 1 FROM rm_tenants t WHERE t.tenant_id = i.tenant_id AND t.suspended)";

/// [`all_token_holders`] with each row's version. Users and clients only (the MCP endpoints'
/// identities; operators have nothing to do there), and none of a suspended tenant.
pub async fn all_held_tokens(pool: &PgPool) -> Result<Vec<HeldToken>, sqlx::Error> {
    let users: Vec<(String, i64, String, String, String)> = sqlx::query_as(&format!(
        "SELECT token_digest, version, tenant_id, name, role FROM rm_users i WHERE {NOT_SUSPENDED}"
    ))
    .fetch_all(pool)
    .await?;
    let clients: Vec<(String, i64, String, String, sqlx::types::Json<canopy_domain::identity::AllowSpec>)> =
        sqlx::query_as(&format!(
            "SELECT token_digest, version, tenant_id, name, allow FROM rm_mcp_clients i WHERE {NOT_SUSPENDED}"
        ))
        .fetch_all(pool)
        .await?;
    let users = users.into_iter().map(|(digest, version, tenant_id, name, role)| HeldToken {
        digest,
        version,
        holder: TokenHolder::User { tenant_id, name, role },
    });
    let clients = clients.into_iter().map(|(digest, version, tenant_id, name, allow)| HeldToken {
        digest,
        version,
        holder: TokenHolder::Client { tenant_id, name, allow: allow.0 },
    });
    Ok(users.chain(clients).collect())
}

/// The identity a presented token belongs to (deployment-wide: the token names its tenant, or
/// is an operator's). A user or client of a suspended tenant holds nothing.
pub async fn token_holder(pool: &PgPool, digest: &str) -> Result<Option<TokenHolder>, sqlx::Error> {
    let user: Option<(String, String, String)> = sqlx::query_as(&format!(
        "SELECT tenant_id, name, role FROM rm_users i WHERE token_digest = $1 AND {NOT_SUSPENDED}"
    ))
    .bind(digest)
    .fetch_optional(pool)
    .await?;
    if let Some((tenant_id, name, role)) = user {
        return Ok(Some(TokenHolder::User { tenant_id, name, role }));
    }
    let client: Option<(String, String, sqlx::types::Json<canopy_domain::identity::AllowSpec>)> = sqlx::query_as(
        &format!("SELECT tenant_id, name, allow FROM rm_mcp_clients i WHERE token_digest = $1 AND {NOT_SUSPENDED}"),
    )
    .bind(digest)
    .fetch_optional(pool)
    .await?;
    if let Some((tenant_id, name, allow)) = client {
        return Ok(Some(TokenHolder::Client { tenant_id, name, allow: allow.0 }));
    }
    let operator: Option<(String,)> = sqlx::query_as("SELECT name FROM rm_operators WHERE token_digest = $1")
        .bind(digest)
        .fetch_optional(pool)
        .await?;
    Ok(operator.map(|(name,)| TokenHolder::Operator { name }))
}

/// Whether any identity holds this token digest, suspended tenants included: a token is held
/// by one identity in the whole deployment.
pub async fn token_taken(pool: &PgPool, digest: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM rm_users WHERE token_digest = $1) \
             OR EXISTS (SELECT 1 FROM rm_mcp_clients WHERE token_digest = $1) \
             OR EXISTS (SELECT 1 FROM rm_operators WHERE token_digest = $1)",
    )
    .bind(digest)
    .fetch_one(pool)
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct UserRow {
    pub name: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn list_users(pool: &PgPool, tenant: &TenantId) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as("SELECT name, role, created_at, updated_at FROM rm_users WHERE tenant_id = $1 ORDER BY name")
        .bind(tenant.as_str())
        .fetch_all(pool)
        .await
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct McpClientRow {
    pub name: String,
    pub description: String,
    #[sqlx(json)]
    pub allow: canopy_domain::identity::AllowSpec,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn list_mcp_clients(pool: &PgPool, tenant: &TenantId) -> Result<Vec<McpClientRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, description, allow, created_at, updated_at FROM rm_mcp_clients WHERE tenant_id = $1 ORDER BY name",
    )
    .bind(tenant.as_str())
    .fetch_all(pool)
    .await
}

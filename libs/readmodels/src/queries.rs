//! Queries over the read models. Every query takes the tenant: no query reads across tenants
//! except [`all_catalogs`], which only the gateway edge uses to warm its per-tenant cache.

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
     s.status_error, s.version, s.registered_at, s.updated_at, \
     (SELECT count(*) FROM rm_tools t WHERE t.tenant_id = s.tenant_id AND t.server_name = s.name) AS tool_count";

pub async fn list_servers(pool: &PgPool, tenant: &TenantId) -> Result<Vec<ServerRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SERVER_COLUMNS} FROM rm_servers s WHERE s.tenant_id = $1 ORDER BY s.name"
    ))
    .bind(tenant.as_str())
    .fetch_all(pool)
    .await
}

pub async fn get_server(
    pool: &PgPool,
    tenant: &TenantId,
    name: &str,
) -> Result<Option<ServerRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SERVER_COLUMNS} FROM rm_servers s WHERE s.tenant_id = $1 AND s.name = $2"
    ))
    .bind(tenant.as_str())
    .bind(name)
    .fetch_optional(pool)
    .await
}

/// Tools of a tenant, optionally of one server, in server then upstream order.
pub async fn list_tools(
    pool: &PgPool,
    tenant: &TenantId,
    server: Option<&str>,
) -> Result<Vec<ToolRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT server_name, tool_name, definition, enabled FROM rm_tools \
         WHERE tenant_id = $1 AND ($2::text IS NULL OR server_name = $2) ORDER BY server_name, position",
    )
    .bind(tenant.as_str())
    .bind(server)
    .fetch_all(pool)
    .await
}

pub async fn tenant_exists(pool: &PgPool, tenant: &TenantId) -> Result<bool, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT tenant_id FROM rm_tenants WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_optional(pool)
            .await?;
    Ok(row.is_some())
}

/// One server's catalog as the gateway caches it.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogEntry {
    pub tenant_id: String,
    pub server_name: String,
    pub server_id: Uuid,
    pub version: i64,
    pub tools: Vec<serde_json::Value>,
}

/// Every server's catalog (empty until discovered), for warming the gateway cache.
pub async fn all_catalogs(pool: &PgPool) -> Result<Vec<CatalogEntry>, sqlx::Error> {
    let rows: Vec<(String, String, Uuid, i64, Option<serde_json::Value>)> = sqlx::query_as(
        "SELECT s.tenant_id, s.name, s.server_id, s.version, \
         (SELECT jsonb_agg(t.definition ORDER BY t.position) FROM rm_tools t \
          WHERE t.tenant_id = s.tenant_id AND t.server_name = s.name AND t.enabled) \
         FROM rm_servers s",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(tenant_id, server_name, server_id, version, tools)| CatalogEntry {
                tenant_id,
                server_name,
                server_id,
                version,
                tools: match tools {
                    Some(serde_json::Value::Array(items)) => items,
                    _ => vec![],
                },
            },
        )
        .collect())
}

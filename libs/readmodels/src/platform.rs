//! The platform's read models (enterprise mode): the tenants as the operator sees them, and the
//! operators. These are the only queries that list across tenants by design: they serve the
//! operator, who sees tenants, never what is inside them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct TenantRow {
    pub tenant_id: String,
    pub display_name: String,
    pub suspended: bool,
    pub created_at: DateTime<Utc>,
    /// When it was last suspended or resumed (its creation, otherwise).
    pub updated_at: DateTime<Utc>,
}

const TENANT_COLUMNS: &str =
    "tenant_id, display_name, suspended, created_at, COALESCE(updated_at, created_at) AS updated_at";

/// Every tenant, by id.
pub async fn list_tenants(pool: &PgPool) -> Result<Vec<TenantRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {TENANT_COLUMNS} FROM rm_tenants ORDER BY tenant_id")).fetch_all(pool).await
}

pub async fn get_tenant(pool: &PgPool, id: &str) -> Result<Option<TenantRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {TENANT_COLUMNS} FROM rm_tenants WHERE tenant_id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct OperatorRow {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Every platform operator (never their token digests).
pub async fn list_operators(pool: &PgPool) -> Result<Vec<OperatorRow>, sqlx::Error> {
    sqlx::query_as("SELECT name, created_at, updated_at FROM rm_operators ORDER BY name").fetch_all(pool).await
}

/// Whether the platform operator `name` exists now (an OAuth grant or access token naming
/// `operator:NAME` holds only while it does).
pub async fn operator_exists(pool: &PgPool, name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rm_operators WHERE name = $1)").bind(name).fetch_one(pool).await
}

/// Whether the platform operator `name` exists and its token has not been rotated since
/// `since` (an OAuth grant the operator made with an older token ends with that token).
pub async fn operator_unchanged_since(
    pool: &PgPool,
    name: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rm_operators WHERE name = $1 AND updated_at <= $2)")
        .bind(name)
        .bind(since)
        .fetch_one(pool)
        .await
}

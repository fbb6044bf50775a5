//! The python built-in's read models: `rm_python_envs` and `rm_python_sessions`, projected
//! from the python_env events, and the queries the session-worker answers ownership and
//! listings from. Every query names its tenant.

use canopy_domain::python_env::{PythonEnvEvent, REASON_ENVIRONMENT_DESTROYED};
use canopy_domain::TenantId;
use canopy_eventstore::{StoreError, StoredEvent};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

pub(crate) async fn apply_python_env(
    conn: &mut PgConnection,
    stored: &StoredEvent,
    event: PythonEnvEvent,
) -> Result<(), StoreError> {
    let (tenant, env, at, version) =
        (stored.tenant_id.as_str(), stored.aggregate_id.as_str(), stored.recorded_at, stored.version);
    match event {
        PythonEnvEvent::Created { name, owner, python_version, allow_egress, frozen, worker } => {
            sqlx::query(
                "INSERT INTO rm_python_envs (tenant_id, env_id, name, owner, python_version, allow_egress, status, \
                 frozen, version, created_at, updated_at, holder) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $9, $9, $10)",
            )
            .bind(tenant)
            .bind(env)
            .bind(name)
            .bind(owner)
            .bind(python_version)
            .bind(allow_egress)
            .bind(frozen)
            .bind(version)
            .bind(at)
            .bind(worker)
            .execute(conn)
            .await?;
        }
        PythonEnvEvent::PackagesChanged { frozen } => {
            sqlx::query(
                "UPDATE rm_python_envs SET frozen = $3, version = $4, updated_at = $5 \
                 WHERE tenant_id = $1 AND env_id = $2",
            )
            .bind(tenant)
            .bind(env)
            .bind(frozen)
            .bind(version)
            .bind(at)
            .execute(conn)
            .await?;
        }
        PythonEnvEvent::Restored { worker } => {
            sqlx::query(
                "UPDATE rm_python_envs SET version = $3, updated_at = $4, holder = $5 \
                 WHERE tenant_id = $1 AND env_id = $2",
            )
            .bind(tenant)
            .bind(env)
            .bind(version)
            .bind(at)
            .bind(worker)
            .execute(conn)
            .await?;
        }
        PythonEnvEvent::SessionStarted { session_id, kind, name, owner, script_path } => {
            sqlx::query(
                "INSERT INTO rm_python_sessions (tenant_id, session_id, env_id, kind, name, owner, script_path, \
                 status, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8)",
            )
            .bind(tenant)
            .bind(session_id)
            .bind(env)
            .bind(kind.as_str())
            .bind(name)
            .bind(owner)
            .bind(script_path)
            .bind(at)
            .execute(conn)
            .await?;
        }
        PythonEnvEvent::SessionEnded { session_id, reason } => {
            sqlx::query(
                "UPDATE rm_python_sessions SET status = 'ended', ended_reason = $3, ended_at = $4 \
                 WHERE tenant_id = $1 AND session_id = $2 AND status = 'running'",
            )
            .bind(tenant)
            .bind(session_id)
            .bind(reason)
            .bind(at)
            .execute(conn)
            .await?;
        }
        PythonEnvEvent::SessionRemoved { session_id } => {
            sqlx::query("DELETE FROM rm_python_sessions WHERE tenant_id = $1 AND session_id = $2")
                .bind(tenant)
                .bind(session_id)
                .execute(conn)
                .await?;
        }
        PythonEnvEvent::Destroyed => {
            sqlx::query(
                "UPDATE rm_python_envs SET status = 'destroyed', version = $3, updated_at = $4 \
                 WHERE tenant_id = $1 AND env_id = $2",
            )
            .bind(tenant)
            .bind(env)
            .bind(version)
            .bind(at)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE rm_python_sessions SET status = 'ended', ended_reason = $3, ended_at = $4 \
                 WHERE tenant_id = $1 AND env_id = $2 AND status = 'running'",
            )
            .bind(tenant)
            .bind(env)
            .bind(REASON_ENVIRONMENT_DESTROYED)
            .bind(at)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct PythonEnvRow {
    pub tenant_id: String,
    pub env_id: String,
    pub name: String,
    pub owner: String,
    pub python_version: String,
    pub allow_egress: bool,
    pub status: String,
    pub frozen: serde_json::Value,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The session-worker holding it (its own id: never shown to users).
    #[serde(skip)]
    pub holder: Option<String>,
}

impl PythonEnvRow {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct PythonSessionRow {
    pub tenant_id: String,
    pub session_id: String,
    pub env_id: String,
    pub kind: String,
    pub name: String,
    pub owner: String,
    pub script_path: Option<String>,
    pub status: String,
    pub ended_reason: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// The one ownership rule of python environments, REPL sessions and processes: within the
/// tenant (every query here names it), `owner` is visible to the same principal (`caller`, its
/// subject: `user:alice`, `client:cursor`) or to an owner or admin of the tenant
/// (`tenant_admin`). The python built-in and the REST API both ask this.
pub fn python_visible(owner: &str, caller: &str, tenant_admin: bool) -> bool {
    owner == caller || tenant_admin
}

const ENV_COLUMNS: &str = "tenant_id, env_id, name, owner, python_version, allow_egress, status, frozen, version, \
                           created_at, updated_at, holder";
const SESSION_COLUMNS: &str =
    "tenant_id, session_id, env_id, kind, name, owner, script_path, status, ended_reason, started_at, ended_at";

/// One environment of the tenant, active or destroyed.
pub async fn get_python_env(
    pool: &PgPool,
    tenant: &TenantId,
    env_id: &str,
) -> Result<Option<PythonEnvRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {ENV_COLUMNS} FROM rm_python_envs WHERE tenant_id = $1 AND env_id = $2"))
        .bind(tenant.as_str())
        .bind(env_id)
        .fetch_optional(pool)
        .await
}

/// The tenant's active environments, oldest first.
pub async fn list_python_envs(pool: &PgPool, tenant: &TenantId) -> Result<Vec<PythonEnvRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ENV_COLUMNS} FROM rm_python_envs WHERE tenant_id = $1 AND status = 'active' \
         ORDER BY created_at, env_id"
    ))
    .bind(tenant.as_str())
    .fetch_all(pool)
    .await
}

pub async fn get_python_session(
    pool: &PgPool,
    tenant: &TenantId,
    session_id: &str,
) -> Result<Option<PythonSessionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SESSION_COLUMNS} FROM rm_python_sessions WHERE tenant_id = $1 AND session_id = $2"
    ))
    .bind(tenant.as_str())
    .bind(session_id)
    .fetch_optional(pool)
    .await
}

/// The tenant's REPL sessions (`kind` `repl`) or processes (`process`), oldest first.
pub async fn list_python_sessions(
    pool: &PgPool,
    tenant: &TenantId,
    kind: &str,
) -> Result<Vec<PythonSessionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SESSION_COLUMNS} FROM rm_python_sessions WHERE tenant_id = $1 AND kind = $2 \
         ORDER BY started_at, session_id"
    ))
    .bind(tenant.as_str())
    .bind(kind)
    .fetch_all(pool)
    .await
}

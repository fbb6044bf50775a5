//! Applies tenant and server events to the `rm_*` tables.

use canopy_domain::server::{Catalog, ServerEvent, UpstreamSpec};
use canopy_domain::tenant::TenantEvent;
use canopy_domain::Aggregate;
use canopy_eventstore::{Projector, StoreError, StoredEvent};
use sqlx::PgConnection;

#[derive(Debug, Default)]
pub struct CanopyProjector;

impl Projector for CanopyProjector {
    async fn apply(&self, conn: &mut PgConnection, event: &StoredEvent) -> Result<(), StoreError> {
        match event.aggregate_type.as_str() {
            t if t == canopy_domain::tenant::Tenant::TYPE => {
                apply_tenant(conn, event, event.decode()?).await
            }
            t if t == canopy_domain::server::Server::TYPE => {
                apply_server(conn, event, event.decode()?).await
            }
            _ => Ok(()),
        }
    }

    async fn reset(&self, conn: &mut PgConnection) -> Result<(), StoreError> {
        sqlx::query("TRUNCATE rm_tools, rm_servers, rm_tenants")
            .execute(conn)
            .await?;
        Ok(())
    }
}

async fn apply_tenant(
    conn: &mut PgConnection,
    stored: &StoredEvent,
    event: TenantEvent,
) -> Result<(), StoreError> {
    match event {
        TenantEvent::Created { id, display_name } => {
            sqlx::query(
                "INSERT INTO rm_tenants (tenant_id, display_name, created_at) VALUES ($1, $2, $3)",
            )
            .bind(id.as_str())
            .bind(display_name)
            .bind(stored.recorded_at)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

async fn apply_server(
    conn: &mut PgConnection,
    stored: &StoredEvent,
    event: ServerEvent,
) -> Result<(), StoreError> {
    let tenant = stored.tenant_id.as_str();
    let name = stored.aggregate_id.as_str();
    match event {
        ServerEvent::Registered { id, spec, .. } | ServerEvent::Replaced { id, spec, .. } => {
            upsert_server(conn, stored, id.0, &spec).await?;
            sqlx::query("DELETE FROM rm_tools WHERE tenant_id = $1 AND server_name = $2")
                .bind(tenant)
                .bind(name)
                .execute(&mut *conn)
                .await?;
        }
        ServerEvent::Deregistered { .. } => {
            sqlx::query("DELETE FROM rm_servers WHERE tenant_id = $1 AND name = $2")
                .bind(tenant)
                .bind(name)
                .execute(conn)
                .await?;
        }
        ServerEvent::CatalogDiscovered { catalog, .. }
        | ServerEvent::CatalogRefreshed { catalog, .. } => {
            set_status(conn, stored, "ready", None).await?;
            replace_tools(conn, tenant, name, &catalog).await?;
        }
        ServerEvent::DiscoveryFailed { error, .. } => {
            set_status(conn, stored, "error", Some(&error)).await?;
        }
    }
    Ok(())
}

async fn upsert_server(
    conn: &mut PgConnection,
    stored: &StoredEvent,
    server_id: uuid::Uuid,
    spec: &UpstreamSpec,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rm_servers (tenant_id, name, server_id, transport, description, spec, status, status_error, \
         version, registered_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', NULL, $7, $8, $8) \
         ON CONFLICT (tenant_id, name) DO UPDATE SET server_id = $3, transport = $4, description = $5, spec = $6, \
         status = 'pending', status_error = NULL, version = $7, registered_at = $8, updated_at = $8",
    )
    .bind(&stored.tenant_id)
    .bind(&stored.aggregate_id)
    .bind(server_id)
    .bind(spec.transport.as_str())
    .bind(&spec.description)
    .bind(serde_json::to_value(spec).expect("spec serialises"))
    .bind(stored.version)
    .bind(stored.recorded_at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn set_status(
    conn: &mut PgConnection,
    stored: &StoredEvent,
    status: &str,
    error: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE rm_servers SET status = $3, status_error = $4, version = $5, updated_at = $6 \
         WHERE tenant_id = $1 AND name = $2",
    )
    .bind(&stored.tenant_id)
    .bind(&stored.aggregate_id)
    .bind(status)
    .bind(error)
    .bind(stored.version)
    .bind(stored.recorded_at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn replace_tools(
    conn: &mut PgConnection,
    tenant: &str,
    server: &str,
    catalog: &Catalog,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM rm_tools WHERE tenant_id = $1 AND server_name = $2")
        .bind(tenant)
        .bind(server)
        .execute(&mut *conn)
        .await?;
    for (position, tool) in catalog.tools.iter().enumerate() {
        let Some(tool_name) = tool.get("name").and_then(|n| n.as_str()) else {
            continue;
        };
        sqlx::query(
            "INSERT INTO rm_tools (tenant_id, server_name, tool_name, definition, position) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(server)
        .bind(tool_name)
        .bind(tool)
        .bind(position as i32)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

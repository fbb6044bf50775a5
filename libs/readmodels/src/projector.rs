//! Applies tenant, server, group, user, MCP client and operator events to the `rm_*` tables
//! (and job, job input, ledger and platform settings events, through `jobs.rs`; python_env events through `python.rs`). A server's rows are re-materialised
//! from the aggregate's state after each event (the state itself is kept in `rm_servers.state`),
//! so the read model can never disagree with the domain's own `apply`.

use canopy_domain::group::{Group, GroupEvent};
use canopy_domain::identity::{McpClient, McpClientEvent, User, UserEvent};
use canopy_domain::operator::{Operator, OperatorEvent};
use canopy_domain::server::{FeatureKind, RegisteredServer, Server, ServerEvent};
use canopy_domain::tenant::TenantEvent;
use canopy_domain::Aggregate;
use canopy_eventstore::{Projector, StoreError, StoredEvent};
use sqlx::PgConnection;

#[derive(Debug, Default)]
pub struct CanopyProjector;

impl Projector for CanopyProjector {
    async fn apply(&self, conn: &mut PgConnection, event: &StoredEvent) -> Result<(), StoreError> {
        match event.aggregate_type.as_str() {
            t if t == canopy_domain::tenant::Tenant::TYPE => apply_tenant(conn, event, event.decode()?).await,
            t if t == Server::TYPE => apply_server(conn, event, event.decode()?).await,
            t if t == Group::TYPE => apply_group(conn, event, event.decode()?).await,
            t if t == User::TYPE => apply_user(conn, event, event.decode()?).await,
            t if t == McpClient::TYPE => apply_client(conn, event, event.decode()?).await,
            t if t == Operator::TYPE => apply_operator(conn, event, event.decode()?).await,
            t if t == canopy_domain::job::Job::TYPE => crate::jobs::apply_job(conn, event, event.decode()?).await,
            t if t == canopy_domain::job_input::JobInput::TYPE => {
                crate::jobs::apply_input(conn, event, event.decode()?).await
            }
            t if t == canopy_domain::ledger::Ledger::TYPE => {
                crate::jobs::apply_ledger(conn, event, event.decode()?).await
            }
            t if t == canopy_domain::platform_settings::PlatformSettings::TYPE => {
                crate::jobs::apply_platform_settings(conn, event, event.decode()?).await
            }
            t if t == canopy_domain::python_env::PythonEnv::TYPE => {
                crate::python::apply_python_env(conn, event, event.decode()?).await
            }
            _ => Ok(()),
        }
    }

    async fn reset(&self, conn: &mut PgConnection) -> Result<(), StoreError> {
        sqlx::query(
            "TRUNCATE rm_resources, rm_prompts, rm_tools, rm_servers, rm_tenants, rm_groups, rm_users, rm_mcp_clients, \
             rm_operators, tenant_identity_providers, rm_jobs, rm_job_inputs, rm_ledgers, rm_platform_maintenance, rm_python_envs, \
             rm_python_sessions",
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}

async fn apply_tenant(conn: &mut PgConnection, stored: &StoredEvent, event: TenantEvent) -> Result<(), StoreError> {
    match event {
        TenantEvent::Created { id, display_name } => {
            sqlx::query(
                "INSERT INTO rm_tenants (tenant_id, display_name, created_at, updated_at) VALUES ($1, $2, $3, $3)",
            )
            .bind(id.as_str())
            .bind(display_name)
            .bind(stored.recorded_at)
            .execute(conn)
            .await?;
        }
        TenantEvent::Suspended | TenantEvent::Resumed => {
            sqlx::query("UPDATE rm_tenants SET suspended = $2, updated_at = $3 WHERE tenant_id = $1")
                .bind(stored.aggregate_id.as_str())
                .bind(matches!(event, TenantEvent::Suspended))
                .bind(stored.recorded_at)
                .execute(conn)
                .await?;
        }
        TenantEvent::IdentityProviderSet(p) => {
            sqlx::query(
                "INSERT INTO tenant_identity_providers
                     (tenant_id, issuer, client_id, client_secret, username_claim, updated_at, updated_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (tenant_id) DO UPDATE SET issuer = $2, client_id = $3, client_secret = $4,
                     username_claim = $5, updated_at = $6, updated_by = $7",
            )
            .bind(stored.aggregate_id.as_str())
            .bind(&p.issuer)
            .bind(&p.client_id)
            .bind(sqlx::types::Json(&p.client_secret))
            .bind(&p.username_claim)
            .bind(stored.recorded_at)
            .bind(stored.metadata.actor.as_str())
            .execute(conn)
            .await?;
        }
        TenantEvent::IdentityProviderRemoved => {
            sqlx::query("DELETE FROM tenant_identity_providers WHERE tenant_id = $1")
                .bind(stored.aggregate_id.as_str())
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

async fn apply_operator(conn: &mut PgConnection, stored: &StoredEvent, event: OperatorEvent) -> Result<(), StoreError> {
    let (name, at, version) = (stored.aggregate_id.as_str(), stored.recorded_at, stored.version);
    match event {
        OperatorEvent::Created { token, .. } => {
            sqlx::query(
                "INSERT INTO rm_operators (name, token_digest, version, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(name)
            .bind(token.as_str())
            .bind(version)
            .bind(at)
            .execute(conn)
            .await?;
        }
        OperatorEvent::TokenRotated { token } => {
            sqlx::query("UPDATE rm_operators SET token_digest = $2, version = $3, updated_at = $4 WHERE name = $1")
                .bind(name)
                .bind(token.as_str())
                .bind(version)
                .bind(at)
                .execute(conn)
                .await?;
        }
        OperatorEvent::Deleted => {
            sqlx::query("DELETE FROM rm_operators WHERE name = $1").bind(name).execute(conn).await?;
        }
    }
    Ok(())
}

async fn apply_group(conn: &mut PgConnection, stored: &StoredEvent, event: GroupEvent) -> Result<(), StoreError> {
    let (tenant, name) = (stored.tenant_id.as_str(), stored.aggregate_id.as_str());
    match event {
        GroupEvent::Created { spec, .. } | GroupEvent::Updated { spec } => {
            sqlx::query(
                "INSERT INTO rm_groups (tenant_id, name, spec, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
                 ON CONFLICT (tenant_id, name) DO UPDATE SET spec = $3, version = $4, updated_at = $5",
            )
            .bind(tenant)
            .bind(name)
            .bind(serde_json::to_value(&spec).expect("spec serialises"))
            .bind(stored.version)
            .bind(stored.recorded_at)
            .execute(conn)
            .await?;
        }
        GroupEvent::Deleted => {
            sqlx::query("DELETE FROM rm_groups WHERE tenant_id = $1 AND name = $2")
                .bind(tenant)
                .bind(name)
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

async fn apply_user(conn: &mut PgConnection, stored: &StoredEvent, event: UserEvent) -> Result<(), StoreError> {
    let (tenant, name, at, version) =
        (stored.tenant_id.as_str(), stored.aggregate_id.as_str(), stored.recorded_at, stored.version);
    match event {
        UserEvent::Created { role, token, .. } => {
            sqlx::query(
                "INSERT INTO rm_users (tenant_id, name, role, token_digest, version, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(tenant)
            .bind(name)
            .bind(role.as_str())
            .bind(token.as_str())
            .bind(version)
            .bind(at)
            .execute(conn)
            .await?;
        }
        UserEvent::RoleChanged { role } => {
            sqlx::query(
                "UPDATE rm_users SET role = $3, version = $4, updated_at = $5 WHERE tenant_id = $1 AND name = $2",
            )
            .bind(tenant)
            .bind(name)
            .bind(role.as_str())
            .bind(version)
            .bind(at)
            .execute(conn)
            .await?;
        }
        UserEvent::TokenRotated { token } => {
            sqlx::query(
                "UPDATE rm_users SET token_digest = $3, version = $4, updated_at = $5 WHERE tenant_id = $1 AND name = $2",
            )
            .bind(tenant)
            .bind(name)
            .bind(token.as_str())
            .bind(version)
            .bind(at)
            .execute(conn)
            .await?;
        }
        UserEvent::Deleted => {
            sqlx::query("DELETE FROM rm_users WHERE tenant_id = $1 AND name = $2")
                .bind(tenant)
                .bind(name)
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

async fn apply_client(conn: &mut PgConnection, stored: &StoredEvent, event: McpClientEvent) -> Result<(), StoreError> {
    let (tenant, name, at, version) =
        (stored.tenant_id.as_str(), stored.aggregate_id.as_str(), stored.recorded_at, stored.version);
    match event {
        McpClientEvent::Created { description, allow, token, .. } => {
            sqlx::query(
                "INSERT INTO rm_mcp_clients (tenant_id, name, description, allow, token_digest, version, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(tenant)
            .bind(name)
            .bind(description)
            .bind(serde_json::to_value(&allow).expect("allow lists serialise"))
            .bind(token.as_str())
            .bind(version)
            .bind(at)
            .execute(conn)
            .await?;
        }
        McpClientEvent::Updated { description, allow } => {
            sqlx::query(
                "UPDATE rm_mcp_clients SET description = $3, allow = $4, version = $5, updated_at = $6 \
                 WHERE tenant_id = $1 AND name = $2",
            )
            .bind(tenant)
            .bind(name)
            .bind(description)
            .bind(serde_json::to_value(&allow).expect("allow lists serialise"))
            .bind(version)
            .bind(at)
            .execute(conn)
            .await?;
        }
        McpClientEvent::TokenRotated { token } => {
            sqlx::query(
                "UPDATE rm_mcp_clients SET token_digest = $3, version = $4, updated_at = $5 \
                 WHERE tenant_id = $1 AND name = $2",
            )
            .bind(tenant)
            .bind(name)
            .bind(token.as_str())
            .bind(version)
            .bind(at)
            .execute(conn)
            .await?;
        }
        McpClientEvent::Deleted => {
            sqlx::query("DELETE FROM rm_mcp_clients WHERE tenant_id = $1 AND name = $2")
                .bind(tenant)
                .bind(name)
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

async fn apply_server(conn: &mut PgConnection, stored: &StoredEvent, event: ServerEvent) -> Result<(), StoreError> {
    let (tenant, name) = (stored.tenant_id.as_str(), stored.aggregate_id.as_str());
    let previous: Option<(serde_json::Value,)> =
        sqlx::query_as("SELECT state FROM rm_servers WHERE tenant_id = $1 AND name = $2 FOR UPDATE")
            .bind(tenant)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
    let state: Server = match previous {
        Some((json,)) => {
            serde_json::from_value(json).map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))?
        }
        None => Server::Absent,
    };
    let catalog_changed = matches!(
        event,
        ServerEvent::Registered { .. }
            | ServerEvent::Replaced { .. }
            | ServerEvent::CatalogDiscovered { .. }
            | ServerEvent::CatalogRefreshed { .. }
            | ServerEvent::ServerToggled { .. }
            | ServerEvent::FeaturesToggled { .. }
    );
    match state.apply(&event) {
        Server::Registered(server) => {
            upsert_server(conn, stored, &server).await?;
            if catalog_changed {
                replace_catalog(conn, tenant, name, &server).await?;
            }
        }
        Server::Absent | Server::Deregistered => {
            sqlx::query("DELETE FROM rm_servers WHERE tenant_id = $1 AND name = $2")
                .bind(tenant)
                .bind(name)
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

async fn upsert_server(
    conn: &mut PgConnection,
    stored: &StoredEvent,
    server: &RegisteredServer,
) -> Result<(), StoreError> {
    let (status, error) = match &server.status {
        canopy_domain::server::DiscoveryStatus::Pending => ("pending", None),
        canopy_domain::server::DiscoveryStatus::Ready => ("ready", None),
        canopy_domain::server::DiscoveryStatus::Failed { error } => ("error", Some(error.as_str())),
    };
    let state = serde_json::to_value(Server::Registered(server.clone())).expect("state serialises");
    let is_new = matches!(stored.event_type.as_str(), "server.registered" | "server.replaced");
    sqlx::query(
        "INSERT INTO rm_servers (tenant_id, name, server_id, transport, description, spec, status, status_error, \
         enabled, state, version, registered_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
         ON CONFLICT (tenant_id, name) DO UPDATE SET server_id = $3, transport = $4, description = $5, spec = $6, \
         status = $7, status_error = $8, enabled = $9, state = $10, version = $11, updated_at = $12, \
         registered_at = CASE WHEN $13 THEN $12 ELSE rm_servers.registered_at END",
    )
    .bind(&stored.tenant_id)
    .bind(&stored.aggregate_id)
    .bind(server.id.0)
    .bind(server.spec.transport.as_str())
    .bind(&server.spec.description)
    .bind(serde_json::to_value(&server.spec).expect("spec serialises"))
    .bind(status)
    .bind(error)
    .bind(server.enabled)
    .bind(state)
    .bind(stored.version)
    .bind(stored.recorded_at)
    .bind(is_new)
    .execute(conn)
    .await?;
    Ok(())
}

async fn replace_catalog(
    conn: &mut PgConnection,
    tenant: &str,
    server: &str,
    state: &RegisteredServer,
) -> Result<(), StoreError> {
    for table in ["rm_tools", "rm_prompts", "rm_resources"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id = $1 AND server_name = $2"))
            .bind(tenant)
            .bind(server)
            .execute(&mut *conn)
            .await?;
    }
    let catalog = &state.catalog;
    for (position, tool) in catalog.tools.iter().enumerate() {
        let Some(name) = tool.get("name").and_then(|n| n.as_str()) else {
            continue;
        };
        sqlx::query(
            "INSERT INTO rm_tools (tenant_id, server_name, tool_name, definition, enabled, position) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(server)
        .bind(name)
        .bind(tool)
        .bind(state.is_enabled(FeatureKind::Tool, name))
        .bind(position as i32)
        .execute(&mut *conn)
        .await?;
    }
    for (position, prompt) in catalog.prompts.iter().enumerate() {
        let Some(name) = prompt.get("name").and_then(|n| n.as_str()) else {
            continue;
        };
        sqlx::query(
            "INSERT INTO rm_prompts (tenant_id, server_name, prompt_name, definition, enabled, position) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(server)
        .bind(name)
        .bind(prompt)
        .bind(state.is_enabled(FeatureKind::Prompt, name))
        .bind(position as i32)
        .execute(&mut *conn)
        .await?;
    }
    let resources = catalog.resources.iter().map(|r| (r, "uri", false));
    let templates = catalog.resource_templates.iter().map(|r| (r, "uriTemplate", true));
    for (position, (item, key, is_template)) in resources.chain(templates).enumerate() {
        let Some(uri) = item.get(key).and_then(|n| n.as_str()) else {
            continue;
        };
        sqlx::query(
            "INSERT INTO rm_resources (tenant_id, server_name, uri, is_template, definition, enabled, position) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(server)
        .bind(uri)
        .bind(is_template)
        .bind(item)
        .bind(state.is_enabled(FeatureKind::Resource, uri))
        .bind(position as i32)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

//! The built-in servers of every tenant (`[builtin] servers`): registered by the system, never
//! by a user (the domain refuses users their names). At start, [`ensure_builtins_everywhere`]
//! registers them in every existing tenant (`default` included); afterwards
//! [`run_builtin_registrar`], a durable consumer shared by the api replicas, registers them in
//! each tenant as its `tenant.created` event arrives. Both are idempotent
//! (`ServerCommand::RegisterBuiltin` appends nothing when the built-in is there), so replicas
//! racing each other, a restart or a redelivery are harmless.

use canopy_bus::{Bus, Handling, Outcome};
use canopy_domain::server::{Server, ServerCommand, ServerError};
use canopy_domain::tenant::{Tenant, TenantEvent};
use canopy_domain::{Aggregate, BuiltinKind, ServerId, TenantId};
use canopy_eventstore::{CommandContext, CommandExecutor, ExecuteError, StoredEvent};
use canopy_readmodels::CanopyProjector;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const CONSUMER: &str = "api-builtins";

/// Registers `kinds` in `tenant` where they are not yet. A user's server that held a name
/// before it was reserved is left alone (logged): its admin deregisters it to get the built-in.
pub async fn ensure_builtins(
    executor: &CommandExecutor<CanopyProjector>,
    tenant: &TenantId,
    kinds: &[BuiltinKind],
) -> Result<(), ExecuteError<ServerError>> {
    let ctx = CommandContext::new(tenant.clone(), "system");
    for kind in kinds {
        let command = ServerCommand::RegisterBuiltin { id: ServerId(uuid::Uuid::now_v7()), kind: *kind };
        match executor.execute::<Server>(&ctx, kind.name(), &command).await {
            Ok(_) => {}
            Err(ExecuteError::Rejected(ServerError::AlreadyRegistered(_))) => {
                tracing::warn!(%tenant, server = kind.name(), "a user's server holds a built-in's name; not registering the built-in");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum BuiltinSetupError {
    #[error("listing the tenants failed")]
    Database(#[from] sqlx::Error),
    #[error("registering the built-in servers of tenant '{tenant}' failed")]
    Register {
        tenant: TenantId,
        #[source]
        source: ExecuteError<ServerError>,
    },
}

/// [`ensure_builtins`] in every tenant there is (at api start).
pub async fn ensure_builtins_everywhere(
    executor: &CommandExecutor<CanopyProjector>,
    kinds: &[BuiltinKind],
) -> Result<(), BuiltinSetupError> {
    if kinds.is_empty() {
        return Ok(());
    }
    for row in canopy_readmodels::list_tenants(executor.store().pool()).await? {
        let Ok(tenant) = TenantId::parse(row.tenant_id.clone()) else { continue };
        ensure_builtins(executor, &tenant, kinds)
            .await
            .map_err(|source| BuiltinSetupError::Register { tenant: tenant.clone(), source })?;
    }
    Ok(())
}

/// Registers the built-ins in each tenant created from now on, until `shutdown`: the durable
/// consumer `api-builtins` of tenant events, which acks every other event and retries a
/// registration that failed a second later.
pub async fn run_builtin_registrar(
    executor: CommandExecutor<CanopyProjector>,
    bus: Bus,
    kinds: Vec<BuiltinKind>,
    shutdown: CancellationToken,
) {
    if kinds.is_empty() {
        return;
    }
    let consumer = canopy_bus::Durable {
        stream: bus.subjects.events_stream(),
        name: CONSUMER,
        filter_subject: bus.subjects.events_of_type(Tenant::TYPE),
        ack_wait: Duration::from_secs(30),
        max_ack_pending: 16,
    };
    let kinds: Arc<[BuiltinKind]> = kinds.into();
    consumer
        .run(&bus, shutdown, Handling::default(), move |stored: StoredEvent, _| {
            let (executor, kinds) = (executor.clone(), kinds.clone());
            async move {
                let created = matches!(stored.decode::<TenantEvent>(), Ok(TenantEvent::Created { .. }));
                let tenant = match TenantId::parse(stored.tenant_id.clone()) {
                    Ok(tenant) if created => tenant,
                    _ => return Outcome::Ack,
                };
                match ensure_builtins(&executor, &tenant, &kinds).await {
                    Ok(()) => Outcome::Ack,
                    Err(e) => {
                        tracing::warn!(%tenant, error = %e, "registering built-in servers failed; will retry");
                        Outcome::Nak(Duration::from_secs(1))
                    }
                }
            }
        })
        .await
}

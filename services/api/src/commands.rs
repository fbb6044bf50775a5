//! The api side of the COMMANDS work queue: session-workers report discovered catalogs (or
//! failures); each report becomes a domain command, executed once by whichever api replica
//! takes it. Reports are idempotent in the domain (an unchanged catalog appends nothing), so a
//! redelivered report is harmless.

use crate::ApiState;
use canopy_bus::{Handling, Outcome};
use canopy_domain::server::{Catalog, Server, ServerCommand};
use canopy_domain::{ServerId, TenantId};
use canopy_eventstore::{CommandContext, ExecuteError};
use canopy_mcp::report::{CatalogReport, DiscoveryOutcome, COMMAND_KIND};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Runs the `api-commands` consumer until `shutdown`: each report is recorded (`Ack`), or
/// retried a second later when recording fails (`Nak`); a malformed one is dropped by the loop.
pub async fn run_command_consumer(state: ApiState, shutdown: CancellationToken) {
    let bus = state.bus.clone();
    let consumer = canopy_bus::Durable {
        stream: bus.subjects.commands_stream(),
        name: "api-commands",
        filter_subject: bus.subjects.command(COMMAND_KIND),
        ack_wait: Duration::from_secs(30),
        max_ack_pending: 0,
    };
    consumer
        .run(&bus, shutdown, Handling::default(), move |report: CatalogReport, _| {
            let state = state.clone();
            async move {
                match record(&state, &report).await {
                    Ok(()) => Outcome::Ack,
                    Err(e) => {
                        tracing::warn!(error = %e, server = %report.server, "command consumer: recording failed; will retry");
                        Outcome::Nak(Duration::from_secs(1))
                    }
                }
            }
        })
        .await
}

/// The domain command a report asks for. A catalog Postgres cannot hold (a NUL in any string
/// or key: JSONB refuses it) is recorded as a failed discovery naming where, rather than
/// retried forever with the registration left pending.
fn command_of(id: ServerId, outcome: &DiscoveryOutcome) -> ServerCommand {
    match outcome {
        DiscoveryOutcome::Catalog { tools, prompts, resources, resource_templates } => {
            let parts = [
                ("tools", tools),
                ("prompts", prompts),
                ("resources", resources),
                ("resource_templates", resource_templates),
            ];
            let nul = parts.iter().find_map(|(name, items)| {
                items.iter().enumerate().find_map(|(i, item)| crate::input::nul_in_json(item, &format!("{name}[{i}]")))
            });
            if let Some(nul) = nul {
                let error = format!("the upstream's catalog cannot be stored: {nul}");
                return ServerCommand::RecordDiscoveryFailure { id, error };
            }
            ServerCommand::RecordCatalog {
                id,
                catalog: Catalog {
                    tools: tools.clone(),
                    prompts: prompts.clone(),
                    resources: resources.clone(),
                    resource_templates: resource_templates.clone(),
                },
            }
        }
        DiscoveryOutcome::Failed { error } => ServerCommand::RecordDiscoveryFailure { id, error: error.clone() },
    }
}

async fn record(state: &ApiState, report: &CatalogReport) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let tenant = TenantId::parse(report.tenant.clone())?;
    let id = ServerId(report.server_id);
    let command = command_of(id, &report.outcome);
    let mut ctx = CommandContext::new(tenant, "service:session-worker");
    if let Ok(c) = report.correlation_id.parse() {
        ctx.metadata.correlation_id = c;
    }
    ctx.metadata.causation_id = report.caused_by.parse().ok();
    match state.executor.execute::<Server>(&ctx, &report.server, &command).await {
        Ok(outcome) => {
            if report.announced && outcome.events.is_empty() {
                // The upstream said its lists changed but nothing recorded did: pass its word
                // on (a catalog event would have told the edges already). The payload names the
                // announcement, so that one edge, not each, tells the sessions.
                let subject = state.bus.subjects.list_changed(&report.tenant, &report.server);
                let id = bytes::Bytes::from(uuid::Uuid::new_v4().to_string());
                if let Err(e) = state.bus.client.publish(subject, id).await {
                    tracing::warn!(error = %e, "could not pass an upstream's list_changed on");
                }
            }
            Ok(())
        }
        // Reports about servers that no longer exist are stale, not failures.
        Err(ExecuteError::Rejected(e)) => {
            tracing::info!(server = %report.server, reason = %e, "catalog report not applicable");
            Ok(())
        }
        Err(e) => Err(Box::new(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_catalog_with_a_nul_is_a_failed_discovery_naming_where() {
        let id = ServerId(uuid::Uuid::nil());
        let outcome = |tools: Vec<serde_json::Value>| DiscoveryOutcome::Catalog {
            tools,
            prompts: vec![],
            resources: vec![json!({"uri": "a://b", "name": "ok"})],
            resource_templates: vec![],
        };
        let clean = outcome(vec![json!({"name": "echo", "inputSchema": {"type": "object"}})]);
        assert!(matches!(command_of(id, &clean), ServerCommand::RecordCatalog { .. }));
        let dirty = outcome(vec![json!({"name": "echo"}), json!({"name": "x", "description": "a\u{0}b"})]);
        match command_of(id, &dirty) {
            ServerCommand::RecordDiscoveryFailure { error, .. } => {
                assert!(error.contains("tools[1].description") && !error.contains('\0'), "{error}")
            }
            other => panic!("{other:?}"),
        }
    }
}

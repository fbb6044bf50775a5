//! The platform operator's part of a chaos run's load, through HAProxy like the rest: tenants
//! other than the default, created with an owner whose token is the load's, each then given
//! an MCP client (by its owner, a token of the load's too), and suspended and resumed while
//! processes die. The operator's token comes from `init-server` (`operator_token`); only the
//! operator may create, suspend or resume a tenant (`services/api/src/tenants.rs`).
//!
//! What the load knows of each tenant goes into the ledger: its commands (create, suspend,
//! resume, with their outcomes) and the tokens of the identities that certainly exist (the
//! owner when the create answered 201, the client when its create was acknowledged). The check
//! (`check::tenant_tokens`) then asks every edge: a suspended tenant's tokens are refused, an
//! active tenant's accepted. A tenant with an unknown outcome is left out, as the other checks
//! leave out names of unknown state.

use crate::chaos::ledger::{CommandKind, CommandRecord, Ledger, Outcome};
use crate::chaos::load::{Api, Deadline};
use crate::chaos::rng::Rng;
use serde_json::json;
use std::time::{Duration, Instant};

/// Creates tenant `id` as the operator (`operator`), with owner `ID-owner` and then, as that
/// owner, an MCP client `ID-client` allowed every server; records the create in the ledger and
/// notes each identity's token once its creation is certain. Answers whether the tenant was
/// created (acknowledged, or committed by an attempt whose answer was lost).
pub async fn create_tenant(operator: &Api, id: &str, ledger: &Ledger, run_start: Instant) -> bool {
    let at = run_start.elapsed().as_secs_f64();
    let owner = format!("{id}-owner");
    let owner_token = format!("chaos-token-{owner}-{}", uuid::Uuid::new_v4().simple());
    let body = json!({"id": id, "owner": owner, "owner_access_token": owner_token});
    let (outcome, attempts) =
        operator.until_definite(reqwest::Method::POST, "/tenants", Some(&body), None, Some(409)).await;
    let record = CommandRecord {
        kind: CommandKind::CreateTenant,
        name: id.to_string(),
        idempotency_key: None,
        group_servers: None,
        outcome: outcome.clone(),
        attempts,
        at,
    };
    let created = record.committed();
    ledger.command(record);
    // The tenant and its owner are two commands: a 409 on a retry says the tenant exists, not
    // that its owner does, so the owner's token is expected only after a 201.
    if matches!(outcome, Outcome::Acked { .. }) {
        ledger.note_tenant_token(id, "owner", &owner_token);
    }
    if !created {
        return false;
    }
    let client = format!("{id}-client");
    let client_token = format!("chaos-token-{client}-{}", uuid::Uuid::new_v4().simple());
    let body = json!({"name": client, "allowed_servers": ["*"], "access_token": client_token});
    let as_owner = operator.with_token(&owner_token);
    let (outcome, _) =
        as_owner.until_definite(reqwest::Method::POST, "/mcp-clients", Some(&body), None, Some(409)).await;
    if matches!(outcome, Outcome::Acked { .. } | Outcome::AckedEarlier { .. }) {
        ledger.note_tenant_token(id, "client", &client_token);
    }
    true
}

/// Suspends (`suspend`) or resumes tenant `id` as the operator and records it. Both are
/// idempotent at the API (suspending a suspended tenant changes nothing, 200), so a retry of a
/// lost answer gets 200 again. Answers the outcome.
pub async fn set_suspended(
    operator: &Api,
    id: &str,
    suspend: bool,
    ledger: &Ledger,
    run_start: Instant,
    retry_for: Option<Duration>,
) -> Outcome {
    let at = run_start.elapsed().as_secs_f64();
    let (kind, path) = if suspend {
        (CommandKind::SuspendTenant, format!("/tenants/{id}/suspend"))
    } else {
        (CommandKind::ResumeTenant, format!("/tenants/{id}/resume"))
    };
    let post = reqwest::Method::POST;
    let (outcome, attempts) = match retry_for {
        Some(within) => operator.until_definite_within(within, post, &path, None, None, None).await,
        None => operator.until_definite(post, &path, None, None, None).await,
    };
    ledger.command(CommandRecord {
        kind,
        name: id.to_string(),
        idempotency_key: None,
        group_servers: None,
        outcome: outcome.clone(),
        attempts,
        at,
    });
    outcome
}

/// The operator's task until the deadline, one step every 3-7 s: two tenants first, then the
/// first one suspended, then at random a new tenant (35%), a suspension of an active tenant
/// (35%) or a resumption of a suspended one (30%). Tenants are `chaos-t{n}`. A tenant whose
/// command had an unknown outcome is not touched again (its state is not known).
pub async fn drive_tenants(operator: Api, seed: u64, ledger: Ledger, run_start: Instant, deadline: Deadline) {
    let mut rng = Rng::derive(seed, 200);
    let mut active: Vec<String> = Vec::new();
    let mut suspended: Vec<String> = Vec::new();
    let mut step = 0usize;
    while deadline.running() {
        let roll = rng.below(100);
        if step < 2 || (roll < 35) || (active.is_empty() && suspended.is_empty()) {
            let id = format!("chaos-t{step}");
            if create_tenant(&operator, &id, &ledger, run_start).await {
                active.push(id);
            }
        } else if (step == 2 || roll < 70 || suspended.is_empty()) && !active.is_empty() {
            let index = if step == 2 { 0 } else { rng.below(active.len()) };
            let id = active.remove(index);
            match set_suspended(&operator, &id, true, &ledger, run_start, None).await {
                Outcome::Acked { .. } | Outcome::AckedEarlier { .. } => suspended.push(id),
                Outcome::Refused { .. } => active.push(id),
                Outcome::Unknown { .. } => {}
            }
        } else {
            let id = suspended.remove(rng.below(suspended.len()));
            match set_suspended(&operator, &id, false, &ledger, run_start, None).await {
                Outcome::Acked { .. } | Outcome::AckedEarlier { .. } => active.push(id),
                Outcome::Refused { .. } => suspended.push(id),
                Outcome::Unknown { .. } => {}
            }
        }
        step += 1;
        tokio::time::sleep(Duration::from_millis(rng.between(3000.0, 7000.0) as u64)).await;
    }
}

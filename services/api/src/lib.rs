//! The api service: the REST admin API under `/api/v0` (MCPJungle's routes, in Jungle Grid's
//! error envelope) and command handling. Every change goes through the command executor:
//! validate, decide in the domain, append events, project read models, all in one transaction.
//! It also consumes the COMMANDS work queue, where session-workers report what they discovered.
//!
//! Who may do what: `principal.rs` turns each request into a policy principal (development mode:
//! everything in the `default` tenant; enterprise mode: the holder of the bearer token), and every
//! handler asks `canopy-policy` before it reads or changes anything. Users and MCP clients
//! (`users.rs`, `mcp_clients.rs`, `identities.rs`) are enterprise mode's, and so are tenants,
//! which the platform operator creates, lists and suspends (`tenants.rs`). Jobs, their inputs,
//! credits and maintenance (`jobs.rs`, `job_inputs.rs`, `credits.rs`) are thin handlers over
//! `canopy-jobs`, which the `grid` MCP tools call too. The admin console (`console/`) is static
//! files served at `/console` that call this same API.

pub mod audit;
mod builtins;
mod commands;
pub mod console;
mod credits;
mod error;
mod groups;
mod identities;
mod identity_provider;
mod input;
mod job_inputs;
mod jobs;
mod mcp_clients;
mod me;
pub mod oauth;
mod oauth_grants;
mod openapi;
mod principal;
mod prompts;
mod python;
mod resources;
mod servers;
mod tenants;
mod toggles;
mod tools;
mod upstream;
mod users;

pub use audit::run_audit_consumer;
pub use builtins::{ensure_builtins, ensure_builtins_everywhere, run_builtin_registrar, BuiltinSetupError};
pub use commands::run_command_consumer;
pub use error::ApiError;
pub use openapi::{openapi, openapi_document};
pub use principal::Principal;
pub use users::INITIAL_ADMIN;

use axum::routing::{delete, get, post, put};
use axum::Router;
use canopy_bus::Bus;
pub use canopy_config::Mode;
use canopy_domain::tenant::{Tenant, TenantCommand, TenantError};
use canopy_domain::TenantId;
use canopy_eventstore::{CommandContext, CommandExecutor, ExecuteError};
use canopy_readmodels::CanopyProjector;
use canopy_secrets::Sealer;
use std::time::Duration;

#[derive(Clone)]
pub struct ApiState {
    /// Development (no authentication, the `default` tenant) or enterprise (bearer tokens).
    pub mode: Mode,
    pub executor: CommandExecutor<CanopyProjector>,
    pub bus: Bus,
    pub sealer: Sealer,
    /// OAuth access tokens (enterprise mode: Canopy's own and external issuers'); `None`:
    /// static tokens only.
    pub access_tokens: Option<std::sync::Arc<canopy_bearer::AccessTokens>>,
    /// How long a registration waits for the worker's first catalog before answering.
    pub discovery_wait: Duration,
    pub call_timeout: Duration,
    /// The public base URL, for the endpoints the API hands out.
    pub public_url: String,
    /// Canopy's OAuth authorization server (enterprise mode); `None` in development mode.
    pub oauth: Option<std::sync::Arc<oauth::OAuthServer>>,
    /// The jobs service (`jobs.rs`, `job_inputs.rs`, `credits.rs` are thin handlers over it).
    pub jobs: canopy_jobs::Jobs,
}

impl ApiState {
    pub fn pool(&self) -> &sqlx::PgPool {
        self.executor.store().pool()
    }
}

/// The `/api/v0` routes. Unknown routes under it answer in the error envelope.
/// Every route here is described in the OpenAPI document (`openapi.rs`, from the handlers'
/// annotations); `tests/openapi.rs` fails when one is missing.
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/servers", post(servers::register).get(servers::list))
        .route("/servers/{name}", get(servers::get).delete(servers::deregister))
        .route("/tools", get(tools::list))
        .route("/tool", get(tools::get))
        .route("/tools/invoke", post(tools::invoke))
        .route("/groups", post(groups::create).get(groups::list))
        .route("/groups/{name}", get(groups::get).put(groups::update).delete(groups::delete))
        .route("/groups/{name}/effective-tools", get(groups::effective_tools))
        .route("/servers/{name}/enable", post(toggles::enable_server))
        .route("/servers/{name}/disable", post(toggles::disable_server))
        .route("/tools/enable", post(toggles::enable_tools))
        .route("/tools/disable", post(toggles::disable_tools))
        .route("/prompts", get(prompts::list))
        .route("/prompt", get(prompts::get))
        .route("/prompts/render", post(prompts::render))
        .route("/prompts/enable", post(toggles::enable_prompts))
        .route("/prompts/disable", post(toggles::disable_prompts))
        .route("/resources", get(resources::list))
        .route("/resources/read", post(resources::read))
        .route("/resources/enable", post(toggles::enable_resources))
        .route("/resources/disable", post(toggles::disable_resources))
        .route("/init-server", post(users::init_server))
        .route("/users", post(users::create).get(users::list))
        .route("/users/{name}", delete(users::delete))
        .route("/mcp-clients", post(mcp_clients::create).get(mcp_clients::list))
        .route("/mcp-clients/{name}", put(mcp_clients::update).delete(mcp_clients::delete))
        .route("/tenants", post(tenants::create).get(tenants::list))
        .route("/tenants/{id}", get(tenants::get))
        .route("/tenants/{id}/suspend", post(tenants::suspend))
        .route("/tenants/{id}/resume", post(tenants::resume))
        .route("/jobs", post(jobs::submit).get(jobs::list))
        .route("/jobs/estimate", post(jobs::estimate))
        .route("/jobs/{id}", get(jobs::get))
        .route("/jobs/{id}/events", get(jobs::events))
        .route("/jobs/{id}/logs", get(jobs::logs))
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .route("/jobs/{id}/artifacts", get(jobs::artifacts))
        .route("/jobs/{id}/artifacts/{artifact_id}", get(jobs::artifact))
        .route("/jobs/{id}/artifacts/{artifact_id}/download", get(jobs::download))
        .route("/job-inputs", post(job_inputs::create).get(job_inputs::list))
        .route("/job-inputs/{id}/complete", post(job_inputs::complete))
        .route("/credits", get(credits::get))
        .route("/tenants/{id}/credits", post(credits::grant))
        .route("/maintenance", get(credits::maintenance).put(credits::set_maintenance))
        .route("/python/environments", get(python::list))
        .route("/python/environments/{id}", get(python::get).delete(python::destroy))
        .route("/python/environments/{id}/freeze", get(python::freeze))
        .route("/audit", get(audit::list))
        .route("/me", get(me::get))
        .route("/oauth-grants", get(oauth_grants::list))
        .route("/oauth-grants/{id}", delete(oauth_grants::revoke))
        .route(
            "/identity-provider",
            get(identity_provider::get).put(identity_provider::put).delete(identity_provider::delete),
        )
        .fallback(error::not_found)
        .with_state(state.clone());
    let console = console::router(state.mode, &state.public_url);
    Router::new().nest("/api/v0", api).merge(oauth::router(state)).merge(console)
}

/// Development mode has one tenant, `default`; make sure it exists (idempotent).
pub async fn ensure_default_tenant(
    executor: &CommandExecutor<CanopyProjector>,
) -> Result<(), ExecuteError<TenantError>> {
    let id = TenantId::default_tenant();
    let ctx = CommandContext::new(id.clone(), "system");
    let command = TenantCommand::Create { id: id.clone(), display_name: "Default".into() };
    match executor.execute::<Tenant>(&ctx, id.as_str(), &command).await {
        Ok(_) | Err(ExecuteError::Rejected(TenantError::AlreadyExists(_))) => Ok(()),
        Err(e) => Err(e),
    }
}

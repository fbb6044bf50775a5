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
pub mod federation;
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
mod service;
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
pub use servers::register_disabled;
pub use service::{Api, ApiParts, BuildError};
pub use users::INITIAL_ADMIN;

use axum::Router;
use canopy_bus::Bus;
pub use canopy_config::Mode;
use canopy_domain::tenant::{Tenant, TenantCommand, TenantError};
use canopy_domain::TenantId;
use canopy_eventstore::{CommandContext, CommandExecutor, ExecuteError};
use canopy_readmodels::CanopyProjector;
use canopy_secrets::Sealer;
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// The `/api/v0` routes, each registered once with `routes!`: its path and method come from
/// the handler's `#[utoipa::path]` annotation, which also makes its operation in the OpenAPI
/// document (`openapi.rs` adds what is not an operation). Handlers of one path share a `routes!`.
pub(crate) fn api_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::default()
        .routes(routes!(servers::register, servers::list))
        .routes(routes!(servers::get, servers::deregister))
        .routes(routes!(toggles::enable_server))
        .routes(routes!(toggles::disable_server))
        .routes(routes!(tools::list))
        .routes(routes!(tools::get))
        .routes(routes!(tools::invoke))
        .routes(routes!(toggles::enable_tools))
        .routes(routes!(toggles::disable_tools))
        .routes(routes!(prompts::list))
        .routes(routes!(prompts::get))
        .routes(routes!(prompts::render))
        .routes(routes!(toggles::enable_prompts))
        .routes(routes!(toggles::disable_prompts))
        .routes(routes!(resources::list))
        .routes(routes!(resources::read))
        .routes(routes!(toggles::enable_resources))
        .routes(routes!(toggles::disable_resources))
        .routes(routes!(groups::create, groups::list))
        .routes(routes!(groups::get, groups::update, groups::delete))
        .routes(routes!(groups::effective_tools))
        .routes(routes!(users::init_server))
        .routes(routes!(users::create, users::list))
        .routes(routes!(users::update, users::delete))
        .routes(routes!(me::get))
        .routes(routes!(mcp_clients::create, mcp_clients::list))
        .routes(routes!(mcp_clients::update, mcp_clients::delete))
        .routes(routes!(tenants::create, tenants::list))
        .routes(routes!(tenants::get))
        .routes(routes!(tenants::suspend))
        .routes(routes!(tenants::resume))
        .routes(routes!(audit::list))
        .routes(routes!(identity_provider::get, identity_provider::put, identity_provider::delete))
        .routes(routes!(oauth_grants::list))
        .routes(routes!(oauth_grants::revoke))
        .routes(routes!(jobs::estimate))
        .routes(routes!(jobs::submit, jobs::list))
        .routes(routes!(jobs::get))
        .routes(routes!(jobs::events))
        .routes(routes!(jobs::logs))
        .routes(routes!(jobs::cancel))
        .routes(routes!(jobs::artifacts))
        .routes(routes!(jobs::artifact))
        .routes(routes!(jobs::download))
        .routes(routes!(job_inputs::create, job_inputs::list))
        .routes(routes!(job_inputs::complete))
        .routes(routes!(credits::get))
        .routes(routes!(credits::grant))
        .routes(routes!(credits::maintenance, credits::set_maintenance))
        .routes(routes!(python::list))
        .routes(routes!(python::get, python::destroy))
        .routes(routes!(python::freeze))
}

/// The REST API: the `/api/v0` routes ([`api_routes`]), where unknown routes answer in the error
/// envelope, with the OAuth authorization server's routes and the console.
pub fn router(state: ApiState) -> Router {
    let (api, _) = api_routes().split_for_parts();
    let console = console::router(state.mode, &state.public_url);
    api.with_state(state.clone())
        .nest("/api/v0", Router::new().fallback(error::not_found))
        .merge(oauth::router(state))
        .merge(console)
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

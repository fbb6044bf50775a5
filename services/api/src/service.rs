//! The api as one service: [`Api::build`] makes sure of what the api needs before it serves (the
//! default tenant, the built-in servers in every tenant, the OAuth server's keys in enterprise
//! mode, the jobs' blob store), [`Api::router`] serves the REST API, the OAuth server and the
//! console (and a local blob store's signed URLs), and [`Api::run`] runs its background work
//! (the outbox relay, the command and audit consumers, the built-in registrar, the OAuth
//! server's upkeep, mDNS federation when configured: `federation.rs`) until it is told to
//! stop, then waits for all of it. The binary only composes services.

use crate::ApiState;
use axum::Router;
use canopy_bus::{Bus, OutboxRelay, RelayOptions};
use canopy_config::Config;
use canopy_eventstore::CommandExecutor;
use canopy_readmodels::CanopyProjector;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What the api takes from its process.
pub struct ApiParts {
    pub pool: sqlx::PgPool,
    pub bus: Bus,
    pub redis: redis::aio::ConnectionManager,
    pub sealer: canopy_secrets::Sealer,
    pub executor: CommandExecutor<CanopyProjector>,
    /// OAuth access tokens (enterprise mode); `None`: static tokens only.
    pub access_tokens: Option<Arc<canopy_bearer::AccessTokens>>,
}

/// What stopped the api from being built: what it was doing, and why.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct BuildError {
    what: &'static str,
    source: Box<dyn std::error::Error + Send + Sync>,
}

fn failed<E: std::error::Error + Send + Sync + 'static>(what: &'static str) -> impl FnOnce(E) -> BuildError {
    move |e| BuildError { what, source: Box::new(e) }
}

/// The api service of a process.
pub struct Api {
    state: ApiState,
    router: Router,
    pool: sqlx::PgPool,
    builtins: Vec<canopy_domain::BuiltinKind>,
    /// mDNS federation (`[python.federation]`), when announce or discover is on.
    federation: Option<crate::federation::Federation>,
}

impl Api {
    pub async fn build(config: &Config, parts: ApiParts) -> Result<Api, BuildError> {
        let ApiParts { pool, bus, redis, sealer, executor, access_tokens } = parts;
        crate::ensure_default_tenant(&executor).await.map_err(failed("creating the default tenant"))?;
        crate::ensure_builtins_everywhere(&executor, &config.builtin.servers)
            .await
            .map_err(failed("registering the built-in servers"))?;
        let oauth = match config.mode {
            canopy_config::Mode::Enterprise => {
                let settings = crate::oauth::OAuthSettings::from_config(&config.oauth);
                let server = crate::oauth::OAuthServer::start(
                    config.public_base(),
                    pool.clone(),
                    &sealer,
                    redis,
                    config.nats.prefix.clone(),
                    settings,
                )
                .await
                .map_err(failed("starting the OAuth authorization server"))?;
                Some(server)
            }
            canopy_config::Mode::Development => None,
        };
        let jobs = canopy_jobs::Jobs::from_config(config, executor.clone(), bus.clone(), &sealer)
            .map_err(failed("opening the blob store of jobs' inputs and artifacts (jobs.blobs, CANOPY_BLOBS_*)"))?;
        let mut router = Router::new();
        if jobs.urls().store().kind() == canopy_blobs::StoreKind::Local {
            // Canopy serves its own signed URLs for a local store, outside bearer
            // authentication: the URL's signature is the credential.
            router = router.merge(canopy_blobs::router(jobs.urls().store().clone(), jobs.urls().signer().clone()));
        }
        let state = ApiState {
            mode: config.mode,
            executor,
            bus,
            sealer,
            access_tokens,
            discovery_wait: Duration::from_secs(config.gateway.discovery_wait_secs),
            call_timeout: Duration::from_secs(config.gateway.call_timeout_secs),
            public_url: config.public_base(),
            oauth,
            jobs,
        };
        let router = router.merge(crate::router(state.clone()));
        let federation_config = &config.python.federation;
        let tenant_exists = !federation_config.discover
            || canopy_readmodels::get_tenant(&pool, &federation_config.tenant)
                .await
                .map_err(failed("reading the tenant of python.federation"))?
                .is_some();
        let federation = crate::federation::Federation::start(federation_config, &config.public_base(), tenant_exists)
            .map_err(failed("starting mDNS federation (python.federation)"))?;
        Ok(Api { state, router, pool, builtins: config.builtin.servers.clone(), federation })
    }

    /// The REST API, the OAuth server's routes, the console (and a local blob store's URLs).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Runs the api's background work until `shutdown`, then waits for it to end.
    pub async fn run(self, shutdown: CancellationToken) {
        let Api { state, pool, builtins, federation, .. } = self;
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(federation) = federation {
            tasks.spawn(federation.run(state.clone(), shutdown.clone()));
        }
        let registrar =
            crate::run_builtin_registrar(state.executor.clone(), state.bus.clone(), builtins, shutdown.clone());
        tasks.spawn(registrar);
        if let Some(oauth) = &state.oauth {
            tasks.spawn(oauth.clone().run_maintenance(shutdown.clone()));
        }
        let relay = OutboxRelay::new(pool, state.bus.clone(), RelayOptions::default());
        tasks.spawn(relay.run(shutdown.clone()));
        tasks.spawn(crate::run_audit_consumer(state.clone(), shutdown.clone()));
        tasks.spawn(crate::run_command_consumer(state, shutdown));
        while tasks.join_next().await.is_some() {}
    }
}

//! Bringing services up and down. Every service connects to what it needs, checks it answers
//! (errors name the setting and the URL), and on SIGTERM/SIGINT the HTTP listener stops first
//! (in-flight requests finish), then background work drains, then the process exits 0.

use crate::health::{self, HealthState};
use anyhow::Context;
use axum::Router;
use canopy_bus::Bus;
use canopy_config::Config;
use canopy_eventstore::{CommandExecutor, EventStore};
use canopy_readmodels::CanopyProjector;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceSet {
    pub api: bool,
    pub edge: bool,
    pub worker: bool,
    pub poller: bool,
}

impl ServiceSet {
    pub const ALL: ServiceSet = ServiceSet { api: true, edge: true, worker: true, poller: true };

    pub fn one(name: &str) -> anyhow::Result<Self> {
        let none = ServiceSet { api: false, edge: false, worker: false, poller: false };
        Ok(match name {
            "api" => ServiceSet { api: true, ..none },
            "edge" | "gateway-edge" => ServiceSet { edge: true, ..none },
            "worker" | "session-worker" => ServiceSet { worker: true, ..none },
            "poller" | "job-poller" => ServiceSet { poller: true, ..none },
            other => anyhow::bail!("unknown service '{other}': use api, edge, worker or poller"),
        })
    }

    pub fn names(&self) -> Vec<&'static str> {
        [(self.api, "api"), (self.edge, "gateway-edge"), (self.worker, "session-worker"), (self.poller, "job-poller")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect()
    }
}

/// Tries `connect` until it succeeds or `config.startup_wait_secs` have passed, saying once
/// that it waits for `what`: processes started together with their infrastructure come up in
/// any order. The last error is returned when the time is up.
pub async fn patiently<T, E, F>(config: &Config, what: &str, mut connect: impl FnMut() -> F) -> Result<T, E>
where
    F: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let wait = Duration::from_secs(config.startup_wait_secs);
    let until = tokio::time::Instant::now() + wait;
    let mut said = false;
    loop {
        match connect().await {
            Ok(connected) => {
                if said {
                    tracing::info!("{what} answers");
                }
                return Ok(connected);
            }
            Err(e) if tokio::time::Instant::now() + Duration::from_secs(1) < until => {
                if !said {
                    tracing::warn!(error = %e, "waiting for {what} (up to {} s: startup_wait_secs, CANOPY_STARTUP_WAIT_SECS)", wait.as_secs());
                    said = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn connect_redis(url: &str) -> anyhow::Result<redis::aio::ConnectionManager> {
    let shown = canopy_config::redact_url(url);
    let hint = || {
        format!("cannot connect to Redis at {shown} (set CANOPY_REDIS_URL or redis.url, and check redis-server runs)")
    };
    let client = redis::Client::open(url).with_context(hint)?;
    let connect = redis::aio::ConnectionManager::new(client);
    tokio::time::timeout(Duration::from_secs(5), connect).await.map_err(|_| anyhow::anyhow!(hint()))?.with_context(hint)
}

/// Runs `services` until SIGTERM or SIGINT.
pub async fn run(config: Config, services: ServiceSet) -> anyhow::Result<()> {
    let names = services.names();
    let pool = patiently(&config, "PostgreSQL", || {
        canopy_eventstore::connect(&config.database.url, config.database.max_connections)
    })
    .await?;
    canopy_eventstore::migrate(&pool).await?;
    let bus_name = format!("canopy {}", names.join("+"));
    let bus = patiently(&config, "NATS", || Bus::connect(&config.nats.url, &config.nats.prefix, &bus_name)).await?;
    patiently(&config, "JetStream", || bus.ensure_streams()).await?;
    let redis = patiently(&config, "Redis", || connect_redis(&config.redis.url)).await?;
    // Rate limits and quotas (off unless configured), counted in Redis under the deployment's
    // prefix; the MCP and REST routes find the limiter in each request's extensions.
    let limiter = axum::Extension(canopy_limits::Limiter::new(&config.limits, redis.clone(), &config.nats.prefix));
    let sealer = crate::secret_key::resolve(&config)?;

    // Two phases: `http` stops the listener; `background` stops everything else after it.
    let http = CancellationToken::new();
    let background = CancellationToken::new();
    tokio::spawn(wait_for_signal(http.clone()));

    let executor = CommandExecutor::new(EventStore::new(pool.clone()), Arc::new(CanopyProjector));
    let mut tasks = JoinSet::new();
    let mut app = Router::new();
    // Caches kept from the event stream, by name: /readyz is not ready while one is behind.
    let mut in_step: Vec<(&'static str, canopy_bus::InStep)> = Vec::new();
    let call_timeout = Duration::from_secs(config.gateway.call_timeout_secs);
    // Enterprise mode: one verifier of OAuth access tokens for REST and the MCP endpoints.
    let access_tokens = match config.mode {
        canopy_config::Mode::Enterprise => {
            let settings = canopy_bearer::Settings {
                issuer: config.public_base(),
                prefix: config.nats.prefix.clone(),
                external_issuers: config.external_issuers.clone(),
                timings: canopy_bearer::Timings::default(),
            };
            let tokens = canopy_bearer::AccessTokens::new(settings, pool.clone(), redis.clone())
                .context("external_issuers (CANOPY_EXTERNAL_ISSUERS)")?;
            Some(Arc::new(tokens))
        }
        canopy_config::Mode::Development => None,
    };

    if services.api {
        let parts = canopy_api::ApiParts {
            pool: pool.clone(),
            bus: bus.clone(),
            redis: redis.clone(),
            sealer: sealer.clone(),
            executor: executor.clone(),
            access_tokens: access_tokens.clone(),
        };
        let api = canopy_api::Api::build(&config, parts).await?;
        app = app.merge(api.router().layer(limiter.clone()));
        tasks.spawn(api.run(background.clone()));
    }
    if services.edge {
        let parts = canopy_gateway_edge::EdgeParts {
            pool: pool.clone(),
            bus: bus.clone(),
            redis: redis.clone(),
            sealer: sealer.clone(),
            access_tokens: access_tokens.clone(),
        };
        let settings = canopy_gateway_edge::EdgeSettings {
            mode: config.mode,
            prefix: config.nats.prefix.clone(),
            call_timeout,
            page_size: config.gateway.page_size,
            allowed_hosts: vec![host_of(&config.public_base())],
            allowed_origins: allowed_origins(&config),
            resource: canopy_gateway_edge::ProtectedResource {
                public_base: config.public_base(),
                authorization_servers: authorization_servers(&config),
            },
            sessions: canopy_gateway_edge::SessionLimits {
                max_sessions: config.gateway.max_sessions as usize,
                max_per_principal: config.gateway.max_sessions_per_principal as usize,
                idle: Duration::from_secs(config.gateway.session_idle_secs),
                idle_under_pressure: Duration::from_secs(config.gateway.session_idle_under_pressure_secs),
            },
            short_route: config.gateway.short_route,
        };
        let edge = canopy_gateway_edge::Edge::build(parts, settings, http.clone());
        app = app.merge(edge.router().layer(limiter.clone()));
        app = app.merge(crate::well_known::router(&config.gateway.openai_apps_challenge_token));
        in_step.push(("catalog", edge.in_step()));
        tasks.spawn(edge.run(background.clone()));
    }
    if services.worker {
        let jobs = canopy_jobs::Jobs::from_config(&config, executor.clone(), bus.clone(), &sealer)
            .context("opening the blob store of jobs' inputs and artifacts (jobs.blobs, CANOPY_BLOBS_*)")?;
        // Workspaces are saved in the same object store as jobs' inputs and artifacts.
        let python = python_settings(&config, Some(jobs.urls().store().clone()));
        let worker_config = canopy_session_worker::WorkerConfig {
            connect_timeout: Duration::from_secs(config.worker.upstream_connect_timeout_secs),
            drain_timeout: Duration::from_secs(config.worker.drain_timeout_secs),
            idle_timeout: match config.worker.upstream_idle_timeout_secs {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
            refresh_interval: match config.worker.catalog_refresh_secs {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
            http: canopy_session_worker::UpstreamHttp::new(
                config.upstream_ca_file(),
                config.worker.upstream_keep_alive,
            )
            .context("worker.upstream_ca_file (CANOPY_UPSTREAM_CA_FILE)")?,
            stdio_pool_max: config.worker.stdio_pool_max as usize,
            in_step: canopy_bus::InStep::default(),
            jobs: Some(jobs),
            python: Some(python),
            local_calls: config.worker.local_calls,
        };
        in_step.push(("registrations", worker_config.in_step.clone()));
        let (pool, bus, sealer, stop) = (pool.clone(), bus.clone(), sealer.clone(), background.clone());
        tasks.spawn(async move {
            if let Err(e) = canopy_session_worker::run(pool, bus, sealer, worker_config, stop).await {
                tracing::error!(error = %e, "session-worker stopped");
            }
        });
    }
    if services.poller {
        let jobs = canopy_jobs::Jobs::from_config(&config, executor.clone(), bus.clone(), &sealer)
            .context("opening the blob store of jobs' inputs and artifacts (jobs.blobs, CANOPY_BLOBS_*)")?;
        tasks.spawn(canopy_job_poller::run(config.clone(), jobs, bus.clone(), background.clone()));
    }

    let health = HealthState { pool: pool.clone(), bus: bus.clone(), redis, in_step, services: names.clone() };
    let app = app.merge(health::router(health));
    // HTTPS without a proxy: the certificate is loaded now (a bad one stops start-up) and
    // reloaded when its files change.
    let tls = match config.tls_files() {
        Some((cert, key)) => {
            let cert = Arc::new(crate::tls::ReloadingCert::load(cert, key)?);
            tasks.spawn(crate::tls::watch(cert.clone(), crate::tls::RELOAD_INTERVAL, background.clone()));
            Some(tokio_rustls::TlsAcceptor::from(cert.server_config()?))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (set --listen or CANOPY_LISTEN)", config.listen))?;
    let base = config.public_base();
    tracing::info!(services = ?names, listen = %config.listen, "canopy is up");
    if services.edge {
        eprintln!("Canopy is running: MCP endpoint {base}/mcp, REST API {base}/api/v0");
    }

    let drain = Duration::from_secs(config.worker.drain_timeout_secs);
    // Header and body read timeouts, a cap on connections, TCP_NODELAY (crate::listener).
    let limits = crate::listener::Limits::from_config(&config.http, crate::listener::raise_file_limit());
    let serve = crate::listener::serve(listener, app, limits, tls, http.clone());
    let mut serve = std::pin::pin!(serve);
    tokio::select! {
        () = &mut serve => {}
        _ = async { http.cancelled().await; tokio::time::sleep(drain).await } => {
            tracing::warn!("HTTP connections still open after the drain timeout; closing them");
        }
    }
    tracing::info!("listener closed; stopping background work");
    background.cancel();
    let wait_all = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(drain + Duration::from_secs(5), wait_all).await.is_err() {
        tracing::warn!("background tasks did not stop in time");
    }
    let _ = bus.client.flush().await;
    pool.close().await;
    tracing::info!("canopy stopped");
    Ok(())
}

/// The authorization servers the MCP endpoints' metadata names: the configured ones, or in
/// enterprise mode Canopy's own (its issuer is the public base URL).
fn authorization_servers(config: &Config) -> Vec<String> {
    let configured: Vec<String> = config.authorization_servers().map(str::to_string).collect();
    if configured.is_empty() && config.mode == canopy_config::Mode::Enterprise {
        return vec![config.public_base()];
    }
    configured
}

/// The public URL's origin, and in development the loopback spellings of the listen address.
fn allowed_origins(config: &Config) -> Vec<String> {
    let base = config.public_base();
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let origin_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut origins = vec![base[..origin_end].to_string()];
    if config.mode == canopy_config::Mode::Development {
        let port = config.listen.port();
        let scheme = if config.tls_files().is_some() { "https" } else { "http" };
        origins.extend([
            format!("{scheme}://127.0.0.1:{port}"),
            format!("{scheme}://localhost:{port}"),
            format!("{scheme}://[::1]:{port}"),
        ]);
    }
    origins.dedup();
    origins
}

fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.to_string()
}

async fn wait_for_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested");
    token.cancel();
}

/// The python built-in's engine settings from `[python]`: its root under the state dir unless
/// set (absolute: the sandbox binds from it), the bounds, the index, egress and git hosts; and
/// the object store its workspaces are saved to.
fn python_settings(
    config: &canopy_config::Config,
    blobs: Option<canopy_blobs::BlobStore>,
) -> canopy_session_worker::builtin::python::PythonSettings {
    let p = &config.python;
    let root = match p.root.as_str() {
        "" => config.state_dir.join("python"),
        root => std::path::PathBuf::from(root),
    };
    let root = std::path::absolute(&root).unwrap_or(root);
    let engine = canopy_pyenv::PyEnvConfig {
        root,
        uv: (!p.uv.is_empty()).then(|| std::path::PathBuf::from(&p.uv)),
        index_url: p.index_url.clone(),
        allow_egress: p.allow_egress,
        git_hosts: p.git_hosts.iter().map(|h| h.to_lowercase()).collect(),
        run_timeout_default_seconds: p.run_timeout_default_secs,
        run_timeout_max_seconds: p.run_timeout_max_secs,
        memory_bytes: p.memory_bytes,
        processes: p.processes,
        output_bytes: p.output_bytes,
        workspace_bytes: p.workspace_bytes,
        workspace_files: p.workspace_files,
        repl_idle_seconds: p.repl_idle_secs,
        ..canopy_pyenv::PyEnvConfig::default()
    };
    let quotas = canopy_session_worker::builtin::python::Quotas {
        environments: p.tenant_environments,
        concurrent_runs: p.tenant_concurrent_runs,
        repls: p.tenant_repls,
        processes: p.tenant_processes,
        disk_bytes: p.tenant_disk_bytes,
    };
    canopy_session_worker::builtin::python::PythonSettings { engine, quotas, blobs }
}

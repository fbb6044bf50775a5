//! Serving a [`FixtureServer`]: Streamable HTTP at `/mcp` ([`serve_http`], stopped through
//! its [`FixtureHandle`]) or stdin/stdout ([`serve_stdio`]).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use rmcp::{
    transport::streamable_http_server::{
        session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService,
    },
    ServiceExt as _,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{
    options::FixtureOptions,
    param_headers::{self, ParamHeaders},
    server::{FixtureServer, FixtureStats},
};

/// Path of the Streamable HTTP endpoint.
pub const MCP_PATH: &str = "/mcp";

/// How long [`FixtureHandle::shutdown`] waits for open connections before aborting.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running HTTP fixture server. Dropping it stops the server too (without waiting).
#[derive(Debug)]
pub struct FixtureHandle {
    addr: SocketAddr,
    server: FixtureServer,
    ct: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl FixtureHandle {
    /// The bound address (the real port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/mcp`.
    pub fn url(&self) -> String {
        format!("http://{}{MCP_PATH}", self.addr)
    }

    pub fn server(&self) -> &FixtureServer {
        &self.server
    }

    /// Counters shared by all sessions of this server.
    pub fn stats(&self) -> Arc<FixtureStats> {
        self.server.stats()
    }

    /// Stop accepting, end all sessions and streams, and wait (a few seconds at most) for the
    /// server task to finish.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.ct.cancel();
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
            Ok(joined) => joined.context("fixture server task")?.context("fixture server"),
            Err(_) => {
                task.abort();
                Ok(())
            }
        }
    }
}

impl Drop for FixtureHandle {
    fn drop(&mut self) {
        self.ct.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// `Host` values accepted by the HTTP server: loopback names, the bound IP, and the extras
/// from the options. `None` disables the check (an option contained `"*"`).
fn allowed_hosts(addr: SocketAddr, options: &FixtureOptions) -> Option<Vec<String>> {
    if options.allowed_hosts.iter().any(|h| h == "*") {
        return None;
    }
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if !addr.ip().is_unspecified() {
        hosts.push(addr.ip().to_string());
    }
    hosts.extend(options.allowed_hosts.iter().cloned());
    hosts.dedup();
    Some(hosts)
}

/// Serve the fixture over Streamable HTTP at `http://LISTEN/mcp`. The socket is bound before
/// this returns (use port 0 in tests and read [`FixtureHandle::addr`]).
pub async fn serve_http(listen: SocketAddr, options: FixtureOptions) -> anyhow::Result<FixtureHandle> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr().context("local_addr")?;
    let server = FixtureServer::new(options.clone());
    let ct = CancellationToken::new();

    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(ct.child_token())
        .with_legacy_session_mode(!options.stateless)
        .with_json_response(options.json_response);
    config = match allowed_hosts(addr, &options) {
        Some(hosts) => config.with_allowed_hosts(hosts),
        None => config.disable_allowed_hosts(),
    };

    let factory = server.clone();
    let service = StreamableHttpService::new(
        move || Ok(factory.for_new_session()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let param_headers = ParamHeaders::from_tools(&server.tool_definitions());
    let router = axum::Router::new()
        .nest_service(MCP_PATH, service)
        .layer(axum::middleware::from_fn_with_state(param_headers, param_headers::check));

    let shutdown = ct.clone();
    let task = tokio::spawn(async move {
        // See canopy's runtime: no Nagle delay between the response's writes.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned()).await
    });
    tracing::info!(%addr, "fixture MCP server listening on http://{addr}{MCP_PATH}");
    Ok(FixtureHandle { addr, server, ct, task: Some(task) })
}

/// Serve the fixture over stdin/stdout until the client closes stdin. Nothing else is written
/// to stdout.
pub async fn serve_stdio(options: FixtureOptions) -> anyhow::Result<()> {
    let running = FixtureServer::new(options)
        .serve(rmcp::transport::stdio_pipes())
        .await
        .context("MCP initialization over stdio")?;
    let reason = running.waiting().await.context("stdio server task")?;
    tracing::debug!(?reason, "stdio session ended");
    Ok(())
}

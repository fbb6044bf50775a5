//! Built-in servers: MCP servers the worker hosts itself (`grid`, `python`; `canopy-echo` for
//! diagnostics), a module of tool handlers each, behind [`BuiltinServer`]. To the rest of Canopy
//! a built-in is a registered server like any other (transport `builtin`, registered by the api
//! in every tenant): the edge admits its calls exactly as it admits an upstream's (policy with
//! the built-in tools' own scopes, enable/disable, allow lists, limits) and sends them over NATS
//! to a worker, which runs them here instead of on an upstream connection.
//!
//! What a handler gets ([`BuiltinCall`]): the tenant, the caller's subject, the call id, a
//! cancellation token (cancelled when the caller cancels, `PREFIX.cancel.CALL_ID`, or the call
//! times out; the handler then has [`CANCEL_GRACE`] to stop its work before it is dropped), and
//! the caller's channel for progress and log messages while the call runs: the same client
//! subject, the same messages, the same code (`progress::send_to_client`) as an upstream's.
//!
//! Discovery of a built-in reports [`Builtins::catalog`] with no connection; each tool carries
//! the OAuth scope it needs in `_meta["canopy/scope"]` (from `canopy_policy`, which decides).
//!
//! Registration is the system's (`RegisterBuiltin`, actor `system`, the kinds of
//! `[builtin] servers`): at api start in every tenant, and by the api's durable consumer
//! `api-builtins` as each `tenant.created` arrives, idempotently (`canopy-api`'s `builtins.rs`).
//! The domain refuses users a reserved name and refuses to replace or deregister a built-in;
//! toggles work as for any server (`canopy_domain::builtin`, `canopy_domain::server`).
//!
//! A call takes the ordinary path up to the worker (edge admission, the catalog, the policy,
//! limits, `PREFIX.calls.TENANT.SERVER`), where `calls.rs` sees a registration under a reserved
//! name whose transport is `builtin` (read once per registration) and runs it here instead of
//! on an upstream connection:
//!
//! ```text
//! … ─► worker: calls.rs ─► UpstreamPool::builtin_kind ─► Some(kind) ─► Builtins::get(kind).call(BuiltinCall, tool, args)
//!         BuiltinCall: tenant, caller's subject, call id, cancellation token (PREFIX.cancel.CALL_ID, the
//!         timeout; CANCEL_GRACE to stop before it is dropped), progress/log to PREFIX.client.CALL_ID
//!         through progress::send_to_client (the upstream relay's own path) ─► reply, call record
//! ```
//!
//! State held by one worker: a python environment lives on the worker that made or last
//! re-created it (`rm_python_envs.holder`, that worker's [`crate::worker_id`]). A call naming it
//! (`env_id`, or a REPL's or process's id) that reaches another worker is handed to the holder
//! on `PREFIX.worker.ID.calls` ([`BuiltinServer::held_elsewhere`], `calls.rs` `hand_over`;
//! recorded by the worker the caller reached); when the holder does not say it took the call
//! within `SILENT_FOR` (it is gone, or was killed a moment ago and NATS still routed to it), it
//! runs where it is, which re-creates the environment from its frozen specification and says
//! so. A holder that took the call and then fell silent lost it: the caller hears so, and the
//! call is not run a second time.

pub mod echo;
pub mod grid;
pub mod python;
mod workspace_sync;

use canopy_domain::{BuiltinKind, TenantId};
use canopy_mcp::call::ToClient;
use canopy_mcp::report::DiscoveryOutcome;
use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a cancelled (or timed-out) handler may take to notice and clean up (stop a sandbox,
/// release a lease) before its future is dropped.
pub const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// A built-in MCP server: the tools it declares and the handler that runs them.
///
/// `tools` is its whole catalog, reported at discovery: names, `inputSchema`, `outputSchema`,
/// `annotations`, `title`, as MCP clients will see them (unprefixed on `/servers/KIND/mcp`,
/// `KIND__name` on `/mcp`). `call` runs one tool; the edge only calls tools the catalog has
/// and the caller may use, but a handler still validates its arguments. A tool's failure is a
/// result with `isError: true` (e.g. [`tool_error`]), never a panic.
pub trait BuiltinServer: Send + Sync + 'static {
    fn kind(&self) -> BuiltinKind;

    fn tools(&self) -> Vec<Tool>;

    fn call(&self, ctx: BuiltinCall, name: String, arguments: JsonObject) -> BoxFuture<'_, CallToolResult>;

    /// The worker (its id) that holds the state a call of `name` with `arguments` works on,
    /// when that is another worker than this one: the call is then sent there
    /// (`PREFIX.worker.ID.calls`), and runs here only if that worker is gone. `None`: here.
    fn held_elsewhere<'a>(
        &'a self,
        _tenant: &'a TenantId,
        _name: &'a str,
        _arguments: &'a JsonObject,
    ) -> BoxFuture<'a, Option<String>> {
        Box::pin(async { None })
    }
}

/// One call of a built-in tool, as its handler sees it.
pub struct BuiltinCall {
    tenant: TenantId,
    principal: String,
    call_id: String,
    cancel: CancellationToken,
    /// The caller's client subject (absent when the caller does not listen, e.g. REST invoke).
    client: Option<(canopy_bus::Bus, String)>,
    /// The caller as admission decided for it (absent when the request did not carry it).
    identity: Option<canopy_policy::Principal>,
}

/// The level of a log message to the caller (MCP `notifications/message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
}

impl BuiltinCall {
    pub fn new(
        tenant: TenantId,
        principal: String,
        call_id: String,
        cancel: CancellationToken,
        client: Option<(canopy_bus::Bus, String)>,
    ) -> Self {
        Self { tenant, principal, call_id, cancel, client, identity: None }
    }

    /// The caller's policy principal, as admission decided for it (the request's `identity`).
    pub fn with_identity(mut self, identity: Option<canopy_policy::Principal>) -> Self {
        self.identity = identity;
        self
    }

    /// The caller's policy principal: handlers that ask the policy again decide for it.
    pub fn identity(&self) -> Option<&canopy_policy::Principal> {
        self.identity.as_ref()
    }

    /// Whether the caller is an owner or admin of the tenant (as admission decided): it may
    /// list and end what any principal of the tenant created.
    pub fn is_tenant_admin(&self) -> bool {
        self.identity.as_ref().is_some_and(|p| p.manages_tenant())
    }

    /// The tenant the call is in: everything a handler reads or changes belongs to it.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// Who called (`user:alice`, `client:cursor`, `user:dev`): the owner of what the call creates.
    /// Scopes and allow lists were checked before the call reached the worker.
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// Unique per call (the call record's id).
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Cancelled when the caller cancels or the call times out: select on `cancelled()` around
    /// long waits, then stop the work and return (the result is discarded).
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Whether the caller listens for progress and log messages (MCP callers do; REST invoke
    /// does not): a handler may skip building messages nobody gets.
    pub fn caller_listens(&self) -> bool {
        self.client.is_some()
    }

    /// A `notifications/progress` to the caller (on the progress token of its request).
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        if let Some((bus, subject)) = &self.client {
            let message = crate::progress::progress_message(progress, total, message);
            crate::progress::send_to_client(bus, subject, &message).await;
        }
    }

    /// A `notifications/message` (logging) to the caller: e.g. each log line of a followed job
    /// or each line a run prints, as it comes.
    pub async fn log(&self, level: LogLevel, logger: Option<&str>, data: serde_json::Value) {
        if let Some((bus, subject)) = &self.client {
            let mut params = serde_json::json!({"level": level, "data": data});
            if let Some(logger) = logger {
                params["logger"] = serde_json::json!(logger);
            }
            crate::progress::send_to_client(bus, subject, &ToClient::Log { params }).await;
        }
    }
}

/// A tool result with `isError: true` and one text item, in the seed's shape
/// (`submit_job failed: INVALID_REQUEST: name is required`).
pub fn tool_error(tool: &str, code: &str, message: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!("{tool} failed: {code}: {message}"))])
}

/// A tool's declaration from its JSON (as MCP writes it: `name`, `title`, `description`,
/// `inputSchema`, `outputSchema`, `annotations`); a declaration that is no tool is a bug of the
/// built-in, caught by its tests.
pub fn tool(declaration: serde_json::Value) -> Tool {
    serde_json::from_value(declaration).expect("a built-in declares valid tools")
}

/// The built-in servers this worker hosts, by kind.
#[derive(Clone, Default)]
pub struct Builtins {
    servers: HashMap<BuiltinKind, Arc<dyn BuiltinServer>>,
}

impl Builtins {
    /// Every kind this build has. `grid` runs on `jobs` (the jobs service; without it, its tools
    /// answer "not available"); `python` here has no engine (every call says so):
    /// [`Builtins::with_python`] starts one.
    pub fn standard(jobs: Option<grid::GridJobs>) -> Self {
        Self::default()
            .with(Arc::new(grid::Grid::new(jobs)))
            .with(Arc::new(python::Python::unavailable("no sandbox engine was configured for this worker")))
            .with(Arc::new(echo::Echo::default()))
    }

    /// [`Builtins::standard`] with the python server over a started engine (or, when it cannot
    /// start, one answering why on every call).
    pub async fn with_python(
        jobs: Option<grid::GridJobs>,
        settings: Option<python::PythonSettings>,
        store: python::PythonStore,
    ) -> Self {
        match settings {
            Some(settings) => Self::standard(jobs).with(Arc::new(python::Python::start(settings, store).await)),
            None => Self::standard(jobs),
        }
    }

    /// Hosts `server` for its kind (replacing any other).
    pub fn with(mut self, server: Arc<dyn BuiltinServer>) -> Self {
        self.servers.insert(server.kind(), server);
        self
    }

    pub fn get(&self, kind: BuiltinKind) -> Option<&Arc<dyn BuiltinServer>> {
        self.servers.get(&kind)
    }

    /// What discovery reports for `kind`: its tools, each with the scope it needs in `_meta`.
    pub fn catalog(&self, kind: BuiltinKind) -> DiscoveryOutcome {
        let Some(server) = self.get(kind) else {
            return DiscoveryOutcome::Failed {
                error: format!("this worker does not host the built-in server '{kind}'"),
            };
        };
        let tools = server
            .tools()
            .into_iter()
            .map(|mut tool| {
                if let Some(scope) = canopy_policy::builtin_tool_scope(kind.name(), &tool.name) {
                    tool.meta.get_or_insert_with(Default::default).insert("canopy/scope".into(), scope.into());
                }
                serde_json::to_value(tool).expect("tools serialise")
            })
            .collect();
        DiscoveryOutcome::Catalog { tools, prompts: vec![], resources: vec![], resource_templates: vec![] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(outcome: &DiscoveryOutcome) -> Vec<String> {
        let DiscoveryOutcome::Catalog { tools, .. } = outcome else { panic!("{outcome:?}") };
        tools.iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn the_registry_hosts_every_kind_and_its_catalog_is_the_declared_tools() {
        let builtins = Builtins::standard(None);
        for kind in BuiltinKind::ALL {
            assert_eq!(builtins.get(kind).map(|s| s.kind()), Some(kind));
        }
        let grid = names(&builtins.catalog(BuiltinKind::Grid));
        assert_eq!(grid.len(), 11);
        assert!(grid.contains(&"submit_job".to_string()) && grid.contains(&"get_job_logs".to_string()));
        assert_eq!(names(&builtins.catalog(BuiltinKind::Python)).len(), 27);
        assert!(matches!(Builtins::default().catalog(BuiltinKind::Grid), DiscoveryOutcome::Failed { .. }));
    }

    #[test]
    fn every_declared_tool_has_a_scope_of_its_own_and_a_valid_schema() {
        let builtins = Builtins::standard(None);
        for kind in BuiltinKind::ALL {
            let DiscoveryOutcome::Catalog { tools, .. } = builtins.catalog(kind) else { panic!() };
            for tool in tools {
                let name = tool["name"].as_str().unwrap();
                let scope = tool["_meta"]["canopy/scope"].as_str().unwrap();
                assert_ne!(scope, canopy_policy::Scopes::ADMIN, "{kind}__{name} has no scope in canopy-policy");
                assert_eq!(tool["inputSchema"]["type"], "object", "{kind}__{name}");
                assert!(tool["annotations"].is_object(), "{kind}__{name} declares its annotations");
            }
        }
    }

    #[tokio::test]
    async fn placeholders_answer_every_call_with_a_clear_error() {
        let builtins = Builtins::standard(None);
        for (kind, tool) in [(BuiltinKind::Grid, "submit_job")] {
            let ctx =
                BuiltinCall::new(TenantId::default_tenant(), "user:dev".into(), "c1".into(), Default::default(), None);
            let result = builtins.get(kind).unwrap().call(ctx, tool.into(), JsonObject::new()).await;
            assert_eq!(result.is_error, Some(true));
            let text = serde_json::to_value(&result.content).unwrap()[0]["text"].as_str().unwrap().to_string();
            assert!(text.contains(&format!("{tool} failed: ")) && text.contains("not available yet"), "{text}");
        }
    }
}

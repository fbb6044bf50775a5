//! `python`: Jumpboot's Python environment tools, under their exact names and parameters
//! (`shared/design/workloads.md`), over one [`canopy_pyenv::Engine`] per worker.
//!
//! Every result is one text item holding Jumpboot's envelope, `{"success", "data", "error"}`,
//! with `isError` set when `success` is false. An error names the argument at fault (the
//! engine's messages do; this module's own argument checks do too). A run whose code does not
//! succeed (an exception, a non-zero exit, a bound reached) is a failure whose `error` says
//! why and ends with the output's tail.
//!
//! Streaming: `run_code`, `run_script` and `workspace_run_script` send each chunk of output
//! as it is printed as a `notifications/message` (logger `python`, level `info` for stdout and
//! `warning` for stderr, `data: {"stream", "text"}`) and a `notifications/progress` (progress:
//! bytes so far; message: the chunk) to a caller that listens, before the result.
//! `repl_execute` answers at the end of the execution (the engine's REPL has no stream).
//! Cancellation (the caller's, or the call's timeout) drops the engine's future, which kills
//! the sandbox of the run.
//!
//! Tenancy: an environment, REPL session and process belongs to the tenant and the principal
//! that created it (owners and admins of the tenant see and destroy any); another tenant's or
//! another principal's id answers exactly like an unknown id. Per-tenant quotas on
//! environments, concurrent runs, REPLs and processes, and on the disk all of a tenant's
//! environments use on this worker (`python.tenant_disk_bytes`): one rule,
//! [`Python::disk_room`], asked before creating or restoring an environment, installing
//! packages, cloning and writing a workspace file. Usage is the engine's measurement of each of
//! the tenant's environments here (venv and workspace, cached: see canopy-pyenv's `disk`
//! module for why measured rather than counted); a write of known size is refused when it
//! would go past the quota, the others (whose size is not known before) once the tenant is at
//! it. Destroying an environment makes room at once.
//!
//! Durability: environments are Canopy state, the `python_env` aggregate (libs/domain), one
//! stream per environment id in its tenant. Create, restore, installs and destroy execute its
//! commands; who owns what, `list_environments`, `repl_list` and `list_processes` come from its
//! read model (`rm_python_envs`, `rm_python_sessions`): that is the one place the rule reads.
//! The engine holds what runs on this worker. When a call names an environment the read model
//! has and this worker's engine does not (Canopy restarted, or it was made on another worker),
//! the worker re-creates it from its frozen specification with the same id before the call,
//! records that (`python_env.restored`, which ends the sessions and processes the log still had
//! running with `worker_restarted`), and says so in the result's `data.restored`. Sessions and
//! processes this worker does not run are listed as ended with their reason, never silently
//! gone. A session or process that ends while its worker lives (by itself: `exit()`, a crash,
//! a bound such as memory; killed; a REPL idle past its timeout) is recorded when it ends
//! (`python_env.session_ended` with the engine's reason: `exited`, `killed`, `idle`, `oom`,
//! `timeout`, ...), by a task that waits on the engine's end of it ([`Python::record_end`];
//! the first reason recorded stands), so every listing (`repl_list`, `list_processes`, the REST
//! and console ones, which read the log) shows it ended at once. Workspace files are saved to
//! the object store after every call naming their environment (but those of read-only tools),
//! before it is answered, and put
//! back when the environment is re-created (`workspace_sync.rs`; `data.restored.workspace_files`
//! says how many).

use super::workspace_sync::WorkspaceSync;
use super::{tool, BuiltinCall, BuiltinServer, LogLevel};
use canopy_domain::python_env::{PythonEnv, PythonEnvCommand, SessionKind, REASON_WORKER_RESTARTED};
use canopy_domain::{BuiltinKind, TenantId};
use canopy_eventstore::{CommandContext, CommandExecutor, EventStore};
use canopy_pyenv::{
    CreateOptions, Engine, EnvId, Frozen, OutputChunk, Package, ProcessId, SessionId, SpawnRequest, Stream,
    FROZEN_FORMAT,
};
use canopy_readmodels::{CanopyProjector, PythonEnvRow, PythonSessionRow};
use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};

/// Per-tenant quotas (`[python]` `tenant_*`).
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    pub environments: u64,
    pub concurrent_runs: u64,
    pub repls: u64,
    pub processes: u64,
    /// Bytes of disk all of a tenant's environments use on one worker (`tenant_disk_bytes`).
    pub disk_bytes: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas { environments: 20, concurrent_runs: 8, repls: 20, processes: 20, disk_bytes: 10 << 30 }
    }
}

/// What the worker starts the python server with.
#[derive(Debug, Clone)]
pub struct PythonSettings {
    pub engine: canopy_pyenv::PyEnvConfig,
    pub quotas: Quotas,
    /// Where workspaces are saved ([`WorkspaceSync`]); `None`: they live on the worker's disk
    /// only, and an environment re-created elsewhere starts with an empty one.
    pub blobs: Option<canopy_blobs::BlobStore>,
}

/// Where the python server's state lives: the event store (commands) and its read models.
#[derive(Clone)]
pub struct PythonStore {
    pool: PgPool,
    executor: CommandExecutor<CanopyProjector>,
    /// This worker instance, named in `python_env.restored`.
    worker: String,
    /// The bus other workers are reached on (to ask whether one runs); `None`: none are.
    bus: Option<canopy_bus::Bus>,
}

impl PythonStore {
    pub fn new(pool: PgPool) -> PythonStore {
        Self::for_worker(pool, crate::worker_id(), None)
    }

    /// The store of the worker named `worker` (its id, on which other workers reach it over
    /// `bus`).
    pub fn for_worker(pool: PgPool, worker: String, bus: Option<canopy_bus::Bus>) -> PythonStore {
        let executor = CommandExecutor::new(EventStore::new(pool.clone()), Arc::new(CanopyProjector));
        PythonStore { pool, executor, worker, bus }
    }

    /// Whether worker `worker` runs: it answers on its subject (anything, even an error), where a
    /// gone one has no subscriber. No answer in time counts as running; without a bus, no other
    /// worker is known to run.
    async fn worker_alive(&self, worker: &str) -> bool {
        let Some(bus) = &self.bus else { return false };
        let asked = bus.client.request(bus.subjects.worker_calls(worker), bytes::Bytes::new());
        match tokio::time::timeout(std::time::Duration::from_secs(2), asked).await {
            Ok(Err(e)) => e.kind() != async_nats::RequestErrorKind::NoResponders,
            _ => true,
        }
    }
}

/// The python server: the engine (or why it did not start), the store, and runs in flight.
pub struct Python {
    engine: Result<Engine, String>,
    store: Option<PythonStore>,
    quotas: Quotas,
    runs: Arc<Mutex<HashMap<TenantId, u64>>>,
    /// One re-creation at a time on this worker (two calls naming the same lost environment
    /// must not both make it).
    restoring: tokio::sync::Mutex<()>,
    /// Saves workspaces to the object store after each call, restores them with their
    /// environment.
    sync: Option<WorkspaceSync>,
    /// The tools declared read-only: a call of one changes no workspace, so none is saved.
    read_only: HashSet<&'static str>,
}

/// The environment a call's arguments name, as this worker knows it: `env_id` as given, or
/// the environment of the REPL session (`session_id`) or process (`process_id`) this worker
/// runs. `None`: none named, or a session or process of another worker.
fn named_env(engine: &Engine, arguments: &JsonObject) -> Option<EnvId> {
    let named = |key: &str| arguments.get(key).and_then(Value::as_str);
    match (named("env_id"), named("session_id"), named("process_id")) {
        (Some(env), _, _) => EnvId::parse(env),
        (None, Some(session), _) => SessionId::parse(session)
            .and_then(|id| engine.repl_list().into_iter().find(|r| r.id == id).map(|r| r.env_id)),
        (None, None, Some(process)) => ProcessId::parse(process)
            .and_then(|id| engine.list_processes().into_iter().find(|p| p.id == id).map(|p| p.env_id)),
        (None, None, None) => None,
    }
}

/// `(name, description, properties, required, read_only, destructive)`.
type Declaration = (&'static str, &'static str, Value, &'static [&'static str], bool, bool);

fn declarations() -> Vec<Declaration> {
    let s = |d: &str| json!({"type": "string", "description": d});
    let env = || json!({"type": "string", "description": "The environment's id"});
    let strings = |d: &str| json!({"type": "array", "items": {"type": "string"}, "description": d});
    let timeout = || json!({"type": "integer", "minimum": 1, "description": "Seconds before the run is stopped (default and maximum from the configuration)"});
    vec![
        (
            "create_environment",
            "Create a Python environment.",
            json!({"name": s("Its name"), "python_version": s("Default 3.11")}),
            &["name"],
            false,
            false,
        ),
        ("list_environments", "List environments.", json!({}), &[], true, false),
        (
            "destroy_environment",
            "Destroy an environment and its workspace.",
            json!({"env_id": env()}),
            &["env_id"],
            false,
            true,
        ),
        (
            "freeze_environment",
            "The environment as JSON: interpreter version and exact pins.",
            json!({"env_id": env()}),
            &["env_id"],
            true,
            false,
        ),
        (
            "restore_environment",
            "Create an environment from a frozen one.",
            json!({"name": s("Its name"), "frozen_json": s("freeze_environment's output")}),
            &["name", "frozen_json"],
            false,
            false,
        ),
        (
            "install_packages",
            "Install packages.",
            json!({"env_id": env(), "packages": strings("Package specifiers"), "use_conda": {"type": "boolean"}}),
            &["env_id", "packages"],
            false,
            false,
        ),
        (
            "install_requirements",
            "Install a requirements file from the workspace.",
            json!({"env_id": env(), "requirements_path": s("Path in the workspace"), "upgrade": {"type": "boolean"}}),
            &["env_id", "requirements_path"],
            false,
            false,
        ),
        ("list_packages", "List installed packages.", json!({"env_id": env()}), &["env_id"], true, false),
        (
            "run_code",
            "Run Python code (output streams as it is printed).",
            json!({"env_id": env(), "code": s("Python source"), "input_json": s("JSON passed to the code"), "timeout_seconds": timeout()}),
            &["env_id", "code"],
            false,
            false,
        ),
        (
            "run_script",
            "Run a script of the workspace.",
            json!({"env_id": env(), "script_path": s("Path in the workspace"), "args": strings("Arguments"), "timeout_seconds": timeout()}),
            &["env_id", "script_path"],
            false,
            false,
        ),
        (
            "repl_create",
            "Start a REPL session that keeps its state.",
            json!({"env_id": env(), "session_name": s("Its name")}),
            &["env_id", "session_name"],
            false,
            false,
        ),
        (
            "repl_execute",
            "Run code in a REPL session.",
            json!({"session_id": s("The session's id"), "code": s("Python source"), "timeout_seconds": timeout()}),
            &["session_id", "code"],
            false,
            false,
        ),
        ("repl_list", "List REPL sessions.", json!({}), &[], true, false),
        (
            "repl_destroy",
            "End a REPL session.",
            json!({"session_id": s("The session's id")}),
            &["session_id"],
            false,
            true,
        ),
        (
            "workspace_create",
            "Create the environment's workspace.",
            json!({"env_id": env()}),
            &["env_id"],
            false,
            false,
        ),
        (
            "workspace_write_file",
            "Write a file in the workspace.",
            json!({"env_id": env(), "filename": s("Path in the workspace"), "content": s("Its content")}),
            &["env_id", "filename", "content"],
            false,
            false,
        ),
        (
            "workspace_read_file",
            "Read a file of the workspace.",
            json!({"env_id": env(), "filename": s("Path in the workspace")}),
            &["env_id", "filename"],
            true,
            false,
        ),
        (
            "workspace_delete_file",
            "Delete a file of the workspace.",
            json!({"env_id": env(), "filename": s("Path in the workspace")}),
            &["env_id", "filename"],
            false,
            true,
        ),
        (
            "workspace_list_files",
            "List the workspace's files.",
            json!({"env_id": env(), "path": s("A folder in the workspace")}),
            &["env_id"],
            true,
            false,
        ),
        (
            "workspace_run_script",
            "Run a script of the workspace.",
            json!({"env_id": env(), "filename": s("Path in the workspace"), "args": strings("Arguments"), "timeout_seconds": timeout()}),
            &["env_id", "filename"],
            false,
            false,
        ),
        (
            "workspace_git_clone",
            "Clone a git repository (https, allowed hosts) into the workspace.",
            json!({"env_id": env(), "repo_url": s("https URL"), "dir_name": s("Folder in the workspace")}),
            &["env_id", "repo_url"],
            false,
            false,
        ),
        ("workspace_destroy", "Delete the workspace.", json!({"env_id": env()}), &["env_id"], false, true),
        (
            "spawn_process",
            "Start a long-running process from a workspace script.",
            json!({"env_id": env(), "script_path": s("Path in the workspace"), "name": s("Its name"), "args": strings("Arguments"), "capture_output": {"type": "boolean", "default": true}}),
            &["env_id", "script_path"],
            false,
            false,
        ),
        ("list_processes", "List processes with their state and exit code.", json!({}), &[], true, false),
        (
            "process_output",
            "A process's last output lines.",
            json!({"process_id": s("The process's id"), "tail_lines": {"type": "integer", "minimum": 1}}),
            &["process_id"],
            true,
            false,
        ),
        (
            "kill_process",
            "Stop a process and its children.",
            json!({"process_id": s("The process's id")}),
            &["process_id"],
            false,
            true,
        ),
        ("list_servers", "Discovered remote Jumpboot servers (federation).", json!({}), &[], true, false),
    ]
}

/// The names of the tools declared read-only.
fn read_only_tools() -> HashSet<&'static str> {
    declarations().into_iter().filter(|d| d.4).map(|d| d.0).collect()
}

/// The python tools' declarations, in Jumpboot's order.
pub fn tools() -> Vec<Tool> {
    declarations()
        .into_iter()
        .map(|(name, description, properties, required, read_only, destructive)| {
            tool(json!({
                "name": name,
                "description": description,
                "inputSchema": {"type": "object", "properties": properties, "required": required},
                "annotations": {"readOnlyHint": read_only, "destructiveHint": destructive, "openWorldHint": false},
            }))
        })
        .collect()
}

/// Jumpboot's success envelope.
pub fn success(data: Value) -> CallToolResult {
    let envelope = json!({"success": true, "data": data, "error": null});
    CallToolResult::success(vec![ContentBlock::text(envelope.to_string())])
}

/// Jumpboot's failure envelope, with `isError` set too.
pub fn failure(error: &str) -> CallToolResult {
    let envelope = json!({"success": false, "data": null, "error": error});
    CallToolResult::error(vec![ContentBlock::text(envelope.to_string())])
}

/// An error with its sources (the engine's `Display` never repeats its `#[source]`).
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    canopy_domain::error_chain(e)
}

fn err<E: std::error::Error + 'static>(e: E) -> String {
    describe(&e)
}

/// The JSON of a serialisable engine value (they all serialise).
fn data<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The call's arguments, each checked with a message naming it.
struct Args<'a>(&'a JsonObject);

impl Args<'_> {
    fn str(&self, name: &str) -> Result<&str, String> {
        match self.0.get(name) {
            Some(Value::String(s)) => Ok(s),
            None | Some(Value::Null) => Err(format!("{name}: required")),
            Some(_) => Err(format!("{name}: must be a string")),
        }
    }

    fn opt_str(&self, name: &str) -> Result<Option<&str>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.str(name).map(Some),
        }
    }

    fn bool(&self, name: &str, default: bool) -> Result<bool, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("{name}: must be true or false")),
        }
    }

    fn strings(&self, name: &str, required: bool) -> Result<Vec<String>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) if !required => Ok(Vec::new()),
            None | Some(Value::Null) => Err(format!("{name}: required (an array of strings)")),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| format!("{name}: must be an array of strings")))
                .collect(),
            Some(_) => Err(format!("{name}: must be an array of strings")),
        }
    }

    fn opt_u64(&self, name: &str) -> Result<Option<u64>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| format!("{name}: must be a positive integer")),
        }
    }
}

/// `list_servers`: the servers of the caller's tenant that mDNS federation registered (their
/// description is `canopy_federation::description`; `canopy_api::federation`), each with its
/// instance, endpoint, note, tls, the server name it was registered as, and whether it is
/// enabled (`pending` while an admin has not approved it in enterprise mode).
async fn list_servers(store: &PythonStore, ctx: &BuiltinCall) -> Result<Value, String> {
    let rows = canopy_readmodels::list_servers(&store.pool, ctx.tenant())
        .await
        .map_err(|e| format!("listing discovered servers failed: {e}"))?;
    let servers: Vec<Value> = rows
        .iter()
        .filter_map(|row| {
            let (instance, note) = canopy_federation::parse_description(&row.description)?;
            let endpoint = row.spec.url.clone().unwrap_or_default();
            Some(json!({
                "instance": instance,
                "endpoint": endpoint,
                "note": note,
                "tls": endpoint.starts_with("https://"),
                "server": row.name,
                "enabled": row.enabled,
                "pending": !row.enabled,
                "status": row.status,
                "tool_count": row.tool_count,
            }))
        })
        .collect();
    Ok(json!({"servers": servers}))
}

/// Counts a run against its tenant's `concurrent_runs` until dropped.
struct RunSlot {
    runs: Arc<Mutex<HashMap<TenantId, u64>>>,
    tenant: TenantId,
}

impl Drop for RunSlot {
    fn drop(&mut self) {
        if let Some(n) = lock(&self.runs).get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a run did not succeed, with the tail of its output (the whole output streamed).
fn run_failure(out: &canopy_pyenv::RunOutput) -> String {
    let mut text = format!("the code did not succeed: {}", out.reason.as_str());
    if let Some(code) = out.exit_code {
        text.push_str(&format!(" (exit code {code})"));
    }
    for (name, stream) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        if !stream.is_empty() {
            text.push_str(&format!("\n--- {name} ---\n{}", tail(stream, 4096)));
        }
    }
    text
}

fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// The frozen specification of an environment with these packages (what `freeze` gives).
fn frozen_json(python_version: &str, packages: Vec<Package>) -> Value {
    data(&Frozen { format: FROZEN_FORMAT.to_owned(), python_version: python_version.to_owned(), packages })
}

/// What a session or process the log has and this worker does not run looks like when listed.
/// A session this worker does not run, as the event log knows it: ended (with its reason), or
/// running on the worker that holds its environment (calls naming it go there), whose live
/// details (executions, pid) only that worker has.
fn session_from_log(row: &PythonSessionRow, held_alive: bool) -> Value {
    let running = row.status == "running" && held_alive;
    let reason = (!running).then(|| row.ended_reason.clone().unwrap_or_else(|| REASON_WORKER_RESTARTED.to_owned()));
    match row.kind.as_str() {
        "process" => json!({
            "id": row.session_id, "name": row.name, "env_id": row.env_id,
            "script_path": row.script_path, "pid": null, "start_time": row.started_at.timestamp(),
            "running": running, "exit_code": null, "reason": reason, "capture_output": null,
        }),
        _ => json!({
            "id": row.session_id, "name": row.name, "env_id": row.env_id,
            "created_at": row.started_at.timestamp(), "running": running, "ended_reason": reason,
            "executions": null,
        }),
    }
}

impl Python {
    /// Starts the engine over `store`; when it cannot start (no sandbox, no uv, no
    /// interpreter), the server still answers every tool, with a failure saying why.
    pub async fn start(settings: PythonSettings, store: PythonStore) -> Python {
        let sync = settings.blobs.map(|blobs| WorkspaceSync::new(blobs, settings.engine.workspace_bytes));
        let engine = match Engine::new(settings.engine).await {
            Ok(engine) => Ok(engine),
            Err(e) => {
                let why = describe(&e);
                tracing::warn!(error = %why, "the python built-in's sandbox engine did not start");
                Err(why)
            }
        };
        Python {
            engine,
            store: Some(store),
            quotas: settings.quotas,
            runs: Arc::default(),
            restoring: tokio::sync::Mutex::new(()),
            sync,
            read_only: read_only_tools(),
        }
    }

    /// A server with no engine: every call fails with `why`.
    pub fn unavailable(why: &str) -> Python {
        Python {
            engine: Err(why.to_owned()),
            store: None,
            quotas: Quotas::default(),
            runs: Arc::default(),
            restoring: tokio::sync::Mutex::new(()),
            sync: None,
            read_only: read_only_tools(),
        }
    }

    /// The one ownership rule ([`canopy_readmodels::python_visible`]), for this call's caller.
    fn visible(owner: &str, ctx: &BuiltinCall) -> bool {
        canopy_readmodels::python_visible(owner, ctx.principal(), ctx.is_tenant_admin())
    }

    fn command_context(ctx: &BuiltinCall) -> CommandContext {
        CommandContext::new(ctx.tenant().clone(), ctx.principal())
    }

    async fn execute(
        store: &PythonStore,
        ctx: &BuiltinCall,
        env: &EnvId,
        command: PythonEnvCommand,
    ) -> Result<(), String> {
        store
            .executor
            .execute::<PythonEnv>(&Self::command_context(ctx), env.as_str(), &command)
            .await
            .map(drop)
            .map_err(|e| format!("env_id {env}: recording the change failed: {}", describe(&e)))
    }

    /// `arg` as an environment the caller may use (from the read model): else exactly the
    /// engine's "no such environment".
    async fn env_row(
        store: &PythonStore,
        ctx: &BuiltinCall,
        args: &Args<'_>,
        arg: &str,
    ) -> Result<(EnvId, PythonEnvRow), String> {
        let raw = args.str(arg)?;
        let id = EnvId::parse(raw).ok_or_else(|| format!("{arg} {raw:?}: not a valid environment id"))?;
        let row = canopy_readmodels::get_python_env(&store.pool, ctx.tenant(), id.as_str())
            .await
            .map_err(|e| format!("{arg} {id}: looking it up failed: {e}"))?;
        match row {
            Some(row) if row.is_active() && Self::visible(&row.owner, ctx) => Ok((id, row)),
            _ => Err(format!("{arg} {id}: no such environment")),
        }
    }

    /// [`Python::env_row`], with the environment on this worker: re-created from its frozen
    /// specification (same id) when the engine does not have it, noted in `restored`.
    async fn env(
        &self,
        engine: &Engine,
        store: &PythonStore,
        ctx: &BuiltinCall,
        args: &Args<'_>,
        arg: &str,
        restored: &mut Option<Value>,
    ) -> Result<EnvId, String> {
        let (id, row) = Self::env_row(store, ctx, args, arg).await?;
        if engine.get(&id).is_ok() {
            return Ok(id);
        }
        let _one_at_a_time = self.restoring.lock().await;
        if engine.get(&id).is_ok() {
            return Ok(id);
        }
        let opts = CreateOptions { id: Some(id.clone()), allow_egress: row.allow_egress };
        engine.restore(&row.name, &row.frozen.to_string(), opts).await.map_err(|e| {
            format!(
                "{arg} {id}: the environment is not on this worker and re-creating it from its frozen specification failed: {}",
                err(e)
            )
        })?;
        let files = match &self.sync {
            Some(sync) => Some(sync.restore(engine, ctx.tenant(), &id).await.map_err(|e| {
                format!("{arg} {id}: the environment was re-created on this worker but its workspace was not: {e}")
            })?),
            None => None,
        };
        Self::execute(store, ctx, &id, PythonEnvCommand::Restore { worker: store.worker.clone() }).await?;
        tracing::info!(env = %id, tenant = %ctx.tenant(), files, "re-created a python environment from its frozen specification");
        let workspace = match files {
            Some(n) => format!("its workspace was put back from the object store ({n} files)"),
            None => "its workspace starts empty (this deployment keeps workspaces on the worker's disk only)".into(),
        };
        *restored = Some(json!({
            "from": "frozen_specification",
            "workspace_files": files,
            "note": format!("the environment was not on this worker (Canopy restarted, or it was made on another worker) and was re-created from its frozen specification with the same id; {workspace}; its REPL sessions and processes ended (worker_restarted)"),
        }));
        Ok(id)
    }

    /// `session_id` or `process_id` as a session the caller may use and this worker runs.
    async fn session_row(
        store: &PythonStore,
        ctx: &BuiltinCall,
        raw: &str,
        kind: SessionKind,
    ) -> Option<PythonSessionRow> {
        let row = canopy_readmodels::get_python_session(&store.pool, ctx.tenant(), raw).await.ok().flatten()?;
        (row.kind == kind.as_str() && Self::visible(&row.owner, ctx)).then_some(row)
    }

    async fn session(
        engine: &Engine,
        store: &PythonStore,
        ctx: &BuiltinCall,
        args: &Args<'_>,
    ) -> Result<(SessionId, PythonSessionRow), String> {
        let raw = args.str("session_id")?;
        let unknown = || format!("session_id {raw}: no such REPL session");
        let id = SessionId::parse(raw).ok_or_else(unknown)?;
        let row = Self::session_row(store, ctx, raw, SessionKind::Repl).await.ok_or_else(unknown)?;
        let reason = match engine.repl_list().into_iter().find(|r| r.id == id) {
            Some(here) if here.running => return Ok((id, row)),
            // Ended here while this worker lives: the engine's reason (the log has it too).
            Some(here) => here.ended_reason.map_or("exited", |r| r.as_str()).to_owned(),
            None => row.ended_reason.clone().unwrap_or_else(|| REASON_WORKER_RESTARTED.to_owned()),
        };
        Err(format!("session_id {raw}: the REPL session ended ({reason}); create another"))
    }

    /// However session or process `session_id` of environment `env` ends (by itself, killed,
    /// a bound, idle), records it in the log when it does, with the engine's reason, so the
    /// listings show it ended at once and not only after a restart. `ended` resolves with the
    /// reason once it has ended (`None`: nothing to record). An end by the environment's
    /// destruction is left to `python_env.destroyed` (`environment_destroyed`); the first
    /// reason recorded stands.
    fn record_end<F>(store: &PythonStore, ctx: &BuiltinCall, env: &EnvId, session_id: String, ended: F)
    where
        F: Future<Output = Option<&'static str>> + Send + 'static,
    {
        let (store, context, env) = (store.clone(), Self::command_context(ctx), env.clone());
        tokio::spawn(async move {
            let Some(reason) = ended.await else { return };
            if reason == canopy_pyenv::EndReason::EnvDestroyed.as_str() {
                return;
            }
            let end = PythonEnvCommand::EndSession { session_id: session_id.clone(), reason: reason.to_owned() };
            if let Err(e) = store.executor.execute::<PythonEnv>(&context, env.as_str(), &end).await {
                tracing::debug!(error = %describe(&e), session = %session_id, "the end of a python session was not recorded");
            }
        });
    }

    async fn process(
        engine: &Engine,
        store: &PythonStore,
        ctx: &BuiltinCall,
        args: &Args<'_>,
    ) -> Result<(ProcessId, PythonSessionRow), String> {
        let raw = args.str("process_id")?;
        let unknown = || format!("process_id {raw}: no such process");
        let id = ProcessId::parse(raw).ok_or_else(unknown)?;
        let row = Self::session_row(store, ctx, raw, SessionKind::Process).await.ok_or_else(unknown)?;
        if !engine.list_processes().iter().any(|p| p.id == id) {
            let reason = row.ended_reason.as_deref().unwrap_or(REASON_WORKER_RESTARTED);
            return Err(format!("process_id {raw}: the process ended ({reason}) with the worker that ran it"));
        }
        Ok((id, row))
    }

    /// The tenant's sessions (or processes) of the read model the caller may see.
    async fn sessions(
        store: &PythonStore,
        ctx: &BuiltinCall,
        kind: SessionKind,
    ) -> Result<Vec<PythonSessionRow>, String> {
        let rows = canopy_readmodels::list_python_sessions(&store.pool, ctx.tenant(), kind.as_str())
            .await
            .map_err(|e| format!("listing failed: {e}"))?;
        Ok(rows.into_iter().filter(|r| Self::visible(&r.owner, ctx)).collect())
    }

    /// Sessions as listed: this worker's live ones as it sees them, the others as the log
    /// knows them, running only while the worker holding their environment runs.
    async fn listed(
        store: &PythonStore,
        ctx: &BuiltinCall,
        rows: Vec<PythonSessionRow>,
        here: HashMap<String, Value>,
    ) -> Vec<Value> {
        let mut holders: HashMap<String, bool> = HashMap::new();
        let mut listed = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(live) = here.get(&row.session_id) {
                listed.push(live.clone());
                continue;
            }
            let mut alive = false;
            if row.status == "running" {
                let env =
                    canopy_readmodels::get_python_env(&store.pool, ctx.tenant(), &row.env_id).await.ok().flatten();
                if let Some(holder) = env.and_then(|e| e.holder).filter(|h| *h != store.worker) {
                    alive = match holders.get(&holder) {
                        Some(alive) => *alive,
                        None => {
                            let alive = store.worker_alive(&holder).await;
                            holders.insert(holder, alive);
                            alive
                        }
                    };
                }
            }
            listed.push(session_from_log(row, alive));
        }
        listed
    }

    /// How many of the tenant's sessions (or processes) run on this worker now.
    async fn running(
        store: &PythonStore,
        ctx: &BuiltinCall,
        kind: SessionKind,
        live: HashSet<String>,
    ) -> Result<u64, String> {
        let rows = canopy_readmodels::list_python_sessions(&store.pool, ctx.tenant(), kind.as_str())
            .await
            .map_err(|e| format!("counting failed: {e}"))?;
        Ok(rows.iter().filter(|r| live.contains(&r.session_id)).count() as u64)
    }

    fn quota(what: &str, used: u64, max: u64) -> Result<(), String> {
        if used >= max {
            return Err(format!(
                "quota: this tenant has {used} {what}, its quota (python.tenant_{what}) is {max}; end one first"
            ));
        }
        Ok(())
    }

    /// The tenant disk quota's one rule: whether the caller's tenant has room on this worker
    /// for `adding` more bytes (0: a change of unknown size, allowed while the tenant is under
    /// its quota). Usage: every active environment of the tenant this engine has, measured.
    async fn disk_room(
        &self,
        engine: &Engine,
        store: &PythonStore,
        ctx: &BuiltinCall,
        adding: u64,
    ) -> Result<(), String> {
        let limit = self.quotas.disk_bytes;
        let rows = canopy_readmodels::list_python_envs(&store.pool, ctx.tenant())
            .await
            .map_err(|e| format!("measuring the tenant's disk use failed: {e}"))?;
        let used: u64 = rows
            .iter()
            .filter_map(|row| EnvId::parse(&row.env_id))
            .filter_map(|id| engine.disk_usage(&id).ok())
            .fold(0, u64::saturating_add);
        if used.saturating_add(adding.max(1)) <= limit {
            return Ok(());
        }
        let needs = if adding > 0 { format!(" and this needs {adding} more") } else { String::new() };
        Err(format!(
            "quota: this tenant's Python environments use {used} bytes of disk on this worker{needs}; its quota (python.tenant_disk_bytes) is {limit} bytes; destroy an environment or delete workspace files first"
        ))
    }

    fn run_slot(&self, ctx: &BuiltinCall) -> Result<RunSlot, String> {
        let mut runs = lock(&self.runs);
        let n = runs.entry(ctx.tenant().clone()).or_default();
        if *n >= self.quotas.concurrent_runs {
            return Err(format!(
                "quota: this tenant already has {n} runs going, its quota (python.tenant_concurrent_runs) is {}",
                self.quotas.concurrent_runs
            ));
        }
        *n += 1;
        Ok(RunSlot { runs: self.runs.clone(), tenant: ctx.tenant().clone() })
    }

    /// Runs `run` (given a stream sender) forwarding each chunk to the caller as it comes.
    async fn streamed<F, Fut>(ctx: &BuiltinCall, run: F) -> Fut::Output
    where
        F: FnOnce(Option<tokio::sync::mpsc::UnboundedSender<OutputChunk>>) -> Fut,
        Fut: Future,
    {
        if !ctx.caller_listens() {
            return run(None).await;
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let run = run(Some(tx));
        tokio::pin!(run);
        let mut sent = 0u64;
        loop {
            tokio::select! {
                biased;
                Some(chunk) = rx.recv() => forward(ctx, &chunk, &mut sent).await,
                out = &mut run => {
                    while let Ok(chunk) = rx.try_recv() {
                        forward(ctx, &chunk, &mut sent).await;
                    }
                    return out;
                }
            }
        }
    }

    async fn dispatch(&self, ctx: &BuiltinCall, name: &str, arguments: &JsonObject) -> Result<Value, String> {
        let mut restored = None;
        let outcome = self.dispatch_on_worker(ctx, name, arguments, &mut restored).await;
        let saved = self.save_workspace(ctx, name, arguments, outcome.is_ok()).await;
        match outcome {
            Ok(mut value) => {
                if let Value::Object(data) = &mut value {
                    if let Some(note) = restored {
                        data.insert("restored".into(), note);
                    }
                    if let Err(e) = saved {
                        data.insert("workspace_not_saved".into(), json!(e));
                    }
                }
                Ok(value)
            }
            Err(error) if restored.is_some() => Err(format!(
                "{error}\n(the environment was first re-created on this worker from its frozen specification)"
            )),
            Err(error) => Err(error),
        }
    }

    /// After a call naming an environment this worker has (its id, or a REPL's or process's),
    /// other than a read-only one, saves the environment's workspace ([`WorkspaceSync::save`]): whatever the call did to
    /// its files is kept before the caller hears of it. A destroyed environment's saved
    /// workspace is deleted. A failed save is logged, and said in the answer of a call that
    /// succeeded.
    async fn save_workspace(
        &self,
        ctx: &BuiltinCall,
        name: &str,
        arguments: &JsonObject,
        ok: bool,
    ) -> Result<(), String> {
        let (Some(sync), Ok(engine)) = (&self.sync, &self.engine) else { return Ok(()) };
        if self.read_only.contains(name) {
            return Ok(());
        }
        let Some(env) = named_env(engine, arguments) else { return Ok(()) };
        let result = if name == "destroy_environment" {
            if !ok {
                return Ok(());
            }
            sync.forget(ctx.tenant(), &env).await
        } else if engine.get(&env).is_ok() {
            sync.save(engine, ctx.tenant(), &env).await
        } else {
            return Ok(());
        };
        if let Err(e) = &result {
            tracing::warn!(env = %env, tenant = %ctx.tenant(), tool = name, error = %e, "a python workspace was not saved");
        }
        result
    }

    async fn dispatch_on_worker(
        &self,
        ctx: &BuiltinCall,
        name: &str,
        arguments: &JsonObject,
        restored: &mut Option<Value>,
    ) -> Result<Value, String> {
        // Needs no sandbox: it reads what federation registered.
        if let (Some(store), "list_servers") = (&self.store, name) {
            return list_servers(store, ctx).await;
        }
        let engine =
            self.engine.as_ref().map_err(|why| format!("the Python sandbox is not available on this worker: {why}"))?;
        let store = self.store.as_ref().ok_or("the Python sandbox is not available on this worker: no database")?;
        let args = Args(arguments);
        match name {
            "create_environment" | "restore_environment" => {
                let env_name = args.str("name")?;
                let used = canopy_readmodels::list_python_envs(&store.pool, ctx.tenant())
                    .await
                    .map_err(|e| format!("counting environments failed: {e}"))?
                    .len() as u64;
                Self::quota("environments", used, self.quotas.environments)?;
                self.disk_room(engine, store, ctx, 0).await?;
                let (info, frozen) = if name == "create_environment" {
                    let version = args.opt_str("python_version")?;
                    let info = engine.create(env_name, version, CreateOptions::default()).await.map_err(err)?;
                    // A fresh venv has no packages: its frozen spec without asking uv.
                    let frozen = frozen_json(&info.python_version, vec![]);
                    (info, frozen)
                } else {
                    let frozen = args.str("frozen_json")?;
                    let info = engine.restore(env_name, frozen, CreateOptions::default()).await.map_err(err)?;
                    match engine.freeze(&info.id).await {
                        Ok(frozen) => (info, data(&frozen)),
                        Err(e) => {
                            let _ = engine.destroy(&info.id).await;
                            return Err(err(e));
                        }
                    }
                };
                let create = PythonEnvCommand::Create {
                    name: info.name.clone(),
                    owner: ctx.principal().to_owned(),
                    python_version: info.python_version.clone(),
                    allow_egress: info.allow_egress,
                    frozen,
                    worker: Some(store.worker.clone()),
                };
                if let Err(e) = Self::execute(store, ctx, &info.id, create).await {
                    let _ = engine.destroy(&info.id).await;
                    return Err(e);
                }
                Ok(
                    json!({"id": info.id, "name": info.name, "python_version": info.python_version, "env_path": info.env_path}),
                )
            }
            "list_environments" => {
                let rows = canopy_readmodels::list_python_envs(&store.pool, ctx.tenant())
                    .await
                    .map_err(|e| format!("listing environments failed: {e}"))?;
                let envs: Vec<Value> = rows
                    .into_iter()
                    .filter(|row| Self::visible(&row.owner, ctx))
                    .map(|row| {
                        // The venv's path when this worker has it; else the next call re-creates it.
                        let here = EnvId::parse(&row.env_id).and_then(|id| engine.get(&id).ok());
                        json!({
                            "id": row.env_id, "name": row.name, "python_version": row.python_version,
                            "env_path": here.as_ref().map(|e| &e.env_path), "created_at": row.created_at.timestamp(),
                            "owner": row.owner, "on_this_worker": here.is_some(),
                        })
                    })
                    .collect();
                Ok(json!({"environments": envs}))
            }
            "destroy_environment" => {
                let (id, _) = Self::env_row(store, ctx, &args, "env_id").await?;
                if engine.get(&id).is_ok() {
                    engine.destroy(&id).await.map_err(err)?;
                }
                Self::execute(store, ctx, &id, PythonEnvCommand::Destroy).await?;
                Ok(json!({"env_id": id, "destroyed": true}))
            }
            "freeze_environment" => {
                let id = self.env(engine, store, ctx, &args, "env_id", restored).await?;
                let frozen = engine.freeze(&id).await.map_err(err)?;
                Self::execute(store, ctx, &id, PythonEnvCommand::RecordPackages { frozen: data(&frozen) }).await?;
                Ok(data(&frozen))
            }
            "install_packages" => {
                let id = self.env(engine, store, ctx, &args, "env_id", restored).await?;
                let packages = args.strings("packages", true)?;
                let use_conda = args.bool("use_conda", false)?;
                self.disk_room(engine, store, ctx, 0).await?;
                let installed = engine.install_packages(&id, &packages, use_conda).await.map_err(err)?;
                self.record_packages(engine, store, ctx, &id, &installed).await?;
                Ok(json!({"env_id": id, "requested": packages, "packages": installed}))
            }
            "install_requirements" => {
                let id = self.env(engine, store, ctx, &args, "env_id", restored).await?;
                let path = args.str("requirements_path")?;
                let upgrade = args.bool("upgrade", false)?;
                self.disk_room(engine, store, ctx, 0).await?;
                let installed = engine.install_requirements(&id, path, upgrade).await.map_err(err)?;
                self.record_packages(engine, store, ctx, &id, &installed).await?;
                Ok(json!({"env_id": id, "packages": installed}))
            }
            "list_packages" => {
                let id = self.env(engine, store, ctx, &args, "env_id", restored).await?;
                Ok(json!({"env_id": id, "packages": engine.list_packages(&id).await.map_err(err)?}))
            }
            "run_code" => {
                let id = self.env(engine, store, ctx, &args, "env_id", restored).await?;
                let code = args.str("code")?;
                let input = match arguments.get("input_json") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(text)) => Some(
                        serde_json::from_str::<Value>(text).map_err(|e| format!("input_json: not valid JSON: {e}"))?,
                    ),
                    Some(other) => Some(other.clone()),
                };
                let timeout = args.opt_u64("timeout_seconds")?;
                let _slot = self.run_slot(ctx)?;
                let out = Self::streamed(ctx, |tx| engine.run_code(&id, code, input.as_ref(), timeout, tx))
                    .await
                    .map_err(err)?;
                if out.success {
                    Ok(data(&out))
                } else {
                    Err(run_failure(&out))
                }
            }
            "run_script" | "workspace_run_script" => {
                let arg = if name == "run_script" { "script_path" } else { "filename" };
                let id = self.env(engine, store, ctx, &args, "env_id", restored).await?;
                let script = args.str(arg)?;
                let script_args = args.strings("args", false)?;
                let timeout = args.opt_u64("timeout_seconds")?;
                let _slot = self.run_slot(ctx)?;
                let out = Self::streamed(ctx, |tx| engine.run_script(&id, script, &script_args, timeout, tx))
                    .await
                    .map_err(|e| {
                        let text = err(e);
                        match text.strip_prefix("script_path") {
                            Some(rest) if arg == "filename" => format!("filename{rest}"),
                            _ => text,
                        }
                    })?;
                if out.success {
                    Ok(data(&out))
                } else {
                    Err(run_failure(&out))
                }
            }
            "repl_create" => {
                let id = self.env(engine, store, ctx, &args, "env_id", restored).await?;
                let session_name = args.str("session_name")?;
                let live = engine.repl_list().into_iter().filter(|r| r.running).map(|r| r.id.to_string()).collect();
                let used = Self::running(store, ctx, SessionKind::Repl, live).await?;
                Self::quota("repls", used, self.quotas.repls)?;
                let info = engine.repl_create(&id, session_name).await.map_err(err)?;
                let start = PythonEnvCommand::StartSession {
                    session_id: info.id.to_string(),
                    kind: SessionKind::Repl,
                    name: info.name.clone(),
                    owner: ctx.principal().to_owned(),
                    script_path: None,
                };
                if let Err(e) = Self::execute(store, ctx, &id, start).await {
                    let _ = engine.repl_destroy(&info.id).await;
                    return Err(e);
                }
                let (watched, session) = (engine.clone(), info.id.clone());
                Self::record_end(store, ctx, &id, info.id.to_string(), async move {
                    let ended = watched.repl_ended(&session).await.ok()?;
                    Some(ended.ended_reason.map_or("exited", |r| r.as_str()))
                });
                Ok(json!({"session_id": info.id, "session": info}))
            }
            "repl_execute" => {
                let (id, row) = Self::session(engine, store, ctx, &args).await?;
                let code = args.str("code")?;
                let timeout = args.opt_u64("timeout_seconds")?;
                let _slot = self.run_slot(ctx)?;
                let out = engine.repl_execute(&id, code, timeout).await.map_err(err)?;
                if let (Some(reason), Some(env)) = (out.ended_reason, EnvId::parse(&row.env_id)) {
                    // Recorded before answering (the watcher would too, a moment later).
                    let end = PythonEnvCommand::EndSession { session_id: id.to_string(), reason: reason.to_string() };
                    Self::execute(store, ctx, &env, end).await?;
                }
                match (&out.error, out.timed_out) {
                    (None, false) => Ok(data(&out)),
                    (error, timed_out) => {
                        let mut text = String::from("the code did not succeed");
                        if let Some(reason) = out.ended_reason.filter(|_| !timed_out) {
                            text.push_str(&format!(": the session ended ({reason})"));
                        }
                        if timed_out {
                            text.push_str(&format!(
                                ": it ran past its time and was interrupted; the session's state {}",
                                if out.state_kept { "was kept" } else { "was lost (the session restarted)" }
                            ));
                        }
                        if let Some(error) = error {
                            text.push_str(&format!("\n{}", tail(error, 4096)));
                        }
                        if !out.stdout.is_empty() {
                            text.push_str(&format!("\n--- stdout ---\n{}", tail(&out.stdout, 4096)));
                        }
                        Err(text)
                    }
                }
            }
            "repl_list" => {
                let here: HashMap<String, Value> =
                    engine.repl_list().iter().map(|r| (r.id.to_string(), data(r))).collect();
                let rows = Self::sessions(store, ctx, SessionKind::Repl).await?;
                Ok(json!({"sessions": Self::listed(store, ctx, rows, here).await}))
            }
            "repl_destroy" => {
                let raw = args.str("session_id")?;
                let row = Self::session_row(store, ctx, raw, SessionKind::Repl)
                    .await
                    .ok_or_else(|| format!("session_id {raw}: no such REPL session"))?;
                if let Some(id) = SessionId::parse(raw).filter(|id| engine.repl_list().iter().any(|r| &r.id == id)) {
                    engine.repl_destroy(&id).await.map_err(err)?;
                }
                let env = EnvId::parse(&row.env_id).ok_or("a recorded session names no valid environment")?;
                let remove = PythonEnvCommand::RemoveSession { session_id: raw.to_owned() };
                Self::execute(store, ctx, &env, remove).await?;
                Ok(json!({"session_id": raw, "destroyed": true}))
            }
            "workspace_create" => {
                let id = self.env(engine, store, ctx, &args, "env_id", restored).await?;
                let usage = engine.workspace_usage(&id).map_err(err)?;
                Ok(json!({"env_id": id, "workspace": "/workspace", "bytes": usage.bytes, "files": usage.files}))
            }
            "workspace_write_file" => {
                let id = self.env(engine, store, ctx, &args, "env_id", restored).await?;
                let filename = args.str("filename")?;
                let content = args.str("content")?;
                // What it adds: its bytes, less those of the file it replaces.
                let replaced = engine.file_allocated_bytes(&id, filename).unwrap_or(0);
                self.disk_room(engine, store, ctx, (content.len() as u64).saturating_sub(replaced)).await?;
                Ok(data(&engine.write_file(&id, filename, content.as_bytes()).map_err(err)?))
            }
            "workspace_read_file" => {
                let id = self.env(engine, store, ctx, &args, "env_id", restored).await?;
                let filename = args.str("filename")?;
                let content = engine.read_file(&id, filename).map_err(err)?;
                Ok(json!({"filename": filename, "content": content}))
            }
            "workspace_delete_file" => {
                let id = self.env(engine, store, ctx, &args, "env_id", restored).await?;
                let filename = args.str("filename")?;
                engine.delete_file(&id, filename).map_err(err)?;
                Ok(json!({"filename": filename, "deleted": true}))
            }
            "workspace_list_files" => {
                let id = self.env(engine, store, ctx, &args, "env_id", restored).await?;
                let path = args.opt_str("path")?;
                Ok(json!({"files": engine.list_files(&id, path).map_err(err)?}))
            }
            "workspace_git_clone" => {
                let id = self.env(engine, store, ctx, &args, "env_id", restored).await?;
                let url = args.str("repo_url")?;
                let dir = args.opt_str("dir_name")?;
                self.disk_room(engine, store, ctx, 0).await?;
                Ok(data(&engine.git_clone(&id, url, dir).await.map_err(err)?))
            }
            "workspace_destroy" => {
                let id = self.env(engine, store, ctx, &args, "env_id", restored).await?;
                let removed = clear_workspace(engine, &id, None)?;
                Ok(json!({"env_id": id, "removed": removed}))
            }
            "spawn_process" => {
                let id = self.env(engine, store, ctx, &args, "env_id", restored).await?;
                let request = SpawnRequest {
                    script_path: args.str("script_path")?.to_owned(),
                    name: args.opt_str("name")?.map(str::to_owned),
                    args: args.strings("args", false)?,
                    capture_output: args.bool("capture_output", true)?,
                };
                let live =
                    engine.list_processes().into_iter().filter(|p| p.running).map(|p| p.id.to_string()).collect();
                let used = Self::running(store, ctx, SessionKind::Process, live).await?;
                Self::quota("processes", used, self.quotas.processes)?;
                let script_path = request.script_path.clone();
                let info = engine.spawn_process(&id, request).await.map_err(err)?;
                let start = PythonEnvCommand::StartSession {
                    session_id: info.id.to_string(),
                    kind: SessionKind::Process,
                    name: info.name.clone(),
                    owner: ctx.principal().to_owned(),
                    script_path: Some(script_path),
                };
                if let Err(e) = Self::execute(store, ctx, &id, start).await {
                    let _ = engine.kill_process(&info.id).await;
                    return Err(e);
                }
                let (watched, process) = (engine.clone(), info.id.clone());
                Self::record_end(store, ctx, &id, info.id.to_string(), async move {
                    let ended = watched.process_ended(&process).await.ok()?;
                    Some(ended.reason.map_or("exited", |r| r.as_str()))
                });
                Ok(json!({"process_id": info.id, "process": info}))
            }
            "list_processes" => {
                let here: HashMap<String, Value> =
                    engine.list_processes().iter().map(|p| (p.id.to_string(), data(p))).collect();
                let rows = Self::sessions(store, ctx, SessionKind::Process).await?;
                Ok(json!({"processes": Self::listed(store, ctx, rows, here).await}))
            }
            "process_output" => {
                let (id, _) = Self::process(engine, store, ctx, &args).await?;
                let tail_lines = match args.opt_u64("tail_lines")? {
                    Some(0) => return Err("tail_lines: must be at least 1".into()),
                    n => n.map(|n| n as usize),
                };
                Ok(data(&engine.process_output(&id, tail_lines).map_err(err)?))
            }
            "kill_process" => {
                let (id, row) = Self::process(engine, store, ctx, &args).await?;
                let killed = engine.kill_process(&id).await.map_err(err)?;
                if let Some(env) = EnvId::parse(&row.env_id) {
                    let end = PythonEnvCommand::EndSession { session_id: id.to_string(), reason: "killed".into() };
                    Self::execute(store, ctx, &env, end).await?;
                }
                Ok(data(&killed))
            }
            other => Err(format!("{other}: no such tool in the python server")),
        }
    }

    /// After an install: the environment's new frozen specification, recorded.
    async fn record_packages(
        &self,
        engine: &Engine,
        store: &PythonStore,
        ctx: &BuiltinCall,
        id: &EnvId,
        installed: &[Package],
    ) -> Result<(), String> {
        let version = engine.get(id).map_err(err)?.python_version;
        let frozen = frozen_json(&version, installed.to_vec());
        Self::execute(store, ctx, id, PythonEnvCommand::RecordPackages { frozen }).await
    }
}

/// Deletes everything under `path` of the workspace (depth first: the engine deletes files and
/// empty directories only, each checked where it is opened); how many entries went.
fn clear_workspace(engine: &Engine, id: &EnvId, path: Option<&str>) -> Result<u64, String> {
    let mut removed = 0;
    for entry in engine.list_files(id, path).map_err(err)? {
        if entry.is_dir && !entry.is_symlink {
            removed += clear_workspace(engine, id, Some(&entry.path))?;
        }
        engine.delete_file(id, &entry.path).map_err(err)?;
        removed += 1;
    }
    Ok(removed)
}

/// One chunk of a run's output to the caller, as a log message and a progress notification.
async fn forward(ctx: &BuiltinCall, chunk: &OutputChunk, sent: &mut u64) {
    let text = String::from_utf8_lossy(&chunk.bytes).into_owned();
    let (stream, level) = match chunk.stream {
        Stream::Stdout => ("stdout", LogLevel::Info),
        Stream::Stderr => ("stderr", LogLevel::Warning),
    };
    *sent += chunk.bytes.len() as u64;
    ctx.log(level, Some("python"), json!({"stream": stream, "text": text})).await;
    ctx.progress(*sent as f64, None, Some(text)).await;
}

impl BuiltinServer for Python {
    fn kind(&self) -> BuiltinKind {
        BuiltinKind::Python
    }

    fn tools(&self) -> Vec<Tool> {
        tools()
    }

    fn call(&self, ctx: BuiltinCall, name: String, arguments: JsonObject) -> BoxFuture<'_, CallToolResult> {
        Box::pin(async move {
            let cancel = ctx.cancellation().clone();
            tokio::select! {
                result = self.dispatch(&ctx, &name, &arguments) => match result {
                    Ok(value) => success(value),
                    Err(error) => failure(&error),
                },
                _ = cancel.cancelled() => failure(&format!("{name}: cancelled; the run was stopped")),
            }
        })
    }

    /// The environment a call names (`env_id`, or the one a `session_id` or `process_id`
    /// belongs to) lives on the worker that made or last re-created it; while that worker runs,
    /// calls go there, so its files, REPLs and processes are not re-created (and ended) here.
    fn held_elsewhere<'a>(
        &'a self,
        tenant: &'a TenantId,
        _name: &'a str,
        arguments: &'a JsonObject,
    ) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let store = self.store.as_ref()?;
            let named = |key: &str| arguments.get(key).and_then(Value::as_str);
            // What this worker has runs here whoever holds it (below): known without a query,
            // which is most calls (the handler then looks up the caller's rights once).
            if let Ok(engine) = &self.engine {
                if named_env(engine, arguments).is_some_and(|env| engine.get(&env).is_ok()) {
                    return None;
                }
            }
            let env_id = match named("env_id") {
                Some(env) => env.to_string(),
                None => {
                    let session = named("session_id").or_else(|| named("process_id"))?;
                    let row = canopy_readmodels::get_python_session(&store.pool, tenant, session).await.ok()??;
                    row.env_id
                }
            };
            let row = canopy_readmodels::get_python_env(&store.pool, tenant, &env_id).await.ok()??;
            let active = row.is_active();
            let holder = row.holder.filter(|h| active && *h != store.worker)?;
            // This worker may have it too (it made it before another re-created it).
            let here = self.engine.as_ref().ok().and_then(|e| EnvId::parse(&env_id).map(|id| e.get(&id).is_ok()));
            (here != Some(true)).then_some(holder)
        })
    }
}

#[cfg(test)]
mod tests {
    //! The handlers over a real engine (uv from `CANOPY_UV`, bubblewrap), as a caller sees them:
    //! one text item with the envelope, `isError` on failures, arguments named, ids scoped.

    use super::*;
    use tokio_util::sync::CancellationToken;

    struct Fixture {
        python: Python,
        root: std::path::PathBuf,
        /// The database of the state (the first worker of a test owns it).
        db: Option<canopy_testkit::TestDb>,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    async fn fixture(name: &str, quotas: Quotas) -> Fixture {
        fixture_with(name, quotas, |_| {}).await
    }

    /// [`fixture`], its engine's configuration changed by `tweak` first.
    async fn fixture_with(name: &str, quotas: Quotas, tweak: fn(&mut canopy_pyenv::PyEnvConfig)) -> Fixture {
        let db = canopy_testkit::fresh_database().await;
        let mut f = worker_with(name, quotas, &db.pool, tweak).await;
        f.db = Some(db);
        f
    }

    /// A worker (its own engine root) over the state in `pool`.
    async fn worker(name: &str, quotas: Quotas, pool: &PgPool) -> Fixture {
        worker_with(name, quotas, pool, |_| {}).await
    }

    async fn worker_with(
        name: &str,
        quotas: Quotas,
        pool: &PgPool,
        tweak: fn(&mut canopy_pyenv::PyEnvConfig),
    ) -> Fixture {
        let tmp = std::env::temp_dir();
        let root = tmp.join(format!("canopy-python-builtin-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let engine = canopy_pyenv::PyEnvConfig {
            root: root.clone(),
            cache_dir: Some(tmp.join("canopy-pyenv-it-cache")),
            memory_bytes: 256 << 20,
            run_timeout_default_seconds: 20,
            run_timeout_max_seconds: 60,
            ..Default::default()
        };
        let mut engine = engine;
        tweak(&mut engine);
        let python =
            Python::start(PythonSettings { engine, quotas, blobs: None }, PythonStore::new(pool.clone())).await;
        if let Err(why) = &python.engine {
            panic!("the engine must start here (uv from CANOPY_UV, bubblewrap): {why}");
        }
        Fixture { python, root, db: None }
    }

    fn ctx_as(tenant: &str, principal: &str) -> BuiltinCall {
        let tenant = if tenant == "default" { TenantId::default_tenant() } else { TenantId::parse(tenant).unwrap() };
        BuiltinCall::new(tenant, principal.into(), "c1".into(), CancellationToken::new(), None)
    }

    fn ctx() -> BuiltinCall {
        ctx_as("default", "user:dev")
    }

    /// The envelope of a result, asserting it is one text item and `isError` matches `success`.
    fn envelope(result: &CallToolResult) -> Value {
        let content = serde_json::to_value(&result.content).unwrap();
        assert_eq!(content.as_array().unwrap().len(), 1, "{content}");
        let envelope: Value = serde_json::from_str(content[0]["text"].as_str().unwrap()).unwrap();
        let success = envelope["success"].as_bool().unwrap();
        assert_eq!(result.is_error, Some(!success), "{envelope}");
        let keys: Vec<&String> = envelope.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["data", "error", "success"], "exactly Jumpboot's envelope");
        envelope
    }

    async fn call(python: &Python, ctx: BuiltinCall, name: &str, args: Value) -> Value {
        let Value::Object(args) = args else { panic!() };
        envelope(&python.call(ctx, name.into(), args).await)
    }

    async fn ok(python: &Python, name: &str, args: Value) -> Value {
        let e = call(python, ctx(), name, args).await;
        assert_eq!(e["success"], true, "{name}: {e}");
        e["data"].clone()
    }

    #[tokio::test]
    async fn without_an_engine_every_tool_answers_a_clear_failure() {
        let python = Python::unavailable("the host cannot run sandboxes");
        for tool in tools() {
            let e = call(&python, ctx(), &tool.name, json!({})).await;
            assert_eq!(e["success"], false);
            assert_eq!(e["data"], Value::Null);
            let error = e["error"].as_str().unwrap();
            assert!(error.contains("not available") && error.contains("cannot run sandboxes"), "{error}");
        }
    }

    #[tokio::test]
    async fn the_seed_usage_examples_work_through_the_handlers() {
        let f = fixture("usage", Quotas::default()).await;
        let p = &f.python;
        // Basic workflow (no install: that is the e2e's and the engine's, it reaches the index).
        let env = ok(p, "create_environment", json!({"name": "myenv", "python_version": "3.11"})).await;
        let keys: Vec<&String> = env.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["env_path", "id", "name", "python_version"]);
        assert!(env["python_version"].as_str().unwrap().starts_with("3.11"), "{env}");
        let id = env["id"].as_str().unwrap().to_owned();
        let out = ok(
            p,
            "run_code",
            json!({"env_id": id, "code": "import sys; print(sys.version_info[:2])", "input_json": "{}"}),
        )
        .await;
        assert_eq!(out["stdout"].as_str().unwrap().trim(), "(3, 11)", "{out}");
        let out = ok(
            p,
            "run_code",
            json!({"env_id": id, "code": "print(sum(input_json['a']))", "input_json": "{\"a\": [1, 2]}"}),
        )
        .await;
        assert_eq!(out["stdout"].as_str().unwrap().trim(), "3");
        let listed = ok(p, "list_environments", json!({})).await;
        assert_eq!(listed["environments"][0]["id"], id.as_str());
        // REPL session.
        let repl = ok(p, "repl_create", json!({"env_id": id, "session_name": "analysis"})).await;
        let session = repl["session_id"].as_str().unwrap().to_owned();
        ok(p, "repl_execute", json!({"session_id": session, "code": "x = 42"})).await;
        let out = ok(p, "repl_execute", json!({"session_id": session, "code": "print(x)"})).await;
        assert_eq!(out["stdout"].as_str().unwrap().trim(), "42", "{out}");
        assert_eq!(ok(p, "repl_list", json!({})).await["sessions"].as_array().unwrap().len(), 1);
        // Long-running process.
        let script = "import time\nprint('started', flush=True)\nwhile True:\n    time.sleep(0.1)\n";
        ok(p, "workspace_write_file", json!({"env_id": id, "filename": "server.py", "content": script})).await;
        assert_eq!(
            ok(p, "workspace_read_file", json!({"env_id": id, "filename": "server.py"})).await["content"],
            script
        );
        let files = ok(p, "workspace_list_files", json!({"env_id": id})).await;
        assert_eq!(files["files"][0]["name"], "server.py", "{files}");
        let proc = ok(p, "spawn_process", json!({"env_id": id, "script_path": "server.py", "name": "srv"})).await;
        let pid = proc["process_id"].as_str().unwrap().to_owned();
        let mut lines = Value::Null;
        for _ in 0..50 {
            lines = ok(p, "process_output", json!({"process_id": pid, "tail_lines": 5})).await;
            if lines["lines"].as_array().is_some_and(|l| !l.is_empty()) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(lines["lines"][0], "started", "{lines}");
        assert_eq!(ok(p, "list_processes", json!({})).await["processes"][0]["running"], true);
        ok(p, "kill_process", json!({"process_id": pid})).await;
        assert_eq!(ok(p, "list_processes", json!({})).await["processes"][0]["running"], false);
        // A process that ends by itself is recorded as ended (`exited`) at once, in the log.
        ok(p, "workspace_write_file", json!({"env_id": id, "filename": "once.py", "content": "print('bye')"})).await;
        let once = ok(p, "spawn_process", json!({"env_id": id, "script_path": "once.py"})).await["process_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let pool = &f.db.as_ref().unwrap().pool;
        let mut recorded = None;
        for _ in 0..100 {
            let row = canopy_readmodels::get_python_session(pool, &TenantId::default_tenant(), &once).await.unwrap();
            if row.as_ref().is_some_and(|r| r.status == "ended") {
                recorded = row;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let recorded = recorded.expect("the process's end is in the log");
        assert_eq!(recorded.ended_reason.as_deref(), Some("exited"));
        let killed = canopy_readmodels::get_python_session(pool, &TenantId::default_tenant(), &pid).await.unwrap();
        assert_eq!(killed.unwrap().ended_reason.as_deref(), Some("killed"), "the first reason stands");
        // A failing run is a failure with the reason and the output's tail.
        let e = call(p, ctx(), "run_code", json!({"env_id": id, "code": "print('before'); raise SystemExit(3)"})).await;
        let error = e["error"].as_str().unwrap();
        assert!(error.contains("exit code 3") && error.contains("before"), "{error}");
        // workspace_destroy empties it; destroy_environment ends it.
        ok(p, "workspace_write_file", json!({"env_id": id, "filename": "d/x.txt", "content": "x"})).await;
        assert_eq!(ok(p, "workspace_destroy", json!({"env_id": id})).await["removed"], 4, "once.py too");
        ok(p, "repl_destroy", json!({"session_id": session})).await;
        ok(p, "destroy_environment", json!({"env_id": id})).await;
        assert_eq!(ok(p, "list_environments", json!({})).await["environments"], json!([]));
    }

    #[tokio::test]
    async fn bad_arguments_and_path_escapes_are_refused_naming_the_argument() {
        let f = fixture("args", Quotas::default()).await;
        let p = &f.python;
        let id = ok(p, "create_environment", json!({"name": "a"})).await["id"].as_str().unwrap().to_owned();
        for (tool, args, starts) in [
            ("create_environment", json!({}), "name: required"),
            ("create_environment", json!({"name": 3}), "name: must be a string"),
            ("create_environment", json!({"name": "x", "python_version": "2.7"}), "python_version \"2.7\""),
            ("run_code", json!({"env_id": id}), "code: required"),
            ("run_code", json!({"env_id": id, "code": "1", "input_json": "{"}), "input_json: not valid JSON"),
            ("run_code", json!({"env_id": id, "code": "1", "timeout_seconds": -1}), "timeout_seconds"),
            ("run_code", json!({"env_id": id, "code": "1", "timeout_seconds": 100000}), "timeout_seconds 100000"),
            ("install_packages", json!({"env_id": id, "packages": "six"}), "packages: must be an array"),
            ("install_packages", json!({"env_id": id, "packages": ["--index-url=https://evil"]}), "packages:"),
            ("install_packages", json!({"env_id": id, "packages": ["six"], "use_conda": true}), "use_conda"),
            ("workspace_write_file", json!({"env_id": id, "filename": "../x", "content": ""}), "filename \"../x\""),
            ("workspace_read_file", json!({"env_id": id, "filename": "/etc/passwd"}), "filename \"/etc/passwd\""),
            ("workspace_list_files", json!({"env_id": id, "path": "../.."}), "path \"../..\""),
            ("workspace_run_script", json!({"env_id": id, "filename": "../../x.py"}), "filename"),
            ("run_script", json!({"env_id": id, "script_path": "/x.py"}), "script_path"),
            ("spawn_process", json!({"env_id": id, "script_path": "nope.py"}), "script_path"),
            ("process_output", json!({"process_id": "proc_x", "tail_lines": 0}), "process_id proc_x: no such process"),
            (
                "repl_execute",
                json!({"session_id": "repl_nope", "code": "1"}),
                "session_id repl_nope: no such REPL session",
            ),
            ("destroy_environment", json!({"env_id": "env_nope"}), "env_id env_nope: no such environment"),
            ("destroy_environment", json!({"env_id": "../x"}), "env_id \"../x\""),
            ("workspace_git_clone", json!({"env_id": id, "repo_url": "https://example.com/x.git"}), "repo_url"),
        ] {
            let e = call(p, ctx(), tool, args.clone()).await;
            assert_eq!(e["success"], false, "{tool} {args}: {e}");
            let error = e["error"].as_str().unwrap();
            assert!(error.starts_with(starts), "{tool} {args}: {error}");
        }
    }

    #[tokio::test]
    async fn another_tenant_or_principal_sees_ids_as_unknown_and_quotas_hold() {
        let quotas = Quotas { environments: 1, concurrent_runs: 8, repls: 1, processes: 1, ..Quotas::default() };
        let f = fixture("tenancy", quotas).await;
        let p = &f.python;
        let id = ok(p, "create_environment", json!({"name": "mine"})).await["id"].as_str().unwrap().to_owned();
        let session = ok(p, "repl_create", json!({"env_id": id, "session_name": "s"})).await["session_id"]
            .as_str()
            .unwrap()
            .to_owned();
        for other in [ctx_as("acme", "user:dev"), ctx_as("default", "user:eve")] {
            let tenant = other.tenant().clone();
            let principal = other.principal().to_owned();
            let mk = || BuiltinCall::new(tenant.clone(), principal.clone(), "c".into(), CancellationToken::new(), None);
            for (tool, args) in [
                ("run_code", json!({"env_id": id, "code": "print(1)"})),
                ("destroy_environment", json!({"env_id": id})),
                ("workspace_read_file", json!({"env_id": id, "filename": "x"})),
            ] {
                let e = call(p, mk(), tool, args).await;
                assert_eq!(e["error"], format!("env_id {id}: no such environment"), "{tool}");
            }
            let e = call(p, mk(), "repl_execute", json!({"session_id": session, "code": "1"})).await;
            assert_eq!(e["error"], format!("session_id {session}: no such REPL session"));
            let e = call(p, mk(), "list_environments", json!({})).await;
            assert_eq!(e["data"]["environments"], json!([]));
        }
        // An admin of the tenant sees and may destroy what any principal created.
        let admin = || {
            let owner =
                canopy_policy::Principal::user(TenantId::default_tenant(), "user:root", canopy_policy::Role::Owner);
            ctx_as("default", "user:root").with_identity(Some(owner))
        };
        let e = call(p, admin(), "list_environments", json!({})).await;
        assert_eq!(e["data"]["environments"][0]["id"], id.as_str());
        // Quotas: a second environment or REPL in the tenant is refused naming the quota.
        let e = call(p, ctx(), "create_environment", json!({"name": "second"})).await;
        assert!(e["error"].as_str().unwrap().contains("python.tenant_environments"), "{e}");
        let e = call(p, ctx(), "repl_create", json!({"env_id": id, "session_name": "t"})).await;
        assert!(e["error"].as_str().unwrap().contains("python.tenant_repls"), "{e}");
        // Another tenant has its own quota.
        let e = call(p, ctx_as("acme", "user:dev"), "create_environment", json!({"name": "theirs"})).await;
        assert_eq!(e["success"], true, "{e}");
        let e = call(p, admin(), "destroy_environment", json!({"env_id": id})).await;
        assert_eq!(e["success"], true, "{e}");
    }

    #[tokio::test]
    async fn output_streams_to_the_caller_before_the_result_and_cancellation_stops_the_run() {
        let f = fixture("stream", Quotas::default()).await;
        let p = &f.python;
        let id = ok(p, "create_environment", json!({"name": "s"})).await["id"].as_str().unwrap().to_owned();
        let nats = async_nats::connect("127.0.0.1:4222").await.expect("NATS on 127.0.0.1:4222");
        let subject = format!("canopy-test.python.{}", std::process::id());
        let mut sub = nats.subscribe(subject.clone()).await.unwrap();
        nats.flush().await.unwrap();
        let listening = BuiltinCall::new(
            TenantId::default_tenant(),
            "user:dev".into(),
            "c2".into(),
            CancellationToken::new(),
            Some((canopy_bus::Bus::from_client(nats.clone(), "canopy-test"), subject)),
        );
        let code = "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.3)\n";
        let Value::Object(args) = json!({"env_id": id, "code": code}) else { panic!() };
        let run = p.call(listening, "run_code".into(), args);
        tokio::pin!(run);
        let mut before_result = 0;
        let result = loop {
            tokio::select! {
                Some(_) = futures::StreamExt::next(&mut sub) => before_result += 1,
                result = &mut run => break result,
            }
        };
        assert_eq!(envelope(&result)["success"], true);
        // Each of the three lines as a log message and a progress notification, while it ran.
        assert!(before_result >= 4, "{before_result} messages reached the caller before the result");

        // Cancellation stops a busy loop at once, and the environment stays usable.
        let cancel = CancellationToken::new();
        let ctx = BuiltinCall::new(TenantId::default_tenant(), "user:dev".into(), "c3".into(), cancel.clone(), None);
        let Value::Object(args) = json!({"env_id": id, "code": "while True: pass"}) else { panic!() };
        let started = std::time::Instant::now();
        let stop = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            cancel.cancel();
        });
        let e = envelope(&p.call(ctx, "run_code".into(), args).await);
        stop.await.unwrap();
        assert!(e["error"].as_str().unwrap().contains("cancelled"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
        let out = ok(p, "run_code", json!({"env_id": id, "code": "print(6 * 7)"})).await;
        assert_eq!(out["stdout"].as_str().unwrap().trim(), "42");
    }

    #[tokio::test]
    async fn another_worker_on_the_same_state_lists_restores_and_ends_what_the_first_ran() {
        let first = fixture("restart-1", Quotas::default()).await;
        let p = &first.python;
        let id = ok(p, "create_environment", json!({"name": "kept"})).await["id"].as_str().unwrap().to_owned();
        ok(p, "run_code", json!({"env_id": id, "code": "print(1)"})).await;
        let session = ok(p, "repl_create", json!({"env_id": id, "session_name": "analysis"})).await["session_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let script = "import time\nwhile True:\n    time.sleep(0.1)\n";
        ok(p, "workspace_write_file", json!({"env_id": id, "filename": "loop.py", "content": script})).await;
        let process = ok(p, "spawn_process", json!({"env_id": id, "script_path": "loop.py"})).await["process_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let other = ok(p, "create_environment", json!({"name": "other"})).await["id"].as_str().unwrap().to_owned();

        // A worker that starts afresh on the same database (a restart, or another worker).
        let second = worker("restart-2", Quotas::default(), &first.db.as_ref().unwrap().pool).await;
        let q = &second.python;
        let listed = ok(q, "list_environments", json!({})).await;
        assert_eq!(listed["environments"].as_array().unwrap().len(), 2, "{listed}");
        assert_eq!(listed["environments"][0]["id"], id.as_str(), "{listed}");
        assert_eq!(listed["environments"][0]["on_this_worker"], false, "{listed}");
        let sessions = ok(q, "repl_list", json!({})).await["sessions"].clone();
        assert_eq!(sessions[0]["id"], session.as_str());
        assert_eq!(
            (&sessions[0]["running"], &sessions[0]["ended_reason"]),
            (&json!(false), &json!("worker_restarted"))
        );
        let e = call(q, ctx(), "repl_execute", json!({"session_id": session, "code": "1"})).await;
        assert!(e["error"].as_str().unwrap().contains("ended (worker_restarted)"), "{e}");
        let procs = ok(q, "list_processes", json!({})).await["processes"].clone();
        assert_eq!((&procs[0]["id"], &procs[0]["reason"]), (&json!(process), &json!("worker_restarted")), "{procs}");
        // Another principal or tenant still sees nothing, and restores nothing.
        for other in [ctx_as("acme", "user:dev"), ctx_as("default", "user:eve")] {
            let e = call(q, other, "run_code", json!({"env_id": id, "code": "print(1)"})).await;
            assert_eq!(e["error"], format!("env_id {id}: no such environment"));
        }
        let e = call(q, ctx_as("default", "user:eve"), "list_environments", json!({})).await;
        assert_eq!(e["data"]["environments"], json!([]));
        // The owner's next call re-creates it here from its frozen spec, same id, and says so.
        let out = ok(q, "run_code", json!({"env_id": id, "code": "print(6 * 7)"})).await;
        assert_eq!(out["stdout"].as_str().unwrap().trim(), "42", "{out}");
        assert_eq!(out["restored"]["from"], "frozen_specification", "{out}");
        // A call that fails after re-creating still says it re-created.
        let e = call(q, ctx(), "run_code", json!({"env_id": other, "code": "raise SystemExit(3)"})).await;
        let error = e["error"].as_str().unwrap();
        assert!(error.contains("exit code 3") && error.contains("re-created on this worker"), "{error}");
        let out = ok(q, "run_code", json!({"env_id": id, "code": "print(1)"})).await;
        assert!(out.get("restored").is_none(), "only the call that re-created it says so: {out}");
        let listed = ok(q, "list_environments", json!({})).await;
        assert_eq!(listed["environments"][0]["on_this_worker"], true, "{listed}");
        // The ended session stays listed (recorded now, not only computed) until destroyed.
        let sessions = ok(q, "repl_list", json!({})).await["sessions"].clone();
        assert_eq!(sessions[0]["ended_reason"], "worker_restarted");
        ok(q, "repl_destroy", json!({"session_id": session})).await;
        assert_eq!(ok(q, "repl_list", json!({})).await["sessions"], json!([]));
        ok(q, "destroy_environment", json!({"env_id": id})).await;
        ok(q, "destroy_environment", json!({"env_id": other})).await;
        assert_eq!(ok(p, "list_environments", json!({})).await["environments"], json!([]), "gone for every worker");
    }

    /// The log's row of session `id` once it is `ended` (waiting up to `secs`), else the last one.
    async fn ended_row(f: &Fixture, id: &str, secs: u64) -> PythonSessionRow {
        let pool = &f.db.as_ref().unwrap().pool;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let row = canopy_readmodels::get_python_session(pool, &TenantId::default_tenant(), id).await.unwrap();
            let row = row.expect("the session is in the log");
            if row.status == "ended" || std::time::Instant::now() > deadline {
                return row;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn a_repl_that_exits_is_recorded_as_ended_when_it_ends() {
        let f = fixture("repl-exit", Quotas::default()).await;
        let p = &f.python;
        let id = ok(p, "create_environment", json!({"name": "e"})).await["id"].as_str().unwrap().to_owned();
        let new_session = |name: &'static str| {
            let id = id.clone();
            async move {
                ok(p, "repl_create", json!({"env_id": id, "session_name": name})).await["session_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        };
        // exit(): answered, then ended; listed (and in the log) as ended at once, no restart.
        let session = new_session("quits").await;
        let out = ok(p, "repl_execute", json!({"session_id": session, "code": "print('bye'); exit()"})).await;
        assert_eq!(
            (&out["stdout"], &out["state_kept"], &out["ended_reason"]),
            (&json!("bye\n"), &json!(false), &json!("exited"))
        );
        let listed = ok(p, "repl_list", json!({})).await["sessions"].clone();
        assert_eq!((&listed[0]["running"], &listed[0]["ended_reason"]), (&json!(false), &json!("exited")), "{listed}");
        let row = ended_row(&f, &session, 0).await;
        assert_eq!(
            (row.status.as_str(), row.ended_reason.as_deref()),
            ("ended", Some("exited")),
            "recorded before the answer"
        );
        let e = call(p, ctx(), "repl_execute", json!({"session_id": session, "code": "1"})).await;
        assert_eq!(e["error"], format!("session_id {session}: the REPL session ended (exited); create another"));
        // A non-zero exit is a failure that says the session ended.
        let session = new_session("fails").await;
        let e = call(p, ctx(), "repl_execute", json!({"session_id": session, "code": "import sys; sys.exit(4)"})).await;
        let error = e["error"].as_str().unwrap();
        assert!(error.contains("the session ended (exited)") && error.contains("SystemExit: 4"), "{error}");
        // The interpreter dying between executions (nothing calls the session) is recorded too.
        let session = new_session("dies").await;
        let code =
            "import os, threading, time\nthreading.Thread(target=lambda: (time.sleep(0.3), os._exit(9))).start()";
        ok(p, "repl_execute", json!({"session_id": session, "code": code})).await;
        let row = ended_row(&f, &session, 10).await;
        assert_eq!(row.ended_reason.as_deref(), Some("exited"), "{row:?}");
        let listed = ok(p, "repl_list", json!({})).await["sessions"].clone();
        assert_eq!((&listed[2]["running"], &listed[2]["ended_reason"]), (&json!(false), &json!("exited")), "{listed}");
        // A destroyed session is forgotten, whatever the watcher records.
        ok(p, "repl_destroy", json!({"session_id": session})).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(ok(p, "repl_list", json!({})).await["sessions"].as_array().unwrap().len(), 2);
        ok(p, "destroy_environment", json!({"env_id": id})).await;
    }

    #[tokio::test]
    async fn an_idle_repl_is_recorded_as_ended_idle_when_reaped() {
        let f = fixture_with("repl-idle", Quotas::default(), |c| c.repl_idle_seconds = 1).await;
        let p = &f.python;
        let id = ok(p, "create_environment", json!({"name": "e"})).await["id"].as_str().unwrap().to_owned();
        let session = ok(p, "repl_create", json!({"env_id": id, "session_name": "idle"})).await["session_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let row = ended_row(&f, &session, 15).await;
        assert_eq!((row.status.as_str(), row.ended_reason.as_deref()), ("ended", Some("idle")), "{row:?}");
        let listed = ok(p, "repl_list", json!({})).await["sessions"].clone();
        assert_eq!((&listed[0]["running"], &listed[0]["ended_reason"]), (&json!(false), &json!("idle")), "{listed}");
        let e = call(p, ctx(), "repl_execute", json!({"session_id": session, "code": "1"})).await;
        assert_eq!(e["error"], format!("session_id {session}: the REPL session ended (idle); create another"));
        // Another worker on the same state (a restart) lists it with the same reason, not worker_restarted.
        let second = worker("repl-idle-2", Quotas::default(), &f.db.as_ref().unwrap().pool).await;
        let listed = ok(&second.python, "repl_list", json!({})).await["sessions"].clone();
        assert_eq!(listed[0]["ended_reason"], "idle", "{listed}");
        ok(p, "destroy_environment", json!({"env_id": id})).await;
    }

    #[tokio::test]
    async fn a_tenant_past_its_disk_quota_is_refused_and_another_is_not() {
        let mut f = fixture("disk", Quotas::default()).await;
        let acme = || ctx_as("acme", "user:dev");
        let data_of = |e: Value| {
            assert_eq!(e["success"], true, "{e}");
            e["data"].clone()
        };
        let p = &f.python;
        let mine = ok(p, "create_environment", json!({"name": "mine"})).await["id"].as_str().unwrap().to_owned();
        let theirs = data_of(call(p, acme(), "create_environment", json!({"name": "theirs"})).await)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        // The quota: room for about 150 kB of files besides one fresh venv (~80 kB).
        let engine = p.engine.as_ref().unwrap().clone();
        let venv = [&mine, &theirs].map(|id| engine.disk_usage(&EnvId::parse(id).unwrap()).unwrap());
        assert!(venv[0] > 0 && venv[0] < 1 << 20, "{venv:?}");
        let limit = venv[0].max(venv[1]) + 150_000;
        f.python.quotas.disk_bytes = limit;
        let p = &f.python;
        let write = |env: &str, file: &str, bytes: usize| json!({"env_id": env, "filename": file, "content": "x".repeat(bytes)});
        ok(p, "workspace_write_file", write(&mine, "a.bin", 100_000)).await;
        // A write past the quota is refused naming it, the usage and the limit; nothing written.
        let e = call(p, ctx(), "workspace_write_file", write(&mine, "b.bin", 80_000)).await;
        let error = e["error"].as_str().unwrap();
        let used = engine.disk_usage(&EnvId::parse(&mine).unwrap()).unwrap();
        assert_eq!(
            error,
            format!(
                "quota: this tenant's Python environments use {used} bytes of disk on this worker and this needs 80000 more; its quota (python.tenant_disk_bytes) is {limit} bytes; destroy an environment or delete workspace files first"
            )
        );
        let files = ok(p, "workspace_list_files", json!({"env_id": mine})).await["files"].clone();
        assert_eq!(files.as_array().unwrap().len(), 1, "{files}");
        // Replacing a file counts only what it adds.
        ok(p, "workspace_write_file", write(&mine, "a.bin", 100_000)).await;
        // Another tenant has its own room.
        data_of(call(p, acme(), "workspace_write_file", write(&theirs, "a.bin", 120_000)).await);
        // Under the quota an environment may be made; past it, nothing of unknown size starts.
        let extra = ok(p, "create_environment", json!({"name": "extra"})).await["id"].as_str().unwrap().to_owned();
        for (tool, args) in [
            ("create_environment", json!({"name": "more"})),
            ("install_packages", json!({"env_id": mine, "packages": ["six"]})),
            ("workspace_write_file", write(&mine, "c.bin", 40_000)),
        ] {
            let e = call(p, ctx(), tool, args).await;
            assert!(e["error"].as_str().unwrap().contains("(python.tenant_disk_bytes) is"), "{tool}: {e}");
        }
        data_of(call(p, acme(), "create_environment", json!({"name": "theirs too"})).await);
        // Destroying an environment makes room at once.
        ok(p, "destroy_environment", json!({"env_id": extra})).await;
        ok(p, "workspace_write_file", write(&mine, "c.bin", 40_000)).await;
        ok(p, "destroy_environment", json!({"env_id": mine})).await;
    }
}

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
//! that created it; another tenant's or another principal's id answers exactly like an
//! unknown id. Per-tenant quotas on environments, concurrent runs, REPLs and processes.
//! Ownership is kept in this worker's memory, like the engine's state.

use super::{tool, BuiltinCall, BuiltinServer, LogLevel};
use canopy_domain::{BuiltinKind, TenantId};
use canopy_pyenv::{CreateOptions, Engine, EnvId, OutputChunk, ProcessId, SessionId, SpawnRequest, Stream};
use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// Per-tenant quotas (`[python]` `tenant_*`).
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    pub environments: u64,
    pub concurrent_runs: u64,
    pub repls: u64,
    pub processes: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas { environments: 20, concurrent_runs: 8, repls: 20, processes: 20 }
    }
}

/// What the worker starts the python server with.
#[derive(Debug, Clone)]
pub struct PythonSettings {
    pub engine: canopy_pyenv::PyEnvConfig,
    pub quotas: Quotas,
}

/// The python server: the engine (or why it did not start) and who owns what.
pub struct Python {
    engine: Result<Engine, String>,
    quotas: Quotas,
    state: Arc<Mutex<State>>,
}

/// Who created something: it is visible to the same tenant and principal only.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    tenant: TenantId,
    principal: String,
}

#[derive(Default)]
struct State {
    envs: HashMap<String, Owner>,
    repls: HashMap<String, Owner>,
    procs: HashMap<String, Owner>,
    runs: HashMap<TenantId, u64>,
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
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
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

/// Counts a run against its tenant's `concurrent_runs` until dropped.
struct RunSlot {
    state: Arc<Mutex<State>>,
    tenant: TenantId,
}

impl Drop for RunSlot {
    fn drop(&mut self) {
        if let Some(n) = lock(&self.state).runs.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
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

impl Python {
    /// Starts the engine; when it cannot start (no sandbox, no uv, no interpreter), the server
    /// still answers every tool, with a failure saying why.
    pub async fn start(settings: PythonSettings) -> Python {
        let engine = match Engine::new(settings.engine).await {
            Ok(engine) => Ok(engine),
            Err(e) => {
                let why = describe(&e);
                tracing::warn!(error = %why, "the python built-in's sandbox engine did not start");
                Err(why)
            }
        };
        Python { engine, quotas: settings.quotas, state: Arc::default() }
    }

    /// A server with no engine: every call fails with `why`.
    pub fn unavailable(why: &str) -> Python {
        Python { engine: Err(why.to_owned()), quotas: Quotas::default(), state: Arc::default() }
    }

    fn owner(ctx: &BuiltinCall) -> Owner {
        Owner { tenant: ctx.tenant().clone(), principal: ctx.principal().to_owned() }
    }

    fn visible(owner: Option<&Owner>, ctx: &BuiltinCall) -> bool {
        owner.is_some_and(|o| &o.tenant == ctx.tenant() && (o.principal == ctx.principal() || ctx.is_tenant_admin()))
    }

    /// `env_id` (or `arg`) as an environment the caller may use: else exactly the engine's
    /// "no such environment".
    fn env(&self, ctx: &BuiltinCall, args: &Args<'_>, arg: &str) -> Result<EnvId, String> {
        let raw = args.str(arg)?;
        let id = EnvId::parse(raw).ok_or_else(|| format!("{arg} {raw:?}: not a valid environment id"))?;
        if !Self::visible(lock(&self.state).envs.get(raw), ctx) {
            return Err(format!("{arg} {id}: no such environment"));
        }
        Ok(id)
    }

    fn session(&self, ctx: &BuiltinCall, args: &Args<'_>) -> Result<SessionId, String> {
        let raw = args.str("session_id")?;
        match SessionId::parse(raw) {
            Some(id) if Self::visible(lock(&self.state).repls.get(raw), ctx) => Ok(id),
            _ => Err(format!("session_id {raw}: no such REPL session")),
        }
    }

    fn process(&self, ctx: &BuiltinCall, args: &Args<'_>) -> Result<ProcessId, String> {
        let raw = args.str("process_id")?;
        match ProcessId::parse(raw) {
            Some(id) if Self::visible(lock(&self.state).procs.get(raw), ctx) => Ok(id),
            _ => Err(format!("process_id {raw}: no such process")),
        }
    }

    fn quota(what: &str, used: u64, max: u64) -> Result<(), String> {
        if used >= max {
            return Err(format!(
                "quota: this tenant has {used} {what}, its quota (python.tenant_{what}) is {max}; end one first"
            ));
        }
        Ok(())
    }

    fn run_slot(&self, ctx: &BuiltinCall) -> Result<RunSlot, String> {
        let mut state = lock(&self.state);
        let n = state.runs.entry(ctx.tenant().clone()).or_default();
        if *n >= self.quotas.concurrent_runs {
            return Err(format!(
                "quota: this tenant already has {n} runs going, its quota (python.tenant_concurrent_runs) is {}",
                self.quotas.concurrent_runs
            ));
        }
        *n += 1;
        Ok(RunSlot { state: self.state.clone(), tenant: ctx.tenant().clone() })
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
        let engine =
            self.engine.as_ref().map_err(|why| format!("the Python sandbox is not available on this worker: {why}"))?;
        let args = Args(arguments);
        match name {
            "create_environment" | "restore_environment" => {
                let env_name = args.str("name")?;
                let used = lock(&self.state).envs.values().filter(|o| &o.tenant == ctx.tenant()).count() as u64;
                Self::quota("environments", used, self.quotas.environments)?;
                let info = if name == "create_environment" {
                    let version = args.opt_str("python_version")?;
                    engine.create(env_name, version, CreateOptions::default()).await.map_err(err)?
                } else {
                    let frozen = args.str("frozen_json")?;
                    engine.restore(env_name, frozen, CreateOptions::default()).await.map_err(err)?
                };
                lock(&self.state).envs.insert(info.id.to_string(), Self::owner(ctx));
                Ok(
                    json!({"id": info.id, "name": info.name, "python_version": info.python_version, "env_path": info.env_path}),
                )
            }
            "list_environments" => {
                let state = lock(&self.state);
                let envs: Vec<Value> = engine
                    .list()
                    .into_iter()
                    .filter(|e| Self::visible(state.envs.get(e.id.as_str()), ctx))
                    .map(|e| json!({"id": e.id, "name": e.name, "python_version": e.python_version, "env_path": e.env_path, "created_at": e.created_at}))
                    .collect();
                Ok(json!({"environments": envs}))
            }
            "destroy_environment" => {
                let id = self.env(ctx, &args, "env_id")?;
                engine.destroy(&id).await.map_err(err)?;
                lock(&self.state).envs.remove(id.as_str());
                Ok(json!({"env_id": id, "destroyed": true}))
            }
            "freeze_environment" => {
                let id = self.env(ctx, &args, "env_id")?;
                Ok(data(&engine.freeze(&id).await.map_err(err)?))
            }
            "install_packages" => {
                let id = self.env(ctx, &args, "env_id")?;
                let packages = args.strings("packages", true)?;
                let use_conda = args.bool("use_conda", false)?;
                let installed = engine.install_packages(&id, &packages, use_conda).await.map_err(err)?;
                Ok(json!({"env_id": id, "requested": packages, "packages": installed}))
            }
            "install_requirements" => {
                let id = self.env(ctx, &args, "env_id")?;
                let path = args.str("requirements_path")?;
                let upgrade = args.bool("upgrade", false)?;
                let installed = engine.install_requirements(&id, path, upgrade).await.map_err(err)?;
                Ok(json!({"env_id": id, "packages": installed}))
            }
            "list_packages" => {
                let id = self.env(ctx, &args, "env_id")?;
                Ok(json!({"env_id": id, "packages": engine.list_packages(&id).await.map_err(err)?}))
            }
            "run_code" => {
                let id = self.env(ctx, &args, "env_id")?;
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
                let id = self.env(ctx, &args, "env_id")?;
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
                let id = self.env(ctx, &args, "env_id")?;
                let session_name = args.str("session_name")?;
                let used = {
                    let state = lock(&self.state);
                    engine
                        .repl_list()
                        .iter()
                        .filter(|r| {
                            r.running && state.repls.get(r.id.as_str()).is_some_and(|o| &o.tenant == ctx.tenant())
                        })
                        .count() as u64
                };
                Self::quota("repls", used, self.quotas.repls)?;
                let info = engine.repl_create(&id, session_name).await.map_err(err)?;
                lock(&self.state).repls.insert(info.id.to_string(), Self::owner(ctx));
                Ok(json!({"session_id": info.id, "session": info}))
            }
            "repl_execute" => {
                let id = self.session(ctx, &args)?;
                let code = args.str("code")?;
                let timeout = args.opt_u64("timeout_seconds")?;
                let _slot = self.run_slot(ctx)?;
                let out = engine.repl_execute(&id, code, timeout).await.map_err(err)?;
                match (&out.error, out.timed_out) {
                    (None, false) => Ok(data(&out)),
                    (error, timed_out) => {
                        let mut text = String::from("the code did not succeed");
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
                let state = lock(&self.state);
                let sessions: Vec<Value> = engine
                    .repl_list()
                    .iter()
                    .filter(|r| Self::visible(state.repls.get(r.id.as_str()), ctx))
                    .map(data)
                    .collect();
                Ok(json!({"sessions": sessions}))
            }
            "repl_destroy" => {
                let id = self.session(ctx, &args)?;
                engine.repl_destroy(&id).await.map_err(err)?;
                lock(&self.state).repls.remove(id.as_str());
                Ok(json!({"session_id": id, "destroyed": true}))
            }
            "workspace_create" => {
                let id = self.env(ctx, &args, "env_id")?;
                let usage = engine.workspace_usage(&id).map_err(err)?;
                Ok(json!({"env_id": id, "workspace": "/workspace", "bytes": usage.bytes, "files": usage.files}))
            }
            "workspace_write_file" => {
                let id = self.env(ctx, &args, "env_id")?;
                let filename = args.str("filename")?;
                let content = args.str("content")?;
                Ok(data(&engine.write_file(&id, filename, content.as_bytes()).map_err(err)?))
            }
            "workspace_read_file" => {
                let id = self.env(ctx, &args, "env_id")?;
                let filename = args.str("filename")?;
                let content = engine.read_file(&id, filename).map_err(err)?;
                Ok(json!({"filename": filename, "content": content}))
            }
            "workspace_delete_file" => {
                let id = self.env(ctx, &args, "env_id")?;
                let filename = args.str("filename")?;
                engine.delete_file(&id, filename).map_err(err)?;
                Ok(json!({"filename": filename, "deleted": true}))
            }
            "workspace_list_files" => {
                let id = self.env(ctx, &args, "env_id")?;
                let path = args.opt_str("path")?;
                Ok(json!({"files": engine.list_files(&id, path).map_err(err)?}))
            }
            "workspace_git_clone" => {
                let id = self.env(ctx, &args, "env_id")?;
                let url = args.str("repo_url")?;
                let dir = args.opt_str("dir_name")?;
                Ok(data(&engine.git_clone(&id, url, dir).await.map_err(err)?))
            }
            "workspace_destroy" => {
                let id = self.env(ctx, &args, "env_id")?;
                let removed = clear_workspace(engine, &id, None)?;
                Ok(json!({"env_id": id, "removed": removed}))
            }
            "spawn_process" => {
                let id = self.env(ctx, &args, "env_id")?;
                let request = SpawnRequest {
                    script_path: args.str("script_path")?.to_owned(),
                    name: args.opt_str("name")?.map(str::to_owned),
                    args: args.strings("args", false)?,
                    capture_output: args.bool("capture_output", true)?,
                };
                let used = {
                    let state = lock(&self.state);
                    engine
                        .list_processes()
                        .iter()
                        .filter(|p| {
                            p.running && state.procs.get(p.id.as_str()).is_some_and(|o| &o.tenant == ctx.tenant())
                        })
                        .count() as u64
                };
                Self::quota("processes", used, self.quotas.processes)?;
                let info = engine.spawn_process(&id, request).await.map_err(err)?;
                lock(&self.state).procs.insert(info.id.to_string(), Self::owner(ctx));
                Ok(json!({"process_id": info.id, "process": info}))
            }
            "list_processes" => {
                let state = lock(&self.state);
                let procs: Vec<Value> = engine
                    .list_processes()
                    .iter()
                    .filter(|p| Self::visible(state.procs.get(p.id.as_str()), ctx))
                    .map(data)
                    .collect();
                Ok(json!({"processes": procs}))
            }
            "process_output" => {
                let id = self.process(ctx, &args)?;
                let tail_lines = match args.opt_u64("tail_lines")? {
                    Some(0) => return Err("tail_lines: must be at least 1".into()),
                    n => n.map(|n| n as usize),
                };
                Ok(data(&engine.process_output(&id, tail_lines).map_err(err)?))
            }
            "kill_process" => {
                let id = self.process(ctx, &args)?;
                Ok(data(&engine.kill_process(&id).await.map_err(err)?))
            }
            "list_servers" => Ok(json!({"servers": []})),
            other => Err(format!("{other}: no such tool in the python server")),
        }
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
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    async fn fixture(name: &str, quotas: Quotas) -> Fixture {
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
        let python = Python::start(PythonSettings { engine, quotas }).await;
        if let Err(why) = &python.engine {
            panic!("the engine must start here (uv from CANOPY_UV, bubblewrap): {why}");
        }
        Fixture { python, root }
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
        // A failing run is a failure with the reason and the output's tail.
        let e = call(p, ctx(), "run_code", json!({"env_id": id, "code": "print('before'); raise SystemExit(3)"})).await;
        let error = e["error"].as_str().unwrap();
        assert!(error.contains("exit code 3") && error.contains("before"), "{error}");
        // workspace_destroy empties it; destroy_environment ends it.
        ok(p, "workspace_write_file", json!({"env_id": id, "filename": "d/x.txt", "content": "x"})).await;
        assert_eq!(ok(p, "workspace_destroy", json!({"env_id": id})).await["removed"], 3);
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
        let quotas = Quotas { environments: 1, concurrent_runs: 8, repls: 1, processes: 1 };
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
            Some((nats.clone(), subject)),
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
}

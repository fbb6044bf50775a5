//! `python`: Jumpboot's Python environment tools, under their exact names and parameters
//! (`shared/design/workloads.md`). A placeholder until the sandboxed engine's handlers land
//! (issue 12): the catalog is the real one; every call answers in Jumpboot's envelope,
//! `{"success": false, "data": null, "error": "... not available yet ..."}`, with `isError`.

use super::{tool, BuiltinCall, BuiltinServer};
use canopy_domain::BuiltinKind;
use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde_json::{json, Value};

pub struct Python;

/// `(name, description, properties, required, read_only, destructive)`.
type Declaration = (&'static str, &'static str, Value, &'static [&'static str], bool, bool);

fn declarations() -> Vec<Declaration> {
    let s = |d: &str| json!({"type": "string", "description": d});
    let env = || json!({"type": "string", "description": "The environment's id"});
    let strings = |d: &str| json!({"type": "array", "items": {"type": "string"}, "description": d});
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
            json!({"env_id": env(), "code": s("Python source"), "input_json": s("JSON passed to the code")}),
            &["env_id", "code"],
            false,
            false,
        ),
        (
            "run_script",
            "Run a script of the workspace.",
            json!({"env_id": env(), "script_path": s("Path in the workspace"), "args": strings("Arguments")}),
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
            json!({"session_id": s("The session's id"), "code": s("Python source")}),
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
            json!({"env_id": env(), "filename": s("Path in the workspace"), "args": strings("Arguments")}),
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

/// Jumpboot's failure envelope, with `isError` set too.
pub fn failure(error: &str) -> CallToolResult {
    let envelope = json!({"success": false, "data": null, "error": error});
    CallToolResult::error(vec![ContentBlock::text(envelope.to_string())])
}

impl BuiltinServer for Python {
    fn kind(&self) -> BuiltinKind {
        BuiltinKind::Python
    }

    fn tools(&self) -> Vec<Tool> {
        tools()
    }

    fn call(&self, _ctx: BuiltinCall, name: String, _arguments: JsonObject) -> BoxFuture<'_, CallToolResult> {
        Box::pin(async move {
            failure(&format!("{name} failed: the Python sandbox engine is not available yet in this build of Canopy"))
        })
    }
}

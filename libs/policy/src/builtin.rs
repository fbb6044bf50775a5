//! The OAuth scopes of the built-in servers' tools. A built-in tool needs its own scope
//! INSTEAD of `mcp:tools`: `mcp:tools` lets a token use the tenant's upstream tools, while
//! starting paid compute (`grid`) or running code (`python`) is granted by name, as Jungle
//! Grid's own tokens grant it, so a token minted for Jungle Grid's scopes works unchanged and
//! a token with only `mcp:tools` starts no job. Static tokens and development mode carry every
//! scope, so this only narrows OAuth tokens.
//!
//! Keyed by server name: built-in names are reserved in every tenant (`canopy_domain::builtin`),
//! so `grid` means the built-in everywhere. A built-in's tool missing from these tables needs
//! [`Scopes::ADMIN`](crate::Scopes::ADMIN) (fail closed); the session-worker's tests check that
//! every tool a built-in declares is listed here.

use crate::jobs::{GridTool, JOBS_ESTIMATE, JOBS_READ, JOBS_SUBMIT, LOGS_READ};
use canopy_domain::BuiltinKind;

/// Python: look (list, read, freeze, output) without changing or running anything.
pub const PYTHON_READ: &str = "python:read";
/// Python: run code and work in a workspace (run, REPLs, processes, write/delete files).
pub const PYTHON_RUN: &str = "python:run";
/// Python: create, restore and destroy environments and workspaces, install packages, clone.
pub const PYTHON_MANAGE: &str = "python:manage";
/// The diagnostic built-in.
pub const DIAGNOSTICS: &str = "canopy:diagnostics";

/// Every scope a built-in tool may need, for `scopes_supported`.
pub const BUILTIN_SCOPES: [&str; 8] =
    [JOBS_ESTIMATE, JOBS_SUBMIT, JOBS_READ, LOGS_READ, PYTHON_READ, PYTHON_RUN, PYTHON_MANAGE, DIAGNOSTICS];

const PYTHON: &[(&str, &str)] = &[
    ("list_environments", PYTHON_READ),
    ("freeze_environment", PYTHON_READ),
    ("list_packages", PYTHON_READ),
    ("repl_list", PYTHON_READ),
    ("workspace_read_file", PYTHON_READ),
    ("workspace_list_files", PYTHON_READ),
    ("list_processes", PYTHON_READ),
    ("process_output", PYTHON_READ),
    ("list_servers", PYTHON_READ),
    ("run_code", PYTHON_RUN),
    ("run_script", PYTHON_RUN),
    ("repl_create", PYTHON_RUN),
    ("repl_execute", PYTHON_RUN),
    ("repl_destroy", PYTHON_RUN),
    ("workspace_write_file", PYTHON_RUN),
    ("workspace_delete_file", PYTHON_RUN),
    ("workspace_run_script", PYTHON_RUN),
    ("spawn_process", PYTHON_RUN),
    ("kill_process", PYTHON_RUN),
    ("create_environment", PYTHON_MANAGE),
    ("destroy_environment", PYTHON_MANAGE),
    ("restore_environment", PYTHON_MANAGE),
    ("install_packages", PYTHON_MANAGE),
    ("install_requirements", PYTHON_MANAGE),
    ("workspace_create", PYTHON_MANAGE),
    ("workspace_git_clone", PYTHON_MANAGE),
    ("workspace_destroy", PYTHON_MANAGE),
];

/// The scope a tool of a built-in server needs, or `None` when `server` is no built-in (its
/// tools need `mcp:tools`). Pure; [`scope_needed`](crate::scope_needed) asks it.
pub fn builtin_tool_scope(server: &str, tool: &str) -> Option<&'static str> {
    let table = match BuiltinKind::of_server_name(server)? {
        // One table of Jungle Grid's scopes, shared with the jobs REST routes.
        BuiltinKind::Grid => return Some(GridTool::parse(tool).map_or(crate::Scopes::ADMIN, GridTool::scope)),
        BuiltinKind::Python => PYTHON,
        BuiltinKind::Echo => return Some(DIAGNOSTICS),
    };
    Some(table.iter().find(|(name, _)| *name == tool).map_or(crate::Scopes::ADMIN, |(_, scope)| scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jungle_grids_scopes_and_pythons() {
        let check = |server, tool, scope| assert_eq!(builtin_tool_scope(server, tool), scope, "{server}__{tool}");
        check("grid", "estimate_job", Some("jobs:estimate"));
        check("grid", "submit_job", Some("jobs:submit"));
        check("grid", "cancel_job", Some("jobs:submit"));
        check("grid", "get_job", Some("jobs:read"));
        check("grid", "get_job_logs", Some("logs:read"));
        check("python", "run_code", Some("python:run"));
        check("python", "create_environment", Some("python:manage"));
        check("python", "list_environments", Some("python:read"));
        check("canopy-echo", "anything", Some("canopy:diagnostics"));
        // A built-in's unknown tool fails closed; other servers' tools are not built-in.
        check("grid", "no_such_tool", Some("canopy:admin"));
        check("fx", "submit_job", None);
        assert_eq!((GridTool::ALL.len(), PYTHON.len()), (11, 27));
    }
}

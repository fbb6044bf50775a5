//! One error enum per area (environments, packages, runs, REPLs, workspaces, processes).
//! Each message names the argument at fault (`env_id`, `python_version`, `packages`,
//! `filename`, `timeout_seconds`, ...) so the MCP layer can put it as is in Jumpboot's
//! `{"success": false, "error": "..."}`. A `Display` never repeats its `#[source]`.

use crate::ids::{EnvId, ProcessId, SessionId};
use canopy_sandbox::SandboxError;

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("env_id {0}: no such environment")]
    UnknownEnv(EnvId),
    #[error("env_id {0:?}: not a valid environment id (letters, digits, `_` and `-`, at most 64)")]
    InvalidId(String),
    #[error("env_id {0}: an environment with this id already exists")]
    Exists(EnvId),
    #[error("name {name:?}: {why}")]
    InvalidName { name: String, why: &'static str },
    #[error("python_version {requested:?}: not available on this host (available: {})", available.join(", "))]
    UnknownPython { requested: String, available: Vec<String> },
    #[error("allow_egress: this deployment does not allow network access for code (pyenv.allow_egress)")]
    EgressNotAllowed,
    #[error("frozen_json: {0}")]
    InvalidFrozen(String),
    #[error("creating the environment failed: {0}")]
    Uv(String),
    #[error("installing the frozen packages failed")]
    Restore(#[source] Box<PackageError>),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("env_id {0}: no such environment")]
    UnknownEnv(EnvId),
    #[error("packages: the list is empty")]
    Empty,
    #[error("packages: {package:?} is refused: {why}")]
    InvalidPackage { package: String, why: &'static str },
    #[error("use_conda: no conda backend is configured in Canopy; packages install from the package index with uv (use_conda=false)")]
    CondaUnavailable,
    #[error("requirements_path: {0}")]
    Requirements(#[source] WorkspaceError),
    #[error("requirements_path {path:?} line {line}: {entry:?} is refused: {why}")]
    InvalidRequirement { path: String, line: usize, entry: String, why: &'static str },
    #[error("installing packages timed out after {0} s")]
    Timeout(u64),
    #[error("installing packages failed: {0}")]
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("env_id {0}: no such environment")]
    UnknownEnv(EnvId),
    #[error("timeout_seconds {given}: must be between 1 and {max}")]
    InvalidTimeout { given: u64, max: u64 },
    #[error("code: empty")]
    EmptyCode,
    #[error("script_path: {0}")]
    Script(#[source] WorkspaceError),
    #[error("args: {0}")]
    InvalidArgs(&'static str),
    #[error("the sandbox could not start")]
    Sandbox(#[source] SandboxError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ReplError {
    #[error("env_id {0}: no such environment")]
    UnknownEnv(EnvId),
    #[error("session_id {0}: no such REPL session")]
    UnknownSession(SessionId),
    #[error("session_id {id}: the session has ended ({reason})")]
    Ended { id: SessionId, reason: String },
    #[error("timeout_seconds {given}: must be between 1 and {max}")]
    InvalidTimeout { given: u64, max: u64 },
    #[error("code: {0} bytes is more than a REPL request takes ({1})")]
    CodeTooLarge(usize, usize),
    #[error("the REPL driver did not start: {0}")]
    Start(String),
    #[error("the sandbox could not start")]
    Sandbox(#[source] SandboxError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("env_id {0}: no such environment")]
    UnknownEnv(EnvId),
    #[error("{arg} {path:?}: {why}")]
    InvalidPath { arg: &'static str, path: String, why: &'static str },
    #[error("{arg} {path:?}: no such file or directory in the workspace")]
    NotFound { arg: &'static str, path: String },
    #[error("{arg} {path:?}: resolves outside the workspace (a symlink leaving it, or a magic link), refused")]
    Escape { arg: &'static str, path: String },
    #[error("{arg} {path:?}: {why}")]
    WrongKind { arg: &'static str, path: String, why: &'static str },
    #[error("{arg} {path:?}: {size} bytes is more than read_file returns ({max})")]
    TooLarge { arg: &'static str, path: String, size: u64, max: u64 },
    #[error("{arg} {path:?}: not UTF-8 text")]
    NotText { arg: &'static str, path: String },
    #[error("content: the workspace would hold {would} bytes, over its quota of {quota}")]
    QuotaBytes { would: u64, quota: u64 },
    #[error("filename: the workspace would hold {would} files, over its quota of {quota}")]
    QuotaFiles { would: u64, quota: u64 },
    #[error("repo_url {url:?}: {why}")]
    InvalidUrl { url: String, why: String },
    #[error("dir_name {0:?}: already exists in the workspace")]
    CloneTargetExists(String),
    #[error("git clone failed ({reason}): {detail}")]
    CloneFailed { reason: String, detail: String },
    #[error("the sandbox could not start")]
    Sandbox(#[source] SandboxError),
    #[error("{arg} {path:?}: {what}")]
    Io {
        arg: &'static str,
        path: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("env_id {0}: no such environment")]
    UnknownEnv(EnvId),
    #[error("process_id {0}: no such process")]
    UnknownProcess(ProcessId),
    #[error("process_id {0}: started with capture_output=false, no output kept")]
    NotCaptured(ProcessId),
    #[error("script_path: {0}")]
    Script(#[source] WorkspaceError),
    #[error("args: {0}")]
    InvalidArgs(&'static str),
    #[error("name {0:?}: at most 128 characters, no control characters")]
    InvalidName(String),
    #[error("the sandbox could not start")]
    Sandbox(#[source] SandboxError),
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("uv not found: set pyenv.uv or CANOPY_UV, or put uv on PATH (scripts: canopy_ensure_uv)")]
    UvMissing,
    #[error("root {0}: not searchable by the sandbox uid 65534 (a directory above it is not world-searchable)")]
    RootUnreachable(std::path::PathBuf),
    #[error("no Python interpreter found in {0} reachable by the sandbox uid")]
    NoInterpreter(String),
    #[error("the host cannot run sandboxes")]
    Sandbox(#[source] SandboxError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

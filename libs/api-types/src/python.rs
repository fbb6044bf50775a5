//! The python built-in's environments as `/api/v0/python/environments` shows them: each with
//! its REPL sessions and processes, and their state.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A python environment of the tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PythonEnvView {
    /// `env_...`: the `env_id` the python tools take.
    pub id: String,
    pub name: String,
    /// The principal that created it (`user:alice`, `client:cursor`).
    pub owner: String,
    pub python_version: String,
    /// Whether its code may reach the network.
    pub allow_egress: bool,
    /// `active` or `destroyed`.
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    /// Its REPL sessions and processes the caller may see, oldest first.
    pub sessions: Vec<PythonSessionView>,
}

/// A REPL session or process of an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PythonSessionView {
    /// `session_id` (a REPL) or `process_id` (a process).
    pub id: String,
    /// `repl` or `process`.
    pub kind: String,
    pub name: String,
    pub owner: String,
    /// A process's script.
    pub script_path: Option<String>,
    /// `running` or `ended`.
    pub state: String,
    /// Why it ended, e.g. `killed`, `environment_destroyed`, `worker_restarted`.
    pub ended_reason: Option<String>,
    pub started_at: String,
    pub ended_at: Option<String>,
}

/// The answer to destroying an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DestroyedPythonEnvView {
    pub id: String,
    pub destroyed: bool,
}

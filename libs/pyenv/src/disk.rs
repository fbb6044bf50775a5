//! How much disk an environment uses on this host (its venv and its workspace), for quotas
//! above the engine's own per-workspace ones: the `python` built-in sums it over a tenant's
//! environments to hold `python.tenant_disk_bytes`.
//!
//! Measured, not counted: a running total kept by the engine's own writes would miss most of
//! what fills an environment (installs write the venv through uv, and code in runs, REPLs and
//! processes writes the workspace inside its sandbox). So each part is measured with the
//! walk the per-workspace quota already uses ([`crate::workspace::usage_of`]: allocated
//! blocks, symlinks not followed), and the result is cached per environment:
//!
//! - the venv is read-only to every sandbox, so only installs change it: measured once, and
//!   again after each install (made stale by [`Engine`]'s install path, whatever its outcome);
//! - the workspace is made stale by the engine's own changes (`write_file`, `delete_file`,
//!   `git_clone`) and otherwise kept for [`WORKSPACE_FRESH`], since sandboxed code may write
//!   meanwhile (each run bounded by `workspace_bytes` anyway).
//!
//! The walk is bounded in practice by the per-workspace quotas (`workspace_files` entries
//! through the engine's writes, `workspace_bytes` during runs); a tenant's total is at most
//! one walk per environment changed in the last few seconds, the rest from the cache.
//! Destroying an environment removes it from the engine, and so from every total, at once.

use crate::error::{EnvError, WorkspaceError};
use crate::ids::EnvId;
use crate::workspace::usage_of;
use crate::{lock, Engine};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

/// How long a measured workspace is trusted when the engine did not change it itself.
pub const WORKSPACE_FRESH: Duration = Duration::from_secs(5);

/// One environment's cached measurements (`None`: stale).
#[derive(Default)]
pub(crate) struct DiskCache {
    venv: Option<u64>,
    workspace: Option<(u64, Instant)>,
}

impl DiskCache {
    pub(crate) fn venv_changed(&mut self) {
        self.venv = None;
    }

    pub(crate) fn workspace_changed(&mut self) {
        self.workspace = None;
    }
}

impl Engine {
    /// Bytes (allocated blocks) environment `env_id` uses on this host: its venv and its
    /// workspace, from the cache described above.
    pub fn disk_usage(&self, env_id: &EnvId) -> Result<u64, EnvError> {
        let env = self.inner.env_or(env_id, EnvError::UnknownEnv)?;
        let (venv, workspace) = {
            let cache = lock(&env.disk);
            (cache.venv, cache.workspace.filter(|(_, at)| at.elapsed() < WORKSPACE_FRESH).map(|(b, _)| b))
        };
        let venv = venv.unwrap_or_else(|| {
            let bytes = usage_of(&env.venv()).bytes;
            lock(&env.disk).venv = Some(bytes);
            bytes
        });
        let workspace = workspace.unwrap_or_else(|| {
            let bytes = usage_of(&env.workspace_dir()).bytes;
            lock(&env.disk).workspace = Some((bytes, Instant::now()));
            bytes
        });
        Ok(venv.saturating_add(workspace))
    }

    /// Bytes (allocated blocks) the workspace file `filename` holds now; 0 when there is none
    /// (what replacing it gives back).
    pub fn file_allocated_bytes(&self, env_id: &EnvId, filename: &str) -> Result<u64, WorkspaceError> {
        let env = self.inner.env_or(env_id, WorkspaceError::UnknownEnv)?;
        let ws = env.workspace()?;
        match ws.metadata("filename", filename) {
            Ok(meta) if meta.is_file() => Ok(meta.blocks() * 512),
            Ok(_) | Err(WorkspaceError::NotFound { .. }) => Ok(0),
            Err(e) => Err(e),
        }
    }
}

//! The Python sandbox engine behind Canopy's `python` server (Jumpboot's tools): environments
//! made with uv from the host's interpreters, packages from the configured index, code,
//! scripts, REPL sessions and long-lived processes run in canopy-sandbox, and workspaces whose
//! paths are checked where files are opened. No MCP, no HTTP, no database: the server wraps
//! an [`Engine`], turns its results into Jumpboot's envelope and its errors (one enum per
//! area, each naming the argument at fault) into `{"success": false, "error": ...}`.
//!
//! # On disk (all under [`PyEnvConfig::root`], owned by the engine)
//!
//! ```text
//! <root>/                 0755 root   every ancestor searchable by uid 65534
//!   cache/uv/             0700 root   the shared uv cache (host only; never bound into a sandbox)
//!   home/                 0700 root   uv's HOME (empty; uv reads no user config: UV_NO_CONFIG)
//!   lib/                  0755 root   the REPL driver and the code runner, bound read-only at /opt/canopy
//!   envs/<env_id>/        0755 root
//!     env.json                        id, name, interpreter, egress: enough to re-create it
//!     venv/               root        the uv venv (--relocatable), bound read-only at /venv
//!     workspace/          uid 65534   bound read-write at /workspace
//!   runs/<run_id>/        0755 root   one run_code's code and input, bound read-only at /run/canopy; removed after
//!   repl/<session_id>/    0700 65534  the session's FIFOs, bound at /run/repl
//! ```
//!
//! Installs run on the host (uv must reach the index) with a clean environment, a timeout and
//! wheels only by default (no package code runs at install time); everything else runs in a
//! sandbox that sees `/usr`, its venv and interpreter read-only, its workspace read-write, a
//! private `/tmp`, and no network unless the environment was created with egress and the
//! configuration allows it.
//!
//! # State
//!
//! Environments, sessions and processes are in memory, plus the directories above. An
//! environment can be rebuilt elsewhere from [`Engine::freeze`] and its workspace files
//! ([`Engine::restore`] with [`CreateOptions::id`] keeps its id). Sessions and processes that
//! end, for whatever reason, stay listed with that reason until destroyed: never silently gone.
//! The engine itself keeps nothing across a restart: the `python` built-in (session-worker)
//! records environments as events and re-creates a missing one with [`Engine::restore`].

mod config;
mod disk;
mod envs;
mod error;
mod git;
mod ids;
mod interpreters;
mod packages;
mod process;
mod repl;
mod run;
mod supervise;
mod uv;
mod workspace;

pub use canopy_sandbox::{OutputChunk, Stream};
pub use config::PyEnvConfig;
pub use disk::WORKSPACE_FRESH;
pub use envs::{CreateOptions, EnvInfo};
pub use error::{EngineError, EnvError, PackageError, ProcessError, ReplError, RunError, WorkspaceError};
pub use git::CloneInfo;
pub use ids::{EnvId, ProcessId, SessionId};
pub use interpreters::Interpreter;
pub use packages::{Frozen, Package, FROZEN_FORMAT};
pub use process::{ProcessInfo, ProcessOutput, SpawnRequest};
pub use repl::{ReplExecution, ReplInfo};
pub use run::{EndReason, RunOutput};
pub use workspace::{FileInfo, RegularFile, Usage};

use canopy_sandbox::Sandbox;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The engine. Cheap to clone (one shared state); all methods take `&self`.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    config: PyEnvConfig,
    sandbox: Sandbox,
    uv: uv::Uv,
    interpreters: Vec<Interpreter>,
    envs: Mutex<HashMap<EnvId, Arc<envs::Env>>>,
    repls: Mutex<HashMap<SessionId, Arc<repl::Session>>>,
    procs: Mutex<HashMap<ProcessId, Arc<process::Managed>>>,
    /// `run_code` runners started ahead and waiting, over all environments ([`run`]).
    prepared: Arc<std::sync::atomic::AtomicUsize>,
}

/// The REPL driver, shipped in the crate and written to `<root>/lib` at start.
const REPL_DRIVER: &str = include_str!("repl_driver.py");
/// Runs `run_code`'s code with `input_json` defined and the workspace on `sys.path`.
const CODE_RUNNER: &str = include_str!("code_runner.py");

impl Engine {
    /// Makes the engine's directories, finds uv and the host's interpreters, proves the host
    /// can run sandboxes, and starts the idle-REPL reaper.
    pub async fn new(config: PyEnvConfig) -> Result<Engine, EngineError> {
        let bin = uv::Uv::locate(config.uv.as_deref()).ok_or(EngineError::UvMissing)?;
        let root = &config.root;
        for (dir, mode) in [
            (root.clone(), 0o755),
            (root.join("cache"), 0o700),
            (config.cache_dir(), 0o700),
            (root.join("home"), 0o700),
            (root.join("lib"), 0o755),
            (root.join("envs"), 0o755),
            (root.join("runs"), 0o755),
            (root.join("repl"), 0o755),
        ] {
            make_dir(&dir, mode)?;
        }
        if !interpreters::reachable_by_sandbox(root) {
            return Err(EngineError::RootUnreachable(root.clone()));
        }
        for (name, text) in [("repl_driver.py", REPL_DRIVER), ("code_runner.py", CODE_RUNNER)] {
            let path = root.join("lib").join(name);
            std::fs::write(&path, text)
                .map_err(|source| EngineError::Io { what: format!("cannot write {}", path.display()), source })?;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644));
        }
        let interpreters = interpreters::discover(&config.python_dirs).await;
        if interpreters.is_empty() {
            let dirs: Vec<String> = config.python_dirs.iter().map(|d| d.display().to_string()).collect();
            return Err(EngineError::NoInterpreter(dirs.join(", ")));
        }
        let sandbox = Sandbox::probe().await.map_err(EngineError::Sandbox)?;
        let uv = uv::Uv { bin, cache: config.cache_dir(), home: root.join("home"), extra_env: uv_env(&config) };
        let inner = Arc::new(Inner {
            config,
            sandbox,
            uv,
            interpreters,
            envs: Mutex::default(),
            repls: Mutex::default(),
            procs: Mutex::default(),
            prepared: Arc::default(),
        });
        repl::start_reaper(Arc::downgrade(&inner));
        Ok(Engine { inner })
    }

    pub fn config(&self) -> &PyEnvConfig {
        &self.inner.config
    }

    /// The interpreters environments can be made from, oldest first.
    pub fn interpreters(&self) -> &[Interpreter] {
        &self.inner.interpreters
    }

    /// What the sandbox enforces on this host (for logs and health).
    pub fn sandbox_support(&self) -> canopy_sandbox::Support {
        self.inner.sandbox.support()
    }
}

impl Inner {
    fn env(&self, id: &EnvId) -> Option<Arc<envs::Env>> {
        lock(&self.envs).get(id).cloned()
    }
}

/// What uv gets besides the engine's own variables: the configured ones and the CA bundle.
fn uv_env(config: &PyEnvConfig) -> Vec<(String, String)> {
    let mut env = config.install_env.clone();
    if let Some(ca) = config.ca_file.as_ref().filter(|f| f.is_file()) {
        env.push(("SSL_CERT_FILE".to_owned(), ca.display().to_string()));
    }
    env
}

/// A poisoned lock only means a panic elsewhere; the maps stay consistent (single inserts
/// and removals), so carry on with them.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn make_dir(dir: &Path, mode: u32) -> Result<(), EngineError> {
    std::fs::create_dir_all(dir)
        .map_err(|source| EngineError::Io { what: format!("cannot make {}", dir.display()), source })?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .map_err(|source| EngineError::Io { what: format!("cannot set the mode of {}", dir.display()), source })
}

/// Seconds since the epoch, for listings.
fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

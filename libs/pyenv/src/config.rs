//! The engine's configuration: where it keeps its files, which interpreters and package index
//! it uses, and every bound a run, a REPL, a process or a workspace gets. Plain data with
//! serde defaults, so the service can embed it in Canopy's layered configuration.
//!
//! The defaults are the safe ones: no egress for code, no direct URL or path requirements,
//! no source builds at install time (a wheel installs without running any of its code; an
//! sdist runs its `setup.py` on the host), no git host allowed.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct PyEnvConfig {
    /// The engine's own directory: `envs/`, `runs/`, `repl/`, `lib/`, the uv cache. Every
    /// directory above it must be searchable by the sandbox uid (65534): venvs and
    /// workspaces are bound from here.
    pub root: PathBuf,
    /// The shared uv cache; `<root>/cache/uv` when unset. Only the host (uv) reads it.
    pub cache_dir: Option<PathBuf>,
    /// The uv binary; else `$CANOPY_UV`, else `uv` on `PATH`.
    pub uv: Option<PathBuf>,
    /// Directories scanned for `python3.N` interpreters (the host's; never downloaded).
    pub python_dirs: Vec<PathBuf>,
    pub default_python: String,
    /// The package index (uv's `--default-index`).
    pub index_url: String,
    /// Allow requirements that are URLs or paths (`pkg @ https://...`, `./dir`).
    pub allow_direct_references: bool,
    /// Allow installing from source distributions (runs the package's build on the host).
    pub allow_source_builds: bool,
    /// Environment variables uv gets besides the engine's own (e.g. `HTTPS_PROXY`); nothing
    /// of Canopy's environment is passed otherwise.
    pub install_env: Vec<(String, String)>,
    /// CA bundle uv trusts for the index (`SSL_CERT_FILE`), when the file exists: the
    /// host's store, so an index behind the operator's TLS proxy or private CA works.
    pub ca_file: Option<PathBuf>,
    pub install_timeout_seconds: u64,
    /// Whether an environment may be created with egress (network while its code runs).
    pub allow_egress: bool,
    pub run_timeout_default_seconds: u64,
    pub run_timeout_max_seconds: u64,
    pub memory_bytes: u64,
    pub processes: u64,
    pub output_bytes: u64,
    pub tmp_bytes: u64,
    pub workspace_bytes: u64,
    pub workspace_files: u64,
    /// Largest file `read_file` returns.
    pub read_max_bytes: u64,
    pub repl_idle_seconds: u64,
    /// Lifetime of a REPL or spawned process, however busy.
    pub long_lived_max_seconds: u64,
    /// After the interrupt of a REPL execution past its time, how long before the kill.
    pub repl_interrupt_grace_ms: u64,
    /// Captured stdout/stderr of one REPL execution (each), cut past it.
    pub repl_output_bytes: u64,
    pub process_tail_lines: usize,
    /// Hosts `git_clone` may reach (exact names, lowercase). Empty: cloning is refused.
    pub git_hosts: Vec<String>,
    pub git_timeout_seconds: u64,
}

impl Default for PyEnvConfig {
    fn default() -> Self {
        PyEnvConfig {
            root: PathBuf::from("/var/lib/canopy/pyenv"),
            cache_dir: None,
            uv: None,
            python_dirs: vec![PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")],
            default_python: "3.11".to_owned(),
            index_url: "https://pypi.org/simple".to_owned(),
            allow_direct_references: false,
            allow_source_builds: false,
            install_env: Vec::new(),
            ca_file: Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt")),
            install_timeout_seconds: 600,
            allow_egress: false,
            run_timeout_default_seconds: 30,
            run_timeout_max_seconds: 600,
            memory_bytes: 1 << 30,
            processes: 64,
            output_bytes: 4 << 20,
            tmp_bytes: 64 << 20,
            workspace_bytes: 1 << 30,
            workspace_files: 10_000,
            read_max_bytes: 16 << 20,
            repl_idle_seconds: 1800,
            long_lived_max_seconds: 24 * 3600,
            repl_interrupt_grace_ms: 1000,
            repl_output_bytes: 1 << 20,
            process_tail_lines: 1000,
            git_hosts: Vec::new(),
            git_timeout_seconds: 300,
        }
    }
}

impl PyEnvConfig {
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(|| self.root.join("cache").join("uv"))
    }
}

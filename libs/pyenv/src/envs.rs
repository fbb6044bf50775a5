//! Environments: create (a uv venv from a host interpreter), list, destroy (its REPLs and
//! processes first, then its directories), freeze and restore, packages in and out, and the
//! sandbox spec every run of an environment starts from.

use crate::error::{EnvError, PackageError, WorkspaceError};
use crate::ids::EnvId;
use crate::interpreters::{self, Interpreter};
use crate::packages::{self, Frozen, Package, FROZEN_FORMAT};
use crate::uv::UvFailure;
use crate::workspace::Workspace;
use crate::{lock, now_secs, Engine, Inner};
use canopy_sandbox::{Bind, Limits, OutputPolicy, SandboxSpec};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Inside every sandbox of an environment.
pub(crate) const VENV_INSIDE: &str = "/venv";
pub(crate) const WORKSPACE_INSIDE: &str = "/workspace";
pub(crate) const LIB_INSIDE: &str = "/opt/canopy";

/// Options of `create` and `restore` beyond Jumpboot's arguments.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// Keep a given id (re-creating an environment on another worker); a fresh one if `None`.
    pub id: Option<EnvId>,
    /// Network while the environment's code runs; refused unless the configuration allows it.
    pub allow_egress: bool,
}

/// What `create_environment` returns and `list_environments` lists (Jumpboot's fields and a few).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EnvInfo {
    pub id: EnvId,
    pub name: String,
    pub python_version: String,
    /// The venv on the host (read-only to sandboxes, at `/venv` inside).
    pub env_path: PathBuf,
    /// The workspace on the host (`/workspace` inside).
    pub workspace_dir: PathBuf,
    pub allow_egress: bool,
    pub created_at: u64,
}

pub(crate) struct Env {
    pub info: EnvInfo,
    pub python: Interpreter,
    pub dir: PathBuf,
    /// One install at a time per environment.
    pub install: tokio::sync::Mutex<()>,
    /// Its measured disk use ([`crate::disk`]).
    pub disk: std::sync::Mutex<crate::disk::DiskCache>,
    /// The `run_code` runner started ahead for its next run ([`crate::run`]).
    pub prepared: std::sync::Mutex<Option<crate::run::Prepared>>,
    /// Counts changes of the venv: a runner started before one is not used after it.
    pub venv_generation: std::sync::atomic::AtomicU64,
}

impl Env {
    /// The venv changed (packages installed): measure it again, and start the next run fresh
    /// (a runner started before the change began its interpreter on the old venv).
    pub fn venv_changed(&self) {
        lock(&self.disk).venv_changed();
        self.venv_generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        lock(&self.prepared).take();
    }

    pub fn venv(&self) -> PathBuf {
        self.dir.join("venv")
    }

    pub fn workspace_dir(&self) -> PathBuf {
        self.dir.join("workspace")
    }

    pub fn workspace(&self) -> Result<Workspace, WorkspaceError> {
        Workspace::open(&self.workspace_dir())
    }

    pub fn python_bin(&self) -> PathBuf {
        self.venv().join("bin").join("python")
    }
}

fn check_name(name: &str) -> Result<(), EnvError> {
    let bad = |why| Err(EnvError::InvalidName { name: name.to_owned(), why });
    if name.trim().is_empty() {
        return bad("empty");
    }
    if name.chars().count() > 128 {
        return bad("longer than 128 characters");
    }
    if name.chars().any(char::is_control) {
        return bad("contains control characters");
    }
    Ok(())
}

impl Inner {
    /// The sandbox an environment's code runs in: `/usr`, its venv and interpreter
    /// read-only, its workspace read-write, the engine's `lib` read-only, no network unless
    /// allowed twice, and the configured bounds.
    pub(crate) fn spec_for(&self, env: &Env, command: Vec<String>, wall: Duration) -> SandboxSpec {
        let c = &self.config;
        let mut spec = SandboxSpec::new(command);
        spec.env.insert("PATH".into(), format!("{VENV_INSIDE}/bin:/usr/local/bin:/usr/bin:/bin"));
        spec.env.insert("HOME".into(), "/tmp".into());
        spec.env.insert("VIRTUAL_ENV".into(), VENV_INSIDE.into());
        spec.env.insert("PYTHONUNBUFFERED".into(), "1".into());
        spec.env.insert("MPLBACKEND".into(), "Agg".into());
        spec.workspace = Some(Bind::writable(env.workspace_dir(), WORKSPACE_INSIDE));
        spec.binds.push(Bind::read_only(env.venv(), VENV_INSIDE));
        spec.binds.push(Bind::read_only(c.root.join("lib"), LIB_INSIDE));
        if !env.python.prefix.starts_with("/usr") {
            spec.binds.push(Bind::read_only(env.python.prefix.clone(), env.python.prefix.clone()));
        }
        spec.network = env.info.allow_egress && c.allow_egress;
        spec.tmp_size_bytes = c.tmp_bytes;
        spec.limits = Limits {
            wall,
            memory_bytes: Some(c.memory_bytes),
            processes: Some(c.processes),
            open_files: Some(1024),
            cpu_seconds: None,
            file_size_bytes: Some(c.workspace_bytes.min(c.memory_bytes.max(64 << 20))),
            workspace_bytes: Some(c.workspace_bytes),
            output_bytes: c.output_bytes,
            output_policy: OutputPolicy::Kill,
            kill_grace: Duration::from_millis(250),
        };
        spec
    }

    pub(crate) fn env_or<E>(&self, id: &EnvId, err: impl FnOnce(EnvId) -> E) -> Result<Arc<Env>, E> {
        self.env(id).ok_or_else(|| err(id.clone()))
    }
}

impl Engine {
    /// `create_environment`: a venv from the host interpreter matching `python_version`
    /// (default from the configuration, `3.11`), with an empty workspace.
    pub async fn create(
        &self,
        name: &str,
        python_version: Option<&str>,
        opts: CreateOptions,
    ) -> Result<EnvInfo, EnvError> {
        let inner = &self.inner;
        check_name(name)?;
        if opts.allow_egress && !inner.config.allow_egress {
            return Err(EnvError::EgressNotAllowed);
        }
        let requested = python_version.filter(|v| !v.is_empty()).unwrap_or(&inner.config.default_python);
        let python = interpreters::choose(&inner.interpreters, requested)?.clone();
        let id = opts.id.clone().unwrap_or_else(EnvId::random);
        if inner.env(&id).is_some() {
            return Err(EnvError::Exists(id));
        }
        let dir = inner.config.root.join("envs").join(id.as_str());
        let io = |what: &str| {
            let what = format!("{what} {}", dir.display());
            move |source| EnvError::Io { what, source }
        };
        if dir.exists() {
            // Left by an engine that stopped (or a destroy that failed): this id is being made anew.
            std::fs::remove_dir_all(&dir).map_err(io("cannot clear"))?;
        }
        std::fs::create_dir_all(dir.join("workspace")).map_err(io("cannot make"))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).map_err(io("cannot chmod"))?;
        canopy_sandbox::hand_over(&dir.join("workspace"), canopy_sandbox::NOBODY, canopy_sandbox::NOBODY).map_err(
            |e| EnvError::Io {
                what: format!("cannot give the workspace to the sandbox uid: {e}"),
                source: std::io::Error::other("chown"),
            },
        )?;
        let venv = dir.join("venv");
        let args = vec![
            "venv".to_owned(),
            "--relocatable".to_owned(),
            "--no-project".to_owned(),
            "--quiet".to_owned(),
            "--python".to_owned(),
            python.path.display().to_string(),
            venv.display().to_string(),
        ];
        let made = inner.uv.run(&args, &dir, Duration::from_secs(120)).await;
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(EnvError::Uv(match e {
                UvFailure::Timeout => "uv venv timed out".to_owned(),
                UvFailure::Failed(s) => s,
            }));
        }
        let info = EnvInfo {
            id: id.clone(),
            name: name.to_owned(),
            python_version: python.version.clone(),
            env_path: venv,
            workspace_dir: dir.join("workspace"),
            allow_egress: opts.allow_egress,
            created_at: now_secs(),
        };
        let record = serde_json::json!({ "info": &info, "python": &python });
        let _ = std::fs::write(dir.join("env.json"), record.to_string());
        let env = Arc::new(Env {
            info: info.clone(),
            python,
            dir,
            install: tokio::sync::Mutex::new(()),
            disk: Default::default(),
            prepared: Default::default(),
            venv_generation: Default::default(),
        });
        lock(&inner.envs).insert(id, env);
        Ok(info)
    }

    /// `list_environments`, by creation time.
    pub fn list(&self) -> Vec<EnvInfo> {
        let mut all: Vec<EnvInfo> = lock(&self.inner.envs).values().map(|e| e.info.clone()).collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        all
    }

    pub fn get(&self, env_id: &EnvId) -> Result<EnvInfo, EnvError> {
        Ok(self.inner.env_or(env_id, EnvError::UnknownEnv)?.info.clone())
    }

    /// `destroy_environment`: ends its REPLs and processes (and forgets them), then removes
    /// its venv and workspace.
    pub async fn destroy(&self, env_id: &EnvId) -> Result<(), EnvError> {
        let env = lock(&self.inner.envs).remove(env_id).ok_or_else(|| EnvError::UnknownEnv(env_id.clone()))?;
        lock(&env.prepared).take();
        self.end_repls_of(env_id).await;
        self.end_processes_of(env_id).await;
        let _guard = env.install.lock().await;
        let dir = env.dir.clone();
        tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&dir))
            .await
            .map_err(|e| EnvError::Io { what: "removing the environment".into(), source: std::io::Error::other(e) })?
            .map_err(|source| EnvError::Io { what: format!("cannot remove {}", env.dir.display()), source })
    }

    /// `install_packages` from the configured index. `use_conda` is refused: Canopy has no
    /// conda backend.
    pub async fn install_packages(
        &self,
        env_id: &EnvId,
        packages: &[String],
        use_conda: bool,
    ) -> Result<Vec<Package>, PackageError> {
        let env = self.inner.env_or(env_id, PackageError::UnknownEnv)?;
        if use_conda {
            return Err(PackageError::CondaUnavailable);
        }
        packages::check_all(packages, self.inner.config.allow_direct_references)?;
        self.uv_install(&env, packages, false, false).await?;
        self.list_packages(env_id).await
    }

    /// `install_requirements`: the file is read from the workspace (checked like any path)
    /// and every line checked like a package argument.
    pub async fn install_requirements(
        &self,
        env_id: &EnvId,
        requirements_path: &str,
        upgrade: bool,
    ) -> Result<Vec<Package>, PackageError> {
        let env = self.inner.env_or(env_id, PackageError::UnknownEnv)?;
        let ws = env.workspace().map_err(PackageError::Requirements)?;
        let bytes = ws.read("requirements_path", requirements_path, 1 << 20).map_err(PackageError::Requirements)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            PackageError::Requirements(WorkspaceError::NotText {
                arg: "requirements_path",
                path: requirements_path.to_owned(),
            })
        })?;
        let reqs = packages::parse_requirements(requirements_path, &text, self.inner.config.allow_direct_references)?;
        self.uv_install(&env, &reqs, upgrade, false).await?;
        self.list_packages(env_id).await
    }

    async fn uv_install(&self, env: &Env, reqs: &[String], upgrade: bool, exact: bool) -> Result<(), PackageError> {
        let c = &self.inner.config;
        let _guard = env.install.lock().await;
        let mut args = vec![
            "pip".to_owned(),
            "install".to_owned(),
            "--quiet".to_owned(),
            "--python".to_owned(),
            env.python_bin().display().to_string(),
            "--default-index".to_owned(),
            c.index_url.clone(),
        ];
        if !c.allow_source_builds {
            args.extend(["--only-binary".to_owned(), ":all:".to_owned()]);
        }
        if upgrade {
            args.push("--upgrade".to_owned());
        }
        if exact {
            args.push("--no-deps".to_owned());
        }
        args.push("--".to_owned());
        args.extend(reqs.iter().cloned());
        let timeout = Duration::from_secs(c.install_timeout_seconds);
        let ran = self.inner.uv.run(&args, &env.dir, timeout).await;
        // Installed, partly installed or not: measure the venv again.
        env.venv_changed();
        ran.map(drop).map_err(|e| match e {
            UvFailure::Timeout => PackageError::Timeout(c.install_timeout_seconds),
            UvFailure::Failed(s) => PackageError::Failed(s),
        })
    }

    /// `list_packages`: the distributions installed in the venv, sorted by name.
    pub async fn list_packages(&self, env_id: &EnvId) -> Result<Vec<Package>, PackageError> {
        let env = self.inner.env_or(env_id, PackageError::UnknownEnv)?;
        let args = vec![
            "pip".to_owned(),
            "list".to_owned(),
            "--format".to_owned(),
            "json".to_owned(),
            "--python".to_owned(),
            env.python_bin().display().to_string(),
        ];
        let out = self.inner.uv.run(&args, &env.dir, Duration::from_secs(60)).await.map_err(|e| match e {
            UvFailure::Timeout => PackageError::Timeout(60),
            UvFailure::Failed(s) => PackageError::Failed(s),
        })?;
        let mut list: Vec<Package> =
            serde_json::from_str(out.trim()).map_err(|e| PackageError::Failed(format!("uv pip list answered {e}")))?;
        list.sort_by_key(|p| p.name.to_lowercase());
        Ok(list)
    }

    /// `freeze_environment`: the documented [`Frozen`] JSON.
    pub async fn freeze(&self, env_id: &EnvId) -> Result<Frozen, EnvError> {
        let env = self.inner.env_or(env_id, EnvError::UnknownEnv)?;
        let packages = self.list_packages(env_id).await.map_err(|e| EnvError::Uv(e.to_string()))?;
        Ok(Frozen { format: FROZEN_FORMAT.to_owned(), python_version: env.python.version.clone(), packages })
    }

    /// `restore_environment`: a new environment (or one with [`CreateOptions::id`]) equal
    /// to the frozen one: the same interpreter minor version, exactly its pins (no
    /// dependency resolution). `frozen_json` is Jumpboot's string argument.
    pub async fn restore(&self, name: &str, frozen_json: &str, opts: CreateOptions) -> Result<EnvInfo, EnvError> {
        let frozen: Frozen = serde_json::from_str(frozen_json)
            .map_err(|e| EnvError::InvalidFrozen(format!("not a frozen environment: {e}")))?;
        if frozen.format != FROZEN_FORMAT {
            return Err(EnvError::InvalidFrozen(format!("format {:?} is not {FROZEN_FORMAT:?}", frozen.format)));
        }
        let mut pins = Vec::with_capacity(frozen.packages.len());
        for p in &frozen.packages {
            let pin = format!("{}=={}", p.name, p.version);
            packages::check_requirement(&pin, false)
                .map_err(|why| EnvError::InvalidFrozen(format!("package {pin:?}: {why}")))?;
            pins.push(pin);
        }
        // The exact interpreter when the host has it, else the same minor version.
        let exact = self.inner.interpreters.iter().any(|i| i.version == frozen.python_version);
        let minor: String = frozen.python_version.split('.').take(2).collect::<Vec<_>>().join(".");
        let version = if exact { frozen.python_version.clone() } else { minor };
        let info = self.create(name, Some(&version), opts).await?;
        if !pins.is_empty() {
            let env = self.inner.env_or(&info.id, EnvError::UnknownEnv)?;
            if let Err(e) = self.uv_install(&env, &pins, false, true).await {
                let _ = self.destroy(&info.id).await;
                return Err(EnvError::Restore(Box::new(e)));
            }
        }
        Ok(info)
    }
}

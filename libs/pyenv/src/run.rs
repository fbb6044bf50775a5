//! `run_code` and `run_script`: one sandbox per run, output streamed to the caller as it is
//! printed and collected, the end reported with its reason. A run that breaks a bound
//! (time, memory, processes, disk, output) ends that sandbox only; the environment's venv is
//! read-only to it, so the environment stays as it was.
//!
//! `run_code`'s code and input are written to a per-run directory bound read-only at
//! `/run/canopy` (never into the workspace, which the agent lists), and run by a small
//! runner that puts the workspace first on `sys.path` and defines `input_json`.
//!
//! Started ahead: most of a run's time is bubblewrap and the interpreter starting (about 12 ms
//! of 20 here), so with each run the next run's sandbox is started, its runner waiting on a
//! FIFO of its run directory (`/run/canopy/go`). (Not when an environment is made: a first run
//! that follows at once would wait for it while competing with it for the CPU.)
//! The next `run_code` writes its code there and says go: the same sandbox, bounds and
//! isolation as a run started then, used once. Its time bound is kept by the engine from
//! "go" (the sandbox's own wall covers its wait, [`PREPARED_FOR`], plus the longest run). It
//! is discarded, and the run starts then, when it waited longer than that, when the venv
//! changed after it started (its interpreter would not see the new packages' `.pth` files),
//! or when [`MAX_PREPARED`] are waiting already.

use crate::envs::{Env, LIB_INSIDE, VENV_INSIDE};
use crate::error::RunError;
use crate::ids::EnvId;
use crate::{Engine, Inner};
use canopy_sandbox::{Bind, Outcome, OutputChunk, Reason, Running, SandboxSpec, Stream};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Why a run, a REPL session or a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Ended by itself (see the exit code).
    Exited,
    Timeout,
    Oom,
    OutputLimit,
    DiskLimit,
    /// Killed on request (`kill_process`, `repl_destroy`).
    Killed,
    /// A REPL idle past `repl_idle_seconds`.
    Idle,
    /// Its environment was destroyed.
    EnvDestroyed,
    /// A REPL execution did not stop within the grace after its interrupt.
    InterruptFailed,
    /// The REPL driver broke its protocol (its output was not an answer).
    ProtocolError,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Exited => "exited",
            EndReason::Timeout => "timeout",
            EndReason::Oom => "oom",
            EndReason::OutputLimit => "output_limit",
            EndReason::DiskLimit => "disk_limit",
            EndReason::Killed => "killed",
            EndReason::Idle => "idle",
            EndReason::EnvDestroyed => "env_destroyed",
            EndReason::InterruptFailed => "interrupt_failed",
            EndReason::ProtocolError => "protocol_error",
        }
    }

    pub(crate) fn from_sandbox(r: Reason) -> EndReason {
        match r {
            Reason::Exited => EndReason::Exited,
            Reason::Timeout => EndReason::Timeout,
            Reason::Oom => EndReason::Oom,
            Reason::OutputLimit => EndReason::OutputLimit,
            Reason::DiskLimit => EndReason::DiskLimit,
            Reason::Killed => EndReason::Killed,
        }
    }
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of `run_code` / `run_script`. `output` is Jumpboot's combined text.
#[derive(Clone, Debug, Serialize)]
pub struct RunOutput {
    pub success: bool,
    pub reason: EndReason,
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// stdout and stderr in the order they were printed (Jumpboot's `output`).
    pub output: String,
    pub duration_ms: u64,
    pub peak_memory_bytes: Option<u64>,
    pub processes_refused: u64,
    pub output_truncated: bool,
}

impl RunOutput {
    pub(crate) fn from_parts(outcome: &Outcome, stdout: Vec<u8>, stderr: Vec<u8>, output: Vec<u8>) -> RunOutput {
        RunOutput {
            success: outcome.success(),
            reason: EndReason::from_sandbox(outcome.reason),
            exit_code: outcome.exit_code,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            output: String::from_utf8_lossy(&output).into_owned(),
            duration_ms: outcome.wall.as_millis() as u64,
            peak_memory_bytes: outcome.peak_memory_bytes,
            processes_refused: outcome.processes_refused,
            output_truncated: outcome.output_truncated || outcome.reason == Reason::OutputLimit,
        }
    }
}

impl Inner {
    pub(crate) fn wall(&self, timeout_seconds: Option<u64>) -> Result<Duration, (u64, u64)> {
        let max = self.config.run_timeout_max_seconds;
        let t = timeout_seconds.unwrap_or(self.config.run_timeout_default_seconds);
        if t == 0 || t > max {
            return Err((t, max));
        }
        Ok(Duration::from_secs(t))
    }

    /// Spawns `spec`, forwards each chunk to `stream`, collects everything, waits.
    pub(crate) async fn run_collect(
        &self,
        spec: &SandboxSpec,
        stream: Option<UnboundedSender<OutputChunk>>,
    ) -> Result<RunOutput, RunError> {
        let running = self.sandbox.spawn(spec).map_err(RunError::Sandbox)?;
        Ok(collect(running, stream, None).await)
    }
}

/// Forwards each chunk of `running`'s output to `stream`, collects everything, waits. With
/// `wall`, the run is ended at that time from now as a timeout (a runner started ahead, whose
/// sandbox's own wall began earlier).
async fn collect(
    mut running: Running,
    stream: Option<UnboundedSender<OutputChunk>>,
    wall: Option<Duration>,
) -> RunOutput {
    let started = std::time::Instant::now();
    let deadline = tokio::time::sleep(wall.unwrap_or(Duration::MAX / 4));
    tokio::pin!(deadline);
    let mut timed_out = false;
    let mut rx = running.output();
    let (mut out, mut err, mut all) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(rx) = rx.as_mut() {
        loop {
            let chunk = tokio::select! {
                chunk = rx.recv() => chunk,
                () = &mut deadline, if wall.is_some() && !timed_out => {
                    timed_out = true;
                    running.kill();
                    continue;
                }
            };
            let Some(chunk) = chunk else { break };
            match chunk.stream {
                Stream::Stdout => out.extend_from_slice(&chunk.bytes),
                Stream::Stderr => err.extend_from_slice(&chunk.bytes),
            }
            all.extend_from_slice(&chunk.bytes);
            if let Some(tx) = &stream {
                let _ = tx.send(chunk);
            }
        }
    }
    let outcome = running.wait().await;
    let mut output = RunOutput::from_parts(&outcome, out, err, all);
    if wall.is_some() {
        output.duration_ms = started.elapsed().as_millis() as u64;
        if timed_out && outcome.reason == Reason::Killed {
            output.reason = EndReason::Timeout;
        }
    }
    output
}

/// `python -E -s -u /opt/canopy/code_runner.py`: the runner, to which the code's path (and
/// its input's) or `--wait` is added.
fn runner_command() -> Vec<String> {
    vec![
        format!("{VENV_INSIDE}/bin/python"),
        "-E".into(),
        "-s".into(),
        "-u".into(),
        format!("{LIB_INSIDE}/code_runner.py"),
    ]
}

pub(crate) fn check_args(args: &[String]) -> Result<(), &'static str> {
    if args.len() > 256 {
        return Err("at most 256 arguments");
    }
    if args.iter().any(|a| a.contains('\0') || a.len() > 8192) {
        return Err("an argument contains NUL or is longer than 8192 bytes");
    }
    Ok(())
}

/// A per-run directory under `<root>/runs`, removed when dropped.
pub(crate) struct RunDir(std::path::PathBuf);

impl RunDir {
    fn make(inner: &Inner) -> Result<RunDir, RunError> {
        let dir = RunDir(inner.config.root.join("runs").join(crate::ids::SessionId::random().as_str()));
        std::fs::create_dir(&dir.0).map_err(io("cannot make the run's directory"))?;
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755))
            .map_err(io("cannot chmod the run's directory"))?;
        Ok(dir)
    }

    /// Writes the run's code, and its input when there is one.
    fn write(&self, code: &str, input_json: Option<&serde_json::Value>) -> Result<(), RunError> {
        write_readable(&self.0.join("main.py"), code.as_bytes()).map_err(io("cannot write the code"))?;
        if let Some(input) = input_json {
            write_readable(&self.0.join("input.json"), input.to_string().as_bytes())
                .map_err(io("cannot write input_json"))?;
        }
        Ok(())
    }
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> RunError {
    move |source| RunError::Io { what: what.to_owned(), source }
}

/// How long a runner started ahead waits for its run before it is discarded.
pub const PREPARED_FOR: Duration = Duration::from_secs(60);
/// At most this many runners wait at once on an engine (each is an interpreter in memory).
pub const MAX_PREPARED: usize = 32;
/// How long a run waits for its runner to be ready to be told go (it may still be starting).
const READY_WITHIN: Duration = Duration::from_secs(5);

/// A `run_code` sandbox started ahead, its runner waiting for go.
pub(crate) struct Prepared {
    running: Running,
    dir: RunDir,
    at: std::time::Instant,
    /// The venv's generation when it started.
    generation: u64,
    /// Counts it among the engine's waiting runners until dropped.
    _slot: PreparedSlot,
}

pub(crate) struct PreparedSlot(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for PreparedSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Says go on the FIFO of a runner started ahead, once it waits on it.
async fn say_go(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let fifo = dir.join("go");
    let until = std::time::Instant::now() + READY_WITHIN;
    loop {
        match std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&fifo) {
            Ok(mut writer) => return std::io::Write::write_all(&mut writer, b"g"),
            // No reader yet: the runner is still starting.
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) && std::time::Instant::now() < until => {
                tokio::time::sleep(Duration::from_micros(500)).await
            }
            Err(e) => return Err(e),
        }
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Engine {
    /// `run_code`: runs `code` in the environment's sandbox. `input_json` (Jumpboot's
    /// optional JSON input, already parsed) is the global `input_json` in the code and the
    /// file named by `$CANOPY_INPUT_JSON`. Chunks go to `stream` as printed.
    pub async fn run_code(
        &self,
        env_id: &EnvId,
        code: &str,
        input_json: Option<&serde_json::Value>,
        timeout_seconds: Option<u64>,
        stream: Option<UnboundedSender<OutputChunk>>,
    ) -> Result<RunOutput, RunError> {
        let inner = &self.inner;
        let env = inner.env_or(env_id, RunError::UnknownEnv)?;
        if code.trim().is_empty() {
            return Err(RunError::EmptyCode);
        }
        let wall = inner.wall(timeout_seconds).map_err(|(given, max)| RunError::InvalidTimeout { given, max })?;
        let ready = self.take_prepared(&env);
        // The next run's runner: beside this run when it takes one started ahead (a call that
        // follows at once finds it nearly ready), after it when this run starts its own (two
        // sandboxes starting at once would slow this one on few cores).
        let ahead = ready.is_some();
        if ahead {
            self.prepare(env_id);
        }
        let output = self.run_code_in(&env, ready, code, input_json, wall, stream).await;
        if !ahead {
            self.prepare(env_id);
        }
        output
    }

    async fn run_code_in(
        &self,
        env: &Env,
        ready: Option<Prepared>,
        code: &str,
        input_json: Option<&serde_json::Value>,
        wall: Duration,
        stream: Option<UnboundedSender<OutputChunk>>,
    ) -> Result<RunOutput, RunError> {
        let inner = &self.inner;
        if let Some(prepared) = ready {
            prepared.dir.write(code, input_json)?;
            match say_go(&prepared.dir.0).await {
                Ok(()) => {
                    let Prepared { running, dir, .. } = prepared;
                    let output = collect(running, stream, Some(wall)).await;
                    drop(dir);
                    return Ok(output);
                }
                Err(e) => tracing::warn!(error = %e, "a runner started ahead did not take its run: starting one now"),
            }
        }
        let dir = RunDir::make(inner)?;
        dir.write(code, input_json)?;
        let mut command = runner_command();
        command.push("/run/canopy/main.py".into());
        if input_json.is_some() {
            command.push("/run/canopy/input.json".into());
        }
        let mut spec = inner.spec_for(env, command, wall);
        if input_json.is_some() {
            spec.env.insert("CANOPY_INPUT_JSON".into(), "/run/canopy/input.json".into());
        }
        spec.binds.push(Bind::read_only(dir.0.clone(), "/run/canopy"));
        inner.run_collect(&spec, stream).await
    }

    /// The runner started ahead for `env`'s next run, if one waits that may be used.
    fn take_prepared(&self, env: &Env) -> Option<Prepared> {
        let prepared = crate::lock(&env.prepared).take()?;
        let fresh = prepared.at.elapsed() < PREPARED_FOR
            && prepared.generation == env.venv_generation.load(std::sync::atomic::Ordering::SeqCst);
        fresh.then_some(prepared)
    }

    /// Starts the runner of `env_id`'s next run in the background (see the module doc): none
    /// when one waits already, or [`MAX_PREPARED`] do on this engine.
    pub(crate) fn prepare(&self, env_id: &EnvId) {
        let Some(env) = self.inner.env(env_id) else { return };
        if crate::lock(&env.prepared).is_some() {
            return;
        }
        let waiting = self.inner.prepared.clone();
        if waiting.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= MAX_PREPARED {
            waiting.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            return;
        }
        let slot = PreparedSlot(waiting);
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let generation = env.venv_generation.load(std::sync::atomic::Ordering::SeqCst);
            let started = (|| {
                let dir = RunDir::make(&inner).ok()?;
                let fifo = std::ffi::CString::new(dir.0.join("go").as_os_str().as_encoded_bytes()).ok()?;
                // SAFETY: mkfifo(2) of a NUL-terminated path in a directory this engine made.
                if unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) } != 0 {
                    return None;
                }
                let mut command = runner_command();
                command.push("--wait".into());
                let wall = PREPARED_FOR + Duration::from_secs(inner.config.run_timeout_max_seconds);
                let mut spec = inner.spec_for(&env, command, wall);
                spec.binds.push(Bind::read_only(dir.0.clone(), "/run/canopy"));
                let running = inner.sandbox.spawn(&spec).ok()?;
                Some(Prepared { running, dir, at: std::time::Instant::now(), generation, _slot: slot })
            })();
            let Some(prepared) = started else { return };
            let mut slot = crate::lock(&env.prepared);
            let current = env.venv_generation.load(std::sync::atomic::Ordering::SeqCst) == generation;
            // Not when the venv changed meanwhile, the environment is gone, or another run
            // started one first.
            if current && slot.is_none() && inner.env(&env.info.id).is_some() {
                let at = prepared.at;
                *slot = Some(prepared);
                drop(slot);
                // Unused by then: ended, rather than waiting out its sandbox's whole wall.
                tokio::runtime::Handle::current().spawn(async move {
                    tokio::time::sleep(PREPARED_FOR).await;
                    let mut slot = crate::lock(&env.prepared);
                    if slot.as_ref().is_some_and(|p| p.at == at) {
                        slot.take();
                    }
                });
            }
        });
    }

    /// `run_script` / `workspace_run_script`: runs a script of the workspace (the path
    /// checked where it is opened) with `args`, in the workspace.
    pub async fn run_script(
        &self,
        env_id: &EnvId,
        script_path: &str,
        args: &[String],
        timeout_seconds: Option<u64>,
        stream: Option<UnboundedSender<OutputChunk>>,
    ) -> Result<RunOutput, RunError> {
        let inner = &self.inner;
        let env = inner.env_or(env_id, RunError::UnknownEnv)?;
        let wall = inner.wall(timeout_seconds).map_err(|(given, max)| RunError::InvalidTimeout { given, max })?;
        let command = script_command(&env, script_path, args).map_err(|e| match e {
            ScriptRefusal::Path(w) => RunError::Script(w),
            ScriptRefusal::Args(a) => RunError::InvalidArgs(a),
        })?;
        let spec = inner.spec_for(&env, command, wall);
        inner.run_collect(&spec, stream).await
    }
}

pub(crate) enum ScriptRefusal {
    Path(crate::error::WorkspaceError),
    Args(&'static str),
}

/// `python -E -s -u /workspace/<script> ARGS`, after checking the script is a regular file
/// beneath the workspace (resolved where it is opened; the sandbox sees the same tree).
pub(crate) fn script_command(env: &Env, script_path: &str, args: &[String]) -> Result<Vec<String>, ScriptRefusal> {
    let ws = env.workspace().map_err(ScriptRefusal::Path)?;
    let rel = ws.check_file("script_path", script_path).map_err(ScriptRefusal::Path)?;
    check_args(args).map_err(ScriptRefusal::Args)?;
    let mut command = vec![
        format!("{VENV_INSIDE}/bin/python"),
        "-E".into(),
        "-s".into(),
        "-u".into(),
        format!("{}/{rel}", crate::envs::WORKSPACE_INSIDE),
    ];
    command.extend(args.iter().cloned());
    Ok(command)
}

fn write_readable(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
}

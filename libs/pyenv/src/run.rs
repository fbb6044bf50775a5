//! `run_code` and `run_script`: one sandbox per run, output streamed to the caller as it is
//! printed and collected, the end reported with its reason. A run that breaks a bound
//! (time, memory, processes, disk, output) ends that sandbox only; the environment's venv is
//! read-only to it, so the environment stays as it was.
//!
//! `run_code`'s code and input are written to a per-run directory bound read-only at
//! `/run/canopy` (never into the workspace, which the agent lists), and run by a small
//! runner that puts the workspace first on `sys.path` and defines `input_json`.

use crate::envs::{Env, LIB_INSIDE, VENV_INSIDE};
use crate::error::RunError;
use crate::ids::EnvId;
use crate::{Engine, Inner};
use canopy_sandbox::{Bind, Outcome, OutputChunk, Reason, SandboxSpec, Stream};
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
        let mut running = self.sandbox.spawn(spec).map_err(RunError::Sandbox)?;
        let mut rx = running.output();
        let (mut out, mut err, mut all) = (Vec::new(), Vec::new(), Vec::new());
        if let Some(rx) = rx.as_mut() {
            while let Some(chunk) = rx.recv().await {
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
        Ok(RunOutput::from_parts(&outcome, out, err, all))
    }
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
struct RunDir(std::path::PathBuf);

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
        let dir = RunDir(inner.config.root.join("runs").join(crate::ids::SessionId::random().as_str()));
        let io = |what: &'static str| move |source| RunError::Io { what: what.to_owned(), source };
        std::fs::create_dir(&dir.0).map_err(io("cannot make the run's directory"))?;
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755))
            .map_err(io("cannot chmod the run's directory"))?;
        write_readable(&dir.0.join("main.py"), code.as_bytes()).map_err(io("cannot write the code"))?;
        let mut command = vec![
            format!("{VENV_INSIDE}/bin/python"),
            "-E".into(),
            "-s".into(),
            "-u".into(),
            format!("{LIB_INSIDE}/code_runner.py"),
            "/run/canopy/main.py".into(),
        ];
        if let Some(input) = input_json {
            write_readable(&dir.0.join("input.json"), input.to_string().as_bytes())
                .map_err(io("cannot write input_json"))?;
            command.push("/run/canopy/input.json".into());
        }
        let mut spec = inner.spec_for(&env, command, wall);
        if input_json.is_some() {
            spec.env.insert("CANOPY_INPUT_JSON".into(), "/run/canopy/input.json".into());
        }
        spec.binds.push(Bind::read_only(dir.0.clone(), "/run/canopy"));
        inner.run_collect(&spec, stream).await
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

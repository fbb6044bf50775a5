//! The `local` backend: a job's command in a canopy-sandbox (bubblewrap) sandbox on the
//! poller's own machine.
//!
//! What the job sees: the placement's workspace at `/workspace` (its working directory;
//! writable, so `artifacts/` is), `inputs/` and `scripts/` bound read-only on top, the system's
//! programs read-only, its runtime's commands (`python`) on `PATH` from `/opt/canopy/bin`, a
//! private `/tmp`, and its own `env`: none of Canopy's environment, no network (not even the
//! host's loopback), the host's processes hidden, run as the unprivileged host uid `nobody`
//! (when Canopy is root). Bounded by the placement's [`JobLimits`] (wall time, memory,
//! processes, output) through the sandbox's cgroup, or rlimits where there is none.
//!
//! A local execution lives inside the poller's process: the sandbox is killed when the
//! poller dies (`PR_SET_PDEATHSIG`), so a successor's [`Backend::attach`] can only report it
//! lost (`runner_lost`). Cancel is the sandbox's kill: SIGTERM to every process of the tree,
//! SIGKILL after [`LocalConfig::kill_grace`].

use super::artifacts::{copy_regular_files, CollectedArtifacts};
use super::images::{ImageCatalog, ImageError, Runtime};
use super::log_lines::{LineCutter, LogSink};
use super::workspace::{link_scripts_at_top, prepare_layout, ARTIFACTS, INPUTS, SCRIPTS};
use super::{
    Backend, BackendError, Capacity, Execution, ExecutionControl, ExecutionId, ExecutionStatus, JobLimits, JobRef,
    LogStream, Placement, Pricing,
};
use async_trait::async_trait;
use canopy_domain::credits::Credits;
use canopy_domain::job::FailureReason;
use canopy_sandbox::{Bind, Outcome, Reason, Running, Sandbox, SandboxSpec, Stream, NOBODY};
use chrono::Utc;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};

/// Where a runtime's command links appear inside the sandbox (first on `PATH`).
pub const RUNTIME_BIN_INSIDE: &str = "/opt/canopy/bin";

/// Configuration of the local backend (defaults in [`LocalConfig::default`]).
#[derive(Clone, Debug)]
pub struct LocalConfig {
    /// Jobs run at once on this poller; default: the machine's CPUs.
    pub slots: u32,
    /// Default: 0.01 credit per minute.
    pub pricing: Pricing,
    pub images: ImageCatalog,
    /// Longest log line kept (bytes); the rest of a longer line is dropped (`truncated`).
    pub line_max_bytes: usize,
    /// A host directory for the runtimes' command links, owned by Canopy and traversable by
    /// the sandbox's uid. Default: `$TMPDIR/canopy-job-runtimes-<uid>`.
    pub runtime_dir: PathBuf,
    /// Size of the job's private `/tmp` (counts against its memory too).
    pub tmp_size_bytes: u64,
    /// Between SIGTERM and SIGKILL on cancel or timeout.
    pub kill_grace: Duration,
}

impl Default for LocalConfig {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        // SAFETY: geteuid(2) cannot fail.
        let uid = unsafe { libc::geteuid() };
        LocalConfig {
            slots: u32::try_from(cpus).unwrap_or(u32::MAX),
            pricing: Pricing { per_minute: Credits::from_micros(10_000) },
            images: ImageCatalog::default(),
            line_max_bytes: 16 * 1024,
            runtime_dir: std::env::temp_dir().join(format!("canopy-job-runtimes-{uid}")),
            tmp_size_bytes: 256 << 20,
            kill_grace: Duration::from_millis(250),
        }
    }
}

/// See the module's documentation.
#[derive(Clone)]
pub struct LocalBackend {
    inner: Arc<Inner>,
}

struct Inner {
    sandbox: Sandbox,
    config: LocalConfig,
    /// Host directory of each runtime's command links, by runtime name.
    runtime_bins: HashMap<String, PathBuf>,
    in_flight: AtomicU32,
    live: Mutex<HashMap<ExecutionId, Arc<LocalRun>>>,
    host: String,
}

impl LocalBackend {
    /// Proves the host can sandbox ([`Sandbox::probe`]) and prepares the runtimes.
    pub async fn new(config: LocalConfig) -> Result<Self, BackendError> {
        let sandbox = Sandbox::probe().await.map_err(BackendError::Sandbox)?;
        Self::with_sandbox(sandbox, config)
    }

    pub fn with_sandbox(sandbox: Sandbox, config: LocalConfig) -> Result<Self, BackendError> {
        let runtime_bins = prepare_runtimes(&config.runtime_dir, &config.images)?;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map_or_else(|_| "this host".into(), |h| h.trim().to_owned());
        let inner = Inner {
            sandbox,
            config,
            runtime_bins,
            in_flight: AtomicU32::new(0),
            live: Mutex::new(HashMap::new()),
            host,
        };
        Ok(LocalBackend { inner: Arc::new(inner) })
    }

    fn reserve_slot(&self) -> Result<SlotGuard, BackendError> {
        let slots = self.inner.config.slots;
        let taken = self.inner.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = SlotGuard(self.inner.clone());
        if taken >= slots {
            return Err(BackendError::NoCapacity { backend: "local" });
        }
        Ok(guard)
    }

    fn sandbox_spec(&self, placement: &Placement, runtime: &Runtime) -> Result<SandboxSpec, BackendError> {
        let config = &self.inner.config;
        let mut spec = SandboxSpec::new(placement.command.iter().cloned());
        spec.env.insert("PATH".into(), format!("{RUNTIME_BIN_INSIDE}:/usr/local/bin:/usr/bin:/bin"));
        spec.env.insert("HOME".into(), "/tmp".into());
        spec.env.extend(runtime.env.clone());
        spec.env.extend(placement.env.clone());
        let ws = &placement.workspace;
        spec.workspace = Some(Bind::writable(ws, "/workspace"));
        spec.binds.push(Bind::read_only(ws.join(INPUTS), "/workspace/inputs"));
        spec.binds.push(Bind::read_only(ws.join(SCRIPTS), "/workspace/scripts"));
        if let Some(bin) = self.inner.runtime_bins.get(&runtime.name) {
            spec.binds.push(Bind::read_only(bin, RUNTIME_BIN_INSIDE));
        }
        for path in &runtime.read_only_paths {
            spec.binds.push(Bind::read_only(path, path));
        }
        spec.tmp_size_bytes = config.tmp_size_bytes;
        let limits = &placement.limits;
        spec.limits.wall = limits.wall;
        spec.limits.memory_bytes = limits.memory_bytes;
        spec.limits.processes = limits.processes;
        spec.limits.output_bytes = limits.output_bytes;
        spec.limits.kill_grace = config.kill_grace;
        Ok(spec)
    }
}

/// A taken slot, given back when the execution ends (or its start fails).
struct SlotGuard(Arc<Inner>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

static NEXT_LINK: AtomicU32 = AtomicU32::new(0);

/// Makes `<runtime_dir>/<n>/bin/<command>` → program for every runtime, owned by Canopy and
/// readable by all (the sandbox's uid traverses it).
fn prepare_runtimes(dir: &Path, images: &ImageCatalog) -> Result<HashMap<String, PathBuf>, BackendError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let fail = |what: &str| {
        let what = format!("{what} {}", dir.display());
        move |e| BackendError::io(what, e)
    };
    std::fs::create_dir_all(dir).map_err(fail("create the runtime directory"))?;
    let meta = std::fs::symlink_metadata(dir).map_err(fail("inspect the runtime directory"))?;
    // SAFETY: geteuid(2) cannot fail.
    if !meta.is_dir() || meta.uid() != unsafe { libc::geteuid() } {
        let refused = std::io::Error::other("not a directory owned by Canopy's uid");
        return Err(BackendError::io(format!("use the runtime directory {}", dir.display()), refused));
    }
    let mut bins = HashMap::new();
    for (n, rule) in images.rules().iter().enumerate() {
        let runtime = &rule.runtime;
        if bins.contains_key(&runtime.name) {
            continue;
        }
        let bin = dir.join(n.to_string()).join("bin");
        std::fs::create_dir_all(&bin).map_err(fail("create a runtime's bin directory in"))?;
        for level in [dir.to_path_buf(), dir.join(n.to_string()), bin.clone()] {
            std::fs::set_permissions(&level, std::fs::Permissions::from_mode(0o755))
                .map_err(fail("open to the sandbox uid"))?;
        }
        for (command, program) in &runtime.commands {
            // Made aside and renamed over: backends starting at once never see a missing link.
            let fresh =
                bin.join(format!(".{command}.{}.{}", std::process::id(), NEXT_LINK.fetch_add(1, Ordering::Relaxed)));
            std::os::unix::fs::symlink(program, &fresh).map_err(fail("link a runtime command in"))?;
            std::fs::rename(&fresh, bin.join(command)).map_err(fail("link a runtime command in"))?;
        }
        bins.insert(runtime.name.clone(), bin);
    }
    Ok(bins)
}

#[async_trait]
impl Backend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn capacity(&self) -> Capacity {
        let total = self.inner.config.slots;
        let used = self.inner.in_flight.load(Ordering::SeqCst);
        Capacity {
            free_slots: total.saturating_sub(used),
            total_slots: total,
            source: format!("local sandbox on {}", self.inner.host),
        }
    }

    fn pricing(&self) -> Pricing {
        self.inner.config.pricing
    }

    fn check_image(&self, image: &str) -> Result<(), ImageError> {
        self.inner.config.images.resolve(image).map(|_| ())
    }

    async fn start(&self, placement: Placement) -> Result<Execution, BackendError> {
        let runtime = self.inner.config.images.resolve(&placement.image)?.clone();
        if placement.command.is_empty() {
            return Err(BackendError::InvalidPlacement("the job has no command to run".into()));
        }
        let id = ExecutionId::for_attempt(&placement.job);
        if self.inner.live.lock().map_or(false, |live| live.contains_key(&id)) {
            return Err(BackendError::InvalidPlacement(format!("execution {id} is already running here")));
        }
        let slot = self.reserve_slot()?;
        let spec = self.sandbox_spec(&placement, &runtime)?;
        let ws = placement.workspace.clone();
        let sandbox = self.inner.sandbox.clone();
        let drops_uid = sandbox.support().drops_uid;
        // Off the async workers: the workspace's layout and hand-over are file system work, and
        // the spawn waits until bwrap is exec'd (on the sandbox's spawner thread, so the job
        // does not depend on this blocking-pool thread living on).
        let (running, started_at) = tokio::task::spawn_blocking(move || -> Result<_, BackendError> {
            prepare_layout(&ws).map_err(|e| BackendError::io(format!("prepare the workspace {}", ws.display()), e))?;
            link_scripts_at_top(&ws).map_err(|e| BackendError::io("link the scripts into the workspace", e))?;
            if drops_uid {
                canopy_sandbox::hand_over(&ws, NOBODY, NOBODY).map_err(BackendError::Sandbox)?;
            }
            let started_at = Utc::now();
            let running = sandbox.spawn(&spec).map_err(BackendError::Sandbox)?;
            Ok((running, started_at))
        })
        .await
        .map_err(|e| BackendError::io("start the sandbox", std::io::Error::other(e)))??;
        let (status_tx, status_rx) = watch::channel(ExecutionStatus::Running);
        let run = Arc::new(LocalRun {
            id: id.clone(),
            status: status_rx,
            cancel: Notify::new(),
            cancel_requested: AtomicBool::new(false),
            artifacts: placement.workspace.join(ARTIFACTS),
        });
        if let Ok(mut live) = self.inner.live.lock() {
            live.insert(id.clone(), run.clone());
        }
        let (logs_tx, logs_rx) = mpsc::unbounded_channel();
        let mut sink = LogSink::new(logs_tx);
        sink.platform(format!(
            "started in a local sandbox on {}: image {} runs on {}; bounds: {}",
            self.inner.host,
            placement.image,
            runtime.name,
            describe_limits(&placement.limits)
        ));
        let follower = Follower {
            inner: self.inner.clone(),
            run: run.clone(),
            sink,
            status: status_tx,
            line_max_bytes: self.inner.config.line_max_bytes,
            limits: placement.limits.clone(),
            started_at,
            _slot: slot,
        };
        tokio::spawn(follower.follow(running));
        Ok(Execution::new(id, Some(logs_rx), Box::new(LocalHandle(run))))
    }

    async fn attach(&self, _job: &JobRef, id: &ExecutionId) -> Result<Execution, BackendError> {
        let live = self.inner.live.lock().ok().and_then(|live| live.get(id).cloned());
        if let Some(run) = live {
            // Still running in this process: a second handle, without the log lines (taken
            // by the first).
            return Ok(Execution::new(id.clone(), None, Box::new(LocalHandle(run))));
        }
        let message = format!(
            "the local execution {id} ran inside the job-poller process that started it, which is gone; \
             a local job cannot outlive it, so how it ended is unknown"
        );
        let (tx, rx) = mpsc::unbounded_channel();
        LogSink::new(tx).platform(message.clone());
        let lost = ExecutionStatus::failed(FailureReason::RunnerLost, None, message);
        Ok(Execution::new(id.clone(), Some(rx), Box::new(LostExecution(lost))))
    }
}

fn describe_limits(limits: &JobLimits) -> String {
    let mib = |b: u64| format!("{} MiB", b >> 20);
    let mut parts = vec![format!("wall {}s", limits.wall.as_secs_f64())];
    if let Some(m) = limits.memory_bytes {
        parts.push(format!("memory {}", mib(m)));
    }
    if let Some(p) = limits.processes {
        parts.push(format!("{p} processes"));
    }
    parts.push(format!("output {}", mib(limits.output_bytes)));
    parts.join(", ")
}

/// What callers and the follower share about one local execution.
struct LocalRun {
    id: ExecutionId,
    status: watch::Receiver<ExecutionStatus>,
    cancel: Notify,
    cancel_requested: AtomicBool,
    artifacts: PathBuf,
}

/// The task that owns the sandbox: forwards its output as lines, kills it on cancel, and
/// publishes how it ended once every line is out.
struct Follower {
    inner: Arc<Inner>,
    run: Arc<LocalRun>,
    sink: LogSink,
    status: watch::Sender<ExecutionStatus>,
    line_max_bytes: usize,
    limits: JobLimits,
    started_at: chrono::DateTime<Utc>,
    _slot: SlotGuard,
}

impl Follower {
    async fn follow(mut self, mut running: Running) {
        let mut output = running.output();
        let mut stdout = LineCutter::new(self.line_max_bytes);
        let mut stderr = LineCutter::new(self.line_max_bytes);
        loop {
            let chunk = tokio::select! {
                chunk = recv(&mut output) => chunk,
                _ = self.run.cancel.notified() => {
                    running.kill();
                    continue;
                }
            };
            let Some(chunk) = chunk else { break };
            let (cutter, stream) = match chunk.stream {
                Stream::Stdout => (&mut stdout, LogStream::Stdout),
                Stream::Stderr => (&mut stderr, LogStream::Stderr),
            };
            let at = self.started_at + chrono::Duration::from_std(chunk.at).unwrap_or_default();
            for (text, truncated) in cutter.push(&chunk.bytes) {
                self.sink.send(stream, at, text, truncated);
            }
            // The sandbox holds a partial line for 50 ms before it hands it on: a chunk that
            // ends without a newline is a prompt or the last words, not half a line.
            if let Some((text, truncated)) = cutter.flush() {
                self.sink.send(stream, at, text, truncated);
            }
        }
        let outcome = running.wait().await;
        let cancelled = self.run.cancel_requested.load(Ordering::SeqCst);
        let status = status_of(&outcome, cancelled, &self.limits);
        self.sink.platform(describe_end(&outcome, &status));
        if let Ok(mut live) = self.inner.live.lock() {
            live.remove(&self.run.id);
        }
        let _ = self.status.send(status);
    }
}

async fn recv<T>(rx: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => None,
    }
}

/// Canopy's terms for how a sandbox ended.
fn status_of(outcome: &Outcome, cancel_requested: bool, limits: &JobLimits) -> ExecutionStatus {
    let code = outcome.exit_code;
    match outcome.reason {
        Reason::Exited if code == Some(0) => ExecutionStatus::Completed { exit_code: 0 },
        Reason::Exited if outcome.processes_refused > 0 => ExecutionStatus::failed(
            FailureReason::ProcessLimit,
            code,
            format!(
                "the job hit its bound of {} processes and exited with code {code:?}",
                limits.processes.unwrap_or(0)
            ),
        ),
        Reason::Exited => {
            let code_text = code.map_or_else(|| "no code".to_owned(), |c| c.to_string());
            ExecutionStatus::failed(FailureReason::ExitCode, code, format!("the command exited with code {code_text}"))
        }
        Reason::Timeout => ExecutionStatus::failed(
            FailureReason::Timeout,
            None,
            format!("the job ran past its wall-time bound of {}s and was stopped", limits.wall.as_secs_f64()),
        ),
        Reason::Oom => ExecutionStatus::failed(
            FailureReason::Oom,
            code,
            format!("the job ran out of memory (bound {} MiB)", limits.memory_bytes.unwrap_or(0) >> 20),
        ),
        Reason::OutputLimit => ExecutionStatus::failed(
            FailureReason::OutputLimit,
            None,
            format!("the job printed more than its {} bytes of output and was stopped", limits.output_bytes),
        ),
        Reason::DiskLimit => {
            ExecutionStatus::failed(FailureReason::DiskLimit, None, "the job's workspace grew past its disk bound")
        }
        Reason::Killed if cancel_requested => ExecutionStatus::Cancelled,
        Reason::Killed => ExecutionStatus::failed(FailureReason::Stopped, None, "the sandbox was killed on the host"),
    }
}

fn describe_end(outcome: &Outcome, status: &ExecutionStatus) -> String {
    let how = match status {
        ExecutionStatus::Completed { .. } => "completed (exit code 0)".to_owned(),
        ExecutionStatus::Failed(f) => format!("failed ({}): {}", f.reason.as_str(), f.message),
        ExecutionStatus::Cancelled => "cancelled: the whole process tree was ended".to_owned(),
        ExecutionStatus::Starting | ExecutionStatus::Running => "ended".to_owned(),
    };
    let memory = outcome.peak_memory_bytes.map(|b| format!(", peak memory {} MiB", b >> 20)).unwrap_or_default();
    format!("{how}; wall {:.3}s{memory}", outcome.wall.as_secs_f64())
}

/// The control of a local execution that runs (or ran) in this process.
struct LocalHandle(Arc<LocalRun>);

#[async_trait]
impl ExecutionControl for LocalHandle {
    async fn status(&self) -> Result<ExecutionStatus, BackendError> {
        Ok(self.0.status.borrow().clone())
    }

    async fn wait(&self) -> Result<ExecutionStatus, BackendError> {
        let mut status = self.0.status.clone();
        let ended = status.wait_for(ExecutionStatus::is_terminal).await.map(|s| s.clone());
        // The sender lives in the follower until it has published the end.
        Ok(ended.unwrap_or_else(|_| self.0.status.borrow().clone()))
    }

    async fn cancel(&self) -> Result<(), BackendError> {
        if !self.0.status.borrow().is_terminal() {
            self.0.cancel_requested.store(true, Ordering::SeqCst);
            self.0.cancel.notify_one();
        }
        Ok(())
    }

    async fn collect_artifacts(&self, into: &Path) -> Result<CollectedArtifacts, BackendError> {
        if !self.0.status.borrow().is_terminal() {
            return Err(BackendError::NotEnded(self.0.id.clone()));
        }
        let (from, into) = (self.0.artifacts.clone(), into.to_path_buf());
        tokio::task::spawn_blocking(move || copy_regular_files(&from, &into))
            .await
            .map_err(|e| BackendError::io("collect the artifacts", std::io::Error::other(e)))?
            .map_err(BackendError::Artifacts)
    }
}

/// An execution that died with an earlier poller.
struct LostExecution(ExecutionStatus);

#[async_trait]
impl ExecutionControl for LostExecution {
    async fn status(&self) -> Result<ExecutionStatus, BackendError> {
        Ok(self.0.clone())
    }

    async fn wait(&self) -> Result<ExecutionStatus, BackendError> {
        Ok(self.0.clone())
    }

    async fn cancel(&self) -> Result<(), BackendError> {
        Ok(())
    }

    async fn collect_artifacts(&self, _into: &Path) -> Result<CollectedArtifacts, BackendError> {
        Ok(CollectedArtifacts::default())
    }
}

//! Execution backends: where a claimed job's command actually runs, behind one trait so the
//! poller loop (and a Kubernetes backend later) never depends on how. A backend takes a
//! [`Placement`] (plain data: the job's argv, its own env, a prepared host workspace, bounds,
//! image) and gives back an [`Execution`]: its log lines as they are printed, its status in
//! Canopy's terms, cancellation, and the files it left in `/workspace/artifacts/`.
//!
//! Nothing here touches the database or the bus: the poller records what an execution says.
//!
//! - [`local`]: a canopy-sandbox (bubblewrap) sandbox on the poller's machine. It dies with
//!   the poller, so re-attaching to one only ever finds it lost (`runner_lost`).
//! - [`ray`]: a Ray cluster through its Jobs REST API; the job outlives the poller and a
//!   successor re-attaches by the [`ExecutionId`] (Ray's `submission_id`).
//! - [`images`]: which `image` names a deployment runs, and on what.
//!
//! The workspace a job sees is the same on both: `/workspace` is its working directory,
//! `/workspace/inputs/` and `/workspace/scripts/` hold its files, `/workspace/artifacts/`
//! is where it leaves outputs, and each script is also linked at the workspace's top
//! (`/workspace/main.py`) so `python main.py` and `python scripts/main.py` both run.

pub mod artifacts;
pub mod images;
pub mod local;
mod log_lines;
pub mod ray;
mod workspace;

pub use artifacts::{ArtifactDrop, ArtifactError, BlobArtifactDrop, CollectedArtifacts, SharedDirArtifactDrop};
pub use images::{ImageCatalog, ImageError, ImageRule, Runtime};
pub use local::{LocalBackend, LocalConfig};
pub use ray::{RayBackend, RayConfig};
pub use workspace::{prepare_layout, ARTIFACTS, INPUTS, SCRIPTS};

use async_trait::async_trait;
use canopy_domain::credits::Credits;
use canopy_domain::error_code::ErrorCode;
use canopy_domain::ids::{JobId, TenantId};
use canopy_domain::job::{Attempt, Failure, FailureReason, JobStatus, Outcome};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// Where an execution lives on its backend (a Ray `submission_id`, a local run's name):
/// recorded in the job's events so a poller that takes the job over can [`Backend::attach`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExecutionId(String);

impl ExecutionId {
    pub fn new(id: impl Into<String>) -> Self {
        ExecutionId(id.into())
    }

    /// The name an attempt of a job runs under: the same on every backend and derivable from
    /// the job alone, so a retried start finds the execution an earlier start made.
    pub fn for_attempt(job: &JobRef) -> Self {
        ExecutionId(format!("canopy-{}-a{}", job.job_id, job.attempt))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which attempt of which job, in which tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRef {
    pub tenant: TenantId,
    pub job_id: JobId,
    pub attempt: Attempt,
}

/// The bounds of one execution. The poller fills them from configuration (defaults and
/// maxima) and the tenant's quotas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobLimits {
    /// Wall-clock time from start; past it the job ends `failed`, reason `timeout`.
    pub wall: Duration,
    /// Memory of the job's processes (`oom` past it where a cgroup enforces it).
    pub memory_bytes: Option<u64>,
    /// Processes and threads of the job.
    pub processes: Option<u64>,
    /// Bytes of stdout and stderr together; past it the job ends `failed`, `output_limit`.
    pub output_bytes: u64,
}

impl Default for JobLimits {
    fn default() -> Self {
        JobLimits {
            wall: Duration::from_secs(3600),
            memory_bytes: Some(2 << 30),
            processes: Some(256),
            output_bytes: 16 << 20,
        }
    }
}

/// Everything a backend needs to run one attempt of a job.
#[derive(Clone, Debug)]
pub struct Placement {
    pub job: JobRef,
    /// The job's `command` followed by its `args`.
    pub command: Vec<String>,
    /// The job's own `env`, nothing else (the backend adds only what its runtime needs, e.g.
    /// `PATH`; the job's values win).
    pub env: BTreeMap<String, String>,
    /// A host directory the poller prepared: `inputs/`, `scripts/` and an empty `artifacts/`
    /// (see [`prepare_layout`]). It becomes `/workspace`.
    pub workspace: PathBuf,
    pub limits: JobLimits,
    pub image: String,
}

impl Placement {
    /// `command` then `args`, as the job spec keeps them.
    pub fn argv(command: &[String], args: &[String]) -> Vec<String> {
        command.iter().chain(args).cloned().collect()
    }
}

/// Which stream a log line came from; [`LogStream::category`] is `get_job_logs`' category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogStream {
    Stdout,
    Stderr,
    /// Said by Canopy about the execution (started, bounds, how it ended).
    Platform,
}

impl LogStream {
    pub fn category(self) -> &'static str {
        match self {
            LogStream::Stdout => "workload_stdout",
            LogStream::Stderr => "workload_stderr",
            LogStream::Platform => "platform",
        }
    }
}

/// One line of an execution's output, without its newline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// 0, 1, 2, ... within the execution, in the order printed. A re-attached execution
    /// starts again at 0 (Ray replays the whole log), so the poller skips the numbers it kept.
    pub seq: u64,
    pub stream: LogStream,
    /// When it was printed (local: read from the pipe; Ray: stamped by the entrypoint wrapper).
    pub at: DateTime<Utc>,
    pub text: String,
    /// The line was longer than the backend's line bound; the rest of it was dropped.
    pub truncated: bool,
}

/// An execution's log lines as they come; the channel ends after the last line.
pub type LogLines = mpsc::UnboundedReceiver<LogLine>;

/// Where an execution is, in Canopy's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecutionStatus {
    /// Accepted, not running yet (Ray: `PENDING`, runtime environment being set up).
    Starting,
    Running,
    /// Exited with code 0.
    Completed {
        exit_code: i32,
    },
    /// Exited with another code (reason `exit_code`), broke a bound, was lost, or the backend
    /// failed it.
    Failed(Failure),
    /// Stopped on the backend (by [`Execution::cancel`], or by someone else: see
    /// [`ExecutionStatus::outcome`]).
    Cancelled,
}

impl ExecutionStatus {
    pub fn is_terminal(&self) -> bool {
        matches!(self, ExecutionStatus::Completed { .. } | ExecutionStatus::Failed(_) | ExecutionStatus::Cancelled)
    }

    pub fn job_status(&self) -> JobStatus {
        match self {
            ExecutionStatus::Starting => JobStatus::Starting,
            ExecutionStatus::Running => JobStatus::Running,
            ExecutionStatus::Completed { .. } => JobStatus::Completed,
            ExecutionStatus::Failed(_) => JobStatus::Failed,
            ExecutionStatus::Cancelled => JobStatus::Cancelled,
        }
    }

    /// The domain's outcome for a terminal status (`None` while it runs). A stop nobody in
    /// Canopy asked for (`cancel_requested` false) is a failure with reason `stopped`: the
    /// domain accepts `Cancelled` only after a cancel request.
    pub fn outcome(&self, cancel_requested: bool) -> Option<Outcome> {
        match self {
            ExecutionStatus::Starting | ExecutionStatus::Running => None,
            ExecutionStatus::Completed { exit_code } => Some(Outcome::Succeeded { exit_code: Some(*exit_code) }),
            ExecutionStatus::Failed(failure) => Some(Outcome::Failed(failure.clone())),
            ExecutionStatus::Cancelled if cancel_requested => Some(Outcome::Cancelled),
            ExecutionStatus::Cancelled => Some(Outcome::Failed(Failure {
                reason: FailureReason::Stopped,
                exit_code: None,
                message: "the backend stopped the job without a cancel request".into(),
            })),
        }
    }

    pub(crate) fn failed(reason: FailureReason, exit_code: Option<i32>, message: impl Into<String>) -> Self {
        ExecutionStatus::Failed(Failure { reason, exit_code, message: message.into() })
    }
}

/// Free room on a backend now, for routing and `estimate_job`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// Jobs this backend would start now without queueing.
    pub free_slots: u32,
    pub total_slots: u32,
    /// `estimate_job`'s `capacity_source`: where the room is (`local sandbox on HOST`,
    /// `ray cluster at URL`).
    pub source: String,
}

/// What a backend charges, from configuration; the router compares these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pricing {
    /// Credits per minute of wall time of one job (the actual cost is settled from the
    /// execution's wall time).
    pub per_minute: Credits,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The job's image does not run here: `INVALID_REQUEST` on the jobs surface.
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("the placement is invalid: {0}")]
    InvalidPlacement(String),
    #[error("backend {backend} has no free slot")]
    NoCapacity { backend: &'static str },
    #[error("the sandbox could not start the job")]
    Sandbox(#[source] canopy_sandbox::SandboxError),
    #[error("cannot {what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the Ray cluster did not {action}")]
    Ray {
        action: String,
        #[source]
        source: ray::RayError,
    },
    #[error("the execution's artifacts could not be collected")]
    Artifacts(#[source] ArtifactError),
    /// Artifacts are collected after the end; the execution is still going.
    #[error("execution {0} has not ended")]
    NotEnded(ExecutionId),
    #[error("execution {0} is not one of this backend's")]
    UnknownExecution(ExecutionId),
}

impl BackendError {
    /// The jobs surface's code for a refusal the caller caused; `None` for Canopy's or the
    /// backend's own faults (`INTERNAL_ERROR`, or a job failed with `backend_error`).
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            BackendError::Image(_) | BackendError::InvalidPlacement(_) => Some(ErrorCode::InvalidRequest),
            _ => None,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        BackendError::Io { what: what.into(), source }
    }
}

/// A place jobs run. Object-safe: the poller holds `Arc<dyn Backend>`s by name.
#[async_trait]
pub trait Backend: Send + Sync {
    /// `local`, `ray`: what `Estimate::backend` and the job's `provider` say.
    fn name(&self) -> &'static str;

    /// Room now. Ray's is its configured slots minus the jobs this backend follows.
    async fn capacity(&self) -> Capacity;

    fn pricing(&self) -> Pricing;

    /// Whether an execution goes on when the poller that started it dies (Ray: yes, and a
    /// successor re-attaches; local: no, the sandbox dies with its poller). A poller that lost
    /// its lease stops an execution that cannot outlive it, so it never runs twice.
    fn outlives_runner(&self) -> bool {
        false
    }

    /// Whether `image` runs here (at submit and estimate, before anything is placed).
    fn check_image(&self, image: &str) -> Result<(), ImageError>;

    /// Starts one attempt. Returns once the backend has it (local: the sandbox runs; Ray:
    /// submitted, maybe `PENDING`). Starting the same attempt twice finds the first start
    /// where the backend can (Ray) instead of running the job twice.
    async fn start(&self, placement: Placement) -> Result<Execution, BackendError>;

    /// Follows an execution a previous poller started. Ray: the job went on without it.
    /// Local: the process died with that poller, so the execution is reported lost (failed,
    /// `runner_lost`, with a message saying so).
    async fn attach(&self, job: &JobRef, id: &ExecutionId) -> Result<Execution, BackendError>;
}

/// How an execution is driven; each backend has one. [`Execution`] is the face callers use.
#[async_trait]
pub trait ExecutionControl: Send + Sync {
    async fn status(&self) -> Result<ExecutionStatus, BackendError>;
    /// Until the status is terminal; by then every log line has been sent.
    async fn wait(&self) -> Result<ExecutionStatus, BackendError>;
    async fn cancel(&self) -> Result<(), BackendError>;
    async fn collect_artifacts(&self, into: &Path) -> Result<CollectedArtifacts, BackendError>;
}

/// One execution: its id, its log lines (taken once) and its control.
pub struct Execution {
    id: ExecutionId,
    logs: Option<LogLines>,
    control: Box<dyn ExecutionControl>,
}

impl Execution {
    pub fn new(id: ExecutionId, logs: Option<LogLines>, control: Box<dyn ExecutionControl>) -> Self {
        Execution { id, logs, control }
    }

    pub fn id(&self) -> &ExecutionId {
        &self.id
    }

    /// The log lines, as printed; `None` once taken.
    pub fn take_logs(&mut self) -> Option<LogLines> {
        self.logs.take()
    }

    pub async fn status(&self) -> Result<ExecutionStatus, BackendError> {
        self.control.status().await
    }

    /// Waits for a terminal status; all log lines have been sent by then.
    pub async fn wait(&self) -> Result<ExecutionStatus, BackendError> {
        self.control.wait().await
    }

    /// Ends the execution: local, the whole process tree within a second; Ray, `stop`.
    /// Returns once asked; [`Execution::wait`] says when it is over (`Cancelled`).
    pub async fn cancel(&self) -> Result<(), BackendError> {
        self.control.cancel().await
    }

    /// Copies what the job left in `/workspace/artifacts/` into the host directory `into`
    /// (regular files only; links and special files are skipped and listed). After the end.
    pub async fn collect_artifacts(&self, into: &Path) -> Result<CollectedArtifacts, BackendError> {
        self.control.collect_artifacts(into).await
    }
}

impl fmt::Debug for Execution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Execution").field("id", &self.id).finish_non_exhaustive()
    }
}

//! The job aggregate: one stream per job id, from submit to a terminal status, with the
//! lifecycle events `get_job_events` shows.
//!
//! Statuses: `pending` → `queued` → `assigned` (a runner claimed it) → `starting` (provisioning,
//! preparing) → `running` → `completed` | `failed`; `rejected` before any runner; `cancelled`
//! at any point before the end. A runner holds the job for one *attempt* (a lease): every report
//! names its attempt, and only the current one is heard. When a runner's lease lapses another
//! claims attempt `n + 1` (a takeover); the old runner's reports are then refused, so a killed
//! poller that comes back cannot overwrite what its successor decided. Whether a lease has
//! lapsed is the poller's judgement (it has the clock and the heartbeats); the domain keeps the
//! attempts strictly increasing and says who holds the job.

use crate::aggregate::{upcast_v1_only, Aggregate, DomainEvent, UpcastError};
use crate::credits::Credits;
use crate::error_code::{ErrorCode, HasErrorCode};
use crate::ids::{ArtifactId, InputId, JobId, RunnerId};
use crate::job_input::{is_sha256_hex, InputLookup, MountedInput};
use crate::job_spec::{normalise_artifact_path, JobSpec, SpecError, ARTIFACTS_DIR};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub const CANCEL_REASON_MAX_CHARS: usize = 1024;
pub const MESSAGE_MAX_CHARS: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Queued,
    Assigned,
    Starting,
    Running,
    Completed,
    Failed,
    Rejected,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 9] = [
        JobStatus::Pending,
        JobStatus::Queued,
        JobStatus::Assigned,
        JobStatus::Starting,
        JobStatus::Running,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Rejected,
        JobStatus::Cancelled,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed | JobStatus::Rejected | JobStatus::Cancelled)
    }

    /// Held by a runner: a report must come from the current attempt.
    pub fn is_claimed(self) -> bool {
        matches!(self, JobStatus::Assigned | JobStatus::Starting | JobStatus::Running)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Queued => "queued",
            JobStatus::Assigned => "assigned",
            JobStatus::Starting => "starting",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Rejected => "rejected",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// For `list_jobs`' free-form `status` filter: `None` for a value no job ever has.
    pub fn parse(value: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a job is in its life. Before execution: `queued`, `scheduling` (claimed, being
/// placed), `provisioning`, `preparing` (inputs, workspace); then `running`; `finished` at the
/// end. Ordered: a job's phase only moves forward, except a requeue back to `queued`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobPhase {
    Queued,
    Scheduling,
    Provisioning,
    Preparing,
    Running,
    Finished,
}

impl JobPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            JobPhase::Queued => "queued",
            JobPhase::Scheduling => "scheduling",
            JobPhase::Provisioning => "provisioning",
            JobPhase::Preparing => "preparing",
            JobPhase::Running => "running",
            JobPhase::Finished => "finished",
        }
    }
}

impl fmt::Display for JobPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The phases a runner reports between its claim and the start of execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartingPhase {
    Provisioning,
    Preparing,
}

impl From<StartingPhase> for JobPhase {
    fn from(p: StartingPhase) -> JobPhase {
        match p {
            StartingPhase::Provisioning => JobPhase::Provisioning,
            StartingPhase::Preparing => JobPhase::Preparing,
        }
    }
}

/// One runner's hold on a job. Numbered from 1; a takeover is the next number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Attempt(pub u32);

impl Attempt {
    pub const FIRST: Attempt = Attempt(1);

    pub fn next(self) -> Attempt {
        Attempt(self.0.saturating_add(1))
    }
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lease {
    pub runner: RunnerId,
    pub attempt: Attempt,
}

/// The price range and route an estimate gave at submit (the same code serves `estimate_job`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estimate {
    pub cost_low: Credits,
    /// What the submit holds on the tenant's ledger.
    pub cost_high: Credits,
    /// The backend the router chose (`local`, `ray`, ...).
    pub backend: String,
    /// Where its capacity comes from, as `estimate_job` reports it.
    pub capacity_source: String,
}

/// Where an execution lives on its backend, so a runner that takes over can re-attach to it
/// (a Ray submission id) or find it gone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Execution {
    pub backend: String,
    pub execution_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The wall-clock bound passed.
    Timeout,
    Oom,
    OutputLimit,
    ProcessLimit,
    DiskLimit,
    /// The workload exited with a non-zero code.
    ExitCode,
    /// The runner that held the job is gone and the backend cannot say what became of it.
    RunnerLost,
    /// The backend refused or failed (placement, provisioning, image).
    BackendError,
    /// The backend stopped it without Canopy asking.
    Stopped,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Timeout => "timeout",
            FailureReason::Oom => "oom",
            FailureReason::OutputLimit => "output_limit",
            FailureReason::ProcessLimit => "process_limit",
            FailureReason::DiskLimit => "disk_limit",
            FailureReason::ExitCode => "exit_code",
            FailureReason::RunnerLost => "runner_lost",
            FailureReason::BackendError => "backend_error",
            FailureReason::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub reason: FailureReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    InsufficientFunds,
    NoCapacity,
    UnsupportedImage,
    InputUnavailable,
    QuotaExceeded,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InsufficientFunds => "insufficient_funds",
            RejectReason::NoCapacity => "no_capacity",
            RejectReason::UnsupportedImage => "unsupported_image",
            RejectReason::InputUnavailable => "input_unavailable",
            RejectReason::QuotaExceeded => "quota_exceeded",
        }
    }
}

/// A file the job left under `/workspace/artifacts/`, stored by Canopy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub artifact_id: ArtifactId,
    /// Absolute, under [`ARTIFACTS_DIR`].
    pub path: String,
    pub size_bytes: u64,
    pub content_type: String,
    pub sha256: String,
}

impl Artifact {
    /// The path relative to the artifacts directory (`list_artifacts`' `filename`).
    pub fn filename(&self) -> &str {
        self.path.strip_prefix(ARTIFACTS_DIR).unwrap_or(&self.path)
    }
}

/// How a runner says an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded {
        exit_code: Option<i32>,
    },
    Failed(Failure),
    /// Only after a cancel was requested: the runner tore the execution down.
    Cancelled,
}

/// A runner's report of the end of its attempt: the outcome, what it collected from
/// `/workspace/artifacts/`, and what the run actually cost (settled on the ledger).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    pub attempt: Attempt,
    pub outcome: Outcome,
    pub artifacts: Vec<Artifact>,
    pub actual_cost: Credits,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobCommand {
    /// `submit_job`, after the spec was read, the inputs looked up in the tenant, the estimate
    /// made and the ledger hold placed. `inputs` holds what the lookup found for each
    /// referenced id (absent: not in the tenant). With `enqueue`, the job is queued at once.
    Submit {
        id: JobId,
        spec: JobSpec,
        inputs: BTreeMap<InputId, InputLookup>,
        estimate: Estimate,
        enqueue: bool,
    },
    Enqueue,
    /// Refused before any runner took it (funds, capacity, image, inputs, quota).
    Reject {
        reason: RejectReason,
        message: String,
    },
    /// A runner takes the job for `lease.attempt`, which must be the next attempt number.
    Claim {
        lease: Lease,
    },
    /// The runner could not place the job and gives it back before it started anywhere.
    Requeue {
        attempt: Attempt,
        message: String,
    },
    ReportPhase {
        attempt: Attempt,
        phase: StartingPhase,
        message: String,
    },
    /// The execution runs on its backend (first start), or a takeover runner re-attached to it.
    /// `phases`: starting phases not reported on their own, recorded (in order, before the
    /// start) with it: one transaction where each phase would be one more.
    MarkRunning {
        attempt: Attempt,
        execution: Execution,
        phases: Vec<(StartingPhase, String)>,
    },
    Finish(Finish),
    /// `cancel_job`: immediate before a runner holds the job, requested of the runner after.
    Cancel {
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobEvent {
    Submitted {
        id: JobId,
        spec: JobSpec,
        inputs: Vec<MountedInput>,
        estimate: Estimate,
    },
    Queued,
    Rejected {
        reason: RejectReason,
        message: String,
    },
    /// `previous` is the lease this one replaces (a takeover), if any.
    Claimed {
        lease: Lease,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<Lease>,
    },
    Requeued {
        attempt: Attempt,
        message: String,
    },
    PhaseChanged {
        attempt: Attempt,
        phase: StartingPhase,
        message: String,
    },
    Started {
        attempt: Attempt,
        execution: Execution,
    },
    Reattached {
        attempt: Attempt,
        execution: Execution,
    },
    /// `phase`: where the job was when asked, for the lifecycle view.
    CancelRequested {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        phase: JobPhase,
    },
    ArtifactsCollected {
        attempt: Attempt,
        artifacts: Vec<Artifact>,
        /// Expected artifacts the job did not leave.
        missing: Vec<String>,
    },
    Completed {
        attempt: Attempt,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        actual_cost: Credits,
    },
    Failed {
        attempt: Attempt,
        failure: Failure,
        phase: JobPhase,
        actual_cost: Credits,
    },
    /// `attempt` is absent when no runner held the job.
    Cancelled {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt: Option<Attempt>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        phase: JobPhase,
        actual_cost: Credits,
    },
}

const JOB_EVENT_TYPES: &[&str] = &[
    "job.submitted",
    "job.queued",
    "job.rejected",
    "job.claimed",
    "job.requeued",
    "job.phase_changed",
    "job.started",
    "job.reattached",
    "job.cancel_requested",
    "job.artifacts_collected",
    "job.completed",
    "job.failed",
    "job.cancelled",
];

impl DomainEvent for JobEvent {
    fn event_type(&self) -> &'static str {
        match self {
            JobEvent::Submitted { .. } => JOB_EVENT_TYPES[0],
            JobEvent::Queued => JOB_EVENT_TYPES[1],
            JobEvent::Rejected { .. } => JOB_EVENT_TYPES[2],
            JobEvent::Claimed { .. } => JOB_EVENT_TYPES[3],
            JobEvent::Requeued { .. } => JOB_EVENT_TYPES[4],
            JobEvent::PhaseChanged { .. } => JOB_EVENT_TYPES[5],
            JobEvent::Started { .. } => JOB_EVENT_TYPES[6],
            JobEvent::Reattached { .. } => JOB_EVENT_TYPES[7],
            JobEvent::CancelRequested { .. } => JOB_EVENT_TYPES[8],
            JobEvent::ArtifactsCollected { .. } => JOB_EVENT_TYPES[9],
            JobEvent::Completed { .. } => JOB_EVENT_TYPES[10],
            JobEvent::Failed { .. } => JOB_EVENT_TYPES[11],
            JobEvent::Cancelled { .. } => JOB_EVENT_TYPES[12],
        }
    }
    fn upcast(t: &str, v: u32, p: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
        upcast_v1_only(JOB_EVENT_TYPES, t, v, p)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    InvalidSpec(#[from] SpecError),
    #[error("{field} {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("job '{0}' already exists")]
    AlreadyExists(JobId),
    #[error("the job does not exist")]
    NotFound,
    #[error("input '{0}' was not found")]
    InputNotFound(InputId),
    #[error("input '{0}' is not ready; complete its upload first")]
    InputNotReady(InputId),
    #[error("inputs '{first}' and '{second}' would both mount at {mount_path}")]
    MountCollision { mount_path: String, first: InputId, second: InputId },
    #[error("the job is already {0}")]
    Ended(JobStatus),
    #[error("cannot {action} a job that is {status}")]
    NotAllowed { action: &'static str, status: JobStatus },
    #[error("attempt {claimed} is not the next attempt; expected {expected}")]
    NotNextAttempt { claimed: Attempt, expected: Attempt },
    #[error("attempt {reported} no longer holds the job{}", holder_note(*.current))]
    StaleAttempt { reported: Attempt, current: Option<Attempt> },
    #[error("the job is in phase {current}; it cannot go back to {reported}")]
    PhaseBackwards { current: JobPhase, reported: JobPhase },
    #[error("a job cannot complete before it has run")]
    CompletedWithoutRunning,
    #[error("the job was not asked to cancel; report a failure instead")]
    CancelledWithoutRequest,
    #[error("the job's artifacts are not collected yet")]
    ArtifactNotReady,
    #[error("the job has no artifact '{0}'")]
    ArtifactNotFound(ArtifactId),
}

fn holder_note(current: Option<Attempt>) -> String {
    current.map(|c| format!(" (attempt {c} does)")).unwrap_or_default()
}

impl HasErrorCode for JobError {
    fn code(&self) -> ErrorCode {
        match self {
            JobError::InvalidSpec(e) => e.code(),
            JobError::Invalid { .. } | JobError::MountCollision { .. } => ErrorCode::InvalidRequest,
            JobError::NotFound | JobError::ArtifactNotFound(_) => ErrorCode::NotFound,
            JobError::InputNotFound(_) => ErrorCode::JobInputNotFound,
            JobError::InputNotReady(_) => ErrorCode::JobInputNotReady,
            JobError::ArtifactNotReady => ErrorCode::ArtifactNotReady,
            JobError::AlreadyExists(_)
            | JobError::Ended(_)
            | JobError::NotAllowed { .. }
            | JobError::NotNextAttempt { .. }
            | JobError::StaleAttempt { .. }
            | JobError::PhaseBackwards { .. }
            | JobError::CompletedWithoutRunning
            | JobError::CancelledWithoutRequest => ErrorCode::Conflict,
        }
    }
}

/// A job as its events leave it: what `get_job` shows, and what `decide` needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    pub id: JobId,
    pub spec: JobSpec,
    pub inputs: Vec<MountedInput>,
    pub estimate: Estimate,
    pub status: JobStatus,
    pub phase: JobPhase,
    /// The message of the latest lifecycle event (`status_message`).
    pub status_message: String,
    /// The runner holding the job now; `None` before a claim, after a requeue and at the end.
    pub lease: Option<Lease>,
    /// The highest attempt ever claimed, so the next claim is `last_attempt + 1`.
    pub last_attempt: Option<Attempt>,
    pub execution: Option<Execution>,
    /// The attempt that last said the execution runs (a takeover re-attaches under its own).
    pub running_attempt: Option<Attempt>,
    pub cancel_requested: bool,
    pub cancel_reason: Option<String>,
    pub rejection: Option<(RejectReason, String)>,
    pub failure: Option<Failure>,
    pub exit_code: Option<i32>,
    pub artifacts_collected: bool,
    pub artifacts: Vec<Artifact>,
    pub missing_artifacts: Vec<String>,
    pub actual_cost: Option<Credits>,
    /// The attempt that ended the job, so a retried `Finish` is recognised.
    pub finished_by: Option<Attempt>,
}

impl JobState {
    /// `status_reason`: a short machine-readable word for why the job is where it is.
    pub fn status_reason(&self) -> Option<&'static str> {
        match self.status {
            JobStatus::Failed => self.failure.as_ref().map(|f| f.reason.as_str()),
            JobStatus::Rejected => self.rejection.as_ref().map(|(r, _)| r.as_str()),
            JobStatus::Cancelled => Some("cancelled"),
            _ if self.cancel_requested => Some("cancel_requested"),
            _ => None,
        }
    }

    /// `artifacts_ready`: the job ended and what it left was collected. A job that ended
    /// before any runner held it left nothing, so its empty list is final too.
    pub fn artifacts_ready(&self) -> bool {
        self.status.is_terminal() && (self.artifacts_collected || self.finished_by.is_none())
    }

    /// `get_artifact`'s rule: `ARTIFACT_NOT_READY` until the artifacts are collected, then the
    /// artifact or `NOT_FOUND`.
    pub fn artifact(&self, id: &ArtifactId) -> Result<&Artifact, JobError> {
        if !self.artifacts_ready() {
            return Err(JobError::ArtifactNotReady);
        }
        self.artifacts.iter().find(|a| &a.artifact_id == id).ok_or_else(|| JobError::ArtifactNotFound(id.clone()))
    }

    /// The workspace path of the job's first script (`script_file` in `get_job`).
    pub fn script_file(&self) -> Option<&MountedInput> {
        let first = self.spec.script_files.first()?;
        self.inputs.iter().find(|i| &i.input_id == first)
    }

    /// Refuses a report from an attempt that does not hold the job.
    fn check_attempt(&self, reported: Attempt) -> Result<(), JobError> {
        match &self.lease {
            Some(lease) if lease.attempt == reported => Ok(()),
            other => Err(JobError::StaleAttempt { reported, current: other.as_ref().map(|l| l.attempt) }),
        }
    }

    fn next_attempt(&self) -> Attempt {
        self.last_attempt.map_or(Attempt::FIRST, Attempt::next)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum Job {
    #[default]
    Absent,
    Present(Box<JobState>),
}

impl Job {
    pub fn state(&self) -> Option<&JobState> {
        match self {
            Job::Present(s) => Some(s),
            Job::Absent => None,
        }
    }
}

impl Aggregate for Job {
    const TYPE: &'static str = "job";
    type Command = JobCommand;
    type Event = JobEvent;
    type Error = JobError;

    fn decide(&self, command: &JobCommand) -> Result<Vec<JobEvent>, JobError> {
        let job = match (self, command) {
            (Job::Absent, JobCommand::Submit { id, spec, inputs, estimate, enqueue }) => {
                return decide_submit(id, spec, inputs, estimate, *enqueue)
            }
            (Job::Present(job), JobCommand::Submit { .. }) => return Err(JobError::AlreadyExists(job.id.clone())),
            (Job::Absent, _) => return Err(JobError::NotFound),
            (Job::Present(job), _) => job,
        };
        if job.status.is_terminal() {
            return match command {
                // A runner retrying its report of the end it already recorded.
                JobCommand::Finish(finish)
                    if job.finished_by == Some(finish.attempt) && same_end(job, &finish.outcome) =>
                {
                    Ok(vec![])
                }
                // A repeated refusal changes nothing; a repeated cancel is the seed's CONFLICT.
                JobCommand::Reject { .. } if job.status == JobStatus::Rejected => Ok(vec![]),
                _ => Err(JobError::Ended(job.status)),
            };
        }
        match command {
            JobCommand::Submit { .. } => Err(JobError::AlreadyExists(job.id.clone())),
            JobCommand::Enqueue => match job.status {
                JobStatus::Pending => Ok(vec![JobEvent::Queued]),
                JobStatus::Queued => Ok(vec![]),
                status => Err(JobError::NotAllowed { action: "queue", status }),
            },
            JobCommand::Reject { reason, message } => match job.status {
                JobStatus::Pending | JobStatus::Queued => {
                    Ok(vec![JobEvent::Rejected { reason: *reason, message: bounded_message(message) }])
                }
                status => Err(JobError::NotAllowed { action: "reject", status }),
            },
            JobCommand::Claim { lease } => decide_claim(job, lease),
            JobCommand::Requeue { attempt, message } => {
                job.check_attempt(*attempt)?;
                // Once provisioning began the execution may exist somewhere: giving the job
                // back could run it twice. Such a job is failed instead.
                if job.status != JobStatus::Assigned {
                    return Err(JobError::NotAllowed { action: "requeue", status: job.status });
                }
                Ok(vec![JobEvent::Requeued { attempt: *attempt, message: bounded_message(message) }])
            }
            JobCommand::ReportPhase { attempt, phase, message } => {
                job.check_attempt(*attempt)?;
                Ok(vec![decide_phase(job, job.phase, *attempt, *phase, message)?])
            }
            JobCommand::MarkRunning { attempt, execution, phases } => {
                job.check_attempt(*attempt)?;
                match job.status {
                    JobStatus::Assigned | JobStatus::Starting => {
                        let mut events = Vec::with_capacity(phases.len() + 1);
                        let mut current = job.phase;
                        for (phase, message) in phases {
                            events.push(decide_phase(job, current, *attempt, *phase, message)?);
                            current = JobPhase::from(*phase);
                        }
                        events.push(JobEvent::Started { attempt: *attempt, execution: execution.clone() });
                        Ok(events)
                    }
                    JobStatus::Running if job.running_attempt == Some(*attempt) => Ok(vec![]),
                    JobStatus::Running => {
                        Ok(vec![JobEvent::Reattached { attempt: *attempt, execution: execution.clone() }])
                    }
                    status => Err(JobError::NotAllowed { action: "start", status }),
                }
            }
            JobCommand::Finish(finish) => decide_finish(job, finish),
            JobCommand::Cancel { reason } => {
                let reason = match reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
                    Some(r) if r.chars().count() > CANCEL_REASON_MAX_CHARS => {
                        return Err(JobError::Invalid {
                            field: "reason",
                            reason: format!("must be at most {CANCEL_REASON_MAX_CHARS} characters"),
                        })
                    }
                    other => other.map(str::to_string),
                };
                match job.status {
                    JobStatus::Pending | JobStatus::Queued => Ok(vec![JobEvent::Cancelled {
                        attempt: None,
                        reason,
                        phase: job.phase,
                        actual_cost: Credits::ZERO,
                    }]),
                    _ if job.cancel_requested => Ok(vec![]),
                    _ => Ok(vec![JobEvent::CancelRequested { reason, phase: job.phase }]),
                }
            }
        }
    }

    fn apply(self, event: &JobEvent) -> Job {
        let mut job = match (self, event) {
            (_, JobEvent::Submitted { id, spec, inputs, estimate }) => {
                return Job::Present(Box::new(JobState {
                    id: id.clone(),
                    spec: spec.clone(),
                    inputs: inputs.clone(),
                    estimate: estimate.clone(),
                    status: JobStatus::Pending,
                    phase: JobPhase::Queued,
                    status_message: event.lifecycle().message,
                    lease: None,
                    last_attempt: None,
                    execution: None,
                    running_attempt: None,
                    cancel_requested: false,
                    cancel_reason: None,
                    rejection: None,
                    failure: None,
                    exit_code: None,
                    artifacts_collected: false,
                    artifacts: Vec::new(),
                    missing_artifacts: Vec::new(),
                    actual_cost: None,
                    finished_by: None,
                }))
            }
            (Job::Absent, _) => return Job::Absent,
            (Job::Present(job), _) => job,
        };
        match event {
            JobEvent::Submitted { .. } => {}
            JobEvent::Queued => job.status = JobStatus::Queued,
            JobEvent::Rejected { reason, message } => {
                job.status = JobStatus::Rejected;
                job.phase = JobPhase::Finished;
                job.rejection = Some((*reason, message.clone()));
                job.actual_cost = Some(Credits::ZERO);
            }
            JobEvent::Claimed { lease, .. } => {
                if job.status == JobStatus::Queued {
                    job.status = JobStatus::Assigned;
                    job.phase = JobPhase::Scheduling;
                }
                job.lease = Some(lease.clone());
                job.last_attempt = Some(lease.attempt);
            }
            JobEvent::Requeued { .. } => {
                job.status = JobStatus::Queued;
                job.phase = JobPhase::Queued;
                job.lease = None;
            }
            JobEvent::PhaseChanged { phase, .. } => {
                job.status = JobStatus::Starting;
                job.phase = (*phase).into();
            }
            JobEvent::Started { attempt, execution } | JobEvent::Reattached { attempt, execution } => {
                job.status = JobStatus::Running;
                job.phase = JobPhase::Running;
                job.execution = Some(execution.clone());
                job.running_attempt = Some(*attempt);
            }
            JobEvent::CancelRequested { reason, .. } => {
                job.cancel_requested = true;
                job.cancel_reason = reason.clone();
            }
            JobEvent::ArtifactsCollected { artifacts, missing, .. } => {
                job.artifacts_collected = true;
                job.artifacts = artifacts.clone();
                job.missing_artifacts = missing.clone();
            }
            JobEvent::Completed { attempt, exit_code, actual_cost } => {
                job.status = JobStatus::Completed;
                end(&mut job, *attempt, *actual_cost);
                job.exit_code = *exit_code;
            }
            JobEvent::Failed { attempt, failure, actual_cost, .. } => {
                job.status = JobStatus::Failed;
                end(&mut job, *attempt, *actual_cost);
                job.exit_code = failure.exit_code;
                job.failure = Some(failure.clone());
            }
            JobEvent::Cancelled { attempt, reason, actual_cost, .. } => {
                job.status = JobStatus::Cancelled;
                job.phase = JobPhase::Finished;
                job.lease = None;
                job.actual_cost = Some(*actual_cost);
                job.finished_by = *attempt;
                if reason.is_some() {
                    job.cancel_reason = reason.clone();
                }
            }
        }
        job.status_message = event.lifecycle().message;
        Job::Present(job)
    }
}

fn end(job: &mut JobState, attempt: Attempt, actual_cost: Credits) {
    job.phase = JobPhase::Finished;
    job.lease = None;
    job.actual_cost = Some(actual_cost);
    job.finished_by = Some(attempt);
}

fn same_end(job: &JobState, outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Succeeded { .. } => job.status == JobStatus::Completed,
        Outcome::Failed(f) => job.status == JobStatus::Failed && job.failure.as_ref() == Some(f),
        Outcome::Cancelled => job.status == JobStatus::Cancelled,
    }
}

fn bounded_message(message: &str) -> String {
    message.chars().take(MESSAGE_MAX_CHARS).collect()
}

fn decide_submit(
    id: &JobId,
    spec: &JobSpec,
    found: &BTreeMap<InputId, InputLookup>,
    estimate: &Estimate,
    enqueue: bool,
) -> Result<Vec<JobEvent>, JobError> {
    if estimate.cost_low > estimate.cost_high {
        return Err(JobError::Invalid { field: "estimate", reason: "cost_low must not exceed cost_high".into() });
    }
    let mut inputs: Vec<MountedInput> = Vec::new();
    for input_id in spec.referenced_inputs() {
        let mounted = match found.get(input_id) {
            None => return Err(JobError::InputNotFound(input_id.clone())),
            Some(InputLookup::NotReady) => return Err(JobError::InputNotReady(input_id.clone())),
            Some(InputLookup::Ready(mounted)) => mounted,
        };
        if let Some(other) = inputs.iter().find(|i| i.mount_path == mounted.mount_path) {
            return Err(JobError::MountCollision {
                mount_path: mounted.mount_path.clone(),
                first: other.input_id.clone(),
                second: input_id.clone(),
            });
        }
        inputs.push(mounted.clone());
    }
    let mut events =
        vec![JobEvent::Submitted { id: id.clone(), spec: spec.clone(), inputs, estimate: estimate.clone() }];
    if enqueue {
        events.push(JobEvent::Queued);
    }
    Ok(events)
}

/// A starting phase of a job still starting, reported with the job at phase `current`:
/// never backwards (the one rule for a phase reported alone or with the start).
fn decide_phase(
    job: &JobState,
    current: JobPhase,
    attempt: Attempt,
    phase: StartingPhase,
    message: &str,
) -> Result<JobEvent, JobError> {
    if !matches!(job.status, JobStatus::Assigned | JobStatus::Starting) {
        return Err(JobError::NotAllowed { action: "report a starting phase of", status: job.status });
    }
    let reported = JobPhase::from(phase);
    if reported < current {
        return Err(JobError::PhaseBackwards { current, reported });
    }
    Ok(JobEvent::PhaseChanged { attempt, phase, message: bounded_message(message) })
}

fn decide_claim(job: &JobState, lease: &Lease) -> Result<Vec<JobEvent>, JobError> {
    // The same claim delivered twice (a retried command) is already recorded.
    if job.lease.as_ref() == Some(lease) {
        return Ok(vec![]);
    }
    let expected = job.next_attempt();
    if lease.attempt != expected {
        return Err(JobError::NotNextAttempt { claimed: lease.attempt, expected });
    }
    match job.status {
        JobStatus::Queued => Ok(vec![JobEvent::Claimed { lease: lease.clone(), previous: None }]),
        status if status.is_claimed() => {
            Ok(vec![JobEvent::Claimed { lease: lease.clone(), previous: job.lease.clone() }])
        }
        status => Err(JobError::NotAllowed { action: "claim", status }),
    }
}

fn decide_finish(job: &JobState, finish: &Finish) -> Result<Vec<JobEvent>, JobError> {
    job.check_attempt(finish.attempt)?;
    match &finish.outcome {
        Outcome::Succeeded { .. } if job.status != JobStatus::Running => return Err(JobError::CompletedWithoutRunning),
        Outcome::Cancelled if !job.cancel_requested => return Err(JobError::CancelledWithoutRequest),
        _ => {}
    }
    let artifacts = checked_artifacts(&finish.artifacts)?;
    let missing: Vec<String> = job
        .spec
        .expected_artifacts
        .iter()
        .filter(|expected| !artifacts.iter().any(|a| &a.path == *expected))
        .cloned()
        .collect();
    let attempt = finish.attempt;
    let actual_cost = finish.actual_cost;
    let mut events = vec![JobEvent::ArtifactsCollected { attempt, artifacts, missing }];
    events.push(match &finish.outcome {
        Outcome::Succeeded { exit_code } => JobEvent::Completed { attempt, exit_code: *exit_code, actual_cost },
        Outcome::Failed(failure) => JobEvent::Failed {
            attempt,
            failure: Failure { message: bounded_message(&failure.message), ..failure.clone() },
            phase: job.phase,
            actual_cost,
        },
        Outcome::Cancelled => JobEvent::Cancelled {
            attempt: Some(attempt),
            reason: job.cancel_reason.clone(),
            phase: job.phase,
            actual_cost,
        },
    });
    Ok(events)
}

/// A runner's artifacts, checked: paths inside the artifacts directory (normalised), SHA-256 in
/// hex, each id and path once.
fn checked_artifacts(reported: &[Artifact]) -> Result<Vec<Artifact>, JobError> {
    let mut artifacts: Vec<Artifact> = Vec::with_capacity(reported.len());
    for (i, artifact) in reported.iter().enumerate() {
        let path = normalise_artifact_path(&artifact.path)
            .map_err(|why| JobError::Invalid { field: "artifacts", reason: format!("[{i}] {why}") })?;
        if !is_sha256_hex(&artifact.sha256) {
            return Err(JobError::Invalid {
                field: "artifacts",
                reason: format!("[{i}] sha256 must be 64 lowercase hex characters"),
            });
        }
        if artifacts.iter().any(|a| a.artifact_id == artifact.artifact_id || a.path == path) {
            return Err(JobError::Invalid { field: "artifacts", reason: format!("[{i}] repeats an id or a path") });
        }
        artifacts.push(Artifact { path, ..artifact.clone() });
    }
    Ok(artifacts)
}

// ------------------------------------------------------------------------------------------
// The lifecycle view (`get_job_events`)

/// Who an event comes from, as `get_job_events` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    /// The caller of the API: submit, cancel.
    Api,
    /// Queueing, claims, takeovers, refusals before a runner.
    Scheduler,
    /// The runner executing the job.
    Runner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventLevel {
    Info,
    Warning,
    Error,
}

/// One entry of `get_job_events` without what the store adds (`id`, `sequence`,
/// `created_at`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleEntry {
    #[serde(rename = "type")]
    pub event_type: String,
    pub phase: JobPhase,
    pub title: String,
    pub message: String,
    pub source: EventSource,
    pub level: EventLevel,
}

impl JobEvent {
    /// The event as `get_job_events` shows it. Depends on the event alone, so a projection
    /// can render each event as it arrives.
    pub fn lifecycle(&self) -> LifecycleEntry {
        use EventLevel::*;
        use EventSource::*;
        let (phase, title, message, source, level): (JobPhase, String, String, EventSource, EventLevel) = match self {
            JobEvent::Submitted { spec, estimate, inputs, .. } => (
                JobPhase::Queued,
                "Job submitted".into(),
                format!(
                    "{} job '{}' on {} with {} input(s); route {} ({}), estimated {} to {}",
                    spec.workload_type,
                    spec.name,
                    spec.image,
                    inputs.len(),
                    estimate.backend,
                    estimate.capacity_source,
                    estimate.cost_low,
                    estimate.cost_high
                ),
                Api,
                Info,
            ),
            JobEvent::Queued => (JobPhase::Queued, "Queued".into(), "Waiting for a runner".into(), Scheduler, Info),
            JobEvent::Rejected { reason, message } => {
                (JobPhase::Queued, "Rejected".into(), format!("{}: {message}", reason.as_str()), Scheduler, Error)
            }
            JobEvent::Claimed { lease, previous: None } => (
                JobPhase::Scheduling,
                format!("Assigned to runner {}", lease.runner),
                format!("Attempt {}", lease.attempt),
                Scheduler,
                Info,
            ),
            JobEvent::Claimed { lease, previous: Some(previous) } => (
                JobPhase::Scheduling,
                format!("Taken over by runner {}", lease.runner),
                format!(
                    "Attempt {} replaces attempt {} of runner {}, whose lease lapsed",
                    lease.attempt, previous.attempt, previous.runner
                ),
                Scheduler,
                Warning,
            ),
            JobEvent::Requeued { attempt, message } => (
                JobPhase::Queued,
                "Returned to the queue".into(),
                format!("Attempt {attempt} gave the job back: {message}"),
                Scheduler,
                Warning,
            ),
            JobEvent::PhaseChanged { phase, message, .. } => {
                let phase = JobPhase::from(*phase);
                let title = match phase {
                    JobPhase::Provisioning => "Provisioning",
                    _ => "Preparing",
                };
                (phase, title.into(), message.clone(), Runner, Info)
            }
            JobEvent::Started { attempt, execution } => (
                JobPhase::Running,
                "Running".into(),
                format!("Started on {} as {} (attempt {attempt})", execution.backend, execution.execution_id),
                Runner,
                Info,
            ),
            JobEvent::Reattached { attempt, execution } => (
                JobPhase::Running,
                "Runner re-attached".into(),
                format!("Attempt {attempt} follows {} on {}", execution.execution_id, execution.backend),
                Runner,
                Warning,
            ),
            JobEvent::CancelRequested { reason, phase } => (
                *phase,
                "Cancellation requested".into(),
                reason.clone().unwrap_or_else(|| "Requested by the user".into()),
                Api,
                Warning,
            ),
            JobEvent::ArtifactsCollected { artifacts, missing, .. } => {
                let mut message = format!("{} collected", artifacts.len());
                if !missing.is_empty() {
                    message.push_str(&format!("; missing: {}", missing.join(", ")));
                }
                let level = if missing.is_empty() { Info } else { Warning };
                (JobPhase::Finished, "Artifacts collected".into(), message, Runner, level)
            }
            JobEvent::Completed { exit_code, actual_cost, .. } => {
                let exit = exit_code.map(|c| format!("exit code {c}; ")).unwrap_or_default();
                (JobPhase::Finished, "Completed".into(), format!("{exit}cost {actual_cost}"), Runner, Info)
            }
            JobEvent::Failed { failure, phase, .. } => {
                (*phase, format!("Failed: {}", failure.reason.as_str()), failure.message.clone(), Runner, Error)
            }
            JobEvent::Cancelled { attempt, reason, phase, .. } => (
                *phase,
                "Cancelled".into(),
                reason.clone().unwrap_or_else(|| "Cancelled by the user".into()),
                if attempt.is_some() { Runner } else { Api },
                Warning,
            ),
        };
        LifecycleEntry { event_type: self.event_type().to_string(), phase, title, message, source, level }
    }
}

#[cfg(test)]
#[path = "job_tests.rs"]
mod tests;

//! The jobs service's bodies (`/api/v0/jobs`, `/api/v0/job-inputs`, credits and maintenance):
//! Jungle Grid's response shapes, which the `grid` MCP tools return as `structuredContent.data`
//! too. Times are RFC 3339 strings; amounts of credits are decimal strings (`"1.250000"`) with
//! the exact micro-credits next to them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// An amount of credits, for people and for programs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreditAmount {
    /// Six decimals, exact: `"1.250000"`.
    pub credits: String,
    /// The same amount in micro-credits (1 credit = 1 000 000).
    pub micros: u64,
}

/// `submit_job`'s arguments (documentation of the body; aliases `workload`, string `command`
/// and plain id strings in `input_files`/`script_files` are accepted too).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct SubmitJobRequest {
    pub name: String,
    /// `inference`, `training`, `fine_tuning` (or `fine-tuning`), `batch`.
    pub workload_type: String,
    /// e.g. `python:3.11-slim`; the images this deployment runs are named when one is refused.
    pub image: String,
    /// An array of strings, or one string split into words as a shell would (nothing expanded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub command: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// `[{"input_id": "inp_..."}]` or `["inp_..."]`; mounted read-only under `/workspace/inputs/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Value>)]
    pub input_files: Vec<Value>,
    /// Mounted read-only under `/workspace/scripts/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Value>)]
    pub script_files: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub script_file: Option<Value>,
    /// Files under `/workspace/artifacts/` the job should leave.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_artifacts: Vec<String>,
    /// `cost`, `speed` or `balanced` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, Value>>)]
    pub metadata: Option<Value>,
    /// Canopy's addition: a retried submit with the same key (per tenant) answers the job the
    /// first one created; with another body, 409. REST's `Idempotency-Key` header sets it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// `estimate_job`'s arguments: only `workload_type` is required.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct EstimateJobRequest {
    pub workload_type: String,
    /// Billions of parameters (`7`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_size: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub command: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// What kind of work this is, as the router sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Classification {
    pub workload_type: String,
    /// `small` (no model size, or under 3 B parameters), `medium` (under 20 B), `large`.
    pub size_class: String,
    /// `cpu`: the configured backends run on CPUs.
    pub accelerator: String,
}

/// One configured backend as the router weighed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackendOption {
    pub backend: String,
    pub credits_per_hour: CreditAmount,
    pub start_fee: CreditAmount,
    /// Free slots its pollers reported recently; `null` when none reported.
    pub free_slots: Option<u64>,
    /// `live` (pollers reported within the staleness window) or `unreported`.
    pub capacity_source: String,
    /// Whether it runs the requested image.
    pub runs_image: bool,
}

/// The route the router picks (the same choice a submit makes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RouteView {
    /// `local`, `ray`, ...
    pub backend: String,
    pub routing_mode: String,
    pub capacity_source: String,
    /// `available` (free slots now) or `queued` (waits for a slot).
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CostRange {
    pub low: CreditAmount,
    /// What a submit holds on the tenant's credits.
    pub high: CreditAmount,
    pub unit: String,
}

/// `estimate_job`: classification, route, capacity source, cost range, availability and the
/// queue ahead. Not a reservation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EstimateView {
    pub classification: Classification,
    /// `null` when no configured backend runs the image (`availability` is `unavailable`).
    pub route: Option<RouteView>,
    pub capacity_source: String,
    pub estimated_cost: Option<CostRange>,
    /// `available`, `queued` or `unavailable`.
    pub availability: String,
    /// The tenant's jobs queued now, ahead of a new one.
    pub queue_ahead: u64,
    /// The longest a job of this tenant may run (its quota); the cost range's upper bound.
    pub max_duration_seconds: u64,
    /// Every configured backend as it was weighed.
    pub alternatives: Vec<BackendOption>,
    /// Why a backend was or was not chosen, and what was assumed.
    pub screening: Vec<String>,
}

/// An uploaded input as a job mounts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MountedInputView {
    pub input_id: String,
    pub filename: String,
    pub kind: String,
    pub content_type: String,
    pub size_bytes: u64,
    pub mount_path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobFailureView {
    /// `timeout`, `oom`, `output_limit`, `exit_code`, `runner_lost`, `backend_error`, ...
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

/// How the job was placed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SchedulingView {
    pub routing_mode: String,
    pub backend: String,
    pub capacity_source: String,
    /// The attempt holding the job (a takeover is the next number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
}

/// Where the job runs, once it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProviderView {
    pub backend: String,
    pub execution_id: String,
}

/// What the job promised to leave and what it left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArtifactContractView {
    pub artifacts_dir: String,
    pub expected_artifacts: Vec<String>,
    /// Expected artifacts the ended job did not leave.
    pub missing: Vec<String>,
}

/// A job as `get_job`, `submit_job` and `list_jobs` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub job_id: String,
    pub name: String,
    /// `pending`, `queued`, `assigned`, `starting`, `running`; `completed`, `failed`,
    /// `rejected`, `cancelled`.
    pub status: String,
    /// `queued`, `scheduling`, `provisioning`, `preparing`, `running`, `finished`.
    pub phase: String,
    /// `before_execution`, `executing` or `after_execution`.
    pub execution_phase: String,
    pub status_message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    pub workload_type: String,
    pub image: String,
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// The names of the job's environment variables (values are not shown).
    pub env_names: Vec<String>,
    pub routing_mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[schema(value_type = BTreeMap<String, Value>)]
    pub metadata: Value,
    pub submitted_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_at: Option<String>,
    pub phase_started_at: String,
    pub phase_last_updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// From submission to the start of execution (or to now, while it waits).
    pub wait_duration_seconds: u64,
    /// The job waited longer than the router expected for its route.
    pub delayed_start: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_reason: Option<String>,
    pub scheduling: SchedulingView,
    /// The latest starting phase's message while the job starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_diagnostics: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderView>,
    pub artifacts_ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<JobFailureView>,
    pub input_files: Vec<MountedInputView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_file: Option<MountedInputView>,
    pub artifact_contract: ArtifactContractView,
    pub estimated_cost: CostRange,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_cost: Option<CreditAmount>,
    pub cancel_requested: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobListView {
    pub jobs: Vec<JobView>,
    pub limit: u32,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

/// One lifecycle event of `get_job_events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobEventView {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub phase: String,
    pub title: String,
    pub message: String,
    /// `api`, `scheduler` or `runner`.
    pub source: String,
    /// `info`, `warning` or `error`.
    pub level: String,
    pub created_at: String,
    /// The event's position in the job's stream, from 1.
    pub sequence: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobEventsView {
    pub job_id: String,
    pub events: Vec<JobEventView>,
    pub generated_at: String,
}

/// One stored log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogEntryView {
    pub entry_id: String,
    /// `workload` or `platform`.
    pub source: String,
    /// `workload_stdout`, `workload_stderr` or `platform`.
    pub category: String,
    /// `stdout`, `stderr` or `platform`.
    pub stream: String,
    pub message: String,
    /// The line was longer than Canopy keeps and was cut.
    pub truncated: bool,
    pub created_at: String,
}

/// For a failed job: why, and its last lines of standard error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FailureHighlight {
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub last_stderr_lines: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobLogsView {
    pub job_id: String,
    pub items: Vec<LogEntryView>,
    /// Pass as `cursor` to read what came after; also when `has_more` is false, to poll.
    pub next_cursor: Option<String>,
    pub has_more: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_highlight: Option<FailureHighlight>,
    pub usage_hint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CancelJobRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CancelledJobView {
    pub job_id: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// The job was running: its runner was asked to stop it and will report `cancelled`.
    pub cancel_requested: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArtifactView {
    pub artifact_id: String,
    pub job_id: String,
    /// The path under `/workspace/artifacts/`.
    pub filename: String,
    pub path: String,
    pub content_type: String,
    pub size_bytes: u64,
    pub sha256: String,
    /// `ready`.
    pub status: String,
    pub ready: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArtifactsView {
    pub job_id: String,
    pub artifacts: Vec<ArtifactView>,
    pub artifacts_ready: bool,
    /// Expected artifacts the job did not leave.
    pub missing: Vec<String>,
}

/// `get_artifact`: the artifact and a short-lived signed URL (a bearer secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArtifactDownloadView {
    pub artifact: ArtifactView,
    pub download_url: String,
    pub expires_at: String,
}

/// `upload_job_input`'s arguments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateJobInputRequest {
    pub filename: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `input` (default) or `script` by convention; any string is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// Where and how to upload the bytes, then complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UploadSlot {
    pub input_id: String,
    pub filename: String,
    /// `PUT`.
    pub method: String,
    /// A signed URL (a bearer secret, short-lived, for this one object).
    pub upload_url: String,
    /// Send it back to `complete_url`.
    pub token: String,
    pub expires_at: String,
    pub complete_url: String,
    /// The most bytes the upload may have (the tenant's upload quota).
    pub max_size_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UploadSlotView {
    pub upload: UploadSlot,
}

/// The body of `complete_url`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CompleteJobInputRequest {
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The upload's SHA-256 in lowercase hex, if the client knows it (the local store's PUT
    /// answers it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobInputView {
    pub input_id: String,
    pub filename: String,
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    pub kind: String,
    /// `pending` (waiting for its upload) or `ready`.
    pub status: String,
    pub ready: bool,
    pub mount_path: String,
    pub max_size_bytes: u64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobInputsView {
    pub inputs: Vec<JobInputView>,
}

/// A tenant's credits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreditsView {
    pub tenant: String,
    pub granted: CreditAmount,
    /// Held by jobs that have not ended.
    pub held: CreditAmount,
    pub spent: CreditAmount,
    pub available: CreditAmount,
    /// `enforced`, or `unlimited` (development: holds never refused).
    pub policy: String,
}

/// The operator grants a tenant credits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GrantCreditsRequest {
    /// A decimal number of credits, at most six decimals: `"100"`, `"2.5"`.
    pub credits: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MaintenanceView {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SetMaintenanceRequest {
    pub active: bool,
    #[serde(default)]
    pub message: String,
}

//! The read models as the REST bodies and tool results show them (`canopy_api_types::jobs`).

use crate::routing::{amount, cost_range};
use canopy_api_types::jobs::{
    ArtifactContractView, ArtifactView, JobFailureView, JobInputView, JobView, MountedInputView, ProviderView,
    SchedulingView,
};
use canopy_domain::job::{Artifact, JobPhase, JobStatus};
use canopy_domain::job_input::{InputStatus, MountedInput};
use canopy_domain::job_spec::ARTIFACTS_DIR;
use canopy_readmodels::{InputRow, JobRow};
use chrono::{DateTime, Utc};

pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn mounted(input: &MountedInput) -> MountedInputView {
    MountedInputView {
        input_id: input.input_id.to_string(),
        filename: input.filename.clone(),
        kind: input.kind.clone(),
        content_type: input.content_type.clone(),
        size_bytes: input.size_bytes,
        mount_path: input.mount_path.clone(),
    }
}

/// A job waiting longer than this past its route's expected start is `delayed_start`.
const DELAY_GRACE_SECS: i64 = 30;

pub(crate) fn job(row: &JobRow, now: DateTime<Utc>) -> JobView {
    let s = &row.state;
    let execution_phase = match s.phase {
        JobPhase::Running => "executing",
        JobPhase::Finished if row.started_at.is_some() => "after_execution",
        JobPhase::Finished => "never_executed",
        _ => "before_execution",
    };
    let waited_until = row.started_at.or(row.finished_at).unwrap_or(now);
    let wait = (waited_until - row.submitted_at).num_seconds().max(0);
    let waiting = !s.status.is_terminal() && row.started_at.is_none();
    let delayed = waiting && wait > DELAY_GRACE_SECS;
    let delay_reason = delayed.then(|| match s.status {
        JobStatus::Queued | JobStatus::Pending => {
            "waiting for a free slot on the route's backend, or for the tenant's concurrent-jobs quota".to_string()
        }
        _ => format!("the runner is still {}", s.phase),
    });
    JobView {
        job_id: s.id.to_string(),
        name: s.spec.name.clone(),
        status: s.status.as_str().into(),
        phase: s.phase.as_str().into(),
        execution_phase: execution_phase.into(),
        status_message: s.status_message.clone(),
        status_reason: s.status_reason().map(str::to_string),
        workload_type: s.spec.workload_type.as_str().into(),
        image: s.spec.image.clone(),
        command: s.spec.command.clone(),
        args: s.spec.args.clone(),
        env_names: s.spec.env.keys().cloned().collect(),
        routing_mode: s.spec.routing_mode.as_str().into(),
        template: s.spec.template.clone(),
        metadata: serde_json::Value::Object(s.spec.metadata.clone()),
        submitted_at: time(row.submitted_at),
        queued_at: row.queued_at.map(time),
        phase_started_at: time(row.phase_started_at),
        phase_last_updated_at: time(row.updated_at),
        started_at: row.started_at.map(time),
        finished_at: row.finished_at.map(time),
        wait_duration_seconds: wait as u64,
        delayed_start: delayed,
        delay_reason,
        scheduling: SchedulingView {
            routing_mode: s.spec.routing_mode.as_str().into(),
            backend: s.estimate.backend.clone(),
            capacity_source: s.estimate.capacity_source.clone(),
            attempt: s.lease.as_ref().map(|l| l.attempt.0).or(s.last_attempt.map(|a| a.0)),
            runner: s.lease.as_ref().map(|l| l.runner.to_string()),
        },
        startup_diagnostics: (s.status == JobStatus::Starting).then(|| s.status_message.clone()),
        provider: s
            .execution
            .as_ref()
            .map(|e| ProviderView { backend: e.backend.clone(), execution_id: e.execution_id.clone() }),
        artifacts_ready: s.artifacts_ready(),
        failure: s.failure.as_ref().map(|f| JobFailureView {
            reason: f.reason.as_str().into(),
            message: f.message.clone(),
            exit_code: f.exit_code,
        }),
        input_files: s.inputs.iter().filter(|i| s.spec.input_files.contains(&i.input_id)).map(mounted).collect(),
        script_file: s.script_file().map(mounted),
        artifact_contract: ArtifactContractView {
            artifacts_dir: ARTIFACTS_DIR.into(),
            expected_artifacts: s.spec.expected_artifacts.clone(),
            missing: s.missing_artifacts.clone(),
        },
        estimated_cost: cost_range(s.estimate.cost_low, s.estimate.cost_high),
        actual_cost: s.actual_cost.map(amount),
        cancel_requested: s.cancel_requested,
    }
}

pub(crate) fn artifact(row: &JobRow, a: &Artifact) -> ArtifactView {
    ArtifactView {
        artifact_id: a.artifact_id.to_string(),
        job_id: row.state.id.to_string(),
        filename: a.filename().to_string(),
        path: a.path.clone(),
        content_type: a.content_type.clone(),
        size_bytes: a.size_bytes,
        sha256: a.sha256.clone(),
        status: "ready".into(),
        ready: true,
        created_at: time(row.finished_at.unwrap_or(row.updated_at)),
    }
}

pub(crate) fn input(row: &InputRow) -> JobInputView {
    let s = &row.state;
    let ready = s.status == InputStatus::Ready;
    JobInputView {
        input_id: s.id.to_string(),
        filename: s.filename.clone(),
        content_type: s.content_type.clone(),
        size_bytes: s.size_bytes,
        kind: s.kind.clone(),
        status: if ready { "ready" } else { "pending" }.into(),
        ready,
        mount_path: s.mount_path.clone(),
        max_size_bytes: s.max_size_bytes,
        created_at: time(row.created_at),
        updated_at: time(row.updated_at),
    }
}

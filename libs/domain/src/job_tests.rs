//! Tests of the job aggregate: given a history, a command gives these events or this error.

use super::*;
use serde_json::json;

fn job_id() -> JobId {
    JobId::parse("job_1").unwrap()
}
fn inp(id: &str) -> InputId {
    InputId::parse(id).unwrap()
}
fn art(id: &str) -> ArtifactId {
    ArtifactId::parse(id).unwrap()
}
fn lease(runner: &str, attempt: u32) -> Lease {
    Lease { runner: RunnerId::parse(runner).unwrap(), attempt: Attempt(attempt) }
}

fn spec() -> JobSpec {
    JobSpec::from_arguments(&json!({
        "name": "transcribe-audio",
        "workload_type": "inference",
        "image": "python:3.11-slim",
        "command": ["python", "/workspace/scripts/transcribe.py"],
        "script_files": [{ "input_id": "inp_script" }],
        "input_files": [{ "input_id": "inp_audio" }],
        "expected_artifacts": ["/workspace/artifacts/transcript.txt", "/workspace/artifacts/summary.txt"],
    }))
    .unwrap()
}

fn mounted(id: &str, kind: &str, filename: &str) -> MountedInput {
    MountedInput {
        input_id: inp(id),
        filename: filename.into(),
        kind: kind.into(),
        content_type: "application/octet-stream".into(),
        size_bytes: 10,
        sha256: None,
        mount_path: crate::job_input::mount_path(kind, filename),
    }
}

fn found_inputs() -> BTreeMap<InputId, InputLookup> {
    BTreeMap::from([
        (inp("inp_audio"), InputLookup::Ready(mounted("inp_audio", "input", "audio.ogg"))),
        (inp("inp_script"), InputLookup::Ready(mounted("inp_script", "script", "transcribe.py"))),
    ])
}

fn estimate() -> Estimate {
    Estimate {
        cost_low: Credits::from_micros(1_000),
        cost_high: Credits::from_micros(5_000),
        backend: "local".into(),
        capacity_source: "local-sandbox".into(),
    }
}

fn submit(enqueue: bool) -> JobCommand {
    JobCommand::Submit { id: job_id(), spec: spec(), inputs: found_inputs(), estimate: estimate(), enqueue }
}

fn submitted() -> JobEvent {
    JobEvent::Submitted {
        id: job_id(),
        spec: spec(),
        inputs: vec![mounted("inp_audio", "input", "audio.ogg"), mounted("inp_script", "script", "transcribe.py")],
        estimate: estimate(),
    }
}

fn claimed(runner: &str, attempt: u32) -> JobEvent {
    JobEvent::Claimed { lease: lease(runner, attempt), previous: None }
}

fn taken_over(runner: &str, attempt: u32, from: &str) -> JobEvent {
    JobEvent::Claimed { lease: lease(runner, attempt), previous: Some(lease(from, attempt - 1)) }
}

fn execution() -> Execution {
    Execution { backend: "ray".into(), execution_id: "raysubmit_1".into() }
}

fn phase(attempt: u32, phase: StartingPhase) -> JobEvent {
    JobEvent::PhaseChanged { attempt: Attempt(attempt), phase, message: "pulling".into() }
}

fn started(attempt: u32) -> JobEvent {
    JobEvent::Started { attempt: Attempt(attempt), execution: execution() }
}

fn artifact(id: &str, path: &str) -> Artifact {
    Artifact {
        artifact_id: art(id),
        path: path.into(),
        size_bytes: 12,
        content_type: "text/plain".into(),
        sha256: "a".repeat(64),
    }
}

fn finish(attempt: u32, outcome: Outcome) -> JobCommand {
    JobCommand::Finish(Finish {
        attempt: Attempt(attempt),
        outcome,
        artifacts: vec![artifact("art_1", "transcript.txt")],
        actual_cost: Credits::from_micros(2_500),
    })
}

fn collected(attempt: u32) -> JobEvent {
    JobEvent::ArtifactsCollected {
        attempt: Attempt(attempt),
        artifacts: vec![artifact("art_1", "/workspace/artifacts/transcript.txt")],
        missing: vec!["/workspace/artifacts/summary.txt".into()],
    }
}

fn completed(attempt: u32) -> JobEvent {
    JobEvent::Completed { attempt: Attempt(attempt), exit_code: Some(0), actual_cost: Credits::from_micros(2_500) }
}

fn oom() -> Failure {
    Failure { reason: FailureReason::Oom, exit_code: Some(137), message: "memory bound of 512 MiB passed".into() }
}

fn runner_lost() -> Failure {
    Failure { reason: FailureReason::RunnerLost, exit_code: None, message: "the backend lost the execution".into() }
}

fn cancel_requested(phase: JobPhase) -> JobEvent {
    JobEvent::CancelRequested { reason: Some("not needed".into()), phase }
}

fn cancel() -> JobCommand {
    JobCommand::Cancel { reason: Some("not needed".into()) }
}

/// Histories the tables start from.
fn queued() -> Vec<JobEvent> {
    vec![submitted(), JobEvent::Queued]
}
fn assigned() -> Vec<JobEvent> {
    let mut h = queued();
    h.push(claimed("r1", 1));
    h
}
fn starting() -> Vec<JobEvent> {
    let mut h = assigned();
    h.push(phase(1, StartingPhase::Provisioning));
    h
}
fn running() -> Vec<JobEvent> {
    let mut h = starting();
    h.push(started(1));
    h
}
fn with(mut history: Vec<JobEvent>, more: impl IntoIterator<Item = JobEvent>) -> Vec<JobEvent> {
    history.extend(more);
    history
}
fn terminal_histories() -> Vec<(JobStatus, Vec<JobEvent>)> {
    vec![
        (JobStatus::Completed, with(running(), [collected(1), completed(1)])),
        (
            JobStatus::Failed,
            with(
                running(),
                [
                    collected(1),
                    JobEvent::Failed {
                        attempt: Attempt(1),
                        failure: oom(),
                        phase: JobPhase::Running,
                        actual_cost: Credits::ZERO,
                    },
                ],
            ),
        ),
        (
            JobStatus::Rejected,
            with(
                queued(),
                [JobEvent::Rejected { reason: RejectReason::InsufficientFunds, message: "hold does not fit".into() }],
            ),
        ),
        (
            JobStatus::Cancelled,
            with(
                queued(),
                [JobEvent::Cancelled {
                    attempt: None,
                    reason: None,
                    phase: JobPhase::Queued,
                    actual_cost: Credits::ZERO,
                }],
            ),
        ),
    ]
}

fn fold(history: &[JobEvent]) -> Job {
    Job::fold(history)
}

fn state(history: &[JobEvent]) -> JobState {
    fold(history).state().cloned().expect("a job")
}

/// Given history, when command, then these events (or this error).
fn check(history: &[JobEvent], command: JobCommand, expected: Result<Vec<JobEvent>, JobError>) {
    assert_eq!(fold(history).decide(&command), expected, "after {:?}", history.last().map(|e| e.event_type()));
}

#[test]
fn every_legal_transition() {
    let cases: Vec<(Vec<JobEvent>, JobCommand, Vec<JobEvent>, JobStatus)> = vec![
        (vec![], submit(false), vec![submitted()], JobStatus::Pending),
        (vec![], submit(true), vec![submitted(), JobEvent::Queued], JobStatus::Queued),
        (vec![submitted()], JobCommand::Enqueue, vec![JobEvent::Queued], JobStatus::Queued),
        (
            vec![submitted()],
            JobCommand::Reject { reason: RejectReason::NoCapacity, message: "none".into() },
            vec![JobEvent::Rejected { reason: RejectReason::NoCapacity, message: "none".into() }],
            JobStatus::Rejected,
        ),
        (
            queued(),
            JobCommand::Reject { reason: RejectReason::UnsupportedImage, message: "cuda".into() },
            vec![JobEvent::Rejected { reason: RejectReason::UnsupportedImage, message: "cuda".into() }],
            JobStatus::Rejected,
        ),
        (queued(), JobCommand::Claim { lease: lease("r1", 1) }, vec![claimed("r1", 1)], JobStatus::Assigned),
        (
            assigned(),
            JobCommand::Requeue { attempt: Attempt(1), message: "backend full".into() },
            vec![JobEvent::Requeued { attempt: Attempt(1), message: "backend full".into() }],
            JobStatus::Queued,
        ),
        (
            assigned(),
            JobCommand::ReportPhase {
                attempt: Attempt(1),
                phase: StartingPhase::Provisioning,
                message: "pulling".into(),
            },
            vec![phase(1, StartingPhase::Provisioning)],
            JobStatus::Starting,
        ),
        (
            starting(),
            JobCommand::ReportPhase { attempt: Attempt(1), phase: StartingPhase::Preparing, message: "pulling".into() },
            vec![phase(1, StartingPhase::Preparing)],
            JobStatus::Starting,
        ),
        (
            starting(),
            JobCommand::ReportPhase {
                attempt: Attempt(1),
                phase: StartingPhase::Provisioning,
                message: "pulling".into(),
            },
            vec![phase(1, StartingPhase::Provisioning)],
            JobStatus::Starting,
        ),
        (
            assigned(),
            JobCommand::MarkRunning { attempt: Attempt(1), execution: execution(), phases: vec![] },
            vec![started(1)],
            JobStatus::Running,
        ),
        (
            starting(),
            JobCommand::MarkRunning { attempt: Attempt(1), execution: execution(), phases: vec![] },
            vec![started(1)],
            JobStatus::Running,
        ),
        (
            running(),
            finish(1, Outcome::Succeeded { exit_code: Some(0) }),
            vec![collected(1), completed(1)],
            JobStatus::Completed,
        ),
        (
            running(),
            finish(1, Outcome::Failed(oom())),
            vec![
                collected(1),
                JobEvent::Failed {
                    attempt: Attempt(1),
                    failure: oom(),
                    phase: JobPhase::Running,
                    actual_cost: Credits::from_micros(2_500),
                },
            ],
            JobStatus::Failed,
        ),
        (
            starting(),
            finish(1, Outcome::Failed(oom())),
            vec![
                collected(1),
                JobEvent::Failed {
                    attempt: Attempt(1),
                    failure: oom(),
                    phase: JobPhase::Provisioning,
                    actual_cost: Credits::from_micros(2_500),
                },
            ],
            JobStatus::Failed,
        ),
        (
            vec![submitted()],
            cancel(),
            vec![JobEvent::Cancelled {
                attempt: None,
                reason: Some("not needed".into()),
                phase: JobPhase::Queued,
                actual_cost: Credits::ZERO,
            }],
            JobStatus::Cancelled,
        ),
        (
            queued(),
            JobCommand::Cancel { reason: Some("  ".into()) },
            vec![JobEvent::Cancelled {
                attempt: None,
                reason: None,
                phase: JobPhase::Queued,
                actual_cost: Credits::ZERO,
            }],
            JobStatus::Cancelled,
        ),
        (assigned(), cancel(), vec![cancel_requested(JobPhase::Scheduling)], JobStatus::Assigned),
        (starting(), cancel(), vec![cancel_requested(JobPhase::Provisioning)], JobStatus::Starting),
        (running(), cancel(), vec![cancel_requested(JobPhase::Running)], JobStatus::Running),
        (
            with(running(), [cancel_requested(JobPhase::Running)]),
            finish(1, Outcome::Cancelled),
            vec![
                collected(1),
                JobEvent::Cancelled {
                    attempt: Some(Attempt(1)),
                    reason: Some("not needed".into()),
                    phase: JobPhase::Running,
                    actual_cost: Credits::from_micros(2_500),
                },
            ],
            JobStatus::Cancelled,
        ),
        (
            with(running(), [cancel_requested(JobPhase::Running)]),
            finish(1, Outcome::Succeeded { exit_code: Some(0) }),
            vec![collected(1), completed(1)],
            JobStatus::Completed,
        ),
    ];
    for (history, command, events, status) in cases {
        check(&history, command.clone(), Ok(events.clone()));
        let after = state(&with(history, events));
        assert_eq!(after.status, status, "{command:?}");
    }
}

#[test]
fn every_illegal_transition_is_refused() {
    let stale = |reported, current| JobError::StaleAttempt { reported: Attempt(reported), current };
    let cases: Vec<(Vec<JobEvent>, JobCommand, JobError)> = vec![
        (vec![], JobCommand::Enqueue, JobError::NotFound),
        (vec![], cancel(), JobError::NotFound),
        (vec![], JobCommand::Claim { lease: lease("r1", 1) }, JobError::NotFound),
        (queued(), submit(true), JobError::AlreadyExists(job_id())),
        (
            vec![submitted()],
            JobCommand::Claim { lease: lease("r1", 1) },
            JobError::NotAllowed { action: "claim", status: JobStatus::Pending },
        ),
        (
            queued(),
            JobCommand::Claim { lease: lease("r1", 2) },
            JobError::NotNextAttempt { claimed: Attempt(2), expected: Attempt(1) },
        ),
        (
            queued(),
            JobCommand::Claim { lease: lease("r1", 0) },
            JobError::NotNextAttempt { claimed: Attempt(0), expected: Attempt(1) },
        ),
        (
            assigned(),
            JobCommand::Claim { lease: lease("r2", 1) },
            JobError::NotNextAttempt { claimed: Attempt(1), expected: Attempt(2) },
        ),
        (assigned(), JobCommand::Enqueue, JobError::NotAllowed { action: "queue", status: JobStatus::Assigned }),
        (
            assigned(),
            JobCommand::Reject { reason: RejectReason::NoCapacity, message: String::new() },
            JobError::NotAllowed { action: "reject", status: JobStatus::Assigned },
        ),
        // Reports before a claim.
        (
            queued(),
            JobCommand::MarkRunning { attempt: Attempt(1), execution: execution(), phases: vec![] },
            stale(1, None),
        ),
        (
            queued(),
            JobCommand::ReportPhase { attempt: Attempt(1), phase: StartingPhase::Preparing, message: String::new() },
            stale(1, None),
        ),
        (queued(), finish(1, Outcome::Failed(oom())), stale(1, None)),
        // Reports from an attempt that does not hold the job.
        (
            assigned(),
            JobCommand::MarkRunning { attempt: Attempt(2), execution: execution(), phases: vec![] },
            stale(2, Some(Attempt(1))),
        ),
        (
            with(running(), [taken_over("r2", 2, "r1")]),
            finish(1, Outcome::Succeeded { exit_code: Some(0) }),
            stale(1, Some(Attempt(2))),
        ),
        (
            with(assigned(), [JobEvent::Requeued { attempt: Attempt(1), message: String::new() }]),
            JobCommand::MarkRunning { attempt: Attempt(1), execution: execution(), phases: vec![] },
            stale(1, None),
        ),
        // Order of the phases.
        (
            with(starting(), [phase(1, StartingPhase::Preparing)]),
            JobCommand::ReportPhase { attempt: Attempt(1), phase: StartingPhase::Provisioning, message: String::new() },
            JobError::PhaseBackwards { current: JobPhase::Preparing, reported: JobPhase::Provisioning },
        ),
        (
            running(),
            JobCommand::ReportPhase { attempt: Attempt(1), phase: StartingPhase::Preparing, message: String::new() },
            JobError::NotAllowed { action: "report a starting phase of", status: JobStatus::Running },
        ),
        (
            starting(),
            JobCommand::Requeue { attempt: Attempt(1), message: String::new() },
            JobError::NotAllowed { action: "requeue", status: JobStatus::Starting },
        ),
        (starting(), finish(1, Outcome::Succeeded { exit_code: Some(0) }), JobError::CompletedWithoutRunning),
        (running(), finish(1, Outcome::Cancelled), JobError::CancelledWithoutRequest),
        (
            queued(),
            JobCommand::Cancel { reason: Some("x".repeat(1025)) },
            JobError::Invalid { field: "reason", reason: "must be at most 1024 characters".into() },
        ),
    ];
    for (history, command, error) in cases {
        check(&history, command, Err(error));
    }
}

#[test]
fn terminal_jobs_refuse_everything_and_cancel_is_a_conflict() {
    for (status, history) in terminal_histories() {
        assert_eq!(state(&history).status, status);
        let commands = [
            cancel(),
            JobCommand::Enqueue,
            JobCommand::Claim { lease: lease("r9", 2) },
            JobCommand::MarkRunning { attempt: Attempt(1), execution: execution(), phases: vec![] },
            JobCommand::ReportPhase { attempt: Attempt(1), phase: StartingPhase::Preparing, message: String::new() },
            JobCommand::Requeue { attempt: Attempt(1), message: String::new() },
            finish(1, Outcome::Failed(runner_lost())),
        ];
        for command in commands {
            let err = fold(&history).decide(&command).unwrap_err();
            assert_eq!(err, JobError::Ended(status), "{status}: {command:?}");
            assert_eq!(err.code(), ErrorCode::Conflict);
        }
        assert_eq!(fold(&history).decide(&cancel()).unwrap_err().to_string(), format!("the job is already {status}"));
    }
}

#[test]
fn retried_commands_change_nothing() {
    check(&queued(), JobCommand::Enqueue, Ok(vec![]));
    check(&assigned(), JobCommand::Claim { lease: lease("r1", 1) }, Ok(vec![]));
    check(
        &running(),
        JobCommand::MarkRunning { attempt: Attempt(1), execution: execution(), phases: vec![] },
        Ok(vec![]),
    );
    check(&with(running(), [cancel_requested(JobPhase::Running)]), cancel(), Ok(vec![]));
    let done = with(running(), [collected(1), completed(1)]);
    check(&done, finish(1, Outcome::Succeeded { exit_code: Some(0) }), Ok(vec![]));
    check(&done, finish(1, Outcome::Failed(oom())), Err(JobError::Ended(JobStatus::Completed)));
    let (_, rejected) = terminal_histories().remove(2);
    check(&rejected, JobCommand::Reject { reason: RejectReason::NoCapacity, message: String::new() }, Ok(vec![]));
}

/// A runner is killed mid-run; another takes over with the next attempt and re-attaches to the
/// execution; the first comes back and is not heard.
#[test]
fn a_takeover_is_a_new_attempt_and_silences_the_old_runner() {
    let history = running();
    let takeover = fold(&history).decide(&JobCommand::Claim { lease: lease("r2", 2) }).unwrap();
    assert_eq!(takeover, vec![taken_over("r2", 2, "r1")]);
    let history = with(history, takeover);
    let s = state(&history);
    assert_eq!(
        (s.status, s.lease.clone(), s.last_attempt),
        (JobStatus::Running, Some(lease("r2", 2)), Some(Attempt(2)))
    );

    let reattach = fold(&history)
        .decide(&JobCommand::MarkRunning { attempt: Attempt(2), execution: execution(), phases: vec![] })
        .unwrap();
    assert_eq!(reattach, vec![JobEvent::Reattached { attempt: Attempt(2), execution: execution() }]);
    let history = with(history, reattach);
    assert_eq!(state(&history).running_attempt, Some(Attempt(2)));

    let old = fold(&history).decide(&finish(1, Outcome::Failed(oom()))).unwrap_err();
    assert_eq!(old, JobError::StaleAttempt { reported: Attempt(1), current: Some(Attempt(2)) });
    assert_eq!(old.code(), ErrorCode::Conflict);
    assert_eq!(old.to_string(), "attempt 1 no longer holds the job (attempt 2 does)");

    let end = fold(&history).decide(&finish(2, Outcome::Succeeded { exit_code: Some(0) })).unwrap();
    let s = state(&with(history, end));
    assert_eq!((s.status, s.finished_by, s.lease.clone()), (JobStatus::Completed, Some(Attempt(2)), None));
}

/// A takeover of a job whose execution the backend cannot find: it ends `runner_lost`, once.
#[test]
fn a_lost_execution_fails_with_runner_lost() {
    let history = with(starting(), [taken_over("r2", 2, "r1")]);
    let s = state(&history);
    assert_eq!((s.status, s.phase), (JobStatus::Starting, JobPhase::Provisioning), "a takeover keeps the phase");
    let events = fold(&history).decide(&finish(2, Outcome::Failed(runner_lost()))).unwrap();
    let failed = state(&with(history, events.clone()));
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.status_reason(), Some("runner_lost"));
    assert_eq!(events[1].lifecycle().title, "Failed: runner_lost");
    // A third runner cannot claim a job that ended.
    assert!(fold(&with(starting(), events)).decide(&JobCommand::Claim { lease: lease("r3", 3) }).is_err());
}

#[test]
fn requeue_keeps_counting_attempts() {
    let history = with(assigned(), [JobEvent::Requeued { attempt: Attempt(1), message: "full".into() }]);
    let s = state(&history);
    assert_eq!((s.status, s.phase, s.lease.clone()), (JobStatus::Queued, JobPhase::Queued, None));
    check(
        &history,
        JobCommand::Claim { lease: lease("r1", 1) },
        Err(JobError::NotNextAttempt { claimed: Attempt(1), expected: Attempt(2) }),
    );
    check(&history, JobCommand::Claim { lease: lease("r2", 2) }, Ok(vec![claimed("r2", 2)]));
}

#[test]
fn submit_checks_and_records_the_inputs() {
    let s = state(&[submitted()]);
    assert_eq!(s.inputs.len(), 2);
    assert_eq!(s.script_file().map(|i| i.mount_path.as_str()), Some("/workspace/scripts/transcribe.py"));

    let mut inputs = found_inputs();
    inputs.remove(&inp("inp_audio"));
    let cmd = JobCommand::Submit { id: job_id(), spec: spec(), inputs, estimate: estimate(), enqueue: true };
    let err = Job::Absent.decide(&cmd).unwrap_err();
    assert_eq!((err.code(), err.to_string()), (ErrorCode::JobInputNotFound, "input 'inp_audio' was not found".into()));

    let mut inputs = found_inputs();
    inputs.insert(inp("inp_script"), InputLookup::NotReady);
    let cmd = JobCommand::Submit { id: job_id(), spec: spec(), inputs, estimate: estimate(), enqueue: true };
    assert_eq!(Job::Absent.decide(&cmd).unwrap_err().code(), ErrorCode::JobInputNotReady);

    let mut inputs = found_inputs();
    inputs.insert(inp("inp_script"), InputLookup::Ready(mounted("inp_script", "input", "audio.ogg")));
    let cmd = JobCommand::Submit { id: job_id(), spec: spec(), inputs, estimate: estimate(), enqueue: true };
    let err = Job::Absent.decide(&cmd).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidRequest);
    assert_eq!(err.to_string(), "inputs 'inp_audio' and 'inp_script' would both mount at /workspace/inputs/audio.ogg");

    let mut bad = estimate();
    bad.cost_low = Credits::from_micros(9_000);
    let cmd = JobCommand::Submit { id: job_id(), spec: spec(), inputs: found_inputs(), estimate: bad, enqueue: true };
    assert_eq!(Job::Absent.decide(&cmd).unwrap_err().code(), ErrorCode::InvalidRequest);
}

#[test]
fn spec_errors_keep_their_message_and_code() {
    let err: JobError = SpecError::MissingRequired { missing: vec!["name"] }.into();
    assert_eq!(
        (err.code(), err.to_string()),
        (ErrorCode::InvalidRequest, "name, image, and workload_type are required".into())
    );
}

#[test]
fn artifacts_are_checked_and_missing_ones_listed() {
    let s = state(&with(running(), [collected(1), completed(1)]));
    assert_eq!(s.artifacts[0].filename(), "transcript.txt");
    assert_eq!(s.missing_artifacts, vec!["/workspace/artifacts/summary.txt"]);
    assert!(s.artifacts_ready());
    assert_eq!(s.artifact(&art("art_1")).map(|a| a.size_bytes), Ok(12));
    assert_eq!(s.artifact(&art("art_9")).unwrap_err().code(), ErrorCode::NotFound);
    assert_eq!(s.actual_cost, Some(Credits::from_micros(2_500)));

    let before = state(&running());
    assert_eq!(before.artifact(&art("art_1")), Err(JobError::ArtifactNotReady));
    assert_eq!(JobError::ArtifactNotReady.code(), ErrorCode::ArtifactNotReady);
    // A job cancelled in the queue left nothing: its empty list is final.
    let (_, cancelled) = terminal_histories().remove(3);
    assert_eq!(state(&cancelled).artifact(&art("art_1")).unwrap_err().code(), ErrorCode::NotFound);

    let report = |artifacts: Vec<Artifact>| {
        JobCommand::Finish(Finish {
            attempt: Attempt(1),
            outcome: Outcome::Succeeded { exit_code: Some(0) },
            artifacts,
            actual_cost: Credits::ZERO,
        })
    };
    for bad in [
        vec![artifact("art_1", "/etc/passwd")],
        vec![artifact("art_1", "../x")],
        vec![Artifact { sha256: "nothex".into(), ..artifact("art_1", "a") }],
        vec![artifact("art_1", "a"), artifact("art_1", "b")],
        vec![artifact("art_1", "a"), artifact("art_2", "/workspace/artifacts/a")],
    ] {
        let err = fold(&running()).decide(&report(bad)).unwrap_err();
        assert!(matches!(err, JobError::Invalid { field: "artifacts", .. }), "{err}");
    }
}

#[test]
fn status_fields_for_get_job() {
    assert_eq!(state(&queued()).status_reason(), None);
    assert_eq!(
        state(&with(running(), [cancel_requested(JobPhase::Running)])).status_reason(),
        Some("cancel_requested")
    );
    let reasons: Vec<_> = terminal_histories().into_iter().map(|(_, h)| state(&h).status_reason()).collect();
    assert_eq!(reasons, vec![None, Some("oom"), Some("insufficient_funds"), Some("cancelled")]);
    assert_eq!(state(&running()).status_message, "Started on ray as raysubmit_1 (attempt 1)");
    for status in JobStatus::ALL {
        assert_eq!(JobStatus::parse(status.as_str()), Some(status));
        assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
    }
    assert_eq!(JobStatus::parse("done"), None);
    let terminal: Vec<_> = JobStatus::ALL.into_iter().filter(|s| s.is_terminal()).map(JobStatus::as_str).collect();
    assert_eq!(terminal, vec!["completed", "failed", "rejected", "cancelled"]);
}

fn every_event() -> Vec<JobEvent> {
    let mut events = vec![
        submitted(),
        JobEvent::Queued,
        JobEvent::Rejected { reason: RejectReason::QuotaExceeded, message: "10 running".into() },
        claimed("r1", 1),
        taken_over("r2", 2, "r1"),
        JobEvent::Requeued { attempt: Attempt(1), message: "full".into() },
        phase(1, StartingPhase::Provisioning),
        phase(1, StartingPhase::Preparing),
        started(1),
        JobEvent::Reattached { attempt: Attempt(2), execution: execution() },
        cancel_requested(JobPhase::Running),
        JobEvent::CancelRequested { reason: None, phase: JobPhase::Queued },
        collected(1),
        completed(1),
        JobEvent::Failed { attempt: Attempt(1), failure: oom(), phase: JobPhase::Running, actual_cost: Credits::ZERO },
        JobEvent::Cancelled { attempt: None, reason: None, phase: JobPhase::Queued, actual_cost: Credits::ZERO },
    ];
    events.push(JobEvent::Cancelled {
        attempt: Some(Attempt(1)),
        reason: Some("r".into()),
        phase: JobPhase::Running,
        actual_cost: Credits::from_micros(1),
    });
    events
}

#[test]
fn every_event_round_trips_and_upcast_guards_the_future() {
    let events = every_event();
    let mut types: Vec<&str> = events.iter().map(|e| e.event_type()).collect();
    types.sort();
    types.dedup();
    assert_eq!(types.len(), JOB_EVENT_TYPES.len(), "every event type is covered");
    for e in &events {
        let v = serde_json::to_value(e).unwrap();
        assert_eq!(format!("job.{}", v["type"].as_str().unwrap()), e.event_type());
        let back: JobEvent = serde_json::from_value(JobEvent::upcast(e.event_type(), 1, v).unwrap()).unwrap();
        assert_eq!(&back, e);
    }
    assert!(matches!(JobEvent::upcast("job.queued", 2, json!({})), Err(UpcastError::FromTheFuture { found: 2, .. })));
    assert!(matches!(JobEvent::upcast("job.nope", 1, json!({})), Err(UpcastError::UnknownType(_))));
}

#[test]
fn wire_shapes_are_strings_and_integers() {
    let v = serde_json::to_value(taken_over("r2", 2, "r1")).unwrap();
    assert_eq!(
        v,
        json!({"type": "claimed", "lease": {"runner": "r2", "attempt": 2}, "previous": {"runner": "r1", "attempt": 1}})
    );
    let v = serde_json::to_value(completed(1)).unwrap();
    assert_eq!(v, json!({"type": "completed", "attempt": 1, "exit_code": 0, "actual_cost": 2500}));
}

#[test]
fn every_event_renders_a_lifecycle_entry() {
    for e in every_event() {
        let entry = e.lifecycle();
        assert_eq!(entry.event_type, e.event_type());
        assert!(!entry.title.is_empty() && !entry.message.is_empty(), "{entry:?}");
    }
    let check = |e: JobEvent, phase, title: &str, source, level| {
        let entry = e.lifecycle();
        assert_eq!(
            (entry.phase, entry.title.as_str(), entry.source, entry.level),
            (phase, title, source, level),
            "{entry:?}"
        );
    };
    use EventLevel::*;
    use EventSource::*;
    check(submitted(), JobPhase::Queued, "Job submitted", Api, Info);
    check(claimed("r1", 1), JobPhase::Scheduling, "Assigned to runner r1", Scheduler, Info);
    check(taken_over("r2", 2, "r1"), JobPhase::Scheduling, "Taken over by runner r2", Scheduler, Warning);
    check(phase(1, StartingPhase::Preparing), JobPhase::Preparing, "Preparing", Runner, Info);
    check(started(1), JobPhase::Running, "Running", Runner, Info);
    check(collected(1), JobPhase::Finished, "Artifacts collected", Runner, Warning);
    check(
        JobEvent::Failed {
            attempt: Attempt(1),
            failure: oom(),
            phase: JobPhase::Preparing,
            actual_cost: Credits::ZERO,
        },
        JobPhase::Preparing,
        "Failed: oom",
        Runner,
        Error,
    );
    let entry = collected(1).lifecycle();
    assert_eq!(entry.message, "1 collected; missing: /workspace/artifacts/summary.txt");
    let entry = taken_over("r2", 2, "r1").lifecycle();
    assert_eq!(entry.message, "Attempt 2 replaces attempt 1 of runner r1, whose lease lapsed");
    let v = serde_json::to_value(submitted().lifecycle()).unwrap();
    assert_eq!(
        (v["type"].as_str(), v["source"].as_str(), v["level"].as_str()),
        (Some("job.submitted"), Some("api"), Some("info"))
    );
    assert_eq!(
        submitted().lifecycle().message,
        "inference job 'transcribe-audio' on python:3.11-slim with 2 input(s); route local (local-sandbox), estimated 0.001000 credits to 0.005000 credits"
    );
}

/// A start may carry the phases not reported on their own: they are recorded first, in order,
/// and the one rule of phases holds for them too (never backwards, not even within the list).
#[test]
fn a_start_records_the_phases_it_carries_in_order() {
    let phases =
        vec![(StartingPhase::Provisioning, "pulling".to_string()), (StartingPhase::Preparing, "pulling".to_string())];
    let command = JobCommand::MarkRunning { attempt: Attempt(1), execution: execution(), phases: phases.clone() };
    let expected = vec![phase(1, StartingPhase::Provisioning), phase(1, StartingPhase::Preparing), started(1)];
    check(&assigned(), command, Ok(expected.clone()));
    let history = with(assigned(), expected);
    assert_eq!(fold(&history).state().map(|j| j.status), Some(JobStatus::Running));

    let backwards = vec![(StartingPhase::Preparing, "a".to_string()), (StartingPhase::Provisioning, "b".to_string())];
    let command = JobCommand::MarkRunning { attempt: Attempt(1), execution: execution(), phases: backwards };
    check(
        &assigned(),
        command,
        Err(JobError::PhaseBackwards { current: JobPhase::Preparing, reported: JobPhase::Provisioning }),
    );
    // After preparing was reported alone, a start carrying provisioning would go back.
    let prepared = with(assigned(), [phase(1, StartingPhase::Preparing)]);
    let command = JobCommand::MarkRunning { attempt: Attempt(1), execution: execution(), phases };
    check(
        &prepared,
        command,
        Err(JobError::PhaseBackwards { current: JobPhase::Preparing, reported: JobPhase::Provisioning }),
    );
}

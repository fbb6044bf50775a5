//! A job's whole life through the service and the poller's calls: estimate, submit (hold),
//! claim, phases, running, logs, finish with an artifact, settlement; then what every read
//! shows. Credits: INSUFFICIENT_FUNDS when the hold does not fit, exact arithmetic after the
//! end. Maintenance refuses submits and lets estimates and running jobs be.

use crate::harness::{harness, hello, operator, owner, refusal, runner, tenant};
use canopy_blobs::BlobKey;
use canopy_domain::job::{Artifact, Execution, Outcome, StartingPhase};
use canopy_domain::{ArtifactId, Credits};
use canopy_jobs::{artifact_key, LogLine, LogStream};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn submit_claim_run_finish_settle() {
    let h = harness(|_| {}).await;
    let acme = owner("acme");
    h.grant("acme", "10").await;

    let estimate = h
        .jobs
        .estimate_job(
            &acme,
            &json!({"workload_type": "batch", "image": "python:3.11-slim", "routing_mode": "balanced"}),
        )
        .await
        .unwrap();
    assert_eq!(
        (estimate.route.as_ref().unwrap().backend.as_str(), estimate.availability.as_str()),
        ("local", "queued")
    );
    let high = estimate.estimated_cost.as_ref().unwrap().high.micros;
    assert_eq!(high, 1_000 + 1_000_000, "start fee + 1 credit/hour for the 1 h maximum");

    let job = h.jobs.submit_job(&acme, &hello("mcp-hello")).await.unwrap();
    assert_eq!((job.status.as_str(), job.phase.as_str()), ("queued", "queued"));
    assert_eq!(job.estimated_cost.high.micros, high, "the submit holds what the estimate said");
    let credits = h.jobs.credits(&acme).await.unwrap();
    assert_eq!((credits.held.micros, credits.available.micros), (high, 10_000_000 - high));
    let id = json!({"job_id": job.job_id});
    let (code, _) = refusal(h.jobs.get_artifact(&acme, &json!({"job_id": job.job_id, "artifact_id": "art_x"})).await);
    assert_eq!(code, "ARTIFACT_NOT_READY");

    h.jobs.report_capacity("local", &runner("r1"), 2, 2).await.unwrap();
    let claimed = h.jobs.claim_next(&runner("r1")).await.unwrap().expect("a job to claim");
    assert_eq!(
        (claimed.state.id.as_str(), claimed.lease.attempt.0, claimed.backend.as_str()),
        (job.job_id.as_str(), 1, "local")
    );
    assert_eq!(claimed.max_duration, Duration::from_secs(3600));
    assert!(h.jobs.claim_next(&runner("r2")).await.unwrap().is_none(), "one job, claimed once");
    let lease = h.jobs.heartbeat(&claimed.lease).await.unwrap();
    h.jobs.report_phase(&lease, StartingPhase::Preparing, "mounting 0 inputs").await.unwrap();
    let execution = Execution { backend: "local".into(), execution_id: "sbx-1".into() };
    h.jobs.mark_running(&lease, execution, vec![]).await.unwrap();
    let running = h.jobs.get_job(&acme, &id).await.unwrap();
    assert_eq!((running.status.as_str(), running.execution_phase.as_str()), ("running", "executing"));
    assert_eq!(running.provider.as_ref().unwrap().execution_id, "sbx-1");
    h.jobs
        .append_logs(
            &lease.tenant,
            &lease.job,
            lease.attempt,
            &[LogLine::new(LogStream::Stdout, "hello from Jungle Grid\n")],
        )
        .await
        .unwrap();

    // The artifact as the poller stores it, then the end.
    let artifact_id = ArtifactId::parse("art_out").unwrap();
    let key: BlobKey = artifact_key(&lease.tenant, &lease.job, &artifact_id).unwrap();
    let stored = h.jobs.urls().store().put_bytes(&key, Some("text/plain"), "done".into()).await.unwrap();
    let artifact = Artifact {
        artifact_id: artifact_id.clone(),
        path: "/workspace/artifacts/output.txt".into(),
        size_bytes: stored.size_bytes,
        content_type: "text/plain".into(),
        sha256: stored.sha256.clone(),
    };
    let actual = h.jobs.price("local", Duration::from_secs(36)); // 0.01 credit + the start fee
    assert_eq!(actual, Credits::from_micros(11_000));
    h.jobs.finish(&lease, Outcome::Succeeded { exit_code: Some(0) }, vec![artifact.clone()], actual).await.unwrap();
    h.jobs.finish(&lease, Outcome::Succeeded { exit_code: Some(0) }, vec![artifact], actual).await.unwrap();

    let done = h.jobs.get_job(&acme, &id).await.unwrap();
    assert_eq!((done.status.as_str(), done.artifacts_ready), ("completed", true));
    assert_eq!(done.actual_cost.as_ref().unwrap().micros, 11_000);
    let credits = h.jobs.credits(&acme).await.unwrap();
    assert_eq!(
        (credits.held.micros, credits.spent.micros, credits.available.micros),
        (0, 11_000, 10_000_000 - 11_000),
        "settled at the actual cost, the rest of the hold released, once"
    );
    let events = h.jobs.get_job_events(&acme, &id).await.unwrap();
    let types: Vec<&str> = events.events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "job.submitted",
            "job.queued",
            "job.claimed",
            "job.phase_changed",
            "job.started",
            "job.artifacts_collected",
            "job.completed"
        ]
    );
    assert_eq!(events.events.iter().map(|e| e.sequence).collect::<Vec<_>>(), (1..=7).collect::<Vec<u64>>());
    let artifacts = h.jobs.list_artifacts(&acme, &id).await.unwrap();
    assert_eq!((artifacts.artifacts.len(), artifacts.artifacts[0].filename.as_str()), (1, "output.txt"));
    let download = h.jobs.get_artifact(&acme, &json!({"jobId": job.job_id, "artifactId": "art_out"})).await.unwrap();
    assert!(download.download_url.starts_with(&h.base), "{}", download.artifact.filename);
    let body = h.http.get(&download.download_url).send().await.unwrap();
    assert_eq!(body.status(), 200);
    assert_eq!(body.text().await.unwrap(), "done");
    let (code, _) =
        refusal(h.jobs.get_artifact(&acme, &json!({"job_id": job.job_id, "artifact_id": "art_nope"})).await);
    assert_eq!(code, "NOT_FOUND");
    let (code, message) = refusal(h.jobs.cancel_job(&acme, &id).await);
    assert_eq!((code.as_str(), message.as_str()), ("CONFLICT", "the job is already completed"));
    let list = h.jobs.list_jobs(&acme, &json!({"status": "completed"})).await.unwrap();
    assert_eq!(list.jobs.len(), 1);
    assert!(h.jobs.list_jobs(&acme, &json!({"status": "weird"})).await.unwrap().jobs.is_empty());
}

#[tokio::test]
async fn holds_must_fit_and_cancel_releases_them() {
    let h = harness(|_| {}).await;
    let acme = owner("acme");
    let (code, message) = refusal(h.jobs.submit_job(&acme, &hello("broke")).await);
    assert_eq!(code, "INSUFFICIENT_FUNDS", "{message}");
    assert!(message.contains("needs 1.001000 credits and 0.000000 credits are available"), "{message}");
    assert!(h.jobs.list_jobs(&acme, &json!({})).await.unwrap().jobs.is_empty(), "nothing was created");

    h.grant("acme", "1.5").await;
    let first = h.jobs.submit_job(&acme, &hello("one")).await.unwrap();
    let (code, _) = refusal(h.jobs.submit_job(&acme, &hello("two")).await);
    assert_eq!(code, "INSUFFICIENT_FUNDS", "1.5 - 1.001 left is less than another hold");
    let cancelled =
        h.jobs.cancel_job(&acme, &json!({"job_id": first.job_id, "reason": "changed my mind"})).await.unwrap();
    assert_eq!((cancelled.status.as_str(), cancelled.cancel_requested), ("cancelled", false));
    let credits = h.jobs.credits(&acme).await.unwrap();
    assert_eq!((credits.held.micros, credits.spent.micros, credits.available.micros), (0, 0, 1_500_000));
    h.jobs.submit_job(&acme, &hello("two")).await.unwrap();
}

#[tokio::test]
async fn a_running_job_is_asked_to_cancel_on_the_bus() {
    use futures::StreamExt;
    let h = harness(|_| {}).await;
    let acme = owner("acme");
    h.grant("acme", "5").await;
    let job = h.jobs.submit_job(&acme, &hello("long")).await.unwrap();
    let lease = h.jobs.claim_next(&runner("r1")).await.unwrap().unwrap().lease;
    h.jobs.mark_running(&lease, Execution { backend: "local".into(), execution_id: "x".into() }, vec![]).await.unwrap();
    let client = async_nats::connect(canopy_testkit::nats_url()).await.unwrap();
    let mut notices = client.subscribe(format!("{}.jobs.cancel.acme.{}", h.prefix, job.job_id)).await.unwrap();
    client.flush().await.unwrap();
    let answer = h.jobs.cancel_job(&acme, &json!({"job_id": job.job_id})).await.unwrap();
    assert_eq!((answer.status.as_str(), answer.cancel_requested), ("running", true));
    let notice = tokio::time::timeout(Duration::from_secs(5), notices.next()).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&notice.payload).contains(&job.job_id));
    h.jobs.finish(&lease, Outcome::Cancelled, vec![], h.jobs.price("local", Duration::from_secs(1))).await.unwrap();
    let done = h.jobs.get_job(&acme, &json!({"job_id": job.job_id})).await.unwrap();
    assert_eq!(done.status, "cancelled");
}

#[tokio::test]
async fn maintenance_refuses_new_jobs_only() {
    let h = harness(|_| {}).await;
    let acme = owner("acme");
    h.grant("acme", "10").await;
    let before = h.jobs.submit_job(&acme, &hello("before")).await.unwrap();
    let on = h.jobs.set_maintenance(&operator(), true, "upgrading the cluster").await.unwrap();
    assert!(on.active);
    let (code, message) = refusal(h.jobs.submit_job(&acme, &hello("during")).await);
    assert_eq!(code, "MAINTENANCE_ACTIVE");
    assert!(message.contains("upgrading the cluster"), "{message}");
    h.jobs.estimate_job(&acme, &json!({"workload_type": "batch"})).await.unwrap();
    let claimed = h.jobs.claim_next(&runner("r1")).await.unwrap().unwrap();
    assert_eq!(claimed.state.id.as_str(), before.job_id, "queued jobs go on");
    let (code, _) = refusal(h.jobs.set_maintenance(&acme, false, "").await);
    assert_eq!(code, "FORBIDDEN", "only the operator");
    assert!(!h.jobs.set_maintenance(&operator(), false, "").await.unwrap().active);
    h.jobs.submit_job(&acme, &hello("after")).await.unwrap();
}

#[tokio::test]
async fn a_retried_submit_with_its_idempotency_key_answers_the_same_job_once() {
    let h = harness(|_| {}).await;
    let acme = owner("acme");
    h.grant("acme", "5").await;
    let keyed = |name: &str, key: &str| {
        let mut spec = hello(name);
        spec["idempotency_key"] = json!(key);
        spec
    };
    let first = h.jobs.submit_job(&acme, &keyed("once", "retry-me-1")).await.unwrap();
    let again = h.jobs.submit_job(&acme, &keyed("once", "retry-me-1")).await.unwrap();
    assert_eq!(first.job_id, again.job_id, "the same job");
    let jobs = h.jobs.list_jobs(&acme, &json!({})).await.unwrap().jobs;
    assert_eq!(jobs.len(), 1, "queued once");
    let credits = h.jobs.credits(&acme).await.unwrap();
    assert_eq!(credits.held.micros, 1_001_000, "held once");

    // The key with another request is refused; another key is another job; another tenant's
    // same key is its own.
    let (code, message) = refusal(h.jobs.submit_job(&acme, &keyed("different", "retry-me-1")).await);
    assert_eq!(code, "CONFLICT", "{message}");
    assert!(message.contains("retry-me-1"), "{message}");
    let other = h.jobs.submit_job(&acme, &keyed("once", "retry-me-2")).await.unwrap();
    assert_ne!(other.job_id, first.job_id);
    h.grant("globex", "5").await;
    let globex = h.jobs.submit_job(&owner("globex"), &keyed("once", "retry-me-1")).await.unwrap();
    assert_ne!(globex.job_id, first.job_id, "keys are per tenant");

    // Still the same job once it ended (nothing held again).
    h.jobs.cancel_job(&acme, &json!({"job_id": first.job_id})).await.unwrap();
    let after = h.jobs.submit_job(&acme, &keyed("once", "retry-me-1")).await.unwrap();
    assert_eq!((after.job_id.as_str(), after.status.as_str()), (first.job_id.as_str(), "cancelled"));
    let (code, _) = refusal(h.jobs.submit_job(&acme, &keyed("bad key", "has space")).await);
    assert_eq!(code, "INVALID_REQUEST");
}

#[tokio::test]
async fn concurrent_submits_of_one_tenant_hold_exactly_what_fits_sharing_commits() {
    use canopy_domain::ledger::Ledger;
    use canopy_eventstore::StreamKey;
    let h = harness(|_| {}).await;
    let acme = owner("acme");
    h.grant("acme", "20.5").await;
    let submits = (0..32).map(|i| {
        let (jobs, acme) = (h.jobs.clone(), acme.clone());
        tokio::spawn(async move { jobs.submit_job(&acme, &hello(&format!("burst-{i}"))).await })
    });
    let mut accepted = 0;
    for submit in submits.collect::<Vec<_>>() {
        match submit.await.unwrap() {
            Ok(_) => accepted += 1,
            Err(e) => assert_eq!(refusal::<()>(Err(e)).0, "INSUFFICIENT_FUNDS"),
        }
    }
    assert_eq!(accepted, 20, "20 holds of 1.001 fit in 20.5");
    let credits = h.jobs.credits(&acme).await.unwrap();
    assert_eq!((credits.held.micros, credits.available.micros), (20_020_000, 480_000));
    assert_eq!(h.jobs.list_jobs(&acme, &json!({"limit": 100})).await.unwrap().jobs.len(), 20);
    let ledger = h.executor.store().load(&StreamKey::of::<Ledger>(&tenant("acme"), "acme")).await.unwrap();
    let holds: Vec<_> = ledger.iter().filter(|e| e.event_type == "ledger.hold_placed").collect();
    assert_eq!(holds.len(), 20);
    // An event's recorded_at is its transaction's start: holds that share one shared a commit.
    let transactions: std::collections::BTreeSet<_> = holds.iter().map(|e| e.recorded_at).collect();
    assert!(transactions.len() < holds.len(), "{} transactions for {} holds", transactions.len(), holds.len());
}

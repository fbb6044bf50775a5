//! The job-poller's side: the fair claim across tenants, the concurrent-jobs quota, and lease
//! expiry with takeover (attempt n + 1; the old runner refused everywhere).

use crate::harness::{harness, hello, owner, refusal, runner, tenant};
use canopy_domain::job::{Estimate, Execution, Job, JobCommand, Outcome};
use canopy_domain::job_spec::JobSpec;
use canopy_domain::{Credits, JobId};
use canopy_eventstore::CommandContext;
use futures::StreamExt;
use serde_json::json;
use std::time::Duration;

/// Queues `n` jobs for `tenant` straight through the domain (a backlog, quickly).
async fn backlog(h: &crate::harness::Harness, tenant_name: &str, n: usize) {
    let spec = JobSpec::from_arguments(&hello("backlog")).unwrap();
    let estimate = Estimate {
        cost_low: Credits::ZERO,
        cost_high: Credits::ZERO,
        backend: "local".into(),
        capacity_source: "unreported".into(),
    };
    let ctx = CommandContext::new(tenant(tenant_name), "test");
    let submits = (0..n).map(|_| {
        let id = JobId::from_uuid(uuid::Uuid::now_v7());
        let submit = JobCommand::Submit {
            id: id.clone(),
            spec: spec.clone(),
            inputs: Default::default(),
            estimate: estimate.clone(),
            enqueue: true,
        };
        let (executor, ctx) = (h.executor.clone(), ctx.clone());
        async move { executor.execute::<Job>(&ctx, id.as_str(), &submit).await.map(|_| ()) }
    });
    let results: Vec<_> = futures::stream::iter(submits).buffer_unordered(8).collect().await;
    assert!(results.iter().all(Result::is_ok));
}

#[tokio::test]
async fn a_tenant_with_a_backlog_does_not_hold_back_another_tenants_first_job() {
    let h = harness(|_| {}).await;
    backlog(&h, "acme", 2_000).await;
    let first = h.jobs.claim_next(&runner("r1")).await.unwrap().unwrap();
    assert_eq!(first.lease.tenant.as_str(), "acme");
    h.grant("globex", "5").await;
    let theirs = h.jobs.submit_job(&owner("globex"), &hello("first of globex")).await.unwrap();
    let mut claimed = Vec::new();
    for _ in 0..2 {
        let next = h.jobs.claim_next(&runner("r1")).await.unwrap().unwrap();
        claimed.push(next.state.id.to_string());
    }
    assert!(claimed.contains(&theirs.job_id), "globex's job within the next two claims: {claimed:?}");
    let third = h.jobs.claim_next(&runner("r1")).await.unwrap().unwrap();
    assert_eq!(third.lease.tenant.as_str(), "acme", "then acme again");
}

#[tokio::test]
async fn jobs_beyond_the_concurrent_quota_wait() {
    let h = harness(|s| s.quotas.max_concurrent_jobs = 2).await;
    backlog(&h, "acme", 3).await;
    assert!(h.jobs.claim_next(&runner("r1")).await.unwrap().is_some());
    assert!(h.jobs.claim_next(&runner("r1")).await.unwrap().is_some());
    assert!(h.jobs.claim_next(&runner("r1")).await.unwrap().is_none(), "acme holds 2 of 2");
    backlog(&h, "globex", 1).await;
    assert_eq!(h.jobs.claim_next(&runner("r1")).await.unwrap().unwrap().lease.tenant.as_str(), "globex");
}

#[tokio::test]
async fn a_lapsed_lease_is_taken_over_as_the_next_attempt_and_the_old_runner_is_refused() {
    let h = harness(|s| s.lease = Duration::from_millis(300)).await;
    let acme = owner("acme");
    h.grant("acme", "5").await;
    let job = h.jobs.submit_job(&acme, &hello("survivor")).await.unwrap();
    let old = h.jobs.claim_next(&runner("old")).await.unwrap().unwrap().lease;
    let execution = Execution { backend: "ray".into(), execution_id: "raysubmit_1".into() };
    h.jobs.mark_running(&old, execution.clone(), vec![]).await.unwrap();
    assert!(h.jobs.expired_leases(10).await.unwrap().is_empty(), "the lease is live");
    tokio::time::sleep(Duration::from_millis(400)).await;

    let expired = h.jobs.expired_leases(10).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!((expired[0].job.as_str(), expired[0].attempt.map(|a| a.0)), (job.job_id.as_str(), Some(1)));
    let new = h.jobs.take_over(&runner("new"), &expired[0]).await.unwrap().expect("taken over");
    assert_eq!(new.lease.attempt.0, 2);
    assert_eq!(new.previous.as_ref().map(|l| l.runner.as_str()), Some("old"));
    assert_eq!(new.execution.as_ref(), Some(&execution), "to re-attach to");
    assert!(h.jobs.take_over(&runner("third"), &expired[0]).await.unwrap().is_none(), "one poller wins");

    let (code, message) = refusal(h.jobs.heartbeat(&old).await);
    assert_eq!(code, "CONFLICT", "{message}");
    let (code, _) =
        refusal(h.jobs.finish(&old, Outcome::Succeeded { exit_code: Some(0) }, vec![], Credits::ZERO).await);
    assert_eq!(code, "CONFLICT", "the old attempt's report is refused");
    h.jobs.heartbeat(&new.lease).await.unwrap();
    h.jobs.mark_running(&new.lease, execution, vec![]).await.unwrap();
    h.jobs
        .finish(&new.lease, Outcome::Succeeded { exit_code: Some(0) }, vec![], Credits::from_micros(5))
        .await
        .unwrap();
    let done = h.jobs.get_job(&acme, &json!({"job_id": job.job_id})).await.unwrap();
    assert_eq!((done.status.as_str(), done.scheduling.attempt), ("completed", Some(2)));
    let events = h.jobs.get_job_events(&acme, &json!({"job_id": job.job_id})).await.unwrap();
    assert!(events.events.iter().any(|e| e.title == "Taken over by runner new"), "{events:?}");
    assert!(events.events.iter().any(|e| e.event_type == "job.reattached"));
}

#[tokio::test]
async fn ended_jobs_left_unsettled_are_settled_by_the_reconciler() {
    let h = harness(|_| {}).await;
    let acme = owner("acme");
    h.grant("acme", "5").await;
    let job = h.jobs.submit_job(&acme, &hello("orphan")).await.unwrap();
    // The job ends without the service's settlement (as if the poller died in between).
    let lease = h.jobs.claim_next(&runner("r1")).await.unwrap().unwrap().lease;
    let ctx = CommandContext::new(tenant("acme"), "test");
    h.executor
        .execute::<Job>(
            &ctx,
            &job.job_id,
            &JobCommand::MarkRunning {
                attempt: lease.attempt,
                execution: Execution { backend: "local".into(), execution_id: "e".into() },
                phases: vec![],
            },
        )
        .await
        .unwrap();
    let finish = canopy_domain::job::Finish {
        attempt: lease.attempt,
        outcome: Outcome::Succeeded { exit_code: None },
        artifacts: vec![],
        actual_cost: Credits::from_micros(7),
    };
    h.executor.execute::<Job>(&ctx, &job.job_id, &JobCommand::Finish(finish)).await.unwrap();
    assert_eq!(h.jobs.credits(&acme).await.unwrap().held.micros, 1_001_000);
    assert_eq!(h.jobs.settle_ended_jobs(&runner("r1"), 10).await.unwrap(), 1);
    assert_eq!(h.jobs.settle_ended_jobs(&runner("r1"), 10).await.unwrap(), 0);
    let credits = h.jobs.credits(&acme).await.unwrap();
    assert_eq!((credits.held.micros, credits.spent.micros), (0, 7));
}

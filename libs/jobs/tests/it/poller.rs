//! The job-poller's side: the fair claim across tenants, the concurrent-jobs quota, and lease
//! expiry with takeover (attempt n + 1; the old runner refused everywhere).

use crate::harness::{harness, hello, owner, refusal, runner, tenant};
use canopy_domain::job::{Estimate, Execution, Job, JobCommand, Outcome};
use canopy_domain::job_spec::JobSpec;
use canopy_domain::{Credits, JobId};
use canopy_eventstore::CommandContext;
use canopy_jobs::Room;
use futures::StreamExt;
use serde_json::json;
use std::time::Duration;

/// Queues `n` jobs for `tenant` straight through the domain (a backlog, quickly); their ids.
async fn backlog(h: &crate::harness::Harness, tenant_name: &str, n: usize) -> Vec<JobId> {
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
        async move { executor.execute::<Job>(&ctx, id.as_str(), &submit).await.map(|_| id) }
    });
    let results: Vec<_> = futures::stream::iter(submits).buffer_unordered(8).collect().await;
    results.into_iter().map(Result::unwrap).collect()
}

fn local(slots: usize) -> Room {
    [("local".to_string(), slots)].into()
}

#[tokio::test]
async fn a_batch_claim_takes_jobs_in_the_order_of_claims_one_at_a_time() {
    let h = harness(|_| {}).await;
    backlog(&h, "acme", 5).await;
    backlog(&h, "globex", 2).await;
    let claimed = h.jobs.claim_on(&runner("r1"), &local(3)).await.unwrap();
    let tenants: Vec<&str> = claimed.iter().map(|c| c.lease.tenant.as_str()).collect();
    assert_eq!(tenants, ["acme", "globex", "acme"], "one of each tenant in turn");
    // Globex's last claim came before acme's: it is served first next time.
    let next = h.jobs.claim_next(&runner("r1")).await.unwrap().unwrap();
    assert_eq!(next.lease.tenant.as_str(), "globex");
    let rest = h.jobs.claim_on(&runner("r1"), &local(10)).await.unwrap();
    let tenants: Vec<&str> = rest.iter().map(|c| c.lease.tenant.as_str()).collect();
    assert_eq!(tenants, ["acme", "acme", "acme"], "what is left, no more than is queued");
    assert!(h.jobs.claim_on(&runner("r1"), &local(10)).await.unwrap().is_empty());
    assert!(h.jobs.claim_on(&runner("r1"), &Room::new()).await.unwrap().is_empty(), "no room, no claim");
    for job in claimed.iter().chain([&next]).chain(&rest) {
        assert_eq!(job.lease.attempt.0, 1);
        assert_eq!(job.state.status.as_str(), "assigned");
        assert_eq!(job.known.version, 3, "submitted, queued, claimed");
        assert!(job.lease.expires_at > chrono::Utc::now(), "the lease row's expiry");
        // The lease row is the runner's: its heartbeat is heard.
        h.jobs.heartbeat(&job.lease).await.unwrap();
    }
}

#[tokio::test]
async fn pollers_claiming_at_once_while_jobs_are_cancelled_claim_each_job_once() {
    let h = harness(|_| {}).await;
    let ids = backlog(&h, "acme", 60).await;
    let pollers = (0..3).map(|i| {
        let jobs = h.jobs.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut idle = 0;
            while idle < 3 {
                let claimed = jobs.claim_on(&runner(&format!("r{i}")), &local(4)).await.unwrap();
                idle = if claimed.is_empty() { idle + 1 } else { 0 };
                mine.extend(claimed.into_iter().map(|c| c.lease.job));
            }
            mine
        })
    });
    let pollers: Vec<_> = pollers.collect();
    // Every third job is cancelled while the pollers claim: queued (cancelled at once) or
    // claimed (asked to stop); never an error, never a claim and a cancel both deciding queued.
    let acme = owner("acme");
    for id in ids.iter().step_by(3) {
        let cancelled = h.jobs.cancel_job(&acme, &json!({"job_id": id})).await.unwrap();
        assert!(["cancelled", "assigned"].contains(&cancelled.status.as_str()), "{cancelled:?}");
    }
    let mut claimed = Vec::new();
    for poller in pollers {
        claimed.extend(tokio::time::timeout(Duration::from_secs(60), poller).await.unwrap().unwrap());
    }
    let unique: std::collections::BTreeSet<_> = claimed.iter().collect();
    assert_eq!(unique.len(), claimed.len(), "no job claimed twice");
    for id in &ids {
        let job = h.jobs.get_job(&acme, &json!({"job_id": id})).await.unwrap();
        let events = h.jobs.get_job_events(&acme, &json!({"job_id": id})).await.unwrap();
        let claims = events.events.iter().filter(|e| e.event_type == "job.claimed").count();
        match job.status.as_str() {
            "assigned" => assert!(claims == 1 && claimed.contains(id), "{id}: {claims} claims"),
            "cancelled" => assert!(claims == 0 && !claimed.contains(id), "{id}: cancelled while queued"),
            other => panic!("{id} is {other}"),
        }
    }
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

//! Logs: paged with cursors, a failure highlight for a failed job, and a follower that receives
//! a line appended after it started and ends when the job ends.

use crate::harness::{harness, hello, owner, runner};
use canopy_domain::job::{Execution, Failure, FailureReason, Outcome};
use canopy_domain::Credits;
use canopy_jobs::{LogLine, LogStream};
use futures::StreamExt;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn logs_page_by_cursor_and_follow_live_until_the_end() {
    let h = harness(|_| {}).await;
    let acme = owner("acme");
    h.grant("acme", "5").await;
    let job = h.jobs.submit_job(&acme, &hello("chatty")).await.unwrap();
    let empty = h.jobs.get_job_logs(&acme, &json!({"job_id": job.job_id})).await.unwrap();
    assert!(empty.items.is_empty() && empty.usage_hint.contains("get_job_events"));
    let lease = h.jobs.claim_next(&runner("r1")).await.unwrap().unwrap().lease;
    h.jobs.mark_running(&lease, Execution { backend: "local".into(), execution_id: "e".into() }, vec![]).await.unwrap();
    let lines: Vec<LogLine> = (1..=5)
        .map(|i| LogLine::new(if i == 4 { LogStream::Stderr } else { LogStream::Stdout }, format!("line {i}\n")))
        .collect();
    h.jobs.append_logs(&lease.tenant, &lease.job, lease.attempt, &lines).await.unwrap();

    let page1 = h.jobs.get_job_logs(&acme, &json!({"job_id": job.job_id, "limit": 2})).await.unwrap();
    assert_eq!(page1.items.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["line 1", "line 2"]);
    assert!(page1.has_more);
    let page2 = h
        .jobs
        .get_job_logs(&acme, &json!({"job_id": job.job_id, "limit": "10", "cursor": page1.next_cursor}))
        .await
        .unwrap();
    assert_eq!(page2.items.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["line 3", "line 4", "line 5"]);
    assert_eq!((page2.items[1].category.as_str(), page2.items[1].stream.as_str()), ("workload_stderr", "stderr"));
    assert!(!page2.has_more);

    let follow =
        h.jobs.follow_job_logs(&acme, &json!({"job_id": job.job_id, "cursor": page2.next_cursor}), None).await.unwrap();
    let (jobs, tenant, id, attempt) = (h.jobs.clone(), lease.tenant.clone(), lease.job.clone(), lease.attempt);
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        jobs.append_logs(&tenant, &id, attempt, &[LogLine::new(LogStream::Stdout, "appended while following")])
            .await
            .unwrap();
    });
    let mut follow = Box::pin(follow);
    let started = std::time::Instant::now();
    let first = tokio::time::timeout(Duration::from_secs(5), follow.next()).await.unwrap().unwrap();
    assert_eq!(first.message, "appended while following");
    assert!(started.elapsed() < Duration::from_secs(1), "woken by the bus, not the poll: {:?}", started.elapsed());
    writer.await.unwrap();
    let failure = Failure { reason: FailureReason::ExitCode, exit_code: Some(3), message: "exited with 3".into() };
    h.jobs.finish(&lease, Outcome::Failed(failure), vec![], Credits::ZERO).await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), follow.next()).await.unwrap();
    assert!(end.is_none(), "the stream ends with the job");

    let failed = h.jobs.get_job_logs(&acme, &json!({"job_id": job.job_id})).await.unwrap();
    let highlight = failed.failure_highlight.unwrap();
    assert_eq!((highlight.reason.as_str(), highlight.exit_code), ("exit_code", Some(3)));
    assert_eq!(highlight.last_stderr_lines, ["line 4"]);
}

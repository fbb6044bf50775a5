//! Job-pollers killed with `kill -9` while they run jobs: the api and two job-pollers as
//! separate `canopy serve` processes, 30 jobs submitted over REST, and a poller killed three
//! times (each time a new one started in its place) while the queue drains. Every job ends:
//! none stays `running`, none is lost; a job that completed printed its lines once (it ran
//! once); a job whose sandbox died with its poller ends `failed`, reason `runner_lost`, taken
//! over as its next attempt.

use crate::harness::*;
use serde_json::json;
use std::time::{Duration, Instant};

const JOBS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_jobs_survive_three_kill_9s_of_their_pollers_none_lost_none_run_twice() {
    let mut d = Deployment::new().await;
    for (k, v) in
        [("CANOPY_JOBS_LEASE_SECS", "2"), ("CANOPY_JOBS_LOCAL_SLOTS", "4"), ("CANOPY_JOBS_MAX_CONCURRENT", "100")]
    {
        d.env.push((k.into(), v.into()));
    }
    let api = d.spawn("api", &["serve", "api"]).await;
    d.spawn("poller-a0", &["serve", "poller"]).await;
    d.spawn("poller-b", &["serve", "poller"]).await;

    let mut ids = Vec::with_capacity(JOBS);
    for n in 0..JOBS {
        let (status, job) = post_json(
            &format!("{api}/api/v0/jobs"),
            json!({"name": format!("kill-{n}"), "workload_type": "batch", "image": "python:3.11",
                "command": ["python", "-c", "import time; print('start', flush=True); time.sleep(1.5); print('end')"]}),
        )
        .await;
        assert!(status == 200 || status == 201, "{status} {job}");
        ids.push(job["job_id"].as_str().unwrap().to_string());
    }

    let started = Instant::now();
    for round in 1..=3 {
        tokio::time::sleep(Duration::from_millis(1800)).await;
        d.kill_hard(&format!("poller-a{}", round - 1));
        d.spawn(&format!("poller-a{round}"), &["serve", "poller"]).await;
    }

    let deadline = Instant::now() + Duration::from_secs(120);
    let mut ended = Vec::new();
    for id in &ids {
        let job = loop {
            let (_, job) = get_json(&format!("{api}/api/v0/jobs/{id}")).await;
            if ["completed", "failed", "cancelled"].contains(&job["status"].as_str().unwrap_or_default()) {
                break job;
            }
            assert!(Instant::now() < deadline, "job {id} did not end: {job:#}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        ended.push(job);
    }
    println!("FIGURE 30 jobs through 3 kill -9s: all ended {:?} after the first kill round began", started.elapsed());

    let mut lost = 0;
    for (id, job) in ids.iter().zip(&ended) {
        let (_, logs) = get_json(&format!("{api}/api/v0/jobs/{id}/logs?limit=1000")).await;
        let stdout: Vec<&str> = logs["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["stream"] == "stdout")
            .map(|e| e["message"].as_str().unwrap())
            .collect();
        let (_, events) = get_json(&format!("{api}/api/v0/jobs/{id}/events")).await;
        let starts = events["events"].as_array().unwrap().iter().filter(|e| e["type"] == "job.started").count();
        match (job["status"].as_str(), job["status_reason"].as_str()) {
            (Some("completed"), _) => {
                assert_eq!(stdout, ["start", "end"], "{id} ran once, to its end: {logs:#}");
                assert_eq!(starts, 1, "{id} started once: {events:#}");
            }
            (Some("failed"), Some("runner_lost")) => {
                lost += 1;
                // Its poller died while it ran, or after it ended but before the end was
                // recorded: what it printed is a prefix of one run, never a second run.
                assert!(["start", "end"].starts_with(&stdout), "{id} ran at most once: {stdout:?}");
                assert!(starts <= 1, "{id} was never started again: {events:#}");
            }
            other => panic!("{id} ended {other:?}: {job:#}"),
        }
    }
    println!("FIGURE of {JOBS} jobs: {} completed, {lost} failed runner_lost", JOBS - lost);
    assert!(lost >= 1, "a kill -9 landed while jobs ran, so some must be runner_lost");
    assert!(lost <= 3 * 4, "at most one poller's slots are lost per kill");
}

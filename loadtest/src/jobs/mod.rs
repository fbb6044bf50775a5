//! `canopy-loadtest jobs`: what running jobs costs, on the `local` backend (bubblewrap), in
//! one run, as a table checked against the jobs issue's goals:
//!
//! 1. **submit → running**: jobs (`true`) submitted one at a time to an idle deployment; the
//!    time from the harness having the `POST /api/v0/jobs` answer to the job's `job.started`
//!    event as recorded (its `created_at` in `/events`, the server's clock: same machine), and,
//!    server side only, `job.submitted` → `job.started`. Read from the events, not by polling
//!    (a poll would add its own interval).
//! 2. **throughput**: `--burst` trivial jobs (`true`) submitted at once by `--submitters`
//!    concurrent clients; completed jobs per second from the first POST sent to the last job's
//!    `finished_at`.
//! 3. **log line latency**: a job prints `time.time()` every 100 ms; a follower on
//!    `/logs?follow=true` takes the time each line arrives minus the time printed in it.
//! 4. **cancel**: a job sleeping (its command line carries a marker), `POST .../cancel`, then
//!    the time until no process with the marker is left (scanning `/proc`) and until the job
//!    reads `cancelled`.
//! 5. **fairness and memory**: a second deployment in enterprise mode, split so that the
//!    job-poller is a process of its own (`canopy serve api` + `canopy serve poller`); tenant
//!    `default` (the owner from `init-server`) fills its concurrent quota with sleeping jobs and
//!    queues `--queued` more; tenant `bench-b` (created by the platform operator, as `canopy
//!    create tenant` does) submits single jobs one at a time: submit → `job.started` as in 1.
//!    The poller's resident memory is read from `/proc` idle and with the queue filled.
//!
//! The first deployment is `canopy start` (development mode, no auth) with
//! `CANOPY_JOBS_LOCAL_SLOTS=--slots` and a quota as large as the burst. Each deployment gets a
//! fresh database and NATS prefix, removed at the end (see [`crate::deploy`]).

mod client;

use crate::deploy::{Infra, Leftovers};
use crate::goals::{median, GoalLine as Line};
use crate::process::{memory_kib, pids_with_argument};
use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use client::{JobsClient, Submitted, TERMINAL};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use std::time::{Duration, Instant};

/// The goals.
const GOAL_START_MS: f64 = 15.0;
const GOAL_JOBS_PER_SEC: f64 = 200.0;
const GOAL_LOG_MS: f64 = 50.0;
const GOAL_CANCEL_MS: f64 = 1000.0;
const GOAL_FAIR_START_MS: f64 = 100.0;

#[derive(clap::Args, Clone, Debug)]
pub struct JobsArgs {
    /// Jobs submitted one at a time for submit → running (after 2 not counted).
    #[arg(long, default_value_t = 30)]
    pub starts: usize,
    /// Trivial jobs submitted at once for throughput.
    #[arg(long, default_value_t = 500)]
    pub burst: usize,
    /// Concurrent clients submitting the burst and the queue.
    #[arg(long, default_value_t = 16)]
    pub submitters: usize,
    /// `CANOPY_JOBS_LOCAL_SLOTS` of the first deployment (jobs run at once).
    #[arg(long, default_value_t = 32)]
    pub slots: u32,
    /// How long the burst may take to complete, in seconds.
    #[arg(long, default_value_t = 90)]
    pub burst_seconds: u64,
    /// Lines the logging job prints (one per 100 ms).
    #[arg(long, default_value_t = 50)]
    pub log_lines: usize,
    /// Running jobs cancelled, one at a time.
    #[arg(long, default_value_t = 5)]
    pub cancels: usize,
    /// Jobs the first tenant has queued while the second's run (0: skip fairness and memory).
    /// The figure is 10,000 (about a minute of submits here since 2026-12-07; it took
    /// over 13 minutes before a tenant's ledger writes took turns); the default keeps the run
    /// short.
    #[arg(long, default_value_t = 1_000)]
    pub queued: usize,
    /// The second tenant's jobs, one at a time.
    #[arg(long, default_value_t = 10)]
    pub fair_jobs: usize,
    #[command(flatten)]
    pub env: crate::goals::BenchEnv,
}

/// Runs the benchmark; the table goes to stdout and to `out_dir/jobs-<time>.md`.
pub async fn run(args: JobsArgs, leftovers: Leftovers) -> anyhow::Result<()> {
    if args.starts == 0 || args.burst == 0 || args.submitters == 0 || args.slots == 0 {
        bail!("--starts, --burst, --submitters and --slots must be at least 1");
    }
    let started_at = Utc::now();
    let load_before = crate::load_average();
    let dir = crate::deploy::log_dir(&std::env::temp_dir())?;
    let infra = args.env.infra(&dir, leftovers)?;
    let mut lines = Vec::new();

    eprintln!("jobs: starting canopy (development mode, {} local slots); logs in {}", args.slots, dir.display());
    let quota = args.burst.max(args.slots as usize).to_string();
    let env = [
        ("CANOPY_JOBS_LOCAL_SLOTS", args.slots.to_string()),
        ("CANOPY_JOBS_MAX_CONCURRENT", quota),
        ("CANOPY_JOBS_CREDITS", "unlimited".to_string()),
    ];
    let deployment = infra.start(&[("all", &["start"])], &env).await?;
    let jobs = JobsClient::new(&deployment[0].1, None)?;

    eprintln!("jobs: submit → running, {} jobs one at a time", args.starts);
    let starts = start_latencies(&jobs, args.starts).await?;
    lines.push(Line::distribution(
        "submit → running: POST answered → `job.started` recorded (ms)",
        starts.answered,
        &format!("median < {GOAL_START_MS} ms"),
        |v| median(v) < GOAL_START_MS,
    ));
    lines.push(Line::unjudged(
        "submit → running: `job.submitted` → `job.started`, both recorded (ms)",
        starts.submitted,
    ));
    lines.push(Line::unjudged("… of which `job.submitted` → `job.claimed` (wake-up, claim) (ms)", starts.claimed));

    eprintln!("jobs: log lines, {} printed 100 ms apart", args.log_lines);
    let latencies = log_latencies(&jobs, args.log_lines).await?;
    lines.push(Line::distribution(
        "log line: printed → received by a `/logs?follow=true` follower (ms)",
        latencies,
        &format!("median < {GOAL_LOG_MS} ms"),
        |v| median(v) < GOAL_LOG_MS,
    ));

    eprintln!("jobs: cancel, {} running jobs one at a time", args.cancels);
    let (gone, cancelled) = cancel_latencies(&jobs, args.cancels).await?;
    lines.push(Line::distribution(
        "cancel: POST cancel → the job's processes gone (ms)",
        gone,
        &format!("all < {GOAL_CANCEL_MS} ms"),
        |v| v.last().is_some_and(|max| *max < GOAL_CANCEL_MS),
    ));
    lines.push(Line::distribution(
        "cancel: POST cancel → status `cancelled` (ms)",
        cancelled,
        &format!("all < {GOAL_CANCEL_MS} ms"),
        |v| v.last().is_some_and(|max| *max < GOAL_CANCEL_MS),
    ));

    eprintln!("jobs: throughput, {} jobs at once", args.burst);
    let burst = throughput(&jobs, args.burst, args.submitters, Duration::from_secs(args.burst_seconds)).await?;
    lines.push(Line::figure(
        format!(
            "submit rate: {} POSTs by {} clients (jobs/s); 409 conflicts retried: {}",
            args.burst, args.submitters, burst.conflicts
        ),
        format!("{:.0}", burst.submitted_per_sec),
        "",
        None,
    ));
    lines.push(Line::figure(
        format!(
            "throughput: `true` jobs, first POST → last `finished_at`, {} slots (jobs/s); {} completed, {} failed",
            args.slots, burst.completed, burst.failed
        ),
        format!("{:.1}", burst.completed_per_sec),
        &format!("≥ {GOAL_JOBS_PER_SEC}/s"),
        Some(burst.completed_per_sec >= GOAL_JOBS_PER_SEC && burst.failed == 0),
    ));
    drop(deployment);

    if args.queued > 0 {
        eprintln!("jobs: fairness, enterprise mode, split api + poller; {} queued jobs of tenant default", args.queued);
        lines.extend(fairness(&infra, &args).await?);
    }

    let table = render(&args, started_at, &load_before, &lines);
    args.env.write("jobs", started_at, &table)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// When `kind` was recorded for the job.
async fn event_at(jobs: &JobsClient, id: &str, kind: &str) -> anyhow::Result<DateTime<Utc>> {
    let times = jobs.event_times(id).await?;
    times
        .iter()
        .find(|(k, _)| k == kind)
        .map(|(_, at)| *at)
        .with_context(|| format!("job {id} has no {kind} event: {times:?}"))
}

fn millis(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().map_or(f64::NAN, |us| us as f64 / 1000.0)
}

/// Submits `true` jobs one at a time, each after the previous ended; per job (ms): POST
/// answered → `job.started`, and from the recorded events alone `job.submitted` → `job.started`
/// and its first part, `job.submitted` → `job.claimed` (the wake-up and the claim; the rest is
/// placing the job: its phases, its workspace, starting the sandbox). Two jobs first, not
/// counted.
async fn start_latencies(jobs: &JobsClient, n: usize) -> anyhow::Result<StartLatencies> {
    let mut latencies = StartLatencies::default();
    for i in 0..n + 2 {
        let job = jobs.submit(&format!("start-{i}"), &["true"]).await?;
        let end = jobs.wait_for(&job.id, &TERMINAL, Duration::from_millis(5), Duration::from_secs(30)).await?;
        if end != "completed" {
            bail!("job {} ended {end}: {}", job.id, jobs.get(&job.id).await?);
        }
        let started = event_at(jobs, &job.id, "job.started").await?;
        let submit = event_at(jobs, &job.id, "job.submitted").await?;
        let claimed = event_at(jobs, &job.id, "job.claimed").await?;
        if i >= 2 {
            latencies.answered.push(millis(job.answered, started));
            latencies.submitted.push(millis(submit, started));
            latencies.claimed.push(millis(submit, claimed));
        }
    }
    Ok(latencies)
}

#[derive(Default)]
struct StartLatencies {
    answered: Vec<f64>,
    submitted: Vec<f64>,
    claimed: Vec<f64>,
}

/// One job printing `time.time()` every 100 ms after a second's pause (the follower is
/// connected by then); per line, arrival minus print (ms).
async fn log_latencies(jobs: &JobsClient, lines: usize) -> anyhow::Result<Vec<f64>> {
    let code = format!(
        "import time\ntime.sleep(1)\nfor i in range({lines}):\n    print(repr(time.time()), flush=True)\n    time.sleep(0.1)\n"
    );
    let job = jobs.submit("logs", &["python", "-c", &code]).await?;
    let mut latencies = Vec::new();
    let within = Duration::from_secs(30) + Duration::from_millis(100 * lines as u64);
    let follow = jobs.follow_logs(&job.id, |message, arrived| {
        if let Ok(printed) = message.trim().parse::<f64>() {
            let arrived = arrived.timestamp_micros() as f64 / 1e6;
            latencies.push((arrived - printed) * 1000.0);
        }
    });
    tokio::time::timeout(within, follow).await.context("the log follower did not end")??;
    if latencies.len() != lines {
        eprintln!("jobs: warning: {} of {lines} printed lines reached the follower", latencies.len());
    }
    Ok(latencies)
}

/// Cancels sleeping jobs one at a time; per job, POST cancel → no process left with the job's
/// marker, and → status `cancelled` (ms).
async fn cancel_latencies(jobs: &JobsClient, n: usize) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (mut gone, mut cancelled) = (Vec::new(), Vec::new());
    for i in 0..n {
        let marker = format!("canopy-bench-cancel-{}", uuid::Uuid::new_v4().simple());
        let code = format!("import time\ntime.sleep(600)  # {marker}");
        let job = jobs.submit(&format!("cancel-{i}"), &["python", "-c", &code]).await?;
        jobs.wait_for(&job.id, &["running"], Duration::from_millis(5), Duration::from_secs(30)).await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while pids_with_argument(&marker).is_empty() {
            if Instant::now() > deadline {
                bail!("job {} is running but no process carries its marker", job.id);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let t0 = Instant::now();
        jobs.cancel(&job.id).await?;
        let processes_gone = async {
            while !pids_with_argument(&marker).is_empty() {
                if t0.elapsed() > Duration::from_secs(30) {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Some(t0.elapsed())
        };
        let status = async {
            let end = jobs.wait_for(&job.id, &TERMINAL, Duration::from_millis(5), Duration::from_secs(30)).await;
            end.map(|status| (status, t0.elapsed()))
        };
        let (processes_gone, status) = tokio::join!(processes_gone, status);
        let (status, status_after) = status?;
        if status != "cancelled" {
            bail!("job {} ended {status}, not cancelled", job.id);
        }
        let processes_gone =
            processes_gone.with_context(|| format!("job {}'s processes still run after 30 s", job.id))?;
        gone.push(processes_gone.as_secs_f64() * 1000.0);
        cancelled.push(status_after.as_secs_f64() * 1000.0);
    }
    Ok((gone, cancelled))
}

/// Submits `n` jobs running `command` with `submitters` concurrent clients.
async fn submit_many(
    jobs: &JobsClient,
    name: &str,
    command: &[&str],
    n: usize,
    submitters: usize,
) -> anyhow::Result<Vec<Submitted>> {
    futures::stream::iter(0..n)
        .map(|i| {
            let name = format!("{name}-{i}");
            async move { jobs.submit(&name, command).await }
        })
        .buffer_unordered(submitters)
        .try_collect()
        .await
}

struct Burst {
    submitted_per_sec: f64,
    /// 409 answers retried.
    conflicts: u32,
    completed: usize,
    failed: usize,
    completed_per_sec: f64,
}

/// `n` `true` jobs at once; completed per second from the first POST sent to the last
/// `finished_at` (read from the job list, so the polling interval adds nothing).
async fn throughput(jobs: &JobsClient, n: usize, submitters: usize, within: Duration) -> anyhow::Result<Burst> {
    let first_sent = Utc::now();
    let t0 = Instant::now();
    let submitted = submit_many(jobs, "burst", &["true"], n, submitters).await?;
    let submitted_per_sec = n as f64 / t0.elapsed().as_secs_f64();
    let conflicts = submitted.iter().map(|s| s.conflicts).sum();
    let ours: std::collections::HashSet<String> = submitted.into_iter().map(|s| s.id).collect();
    let deadline = t0 + within;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let mine = |list: Vec<(String, Option<DateTime<Utc>>)>| -> Vec<Option<DateTime<Utc>>> {
            list.into_iter().filter(|(id, _)| ours.contains(id)).map(|(_, at)| at).collect()
        };
        let completed = mine(jobs.list("completed").await?);
        let failed = mine(jobs.list("failed").await?);
        let done = completed.len() + failed.len();
        if done < n && Instant::now() < deadline {
            continue;
        }
        if done < n {
            eprintln!("jobs: warning: only {done} of {n} burst jobs ended within {within:?}");
        }
        let last = completed.iter().chain(&failed).flatten().max().copied().unwrap_or(first_sent);
        let span = millis(first_sent, last) / 1000.0;
        return Ok(Burst {
            submitted_per_sec,
            conflicts,
            completed: completed.len(),
            failed: failed.len(),
            completed_per_sec: if span > 0.0 { completed.len() as f64 / span } else { f64::NAN },
        });
    }
}

/// The second deployment: enterprise mode, `canopy serve api` and `canopy serve poller`, the
/// default quota of 4 concurrent jobs per tenant and 8 local slots.
async fn fairness(infra: &Infra, args: &JobsArgs) -> anyhow::Result<Vec<Line>> {
    const QUOTA: usize = 4;
    let env = [
        ("CANOPY_MODE", "enterprise".to_string()),
        ("CANOPY_JOBS_CREDITS", "unlimited".to_string()),
        ("CANOPY_JOBS_MAX_CONCURRENT", QUOTA.to_string()),
        ("CANOPY_JOBS_LOCAL_SLOTS", (2 * QUOTA).to_string()),
    ];
    let deployment = infra.start(&[("api", &["serve", "api"]), ("poller", &["serve", "poller"])], &env).await?;
    let api = deployment[0].1.clone();
    let poller = deployment[1].0.pid();
    let (owner, operator) = crate::deploy::init_server(&api).await?;
    let tenant: serde_json::Value = reqwest::Client::new()
        .post(format!("{api}/api/v0/tenants"))
        .bearer_auth(&operator)
        .json(&json!({"id": "bench-b", "owner": "bob"}))
        .send()
        .await
        .context("creating tenant bench-b")?
        .json()
        .await?;
    let b_token = tenant["owner_access_token"].as_str().with_context(|| format!("creating bench-b: {tenant}"))?;
    let a = JobsClient::new(&api, Some(owner))?;
    let b = JobsClient::new(&api, Some(b_token.to_string()))?;

    // A warm-up job of B's, then the poller's memory at rest.
    let warm = b.submit("warm-up", &["true"]).await?;
    b.wait_for(&warm.id, &TERMINAL, Duration::from_millis(10), Duration::from_secs(30)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = memory_kib(poller).context("the poller is gone")?;

    // Tenant default: its quota full of sleeping jobs, then the queue.
    let sleepers = submit_many(&a, "sleeper", &["sleep", "600"], QUOTA, QUOTA).await?;
    for job in &sleepers {
        a.wait_for(&job.id, &["running"], Duration::from_millis(10), Duration::from_secs(30)).await?;
    }
    let t0 = Instant::now();
    let queue = submit_many(&a, "queued", &["true"], args.queued, args.submitters).await?;
    let queue_rate = args.queued as f64 / t0.elapsed().as_secs_f64();
    let conflicts: u32 = queue.iter().map(|s| s.conflicts).sum();
    eprintln!("jobs: {} jobs queued at {queue_rate:.0}/s", args.queued);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let queued = memory_kib(poller).context("the poller is gone")?;

    let (mut latencies, mut to_claim) = (Vec::new(), Vec::new());
    for i in 0..args.fair_jobs {
        let job = b.submit(&format!("fair-{i}"), &["true"]).await?;
        b.wait_for(&job.id, &TERMINAL, Duration::from_millis(5), Duration::from_secs(30)).await?;
        latencies.push(millis(job.answered, event_at(&b, &job.id, "job.started").await?));
        to_claim
            .push(millis(event_at(&b, &job.id, "job.submitted").await?, event_at(&b, &job.id, "job.claimed").await?));
    }
    let last = queue.last().context("nothing queued")?;
    let still = a.status(&last.id).await?;
    if still != "queued" {
        eprintln!("jobs: warning: tenant default's last job is {still}, not queued, after tenant bench-b's jobs");
    }
    for job in &sleepers {
        let _ = a.cancel(&job.id).await;
    }
    let mib = |kib: u64| kib as f64 / 1024.0;
    Ok(vec![
        Line::figure(
            format!(
                "submit rate: tenant default's {} queued jobs, {} clients (jobs/s); 409 conflicts retried: {conflicts}",
                args.queued, args.submitters
            ),
            format!("{queue_rate:.0}"),
            "",
            None,
        ),
        Line::distribution(
            format!(
                "fairness: tenant bench-b's job, POST answered → `job.started`, while default has {} queued (ms)",
                args.queued
            ),
            latencies,
            &format!("all < {GOAL_FAIR_START_MS} ms"),
            |v| v.last().is_some_and(|max| *max < GOAL_FAIR_START_MS),
        ),
        Line::unjudged("… of which `job.submitted` → `job.claimed` (wake-up, claim) (ms)", to_claim),
        Line::figure(
            "job-poller resident memory, idle (MiB)",
            format!("{:.1} (peak {:.1})", mib(idle.0), mib(idle.1)),
            "reported",
            None,
        ),
        Line::figure(
            format!("job-poller resident memory, {} queued + {QUOTA} running (MiB)", args.queued),
            format!("{:.1} (peak {:.1})", mib(queued.0), mib(queued.1)),
            "reported",
            None,
        ),
    ])
}

fn render(args: &JobsArgs, started: DateTime<Utc>, load_before: &str, lines: &[Line]) -> String {
    let mut header = crate::goals::header("Canopy jobs benchmark", &args.env.canopy, started, load_before);
    header.push(
        "- backend `local` (bubblewrap), image `python:3.11` (the host's Python); trivial job: command `true`".into(),
    );
    header.push(
        "- times from the jobs' recorded events and `finished_at` (ms precision), see `loadtest/README.md`\n".into(),
    );
    crate::goals::goal_table(&header, lines)
}

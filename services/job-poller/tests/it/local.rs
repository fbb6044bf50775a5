//! The `local` backend on a real sandbox: the seed-like job end to end, what a job can see,
//! its bounds, cancellation of a whole tree, an unknown image, a lost execution, and the
//! figures (submit-to-running latency, cancel time).

use crate::{drain, job_ref, placement, seed_workspace, texts, TempDir};
use canopy_domain::job::FailureReason;
use canopy_domain::ErrorCode;
use canopy_job_poller::backends::{
    Backend, BackendError, ExecutionId, ExecutionStatus, LocalBackend, LocalConfig, LogStream,
};
use std::time::{Duration, Instant};

async fn backend() -> LocalBackend {
    match LocalBackend::new(LocalConfig::default()).await {
        Ok(b) => b,
        Err(e) => panic!("this host must run sandboxes for these tests: {e}"),
    }
}

fn failure_reason(status: &ExecutionStatus) -> Option<FailureReason> {
    match status {
        ExecutionStatus::Failed(f) => Some(f.reason),
        _ => None,
    }
}

#[tokio::test]
async fn a_seed_like_job_runs_streams_its_lines_and_leaves_its_artifacts() {
    let backend = backend().await;
    let dir = TempDir::new("seed");
    let ws = seed_workspace(&dir.0);
    let started = Instant::now();
    let mut execution = backend.start(placement(job_ref("seed"), ws, &["python", "main.py"])).await.expect("start");
    assert_eq!(execution.status().await.unwrap(), ExecutionStatus::Running);
    let mut logs = execution.take_logs().unwrap();
    // The first printed line arrives while the job sleeps, before it ends.
    let mut rest = Vec::new();
    let first_stdout = loop {
        let line =
            tokio::time::timeout(Duration::from_secs(5), logs.recv()).await.expect("a line in time").expect("open");
        if line.stream == LogStream::Stdout {
            break line;
        }
        rest.push(line);
    };
    assert_eq!(first_stdout.text, "read 2 rows");
    assert!(started.elapsed() < Duration::from_millis(1400), "arrived after {:?}", started.elapsed());
    assert_eq!(execution.status().await.unwrap(), ExecutionStatus::Running, "still sleeping");
    while let Some(line) = logs.recv().await {
        rest.push(line);
    }
    let status = execution.wait().await.unwrap();
    assert_eq!(status, ExecutionStatus::Completed { exit_code: 0 }, "{rest:?}");
    assert_eq!(texts(&rest, LogStream::Stdout), ["wrote out.json"]);
    assert_eq!(texts(&rest, LogStream::Stderr), ["a warning on stderr"]);
    let seqs: Vec<u64> = rest.iter().map(|l| l.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]) && !seqs.contains(&first_stdout.seq), "{seqs:?}");
    assert!(texts(&rest, LogStream::Platform).last().unwrap().starts_with("completed"), "{rest:?}");

    let into = TempDir::new("seed-artifacts");
    let collected = execution.collect_artifacts(&into.0).await.expect("artifacts");
    assert_eq!(collected.files.len(), 1, "{collected:?}");
    assert_eq!(collected.files[0].path, "out.json");
    let out: serde_json::Value = serde_json::from_slice(&std::fs::read(into.0.join("out.json")).unwrap()).unwrap();
    assert_eq!(out, serde_json::json!({"rows": 2, "total": 4.0}));
}

#[tokio::test]
async fn scripts_run_by_their_path_too_and_a_failing_command_reports_its_code() {
    let backend = backend().await;
    let dir = TempDir::new("paths");
    let ws = seed_workspace(&dir.0);
    std::fs::write(ws.join("scripts/fail.py"), "import sys\nprint('bye')\nsys.exit(3)\n").unwrap();
    let mut execution =
        backend.start(placement(job_ref("paths"), ws, &["python", "scripts/fail.py"])).await.expect("start");
    let (lines, status) = drain(&mut execution, Duration::from_secs(20)).await;
    assert_eq!(texts(&lines, LogStream::Stdout), ["bye"]);
    assert_eq!(failure_reason(&status), Some(FailureReason::ExitCode), "{status:?}");
    let ExecutionStatus::Failed(failure) = status else { unreachable!() };
    assert_eq!(failure.exit_code, Some(3));
}

#[tokio::test]
async fn a_job_probing_its_sandbox_finds_nothing_of_canopys() {
    // SAFETY: set before the sandbox starts; other tests only read the environment.
    unsafe { std::env::set_var("CANOPY_POLLER_TEST_SECRET", "hunter2-must-not-leak") };
    let backend = backend().await;
    let dir = TempDir::new("probe");
    let ws = seed_workspace(&dir.0);
    let probe = r#"
import os, socket
print("ENV", sorted(os.environ))
print("SECRET", os.environ.get("CANOPY_POLLER_TEST_SECRET"))
print("JOBVAR", os.environ.get("JOB_VAR"))
for port in (5432, 4222, 6379):
    s = socket.socket(); s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port)); print("CONNECTED", port)
    except OSError as e:
        print("refused", port)
try:
    os.listdir("/root"); print("ROOT READABLE")
except OSError:
    print("root unreadable")
try:
    open("/workspace/inputs/new.txt", "w"); print("INPUTS WRITABLE")
except OSError:
    print("inputs read-only")
print("uid", os.getuid())
"#;
    std::fs::write(ws.join("scripts/probe.py"), probe).unwrap();
    let mut p = placement(job_ref("probe"), ws, &["python", "probe.py"]);
    p.env.insert("JOB_VAR".into(), "mine".into());
    let mut execution = backend.start(p).await.expect("start");
    let (lines, status) = drain(&mut execution, Duration::from_secs(20)).await;
    assert_eq!(status, ExecutionStatus::Completed { exit_code: 0 }, "{lines:?}");
    let out = texts(&lines, LogStream::Stdout).join("\n");
    assert!(out.contains("SECRET None"), "{out}");
    assert!(!out.contains("hunter2"), "{out}");
    assert!(!out.contains("CARGO"), "cargo's environment leaked: {out}");
    assert!(out.contains("JOBVAR mine"), "{out}");
    for port in [5432, 4222, 6379] {
        assert!(out.contains(&format!("refused {port}")), "{out}");
    }
    assert!(!out.contains("CONNECTED"), "{out}");
    assert!(out.contains("root unreadable"), "{out}");
    assert!(out.contains("inputs read-only"), "{out}");
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        assert!(out.contains("uid 65534"), "unprivileged: {out}");
    }
}

#[tokio::test]
async fn a_job_past_its_wall_time_fails_with_reason_timeout() {
    let backend = backend().await;
    let dir = TempDir::new("timeout");
    let ws = seed_workspace(&dir.0);
    let mut p = placement(
        job_ref("timeout"),
        ws,
        &["python", "-c", "import time; print('sleeping', flush=True); time.sleep(60)"],
    );
    p.limits.wall = Duration::from_secs(1);
    let started = Instant::now();
    let mut execution = backend.start(p).await.expect("start");
    let (lines, status) = drain(&mut execution, Duration::from_secs(10)).await;
    assert_eq!(failure_reason(&status), Some(FailureReason::Timeout), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(texts(&lines, LogStream::Stdout), ["sleeping"]);
}

/// Host pids whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
        .collect()
}

#[tokio::test]
async fn cancel_ends_the_whole_tree_within_a_second() {
    let backend = backend().await;
    let dir = TempDir::new("cancel");
    let ws = seed_workspace(&dir.0);
    // Children, a grandchild in a session of its own and one ignoring SIGTERM.
    let tree = "import subprocess, time\n\
                subprocess.Popen(['sleep', '300.6161'])\n\
                subprocess.Popen(['setsid', 'sleep', '301.6161'])\n\
                subprocess.Popen(['sh', '-c', 'trap \"\" TERM; sleep 302.6161'])\n\
                print('tree up', flush=True)\n\
                time.sleep(300)\n";
    let mut execution = backend.start(placement(job_ref("cancel"), ws, &["python", "-c", tree])).await.expect("start");
    let mut logs = execution.take_logs().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while processes_with(".6161").len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(processes_with(".6161").len() >= 3, "the tree started");
    let cancelled = Instant::now();
    execution.cancel().await.unwrap();
    let status = execution.wait().await.unwrap();
    let took = cancelled.elapsed();
    assert_eq!(status, ExecutionStatus::Cancelled);
    assert_eq!(processes_with(".6161"), Vec::<u32>::new(), "no process left behind");
    println!("FIGURE local cancel: whole tree ended {took:?} after cancel()");
    assert!(took < Duration::from_secs(1), "{took:?}");
    while let Some(line) = logs.recv().await {
        if line.stream == LogStream::Platform && line.text.starts_with("cancelled") {
            return;
        }
    }
    panic!("no platform line said it was cancelled");
}

#[tokio::test]
async fn an_unknown_image_is_an_invalid_request_naming_the_images_that_run() {
    let backend = backend().await;
    let dir = TempDir::new("image");
    let ws = seed_workspace(&dir.0);
    let mut p = placement(job_ref("image"), ws, &["python", "infer.py"]);
    p.image = "pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime".into();
    let error = backend.start(p).await.expect_err("refused");
    assert!(matches!(error, BackendError::Image(_)), "{error:?}");
    assert_eq!(error.error_code(), Some(ErrorCode::InvalidRequest));
    let text = error.to_string();
    assert!(text.contains("pytorch/pytorch:2.4.0") && text.contains("python:3*"), "{text}");
    assert!(backend.check_image("python:3.11").is_ok());
}

#[tokio::test]
async fn an_execution_of_a_dead_poller_is_reported_lost() {
    let backend = backend().await;
    let job = job_ref("lost");
    let id = ExecutionId::for_attempt(&job);
    let mut execution = backend.attach(&job, &id).await.expect("attach");
    let (lines, status) = drain(&mut execution, Duration::from_secs(1)).await;
    assert_eq!(failure_reason(&status), Some(FailureReason::RunnerLost), "{status:?}");
    assert!(lines[0].text.contains("job-poller process that started it"), "{lines:?}");
}

#[tokio::test]
async fn slots_bound_the_jobs_running_at_once() {
    let config = LocalConfig { slots: 1, ..LocalConfig::default() };
    let backend = LocalBackend::new(config).await.expect("backend");
    let dir = TempDir::new("slots");
    let ws = seed_workspace(&dir.0);
    let ws2 = dir.0.join("ws2");
    canopy_job_poller::backends::prepare_layout(&ws2).unwrap();
    let first = backend.start(placement(job_ref("slots"), ws, &["sleep", "5"])).await.expect("start");
    assert_eq!(backend.capacity().await.free_slots, 0);
    let refused = backend.start(placement(job_ref("slots2"), ws2, &["true"])).await.expect_err("no room");
    assert!(matches!(refused, BackendError::NoCapacity { .. }), "{refused:?}");
    first.cancel().await.unwrap();
    first.wait().await.unwrap();
    assert_eq!(backend.capacity().await.free_slots, 1);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Not a bound but a figure: `cargo test -p canopy-job-poller figures -- --nocapture`.
#[tokio::test]
async fn figures_submit_to_running_latency() {
    let backend = backend().await;
    let dir = TempDir::new("latency");
    let (mut to_running, mut to_first_line, mut to_python_line) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..20 {
        for (command, times) in [
            (&["sh", "-c", "echo up"][..], &mut to_first_line),
            (&["python", "-c", "print('up')"][..], &mut to_python_line),
        ] {
            let ws = dir.0.join(format!("ws-{i}-{}", command[0]));
            canopy_job_poller::backends::prepare_layout(&ws).unwrap();
            let started = Instant::now();
            let mut execution = backend.start(placement(job_ref("latency"), ws, command)).await.expect("start");
            if command[0] == "sh" {
                to_running.push(started.elapsed());
            }
            let mut logs = execution.take_logs().unwrap();
            while let Some(line) = logs.recv().await {
                if line.stream == LogStream::Stdout {
                    times.push(started.elapsed());
                    break;
                }
            }
            execution.wait().await.unwrap();
        }
    }
    println!(
        "FIGURE local, median of 20: start() returns (sandbox spawned, status running) {:?}; \
         first line of `sh -c 'echo up'` {:?}; of `python -c print` {:?}",
        median(to_running),
        median(to_first_line),
        median(to_python_line)
    );
}

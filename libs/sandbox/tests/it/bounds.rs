//! Each bound, broken on purpose: the sandbox stops (or the operation fails) with the
//! reason, and the host is unaffected.

use crate::{python, run, sandbox, sh, TempDir};
use canopy_sandbox::{OutputPolicy, Reason};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_busy_loop_is_stopped_at_the_timeout() {
    let mut spec = sh("while :; do :; done");
    spec.limits.wall = Duration::from_millis(1500);
    let started = Instant::now();
    let ran = run(&spec).await;
    let took = started.elapsed();
    assert_eq!(ran.outcome.reason, Reason::Timeout);
    assert!(took < Duration::from_millis(2500), "within timeout + 1 s: {took:?}");
}

#[tokio::test]
async fn a_fork_bomb_is_contained() {
    let sandbox = sandbox().await;
    let mut spec = sh(":(){ :|:& };:; sleep 100");
    spec.command = vec!["/bin/bash".into(), "-c".into(), ":(){ :|:& };:; sleep 100".into()];
    spec.limits.processes = Some(32);
    spec.limits.wall = Duration::from_secs(3);
    let running = sandbox.spawn(&spec).unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // While it rages, the host still forks.
    let host = std::process::Command::new("true").status().expect("the host can still fork");
    assert!(host.success());
    let outcome = running.wait().await;
    assert!(matches!(outcome.reason, Reason::Timeout | Reason::Exited), "{outcome:?}");
    if sandbox.support().processes.starts_with("cgroup") {
        assert!(outcome.processes_refused > 0, "the pids cgroup refused forks: {outcome:?}");
    }
    assert!(outcome.wall < Duration::from_secs(5), "{outcome:?}");
}

#[tokio::test]
async fn allocating_past_the_memory_bound_ends_in_oom() {
    let sandbox = sandbox().await;
    let mut spec = python("b = b'x' * (2 << 30)\nprint('allocated', len(b))");
    spec.limits.memory_bytes = Some(128 << 20);
    let ran = run(&spec).await;
    assert!(!ran.stdout.contains("allocated"), "{}", ran.stdout);
    if sandbox.support().memory.starts_with("cgroup") {
        assert_eq!(ran.outcome.reason, Reason::Oom, "{:?} {}", ran.outcome, ran.stderr);
        let peak = ran.outcome.peak_memory_bytes.unwrap_or(0);
        assert!(peak > 0 && peak <= 130 << 20, "peak {peak}");
    } else {
        assert!(ran.stderr.contains("MemoryError"), "{}", ran.stderr);
    }
}

#[tokio::test]
async fn a_file_past_the_size_bound_is_cut() {
    let dir = TempDir::new("fsize");
    let mut spec = dir.job_spec(&[
        "python3",
        "-I",
        "-c",
        "f = open('/workspace/big', 'wb')\nfor _ in range(64):\n    f.write(b'0' * (1 << 20)); f.flush()\n",
    ]);
    spec.limits.file_size_bytes = Some(8 << 20);
    let ran = run(&spec).await;
    assert!(!ran.outcome.success(), "{:?}", ran.outcome);
    assert!(ran.stderr.contains("File too large"), "{}", ran.stderr);
    let size = std::fs::metadata(dir.0.join("ws/big")).unwrap().len();
    assert!(size <= 8 << 20, "{size}");
}

#[tokio::test]
async fn a_workspace_past_the_disk_bound_is_stopped() {
    let dir = TempDir::new("disk");
    let mut spec = dir.job_spec(&[
        "/bin/sh",
        "-c",
        "i=0; while :; do head -c 4000000 /dev/zero > f$i; i=$((i+1)); sleep 0.05; done",
    ]);
    spec.limits.workspace_bytes = Some(20 << 20);
    spec.limits.wall = Duration::from_secs(20);
    let ran = run(&spec).await;
    assert_eq!(ran.outcome.reason, Reason::DiskLimit, "{:?}", ran.outcome);
    let files = std::fs::read_dir(dir.0.join("ws")).unwrap().count();
    assert!(files <= 12, "stopped soon after 20 MiB: {files} entries");
}

#[tokio::test]
async fn tmp_is_bounded() {
    let mut spec = sh("head -c 50000000 /dev/zero > /tmp/fill; echo status $?; df -k /tmp | tail -1");
    spec.tmp_size_bytes = 16 << 20;
    let ran = run(&spec).await;
    assert!(ran.stderr.contains("No space left"), "{} {}", ran.stdout, ran.stderr);
}

#[tokio::test]
async fn printing_without_end_is_stopped_at_the_output_bound() {
    let mut spec = SandboxSpec::new(["yes"]);
    spec.limits.output_bytes = 64 << 10;
    let ran = run(&spec).await;
    assert_eq!(ran.outcome.reason, Reason::OutputLimit, "{:?}", ran.outcome);
    assert_eq!(ran.outcome.output_bytes, 64 << 10);
    assert_eq!(ran.stdout.len(), 64 << 10);
}

#[tokio::test]
async fn output_past_the_bound_can_be_truncated_instead() {
    let mut spec = sh("head -c 1000000 /dev/zero | tr '\\0' x; echo; echo done >&2");
    spec.limits.output_bytes = 1000;
    spec.limits.output_policy = OutputPolicy::Truncate;
    let ran = run(&spec).await;
    assert!(ran.outcome.success(), "{:?}", ran.outcome);
    assert!(ran.outcome.output_truncated);
    assert_eq!(ran.outcome.output_bytes, 1000);
    assert!(!ran.stderr.contains("done"), "past the bound nothing is kept");
}

use canopy_sandbox::SandboxSpec;

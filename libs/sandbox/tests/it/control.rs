//! Process control: output arrives as printed, a kill leaves nothing behind, and the cost
//! of starting a sandbox.

use crate::{run, sandbox, sh};
use canopy_sandbox::{Reason, SandboxSpec};
use std::time::{Duration, Instant};

#[tokio::test]
async fn output_is_streamed_while_the_command_runs() {
    let sandbox = sandbox().await;
    let mut running = sandbox.spawn(&sh("echo first; sleep 2; echo second")).unwrap();
    let mut output = running.output().unwrap();
    let first = tokio::time::timeout(Duration::from_secs(1), output.recv()).await.expect("first line before the end");
    let first = first.expect("a chunk");
    assert_eq!(first.bytes, b"first\n");
    assert!(first.at < Duration::from_secs(1), "{:?}", first.at);
    let second = output.recv().await.unwrap();
    assert_eq!(second.bytes, b"second\n");
    assert!(second.at >= Duration::from_secs(2));
    assert!(running.wait().await.success());
}

/// Host pids of `sleep` processes whose arguments contain `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.starts_with(b"sleep\0") && String::from_utf8_lossy(&c).contains(marker))
        })
        .collect()
}

#[tokio::test]
async fn kill_ends_the_whole_tree() {
    let sandbox = sandbox().await;
    // Children, a daemonized grandchild and one ignoring SIGTERM.
    let script = "sleep 300.4242 & (setsid sleep 301.4242 &) ; sh -c 'trap \"\" TERM; sleep 302.4242' & wait";
    let running = sandbox.spawn(&sh(script)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while processes_with(".4242").len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(processes_with(".4242").len(), 3, "the tree started");
    let killed = Instant::now();
    running.kill();
    let outcome = running.wait().await;
    assert!(killed.elapsed() < Duration::from_secs(1), "{:?}", killed.elapsed());
    assert_eq!(outcome.reason, Reason::Killed);
    assert_eq!(processes_with(".4242"), Vec::<u32>::new(), "no process left behind");
}

#[tokio::test]
async fn dropping_the_handle_kills_the_sandbox() {
    let sandbox = sandbox().await;
    let running = sandbox.spawn(&sh("sleep 303.4343")).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(processes_with("303.4343").len(), 1);
    drop(running);
    let deadline = Instant::now() + Duration::from_secs(2);
    while !processes_with("303.4343").is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(processes_with("303.4343").is_empty());
}

/// The sandbox is killed when Canopy dies (its parent-death signal), and "parent" is the
/// thread that created it to the kernel: a sandbox started from a thread that then ends (one of
/// tokio's blocking pool, after 10 s without work) must live on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_thread_that_spawned_may_end_first() {
    let sandbox = sandbox().await;
    let runtime = tokio::runtime::Handle::current();
    let spawned = std::thread::spawn(move || {
        let _entered = runtime.enter();
        sandbox.spawn(&sh("sleep 0.5; echo still here")).unwrap()
    })
    .join()
    .unwrap();
    let mut spawned = spawned;
    let mut output = spawned.output().unwrap();
    let outcome = spawned.wait().await;
    assert!(outcome.success(), "{outcome:?}");
    assert_eq!(output.recv().await.map(|c| c.bytes), Some(b"still here\n".to_vec()));
}

#[tokio::test]
async fn an_unreachable_bind_is_refused_before_anything_runs() {
    let sandbox = sandbox().await;
    let mut spec = SandboxSpec::new(["true"]);
    spec.binds.push(canopy_sandbox::Bind::read_only("/nonexistent/canopy", "/x"));
    assert!(sandbox.spawn(&spec).is_err());
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn time_sandboxed(command: &[&str], runs: usize) -> Duration {
    let sandbox = sandbox().await;
    let mut times = Vec::new();
    for _ in 0..runs {
        let spec = SandboxSpec::new(command.iter().copied());
        let started = Instant::now();
        let running = sandbox.spawn(&spec).unwrap();
        let outcome = running.wait().await;
        times.push(started.elapsed());
        assert!(outcome.success(), "{outcome:?}");
    }
    median(times)
}

fn time_direct(command: &[&str], runs: usize) -> Duration {
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let status = std::process::Command::new(command[0]).args(&command[1..]).status().unwrap();
        times.push(started.elapsed());
        assert!(status.success());
    }
    median(times)
}

/// Not a bound but a figure: `cargo test -p canopy-sandbox startup -- --nocapture`.
#[tokio::test]
async fn startup_overhead() {
    let runs = 20;
    let t_sandbox = time_sandboxed(&["true"], runs).await;
    let t_direct = time_direct(&["/usr/bin/true"], runs);
    let p_sandbox = time_sandboxed(&["python3", "-I", "-c", "pass"], runs).await;
    let p_direct = time_direct(&["/usr/bin/python3", "-I", "-c", "pass"], runs);
    println!(
        "startup, median of {runs}: true {t_direct:?} direct, {t_sandbox:?} sandboxed; python3 -I -c pass {p_direct:?} direct, {p_sandbox:?} sandboxed"
    );
    assert!(p_sandbox < Duration::from_millis(500));
    let _ = run;
}

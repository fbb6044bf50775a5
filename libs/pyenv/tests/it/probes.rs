//! Issue 12's "Bad input, faults, isolation" probes that apply to the engine: each tries
//! an escape or an overrun from code run in an environment and asserts it was contained.

use crate::{engine, env, run, run_t, still_usable};
use canopy_pyenv::EndReason;

#[tokio::test]
async fn canopys_environment_the_hosts_home_and_proc_are_not_visible() {
    // SAFETY: set before the sandbox starts; other tests only read the environment.
    unsafe { std::env::set_var("CANOPY_PYENV_TEST_SECRET", "hunter2-pyenv-secret") };
    let e = engine("secrets").await;
    let a = env(&e, "probe").await;
    let code = r#"
import os, glob
print("ENV", sorted(os.environ))
print("SECRET" if any("hunter2" in v for v in os.environ.values()) else "no-secret")
for p in ["/root", "/home", os.path.expanduser("~root"), "/etc/shadow", "/work"]:
    print(p, "EXISTS" if os.path.exists(p) else "absent")
pids = [d for d in os.listdir("/proc") if d.isdigit()]
print("PIDS", len(pids))
blob = b""
for f in glob.glob("/proc/*/environ"):
    try: blob += open(f, "rb").read()
    except OSError: pass
print("PROC-SECRET" if b"hunter2" in blob else "proc-clean")
print("UID", os.getuid())
"#;
    let out = run(&e, &a, code).await;
    assert!(out.success, "{out:?}");
    assert!(out.stdout.contains("no-secret") && out.stdout.contains("proc-clean"), "{}", out.stdout);
    assert!(!out.stdout.contains("CANOPY_PYENV_TEST_SECRET") && !out.stdout.contains("CARGO"), "{}", out.stdout);
    for p in ["/root", "/home", "/etc/shadow", "/work"] {
        assert!(out.stdout.contains(&format!("{p} absent")), "{p}: {}", out.stdout);
    }
    let pids: usize = out.stdout.split("PIDS ").nth(1).unwrap().lines().next().unwrap().trim().parse().unwrap();
    assert!(pids <= 4, "only the sandbox's own processes: {pids}");
    assert!(out.stdout.contains("UID 65534"), "{}", out.stdout);
}

#[tokio::test]
async fn another_environments_workspace_is_not_reachable() {
    let e = engine("neighbour").await;
    let a = env(&e, "a").await;
    let b = env(&e, "b").await;
    e.write_file(&b, "secret.txt", b"b-only").unwrap();
    let b_ws = e.get(&b).unwrap().workspace_dir;
    let code = format!(
        "import os\nfor p in [{:?}, '/workspace/../', '/venv/..']:\n    print(p, os.listdir(p) if os.path.isdir(p) else 'absent')\nprint(open({:?}).read() if os.path.exists({:?}) else 'no-file')",
        b_ws.display().to_string(),
        b_ws.join("secret.txt").display().to_string(),
        b_ws.join("secret.txt").display().to_string()
    );
    let out = run(&e, &a, &code).await;
    assert!(!out.stdout.contains("b-only") && out.stdout.contains("no-file"), "{out:?}");
    assert!(!out.stdout.contains("secret.txt"), "{}", out.stdout);
    // Through the engine: a's workspace ops cannot name b's files.
    assert!(e.read_file(&a, &format!("../{}/workspace/secret.txt", b.as_str())).is_err());
    assert!(e.read_file(&a, &b_ws.join("secret.txt").display().to_string()).is_err());
}

#[tokio::test]
async fn loopback_services_postgres_redis_nats_are_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ours = listener.local_addr().unwrap().port();
    let e = engine("loopback").await;
    let a = env(&e, "net").await;
    let code = format!(
        "import socket\nfor p in ({ours}, 5432, 6379, 4222):\n    s = socket.socket(); s.settimeout(1)\n    try:\n        s.connect(('127.0.0.1', p)); print('CONNECTED', p)\n    except OSError as e:\n        print('refused', p)\ntry:\n    socket.create_connection(('pypi.org', 443), timeout=2); print('EGRESS')\nexcept OSError:\n    print('no-egress')\n"
    );
    let out = run(&e, &a, &code).await;
    assert!(out.success, "{out:?}");
    assert!(!out.stdout.contains("CONNECTED") && !out.stdout.contains("EGRESS"), "{}", out.stdout);
    for port in [ours, 5432, 6379, 4222] {
        assert!(out.stdout.contains(&format!("refused {port}")), "{}", out.stdout);
    }
    assert!(std::net::TcpStream::connect(("127.0.0.1", ours)).is_ok(), "the host itself reaches its listener");
}

#[tokio::test]
async fn a_busy_loop_times_out_and_the_environment_stays_usable() {
    let e = engine("busy").await;
    let a = env(&e, "busy").await;
    let out = run_t(&e, &a, "print('start', flush=True)\nwhile True: pass", 2).await;
    assert_eq!(out.reason, EndReason::Timeout, "{out:?}");
    assert!(!out.success && out.stdout.contains("start"));
    assert!(out.duration_ms < 5000, "{out:?}");
    let err = e.run_code(&a, "pass", None, Some(100_000), None).await.unwrap_err();
    assert!(err.to_string().starts_with("timeout_seconds 100000"), "{err}");
    still_usable(&e, &a).await;
}

#[tokio::test]
async fn a_fork_bomb_is_contained() {
    let e = engine("forkbomb").await;
    let a = env(&e, "bomb").await;
    let out = run_t(&e, &a, "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass", 3).await;
    assert!(!out.success, "{out:?}");
    assert!(matches!(out.reason, EndReason::Timeout | EndReason::Oom), "{out:?}");
    assert!(out.processes_refused > 0 || out.reason == EndReason::Oom, "the pids bound refused forks: {out:?}");
    still_usable(&e, &a).await;
}

#[tokio::test]
async fn allocating_far_past_the_memory_bound_is_stopped() {
    let e = engine("oom").await;
    let a = env(&e, "mem").await;
    // 64 GiB asked in 256 MiB steps (touched), against a 256 MiB bound.
    let code = "blocks = []\nfor i in range(256):\n    blocks.append(bytearray(256 << 20))\nprint('ALLOCATED 64 GiB')";
    let out = run_t(&e, &a, code, 20).await;
    assert!(!out.success && !out.stdout.contains("ALLOCATED"), "{out:?}");
    assert!(out.reason == EndReason::Oom || out.stderr.contains("MemoryError"), "{out:?}");
    still_usable(&e, &a).await;
}

#[tokio::test]
async fn writing_past_the_disk_quota_is_stopped() {
    let e = engine("disk").await;
    let a = env(&e, "disk").await;
    // 10 GiB asked, against a 32 MiB workspace quota.
    let code = "chunk = b'x' * (1 << 20)\nwith open('/workspace/big.bin', 'wb') as f:\n    for i in range(10240):\n        f.write(chunk)\nprint('WROTE 10 GiB')";
    let out = run_t(&e, &a, code, 30).await;
    assert!(!out.success && !out.stdout.contains("WROTE"), "{out:?}");
    assert!(
        matches!(out.reason, EndReason::DiskLimit)
            || out.stderr.contains("File too large")
            || out.exit_code == Some(153),
        "{out:?}"
    );
    let used = e.workspace_usage(&a).unwrap();
    assert!(used.bytes < 200 << 20, "the workspace stayed near its quota: {used:?}");
    // The engine refuses writes past the quota too.
    e.delete_file(&a, "big.bin").unwrap();
    let err = e.write_file(&a, "huge.txt", &vec![b'x'; 40 << 20]).unwrap_err();
    assert!(err.to_string().starts_with("content:") && err.to_string().contains("quota"), "{err}");
    still_usable(&e, &a).await;
}

#[tokio::test]
async fn printing_without_end_stops_at_the_output_limit() {
    let e = engine("print").await;
    let a = env(&e, "print").await;
    let out = run_t(&e, &a, "while True: print('spam' * 100)", 20).await;
    assert_eq!(out.reason, EndReason::OutputLimit, "{:?}", (out.reason, out.duration_ms));
    assert!(out.output_truncated && out.stdout.len() <= 256 << 10, "{}", out.stdout.len());
    still_usable(&e, &a).await;
}

#[tokio::test]
async fn output_reaches_the_caller_as_it_is_printed() {
    let e = engine("stream").await;
    let a = env(&e, "stream").await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let code = "import time\nprint('first', flush=True)\ntime.sleep(1)\nprint('second')";
    let engine = e.engine.clone();
    let a2 = a.clone();
    let task = tokio::spawn(async move { engine.run_code(&a2, code, None, None, Some(tx)).await });
    let first = tokio::time::timeout(std::time::Duration::from_millis(900), rx.recv()).await;
    let chunk = first.expect("the first line arrives before the run ends").expect("chunk");
    assert_eq!(String::from_utf8_lossy(&chunk.bytes), "first\n");
    let out = task.await.unwrap().unwrap();
    assert_eq!(out.stdout, "first\nsecond\n");
}

//! What a sandbox must not see or reach: the host's environment, files, processes and
//! loopback services; and where it must not write.

use crate::{python, run, sh, TempDir};
use canopy_sandbox::Reason;

#[tokio::test]
async fn the_hosts_environment_is_not_visible() {
    // SAFETY: set before any sandbox of this test starts; other tests only read the environment.
    unsafe { std::env::set_var("CANOPY_TEST_SECRET", "hunter2-do-not-leak") };
    let mut spec = sh("env; echo; cat /proc/self/environ; echo; cat /proc/1/environ; echo; cat /proc/*/environ");
    spec.env.insert("JOB_VALUE".into(), "visible".into());
    let ran = run(&spec).await;
    assert!(ran.outcome.success() || ran.outcome.reason == Reason::Exited, "{:?}", ran.outcome);
    assert!(ran.stdout.contains("JOB_VALUE=visible"), "the spec's env is there: {}", ran.stdout);
    assert!(!ran.stdout.contains("hunter2") && !ran.stderr.contains("hunter2"), "host secret leaked: {}", ran.stdout);
    assert!(!ran.stdout.contains("CARGO"), "cargo's env leaked: {}", ran.stdout);
}

#[tokio::test]
async fn host_files_outside_the_binds_are_not_visible() {
    let dir = TempDir::new("marker");
    let marker = dir.0.join("marker.txt");
    std::fs::write(&marker, "host-only-marker").unwrap();
    let script = format!(
        "cat {m}; ls {d}; ls -a /root; ls /; cat /etc/shadow; cat /etc/passwd; ls /var /home /opt /sys/fs/cgroup",
        m = marker.display(),
        d = dir.0.display()
    );
    let ran = run(&sh(&script)).await;
    assert!(!ran.stdout.contains("host-only-marker"), "{}", ran.stdout);
    assert!(ran.stderr.contains("marker.txt: No such file"), "{}", ran.stderr);
    assert!(ran.stderr.contains("/root': No such file"), "{}", ran.stderr);
    assert!(ran.stderr.contains("/etc/shadow: No such file"), "{}", ran.stderr);
    let root: Vec<&str> = ran.stdout.lines().take_while(|l| !l.contains(':')).collect();
    for entry in &root {
        assert!(
            ["bin", "dev", "etc", "lib", "lib64", "proc", "sbin", "tmp", "usr", "lib32", "libx32"].contains(entry),
            "unexpected /{entry}"
        );
    }
    assert!(ran.stdout.contains("sandbox:x:65534:65534"), "only the sandbox user in /etc/passwd: {}", ran.stdout);
    assert!(!ran.stdout.contains("root:x:0"), "{}", ran.stdout);
}

#[tokio::test]
async fn the_hosts_processes_are_not_visible() {
    let ran = run(&sh("ls /proc | grep -E '^[0-9]+$'; id")).await;
    let pids: Vec<u32> = ran.stdout.lines().filter_map(|l| l.trim().parse().ok()).collect();
    assert!(!pids.is_empty() && pids.len() <= 5, "only the sandbox's own processes: {pids:?}");
    assert!(pids.iter().all(|&p| p < 100), "pids of a fresh namespace: {pids:?}");
    assert!(ran.stdout.contains("uid=65534"), "unprivileged inside: {}", ran.stdout);
    let host = std::fs::read_dir("/proc")
        .unwrap()
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok()))
        .count();
    assert!(host > pids.len(), "the host has more processes ({host}) than the sandbox sees");
}

#[tokio::test]
async fn loopback_services_of_the_host_are_unreachable() {
    // A listener of our own proves the host's loopback works; the usual services too, if up.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ours = listener.local_addr().unwrap().port();
    let code = format!(
        "import socket\nfor p in ({ours}, 5432, 6379, 4222):\n    s = socket.socket(); s.settimeout(1)\n    try:\n        s.connect(('127.0.0.1', p)); print('CONNECTED', p)\n    except OSError as e:\n        print('refused', p, e.errno)\n"
    );
    let ran = run(&python(&code)).await;
    assert!(ran.outcome.success(), "{:?} {}", ran.outcome, ran.stderr);
    assert!(!ran.stdout.contains("CONNECTED"), "{}", ran.stdout);
    for port in [ours, 5432, 6379, 4222] {
        assert!(ran.stdout.contains(&format!("refused {port}")), "{}", ran.stdout);
    }
    assert!(std::net::TcpStream::connect(("127.0.0.1", ours)).is_ok(), "the host itself reaches it");
    let bash = run(&sh("exec 3<>/dev/tcp/127.0.0.1/5432 && echo CONNECTED")).await;
    assert!(!bash.stdout.contains("CONNECTED"));
}

#[tokio::test]
async fn writes_outside_the_workspace_fail_and_inputs_are_read_only() {
    let dir = TempDir::new("writes");
    let script = "for f in /usr/x /etc/x /x /proc/x /workspace/inputs/x /workspace/inputs/data.csv; do \
                  (echo pwned > $f) 2>/dev/null && echo WROTE $f; done; \
                  cat /workspace/inputs/data.csv; echo artifact > /workspace/artifacts/out.txt && echo ok-artifact; \
                  echo tmp > /tmp/t && echo ok-tmp; pwd";
    let spec = dir.job_spec(&["/bin/sh", "-c", script]);
    std::fs::write(dir.0.join("inputs/data.csv"), "a,b\n").unwrap();
    let ran = run(&spec).await;
    assert!(!ran.stdout.contains("WROTE"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("a,b") && ran.stdout.contains("ok-artifact") && ran.stdout.contains("ok-tmp"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.trim_end().ends_with("/workspace"), "starts in the workspace: {}", ran.stdout);
    assert_eq!(std::fs::read_to_string(dir.0.join("ws/artifacts/out.txt")).unwrap(), "artifact\n");
    assert_eq!(std::fs::read_to_string(dir.0.join("inputs/data.csv")).unwrap(), "a,b\n");
}

#[tokio::test]
async fn nested_user_namespaces_are_refused() {
    let ran = run(&sh("unshare --user --map-root-user id && echo ESCAPED")).await;
    assert!(!ran.stdout.contains("ESCAPED"), "{} {}", ran.stdout, ran.stderr);
}

//! Spawned processes: a process group that forks is killed whole; processes end with
//! their environment and stay listed with their reason.

use crate::{engine, env};
use canopy_pyenv::{EndReason, SpawnRequest};
use std::time::Duration;

fn host_pids_of_sandbox_uid() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.contains("canopy-pyenv-forker"))
        })
        .collect()
}

#[tokio::test]
async fn kill_process_ends_its_children_too() {
    let e = engine("kill").await;
    let a = env(&e, "k").await;
    e.write_file(&a, "canopy-pyenv-forker.py", b"import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        os.setsid()\n        break\nprint('up', flush=True)\ntime.sleep(120)\n").unwrap();
    let p = e
        .spawn_process(
            &a,
            SpawnRequest {
                script_path: "canopy-pyenv-forker.py".into(),
                name: Some("forker".into()),
                capture_output: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(host_pids_of_sandbox_uid().len() >= 4, "the script and its 3 children run");
    assert_eq!(e.process_output(&p.id, Some(10)).unwrap().lines.len(), 4);
    let listed = e.list_processes();
    assert!(listed[0].running && listed[0].name == "forker");
    e.kill_process(&p.id).await.unwrap();
    assert!(host_pids_of_sandbox_uid().is_empty(), "no process left in /proc (setsid children included)");
    assert_eq!(e.list_processes()[0].reason, Some(EndReason::Killed));
}

#[tokio::test]
async fn processes_end_with_their_environment_and_exits_are_listed() {
    let e = engine("procenv").await;
    let a = env(&e, "p").await;
    e.write_file(&a, "quick.py", b"import sys\nprint('bye')\nsys.exit(7)\n").unwrap();
    e.write_file(&a, "slow.py", b"import time\ntime.sleep(120)\n").unwrap();
    let quick = e
        .spawn_process(&a, SpawnRequest { script_path: "quick.py".into(), capture_output: true, ..Default::default() })
        .await
        .unwrap();
    let slow = e
        .spawn_process(&a, SpawnRequest { script_path: "slow.py".into(), capture_output: false, ..Default::default() })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let q = e.process_info(&quick.id).unwrap();
    assert_eq!((q.running, q.exit_code, q.reason), (false, Some(7), Some(EndReason::Exited)), "{q:?}");
    assert!(e.process_output(&slow.id, None).unwrap_err().to_string().contains("capture_output=false"));
    let err = e
        .spawn_process(&a, SpawnRequest { script_path: "/etc/passwd".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("script_path"), "{err}");
    e.destroy(&a).await.unwrap();
    assert!(!std::path::Path::new(&format!("/proc/{}", slow.pid)).exists(), "ended with its environment");
    assert!(e.list_processes().is_empty());
}

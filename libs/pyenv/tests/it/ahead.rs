//! `run_code`'s runner started ahead (see `run.rs`): a later run is served by a sandbox that
//! was waiting for it, with the same answers as a run started then: its output, `input_json`,
//! its own time bound counted from its start (not from when the runner was made), and a fresh
//! process each time (nothing of a run is seen by the next).

use crate::{engine, env, run, run_t};
use std::time::Duration;

/// How long the process that ran the code had been alive when it ran it (s).
const AGE: &str = "import os\nstart = int(open('/proc/self/stat').read().rsplit(')', 1)[1].split()[19]) / os.sysconf('SC_CLK_TCK')\nprint(round(float(open('/proc/uptime').read().split()[0]) - start, 2))";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_run_takes_a_runner_started_ahead_with_the_same_answers() {
    let e = engine("ahead").await;
    let a = env(&e, "ahead").await;
    assert!(run(&e, &a, "print(1)").await.success);
    // The runner for the next run waits meanwhile: the code runs in a process older than it
    // (2 s of wait, of which its start may take a good part on a loaded machine).
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let out = run(&e, &a, AGE).await;
    let age: f64 = out.stdout.trim().parse().unwrap_or_else(|_| panic!("{out:?}"));
    assert!(age >= 0.5, "the code ran in a runner started ahead: {age} s old");

    // State does not leak between runs: each runner is used once.
    run(&e, &a, "import builtins; builtins.leaked = 1").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = run(&e, &a, "import builtins; print(hasattr(builtins, 'leaked'))").await;
    assert_eq!(out.stdout.trim(), "False", "{out:?}");

    // input_json, as in a run started then.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let input = serde_json::json!({"a": 41});
    let code = "import os\nprint(input_json['a'] + 1, os.environ.get('CANOPY_INPUT_JSON'))";
    let out = e.run_code(&a, code, Some(&input), None, None).await.unwrap();
    assert_eq!(out.stdout.trim(), "42 /run/canopy/input.json", "{out:?}");

    // Its time bound counts from the run, though the runner waited longer than that.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let out = run_t(&e, &a, "import time\nprint('started', flush=True)\ntime.sleep(30)", 1).await;
    assert!(!out.success, "{out:?}");
    assert_eq!(out.reason.as_str(), "timeout", "{out:?}");
    assert_eq!(out.stdout.trim(), "started", "{out:?}");
    assert!((900..5000).contains(&out.duration_ms), "{out:?}");
    assert!(run(&e, &a, "print(2)").await.success, "usable after");
}

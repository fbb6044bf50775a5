//! REPL sessions: the seed's example, state kept between calls, interrupts and kills on
//! timeout with `state_kept` reported, destroy and listing.

use crate::{engine, env};
use canopy_pyenv::EndReason;

#[tokio::test]
async fn seed_repl_example_state_is_kept() {
    let e = engine("repl").await;
    let a = env(&e, "r").await;
    // 1. repl_create(session_name="analysis")
    let s = e.repl_create(&a, "analysis").await.unwrap();
    // 2. repl_execute(code="x = 42")
    let r = e.repl_execute(&s.id, "x = 42", None).await.unwrap();
    assert_eq!((r.result.as_deref(), r.error.as_deref()), (None, None), "{r:?}");
    // 3. repl_execute(code="print(x)") prints 42
    let r = e.repl_execute(&s.id, "print(x)", None).await.unwrap();
    assert_eq!(r.stdout, "42\n");
    let r = e.repl_execute(&s.id, "x + 1", None).await.unwrap();
    assert_eq!(r.result.as_deref(), Some("43"), "the last expression's repr, like a REPL");
    let r = e.repl_execute(&s.id, "1/0", None).await.unwrap();
    assert!(r.error.as_deref().unwrap().contains("ZeroDivisionError") && r.state_kept);
    let r = e.repl_execute(&s.id, "import os, sys; print(os.getcwd(), file=sys.stderr); x", None).await.unwrap();
    assert_eq!((r.stderr.as_str(), r.result.as_deref()), ("/workspace\n", Some("42")));
    let listed = e.repl_list();
    assert!(listed.len() == 1 && listed[0].running && listed[0].name == "analysis", "{listed:?}");
    e.repl_destroy(&s.id).await.unwrap();
    assert!(e.repl_list().is_empty());
    assert!(e.repl_execute(&s.id, "x", None).await.unwrap_err().to_string().starts_with("session_id"));
}

#[tokio::test]
async fn an_execution_past_its_time_is_interrupted_and_the_state_survives() {
    let e = engine("repl-int").await;
    let a = env(&e, "r").await;
    let s = e.repl_create(&a, "int").await.unwrap();
    e.repl_execute(&s.id, "kept = 'yes'", None).await.unwrap();
    let r = e.repl_execute(&s.id, "import time\nwhile True: time.sleep(0.01)", Some(1)).await.unwrap();
    assert!(r.timed_out && r.state_kept, "{r:?}");
    assert!(r.error.as_deref().unwrap_or("").contains("KeyboardInterrupt"), "{r:?}");
    let r = e.repl_execute(&s.id, "kept", None).await.unwrap();
    assert_eq!(r.result.as_deref(), Some("'yes'"));
    // A pure-Python busy loop is interrupted too.
    let r = e.repl_execute(&s.id, "while True: pass", Some(1)).await.unwrap();
    assert!(r.timed_out && r.state_kept, "{r:?}");
}

#[tokio::test]
async fn an_execution_that_ignores_the_interrupt_is_killed_and_says_so() {
    let e = engine("repl-kill").await;
    let a = env(&e, "r").await;
    let s = e.repl_create(&a, "stubborn").await.unwrap();
    let code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: time.sleep(0.01)";
    let r = e.repl_execute(&s.id, code, Some(1)).await.unwrap();
    assert!(r.timed_out && !r.state_kept, "{r:?}");
    let listed = e.repl_list();
    assert_eq!(listed[0].ended_reason, Some(EndReason::InterruptFailed), "ended, with its reason: {listed:?}");
    let err = e.repl_execute(&s.id, "1", None).await.unwrap_err();
    assert!(err.to_string().contains("interrupt_failed"), "{err}");
}

#[tokio::test]
async fn a_session_that_dies_is_reported_not_silently_gone() {
    let e = engine("repl-die").await;
    let a = env(&e, "r").await;
    let s = e.repl_create(&a, "dies").await.unwrap();
    let r = e.repl_execute(&s.id, "import os; os._exit(3)", None).await.unwrap();
    assert!(!r.state_kept && r.error.unwrap().contains("exit code Some(3)"));
    assert!(!e.repl_list()[0].running);
    // Destroying the environment ends its sessions.
    let s2 = e.repl_create(&a, "other").await.unwrap();
    e.destroy(&a).await.unwrap();
    assert!(e.repl_execute(&s2.id, "1", None).await.is_err());
}

#[tokio::test]
async fn idle_sessions_end() {
    let mut cfg = crate::config("repl-idle");
    cfg.repl_idle_seconds = 1;
    let e = crate::engine_with(cfg).await;
    let a = env(&e, "r").await;
    let s = e.repl_create(&a, "idle").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let listed = e.repl_list();
    assert_eq!(listed[0].ended_reason, Some(EndReason::Idle), "{listed:?}");
    assert_eq!(e.repl_ended(&s.id).await.unwrap().ended_reason, Some(EndReason::Idle));
    assert!(e.repl_execute(&s.id, "1", None).await.unwrap_err().to_string().contains("idle"));
}

#[tokio::test]
async fn exit_ends_the_session_after_answering_and_the_end_is_known_at_once() {
    let e = engine("repl-exit").await;
    let a = env(&e, "r").await;
    let s = e.repl_create(&a, "quits").await.unwrap();
    let r = e.repl_execute(&s.id, "print('bye'); exit()", None).await.unwrap();
    assert_eq!((r.stdout.as_str(), r.error.as_deref()), ("bye\n", None), "{r:?}");
    assert_eq!((r.state_kept, r.ended_reason), (false, Some(EndReason::Exited)), "{r:?}");
    let listed = e.repl_list();
    assert_eq!((listed[0].running, listed[0].ended_reason), (false, Some(EndReason::Exited)), "{listed:?}");
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), e.repl_ended(&s.id)).await.unwrap().unwrap();
    assert_eq!(ended.ended_reason, Some(EndReason::Exited));
    let err = e.repl_execute(&s.id, "1", None).await.unwrap_err().to_string();
    assert!(err.contains("ended (exited)"), "{err}");
    // A non-zero status is an error, and the session ends just the same.
    let s = e.repl_create(&a, "fails").await.unwrap();
    let r = e.repl_execute(&s.id, "import sys; sys.exit(3)", None).await.unwrap();
    assert!(r.error.as_deref().unwrap().contains("SystemExit: 3") && r.ended_reason == Some(EndReason::Exited));
}

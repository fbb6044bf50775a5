//! The figures on this machine (printed as `FIGURE ...`; run with `--nocapture`).
//! The asserts are loose (shared CI cores); the printed medians are what gets reported.

use crate::{engine, env, median, run};
use canopy_pyenv::CreateOptions;
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures() {
    let e = engine("bench").await;
    // create_environment + the first run_code of print(1)
    let mut first = Vec::new();
    for i in 0..7 {
        let t = Instant::now();
        let id = e.create(&format!("b{i}"), None, CreateOptions::default()).await.unwrap().id;
        let out = run(&e, &id, "print(1)").await;
        first.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(out.success);
        e.destroy(&id).await.unwrap();
    }
    let a = env(&e, "warm").await;
    run(&e, &a, "print(1)").await;
    let mut warm = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let out = run(&e, &a, "print(1)").await;
        warm.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(out.success);
    }
    let s = e.repl_create(&a, "bench").await.unwrap();
    e.repl_execute(&s.id, "x = 0", None).await.unwrap();
    let mut repl = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        e.repl_execute(&s.id, "x += 1", None).await.unwrap();
        repl.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let r = e.repl_execute(&s.id, "x", None).await.unwrap();
    assert_eq!(r.result.as_deref(), Some("500"));
    let (f, w, rp) = (median(first), median(warm), median(repl));
    println!("FIGURE create_environment + first run_code(print(1)): median {f:.1} ms");
    println!("FIGURE run_code(print(1)) warm: median {w:.1} ms");
    println!("FIGURE repl_execute(x += 1): median {rp:.3} ms");
    assert!(rp < 20.0 && w < 1000.0 && f < 5000.0);
}

//! The `ray` backend against a real Ray head on loopback: the seed-like job (logs followed,
//! `/workspace` paths, artifacts back through a canopy-blobs signed URL), cancel, a timeout,
//! and re-attaching from a new backend to a job that kept running.
//!
//! One head serves every test of the binary ([`cluster`]), started on first use by
//! `canopy_testkit::ray` (which says where Ray comes from and how the head is stopped).

use crate::{drain, job_ref, placement, seed_workspace, texts, TempDir};
use canopy_blobs::{BlobStore, BlobStoreConfig, BlobUrls, SigningKey, UrlSigner};
use canopy_domain::job::FailureReason;
use canopy_job_poller::backends::{Backend, BlobArtifactDrop, ExecutionStatus, LogStream, RayBackend, RayConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

struct Cluster {
    dashboard_url: String,
    blob_urls: BlobUrls,
}

static CLUSTER: OnceCell<Option<Cluster>> = OnceCell::const_new();

/// The shared head, or `None` when Ray tests are skipped on purpose.
async fn cluster() -> Option<&'static Cluster> {
    CLUSTER.get_or_init(|| async { start_cluster() }).await.as_ref()
}

fn start_cluster() -> Option<Cluster> {
    let head = canopy_testkit::ray::start()?;
    Some(Cluster { blob_urls: blob_server(&head.temp), dashboard_url: head.dashboard_url })
}

/// Canopy's blob router for a local store, on its own thread and runtime (each test has a
/// runtime of its own that ends with it).
fn blob_server(temp: &std::path::Path) -> BlobUrls {
    let store = BlobStore::open(&BlobStoreConfig::local_in_state_dir(&temp.join("canopy"))).expect("blob store");
    let signer = UrlSigner::new(SigningKey::new("test", [7u8; 32]).expect("key"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("blob listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = canopy_blobs::router(store.clone(), signer.clone());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let _ = axum::serve(listener, router).await;
        });
    });
    BlobUrls::new(store, signer, base)
}

fn backend(cluster: &Cluster) -> RayBackend {
    let mut config = RayConfig::new(&cluster.dashboard_url);
    config.poll_interval = Duration::from_millis(100);
    RayBackend::new(config, Arc::new(BlobArtifactDrop::new(cluster.blob_urls.clone()))).expect("ray backend")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ray_runs_the_seed_like_job_streams_its_lines_and_brings_the_artifacts_back() {
    let Some(cluster) = cluster().await else { return };
    let backend = backend(cluster);
    let dir = TempDir::new("ray-seed");
    let ws = seed_workspace(&dir.0);
    let started = Instant::now();
    let mut execution = backend.start(placement(job_ref("rayseed"), ws, &["python", "main.py"])).await.expect("start");
    let submitted = started.elapsed();
    let mut logs = execution.take_logs().unwrap();
    let mut rest = Vec::new();
    let first = loop {
        let line =
            tokio::time::timeout(Duration::from_secs(60), logs.recv()).await.expect("a line in time").expect("open");
        if line.stream == LogStream::Stdout {
            break line;
        }
        rest.push(line);
    };
    assert_eq!(first.text, "read 2 rows");
    assert!(!execution.status().await.unwrap().is_terminal(), "the line came while the job slept");
    while let Some(line) = logs.recv().await {
        rest.push(line);
    }
    let status = execution.wait().await.unwrap();
    assert_eq!(status, ExecutionStatus::Completed { exit_code: 0 }, "{rest:?}");
    assert_eq!(texts(&rest, LogStream::Stdout), ["wrote out.json"], "{rest:?}");
    assert_eq!(texts(&rest, LogStream::Stderr), ["a warning on stderr"], "{rest:?}");
    println!("FIGURE ray: start() {submitted:?}, whole seed job (1.5 s of sleep) {:?}", started.elapsed());

    let into = TempDir::new("ray-artifacts");
    let collected = execution.collect_artifacts(&into.0).await.expect("artifacts");
    assert_eq!(collected.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["out.json"]);
    let out: serde_json::Value = serde_json::from_slice(&std::fs::read(into.0.join("out.json")).unwrap()).unwrap();
    assert_eq!(out, serde_json::json!({"rows": 2, "total": 4.0}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ray_cancel_stops_the_job_and_it_ends_cancelled() {
    let Some(cluster) = cluster().await else { return };
    let backend = backend(cluster);
    let dir = TempDir::new("ray-cancel");
    let ws = seed_workspace(&dir.0);
    let long = ["python", "-c", "import time; print('up', flush=True); time.sleep(300)"];
    let mut execution = backend.start(placement(job_ref("raycancel"), ws, &long)).await.expect("start");
    let mut logs = execution.take_logs().unwrap();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), logs.recv()).await.expect("in time").expect("open");
        if line.stream == LogStream::Stdout && line.text == "up" {
            break;
        }
    }
    let cancelled = Instant::now();
    execution.cancel().await.expect("stop");
    let status = tokio::time::timeout(Duration::from_secs(30), execution.wait()).await.expect("ended").unwrap();
    assert_eq!(status, ExecutionStatus::Cancelled);
    println!("FIGURE ray cancel: STOPPED {:?} after cancel()", cancelled.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ray_a_job_past_its_wall_time_fails_with_reason_timeout() {
    let Some(cluster) = cluster().await else { return };
    let backend = backend(cluster);
    let dir = TempDir::new("ray-timeout");
    let ws = seed_workspace(&dir.0);
    let mut p = placement(job_ref("raytimeout"), ws, &["python", "-c", "import time; time.sleep(60)"]);
    p.limits.wall = Duration::from_secs(2);
    let mut execution = backend.start(p).await.expect("start");
    let (lines, status) = drain(&mut execution, Duration::from_secs(90)).await;
    match &status {
        ExecutionStatus::Failed(f) => assert_eq!(f.reason, FailureReason::Timeout, "{lines:?}"),
        other => panic!("{other:?} {lines:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ray_a_new_backend_reattaches_to_a_running_job_and_sees_it_finish() {
    let Some(cluster) = cluster().await else { return };
    let dir = TempDir::new("ray-attach");
    let ws = seed_workspace(&dir.0);
    std::fs::write(
        ws.join("scripts/slow.py"),
        "import time\nprint('first', flush=True)\ntime.sleep(3)\nopen('/workspace/artifacts/done.txt','w').write('ok')\nprint('second')\n",
    )
    .unwrap();
    let job = job_ref("rayattach");
    let id = {
        let first_poller = backend(cluster);
        let execution = first_poller.start(placement(job.clone(), ws, &["python", "slow.py"])).await.expect("start");
        let id = execution.id().clone();
        // Until it runs, then the poller "dies": its backend and execution are dropped.
        let deadline = Instant::now() + Duration::from_secs(60);
        while execution.status().await.unwrap() != ExecutionStatus::Running {
            assert!(Instant::now() < deadline, "the job did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        id
    };
    let successor = backend(cluster);
    let mut execution = successor.attach(&job, &id).await.expect("attach");
    assert_eq!(execution.id(), &id);
    let (lines, status) = drain(&mut execution, Duration::from_secs(60)).await;
    assert_eq!(status, ExecutionStatus::Completed { exit_code: 0 }, "{lines:?}");
    assert_eq!(texts(&lines, LogStream::Stdout), ["first", "second"], "the whole log, replayed");
    let into = TempDir::new("ray-attach-artifacts");
    let collected = execution.collect_artifacts(&into.0).await.expect("artifacts");
    assert_eq!(collected.files.len(), 1);
    assert_eq!(std::fs::read_to_string(into.0.join("done.txt")).unwrap(), "ok");
    // A start of the same attempt finds the same execution instead of running it again.
    let again = successor.start(placement(job, dir.0.join("ws"), &["python", "slow.py"])).await.expect("start again");
    assert_eq!(again.id(), &id);
}

/// The poller on Ray: the seed workflow through the jobs service, and a poller that dies
/// while its job runs. The job goes on on the cluster; the successor re-attaches to the same
/// execution (no second run), keeps none of the replayed lines twice, and records the end
/// with the artifact delivered through the signed URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_poller_a_ray_job_outlives_its_poller_and_the_successor_reattaches() {
    use crate::poller::{assert_seed_job_done, event_types, harness, logs, seed_job, start_poller, wait_status};
    let Some(cluster) = cluster().await else { return };
    let h = harness(&["ray"]).await;
    let ray = |h: &crate::poller::Harness| -> Arc<dyn Backend> {
        let mut config = RayConfig::new(&cluster.dashboard_url);
        config.poll_interval = Duration::from_millis(100);
        Arc::new(RayBackend::new(config, Arc::new(BlobArtifactDrop::new(h.jobs.urls().clone()))).expect("ray backend"))
    };
    let id = seed_job(&h, "acme").await;
    let first = start_poller(&h, "ray-p1", vec![ray(&h)]);
    wait_status(&h, "acme", &id, &["running"], Duration::from_secs(120)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !logs(&h, "acme", &id).await.iter().any(|(_, m)| m == "read 2 rows") {
        assert!(Instant::now() < deadline, "the first line was not stored while the job ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.cancel();

    let second = start_poller(&h, "ray-p2", vec![ray(&h)]);
    let done = wait_status(&h, "acme", &id, &["completed", "failed", "cancelled"], Duration::from_secs(120)).await;
    assert_seed_job_done(&h, "acme", &id, &done).await;
    let events = event_types(&h, "acme", &id).await;
    assert!(events.iter().any(|e| e == "job.reattached"), "{events:?}");
    assert_eq!(events.iter().filter(|e| *e == "job.started").count(), 1, "started once: {events:?}");
    second.cancel();
}

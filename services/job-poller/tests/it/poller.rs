//! The job-poller's loop end to end: the real jobs service (Postgres, NATS, a local blob store
//! served on loopback), real backends (bubblewrap sandboxes; one Ray head, see `ray.rs`), and
//! [`Poller`]s as `canopy start` runs them. Jobs go in through the `grid` operations and come
//! out completed, failed, cancelled or taken over, with their logs, events and artifacts.

use canopy_blobs::{BlobStore, BlobStoreConfig, BlobUrls, UrlSigner};
use canopy_domain::identity::Role;
use canopy_domain::tenant::{Tenant, TenantCommand};
use canopy_domain::{RunnerId, TenantId};
use canopy_eventstore::{CommandContext, CommandExecutor, EventStore};
use canopy_job_poller::backends::{Backend, LocalBackend, LocalConfig};
use canopy_job_poller::{Poller, PollerConfig};
use canopy_jobs::{Caller, Jobs, JobsSettings};
use canopy_policy::{Principal, TenantView};
use canopy_readmodels::CanopyProjector;
use canopy_secrets::Sealer;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub struct Harness {
    pub jobs: Jobs,
    _db: canopy_testkit::TestDb,
    pub bus: canopy_bus::Bus,
    pub http: reqwest::Client,
    pub work: crate::TempDir,
}

pub fn owner(name: &str) -> Caller {
    let tenant = TenantId::parse(name).unwrap();
    Caller::new(tenant.clone(), Principal::user(tenant, format!("user:{name}-owner"), Role::Owner), TenantView::new())
}

/// The jobs service on a fresh database, routing to `backends` only, with a short lease.
pub async fn harness(backends: &[&str]) -> Harness {
    let db = canopy_testkit::fresh_database().await;
    let executor = CommandExecutor::new(EventStore::new(db.pool.clone()), Arc::new(CanopyProjector));
    let bus = canopy_bus::Bus::connect(&canopy_testkit::nats_url(), &canopy_testkit::unique("poller"), "poller-test")
        .await
        .expect("NATS for tests (set CANOPY_NATS_URL)");
    let root = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(canopy_testkit::unique("poller-blobs-"));
    let store = BlobStore::open(&BlobStoreConfig::Local { root }).unwrap();
    let sealer = Sealer::from_bytes(&[7u8; 32]).unwrap();
    let signer = UrlSigner::from_sealer(&sealer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = canopy_blobs::router(store.clone(), signer.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let config = canopy_config::Config::from_layers(None, &[]).unwrap();
    let mut settings = JobsSettings::from_config(&config);
    settings.public_base = base.clone();
    settings.lease = Duration::from_secs(2);
    settings.quotas.max_concurrent_jobs = 100;
    settings.quotas.max_job_duration = Duration::from_secs(120);
    let template = settings.backends[0].clone();
    settings.backends =
        backends.iter().map(|name| canopy_jobs::Backend { name: name.to_string(), ..template.clone() }).collect();
    let jobs = Jobs::new(executor.clone(), bus.clone(), BlobUrls::new(store, signer, base), &sealer, settings);
    for name in ["acme", "globex"] {
        let tenant = TenantId::parse(name).unwrap();
        let create = TenantCommand::Create { id: tenant.clone(), display_name: name.into() };
        executor.execute::<Tenant>(&CommandContext::new(tenant, "system"), name, &create).await.unwrap();
    }
    Harness { jobs, _db: db, bus, http: reqwest::Client::new(), work: crate::TempDir::new("poller-work") }
}

pub async fn local_backend() -> Arc<dyn Backend> {
    let config = LocalConfig { slots: 4, ..LocalConfig::default() };
    Arc::new(LocalBackend::new(config).await.expect("this host must run sandboxes for these tests"))
}

/// A poller on `backends`, running until the token is cancelled.
pub fn start_poller(h: &Harness, name: &str, backends: Vec<Arc<dyn Backend>>) -> CancellationToken {
    let mut config = PollerConfig::new(RunnerId::parse(name).unwrap(), h.work.0.join(name));
    config.tick = Duration::from_millis(200);
    config.drain = Duration::from_millis(100);
    let poller = Poller::new(h.jobs.clone(), h.bus.clone(), backends, config);
    let stop = CancellationToken::new();
    tokio::spawn(poller.run(stop.clone()));
    stop
}

/// An input uploaded through its signed URL and completed: its id.
pub async fn upload(h: &Harness, tenant: &str, filename: &str, kind: &str, content: &str) -> String {
    let caller = owner(tenant);
    let view = h.jobs.upload_job_input(&caller, &json!({"filename": filename, "kind": kind})).await.unwrap();
    let slot = serde_json::to_value(view.upload).unwrap();
    let put = h.http.put(slot["upload_url"].as_str().unwrap()).body(content.to_string()).send().await.unwrap();
    assert_eq!(put.status(), 200);
    h.jobs.complete_job_input(&caller, &json!({"input_id": slot["input_id"], "token": slot["token"]})).await.unwrap();
    slot["input_id"].as_str().unwrap().to_string()
}

pub async fn job(h: &Harness, tenant: &str, id: &str) -> Value {
    serde_json::to_value(h.jobs.get_job(&owner(tenant), &json!({"job_id": id})).await.unwrap()).unwrap()
}

/// Waits until the job's status is one of `statuses`; answers the job.
pub async fn wait_status(h: &Harness, tenant: &str, id: &str, statuses: &[&str], within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let got = job(h, tenant, id).await;
        if statuses.iter().any(|s| got["status"] == *s) {
            return got;
        }
        assert!(Instant::now() < deadline, "job {id} never reached {statuses:?}: {got:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn logs(h: &Harness, tenant: &str, id: &str) -> Vec<(String, String)> {
    let view = h.jobs.get_job_logs(&owner(tenant), &json!({"job_id": id, "limit": 1000})).await.unwrap();
    let view = serde_json::to_value(view).unwrap();
    view["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["stream"].as_str().unwrap().to_string(), e["message"].as_str().unwrap().to_string()))
        .collect()
}

pub async fn event_types(h: &Harness, tenant: &str, id: &str) -> Vec<String> {
    let view = h.jobs.get_job_events(&owner(tenant), &json!({"job_id": id})).await.unwrap();
    let view = serde_json::to_value(view).unwrap();
    view["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap_or_default().to_string()).collect()
}

pub async fn submit(h: &Harness, tenant: &str, spec: Value) -> String {
    let view = h.jobs.submit_job(&owner(tenant), &spec).await.unwrap();
    view.job_id
}

/// The seed's production workflow: a script and a CSV uploaded, the job submitted with both
/// mounted, and an artifact contract.
pub async fn seed_job(h: &Harness, tenant: &str) -> String {
    let data = upload(h, tenant, "data.csv", "input", "name,value\na,1.5\nb,2.5\n").await;
    let script = upload(h, tenant, "main.py", "script", crate::MAIN_PY).await;
    submit(
        h,
        tenant,
        json!({"name": "seed", "workload_type": "batch", "image": "python:3.11-slim",
            "command": ["python", "main.py"], "input_files": [data], "script_file": script,
            "expected_artifacts": ["/workspace/artifacts/out.json"]}),
    )
    .await
}

/// What the seed job's run must show: its lines, its events, its artifact with the right bytes.
pub async fn assert_seed_job_done(h: &Harness, tenant: &str, id: &str, done: &Value) {
    assert_eq!(done["status"], "completed", "{done:#}");
    let lines = logs(h, tenant, id).await;
    let stdout: Vec<&str> = lines.iter().filter(|(s, _)| s == "stdout").map(|(_, m)| m.as_str()).collect();
    assert_eq!(stdout, ["read 2 rows", "wrote out.json"], "{lines:#?}");
    assert!(lines.iter().any(|(s, m)| s == "stderr" && m == "a warning on stderr"), "{lines:#?}");
    assert!(lines.iter().any(|(s, m)| s == "platform" && m.starts_with("collected 1 artifact")), "{lines:#?}");

    let artifacts = h.jobs.list_artifacts(&owner(tenant), &json!({"job_id": id})).await.unwrap();
    let artifacts = serde_json::to_value(artifacts).unwrap();
    let list = artifacts["artifacts"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{artifacts:#}");
    assert_eq!(list[0]["filename"], "out.json", "{artifacts:#}");
    let artifact_id = list[0]["artifact_id"].as_str().unwrap();
    let download = h.jobs.get_artifact(&owner(tenant), &json!({"job_id": id, "artifact_id": artifact_id})).await;
    let download = serde_json::to_value(download.unwrap()).unwrap();
    let url = download["download_url"].as_str().expect("a download URL");
    let response = h.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let out: Value = response.json().await.unwrap();
    assert_eq!(out, json!({"rows": 2, "total": 4.0}));
}

#[tokio::test]
async fn the_seed_workflow_runs_on_the_local_backend_with_its_logs_events_and_artifact() {
    let h = harness(&["local"]).await;
    let id = seed_job(&h, "acme").await;
    let stop = start_poller(&h, "p1", vec![local_backend().await]);

    // Running, and the first line is kept while the job still sleeps.
    let running = wait_status(&h, "acme", &id, &["running", "completed"], Duration::from_secs(30)).await;
    assert_eq!(running["status"], "running", "the job sleeps 1.5 s: {running:#}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !logs(&h, "acme", &id).await.iter().any(|(_, m)| m == "read 2 rows") {
        assert!(Instant::now() < deadline, "the first line was not stored while the job ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(job(&h, "acme", &id).await["status"], "running", "heard before the end");

    let done = wait_status(&h, "acme", &id, &["completed", "failed"], Duration::from_secs(30)).await;
    assert_seed_job_done(&h, "acme", &id, &done).await;
    let events = event_types(&h, "acme", &id).await;
    for expected in ["job.claimed", "job.phase_changed", "job.started", "job.artifacts_collected", "job.completed"] {
        assert!(events.iter().any(|e| e == expected), "{expected} in {events:?}");
    }
    // The actual cost is charged, and no more than the hold.
    assert!(!done["actual_cost"].is_null(), "{done:#}");
    // Another tenant sees none of it.
    let refused = h.jobs.get_job(&owner("globex"), &json!({"job_id": id})).await;
    assert!(refused.is_err());
    stop.cancel();
}

#[tokio::test]
async fn a_failing_command_a_missing_command_and_a_cancel_end_as_they_should() {
    let h = harness(&["local"]).await;
    let stop = start_poller(&h, "p1", vec![local_backend().await]);
    let failing = submit(
        &h,
        "acme",
        json!({"name": "exit3", "workload_type": "batch", "image": "python:3.11",
            "command": ["python", "-c", "import sys; print('bye'); sys.exit(3)"]}),
    )
    .await;
    let no_command =
        submit(&h, "acme", json!({"name": "nothing", "workload_type": "batch", "image": "python:3.11"})).await;
    let sleeper = submit(
        &h,
        "acme",
        json!({"name": "sleeper", "workload_type": "batch", "image": "python:3.11",
            "command": ["python", "-c", "import time; print('sleeping', flush=True); time.sleep(60)"]}),
    )
    .await;

    let failed = wait_status(&h, "acme", &failing, &["failed", "completed"], Duration::from_secs(30)).await;
    assert_eq!(
        (failed["status"].as_str(), failed["status_reason"].as_str()),
        (Some("failed"), Some("exit_code")),
        "{failed:#}"
    );
    assert!(logs(&h, "acme", &failing).await.iter().any(|(s, m)| s == "stdout" && m == "bye"));

    let refused = wait_status(&h, "acme", &no_command, &["failed", "completed"], Duration::from_secs(30)).await;
    assert_eq!(refused["status_reason"], "backend_error", "{refused:#}");
    assert!(refused["status_message"].as_str().unwrap().contains("no command to run"), "{refused:#}");

    wait_status(&h, "acme", &sleeper, &["running"], Duration::from_secs(30)).await;
    let asked = Instant::now();
    h.jobs.cancel_job(&owner("acme"), &json!({"job_id": sleeper, "reason": "enough"})).await.unwrap();
    let cancelled = wait_status(&h, "acme", &sleeper, &["cancelled", "failed"], Duration::from_secs(10)).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled:#}");
    println!("cancel to cancelled: {:?}", asked.elapsed());
    stop.cancel();
}

#[tokio::test]
async fn a_dead_pollers_jobs_are_taken_over_queued_ones_run_and_a_lost_local_run_says_runner_lost() {
    let h = harness(&["local"]).await;
    // p1 claims a long job, then dies without a word (its task and backend are dropped).
    let long = submit(
        &h,
        "acme",
        json!({"name": "long", "workload_type": "batch", "image": "python:3.11",
            "command": ["python", "-c", "import time; print('working', flush=True); time.sleep(60)"]}),
    )
    .await;
    let p1 = start_poller(&h, "p1", vec![local_backend().await]);
    wait_status(&h, "acme", &long, &["running"], Duration::from_secs(30)).await;
    p1.cancel();
    // A job queued while nobody runs.
    let queued = submit(
        &h,
        "globex",
        json!({"name": "later", "workload_type": "batch", "image": "python:3.11",
            "command": ["python", "-c", "print('ran once')"]}),
    )
    .await;

    let p2 = start_poller(&h, "p2", vec![local_backend().await]);
    let lost = wait_status(&h, "acme", &long, &["failed", "completed"], Duration::from_secs(30)).await;
    assert_eq!(lost["status_reason"], "runner_lost", "{lost:#}");
    let events = event_types(&h, "acme", &long).await;
    assert_eq!(events.iter().filter(|e| *e == "job.claimed").count(), 2, "claimed by p1, taken over by p2: {events:?}");
    let later = wait_status(&h, "globex", &queued, &["completed", "failed"], Duration::from_secs(30)).await;
    assert_eq!(later["status"], "completed", "{later:#}");
    let ran: Vec<_> = logs(&h, "globex", &queued).await.into_iter().filter(|(s, _)| s == "stdout").collect();
    assert_eq!(ran, [("stdout".to_string(), "ran once".to_string())]);
    p2.cancel();
}

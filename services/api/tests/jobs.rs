//! The jobs routes over real HTTP (development mode, a fresh database, the real NATS, a local
//! blob store): estimate, submit, list, get, events, logs paged and followed as
//! `text/event-stream` until the job ends, cancel, artifacts and the download redirect, upload
//! slots and completion, credits, and the envelope with its codes for refusals. The poller's
//! part is played through `canopy-jobs`, as the job-poller calls it.

use canopy_api::{ApiState, Mode};
use canopy_domain::job::{Artifact, Execution, Outcome};
use canopy_domain::{ArtifactId, Credits, RunnerId};
use canopy_eventstore::{CommandExecutor, EventStore};
use canopy_jobs::{LogLine, LogStream};
use canopy_readmodels::CanopyProjector;
use canopy_secrets::Sealer;
use futures::StreamExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

struct Api {
    base: String,
    state: ApiState,
    http: reqwest::Client,
    _db: canopy_testkit::TestDb,
}

async fn api() -> Api {
    let db = canopy_testkit::fresh_database().await;
    let executor = CommandExecutor::new(EventStore::new(db.pool.clone()), Arc::new(CanopyProjector));
    canopy_api::ensure_default_tenant(&executor).await.unwrap();
    let bus =
        canopy_bus::Bus::connect(&canopy_testkit::nats_url(), &canopy_testkit::unique("apijobs"), "api-jobs-test")
            .await
            .expect("NATS for tests");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let blobs = std::env::temp_dir().join(canopy_testkit::unique("api-jobs-blobs-")).display().to_string();
    let env = [("CANOPY_BLOBS_DIR".to_string(), blobs), ("CANOPY_PUBLIC_URL".to_string(), base.clone())];
    let config = canopy_config::Config::from_layers(None, &env).unwrap();
    let sealer = Sealer::from_bytes(&[7u8; 32]).unwrap();
    let jobs = canopy_jobs::Jobs::from_config(&config, executor.clone(), bus.clone(), &sealer).unwrap();
    let state = ApiState {
        mode: Mode::Development,
        executor,
        bus,
        sealer,
        access_tokens: None,
        discovery_wait: Duration::from_millis(50),
        call_timeout: Duration::from_secs(2),
        public_url: base.clone(),
        oauth: None,
        jobs: jobs.clone(),
    };
    let blob_routes = canopy_blobs::router(jobs.urls().store().clone(), jobs.urls().signer().clone());
    let app = canopy_api::router(state.clone()).merge(blob_routes);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Api {
        base,
        state,
        http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        _db: db,
    }
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

fn error(answer: &(u16, Value)) -> (u16, &str, &str) {
    assert_eq!(answer.1["ok"], false, "{answer:?}");
    (answer.0, answer.1["error"]["code"].as_str().unwrap(), answer.1["error"]["message"].as_str().unwrap())
}

/// Reads the SSE body into `seen` until it holds `needle`.
async fn read_until(
    body: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    seen: &mut String,
    needle: &str,
) {
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next()).await.expect(needle).unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

fn hello() -> Value {
    json!({
        "name": "mcp-hello",
        "workload_type": "batch",
        "image": "python:3.11-slim",
        "command": ["python", "-c", "print('hello from Jungle Grid')"],
        "expected_artifacts": ["/workspace/artifacts/output.txt"],
    })
}

#[tokio::test]
async fn the_jobs_routes_from_estimate_to_download() {
    let api = api().await;
    let (status, estimate) =
        api.post("/api/v0/jobs/estimate", json!({"workload_type": "batch", "routing_mode": "balanced"})).await;
    assert_eq!((status, estimate["route"]["backend"].as_str()), (200, Some("local")), "{estimate}");
    let refused = api.post("/api/v0/jobs", json!({"workload_type": "batch"})).await;
    assert_eq!(error(&refused), (400, "INVALID_REQUEST", "name, image, and workload_type are required"));
    let refused = api
        .post("/api/v0/jobs", json!({"name": "x", "workload": "batch", "image": "python:3.11", "env": {"A": 1}}))
        .await;
    assert_eq!(error(&refused), (400, "INVALID_REQUEST", "env.A must be a string"));

    let (status, job) = api.post("/api/v0/jobs", hello()).await;
    assert_eq!((status, job["status"].as_str()), (201, Some("queued")), "{job}");
    let id = job["job_id"].as_str().unwrap().to_string();
    let (_, list) = api.get("/api/v0/jobs?limit=5&status=queued").await;
    assert_eq!((list["jobs"][0]["job_id"].as_str(), list["has_more"].as_bool()), (Some(id.as_str()), Some(false)));
    let (_, events) = api.get(&format!("/api/v0/jobs/{id}/events")).await;
    assert_eq!(events["events"].as_array().unwrap().len(), 2, "{events}");
    let unknown = api.get("/api/v0/jobs/job_nope").await;
    assert_eq!(error(&unknown), (404, "NOT_FOUND", "job 'job_nope' was not found"));
    let early = api.get(&format!("/api/v0/jobs/{id}/artifacts/art_out")).await;
    assert_eq!(error(&early).1, "ARTIFACT_NOT_READY");
    assert_eq!(error(&api.get("/api/v0/jobs?limit=0").await).2, "limit must be an integer from 1 to 100");

    // The poller's part.
    let jobs = &api.state.jobs;
    let lease = jobs.claim_next(&RunnerId::parse("r1").unwrap()).await.unwrap().unwrap().lease;
    jobs.mark_running(&lease, Execution { backend: "local".into(), execution_id: "e".into() }, vec![]).await.unwrap();
    let lines = [LogLine::new(LogStream::Stdout, "one"), LogLine::new(LogStream::Stderr, "two")];
    jobs.append_logs(&lease.tenant, &lease.job, lease.attempt, &lines).await.unwrap();
    let (_, page) = api.get(&format!("/api/v0/jobs/{id}/logs?limit=1")).await;
    assert_eq!((page["items"][0]["message"].as_str(), page["has_more"].as_bool()), (Some("one"), Some(true)));
    assert_eq!(
        error(&api.get(&format!("/api/v0/jobs/{id}/logs?follow=maybe")).await).2,
        "follow must be true or false"
    );

    // Follow: the stored lines, one appended while following, then `end` when the job ends.
    let response = api.http.get(format!("{}/api/v0/jobs/{id}/logs?follow=true", api.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    read_until(&mut body, &mut seen, "\"two\"").await;
    jobs.append_logs(&lease.tenant, &lease.job, lease.attempt, &[LogLine::new(LogStream::Stdout, "three")])
        .await
        .unwrap();
    read_until(&mut body, &mut seen, "\"three\"").await;
    let key = canopy_jobs::artifact_key(&lease.tenant, &lease.job, &ArtifactId::parse("art_out").unwrap()).unwrap();
    let stored = jobs.urls().store().put_bytes(&key, Some("text/plain"), "done".into()).await.unwrap();
    let artifact = Artifact {
        artifact_id: ArtifactId::parse("art_out").unwrap(),
        path: "/workspace/artifacts/output.txt".into(),
        size_bytes: stored.size_bytes,
        content_type: "text/plain".into(),
        sha256: stored.sha256,
    };
    jobs.finish(&lease, Outcome::Succeeded { exit_code: Some(0) }, vec![artifact], Credits::from_micros(10))
        .await
        .unwrap();
    read_until(&mut body, &mut seen, "event: end").await;
    assert!(seen.contains("event: log") && seen.contains("\"status\":\"completed\""), "{seen}");
    assert_eq!(seen.matches("event: log").count(), 3, "each line once: {seen}");

    let ended = api.post(&format!("/api/v0/jobs/{id}/cancel"), json!({"reason": "late"})).await;
    assert_eq!(error(&ended), (409, "CONFLICT", "the job is already completed"));
    let (_, artifacts) = api.get(&format!("/api/v0/jobs/{id}/artifacts")).await;
    assert_eq!(artifacts["artifacts"][0]["filename"], "output.txt");
    let redirect =
        api.http.get(format!("{}/api/v0/jobs/{id}/artifacts/art_out/download", api.base)).send().await.unwrap();
    assert_eq!(redirect.status(), 307);
    let location = redirect.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(api.http.get(&location).send().await.unwrap().text().await.unwrap(), "done");
}

#[tokio::test]
async fn inputs_credits_cancel_and_the_operators_routes() {
    let api = api().await;
    let (status, slot) = api.post("/api/v0/job-inputs", json!({"filename": "t.py", "kind": "script"})).await;
    assert_eq!(status, 201, "{slot}");
    let upload = &slot["upload"];
    let put = api.http.put(upload["upload_url"].as_str().unwrap()).body("print(1)").send().await.unwrap();
    assert_eq!(put.status(), 200);
    let complete = upload["complete_url"].as_str().unwrap().strip_prefix(&api.base).unwrap().to_string();
    let wrong = api.post(&complete, json!({"token": "nope"})).await;
    assert_eq!(error(&wrong), (400, "INVALID_REQUEST", "token does not match this upload slot"));
    let (status, ready) = api.post(&complete, json!({"token": upload["token"], "size_bytes": 8})).await;
    assert_eq!((status, ready["status"].as_str()), (200, Some("ready")), "{ready}");
    let (_, inputs) = api.get("/api/v0/job-inputs").await;
    assert_eq!(inputs["inputs"][0]["mount_path"], "/workspace/scripts/t.py");
    let unknown = api.post("/api/v0/job-inputs/inp_nope/complete", json!({"token": "x"})).await;
    assert_eq!(error(&unknown), (404, "JOB_INPUT_NOT_FOUND", "input 'inp_nope' was not found"));

    let (_, job) = api.post("/api/v0/jobs", hello()).await;
    let id = job["job_id"].as_str().unwrap();
    let (status, cancelled) = api.post(&format!("/api/v0/jobs/{id}/cancel"), json!({})).await;
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("cancelled")));
    let (_, credits) = api.get("/api/v0/credits").await;
    assert_eq!(
        (credits["policy"].as_str(), credits["held"]["micros"].as_u64()),
        (Some("unlimited"), Some(0)),
        "{credits}"
    );
    let operator_only = api.call(reqwest::Method::PUT, "/api/v0/maintenance", Some(json!({"active": true}))).await;
    assert_eq!(error(&operator_only).1, "FORBIDDEN");
    let grant = api.post("/api/v0/tenants/default/credits", json!({"credits": "5"})).await;
    assert_eq!(error(&grant).1, "FORBIDDEN");
}

/// `Idempotency-Key` on `POST /api/v0/jobs`: a retry answers the first job (201 again, the same
/// id, one job queued); the key with another body is 409 `CONFLICT` in the envelope.
#[tokio::test]
async fn a_submit_retried_with_its_idempotency_key_is_the_same_job() {
    let api = api().await;
    let submit = |name: &str| {
        api.http
            .post(format!("{}/api/v0/jobs", api.base))
            .header("Idempotency-Key", "submit-once")
            .json(&json!({"name": name, "workload_type": "batch", "image": "python:3.11", "command": ["true"]}))
            .send()
    };
    let first = submit("keyed").await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = submit("keyed").await.unwrap();
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["job_id"], again["job_id"]);
    let (_, list) = api.get("/api/v0/jobs").await;
    assert_eq!(list["jobs"].as_array().unwrap().len(), 1, "{list}");
    let other = submit("another body").await.unwrap();
    let answer = (other.status().as_u16(), other.json::<Value>().await.unwrap());
    let (status, code, message) = error(&answer);
    assert_eq!((status, code), (409, "CONFLICT"), "{message}");
}

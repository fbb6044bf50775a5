//! The seed README's jobs workflows verbatim, through the real `canopy start` (api, edge,
//! worker and job-poller in one process; on the local backend's bubblewrap sandboxes, then on
//! a real Ray head) and an rmcp
//! client on `/servers/grid/mcp`: the "Minimal Working Example", and both "Production
//! Workflows" (the simple artifact job, the file-backed transcription with uploaded script and
//! input, completed with the seed's curl body). Each is monitored with get_job, get_job_events
//! and get_job_logs until terminal, and its artifact downloaded from get_artifact's URL.

use crate::harness::*;
use rmcp::model::CallToolRequestParams;
use rmcp::service::NotificationContext;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

async fn call(client: &RunningService<RoleClient, ()>, tool: &str, arguments: Value) -> Value {
    let params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments.as_object().unwrap().clone());
    let result = client.call_tool(params).await.unwrap();
    let text = result.content[0].as_text().map(|t| t.text.clone()).unwrap_or_default();
    assert_ne!(result.is_error, Some(true), "{tool}: {text}");
    result.structured_content.expect("structuredContent")["data"].clone()
}

/// Monitors as the seed says (get_job, get_job_events, get_job_logs) until terminal.
async fn monitor(client: &RunningService<RoleClient, ()>, job_id: &str) -> (Value, Value, Value) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let job = call(client, "get_job", json!({"job_id": job_id})).await;
        let events = call(client, "get_job_events", json!({"job_id": job_id})).await;
        let logs = call(client, "get_job_logs", json!({"job_id": job_id})).await;
        if ["completed", "failed", "cancelled", "rejected"].contains(&job["status"].as_str().unwrap_or_default()) {
            return (job, events, logs);
        }
        assert!(Instant::now() < deadline, "job {job_id} not terminal in time: {job:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// list_artifacts, then get_artifact, then the bytes from its URL.
async fn artifact(client: &RunningService<RoleClient, ()>, job_id: &str, filename: &str) -> Vec<u8> {
    let list = call(client, "list_artifacts", json!({"job_id": job_id})).await;
    let found = list["artifacts"].as_array().unwrap().iter().find(|a| a["filename"] == filename);
    let artifact_id = found.unwrap_or_else(|| panic!("{filename} in {list:#}"))["artifact_id"].clone();
    let download = call(client, "get_artifact", json!({"job_id": job_id, "artifact_id": artifact_id})).await;
    let response = reqwest::get(download["download_url"].as_str().unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

fn messages(logs: &Value, stream: &str) -> Vec<String> {
    logs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["stream"] == stream)
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_seed_readmes_jobs_workflows_run_verbatim_through_canopy_start_on_local() {
    let mut d = Deployment::new().await;
    d.builtin_servers = r#"["grid"]"#.into();
    let base = d.spawn("all", &["start"]).await;
    let client = seed_workflows(&base).await;

    // What a job sees of its host: none of Canopy's environment, no loopback services.
    let probe = "import os, socket\n\
                 print('canopy env:', sorted(k for k in os.environ if 'CANOPY' in k or 'DATABASE' in k))\n\
                 for port in (5432, 4222, 6379):\n\
                 \x20   s = socket.socket(); s.settimeout(1)\n\
                 \x20   try:\n\
                 \x20       s.connect(('127.0.0.1', port)); print(port, 'reached')\n\
                 \x20   except OSError as e:\n\
                 \x20       print(port, 'refused')\n";
    let submitted = call(
        &client,
        "submit_job",
        json!({"name": "probe", "workload_type": "batch", "image": "python:3.11", "command": ["python", "-c", probe]}),
    )
    .await;
    let (job, _, logs) = monitor(&client, submitted["job_id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "completed", "{job:#} {logs:#}");
    assert_eq!(messages(&logs, "stdout"), ["canopy env: []", "5432 refused", "4222 refused", "6379 refused"]);
    let _ = client.cancel().await;
}

/// The same workflows on a real Ray head (the job-poller's only backend), started by the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_readmes_jobs_workflows_run_verbatim_through_canopy_start_on_ray() {
    let Some(head) = tokio::task::spawn_blocking(canopy_testkit::ray::start).await.unwrap() else { return };
    let mut d = Deployment::new().await;
    d.builtin_servers = r#"["grid"]"#.into();
    for (k, v) in [
        ("CANOPY_JOBS_LOCAL_ENABLED", "false"),
        ("CANOPY_JOBS_RAY_ENABLED", "true"),
        ("CANOPY_JOBS_RAY_URL", head.dashboard_url.as_str()),
    ] {
        d.env.push((k.into(), v.into()));
    }
    let base = d.spawn("all", &["start"]).await;
    let client = seed_workflows(&base).await;
    let _ = client.cancel().await;
}

/// Runs the three workflows against `base`, asserting each; answers the client.
async fn seed_workflows(base: &str) -> RunningService<RoleClient, ()> {
    eventually(Duration::from_secs(20), || async {
        let (_, servers) = get_json(&format!("{base}/api/v0/servers")).await;
        servers.as_array().is_some_and(|s| s.iter().any(|s| s["name"] == "grid" && s["status"] == "ready"))
    })
    .await;
    let client = ().serve(StreamableHttpClientTransport::from_uri(format!("{base}/servers/grid/mcp"))).await.unwrap();

    // Minimal Working Example.
    let estimate = call(
        &client,
        "estimate_job",
        json!({"workload_type": "batch", "image": "python:3.11-slim",
            "command": ["python", "-c", "print('hello from Jungle Grid')"], "routing_mode": "balanced"}),
    )
    .await;
    assert_eq!(estimate["classification"]["workload_type"], "batch", "{estimate:#}");
    let submitted = call(
        &client,
        "submit_job",
        json!({"name": "mcp-hello", "workload_type": "batch", "image": "python:3.11-slim",
            "command": ["python", "-c", "print('hello from Jungle Grid')"],
            "expected_artifacts": ["/workspace/artifacts/output.txt"]}),
    )
    .await;
    let hello = submitted["job_id"].as_str().unwrap().to_string();
    let (job, events, logs) = monitor(&client, &hello).await;
    // It ran and printed; it left no output.txt, so its artifact contract says what is missing.
    assert_eq!(job["status"], "completed", "{job:#}");
    assert_eq!(messages(&logs, "stdout"), ["hello from Jungle Grid"], "{logs:#}");
    let types: Vec<&str> = events["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    for expected in ["job.submitted", "job.queued", "job.claimed", "job.started", "job.completed"] {
        assert!(types.contains(&expected), "{expected} in {types:?}");
    }
    let list = call(&client, "list_artifacts", json!({"job_id": hello})).await;
    assert_eq!(list["missing"], json!(["/workspace/artifacts/output.txt"]), "{list:#}");

    // Production workflow 1: a simple artifact job.
    let command =
        json!(["python", "-c", "from pathlib import Path; Path('/workspace/artifacts/output.txt').write_text('done')"]);
    call(
        &client,
        "estimate_job",
        json!({"workload_type": "batch", "image": "python:3.11-slim", "command": command, "routing_mode": "balanced"}),
    )
    .await;
    let submitted = call(
        &client,
        "submit_job",
        json!({"name": "simple-artifact-job", "workload_type": "batch", "image": "python:3.11-slim",
            "command": command, "expected_artifacts": ["/workspace/artifacts/output.txt"], "routing_mode": "balanced"}),
    )
    .await;
    let simple = submitted["job_id"].as_str().unwrap().to_string();
    let (job, _, _) = monitor(&client, &simple).await;
    assert_eq!(job["status"], "completed", "{job:#}");
    assert_eq!(artifact(&client, &simple, "output.txt").await, b"done");

    // Production workflow 2: a file-backed job (script and input uploaded to signed URLs,
    // completed with the seed's body).
    let script = "import sys\nfrom pathlib import Path\naudio = Path(sys.argv[1]).read_bytes()\n\
                  print(f'transcribing {len(audio)} bytes', flush=True)\n\
                  Path(sys.argv[2]).write_text(f'transcript of {len(audio)} bytes')\n";
    let audio = b"OggS\x00fake audio bytes".to_vec();
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for (filename, content_type, kind, bytes) in [
        ("transcribe.py", "text/x-python", "script", script.as_bytes().to_vec()),
        ("audio.ogg", "audio/ogg", "input", audio.clone()),
    ] {
        let slot = call(
            &client,
            "upload_job_input",
            json!({"filename": filename, "content_type": content_type, "kind": kind}),
        )
        .await;
        let upload = &slot["upload"];
        let put = http
            .put(upload["upload_url"].as_str().unwrap())
            .header("content-type", content_type)
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200, "{filename}");
        let complete = http
            .post(upload["complete_url"].as_str().unwrap())
            .json(&json!({"token": upload["token"], "filename": filename, "content_type": content_type,
                "size_bytes": bytes.len(), "etag": "optional-etag"}))
            .send()
            .await
            .unwrap();
        assert_eq!(complete.status(), 200, "{filename}: {}", complete.text().await.unwrap_or_default());
        ids.push(upload["input_id"].as_str().unwrap().to_string());
    }
    let submitted = call(
        &client,
        "submit_job",
        json!({"name": "file-backed-transcription", "workload_type": "inference", "image": "python:3.11-slim",
            "command": ["python", "/workspace/scripts/transcribe.py", "/workspace/inputs/audio.ogg",
                "/workspace/artifacts/transcript.txt"],
            "script_files": [{"input_id": ids[0]}], "input_files": [{"input_id": ids[1]}],
            "expected_artifacts": ["/workspace/artifacts/transcript.txt"]}),
    )
    .await;
    let transcription = submitted["job_id"].as_str().unwrap().to_string();
    let (job, _, logs) = monitor(&client, &transcription).await;
    assert_eq!(job["status"], "completed", "{job:#} {logs:#}");
    assert_eq!(messages(&logs, "stdout"), [format!("transcribing {} bytes", audio.len())]);
    let transcript = artifact(&client, &transcription, "transcript.txt").await;
    assert_eq!(String::from_utf8(transcript).unwrap(), format!("transcript of {} bytes", audio.len()));
    client
}

/// Log notifications as they arrive: (when, the line).
#[derive(Clone, Default)]
struct Heard(Arc<Mutex<Vec<(std::time::SystemTime, String)>>>);

impl ClientHandler for Heard {
    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let line = params.data["message"].as_str().unwrap_or_default().to_string();
        self.0.lock().unwrap().push((std::time::SystemTime::now(), line));
    }
}

/// `get_job_logs` with `follow: true` on a running job: each line reaches the agent as a log
/// notification while the job runs (the seed's MCP server could only page), in order, and the
/// call returns what it sent once the job ended.
#[tokio::test]
async fn a_running_jobs_lines_reach_a_following_agent_as_they_are_printed() {
    let mut d = Deployment::new().await;
    d.builtin_servers = r#"["grid"]"#.into();
    let base = d.spawn("all", &["start"]).await;
    eventually(Duration::from_secs(20), || async {
        let (_, servers) = get_json(&format!("{base}/api/v0/servers")).await;
        servers.as_array().is_some_and(|s| s.iter().any(|s| s["name"] == "grid" && s["status"] == "ready"))
    })
    .await;
    let heard = Heard::default();
    let transport = StreamableHttpClientTransport::from_uri(format!("{base}/servers/grid/mcp"));
    let client = heard.clone().serve(transport).await.unwrap();
    let code = "import time\nfor i in range(5):\n    print(f'line {i} at {time.time():.6f}', flush=True)\n    time.sleep(0.4)\n";
    let params = CallToolRequestParams::new("submit_job").with_arguments(
        json!({"name": "ticker", "workload_type": "batch", "image": "python:3.11", "command": ["python", "-c", code]})
            .as_object()
            .unwrap()
            .clone(),
    );
    let submitted = client.call_tool(params).await.unwrap();
    let job_id = submitted.structured_content.unwrap()["data"]["job_id"].as_str().unwrap().to_string();

    let params = CallToolRequestParams::new("get_job_logs")
        .with_arguments(json!({"job_id": job_id, "follow": true}).as_object().unwrap().clone());
    let result = client.call_tool(params).await.unwrap();
    let returned = std::time::SystemTime::now();
    assert_ne!(result.is_error, Some(true));
    let heard = heard.0.lock().unwrap().clone();
    let lines: Vec<&(std::time::SystemTime, String)> = heard.iter().filter(|(_, l)| l.starts_with("line ")).collect();
    assert_eq!(lines.len(), 5, "{heard:?}");
    let mut delays = Vec::new();
    for (n, (at, line)) in lines.iter().enumerate() {
        assert!(line.starts_with(&format!("line {n} at ")), "in order: {heard:?}");
        let printed: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        let heard_at = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        delays.push(((heard_at - printed) * 1000.0).max(0.0));
    }
    // Heard while the job still ran: the first line ~1.6 s before the call returned.
    let first_before_end = returned.duration_since(lines[0].0).unwrap();
    assert!(first_before_end > Duration::from_millis(1000), "heard only at the end: {first_before_end:?}");
    delays.sort_by(f64::total_cmp);
    println!(
        "FIGURE job line printed -> heard by a following agent: median {:.1} ms, max {:.1} ms (n=5)",
        delays[2], delays[4]
    );
    let items = result.structured_content.unwrap()["data"]["items"].as_array().unwrap().len();
    assert!(items >= 5, "the call returns what it sent");
    let _ = client.cancel().await;
}

//! The `grid` built-in end to end, through the real `canopy start` and an rmcp client on
//! `/servers/grid/mcp`: each tool is the canopy-jobs operation of its name, decided for the
//! caller admission decided for. An estimate, an upload slot (PUT, then complete), a submit that
//! mounts the uploaded script and runs (the job-poller's sandbox), the list, the job, its events,
//! its logs, a running job cancelled; results carry a one-line
//! summary and `structuredContent` `{"data": <the REST response>}`; an invalid submit is
//! `submit_job failed: INVALID_REQUEST: ...` with `isError`.

use crate::harness::*;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};
use std::time::Duration;

fn text(result: &CallToolResult) -> String {
    result.content[0].as_text().map(|t| t.text.clone()).unwrap_or_default()
}

/// Calls `tool` and answers its `data`, asserting it succeeded with a summary line.
async fn call(client: &RunningService<RoleClient, ()>, tool: &'static str, arguments: Value) -> (String, Value) {
    let params = CallToolRequestParams::new(tool).with_arguments(arguments.as_object().unwrap().clone());
    let result = client.call_tool(params).await.unwrap();
    assert_ne!(result.is_error, Some(true), "{tool}: {}", text(&result));
    let summary = text(&result);
    assert!(!summary.is_empty() && !summary.contains('\n'), "{tool}: one line: {summary:?}");
    let structured = result.structured_content.expect("structuredContent");
    (summary, structured["data"].clone())
}

#[tokio::test]
async fn grid_tools_estimate_upload_submit_read_and_cancel_a_job_through_mcp() {
    let mut d = Deployment::new().await;
    d.builtin_servers = r#"["grid"]"#.into();
    let base = d.spawn("all", &["start"]).await;
    eventually(Duration::from_secs(20), || async {
        let (_, servers) = get_json(&format!("{base}/api/v0/servers")).await;
        servers.as_array().is_some_and(|s| s.iter().any(|s| s["name"] == "grid" && s["status"] == "ready"))
    })
    .await;
    let transport = StreamableHttpClientTransport::from_uri(format!("{base}/servers/grid/mcp"));
    let client = ().serve(transport).await.expect("connects");

    let (summary, estimate) = call(&client, "estimate_job", json!({"workload": "batch", "image": "python:3.11"})).await;
    assert_eq!(estimate["classification"]["workload_type"], "batch", "{estimate}");
    assert!(summary.starts_with("Estimate: batch"), "{summary}");

    // An upload slot; the bytes go to its signed URL, then complete_url confirms them.
    let script = "print('hello from grid')\n";
    let (_, slot) = call(&client, "upload_job_input", json!({"filename": "hello.py", "kind": "script"})).await;
    let upload = &slot["upload"];
    let http = reqwest::Client::new();
    let put = http.put(upload["upload_url"].as_str().unwrap()).body(script).send().await.unwrap();
    assert_eq!(put.status(), 200);
    let complete = http
        .post(upload["complete_url"].as_str().unwrap())
        .json(&json!({"token": upload["token"], "size_bytes": script.len()}))
        .send()
        .await
        .unwrap();
    assert_eq!(complete.status(), 200);
    let (_, inputs) = call(&client, "list_job_inputs", json!({})).await;
    assert_eq!(inputs["inputs"][0]["status"], "ready", "{inputs}");

    let input_id = upload["input_id"].as_str().unwrap();
    let (summary, job) = call(
        &client,
        "submit_job",
        json!({"name": "grid-hello", "workload_type": "batch", "image": "python:3.11",
            "command": ["python", "/workspace/scripts/hello.py"], "script_files": [input_id]}),
    )
    .await;
    let job_id = job["job_id"].as_str().unwrap().to_string();
    assert!(summary.starts_with(&format!("Submitted job {job_id} (grid-hello)")), "{summary}");
    assert_eq!(job["script_file"]["mount_path"], "/workspace/scripts/hello.py", "{job}");

    let (_, list) = call(&client, "list_jobs", json!({"limit": 10})).await;
    assert!(list["jobs"].as_array().unwrap().iter().any(|j| j["job_id"] == job_id.as_str()), "{list}");
    let (_, got) = call(&client, "get_job", json!({"jobId": job_id})).await;
    assert_eq!((got["job_id"].as_str(), got["name"].as_str()), (Some(job_id.as_str()), Some("grid-hello")));
    let (_, events) = call(&client, "get_job_events", json!({"job_id": job_id})).await;
    assert!(!events["events"].as_array().unwrap().is_empty(), "{events}");

    // The job-poller runs it in a sandbox; its line is in its logs.
    eventually(Duration::from_secs(30), || async {
        let (_, got) = call(&client, "get_job", json!({"job_id": job_id})).await;
        got["status"] == "completed"
    })
    .await;
    let (_, logs) = call(&client, "get_job_logs", json!({"job_id": job_id})).await;
    let printed = logs["items"].as_array().unwrap().iter().any(|e| e["message"] == "hello from grid");
    assert!(printed, "{logs}");

    // A running job is cancelled: the request is recorded, and the poller stops it.
    let (_, sleeper) = call(
        &client,
        "submit_job",
        json!({"name": "sleeper", "workload_type": "batch", "image": "python:3.11",
            "command": ["python", "-c", "import time; time.sleep(120)"]}),
    )
    .await;
    let sleeper = sleeper["job_id"].as_str().unwrap().to_string();
    eventually(Duration::from_secs(30), || async {
        call(&client, "get_job", json!({"job_id": sleeper})).await.1["status"] == "running"
    })
    .await;
    let (summary, cancelled) = call(&client, "cancel_job", json!({"job_id": sleeper, "reason": "test"})).await;
    assert_eq!(cancelled["cancel_requested"], true, "{cancelled}");
    assert!(summary.starts_with(&format!("Job {sleeper}")), "{summary}");
    eventually(Duration::from_secs(10), || async {
        call(&client, "get_job", json!({"job_id": sleeper})).await.1["status"] == "cancelled"
    })
    .await;

    // Following the logs of an ended job sends what is stored and returns at once.
    let started = std::time::Instant::now();
    let (summary, followed) = call(&client, "get_job_logs", json!({"job_id": job_id, "follow": true})).await;
    assert!(started.elapsed() < Duration::from_secs(5), "an ended job's follow does not wait");
    assert_eq!((followed["followed"].as_bool(), followed["job_id"].as_str()), (Some(true), Some(job_id.as_str())));
    assert!(summary.ends_with(&format!("log line(s) of job {job_id}")), "{summary}");

    // Refusals are the seed's: TOOL failed: CODE: message, with isError.
    let params = CallToolRequestParams::new("submit_job")
        .with_arguments(json!({"workload_type": "batch", "image": "python:3.11"}).as_object().unwrap().clone());
    let invalid = client.call_tool(params).await.unwrap();
    assert_eq!(invalid.is_error, Some(true));
    assert!(text(&invalid).starts_with("submit_job failed: INVALID_REQUEST: name"), "{}", text(&invalid));
    let params = CallToolRequestParams::new("get_job")
        .with_arguments(json!({"job_id": "job_nope"}).as_object().unwrap().clone());
    let unknown = client.call_tool(params).await.unwrap();
    assert!(text(&unknown).starts_with("get_job failed: NOT_FOUND: "), "{}", text(&unknown));
    let _ = client.cancel().await;
}

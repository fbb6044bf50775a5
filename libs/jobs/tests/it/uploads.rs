//! The upload flow end to end with real signed URLs over HTTP (the local store's router):
//! create the slot, PUT the bytes, complete with the token; tampered, expired and
//! other-object URLs refused by the blob router; a wrong token or size refused at completion;
//! then a job mounts the input, and unknown or pending inputs are refused with their codes.

use crate::harness::{harness, owner, refusal};
use serde_json::{json, Value};

async fn slot(h: &crate::harness::Harness, filename: &str, kind: &str) -> Value {
    let view = h
        .jobs
        .upload_job_input(&owner("acme"), &json!({"filename": filename, "content_type": "text/x-python", "kind": kind}))
        .await
        .unwrap();
    serde_json::to_value(view.upload).unwrap()
}

#[tokio::test]
async fn upload_complete_and_mount() {
    let h = harness(|s| s.quotas.max_upload_bytes = 1_000).await;
    let acme = owner("acme");
    h.grant("acme", "10").await;
    let script = slot(&h, "transcribe.py", "script").await;
    let audio = slot(&h, "audio.ogg", "input").await;
    assert_eq!(script["method"], "PUT");
    assert!(script["complete_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/api/v0/job-inputs/{}/complete", script["input_id"].as_str().unwrap())));
    let url = script["upload_url"].as_str().unwrap();

    // Refused by the router: another object (the script's signature on the audio's path),
    // a tampered signature, and more bytes than the upload limit.
    let audio_url = audio["upload_url"].as_str().unwrap();
    let (script_path, script_query) = url.split_once('?').unwrap();
    let (audio_path, _) = audio_url.split_once('?').unwrap();
    assert_ne!(script_path, audio_path);
    let other = format!("{audio_path}?{script_query}");
    assert_eq!(h.http.put(&other).body("print(1)").send().await.unwrap().status(), 401);
    let tampered = url.replace("sig=", "sig=x");
    assert_eq!(h.http.put(&tampered).body("print(1)").send().await.unwrap().status(), 401);
    assert_eq!(h.http.put(url).body(vec![b'#'; 1001]).send().await.unwrap().status(), 413);

    // Completing before any byte arrived: not ready.
    let (code, _) = refusal(
        h.jobs.complete_job_input(&acme, &json!({"input_id": script["input_id"], "token": script["token"]})).await,
    );
    assert_eq!(code, "JOB_INPUT_NOT_READY");
    let put = h.http.put(url).header("content-type", "text/x-python").body("print('hi')").send().await.unwrap();
    assert_eq!(put.status(), 200, "{:?}", put.text().await);

    let (code, message) = refusal(
        h.jobs.complete_job_input(&acme, &json!({"input_id": script["input_id"], "token": "not-the-token"})).await,
    );
    assert_eq!((code.as_str(), message.as_str()), ("INVALID_REQUEST", "token does not match this upload slot"));
    let (code, message) = refusal(
        h.jobs.complete_job_input(&acme, &json!({"input_id": script["input_id"], "token": audio["token"]})).await,
    );
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("INVALID_REQUEST", "token does not match this upload slot"),
        "another slot's token"
    );
    let (code, message) = refusal(
        h.jobs
            .complete_job_input(
                &acme,
                &json!({"input_id": script["input_id"], "token": script["token"], "size_bytes": 12}),
            )
            .await,
    );
    assert_eq!(code, "INVALID_REQUEST");
    assert!(message.starts_with("size_bytes 12 does not match the 11 bytes"), "{message}");
    let ready = h.jobs.complete_job_input(&acme, &json!({"input_id": script["input_id"], "token": script["token"], "size_bytes": 11, "filename": "transcribe.py"})).await.unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.ready, ready.mount_path.as_str()),
        ("ready", true, "/workspace/scripts/transcribe.py")
    );
    assert_eq!(ready.size_bytes, Some(11));

    let listed = h.jobs.list_job_inputs(&acme, &Value::Null).await.unwrap();
    assert_eq!(listed.inputs.len(), 2);
    assert_eq!((listed.inputs[0].filename.as_str(), listed.inputs[0].status.as_str()), ("audio.ogg", "pending"));

    let job = json!({
        "name": "file-backed", "workload_type": "inference", "image": "python:3.11-slim",
        "command": ["python", "/workspace/scripts/transcribe.py"],
        "script_files": [{"input_id": script["input_id"]}],
    });
    let submitted = h.jobs.submit_job(&acme, &job).await.unwrap();
    assert_eq!(submitted.script_file.as_ref().unwrap().mount_path, "/workspace/scripts/transcribe.py");
    let mut pending = job.clone();
    pending["input_files"] = json!([audio["input_id"]]);
    let (code, _) = refusal(h.jobs.submit_job(&acme, &pending).await);
    assert_eq!(code, "JOB_INPUT_NOT_READY");
    pending["input_files"] = json!(["inp_doesnotexist"]);
    let (code, message) = refusal(h.jobs.submit_job(&acme, &pending).await);
    assert_eq!((code.as_str(), message.as_str()), ("JOB_INPUT_NOT_FOUND", "input 'inp_doesnotexist' was not found"));
    assert_eq!(h.jobs.credits(&acme).await.unwrap().held.micros, 1_001_000, "refused submits hold nothing");
}

#[tokio::test]
async fn an_expired_upload_url_is_refused() {
    let h = harness(|s| s.url_ttl = std::time::Duration::from_secs(1)).await;
    let upload = slot(&h, "late.txt", "input").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let answer = h.http.put(upload["upload_url"].as_str().unwrap()).body("x").send().await.unwrap();
    assert_eq!(answer.status(), 401);
    assert!(answer.text().await.unwrap().contains("expired"));
}

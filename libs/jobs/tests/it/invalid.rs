//! Every invalid field is INVALID_REQUEST naming the field: a data-driven table over the
//! operations and their arguments.

use crate::harness::{harness, owner, refusal};
use serde_json::{json, Value};

#[tokio::test]
async fn every_invalid_field_is_named() {
    let h = harness(|_| {}).await;
    let acme = owner("acme");
    h.grant("acme", "5").await;
    let base = json!({"name": "n", "workload_type": "batch", "image": "python:3.11"});
    let with = |key: &str, value: Value| {
        let mut v = base.clone();
        v[key] = value;
        v
    };
    // (operation, arguments, expected start of the message)
    let submit_cases: Vec<(Value, &str)> = vec![
        (json!({"workload_type": "batch"}), "name, image, and workload_type are required"),
        (json!([1]), "arguments must be a JSON object"),
        (with("workload_type", json!("quantum")), "workload_type must be one of"),
        (with("routing_mode", json!("fastest")), "routing_mode must be one of"),
        (with("command", json!(42)), "command must be an array of strings or one string"),
        (with("args", json!(["ok", 3])), "args[1] must be a string"),
        (with("env", json!({"1BAD": "x"})), "env.1BAD is not a valid variable name"),
        (with("env", json!({"OK": 1})), "env.OK must be a string"),
        (with("input_files", json!(["job_wrong"])), "input_files[0] is not an input id"),
        (with("script_file", json!({"id": "x"})), "script_file must have a string input_id"),
        (with("expected_artifacts", json!(["/etc/passwd"])), "expected_artifacts[0] '/etc/passwd' must be under"),
        (with("metadata", json!("text")), "metadata must be"),
        (
            with("image", json!("ubuntu:22.04")),
            "image 'ubuntu:22.04' is not an image this deployment runs; it runs python:3.*",
        ),
        (with("name", json!("x".repeat(200))), "name must be at most 128 characters"),
    ];
    for (args, expected) in submit_cases {
        let (code, message) = refusal(h.jobs.submit_job(&acme, &args).await);
        assert_eq!(code, "INVALID_REQUEST", "{args}: {message}");
        assert!(message.starts_with(expected), "{args}: {message} should start with {expected}");
    }
    let (code, message) = refusal(h.jobs.estimate_job(&acme, &json!({"image": "python:3.11"})).await);
    assert_eq!((code.as_str(), message.as_str()), ("INVALID_REQUEST", "workload_type is required"));
    let (_, message) = refusal(h.jobs.estimate_job(&acme, &json!({"workload": "batch", "model_size": -1})).await);
    assert!(message.starts_with("model_size"), "{message}");

    let other_cases: Vec<(&str, Value, &str)> = vec![
        ("list_jobs", json!({"limit": 0}), "limit must be an integer from 1 to 100"),
        ("list_jobs", json!({"limit": "many"}), "limit must be"),
        ("list_jobs", json!({"cursor": "nope"}), "cursor is not a cursor"),
        ("list_jobs", json!({"status": 5}), "status must be a string"),
        ("get_job", json!({}), "job_id is required"),
        ("get_job", json!({"job_id": "inp_1"}), "job_id is not a job id"),
        ("get_job_logs", json!({"job_id": "job_1", "limit": 5000}), "limit must be an integer from 1 to 1000"),
        ("get_job_logs", json!({"job_id": "job_1", "cursor": "-4"}), "cursor is not a cursor"),
        ("get_artifact", json!({"job_id": "job_1"}), "artifact_id is required"),
        ("get_artifact", json!({"job_id": "job_1", "artifact_id": "job_1"}), "artifact_id is not an artifact id"),
        ("cancel_job", json!({"job_id": "job_1", "reason": 7}), "reason must be a string"),
        ("upload_job_input", json!({}), "filename is required"),
        ("upload_job_input", json!({"filename": "../x"}), "filename must not contain '/'"),
        (
            "upload_job_input",
            json!({"filename": "a", "content_type": "nope"}),
            "content_type 'nope' is not a media type",
        ),
        ("complete_job_input", json!({"input_id": "inp_1"}), "token is required"),
        ("complete_job_input", json!({"input_id": "x", "token": "t"}), "input_id is not an input id"),
    ];
    for (operation, args, expected) in other_cases {
        let result = match operation {
            "list_jobs" => h.jobs.list_jobs(&acme, &args).await.map(|_| ()),
            "get_job" => h.jobs.get_job(&acme, &args).await.map(|_| ()),
            "get_job_logs" => h.jobs.get_job_logs(&acme, &args).await.map(|_| ()),
            "get_artifact" => h.jobs.get_artifact(&acme, &args).await.map(|_| ()),
            "cancel_job" => h.jobs.cancel_job(&acme, &args).await.map(|_| ()),
            "upload_job_input" => h.jobs.upload_job_input(&acme, &args).await.map(|_| ()),
            "complete_job_input" => h.jobs.complete_job_input(&acme, &args).await.map(|_| ()),
            other => panic!("{other}"),
        };
        let (code, message) = refusal(result);
        assert_eq!(code, "INVALID_REQUEST", "{operation} {args}: {message}");
        assert!(message.starts_with(expected), "{operation} {args}: {message} should start with {expected}");
    }
}

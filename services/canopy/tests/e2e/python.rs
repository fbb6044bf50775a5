//! The `python` built-in end to end, through the real `canopy start` with its sandbox engine:
//! an rmcp client at `/servers/python/mcp` runs the seed's basic workflow and REPL example,
//! hears a slow run's output before its result, sees a probe contained (no Canopy secrets in
//! the environment, loopback Postgres refused) and a path escape refused naming the argument.

use crate::harness::*;
use rmcp::model::{CallToolRequestParams, ProgressNotificationParam};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// What the server said while calls ran.
#[derive(Clone, Default)]
struct Heard(Arc<Mutex<Vec<String>>>);

impl ClientHandler for Heard {
    async fn on_progress(&self, params: ProgressNotificationParam, _: NotificationContext<RoleClient>) {
        self.0.lock().unwrap().push(format!("progress {}", params.message.unwrap_or_default()));
    }

    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.0.lock().unwrap().push(format!("log {}", params.data["text"].as_str().unwrap_or_default()));
    }
}

async fn call(client: &RunningService<RoleClient, Heard>, tool: &str, args: Value) -> Value {
    let params = CallToolRequestParams::new(tool.to_string()).with_arguments(args.as_object().unwrap().clone());
    let result = client.call_tool(params).await.unwrap();
    let text = result.content[0].as_text().unwrap().text.clone();
    let envelope: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(result.is_error, Some(envelope["success"] == false), "{envelope}");
    envelope
}

#[tokio::test]
async fn python_runs_the_seed_examples_streams_and_contains_probes() {
    let mut d = Deployment::new().await;
    d.builtin_servers = r#"["python"]"#.into();
    let base = d.spawn("python", &["start"]).await;
    let heard = Heard::default();
    let transport = StreamableHttpClientTransport::from_uri(format!("{base}/servers/python/mcp"));
    let client = heard.clone().serve(transport).await.expect("connects");
    let mut tools = None;
    for _ in 0..200 {
        if let Ok(list) = client.list_all_tools().await {
            if !list.is_empty() {
                tools = Some(list);
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(tools.expect("python's catalog").len(), 27);

    // Basic workflow.
    let env = call(&client, "create_environment", json!({"name": "myenv", "python_version": "3.11"})).await;
    assert_eq!(env["success"], true, "{env}");
    let id = env["data"]["id"].as_str().unwrap().to_owned();
    let out = call(&client, "run_code", json!({"env_id": id, "code": "import sys; print(sys.version_info[0])"})).await;
    assert_eq!(out["data"]["stdout"].as_str().unwrap().trim(), "3", "{out}");
    // REPL session.
    let repl = call(&client, "repl_create", json!({"env_id": id, "session_name": "analysis"})).await;
    let session = repl["data"]["session_id"].as_str().unwrap().to_owned();
    call(&client, "repl_execute", json!({"session_id": session, "code": "x = 42"})).await;
    let out = call(&client, "repl_execute", json!({"session_id": session, "code": "print(x)"})).await;
    assert_eq!(out["data"]["stdout"].as_str().unwrap().trim(), "42", "{out}");

    // A slow run's output arrives before its result.
    heard.0.lock().unwrap().clear();
    let code = "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.3)\n";
    let out = call(&client, "run_code", json!({"env_id": id, "code": code})).await;
    assert_eq!(out["success"], true, "{out}");
    let heard_now = heard.0.lock().unwrap().clone();
    assert!(heard_now.iter().any(|h| h.starts_with("log tick 0")), "{heard_now:?}");

    // Probes: no Canopy secrets in the environment, loopback Postgres refused.
    let probe = "import os, socket\nprint(sorted(k for k in os.environ if 'CANOPY' in k or 'DATABASE' in k))\ns = socket.socket()\ntry:\n    s.connect(('127.0.0.1', 5432)); print('connected')\nexcept OSError as e:\n    print('refused', e.errno)\n";
    let out = call(&client, "run_code", json!({"env_id": id, "code": probe})).await;
    let stdout = out["data"]["stdout"].as_str().unwrap().to_owned();
    assert!(stdout.starts_with("[]\n") && stdout.contains("refused") && !stdout.contains("connected"), "{stdout}");
    // A path escape is refused naming the argument.
    let out = call(&client, "workspace_read_file", json!({"env_id": id, "filename": "../../etc/passwd"})).await;
    assert_eq!(out["success"], false);
    assert!(out["error"].as_str().unwrap().starts_with("filename"), "{out}");

    let out = call(&client, "destroy_environment", json!({"env_id": id})).await;
    assert_eq!(out["success"], true, "{out}");
    client.cancel().await.ok();
    d.terminate("python").await;
}

async fn python_client(base: &str) -> RunningService<RoleClient, Heard> {
    let transport = StreamableHttpClientTransport::from_uri(format!("{base}/servers/python/mcp"));
    let client = Heard::default().serve(transport).await.expect("connects");
    for _ in 0..200 {
        if client.list_all_tools().await.is_ok_and(|list| !list.is_empty()) {
            return client;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("python's catalog never appeared");
}

/// Environments are Canopy state: after `canopy start` is terminated and started again on the
/// same database, the environment is listed, its next call re-creates it from its frozen
/// specification (its package included) and says so, and the REPL it had is listed as ended
/// with `worker_restarted`, never silently gone.
#[tokio::test]
async fn python_environments_survive_a_restart_and_say_they_were_restored() {
    let mut d = Deployment::new().await;
    d.builtin_servers = r#"["python"]"#.into();
    let base = d.spawn("before", &["start"]).await;
    let client = python_client(&base).await;
    let env = call(&client, "create_environment", json!({"name": "durable"})).await;
    assert_eq!(env["success"], true, "{env}");
    let id = env["data"]["id"].as_str().unwrap().to_owned();
    // One small pure-Python wheel, so the frozen specification has a pin to restore.
    let out = call(&client, "install_packages", json!({"env_id": id, "packages": ["six==1.17.0"]})).await;
    assert_eq!(out["success"], true, "{out}");
    let out = call(&client, "run_code", json!({"env_id": id, "code": "import six; print(six.__version__)"})).await;
    assert_eq!(out["data"]["stdout"].as_str().unwrap().trim(), "1.17.0", "{out}");
    let repl = call(&client, "repl_create", json!({"env_id": id, "session_name": "analysis"})).await;
    let session = repl["data"]["session_id"].as_str().unwrap().to_owned();
    call(&client, "repl_execute", json!({"session_id": session, "code": "x = 42"})).await;
    client.cancel().await.ok();
    assert!(d.terminate("before").await.success());

    let base = d.spawn("after", &["start"]).await;
    let client = python_client(&base).await;
    let listed = call(&client, "list_environments", json!({})).await;
    let envs = listed["data"]["environments"].as_array().unwrap().clone();
    assert_eq!(envs.len(), 1, "{listed}");
    assert_eq!((&envs[0]["id"], &envs[0]["name"]), (&json!(id), &json!("durable")), "{listed}");
    let sessions = call(&client, "repl_list", json!({})).await["data"]["sessions"].clone();
    assert_eq!(sessions[0]["id"], session.as_str(), "{sessions}");
    assert_eq!(sessions[0]["running"], false, "{sessions}");
    assert_eq!(sessions[0]["ended_reason"], "worker_restarted", "{sessions}");
    let out = call(&client, "repl_execute", json!({"session_id": session, "code": "print(x)"})).await;
    assert!(out["error"].as_str().unwrap().contains("ended (worker_restarted)"), "{out}");

    let out = call(&client, "run_code", json!({"env_id": id, "code": "import six; print(six.__version__)"})).await;
    assert_eq!(out["success"], true, "{out}");
    assert_eq!(out["data"]["stdout"].as_str().unwrap().trim(), "1.17.0", "the pin came back: {out}");
    assert_eq!(out["data"]["restored"]["from"], "frozen_specification", "{out}");
    let frozen = call(&client, "freeze_environment", json!({"env_id": id})).await;
    assert_eq!(frozen["data"]["packages"], json!([{"name": "six", "version": "1.17.0"}]), "{frozen}");

    // An id that is not the caller's answers exactly as before: no such environment.
    let out = call(&client, "run_code", json!({"env_id": "env_0123456789abcdef", "code": "print(1)"})).await;
    assert_eq!(out["error"], "env_id env_0123456789abcdef: no such environment");
    let out = call(&client, "destroy_environment", json!({"env_id": id})).await;
    assert_eq!(out["success"], true, "{out}");
    let listed = call(&client, "list_environments", json!({})).await;
    assert_eq!(listed["data"]["environments"], json!([]));
    client.cancel().await.ok();
    d.terminate("after").await;
}

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
/// same database, with the worker's disk gone, the environment is listed, its next call
/// re-creates it from its frozen specification (its package included) and its workspace from
/// the object store, and says so, and the REPL it had is listed as ended with
/// `worker_restarted`, never silently gone.
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
    // Workspace files, written by the tool and by code (any name, binary, a mode), one deleted
    // again, and a symlink out of the workspace: the object store keeps the regular files the
    // workspace held when each call answered, never what a symlink points at.
    let out =
        call(&client, "workspace_write_file", json!({"env_id": id, "filename": "notes~[1].txt", "content": "kept"}))
            .await;
    assert_eq!(out["success"], true, "{out}");
    let code = "import os\nos.makedirs('data', exist_ok=True)\nopen('data/out.bin', 'wb').write(bytes(range(256)))\nopen('run.sh', 'w').write('echo hi')\nos.chmod('run.sh', 0o755)\nopen('gone.txt', 'w').write('x')\nos.symlink('/etc/passwd', 'leak')";
    let out = call(&client, "run_code", json!({"env_id": id, "code": code})).await;
    assert_eq!(out["success"], true, "{out}");
    let out = call(&client, "workspace_delete_file", json!({"env_id": id, "filename": "gone.txt"})).await;
    assert_eq!(out["success"], true, "{out}");
    client.cancel().await.ok();
    assert!(d.terminate("before").await.success());
    // The worker's disk is lost with it, as on a new machine: only the object store remains.
    let _ = std::fs::remove_dir_all(d.state_dir.join("python"));

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
    assert_eq!(out["data"]["restored"]["workspace_files"], 3, "{out}");
    let out = call(&client, "workspace_read_file", json!({"env_id": id, "filename": "notes~[1].txt"})).await;
    assert_eq!(out["data"]["content"], "kept", "{out}");
    let code = "import os\nprint(open('data/out.bin','rb').read() == bytes(range(256)), oct(os.stat('run.sh').st_mode & 0o777), os.path.exists('gone.txt'), os.path.lexists('leak'))";
    let out = call(&client, "run_code", json!({"env_id": id, "code": code})).await;
    assert_eq!(
        out["data"]["stdout"].as_str().unwrap().trim(),
        "True 0o755 False False",
        "symlinks are not kept: {out}"
    );
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

/// Admins see environments over REST and the CLI: an environment made over MCP is listed by
/// `GET /api/v0/python/environments` and `canopy env list` with its REPL session, `canopy env
/// run` tries code in it, `freeze` prints its specification, `destroy` removes it through the
/// built-in (the REPL ends, `environment_destroyed`), and an id that is not the tenant's is
/// `NOT_FOUND` on every route.
#[tokio::test]
async fn python_environments_over_rest_and_the_cli() {
    let mut d = Deployment::new().await;
    d.builtin_servers = r#"["python"]"#.into();
    let base = d.spawn("python", &["start"]).await;
    let client = python_client(&base).await;
    let env = call(&client, "create_environment", json!({"name": "admin-view"})).await;
    let id = env["data"]["id"].as_str().unwrap().to_owned();
    let repl = call(&client, "repl_create", json!({"env_id": id, "session_name": "analysis"})).await;
    let session = repl["data"]["session_id"].as_str().unwrap().to_owned();

    let (status, listed) = get_json(&format!("{base}/api/v0/python/environments")).await;
    assert_eq!(status, 200, "{listed}");
    let envs = listed.as_array().unwrap();
    assert_eq!(envs.len(), 1, "{listed}");
    assert_eq!(
        (&envs[0]["id"], &envs[0]["name"], &envs[0]["status"]),
        (&json!(id), &json!("admin-view"), &json!("active"))
    );
    assert_eq!(envs[0]["owner"], "user:dev", "{listed}");
    let s = &envs[0]["sessions"][0];
    assert_eq!((&s["id"], &s["kind"], &s["state"]), (&json!(session), &json!("repl"), &json!("running")), "{listed}");

    let home = crate::cli_runner::temp_home("python-env");
    let cli = |args: &[&str]| {
        let mut all = vec!["--registry".to_string(), base.clone()];
        all.extend(args.iter().map(|a| a.to_string()));
        let home = home.clone();
        async move {
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            crate::cli_runner::canopy(&home, &all).await
        }
    };
    let out = cli(&["env", "list"]).await;
    let table = out.ok();
    assert!(table.starts_with("ENV "), "{table}");
    let line = table.lines().find(|l| l.starts_with(&id)).unwrap_or_else(|| panic!("{table}"));
    assert!(line.contains("admin-view") && line.contains("user:dev") && line.contains("1/1"), "{table}");
    assert_eq!(cli(&["--json", "env", "list"]).await.json(), listed);
    let shown = cli(&["env", "get", &id]).await;
    assert!(shown.ok().contains(&session) && shown.ok().contains("running"), "{}", shown.stdout);

    let out = cli(&["env", "run", &id, "-c", "print(6*7)"]).await;
    assert_eq!(out.ok(), "42\n");
    cli(&["env", "run", &id, "-c", "raise SystemExit(3)"]).await.failed_with("exit code 3");

    let frozen = cli(&["env", "freeze", &id]).await.json();
    let (status, rest_frozen) = get_json(&format!("{base}/api/v0/python/environments/{id}/freeze")).await;
    assert_eq!((status, &frozen), (200, &rest_frozen));
    assert!(frozen.is_object() && !frozen.as_object().unwrap().is_empty(), "{frozen}");

    let out = cli(&["env", "destroy", &id]).await;
    assert_eq!(out.ok(), format!("Destroyed {id}.\n"));
    let (_, listed) = get_json(&format!("{base}/api/v0/python/environments")).await;
    assert_eq!(listed, json!([]));
    let (status, gone) = get_json(&format!("{base}/api/v0/python/environments/{id}")).await;
    assert_eq!((status, &gone["status"]), (200, &json!("destroyed")), "{gone}");
    assert_eq!(gone["sessions"][0]["state"], "ended", "{gone}");
    assert_eq!(gone["sessions"][0]["ended_reason"], "environment_destroyed", "{gone}");
    // The built-in no longer has it.
    let out = call(&client, "run_code", json!({"env_id": id, "code": "print(1)"})).await;
    assert_eq!(out["error"], format!("env_id {id}: no such environment"), "{out}");
    cli(&["env", "destroy", &id]).await.failed_with("CONFLICT");

    // An id that is not the tenant's: NOT_FOUND, over REST and the CLI.
    let unknown = "env_0123456789abcdef";
    for path in [unknown.to_string(), format!("{unknown}/freeze")] {
        let (status, body) = get_json(&format!("{base}/api/v0/python/environments/{path}")).await;
        assert_eq!((status, &body["error"]["code"]), (404, &json!("NOT_FOUND")), "{body}");
    }
    let response =
        reqwest::Client::new().delete(format!("{base}/api/v0/python/environments/{unknown}")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NOT_FOUND", "{body}");
    for verb in ["get", "destroy", "freeze"] {
        cli(&["env", verb, unknown]).await.failed_with("NOT_FOUND");
    }
    cli(&["env", "run", unknown, "-c", "print(1)"]).await.failed_with("no such environment");
    client.cancel().await.ok();
    d.terminate("python").await;
}

/// Two workers (two `canopy start` processes on one database and bus, as two machines with disks
/// of their own): calls naming an environment go to the worker that holds it, whichever process
/// the client reached and whichever worker took the call, so its REPL's state is there through
/// the other process too and nothing is re-created or ended; once that worker is gone
/// (`kill -9`), the other re-creates the environment and says so.
#[tokio::test]
async fn python_calls_go_to_the_worker_holding_the_environment() {
    let mut d = Deployment::new().await;
    d.builtin_servers = r#"["python"]"#.into();
    // One object store for both, as S3 would be; disks of their own.
    let store = std::env::temp_dir().join(format!("{}-store", d.prefix));
    d.env.push(("CANOPY_BLOBS_DIR".into(), store.display().to_string()));
    let first = d.spawn("first", &["start"]).await;
    let other_disk = std::env::temp_dir().join(format!("{}-second", d.prefix));
    d.env.push(("CANOPY_STATE_DIR".into(), other_disk.display().to_string()));
    let second = d.spawn("second", &["start"]).await;
    let clients = [python_client(&first).await, python_client(&second).await];

    let env = call(&clients[0], "create_environment", json!({"name": "held"})).await;
    assert_eq!(env["success"], true, "{env}");
    let id = env["data"]["id"].as_str().unwrap().to_owned();
    // Which worker made it (rmcp's client asks for progress, so the call went over NATS to
    // either): the holder's id names its process.
    let holder: String = sqlx::query_scalar("SELECT holder FROM rm_python_envs WHERE env_id = $1")
        .bind(&id)
        .fetch_one(&d.db.pool)
        .await
        .unwrap();
    let pid_of = |name: &str| d.processes_pid(name);
    let holding = ["first", "second"]
        .into_iter()
        .position(|name| holder.split(':').nth(1) == Some(pid_of(name).to_string().as_str()))
        .unwrap_or_else(|| panic!("the holder {holder} is one of the two processes"));
    let (holder_name, survivor) = (["first", "second"][holding], &clients[1 - holding]);

    let repl = call(survivor, "repl_create", json!({"env_id": id, "session_name": "s"})).await;
    assert_eq!(repl["success"], true, "{repl}");
    let session = repl["data"]["session_id"].as_str().unwrap().to_owned();
    call(&clients[0], "repl_execute", json!({"session_id": session, "code": "x = 41"})).await;
    for client in &clients {
        let out = call(client, "repl_execute", json!({"session_id": session, "code": "print(x + 1)"})).await;
        assert_eq!(out["data"]["stdout"].as_str().unwrap_or_default().trim(), "42", "{out}");
    }
    let out = call(survivor, "workspace_write_file", json!({"env_id": id, "filename": "a.txt", "content": "hi"})).await;
    assert_eq!(out["success"], true, "{out}");
    for client in &clients {
        let out = call(client, "workspace_read_file", json!({"env_id": id, "filename": "a.txt"})).await;
        assert_eq!(out["data"]["content"], "hi", "on the holder's disk: {out}");
        assert!(out["data"].get("restored").is_none(), "{out}");
    }
    let sessions = call(survivor, "repl_list", json!({})).await["data"]["sessions"].clone();
    assert_eq!(sessions[0]["running"], true, "nothing ended: {sessions}");

    // The holder dies: the other worker re-creates the environment and says so.
    let [a, b] = clients;
    let survivor = if holding == 0 { b } else { a };
    d.kill_hard(holder_name);
    let out = call(&survivor, "run_code", json!({"env_id": id, "code": "print(1)"})).await;
    assert_eq!(out["success"], true, "{out}");
    assert_eq!(out["data"]["restored"]["from"], "frozen_specification", "{out}");
    // The file written on the holder's disk came back from the object store.
    let out = call(&survivor, "workspace_read_file", json!({"env_id": id, "filename": "a.txt"})).await;
    assert_eq!(out["data"]["content"], "hi", "{out}");
    let sessions = call(&survivor, "repl_list", json!({})).await["data"]["sessions"].clone();
    assert_eq!(sessions[0]["ended_reason"], "worker_restarted", "{sessions}");
    // Now held by the survivor: its calls run there, with no second re-creation.
    let out = call(&survivor, "run_code", json!({"env_id": id, "code": "print(2)"})).await;
    assert!(out["data"].get("restored").is_none(), "{out}");
    survivor.cancel().await.ok();
    let _ = std::fs::remove_dir_all(&other_disk);
    let _ = std::fs::remove_dir_all(&store);
}

//! Built-in servers end to end, through the real `canopy start`: `grid` and `python` are servers
//! of every tenant (transport `builtin`), with their declared catalogs; the diagnostic
//! `canopy-echo` shows a built-in's calls on every path (`/servers/canopy-echo/mcp`, `/mcp`
//! prefixed, REST invoke), its progress and log messages arriving before the result, a
//! caller's cancellation reaching the handler, disable/enable, an allow list and a missing OAuth
//! scope refusing it; and users cannot take, replace or deregister a built-in.

use crate::harness::*;
use rmcp::model::{CallToolRequest, CallToolRequestParams, ClientRequest, ProgressNotificationParam};
use rmcp::service::{NotificationContext, PeerRequestOptions, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ALL_BUILTINS: &str = r#"["grid", "python", "canopy-echo"]"#;

const GRID_TOOLS: [&str; 11] = [
    "cancel_job",
    "estimate_job",
    "get_artifact",
    "get_job",
    "get_job_events",
    "get_job_logs",
    "list_artifacts",
    "list_job_inputs",
    "list_jobs",
    "submit_job",
    "upload_job_input",
];

fn args(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// What the server said to this client while its calls ran, in arrival order.
#[derive(Clone, Default)]
struct Heard(Arc<Mutex<Vec<String>>>);

impl ClientHandler for Heard {
    async fn on_progress(&self, params: ProgressNotificationParam, _: NotificationContext<RoleClient>) {
        self.0.lock().unwrap().push(format!("progress {}", params.progress));
    }

    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.0.lock().unwrap().push(format!("log {}", params.data.as_str().unwrap_or_default()));
    }
}

async fn connect(url: &str, token: Option<&str>) -> (Heard, RunningService<RoleClient, Heard>) {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string());
    if let Some(token) = token {
        config = config.auth_header(token.to_string());
    }
    let heard = Heard::default();
    let client = heard.clone().serve(StreamableHttpClientTransport::from_config(config)).await.expect("connects");
    (heard, client)
}

async fn names(client: &RunningService<RoleClient, Heard>) -> BTreeSet<String> {
    client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect()
}

fn text(result: &rmcp::model::CallToolResult) -> String {
    result.content[0].as_text().map(|t| t.text.clone()).unwrap_or_default()
}

/// Waits until the tenant's built-ins are discovered; answers `GET /api/v0/servers`.
async fn ready_servers(base: &str, token: Option<&str>, expected: &[&str]) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let request = reqwest::Client::new().get(format!("{base}/api/v0/servers"));
        let request = match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        };
        let list: Value = request.send().await.unwrap().json().await.unwrap_or(Value::Null);
        let servers = list.as_array().cloned().unwrap_or_default();
        if expected.iter().all(|name| servers.iter().any(|s| s["name"] == *name && s["status"] == "ready")) {
            return servers;
        }
        assert!(std::time::Instant::now() < deadline, "built-ins not ready: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn builtin_servers_are_served_called_streamed_cancelled_and_toggled_like_any_server() {
    let mut d = Deployment::new().await;
    d.builtin_servers = ALL_BUILTINS.into();
    let base = d.spawn("all", &["start"]).await;
    let servers = ready_servers(&base, None, &["grid", "python", "canopy-echo"]).await;
    for name in ["grid", "python", "canopy-echo"] {
        let server = servers.iter().find(|s| s["name"] == name).unwrap();
        assert_eq!(server["transport"], "builtin", "{server}");
    }
    let grid = servers.iter().find(|s| s["name"] == "grid").unwrap();
    assert_eq!(grid["tool_count"], 11, "{grid}");

    // /servers/grid/mcp offers exactly Jungle Grid's names, with their definitions.
    let (_, client) = connect(&format!("{base}/servers/grid/mcp"), None).await;
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(names(&client).await, GRID_TOOLS.iter().map(|s| s.to_string()).collect());
    let submit = tools.iter().find(|t| t.name == "submit_job").unwrap();
    assert!(submit.output_schema.is_some() && submit.annotations.as_ref().unwrap().open_world_hint == Some(true));
    assert_eq!(submit.meta.as_ref().unwrap().get("canopy/scope"), Some(&json!("jobs:submit")));
    // Its calls run on the jobs service (services/canopy/tests/e2e/grid.rs has the flow).
    let invalid = client.call_tool(CallToolRequestParams::new("submit_job")).await.unwrap();
    assert_eq!(invalid.is_error, Some(true));
    assert!(text(&invalid).starts_with("submit_job failed: INVALID_REQUEST: "), "{}", text(&invalid));
    let _ = client.cancel().await;

    // /mcp shows them prefixed; a built-in's tool is called there and on its own endpoint.
    let (heard, client) = connect(&format!("{base}/mcp"), None).await;
    let all = names(&client).await;
    assert!(all.contains("grid__submit_job") && all.contains("python__run_code") && all.contains("canopy-echo__echo"));
    let echoed = client
        .call_tool(CallToolRequestParams::new("canopy-echo__echo").with_arguments(args(json!({"text": "hi /mcp"}))))
        .await
        .unwrap();
    assert_eq!(echoed.structured_content, Some(json!({"text": "hi /mcp"})));

    // Progress and log messages arrive in order, before the result.
    let progressed = client
        .call_tool(
            CallToolRequestParams::new("canopy-echo__progress")
                .with_arguments(args(json!({"steps": 2, "delay_ms": 50}))),
        )
        .await
        .unwrap();
    assert_eq!(text(&progressed), "done after 2 steps");
    // (rmcp's client runs each notification's handler in a task of its own, so only the order
    // within a kind is the server's.)
    let heard_now = heard.0.lock().unwrap().clone();
    let of = |kind: &str| heard_now.iter().filter(|h| h.starts_with(kind)).cloned().collect::<Vec<_>>();
    assert_eq!(
        (of("progress"), of("log")),
        (vec!["progress 1".to_string(), "progress 2".into()], vec!["log step 1".to_string(), "log step 2".into()])
    );

    // A cancelled call reaches the handler: its token is cancelled (the handler counts it).
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(
        CallToolRequestParams::new("canopy-echo__wait").with_arguments(args(json!({"seconds": 60}))),
    ));
    let handle = client.peer().send_request_with_option(request, PeerRequestOptions::no_options()).await.unwrap();
    eventually(Duration::from_secs(5), || async { heard.0.lock().unwrap().iter().any(|h| h == "progress 0") }).await;
    handle.cancel(Some("test".into())).await.unwrap();
    let stats = || async {
        let result = client.call_tool(CallToolRequestParams::new("canopy-echo__stats")).await.unwrap();
        result.structured_content.unwrap()["cancelled"].as_u64().unwrap()
    };
    eventually(Duration::from_secs(5), || async { stats().await == 1 }).await;

    // REST invoke takes the same path.
    let invoke = format!("{base}/api/v0/tools/invoke");
    let (status, result) = post_json(&invoke, json!({"name": "canopy-echo__echo", "text": "hi REST"})).await;
    assert_eq!((status, &result["structuredContent"]), (200, &json!({"text": "hi REST"})), "{result}");

    // Disabled, MCP callers are refused it as unknown; enabled again, it answers.
    let (status, _) = post_json(&format!("{base}/api/v0/servers/canopy-echo/disable"), json!({})).await;
    assert_eq!(status, 200);
    eventually(Duration::from_secs(5), || async {
        let call = CallToolRequestParams::new("canopy-echo__echo").with_arguments(args(json!({"text": "x"})));
        client.call_tool(call).await.is_err()
    })
    .await;
    // REST gives the same answer as MCP, as for any server's disabled tool: unknown.
    let (status, body) = post_json(&invoke, json!({"name": "canopy-echo__echo", "text": "x"})).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("NOT_FOUND")), "{body}");
    let (status, _) = post_json(&format!("{base}/api/v0/servers/canopy-echo/enable"), json!({})).await;
    assert_eq!(status, 200);
    eventually(Duration::from_secs(5), || async {
        let call = CallToolRequestParams::new("canopy-echo__echo").with_arguments(args(json!({"text": "x"})));
        client.call_tool(call).await.is_ok()
    })
    .await;
    let _ = client.cancel().await;

    // Users cannot take a built-in's name, replace or deregister it, or register a built-in.
    let register = format!("{base}/api/v0/servers");
    let (status, body) = post_json(&register, json!({"name": "grid", "url": "http://127.0.0.1:9/mcp"})).await;
    assert_eq!((status, &body["error"]["code"]), (409, &json!("CONFLICT")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("built into Canopy"), "{body}");
    let (status, body) =
        post_json(&format!("{register}?force=true"), json!({"name": "grid", "url": "http://127.0.0.1:9/mcp"})).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = post_json(&register, json!({"name": "mine", "transport": "builtin"})).await;
    assert_eq!(status, 400, "{body}");
    let deleted = reqwest::Client::new().delete(format!("{register}/grid")).send().await.unwrap();
    assert_eq!(deleted.status(), 409);
    let (status, _) = get_json(&format!("{register}/grid")).await;
    assert_eq!(status, 200, "still there");
    d.terminate("all").await;
}

#[tokio::test]
async fn enterprise_tenants_get_the_builtins_and_admission_applies_allow_lists_and_scopes() {
    let mut d = Deployment::new().await;
    d.builtin_servers = ALL_BUILTINS.into();
    let base = d.spawn("enterprise", &["start", "--enterprise"]).await;
    let (status, init) = post_json(&format!("{base}/api/v0/init-server"), json!({})).await;
    assert_eq!(status, 201, "{init}");
    let owner = init["access_token"].as_str().unwrap().to_string();
    let operator = init["operator_token"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();

    // `default` has them, and so does a tenant created now.
    let servers = ready_servers(&base, Some(&owner), &["grid", "python", "canopy-echo"]).await;
    assert!(servers.iter().all(|s| s["transport"] == "builtin"), "{servers:?}");
    let created = http
        .post(format!("{base}/api/v0/tenants"))
        .bearer_auth(&operator)
        .json(&json!({"id": "acme", "owner": "root"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let acme = created["owner_access_token"].as_str().unwrap().to_string();
    let servers = ready_servers(&base, Some(&acme), &["grid", "python"]).await;
    assert!(servers.iter().any(|s| s["name"] == "python" && s["transport"] == "builtin"), "{servers:?}");

    // An MCP client allowed canopy-echo only: grid is unknown to it.
    let created = http
        .post(format!("{base}/api/v0/mcp-clients"))
        .bearer_auth(&owner)
        .json(&json!({"name": "agent", "allowed_servers": ["canopy-echo"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let agent: Value = created.json().await.unwrap();
    let agent = agent["access_token"].as_str().unwrap().to_string();
    let (_, client) = connect(&format!("{base}/mcp"), Some(&agent)).await;
    let visible = names(&client).await;
    assert!(visible.iter().all(|n| n.starts_with("canopy-echo__")) && !visible.is_empty(), "{visible:?}");
    let denied = client.call_tool(CallToolRequestParams::new("grid__list_jobs")).await;
    assert!(denied.is_err(), "not in the allow list: unknown");
    let ok = client
        .call_tool(CallToolRequestParams::new("canopy-echo__echo").with_arguments(args(json!({"text": "allowed"}))))
        .await
        .unwrap();
    assert_eq!(text(&ok), "allowed");
    let _ = client.cancel().await;

    // An OAuth token of that client with mcp:tools only lacks the built-in's own scope.
    let token = http
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "agent"),
            ("client_secret", agent.as_str()),
            ("scope", "mcp:tools"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let token: Value = token.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let (_, client) = connect(&format!("{base}/mcp"), Some(&token)).await;
    assert!(names(&client).await.is_empty(), "built-in tools need their own scope to be listed");
    let refused = client
        .call_tool(CallToolRequestParams::new("canopy-echo__echo").with_arguments(args(json!({"text": "x"}))))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("canopy:diagnostics"), "names the scope: {refused}");
    let _ = client.cancel().await;
    d.terminate("enterprise").await;
}

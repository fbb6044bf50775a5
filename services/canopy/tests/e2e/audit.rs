//! The audit log end to end: the real `canopy start --enterprise`, the fixture upstream, a real
//! MCP client with an MCP client identity's bearer token, and `canopy audit` reading
//! `GET /api/v0/audit`. A second tenant (seeded with the domain's commands and the deployment's
//! key, as an operator would create it) registers the same server name and calls it too.
//!
//! Covered: a call through the gateway appears once, with the caller, tenant, server, name, the
//! SHA-256 of the canonical arguments (never the arguments), outcome and latency; a REST invoke
//! and a tool error too; admin actions with their actor; each tenant's owner sees only their
//! tenant; members and MCP clients get FORBIDDEN; filters, cursor paging and bad input through
//! the CLI.

use crate::cli_runner::*;
use crate::harness::Deployment;
use canopy_domain::identity::{Role, User, UserCommand};
use canopy_domain::tenant::{Tenant, TenantCommand};
use canopy_domain::{ServerName, TenantId};
use canopy_eventstore::{CommandContext, CommandExecutor, EventStore};
use canopy_fixture_server::{serve_http, FixtureOptions};
use canopy_readmodels::CanopyProjector;
use canopy_secrets::Sealer;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::ServiceExt as _;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// SHA-256 of `{"message":"audit-secret-argument-7f3a"}`, computed with `sha256sum`.
const ECHO_DIGEST: &str = "da82ca5616a6c9bc6ea222e02fd41edad3434d34b1ac9f3eed25dd2e70dd265e";
/// `{"message":"boom"}`
const FAIL_DIGEST: &str = "631e6b9a50dbcb3e32d78444ea4bd146549315501aeece0104b89c012d5994a8";
/// `{"a":1,"b":2}`
const ADD_DIGEST: &str = "43258cff783fe7036d8a43033f830adfc60ec037382473548ac742b888292777";
/// `{}`
const EMPTY_DIGEST: &str = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// `{"message":"globex-call"}`
const GLOBEX_DIGEST: &str = "efc80df8c9842e19c54ec6ae3c73307427d66ba364ae2fa125e0dd9c25be8de1";

/// A second tenant and its owner, created with the domain's commands (as an operator would);
/// answers the owner's token.
async fn seed_tenant(d: &Deployment, tenant: &str) -> String {
    let executor = CommandExecutor::new(EventStore::new(d.db.pool.clone()), Arc::new(CanopyProjector));
    let sealer = Sealer::from_base64(&d.secret_key).unwrap();
    let id = TenantId::parse(tenant.to_string()).unwrap();
    let ctx = CommandContext::new(id.clone(), "operator:e2e");
    let create = TenantCommand::Create { id, display_name: tenant.into() };
    executor.execute::<Tenant>(&ctx, tenant, &create).await.unwrap();
    let token = Sealer::generate_token();
    let name = ServerName::parse("owner".to_string()).unwrap();
    let create = UserCommand::Create { name, role: Role::Owner, token: sealer.token_digest(&token) };
    executor.execute::<User>(&ctx, "owner", &create).await.unwrap();
    token
}

/// Calls tools on `/mcp` with a bearer token.
async fn call_tools(base: &str, token: &str, calls: &[(&str, Value)]) -> Vec<rmcp::model::CallToolResult> {
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(token.to_string());
    let client = ().serve(rmcp::transport::StreamableHttpClientTransport::from_config(config)).await.unwrap();
    // The edge's catalog follows the registration's events within moments.
    let start = Instant::now();
    loop {
        let listed: Vec<String> =
            client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
        if calls.iter().all(|(name, _)| listed.iter().any(|l| l == name)) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the tools never showed on {base}/mcp");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut results = Vec::new();
    for (name, args) in calls {
        let params = CallToolRequestParams::new(name.to_string()).with_arguments(args.as_object().unwrap().clone());
        results.push(client.call_tool(params).await.unwrap());
    }
    let _ = client.cancel().await;
    results
}

/// `canopy --json audit ARGS` until it lists at least `n` entries.
async fn audit_until(home: &Path, token: &str, args: &[&str], n: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let mut all = vec!["--access-token", token, "--json", "audit"];
        all.extend(args);
        let page = canopy(home, &all).await.json();
        let entries = page["entries"].as_array().unwrap().clone();
        if entries.len() >= n {
            return entries;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{} of {n} entries: {page}", entries.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn only<'a>(entries: &'a [Value], name: &str) -> &'a Value {
    let found: Vec<&Value> = entries.iter().filter(|e| e["name"] == name).collect();
    assert_eq!(found.len(), 1, "exactly one '{name}' entry: {entries:#?}");
    found[0]
}

#[tokio::test]
async fn audit_of_calls_and_changes_per_tenant() {
    let mut d = Deployment::new().await;
    let base = d.spawn("enterprise", &["start", "--enterprise"]).await;
    // With the conformance fixtures: prompts and resources besides the tools.
    let options = FixtureOptions { conformance: true, ..Default::default() };
    let upstream = serve_http("127.0.0.1:0".parse().unwrap(), options).await.unwrap();
    let home = temp_home("audit-owner");
    canopy(&home, &["--registry", &base, "init-server"]).await.ok();
    let conf = std::fs::read_to_string(home.join(".canopy.conf")).unwrap();
    let owner = conf.lines().find_map(|l| l.strip_prefix("access_token: ")).unwrap().to_string();
    canopy(&home, &["register", "--name", "fx", "--url", &upstream.url()]).await.ok();
    let agent = printed_token(canopy(&home, &["create", "mcp-client", "agent", "--allow", "fx"]).await.ok());
    let alice = printed_token(canopy(&home, &["create", "user", "alice"]).await.ok());

    // A second tenant, with a server of the same name, called by its owner.
    let globex = seed_tenant(&d, "globex").await;
    canopy(&home, &["--access-token", &globex, "register", "--name", "fx", "--url", &upstream.url()]).await.ok();
    call_tools(&base, &globex, &[("fx__echo", json!({"message": "globex-call"}))]).await;

    // Calls in `default`: an MCP client's (one ok, one tool error) and the owner's REST invoke.
    let results = call_tools(
        &base,
        &agent,
        &[("fx__echo", json!({"message": "audit-secret-argument-7f3a"})), ("fx__fail", json!({"message": "boom"}))],
    )
    .await;
    assert_eq!(results[1].is_error, Some(true));
    canopy(&home, &["invoke", "fx__add", "--input", r#"{"a": 1, "b": 2}"#]).await.ok();

    audit_until(&home, &owner, &["--kind", "call"], 3).await;
    // Whatever else would arrive (a repeat) has had time to.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls = audit_until(&home, &owner, &["--kind", "call"], 3).await;
    assert_eq!(calls.len(), 3, "each call once, none of globex's: {calls:#?}");
    let echo = only(&calls, "echo");
    assert_eq!(
        (&echo["kind"], &echo["tenant"], &echo["actor"], &echo["server"], &echo["method"], &echo["outcome"]),
        (&json!("call"), &json!("default"), &json!("client:agent"), &json!("fx"), &json!("tools/call"), &json!("ok"))
    );
    assert_eq!(echo["arguments_sha256"], ECHO_DIGEST);
    assert!(echo["latency_ms"].as_f64().unwrap() > 0.0, "{echo}");
    assert!(!echo["call_id"].as_str().unwrap().is_empty());
    let fail = only(&calls, "fail");
    assert_eq!((&fail["outcome"], &fail["arguments_sha256"]), (&json!("tool_error"), &json!(FAIL_DIGEST)));
    let add = only(&calls, "add");
    assert_eq!(
        (&add["actor"], &add["arguments_sha256"], &add["outcome"]),
        (&json!("user:admin"), &json!(ADD_DIGEST), &json!("ok"))
    );
    let everything = canopy(&home, &["--json", "audit", "--limit", "500"]).await.json();
    let shown = everything.to_string();
    assert!(!shown.contains("audit-secret-argument-7f3a") && !shown.contains("globex"), "{shown}");
    assert!(everything["entries"].as_array().unwrap().iter().all(|e| e["tenant"] == "default"));

    // Admin actions, with their actor.
    let admin = canopy(&home, &["--json", "audit", "--kind", "admin", "--actor", "user:admin"]).await.json();
    let did = |event: &str, id: &str| {
        admin["entries"].as_array().unwrap().iter().any(|e| e["event_type"] == event && e["aggregate_id"] == id)
    };
    assert!(
        did("server.registered", "fx") && did("mcp_client.created", "agent") && did("user.created", "alice"),
        "{admin}"
    );

    // The table.
    let table = canopy(&home, &["audit"]).await;
    let text = table.ok();
    assert!(text.starts_with("TIME") && text.contains("ARGS SHA-256"), "{text}");
    assert!(
        text.contains("client:agent") && text.contains("tools/call fx/echo") && text.contains("tool_error"),
        "{text}"
    );
    assert!(text.contains("server.registered server/fx") && text.contains(&ECHO_DIGEST[..12]), "{text}");

    // Filters.
    let names = |run: Run| -> Vec<String> {
        run.json()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap_or("-").to_string())
            .collect()
    };
    assert_eq!(names(canopy(&home, &["--json", "audit", "--tool", "echo"]).await), ["echo"]);
    assert_eq!(names(canopy(&home, &["--json", "audit", "--outcome", "tool_error"]).await), ["fail"]);
    assert_eq!(names(canopy(&home, &["--json", "audit", "--actor", "client:agent"]).await), ["fail", "echo"]);
    assert_eq!(names(canopy(&home, &["--json", "audit", "--kind", "call", "--server", "fx"]).await).len(), 3);
    let newest = calls[0]["at"].as_str().unwrap().to_string();
    assert_eq!(names(canopy(&home, &["--json", "audit", "--since", &newest]).await).len(), 1);
    assert_eq!(names(canopy(&home, &["--json", "audit", "--kind", "call", "--until", &newest]).await).len(), 2);

    // Paging: every entry once.
    let all: Vec<Value> = everything["entries"].as_array().unwrap().clone();
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["--json", "audit", "--limit", "2"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let page = canopy(&home, &args).await.json();
        paged.extend(page["entries"].as_array().unwrap().clone());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(paged, all);
    let text = canopy(&home, &["audit", "--limit", "1"]).await;
    assert!(text.ok().contains("More: canopy audit --cursor "), "{}", text.stdout);

    // Bad input: the API's 400, as the CLI shows errors.
    canopy(&home, &["audit", "--since", "yesterday"]).await.failed_with("INVALID_REQUEST:");
    canopy(&home, &["audit", "--cursor", "garbage"]).await.failed_with("INVALID_REQUEST:");
    canopy(&home, &["audit", "--limit", "501"]).await.failed_with("INVALID_REQUEST:");

    // Members and MCP clients may not read it.
    canopy(&home, &["--access-token", &alice, "audit"]).await.failed_with("FORBIDDEN:");
    canopy(&home, &["--access-token", &agent, "audit"]).await.failed_with("FORBIDDEN:");

    // Prompt gets and resource reads take the same worker path and are audited alike.
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(agent.clone());
    let client = ().serve(rmcp::transport::StreamableHttpClientTransport::from_config(config)).await.unwrap();
    client.get_prompt(rmcp::model::GetPromptRequestParams::new("fx__test_simple_prompt")).await.unwrap();
    let read = rmcp::model::ReadResourceRequestParams::new("canopy://fx/test://static-text");
    client.read_resource(read).await.unwrap();
    let _ = client.cancel().await;
    let agent_calls = audit_until(&home, &owner, &["--kind", "call", "--actor", "client:agent"], 4).await;
    let prompt = only(&agent_calls, "test_simple_prompt");
    assert_eq!((&prompt["method"], &prompt["arguments_sha256"]), (&json!("prompts/get"), &json!(EMPTY_DIGEST)));
    let resource = only(&agent_calls, "test://static-text");
    assert_eq!((&resource["method"], &resource["outcome"]), (&json!("resources/read"), &json!("ok")));
    assert!(resource.get("arguments_sha256").is_none(), "{resource}");

    // A change's summary: which items, never more of the change.
    canopy(&home, &["disable", "tool", "fx__add"]).await.ok();
    let text = canopy(&home, &["audit", "--kind", "admin", "--limit", "1"]).await;
    assert!(text.ok().contains("user:admin  server.features_toggled server/fx (tool add disabled)"), "{}", text.stdout);

    // globex's owner sees globex's call and changes, nothing of default's.
    let theirs = audit_until(&home, &globex, &["--kind", "call"], 1).await;
    assert_eq!(theirs.len(), 1, "{theirs:#?}");
    assert_eq!((&theirs[0]["tenant"], &theirs[0]["actor"]), (&json!("globex"), &json!("user:owner")));
    assert_eq!(theirs[0]["arguments_sha256"], GLOBEX_DIGEST);
    let theirs = canopy(&home, &["--access-token", &globex, "--json", "audit", "--limit", "500"]).await.json();
    let entries = theirs["entries"].as_array().unwrap();
    assert!(entries.iter().all(|e| e["tenant"] == "globex"), "{theirs}");
    assert!(!theirs.to_string().contains("client:agent") && !theirs.to_string().contains("user:admin"), "{theirs}");

    d.terminate("enterprise").await;
    let _ = std::fs::remove_dir_all(home);
}

/// Calls the edge refuses before any worker sees them are in the audit log too: who tried what
/// (the arguments' digest, never the arguments) and why, with the same answer the caller got
/// (an item outside the caller's allow list is NOT_FOUND, as for one that does not exist).
#[tokio::test]
async fn refused_calls_are_audited_too() {
    let mut d = Deployment::new().await;
    let base = d.spawn("enterprise", &["start", "--enterprise"]).await;
    let upstream = serve_http("127.0.0.1:0".parse().unwrap(), FixtureOptions::default()).await.unwrap();
    let home = temp_home("audit-refusals");
    canopy(&home, &["--registry", &base, "init-server"]).await.ok();
    let conf = std::fs::read_to_string(home.join(".canopy.conf")).unwrap();
    let owner = conf.lines().find_map(|l| l.strip_prefix("access_token: ")).unwrap().to_string();
    canopy(&home, &["register", "--name", "fx", "--url", &upstream.url()]).await.ok();
    canopy(&home, &["register", "--name", "vault", "--url", &upstream.url()]).await.ok();
    let agent = printed_token(canopy(&home, &["create", "mcp-client", "agent", "--allow", "fx"]).await.ok());

    // The agent sees fx (so its catalog is at the edge), then tries vault's echo and a tool
    // that does not exist.
    call_tools(&base, &agent, &[("fx__echo", json!({"message": "allowed"}))]).await;
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(agent.clone());
    let client = ().serve(rmcp::transport::StreamableHttpClientTransport::from_config(config)).await.unwrap();
    for name in ["vault__echo", "fx__nope"] {
        let params = CallToolRequestParams::new(name)
            .with_arguments(json!({"message": "refused-arg-9c1"}).as_object().unwrap().clone());
        let refused = client.call_tool(params).await.unwrap_err().to_string();
        assert!(refused.contains("unknown tool"), "{name}: {refused}");
    }
    let _ = client.cancel().await;
    // REST invoke alike.
    let invoke = reqwest::Client::new()
        .post(format!("{base}/api/v0/tools/invoke"))
        .bearer_auth(&agent)
        .json(&json!({"name": "vault__add", "a": 1, "b": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(invoke.status().as_u16(), 404);

    let refused = audit_until(&home, &owner, &["--kind", "call", "--outcome", "error"], 3).await;
    let add = refused.iter().find(|e| e["name"] == "add").unwrap_or_else(|| panic!("{refused:#?}"));
    assert_eq!(
        (&add["server"], &add["actor"], &add["error_code"], &add["arguments_sha256"]),
        (&json!("vault"), &json!("client:agent"), &json!("NOT_FOUND"), &json!(ADD_DIGEST))
    );
    let vault = refused
        .iter()
        .find(|e| e["server"] == "vault" && e["name"] == "echo")
        .unwrap_or_else(|| panic!("{refused:#?}"));
    assert_eq!(
        (&vault["actor"], &vault["name"], &vault["method"], &vault["error_code"]),
        (&json!("client:agent"), &json!("echo"), &json!("tools/call"), &json!("NOT_FOUND"))
    );
    // sha256 of the canonical `{"message":"refused-arg-9c1"}`
    assert_eq!(vault["arguments_sha256"], "4a3aa8f7f0772ebdc61c3c0d1f4c6e1186f365f400752ff091a00994b8f37a11");
    let nope = refused.iter().find(|e| e["name"] == "nope").unwrap_or_else(|| panic!("{refused:#?}"));
    assert_eq!((&nope["server"], &nope["error_code"]), (&json!("fx"), &json!("NOT_FOUND")));
    assert!(!serde_json::to_string(&refused).unwrap().contains("refused-arg-9c1"));
    d.terminate("enterprise").await;
}

//! The enterprise verbs of the `canopy` binary (`init-server`, `login`, `create|update|delete
//! user|mcp-client` (a user's update: its role), `list users|mcp-clients`, and `--access-token` / `CANOPY_ACCESS_TOKEN` /
//! `~/.canopy.conf` on every request) against the real REST API in enterprise mode.
//!
//! `cli_enterprise_verbs` serves `canopy_api::router` in enterprise mode from this test process
//! on a real port with a fresh database (the CLI cannot tell the difference);
//! `cli_against_canopy_start_enterprise` runs the real `canopy start --enterprise`, REST and MCP.

use crate::cli_runner::*;
use crate::harness::{free_port, Deployment};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// `canopy ARGS` with `HOME=home` and `env`.
async fn canopy(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    canopy_with_env(home, env, args).await
}

/// The REST API in enterprise mode on a port of its own, with a fresh database; no worker, so
/// registrations stay `pending`.
async fn enterprise_api() -> (String, canopy_testkit::TestDb) {
    use canopy_eventstore::{CommandExecutor, EventStore};
    let db = canopy_testkit::fresh_database().await;
    let executor = CommandExecutor::new(EventStore::new(db.pool.clone()), Arc::new(canopy_readmodels::CanopyProjector));
    canopy_api::ensure_default_tenant(&executor).await.unwrap();
    let prefix = canopy_testkit::unique("e2eentcli");
    let bus = canopy_bus::Bus::connect(&canopy_testkit::nats_url(), &prefix, "e2e-enterprise-cli").await.unwrap();
    let jobs = canopy_jobs::Jobs::from_config(
        &canopy_config::Config::from_layers(
            None,
            &[("CANOPY_BLOBS_DIR".into(), std::env::temp_dir().join("canopy-test-blobs").display().to_string())],
        )
        .unwrap(),
        executor.clone(),
        bus.clone(),
        &canopy_secrets::Sealer::from_bytes(&[1u8; 32]).unwrap(),
    )
    .unwrap();
    let state = canopy_api::ApiState {
        mode: canopy_api::Mode::Enterprise,
        executor,
        bus,
        sealer: canopy_secrets::Sealer::from_bytes(&[3u8; 32]).unwrap(),
        access_tokens: None,
        discovery_wait: Duration::from_millis(100),
        call_timeout: Duration::from_secs(2),
        public_url: "http://canopy.test".into(),
        oauth: None,
        jobs,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, canopy_api::router(state)).await });
    (base, db)
}

#[tokio::test]
async fn cli_enterprise_verbs() {
    let (base, db) = enterprise_api().await;
    let home = temp_home("ent-owner");
    let dead = format!("http://127.0.0.1:{}/mcp", free_port());

    // Nothing without a token; the message says how to get one.
    canopy(&home, &[], &["--registry", &base, "list", "servers"]).await.failed_with("canopy: UNAUTHORIZED:");

    // init-server: once; the registry and the owner's token land in ~/.canopy.conf, private.
    let out = canopy(&home, &[], &["--registry", &base, "init-server"]).await;
    assert!(out.ok().contains("Owner user 'admin' created"), "{}", out.stdout);
    let conf_path = home.join(".canopy.conf");
    let conf = std::fs::read_to_string(&conf_path).unwrap();
    assert!(conf.contains(&format!("registry_url: {base}\n")) && conf.contains("access_token: "), "{conf}");
    let owner_token = conf.lines().find_map(|l| l.strip_prefix("access_token: ")).unwrap().to_string();
    assert!(!out.stdout.contains(&owner_token), "the token is saved, not printed");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&conf_path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    canopy(&home, &[], &["init-server"]).await.failed_with("CONFLICT: this Canopy is already initialized");

    // From now on the conf file names registry and token.
    let owner = |args: &'static [&'static str]| canopy(&home, &[], args);
    for name in ["alpha", "beta"] {
        canopy(&home, &[], &["register", "--name", name, "--url", &dead]).await.ok();
    }

    // Users: a generated token is printed once, as the login command; a custom one is not echoed.
    let out = owner(&["create", "user", "alice"]).await;
    assert!(out.ok().contains("User 'alice' created successfully (role member)"), "{}", out.stdout);
    let alice = printed_token(&out.stdout);
    let out = owner(&["create", "user", "bob", "--role", "admin", "--access-token", "bob-token-123"]).await;
    assert!(!out.ok().contains("bob-token-123"), "{}", out.stdout);
    let users = owner(&["list", "users"]).await;
    let names: Vec<&str> = users.ok().lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names, ["admin", "alice", "bob"], "{}", users.stdout);
    let listed = owner(&["--json", "list", "users"]).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 3);
    for token in [&owner_token, &alice, &"bob-token-123".to_string()] {
        assert!(!listed.to_string().contains(token.as_str()), "reads never show tokens: {listed}");
    }

    // MCP clients: by flags (generated token), and from MCPJungle's file with access_token_ref.
    let out = owner(&["create", "mcp-client", "cursor", "--allow", "alpha", "--description", "Cursor"]).await;
    assert!(
        out.ok().contains("MCP client 'cursor' created successfully!\nServers accessible: alpha\n"),
        "{}",
        out.stdout
    );
    let cursor = printed_token(&out.stdout);
    let file = home.join("claude.json");
    std::fs::write(
        &file,
        r#"{"name": "claude", "allowed_servers": ["beta"], "access_token_ref": {"env": "CLAUDE_TOKEN"}}"#,
    )
    .unwrap();
    let conf_arg = file.to_str().unwrap();
    canopy(&home, &[("CLAUDE_TOKEN", "claude-token-456")], &["create", "mcp-client", "-c", conf_arg]).await.ok();
    std::fs::write(&file, r#"{"name": "nobody", "allowed_servers": ["beta"]}"#).unwrap();
    canopy(&home, &[], &["create", "mcp-client", "-c", conf_arg]).await.failed_with("custom access token is required");
    let clients = owner(&["list", "mcp-clients"]).await;
    assert!(clients.ok().contains("cursor") && clients.stdout.contains("claude"), "{}", clients.stdout);

    // Each request carries the token it is given: --access-token, then CANOPY_ACCESS_TOKEN, then the file.
    let servers_as = |token: String, by_env: bool| {
        let home = home.clone();
        async move {
            let run = match by_env {
                true => canopy(&home, &[("CANOPY_ACCESS_TOKEN", &token)], &["--json", "list", "servers"]).await,
                false => canopy(&home, &[], &["--access-token", &token, "--json", "list", "servers"]).await,
            };
            let list = run.json();
            list.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        }
    };
    assert_eq!(servers_as(cursor.clone(), false).await, ["alpha"]);
    assert_eq!(servers_as("claude-token-456".into(), true).await, ["beta"]);
    assert_eq!(servers_as(owner_token.clone(), false).await, ["alpha", "beta"]);

    // Update: the flags given replace, the rest stays.
    let out = owner(&["update", "mcp-client", "cursor", "--allow", "alpha,beta"]).await;
    assert!(out.ok().contains("Servers accessible: alpha,beta"), "{}", out.stdout);
    assert_eq!(servers_as(cursor.clone(), false).await, ["alpha", "beta"]);
    owner(&["update", "mcp-client", "cursor"]).await.failed_with("nothing to update");

    // A member logs in elsewhere, uses, and cannot manage.
    let alice_home = temp_home("ent-alice");
    let out = canopy(&alice_home, &[], &["--registry", &base, "login", &alice]).await;
    assert!(out.ok().contains("Access token saved"), "{}", out.stdout);
    canopy(&alice_home, &[], &["list", "servers"]).await.ok();
    canopy(&alice_home, &[], &["register", "--name", "gamma", "--url", &dead]).await.failed_with("FORBIDDEN:");
    canopy(&alice_home, &[], &["list", "users"]).await.failed_with("FORBIDDEN:");

    // Roles: promoted, alice manages from her next request with the same token; an admin cannot
    // make an owner; the last owner stays one; demoted, she cannot manage again.
    let out = owner(&["update", "user", "alice", "--role", "admin"]).await;
    assert!(out.ok().contains("User 'alice' is now admin"), "{}", out.stdout);
    assert!(canopy(&alice_home, &[], &["list", "users"]).await.ok().contains("alice"));
    let as_bob = ["--access-token", "bob-token-123", "update", "user", "alice", "--role", "owner"];
    canopy(&home, &[], &as_bob).await.failed_with("FORBIDDEN: only an owner can make an owner");
    owner(&["update", "user", "admin", "--role", "member"]).await.failed_with("CONFLICT:");
    let updated = owner(&["--json", "update", "user", "alice", "--role", "member"]).await.json();
    assert_eq!((updated["name"].as_str(), updated["role"].as_str()), (Some("alice"), Some("member")), "{updated}");
    canopy(&alice_home, &[], &["list", "users"]).await.failed_with("FORBIDDEN:");
    owner(&["update", "user", "nobody", "--role", "admin"])
        .await
        .failed_with("NOT_FOUND: user 'nobody' does not exist");

    // Deleting revokes at once.
    assert!(owner(&["delete", "mcp-client", "cursor"]).await.ok().contains("no longer works"));
    canopy(&home, &[], &["--access-token", &cursor, "list", "servers"]).await.failed_with("UNAUTHORIZED:");
    owner(&["delete", "user", "alice"]).await.ok();
    canopy(&alice_home, &[], &["list", "servers"]).await.failed_with("UNAUTHORIZED:");
    owner(&["delete", "user", "alice"]).await.failed_with("NOT_FOUND: user 'alice' does not exist");

    // No token reached the event log.
    let (events,): (String,) = sqlx::query_as("SELECT coalesce(string_agg(payload::text, ' '), '') FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    for token in [&owner_token, &alice, &cursor, &"bob-token-123".to_string(), &"claude-token-456".to_string()] {
        assert!(!events.contains(token.as_str()), "a token in the event log");
    }
    let _ = std::fs::remove_dir_all(home);
    let _ = std::fs::remove_dir_all(alice_home);
}

/// The same verbs against the real binary in enterprise mode, then an MCP client with the
/// client's bearer token on `/mcp`: it sees what its allow list admits and nothing else.
#[tokio::test]
async fn cli_against_canopy_start_enterprise() {
    let mut deployment = Deployment::new().await;
    let base = deployment.spawn("enterprise", &["start", "--enterprise"]).await;
    let home = temp_home("ent-start");
    canopy(&home, &[], &["--registry", &base, "list", "servers"]).await.failed_with("UNAUTHORIZED:");
    canopy(&home, &[], &["--registry", &base, "init-server"]).await.ok();
    let out = canopy(&home, &[], &["create", "mcp-client", "cursor", "--allow", "nothing-yet"]).await;
    let cursor = printed_token(out.ok());
    let servers = canopy(&home, &[], &["--access-token", &cursor, "--json", "list", "servers"]).await.json();
    assert_eq!(servers, serde_json::json!([]));
    canopy(&home, &[], &["--access-token", &cursor, "list", "users"]).await.failed_with("FORBIDDEN:");

    // MCP: the admin registers two servers; a client allowed one sees only that one's tools.
    let upstream = crate::harness::fixture().await;
    for name in ["allowed", "hidden"] {
        canopy(&home, &[], &["register", "--name", name, "--url", &upstream.url()]).await.ok();
    }
    let out = canopy(&home, &[], &["create", "mcp-client", "agent", "--allow", "allowed"]).await;
    let agent = printed_token(out.ok());
    let unauthenticated = reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    assert!(unauthenticated.headers()["www-authenticate"].to_str().unwrap().contains("resource_metadata="));
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use rmcp::ServiceExt as _;
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(agent);
    let client = ().serve(rmcp::transport::StreamableHttpClientTransport::from_config(config)).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(!tools.is_empty() && tools.iter().all(|t| t.name.starts_with("allowed__")), "{tools:?}");
    let hidden = client.call_tool(rmcp::model::CallToolRequestParams::new("hidden__echo")).await.unwrap_err();
    assert!(hidden.to_string().contains("unknown tool"), "{hidden}");
    let _ = client.cancel().await;

    // OAuth grants: none yet; an unknown one cannot be revoked; MCP clients may not look.
    let grants = canopy(&home, &[], &["list", "oauth-grants"]).await;
    assert_eq!(grants.ok(), "No OAuth grants.\n");
    canopy(&home, &[], &["delete", "oauth-grant", "0194f1c2-0000-7000-8000-000000000000"])
        .await
        .failed_with("NOT_FOUND:");
    canopy(&home, &[], &["--access-token", &cursor, "list", "oauth-grants"]).await.failed_with("FORBIDDEN:");
    deployment.terminate("enterprise").await;
    let _ = std::fs::remove_dir_all(home);
}

//! The platform operator through the `canopy` binary, against the real REST API in enterprise
//! mode (served from this test process on a real port, fresh database): `init-server` saves the
//! owner's and the operator's tokens in `~/.canopy.conf`; `create tenant` and `list tenants`
//! send the operator's token, every other verb the owner's; the new tenant's owner logs in on
//! another machine and sees only their own tenant; nobody else may create tenants; `suspend` and
//! `resume tenant`. `cli_tenants_against_canopy_start_enterprise` runs the real
//! `canopy start --enterprise`: the new tenant's server at the MCP endpoint for its own owner
//! only, the operator's token unknown there (401), suspension refused at the edge too.

use crate::cli_runner::*;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn conf_value(home: &Path, key: &str) -> Option<String> {
    let conf = std::fs::read_to_string(home.join(".canopy.conf")).unwrap();
    let prefix = format!("{key}: ");
    conf.lines().find_map(|l| l.strip_prefix(&prefix)).map(str::to_string)
}

/// The REST API in enterprise mode on a port of its own, with a fresh database.
async fn enterprise_api() -> (String, canopy_testkit::TestDb) {
    use canopy_eventstore::{CommandExecutor, EventStore};
    let db = canopy_testkit::fresh_database().await;
    let executor = CommandExecutor::new(EventStore::new(db.pool.clone()), Arc::new(canopy_readmodels::CanopyProjector));
    canopy_api::ensure_default_tenant(&executor).await.unwrap();
    let prefix = canopy_testkit::unique("e2etenants");
    let bus = canopy_bus::Bus::connect(&canopy_testkit::nats_url(), &prefix, "e2e-tenants-cli").await.unwrap();
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
        sealer: canopy_secrets::Sealer::from_bytes(&[5u8; 32]).unwrap(),
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
async fn cli_operator_creates_and_lists_tenants() {
    let (base, _db) = enterprise_api().await;
    let home = temp_home("operator");

    // init-server saves both tokens, prints neither.
    let out = canopy(&home, &["--registry", &base, "init-server"]).await;
    let text = out.ok();
    assert!(text.contains("Owner user 'admin' created"), "{text}");
    assert!(text.contains("Platform operator 'operator' created"), "{text}");
    let owner = conf_value(&home, "access_token").expect("the owner's token is saved");
    let operator = conf_value(&home, "operator_token").expect("the operator's token is saved");
    assert_ne!(owner, operator);
    assert!(!text.contains(&owner) && !text.contains(&operator), "saved, not printed:\n{text}");
    canopy(&home, &["init-server"]).await.failed_with("CONFLICT: this Canopy is already initialized");

    // The operator's verbs send operator_token; the rest keep sending the owner's.
    let created = canopy(&home, &["create", "tenant", "acme", "--owner", "alice", "--display-name", "Acme Inc."]).await;
    let text = created.ok();
    assert!(text.contains("Tenant 'acme' (Acme Inc.) created; its owner is 'alice'"), "{text}");
    let alice = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("canopy login "))
        .unwrap_or_else(|| panic!("the owner's token is printed once:\n{text}"))
        .to_string();
    let json =
        canopy(&home, &["--json", "create", "tenant", "globex", "--owner", "gus", "--owner-token", "-gus-1"]).await;
    let json = json.json();
    assert_eq!((json["id"].as_str(), json["owner"]["name"].as_str()), (Some("globex"), Some("gus")));
    assert!(json.get("owner_access_token").is_none(), "a custom token is not echoed");

    let list = canopy(&home, &["list", "tenants"]).await;
    let text = list.ok();
    for expected in ["ID", "STATUS", "acme", "Acme Inc.", "globex", "default", "active"] {
        assert!(text.contains(expected), "'{expected}' missing:\n{text}");
    }
    let ids: Vec<String> = canopy(&home, &["--json", "list", "tenants"])
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["acme", "default", "globex"]);
    assert!(canopy(&home, &["get", "tenant", "acme"]).await.ok().contains("Acme Inc."));
    canopy(&home, &["get", "tenant", "nope"]).await.failed_with("NOT_FOUND: tenant 'nope' does not exist");
    canopy(&home, &["create", "tenant", "Bad_Id", "--owner", "x"]).await.failed_with("INVALID_REQUEST: tenant id");
    canopy(&home, &["create", "tenant", "acme", "--owner", "x"])
        .await
        .failed_with("CONFLICT: tenant 'acme' already exists");

    // Tenant verbs with the owner's token (given explicitly) are refused; the owner's own verbs
    // never see the new tenants' users.
    let users = canopy(&home, &["--json", "list", "users"]).await.json();
    assert_eq!(users.as_array().unwrap().len(), 1, "only admin of default: {users}");
    canopy(&home, &["--access-token", &owner, "list", "tenants"]).await.failed_with("FORBIDDEN:");
    // The operator's token on a tenant's verbs: nothing there.
    let servers = canopy(&home, &["--access-token", &operator, "--json", "list", "servers"]).await.json();
    assert_eq!(servers, serde_json::json!([]));
    canopy(&home, &["--access-token", &operator, "list", "users"]).await.failed_with("NOT_FOUND:");

    // alice on her own machine: her tenant only, and no tenant verbs.
    let alice_home = temp_home("alice");
    canopy(&alice_home, &["--registry", &base, "login", &alice]).await.ok();
    let users = canopy(&alice_home, &["--json", "list", "users"]).await.json();
    assert_eq!(users[0]["name"], "alice");
    assert_eq!(users.as_array().unwrap().len(), 1);
    canopy(&alice_home, &["create", "tenant", "evil", "--owner", "mallory"]).await.failed_with("FORBIDDEN:");
    canopy(&alice_home, &["list", "tenants"]).await.failed_with("FORBIDDEN:");

    // Suspending refuses her token until the tenant is resumed.
    assert!(canopy(&home, &["suspend", "tenant", "acme"]).await.ok().contains("suspended"));
    canopy(&alice_home, &["list", "users"]).await.failed_with("UNAUTHORIZED:");
    assert!(canopy(&home, &["list", "tenants"]).await.ok().contains("suspended"));
    assert!(canopy(&home, &["resume", "tenant", "acme"]).await.ok().contains("active"));
    canopy(&alice_home, &["list", "users"]).await.ok();

    // An operator on another machine logs in with --operator.
    let ops_home = temp_home("ops");
    let login = canopy(&ops_home, &["--registry", &base, "login", "--operator", &operator]).await;
    assert!(login.ok().contains("tenant verbs"), "{}", login.stdout);
    assert_eq!(conf_value(&ops_home, "operator_token").as_deref(), Some(operator.as_str()));
    assert!(conf_value(&ops_home, "access_token").is_none());
    assert!(canopy(&ops_home, &["list", "tenants"]).await.ok().contains("globex"));

    for dir in [home, alice_home, ops_home] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The HTTP status of an MCP `initialize` at `{base}/mcp` with `token`.
async fn mcp_initialize(base: &str, token: &str) -> u16 {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}});
    let response = reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

/// The real `canopy start --enterprise`: a tenant the operator creates is served at the MCP
/// endpoints to its own identities only; the operator's token is unknown there; suspending the
/// tenant refuses its tokens at the edge too, resuming grants them again.
#[tokio::test]
async fn cli_tenants_against_canopy_start_enterprise() {
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use rmcp::ServiceExt as _;
    let mut deployment = crate::harness::Deployment::new().await;
    let base = deployment.spawn("tenants", &["start", "--enterprise"]).await;
    let home = temp_home("tenants-start");
    canopy(&home, &["--registry", &base, "init-server"]).await.ok();
    let operator = conf_value(&home, "operator_token").unwrap();
    let out = canopy(&home, &["create", "tenant", "acme", "--owner", "alice"]).await;
    let alice = out.ok().lines().find_map(|l| l.trim().strip_prefix("canopy login ")).unwrap().to_string();

    // alice registers a server in acme; default's admin does not see it, anywhere.
    let upstream = crate::harness::fixture().await;
    canopy(&home, &["--access-token", &alice, "register", "--name", "crm", "--url", &upstream.url()]).await.ok();
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(alice.clone());
    let client = ().serve(rmcp::transport::StreamableHttpClientTransport::from_config(config)).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(!tools.is_empty() && tools.iter().all(|t| t.name.starts_with("crm__")), "{tools:?}");
    let _ = client.cancel().await;
    let admin = conf_value(&home, "access_token").unwrap();
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(admin);
    let client = ().serve(rmcp::transport::StreamableHttpClientTransport::from_config(config)).await.unwrap();
    assert!(client.list_all_tools().await.unwrap().is_empty(), "default sees nothing of acme's");
    let _ = client.cancel().await;
    assert_eq!(canopy(&home, &["--json", "list", "servers"]).await.json(), serde_json::json!([]));

    // The operator's token is unknown at the MCP endpoints.
    assert_eq!(mcp_initialize(&base, &operator).await, 401);
    assert_eq!(mcp_initialize(&base, &alice).await, 200);

    // Suspended: refused on REST at once and at the edge as soon as the event arrives.
    canopy(&home, &["suspend", "tenant", "acme"]).await.ok();
    canopy(&home, &["--access-token", &alice, "list", "servers"]).await.failed_with("UNAUTHORIZED:");
    crate::harness::eventually(Duration::from_secs(10), || async { mcp_initialize(&base, &alice).await == 401 }).await;
    canopy(&home, &["resume", "tenant", "acme"]).await.ok();
    crate::harness::eventually(Duration::from_secs(10), || async { mcp_initialize(&base, &alice).await == 200 }).await;
    canopy(&home, &["--access-token", &alice, "list", "servers"]).await.ok();

    deployment.terminate("tenants").await;
    let _ = std::fs::remove_dir_all(home);
}

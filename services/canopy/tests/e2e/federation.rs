//! Jumpboot's mDNS federation between two real `canopy start` processes, in a network namespace
//! this test makes for itself, never on the host's network.
//!
//! The test thread leaves the host's network (`unshare(CLONE_NEWNET)`: every process and
//! socket it makes from then on is in the new namespace, whose only interface is its own
//! loopback, brought up with multicast) after creating the two deployments' databases; it then
//! starts a NATS server and a Redis server of its own on that loopback and reaches PostgreSQL
//! through its unix socket. It needs root (`CAP_SYS_ADMIN`), as the project's test machines
//! have; without it the test fails saying so, it never passes without having run.
//!
//! `announcer` (development mode) announces its python server as instance `gpu-server` with a
//! note; `discoverer` (enterprise mode) discovers on `lo` only. The discoverer's admin has
//! already registered a server named `gpu-server` by hand, so the instance is registered as
//! `gpu-server-2`, disabled pending approval: absent from `tools/list` until the admin enables
//! it, listed meanwhile by `python__list_servers` with its endpoint and note. Enabled, its tools
//! appear and `gpu-server-2__run_code` runs code on the announcer. When the announcer stops,
//! the registration stays. In development mode (the second test) a discovery is registered
//! enabled at once, and an instance that announces and discovers never registers itself.

use crate::cli_runner::{canopy, temp_home};
use crate::harness::*;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Processes of the test's own (NATS, Redis), killed when dropped.
#[derive(Default)]
struct Infra(Vec<Child>);

impl Drop for Infra {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Moves this thread (and what it starts from now on) into a network namespace of its own.
fn into_private_network() {
    // SAFETY: unshare only changes the calling thread's network namespace.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "the federation test runs in a network namespace of its own and could not make one \
         (unshare(CLONE_NEWNET): {}); it needs root (CAP_SYS_ADMIN)",
        std::io::Error::last_os_error()
    );
    let up = Command::new("ip").args(["link", "set", "lo", "up", "multicast", "on"]).status();
    assert!(matches!(up, Ok(s) if s.success()), "`ip link set lo up multicast on` failed: {up:?}");
}

async fn wait_for_port(port: u16, what: &str) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not listen on 127.0.0.1:{port} in the test's network namespace");
}

/// A NATS server (JetStream) and a Redis server on this namespace's loopback.
async fn start_infra(infra: &mut Infra, dir: &std::path::Path) -> (String, String) {
    let (nats_port, redis_port) = (free_port(), free_port());
    let store = dir.join("jetstream");
    let nats = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &nats_port.to_string(), "-js", "-sd"])
        .arg(&store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server (installed by scripts/lib/infra.sh)");
    infra.0.push(nats);
    let redis = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &redis_port.to_string(), "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (installed by scripts/lib/infra.sh)");
    infra.0.push(redis);
    wait_for_port(nats_port, "nats-server").await;
    wait_for_port(redis_port, "redis-server").await;
    (format!("nats://127.0.0.1:{nats_port}"), format!("redis://127.0.0.1:{redis_port}"))
}

/// Points a deployment at this namespace's NATS and Redis, and at PostgreSQL's unix socket.
fn use_namespace_infra(d: &mut Deployment, nats: &str, redis: &str) {
    d.nats_url = nats.to_string();
    let db = d.db.url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    let socket = std::env::var("CANOPY_TEST_PG_SOCKET_DIR").unwrap_or_else(|_| "/var/run/postgresql".into());
    d.env.push(("CANOPY_DATABASE_URL".into(), format!("postgres:///{db}?host={socket}&user=postgres")));
    d.env.push(("CANOPY_REDIS_URL".into(), redis.to_string()));
    d.builtin_servers = r#"["python"]"#.into();
    d.env.push(("CANOPY_FEDERATION_INTERFACES".into(), r#"["lo"]"#.into()));
}

async fn client(url: &str, token: &str) -> RunningService<RoleClient, ()> {
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_string()).auth_header(token.to_string());
    ().serve(StreamableHttpClientTransport::from_config(config)).await.expect("MCP client connects")
}

/// Calls a python tool and returns its envelope.
async fn call(client: &RunningService<RoleClient, ()>, tool: &str, args: Value) -> Value {
    let params = CallToolRequestParams::new(tool.to_string()).with_arguments(args.as_object().unwrap().clone());
    let result = client.call_tool(params).await.unwrap_or_else(|e| panic!("{tool}: {e}"));
    let text = result.content[0].as_text().unwrap().text.clone();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{tool}: {e}: {text}"))
}

/// Polls `f` until it gives something, at most `within`.
async fn wait_for<T, F, Fut>(within: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(value) = f().await {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn tool_names(client: &RunningService<RoleClient, ()>) -> Vec<String> {
    client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect()
}

/// Two deployments (their databases made on the host's network), then this thread in a network
/// namespace of its own with its NATS and Redis, both deployments pointed at them.
async fn two_deployments_in_a_private_network() -> (Infra, std::path::PathBuf, Deployment, Deployment) {
    let mut infra = Infra::default();
    let mut first = Deployment::new().await;
    let mut second = Deployment::new().await;
    into_private_network();
    let dir = std::env::temp_dir().join(&first.prefix);
    std::fs::create_dir_all(&dir).unwrap();
    let (nats, redis) = start_infra(&mut infra, &dir).await;
    use_namespace_infra(&mut first, &nats, &redis);
    use_namespace_infra(&mut second, &nats, &redis);
    (infra, dir, first, second)
}

#[tokio::test]
async fn federation_discovers_an_announced_canopy_pending_approval_in_its_own_network() {
    // Dropped in reverse: the canopy processes (and the streams they leave) before the infra.
    let (_infra, dir, mut discovering, mut announcing) = two_deployments_in_a_private_network().await;

    // The discoverer, in enterprise mode; its admin takes the instance's name first.
    discovering.env.push(("CANOPY_FEDERATION_DISCOVER".into(), "true".into()));
    let base = discovering.spawn("discoverer", &["start", "--enterprise"]).await;
    let home = temp_home("federation");
    canopy(&home, &["--registry", &base, "init-server"]).await.ok();
    let conf = std::fs::read_to_string(home.join(".canopy.conf")).unwrap();
    let token = conf.lines().find_map(|l| l.strip_prefix("access_token: ")).unwrap().to_string();
    let dead = format!("http://127.0.0.1:{}/mcp", free_port());
    canopy(&home, &["register", "--name", "gpu-server", "--url", &dead]).await.ok();

    // The announcer, in development mode.
    announcing.env.extend([
        ("CANOPY_FEDERATION_ANNOUNCE".to_string(), "true".to_string()),
        ("CANOPY_FEDERATION_INSTANCE_NAME".into(), "gpu-server".into()),
        ("CANOPY_FEDERATION_NOTE".into(), "GPU server for ML".into()),
    ]);
    let announcer = announcing.spawn("announcer", &["start"]).await;
    let endpoint = format!("{announcer}/servers/python/mcp");

    // Discovered and registered as gpu-server-2 (gpu-server is taken), disabled.
    let listed = wait_for(Duration::from_secs(60), "the announcer registered as gpu-server-2", || async {
        let servers = canopy(&home, &["--json", "list", "servers"]).await.json();
        servers.as_array().unwrap().iter().find(|s| s["name"] == "gpu-server-2").cloned()
    })
    .await;
    assert_eq!(listed["enabled"], false, "pending approval: {listed}");
    assert_eq!(listed["url"], endpoint.as_str(), "{listed}");
    assert_eq!(listed["description"], r#"mDNS federation: instance "gpu-server", note "GPU server for ML""#);

    let mcp = client(&format!("{base}/mcp"), &token).await;
    let names = tool_names(&mcp).await;
    assert!(!names.iter().any(|n| n.starts_with("gpu-server-2__")), "nothing callable before approval: {names:?}");
    let refused = mcp.call_tool(CallToolRequestParams::new("gpu-server-2__list_environments")).await;
    assert!(refused.is_err(), "a pending server's tool is refused: {refused:?}");

    // list_servers lists it, pending.
    let servers = call(&mcp, "python__list_servers", json!({})).await;
    assert_eq!(servers["success"], true, "{servers}");
    let all = servers["data"]["servers"].as_array().unwrap();
    assert_eq!(all.len(), 1, "only the discovered one, not the admin's own gpu-server: {servers}");
    let s = &all[0];
    assert_eq!(
        (&s["instance"], &s["endpoint"], &s["note"], &s["tls"], &s["server"], &s["enabled"], &s["pending"]),
        (
            &json!("gpu-server"),
            &json!(endpoint),
            &json!("GPU server for ML"),
            &json!(false),
            &json!("gpu-server-2"),
            &json!(false),
            &json!(true)
        ),
        "{servers}"
    );

    // The admin approves: the announcer's tools appear, and a call runs code over there.
    canopy(&home, &["enable", "server", "gpu-server-2"]).await.ok();
    let names = wait_for(Duration::from_secs(30), "gpu-server-2's tools after approval", || async {
        let names = tool_names(&mcp).await;
        names.iter().any(|n| n == "gpu-server-2__run_code").then_some(names)
    })
    .await;
    assert!(names.iter().any(|n| n == "gpu-server-2__list_servers"), "{names:?}");
    // Jumpboot's listing of a federated server's tools: its note in front of each description.
    let tools = mcp.list_all_tools().await.unwrap();
    let run_code = tools.iter().find(|t| t.name == "gpu-server-2__run_code").unwrap();
    let description = run_code.description.as_deref().unwrap_or_default();
    assert!(description.starts_with("[GPU server for ML] ") && description.len() > 21, "{description}");
    let own = tools.iter().find(|t| t.name == "python__run_code").unwrap();
    assert!(!own.description.as_deref().unwrap_or_default().starts_with('['), "{own:?}");
    let env = call(&mcp, "gpu-server-2__create_environment", json!({"name": "federated"})).await;
    assert_eq!(env["success"], true, "{env}");
    let id = env["data"]["id"].as_str().unwrap().to_string();
    let out = call(&mcp, "gpu-server-2__run_code", json!({"env_id": id, "code": "print(6 * 7)"})).await;
    assert_eq!(out["success"], true, "{out}");
    assert_eq!(out["data"]["stdout"].as_str().unwrap().trim(), "42", "{out}");
    // It ran on the announcer: its own python server lists the environment.
    let own = ().serve(StreamableHttpClientTransport::from_uri(endpoint.clone())).await.unwrap();
    let envs = call(&own, "list_environments", json!({})).await;
    assert!(envs.to_string().contains(&id), "{envs}");
    let _ = own.cancel().await;
    let _ = mcp.cancel().await;

    // The announcer goes (and says goodbye); the registration stays.
    announcing.terminate("announcer").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let servers = canopy(&home, &["--json", "list", "servers"]).await.json();
    assert!(servers.as_array().unwrap().iter().any(|s| s["name"] == "gpu-server-2"), "{servers}");
    discovering.terminate("discoverer").await;
    let _ = std::fs::remove_dir_all(&home);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Development mode: a Canopy that announces and discovers registers the other instance at
/// once, enabled, and never itself.
#[tokio::test]
async fn federation_in_development_mode_registers_at_once_and_never_itself() {
    let (_infra, dir, mut alpha, mut beta) = two_deployments_in_a_private_network().await;
    alpha.env.extend([
        ("CANOPY_FEDERATION_ANNOUNCE".to_string(), "true".to_string()),
        ("CANOPY_FEDERATION_DISCOVER".into(), "true".into()),
        ("CANOPY_FEDERATION_INSTANCE_NAME".into(), "alpha".into()),
    ]);
    let base = alpha.spawn("alpha", &["start"]).await;
    beta.env.extend([
        ("CANOPY_FEDERATION_ANNOUNCE".to_string(), "true".to_string()),
        ("CANOPY_FEDERATION_INSTANCE_NAME".into(), "Beta Box".into()),
        ("CANOPY_FEDERATION_NOTE".into(), "the other one".into()),
    ]);
    let beta_base = beta.spawn("beta", &["start"]).await;

    let mcp = client(&format!("{base}/mcp"), "unused-in-development-mode").await;
    wait_for(Duration::from_secs(60), "beta's tools on alpha", || async {
        tool_names(&mcp).await.iter().any(|n| n == "beta-box__list_environments").then_some(())
    })
    .await;
    let servers = call(&mcp, "python__list_servers", json!({})).await;
    let all = servers["data"]["servers"].as_array().unwrap();
    assert_eq!(all.len(), 1, "beta only, never alpha itself: {servers}");
    assert_eq!(all[0]["instance"], "Beta Box", "{servers}");
    assert_eq!(all[0]["server"], "beta-box", "{servers}");
    assert_eq!(all[0]["note"], "the other one", "{servers}");
    assert_eq!(all[0]["endpoint"], format!("{beta_base}/servers/python/mcp"), "{servers}");
    assert_eq!((&all[0]["enabled"], &all[0]["pending"]), (&json!(true), &json!(false)), "{servers}");
    let envs = call(&mcp, "beta-box__list_environments", json!({})).await;
    assert_eq!(envs["success"], true, "{envs}");
    let names = tool_names(&mcp).await;
    assert!(!names.iter().any(|n| n.starts_with("alpha")), "{names:?}");
    let _ = mcp.cancel().await;
    beta.terminate("beta").await;
    alpha.terminate("alpha").await;
    let _ = std::fs::remove_dir_all(&dir);
}

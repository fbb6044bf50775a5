//! A server registered disabled, the way mDNS federation registers one pending an admin's
//! approval (`canopy_api::register_disabled`: the registration and its disabling in one
//! transaction), is not contacted at all until it is enabled: its upstream, behind a proxy that
//! counts connections, sees none while a server registered enabled next to it is discovered at
//! once. Enabled, it is discovered then, and its tools appear on `/mcp` and answer calls.

use crate::cli_runner::{canopy, temp_home};
use crate::harness::*;
use canopy_domain::server::{ServerCommand, UpstreamSpec};
use canopy_domain::{ServerId, ServerName, TenantId};
use canopy_eventstore::{CommandContext, CommandExecutor, EventStore};
use canopy_readmodels::CanopyProjector;
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy in front of an upstream that counts the connections it accepted.
struct CountingProxy {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = accepted.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { addr, accepted, task }
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn server(api: &str, name: &str) -> serde_json::Value {
    let (status, body) = get_json(&format!("{api}/api/v0/servers/{name}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn discovery_does_not_contact_a_server_registered_disabled_until_it_is_enabled() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let upstream = fixture().await;
    let proxy = CountingProxy::start(upstream.addr()).await;
    let url = upstream.url().replace(&upstream.addr().to_string(), &proxy.addr.to_string());

    // Registered and disabled in one transaction, exactly as federation registers a discovery
    // pending approval.
    let executor = CommandExecutor::new(EventStore::new(d.db.pool.clone()), Arc::new(CanopyProjector));
    let ctx = CommandContext::new(TenantId::default_tenant(), "system:federation");
    let name = ServerName::parse("approval".to_string()).unwrap();
    let spec: UpstreamSpec = serde_json::from_value(json!({"transport": "streamable_http", "url": url})).unwrap();
    let register =
        ServerCommand::Register { id: ServerId(uuid::Uuid::now_v7()), name: name.clone(), spec, force: false };
    canopy_api::register_disabled(&d.db.pool, &executor, &ctx, &name, &register).await.unwrap();

    // A server registered enabled after it is discovered at once (the POST waits for that), so
    // the relay and the worker's discovery are at work; the disabled one is left alone.
    let (status, control) =
        post_json(&format!("{base}/api/v0/servers"), json!({"name": "control", "url": upstream.url()})).await;
    assert_eq!((status, control["status"].as_str()), (201, Some("ready")), "{control}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(proxy.accepted.load(Ordering::SeqCst), 0, "nobody connected to the disabled server's upstream");
    let pending = server(&base, "approval").await;
    assert_eq!(
        (&pending["status"], &pending["enabled"], &pending["tool_count"]),
        (&json!("pending"), &json!(false), &json!(0))
    );
    let home = temp_home("discovery-pending");
    let shown = canopy(&home, &["--registry", &base, "get", "server", "approval"]).await;
    assert!(shown.ok().contains("pending (discovered when the server is enabled)"), "{}", shown.stdout);
    let mcp = format!("{base}/mcp");
    let client = mcp_client(&mcp).await;
    let names: Vec<String> = client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(names.iter().any(|n| n == "control__echo"), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("approval__")), "{names:?}");

    // Enabled: discovered now, and callable.
    canopy(&home, &["--registry", &base, "enable", "server", "approval"]).await.ok();
    eventually(Duration::from_secs(30), || async { server(&base, "approval").await["status"] == "ready" }).await;
    assert!(proxy.accepted.load(Ordering::SeqCst) > 0, "discovery went through the proxy");
    assert_eq!(server(&base, "approval").await["tool_count"], 10, "every page of the catalog");
    eventually(Duration::from_secs(10), || async {
        client.list_all_tools().await.unwrap().iter().any(|t| t.name == "approval__echo")
    })
    .await;
    let echo = client
        .call_tool(
            CallToolRequestParams::new("approval__echo")
                .with_arguments(json!({"message": "approved"}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(echo.content[0].as_text().unwrap().text, "approved");
    assert_ne!(echo.is_error, Some(true));

    let _ = client.cancel().await;
    let _ = std::fs::remove_dir_all(&home);
}

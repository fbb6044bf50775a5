//! `canopy stdio`: a real rmcp stdio client (`TokioChildProcess`) launches `canopy stdio
//! --server fx` as a desktop client would, against a real `canopy start` with the fixture
//! registered: tools listed unprefixed, a call, progress relayed on the client's own token,
//! and `--group`-less `/mcp` with prefixed names.

use crate::harness::*;
use rmcp::model::{CallToolRequestParams, ProgressNotificationParam};
use rmcp::service::NotificationContext;
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Progress(Arc<Mutex<Vec<f64>>>);

impl ClientHandler for Progress {
    async fn on_progress(&self, params: ProgressNotificationParam, _: NotificationContext<RoleClient>) {
        self.0.lock().unwrap().push(params.progress);
    }
}

fn bridge(d: &Deployment, base: &str, flags: &[&str]) -> TokioChildProcess {
    let home = std::env::temp_dir().join(format!("{}-stdio-home", d.prefix));
    std::fs::create_dir_all(&home).unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_canopy"));
    command.args(["--registry", base, "stdio"]).args(flags).env("HOME", &home).env_remove("CANOPY_ACCESS_TOKEN");
    TokioChildProcess::new(command).unwrap()
}

#[tokio::test]
async fn canopy_stdio_bridges_a_server_endpoint_with_calls_and_progress() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let upstream = fixture().await;
    let (status, _) = post_json(&format!("{base}/api/v0/servers"), json!({"name": "fx", "url": upstream.url()})).await;
    assert_eq!(status, 201);

    let progress = Progress::default();
    let client = progress.clone().serve(bridge(&d, &base, &["--server", "fx"])).await.expect("stdio client connects");
    let names: BTreeSet<String> =
        client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    let expected: BTreeSet<String> = upstream.server().tool_definitions().iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, expected, "unprefixed, every page");
    let echo = client
        .call_tool(
            CallToolRequestParams::new("echo")
                .with_arguments(json!({"message": "through stdio"}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(echo.content[0].as_text().unwrap().text, "through stdio");
    let slow = client
        .call_tool(
            CallToolRequestParams::new("slow")
                .with_arguments(json!({"ms": 300, "steps": 3}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(slow.content[0].as_text().unwrap().text, "done");
    let seen = progress.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "each progress notification, on the client's own token: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order: {seen:?}");
    let _ = client.cancel().await;

    // No flag: all of /mcp, prefixed.
    let client = ().serve(bridge(&d, &base, &[])).await.expect("stdio client connects");
    let names: Vec<String> = client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(names.iter().all(|n| n.starts_with("fx__")) && names.len() == expected.len(), "{names:?}");
    let _ = client.cancel().await;
    d.terminate("all").await;
}

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
use tokio::io::AsyncBufReadExt;

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

/// The value of `key:` in a `~/.canopy.conf`.
fn conf_value(home: &std::path::Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(home.join(".canopy.conf")).ok()?;
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}: ")).map(|v| v.trim_matches('"').to_string()))
}

/// Plays the user's browser for `canopy login --oauth`: opens the printed URL, signs in on
/// Canopy's page with `token`, and follows the redirect to the CLI's loopback listener.
async fn sign_in_as_browser(url: &str, token: &str) {
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = browser.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let html = page.text().await.unwrap();
    let marker = "name=\"request\" value=\"";
    let start = html.find(marker).expect("the sign-in form") + marker.len();
    let request = &html[start..start + html[start..].find('"').unwrap()];
    let authorize = format!("{}/oauth/authorize", url.split("/oauth/authorize").next().unwrap());
    let signed_in = browser
        .post(authorize)
        .header("cookie", cookie)
        .form(&[("request", request), ("token", token), ("action", "allow")])
        .send()
        .await
        .unwrap();
    assert!(signed_in.status().is_redirection(), "{}", signed_in.status());
    let back = signed_in.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with("http://127.0.0.1:") && back.contains("code="), "{back}");
    let landed = browser.get(&back).send().await.unwrap();
    assert_eq!(landed.status(), 200, "the CLI's loopback page");
}

/// `canopy login --oauth --server fx` (enterprise mode) signs the user in at Canopy's own
/// authorization server as a native app does (a client registered for a loopback redirect,
/// PKCE), and `canopy stdio --server fx` then reaches the endpoint with that grant alone (no
/// static token saved): refreshed before use once the access token nears its expiry (2 s
/// here), and after a 401, each time saving the rotated refresh token.
#[tokio::test]
async fn canopy_login_oauth_and_stdio_with_refreshed_tokens() {
    let mut d = Deployment::new().await;
    d.env.push(("CANOPY_OAUTH_ACCESS_TOKEN_TTL_SECS".into(), "2".into()));
    let base = d.spawn("all", &["start", "--enterprise"]).await;
    let (status, init) = post_json(&format!("{base}/api/v0/init-server"), json!({})).await;
    assert_eq!(status, 201, "{init}");
    let owner = init["access_token"].as_str().unwrap().to_string();
    let upstream = fixture().await;
    let registered = reqwest::Client::new()
        .post(format!("{base}/api/v0/servers"))
        .bearer_auth(&owner)
        .json(&json!({"name": "fx", "url": upstream.url()}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);

    let home = std::env::temp_dir().join(format!("{}-oauth-home", d.prefix));
    std::fs::create_dir_all(&home).unwrap();
    let mut login = tokio::process::Command::new(env!("CARGO_BIN_EXE_canopy"))
        .args(["--registry", &base, "login", "--oauth", "--server", "fx", "--no-browser"])
        .env("HOME", &home)
        .env_remove("CANOPY_ACCESS_TOKEN")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = tokio::io::BufReader::new(login.stderr.take().unwrap()).lines();
    let url = loop {
        let line = stderr.next_line().await.unwrap().expect("login prints the sign-in URL");
        if let Some(url) = line.trim().strip_prefix("http") {
            break format!("http{url}");
        }
    };
    assert!(url.contains("code_challenge_method=S256") && url.contains("resource="), "{url}");
    sign_in_as_browser(&url, &owner).await;
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), login.wait()).await.unwrap().unwrap();
    assert!(status.success(), "canopy login --oauth exits 0");
    assert_eq!(conf_value(&home, "oauth_resource"), Some(format!("{base}/servers/fx/mcp")));
    assert_eq!(conf_value(&home, "access_token"), None, "no static token: the grant is all the bridge has");
    let first_refresh = conf_value(&home, "oauth_refresh_token").expect("a refresh token");

    let stdio = |home: &std::path::Path| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_canopy"));
        command
            .args(["--registry", &base, "stdio", "--server", "fx"])
            .env("HOME", home)
            .env_remove("CANOPY_ACCESS_TOKEN");
        TokioChildProcess::new(command).unwrap()
    };
    let echo = |message: &str| {
        CallToolRequestParams::new("echo").with_arguments(json!({"message": message}).as_object().unwrap().clone())
    };
    let client = ().serve(stdio(&home)).await.expect("the bridge connects with the OAuth grant");
    assert!(client.list_all_tools().await.unwrap().iter().any(|t| t.name == "echo"));
    // Past the access token's 2 s: the bridge refreshes before sending.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let answer = client.call_tool(echo("after expiry")).await.unwrap();
    assert_eq!(answer.content[0].as_text().unwrap().text, "after expiry");
    let second_refresh = conf_value(&home, "oauth_refresh_token").unwrap();
    assert_ne!(second_refresh, first_refresh, "the rotated refresh token is saved");
    let _ = client.cancel().await;

    // A token Canopy refuses (401) with a refresh time far off: refreshed after the 401.
    let text = std::fs::read_to_string(home.join(".canopy.conf")).unwrap();
    let text: String = text
        .lines()
        .map(|l| match l.split_once(':').map(|(k, _)| k) {
            Some("oauth_access_token") => "oauth_access_token: not-a-valid-token".to_string(),
            Some("oauth_refresh_at") => "oauth_refresh_at: 99999999999".to_string(),
            _ => l.to_string(),
        })
        .map(|l| l + "\n")
        .collect();
    std::fs::write(home.join(".canopy.conf"), text).unwrap();
    let client = ().serve(stdio(&home)).await.expect("the bridge recovers from a refused token");
    let answer = client.call_tool(echo("after a 401")).await.unwrap();
    assert_eq!(answer.content[0].as_text().unwrap().text, "after a 401");
    assert_ne!(conf_value(&home, "oauth_refresh_token").unwrap(), second_refresh);
    let _ = client.cancel().await;
    let _ = std::fs::remove_dir_all(&home);
}

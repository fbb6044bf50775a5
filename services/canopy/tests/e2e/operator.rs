//! `canopy operator create|rotate NAME`, run on the server against the deployment's database
//! and key: a new platform operator whose printed token works at once, and a rotation that
//! ends the old token.

use crate::harness::*;
use serde_json::json;

/// Runs `canopy operator ARGS` with the deployment's environment: (exit code, stdout, stderr).
async fn operator(d: &Deployment, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["operator"];
    all.extend_from_slice(args);
    let out = tokio::process::Command::from(d.command(&all)).output().await.unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn printed(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Its token (shown only now): "))
        .unwrap_or_else(|| panic!("no token in:\n{stdout}"))
        .to_string()
}

async fn tenants(base: &str, token: &str) -> u16 {
    let response =
        reqwest::Client::new().get(format!("{base}/api/v0/tenants")).bearer_auth(token).send().await.unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn operators_are_created_and_rotated_from_the_server() {
    let mut d = Deployment::new().await;
    let base = d.spawn("enterprise", &["start", "--enterprise"]).await;
    let (status, init) = post_json(&format!("{base}/api/v0/init-server"), json!({})).await;
    assert_eq!(status, 201, "{init}");
    let owner = init["access_token"].as_str().unwrap().to_string();

    let (code, stdout, stderr) = operator(&d, &["create", "ops2"]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let first = printed(&stdout);
    assert_eq!(tenants(&base, &first).await, 200, "the new operator lists tenants");
    assert_eq!(tenants(&base, &owner).await, 403, "a tenant's owner may not");

    let (code, stdout, stderr) = operator(&d, &["rotate", "ops2"]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let second = printed(&stdout);
    assert_ne!(first, second);
    assert_eq!(tenants(&base, &first).await, 401, "the old token no longer works");
    assert_eq!(tenants(&base, &second).await, 200);

    let (code, _, stderr) = operator(&d, &["create", "ops2"]).await;
    assert_ne!(code, Some(0));
    assert!(stderr.contains("already exists"), "{stderr}");
    let (code, _, stderr) = operator(&d, &["rotate", "nobody"]).await;
    assert_ne!(code, Some(0), "{stderr}");
    let (code, _, stderr) = operator(&d, &["create", "Bad Name"]).await;
    assert_ne!(code, Some(0));
    assert!(stderr.contains("operator name"), "{stderr}");
    d.terminate("enterprise").await;
}

//! `GET /api/v0/me`, the principal of the request's token, as the console reads it: the router
//! in-process on a fresh real Postgres database (and the real NATS and Redis), in development
//! mode and in enterprise mode with Canopy's own authorization server and OAuth access tokens at
//! the REST API, as `canopy start` wires them.
//!
//! Covered: development mode's single principal (manages its tenant); 401 without a token;
//! static tokens of an owner, a member, an MCP client and the operator; OAuth access tokens for
//! `/api/v0` got through the authorization code flow with PKCE (as the console gets them): a
//! member asking for `canopy:admin` gets a token without it and manages nothing, an owner's
//! token with it manages the tenant, and without it does not (a scope limits the role); a second
//! tenant's owner is answered with their own tenant.

mod support;

use canopy_api::Mode;
use serde_json::json;
use support::console::Api;

#[tokio::test(flavor = "multi_thread")]
async fn development_mode_answers_its_single_principal() {
    let api = Api::new(Mode::Development, "api-me").await;
    let me = api.me_ok("ignored").await;
    assert_eq!(
        me,
        json!({
            "kind": "development", "name": "dev", "subject": "user:dev", "tenant": "default",
            "manages_tenant": true, "manages_platform": false,
        })
    );
    assert_eq!(api.me(None).await.status, 200, "development mode needs no token");
}

#[tokio::test(flavor = "multi_thread")]
async fn enterprise_mode_answers_the_tokens_principal() {
    let api = Api::new(Mode::Enterprise, "api-me").await;
    let refused = api.me(None).await;
    assert_eq!(refused.status, 401, "{refused:?}");
    assert!(refused.headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    assert_eq!(api.me(Some("not-a-token")).await.status, 401);

    let init = api.json("/api/v0/init-server", None, json!({})).await;
    assert_eq!(init.status, 201, "{init:?}");
    let owner = init.json()["access_token"].as_str().unwrap().to_string();
    let operator = init.json()["operator_token"].as_str().unwrap().to_string();
    let member = api.json("/api/v0/users", Some(&owner), json!({"name": "mia", "role": "member"})).await;
    assert_eq!(member.status, 201, "{member:?}");
    let member = member.json()["access_token"].as_str().unwrap().to_string();
    let client = api.json("/api/v0/mcp-clients", Some(&owner), json!({"name": "bot", "allowed_servers": ["*"]})).await;
    assert_eq!(client.status, 201, "{client:?}");
    let client = client.json()["access_token"].as_str().unwrap().to_string();

    // Static tokens are not scope-limited: `scopes` is absent.
    assert_eq!(
        api.me_ok(&owner).await,
        json!({
            "kind": "user", "name": "admin", "subject": "user:admin", "tenant": "default", "role": "owner",
            "manages_tenant": true, "manages_platform": false,
        })
    );
    let me = api.me_ok(&member).await;
    assert_eq!((&me["kind"], &me["name"], &me["role"]), (&json!("user"), &json!("mia"), &json!("member")));
    assert_eq!((&me["manages_tenant"], &me["manages_platform"]), (&json!(false), &json!(false)));
    let me = api.me_ok(&client).await;
    assert_eq!(
        (&me["kind"], &me["subject"], &me["tenant"]),
        (&json!("client"), &json!("client:bot"), &json!("default"))
    );
    assert!(me.get("role").is_none(), "{me}");
    assert_eq!(me["manages_tenant"], false);
    let me = api.me_ok(&operator).await;
    assert_eq!(
        (&me["kind"], &me["manages_platform"], &me["manages_tenant"]),
        (&json!("operator"), &json!(true), &json!(false))
    );
    assert!(me.get("tenant").is_none(), "the operator belongs to no tenant: {me}");

    // OAuth access tokens for the REST API, as the console gets them.
    let everything = "mcp:tools mcp:prompts mcp:resources canopy:admin";
    let tokens = api.console_sign_in(&member, everything).await.1;
    assert_eq!(tokens["scope"], "mcp:tools mcp:prompts mcp:resources", "the role caps the scopes");
    let me = api.me_ok(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!((&me["subject"], &me["role"]), (&json!("user:mia"), &json!("member")));
    assert_eq!(me["scopes"], json!(["mcp:prompts", "mcp:resources", "mcp:tools"]));
    assert_eq!(me["manages_tenant"], false);

    let tokens = api.console_sign_in(&owner, everything).await.1;
    let me = api.me_ok(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(
        (&me["subject"], &me["role"], &me["manages_tenant"]),
        (&json!("user:admin"), &json!("owner"), &json!(true))
    );
    assert_eq!(me["scopes"], json!(["canopy:admin", "mcp:prompts", "mcp:resources", "mcp:tools"]));
    // A token without canopy:admin limits even an owner.
    let tokens = api.console_sign_in(&owner, "mcp:tools").await.1;
    let me = api.me_ok(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(
        (&me["role"], &me["manages_tenant"], &me["scopes"]),
        (&json!("owner"), &json!(false), &json!(["mcp:tools"]))
    );

    // Another tenant's owner is answered with their own tenant.
    let created = api.json("/api/v0/tenants", Some(&operator), json!({"id": "acme", "owner": "olga"})).await;
    assert_eq!(created.status, 201, "{created:?}");
    let olga = created.json()["owner_access_token"].as_str().unwrap().to_string();
    let tokens = api.console_sign_in(&olga, everything).await.1;
    let me = api.me_ok(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(
        (&me["subject"], &me["tenant"], &me["manages_tenant"]),
        (&json!("user:olga"), &json!("acme"), &json!(true))
    );
}

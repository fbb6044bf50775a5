//! The platform operator signs in through Canopy's own authorization server (authorization
//! code with PKCE, as the console does) and acts as the operator at the REST API, and only
//! there: the router in-process on a fresh real Postgres database (and the real NATS and
//! Redis), in enterprise mode with OAuth access tokens at the REST API, as `canopy start`
//! wires them.
//!
//! Covered: the operator's code is for the platform (`operator:NAME`, the scope
//! `canopy:operator` alone, whatever else was asked for); `/me` says operator; the token lists,
//! creates, suspends and resumes tenants, and inside a tenant gets exactly what the operator's
//! static token gets (nothing); refresh keeps it the operator; an operator signing in for an MCP
//! endpoint, or for a client that did not ask for `canopy:operator`, is refused on the page; a
//! user asking for `canopy:operator` never gets it and their tokens (code and refresh) never act
//! as the operator; a removed operator's refresh token fails and ends the grant, and their
//! access token is refused at once.

mod support;

use canopy_api::Mode;
use canopy_domain::operator::OperatorCommand;
use canopy_eventstore::{CommandExecutor, EventStore};
use canopy_readmodels::CanopyProjector;
use serde_json::json;
use std::sync::Arc;
use support::console::{api_resource, Api, ISSUER};

impl Api {
    /// Executes `command` on the platform operator `name`, as the server itself would (there
    /// is no API for rotating or removing one).
    async fn operator_command(&self, name: &str, command: OperatorCommand) {
        let executor = CommandExecutor::new(EventStore::new(self.db.pool.clone()), Arc::new(CanopyProjector));
        let ctx = canopy_eventstore::CommandContext::new(canopy_domain::TenantId::platform(), "system:test");
        executor.execute::<canopy_domain::operator::Operator>(&ctx, name, &command).await.unwrap();
    }
}

/// What the console asks for: every scope the metadata lists.
const EVERYTHING: &str = "mcp:tools mcp:prompts mcp:resources canopy:admin canopy:operator";

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_signs_in_for_the_platform_only() {
    let api = Api::new(Mode::Enterprise, "api-oauth-operator").await;
    let init = api.json("/api/v0/init-server", None, json!({})).await;
    assert_eq!(init.status, 201, "{init:?}");
    let owner = init.json()["access_token"].as_str().unwrap().to_string();
    let operator = init.json()["operator_token"].as_str().unwrap().to_string();

    let (client_id, tokens) = api.console_sign_in(&operator, EVERYTHING).await;
    assert_eq!(tokens["scope"], "canopy:operator", "the operator's one scope, nothing of a tenant");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let me = api.me_ok(&access).await;
    assert_eq!(
        (&me["kind"], &me["subject"], &me["manages_platform"], &me["manages_tenant"]),
        (&json!("operator"), &json!("operator:operator"), &json!(true), &json!(false))
    );
    assert!(me.get("tenant").is_none(), "{me}");

    // Tenants: list, create (the owner's token once), suspend, resume.
    let listed = api.call("GET", "/api/v0/tenants", &access, None).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.json()[0]["id"], "default", "{listed:?}");
    let created = api.call("POST", "/api/v0/tenants", &access, Some(json!({"id": "acme", "owner": "olga"}))).await;
    assert_eq!(created.status, 201, "{created:?}");
    let olga = created.json()["owner_access_token"].as_str().unwrap().to_string();
    assert_eq!(api.me_ok(&olga).await["tenant"], "acme");
    assert_eq!(api.call("POST", "/api/v0/tenants/acme/suspend", &access, None).await.status, 200);
    assert_eq!(api.me(Some(&olga)).await.status, 401, "suspended");
    assert_eq!(api.call("POST", "/api/v0/tenants/acme/resume", &access, None).await.status, 200);
    assert_eq!(api.me(Some(&olga)).await.status, 200);

    // Inside a tenant the OAuth token gets exactly what the static operator token gets.
    for (method, path, body) in [
        ("GET", "/api/v0/servers", None),
        ("GET", "/api/v0/users", None),
        ("GET", "/api/v0/mcp-clients", None),
        ("GET", "/api/v0/audit", None),
        ("GET", "/api/v0/oauth-grants", None),
        ("POST", "/api/v0/users", Some(json!({"name": "mole", "role": "owner"}))),
        ("POST", "/api/v0/mcp-clients", Some(json!({"name": "mole", "allowed_servers": ["*"]}))),
    ] {
        let by_oauth = api.call(method, path, &access, body.clone()).await;
        let by_static = api.call(method, path, &operator, body).await;
        assert_eq!((by_oauth.status, by_oauth.json()), (by_static.status, by_static.json()), "{method} {path}");
        // No name of a tenant's identities in any answer.
        assert!(!by_oauth.text.contains("\"admin\"") && !by_oauth.text.contains("olga"), "{path}: {by_oauth:?}");
    }
    let users = api.call("GET", "/api/v0/users", &owner, None).await;
    assert!(!users.text.contains("mole"), "{users:?}");

    // Refreshed, it is still the operator's, and only that.
    let refreshed = api.refresh(&client_id, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    assert_eq!(refreshed.json()["scope"], "canopy:operator");
    let access = refreshed.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(api.me_ok(&access).await["kind"], "operator");
    let servers = api.call("GET", "/api/v0/servers", &access, None).await;
    assert_eq!(servers.json(), api.call("GET", "/api/v0/servers", &operator, None).await.json());

    // Not at an MCP endpoint, nor for a client that did not ask to act as the operator.
    let client = api.register().await;
    let (page, _) = api.sign_in(&client, &operator, EVERYTHING, &format!("{ISSUER}/mcp")).await;
    assert_eq!(page.status, 403, "{page:?}");
    assert!(page.text.contains("only to Canopy&#39;s REST API"), "{}", page.text);
    let (page, _) = api.sign_in(&client, &operator, "mcp:tools canopy:admin", &api_resource()).await;
    assert_eq!(page.status, 403, "{page:?}");
    assert!(page.text.contains("canopy:operator"), "{}", page.text);
    assert!(page.headers.get("location").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_users_code_and_refresh_token_never_act_as_the_operator() {
    let api = Api::new(Mode::Enterprise, "api-oauth-operator").await;
    let init = api.json("/api/v0/init-server", None, json!({})).await;
    let owner = init.json()["access_token"].as_str().unwrap().to_string();

    let (client_id, tokens) = api.console_sign_in(&owner, EVERYTHING).await;
    let scope = tokens["scope"].as_str().unwrap();
    assert!(!scope.contains("canopy:operator") && scope.contains("canopy:admin"), "{scope}");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let me = api.me_ok(&access).await;
    assert_eq!((&me["kind"], &me["manages_platform"]), (&json!("user"), &json!(false)));
    let tenants = api.call("GET", "/api/v0/tenants", &access, None).await;
    assert_eq!(tenants.status, 403, "{tenants:?}");
    let create = api.call("POST", "/api/v0/tenants", &access, Some(json!({"id": "evil", "owner": "x"}))).await;
    assert_eq!(create.status, 403, "{create:?}");

    // Asking a refresh for the operator's scope is refused; the refreshed token is the user's.
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let widened = api
        .form(
            "/oauth/token",
            None,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &client_id),
                ("refresh_token", refresh_token),
                ("scope", "canopy:operator"),
            ],
        )
        .await;
    assert_eq!((widened.status, widened.json()["error"].clone()), (400, json!("invalid_scope")), "{widened:?}");
    let (client_id, tokens) = api.console_sign_in(&owner, "canopy:operator").await;
    assert_eq!(tokens["scope"], "", "asked for the operator's scope alone: a user gets nothing");
    let refreshed = api.refresh(&client_id, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    let access = refreshed.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(api.me_ok(&access).await["kind"], "user");
    assert_eq!(api.call("GET", "/api/v0/tenants", &access, None).await.status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_operators_grant_ends_with_them() {
    let api = Api::new(Mode::Enterprise, "api-oauth-operator").await;
    let init = api.json("/api/v0/init-server", None, json!({})).await;
    let operator = init.json()["operator_token"].as_str().unwrap().to_string();
    let (client_id, tokens) = api.console_sign_in(&operator, EVERYTHING).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(api.me_ok(&access).await["kind"], "operator");
    // A code signed in for before the removal and exchanged after it gets nothing either.
    let client = api.register().await;
    let (back, verifier) = api.sign_in(&client, &operator, EVERYTHING, &api_resource()).await;
    let code = Api::code_of(&back);

    api.operator_command("operator", OperatorCommand::Delete).await;

    let me = api.me(Some(&access)).await;
    assert_eq!(me.status, 401, "the access token stands for nobody now: {me:?}");
    assert_eq!(api.me(Some(&operator)).await.status, 401, "nor the static token");
    let refreshed = api.refresh(&client_id, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!((refreshed.status, refreshed.json()["error"].clone()), (400, json!("invalid_grant")), "{refreshed:?}");
    let revoked: (bool,) = sqlx::query_as("SELECT bool_and(revoked_at IS NOT NULL) FROM oauth_refresh_families")
        .fetch_one(&api.db.pool)
        .await
        .unwrap();
    assert!(revoked.0, "the grant is ended");
    let exchanged = api.exchange(&client, &code, &verifier).await;
    assert_eq!((exchanged.status, exchanged.json()["error"].clone()), (400, json!("invalid_grant")), "{exchanged:?}");
}

/// A leaked operator token is stopped by rotating it: the OAuth grants made with the old token
/// end at their next refresh (the new token's sign-ins work).
#[tokio::test(flavor = "multi_thread")]
async fn an_operators_grant_ends_when_its_token_is_rotated() {
    let api = Api::new(Mode::Enterprise, "api-oauth-operator").await;
    let init = api.json("/api/v0/init-server", None, json!({})).await;
    let operator = init.json()["operator_token"].as_str().unwrap().to_string();
    let (client_id, tokens) = api.console_sign_in(&operator, EVERYTHING).await;
    let refreshed = api.refresh(&client_id, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status, 200, "before the rotation: {refreshed:?}");
    let refresh_token = refreshed.json()["refresh_token"].as_str().unwrap().to_string();

    let token = canopy_domain::identity::TokenDigest::parse("b".repeat(64)).unwrap();
    api.operator_command("operator", OperatorCommand::RotateToken { token }).await;

    let refreshed = api.refresh(&client_id, &refresh_token).await;
    assert_eq!((refreshed.status, refreshed.json()["error"].clone()), (400, json!("invalid_grant")), "{refreshed:?}");
    assert_eq!(api.me(Some(&operator)).await.status, 401, "the old static token is no one's now");
}

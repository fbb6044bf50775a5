//! `GET/POST /oauth/authorize`: the authorization code flow with PKCE S256 (OAuth 2.1).
//!
//! `GET` checks the client and its redirect URI first (a bad one gets an error page, never a
//! redirect: RFC 6749 section 4.1.2.1), then everything else (errors go back to the client's
//! redirect URI), and shows a sign-in page. The request travels through the page signed
//! (HMAC-SHA256 under a key derived from the deployment key, ten minutes), so nothing is stored
//! until the user signs in. The user signs in with their Canopy access token (the one `canopy
//! create user` printed); the grant is theirs: their tenant, `sub` `user:NAME`, the scopes asked
//! for that their role allows (`canopy:admin` only for owners and admins; never
//! `canopy:operator`). The platform operator signs in with their operator token, to the REST API
//! only and only for a client that asked for `canopy:operator`: the grant is in the reserved
//! tenant `platform`, `sub` `operator:NAME`, with that one scope (the operator's token at an MCP
//! endpoint, or for a client that did not ask, is refused on the page). `POST` then issues a
//! single-use code (stored as a keyed hash, `oauth.code_ttl_secs`) bound to client, redirect
//! URI, PKCE challenge, user, scopes and resource, and redirects with `code`, `state` and `iss`
//! (RFC 9207).

use super::clients::KnownClient;
use super::error::OAuthError;
use super::{OAuthServer, MCP_SCOPES, SCOPE_ADMIN, SCOPE_OPERATOR};
use crate::ApiState;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use canopy_auth::{OpaqueSecret, PkceChallenge, SecretKind};
use canopy_domain::TenantId;
use canopy_readmodels::TokenHolder;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::HashMap;

const PENDING_LIFETIME_SECS: i64 = 600;

/// An authorization request waiting for the user, as carried through the sign-in page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Pending {
    pub(super) client_id: String,
    pub(super) client_name: String,
    pub(super) redirect_uri: String,
    pub(super) code_challenge: String,
    /// The scopes asked for (validated), empty when none were.
    pub(super) scopes: Vec<String>,
    pub(super) state: Option<String>,
    pub(super) resource: String,
    pub(super) exp: i64,
    /// The browser that opened the sign-in page: its `canopy_oauth_browser` cookie (set with
    /// the page, `SameSite=Lax`) must come back with the form. A page that posts the form from
    /// another site (to sign a victim in through their identity provider's live session, for
    /// an attacker's client) sends no such cookie.
    pub(super) browser: String,
}

/// The cookie binding a sign-in form to the browser that was shown it.
pub(super) const BROWSER_COOKIE: &str = "canopy_oauth_browser";

impl OAuthServer {
    fn sign_pending(&self, pending: &Pending) -> String {
        let body = B64URL.encode(serde_json::to_vec(pending).expect("pending serializes"));
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.pending_key).expect("any key length");
        mac.update(body.as_bytes());
        format!("{body}.{}", B64URL.encode(mac.finalize().into_bytes()))
    }

    /// The signed request a sign-in form carries, posted by the browser that was shown it, or
    /// the page saying it is no good.
    pub(super) fn pending_of(
        &self,
        headers: &axum::http::HeaderMap,
        form: &HashMap<String, String>,
    ) -> Result<Pending, Box<Response>> {
        let pending = form.get("request").and_then(|r| self.open_pending(r)).ok_or_else(|| {
            Box::new(error_page(
                StatusCode::BAD_REQUEST,
                "This sign-in request is not valid or has expired. Start again from the application.",
            ))
        })?;
        if !same_browser(headers, &pending) {
            return Err(Box::new(error_page(
                StatusCode::FORBIDDEN,
                "This sign-in did not start in this browser. Start again from the application.",
            )));
        }
        Ok(pending)
    }

    fn open_pending(&self, signed: &str) -> Option<Pending> {
        let (body, tag) = signed.split_once('.')?;
        let tag = B64URL.decode(tag).ok()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.pending_key).expect("any key length");
        mac.update(body.as_bytes());
        mac.verify_slice(&tag).ok()?;
        let pending: Pending = serde_json::from_slice(&B64URL.decode(body).ok()?).ok()?;
        (pending.exp > Utc::now().timestamp()).then_some(pending)
    }
}

/// The value of the browser cookie, if the request has one.
fn browser_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers.get_all(axum::http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|line| {
        line.split(';').find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == BROWSER_COOKIE).then(|| value.to_string())
        })
    })
}

/// Whether the request brings the cookie of the browser `pending` was shown to.
pub(super) fn same_browser(headers: &axum::http::HeaderMap, pending: &Pending) -> bool {
    let cookie = browser_cookie(headers).unwrap_or_default();
    cookie.len() == pending.browser.len()
        && canopy_auth::constant_time_eq(cookie.as_bytes(), pending.browser.as_bytes())
}

/// An answer to a request whose client or redirect URI cannot be trusted: a page, no redirect.
pub(super) fn error_page(status: StatusCode, message: &str) -> Response {
    page(status, "Cannot continue", &format!("<p class=\"error\">{}</p>", escape(message)))
}

/// An error sent back to the client at its (verified) redirect URI.
pub(super) fn redirect_error(
    redirect_uri: &str,
    state: Option<&str>,
    issuer: &str,
    error: &str,
    description: &str,
) -> Response {
    redirect_with(redirect_uri, &[("error", error), ("error_description", description)], state, issuer)
}

fn redirect_with(redirect_uri: &str, params: &[(&str, &str)], state: Option<&str>, issuer: &str) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return error_page(StatusCode::BAD_REQUEST, "the redirect URI is not a URL");
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    (StatusCode::SEE_OTHER, [(LOCATION, url.to_string()), (CACHE_CONTROL, "no-store".into())]).into_response()
}

/// The scopes a request names: each one Canopy knows, no duplicates.
pub(super) fn parse_requested_scopes(scope: Option<&str>) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        if !super::ALL_SCOPES.contains(&s) {
            return Err(format!("unknown scope '{s}' (known: {})", super::ALL_SCOPES.join(" ")));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

/// The resource (RFC 8707) a token is for: one of this deployment's MCP endpoints or its REST
/// API, as an absolute URL; the gateway's `/mcp` when none is named.
pub(super) fn check_resource(issuer: &str, resource: Option<&str>) -> Result<String, String> {
    let Some(resource) = resource.filter(|r| !r.is_empty()) else { return Ok(format!("{issuer}/mcp")) };
    let bad = || {
        format!("'{resource}' is not a resource of this server (an MCP endpoint under {issuer}, or {issuer}/api/v0)")
    };
    let path = resource.strip_prefix(issuer).ok_or_else(bad)?;
    if resource.contains('#') || resource.contains('?') {
        return Err(bad());
    }
    let segments: Vec<&str> = path.split('/').collect();
    let name_ok = |n: &str| {
        !n.is_empty() && n.len() <= 128 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    let known = match segments.as_slice() {
        ["", "mcp"] | ["", "api", "v0"] => true,
        ["", "servers", name, "mcp"] | ["", "groups", name, "mcp"] | ["", "v0", "groups", name, "mcp"] => name_ok(name),
        _ => false,
    };
    known.then(|| resource.to_string()).ok_or_else(bad)
}

/// The scopes granted to a user: those asked for that the role allows; all MCP scopes when
/// none were asked for. Never the operator's.
pub(super) fn user_scopes(requested: &[String], role: &str) -> Vec<String> {
    let admin = matches!(role, "owner" | "admin");
    if requested.is_empty() {
        return MCP_SCOPES.iter().map(|s| s.to_string()).collect();
    }
    requested.iter().filter(|s| s.as_str() != SCOPE_OPERATOR && (s.as_str() != SCOPE_ADMIN || admin)).cloned().collect()
}

pub(super) async fn show(State(state): State<ApiState>, Query(query): Query<HashMap<String, String>>) -> Response {
    let server = state.oauth.as_ref().expect("oauth routes exist only with a server");
    if let Some(message) =
        crate::input::nul_in_pairs("query string", query.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    {
        return error_page(StatusCode::BAD_REQUEST, &message);
    }
    let get = |k: &str| query.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(client_id) = get("client_id") else {
        return error_page(StatusCode::BAD_REQUEST, "The request names no client (client_id).");
    };
    let client = match server.find_client(client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return error_page(StatusCode::BAD_REQUEST, "The application is not registered with Canopy."),
        Err(e) => return error_page(e.status, &e.description),
    };
    let metadata = client.metadata();
    let redirect_uri = match get("redirect_uri") {
        Some(uri) if metadata.redirect_uri_allowed(uri) => uri.to_string(),
        Some(_) => {
            return error_page(StatusCode::BAD_REQUEST, "The redirect URI is not one the application registered.")
        }
        None if metadata.redirect_uris.len() == 1 => metadata.redirect_uris[0].clone(),
        None => return error_page(StatusCode::BAD_REQUEST, "The request names no redirect URI (redirect_uri)."),
    };
    let state_param = get("state");
    let issuer = server.issuer();
    let fail = |error: &str, description: &str| redirect_error(&redirect_uri, state_param, issuer, error, description);
    if get("response_type") != Some("code") {
        return fail("unsupported_response_type", "only response_type=code is supported");
    }
    if !metadata.allows_grant("authorization_code") {
        return fail("unauthorized_client", "the client is not registered for the authorization_code grant");
    }
    let challenge = match get("code_challenge") {
        None => return fail("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256"),
        Some(c) => match PkceChallenge::from_request(c, get("code_challenge_method")) {
            Ok(c) => c,
            Err(e) => return fail(e.oauth_error(), &e.to_string()),
        },
    };
    let scopes = match parse_requested_scopes(get("scope")) {
        Ok(s) => s,
        Err(e) => return fail("invalid_scope", &e),
    };
    let resource = match check_resource(issuer, get("resource")) {
        Ok(r) => r,
        Err(e) => return fail("invalid_target", &e),
    };
    let pending = Pending {
        client_id: client.id().to_string(),
        client_name: metadata.name().to_string(),
        redirect_uri,
        code_challenge: challenge.as_str().to_string(),
        scopes,
        state: state_param.map(str::to_string),
        resource,
        exp: Utc::now().timestamp() + PENDING_LIFETIME_SECS,
        browser: canopy_secrets::Sealer::generate_token(),
    };
    let mut page = sign_in_page(server, &pending, &client, StatusCode::OK, None);
    let secure = if server.issuer().starts_with("https://") { "; Secure" } else { "" };
    let cookie = format!(
        "{BROWSER_COOKIE}={}; Path=/oauth; HttpOnly; SameSite=Lax; Max-Age={PENDING_LIFETIME_SECS}{secure}",
        pending.browser
    );
    if let Ok(value) = axum::http::HeaderValue::from_str(&cookie) {
        page.headers_mut().append(axum::http::header::SET_COOKIE, value);
    }
    page
}

pub(super) fn sign_in_page(
    server: &OAuthServer,
    pending: &Pending,
    client: &KnownClient,
    status: StatusCode,
    problem: Option<&str>,
) -> Response {
    let scopes = if pending.scopes.is_empty() { MCP_SCOPES.join(" ") } else { pending.scopes.join(" ") };
    let origin = match client {
        KnownClient::Document { client_id, .. } => format!(" ({})", escape(client_id)),
        KnownClient::Registered { .. } => " (registered dynamically; Canopy has not verified who made it)".into(),
    };
    let problem = problem.map(|p| format!("<p class=\"error\">{}</p>", escape(p))).unwrap_or_default();
    let body = format!(
        r#"<p><strong>{name}</strong>{origin} asks to act for you on <code>{resource}</code>
with the scopes <code>{scopes}</code>.</p>
<p>After you sign in you will be sent back to <code>{redirect}</code>.</p>
{problem}
<form method="post" action="{action}">
<input type="hidden" name="request" value="{request}">
<label>Your Canopy access token <input type="password" name="token" autocomplete="current-password" autofocus></label>
<div class="buttons"><button type="submit" name="action" value="allow">Sign in and allow</button>
<button type="submit" name="action" value="deny">Deny</button></div>
</form>
<form method="post" action="{sso_action}">
<input type="hidden" name="request" value="{request}">
<p>Or sign in with your organisation's identity provider:</p>
<label>Organisation <input type="text" name="organization" autocomplete="organization"></label>
<div class="buttons"><button type="submit">Continue with single sign-on</button></div>
</form>"#,
        sso_action = escape(&format!("{}/oauth/authorize/sso", server.issuer())),
        name = escape(&pending.client_name),
        resource = escape(&pending.resource),
        scopes = escape(&scopes),
        redirect = escape(&pending.redirect_uri),
        action = escape(&format!("{}/oauth/authorize", server.issuer())),
        request = escape(&server.sign_pending(pending)),
    );
    page(status, "Sign in to Canopy", &body)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}}
.error{{color:#a00}}label{{display:block;margin:1rem 0}}input{{width:100%;padding:.4rem}}
.buttons{{display:flex;gap:.5rem}}</style></head>
<body><main><h1>{title}</h1>{body}</main></body></html>"#
    );
    let headers = [
        (CONTENT_TYPE, "text/html; charset=utf-8"),
        (CACHE_CONTROL, "no-store"),
        (HeaderName::from_static("x-frame-options"), "DENY"),
        (
            HeaderName::from_static("content-security-policy"),
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
        (HeaderName::from_static("referrer-policy"), "no-referrer"),
    ];
    (status, headers, html).into_response()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) async fn submit(
    State(state): State<ApiState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let server = state.oauth.as_ref().expect("oauth routes exist only with a server");
    if let Some(message) = crate::input::nul_in_form("form body", &body) {
        return error_page(StatusCode::BAD_REQUEST, &message);
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let pending = match server.pending_of(&headers, &form) {
        Ok(pending) => pending,
        Err(page) => return *page,
    };
    let issuer = server.issuer();
    let state_param = pending.state.as_deref();
    if form.get("action").map(String::as_str) != Some("allow") {
        return redirect_error(
            &pending.redirect_uri,
            state_param,
            issuer,
            "access_denied",
            "the user denied the request",
        );
    }
    let client = match server.find_client(&pending.client_id).await {
        Ok(Some(client)) => client,
        _ => return error_page(StatusCode::BAD_REQUEST, "The application is no longer registered with Canopy."),
    };
    let token = form.get("token").map(|t| t.trim()).unwrap_or("");
    let holder = if token.is_empty() {
        None
    } else {
        match canopy_readmodels::token_holder(&server.pool, server.token_digest(token).as_str()).await {
            Ok(holder) => holder,
            Err(e) => return OAuthError::server_error(e).into_response(),
        }
    };
    match holder {
        Some(TokenHolder::User { tenant_id, name, role }) => {
            let scopes = user_scopes(&pending.scopes, &role);
            issue_code(server, &pending, &tenant_id, &format!("user:{name}"), &scopes).await
        }
        Some(TokenHolder::Operator { name }) => {
            let refused = |problem: &str| sign_in_page(server, &pending, &client, StatusCode::FORBIDDEN, Some(problem));
            if pending.resource != format!("{issuer}/api/v0") {
                return refused(
                    "The platform operator signs in only to Canopy's REST API (the console), not to an MCP endpoint.",
                );
            }
            if !pending.scopes.iter().any(|s| s == SCOPE_OPERATOR) {
                return refused(
                    "This application did not ask to act as the platform operator (scope canopy:operator).",
                );
            }
            let scopes = [SCOPE_OPERATOR.to_string()];
            issue_code(server, &pending, TenantId::PLATFORM, &format!("operator:{name}"), &scopes).await
        }
        _ => {
            let problem = "That is not a Canopy user's access token. Use the token your Canopy admin gave you.";
            sign_in_page(server, &pending, &client, StatusCode::UNAUTHORIZED, Some(problem))
        }
    }
}

/// The user (or operator) is signed in: a code for the client, sent to its redirect URI, for
/// `subject` of `tenant_id` with `scopes` (already decided).
pub(super) async fn issue_code(
    server: &OAuthServer,
    pending: &Pending,
    tenant_id: &str,
    subject: &str,
    scopes: &[String],
) -> Response {
    let issuer = server.issuer();
    let state_param = pending.state.as_deref();
    let code = OpaqueSecret::generate(SecretKind::AuthorizationCode);
    let now = Utc::now();
    let inserted = sqlx::query(
        "INSERT INTO oauth_codes (code_hash, client_id, redirect_uri, code_challenge, tenant_id, subject, scopes,
             resource, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(server.hasher.hash(SecretKind::AuthorizationCode, code.expose()).as_bytes().to_vec())
    .bind(&pending.client_id)
    .bind(&pending.redirect_uri)
    .bind(&pending.code_challenge)
    .bind(tenant_id)
    .bind(subject)
    .bind(scopes)
    .bind(&pending.resource)
    .bind(now)
    .bind(now + super::chrono_duration(server.settings.code_ttl))
    .execute(&server.pool)
    .await;
    if let Err(e) = inserted {
        return OAuthError::server_error(e).into_response();
    }
    // The registration is in use (see `OAuthServer::maintain`); a metadata-document client has none.
    let used = sqlx::query("UPDATE oauth_clients SET last_used_at = $2 WHERE client_id = $1")
        .bind(&pending.client_id)
        .bind(now)
        .execute(&server.pool)
        .await;
    if let Err(e) = used {
        return OAuthError::server_error(e).into_response();
    }
    tracing::info!(client_id = pending.client_id, tenant = tenant_id, subject, "authorization code issued");
    redirect_with(&pending.redirect_uri, &[("code", code.expose())], state_param, issuer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_this_deployments_endpoints() {
        let issuer = "https://canopy.example";
        assert_eq!(check_resource(issuer, None).unwrap(), "https://canopy.example/mcp");
        for ok in ["/mcp", "/servers/gh/mcp", "/groups/dev-tools/mcp", "/v0/groups/g/mcp", "/api/v0"] {
            assert!(check_resource(issuer, Some(&format!("{issuer}{ok}"))).is_ok(), "{ok}");
        }
        for bad in [
            "https://other.example/mcp",
            "https://canopy.example.evil/mcp",
            "https://canopy.example/mcp/../api",
            "https://canopy.example/servers//mcp",
            "https://canopy.example/mcp?x=1",
            "https://canopy.example/mcp#f",
            "https://canopy.example/",
        ] {
            assert!(check_resource(issuer, Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_follow_the_role() {
        let asked = vec!["mcp:tools".to_string(), "canopy:admin".to_string()];
        assert_eq!(user_scopes(&asked, "member"), ["mcp:tools"]);
        assert_eq!(user_scopes(&asked, "admin"), ["mcp:tools", "canopy:admin"]);
        assert_eq!(user_scopes(&[], "owner"), MCP_SCOPES);
        let operator = vec!["canopy:operator".to_string(), "canopy:admin".to_string()];
        assert_eq!(user_scopes(&operator, "owner"), ["canopy:admin"], "a user never gets the operator's scope");
        assert!(parse_requested_scopes(Some("mcp:tools openid")).is_err());
        assert_eq!(parse_requested_scopes(Some(" mcp:tools  mcp:tools ")).unwrap(), ["mcp:tools"]);
    }

    #[test]
    fn escaping() {
        assert_eq!(escape(r#"<script>"x"&'y'"#), "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;");
    }
}

//! The admin console at `/console`: three static files (`console/web/` at the repository root:
//! the page, its style sheet and `app.js`, the one ES module that `scripts/build-console.sh`
//! bundles from the TypeScript sources in `console/src/` and checks in) embedded in the binary,
//! and `/console/config.json`, which tells the page the mode and the public URL. The page does
//! everything else through the public REST API, with the admin client generated from its OpenAPI
//! document (`clients/typescript`), so it can do nothing a REST client could not.
//!
//! In enterprise mode the page signs in by itself (`console/src/auth.ts`): it is a public OAuth
//! client of Canopy's own authorization server (`crate::oauth`) on the same origin. It registers
//! itself (RFC 7591) with the redirect URI `{origin}/console/` (this route), sends the browser to
//! `/oauth/authorize` with PKCE S256 for the resource `{public_url}/api/v0`, exchanges the code
//! at `/oauth/token` and keeps the tokens in memory only (a reload signs in again), refreshes
//! them before they expire and revokes them on sign-out. `GET /api/v0/me` tells it who signed in
//! and whether that principal manages the tenant: a member's pages show no admin action. All of
//! that is same-origin `fetch` and navigation, so the policy below needs nothing more.
//!
//! Every answer carries the same strict headers ([`SECURITY_HEADERS`]): no inline script or
//! style can run, no other origin can frame the page or receive its referrer.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use canopy_config::Mode;

/// The headers every `/console` answer carries.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

/// The embedded files, by their path under `/console/`.
const ASSETS: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("../../../../console/web/index.html")),
    ("style.css", "text/css; charset=utf-8", include_str!("../../../../console/web/style.css")),
    ("app.js", JS, include_str!("../../../../console/web/app.js")),
];
const JS: &str = "text/javascript; charset=utf-8";

/// The console's routes: `/console` (and `/console/`) is the page, `/console/{*path}` its files
/// and `config.json`.
pub fn router(mode: Mode, public_url: &str) -> Router {
    let config = serde_json::json!({
        "mode": match mode { Mode::Development => "development", Mode::Enterprise => "enterprise" },
        "public_url": public_url.trim_end_matches('/'),
    })
    .to_string();
    Router::new()
        .route("/console", get(|| async { asset("index.html") }))
        .route("/console/", get(|| async { asset("index.html") }))
        .route(
            "/console/{*path}",
            get(move |Path(path): Path<String>| {
                let config = config.clone();
                async move {
                    match path.as_str() {
                        "config.json" => secured(StatusCode::OK, "application/json", config),
                        path => asset(path),
                    }
                }
            }),
        )
}

fn asset(path: &str) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some(&(_, kind, body)) => secured(StatusCode::OK, kind, body),
        None => secured(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found"),
    }
}

fn secured(status: StatusCode, kind: &'static str, body: impl IntoResponse) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    // The files change with the binary: revalidate rather than serve a stale console.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    for (name, value) in SECURITY_HEADERS {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    response
}

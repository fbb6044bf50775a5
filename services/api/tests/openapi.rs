//! The OpenAPI document against the code:
//! - the checked-in `openapi/canopy-api.json` is exactly what the handlers' annotations generate;
//! - every route that `router()` registers is in the document, and every `/api/v0` operation in
//!   the document is served by `router()`, with no other method on its path.
//!
//! The `/api/v0` routes are registered with utoipa-axum's `routes!` (`api_routes()` in
//! `src/lib.rs`), which takes each one's path and method from the handler's annotation and adds
//! its operation to the document: documented by construction. A plain `.route("...", get(..))`
//! would not be, so the source is searched for those, and the document's operations (and the
//! methods it does not list) are sent to a real `router()`, so that neither a route added
//! without an annotation nor an annotation without a route can pass. No database or NATS
//! is needed: the state points at closed loopback ports, and a handler that reaches them answers
//! 500, which still shows the route is served.
//!
//! Regenerate the document: `cargo run -p canopy -- openapi > openapi/canopy-api.json`
//! (or `CANOPY_UPDATE_OPENAPI=1 cargo test -p canopy-api --test openapi`).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tower::ServiceExt;

const REGENERATE: &str = "cargo run -p canopy -- openapi > openapi/canopy-api.json";
/// The prefix of the API's routes (and of its "no route" fallback, nested there in `router()`).
const API_PREFIX: &str = "/api/v0";
/// Documented paths served by the `canopy` binary next to `/api/v0` (`services/canopy/src/health.rs`),
/// not by this crate's router.
const SERVED_ELSEWHERE: &[&str] = &["/healthz", "/readyz"];
const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options", "trace"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

#[test]
fn checked_in_document_matches_the_code() {
    let path = repo_root().join("openapi/canopy-api.json");
    let generated = canopy_api::openapi();
    if std::env::var_os("CANOPY_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write openapi/canopy-api.json");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read {}: {e}\nGenerate it from the code with:\n    {REGENERATE}", path.display())
    });
    if checked_in != generated {
        let first_difference = checked_in
            .lines()
            .zip(generated.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| format!("first difference at line {}:\n  checked in: {a}\n  generated:  {b}", i + 1))
            .unwrap_or_else(|| {
                format!(
                    "one is a prefix of the other ({} lines checked in, {} generated)",
                    checked_in.lines().count(),
                    generated.lines().count()
                )
            });
        panic!(
            "openapi/canopy-api.json is out of date with the code ({first_difference}).\n\
             Regenerate it, review the diff and commit it with the change:\n    {REGENERATE}\n\
             then regenerate the clients: scripts/generate-clients.sh"
        );
    }
}

/// `(METHOD, path)` of every operation in the document, with its operationId.
fn documented_operations() -> Vec<(String, String, String)> {
    let document: serde_json::Value = serde_json::from_str(&canopy_api::openapi()).expect("the document is JSON");
    assert_eq!(document["openapi"], "3.1.0", "the document should be OpenAPI 3.1");
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            if METHODS.contains(&method.as_str()) {
                let id = operation["operationId"].as_str().unwrap_or_default().to_string();
                operations.push((method.to_uppercase(), path.clone(), id));
            }
        }
    }
    operations
}

#[test]
fn operations_have_ids_summaries_and_error_answers() {
    let document: serde_json::Value = serde_json::from_str(&canopy_api::openapi()).unwrap();
    let mut ids = BTreeSet::new();
    for (method, path, id) in documented_operations() {
        let operation = &document["paths"][&path][method.to_lowercase()];
        assert!(!id.is_empty(), "{method} {path} has no operationId");
        assert!(ids.insert(id.clone()), "operationId {id} is used twice");
        assert!(operation["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path} has no summary");
        let responses = operation["responses"].as_object().expect("responses");
        // A redirect (the artifact download's 307) is that route's success.
        let success = |s: &String| s.starts_with('2') || s.starts_with('3');
        assert!(responses.keys().any(success), "{method} {path} documents no success");
        if path.starts_with(API_PREFIX) {
            // Every API route can fail inside, and answers in the envelope when it does.
            assert_eq!(
                responses.get("500").and_then(|r| r["$ref"].as_str()),
                Some("#/components/responses/InternalError"),
                "{method} {path} should document its 500 in the error envelope"
            );
        }
    }
}

#[test]
fn every_reference_resolves() {
    fn walk(value: &serde_json::Value, document: &serde_json::Value, dangling: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(reference) = map.get("$ref").and_then(|r| r.as_str()) {
                    let pointer = reference.strip_prefix('#').unwrap_or(reference);
                    if document.pointer(pointer).is_none() {
                        dangling.push(reference.to_string());
                    }
                }
                map.values().for_each(|v| walk(v, document, dangling));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, document, dangling)),
            _ => {}
        }
    }
    let document: serde_json::Value = serde_json::from_str(&canopy_api::openapi()).unwrap();
    let mut dangling = Vec::new();
    walk(&document, &document, &mut dangling);
    assert!(
        dangling.is_empty(),
        "references to nothing (register the type in src/openapi.rs `components`): {dangling:?}"
    );
}

/// Every plain `.route("path", method(handler).method(handler))` in the crate's source (routes
/// that `routes!` did not register, so undocumented unless proven otherwise), as
/// `(METHOD, path)`. Fails on router constructs it does not understand, rather than silently
/// missing routes.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect_rust_files(&src, &mut files);
    let mut routes = BTreeSet::new();
    let mut registered = 0;
    for file in files {
        // The OAuth authorization server's routes (`src/oauth/`, outside /api/v0) are protocol
        // endpoints described by their own RFC 8414 metadata, not by this document; the
        // console's (`src/console/`, `/console`) are static files, not API operations.
        if file.components().any(|c| c.as_os_str() == "oauth" || c.as_os_str() == "console") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // `service.rs` merges this router (`crate::router`) and a local blob store's signed URLs
        // (`canopy_blobs::router`: downloads whose signature is the credential, not operations).
        let code = strip_line_comments(&text)
            .replace(".merge(oauth::router(", "")
            .replace(".merge(console)", "")
            .replace(".merge(crate::router(", "")
            .replace(".merge(canopy_blobs::router(", "");
        for construct in [".merge(", ".route_service(", ".nest_service("] {
            assert!(
                !code.contains(construct),
                "{} uses `{construct}`: teach tests/openapi.rs how to find the routes it adds",
                file.display()
            );
        }
        let mut rest = code.as_str();
        while let Some(at) = rest.find(".nest(") {
            rest = &rest[at + ".nest(".len()..];
            let (prefix, _) = string_literal(rest).expect("a literal path in .nest(...)");
            assert_eq!(
                prefix,
                API_PREFIX,
                "{} nests a router under {prefix}: teach tests/openapi.rs that prefix",
                file.display()
            );
        }
        let mut rest = code.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            let (path, after) =
                string_literal(rest).unwrap_or_else(|| panic!("{}: .route( without a literal path", file.display()));
            let handlers = balanced_until_close(after);
            let methods = method_calls(handlers);
            assert!(!methods.is_empty(), "{}: no method found for route {path}", file.display());
            for method in methods {
                assert!(method != "ANY", "{}: route {path} uses any(); document each method instead", file.display());
                routes.insert((method, path.clone()));
            }
        }
        registered += code.matches(".routes(routes!(").count();
    }
    assert!(registered >= 20, "found only {registered} `.routes(routes!(..))` in src/: is the parser still right?");
    routes
}

fn collect_rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn strip_line_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.trim_start().starts_with("//") {
            true => "",
            false => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The string literal at the start of `s` (after whitespace), and what follows it.
fn string_literal(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start().strip_prefix('"')?;
    let end = s.find('"')?;
    Some((s[..end].to_string(), &s[end + 1..]))
}

/// `s` up to the parenthesis that closes the call it is inside.
fn balanced_until_close(s: &str) -> &str {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return &s[..i],
            ')' => depth -= 1,
            _ => {}
        }
    }
    panic!("unbalanced parentheses after .route(")
}

/// The HTTP methods named by `get(..)`, `.post(..)`, `axum::routing::put(..)`, ... in a
/// method-router expression.
fn method_calls(expr: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = expr.as_bytes();
    for name in METHODS.iter().chain(&["any"]) {
        let call = format!("{name}(");
        let mut from = 0;
        while let Some(at) = expr[from..].find(&call) {
            let start = from + at;
            let preceded_by_ident = start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
            if !preceded_by_ident {
                found.push(name.to_uppercase());
            }
            from = start + call.len();
        }
    }
    found
}

/// Routes registered with `routes!` are documented by construction, and
/// `every_documented_api_operation_is_served_by_the_router` checks that every operation is served
/// (and nothing else on its path): here, the plain routes.
#[test]
fn every_route_is_documented() {
    let routed = routes_in_source();
    let documented: BTreeSet<(String, String)> = documented_operations()
        .into_iter()
        .filter(|(_, path, _)| !SERVED_ELSEWHERE.contains(&path.as_str()))
        .map(|(method, path, _)| (method, path))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes registered in router() but missing from the OpenAPI document: {undocumented:?}\n\
         Annotate the handler with #[utoipa::path(...)], register it with `.routes(routes!(..))` in \
         `api_routes()` (src/lib.rs) instead of `.route(..)`, then: {REGENERATE}"
    );
}

/// An `ApiState` whose database and NATS are closed loopback ports: routing and request
/// validation work, anything that reaches a dependency fails fast with a 500.
async fn offline_state() -> canopy_api::ApiState {
    use canopy_eventstore::{CommandExecutor, EventStore};
    use std::sync::Arc;
    use std::time::Duration;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy("postgres://probe@127.0.0.1:9/probe")
        .unwrap();
    let client =
        async_nats::ConnectOptions::new().retry_on_initial_connect().connect("nats://127.0.0.1:9").await.unwrap();
    let executor = CommandExecutor::new(EventStore::new(pool), Arc::new(canopy_readmodels::CanopyProjector));
    let bus = canopy_bus::Bus::from_client(client, "openapi-probe");
    let blobs = std::env::temp_dir().join("canopy-openapi-probe-blobs").display().to_string();
    let config = canopy_config::Config::from_layers(None, &[("CANOPY_BLOBS_DIR".into(), blobs)]).unwrap();
    let sealer = canopy_secrets::Sealer::from_bytes(&[7u8; 32]).unwrap();
    let jobs = canopy_jobs::Jobs::from_config(&config, executor.clone(), bus.clone(), &sealer).unwrap();
    canopy_api::ApiState {
        mode: canopy_api::Mode::Development,
        executor,
        bus,
        sealer: canopy_secrets::Sealer::from_bytes(&[7u8; 32]).unwrap(),
        access_tokens: None,
        discovery_wait: Duration::from_millis(10),
        call_timeout: Duration::from_millis(100),
        public_url: "http://127.0.0.1:9".into(),
        oauth: None,
        jobs,
    }
}

/// Sends `method path` (empty body, no query) to `router()` and says whether a route took it,
/// rather than the "no route" fallback or a 405.
async fn is_routed(router: &axum::Router, method: &str, path: &str) -> Result<StatusCode, String> {
    let request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let body = String::from_utf8_lossy(&body);
    if status == StatusCode::METHOD_NOT_ALLOWED || (status == StatusCode::NOT_FOUND && body.contains("no route")) {
        return Err(format!("{status} {body}"));
    }
    Ok(status)
}

#[tokio::test]
async fn every_documented_api_operation_is_served_by_the_router() {
    let router = canopy_api::router(offline_state().await);
    // The detector itself: an unknown path and a wrong method are not "routed".
    assert!(is_routed(&router, "GET", "/api/v0/no-such-route").await.is_err());
    assert!(is_routed(&router, "PATCH", "/api/v0/servers").await.is_err());
    let operations = documented_operations();
    let concrete = |path: &str| {
        let concrete = path
            .replace("{name}", "openapi-probe")
            .replace("{id}", "openapi-probe")
            .replace("{artifact_id}", "openapi-probe");
        assert!(!concrete.contains('{'), "{path}: give this test a value for its path parameter");
        concrete
    };
    let mut missing = Vec::new();
    for (method, path, id) in &operations {
        if SERVED_ELSEWHERE.contains(&path.as_str()) {
            continue;
        }
        if let Err(answer) = is_routed(&router, method, &concrete(path)).await {
            missing.push(format!("{method} {path} ({id}): {answer}"));
        }
    }
    assert!(
        missing.is_empty(),
        "documented operations that router() does not serve:\n  {}\nFix the #[utoipa::path] annotation or the route.",
        missing.join("\n  ")
    );
    // A method the document does not list on a path is not served either: `routes!` serves
    // every handler it names on every path among them, so one naming two paths would add some.
    let paths: BTreeSet<&String> = operations.iter().map(|(_, path, _)| path).collect();
    let mut extra = Vec::new();
    for path in paths.into_iter().filter(|p| !SERVED_ELSEWHERE.contains(&p.as_str())) {
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            if operations.iter().any(|(m, p, _)| m == method && p == path) {
                continue;
            }
            if let Ok(status) = is_routed(&router, method, &concrete(path)).await {
                extra.push(format!("{method} {path}: {status}"));
            }
        }
    }
    assert!(
        extra.is_empty(),
        "router() serves methods the document does not list:\n  {}\nGive each path its own `routes!(..)` in \
         `api_routes()` (src/lib.rs).",
        extra.join("\n  ")
    );
}

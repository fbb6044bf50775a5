//! The admin console as `canopy_api::router()` serves it, in development and in enterprise
//! mode: the page, every embedded file and `config.json` answer with their content types and
//! the strict security headers; the page loads no inline script or style; unknown files are
//! 404 with the same headers. No database or NATS is needed (the state points at closed ports).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use canopy_api::console::SECURITY_HEADERS;
use canopy_api::Mode;
use tower::ServiceExt;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

async fn offline_router(mode: Mode) -> axum::Router {
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
    let bus = canopy_bus::Bus::from_client(client, "console-probe");
    let blobs = std::env::temp_dir().join("canopy-console-probe-blobs").display().to_string();
    let config = canopy_config::Config::from_layers(None, &[("CANOPY_BLOBS_DIR".into(), blobs)]).unwrap();
    let sealer = canopy_secrets::Sealer::from_bytes(&[7u8; 32]).unwrap();
    let jobs = canopy_jobs::Jobs::from_config(&config, executor.clone(), bus.clone(), &sealer).unwrap();
    canopy_api::router(canopy_api::ApiState {
        mode,
        executor,
        bus,
        sealer,
        access_tokens: None,
        discovery_wait: Duration::from_millis(10),
        call_timeout: Duration::from_millis(100),
        public_url: "https://canopy.example/".into(),
        oauth: None,
        jobs,
    })
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn get(router: &axum::Router, path: &str) -> Answer {
    let response = router.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    Answer { status, headers, body: String::from_utf8(body.to_vec()).unwrap() }
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

fn assert_secured(path: &str, answer: &Answer) {
    assert_eq!(header(answer, "content-security-policy"), CSP, "{path}");
    assert_eq!(header(answer, "x-frame-options"), "DENY", "{path}");
    assert_eq!(header(answer, "x-content-type-options"), "nosniff", "{path}");
    assert_eq!(header(answer, "referrer-policy"), "no-referrer", "{path}");
    assert_eq!(SECURITY_HEADERS.len(), 4);
}

#[tokio::test]
async fn the_console_is_served_with_strict_headers_in_both_modes() {
    for (mode, name) in [(Mode::Development, "development"), (Mode::Enterprise, "enterprise")] {
        let router = offline_router(mode).await;
        for path in ["/console", "/console/"] {
            let page = get(&router, path).await;
            assert_eq!(page.status, StatusCode::OK, "{name} {path}");
            assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
            assert_secured(path, &page);
            assert!(page.body.contains(r#"<script type="module" src="/console/app.js"></script>"#));
            // No inline script or style: the CSP would refuse it anyway; keep the page honest.
            assert!(!page.body.contains("<style"), "inline <style> in the page");
            assert!(!page.body.contains(" style="), "inline style attribute in the page");
            assert_eq!(page.body.matches("<script").count(), 1, "one script, by src");
        }
        for (path, kind) in
            [("/console/app.js", "text/javascript; charset=utf-8"), ("/console/style.css", "text/css; charset=utf-8")]
        {
            let file = get(&router, path).await;
            assert_eq!((file.status, header(&file, "content-type")), (StatusCode::OK, kind), "{name} {path}");
            assert_secured(path, &file);
        }
        let config = get(&router, "/console/config.json").await;
        assert_eq!(config.status, StatusCode::OK);
        assert_secured("/console/config.json", &config);
        let config: serde_json::Value = serde_json::from_str(&config.body).unwrap();
        assert_eq!(config, serde_json::json!({ "mode": name, "public_url": "https://canopy.example" }));

        let missing = get(&router, "/console/nope.js").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_secured("/console/nope.js", &missing);
    }
}

/// Every file of `console/web/` is embedded as it is on disk, and the script is the one bundle
/// `scripts/build-console.sh` makes: it imports nothing (a module the browser would have to ask
/// for would be a 404), and it reaches the API through the generated client.
#[tokio::test]
async fn the_console_is_the_checked_in_bundle() {
    let router = offline_router(Mode::Development).await;
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../console/web");
    let mut files: Vec<String> =
        std::fs::read_dir(&web).unwrap().map(|entry| entry.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    assert_eq!(files, ["app.js", "index.html", "style.css"], "console/web holds the page, its style and the bundle");
    for file in &files {
        let answer = get(&router, &format!("/console/{file}")).await;
        assert_eq!(answer.status, StatusCode::OK, "/console/{file} is not embedded");
        assert_eq!(answer.body, std::fs::read_to_string(web.join(file)).unwrap(), "{file}");
    }
    let bundle = std::fs::read_to_string(web.join("app.js")).unwrap();
    assert!(bundle.starts_with("// Built by scripts/build-console.sh"), "app.js is not the build's output");
    let imports: Vec<&str> = bundle.lines().filter(|l| l.starts_with("import ") || l.contains("import(")).collect();
    assert!(imports.is_empty(), "the bundle imports modules the binary does not serve: {imports:?}");
    assert!(bundle.contains("// clients/typescript/index.ts"), "the bundle does not hold the generated client");
    assert!(!bundle.contains("eval("), "the CSP refuses eval");
}

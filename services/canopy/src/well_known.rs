//! `/.well-known/openai-apps-challenge`: OpenAI Apps' domain verification, as Jungle Grid's
//! hosted MCP server offers it (`OPENAI_APPS_CHALLENGE_TOKEN`). Answers the configured token
//! (`gateway.openai_apps_challenge_token`) as text/plain; with none configured the route does
//! not exist (404), so nothing claims a verification the operator did not set up.

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;

pub const OPENAI_APPS_CHALLENGE: &str = "/.well-known/openai-apps-challenge";

pub fn router(token: &str) -> Router {
    let token = token.trim().to_string();
    if token.is_empty() {
        return Router::new();
    }
    Router::new().route(
        OPENAI_APPS_CHALLENGE,
        get(move || {
            let token = token.clone();
            async move { ([(CONTENT_TYPE, "text/plain; charset=utf-8")], token) }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn get(router: Router) -> (u16, String, String) {
        let request = axum::http::Request::get(OPENAI_APPS_CHALLENGE).body(axum::body::Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let kind = response.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        (status, kind, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn answers_the_token_when_set_and_404_otherwise() {
        let (status, kind, body) = get(router("abc123\n")).await;
        assert_eq!((status, kind.as_str(), body.as_str()), (200, "text/plain; charset=utf-8", "abc123"));
        assert_eq!(get(router("")).await.0, 404);
    }
}

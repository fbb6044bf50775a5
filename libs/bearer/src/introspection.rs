//! RFC 7662 token introspection for external issuers whose access tokens are opaque, and the
//! one HTTP fetch of a JWKS. Answers are cached under a SHA-256 of the token (never the token
//! itself), briefly, and never beyond the token's `exp`; time, issuer and audience are checked
//! on every use of a cached answer.

use crate::{BearerError, External};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Larger answers are refused unread.
const MAX_BODY_BYTES: usize = 256 * 1024;
/// Cached answers per process before the cache starts over.
const MAX_CACHED: usize = 10_000;

/// What an introspection endpoint said of an active token.
#[derive(Debug, Clone)]
pub(crate) struct Introspected {
    pub subject: String,
    pub scope: String,
    pub client_id: Option<String>,
    pub aud: Vec<String>,
    pub iss: Option<String>,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
}

impl Introspected {
    /// The checks an answer must pass each time it is used.
    pub fn check(&self, issuer: &str, audience: &str, now: DateTime<Utc>) -> Result<(), BearerError> {
        let leeway = canopy_auth::CLOCK_LEEWAY_SECONDS;
        let now = now.timestamp();
        if self.iss.as_deref().is_some_and(|iss| iss != issuer) {
            return Err(BearerError::invalid(canopy_auth::TokenError::WrongIssuer));
        }
        if self.exp.is_some_and(|exp| now >= exp.saturating_add(leeway)) {
            return Err(BearerError::invalid(canopy_auth::TokenError::Expired));
        }
        if self.nbf.is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
            return Err(BearerError::invalid(canopy_auth::TokenError::NotYetValid));
        }
        // Audience-bound tokens only (RFC 8707): an answer naming no audience is refused.
        if !self.aud.iter().any(|a| a == audience) {
            return Err(BearerError::invalid(canopy_auth::TokenError::WrongAudience));
        }
        Ok(())
    }

    /// An endpoint's JSON answer: `None` when the token is not active.
    fn parse(json: &Value, subject_claim: &str) -> Result<Option<Introspected>, &'static str> {
        let object = json.as_object().ok_or("the introspection answer is not a JSON object")?;
        if object.get("active").and_then(Value::as_bool) != Some(true) {
            return Ok(None);
        }
        let text = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_string);
        let number = |name: &str| object.get(name).and_then(Value::as_i64);
        let aud = match object.get("aud") {
            Some(Value::String(one)) => vec![one.clone()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => vec![],
        };
        Ok(Some(Introspected {
            subject: text(subject_claim).unwrap_or_default(),
            scope: text("scope").unwrap_or_default(),
            client_id: text("client_id"),
            aud,
            iss: text("iss"),
            exp: number("exp"),
            nbf: number("nbf"),
        }))
    }
}

/// An answer and until when it may be used; `None`: the token is not active.
type Cached = (Instant, Option<Arc<Introspected>>);

#[derive(Default)]
pub(crate) struct Cache {
    /// By SHA-256 of issuer and token.
    answers: Mutex<HashMap<[u8; 32], Cached>>,
}

impl Cache {
    /// The endpoint's answer for `token`, from the cache while it is fresh.
    pub async fn get_or_ask(
        &self,
        http: &reqwest::Client,
        external: &External,
        token: &str,
        keep: Duration,
    ) -> Result<Option<Arc<Introspected>>, BearerError> {
        let key: [u8; 32] = Sha256::new()
            .chain_update(external.config.issuer.as_bytes())
            .chain_update([0])
            .chain_update(token.as_bytes())
            .finalize()
            .into();
        if let Some((until, answer)) = self.answers.lock().expect("introspection lock").get(&key) {
            if Instant::now() < *until {
                return Ok(answer.clone());
            }
        }
        let answer = ask(http, external, token).await?.map(Arc::new);
        let mut keep = keep;
        if let Some(exp) = answer.as_ref().and_then(|a| a.exp) {
            let left = exp - Utc::now().timestamp();
            keep = keep.min(Duration::from_secs(left.max(0) as u64));
        }
        let mut answers = self.answers.lock().expect("introspection lock");
        if answers.len() >= MAX_CACHED {
            let now = Instant::now();
            answers.retain(|_, (until, _)| *until > now);
            if answers.len() >= MAX_CACHED {
                answers.clear();
            }
        }
        answers.insert(key, (Instant::now() + keep, answer.clone()));
        Ok(answer)
    }
}

/// One introspection request (RFC 7662 section 2.1), with the client's credentials as HTTP
/// Basic (RFC 6749 section 2.3.1: each form-urlencoded first).
async fn ask(http: &reqwest::Client, external: &External, token: &str) -> Result<Option<Introspected>, BearerError> {
    let config = &external.config;
    let unavailable = BearerError::Unavailable("the token introspection endpoint cannot be asked now");
    let response = http
        .post(&config.introspection_endpoint)
        .basic_auth(form_encode(&config.client_id), Some(form_encode(&config.client_secret)))
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await
        .map_err(|e| {
            tracing::warn!(issuer = config.issuer, error = %e.without_url(), "token introspection failed");
            unavailable.clone()
        })?;
    if !response.status().is_success() {
        tracing::warn!(issuer = config.issuer, status = %response.status(), "token introspection refused");
        return Err(unavailable);
    }
    let json = read_json(response).await.map_err(|e| {
        tracing::warn!(issuer = config.issuer, error = e, "token introspection answer unreadable");
        unavailable.clone()
    })?;
    Introspected::parse(&json, &config.subject_claim).map_err(|e| {
        tracing::warn!(issuer = config.issuer, error = e, "token introspection answer unusable");
        unavailable
    })
}

/// A JWKS document, as text.
pub(crate) async fn fetch_json(http: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = http.get(url).header(reqwest::header::ACCEPT, "application/json").send().await;
    let response = response.map_err(|e| format!("GET {url}: {}", e.without_url()))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", response.status()));
    }
    let json = read_json(response).await.map_err(|e| format!("GET {url}: {e}"))?;
    Ok(json.to_string())
}

async fn read_json(mut response: reqwest::Response) -> Result<Value, &'static str> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| "the answer broke off")? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err("the answer is too large");
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|_| "the answer is not JSON")
}

/// `application/x-www-form-urlencoded` of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_checked_on_every_use() {
        assert!(Introspected::parse(&json!({"active": false, "sub": "x"}), "sub").unwrap().is_none());
        assert!(Introspected::parse(&json!({"sub": "x"}), "sub").unwrap().is_none(), "active must be true");
        assert!(Introspected::parse(&json!([1]), "sub").is_err());
        let now = Utc::now();
        let answer = Introspected::parse(
            &json!({"active": true, "username": "alice", "scope": "mcp:tools", "aud": ["https://gw/mcp"],
                    "iss": "https://as", "exp": now.timestamp() + 60}),
            "username",
        )
        .unwrap()
        .unwrap();
        assert_eq!((answer.subject.as_str(), answer.scope.as_str()), ("alice", "mcp:tools"));
        assert!(answer.check("https://as", "https://gw/mcp", now).is_ok());
        assert!(answer.check("https://other", "https://gw/mcp", now).is_err());
        assert!(answer.check("https://as", "https://gw/api/v0", now).is_err());
        assert!(answer.check("https://as", "https://gw/mcp", now + chrono::Duration::seconds(120)).is_err());
        let no_aud = Introspected { aud: vec![], ..answer };
        assert!(no_aud.check("https://as", "https://gw/mcp", now).is_err(), "unbound tokens are refused");
        assert_eq!(form_encode("a b:c%"), "a+b%3Ac%25");
    }
}

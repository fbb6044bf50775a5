//! OpenID Connect ID tokens from a tenant's own identity provider (OIDC Core 1.0 section 3.1.3.7),
//! for signing users in to Canopy's authorization server. The same header and signature checks
//! as access tokens ([`crate::jwt`]: the algorithm pinned per key, no `none`, no `crit`), then:
//! `iss` exactly the provider's issuer, `aud` containing Canopy's client id (and `azp`, when
//! present with several audiences, equal to it), `exp` and `iat` within the clock leeway, and
//! `nonce` equal to the one Canopy sent.

use crate::jwt::{decode_signed, TokenError, VerifyingKeys};
use crate::CLOCK_LEEWAY_SECONDS;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// A verified ID token's claims.
#[derive(Debug, Clone)]
pub struct IdTokenClaims {
    pub sub: String,
    /// Every claim, for the one naming the user (`preferred_username`, `email`, ...).
    pub claims: Map<String, Value>,
}

impl IdTokenClaims {
    pub fn string_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }
}

pub fn verify_id_token(
    keys: &VerifyingKeys,
    token: &str,
    issuer: &str,
    client_id: &str,
    nonce: &str,
    now: DateTime<Utc>,
) -> Result<IdTokenClaims, TokenError> {
    let (_, claims) = decode_signed::<Map<String, Value>>(keys, token)?;
    let text = |name: &'static str| claims.get(name).and_then(Value::as_str).ok_or(TokenError::MissingClaim(name));
    if text("iss")? != issuer {
        return Err(TokenError::WrongIssuer);
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => return Err(TokenError::MissingClaim("aud")),
    };
    if !audiences.contains(&client_id) {
        return Err(TokenError::WrongAudience);
    }
    if audiences.len() > 1 && claims.get("azp").and_then(Value::as_str).is_some_and(|azp| azp != client_id) {
        return Err(TokenError::WrongAudience);
    }
    let number = |name: &'static str| claims.get(name).and_then(Value::as_i64).ok_or(TokenError::MissingClaim(name));
    let now = now.timestamp();
    if now >= number("exp")?.saturating_add(CLOCK_LEEWAY_SECONDS) {
        return Err(TokenError::Expired);
    }
    if number("iat")? > now.saturating_add(CLOCK_LEEWAY_SECONDS) {
        return Err(TokenError::NotYetValid);
    }
    let presented = text("nonce")?;
    if !crate::secret::constant_time_eq(presented.as_bytes(), nonce.as_bytes()) {
        return Err(TokenError::InvalidClaim("nonce"));
    }
    let sub = text("sub")?.to_string();
    if sub.is_empty() {
        return Err(TokenError::MissingClaim("sub"));
    }
    Ok(IdTokenClaims { sub, claims })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyRing;

    fn sign(ring: &KeyRing, claims: Value) -> String {
        let key = ring.current();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(key.kid().to_string());
        crate::jwt::sign_claims(&header, &claims, key.encoding_key())
    }

    #[test]
    fn id_tokens_are_checked_claim_by_claim() {
        let ring = KeyRing::generate(Utc::now());
        let keys = ring.verifying_keys();
        let now = Utc::now();
        let good = serde_json::json!({"iss": "https://idp", "aud": "canopy", "sub": "u1", "exp": now.timestamp() + 60,
            "iat": now.timestamp(), "nonce": "n1", "preferred_username": "alice"});
        let verified = verify_id_token(keys, &sign(&ring, good.clone()), "https://idp", "canopy", "n1", now).unwrap();
        assert_eq!(verified.string_claim("preferred_username"), Some("alice"));
        let with = |k: &str, v: Value| {
            let mut c = good.clone();
            c[k] = v;
            sign(&ring, c)
        };
        let cases = [
            (with("iss", "https://evil".into()), TokenError::WrongIssuer),
            (with("aud", "someone-else".into()), TokenError::WrongAudience),
            (with("exp", (now.timestamp() - 3600).into()), TokenError::Expired),
            (with("nonce", "replayed".into()), TokenError::InvalidClaim("nonce")),
            (with("iat", (now.timestamp() + 3600).into()), TokenError::NotYetValid),
        ];
        for (token, expected) in cases {
            assert_eq!(verify_id_token(keys, &token, "https://idp", "canopy", "n1", now).unwrap_err(), expected);
        }
        let other = KeyRing::generate(now);
        let foreign = sign(&other, good);
        assert!(verify_id_token(keys, &foreign, "https://idp", "canopy", "n1", now).is_err(), "another key");
    }
}

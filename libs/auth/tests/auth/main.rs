//! canopy-auth's tests, one binary. Every attack on a token has its own test, built from a
//! correct token with one thing changed; `forge` signs arbitrary headers and claims (with the
//! real key when the test is about something other than the signature), and
//! `forged_tokens_with_the_real_key_verify` shows the forging itself yields valid tokens, so the
//! attack tests fail for the reason they name.

mod access_tokens;
mod external;
mod keys;
mod pkce;
mod refresh;
mod secrets;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64URL, Engine};
use canopy_auth::{AccessTokenSpec, IssuedAccessToken, KeyRing};
use canopy_domain::TenantId;
use canopy_secrets::{SealContext, Sealer};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

pub const ISSUER: &str = "https://canopy.example";
pub const RESOURCE: &str = "https://canopy.example/mcp";
pub const T0: i64 = 1_800_000_000;

pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(T0, 0).unwrap()
}

pub fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap()
}

pub fn sealer() -> Sealer {
    Sealer::from_bytes(&[7; 32]).unwrap()
}

pub fn acme() -> TenantId {
    TenantId::parse("acme").unwrap()
}

pub fn never_revoked(_: &str) -> bool {
    false
}

/// A five-minute token for alice of acme, client c1, scope `tools:call`.
pub fn issue(ring: &KeyRing, when: DateTime<Utc>) -> IssuedAccessToken {
    let scopes = ["tools:call".to_string()];
    let tenant = acme();
    let spec = AccessTokenSpec {
        issuer: ISSUER,
        subject: "user:alice",
        audience: RESOURCE,
        client_id: "c1",
        scopes: &scopes,
        tenant: &tenant,
        lifetime: Duration::minutes(5),
    };
    ring.issue_access_token(&spec, when).unwrap()
}

/// The ring's current private key (PKCS#8), recovered as only a holder of the deployment key can.
pub fn private_key(ring: &KeyRing) -> Vec<u8> {
    let sealer = sealer();
    let sealed = ring.seal(&sealer, "owner");
    let field = format!("private_key:{}", ring.current().kid());
    let ctx = SealContext { tenant: "owner", server: "oauth-signing-keys", field: &field };
    B64URL.decode(sealer.open(ctx, &sealed.keys[0].private_key).unwrap()).unwrap()
}

/// A fresh P-256 key (PKCS#8) that no ring knows.
pub fn attacker_key() -> Vec<u8> {
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap().as_ref().to_vec()
}

pub fn es256(pkcs8: &[u8]) -> impl Fn(&[u8]) -> Vec<u8> {
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).unwrap();
    move |msg| pair.sign(&SystemRandom::new(), msg).unwrap().as_ref().to_vec()
}

/// `base64url(header).base64url(claims).base64url(sign(first two parts))`.
pub fn forge(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let message = format!(
        "{}.{}",
        B64URL.encode(serde_json::to_vec(header).unwrap()),
        B64URL.encode(serde_json::to_vec(claims).unwrap())
    );
    let signature = sign(message.as_bytes());
    format!("{message}.{}", B64URL.encode(signature))
}

pub fn header(kid: &str) -> Value {
    json!({ "alg": "ES256", "typ": "at+jwt", "kid": kid })
}

/// What `issue` would put in a token at `T0`.
pub fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "user:alice",
        "aud": RESOURCE,
        "exp": T0 + 300,
        "iat": T0,
        "nbf": T0,
        "jti": "jti-1",
        "client_id": "c1",
        "scope": "tools:call",
        "tenant": "acme",
    })
}

pub fn with(mut value: Value, key: &str, v: Value) -> Value {
    value[key] = v;
    value
}

pub fn without(mut value: Value, key: &str) -> Value {
    value.as_object_mut().unwrap().remove(key);
    value
}

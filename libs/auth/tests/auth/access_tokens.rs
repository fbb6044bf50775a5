//! Canopy's own access tokens: what they carry, and every way of getting a bad one accepted.

use super::*;
use canopy_auth::{IssueError, OpaqueSecret, SecretHasher, SecretKind, TokenError, CLOCK_LEEWAY_SECONDS};
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn verify(ring: &KeyRing, token: &str) -> Result<canopy_auth::AccessClaims, TokenError> {
    ring.verify(token, ISSUER, RESOURCE, now(), never_revoked)
}

fn decode_part(token: &str, index: usize) -> Value {
    serde_json::from_slice(&B64URL.decode(token.split('.').nth(index).unwrap()).unwrap()).unwrap()
}

#[test]
fn issued_token_verifies_and_carries_every_claim() {
    let ring = KeyRing::generate(now());
    let issued = issue(&ring, now());
    let token = issued.token.expose();
    assert_eq!(
        decode_part(token, 0),
        json!({ "alg": "ES256", "typ": "at+jwt", "kid": ring.current().kid() }),
        "header: one algorithm, the RFC 9068 type, the key's id"
    );
    let payload = decode_part(token, 1);
    assert_eq!(payload["aud"], RESOURCE, "a single audience is a string");
    assert_eq!(payload["scope"], "tools:call");
    assert_eq!(payload["tenant"], "acme");

    let claims = verify(&ring, token).unwrap();
    assert_eq!(claims, issued.claims);
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.sub, "user:alice");
    assert_eq!(claims.aud, [RESOURCE]);
    assert_eq!((claims.iat, claims.nbf, claims.exp), (T0, Some(T0), T0 + 300));
    assert_eq!(claims.client_id, "c1");
    assert_eq!(claims.tenant, acme());
    assert!(claims.has_scope("tools:call") && !claims.has_scope("admin"));
    assert_eq!(claims.expires_at(), at(T0 + 300));
    assert_eq!(claims.jti.len(), 32);
    assert_ne!(issue(&ring, now()).claims.jti, claims.jti, "every token has its own jti");
}

#[test]
fn forged_tokens_with_the_real_key_verify() {
    let ring = KeyRing::generate(now());
    let token = forge(&header(ring.current().kid()), &claims(), es256(&private_key(&ring)));
    let verified = verify(&ring, &token).unwrap();
    assert_eq!(verified.jti, "jti-1");
    // And so does a token for several resources that include this one.
    let many = with(claims(), "aud", json!(["https://other.example", RESOURCE]));
    assert!(verify(&ring, &forge(&header(ring.current().kid()), &many, es256(&private_key(&ring)))).is_ok());
}

#[test]
fn alg_none_is_refused() {
    let ring = KeyRing::generate(now());
    let kid = ring.current().kid();
    for alg in ["none", "None", "NONE"] {
        let h = json!({ "alg": alg, "typ": "at+jwt", "kid": kid });
        let unsigned = forge(&h, &claims(), |_| Vec::new());
        assert!(unsigned.ends_with('.'));
        assert_eq!(verify(&ring, &unsigned), Err(TokenError::AlgorithmNotAccepted), "{alg}");
        let with_junk_signature = forge(&h, &claims(), |_| b"x".to_vec());
        assert_eq!(verify(&ring, &with_junk_signature), Err(TokenError::AlgorithmNotAccepted), "{alg}");
    }
    let no_alg = forge(&json!({ "typ": "at+jwt", "kid": kid }), &claims(), es256(&private_key(&ring)));
    assert_eq!(verify(&ring, &no_alg), Err(TokenError::AlgorithmNotAccepted));
}

#[test]
fn wrong_signature_is_refused() {
    let ring = KeyRing::generate(now());
    // Signed by another P-256 key, claiming to be the ring's.
    let forged = forge(&header(ring.current().kid()), &claims(), es256(&attacker_key()));
    assert_eq!(verify(&ring, &forged), Err(TokenError::BadSignature));
    // A valid token's signature with one bit flipped.
    let token = issue(&ring, now()).token.expose().to_string();
    let (message, signature) = token.rsplit_once('.').unwrap();
    let mut sig = B64URL.decode(signature).unwrap();
    sig[10] ^= 1;
    assert_eq!(verify(&ring, &format!("{message}.{}", B64URL.encode(&sig))), Err(TokenError::BadSignature));
    // No signature at all.
    assert_eq!(verify(&ring, &format!("{message}.")), Err(TokenError::BadSignature));
}

#[test]
fn tampered_claims_are_refused() {
    let ring = KeyRing::generate(now());
    let token = issue(&ring, now()).token.expose().to_string();
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload = decode_part(&token, 1);
    payload["sub"] = json!("user:admin");
    let tampered = format!("{}.{}.{}", parts[0], B64URL.encode(serde_json::to_vec(&payload).unwrap()), parts[2]);
    assert_eq!(verify(&ring, &tampered), Err(TokenError::BadSignature));
}

#[test]
fn hs256_keyed_with_the_public_key_is_refused() {
    let ring = KeyRing::generate(now());
    let kid = ring.current().kid().to_string();
    let jwk = ring.current().public_jwk();
    let mut point = vec![4u8];
    point.extend(B64URL.decode(&jwk.x).unwrap());
    point.extend(B64URL.decode(&jwk.y).unwrap());
    // Every encoding of the public key an attacker might hope the verifier uses as the secret.
    let secrets: Vec<Vec<u8>> = vec![
        point.clone(),
        point[1..].to_vec(),
        serde_json::to_vec(&jwk).unwrap(),
        serde_json::to_vec(&ring.jwks()).unwrap(),
        format!("{}{}", jwk.x, jwk.y).into_bytes(),
    ];
    for alg in ["HS256", "HS384", "HS512"] {
        for secret in &secrets {
            let h = json!({ "alg": alg, "typ": "at+jwt", "kid": kid });
            let token = forge(&h, &claims(), |msg| {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
                mac.update(msg);
                mac.finalize().into_bytes().to_vec()
            });
            assert_eq!(verify(&ring, &token), Err(TokenError::AlgorithmNotAccepted), "{alg}");
        }
    }
}

#[test]
fn any_other_algorithm_is_refused() {
    let ring = KeyRing::generate(now());
    for alg in ["ES384", "ES512", "RS256", "PS256", "EdDSA", "es256", "ES256K"] {
        let h = json!({ "alg": alg, "typ": "at+jwt", "kid": ring.current().kid() });
        let token = forge(&h, &claims(), es256(&private_key(&ring)));
        assert_eq!(verify(&ring, &token), Err(TokenError::AlgorithmNotAccepted), "{alg}");
    }
}

#[test]
fn unknown_kid_is_refused() {
    let ring = KeyRing::generate(now());
    let other = KeyRing::generate(now());
    let key = private_key(&ring);
    // The right key, named by a kid the ring does not have.
    assert_eq!(verify(&ring, &forge(&header("nope"), &claims(), es256(&key))), Err(TokenError::UnknownKey));
    assert_eq!(
        verify(&ring, &forge(&header(other.current().kid()), &claims(), es256(&key))),
        Err(TokenError::UnknownKey)
    );
    // No kid at all.
    let no_kid = json!({ "alg": "ES256", "typ": "at+jwt" });
    assert_eq!(verify(&ring, &forge(&no_kid, &claims(), es256(&key))), Err(TokenError::UnknownKey));
    // A token of another ring.
    assert_eq!(verify(&ring, issue(&other, now()).token.expose()), Err(TokenError::UnknownKey));
}

#[test]
fn wrong_issuer_is_refused() {
    let ring = KeyRing::generate(now());
    let token = issue(&ring, now()).token;
    for expected in ["https://canopy.example/", "https://evil.example", "https://CANOPY.example", ""] {
        assert_eq!(
            ring.verify(token.expose(), expected, RESOURCE, now(), never_revoked),
            Err(TokenError::WrongIssuer),
            "{expected}"
        );
    }
}

#[test]
fn wrong_audience_is_refused() {
    let ring = KeyRing::generate(now());
    let token = issue(&ring, now()).token;
    for expected in ["https://canopy.example/servers/gh/mcp", "https://canopy.example/mcp/", "https://canopy.example"] {
        assert_eq!(
            ring.verify(token.expose(), ISSUER, expected, now(), never_revoked),
            Err(TokenError::WrongAudience),
            "{expected}"
        );
    }
    let key = es256(&private_key(&ring));
    let empty = forge(&header(ring.current().kid()), &with(claims(), "aud", json!([])), key);
    assert_eq!(verify(&ring, &empty), Err(TokenError::MissingClaim("aud")));
}

#[test]
fn expired_token_is_refused() {
    let ring = KeyRing::generate(now());
    let token = issue(&ring, now()).token;
    let exp = T0 + 300;
    let check = |t: i64| ring.verify(token.expose(), ISSUER, RESOURCE, at(t), never_revoked);
    assert!(check(exp - 1).is_ok());
    assert!(check(exp + CLOCK_LEEWAY_SECONDS - 1).is_ok(), "within the clock leeway");
    assert_eq!(check(exp + CLOCK_LEEWAY_SECONDS), Err(TokenError::Expired));
    assert_eq!(check(exp + 86_400), Err(TokenError::Expired));
}

#[test]
fn not_yet_valid_token_is_refused() {
    let ring = KeyRing::generate(now());
    let token = issue(&ring, now()).token;
    let check = |t: i64| ring.verify(token.expose(), ISSUER, RESOURCE, at(t), never_revoked);
    assert!(check(T0 - CLOCK_LEEWAY_SECONDS).is_ok(), "within the clock leeway");
    assert_eq!(check(T0 - CLOCK_LEEWAY_SECONDS - 1), Err(TokenError::NotYetValid));
    // nbf in the future while iat is now.
    let key = es256(&private_key(&ring));
    let later = forge(&header(ring.current().kid()), &with(claims(), "nbf", json!(T0 + 120)), key);
    assert_eq!(verify(&ring, &later), Err(TokenError::NotYetValid));
}

#[test]
fn revoked_jti_is_refused() {
    let ring = KeyRing::generate(now());
    let issued = issue(&ring, now());
    let jti = issued.claims.jti.clone();
    let revoked = |j: &str| j == jti;
    assert_eq!(ring.verify(issued.token.expose(), ISSUER, RESOURCE, now(), revoked), Err(TokenError::Revoked));
    let other = issue(&ring, now());
    assert!(ring.verify(other.token.expose(), ISSUER, RESOURCE, now(), revoked).is_ok());
}

#[test]
fn missing_required_claims_are_refused() {
    let ring = KeyRing::generate(now());
    let kid = ring.current().kid().to_string();
    let key = private_key(&ring);
    for claim in ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "tenant"] {
        let token = forge(&header(&kid), &without(claims(), claim), es256(&key));
        assert_eq!(verify(&ring, &token), Err(TokenError::MissingClaim(claim)), "{claim}");
    }
    // Claims of the wrong type, or a tenant that is no tenant id.
    let token = forge(&header(&kid), &with(claims(), "exp", json!("tomorrow")), es256(&key));
    assert_eq!(verify(&ring, &token), Err(TokenError::MalformedClaims));
    let token = forge(&header(&kid), &with(claims(), "tenant", json!("Not A Tenant")), es256(&key));
    assert_eq!(verify(&ring, &token), Err(TokenError::InvalidClaim("tenant")));
    let token = forge(&header(&kid), &with(claims(), "scope", json!("a \"b\"")), es256(&key));
    assert_eq!(verify(&ring, &token), Err(TokenError::InvalidClaim("scope")));
}

#[test]
fn a_token_that_is_not_an_access_token_is_refused() {
    let ring = KeyRing::generate(now());
    let key = private_key(&ring);
    let kid = ring.current().kid();
    for h in [
        json!({ "alg": "ES256", "typ": "JWT", "kid": kid }),
        json!({ "alg": "ES256", "kid": kid }),
        json!({ "alg": "ES256", "typ": "dpop+jwt", "kid": kid }),
    ] {
        assert_eq!(verify(&ring, &forge(&h, &claims(), es256(&key))), Err(TokenError::NotAnAccessToken), "{h}");
    }
    // A critical header extension this verifier does not understand.
    let crit = json!({ "alg": "ES256", "typ": "at+jwt", "kid": kid, "crit": ["exp"], "exp": 1 });
    assert_eq!(verify(&ring, &forge(&crit, &claims(), es256(&key))), Err(TokenError::Malformed));
}

#[test]
fn malformed_tokens_are_refused() {
    let ring = KeyRing::generate(now());
    let token = issue(&ring, now()).token.expose().to_string();
    let huge = format!("{token}{}", "A".repeat(20_000));
    for bad in ["", "abc", "a.b", "a.b.c.d", "!!.!!.!!", &format!("{token}.extra"), &huge] {
        assert_eq!(verify(&ring, bad), Err(TokenError::Malformed), "{:.40}", bad);
    }
    let payload_not_json = format!("{}.{}.sig", token.split('.').next().unwrap(), B64URL.encode("not json"));
    assert!(verify(&ring, &payload_not_json).is_err());
}

#[test]
fn rotated_out_key_verifies_until_retired() {
    let mut ring = KeyRing::generate(now());
    let old_kid = ring.current().kid().to_string();
    let old_token = issue(&ring, now()).token;

    let new_kid = ring.rotate(at(T0 + 10)).kid().to_string();
    assert_ne!(new_kid, old_kid);
    let new_token = issue(&ring, at(T0 + 10)).token;
    assert_eq!(decode_part(new_token.expose(), 0)["kid"], new_kid, "the new key signs");
    assert!(verify(&ring, old_token.expose()).is_ok(), "the old key still verifies");
    assert_eq!(ring.jwks().keys.len(), 2, "and is still published");
    assert_eq!(ring.keys().nth(1).unwrap().rotated_out_at(), Some(at(T0 + 10)));

    // Keys rotated out at or after the cutoff stay.
    assert!(ring.retire_rotated_before(at(T0 + 10)).is_empty());
    assert_eq!(ring.retire_rotated_before(at(T0 + 11)), [old_kid]);
    assert_eq!(verify(&ring, old_token.expose()), Err(TokenError::UnknownKey));
    assert!(ring.verify(new_token.expose(), ISSUER, RESOURCE, at(T0 + 10), never_revoked).is_ok());
    assert_eq!(ring.jwks().keys.len(), 1);

    // Retiring by kid; the current key cannot be retired.
    ring.rotate(at(T0 + 20));
    ring.retire(&new_kid).unwrap();
    assert!(ring.retire(&new_kid).is_err());
    let current = ring.current().kid().to_string();
    assert!(ring.retire(&current).is_err());
}

#[test]
fn issuing_refuses_incomplete_specs() {
    let ring = KeyRing::generate(now());
    let tenant = acme();
    let try_issue = |scopes: &[String], subject: &str, lifetime: Duration| {
        let spec = AccessTokenSpec {
            issuer: ISSUER,
            subject,
            audience: RESOURCE,
            client_id: "c1",
            scopes,
            tenant: &tenant,
            lifetime,
        };
        ring.issue_access_token(&spec, now())
    };
    let (good, bad) = (["a".to_string()], ["a b".to_string()]);
    assert_eq!(try_issue(&good, "", Duration::minutes(1)).unwrap_err(), IssueError::Empty("subject"));
    assert_eq!(try_issue(&bad, "u", Duration::minutes(1)).unwrap_err(), IssueError::InvalidScope("a b".into()));
    assert_eq!(try_issue(&good, "u", Duration::zero()).unwrap_err(), IssueError::BadLifetime);
    assert!(try_issue(&[], "u", Duration::minutes(1)).unwrap().claims.scope.is_empty());
}

#[test]
fn tokens_and_secrets_never_appear_in_debug_output() {
    let sealer = sealer();
    let ring = KeyRing::generate(now());
    let issued = issue(&ring, now());
    let sealed = ring.seal(&sealer, "owner");
    let secret = OpaqueSecret::generate(SecretKind::ClientSecret);
    let hasher = SecretHasher::new(&sealer);
    let pkcs8 = private_key(&ring);

    let debug = format!("{issued:?} {ring:?} {:?} {sealed:?} {secret:?} {hasher:?} {sealer:?}", ring.current());
    let token = issued.token.expose();
    assert!(!debug.contains(token));
    for part in token.split('.') {
        assert!(!debug.contains(part), "no part of the token");
    }
    assert!(!debug.contains(secret.expose()));
    assert!(!debug.contains(&secret.expose()[7..20]), "not even part of the secret");
    assert!(!debug.contains(&B64URL.encode(&pkcs8)));
    assert!(!debug.contains(&sealed.keys[0].private_key.0), "not even the sealed private key");
    let derived = sealer.derive_key(SecretHasher::KEY_PURPOSE);
    assert!(!debug.contains(&format!("{derived:?}")) && !debug.contains(&B64URL.encode(derived)));
    assert!(debug.contains("AccessToken(***)"), "{debug}");
    assert!(debug.contains(ring.current().kid()), "kids are shown: they are public");
}

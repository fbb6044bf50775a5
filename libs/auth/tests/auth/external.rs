//! Tokens of an external authorization server, checked against its JWKS.

use super::*;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use canopy_auth::{unverified_issuer, ExternalIssuer, JwksError, SignatureAlgorithm, TokenError, VerifyingKeys};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const IDP: &str = "https://idp.example/realms/acme";

/// An external issuer's P-256 key: its PKCS#8 and its JWK (kid `k1`).
fn idp_key() -> (Vec<u8>, Value) {
    let pkcs8 = attacker_key();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
        "x": B64URL.encode(&point[1..33]), "y": B64URL.encode(&point[33..]),
    });
    (pkcs8, jwk)
}

fn jwks(keys: Vec<Value>) -> String {
    json!({ "keys": keys }).to_string()
}

/// What a typical RFC 9068 issuer puts in a token (no `tenant`, no `nbf`).
fn idp_claims() -> Value {
    json!({
        "iss": IDP, "sub": "248289761001", "aud": RESOURCE, "exp": T0 + 300, "iat": T0,
        "jti": "e1", "client_id": "cursor", "scope": "tools:call",
    })
}

fn idp_header() -> Value {
    json!({ "alg": "ES256", "typ": "at+jwt", "kid": "k1" })
}

fn issuer(jwk: &Value) -> ExternalIssuer {
    ExternalIssuer::from_jwks_json(IDP, acme(), &jwks(vec![jwk.clone()]), &[SignatureAlgorithm::Es256]).unwrap()
}

fn verify(issuer: &ExternalIssuer, token: &str) -> Result<canopy_auth::AccessClaims, TokenError> {
    issuer.verify(token, RESOURCE, now(), never_revoked)
}

#[test]
fn external_tokens_verify_and_their_tenant_comes_from_configuration() {
    let (key, jwk) = idp_key();
    let issuer = issuer(&jwk);
    // A `tenant` claim in the token is ignored: the issuer is configured for acme.
    let token = forge(&idp_header(), &with(idp_claims(), "tenant", json!("globex")), es256(&key));
    let claims = verify(&issuer, &token).unwrap();
    assert_eq!(claims.tenant, acme());
    assert_eq!((claims.sub.as_str(), claims.client_id.as_str(), claims.nbf), ("248289761001", "cursor", None));
    assert_eq!(unverified_issuer(&token).as_deref(), Some(IDP), "what a resource server routes on");

    // `azp` for the client and `scp` for the scopes, as some issuers send them.
    let variant = without(without(idp_claims(), "client_id"), "scope");
    let variant = with(with(variant, "azp", json!("cursor")), "scp", json!(["a", "b"]));
    let claims = verify(&issuer, &forge(&idp_header(), &variant, es256(&key))).unwrap();
    assert_eq!((claims.client_id.as_str(), claims.scope.as_str()), ("cursor", "a b"));
}

#[test]
fn external_tokens_get_the_same_strict_checks() {
    let (key, jwk) = idp_key();
    let issuer = issuer(&jwk);
    let sign = || es256(&key);
    let cases: Vec<(String, TokenError)> = vec![
        (forge(&idp_header(), &idp_claims(), es256(&attacker_key())), TokenError::BadSignature),
        (
            forge(&json!({ "alg": "none", "typ": "at+jwt", "kid": "k1" }), &idp_claims(), |_| vec![]),
            TokenError::AlgorithmNotAccepted,
        ),
        (
            forge(&json!({ "alg": "ES256", "typ": "at+jwt", "kid": "k2" }), &idp_claims(), sign()),
            TokenError::UnknownKey,
        ),
        (
            forge(&idp_header(), &with(idp_claims(), "iss", json!("https://idp.example/realms/other")), sign()),
            TokenError::WrongIssuer,
        ),
        (
            forge(&idp_header(), &with(idp_claims(), "aud", json!("https://elsewhere.example")), sign()),
            TokenError::WrongAudience,
        ),
        (forge(&idp_header(), &with(idp_claims(), "exp", json!(T0 - 60)), sign()), TokenError::Expired),
        (forge(&idp_header(), &with(idp_claims(), "nbf", json!(T0 + 600)), sign()), TokenError::NotYetValid),
        (forge(&idp_header(), &with(idp_claims(), "iat", json!(T0 + 600)), sign()), TokenError::NotYetValid),
        (forge(&idp_header(), &without(idp_claims(), "jti"), sign()), TokenError::MissingClaim("jti")),
        (forge(&idp_header(), &without(idp_claims(), "client_id"), sign()), TokenError::MissingClaim("client_id")),
        (
            forge(&json!({ "alg": "ES256", "typ": "JWT", "kid": "k1" }), &idp_claims(), sign()),
            TokenError::NotAnAccessToken,
        ),
    ];
    for (token, expected) in cases {
        assert_eq!(verify(&issuer, &token), Err(expected.clone()), "{expected:?}");
    }
    let token = forge(&idp_header(), &idp_claims(), sign());
    assert_eq!(issuer.verify(&token, RESOURCE, now(), |jti| jti == "e1"), Err(TokenError::Revoked));
}

#[test]
fn external_hs256_keyed_with_the_jwk_is_refused() {
    let (_, jwk) = idp_key();
    let issuer = issuer(&jwk);
    for secret in [jwk.to_string().into_bytes(), B64URL.decode(jwk["x"].as_str().unwrap()).unwrap()] {
        let token = forge(&json!({ "alg": "HS256", "typ": "at+jwt", "kid": "k1" }), &idp_claims(), |msg| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
            mac.update(msg);
            mac.finalize().into_bytes().to_vec()
        });
        assert_eq!(verify(&issuer, &token), Err(TokenError::AlgorithmNotAccepted));
    }
}

#[test]
fn shared_secret_keys_in_a_jwks_are_never_trusted() {
    let (_, jwk) = idp_key();
    let oct = json!({ "kty": "oct", "kid": "h1", "alg": "HS256", "k": B64URL.encode(b"shared secret") });
    assert_eq!(
        ExternalIssuer::from_jwks_json(IDP, acme(), &jwks(vec![oct.clone()]), &SignatureAlgorithm::ALL).unwrap_err(),
        JwksError::NoUsableKeys
    );
    let issuer = ExternalIssuer::from_jwks_json(IDP, acme(), &jwks(vec![oct, jwk]), &SignatureAlgorithm::ALL).unwrap();
    let token = forge(&json!({ "alg": "HS256", "typ": "at+jwt", "kid": "h1" }), &idp_claims(), |msg| {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"shared secret").unwrap();
        mac.update(msg);
        mac.finalize().into_bytes().to_vec()
    });
    assert_eq!(verify(&issuer, &token), Err(TokenError::AlgorithmNotAccepted));
    let token = forge(&json!({ "alg": "ES256", "typ": "at+jwt", "kid": "h1" }), &idp_claims(), |_| vec![1; 64]);
    assert_eq!(verify(&issuer, &token), Err(TokenError::UnknownKey));
}

#[test]
fn each_key_verifies_only_its_own_algorithm() {
    let (key, jwk) = idp_key();
    // Configured for RSA only: the EC key is not usable at all.
    assert_eq!(
        ExternalIssuer::from_jwks_json(IDP, acme(), &jwks(vec![jwk.clone()]), &[SignatureAlgorithm::Rs256])
            .unwrap_err(),
        JwksError::NoUsableKeys
    );
    // A P-256 key named in an ES384 header is refused before the signature is looked at.
    let issuer =
        ExternalIssuer::from_jwks_json(IDP, acme(), &jwks(vec![jwk.clone()]), &SignatureAlgorithm::ALL).unwrap();
    let token = forge(&json!({ "alg": "ES384", "typ": "at+jwt", "kid": "k1" }), &idp_claims(), es256(&key));
    assert_eq!(verify(&issuer, &token), Err(TokenError::AlgorithmNotAccepted));
    // A JWK whose alg contradicts its curve is a configuration error.
    let contradictory = with(jwk.clone(), "alg", json!("RS256"));
    assert!(matches!(
        ExternalIssuer::from_jwks_json(IDP, acme(), &jwks(vec![contradictory]), &SignatureAlgorithm::ALL),
        Err(JwksError::BadKey { .. })
    ));
    let short = with(jwk.clone(), "x", json!("AAAA"));
    assert!(matches!(
        ExternalIssuer::from_jwks_json(IDP, acme(), &jwks(vec![short]), &SignatureAlgorithm::ALL),
        Err(JwksError::BadKey { .. })
    ));
    assert_eq!(
        ExternalIssuer::from_jwks_json(IDP, acme(), &jwks(vec![jwk.clone(), jwk.clone()]), &SignatureAlgorithm::ALL)
            .unwrap_err(),
        JwksError::DuplicateKid("k1".into())
    );
    assert_eq!(
        ExternalIssuer::from_jwks_json(IDP, acme(), "[]", &SignatureAlgorithm::ALL).unwrap_err(),
        JwksError::NotAJwks
    );
    // Encryption keys and keys without a kid are left out.
    let enc = with(jwk.clone(), "use", json!("enc"));
    let no_kid = without(jwk, "kid");
    assert_eq!(
        ExternalIssuer::from_jwks_json(IDP, acme(), &jwks(vec![enc, no_kid]), &SignatureAlgorithm::ALL).unwrap_err(),
        JwksError::NoUsableKeys
    );
}

#[test]
fn eddsa_issuers_work_and_key_updates_take_effect() {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": B64URL.encode(pair.public_key().as_ref()) });
    let mut issuer =
        ExternalIssuer::from_jwks_json(IDP, acme(), &jwks(vec![jwk]), &[SignatureAlgorithm::EdDsa]).unwrap();
    let header = json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": "ed" });
    let token = forge(&header, &idp_claims(), |msg| pair.sign(msg).as_ref().to_vec());
    assert!(verify(&issuer, &token).is_ok());

    // The issuer rotates to a P-256 key; the EdDSA key is gone after the update.
    let (key, ec) = idp_key();
    assert!(issuer.update_jwks(&jwks(vec![ec.clone()])).is_err(), "EdDSA-only issuers do not take ES256 keys");
    let mut issuer = ExternalIssuer::from_jwks_json(
        IDP,
        acme(),
        &jwks(vec![ec.clone()]),
        &[SignatureAlgorithm::EdDsa, SignatureAlgorithm::Es256],
    )
    .unwrap();
    assert!(verify(&issuer, &forge(&idp_header(), &idp_claims(), es256(&key))).is_ok());
    issuer.update_jwks(&jwks(vec![with(ec, "kid", json!("k9"))])).unwrap();
    assert_eq!(verify(&issuer, &forge(&idp_header(), &idp_claims(), es256(&key))), Err(TokenError::UnknownKey));
}

#[test]
fn untyped_tokens_only_when_allowed() {
    let (key, jwk) = idp_key();
    let untyped = forge(&json!({ "alg": "ES256", "kid": "k1" }), &idp_claims(), es256(&key));
    let typed_jwt = forge(&json!({ "alg": "ES256", "typ": "JWT", "kid": "k1" }), &idp_claims(), es256(&key));
    assert_eq!(verify(&issuer(&jwk), &untyped), Err(TokenError::NotAnAccessToken));
    let lax = issuer(&jwk).accepting_untyped_tokens();
    assert!(verify(&lax, &untyped).is_ok());
    assert!(verify(&lax, &typed_jwt).is_ok());
}

#[test]
fn a_resource_server_with_only_canopys_jwks_verifies_canopy_tokens() {
    let ring = KeyRing::generate(now());
    let published = serde_json::to_string(&ring.jwks()).unwrap();
    let keys = VerifyingKeys::from_jwks_json(&published, &[SignatureAlgorithm::Es256]).unwrap();
    assert_eq!(keys.kids().collect::<Vec<_>>(), [ring.current().kid()]);
    let issued = issue(&ring, now());
    let verified = keys.verify_canopy_token(issued.token.expose(), ISSUER, RESOURCE, now(), never_revoked).unwrap();
    assert_eq!(verified, issued.claims);
    // Canopy's profile still requires the tenant claim, unlike an external issuer's.
    let token = forge(&header(ring.current().kid()), &without(claims(), "tenant"), es256(&private_key(&ring)));
    assert_eq!(
        keys.verify_canopy_token(&token, ISSUER, RESOURCE, now(), never_revoked),
        Err(TokenError::MissingClaim("tenant"))
    );
}

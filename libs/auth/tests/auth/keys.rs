//! Key rings at rest (sealed) and in public (JWKS).

use super::*;
use canopy_auth::{KeyError, SealedKeyRing};
use sha2::{Digest, Sha256};

#[test]
fn sealed_ring_round_trips_and_holds_no_plaintext() {
    let sealer = sealer();
    let mut ring = KeyRing::generate(now());
    let old_token = issue(&ring, now()).token;
    ring.rotate(at(T0 + 60));
    let pkcs8 = private_key(&ring);

    let stored = serde_json::to_string(&ring.seal(&sealer, "acme")).unwrap();
    assert!(!stored.contains(&B64URL.encode(&pkcs8)), "no private key in plaintext");
    assert!(stored.contains(ring.current().kid()));

    let sealed: SealedKeyRing = serde_json::from_str(&stored).unwrap();
    let opened = KeyRing::open(&sealed, &sealer, "acme").unwrap();
    assert_eq!(
        opened.keys().map(|k| k.kid().to_string()).collect::<Vec<_>>(),
        ring.keys().map(|k| k.kid().to_string()).collect::<Vec<_>>()
    );
    assert_eq!(opened.current().kid(), ring.current().kid(), "the current key stays current");
    assert_eq!(opened.keys().nth(1).unwrap().rotated_out_at(), Some(at(T0 + 60)));
    assert_eq!(opened.jwks(), ring.jwks());
    // Tokens cross between the original and the reopened ring both ways.
    assert!(opened.verify(old_token.expose(), ISSUER, RESOURCE, now(), never_revoked).is_ok());
    let new_token = issue(&opened, at(T0 + 60)).token;
    assert!(ring.verify(new_token.expose(), ISSUER, RESOURCE, at(T0 + 60), never_revoked).is_ok());
}

#[test]
fn sealed_ring_opens_only_for_its_owner_its_kids_and_its_deployment() {
    let sealer = sealer();
    let mut ring = KeyRing::generate(now());
    ring.rotate(now());
    let sealed = ring.seal(&sealer, "acme");

    assert!(matches!(KeyRing::open(&sealed, &sealer, "other"), Err(KeyError::Unseal { .. })), "another owner");
    let other_deployment = Sealer::from_bytes(&[8; 32]).unwrap();
    assert!(matches!(KeyRing::open(&sealed, &other_deployment, "acme"), Err(KeyError::Unseal { .. })));

    // Swapping which kid a sealed private key is stored under does not open.
    let mut swapped = sealed.clone();
    let first = swapped.keys[0].private_key.clone();
    swapped.keys[0].private_key = swapped.keys[1].private_key.clone();
    swapped.keys[1].private_key = first;
    assert!(matches!(KeyRing::open(&swapped, &sealer, "acme"), Err(KeyError::Unseal { .. })));

    // A key sealed under the right context but listed under a wrong kid is caught too.
    let mut relabelled = sealed.clone();
    let real_kid = relabelled.keys[0].kid.clone();
    let field = format!("private_key:{real_kid}");
    let plain = sealer
        .open(SealContext { tenant: "acme", server: "oauth-signing-keys", field: &field }, &sealed.keys[0].private_key)
        .unwrap();
    relabelled.keys[0].kid = "forged-kid".into();
    relabelled.keys[0].private_key = sealer
        .seal(SealContext { tenant: "acme", server: "oauth-signing-keys", field: "private_key:forged-kid" }, &plain);
    assert!(matches!(KeyRing::open(&relabelled, &sealer, "acme"), Err(KeyError::KidMismatch { .. })));

    let empty = SealedKeyRing { format: 1, keys: vec![] };
    assert!(matches!(KeyRing::open(&empty, &sealer, "acme"), Err(KeyError::EmptyRing)));
    let future = SealedKeyRing { format: 2, keys: sealed.keys.clone() };
    assert!(matches!(KeyRing::open(&future, &sealer, "acme"), Err(KeyError::UnsupportedFormat(2))));
}

#[test]
fn jwks_is_an_rfc_7517_document_with_rfc_7638_kids() {
    let mut ring = KeyRing::generate(now());
    ring.rotate(now());
    let doc = serde_json::to_value(ring.jwks()).unwrap();
    let keys = doc["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    for key in keys {
        let members: Vec<&str> = key.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(members.len(), 7, "{key}");
        assert_eq!(key["kty"], "EC");
        assert_eq!(key["crv"], "P-256");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "ES256");
        assert!(key.get("d").is_none(), "never the private part");
        let (x, y) = (key["x"].as_str().unwrap(), key["y"].as_str().unwrap());
        assert_eq!(B64URL.decode(x).unwrap().len(), 32);
        assert_eq!(B64URL.decode(y).unwrap().len(), 32);
        // RFC 7638 thumbprint, computed independently.
        let canonical = json!({ "crv": "P-256", "kty": "EC", "x": x, "y": y }).to_string();
        assert_eq!(key["kid"], B64URL.encode(Sha256::digest(canonical.as_bytes())));
    }
    assert_eq!(keys[0]["kid"], ring.current().kid(), "the current key first");
}

//! Opaque secrets: generation, keyed hashing, constant-time verification.

use super::sealer;
use canopy_auth::{OpaqueSecret, SecretHash, SecretHasher, SecretKind};
use canopy_secrets::Sealer;

const KINDS: [SecretKind; 4] =
    [SecretKind::ClientSecret, SecretKind::RefreshToken, SecretKind::AuthorizationCode, SecretKind::ApiToken];

#[test]
fn generated_secrets_carry_256_bits_after_their_prefix() {
    for kind in KINDS {
        let a = OpaqueSecret::generate(kind);
        let b = OpaqueSecret::generate(kind);
        assert_ne!(a.expose(), b.expose());
        let body = a.expose().strip_prefix(kind.prefix()).unwrap();
        assert_eq!(body.len(), 43, "base64url of 32 bytes, no padding");
        assert!(body.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert!(OpaqueSecret::is_well_formed(kind, a.expose()));
        assert_eq!(a.kind(), kind);
    }
    let rt = OpaqueSecret::generate(SecretKind::RefreshToken);
    assert!(!OpaqueSecret::is_well_formed(SecretKind::ClientSecret, rt.expose()), "prefix of another kind");
    assert!(!OpaqueSecret::is_well_formed(SecretKind::RefreshToken, &rt.expose()[..40]));
    assert!(!OpaqueSecret::is_well_formed(SecretKind::RefreshToken, &format!("{}=", rt.expose())));
}

#[test]
fn hashes_are_keyed_by_deployment_and_kind() {
    let hasher = SecretHasher::new(&sealer());
    let secret = OpaqueSecret::generate(SecretKind::ApiToken);
    let hash = hasher.hash(SecretKind::ApiToken, secret.expose());
    assert_eq!(hash, hasher.hash(SecretKind::ApiToken, secret.expose()), "stable, so it can be looked up");
    assert_ne!(hash, hasher.hash(SecretKind::ClientSecret, secret.expose()), "another kind, another hash");
    let other = SecretHasher::new(&Sealer::from_bytes(&[9; 32]).unwrap());
    assert_ne!(hash, other.hash(SecretKind::ApiToken, secret.expose()), "another deployment, another hash");
    assert!(!hash.to_hex().contains(&secret.expose()[8..20]));
    // Admin-supplied tokens of any shape hash too.
    assert!(hasher.verify(
        SecretKind::ApiToken,
        "my-custom-token",
        &hasher.hash(SecretKind::ApiToken, "my-custom-token")
    ));
}

#[test]
fn verification_accepts_only_the_secret() {
    let hasher = SecretHasher::new(&sealer());
    let secret = OpaqueSecret::generate(SecretKind::ClientSecret);
    let stored = hasher.hash(SecretKind::ClientSecret, secret.expose());
    assert!(hasher.verify(SecretKind::ClientSecret, secret.expose(), &stored));
    let almost = format!("{}x", &secret.expose()[..secret.expose().len() - 1]);
    assert!(!hasher.verify(SecretKind::ClientSecret, &almost, &stored));
    assert!(!hasher.verify(SecretKind::ClientSecret, "", &stored));
    assert!(!hasher.verify(SecretKind::RefreshToken, secret.expose(), &stored));
    // Stored as hex, read back equal.
    let json = serde_json::to_string(&stored).unwrap();
    assert_eq!(json.len(), 66);
    assert_eq!(serde_json::from_str::<SecretHash>(&json).unwrap(), stored);
    assert_eq!(SecretHash::from_bytes(stored.as_bytes()), Some(stored));
    assert!(serde_json::from_str::<SecretHash>("\"abc\"").is_err());
}

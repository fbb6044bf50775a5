//! PKCE: S256 only, strict shapes, constant-time comparison.

use canopy_auth::{PkceChallenge, PkceError};

/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[test]
fn the_rfc_7636_example_verifies() {
    let challenge = PkceChallenge::from_request(CHALLENGE, Some("S256")).unwrap();
    assert_eq!(challenge.verify(VERIFIER), Ok(()));
    assert_eq!(PkceChallenge::s256(VERIFIER).unwrap(), challenge);
}

#[test]
fn verifier_mismatch_is_refused() {
    let challenge = PkceChallenge::from_request(CHALLENGE, Some("S256")).unwrap();
    let other = format!("{}A", &VERIFIER[..VERIFIER.len() - 1]);
    assert_eq!(challenge.verify(&other), Err(PkceError::Mismatch));
    assert_eq!(challenge.verify(&"a".repeat(43)), Err(PkceError::Mismatch));
    assert_eq!(PkceError::Mismatch.oauth_error(), "invalid_grant");
    // The challenge itself presented as the verifier (what `plain` would accept).
    assert_eq!(challenge.verify(CHALLENGE), Err(PkceError::Mismatch));
}

#[test]
fn plain_is_refused() {
    assert_eq!(PkceChallenge::from_request(VERIFIER, Some("plain")), Err(PkceError::PlainRefused));
    // No method means plain (RFC 7636 section 4.3).
    assert_eq!(PkceChallenge::from_request(CHALLENGE, None), Err(PkceError::MissingMethod));
    for method in ["s256", "S512", "", "S256 "] {
        assert_eq!(PkceChallenge::from_request(CHALLENGE, Some(method)), Err(PkceError::UnsupportedMethod), "{method}");
    }
    assert_eq!(PkceError::PlainRefused.oauth_error(), "invalid_request");
}

#[test]
fn verifier_length_and_alphabet_are_checked() {
    let challenge = PkceChallenge::from_request(CHALLENGE, Some("S256")).unwrap();
    for bad in [
        "a".repeat(42),
        "a".repeat(129),
        format!("{} ", &VERIFIER[..42]),
        format!("{}+", &VERIFIER[..42]),
        format!("{}é", &VERIFIER[..41]),
        String::new(),
    ] {
        assert_eq!(challenge.verify(&bad), Err(PkceError::MalformedVerifier), "{bad:?}");
        assert_eq!(PkceChallenge::s256(&bad), Err(PkceError::MalformedVerifier));
    }
    let longest = "a-._~".repeat(25) + "abc";
    assert_eq!(longest.len(), 128);
    assert!(PkceChallenge::s256(&longest).unwrap().verify(&longest).is_ok());
}

#[test]
fn malformed_challenges_are_refused() {
    for bad in [
        "",
        "short",
        &CHALLENGE[..42],
        &format!("{CHALLENGE}A"),
        &format!("{}=", &CHALLENGE[..42]),
        &format!("{}+", &CHALLENGE[..42]),
    ] {
        assert_eq!(PkceChallenge::from_request(bad, Some("S256")), Err(PkceError::MalformedChallenge), "{bad:?}");
    }
    // Non-canonical trailing bits: 'N' instead of 'M' decodes to the same bytes in lenient decoders.
    let non_canonical = format!("{}N", &CHALLENGE[..42]);
    assert_eq!(PkceChallenge::from_request(&non_canonical, Some("S256")), Err(PkceError::MalformedChallenge));
    // Stored challenges are checked again when read back.
    assert!(serde_json::from_str::<PkceChallenge>("\"short\"").is_err());
    let stored = serde_json::to_string(&PkceChallenge::s256(VERIFIER).unwrap()).unwrap();
    assert_eq!(serde_json::from_str::<PkceChallenge>(&stored).unwrap().as_str(), CHALLENGE);
}

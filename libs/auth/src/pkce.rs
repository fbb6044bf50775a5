//! PKCE (RFC 7636), S256 only. The authorization endpoint keeps the client's `code_challenge`
//! with the authorization code; the token endpoint checks the `code_verifier` against it.
//! `plain` is refused (OAuth 2.1 and MCP require S256), and so is a request with no method,
//! which RFC 7636 reads as `plain`.

use crate::secret::constant_time_eq;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64URL, Engine};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why a PKCE parameter was refused. The text is fit for an OAuth `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    #[error("code_challenge_method must be S256: 'plain' is not accepted")]
    PlainRefused,
    #[error("code_challenge_method is required and must be S256")]
    MissingMethod,
    #[error("code_challenge_method must be S256")]
    UnsupportedMethod,
    #[error("code_challenge must be 43 base64url characters: BASE64URL(SHA256(code_verifier))")]
    MalformedChallenge,
    #[error("code_verifier must be 43 to 128 characters from A-Z a-z 0-9 - . _ ~")]
    MalformedVerifier,
    #[error("code_verifier does not match code_challenge")]
    Mismatch,
}

impl PkceError {
    /// The OAuth error code: a bad challenge fails the authorization request, a bad verifier
    /// fails the grant.
    pub fn oauth_error(&self) -> &'static str {
        match self {
            PkceError::MalformedVerifier | PkceError::Mismatch => "invalid_grant",
            _ => "invalid_request",
        }
    }
}

/// An S256 code challenge, checked for shape; stored with the authorization code. Not secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PkceChallenge(String);

impl PkceChallenge {
    /// The `code_challenge` and `code_challenge_method` of an authorization request, as received.
    pub fn from_request(challenge: &str, method: Option<&str>) -> Result<Self, PkceError> {
        match method {
            Some("S256") => {}
            Some("plain") => return Err(PkceError::PlainRefused),
            Some(_) => return Err(PkceError::UnsupportedMethod),
            None => return Err(PkceError::MissingMethod),
        }
        Self::parse(challenge)
    }

    /// The challenge for `verifier` (what a client sends; also for tests).
    pub fn s256(verifier: &str) -> Result<Self, PkceError> {
        check_verifier(verifier)?;
        Ok(Self(B64URL.encode(Sha256::digest(verifier.as_bytes()))))
    }

    /// Checks the token request's `code_verifier` against this challenge, in constant time.
    pub fn verify(&self, verifier: &str) -> Result<(), PkceError> {
        check_verifier(verifier)?;
        let computed = B64URL.encode(Sha256::digest(verifier.as_bytes()));
        if constant_time_eq(computed.as_bytes(), self.0.as_bytes()) {
            Ok(())
        } else {
            Err(PkceError::Mismatch)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn parse(challenge: &str) -> Result<Self, PkceError> {
        // 43 characters are exactly 32 bytes; the strict decoder also refuses stray trailing bits.
        if challenge.len() != 43 || B64URL.decode(challenge).map(|b| b.len()) != Ok(32) {
            return Err(PkceError::MalformedChallenge);
        }
        Ok(Self(challenge.to_string()))
    }
}

impl TryFrom<String> for PkceChallenge {
    type Error = PkceError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PkceChallenge> for String {
    fn from(value: PkceChallenge) -> Self {
        value.0
    }
}

/// RFC 7636 section 4.1: 43 to 128 unreserved characters.
fn check_verifier(verifier: &str) -> Result<(), PkceError> {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if (43..=128).contains(&verifier.len()) && verifier.bytes().all(unreserved) {
        Ok(())
    } else {
        Err(PkceError::MalformedVerifier)
    }
}

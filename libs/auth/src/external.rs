//! Access tokens from an external authorization server a tenant trusts (its own Keycloak, Okta,
//! Entra, ...). The resource server is given the issuer's identifier and its JWKS (fetching and
//! refreshing the JWKS is the service's job) and checks those tokens exactly as it checks
//! Canopy's own. The tenant comes from the configuration, never from the token.

use crate::access::AccessClaims;
use crate::jwt::{self, Expectations, JwksError, Profile, SignatureAlgorithm, TokenError, TypPolicy, VerifyingKeys};
use canopy_domain::TenantId;
use chrono::{DateTime, Utc};

/// One trusted external issuer. `Debug` shows the issuer, tenant and kids.
#[derive(Debug, Clone)]
pub struct ExternalIssuer {
    issuer: String,
    tenant: TenantId,
    algorithms: Vec<SignatureAlgorithm>,
    keys: VerifyingKeys,
    typ: TypPolicy,
}

impl ExternalIssuer {
    /// `issuer` is the exact `iss` its tokens carry (its RFC 8414 `issuer`); `algorithms` are
    /// those it may sign with (each JWK is pinned to one of them; HMAC cannot be configured).
    pub fn from_jwks_json(
        issuer: impl Into<String>,
        tenant: TenantId,
        jwks_json: &str,
        algorithms: &[SignatureAlgorithm],
    ) -> Result<Self, JwksError> {
        let keys = VerifyingKeys::from_jwks_json(jwks_json, algorithms)?;
        Ok(Self { issuer: issuer.into(), tenant, algorithms: algorithms.to_vec(), keys, typ: TypPolicy::default() })
    }

    /// Also accepts tokens typed `JWT` or untyped, for issuers that predate RFC 9068. See
    /// [`TypPolicy::AccessTokenOrJwt`] for what that gives up.
    pub fn accepting_untyped_tokens(mut self) -> Self {
        self.typ = TypPolicy::AccessTokenOrJwt;
        self
    }

    /// Replaces the keys after the issuer rotated its own (e.g. on an unknown `kid`, rate-limited).
    pub fn update_jwks(&mut self, jwks_json: &str) -> Result<(), JwksError> {
        self.keys = VerifyingKeys::from_jwks_json(jwks_json, &self.algorithms)?;
        Ok(())
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The same checks as [`crate::KeyRing::verify`], against this issuer's keys and identifier.
    /// RFC 9068's claims are required (`iss`, `sub`, `aud`, `exp`, `iat`, `jti`, `client_id` or
    /// `azp`); `scope` may also come as an `scp` array. `is_revoked` sees the token's `jti`:
    /// keep revocations of external tokens apart from Canopy's (key them by issuer too).
    pub fn verify(
        &self,
        token: &str,
        expected_audience: &str,
        now: DateTime<Utc>,
        is_revoked: impl Fn(&str) -> bool,
    ) -> Result<AccessClaims, TokenError> {
        let expect = Expectations {
            issuer: &self.issuer,
            audience: expected_audience,
            typ: self.typ,
            profile: Profile::External { tenant: &self.tenant },
        };
        jwt::verify(&self.keys, token, &expect, now, is_revoked)
    }
}

/// The `iss` claim of a token, read WITHOUT verifying anything: only to pick which verifier
/// (Canopy's ring or one of the configured external issuers) to run. Never trust it otherwise.
pub fn unverified_issuer(token: &str) -> Option<String> {
    jwt::unverified_claim(token, "iss")
}

/// The `aud` of a token with a single audience (as Canopy issues them), unverified: for an
/// introspection or revocation endpoint that verifies the token next, for whatever resource it
/// names.
pub fn unverified_audience(token: &str) -> Option<String> {
    jwt::unverified_claim(token, "aud")
}

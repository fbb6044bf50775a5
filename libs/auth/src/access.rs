//! Canopy's access tokens: JWTs in the RFC 9068 profile, issued by the authorization server with
//! the key ring's current key and verified by resource servers with its public keys.

use crate::jwt::{self, Expectations, Profile, TokenError, TypPolicy};
use crate::keys::KeyRing;
use crate::scope::{join_scopes, parse_scope};
use canopy_domain::TenantId;
use chrono::{DateTime, Duration, Utc};
use serde::{Serialize, Serializer};
use std::fmt;

/// The claims of a verified (or just issued) access token. Not secret: identifiers only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    /// The resources the token is for (RFC 8707); one when Canopy issues it.
    #[serde(serialize_with = "one_or_many")]
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    /// Always set in Canopy's tokens; optional in an external issuer's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub jti: String,
    pub client_id: String,
    /// Space-separated scope tokens; may be empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    pub tenant: TenantId,
}

impl AccessClaims {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.exp, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

fn one_or_many<S: Serializer>(aud: &[String], serializer: S) -> Result<S::Ok, S::Error> {
    match aud {
        [one] => serializer.serialize_str(one),
        many => many.serialize(serializer),
    }
}

/// What to put in a new access token.
#[derive(Debug, Clone)]
pub struct AccessTokenSpec<'a> {
    /// The authorization server's issuer identifier (its RFC 8414 `issuer`).
    pub issuer: &'a str,
    pub subject: &'a str,
    /// The resource (RFC 8707 `resource` parameter) the token is for: exactly the URL the
    /// resource server's protected-resource metadata names.
    pub audience: &'a str,
    pub client_id: &'a str,
    pub scopes: &'a [String],
    pub tenant: &'a TenantId,
    pub lifetime: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    #[error("an access token needs a non-empty {0}")]
    Empty(&'static str),
    #[error("'{0}' is not a valid scope token")]
    InvalidScope(String),
    #[error("an access token's lifetime must be positive")]
    BadLifetime,
}

/// A signed access token. `Debug` does not show it.
#[derive(Clone)]
pub struct AccessToken(String);

impl AccessToken {
    /// The token, for the token response. Nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

/// A new access token and what it says (`jti` to revoke it, `exp` for `expires_in`).
#[derive(Debug, Clone)]
pub struct IssuedAccessToken {
    pub token: AccessToken,
    pub claims: AccessClaims,
}

impl KeyRing {
    /// Signs an access token with the current key (header: `alg` ES256, `typ` at+jwt, `kid`).
    pub fn issue_access_token(
        &self,
        spec: &AccessTokenSpec<'_>,
        now: DateTime<Utc>,
    ) -> Result<IssuedAccessToken, IssueError> {
        for (name, value) in [
            ("issuer", spec.issuer),
            ("subject", spec.subject),
            ("audience", spec.audience),
            ("client_id", spec.client_id),
        ] {
            if value.is_empty() {
                return Err(IssueError::Empty(name));
            }
        }
        if spec.lifetime <= Duration::zero() {
            return Err(IssueError::BadLifetime);
        }
        let scope = join_scopes(spec.scopes).map_err(IssueError::InvalidScope)?;
        let iat = now.timestamp();
        let claims = AccessClaims {
            iss: spec.issuer.to_string(),
            sub: spec.subject.to_string(),
            aud: vec![spec.audience.to_string()],
            exp: iat + spec.lifetime.num_seconds().max(1),
            iat,
            nbf: Some(iat),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            client_id: spec.client_id.to_string(),
            scope,
            tenant: spec.tenant.clone(),
        };
        debug_assert!(parse_scope(&claims.scope).is_some());
        let key = self.current();
        let mut header = jsonwebtoken::Header::new(crate::keys::SIGNING_ALGORITHM.jwt());
        header.typ = Some("at+jwt".to_string());
        header.kid = Some(key.kid().to_string());
        let token = jwt::sign(&header, &claims, key.encoding_key());
        Ok(IssuedAccessToken { token: AccessToken(token), claims })
    }

    /// Verifies one of this ring's access tokens: ES256 only, a `kid` of this ring (current or
    /// not yet retired), `typ` at+jwt, `iss` exactly `expected_issuer`, `aud` containing
    /// `expected_audience`, `exp`/`nbf`/`iat` against `now` within [`crate::CLOCK_LEEWAY_SECONDS`],
    /// every claim present, and `is_revoked(jti)` false.
    pub fn verify(
        &self,
        token: &str,
        expected_issuer: &str,
        expected_audience: &str,
        now: DateTime<Utc>,
        is_revoked: impl Fn(&str) -> bool,
    ) -> Result<AccessClaims, TokenError> {
        self.verifying_keys().verify_canopy_token(token, expected_issuer, expected_audience, now, is_revoked)
    }
}

impl crate::jwt::VerifyingKeys {
    /// As [`KeyRing::verify`], with only the public keys: what a resource server holds when it
    /// has the JWKS but not the ring.
    pub fn verify_canopy_token(
        &self,
        token: &str,
        expected_issuer: &str,
        expected_audience: &str,
        now: DateTime<Utc>,
        is_revoked: impl Fn(&str) -> bool,
    ) -> Result<AccessClaims, TokenError> {
        let expect = Expectations {
            issuer: expected_issuer,
            audience: expected_audience,
            typ: TypPolicy::AccessTokenOnly,
            profile: Profile::Canopy,
        };
        jwt::verify(self, token, &expect, now, is_revoked)
    }
}

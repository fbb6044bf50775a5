//! Verifying OAuth access tokens where Canopy is the resource server: the MCP endpoints
//! (`gateway-edge`) and the REST API (`api`) call the same [`AccessTokens::verify`], so both
//! accept and refuse exactly the same tokens.
//!
//! # Which tokens
//!
//! - **Canopy's own** (RFC 9068 JWTs from the authorization server in `api`): `iss` is the
//!   deployment's public base URL, `sub` the principal's subject (`user:alice`,
//!   `client:cursor`), `tenant` its tenant, `aud` the resource (the MCP endpoint's URL, or
//!   `{public_base}/api/v0`). Checked by canopy-auth's strict verification with the public keys
//!   of `oauth_key_ring` (cached; read again when a token names an unknown `kid`, at most every
//!   few seconds, and periodically, so a rotated-in key works at once and a retired key stops
//!   working within the refresh period; the defaults, 2 s and 60 s, are [`Timings`]'s: a token
//!   naming an unknown key waits for that read rather than failing), then against the
//!   revocation marks in Redis (`PREFIX:oauth:revoked:JTI`, `canopy_auth::revoked_jti_key`).
//! - **External issuers** (`external_issuers` in the configuration): JWTs verified with the
//!   issuer's JWKS (fetched, cached, refreshed like Canopy's keys), or opaque tokens asked about
//!   at the issuer's RFC 7662 introspection endpoint (client credentials; answers cached
//!   briefly, 30 s by default, never beyond the token's `exp`; `aud` required). The tenant is
//!   the configuration's, never the token's; the token's subject claim names a user or MCP
//!   client of that tenant (a bare name is the user or the client of that name, and must not
//!   be both).
//!
//! Which verifier a JWT goes to is chosen by its (unverified) `iss`; a JWT of an issuer nobody
//! configured is refused. An opaque token goes to the introspection endpoint whose
//! `token_prefix` it starts with (static Canopy tokens are looked up by digest first, by the
//! caller).
//!
//! # What a verified token gives
//!
//! A [`VerifiedToken`]: the tenant, the subject(s) it may name, its scopes. The principal is
//! the identity's as Canopy knows it now (role, allow list), narrowed by the token's scopes
//! ([`VerifiedToken::principal`] with the edge's identity cache, `IdentityCache::by_subject`;
//! [`VerifiedToken::principal_from_read_models`] for REST, `rm_users`/`rm_mcp_clients` by
//! tenant and name, not of a suspended tenant; narrowed with `Principal::with_scopes`): a token
//! never names an identity that does not exist, and never grants more than its identity has.
//!
//! Every refusal is a [`BearerError`]: `InvalidToken` (401, RFC 6750 `error="invalid_token"`,
//! its text a ready `error_description`) or `Unavailable` (503: the keys, Redis or the
//! introspection endpoint cannot be reached; a token is never accepted unchecked). Tokens are
//! never logged or stored; introspection answers are cached under a hash of the token.

mod cache;
mod identity;
mod introspection;

use cache::Reloading;
use canopy_auth::{ExternalIssuer, KeyRingStore, SignatureAlgorithm, TokenError, VerifyingKeys};
use canopy_config::ExternalIssuerConfig;
use canopy_domain::TenantId;
use canopy_policy::Scopes;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::time::Duration;

pub use identity::{subjects_named, OPERATOR_SCOPE};

/// How often keys are read again, and how long answers are reused.
#[derive(Debug, Clone)]
pub struct Timings {
    /// Keys (Canopy's ring from Postgres, external JWKS over HTTP) are read again this often
    /// even when every token names a known key: a retired key stops verifying within this.
    pub keys_refresh: Duration,
    /// The least time between two reads caused by tokens naming an unknown key (such a token
    /// waits for the next read rather than being refused while a rotated-in key is unread).
    pub unknown_key_reload: Duration,
    /// How long an introspection answer is reused (never beyond the token's `exp`).
    pub introspection_cache: Duration,
    /// Timeout of a JWKS fetch or an introspection request.
    pub http_timeout: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            keys_refresh: Duration::from_secs(60),
            unknown_key_reload: Duration::from_secs(2),
            introspection_cache: Duration::from_secs(30),
            http_timeout: Duration::from_secs(5),
        }
    }
}

/// What the verifier needs to know about the deployment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Canopy's own issuer: the public base URL (`Config::public_base`), no trailing slash.
    pub issuer: String,
    /// The deployment's key prefix in Redis (`nats.prefix`, as the edge's stores use).
    pub prefix: String,
    pub external_issuers: Vec<ExternalIssuerConfig>,
    pub timings: Timings,
}

#[derive(Debug, thiserror::Error)]
#[error("external issuer '{issuer}': {message}")]
pub struct SetupError {
    issuer: String,
    message: String,
}

/// Why a bearer token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    /// 401 with `error="invalid_token"`; the text is the `error_description` (RFC 6750: no
    /// quotes or backslashes, nothing of the token).
    #[error("{0}")]
    InvalidToken(String),
    /// 503: the token cannot be checked now.
    #[error("{0}")]
    Unavailable(&'static str),
}

impl BearerError {
    fn invalid(reason: impl ToString) -> Self {
        let text: String = reason
            .to_string()
            .chars()
            .map(|c| if c == '"' || c == '\\' || c.is_control() { '\'' } else { c })
            .collect();
        BearerError::InvalidToken(text)
    }

    /// The `error_description` of an `InvalidToken`, the message of an `Unavailable`.
    pub fn description(&self) -> &str {
        match self {
            BearerError::InvalidToken(text) => text,
            BearerError::Unavailable(text) => text,
        }
    }
}

/// A token that passed every check: whose it may be, in which tenant, with which scopes.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub tenant: TenantId,
    /// The subjects the token may name in its tenant: exactly one for Canopy's tokens; for a
    /// bare name from an external issuer, the user and the client of that name (one of them
    /// must exist, not both).
    pub subjects: Vec<String>,
    pub scopes: Scopes,
    pub issuer: String,
    pub client_id: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The deployment's access-token verifier. One per process, shared by edge and api.
pub struct AccessTokens {
    issuer: String,
    prefix: String,
    pool: PgPool,
    redis: redis::aio::ConnectionManager,
    timings: Timings,
    canopy_keys: Reloading<VerifyingKeys>,
    external: Vec<External>,
    http: reqwest::Client,
    introspections: introspection::Cache,
    /// Canopy tokens whose signature and claims were verified, by a hash of (resource, token),
    /// with the key read they were verified against: a hit skips the signature check (ES256 and
    /// the claims' parsing) until the keys are read again (every minute, or on an unknown kid),
    /// never the expiry or the revocation check.
    verified: std::sync::Mutex<std::collections::HashMap<[u8; 32], (u64, canopy_auth::AccessClaims)>>,
}

/// Verified tokens remembered at most; past it, expired ones go, then all.
const VERIFIED_CACHE: usize = 4096;

/// SHA-256 of (resource, token): what a verified token is remembered by (never the token).
fn verified_key(token: &str, resource: &str) -> [u8; 32] {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(resource.as_bytes());
    hash.update([0]);
    hash.update(token.as_bytes());
    hash.finalize().into()
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let external: Vec<&str> = self.external.iter().map(|e| e.config.issuer.as_str()).collect();
        f.debug_struct("AccessTokens").field("issuer", &self.issuer).field("external", &external).finish()
    }
}

struct External {
    config: ExternalIssuerConfig,
    tenant: TenantId,
    algorithms: Vec<SignatureAlgorithm>,
    /// The JWKS issuer's verifier, once fetched (unused for introspection issuers).
    jwks: Reloading<ExternalIssuer>,
}

impl External {
    fn introspects(&self) -> bool {
        !self.config.introspection_endpoint.is_empty()
    }

    /// The audience its tokens must carry for `resource`.
    fn audience<'a>(&'a self, resource: &'a str) -> &'a str {
        if self.config.audience.is_empty() {
            resource
        } else {
            &self.config.audience
        }
    }
}

impl AccessTokens {
    pub fn new(
        settings: Settings,
        pool: PgPool,
        redis: redis::aio::ConnectionManager,
    ) -> Result<AccessTokens, SetupError> {
        let mut external = Vec::new();
        for config in settings.external_issuers {
            let fail = |message: String| SetupError { issuer: config.issuer.clone(), message };
            let tenant = TenantId::parse(config.tenant.clone())
                .map_err(|e| fail(format!("tenant '{}' is not a tenant id: {e}", config.tenant)))?;
            let algorithms = if config.algorithms.is_empty() {
                SignatureAlgorithm::ALL.to_vec()
            } else {
                let named = config.algorithms.iter().map(|name| {
                    SignatureAlgorithm::from_name(name)
                        .ok_or_else(|| fail(format!("algorithm '{name}' is not an accepted asymmetric JWS algorithm")))
                });
                named.collect::<Result<Vec<_>, _>>()?
            };
            external.push(External { config, tenant, algorithms, jwks: Reloading::new() });
        }
        let http = reqwest::Client::builder()
            .timeout(settings.timings.http_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SetupError { issuer: "-".into(), message: format!("HTTP client: {e}") })?;
        Ok(AccessTokens {
            issuer: settings.issuer,
            prefix: settings.prefix,
            pool,
            redis,
            timings: settings.timings,
            canopy_keys: Reloading::new(),
            external,
            http,
            introspections: introspection::Cache::default(),
            verified: Default::default(),
        })
    }

    /// Canopy's own issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Whether `token` has the shape of a JWT (three base64url parts, a JSON header): those
    /// go to [`Self::verify`], never to a static-token lookup.
    pub fn is_jwt(token: &str) -> bool {
        use base64::Engine;
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, _] = parts[..] else { return false };
        let b64url = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        b64url(header)
            && b64url(payload)
            && base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(header)
                .ok()
                .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
                .is_some_and(|v| v.is_object())
    }

    /// Whether an opaque (non-JWT) token would be sent to a configured introspection endpoint.
    pub fn introspects(&self, token: &str) -> bool {
        !Self::is_jwt(token) && self.introspector(token).is_some()
    }

    fn introspector(&self, token: &str) -> Option<&External> {
        self.external.iter().find(|e| e.introspects() && token.starts_with(e.config.token_prefix.as_str()))
    }

    /// Checks `token` for the resource `resource` (the exact URL of the MCP endpoint, or
    /// `{public_base}/api/v0`).
    pub async fn verify(&self, token: &str, resource: &str) -> Result<VerifiedToken, BearerError> {
        if !Self::is_jwt(token) {
            return match self.introspector(token) {
                Some(external) => self.introspect(external, token, resource).await,
                None => Err(BearerError::invalid(TokenError::Malformed)),
            };
        }
        let Some(issuer) = canopy_auth::unverified_issuer(token) else {
            return Err(BearerError::invalid(TokenError::MissingClaim("iss")));
        };
        if issuer == self.issuer {
            return self.verify_canopy(token, resource).await;
        }
        match self.external.iter().find(|e| e.config.issuer == issuer && !e.introspects()) {
            Some(external) => self.verify_external_jwt(external, token, resource).await,
            None => Err(BearerError::invalid(TokenError::WrongIssuer)),
        }
    }

    async fn verify_canopy(&self, token: &str, resource: &str) -> Result<VerifiedToken, BearerError> {
        let now = Utc::now();
        let fetch = || async { KeyRingStore::public_jwks(&self.pool).await.map(|stored| stored.map(|(_, keys)| keys)) };
        // The periodic read of the keys happens here too, so a remembered token is checked
        // against a retired key within a minute, as every other token is.
        self.canopy_keys.refresh_if_due(self.timings.keys_refresh, "Canopy's signing keys", &fetch).await;
        let key = verified_key(token, resource);
        let (_, generation) = self.canopy_keys.get_with_generation();
        let remembered = self.verified.lock().expect("verified lock").get(&key).cloned();
        let claims = match remembered {
            Some((g, claims)) if g == generation => {
                if now.timestamp() >= claims.exp.saturating_add(canopy_auth::CLOCK_LEEWAY_SECONDS) {
                    return Err(BearerError::invalid(TokenError::Expired));
                }
                claims
            }
            _ => {
                let claims = self
                    .with_keys(&self.canopy_keys, "Canopy's signing keys", fetch, |keys| {
                        keys.verify_canopy_token(token, &self.issuer, resource, now, |_| false)
                    })
                    .await?;
                let (_, generation) = self.canopy_keys.get_with_generation();
                let mut verified = self.verified.lock().expect("verified lock");
                if verified.len() >= VERIFIED_CACHE {
                    verified.retain(|_, (_, c)| c.exp > now.timestamp());
                    if verified.len() >= VERIFIED_CACHE {
                        verified.clear();
                    }
                }
                verified.insert(key, (generation, claims.clone()));
                claims
            }
        };
        let revoked: i64 = redis::cmd("EXISTS")
            .arg(canopy_auth::revoked_jti_key(&self.prefix, &claims.jti))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "revoked access tokens are not readable");
                BearerError::Unavailable("token revocations cannot be checked now")
            })?;
        if revoked > 0 {
            return Err(BearerError::invalid(TokenError::Revoked));
        }
        Ok(VerifiedToken {
            tenant: claims.tenant.clone(),
            subjects: vec![claims.sub.clone()],
            scopes: Scopes::parse(&claims.scope),
            issuer: claims.iss.clone(),
            client_id: Some(claims.client_id.clone()),
            expires_at: Some(claims.expires_at()),
        })
    }

    async fn verify_external_jwt(
        &self,
        external: &External,
        token: &str,
        resource: &str,
    ) -> Result<VerifiedToken, BearerError> {
        let config = &external.config;
        let fetch = || async {
            let json = introspection::fetch_json(&self.http, &config.jwks_uri).await?;
            let verifier =
                ExternalIssuer::from_jwks_json(&config.issuer, external.tenant.clone(), &json, &external.algorithms)
                    .map_err(|e| e.to_string())?;
            Ok::<_, String>(Some(if config.accept_untyped_tokens {
                verifier.accepting_untyped_tokens()
            } else {
                verifier
            }))
        };
        let now = Utc::now();
        let claims = self
            .with_keys(&external.jwks, "an external issuer's JWKS", fetch, |issuer| {
                issuer.verify(token, external.audience(resource), now, |_| false)
            })
            .await?;
        // The signature holds: the payload may be read for the configured subject claim.
        let name = if config.subject_claim == "sub" {
            Some(claims.sub.clone())
        } else {
            identity::verified_payload_claim(token, &config.subject_claim)
        };
        let name = name.ok_or_else(|| BearerError::invalid("the token names no identity"))?;
        Ok(VerifiedToken {
            tenant: external.tenant.clone(),
            subjects: subjects_named(&name),
            scopes: Scopes::parse(&claims.scope),
            issuer: claims.iss.clone(),
            client_id: Some(claims.client_id.clone()),
            expires_at: Some(claims.expires_at()),
        })
    }

    /// Runs `verify` with the cached keys, reading them first when none are cached, when the
    /// refresh period has passed, or when the token names a key not cached (rate-limited).
    async fn with_keys<K, T, F, Fut, E>(
        &self,
        cache: &Reloading<K>,
        what: &'static str,
        fetch: F,
        verify: impl Fn(&K) -> Result<T, TokenError>,
    ) -> Result<T, BearerError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<K>, E>>,
        E: std::fmt::Display,
    {
        let gap = self.timings.unknown_key_reload;
        cache.refresh_if_due(self.timings.keys_refresh, what, &fetch).await;
        let (keys, mut seen) = cache.get_with_generation();
        let keys = match keys {
            Some(keys) => Some(keys),
            None => {
                let keys = cache.reload_since(seen, gap, what, &fetch).await;
                seen = cache.get_with_generation().1;
                keys
            }
        };
        let no_keys = || {
            if cache.failed() {
                Err(BearerError::Unavailable("the keys to check the token with cannot be read now"))
            } else {
                Err(BearerError::invalid(TokenError::UnknownKey))
            }
        };
        let Some(keys) = keys else { return no_keys() };
        match verify(&keys) {
            Err(TokenError::UnknownKey) => match cache.reload_since(seen, gap, what, &fetch).await {
                Some(keys) => verify(&keys).map_err(BearerError::invalid),
                None => no_keys(),
            },
            other => other.map_err(BearerError::invalid),
        }
    }

    async fn introspect(&self, external: &External, token: &str, resource: &str) -> Result<VerifiedToken, BearerError> {
        let answer =
            self.introspections.get_or_ask(&self.http, external, token, self.timings.introspection_cache).await?;
        let answer = answer.ok_or_else(|| BearerError::invalid("the token is not active"))?;
        answer.check(&external.config.issuer, external.audience(resource), Utc::now())?;
        Ok(VerifiedToken {
            tenant: external.tenant.clone(),
            subjects: subjects_named(&answer.subject),
            scopes: Scopes::parse(&answer.scope),
            issuer: external.config.issuer.clone(),
            client_id: answer.client_id.clone(),
            expires_at: answer.exp.and_then(|exp| DateTime::from_timestamp(exp, 0)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwts_are_told_from_opaque_tokens_by_shape() {
        assert!(AccessTokens::is_jwt("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
        assert!(AccessTokens::is_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), "alg none still goes to the verifier");
        assert!(!AccessTokens::is_jwt("GxQ0lGJ8xU6n1bZpAq0v4ly5H2Kq8Zsm2wqkT0o8W3c"));
        assert!(!AccessTokens::is_jwt("a.b.c"));
        assert!(!AccessTokens::is_jwt("jg_opaque.token"));
    }

    #[test]
    fn descriptions_never_carry_quotes() {
        let e = BearerError::invalid("a \"quoted\\ thing\n");
        assert_eq!(e.description(), "a 'quoted' thing'");
    }
}

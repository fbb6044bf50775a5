//! Canopy's OAuth 2.1 authorization server (enterprise mode). The security core (keys, JWTs,
//! PKCE, hashed secrets, refresh-token families) is `canopy-auth`; this module is its HTTP face:
//!
//! | route | what |
//! |---|---|
//! | `GET /.well-known/oauth-authorization-server` | RFC 8414 metadata (also path-suffixed) |
//! | `GET /oauth/jwks` | the public signing keys (RFC 7517) |
//! | `POST /oauth/register` | RFC 7591 dynamic client registration (open, as MCP expects) |
//! | `GET/POST /oauth/authorize` | authorization code with PKCE S256: a login page where a user (or the platform operator, for the REST API) signs in with their Canopy token |
//! | `POST /oauth/token` | `authorization_code`, `refresh_token` (rotated, reuse revokes the grant), `client_credentials` (MCP clients) |
//! | `POST /oauth/introspect` | RFC 7662 |
//! | `POST /oauth/revoke` | RFC 7009 |
//!
//! **Issuer** is the deployment's public base URL. **Access tokens** are ES256 JWTs (RFC 9068)
//! with `sub` (`user:alice`, `client:cursor`; `operator:NAME` in the reserved tenant `platform`
//! for the platform operator, only for `/api/v0` and only with the scope `canopy:operator`), `tenant`, `client_id`, `scope` and `aud`: the one
//! resource (RFC 8707) they are for, which must be one of the deployment's: an MCP endpoint
//! (`/mcp`, `/servers/NAME/mcp`, `/groups/NAME/mcp`) or the REST API (`/api/v0`).
//!
//! **Clients**: registered dynamically (`oauth_clients`; public with
//! `token_endpoint_auth_method: none`, or confidential with a secret stored as a keyed hash),
//! identified by a client ID metadata document (a `client_id` that is an https URL, fetched and
//! cached), or, for `client_credentials`, an MCP client identity: `client_id` is its name and
//! `client_secret` its access token. Who a grant is for comes from the user who signs in (the
//! tenant is the user's) or the MCP client, never from the client's registration.
//!
//! **Keys**: one ring for the deployment in Postgres (`canopy_auth::KeyRingStore`), rotated every
//! `oauth.key_rotation_days` by whichever replica sees it first (compare-and-swap), reloaded by
//! every replica each minute; retired once no token it signed can be valid.
//!
//! **Revocation** of an access token marks its `jti` in Redis (what the edge and REST check) and
//! in Postgres (put back into Redis when the api starts: Redis here keeps nothing on disk).
//!
//! **Storage** is credential state, not domain state, so written directly and never through
//! events: `oauth_key_ring` (one row: the sealed ring and its public JWKS; created by the first
//! replica, rotated by compare-and-swap on `version`; the edge reads only the JWKS column),
//! `oauth_clients` (registrations; secrets as keyed hashes; one no sign-in has used for
//! [`UNUSED_CLIENT_DAYS`] and that holds no grant is deleted), `oauth_codes` (keyed hashes;
//! exchanging is one `UPDATE ... WHERE used_at IS NULL RETURNING`, so two concurrent exchanges
//! cannot both win; the grant made is recorded so a replay revokes it), `oauth_refresh_*`
//! (families, canopy-auth), `oauth_revoked_access_tokens` (the durable copy of the Redis
//! revocation marks). A tenant's OpenID provider is the exception: a tenant event, read from
//! the read model `tenant_identity_providers` (its secret sealed; `identity_provider.rs`).
//!
//! **Sign-in**: nothing waits in storage between `/authorize` and sign-in: the pending request
//! travels through the page signed (HMAC under a derived key) and names a random value the page
//! also sets as an HttpOnly `SameSite=Lax` cookie; the form (and the provider's callback) must
//! bring that cookie back, so a page on another site cannot submit the form for a user (with
//! single sign-on and a live provider session that would sign them in unseen). For single
//! sign-on the state sent to the provider is sealed (it carries the PKCE verifier and nonce).
//! The user's tenant comes from their Canopy token or from the provider's tenant.
//! Introspection answers only about the caller's tenant (MCP clients) or its own tokens
//! (confidential clients). Sealed values use `canopy-secrets`' envelope encryption.

mod authorize;
mod clients;
mod error;
mod introspect;
mod metadata;
pub(crate) mod oidc;
mod token;

use crate::ApiState;
use axum::routing::{get, post};
use axum::Router;
use canopy_auth::{KeyRing, KeyRingStore, RefreshStore, SecretHasher};
use canopy_secrets::Sealer;
use chrono::{Duration as ChronoDuration, Utc};
use sqlx::PgPool;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub use clients::ClientCache;

/// The scopes Canopy issues: one per MCP item family, and the admin API.
pub const SCOPE_TOOLS: &str = "mcp:tools";
pub const SCOPE_PROMPTS: &str = "mcp:prompts";
pub const SCOPE_RESOURCES: &str = "mcp:resources";
pub const SCOPE_ADMIN: &str = "canopy:admin";
/// What MCP clients use: the item families, and the built-in servers' tools' own scopes
/// (`canopy_policy::BUILTIN_SCOPES`: `grid`'s and `python`'s tools need theirs instead of
/// `mcp:tools`), so a token granted by default reaches the built-ins too.
pub const MCP_SCOPES: [&str; 11] = {
    let b = canopy_policy::BUILTIN_SCOPES;
    [SCOPE_TOOLS, SCOPE_PROMPTS, SCOPE_RESOURCES, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]
};
/// The platform operator's one scope: granted only to an operator who signs in (for the REST
/// API), never to a user or client; see `canopy_bearer::OPERATOR_SCOPE`.
pub const SCOPE_OPERATOR: &str = canopy_bearer::OPERATOR_SCOPE;
pub const ALL_SCOPES: [&str; 13] = {
    let m = MCP_SCOPES;
    [m[0], m[1], m[2], SCOPE_ADMIN, m[3], m[4], m[5], m[6], m[7], m[8], m[9], m[10], SCOPE_OPERATOR]
};

/// Settings from `[oauth]`.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub grant_ttl: Duration,
    pub code_ttl: Duration,
    pub key_rotation: Duration,
    pub client_metadata_documents: bool,
    /// Fetch client ID metadata documents and identity providers at http:// loopback URLs.
    pub allow_loopback_http: bool,
}

impl OAuthSettings {
    pub fn from_config(c: &canopy_config::OAuthConfig) -> Self {
        Self {
            access_token_ttl: Duration::from_secs(c.access_token_ttl_secs),
            refresh_token_ttl: Duration::from_secs(c.refresh_token_ttl_secs),
            grant_ttl: Duration::from_secs(c.grant_ttl_secs),
            code_ttl: Duration::from_secs(c.code_ttl_secs),
            key_rotation: Duration::from_secs(c.key_rotation_days * 24 * 60 * 60),
            client_metadata_documents: c.client_metadata_documents,
            allow_loopback_http: c.allow_loopback_http,
        }
    }
}

/// The authorization server of one api replica.
pub struct OAuthServer {
    issuer: String,
    pool: PgPool,
    ring_store: KeyRingStore,
    ring: RwLock<Arc<KeyRing>>,
    hasher: SecretHasher,
    refresh: RefreshStore,
    redis: redis::aio::ConnectionManager,
    redis_prefix: String,
    /// For the keyed digests of static tokens (MCP clients' secrets, users' sign-in tokens).
    sealer: Sealer,
    /// Signs pending authorization requests carried through the login page.
    pending_key: [u8; 32],
    settings: OAuthSettings,
    clients: ClientCache,
    providers: oidc::Providers,
}

impl std::fmt::Debug for OAuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthServer").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the signing key ring: {0}")]
    Ring(#[from] canopy_auth::RingStoreError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// A dynamically registered client that no sign-in has used for this many days and that holds
/// no grant is deleted ([`OAuthServer::maintain`]).
pub const UNUSED_CLIENT_DAYS: i64 = 30;

impl OAuthServer {
    /// Loads (or creates) the key ring and puts the revoked tokens back into Redis.
    pub async fn start(
        issuer: String,
        pool: PgPool,
        sealer: &Sealer,
        redis: redis::aio::ConnectionManager,
        redis_prefix: String,
        settings: OAuthSettings,
    ) -> Result<Arc<Self>, StartError> {
        let ring_store = KeyRingStore::new(pool.clone(), sealer.clone());
        let stored = ring_store.load_or_create(Utc::now()).await?;
        let hasher = SecretHasher::new(sealer);
        let refresh = RefreshStore::new(pool.clone(), hasher.clone(), chrono_duration(settings.refresh_token_ttl));
        let server = Arc::new(Self {
            issuer,
            pool,
            ring_store,
            ring: RwLock::new(Arc::new(stored.ring)),
            hasher,
            refresh,
            redis,
            redis_prefix,
            sealer: sealer.clone(),
            pending_key: sealer.derive_key("oauth-pending-authorization/v1"),
            clients: ClientCache::new(settings.allow_loopback_http),
            providers: oidc::Providers::new(settings.allow_loopback_http),
            settings,
        });
        server.restore_revocations().await?;
        Ok(server)
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Whether a URL someone else named (a tenant's identity provider, a client's metadata
    /// document) may be fetched: https at a public address (see `clients::fetchable`).
    pub(crate) fn may_fetch(&self, url: &url::Url) -> bool {
        clients::fetchable(url, self.settings.allow_loopback_http)
    }

    /// The grants (refresh-token families) this server issued.
    pub(crate) fn grants(&self) -> &RefreshStore {
        &self.refresh
    }

    pub(crate) fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().expect("ring lock").clone()
    }

    /// Rotation and housekeeping, once a minute, until `stop`.
    pub async fn run_maintenance(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.maintain().await {
                tracing::warn!(error = %e, "oauth maintenance failed; retrying in a minute");
            }
        }
    }

    /// Rotates the signing key when due, reloads the ring another replica may have rotated, and
    /// deletes what has expired, and client registrations unused for [`UNUSED_CLIENT_DAYS`].
    pub async fn maintain(&self) -> Result<(), StartError> {
        let now = Utc::now();
        // A key rotated out keeps verifying while a token it signed may still be valid.
        let retire_after = chrono_duration(self.settings.access_token_ttl)
            + ChronoDuration::seconds(canopy_auth::CLOCK_LEEWAY_SECONDS)
            + ChronoDuration::minutes(5);
        let (stored, rotated) =
            self.ring_store.rotate_if_due(now, chrono_duration(self.settings.key_rotation), retire_after).await?;
        if rotated {
            tracing::info!(kid = stored.ring.current().kid(), "oauth signing key rotated");
        }
        *self.ring.write().expect("ring lock") = Arc::new(stored.ring);
        sqlx::query("DELETE FROM oauth_codes WHERE expires_at < $1")
            .bind(now - ChronoDuration::hours(1))
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM oauth_revoked_access_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        if let Err(e) = self.refresh.delete_expired(now).await {
            tracing::warn!(error = %e, "expired refresh grants not deleted");
        }
        // Registrations are made per installation, and by the console per sign-in: without
        // this they pile up for ever. One is deleted once no sign-in has used it for
        // UNUSED_CLIENT_DAYS and it holds no grant and no pending code (a client that comes
        // back gets `invalid_client` and registers again, as RFC 7591 clients do).
        let unused = sqlx::query(
            "DELETE FROM oauth_clients c WHERE COALESCE(c.last_used_at, c.created_at) < $1 \
             AND NOT EXISTS (SELECT 1 FROM oauth_refresh_families f WHERE f.client_id = c.client_id) \
             AND NOT EXISTS (SELECT 1 FROM oauth_codes o WHERE o.client_id = c.client_id AND o.used_at IS NULL AND o.expires_at > $2)",
        )
        .bind(now - ChronoDuration::days(UNUSED_CLIENT_DAYS))
        .bind(now)
        .execute(&self.pool)
        .await?;
        if unused.rows_affected() > 0 {
            tracing::info!(deleted = unused.rows_affected(), "unused oauth client registrations deleted");
        }
        Ok(())
    }

    async fn restore_revocations(&self) -> Result<(), StartError> {
        let rows: Vec<(String, chrono::DateTime<Utc>)> =
            sqlx::query_as("SELECT jti, expires_at FROM oauth_revoked_access_tokens WHERE expires_at > now()")
                .fetch_all(&self.pool)
                .await?;
        for (jti, expires_at) in rows {
            self.mark_revoked_in_redis(&jti, expires_at).await?;
        }
        Ok(())
    }

    async fn mark_revoked_in_redis(
        &self,
        jti: &str,
        expires_at: chrono::DateTime<Utc>,
    ) -> Result<(), redis::RedisError> {
        let ttl_ms = (expires_at - Utc::now()).num_milliseconds();
        if ttl_ms <= 0 {
            return Ok(());
        }
        // The clock leeway: a token a verifier still accepts a moment past exp stays refused.
        let ttl_ms = ttl_ms + canopy_auth::CLOCK_LEEWAY_SECONDS * 1000;
        let mut redis = self.redis.clone();
        redis::cmd("SET")
            .arg(canopy_auth::revoked_jti_key(&self.redis_prefix, jti))
            .arg("1")
            .arg("PX")
            .arg(ttl_ms)
            .query_async::<()>(&mut redis)
            .await
    }

    /// Is this access token's `jti` revoked? (Redis; an unreachable Redis counts as revoked.)
    pub(crate) async fn is_revoked(&self, jti: &str) -> bool {
        let mut redis = self.redis.clone();
        let key = canopy_auth::revoked_jti_key(&self.redis_prefix, jti);
        match redis::cmd("EXISTS").arg(key).query_async::<i64>(&mut redis).await {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::warn!(error = %e, "revocation list unreadable; treating the token as revoked");
                true
            }
        }
    }
}

pub(crate) fn chrono_duration(d: Duration) -> ChronoDuration {
    ChronoDuration::from_std(d).unwrap_or(ChronoDuration::MAX)
}

/// The authorization server's routes (outside `/api/v0`: OAuth clients find them through the
/// metadata). Empty when the state has no authorization server (development mode).
pub fn router(state: ApiState) -> Router {
    if state.oauth.is_none() {
        return Router::new();
    }
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata::metadata))
        .route("/.well-known/oauth-authorization-server/{*path}", get(metadata::metadata))
        .route("/oauth/jwks", get(metadata::jwks))
        .route("/oauth/register", post(clients::register).options(error::preflight))
        .route("/oauth/authorize", get(authorize::show).post(authorize::submit))
        .route("/oauth/authorize/sso", post(oidc::start))
        .route("/oauth/oidc/callback", get(oidc::callback))
        .route("/oauth/token", post(token::token).options(error::preflight))
        .route("/oauth/introspect", post(introspect::introspect))
        .route("/oauth/revoke", post(introspect::revoke).options(error::preflight))
        .with_state(state)
}

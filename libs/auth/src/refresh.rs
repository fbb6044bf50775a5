//! Refresh tokens with rotation and reuse detection, on Postgres (`oauth_refresh_families`,
//! `oauth_refresh_tokens`; migration `0003_oauth_refresh_tokens.sql`).
//!
//! A *family* is one grant: one client authorized by one subject for some scopes, until an
//! absolute expiry. Its tokens form a chain: a refresh marks the presented token used and issues
//! the next. A used token presented again means two parties hold the chain (or a replay), and the
//! server cannot tell the thief from the client, so the whole family is revoked: both must
//! authorize again (OAuth 2.1 section 4.3.1; RFC 9700 section 4.14.2).
//!
//! Concurrency: every change to a family's tokens holds the family row's lock (`SELECT ... FOR
//! UPDATE` in the transaction), and the token row is read after the lock is granted. Of two
//! concurrent refreshes with the same token, exactly one succeeds; the other then finds the token
//! used, which is reuse: the family is revoked, including the winner's new token. A legitimate
//! client that refreshes twice at once therefore has to authorize again; there is no grace
//! window, on purpose. (Under a stricter isolation level than Postgres's default READ COMMITTED
//! the loser fails with a serialization error instead, and the family stays valid.)
//!
//! Only keyed hashes of tokens are stored ([`SecretHasher`]). These tables are credential state,
//! written only here, not through events.

use crate::scope::is_valid_scope_token;
use crate::secret::{OpaqueSecret, SecretHasher, SecretKind};
use canopy_domain::TenantId;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// One grant's chain of refresh tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FamilyId(pub Uuid);

/// A grant to start a family for (at the end of an authorization-code exchange).
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub tenant: TenantId,
    pub client_id: String,
    pub subject: String,
    pub scopes: Vec<String>,
    /// The RFC 8707 resource the grant's access tokens are for, if the client named one.
    pub resource: Option<String>,
    /// The absolute end of the grant: no refresh token of the family outlives it.
    pub expires_at: DateTime<Utc>,
}

/// What a refresh token stands for: what the next access token may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshGrant {
    pub family_id: FamilyId,
    pub tenant: TenantId,
    pub client_id: String,
    pub subject: String,
    pub scopes: Vec<String>,
    pub resource: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// The first refresh token of a new family. `Debug` does not show the token.
#[derive(Debug)]
pub struct IssuedRefresh {
    pub token: OpaqueSecret,
    pub family_id: FamilyId,
    pub expires_at: DateTime<Utc>,
}

/// The next refresh token, and the grant to issue the access token from.
#[derive(Debug)]
pub struct RotatedRefresh {
    pub token: OpaqueSecret,
    pub expires_at: DateTime<Utc>,
    pub grant: RefreshGrant,
}

/// Why a family was revoked (stored in `revoked_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    /// A used refresh token was presented again.
    Reuse,
    /// A refresh token was presented by a client other than the one it was issued to.
    ClientMismatch,
    /// The client, user or an admin revoked it (RFC 7009, logout, client removal).
    Requested,
}

impl RevocationReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Reuse => "reuse",
            RevocationReason::ClientMismatch => "client_mismatch",
            RevocationReason::Requested => "requested",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("the refresh token is not valid")]
    Unknown,
    #[error("the refresh token has expired")]
    Expired,
    #[error("the refresh token's grant has been revoked")]
    Revoked,
    #[error("the refresh token was already used; its grant is now revoked")]
    Reused { family_id: FamilyId },
    #[error("the refresh token was issued to another client; its grant is now revoked")]
    ClientMismatch,
    #[error("invalid grant: {0}")]
    InvalidGrant(&'static str),
    #[error("refresh token storage failed")]
    Database(#[source] sqlx::Error),
}

impl RefreshError {
    /// The OAuth error code of the token response.
    pub fn oauth_error(&self) -> &'static str {
        match self {
            RefreshError::Database(_) => "server_error",
            RefreshError::InvalidGrant(_) => "invalid_request",
            _ => "invalid_grant",
        }
    }
}

impl From<sqlx::Error> for RefreshError {
    fn from(e: sqlx::Error) -> Self {
        RefreshError::Database(e)
    }
}

/// The refresh-token store of one deployment (all tenants; every query names its tenant).
#[derive(Debug, Clone)]
pub struct RefreshStore {
    pool: PgPool,
    hasher: SecretHasher,
    token_lifetime: Duration,
}

type FamilyRow = (String, String, Vec<String>, Option<String>, DateTime<Utc>, Option<DateTime<Utc>>);

impl RefreshStore {
    /// `token_lifetime`: how long one refresh token of a chain stays usable (each rotation starts
    /// a new one, capped by the grant's expiry).
    pub fn new(pool: PgPool, hasher: SecretHasher, token_lifetime: Duration) -> Self {
        Self { pool, hasher, token_lifetime }
    }

    /// Starts a family for `grant` and returns its first refresh token.
    pub async fn issue_refresh(&self, grant: &NewGrant, now: DateTime<Utc>) -> Result<IssuedRefresh, RefreshError> {
        if grant.client_id.is_empty() || grant.subject.is_empty() {
            return Err(RefreshError::InvalidGrant("client_id and subject must not be empty"));
        }
        if !grant.scopes.iter().all(|s| is_valid_scope_token(s)) {
            return Err(RefreshError::InvalidGrant("a scope is not a valid scope token"));
        }
        if grant.expires_at <= now {
            return Err(RefreshError::InvalidGrant("the grant must expire in the future"));
        }
        let family_id = FamilyId(Uuid::now_v7());
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO oauth_refresh_families \
             (family_id, tenant_id, client_id, subject, scopes, resource, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(family_id.0)
        .bind(grant.tenant.as_str())
        .bind(&grant.client_id)
        .bind(&grant.subject)
        .bind(&grant.scopes)
        .bind(&grant.resource)
        .bind(now)
        .bind(grant.expires_at)
        .execute(&mut *tx)
        .await?;
        let (token, expires_at) = self.insert_token(&mut tx, family_id, &grant.tenant, now, grant.expires_at).await?;
        tx.commit().await?;
        Ok(IssuedRefresh { token, family_id, expires_at })
    }

    /// Exchanges a refresh token presented by `client_id` for the next one, atomically. A token
    /// already used revokes its family and fails ([`RefreshError::Reused`]); so does a token of
    /// another client ([`RefreshError::ClientMismatch`]).
    pub async fn rotate_refresh(
        &self,
        tenant: &TenantId,
        client_id: &str,
        presented: &str,
        now: DateTime<Utc>,
    ) -> Result<RotatedRefresh, RefreshError> {
        if !OpaqueSecret::is_well_formed(SecretKind::RefreshToken, presented) {
            return Err(RefreshError::Unknown);
        }
        let hash = self.hasher.hash(SecretKind::RefreshToken, presented);
        let mut tx = self.pool.begin().await?;
        let family: Option<(Uuid,)> =
            sqlx::query_as("SELECT family_id FROM oauth_refresh_tokens WHERE tenant_id = $1 AND token_hash = $2")
                .bind(tenant.as_str())
                .bind(hash.as_bytes().as_slice())
                .fetch_optional(&mut *tx)
                .await?;
        let Some((family_uuid,)) = family else { return Err(RefreshError::Unknown) };
        let family_id = FamilyId(family_uuid);
        // The family's lock serializes every rotation of its tokens; the token is read after it.
        let family: Option<FamilyRow> = sqlx::query_as(
            "SELECT client_id, subject, scopes, resource, expires_at, revoked_at FROM oauth_refresh_families \
             WHERE family_id = $1 AND tenant_id = $2 FOR UPDATE",
        )
        .bind(family_id.0)
        .bind(tenant.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((family_client, subject, scopes, resource, grant_expires_at, revoked_at)) = family else {
            return Err(RefreshError::Unknown);
        };
        let token: Option<(DateTime<Utc>, Option<DateTime<Utc>>)> =
            sqlx::query_as("SELECT expires_at, used_at FROM oauth_refresh_tokens WHERE token_hash = $1")
                .bind(hash.as_bytes().as_slice())
                .fetch_optional(&mut *tx)
                .await?;
        let Some((token_expires_at, used_at)) = token else { return Err(RefreshError::Unknown) };

        if used_at.is_some() {
            revoke(&mut tx, family_id, RevocationReason::Reuse, now).await?;
            tx.commit().await?;
            return Err(RefreshError::Reused { family_id });
        }
        if revoked_at.is_some() {
            return Err(RefreshError::Revoked);
        }
        if now >= token_expires_at || now >= grant_expires_at {
            return Err(RefreshError::Expired);
        }
        if family_client != client_id {
            revoke(&mut tx, family_id, RevocationReason::ClientMismatch, now).await?;
            tx.commit().await?;
            return Err(RefreshError::ClientMismatch);
        }

        sqlx::query("UPDATE oauth_refresh_tokens SET used_at = $2 WHERE token_hash = $1")
            .bind(hash.as_bytes().as_slice())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let (token, expires_at) = self.insert_token(&mut tx, family_id, tenant, now, grant_expires_at).await?;
        tx.commit().await?;
        let grant = RefreshGrant {
            family_id,
            tenant: tenant.clone(),
            client_id: family_client,
            subject,
            scopes,
            resource,
            expires_at: grant_expires_at,
        };
        Ok(RotatedRefresh { token, expires_at, grant })
    }

    /// Revokes a family (logout, client or user removal, admin action). `false` if it was
    /// unknown in `tenant` or already revoked.
    pub async fn revoke_family(
        &self,
        tenant: &TenantId,
        family_id: FamilyId,
        now: DateTime<Utc>,
    ) -> Result<bool, RefreshError> {
        self.revoke(tenant, Some(family_id), None, now).await.map(|n| n == 1)
    }

    /// [`RefreshStore::revoke_family`], only if the family is `subject`'s (a user revoking
    /// one of their own grants). `false` as well when it is someone else's.
    pub async fn revoke_family_of(
        &self,
        tenant: &TenantId,
        family_id: FamilyId,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, RefreshError> {
        self.revoke(tenant, Some(family_id), Some(subject), now).await.map(|n| n == 1)
    }

    /// Revokes every live family of `subject` (the user was removed). Returns how many.
    pub async fn revoke_subject(
        &self,
        tenant: &TenantId,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, RefreshError> {
        self.revoke(tenant, None, Some(subject), now).await
    }

    async fn revoke(
        &self,
        tenant: &TenantId,
        family_id: Option<FamilyId>,
        subject: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64, RefreshError> {
        let done = sqlx::query(
            "UPDATE oauth_refresh_families SET revoked_at = $4, revoked_reason = $5 \
             WHERE tenant_id = $1 AND ($2::uuid IS NULL OR family_id = $2) AND ($3::text IS NULL OR subject = $3) \
               AND revoked_at IS NULL",
        )
        .bind(tenant.as_str())
        .bind(family_id.map(|f| f.0))
        .bind(subject)
        .bind(now)
        .bind(RevocationReason::Requested.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// The tenant a presented refresh token belongs to (its hash is unique across tenants), for
    /// an endpoint that is given the token alone; `None` for an unknown or malformed one.
    pub async fn tenant_of(&self, presented: &str) -> Result<Option<TenantId>, RefreshError> {
        if !OpaqueSecret::is_well_formed(SecretKind::RefreshToken, presented) {
            return Ok(None);
        }
        let hash = self.hasher.hash(SecretKind::RefreshToken, presented);
        let row: Option<(String,)> = sqlx::query_as("SELECT tenant_id FROM oauth_refresh_tokens WHERE token_hash = $1")
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|(t,)| TenantId::parse(t).ok()))
    }

    /// RFC 7009 revocation of a refresh token by the client it was issued to: revokes its whole
    /// family. `None` if the token is unknown, another client's, or already revoked (the
    /// endpoint answers 200 either way).
    pub async fn revoke_by_token(
        &self,
        tenant: &TenantId,
        client_id: &str,
        presented: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<FamilyId>, RefreshError> {
        let hash = self.hasher.hash(SecretKind::RefreshToken, presented);
        let revoked: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE oauth_refresh_families f SET revoked_at = $4, revoked_reason = $5 \
             FROM oauth_refresh_tokens t \
             WHERE t.token_hash = $1 AND t.tenant_id = $2 AND f.family_id = t.family_id \
               AND f.client_id = $3 AND f.revoked_at IS NULL \
             RETURNING f.family_id",
        )
        .bind(hash.as_bytes().as_slice())
        .bind(tenant.as_str())
        .bind(client_id)
        .bind(now)
        .bind(RevocationReason::Requested.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(revoked.map(|(id,)| FamilyId(id)))
    }

    /// Deletes families (and their tokens) whose grant ended before `before`, in every tenant:
    /// housekeeping for a periodic job. Returns how many families went.
    pub async fn delete_expired(&self, before: DateTime<Utc>) -> Result<u64, RefreshError> {
        let done = sqlx::query("DELETE FROM oauth_refresh_families WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn insert_token(
        &self,
        conn: &mut PgConnection,
        family_id: FamilyId,
        tenant: &TenantId,
        now: DateTime<Utc>,
        grant_expires_at: DateTime<Utc>,
    ) -> Result<(OpaqueSecret, DateTime<Utc>), RefreshError> {
        let token = OpaqueSecret::generate(SecretKind::RefreshToken);
        let expires_at = (now + self.token_lifetime).min(grant_expires_at);
        sqlx::query(
            "INSERT INTO oauth_refresh_tokens (token_hash, family_id, tenant_id, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(self.hasher.hash(SecretKind::RefreshToken, token.expose()).as_bytes().as_slice())
        .bind(family_id.0)
        .bind(tenant.as_str())
        .bind(now)
        .bind(expires_at)
        .execute(conn)
        .await?;
        Ok((token, expires_at))
    }
}

async fn revoke(
    conn: &mut PgConnection,
    family_id: FamilyId,
    reason: RevocationReason,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE oauth_refresh_families SET revoked_at = $2, revoked_reason = $3 \
         WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id.0)
    .bind(now)
    .bind(reason.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

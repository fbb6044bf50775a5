//! The deployment's key ring in Postgres (`oauth_key_ring`, one row): private keys sealed, the
//! public JWKS beside them. Every api replica loads the same ring; the first to start creates
//! it. Rotation is a compare-and-swap on `version`, so replicas rotating at once make one new
//! key, not several. Resource servers read only [`KeyRingStore::public_jwks`].

use crate::jwt::{JwksError, SignatureAlgorithm, VerifyingKeys};
use crate::keys::{KeyError, KeyRing, SealedKeyRing};
use canopy_secrets::Sealer;
use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

/// Whose ring this is, for sealing: the deployment's one ring.
const OWNER: &str = "canopy-authorization-server";

#[derive(Debug, thiserror::Error)]
pub enum RingStoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the stored key ring cannot be opened: {0}")]
    Key(#[from] KeyError),
    #[error("the stored key ring is malformed: {0}")]
    Malformed(String),
    #[error("the stored JWKS is not usable: {0}")]
    Jwks(#[from] JwksError),
}

#[derive(Clone)]
pub struct KeyRingStore {
    pool: PgPool,
    sealer: Sealer,
}

impl std::fmt::Debug for KeyRingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRingStore")
    }
}

/// A ring as loaded, with the version to rotate from.
#[derive(Debug)]
pub struct StoredRing {
    pub ring: KeyRing,
    pub version: i64,
}

impl KeyRingStore {
    pub fn new(pool: PgPool, sealer: Sealer) -> Self {
        Self { pool, sealer }
    }

    /// The stored ring, created (one fresh key) if there is none yet.
    pub async fn load_or_create(&self, now: DateTime<Utc>) -> Result<StoredRing, RingStoreError> {
        if let Some(stored) = self.load().await? {
            return Ok(stored);
        }
        let ring = KeyRing::generate(now);
        let (sealed, jwks) = self.columns(&ring)?;
        sqlx::query(
            "INSERT INTO oauth_key_ring (id, version, sealed, jwks, updated_at) VALUES (1, 1, $1, $2, $3)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(sealed)
        .bind(jwks)
        .bind(now)
        .execute(&self.pool)
        .await?;
        // Another replica may have won the insert: its ring is the one.
        self.load().await?.ok_or_else(|| RingStoreError::Malformed("the key ring vanished".into()))
    }

    pub async fn load(&self) -> Result<Option<StoredRing>, RingStoreError> {
        let row: Option<(i64, serde_json::Value)> =
            sqlx::query_as("SELECT version, sealed FROM oauth_key_ring WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        let Some((version, sealed)) = row else { return Ok(None) };
        let sealed: SealedKeyRing =
            serde_json::from_value(sealed).map_err(|e| RingStoreError::Malformed(e.to_string()))?;
        Ok(Some(StoredRing { ring: KeyRing::open(&sealed, &self.sealer, OWNER)?, version }))
    }

    fn columns(&self, ring: &KeyRing) -> Result<(serde_json::Value, serde_json::Value), RingStoreError> {
        let sealed = serde_json::to_value(ring.seal(&self.sealer, OWNER))
            .map_err(|e| RingStoreError::Malformed(e.to_string()))?;
        let jwks = serde_json::to_value(ring.jwks()).map_err(|e| RingStoreError::Malformed(e.to_string()))?;
        Ok((sealed, jwks))
    }

    /// Rotates when the current key is older than `rotate_after`, and retires keys rotated out
    /// more than `retire_after` ago (at least the longest access-token lifetime plus leeway).
    /// Returns the ring now stored (another replica's, if it rotated first) and whether this
    /// call changed it.
    pub async fn rotate_if_due(
        &self,
        now: DateTime<Utc>,
        rotate_after: Duration,
        retire_after: Duration,
    ) -> Result<(StoredRing, bool), RingStoreError> {
        let StoredRing { mut ring, version } = self.load_or_create(now).await?;
        let due = now - ring.current().created_at() >= rotate_after;
        if due {
            ring.rotate(now);
        }
        let retired = ring.retire_rotated_before(now - retire_after);
        if !due && retired.is_empty() {
            return Ok((StoredRing { ring, version }, false));
        }
        let (sealed, jwks) = self.columns(&ring)?;
        let updated = sqlx::query(
            "UPDATE oauth_key_ring SET version = version + 1, sealed = $1, jwks = $2, updated_at = $3
             WHERE id = 1 AND version = $4",
        )
        .bind(sealed)
        .bind(jwks)
        .bind(now)
        .bind(version)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if updated == 1 {
            return Ok((StoredRing { ring, version: version + 1 }, true));
        }
        let current = self.load().await?.ok_or_else(|| RingStoreError::Malformed("the key ring vanished".into()))?;
        Ok((current, false))
    }

    /// Rotates now, whatever the key's age (an operator who fears a key leaked).
    pub async fn rotate_now(&self, now: DateTime<Utc>) -> Result<StoredRing, RingStoreError> {
        let (ring, _) = self.rotate_if_due(now, Duration::zero(), Duration::days(36500)).await?;
        Ok(ring)
    }

    /// The public keys, for a resource server: the stored JWKS, `None` before any ring exists.
    /// Needs no deployment key.
    pub async fn public_jwks(pool: &PgPool) -> Result<Option<(i64, VerifyingKeys)>, RingStoreError> {
        let row: Option<(i64, serde_json::Value)> =
            sqlx::query_as("SELECT version, jwks FROM oauth_key_ring WHERE id = 1").fetch_optional(pool).await?;
        let Some((version, jwks)) = row else { return Ok(None) };
        let keys = VerifyingKeys::from_jwks_json(&jwks.to_string(), &[SignatureAlgorithm::Es256])?;
        Ok(Some((version, keys)))
    }
}

/// The Redis key that marks an access token revoked (RFC 7009): `PREFIX:oauth:revoked:JTI`,
/// set with the token's remaining lifetime. Written by the api, read by the edge and the api.
pub fn revoked_jti_key(prefix: &str, jti: &str) -> String {
    format!("{prefix}:oauth:revoked:{jti}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::from_bytes(&[7u8; 32]).unwrap()
    }

    #[tokio::test]
    async fn one_ring_for_every_replica_and_rotation_is_compare_and_swap() {
        let db = canopy_testkit::fresh_database().await;
        let pool = db.pool.clone();
        let now = Utc::now();
        let a = KeyRingStore::new(pool.clone(), sealer());
        let b = KeyRingStore::new(pool.clone(), sealer());
        let (ra, rb) = tokio::join!(a.load_or_create(now), b.load_or_create(now));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.ring.current().kid(), rb.ring.current().kid(), "two replicas starting at once share one ring");

        // Not due: nothing changes.
        let (same, changed) = a.rotate_if_due(now, Duration::days(30), Duration::hours(2)).await.unwrap();
        assert!(!changed);
        assert_eq!(same.ring.current().kid(), ra.ring.current().kid());

        // Due on two replicas at once: exactly one new key.
        let later = now + Duration::days(31);
        let (x, y) = tokio::join!(
            a.rotate_if_due(later, Duration::days(30), Duration::hours(2)),
            b.rotate_if_due(later, Duration::days(30), Duration::hours(2))
        );
        let ((x, cx), (y, cy)) = (x.unwrap(), y.unwrap());
        assert!(cx ^ cy, "exactly one replica rotates");
        assert_eq!(x.ring.current().kid(), y.ring.current().kid());
        assert_ne!(x.ring.current().kid(), ra.ring.current().kid());
        // The old key still verifies: both kids are in the public JWKS.
        let (_, public) = KeyRingStore::public_jwks(&pool).await.unwrap().unwrap();
        let token = ra
            .ring
            .issue_access_token(
                &crate::AccessTokenSpec {
                    issuer: "https://as",
                    subject: "user:alice",
                    audience: "https://rs/mcp",
                    client_id: "c",
                    scopes: &[],
                    tenant: &canopy_domain::TenantId::default_tenant(),
                    lifetime: Duration::hours(1),
                },
                now,
            )
            .unwrap();
        assert!(public
            .verify_canopy_token(token.token.expose(), "https://as", "https://rs/mcp", now, |_| false)
            .is_ok());

        // Later still, the old key is retired and its tokens stop verifying.
        let much_later = later + Duration::hours(3);
        let (_, changed) = a.rotate_if_due(much_later, Duration::days(30), Duration::hours(2)).await.unwrap();
        assert!(changed, "retiring a key is a change");
        let (_, public) = KeyRingStore::public_jwks(&pool).await.unwrap().unwrap();
        assert!(public
            .verify_canopy_token(token.token.expose(), "https://as", "https://rs/mcp", now, |_| false)
            .is_err());

        // The stored ring holds no private key in plaintext.
        let (sealed,): (serde_json::Value,) =
            sqlx::query_as("SELECT sealed FROM oauth_key_ring").fetch_one(&pool).await.unwrap();
        let loaded = a.load().await.unwrap().unwrap();
        for key in loaded.ring.keys() {
            let pkcs8 = base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                key.encoding_key().as_bytes(),
            );
            assert!(!sealed.to_string().contains(&pkcs8));
        }
    }
}

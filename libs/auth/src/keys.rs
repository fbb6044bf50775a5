//! Signing keys: ES256 (ECDSA P-256 with SHA-256), generated with aws-lc-rs (the crypto rustls
//! already links). ES256 rather than EdDSA because every JWT library resource servers and
//! clients use verifies it; EdDSA support is still patchy.
//!
//! A [`KeyRing`] has one current key, which signs, and older keys, which only verify until they
//! are retired. The `kid` is the RFC 7638 JWK thumbprint of the public key, so it can be
//! recomputed (and is checked when a ring is opened). At rest a ring is a [`SealedKeyRing`]: the
//! private keys (PKCS#8) sealed with the deployment's `Sealer`, bound to the ring's owner and the
//! key's `kid`.

use crate::jwt::{SignatureAlgorithm, VerifyingKeys};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64URL, Engine};
use canopy_domain::server::Sealed;
use canopy_secrets::{SealContext, Sealer, SecretError};
use chrono::{DateTime, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// The one algorithm Canopy signs (and accepts for its own tokens) with.
pub(crate) const SIGNING_ALGORITHM: SignatureAlgorithm = SignatureAlgorithm::Es256;

/// The `server` part of the seal context of a ring's private keys.
const SEAL_SCOPE: &str = "oauth-signing-keys";

/// The current format of [`SealedKeyRing`].
const SEALED_FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("a key ring needs at least one key")]
    EmptyRing,
    #[error("sealed key ring format {0} is not supported")]
    UnsupportedFormat(u32),
    #[error("the private key of kid {kid} does not open")]
    Unseal {
        kid: String,
        #[source]
        source: SecretError,
    },
    #[error("the private key of kid {0} is not a P-256 PKCS#8 key")]
    BadPrivateKey(String),
    #[error("the private key stored as kid {stored} is the key of kid {actual}")]
    KidMismatch { stored: String, actual: String },
    #[error("kid {0} appears twice in the key ring")]
    DuplicateKid(String),
    #[error("kid {0} is the current key; rotate before retiring it")]
    RetiringCurrent(String),
    #[error("kid {0} is not in the key ring")]
    UnknownKid(String),
}

/// One signing key pair. `Debug` shows its kid and dates, never the private key.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    x: String,
    y: String,
    created_at: DateTime<Utc>,
    rotated_out_at: Option<DateTime<Utc>>,
}

impl SigningKey {
    fn generate(now: DateTime<Utc>) -> Self {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .expect("generating a P-256 key pair succeeds");
        Self::from_pkcs8(pkcs8.as_ref(), now, None).expect("a freshly generated key parses")
    }

    /// `None` if `pkcs8` is not a valid P-256 private key.
    fn from_pkcs8(pkcs8: &[u8], created_at: DateTime<Utc>, rotated_out_at: Option<DateTime<Utc>>) -> Option<Self> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).ok()?;
        // Uncompressed SEC1 point: 0x04 || x || y.
        let point = pair.public_key().as_ref();
        if point.len() != 65 || point[0] != 0x04 {
            return None;
        }
        let (x, y) = (B64URL.encode(&point[1..33]), B64URL.encode(&point[33..]));
        Some(Self {
            kid: thumbprint(&x, &y),
            encoding: EncodingKey::from_ec_der(pkcs8),
            decoding: DecodingKey::from_ec_der(point),
            x,
            y,
            created_at,
            rotated_out_at,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// When a newer key became current; `None` for the current key.
    pub fn rotated_out_at(&self) -> Option<DateTime<Utc>> {
        self.rotated_out_at
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    pub fn public_jwk(&self) -> PublicJwk {
        PublicJwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: self.x.clone(),
            y: self.y.clone(),
            kid: self.kid.clone(),
            key_use: "sig".into(),
            alg: SIGNING_ALGORITHM.as_str().into(),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("rotated_out_at", &self.rotated_out_at)
            .finish_non_exhaustive()
    }
}

/// RFC 7638: base64url(SHA-256 of the required members in lexicographic order, no whitespace).
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    B64URL.encode(Sha256::digest(canonical.as_bytes()))
}

/// A public key as an RFC 7517 JWK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub y: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub key_use: String,
    pub alg: String,
}

/// The RFC 7517 JWK Set served at the authorization server's `jwks_uri`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<PublicJwk>,
}

/// The current signing key and older keys that still verify. `Debug` shows kids only.
pub struct KeyRing {
    current: SigningKey,
    previous: Vec<SigningKey>,
    verifying: VerifyingKeys,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current.kid)
            .field("previous", &self.previous.iter().map(|k| &k.kid).collect::<Vec<_>>())
            .finish()
    }
}

impl KeyRing {
    /// A ring with one fresh key.
    pub fn generate(now: DateTime<Utc>) -> Self {
        Self::assemble(SigningKey::generate(now), Vec::new())
    }

    fn assemble(current: SigningKey, previous: Vec<SigningKey>) -> Self {
        let mut ring = Self { current, previous, verifying: VerifyingKeys::default() };
        ring.refresh_verifying_keys();
        ring
    }

    fn refresh_verifying_keys(&mut self) {
        let mut verifying = VerifyingKeys::default();
        for key in self.keys() {
            verifying
                .insert(key.kid.clone(), SIGNING_ALGORITHM, key.decoding.clone())
                .expect("kids in a ring are unique (checked when opened, random when generated)");
        }
        self.verifying = verifying;
    }

    /// The key that signs new tokens.
    pub fn current(&self) -> &SigningKey {
        &self.current
    }

    /// Every key that verifies: the current one first, then older ones, newest first.
    pub fn keys(&self) -> impl Iterator<Item = &SigningKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }

    /// The public keys of this ring, for a resource server or [`crate::VerifyingKeys::verify_canopy_token`].
    pub fn verifying_keys(&self) -> &VerifyingKeys {
        &self.verifying
    }

    /// Makes a fresh key current. The old current key keeps verifying until retired.
    pub fn rotate(&mut self, now: DateTime<Utc>) -> &SigningKey {
        let mut old = std::mem::replace(&mut self.current, SigningKey::generate(now));
        old.rotated_out_at = Some(now);
        self.previous.insert(0, old);
        self.refresh_verifying_keys();
        &self.current
    }

    /// Stops `kid` verifying. The current key cannot be retired.
    pub fn retire(&mut self, kid: &str) -> Result<(), KeyError> {
        if self.current.kid == kid {
            return Err(KeyError::RetiringCurrent(kid.to_string()));
        }
        let before = self.previous.len();
        self.previous.retain(|k| k.kid != kid);
        if self.previous.len() == before {
            return Err(KeyError::UnknownKid(kid.to_string()));
        }
        self.refresh_verifying_keys();
        Ok(())
    }

    /// Retires every key rotated out before `cutoff` (use now minus the longest access-token
    /// lifetime and the clock leeway: no unexpired token can name them). Returns their kids.
    pub fn retire_rotated_before(&mut self, cutoff: DateTime<Utc>) -> Vec<String> {
        let (gone, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.previous).into_iter().partition(|k| k.rotated_out_at.is_some_and(|t| t < cutoff));
        self.previous = kept;
        self.refresh_verifying_keys();
        gone.into_iter().map(|k| k.kid).collect()
    }

    /// The RFC 7517 JWK Set of every key that verifies.
    pub fn jwks(&self) -> Jwks {
        Jwks { keys: self.keys().map(SigningKey::public_jwk).collect() }
    }

    /// The ring for storage, private keys sealed. `owner` says whose ring it is (a tenant id, or
    /// a fixed name for a deployment-wide ring); a sealed key opens only for the same owner and
    /// under its own kid.
    pub fn seal(&self, sealer: &Sealer, owner: &str) -> SealedKeyRing {
        let keys = self
            .keys()
            .map(|key| SealedSigningKey {
                kid: key.kid.clone(),
                created_at: key.created_at,
                rotated_out_at: key.rotated_out_at,
                private_key: sealer
                    .seal(seal_context(owner, &key_field(&key.kid)), &B64URL.encode(key.encoding.as_bytes())),
            })
            .collect();
        SealedKeyRing { format: SEALED_FORMAT, keys }
    }

    /// Opens a ring sealed by [`KeyRing::seal`] for the same `owner`.
    pub fn open(sealed: &SealedKeyRing, sealer: &Sealer, owner: &str) -> Result<Self, KeyError> {
        if sealed.format != SEALED_FORMAT {
            return Err(KeyError::UnsupportedFormat(sealed.format));
        }
        let mut keys = Vec::with_capacity(sealed.keys.len());
        for stored in &sealed.keys {
            let field = key_field(&stored.kid);
            let encoded = sealer
                .open(seal_context(owner, &field), &stored.private_key)
                .map_err(|source| KeyError::Unseal { kid: stored.kid.clone(), source })?;
            let key = B64URL
                .decode(encoded)
                .ok()
                .and_then(|pkcs8| SigningKey::from_pkcs8(&pkcs8, stored.created_at, stored.rotated_out_at))
                .ok_or_else(|| KeyError::BadPrivateKey(stored.kid.clone()))?;
            if key.kid != stored.kid {
                return Err(KeyError::KidMismatch { stored: stored.kid.clone(), actual: key.kid });
            }
            if keys.iter().any(|k: &SigningKey| k.kid == key.kid) {
                return Err(KeyError::DuplicateKid(key.kid));
            }
            keys.push(key);
        }
        let mut keys = keys.into_iter();
        let current = keys.next().ok_or(KeyError::EmptyRing)?;
        Ok(Self::assemble(current, keys.collect()))
    }
}

fn key_field(kid: &str) -> String {
    format!("private_key:{kid}")
}

fn seal_context<'a>(owner: &'a str, field: &'a str) -> SealContext<'a> {
    SealContext { tenant: owner, server: SEAL_SCOPE, field }
}

/// A [`KeyRing`] as stored: JSON-serializable, private keys sealed (the first key is current).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealedKeyRing {
    pub format: u32,
    pub keys: Vec<SealedSigningKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealedSigningKey {
    pub kid: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_out_at: Option<DateTime<Utc>>,
    /// base64url(PKCS#8), sealed; `Debug` shows nothing of it.
    pub private_key: Sealed,
}

//! Sealing upstream secrets (bearer tokens, header values, env values) before they are written
//! anywhere: events are permanent, so a plaintext secret in one would be there forever.
//!
//! Envelope encryption ([`Sealer::seal`]): a fresh data key per value, wrapped by the deployment
//! key, XChaCha20-Poly1305 both; format `v2.<key id>.<b64(nonce || wrapped data key)>.<b64(nonce
//! || ciphertext)>` (values sealed directly under the deployment key, `v1.<key id>.<...>`, still
//! open). The associated data binds each sealed value and its data key to where it belongs
//! (tenant, server, field), so a sealed value copied into another tenant's registration does
//! not open. The key id lets a deployment rotate keys: values sealed under an older key name it.

use base64::{engine::general_purpose::STANDARD_NO_PAD as B64, Engine};
use canopy_domain::server::Sealed;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SecretError {
    #[error("the secret key must be 32 bytes, base64-encoded (generate one with `canopy secret-key`); got {0} bytes")]
    BadKeyLength(usize),
    #[error("the secret key is not valid base64")]
    BadKeyEncoding,
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value was sealed under key {0}, which is not configured")]
    UnknownKey(String),
    #[error("sealed value does not open: wrong key, or it was moved from where it was sealed")]
    Forged,
}

/// Where a sealed value belongs; becomes the AEAD's associated data.
#[derive(Debug, Clone, Copy)]
pub struct SealContext<'a> {
    pub tenant: &'a str,
    pub server: &'a str,
    /// e.g. `bearer_token`, `header:X-Api-Key`, `env:GITHUB_TOKEN`
    pub field: &'a str,
}

impl SealContext<'_> {
    fn aad(&self) -> Vec<u8> {
        format!("canopy/v1\0{}\0{}\0{}", self.tenant, self.server, self.field).into_bytes()
    }
}

#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    key_id: String,
    /// Root for [`Sealer::derive_key`]: a hash of the key, never the key itself.
    derivation_root: [u8; 32],
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealer(key {})", self.key_id)
    }
}

impl Sealer {
    pub fn from_base64(key: &str) -> Result<Self, SecretError> {
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(key.trim()).map_err(|_| SecretError::BadKeyEncoding)?;
        Self::from_bytes(&bytes)
    }

    pub fn from_bytes(key: &[u8]) -> Result<Self, SecretError> {
        if key.len() != 32 {
            return Err(SecretError::BadKeyLength(key.len()));
        }
        let key_id = hex8(&Sha256::digest(key));
        let derivation_root = Sha256::new().chain_update(b"canopy/derive/v1\0").chain_update(key).finalize().into();
        Ok(Self { cipher: XChaCha20Poly1305::new(key.into()), key_id, derivation_root })
    }

    /// A 32-byte key for another purpose (e.g. `"mrtr-state"`), the same in every process that
    /// has this deployment's key, and independent of the sealing key and of other purposes.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        Sha256::new().chain_update(self.derivation_root).chain_update(purpose.as_bytes()).finalize().into()
    }

    /// A fresh random key, base64-encoded.
    pub fn generate_key() -> String {
        base64::engine::general_purpose::STANDARD.encode(XChaCha20Poly1305::generate_key(&mut OsRng))
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The digest under which an access token (a user's or an MCP client's) is stored and
    /// looked up: HMAC-SHA256 under a key derived from the deployment's key, so a copy of the
    /// database alone cannot be used to test guesses, and the token itself is never stored.
    pub fn token_digest(&self, token: &str) -> canopy_domain::identity::TokenDigest {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<Sha256> as Mac>::new_from_slice(&self.derive_key("access-token-digest/v1"))
            .expect("HMAC takes any key length");
        mac.update(token.as_bytes());
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        canopy_domain::identity::TokenDigest::parse(hex).expect("64 lowercase hex characters")
    }

    /// A new random access token (256 bits, base64url), shown once to whoever asked for it.
    pub fn generate_token() -> String {
        use chacha20poly1305::aead::rand_core::RngCore;
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Seals `plaintext` with envelope encryption: a fresh data key (256 bits) encrypts the
    /// value, the deployment key (the key-encryption key) encrypts the data key, and both carry
    /// `ctx` as associated data, so a sealed value opens only where it was sealed. Format:
    /// `v2.KID.b64(nonce || wrapped data key).b64(nonce || ciphertext)`. Every value has its
    /// own data key: re-wrapping under a new deployment key touches 72 bytes, not the value.
    pub fn seal(&self, ctx: SealContext<'_>, plaintext: &str) -> Sealed {
        let aad = ctx.aad();
        let dek = XChaCha20Poly1305::generate_key(&mut OsRng);
        let data = encrypt(&XChaCha20Poly1305::new(&dek), plaintext.as_bytes(), &aad);
        let wrapped = encrypt(&self.cipher, dek.as_slice(), &wrap_aad(&aad));
        Sealed(format!("v2.{}.{}.{}", self.key_id, B64.encode(wrapped), B64.encode(data)))
    }

    pub fn open(&self, ctx: SealContext<'_>, sealed: &Sealed) -> Result<String, SecretError> {
        let parts: Vec<&str> = sealed.0.split('.').collect();
        let aad = ctx.aad();
        let plain = match parts[..] {
            ["v2", kid, wrapped, data] => {
                self.check_kid(kid)?;
                let dek =
                    decrypt(&self.cipher, &B64.decode(wrapped).map_err(|_| SecretError::Malformed)?, &wrap_aad(&aad))?;
                if dek.len() != 32 {
                    return Err(SecretError::Malformed);
                }
                let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&dek));
                decrypt(&cipher, &B64.decode(data).map_err(|_| SecretError::Malformed)?, &aad)?
            }
            // Sealed directly under the deployment key (before envelope encryption): still opens.
            ["v1", kid, body] => {
                self.check_kid(kid)?;
                decrypt(&self.cipher, &B64.decode(body).map_err(|_| SecretError::Malformed)?, &aad)?
            }
            _ => return Err(SecretError::Malformed),
        };
        String::from_utf8(plain).map_err(|_| SecretError::Malformed)
    }

    fn check_kid(&self, kid: &str) -> Result<(), SecretError> {
        if kid != self.key_id {
            return Err(SecretError::UnknownKey(kid.to_string()));
        }
        Ok(())
    }
}

/// The associated data of a wrapped data key: the value's context, and that it is a key.
fn wrap_aad(aad: &[u8]) -> Vec<u8> {
    let mut out = b"canopy/dek/v2\0".to_vec();
    out.extend_from_slice(aad);
    out
}

/// `nonce || ciphertext` (24-byte XChaCha20 nonce, random).
fn encrypt(cipher: &XChaCha20Poly1305, msg: &[u8], aad: &[u8]) -> Vec<u8> {
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let ciphertext =
        cipher.encrypt(&nonce, Payload { msg, aad }).expect("encryption of an in-memory buffer does not fail");
    let mut blob = nonce.to_vec();
    blob.extend_from_slice(&ciphertext);
    blob
}

fn decrypt(cipher: &XChaCha20Poly1305, blob: &[u8], aad: &[u8]) -> Result<Vec<u8>, SecretError> {
    if blob.len() < 24 + 16 {
        return Err(SecretError::Malformed);
    }
    let (nonce, ciphertext) = blob.split_at(24);
    cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad }).map_err(|_| SecretError::Forged)
}

fn hex8(digest: &[u8]) -> String {
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_digests_are_keyed_and_stable() {
        let a = Sealer::from_bytes(&[1; 32]).unwrap();
        let b = Sealer::from_bytes(&[2; 32]).unwrap();
        let token = Sealer::generate_token();
        assert_eq!(token.len(), 43);
        assert_ne!(token, Sealer::generate_token());
        assert_eq!(a.token_digest(&token), a.token_digest(&token));
        assert_ne!(a.token_digest(&token), b.token_digest(&token), "another deployment key, another digest");
        assert_ne!(a.token_digest(&token), a.token_digest("other"));
        assert!(!a.token_digest(&token).as_str().contains(&token));
    }

    fn ctx<'a>(tenant: &'a str, field: &'a str) -> SealContext<'a> {
        SealContext { tenant, server: "gh", field }
    }

    #[test]
    fn seal_open_round_trip_and_never_plaintext() {
        let s = Sealer::from_base64(&Sealer::generate_key()).unwrap();
        let sealed = s.seal(ctx("acme", "bearer_token"), "ghp_supersecret");
        assert!(!sealed.0.contains("ghp_supersecret"));
        assert!(sealed.0.starts_with(&format!("v2.{}.", s.key_id())));
        assert_eq!(s.open(ctx("acme", "bearer_token"), &sealed).unwrap(), "ghp_supersecret");
        // Two seals of one value differ (random nonce).
        assert_ne!(s.seal(ctx("acme", "bearer_token"), "x"), s.seal(ctx("acme", "bearer_token"), "x"));
    }

    #[test]
    fn envelope_every_value_its_own_data_key_bound_to_its_context() {
        let s = Sealer::from_base64(&Sealer::generate_key()).unwrap();
        let a = s.seal(ctx("acme", "f"), "same");
        let b = s.seal(ctx("acme", "f"), "same");
        let parts = |x: &Sealed| x.0.split('.').map(str::to_string).collect::<Vec<_>>();
        let (pa, pb) = (parts(&a), parts(&b));
        assert_eq!(pa.len(), 4);
        assert_ne!(pa[2], pb[2], "a fresh data key per value");
        // Another value's data key does not open this ciphertext, nor its own data under another context.
        let swapped = Sealed(format!("v2.{}.{}.{}", pa[1], pb[2], pa[3]));
        assert_eq!(s.open(ctx("acme", "f"), &swapped), Err(SecretError::Forged));
        // A wrapped data key moved to another context does not unwrap.
        let moved = s.seal(ctx("other", "f"), "same");
        let pm = parts(&moved);
        let transplanted = Sealed(format!("v2.{}.{}.{}", pm[1], pm[2], pa[3]));
        assert_eq!(s.open(ctx("acme", "f"), &transplanted), Err(SecretError::Forged));
        assert_eq!(s.open(ctx("acme", "f"), &a).unwrap(), "same");
    }

    #[test]
    fn values_sealed_before_envelope_encryption_still_open() {
        let key = [9u8; 32];
        let s = Sealer::from_bytes(&key).unwrap();
        // A v1 value: XChaCha20-Poly1305 directly under the deployment key.
        let aad = ctx("acme", "bearer_token").aad();
        let blob = encrypt(&XChaCha20Poly1305::new((&key).into()), b"legacy", &aad);
        let v1 = Sealed(format!("v1.{}.{}", s.key_id(), B64.encode(blob)));
        assert_eq!(s.open(ctx("acme", "bearer_token"), &v1).unwrap(), "legacy");
        assert_eq!(s.open(ctx("acme", "other"), &v1), Err(SecretError::Forged));
    }

    #[test]
    fn a_sealed_value_moved_elsewhere_does_not_open() {
        let s = Sealer::from_base64(&Sealer::generate_key()).unwrap();
        let sealed = s.seal(ctx("acme", "bearer_token"), "t");
        assert_eq!(s.open(ctx("other", "bearer_token"), &sealed), Err(SecretError::Forged));
        assert_eq!(s.open(ctx("acme", "header:Authorization"), &sealed), Err(SecretError::Forged));
    }

    #[test]
    fn wrong_key_and_garbage_are_refused() {
        let a = Sealer::from_base64(&Sealer::generate_key()).unwrap();
        let b = Sealer::from_base64(&Sealer::generate_key()).unwrap();
        let sealed = a.seal(ctx("acme", "f"), "t");
        assert!(matches!(b.open(ctx("acme", "f"), &sealed), Err(SecretError::UnknownKey(_))));
        assert_eq!(a.open(ctx("acme", "f"), &Sealed("plain".into())), Err(SecretError::Malformed));
        assert_eq!(Sealer::from_bytes(&[0; 16]).unwrap_err(), SecretError::BadKeyLength(16));
    }
}

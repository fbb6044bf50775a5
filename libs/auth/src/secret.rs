//! Opaque secrets: client secrets, refresh tokens, authorization codes and static API tokens
//! (MCPJungle's user and client tokens). Generated with 256 random bits, shown once, stored only
//! as an HMAC-SHA256 under a key derived from the deployment key (never plaintext, unlike
//! MCPJungle), compared in constant time.
//!
//! A keyed hash rather than a bare SHA-256: generated secrets cannot be guessed either way, but
//! admins may also supply their own API tokens (as MCPJungle allows), and with a key a stolen
//! database cannot be used to test guesses of those offline. The hash input names the kind, so a
//! hash from one table never matches a secret of another kind.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64URL, Engine};
use canopy_secrets::Sealer;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Sha256;
use std::fmt;

/// What a secret is for: its prefix (so secret scanners and people can tell them apart) and its
/// hash domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    ClientSecret,
    RefreshToken,
    AuthorizationCode,
    ApiToken,
}

impl SecretKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            SecretKind::ClientSecret => "cnp_cs_",
            SecretKind::RefreshToken => "cnp_rt_",
            SecretKind::AuthorizationCode => "cnp_ac_",
            SecretKind::ApiToken => "cnp_api_",
        }
    }

    const fn label(self) -> &'static str {
        match self {
            SecretKind::ClientSecret => "client secret",
            SecretKind::RefreshToken => "refresh token",
            SecretKind::AuthorizationCode => "authorization code",
            SecretKind::ApiToken => "API token",
        }
    }
}

/// Random bytes in a generated secret.
const SECRET_BYTES: usize = 32;

/// A secret in plaintext. It exists between generation and the one response that shows it;
/// what is kept is its [`SecretHash`]. `Debug` shows the kind only.
#[derive(Clone)]
pub struct OpaqueSecret {
    kind: SecretKind,
    value: String,
}

impl OpaqueSecret {
    /// `prefix` + base64url (no padding) of 256 bits from the operating system's CSPRNG.
    pub fn generate(kind: SecretKind) -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random number generator is available");
        Self { kind, value: format!("{}{}", kind.prefix(), B64URL.encode(bytes)) }
    }

    pub fn kind(&self) -> SecretKind {
        self.kind
    }

    /// The plaintext, to put in the response that hands it out. Nowhere else.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Whether `presented` has the shape of a generated secret of `kind`: a cheap check before
    /// any lookup. Admin-supplied API tokens have any shape; do not use this for those.
    pub fn is_well_formed(kind: SecretKind, presented: &str) -> bool {
        presented
            .strip_prefix(kind.prefix())
            .is_some_and(|body| B64URL.decode(body).is_ok_and(|bytes| bytes.len() == SECRET_BYTES && body.len() == 43))
    }
}

impl fmt::Debug for OpaqueSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpaqueSecret({}, ***)", self.kind.label())
    }
}

/// The keyed hash of a secret: what tables and events hold. Equality is constant-time. Serialized
/// as 64 lowercase hex digits; `Debug` shows the first 8.
#[derive(Clone, Copy)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(out))
    }
}

impl PartialEq for SecretHash {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(&self.0, &other.0)
    }
}

impl Eq for SecretHash {}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretHash({}…)", &self.to_hex()[..8])
    }
}

impl Serialize for SecretHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for SecretHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hex = String::deserialize(deserializer)?;
        Self::from_hex(&hex).ok_or_else(|| serde::de::Error::custom("a secret hash is 64 hex digits"))
    }
}

/// Hashes secrets under a key derived from the deployment key (`Sealer::derive_key`), the same
/// in every process of one deployment. `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct SecretHasher {
    key: [u8; 32],
}

impl SecretHasher {
    /// The purpose under which the hashing key is derived; changing it orphans every stored hash.
    pub const KEY_PURPOSE: &'static str = "canopy-auth/secret-hash/v1";

    pub fn new(sealer: &Sealer) -> Self {
        Self { key: sealer.derive_key(Self::KEY_PURPOSE) }
    }

    /// The hash of a presented or generated secret. Any string can be hashed (admin-supplied
    /// API tokens have no fixed shape).
    pub fn hash(&self, kind: SecretKind, secret: &str) -> SecretHash {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(kind.label().as_bytes());
        mac.update(&[0]);
        mac.update(secret.as_bytes());
        SecretHash(mac.finalize().into_bytes().into())
    }

    /// Whether `presented` is the secret whose hash is `stored`, in constant time.
    pub fn verify(&self, kind: SecretKind, presented: &str, stored: &SecretHash) -> bool {
        self.hash(kind, presented) == *stored
    }
}

impl fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHasher(..)")
    }
}

/// Constant-time equality (length is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_bad_hex() {
        let h = SecretHash([0xab; 32]);
        assert_eq!(SecretHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(SecretHash::from_hex("zz"), None);
        assert_eq!(SecretHash::from_hex(&"é".repeat(32)), None);
        assert_eq!(format!("{h:?}"), "SecretHash(abababab…)");
    }
}

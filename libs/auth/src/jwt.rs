//! Verifying JWT access tokens: one function for Canopy's own tokens and for those of external
//! issuers, so both get exactly the same checks. `jsonwebtoken` checks the signature; everything
//! around it (which algorithm, which key, which claims, which clock) is decided here.
//!
//! Order: shape, header (algorithm from an allow-list, `kid` of a known key, the key's own
//! algorithm), signature, then claims. Nothing in the payload is read before the signature holds.

use crate::access::AccessClaims;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64URL, Engine};
use canopy_domain::TenantId;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Once;

/// Clock skew tolerated between issuer and resource server for `exp`, `nbf` and `iat`.
pub const CLOCK_LEEWAY_SECONDS: i64 = 30;

/// Longer tokens are refused unread (a JWT with a few claims is well under 2 KiB).
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why a bearer token was refused. Each is `error="invalid_token"` in RFC 6750 terms, and the
/// text (no quotes or backslashes) is its `error_description`. Nothing of the token is included.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is signed with an algorithm that is not accepted")]
    AlgorithmNotAccepted,
    #[error("the token is signed with an unknown key")]
    UnknownKey,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token is not an access token (typ must be at+jwt)")]
    NotAnAccessToken,
    #[error("the token claims are malformed")]
    MalformedClaims,
    #[error("the token lacks the required claim {0}")]
    MissingClaim(&'static str),
    #[error("the token claim {0} is invalid")]
    InvalidClaim(&'static str),
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is not intended for this resource")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token has been revoked")]
    Revoked,
}

impl TokenError {
    /// The RFC 6750 error code for every variant.
    pub const fn error_code(&self) -> &'static str {
        "invalid_token"
    }
}

/// The asymmetric JWS algorithms a verifier can be configured with. HMAC algorithms and `none`
/// are not representable: a public key can never be used as a shared secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignatureAlgorithm {
    Es256,
    Es384,
    EdDsa,
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
}

impl SignatureAlgorithm {
    pub const ALL: [SignatureAlgorithm; 9] = [
        Self::Es256,
        Self::Es384,
        Self::EdDsa,
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
    ];

    /// The JWS `alg` name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
        }
    }

    /// Exact, case-sensitive: `none`, `HS256`, `es256` and the like are `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    pub(crate) const fn jwt(self) -> Algorithm {
        match self {
            Self::Es256 => Algorithm::ES256,
            Self::Es384 => Algorithm::ES384,
            Self::EdDsa => Algorithm::EdDSA,
            Self::Rs256 => Algorithm::RS256,
            Self::Rs384 => Algorithm::RS384,
            Self::Rs512 => Algorithm::RS512,
            Self::Ps256 => Algorithm::PS256,
            Self::Ps384 => Algorithm::PS384,
            Self::Ps512 => Algorithm::PS512,
        }
    }

    const fn is_rsa(self) -> bool {
        matches!(self, Self::Rs256 | Self::Rs384 | Self::Rs512 | Self::Ps256 | Self::Ps384 | Self::Ps512)
    }
}

/// Which JOSE `typ` header values pass as an access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TypPolicy {
    /// RFC 9068: `at+jwt` (or `application/at+jwt`). Canopy's tokens, and the default.
    #[default]
    AccessTokenOnly,
    /// Also `JWT` or no `typ`: for external issuers that predate RFC 9068. Weaker: such an
    /// issuer's ID tokens could then pass as access tokens if their audience matched.
    AccessTokenOrJwt,
}

impl TypPolicy {
    fn accepts(self, typ: Option<&str>) -> bool {
        let is = |want: &str| typ.is_some_and(|t| t.eq_ignore_ascii_case(want));
        is("at+jwt")
            || is("application/at+jwt")
            || (self == TypPolicy::AccessTokenOrJwt && (typ.is_none() || is("JWT") || is("application/jwt")))
    }
}

/// Why a JWKS document gave no verifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("the JWKS is not a JSON object with a 'keys' array")]
    NotAJwks,
    #[error("the JWKS has no signing key with a 'kid' for an accepted algorithm")]
    NoUsableKeys,
    #[error("the JWKS has two keys with kid '{0}'")]
    DuplicateKid(String),
    #[error("JWKS key '{kid}' is invalid: {reason}")]
    BadKey { kid: String, reason: &'static str },
}

struct VerifyingKey {
    alg: SignatureAlgorithm,
    key: DecodingKey,
}

/// Public keys by `kid`, each pinned to the one algorithm it verifies. Built from a
/// [`crate::KeyRing`] or from an issuer's JWKS. `Debug` lists kids and algorithms.
#[derive(Default)]
pub struct VerifyingKeys {
    keys: BTreeMap<String, VerifyingKey>,
}

impl Clone for VerifyingKeys {
    fn clone(&self) -> Self {
        let keys =
            self.keys.iter().map(|(k, v)| (k.clone(), VerifyingKey { alg: v.alg, key: v.key.clone() })).collect();
        Self { keys }
    }
}

impl fmt::Debug for VerifyingKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.keys.iter().map(|(kid, k)| (kid, k.alg.as_str()))).finish()
    }
}

impl VerifyingKeys {
    pub(crate) fn insert(&mut self, kid: String, alg: SignatureAlgorithm, key: DecodingKey) -> Result<(), JwksError> {
        if self.keys.contains_key(&kid) {
            return Err(JwksError::DuplicateKid(kid));
        }
        self.keys.insert(kid, VerifyingKey { alg, key });
        Ok(())
    }

    /// The signing keys of an RFC 7517 JWKS document for the `accepted` algorithms. Keys without
    /// a `kid`, marked for encryption, of kind `oct` (shared secrets) or for another algorithm
    /// are left out; a key that claims an accepted algorithm but is malformed fails the whole
    /// set, so a misconfiguration shows at once rather than as refused tokens later.
    pub fn from_jwks_json(json: &str, accepted: &[SignatureAlgorithm]) -> Result<Self, JwksError> {
        let doc: Value = serde_json::from_str(json).map_err(|_| JwksError::NotAJwks)?;
        let keys = doc.get("keys").and_then(Value::as_array).ok_or(JwksError::NotAJwks)?;
        let mut out = Self::default();
        for jwk in keys {
            if let Some((kid, alg, key)) = jwk_to_key(jwk)? {
                if accepted.contains(&alg) {
                    out.insert(kid, alg, key)?;
                }
            }
        }
        if out.keys.is_empty() {
            return Err(JwksError::NoUsableKeys);
        }
        Ok(out)
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// One JWK as (kid, algorithm, key), `None` if it is not a usable signing key.
fn jwk_to_key(jwk: &Value) -> Result<Option<(String, SignatureAlgorithm, DecodingKey)>, JwksError> {
    let Some(obj) = jwk.as_object() else { return Ok(None) };
    let field = |name: &str| obj.get(name).and_then(Value::as_str);
    let Some(kid) = field("kid") else { return Ok(None) };
    if field("use").is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    if let Some(ops) = obj.get("key_ops").and_then(Value::as_array) {
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Ok(None);
        }
    }
    let bad = |reason| JwksError::BadKey { kid: kid.to_string(), reason };
    let declared = match field("alg") {
        Some(name) => match SignatureAlgorithm::from_name(name) {
            Some(alg) => Some(alg),
            None => return Ok(None), // HS256, RSA-OAEP, ...: nothing this verifier may use
        },
        None => None,
    };
    let bytes = |name: &'static str, len: Option<usize>| -> Result<Vec<u8>, JwksError> {
        let decoded = field(name).and_then(|v| B64URL.decode(v).ok()).ok_or(bad("a coordinate is not base64url"))?;
        match len {
            Some(len) if decoded.len() != len => Err(bad("a coordinate has the wrong length")),
            _ => Ok(decoded),
        }
    };
    let (alg, key) = match field("kty") {
        Some("EC") => {
            let (natural, size) = match field("crv") {
                Some("P-256") => (SignatureAlgorithm::Es256, 32),
                Some("P-384") => (SignatureAlgorithm::Es384, 48),
                _ => return Ok(None),
            };
            if declared.is_some_and(|d| d != natural) {
                return Err(bad("its alg does not match its curve"));
            }
            let (x, y) = (bytes("x", Some(size))?, bytes("y", Some(size))?);
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (natural, DecodingKey::from_ec_der(&point))
        }
        Some("OKP") => {
            if field("crv") != Some("Ed25519") {
                return Ok(None);
            }
            if declared.is_some_and(|d| d != SignatureAlgorithm::EdDsa) {
                return Err(bad("its alg does not match its curve"));
            }
            (SignatureAlgorithm::EdDsa, DecodingKey::from_ed_der(&bytes("x", Some(32))?))
        }
        Some("RSA") => {
            let alg = declared.unwrap_or(SignatureAlgorithm::Rs256);
            if !alg.is_rsa() {
                return Err(bad("its alg is not an RSA algorithm"));
            }
            let (n, e) = (bytes("n", None)?, bytes("e", None)?);
            let modulus_bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if modulus_bits < 2048 || e.is_empty() {
                return Err(bad("RSA keys must have at least 2048 bits"));
            }
            (alg, DecodingKey::from_rsa_raw_components(&n, &e))
        }
        // "oct" keys are shared secrets and are never trusted from a JWKS; others are unknown.
        _ => return Ok(None),
    };
    Ok(Some((kid.to_string(), alg, key)))
}

/// What a verified token must say, beyond its signature.
pub(crate) struct Expectations<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub typ: TypPolicy,
    pub profile: Profile<'a>,
}

/// Whose tokens these are: decides the claims required beyond RFC 9068's and the tenant.
pub(crate) enum Profile<'a> {
    /// Canopy's own tokens: `nbf` and `tenant` are required too; the tenant is the claim.
    Canopy,
    /// An external issuer's: the tenant is the configuration's (a `tenant` claim is ignored).
    External { tenant: &'a TenantId },
}

#[derive(Deserialize)]
pub(crate) struct RawHeader {
    pub(crate) alg: Option<String>,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
    pub(crate) crit: Option<Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct RawClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<OneOrMany>,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
    client_id: Option<String>,
    /// Issuers that name the client `azp` (authorized party) instead.
    azp: Option<String>,
    scope: Option<String>,
    /// Issuers that send scopes as an array.
    scp: Option<Vec<String>>,
    tenant: Option<String>,
}

/// Installs jsonwebtoken's aws-lc-rs provider explicitly: if some other crate in the build also
/// enables its `rust_crypto` feature, its automatic choice would otherwise panic.
fn ensure_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    });
}

pub(crate) fn sign(header: &jsonwebtoken::Header, claims: &AccessClaims, key: &jsonwebtoken::EncodingKey) -> String {
    sign_claims(header, claims, key)
}

pub(crate) fn sign_claims<T: serde::Serialize>(
    header: &jsonwebtoken::Header,
    claims: &T,
    key: &jsonwebtoken::EncodingKey,
) -> String {
    ensure_crypto_provider();
    jsonwebtoken::encode(header, claims, key).expect("signing with a key of the header's algorithm succeeds")
}

/// The one verification path. See the module comment for the order of checks.
pub(crate) fn verify(
    keys: &VerifyingKeys,
    token: &str,
    expect: &Expectations<'_>,
    now: DateTime<Utc>,
    is_revoked: impl Fn(&str) -> bool,
) -> Result<AccessClaims, TokenError> {
    let (header, raw) = decode_signed::<RawClaims>(keys, token)?;

    // The signature holds; now the claims.
    if !expect.typ.accepts(header.typ.as_deref()) {
        return Err(TokenError::NotAnAccessToken);
    }
    verify_claims(raw, expect, now, is_revoked)
}

/// The header and signature checks every JWT gets (the algorithm from the header must be the
/// one its `kid`'s key is pinned to; no `crit`; a real signature), then the claims decoded.
pub(crate) fn decode_signed<T: serde::de::DeserializeOwned>(
    keys: &VerifyingKeys,
    token: &str,
) -> Result<(RawHeader, T), TokenError> {
    ensure_crypto_provider();
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, _, signature_b64] = parts[..] else { return Err(TokenError::Malformed) };
    let header: RawHeader = B64URL
        .decode(header_b64)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or(TokenError::Malformed)?;

    let alg = header.alg.as_deref().and_then(SignatureAlgorithm::from_name).ok_or(TokenError::AlgorithmNotAccepted)?;
    let key = header.kid.as_deref().and_then(|kid| keys.keys.get(kid)).ok_or(TokenError::UnknownKey)?;
    if key.alg != alg {
        return Err(TokenError::AlgorithmNotAccepted);
    }
    // Critical extensions must be understood (RFC 7515 section 4.1.11); this verifier has none.
    if header.crit.is_some() {
        return Err(TokenError::Malformed);
    }
    if signature_b64.is_empty() {
        return Err(TokenError::BadSignature);
    }

    let mut validation = Validation::new(alg.jwt());
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    let raw: T = jsonwebtoken::decode(token, &key.key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm => TokenError::AlgorithmNotAccepted,
            ErrorKind::Json(_) | ErrorKind::Utf8(_) => TokenError::MalformedClaims,
            _ => TokenError::Malformed,
        })?
        .claims;
    Ok((header, raw))
}

fn verify_claims(
    raw: RawClaims,
    expect: &Expectations<'_>,
    now: DateTime<Utc>,
    is_revoked: impl Fn(&str) -> bool,
) -> Result<AccessClaims, TokenError> {
    let iss = required(raw.iss, "iss")?;
    if iss != expect.issuer {
        return Err(TokenError::WrongIssuer);
    }
    let aud = match raw.aud {
        Some(OneOrMany::One(a)) => vec![a],
        Some(OneOrMany::Many(list)) if !list.is_empty() => list,
        _ => return Err(TokenError::MissingClaim("aud")),
    };
    if !aud.iter().any(|a| a == expect.audience) {
        return Err(TokenError::WrongAudience);
    }
    let now = now.timestamp();
    let exp = required(raw.exp, "exp")?;
    if now >= exp.saturating_add(CLOCK_LEEWAY_SECONDS) {
        return Err(TokenError::Expired);
    }
    let iat = required(raw.iat, "iat")?;
    let nbf = match (&expect.profile, raw.nbf) {
        (Profile::Canopy, None) => return Err(TokenError::MissingClaim("nbf")),
        (_, nbf) => nbf,
    };
    if now.saturating_add(CLOCK_LEEWAY_SECONDS) < nbf.unwrap_or(iat).max(iat) {
        return Err(TokenError::NotYetValid);
    }
    let sub = required(raw.sub, "sub")?;
    let jti = required(raw.jti, "jti")?;
    let client_id = required(raw.client_id.or(raw.azp), "client_id")?;
    let scope = match (raw.scope, raw.scp) {
        (Some(scope), _) => scope,
        (None, Some(list)) => list.join(" "),
        (None, None) => String::new(),
    };
    if crate::scope::parse_scope(&scope).is_none() {
        return Err(TokenError::InvalidClaim("scope"));
    }
    let tenant = match expect.profile {
        Profile::Canopy => {
            TenantId::parse(required(raw.tenant, "tenant")?).map_err(|_| TokenError::InvalidClaim("tenant"))?
        }
        Profile::External { tenant } => tenant.clone(),
    };
    if is_revoked(&jti) {
        return Err(TokenError::Revoked);
    }
    Ok(AccessClaims { iss, sub, aud, exp, iat, nbf, jti, client_id, scope, tenant })
}

fn required<T>(value: Option<T>, name: &'static str) -> Result<T, TokenError> {
    value.ok_or(TokenError::MissingClaim(name))
}

/// The `iss` of a token, read without any verification: only to choose which verifier to run.
pub(crate) fn unverified_claim(token: &str, name: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let json: Value = serde_json::from_slice(&B64URL.decode(payload).ok()?).ok()?;
    json.get(name)?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_valid_rfc_6750_error_descriptions() {
        let all = [
            TokenError::Malformed,
            TokenError::AlgorithmNotAccepted,
            TokenError::UnknownKey,
            TokenError::BadSignature,
            TokenError::NotAnAccessToken,
            TokenError::MalformedClaims,
            TokenError::MissingClaim("jti"),
            TokenError::InvalidClaim("tenant"),
            TokenError::WrongIssuer,
            TokenError::WrongAudience,
            TokenError::Expired,
            TokenError::NotYetValid,
            TokenError::Revoked,
        ];
        for e in all {
            let text = e.to_string();
            // error-description = 1*( %x20-21 / %x23-5B / %x5D-7E )
            assert!(text.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)), "{text}");
            assert_eq!(e.error_code(), "invalid_token");
        }
    }

    #[test]
    fn algorithm_names_are_exact() {
        for alg in SignatureAlgorithm::ALL {
            assert_eq!(SignatureAlgorithm::from_name(alg.as_str()), Some(alg));
        }
        for name in ["none", "None", "HS256", "HS512", "es256", "ES256K", ""] {
            assert_eq!(SignatureAlgorithm::from_name(name), None, "{name}");
        }
    }

    #[test]
    fn typ_policy() {
        let strict = TypPolicy::AccessTokenOnly;
        assert!(strict.accepts(Some("at+jwt")) && strict.accepts(Some("application/at+JWT")));
        assert!(!strict.accepts(Some("JWT")) && !strict.accepts(None));
        let lax = TypPolicy::AccessTokenOrJwt;
        assert!(lax.accepts(Some("JWT")) && lax.accepts(None) && lax.accepts(Some("at+jwt")));
        assert!(!lax.accepts(Some("id+jwt")) && !lax.accepts(Some("dpop+jwt")));
    }
}

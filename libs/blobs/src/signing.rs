//! Canopy's own signed URLs, for the objects of a local store (which Canopy serves itself).
//!
//! Format (path and query; the public base URL goes in front):
//!
//! ```text
//! /blobs/{base64url(object key)}?exp={unix seconds}&kid={key id}[&max={bytes}][&ct={content type}]&sig={base64url(HMAC)}
//! ```
//!
//! `sig` is HMAC-SHA256, under the key named by `kid`, of
//! `canopy/blob-url/v1 \n kid \n METHOD \n object key \n exp \n max|- \n ct|-`, every field as it
//! appears in the URL (after percent-decoding). So the signature binds the method (a `PUT` URL
//! does not verify for a `GET`; the method is not in the URL, it is the request's), the one
//! object (the key decoded from the path), the expiry, the upload's size limit and the content
//! type; changing, adding or removing any of them, or the key id, breaks it. Unknown or repeated
//! query parameters are refused. Verification checks the signature (constant time, `hmac`'s
//! `verify_slice`) before it looks at the expiry.
//!
//! Keys are never configured on their own: [`SigningKey::derive`] derives one from the
//! deployment's secret key (`Sealer::derive_key("blob-url/v1")`), its `kid` being the
//! deployment key's id. After the deployment key is rotated, URLs signed under the previous one
//! still verify, by their `kid`, as long as the previous key is given to
//! [`UrlSigner::accept_also`] (they are short-lived anyway).
//!
//! Signed URLs are bearer secrets: [`SignedUrl`]'s `Debug` and `Display` hide the signature, and
//! [`SignedUrl::redacted`] is what may be logged.

use crate::key::BlobKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use canopy_secrets::Sealer;
use chrono::{DateTime, Utc};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// Where Canopy serves signed blob URLs.
pub const URL_PATH_PREFIX: &str = "/blobs/";
/// The purpose under which blob URL keys are derived from the deployment key.
const KEY_PURPOSE: &str = "blob-url/v1";
const DOMAIN: &str = "canopy/blob-url/v1";
/// Longest content type a URL may carry.
const MAX_CONTENT_TYPE: usize = 200;

/// The two things a signed URL can allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobMethod {
    Get,
    Put,
}

impl BlobMethod {
    fn as_str(self) -> &'static str {
        match self {
            BlobMethod::Get => "GET",
            BlobMethod::Put => "PUT",
        }
    }

    pub fn to_http(self) -> http::Method {
        match self {
            BlobMethod::Get => http::Method::GET,
            BlobMethod::Put => http::Method::PUT,
        }
    }
}

/// What a signed URL allows: one method on one object until `expires_at`, with an upload's
/// size limit and the content type to store or serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub method: BlobMethod,
    pub key: BlobKey,
    pub expires_at: DateTime<Utc>,
    /// Required for `PUT`: the most bytes the upload may have.
    pub max_bytes: Option<u64>,
    pub content_type: Option<String>,
}

impl Grant {
    pub fn download(key: BlobKey, content_type: Option<String>, expires_at: DateTime<Utc>) -> Self {
        Self { method: BlobMethod::Get, key, expires_at, max_bytes: None, content_type }
    }

    pub fn upload(key: BlobKey, max_bytes: u64, content_type: Option<String>, expires_at: DateTime<Utc>) -> Self {
        Self { method: BlobMethod::Put, key, expires_at, max_bytes: Some(max_bytes), content_type }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("a key id must be 1 to 64 letters, digits, '-' or '_'")]
    BadKeyId,
    #[error("a content type must be printable ASCII of at most {MAX_CONTENT_TYPE} characters")]
    BadContentType,
    #[error("an upload URL needs a size limit")]
    UploadWithoutLimit,
}

/// Why a signed URL was refused. All of them are `401 UNAUTHORIZED` to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the signed URL is malformed: {0}")]
    Malformed(&'static str),
    #[error("the signed URL was signed with a key this deployment does not have")]
    UnknownKey,
    #[error("the signed URL's signature does not match (altered, or used for another object or method)")]
    BadSignature,
    #[error("the signed URL has expired")]
    Expired,
    #[error("signed URLs allow only GET, HEAD and PUT")]
    Method,
}

/// One HMAC key with its id.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    key: [u8; 32],
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.kid)
    }
}

impl SigningKey {
    /// The blob URL key of a deployment: derived from its secret key, named by its key id.
    pub fn derive(sealer: &Sealer) -> Self {
        Self { kid: sealer.key_id().to_string(), key: sealer.derive_key(KEY_PURPOSE) }
    }

    /// A key given explicitly (tests; keys derived elsewhere).
    pub fn new(kid: impl Into<String>, key: [u8; 32]) -> Result<Self, SignError> {
        let kid = kid.into();
        let valid = !kid.is_empty()
            && kid.len() <= 64
            && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(SignError::BadKeyId);
        }
        Ok(Self { kid, key })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    fn mac(&self, fields: &Fields<'_>) -> Hmac<Sha256> {
        // HMAC pads a short key with zeros to the hash's block (64 bytes); padding it here
        // gives the same MAC as `new_from_slice`, through the constructor that cannot fail.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.key);
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
        for part in [
            DOMAIN,
            &self.kid,
            fields.method,
            fields.key,
            fields.exp,
            fields.max.unwrap_or("-"),
            fields.ct.unwrap_or("-"),
        ] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac
    }
}

/// The fields of a URL that the signature covers, as they appear in it.
struct Fields<'a> {
    method: &'a str,
    key: &'a str,
    exp: &'a str,
    max: Option<&'a str>,
    ct: Option<&'a str>,
}

/// Signs with the current key; verifies with it and with older keys, by `kid`.
#[derive(Clone, Debug)]
pub struct UrlSigner {
    current: SigningKey,
    older: Vec<SigningKey>,
}

impl UrlSigner {
    pub fn new(current: SigningKey) -> Self {
        Self { current, older: Vec::new() }
    }

    /// The signer of a deployment: [`SigningKey::derive`] of its secret key.
    pub fn from_sealer(sealer: &Sealer) -> Self {
        Self::new(SigningKey::derive(sealer))
    }

    /// Also accept URLs signed with `key` (a previous deployment key's, after a rotation).
    pub fn accept_also(mut self, key: SigningKey) -> Self {
        self.older.push(key);
        self
    }

    /// The URL (path and query, relative to Canopy's public base) that allows `grant`.
    pub fn sign(&self, grant: &Grant) -> Result<SignedUrl, SignError> {
        if let Some(ct) = &grant.content_type {
            let printable = ct.bytes().all(|b| (0x20..0x7f).contains(&b));
            if ct.is_empty() || ct.len() > MAX_CONTENT_TYPE || !printable {
                return Err(SignError::BadContentType);
            }
        }
        if grant.method == BlobMethod::Put && grant.max_bytes.is_none() {
            return Err(SignError::UploadWithoutLimit);
        }
        let exp = grant.expires_at.timestamp().to_string();
        let max = grant.max_bytes.map(|m| m.to_string());
        let fields = Fields {
            method: grant.method.as_str(),
            key: grant.key.as_str(),
            exp: &exp,
            max: max.as_deref(),
            ct: grant.content_type.as_deref(),
        };
        let sig = B64URL.encode(self.current.mac(&fields).finalize().into_bytes());
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("exp", &exp).append_pair("kid", &self.current.kid);
        if let Some(max) = &max {
            query.append_pair("max", max);
        }
        if let Some(ct) = &grant.content_type {
            query.append_pair("ct", ct);
        }
        query.append_pair("sig", &sig);
        let url = format!("{URL_PATH_PREFIX}{}?{}", B64URL.encode(grant.key.as_str()), query.finish());
        Ok(SignedUrl { url, expires_at: truncate_to_seconds(grant.expires_at) })
    }

    /// Checks a request to `{URL_PATH_PREFIX}{token}?{query}` made with `method` at `now`, and
    /// returns what it allows. `HEAD` is checked as `GET`.
    pub fn verify(
        &self,
        method: &http::Method,
        token: &str,
        query: &str,
        now: DateTime<Utc>,
    ) -> Result<Grant, UrlError> {
        let blob_method = match *method {
            http::Method::GET | http::Method::HEAD => BlobMethod::Get,
            http::Method::PUT => BlobMethod::Put,
            _ => return Err(UrlError::Method),
        };
        let key_bytes = B64URL.decode(token).map_err(|_| UrlError::Malformed("the object part is not base64url"))?;
        let key_str = String::from_utf8(key_bytes).map_err(|_| UrlError::Malformed("the object part is not UTF-8"))?;
        let key = BlobKey::parse(&key_str).map_err(|_| UrlError::Malformed("the object part is not an object key"))?;

        let query = Query::parse(query)?;
        let exp = query.exp.ok_or(UrlError::Malformed("exp is missing"))?;
        let kid = query.kid.ok_or(UrlError::Malformed("kid is missing"))?;
        let sig = query.sig.ok_or(UrlError::Malformed("sig is missing"))?;
        let sig = B64URL.decode(sig.as_bytes()).map_err(|_| UrlError::Malformed("sig is not base64url"))?;

        let signing_key =
            std::iter::once(&self.current).chain(&self.older).find(|k| k.kid == kid).ok_or(UrlError::UnknownKey)?;
        let fields = Fields {
            method: blob_method.as_str(),
            key: key.as_str(),
            exp: &exp,
            max: query.max.as_deref(),
            ct: query.ct.as_deref(),
        };
        signing_key.mac(&fields).verify_slice(&sig).map_err(|_| UrlError::BadSignature)?;

        // Signed by us from here on, so the fields parse; a failure would still be refused.
        let exp: i64 = exp.parse().map_err(|_| UrlError::Malformed("exp is not a number"))?;
        let expires_at = DateTime::<Utc>::from_timestamp(exp, 0).ok_or(UrlError::Malformed("exp is out of range"))?;
        if now >= expires_at {
            return Err(UrlError::Expired);
        }
        let max_bytes = match query.max {
            Some(max) => Some(max.parse().map_err(|_| UrlError::Malformed("max is not a number"))?),
            None => None,
        };
        if blob_method == BlobMethod::Put && max_bytes.is_none() {
            return Err(UrlError::Malformed("an upload URL needs max"));
        }
        Ok(Grant { method: blob_method, key, expires_at, max_bytes, content_type: query.ct })
    }
}

/// The query of a signed URL, read strictly: each known parameter at most once, nothing else.
#[derive(Default)]
struct Query {
    exp: Option<String>,
    kid: Option<String>,
    max: Option<String>,
    ct: Option<String>,
    sig: Option<String>,
}

impl Query {
    fn parse(query: &str) -> Result<Self, UrlError> {
        let mut parsed = Query::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match name.as_ref() {
                "exp" => &mut parsed.exp,
                "kid" => &mut parsed.kid,
                "max" => &mut parsed.max,
                "ct" => &mut parsed.ct,
                "sig" => &mut parsed.sig,
                _ => return Err(UrlError::Malformed("unknown query parameter")),
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(UrlError::Malformed("repeated query parameter"));
            }
        }
        Ok(parsed)
    }
}

fn truncate_to_seconds(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(at.timestamp(), 0).unwrap_or(at)
}

/// Query parameters that make a URL usable (ours, and S3's presigned ones): hidden when shown.
const SECRET_PARAMS: &[&str] = &["sig", "X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Credential"];

/// A signed URL: a bearer secret until `expires_at`. `Debug` and `Display` show it with its
/// signature hidden; [`SignedUrl::expose`] gives the real one, for the client it is meant for.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedUrl {
    url: String,
    expires_at: DateTime<Utc>,
}

impl SignedUrl {
    pub(crate) fn new(url: String, expires_at: DateTime<Utc>) -> Self {
        Self { url, expires_at }
    }

    /// The URL itself, to hand to the one client it is for. Never log it.
    pub fn expose(&self) -> &str {
        &self.url
    }

    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    /// The same URL with `base` (Canopy's public base URL, e.g. `https://canopy.example.com`)
    /// in front of a relative one.
    pub fn with_base(self, base: &str) -> Self {
        if self.url.starts_with('/') {
            Self { url: format!("{}{}", base.trim_end_matches('/'), self.url), expires_at: self.expires_at }
        } else {
            self
        }
    }

    /// The URL with the values of its signature parameters replaced by `REDACTED`: what may
    /// appear in a log.
    pub fn redacted(&self) -> String {
        redact(&self.url)
    }
}

impl fmt::Display for SignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for SignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedUrl").field("url", &self.redacted()).field("expires_at", &self.expires_at).finish()
    }
}

/// `url` with the values of [`SECRET_PARAMS`] replaced.
pub fn redact(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else { return url.to_string() };
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            if SECRET_PARAMS.iter().any(|secret| secret.eq_ignore_ascii_case(name)) {
                format!("{name}=REDACTED")
            } else {
                pair.to_string()
            }
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_never_shows_in_debug_display_or_redacted() {
        let tenant = canopy_domain::ids::TenantId::parse("acme").unwrap();
        let key = BlobKey::job_artifact(&tenant, "job_1", "out.json").unwrap();
        let signer = UrlSigner::new(SigningKey::new("k1", [7; 32]).unwrap());
        let url = signer.sign(&Grant::download(key, None, Utc::now())).unwrap();
        let sig = url.expose().split("sig=").nth(1).unwrap().to_string();
        assert!(sig.len() > 20);
        for shown in [format!("{url}"), format!("{url:?}"), url.redacted()] {
            assert!(!shown.contains(&sig), "{shown}");
            assert!(shown.contains("sig=REDACTED"), "{shown}");
        }
        let s3 = "https://s3/b/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc123&X-Amz-Expires=60";
        assert_eq!(redact(s3), "https://s3/b/k?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Expires=60");
    }
}

//! Signed URLs, data-driven: every way of altering or misusing a valid URL is refused, with
//! the reason; a valid one is accepted; a rotated key still verifies by its kid; the key is
//! derived from the deployment key.

use crate::support::tenant;
use canopy_blobs::{BlobKey, BlobMethod, Grant, SignedUrl, SigningKey, UrlError, UrlSigner, URL_PATH_PREFIX};
use canopy_secrets::Sealer;
use chrono::{DateTime, Duration, Utc};
use http::Method;

/// A URL split the way the server sees it.
#[derive(Clone, Debug)]
struct Request {
    method: Method,
    token: String,
    query: String,
}

impl Request {
    fn of(method: Method, url: &SignedUrl) -> Self {
        let rest = url.expose().strip_prefix(URL_PATH_PREFIX).unwrap();
        let (token, query) = rest.split_once('?').unwrap();
        Self { method, token: token.into(), query: query.into() }
    }

    fn param(&self, name: &str) -> String {
        self.query.split('&').find_map(|p| p.strip_prefix(&format!("{name}="))).unwrap().to_string()
    }

    fn set(mut self, name: &str, value: &str) -> Self {
        let old = format!("{name}={}", self.param(name));
        self.query = self.query.replace(&old, &format!("{name}={value}"));
        self
    }

    fn without(mut self, name: &str) -> Self {
        self.query =
            self.query.split('&').filter(|p| !p.starts_with(&format!("{name}="))).collect::<Vec<_>>().join("&");
        self
    }

    fn with(mut self, pair: &str) -> Self {
        self.query = format!("{}&{pair}", self.query);
        self
    }
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// Flips one character of `s` (the middle one) to another base64url character.
fn flip(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

fn key(tenant_name: &str, input: &str) -> BlobKey {
    BlobKey::job_input(&tenant(tenant_name), input, "data.csv").unwrap()
}

#[test]
fn every_alteration_or_misuse_of_a_signed_url_is_refused() {
    let now: DateTime<Utc> = "2026-12-06T12:00:00Z".parse().unwrap();
    let k1 = SigningKey::new("k1", [1; 32]).unwrap();
    let k0 = SigningKey::new("k0", [9; 32]).unwrap();
    let signer = UrlSigner::new(k1.clone()).accept_also(k0.clone());
    let expires = now + Duration::seconds(600);
    let up = signer.sign(&Grant::upload(key("acme", "inp_1"), 1000, Some("text/csv".into()), expires)).unwrap();
    let down = signer.sign(&Grant::download(key("acme", "inp_1"), None, expires)).unwrap();
    let put = Request::of(Method::PUT, &up);
    let get = Request::of(Method::GET, &down);
    let exp = put.param("exp");

    let refused: Vec<(&str, Request, DateTime<Utc>, UrlError)> = vec![
        ("signature altered", put.clone().set("sig", &flip(&put.param("sig"))), now, UrlError::BadSignature),
        ("signature of the download URL", put.clone().set("sig", &get.param("sig")), now, UrlError::BadSignature),
        (
            "expiry moved later",
            put.clone().set("exp", &(exp.parse::<i64>().unwrap() + 1).to_string()),
            now,
            UrlError::BadSignature,
        ),
        ("expiry written with a leading zero", put.clone().set("exp", &format!("0{exp}")), now, UrlError::BadSignature),
        ("size limit raised", put.clone().set("max", "1000000"), now, UrlError::BadSignature),
        ("size limit removed", put.clone().without("max"), now, UrlError::BadSignature),
        ("content type changed", put.clone().set("ct", "text%2Fhtml"), now, UrlError::BadSignature),
        ("content type removed", put.clone().without("ct"), now, UrlError::BadSignature),
        ("content type added to a download", get.clone().with("ct=text%2Fhtml"), now, UrlError::BadSignature),
        ("size limit added to a download", get.clone().with("max=10"), now, UrlError::BadSignature),
        ("kid switched to another known key", put.clone().set("kid", "k0"), now, UrlError::BadSignature),
        ("kid unknown", put.clone().set("kid", "k7"), now, UrlError::UnknownKey),
        (
            "another object of the tenant",
            Request { token: b64(key("acme", "inp_2").as_str()), ..put.clone() },
            now,
            UrlError::BadSignature,
        ),
        (
            "another tenant's object",
            Request { token: b64(key("globex", "inp_1").as_str()), ..put.clone() },
            now,
            UrlError::BadSignature,
        ),
        (
            "the object part is not a key",
            Request { token: b64("tenants/acme/../globex/x"), ..put.clone() },
            now,
            UrlError::Malformed("the object part is not an object key"),
        ),
        (
            "the object part is not base64url",
            Request { token: "***".into(), ..put.clone() },
            now,
            UrlError::Malformed("the object part is not base64url"),
        ),
        ("upload URL used to download", Request { method: Method::GET, ..put.clone() }, now, UrlError::BadSignature),
        ("download URL used to upload", Request { method: Method::PUT, ..get.clone() }, now, UrlError::BadSignature),
        ("download URL used to delete", Request { method: Method::DELETE, ..get.clone() }, now, UrlError::Method),
        ("expired (at its expiry)", put.clone(), expires, UrlError::Expired),
        ("expired (long after)", get.clone(), expires + Duration::days(1), UrlError::Expired),
        (
            "expired, with its expiry moved",
            put.clone().set("exp", &(expires + Duration::days(2)).timestamp().to_string()),
            expires + Duration::days(1),
            UrlError::BadSignature,
        ),
        ("signature missing", put.clone().without("sig"), now, UrlError::Malformed("sig is missing")),
        ("expiry missing", put.clone().without("exp"), now, UrlError::Malformed("exp is missing")),
        ("kid missing", put.clone().without("kid"), now, UrlError::Malformed("kid is missing")),
        (
            "a parameter repeated",
            put.clone().with(&format!("max={}", put.param("max"))),
            now,
            UrlError::Malformed("repeated query parameter"),
        ),
        ("an unknown parameter", put.clone().with("admin=1"), now, UrlError::Malformed("unknown query parameter")),
    ];
    for (case, request, at, expected) in refused {
        let outcome = signer.verify(&request.method, &request.token, &request.query, at);
        assert_eq!(outcome, Err(expected), "{case}: {request:?}");
    }

    // The untouched URLs are accepted, and say what they allow.
    let grant = signer.verify(&Method::PUT, &put.token, &put.query, now).unwrap();
    assert_eq!(grant, Grant::upload(key("acme", "inp_1"), 1000, Some("text/csv".into()), expires));
    let grant = signer.verify(&Method::GET, &get.token, &get.query, expires - Duration::seconds(1)).unwrap();
    assert_eq!((grant.method, grant.key), (BlobMethod::Get, key("acme", "inp_1")));
    // HEAD is a GET.
    assert!(signer.verify(&Method::HEAD, &get.token, &get.query, now).is_ok());

    // After a rotation: a URL signed with the old key verifies by its kid, while the old key
    // is still accepted, and not after.
    let old_url = UrlSigner::new(k0.clone()).sign(&Grant::download(key("acme", "inp_1"), None, expires)).unwrap();
    let old = Request::of(Method::GET, &old_url);
    assert_eq!(old.param("kid"), "k0");
    assert!(signer.verify(&Method::GET, &old.token, &old.query, now).is_ok());
    let without_old = UrlSigner::new(k1);
    assert_eq!(without_old.verify(&Method::GET, &old.token, &old.query, now), Err(UrlError::UnknownKey));
}

#[test]
fn signing_refuses_what_could_not_be_verified_or_served() {
    let signer = UrlSigner::new(SigningKey::new("k1", [1; 32]).unwrap());
    let at = Utc::now();
    let mut upload = Grant::upload(key("acme", "inp_1"), 10, None, at);
    upload.max_bytes = None;
    assert!(signer.sign(&upload).is_err());
    for bad in ["", "text/csv\r\nX-Injected: 1", "tëxt/csv"] {
        assert!(signer.sign(&Grant::download(key("acme", "inp_1"), Some(bad.into()), at)).is_err(), "{bad:?}");
    }
    assert!(SigningKey::new("", [0; 32]).is_err());
    assert!(SigningKey::new("k&sig=x", [0; 32]).is_err());
}

#[test]
fn the_url_key_comes_from_the_deployment_key() {
    let deployment_key = Sealer::generate_key();
    let a = Sealer::from_base64(&deployment_key).unwrap();
    let b = Sealer::from_base64(&deployment_key).unwrap();
    let other = Sealer::from_base64(&Sealer::generate_key()).unwrap();
    let expires = Utc::now() + Duration::minutes(5);
    let grant = Grant::download(key("acme", "inp_1"), None, expires);

    let url = UrlSigner::from_sealer(&a).sign(&grant).unwrap();
    let request = Request::of(Method::GET, &url);
    assert_eq!(request.param("kid"), a.key_id());
    // Another process with the same deployment key verifies it; a deployment with another key
    // does not know its kid.
    assert!(UrlSigner::from_sealer(&b).verify(&Method::GET, &request.token, &request.query, Utc::now()).is_ok());
    let foreign = UrlSigner::from_sealer(&other);
    assert_eq!(foreign.verify(&Method::GET, &request.token, &request.query, Utc::now()), Err(UrlError::UnknownKey));
    // Nor does the same kid with another secret verify (the key is not the kid).
    let impostor = UrlSigner::new(SigningKey::new(a.key_id(), [0; 32]).unwrap());
    assert_eq!(impostor.verify(&Method::GET, &request.token, &request.query, Utc::now()), Err(UrlError::BadSignature));
}

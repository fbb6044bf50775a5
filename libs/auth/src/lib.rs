//! The security core of Canopy's OAuth 2.1 authorization server (in `api`) and resource server
//! (in `gateway-edge`). No HTTP here: the services parse requests and call these functions.
//!
//! # The model
//!
//! **Access tokens** are JWTs in the RFC 9068 profile (`typ: at+jwt`), signed with **ES256**
//! (ECDSA P-256, SHA-256): `iss`, `sub`, `aud` (the resource URL the client asked for with an
//! RFC 8707 `resource` parameter), `exp`, `iat`, `nbf`, `jti`, `client_id`, `scope`
//! (space-separated) and `tenant`. A resource server checks them offline with the issuer's public
//! keys ([`KeyRing::verify`]), strictly: the algorithm must be exactly the one the key is for
//! (`none`, HMAC and every other algorithm are refused before any key is touched), the `kid` must
//! name a known key, the issuer must match exactly, the audience must contain the resource, the
//! times must hold within [`CLOCK_LEEWAY_SECONDS`], every required claim must be present and the
//! `jti` must not be revoked. Each failure is a [`TokenError`] whose text is a ready RFC 6750
//! `error_description` for `error="invalid_token"`.
//!
//! **Signing keys** live in a [`KeyRing`]: one current key signs, older keys still verify until
//! they are retired, so [`KeyRing::rotate`] never invalidates tokens in flight. Retire a key once
//! the longest access-token lifetime has passed since it was rotated out
//! ([`KeyRing::retire_rotated_before`]). Every token names its key (`kid`, the RFC 7638 thumbprint
//! of the public key); [`KeyRing::jwks`] is the RFC 7517 document for `jwks_uri`. At rest a ring is
//! a [`SealedKeyRing`]: each private key sealed with the deployment's [`canopy_secrets::Sealer`],
//! bound to its owner and `kid`, never plaintext.
//!
//! **External issuers** ([`ExternalIssuer`]): a tenant may trust its own authorization server
//! instead. Given that server's JWKS, its tokens get the same checks; their tenant comes from the
//! configuration, never from the token.
//!
//! **Opaque secrets** (client secrets, refresh tokens, authorization codes, static API tokens):
//! 256 random bits, base64url, with a prefix naming the kind ([`OpaqueSecret`]). Only their
//! HMAC-SHA256 under a key derived from the deployment key is stored ([`SecretHasher`]): a copy
//! of the database alone cannot test a guess, not even for a weak custom API token. Comparisons
//! are constant-time.
//!
//! **PKCE** ([`PkceChallenge`]): S256 only (RFC 7636; `plain`, or no method, is refused), with
//! the verifier's length and alphabet checked and a constant-time comparison.
//!
//! **Refresh tokens** ([`RefreshStore`], Postgres): one *family* per grant. Each refresh marks the
//! presented token used and returns the next one; presenting a used token again is treated as
//! theft and revokes the whole family (OAuth 2.1 section 4.3.1, RFC 9700 section 4.14.2). Two
//! concurrent refreshes with one token are indistinguishable from theft: exactly one succeeds,
//! the other sees a used token, and the family (with the winner's new token) is revoked.
//! These tables are credential state, not domain state: written here directly, not through
//! events, and not rebuilt by `canopy rebuild`.
//!
//! Nothing secret is printed by `Debug`: tokens, secrets, private keys and the hashing key show
//! as `***` or not at all.

mod access;
mod external;
mod id_token;
mod jwt;
mod keys;
mod pkce;
mod refresh;
mod ring_store;
mod scope;
mod secret;

pub use access::{AccessClaims, AccessToken, AccessTokenSpec, IssueError, IssuedAccessToken};
pub use external::{unverified_audience, unverified_issuer, ExternalIssuer};
pub use id_token::{verify_id_token, IdTokenClaims};
pub use jwt::{JwksError, SignatureAlgorithm, TokenError, TypPolicy, VerifyingKeys, CLOCK_LEEWAY_SECONDS};
pub use keys::{Jwks, KeyError, KeyRing, PublicJwk, SealedKeyRing, SealedSigningKey, SigningKey};
pub use pkce::{PkceChallenge, PkceError};
pub use refresh::{
    FamilyId, IssuedRefresh, NewGrant, RefreshError, RefreshGrant, RefreshStore, RevocationReason, RotatedRefresh,
};
pub use ring_store::{revoked_jti_key, KeyRingStore, RingStoreError, StoredRing};
pub use scope::{is_valid_scope_token, parse_scope};
pub use secret::{constant_time_eq, OpaqueSecret, SecretHash, SecretHasher, SecretKind};

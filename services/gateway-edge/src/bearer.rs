//! Authentication at the edge. In enterprise mode every request to an MCP endpoint carries
//! `Authorization: Bearer TOKEN`: the token's keyed digest finds its principal in the identity
//! cache (no database query), which goes into the request's extensions for the handler. A
//! missing or unknown token is 401 with `WWW-Authenticate: Bearer resource_metadata="..."`
//! pointing at the endpoint's protected-resource metadata (RFC 9728), served here too. The
//! client's token goes no further: calls reach upstreams as NATS messages that carry the
//! principal's subject, and workers use the registration's own credentials.
//!
//! Sessions are bound to the principal that opened them: the edge that answers `initialize`
//! records the new session's owner in Redis (`PREFIX:mcp:owner:SESSION`, with the session's
//! lifetime), and every edge refuses a request on a session that another principal (or nobody)
//! owns with the 404 of an unknown session, not 403: the session id must not be confirmed to
//! someone else, and a client that gets 404 starts a session of its own. A token rotated for
//! the same identity keeps its sessions.
//!
//! OAuth access tokens (a JWT, or with an introspecting external issuer an opaque token that is
//! no static token) are checked by `canopy-bearer` for the resource the request is to (exactly
//! the endpoint's URL, as its metadata's `resource` says). The principal is then the identity
//! cache's current principal for the token's tenant and subject, narrowed by the token's
//! scopes; a token naming no existing identity is refused like an unknown one. From there on a
//! token's principal is treated exactly as a static token's: sessions, scopes, policy.
//!
//! The protected-resource metadata (RFC 9728, `resource` = the URL the client uses) is served
//! for `/` and every endpoint path; it names the configured `gateway.authorization_servers`, or,
//! in enterprise mode without them, Canopy's own issuer. A session opened with an OAuth access
//! token also records that token's scopes, for its notifications ([`crate::audience`]).
//!
//! Development mode authenticates nothing: every request is [`Principal::development`].

use crate::access::{self, RequestPrincipal};
use crate::cache::CatalogCache;
use crate::redis_store::RedisStores;
use crate::{EdgeState, Mode};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use canopy_admission::Scope;
use canopy_bearer::{AccessTokens, BearerError};
use canopy_policy::{Action, Decision, Denial, Principal, Scopes};
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";
const SESSION_HEADER: &str = "mcp-session-id";

/// How the edge describes itself as an OAuth protected resource.
#[derive(Debug, Clone)]
pub struct ProtectedResource {
    /// The URL clients reach the gateway at (no trailing slash), e.g. `https://mcp.example.com`.
    pub public_base: String,
    /// Authorization servers whose tokens clients should get (RFC 9728
    /// `authorization_servers`); empty until one is configured.
    pub authorization_servers: Vec<String>,
}

impl ProtectedResource {
    /// The resource identifier of the endpoint at `path`: exactly the URL clients use.
    fn resource(&self, path: &str) -> String {
        format!("{}{path}", self.public_base)
    }

    /// Where the metadata of the resource at `path` is (RFC 9728 section 3.1: the well-known
    /// segment goes between the host and the resource's path).
    fn metadata_url(&self, path: &str) -> String {
        let (origin, base_path) = split_origin(&self.public_base);
        format!("{origin}{METADATA_PATH}{base_path}{path}")
    }

    fn document(&self, path: &str) -> serde_json::Value {
        let scopes: Vec<&str> = [Scopes::TOOLS, Scopes::PROMPTS, Scopes::RESOURCES]
            .into_iter()
            .chain(canopy_policy::BUILTIN_SCOPES)
            .collect();
        let mut doc = serde_json::json!({
            "resource": self.resource(path),
            "bearer_methods_supported": ["header"],
            "scopes_supported": scopes,
            "resource_name": "Canopy MCP gateway",
        });
        if !self.authorization_servers.is_empty() {
            doc["authorization_servers"] = serde_json::json!(self.authorization_servers);
        }
        doc
    }

    /// `WWW-Authenticate` for a request to `path` without a usable token: no token at all, or
    /// one refused (`error="invalid_token"` with its `error_description`).
    fn challenge(&self, path: &str, refused: Option<&str>) -> String {
        let metadata = self.metadata_url(path);
        match refused {
            None => format!("Bearer resource_metadata=\"{metadata}\""),
            Some(description) => format!(
                "Bearer error=\"invalid_token\", error_description=\"{description}\", resource_metadata=\"{metadata}\""
            ),
        }
    }
}

/// `https://host:port/some/path` -> (`https://host:port`, `/some/path`).
fn split_origin(base: &str) -> (&str, &str) {
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    match base[authority_start..].find('/') {
        Some(i) => base.split_at(authority_start + i),
        None => (base, ""),
    }
}

/// The metadata routes: `/.well-known/oauth-protected-resource` (the gateway as a whole) and
/// one path-suffixed variant per MCP endpoint path (`.../mcp`, `.../servers/NAME/mcp`, ...).
/// Public, like every discovery document; a server or group name is not looked up, so the
/// document confirms nothing.
pub(crate) fn metadata_routes(resource: Arc<ProtectedResource>) -> axum::Router {
    let root = resource.clone();
    axum::Router::new().route(METADATA_PATH, axum::routing::get(move || metadata(root.clone(), String::new()))).route(
        &format!("{METADATA_PATH}/{{*path}}"),
        axum::routing::get(move |axum::extract::Path(path): axum::extract::Path<String>| {
            metadata(resource.clone(), path)
        }),
    )
}

async fn metadata(resource: Arc<ProtectedResource>, suffix: String) -> Response {
    let (_, base_path) = split_origin(&resource.public_base);
    let path = match suffix.as_str() {
        "" => String::new(),
        suffix => {
            // Behind a proxy that keeps the public URL's path, the suffix starts with it.
            let suffix = format!("/{suffix}");
            let path = suffix.strip_prefix(base_path).filter(|p| p.starts_with('/')).unwrap_or(&suffix).to_string();
            if Scope::from_path(&path).is_none() {
                return (StatusCode::NOT_FOUND, "no MCP endpoint there").into_response();
            }
            path
        }
    };
    let headers = [(CONTENT_TYPE, "application/json"), (http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")];
    (headers, resource.document(&path).to_string()).into_response()
}

/// The middleware of every MCP route.
#[derive(Clone)]
pub(crate) struct Authenticator {
    pub state: EdgeState,
    pub resource: Arc<ProtectedResource>,
    pub owners: Arc<SessionOwners>,
    /// OAuth access tokens (enterprise mode); `None`: static tokens only.
    pub tokens: Option<Arc<AccessTokens>>,
}

/// How long an unknown token waits for the identity cache, which follows the API a few
/// milliseconds behind: a client created a moment ago is not told its token is wrong.
const TOKEN_PATIENCE: Duration = Duration::from_millis(300);

pub(crate) async fn authenticate(State(auth): State<Arc<Authenticator>>, mut request: Request, next: Next) -> Response {
    if auth.state.mode == Mode::Development {
        static DEVELOPMENT: OnceLock<Arc<Principal>> = OnceLock::new();
        let principal = DEVELOPMENT.get_or_init(|| Arc::new(Principal::development())).clone();
        request.extensions_mut().insert(RequestPrincipal(principal));
        return next.run(request).await;
    }
    let path = request.uri().path().to_string();
    let resource = &auth.resource;
    let unauthorized = |refused: Option<&str>, message: &str| {
        let challenge = HeaderValue::from_str(&resource.challenge(&path, refused))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer error=\"invalid_token\""));
        (StatusCode::UNAUTHORIZED, [(WWW_AUTHENTICATE, challenge)], message.to_string()).into_response()
    };
    if !auth.state.cache.is_ready() {
        let retry = [(http::header::RETRY_AFTER, "1")];
        return (StatusCode::SERVICE_UNAVAILABLE, retry, "the gateway is catching up with the event log")
            .into_response();
    }
    let Some(token) = bearer_token(request.headers()) else {
        return unauthorized(None, "this MCP endpoint needs Authorization: Bearer <token>");
    };
    let principal = match principal_of(&auth, token, &path).await {
        Ok(principal) => principal,
        Err(BearerError::InvalidToken(description)) => {
            return unauthorized(Some(&description), &format!("the token is not valid: {description}"))
        }
        Err(BearerError::Unavailable(message)) => {
            let retry = [(http::header::RETRY_AFTER, "1")];
            return (StatusCode::SERVICE_UNAVAILABLE, retry, message).into_response();
        }
    };
    let session = header(request.headers(), SESSION_HEADER);
    for named in session.iter().chain(session_of_last_event(request.headers()).as_ref()) {
        match auth.owners.owner(named).await {
            Ok(Some(owner)) if owner.is(&principal) => {}
            Ok(_) => return session_not_found(),
            Err(e) => {
                tracing::warn!(error = %e, "session owner not readable");
                return (StatusCode::SERVICE_UNAVAILABLE, "sessions are unavailable").into_response();
            }
        }
    }
    if let Some(refused) = insufficient_scope(&auth.state.cache, &auth.resource, &principal, &request) {
        return refused;
    }
    let deleting = request.method() == Method::DELETE;
    request.extensions_mut().insert(RequestPrincipal(principal.clone()));
    let response = next.run(request).await;
    match (&session, header(response.headers(), SESSION_HEADER)) {
        (None, Some(opened)) => {
            if let Err(e) = auth.owners.bind(&opened, &principal).await {
                // A session nobody owns is refused on every request: fail now, not later.
                tracing::warn!(error = %e, "a new session could not be bound to its principal");
                return (StatusCode::SERVICE_UNAVAILABLE, "sessions are unavailable").into_response();
            }
        }
        (Some(closed), _) if deleting && response.status().is_success() => auth.owners.forget(closed).await,
        _ => {}
    }
    response
}

/// The principal a token stands for: an OAuth access token's (a JWT; an opaque token only an
/// introspecting issuer knows), or a static token's, found by its digest.
async fn principal_of(auth: &Authenticator, token: &str, path: &str) -> Result<Arc<Principal>, BearerError> {
    let tokens = auth.tokens.as_deref();
    if let Some(tokens) = tokens.filter(|_| AccessTokens::is_jwt(token)) {
        return verified_principal(auth, tokens, token, path).await;
    }
    let digest = auth.state.sealer.token_digest(token);
    let identities = auth.state.cache.identities();
    if let Some(principal) = identities.principal(&digest) {
        return Ok(principal);
    }
    if let Some(tokens) = tokens.filter(|t| t.introspects(token)) {
        return match verified_principal(auth, tokens, token, path).await {
            // Not the issuer's: maybe a static token created a moment ago.
            Err(BearerError::InvalidToken(description)) => {
                crate::caught_up_within(TOKEN_PATIENCE, || identities.principal(&digest).is_some()).await;
                identities.principal(&digest).ok_or(BearerError::InvalidToken(description))
            }
            verified => verified,
        };
    }
    crate::caught_up_within(TOKEN_PATIENCE, || identities.principal(&digest).is_some()).await;
    identities.principal(&digest).ok_or_else(|| BearerError::InvalidToken("the token is not valid".into()))
}

/// An access token's principal: verified for the endpoint's resource URL, then the identity
/// it names as the identity cache holds it now, narrowed by the token's scopes.
async fn verified_principal(
    auth: &Authenticator,
    tokens: &AccessTokens,
    token: &str,
    path: &str,
) -> Result<Arc<Principal>, BearerError> {
    let verified = tokens.verify(token, &auth.resource.resource(path)).await?;
    let identities = auth.state.cache.identities();
    let lookup =
        |tenant: &canopy_domain::TenantId, subject: &str| identities.by_subject(tenant, subject).map(|p| (*p).clone());
    if verified.principal(lookup).is_err() {
        // An identity created a moment ago may not have reached the cache yet.
        crate::caught_up_within(TOKEN_PATIENCE, || verified.principal(lookup).is_ok()).await;
    }
    verified.principal(lookup).map(Arc::new)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// The token of `Authorization: Bearer TOKEN` (the scheme is case-insensitive).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The session whose stream a `Last-Event-ID` resumes: a session's standalone stream is
/// `SESSION:common` (event ids `SESSION:common#N`); the streams of single requests have random
/// ids of their own, as unguessable as a session id.
fn session_of_last_event(headers: &HeaderMap) -> Option<String> {
    let id = header(headers, "last-event-id")?;
    let (stream, _) = id.rsplit_once('#')?;
    stream.split_once(':').map(|(session, _)| session.to_string())
}

/// rmcp's answer to an unknown session, word for word.
fn session_not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response()
}

/// A 2026-07-28 request names its method and target in headers (`Mcp-Method`, `Mcp-Name`,
/// checked against the body by rmcp): when the token lacks the scope to use that target, the
/// answer is HTTP 403 with `error="insufficient_scope"`, so an OAuth client can step up. Other
/// denials are the handler's to give, as JSON-RPC errors exactly like an unknown name.
fn insufficient_scope(
    cache: &CatalogCache,
    resource: &ProtectedResource,
    principal: &Arc<Principal>,
    request: &Request,
) -> Option<Response> {
    let headers = request.headers();
    let (method, name) = (header(headers, "mcp-method")?, header(headers, "mcp-name")?);
    let scope = Scope::from_path(request.uri().path())?;
    let access = access::Access::new(cache, principal.clone())?;
    let decision = match method.as_str() {
        "tools/call" | "prompts/get" => {
            let (server, item) = scope.resolve(&name)?;
            let target = if method == "tools/call" {
                canopy_policy::Target::tool(server, item)
            } else {
                canopy_policy::Target::prompt(server, item)
            };
            access.decide(Action::Use, &target)
        }
        "resources/read" => {
            let (server, uri) = scope.resolve_uri(&name)?;
            access.decide(Action::Use, &canopy_policy::Target::resource(server, uri))
        }
        _ => return None,
    };
    let Decision::Deny(Denial::InsufficientScope { needed }) = decision else { return None };
    let path = request.uri().path();
    let challenge = format!(
        "Bearer error=\"insufficient_scope\", scope=\"{needed}\", resource_metadata=\"{}\"",
        resource.metadata_url(path)
    );
    let challenge = HeaderValue::from_str(&challenge).ok()?;
    Some(
        (StatusCode::FORBIDDEN, [(WWW_AUTHENTICATE, challenge)], format!("this needs the '{needed}' scope"))
            .into_response(),
    )
}

/// Whose a session is: the principal's tenant and subject (not its token, which may be
/// rotated; not its allow list, which may change and is read fresh on every request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Owner {
    pub tenant: String,
    pub subject: String,
    /// The scopes of the OAuth access token that opened the session; absent for a static
    /// token (not scope-limited). Whom a notification reaches is decided with them (today by
    /// server, so scopes rarely matter there); each request is decided with its own token's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<String>,
}

impl Owner {
    fn of(principal: &Principal) -> Owner {
        let tenant = principal.tenant.as_ref().map(|t| t.to_string()).unwrap_or_default();
        let scopes = match &principal.scopes {
            Scopes::All => None,
            Scopes::Only(granted) => Some(granted.iter().map(String::as_str).collect::<Vec<_>>().join(" ")),
        };
        Owner { tenant, subject: principal.subject.clone(), scopes }
    }

    /// Whether `principal` is this owner: the same identity, whatever token it presents.
    fn is(&self, principal: &Principal) -> bool {
        let tenant = principal.tenant.as_ref().map(|t| t.to_string()).unwrap_or_default();
        self.tenant == tenant && self.subject == principal.subject
    }

    /// The principal the owner is now, if it still exists (from the identity cache), narrowed
    /// by the opening token's scopes.
    pub fn principal(&self, identities: &crate::identities::IdentityCache) -> Option<Arc<Principal>> {
        let tenant = canopy_domain::TenantId::parse(self.tenant.clone()).ok()?;
        let principal = identities.by_subject(&tenant, &self.subject)?;
        match &self.scopes {
            None => Some(principal),
            Some(scopes) => Some(Arc::new((*principal).clone().with_scopes(Scopes::parse(scopes)))),
        }
    }
}

/// Sessions' owners in Redis, remembered once read (an owner never changes).
pub(crate) struct SessionOwners {
    stores: RedisStores,
    known: Mutex<HashMap<String, Owner>>,
}

/// Owners remembered per edge before the memory starts over.
const REMEMBERED_OWNERS: usize = 100_000;

impl SessionOwners {
    pub fn new(stores: RedisStores) -> Self {
        Self { stores, known: Mutex::default() }
    }

    fn key(&self, session: &str) -> String {
        self.stores.key(&format!("owner:{session}"))
    }

    fn remember(&self, session: &str, owner: &Owner) {
        let mut known = self.known.lock().expect("owners lock");
        if known.len() >= REMEMBERED_OWNERS {
            known.clear();
        }
        known.insert(session.to_string(), owner.clone());
    }

    pub async fn owner(&self, session: &str) -> Result<Option<Owner>, redis::RedisError> {
        if let Some(owner) = self.known.lock().expect("owners lock").get(session) {
            return Ok(Some(owner.clone()));
        }
        let raw: Option<String> =
            redis::cmd("GET").arg(self.key(session)).query_async(&mut self.stores.connection()).await?;
        let owner = raw.and_then(|json| serde_json::from_str::<Owner>(&json).ok());
        if let Some(owner) = &owner {
            self.remember(session, owner);
        }
        Ok(owner)
    }

    /// The owners of many sessions in one round trip (for notifications).
    pub async fn owners(&self, sessions: &[String]) -> Result<Vec<Option<Owner>>, redis::RedisError> {
        if sessions.is_empty() {
            return Ok(vec![]);
        }
        let mut get = redis::cmd("MGET");
        for session in sessions {
            get.arg(self.key(session));
        }
        let raw: Vec<Option<String>> = get.query_async(&mut self.stores.connection()).await?;
        Ok(raw.into_iter().map(|json| json.and_then(|j| serde_json::from_str(&j).ok())).collect())
    }

    async fn bind(&self, session: &str, principal: &Principal) -> Result<(), redis::RedisError> {
        let owner = Owner::of(principal);
        let json = serde_json::to_string(&owner).expect("an owner serializes");
        let () = redis::cmd("SET")
            .arg(self.key(session))
            .arg(json)
            .arg("EX")
            .arg(self.stores.ttl_secs())
            .query_async(&mut self.stores.connection())
            .await?;
        self.remember(session, &owner);
        Ok(())
    }

    async fn forget(&self, session: &str) {
        self.known.lock().expect("owners lock").remove(session);
        let deleted: Result<i64, _> =
            redis::cmd("DEL").arg(self.key(session)).query_async(&mut self.stores.connection()).await;
        if let Err(e) = deleted {
            tracing::debug!(error = %e, "a closed session's owner stays until it expires");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_put_the_well_known_segment_after_the_host() {
        let at = |base: &str| ProtectedResource { public_base: base.into(), authorization_servers: vec![] };
        let plain = at("https://mcp.example.com");
        assert_eq!(plain.resource("/mcp"), "https://mcp.example.com/mcp");
        assert_eq!(
            plain.metadata_url("/servers/a/mcp"),
            "https://mcp.example.com/.well-known/oauth-protected-resource/servers/a/mcp"
        );
        assert_eq!(
            plain.challenge("/mcp", None),
            "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\""
        );
        assert_eq!(
            plain.challenge("/servers/a/mcp", Some("the token has expired")),
            "Bearer error=\"invalid_token\", error_description=\"the token has expired\", \
             resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/servers/a/mcp\""
        );
        let nested = at("http://h:8080/canopy");
        assert_eq!(nested.resource("/mcp"), "http://h:8080/canopy/mcp");
        assert_eq!(nested.metadata_url("/mcp"), "http://h:8080/.well-known/oauth-protected-resource/canopy/mcp");
        let doc = plain.document("/mcp");
        assert!(doc.get("authorization_servers").is_none(), "omitted until one is configured");
        let with_as = ProtectedResource { authorization_servers: vec!["https://as.example.com".into()], ..plain };
        assert_eq!(with_as.document("/mcp")["authorization_servers"], serde_json::json!(["https://as.example.com"]));
    }

    #[test]
    fn a_2026_request_needing_a_scope_the_token_lacks_is_403_insufficient_scope() {
        let resource = ProtectedResource { public_base: "https://gw.example".into(), authorization_servers: vec![] };
        let cache = CatalogCache::default();
        let acme = canopy_domain::TenantId::parse("acme").unwrap();
        let prompts_only = Arc::new(
            Principal::user(acme.clone(), "user:u", canopy_policy::Role::Member)
                .with_scopes(Scopes::parse("mcp:prompts")),
        );
        let request = |method: &str, name: &str| {
            let mut request = Request::new(axum::body::Body::empty());
            *request.uri_mut() = "/mcp".parse().unwrap();
            request.headers_mut().insert("mcp-method", HeaderValue::from_str(method).unwrap());
            request.headers_mut().insert("mcp-name", HeaderValue::from_str(name).unwrap());
            request
        };
        let refused = insufficient_scope(&cache, &resource, &prompts_only, &request("tools/call", "a__echo")).unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            refused.headers()[WWW_AUTHENTICATE],
            "Bearer error=\"insufficient_scope\", scope=\"mcp:tools\", \
             resource_metadata=\"https://gw.example/.well-known/oauth-protected-resource/mcp\""
        );
        assert!(insufficient_scope(&cache, &resource, &prompts_only, &request("prompts/get", "a__p")).is_none());
        // A name the principal may not know of is the handler's to answer, as an unknown name.
        let client = Arc::new(
            Principal::client(acme, "client:c", canopy_policy::AllowList::default()).with_scopes(Scopes::none()),
        );
        assert!(insufficient_scope(&cache, &resource, &client, &request("tools/call", "a__echo")).is_none());
    }

    #[test]
    fn a_session_is_its_identitys_and_hears_what_its_opening_token_may_see() {
        let acme = canopy_domain::TenantId::parse("acme").unwrap();
        let user = Principal::user(acme.clone(), "user:u", canopy_policy::Role::Member);
        let narrow = user.clone().with_scopes(Scopes::parse("mcp:prompts mcp:tools"));
        let by_oauth = Owner::of(&narrow);
        assert_eq!(by_oauth.scopes.as_deref(), Some("mcp:prompts mcp:tools"));
        assert!(by_oauth.is(&user) && Owner::of(&user).is(&narrow), "the same identity, any token");
        assert!(!by_oauth.is(&Principal::user(acme, "user:v", canopy_policy::Role::Member)));
        // Stored before scopes were recorded, or by a static token: not scope-limited.
        let old: Owner = serde_json::from_str(r#"{"tenant":"acme","subject":"user:u"}"#).unwrap();
        assert_eq!((old.scopes, Owner::of(&user).scopes), (None, None));
        assert!(!serde_json::to_string(&Owner::of(&user)).unwrap().contains("scopes"));
    }

    #[test]
    fn bearer_tokens_and_resumed_sessions_are_read_from_headers() {
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_str(v).unwrap());
            }
            h
        };
        assert_eq!(bearer_token(&headers(&[("authorization", "Bearer abc")])), Some("abc"));
        assert_eq!(bearer_token(&headers(&[("authorization", "bearer  abc ")])), Some("abc"));
        assert_eq!(bearer_token(&headers(&[("authorization", "Basic abc")])), None);
        assert_eq!(bearer_token(&headers(&[("authorization", "Bearer ")])), None);
        assert_eq!(bearer_token(&headers(&[])), None);
        assert_eq!(session_of_last_event(&headers(&[("last-event-id", "s1:common#4")])), Some("s1".into()));
        assert_eq!(session_of_last_event(&headers(&[("last-event-id", "9f1c-uuid#2")])), None);
    }
}

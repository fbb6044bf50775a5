//! `canopy login --oauth`: signing in at Canopy's own OAuth 2.1 authorization server the way a
//! native app does (RFC 8252): the CLI registers itself as a public client (dynamic client
//! registration) with a loopback redirect URI on a port it listens on, sends the user's browser
//! to the authorization endpoint (authorization code with PKCE S256, `state`, the endpoint's
//! URL as the RFC 8707 resource), takes the code on the redirect, and exchanges it. The grant
//! (the access token, the refresh token, who issued them and for which resource) is saved in
//! `~/.canopy.conf` as `oauth_*` keys, readable by its owner only.
//!
//! [`TokenSource`] is what `canopy stdio` sends: the saved grant's access token when the grant
//! is for the bridged endpoint, refreshed (the refresh token rotates, and the new one is saved)
//! shortly before it expires or when Canopy answers 401; otherwise the static `access_token`.

use super::client::{ClientConfig, Registry};
use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde_json::Value;
use sha2::Digest;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the CLI waits for the browser to come back with a code.
const SIGN_IN_WITHIN: Duration = Duration::from_secs(300);
/// A token this close to its expiry (at most a quarter of its lifetime) is refreshed before
/// it is sent.
const REFRESH_BEFORE: i64 = 30;

/// A grant as saved in `~/.canopy.conf`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SavedGrant {
    /// The endpoint (RFC 8707 resource) the tokens are for.
    pub resource: String,
    pub client_id: String,
    pub token_endpoint: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// When the access token is refreshed before use (Unix seconds): shortly before it expires.
    pub refresh_at: i64,
}

impl SavedGrant {
    pub fn from_config(config: &ClientConfig) -> Option<Self> {
        Some(SavedGrant {
            resource: config.oauth_resource.clone()?,
            client_id: config.oauth_client_id.clone()?,
            token_endpoint: config.oauth_token_endpoint.clone()?,
            access_token: config.oauth_access_token.clone()?,
            refresh_token: config.oauth_refresh_token.clone(),
            refresh_at: config.oauth_refresh_at.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0),
        })
    }

    fn pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("oauth_resource", self.resource.clone()),
            ("oauth_client_id", self.client_id.clone()),
            ("oauth_token_endpoint", self.token_endpoint.clone()),
            ("oauth_access_token", self.access_token.clone()),
            ("oauth_refresh_token", self.refresh_token.clone().unwrap_or_default()),
            ("oauth_refresh_at", self.refresh_at.to_string()),
        ]
    }

    fn save(&self, home: &std::path::Path) -> anyhow::Result<PathBuf> {
        let pairs = self.pairs();
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        ClientConfig::store(home, &borrowed)
    }

    /// The grant after a token response (`refresh_token` kept when none is given).
    fn with_tokens(&self, answer: &Value) -> anyhow::Result<SavedGrant> {
        let access_token = answer["access_token"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("the token endpoint answered without an access token: {answer}"))?;
        let lifetime = answer["expires_in"].as_i64().unwrap_or(3600).max(0);
        Ok(SavedGrant {
            access_token: access_token.to_string(),
            refresh_token: answer["refresh_token"].as_str().map(str::to_string).or_else(|| self.refresh_token.clone()),
            refresh_at: chrono::Utc::now().timestamp() + lifetime - REFRESH_BEFORE.min(lifetime / 4),
            ..self.clone()
        })
    }
}

fn home() -> anyhow::Result<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from).ok_or_else(|| {
        anyhow::anyhow!("login saves its tokens in ~/{}, but $HOME is not set", super::client::CONF_FILE)
    })
}

/// An OAuth error answer (`error`, `error_description`) or any other failure, readably.
async fn answer(response: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let error = body["error"].as_str().unwrap_or("error");
        let description = body["error_description"].as_str().unwrap_or("");
        anyhow::bail!("{what} failed: HTTP {status}: {error} {description}");
    }
    Ok(body)
}

/// Signs in for `resource` (an endpoint URL of the registry) and saves the grant.
pub async fn login(registry: &Registry, resource: &str, open_browser: bool) -> anyhow::Result<PathBuf> {
    let home = home()?;
    let base = registry.base_url().trim_end_matches('/').to_string();
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("canopy-cli/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let metadata_url = format!("{base}/.well-known/oauth-authorization-server");
    let metadata =
        http.get(&metadata_url).send().await.with_context(|| format!("Canopy at {base} cannot be reached"))?;
    anyhow::ensure!(
        metadata.status().is_success(),
        "{metadata_url} answered HTTP {}: OAuth sign-in needs Canopy in enterprise mode",
        metadata.status()
    );
    let metadata: Value = metadata.json().await.context("reading the authorization server's metadata")?;
    let endpoint = |name: &str| {
        metadata[name].as_str().map(str::to_string).ok_or_else(|| anyhow::anyhow!("the metadata has no {name}"))
    };
    let (authorize, token, register) =
        (endpoint("authorization_endpoint")?, endpoint("token_endpoint")?, endpoint("registration_endpoint")?);
    let scopes: Vec<&str> = metadata["scopes_supported"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();

    // The loopback redirect (RFC 8252 section 7.3): a port of our own, for this sign-in only.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.context("listening on loopback")?;
    let redirect_uri = format!("http://127.0.0.1:{}/callback", listener.local_addr()?.port());
    let registration = serde_json::json!({
        "client_name": "Canopy CLI",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    let client = answer(http.post(&register).json(&registration).send().await?, "client registration").await?;
    let client_id = client["client_id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the registration answered without a client_id: {client}"))?
        .to_string();

    let verifier = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let challenge = B64URL.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let state = uuid::Uuid::new_v4().simple().to_string();
    let mut url = reqwest::Url::parse(&authorize).context("the authorization endpoint is not a URL")?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &state)
        .append_pair("scope", &scopes.join(" "))
        .append_pair("resource", resource);
    eprintln!("To sign in to {base}, open this page in your browser:\n\n  {url}\n");
    if open_browser {
        open(url.as_str());
    }
    let code = tokio::time::timeout(SIGN_IN_WITHIN, callback(&listener, &state))
        .await
        .map_err(|_| anyhow::anyhow!("nobody signed in within {} s", SIGN_IN_WITHIN.as_secs()))??;
    let exchanged = http
        .post(&token)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
            ("resource", resource),
        ])
        .send()
        .await?;
    let tokens = answer(exchanged, "exchanging the code").await?;
    let grant = SavedGrant { resource: resource.to_string(), client_id, token_endpoint: token, ..Default::default() }
        .with_tokens(&tokens)?;
    let mut path = grant.save(&home)?;
    if registry.origin_is_flag() {
        path = ClientConfig::store(&home, &[("registry_url", &base)])?;
    }
    Ok(path)
}

/// Tries the desktop's way of opening a URL; the URL is printed in any case.
fn open(url: &str) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// Answers requests on the loopback redirect until one brings the code for `state`.
async fn callback(listener: &tokio::net::TcpListener, state: &str) -> anyhow::Result<String> {
    loop {
        let (mut socket, _) = listener.accept().await?;
        let mut head = Vec::new();
        let mut buf = [0u8; 2048];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf)).await.unwrap_or(Ok(0))?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_string();
        let target = line.split(' ').nth(1).unwrap_or("/");
        let parsed = reqwest::Url::parse(&format!("http://127.0.0.1{target}")).ok();
        let Some(parsed) = parsed.filter(|u| u.path() == "/callback") else {
            let _ = socket.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
            continue;
        };
        let query: std::collections::HashMap<String, String> = parsed.query_pairs().into_owned().collect();
        let outcome = match (query.get("state"), query.get("code"), query.get("error")) {
            (Some(s), Some(code), _) if s == state => Ok(code.clone()),
            (Some(s), _, Some(error)) if s == state => Err(anyhow::anyhow!(
                "the sign-in was refused: {error} {}",
                query.get("error_description").map(String::as_str).unwrap_or("")
            )),
            _ => {
                let _ = socket
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                continue;
            }
        };
        let page = match &outcome {
            Ok(_) => "Signed in to Canopy. You can close this window and go back to the terminal.",
            Err(_) => "The sign-in was refused. The terminal says why.",
        };
        let body = format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Canopy</title><p>{page}</p></html>"
        );
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
             cache-control: no-store\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = socket.write_all(response.as_bytes()).await;
        return outcome;
    }
}

/// What `canopy stdio` sends as its bearer token: the saved OAuth grant's (refreshed as needed)
/// when it is for `resource`, else the static access token.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<tokio::sync::Mutex<Source>>,
}

enum Source {
    Static(Option<String>),
    Grant { grant: SavedGrant, home: PathBuf, http: reqwest::Client },
}

impl TokenSource {
    pub fn new(registry: &Registry, resource: &str, http: reqwest::Client) -> Self {
        let saved = home().ok().and_then(|home| {
            let (_, config) = ClientConfig::load(Some(&home)).ok()??;
            let grant = SavedGrant::from_config(&config)?;
            (grant.resource == resource && !registry.token_is_explicit()).then_some((grant, home))
        });
        let source = match saved {
            Some((grant, home)) => Source::Grant { grant, home, http },
            None => Source::Static(registry.access_token().map(str::to_string)),
        };
        TokenSource { inner: Arc::new(tokio::sync::Mutex::new(source)) }
    }

    /// The token to send now: a grant's is refreshed first when it is about to expire.
    pub async fn bearer(&self) -> Option<String> {
        let mut source = self.inner.lock().await;
        match &mut *source {
            Source::Static(token) => token.clone(),
            Source::Grant { grant, .. } if grant.refresh_at > chrono::Utc::now().timestamp() => {
                Some(grant.access_token.clone())
            }
            Source::Grant { .. } => {
                if let Err(e) = refresh(&mut source).await {
                    eprintln!("canopy stdio: {e:#}");
                }
                match &*source {
                    Source::Grant { grant, .. } => Some(grant.access_token.clone()),
                    Source::Static(token) => token.clone(),
                }
            }
        }
    }

    /// After a 401 to `sent`: refreshes the grant unless another request already did. True
    /// when there is a new token to try.
    pub async fn rejected(&self, sent: Option<&str>) -> bool {
        let mut source = self.inner.lock().await;
        match &*source {
            Source::Static(_) => false,
            Source::Grant { grant, .. } if Some(grant.access_token.as_str()) != sent => true,
            Source::Grant { .. } => match refresh(&mut source).await {
                Ok(()) => true,
                Err(e) => {
                    eprintln!("canopy stdio: {e:#}");
                    false
                }
            },
        }
    }
}

/// The refresh token grant; the rotated refresh token is saved at once (the old one is spent).
async fn refresh(source: &mut Source) -> anyhow::Result<()> {
    let Source::Grant { grant, home, http } = source else { return Ok(()) };
    let Some(refresh_token) = grant.refresh_token.clone().filter(|t| !t.is_empty()) else {
        anyhow::bail!("the access token expired and there is no refresh token: run `canopy login --oauth` again");
    };
    let sent = http
        .post(&grant.token_endpoint)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("client_id", &grant.client_id),
            ("resource", &grant.resource),
        ])
        .send()
        .await
        .context("refreshing the access token")?;
    let tokens = answer(sent, "refreshing the access token (run `canopy login --oauth` again if it persists)").await?;
    *grant = grant.with_tokens(&tokens)?;
    grant.save(home)?;
    Ok(())
}

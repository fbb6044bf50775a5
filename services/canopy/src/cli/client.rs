//! The CLI's side of the REST API: which registry to talk to (`--registry`, else
//! `registry_url:` in `~/.canopy.conf`, else `http://127.0.0.1:8080`), the access token sent as
//! `Authorization: Bearer` (`--access-token` / `CANOPY_ACCESS_TOKEN`, else `access_token:` in the
//! same file, which `init-server` and `login` write), and one small HTTP client whose every
//! failure becomes a readable error:
//! the API's envelope as `CODE: message`, an unreachable registry as a message naming the URL
//! and how to change it.

use anyhow::Context;
use reqwest::Url;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};

pub const DEFAULT_REGISTRY: &str = "http://127.0.0.1:8080";
pub const CONF_FILE: &str = ".canopy.conf";

/// `~/.canopy.conf`: `key: value` lines, as MCPJungle's `~/.mcpjungle.conf` (a flat YAML map).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ClientConfig {
    pub registry_url: Option<String>,
    pub access_token: Option<String>,
    /// The platform operator's token (`canopy init-server`, `canopy login --operator`): sent by
    /// the operator's verbs (`create|list|get|suspend|resume tenant`) only.
    pub operator_token: Option<String>,
    /// A grant of `canopy login --oauth` (see `oauth.rs`): the endpoint it is for, the client
    /// registered for it, where tokens are refreshed, the tokens and when the access token is
    /// refreshed (Unix seconds, shortly before it expires).
    pub oauth_resource: Option<String>,
    pub oauth_client_id: Option<String>,
    pub oauth_token_endpoint: Option<String>,
    pub oauth_access_token: Option<String>,
    pub oauth_refresh_token: Option<String>,
    pub oauth_refresh_at: Option<String>,
}

impl ClientConfig {
    /// Parses the file's text. Blank lines and `#` comments are skipped, unknown keys ignored
    /// (later versions may write more), values may be quoted.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut config = ClientConfig::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line == "---" {
                continue;
            }
            let (key, value) = line
                .split_once(':')
                .filter(|(key, _)| !key.trim().is_empty() && !key.contains(char::is_whitespace))
                .ok_or_else(|| format!("line {}: expected `key: value`", i + 1))?;
            let value = unquote(value.trim());
            let value = (!value.is_empty()).then(|| value.to_string());
            match key.trim() {
                "registry_url" => config.registry_url = value,
                "access_token" => config.access_token = value,
                "operator_token" => config.operator_token = value,
                "oauth_resource" => config.oauth_resource = value,
                "oauth_client_id" => config.oauth_client_id = value,
                "oauth_token_endpoint" => config.oauth_token_endpoint = value,
                "oauth_access_token" => config.oauth_access_token = value,
                "oauth_refresh_token" => config.oauth_refresh_token = value,
                "oauth_refresh_at" => config.oauth_refresh_at = value,
                _ => {}
            }
        }
        Ok(config)
    }

    /// `text` with `key: value` set for each pair: an existing line of the key is replaced in
    /// place, a new key appended; comments and other keys are kept as they are.
    pub fn with_values(text: &str, pairs: &[(&str, &str)]) -> String {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for (key, value) in pairs {
            let line = format!("{key}: {}", quote(value));
            let existing =
                lines.iter().position(|l| l.trim_start().split_once(':').is_some_and(|(k, _)| k.trim() == *key));
            match existing {
                Some(i) => lines[i] = line,
                None => lines.push(line),
            }
        }
        let mut out = lines.join("\n");
        out.push('\n');
        out
    }

    /// Sets `pairs` in `$HOME/.canopy.conf` (created if missing), readable by its owner only: it
    /// holds an access token. Answers the file's path.
    pub fn store(home: &Path, pairs: &[(&str, &str)]) -> anyhow::Result<PathBuf> {
        let path = home.join(CONF_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).with_context(|| format!("writing {}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("making {} private", path.display()))?;
        }
        std::io::Write::write_all(&mut file, Self::with_values(&text, pairs).as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Reads `$HOME/.canopy.conf`; `None` when `$HOME` is unset or the file does not exist.
    pub fn load(home: Option<&Path>) -> anyhow::Result<Option<(PathBuf, ClientConfig)>> {
        let Some(home) = home else { return Ok(None) };
        let path = home.join(CONF_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let config = ClientConfig::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(Some((path, config)))
    }
}

/// A value as `parse` reads it back: quoted when it could be misread.
fn quote(v: &str) -> String {
    let plain = !v.is_empty() && v == v.trim() && !v.contains(['#', '"', '\'']);
    if plain {
        v.to_string()
    } else {
        format!("\"{v}\"")
    }
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// Where the registry URL came from, for error messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    Flag,
    ConfFile(PathBuf),
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag => write!(f, "from --registry"),
            Origin::ConfFile(p) => write!(f, "from {}", p.display()),
            Origin::Default => write!(f, "the default"),
        }
    }
}

/// An error the API answered with its envelope (or, from something that is not Canopy, with
/// anything else: then `code` is `HTTP_<status>`). Displays as `CODE: message`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// Reads the envelope; the code is kept as a string so codes added later still print.
    pub fn from_body(status: u16, reason: &str, body: &str) -> Self {
        let envelope: Option<Value> = serde_json::from_str(body).ok();
        let field = |k: &str| envelope.as_ref().and_then(|e| e["error"][k].as_str()).map(str::to_string);
        match (field("code"), field("message")) {
            (Some(code), Some(message)) => ApiError { status, code, message },
            _ => {
                let snippet: String = body.trim().chars().take(200).collect();
                ApiError {
                    status,
                    code: format!("HTTP_{status}"),
                    message: if snippet.is_empty() { reason.to_string() } else { format!("{reason}: {snippet}") },
                }
            }
        }
    }
}

/// The registry the CLI talks to.
pub struct Registry {
    base: Url,
    origin: Origin,
    token: Option<String>,
    /// The token came from `--access-token` or `CANOPY_ACCESS_TOKEN`, not the file.
    token_explicit: bool,
    http: reqwest::Client,
}

impl Registry {
    /// `--registry` wins, then `registry_url:` in `$HOME/.canopy.conf`, then the default. The
    /// access token: `token` (the `--access-token` flag or `CANOPY_ACCESS_TOKEN`), else
    /// `access_token:` in the same file, else none (development mode needs none).
    pub fn resolve(flag: Option<&str>, token: Option<&str>, home: Option<&Path>) -> anyhow::Result<Self> {
        let conf = ClientConfig::load(home)?;
        let (url, origin) = match (flag, &conf) {
            (Some(url), _) => (url.to_string(), Origin::Flag),
            (None, Some((path, ClientConfig { registry_url: Some(url), .. }))) => {
                (url.clone(), Origin::ConfFile(path.clone()))
            }
            _ => (DEFAULT_REGISTRY.to_string(), Origin::Default),
        };
        let base = Url::parse(&url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| {
                anyhow::anyhow!("invalid registry URL '{url}' ({origin}): expected http://host:port or https://host")
            })?;
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .user_agent(concat!("canopy-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?;
        let explicit = token.filter(|t| !t.is_empty()).map(str::to_string);
        let token_explicit = explicit.is_some();
        let token = explicit.or(conf.and_then(|(_, c)| c.access_token));
        Ok(Registry { base, origin, token, token_explicit, http })
    }

    /// Whether the registry URL came from `--registry`.
    pub fn origin_is_flag(&self) -> bool {
        self.origin == Origin::Flag
    }

    /// Whether the access token was given on the command line or in the environment (it then
    /// wins over a saved OAuth grant).
    pub fn token_is_explicit(&self) -> bool {
        self.token_explicit
    }

    /// The access token sent as `Authorization: Bearer`, if any.
    pub fn access_token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The registry's base URL, as `registry_url:` in `~/.canopy.conf` would name it.
    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// `{base}/api/v0/{segments...}?{query}`, each segment percent-encoded.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("http(s) URLs have a path")
            .pop_if_empty()
            .extend(["api", "v0"])
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    pub async fn get(&self, segments: &[&str], query: &[(&str, &str)]) -> anyhow::Result<Value> {
        self.send(self.http.get(self.url(segments, query))).await
    }

    /// POSTs `body` as JSON; `Value::Null` sends no body (for query-only routes).
    pub async fn post(&self, segments: &[&str], query: &[(&str, &str)], body: &Value) -> anyhow::Result<Value> {
        let request = self.http.post(self.url(segments, query));
        let request = if body.is_null() { request } else { request.json(body) };
        self.send(request).await
    }

    /// PUTs `body` as JSON (a group's new rules).
    pub async fn put(&self, segments: &[&str], body: &Value) -> anyhow::Result<Value> {
        self.send(self.http.put(self.url(segments, &[])).json(body)).await
    }

    /// PATCHes `body` as JSON (a user's new role).
    pub async fn patch(&self, segments: &[&str], body: &Value) -> anyhow::Result<Value> {
        self.send(self.http.patch(self.url(segments, &[])).json(body)).await
    }

    pub async fn delete(&self, segments: &[&str]) -> anyhow::Result<Value> {
        self.send(self.http.delete(self.url(segments, &[]))).await
    }

    /// Sends an authorized request and answers the response itself (for streamed bodies: a
    /// followed log), or the API's error.
    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut request = self.http.request(method, self.url(segments, query));
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        if !status.is_success() {
            let reason = status.canonical_reason().unwrap_or("error");
            let body = response.text().await.map_err(|e| self.unreachable(e))?;
            return Err(ApiError::from_body(status.as_u16(), reason, &body).into());
        }
        Ok(response)
    }

    /// Sends, and answers the JSON body (`Null` when empty, as for 204).
    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| self.unreachable(e))?;
        if !status.is_success() {
            let reason = status.canonical_reason().unwrap_or("error");
            return Err(ApiError::from_body(status.as_u16(), reason, &body).into());
        }
        if body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body).with_context(|| {
            format!("the registry at {} answered something that is not JSON; is it Canopy?", self.base)
        })
    }

    fn unreachable(&self, e: reqwest::Error) -> anyhow::Error {
        let mut cause: &dyn std::error::Error = &e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let what = if e.is_connect() {
            "cannot connect to"
        } else if e.is_timeout() {
            "timed out talking to"
        } else {
            "lost the connection to"
        };
        anyhow::anyhow!(
            "{what} the Canopy registry at {} ({}; {cause}). Is it running (`canopy start`)? \
             Choose another registry with --registry URL or a `registry_url: URL` line in ~/{CONF_FILE}",
            self.base.as_str().trim_end_matches('/'),
            self.origin,
        )
    }
}

/// `$HOME`, if set and not empty.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_file_lines() {
        let c = ClientConfig::parse(
            "# canopy\n---\nregistry_url: http://host:9000\naccess_token: \"tok:en\"\nother: x\n\n",
        )
        .unwrap();
        assert_eq!(c.registry_url.as_deref(), Some("http://host:9000"));
        assert_eq!(c.access_token.as_deref(), Some("tok:en"));
        for bad in ["registry_url http://x", "registry_url", ": x"] {
            assert!(ClientConfig::parse(bad).unwrap_err().contains("line 1"), "{bad}");
        }
        assert_eq!(ClientConfig::parse("registry_url:").unwrap(), ClientConfig::default());
    }

    #[test]
    fn flag_then_conf_then_default() {
        let home = std::env::temp_dir().join(format!("canopy-cli-conf-{}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        let r = Registry::resolve(None, None, Some(&home)).unwrap();
        assert_eq!((r.base.as_str(), &r.origin), ("http://127.0.0.1:8080/", &Origin::Default));
        std::fs::write(home.join(CONF_FILE), "registry_url: http://conf:1/prefix\n").unwrap();
        let r = Registry::resolve(None, None, Some(&home)).unwrap();
        assert_eq!(r.base.as_str(), "http://conf:1/prefix");
        assert!(matches!(r.origin, Origin::ConfFile(_)));
        assert_eq!(
            r.url(&["servers", "a b"], &[("force", "true")]).as_str(),
            "http://conf:1/prefix/api/v0/servers/a%20b?force=true"
        );
        let r = Registry::resolve(Some("http://flag:2/"), None, Some(&home)).unwrap();
        assert_eq!((r.url(&["tools"], &[]).as_str(), &r.origin), ("http://flag:2/api/v0/tools", &Origin::Flag));
        let e = Registry::resolve(Some("flag:2"), None, Some(&home)).err().unwrap();
        assert!(e.to_string().contains("invalid registry URL 'flag:2'"), "{e}");
        std::fs::remove_dir_all(&home).unwrap();
    }

    #[test]
    fn conf_file_updates_keep_the_rest() {
        let before = "# mine\nregistry_url: http://old:1\nother: kept\n";
        let after = ClientConfig::with_values(before, &[("registry_url", "http://new:2"), ("access_token", "a#b")]);
        assert_eq!(after, "# mine\nregistry_url: http://new:2\nother: kept\naccess_token: \"a#b\"\n");
        let parsed = ClientConfig::parse(&after).unwrap();
        assert_eq!(parsed.access_token.as_deref(), Some("a#b"));
        assert_eq!(ClientConfig::with_values("", &[("access_token", "t")]), "access_token: t\n");

        let home = std::env::temp_dir().join(format!("canopy-cli-store-{}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        let path = ClientConfig::store(&home, &[("access_token", "secret")]).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "owner only");
        }
        // The flag (or CANOPY_ACCESS_TOKEN) wins over the file.
        assert_eq!(Registry::resolve(None, None, Some(&home)).unwrap().token.as_deref(), Some("secret"));
        assert_eq!(Registry::resolve(None, Some("flag"), Some(&home)).unwrap().token.as_deref(), Some("flag"));
        std::fs::remove_dir_all(&home).unwrap();
    }

    #[test]
    fn envelope_and_other_errors() {
        let e = ApiError::from_body(
            409,
            "Conflict",
            r#"{"ok":false,"error":{"code":"CONFLICT","message":"server 'fx' is already registered"}}"#,
        );
        assert_eq!(e.to_string(), "CONFLICT: server 'fx' is already registered");
        let e = ApiError::from_body(502, "Bad Gateway", "<html>nginx</html>");
        assert_eq!(e.to_string(), "HTTP_502: Bad Gateway: <html>nginx</html>");
    }
}

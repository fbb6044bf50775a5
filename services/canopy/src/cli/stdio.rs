//! `canopy stdio [--server NAME | --group NAME]`: an MCP server on stdin/stdout that is a
//! Canopy endpoint (`/servers/NAME/mcp`, `/groups/NAME/mcp`, or `/mcp`), so a desktop client's
//! `mcpServers` entry (`"command": "canopy", "args": ["stdio", "--server", "grid"]`) reaches
//! Canopy with the credentials `canopy login` saved (`registry_url`, `access_token` in
//! `~/.canopy.conf`, or `--registry` / `--access-token`), or the grant `canopy login --oauth`
//! saved for this endpoint, refreshed before it expires and after a 401 (`oauth.rs`).
//!
//! A raw JSON-RPC relay, not an MCP client and server back to back: each line from stdin is
//! POSTed as it is (Streamable HTTP, session era), and every message of the answer (JSON, or
//! each event of an SSE stream) is written to stdout as one line; once the session exists, its
//! GET stream carries the server's own messages (list_changed, server-to-client requests) to
//! stdout, resumed with `Last-Event-ID`. So nothing is renumbered or rewritten: request ids,
//! progress tokens, `_meta`, cancellations and the client's answers to server requests pass
//! through as the client and Canopy wrote them. Requests run concurrently (a long call does not
//! hold up a cancellation). An HTTP failure of a request is answered to the client as a
//! JSON-RPC error for its id, so a client never waits forever. Logs go to stderr only.

use super::client::Registry;
use anyhow::Context;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

#[derive(clap::Args, Debug)]
pub struct StdioArgs {
    /// One server's endpoint, its tools unprefixed (`/servers/NAME/mcp`).
    #[arg(long, conflicts_with = "group", value_name = "NAME")]
    pub server: Option<String>,
    /// A group's endpoint (`/groups/NAME/mcp`). Neither: all of `/mcp`.
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
}

/// The Canopy endpoint `args` names, under the registry's base URL.
pub fn endpoint(base: &str, args: &StdioArgs) -> String {
    let base = base.trim_end_matches('/');
    match (&args.server, &args.group) {
        (Some(server), _) => format!("{base}/servers/{server}/mcp"),
        (None, Some(group)) => format!("{base}/groups/{group}/mcp"),
        (None, None) => format!("{base}/mcp"),
    }
}

#[derive(Clone)]
struct Bridge {
    http: reqwest::Client,
    url: String,
    token: super::oauth::TokenSource,
    session: Arc<Mutex<Option<String>>>,
    protocol: Arc<Mutex<Option<String>>>,
    out: mpsc::UnboundedSender<String>,
}

pub async fn run(registry: &Registry, args: &StdioArgs) -> anyhow::Result<()> {
    let url = endpoint(registry.base_url(), args);
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("canopy-stdio/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")?;
    let (out, mut lines) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = lines.recv().await {
            if stdout.write_all(line.as_bytes()).await.is_err() || stdout.write_all(b"\n").await.is_err() {
                return;
            }
            let _ = stdout.flush().await;
        }
    });
    let token = super::oauth::TokenSource::new(registry, &url, http.clone());
    let bridge = Bridge { http, url, token, session: Arc::default(), protocol: Arc::default(), out };
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut listening: Option<tokio::task::JoinHandle<()>> = None;
    while let Some(line) = stdin.next_line().await.context("reading stdin")? {
        if line.trim().is_empty() {
            continue;
        }
        let message: Value = match serde_json::from_str(&line) {
            Ok(m) => m,
            Err(e) => {
                let error = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": format!("parse error: {e}")}});
                let _ = bridge.out.send(error.to_string());
                continue;
            }
        };
        let has_session = bridge.session.lock().expect("session lock").is_some();
        if has_session {
            let bridge = bridge.clone();
            tokio::spawn(async move { bridge.post(message).await });
        } else {
            // Until the session exists (initialize), one message at a time, so every later
            // message carries its id.
            bridge.post(message).await;
            if listening.is_none() && bridge.session.lock().expect("session lock").is_some() {
                let bridge = bridge.clone();
                listening = Some(tokio::spawn(async move { bridge.listen().await }));
            }
        }
    }
    if let Some(listening) = listening {
        listening.abort();
    }
    bridge.close().await;
    drop(bridge);
    let _ = writer.await;
    Ok(())
}

impl Bridge {
    async fn request(&self, method: reqwest::Method) -> (reqwest::RequestBuilder, Option<String>) {
        let mut request = self.http.request(method, &self.url);
        let token = self.token.bearer().await;
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        if let Some(session) = self.session.lock().expect("session lock").clone() {
            request = request.header("mcp-session-id", session);
        }
        if let Some(version) = self.protocol.lock().expect("protocol lock").clone() {
            request = request.header("mcp-protocol-version", version);
        }
        (request, token)
    }

    /// Sends what `build` makes of a fresh request; once more with a new token after a 401,
    /// when the saved OAuth grant can be refreshed.
    async fn send(
        &self,
        method: reqwest::Method,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> reqwest::Result<reqwest::Response> {
        let (request, token) = self.request(method.clone()).await;
        let response = build(request).send().await?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED && self.token.rejected(token.as_deref()).await {
            let (request, _) = self.request(method).await;
            return build(request).send().await;
        }
        Ok(response)
    }

    /// Sends one message and relays every message of the answer.
    async fn post(&self, message: Value) {
        let id = message.get("method").and(message.get("id")).cloned();
        let is_initialize = message.get("method").and_then(Value::as_str) == Some("initialize");
        let sent = self
            .send(reqwest::Method::POST, |r| r.header("accept", "application/json, text/event-stream").json(&message))
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return self.fail(id, &format!("Canopy at {} cannot be reached: {e}", self.url)),
        };
        if let Some(session) = response.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()) {
            *self.session.lock().expect("session lock") = Some(session.to_string());
        }
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            // A JSON-RPC error body (e.g. 404 of an unknown session) goes to the client as it is.
            if serde_json::from_str::<Value>(&body).is_ok_and(|v| v.get("jsonrpc").is_some()) {
                return self.emit(&body);
            }
            let hint = if status == reqwest::StatusCode::UNAUTHORIZED {
                " (canopy login TOKEN, or canopy login --oauth for this endpoint)"
            } else {
                ""
            };
            return self.fail(id, &format!("Canopy answered HTTP {status}{hint}: {}", body.trim()));
        }
        let is_sse = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if is_sse {
            self.relay_events(response, &mut None).await;
        } else {
            let body = response.text().await.unwrap_or_default();
            if is_initialize {
                if let Some(version) = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v["result"]["protocolVersion"].as_str().map(str::to_string))
                {
                    *self.protocol.lock().expect("protocol lock") = Some(version);
                }
            }
            if !body.trim().is_empty() {
                self.emit(&body);
            }
        }
    }

    /// The session's GET stream, resumed after a break, until the process ends.
    async fn listen(&self) {
        let mut last_event_id: Option<String> = None;
        loop {
            let resume = last_event_id.clone();
            let sent = self
                .send(reqwest::Method::GET, |r| {
                    let r = r.header("accept", "text/event-stream");
                    match &resume {
                        Some(id) => r.header("last-event-id", id),
                        None => r,
                    }
                })
                .await;
            match sent {
                Ok(r) if r.status() == reqwest::StatusCode::METHOD_NOT_ALLOWED => return,
                Ok(r) if r.status().is_success() => self.relay_events(r, &mut last_event_id).await,
                Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => return,
                Ok(r) => eprintln!("canopy stdio: the event stream answered HTTP {}", r.status()),
                Err(e) => eprintln!("canopy stdio: the event stream failed: {e}"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Writes each SSE event's data (a JSON-RPC message) to stdout as one line.
    async fn relay_events(&self, mut response: reqwest::Response, last_event_id: &mut Option<String>) {
        let mut buffer: Vec<u8> = Vec::new();
        let mut data = String::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            buffer.extend_from_slice(&chunk);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    if !data.is_empty() {
                        self.emit(&data);
                        data.clear();
                    }
                } else if let Some(value) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(value.strip_prefix(' ').unwrap_or(value));
                } else if let Some(id) = line.strip_prefix("id:") {
                    *last_event_id = Some(id.trim().to_string());
                }
            }
        }
        if !data.is_empty() {
            self.emit(&data);
        }
    }

    /// One JSON-RPC message (or several, as a JSON array) to stdout, one per line.
    fn emit(&self, text: &str) {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(messages)) => {
                for message in messages {
                    let _ = self.out.send(message.to_string());
                }
            }
            Ok(message) => {
                let _ = self.out.send(message.to_string());
            }
            Err(_) => eprintln!("canopy stdio: dropped a message that is not JSON"),
        }
    }

    /// The client's request `id` failed before Canopy answered it: a JSON-RPC error, so the
    /// client does not wait forever (notifications and responses have no one to tell).
    fn fail(&self, id: Option<Value>, message: &str) {
        eprintln!("canopy stdio: {message}");
        if let Some(id) = id {
            let error = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603, "message": message}});
            let _ = self.out.send(error.to_string());
        }
    }

    /// Ends the session (best effort) when the client closes stdin.
    async fn close(&self) {
        if self.session.lock().expect("session lock").is_some() {
            let _ = tokio::time::timeout(Duration::from_secs(2), self.send(reqwest::Method::DELETE, |r| r)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_by_flag() {
        let args = |server: Option<&str>, group: Option<&str>| StdioArgs {
            server: server.map(str::to_string),
            group: group.map(str::to_string),
        };
        assert_eq!(endpoint("http://h:1/", &args(Some("grid"), None)), "http://h:1/servers/grid/mcp");
        assert_eq!(endpoint("http://h:1", &args(None, Some("g"))), "http://h:1/groups/g/mcp");
        assert_eq!(endpoint("http://h:1", &args(None, None)), "http://h:1/mcp");
    }
}

//! The MCP endpoints' session manager: rmcp's in-process sessions (any edge restores one from
//! Redis on its first request there), except that a session's standalone GET stream is not
//! the in-process channel of whichever edge it reached but the session's stream in Redis,
//! followed live. Notifications for a session are appended there once, by any edge, and reach
//! the client wherever its GET stream is, also after the edge that wrote them has stopped.
//! Sessions held in process are capped per principal and in all ([`crate::session_caps`]).
//!
//! So a session-era client may be initialized on one edge, hold its GET stream on another and
//! send each request anywhere. Its GET stream follows the session's Redis list live (appends
//! are announced on `PREFIX.mcp.sse.*`, with a slow poll as fallback; the newest GET of a
//! session takes over, older ones stay open but idle: [`crate::redis_store`]). Who wants what is
//! in Redis too: sessions per tenant with their endpoint scope ([`crate::subscribers`]) and
//! resource subscriptions per upstream URI ([`crate::resource_updates`]). A client hears of a
//! change once, wherever its stream is, and still after the edge that initialized it, took its
//! subscription or held its stream has stopped: it resumes with `Last-Event-ID` on any edge and
//! gets what was appended meanwhile.
//!
//! A request's stream (a POST's) is served by the edge that took the POST; its events' ids name
//! that edge and the request ([`crate::redis_store::request_event_id`]). When the client loses
//! it, it resumes on any edge, which replays and follows what is stored until the response, or
//! answers the request with an error at once when the serving edge has died with it
//! ([`RedisStores::resume_request`]).

use crate::redis_store::{
    is_final, parse_event_id, parse_request_event_id, request_event_id, standalone_stream, RedisStores,
};
use crate::session_caps::{Refusal, SessionCaps, SessionLimits};
use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, LocalSessionManagerError};
use rmcp::transport::streamable_http_server::session::store::EventStream;
use rmcp::transport::streamable_http_server::session::{
    EventStore, RestoreOutcome, ServerSseMessage, SessionId, SessionManager,
};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

pub(crate) struct SharedSessions {
    local: LocalSessionManager,
    stores: RedisStores,
    caps: Arc<SessionCaps>,
    /// How long a resumed request's stream waits for its response: the edges' call timeout,
    /// and a little more.
    answer_within: Duration,
}

/// What the session manager answers rmcp when it fails: rmcp's, or a session cap (which the
/// middleware in front of rmcp turns into 429/503).
#[derive(Debug)]
pub(crate) enum SessionsError {
    Local(LocalSessionManagerError),
    Refused(Refusal),
}

impl std::fmt::Display for SessionsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionsError::Local(e) => e.fmt(f),
            SessionsError::Refused(refusal) => refusal.fmt(f),
        }
    }
}

impl std::error::Error for SessionsError {}

impl From<LocalSessionManagerError> for SessionsError {
    fn from(e: LocalSessionManagerError) -> Self {
        SessionsError::Local(e)
    }
}

impl SharedSessions {
    pub(crate) fn new(stores: RedisStores, limits: SessionLimits, call_timeout: Duration) -> Self {
        let mut local = LocalSessionManager::default().with_event_store(Arc::new(stores.clone()));
        local.session_config.keep_alive = Some(limits.idle);
        let answer_within = call_timeout + Duration::from_secs(5);
        Self { local, stores, caps: Arc::new(SessionCaps::new(limits)), answer_within }
    }

    /// How long a refused client should wait: until an idle session may be closed for it.
    pub(crate) fn retry_after_secs(&self) -> u64 {
        self.caps.limits.idle_under_pressure.as_secs().max(1)
    }

    /// Whether this edge holds session `id` in process.
    pub(crate) async fn holds(&self, id: &str) -> bool {
        self.local.has_session(&SessionId::from(id)).await.unwrap_or(false)
    }

    /// A request of session `id` is in flight (answered outside rmcp, [`crate::fast`]): the
    /// session is not closed to make room until [`Self::finished`].
    pub(crate) fn started(&self, id: &str) {
        self.caps.started(id);
    }

    pub(crate) fn finished(&self, id: &str) {
        self.caps.finished(id);
    }

    /// Counts session `id` for the principal of the request being handled, closing an idle
    /// session to make room if need be; refused, the session is closed again.
    async fn admit(&self, id: &SessionId) -> Result<(), SessionsError> {
        let opening = crate::session_caps::opening();
        let principal: Arc<str> = match &opening {
            Some(opening) => opening.principal.clone(),
            None => Arc::from(""),
        };
        match self.caps.admit(id, &principal) {
            Ok(victim) => {
                if let Some(victim) = victim {
                    tracing::info!(session = %victim, "closing an idle MCP session to make room (its state stays in Redis)");
                    if let Err(e) = self.local.close_session(&SessionId::from(&*victim)).await {
                        tracing::warn!(error = %e, "closing an idle MCP session failed");
                    }
                }
                Ok(())
            }
            Err(refusal) => {
                tracing::warn!(principal = %principal, %refusal, "MCP session refused");
                if let Some(opening) = &opening {
                    *opening.refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(refusal);
                }
                let _ = self.local.close_session(id).await;
                Err(SessionsError::Refused(refusal))
            }
        }
    }
}

/// A request's stream: while it is open, its session is not closed to make room. Its events'
/// ids name this edge and the request (for a resumption elsewhere); a client that goes away
/// before the response leaves the rest of the stream to be stored ([`RedisStores::abandon`]).
struct InFlight<S> {
    inner: S,
    _counted: Counted,
    /// The request's JSON-RPC id as JSON; `None` for a notification or response.
    request: Option<Vec<u8>>,
    /// The stream's name, once its first event said it.
    stream: Option<String>,
    answered: bool,
    stores: RedisStores,
}

impl<S> Drop for InFlight<S> {
    fn drop(&mut self) {
        if let (false, Some(stream)) = (self.answered, &self.stream) {
            self.stores.abandon(stream);
        }
    }
}

struct Counted {
    caps: Arc<SessionCaps>,
    id: SessionId,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.caps.finished(&self.id);
    }
}

impl<S: Stream<Item = ServerSseMessage> + Unpin> Stream for InFlight<S> {
    type Item = ServerSseMessage;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let mut event = match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(event)) => event,
            other => return other,
        };
        if let Some(request) = &this.request {
            this.answered |= is_final(&event);
            if let Some((stream, seen)) = event.event_id.as_deref().and_then(parse_event_id) {
                let id = request_event_id(stream, seen, this.stores.edge(), request);
                if this.stream.is_none() {
                    this.stream = Some(stream.to_string());
                }
                event.event_id = Some(id);
            }
        }
        Poll::Ready(Some(event))
    }
}

impl SessionManager for SharedSessions {
    type Error = SessionsError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (id, transport) = self.local.create_session().await?;
        self.admit(&id).await?;
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        Ok(self.local.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.local.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.caps.remove(id);
        Ok(self.local.close_session(id).await?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.caps.started(id);
        let counted = Counted { caps: self.caps.clone(), id: id.clone() };
        let request = match &message {
            ClientJsonRpcMessage::Request(request) => serde_json::to_vec(&request.id).ok(),
            _ => None,
        };
        let inner = Box::pin(self.local.create_stream(id, message).await?);
        Ok(InFlight { inner, _counted: counted, request, stream: None, answered: false, stores: self.stores.clone() })
    }

    async fn accept_message(&self, id: &SessionId, message: ClientJsonRpcMessage) -> Result<(), Self::Error> {
        self.caps.touch(id);
        Ok(self.local.accept_message(id, message).await?)
    }

    /// rmcp has checked (or restored) the session before asking.
    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.caps.touch(id);
        Ok(self.stores.follow(standalone_stream(id), None))
    }

    /// A standalone stream resumes from Redis and stays open; a request's stream resumes from
    /// Redis until its response (or the error that says none will come); an id of neither kind
    /// is rmcp's to replay.
    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let standalone = standalone_stream(id);
        if let Some(request) = parse_request_event_id(&last_event_id).filter(|r| r.stream != standalone) {
            return Ok(self.stores.resume_request(request, self.answer_within));
        }
        match parse_event_id(&last_event_id) {
            Some((stream, seen)) if stream == standalone => Ok(self.stores.follow(standalone, Some(seen))),
            _ => Ok(Box::pin(self.local.resume(id, last_event_id).await?) as EventStream),
        }
    }

    async fn restore_session(&self, id: SessionId) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        let outcome = self.local.restore_session(id.clone()).await?;
        if matches!(outcome, RestoreOutcome::Restored(_)) {
            self.admit(&id).await?;
        }
        Ok(outcome)
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.local.event_store()
    }
}

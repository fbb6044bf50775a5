//! Session state and SSE replay in Redis, so edges are stateless: a session opened on one edge
//! is restored by another from its stored `initialize` parameters, and a client that lost its
//! stream (say, because its edge stopped) resumes on any edge with `Last-Event-ID`.
//! A session's standalone (GET) stream is its Redis list, followed live ([`RedisStores::follow`]):
//! whatever any edge appends reaches the client on whichever edge holds that GET; appends to
//! it are announced on NATS (`PREFIX.mcp.sse.STREAM`) so followers need not poll often.
//! Keys live under `PREFIX:` (the deployment's NATS prefix) and expire after `ttl`.
//!
//! Not everything is stored: a response that is the first message of its request's stream (the
//! answer to nearly every call) goes to the client unstored, and storing is never a condition of
//! answering (see `store_event` in the `EventStore` implementation).
//!
//! A request's stream that its client lost before the response is answered on resumption, on
//! any edge, never left to poll for ever. Each event id of a request's stream names the edge
//! serving it and the request's JSON-RPC id ([`request_event_id`]); each edge says it is alive
//! in Redis every [`EDGE_ALIVE_EVERY`] ([`RedisStores::run_heartbeat`]). The edge whose client
//! went away stores the rest of that stream, the response included ([`RedisStores::abandon`]).
//! A resumption ([`RedisStores::resume_request`]) replays what is stored and follows it until
//! the response; when the serving edge is gone (a `kill -9` mid-call) it answers the request
//! with [`EDGE_LOST`] at once instead, since nothing else ever will.

use futures::StreamExt;
use rmcp::model::ServerJsonRpcMessage;
use rmcp::transport::common::server_side_http::ServerSseMessage;
use rmcp::transport::streamable_http_server::session::store::{
    EventId, EventStore, EventStoreError, EventStream, SessionState, SessionStore, SessionStoreError,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

#[derive(Clone)]
pub struct RedisStores {
    redis: redis::aio::ConnectionManager,
    prefix: String,
    ttl: Duration,
    /// Where appends to standalone streams are announced; without it followers poll.
    wakeups: Option<async_nats::Client>,
    /// How many events of each running request's stream are stored (see `store_event`).
    requests: Arc<Mutex<HashMap<String, u64>>>,
    /// After Redis failed to store an event, events are not stored until then (see
    /// `store_event`): a call's response does not wait on a Redis that is down or stalled.
    storing_paused_until: Arc<Mutex<Option<std::time::Instant>>>,
    /// This edge process, as its request streams' event ids name it and its heartbeat keeps
    /// it in Redis.
    edge: Arc<str>,
}

/// How often an edge says in Redis that it is alive, and how long that lasts.
pub(crate) const EDGE_ALIVE_EVERY: Duration = Duration::from_secs(1);
const EDGE_ALIVE_FOR: Duration = Duration::from_secs(3);
/// How often a resumed request's stream looks for what its edge stored.
const RESUMED_POLL: Duration = Duration::from_millis(250);

/// The JSON-RPC error code answering a request whose edge stopped before it answered
/// (implementation-defined server error range).
pub const EDGE_LOST: i32 = -32031;

/// How long storing an event may take before the event goes out unstored.
const STORE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long events go out unstored after Redis failed to store one.
const STORE_BACKOFF: Duration = Duration::from_secs(2);

/// At most this many request streams are remembered. A request whose client went away
/// before its response leaves its stream here; past the limit they are all forgotten, which
/// only matters to a priming event sent on one of them later (rmcp sends those when a
/// server closes a request's stream early, which Canopy does not do).
const MAX_REQUEST_STREAMS: usize = 10_000;

/// The stream rmcp keeps a session's standalone (GET) messages in: `SESSION:common`.
pub(crate) fn standalone_stream(session: &str) -> String {
    format!("{session}:common")
}

fn is_standalone(stream: &str) -> bool {
    stream.ends_with(":common")
}

/// How often a follower looks at its list without being woken: a fallback for lost wake-ups.
const POLL_WITH_WAKEUPS: Duration = Duration::from_secs(1);
const POLL_WITHOUT_WAKEUPS: Duration = Duration::from_millis(200);

impl RedisStores {
    pub fn new(redis: redis::aio::ConnectionManager, prefix: &str, ttl: Duration) -> Self {
        Self {
            redis,
            prefix: prefix.to_string(),
            ttl,
            wakeups: None,
            requests: Default::default(),
            storing_paused_until: Default::default(),
            edge: Arc::from(uuid::Uuid::new_v4().simple().to_string()),
        }
    }

    /// This edge process's id, as its request streams' event ids carry it.
    pub(crate) fn edge(&self) -> &str {
        &self.edge
    }

    fn edge_key(&self, edge: &str) -> String {
        self.key(&format!("edge:{edge}"))
    }

    /// Says in Redis, every [`EDGE_ALIVE_EVERY`] until `shutdown`, that this edge is alive (for
    /// resumptions of its requests' streams on other edges), and that it is gone when it stops.
    /// A Redis that does not answer is tried again at the next beat.
    pub async fn run_heartbeat(self, shutdown: tokio_util::sync::CancellationToken) {
        let key = self.edge_key(&self.edge);
        loop {
            let mut redis = self.redis.clone();
            let mut set = redis::cmd("SET");
            set.arg(&key).arg(1).arg("EX").arg(EDGE_ALIVE_FOR.as_secs());
            if let Ok(Err(e)) = tokio::time::timeout(EDGE_ALIVE_EVERY, set.query_async::<()>(&mut redis)).await {
                tracing::debug!(error = %e, "could not say in Redis that this edge is alive");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(EDGE_ALIVE_EVERY) => {}
            }
        }
        let mut redis = self.redis.clone();
        let mut del = redis::cmd("DEL");
        del.arg(&key);
        let _ = tokio::time::timeout(STORE_TIMEOUT, del.query_async::<i64>(&mut redis)).await;
    }

    /// Whether edge `edge` is alive: this one is; another is while its heartbeat key is in
    /// Redis. A missing key is looked for again for one beat and a half (Redis may have just
    /// restarted empty, and the edge writes it again at its next beat); a Redis that cannot
    /// tell counts as alive.
    async fn edge_alive(&self, edge: &str) -> bool {
        if edge == &*self.edge {
            return true;
        }
        let key = self.edge_key(edge);
        let until = tokio::time::Instant::now() + EDGE_ALIVE_EVERY + EDGE_ALIVE_EVERY / 2;
        loop {
            let mut redis = self.redis.clone();
            match redis::cmd("EXISTS").arg(&key).query_async::<i64>(&mut redis).await {
                Ok(0) => {}
                _ => return true,
            }
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(RESUMED_POLL).await;
        }
    }

    /// The client of request stream `stream` went away before its response: the rest of the
    /// stream, its response included, is stored from now on, so the client finds it when it
    /// resumes, on any edge.
    pub(crate) fn abandon(&self, stream: &str) {
        let mut requests = self.requests.lock().expect("request streams lock");
        if !requests.contains_key(stream) {
            if requests.len() >= MAX_REQUEST_STREAMS {
                requests.clear();
            }
            requests.insert(stream.to_string(), 0);
        }
    }

    /// A request's stream resumed after event `seen` (`id`: where it was served, and the
    /// request's id): what is stored after it, then what is stored later, until the response.
    /// When the edge serving the request is gone, or no response comes within `patience`, the
    /// stream ends with a JSON-RPC error for the request instead (nothing else would answer it).
    pub(crate) fn resume_request(&self, id: RequestEventId, patience: Duration) -> EventStream {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let stores = self.clone();
        tokio::spawn(async move {
            if let Err(e) = stores.follow_request(&id, patience, &tx).await {
                tracing::warn!(error = %e, stream = id.stream, "stopped following a resumed request's stream");
            }
        });
        Box::pin(Followed(rx))
    }

    async fn follow_request(
        &self,
        id: &RequestEventId,
        patience: Duration,
        tx: &tokio::sync::mpsc::Sender<ServerSseMessage>,
    ) -> Result<(), EventStoreError> {
        let key = self.events_key(&id.stream);
        let deadline = tokio::time::Instant::now() + patience;
        let mut seen = id.seen;
        let mut last_look = false;
        loop {
            let raw: Vec<String> =
                redis::cmd("LRANGE").arg(&key).arg(seen as i64).arg(-1).query_async(&mut self.redis.clone()).await?;
            for json in raw {
                seen += 1;
                let Some(mut event) = decode(&id.stream, seen, &json) else { continue };
                event.event_id = Some(request_event_id(&id.stream, seen, &id.edge, &id.request));
                let last = is_final(&event);
                if tx.send(event).await.is_err() || last {
                    return Ok(());
                }
            }
            if last_look {
                let message = "the gateway edge serving this request stopped before it answered; \
                               the call may or may not have run: send it again if that is safe";
                return self.answer_lost(id, seen, message, tx).await;
            }
            if tokio::time::Instant::now() >= deadline {
                let message = "no answer to this request came within the gateway's call timeout";
                return self.answer_lost(id, seen, message, tx).await;
            }
            // Gone: one more look, for a response stored just before it stopped.
            last_look = !self.edge_alive(&id.edge).await;
            if !last_look {
                tokio::select! {
                    _ = tx.closed() => return Ok(()),
                    _ = tokio::time::sleep(RESUMED_POLL) => {}
                }
            }
        }
    }

    async fn answer_lost(
        &self,
        id: &RequestEventId,
        seen: u64,
        message: &str,
        tx: &tokio::sync::mpsc::Sender<ServerSseMessage>,
    ) -> Result<(), EventStoreError> {
        let request: rmcp::model::RequestId = serde_json::from_slice(&id.request)?;
        let error = rmcp::model::ErrorData::new(rmcp::model::ErrorCode(EDGE_LOST), message.to_string(), None);
        let mut event = ServerSseMessage::from_message(ServerJsonRpcMessage::error(error, Some(request)));
        event.event_id = Some(request_event_id(&id.stream, seen, &id.edge, &id.request));
        let _ = tx.send(event).await;
        Ok(())
    }

    /// Announces appends to standalone streams on `nats`, so that the edge holding a
    /// session's GET stream forwards them at once.
    pub fn with_wakeups(mut self, nats: async_nats::Client) -> Self {
        self.wakeups = Some(nats);
        self
    }

    pub(crate) fn connection(&self) -> redis::aio::ConnectionManager {
        self.redis.clone()
    }
    pub(crate) fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs().max(1)
    }
    /// A key of this deployment: `PREFIX:mcp:SUFFIX`.
    pub(crate) fn key(&self, suffix: &str) -> String {
        format!("{}:mcp:{suffix}", self.prefix)
    }
    pub(crate) fn session_key(&self, id: &str) -> String {
        self.key(&format!("session:{id}"))
    }
    fn events_key(&self, stream: &str) -> String {
        self.key(&format!("sse:{stream}"))
    }
    /// Session ids are rmcp's UUIDs; anything a subject cannot hold becomes `_` (a clash only
    /// costs a spurious wake-up).
    fn wakeup_subject(&self, stream: &str) -> String {
        let token: String =
            stream.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == ':' { c } else { '_' }).collect();
        format!("{}.mcp.sse.{token}", self.prefix)
    }

    async fn wake(&self, stream: &str) {
        if let (Some(nats), true) = (&self.wakeups, is_standalone(stream)) {
            if let Err(e) = nats.publish(self.wakeup_subject(stream), Default::default()).await {
                tracing::debug!(error = %e, "could not announce an SSE event; followers will poll");
            }
        }
    }

    /// Appends messages to a session's standalone stream, as one more writer besides rmcp: the
    /// edge holding the session's GET stream forwards them.
    pub(crate) async fn append_standalone(
        &self,
        session: &str,
        messages: &[ServerJsonRpcMessage],
    ) -> Result<(), EventStoreError> {
        let stream = standalone_stream(session);
        let key = self.events_key(&stream);
        let mut pipe = redis::pipe();
        for message in messages {
            let stored = StoredSse { message: Some(message.clone()), retry_ms: None };
            pipe.cmd("RPUSH").arg(&key).arg(serde_json::to_string(&stored)?).ignore();
        }
        pipe.cmd("EXPIRE").arg(&key).arg(self.ttl_secs()).ignore();
        let () = pipe.query_async(&mut self.redis.clone()).await?;
        self.wake(&stream).await;
        Ok(())
    }

    /// The events of `stream` after number `after`, then every event appended later, by any
    /// edge, until the returned stream is dropped. Without `after`, it starts at the current
    /// end with an event that carries only an id, so a client that reconnects resumes from
    /// there and misses nothing appended while it was away. A session's newest GET stream
    /// takes over from older ones (a message goes out on one stream only; an older stream is
    /// kept open but idle, as rmcp keeps a second GET stream on one edge).
    pub(crate) fn follow(&self, stream: String, after: Option<u64>) -> EventStream {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let stores = self.clone();
        tokio::spawn(async move {
            if let Err(e) = stores.forward(&stream, after, &tx).await {
                tracing::warn!(error = %e, stream, "stopped following an SSE stream");
            }
        });
        Box::pin(Followed(rx))
    }

    async fn forward(
        &self,
        stream: &str,
        after: Option<u64>,
        tx: &tokio::sync::mpsc::Sender<ServerSseMessage>,
    ) -> Result<(), EventStoreError> {
        let key = self.events_key(stream);
        let mut redis = self.redis.clone();
        let (holder, token) = (self.key(&format!("holder:{stream}")), uuid::Uuid::new_v4().to_string());
        let () =
            redis::cmd("SET").arg(&holder).arg(&token).arg("EX").arg(self.ttl_secs()).query_async(&mut redis).await?;
        // Subscribed before the first read, so no append falls between the two.
        let mut wakeups = match &self.wakeups {
            Some(nats) => Some(nats.subscribe(self.wakeup_subject(stream)).await?),
            None => None,
        };
        let poll = if wakeups.is_some() { POLL_WITH_WAKEUPS } else { POLL_WITHOUT_WAKEUPS };
        let mut seen = match after {
            Some(n) => n,
            None => {
                let len: u64 = redis::cmd("LLEN").arg(&key).query_async(&mut redis).await?;
                let mut position = ServerSseMessage::default();
                position.event_id = Some(format!("{stream}#{len}"));
                if tx.send(position).await.is_err() {
                    return Ok(());
                }
                len
            }
        };
        loop {
            let (current, raw): (Option<String>, Vec<String>) = redis::pipe()
                .cmd("GET")
                .arg(&holder)
                .cmd("LRANGE")
                .arg(&key)
                .arg(seen as i64)
                .arg(-1)
                .query_async(&mut redis)
                .await?;
            if current.as_deref() != Some(token.as_str()) {
                tx.closed().await;
                return Ok(());
            }
            for json in raw {
                seen += 1;
                let Some(event) = decode(stream, seen, &json) else { continue };
                if tx.send(event).await.is_err() {
                    return Ok(());
                }
            }
            let woken = async {
                match wakeups.as_mut() {
                    Some(w) => w.next().await.is_some(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tx.closed() => return Ok(()),
                still = woken => if !still { wakeups = None },
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}

/// A followed stream, as rmcp takes it (`Send + Sync`).
struct Followed(tokio::sync::mpsc::Receiver<ServerSseMessage>);

impl futures::Stream for Followed {
    type Item = ServerSseMessage;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[async_trait::async_trait]
impl SessionStore for RedisStores {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let mut redis = self.redis.clone();
        let raw: Option<String> = redis::cmd("GET").arg(self.session_key(session_id)).query_async(&mut redis).await?;
        Ok(match raw {
            Some(json) => Some(serde_json::from_str(&json)?),
            None => None,
        })
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let mut redis = self.redis.clone();
        let json = serde_json::to_string(state)?;
        let () = redis::cmd("SET")
            .arg(self.session_key(session_id))
            .arg(json)
            .arg("EX")
            .arg(self.ttl.as_secs().max(1))
            .query_async(&mut redis)
            .await?;
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        let mut redis = self.redis.clone();
        let _: i64 = redis::cmd("DEL").arg(self.session_key(session_id)).query_async(&mut redis).await?;
        Ok(())
    }
}

/// One SSE event as stored; its id is its position in the stream's list.
#[derive(Serialize, Deserialize)]
struct StoredSse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<ServerJsonRpcMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_ms: Option<u64>,
}

/// Event ids are `STREAM#N`: N counts the stream's stored events from 1 (a priming event that
/// is not stored has the number of the event before it, 0 if none). Stream ids are rmcp's
/// (`SESSION:common` for a session's standalone stream, a fresh UUID per request), so ids
/// never collide across sessions.
pub(crate) fn parse_event_id(id: &str) -> Option<(&str, u64)> {
    let (stream, seq) = id.rsplit_once('#')?;
    Some((stream, seq.parse().ok()?))
}

/// The `n`th event of `stream` as stored.
fn decode(stream: &str, n: u64, json: &str) -> Option<ServerSseMessage> {
    let stored = serde_json::from_str::<StoredSse>(json).ok()?;
    let mut event = ServerSseMessage::default();
    event.event_id = Some(format!("{stream}#{n}"));
    event.message = stored.message.map(Arc::new);
    event.retry = stored.retry_ms.map(Duration::from_millis);
    Some(event)
}

/// Where a request's stream stands, as its event ids say: the stream, the number of its last
/// stored event, the edge serving it and the request's JSON-RPC id (as JSON).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RequestEventId {
    pub stream: String,
    pub seen: u64,
    pub edge: String,
    pub request: Vec<u8>,
}

/// The id of an event of a request's stream: `STREAM#N!EDGE!ID`, ID the request's JSON-RPC id
/// as JSON in unpadded URL-safe base64 (an id a header can carry whatever the request's id).
pub(crate) fn request_event_id(stream: &str, seen: u64, edge: &str, request: &[u8]) -> String {
    use base64::Engine;
    let request = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(request);
    format!("{stream}#{seen}!{edge}!{request}")
}

/// [`request_event_id`] read back; `None` for any other id.
pub(crate) fn parse_request_event_id(id: &str) -> Option<RequestEventId> {
    use base64::Engine;
    let (base, rest) = id.split_once('!')?;
    let (edge, request) = rest.split_once('!')?;
    let (stream, seen) = parse_event_id(base)?;
    let request = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(request).ok()?;
    serde_json::from_slice::<serde_json::Value>(&request).ok()?;
    Some(RequestEventId { stream: stream.to_string(), seen, edge: edge.to_string(), request })
}

/// A request's response (or error): the last message of its stream.
pub(crate) fn is_final(event: &ServerSseMessage) -> bool {
    matches!(event.message.as_deref(), Some(ServerJsonRpcMessage::Response(_) | ServerJsonRpcMessage::Error(_)))
}

#[async_trait::async_trait]
impl EventStore for RedisStores {
    /// A request's stream (one per POST; rmcp names it with a fresh UUID, and only the edge
    /// serving the POST writes to it) starts with a priming event: an id and a retry interval,
    /// no message. That one is not stored, saving a Redis round trip before every request: its
    /// id is the stream's end (0 for a new stream), so a client that resumes from it gets
    /// every event stored after it, numbered as before. This edge counts the stored events of
    /// its requests' streams until their response, for a priming event sent later on.
    ///
    /// A response that completes its request at once (the first message of its stream: no
    /// progress, log or question before it) is not stored either, saving the Redis round trip
    /// in front of nearly every call: it is the whole stream, written to the client in one piece
    /// right after, and a client that loses its connection in that instant resumes to find it
    /// missing, which is what a JSON response (2026-07-28's only kind) does too. Once a request
    /// has stored anything, its response is stored after it, so a client resuming mid-stream
    /// gets the rest.
    ///
    /// Storing is a convenience for resumption, not a condition of answering: rmcp drops an
    /// event whose storing fails, so a call that completed while Redis was down would reach its
    /// client as an empty stream. An event Redis does not take within [`STORE_TIMEOUT`] goes out
    /// unstored, numbered as the stream's end (a client resuming from it misses it, nothing
    /// else), and for [`STORE_BACKOFF`] after that events are not offered to Redis at all.
    async fn store_event(&self, stream_id: &str, event: &ServerSseMessage) -> Result<EventId, EventStoreError> {
        let request = !is_standalone(stream_id);
        let unstored = || {
            let end = self.requests.lock().expect("request streams lock").get(stream_id).copied().unwrap_or(0);
            Ok(format!("{stream_id}#{end}"))
        };
        if request && event.message.is_none() {
            return unstored();
        }
        if request && is_final(event) && !self.requests.lock().expect("request streams lock").contains_key(stream_id) {
            return unstored();
        }
        let paused = *self.storing_paused_until.lock().expect("store pause lock");
        if paused.is_some_and(|until| std::time::Instant::now() < until) {
            return unstored();
        }
        match tokio::time::timeout(STORE_TIMEOUT, self.store_in_redis(stream_id, event, request)).await {
            Ok(Ok(id)) => Ok(id),
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {} ms", STORE_TIMEOUT.as_millis()),
                };
                tracing::warn!(error, stream = stream_id, "an SSE event was sent without being stored for resumption");
                *self.storing_paused_until.lock().expect("store pause lock") =
                    Some(std::time::Instant::now() + STORE_BACKOFF);
                unstored()
            }
        }
    }

    async fn replay_events_after(&self, last_event_id: &str) -> Result<EventStream, EventStoreError> {
        let (stream, seq) =
            parse_event_id(last_event_id).ok_or_else(|| format!("unknown event id '{last_event_id}'"))?;
        let mut redis = self.redis.clone();
        let raw: Vec<String> =
            redis::cmd("LRANGE").arg(self.events_key(stream)).arg(seq as i64).arg(-1).query_async(&mut redis).await?;
        let events: Vec<ServerSseMessage> =
            raw.iter().enumerate().filter_map(|(i, json)| decode(stream, seq + 1 + i as u64, json)).collect();
        Ok(Box::pin(futures::stream::iter(events)))
    }
}

impl RedisStores {
    /// Appends `event` to its stream's list; its id is its number there.
    async fn store_in_redis(
        &self,
        stream_id: &str,
        event: &ServerSseMessage,
        request: bool,
    ) -> Result<EventId, EventStoreError> {
        let mut redis = self.redis.clone();
        let key = self.events_key(stream_id);
        let stored = StoredSse {
            message: event.message.as_deref().cloned(),
            retry_ms: event.retry.map(|r| r.as_millis() as u64),
        };
        // One round trip: the list's length after RPUSH is the event's number, hence its id.
        let (seq, _): (u64, i64) = redis::pipe()
            .cmd("RPUSH")
            .arg(&key)
            .arg(serde_json::to_string(&stored)?)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(self.ttl.as_secs().max(1))
            .query_async(&mut redis)
            .await?;
        if request {
            let mut requests = self.requests.lock().expect("request streams lock");
            if is_final(event) {
                requests.remove(stream_id);
            } else {
                if requests.len() >= MAX_REQUEST_STREAMS {
                    requests.clear();
                }
                requests.insert(stream_id.to_string(), seq);
            }
        }
        self.wake(stream_id).await;
        Ok(format!("{stream_id}#{seq}"))
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_event_id, parse_request_event_id, request_event_id};

    #[test]
    fn event_ids() {
        assert_eq!(parse_event_id("abc:common#12"), Some(("abc:common", 12)));
        assert_eq!(parse_event_id("s#x"), None);
        assert_eq!(parse_event_id("nohash"), None);
    }

    #[test]
    fn request_event_ids_carry_the_edge_and_any_request_id() {
        for request in [r#"7"#, r#""a!b#c\né""#] {
            let id = request_event_id("3f1c", 2, "e1", request.as_bytes());
            assert!(id.bytes().all(|b| b.is_ascii_graphic()), "{id}");
            let parsed = parse_request_event_id(&id).unwrap();
            assert_eq!((parsed.stream.as_str(), parsed.seen, parsed.edge.as_str()), ("3f1c", 2, "e1"));
            assert_eq!(parsed.request, request.as_bytes());
            assert_eq!(parse_event_id(&id), None, "not taken for a plain event id");
        }
        assert_eq!(parse_request_event_id("abc:common#12"), None);
        assert_eq!(parse_request_event_id("s#1!e!not json"), None);
    }
}

#[cfg(test)]
mod against_redis {
    use super::*;
    use futures::StreamExt;

    fn message(json: serde_json::Value) -> ServerSseMessage {
        ServerSseMessage::from_message(serde_json::from_value(json).unwrap())
    }

    #[tokio::test]
    async fn a_requests_priming_event_and_an_immediate_response_are_not_stored_and_resuming_replays_the_rest() {
        let client = redis::Client::open(canopy_testkit::redis_url()).unwrap();
        let redis = redis::aio::ConnectionManager::new(client).await.unwrap();
        let stores = RedisStores::new(redis.clone(), &canopy_testkit::unique("edge"), Duration::from_secs(60));
        let priming = ServerSseMessage::retry(Duration::from_secs(3));
        let progress = message(serde_json::json!({
            "jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1, "progress": 1}
        }));
        let response = message(serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": {}}));
        let length = |stream: &str| {
            let (key, mut redis) = (stores.events_key(stream), redis.clone());
            async move { redis::cmd("LLEN").arg(key).query_async::<u64>(&mut redis).await.unwrap() }
        };
        let ids = |events: EventStream| async move {
            events.map(|e| (e.event_id.unwrap(), e.message.is_some())).collect::<Vec<_>>().await
        };

        // A request's stream: the priming event takes the number of the stream's end.
        let request = uuid::Uuid::new_v4().to_string();
        assert_eq!(stores.store_event(&request, &priming).await.unwrap(), format!("{request}#0"));
        assert_eq!(length(&request).await, 0, "not stored");
        assert_eq!(stores.store_event(&request, &progress).await.unwrap(), format!("{request}#1"));
        assert_eq!(stores.store_event(&request, &priming).await.unwrap(), format!("{request}#1"));
        assert_eq!(stores.store_event(&request, &response).await.unwrap(), format!("{request}#2"));
        assert!(stores.requests.lock().unwrap().is_empty(), "forgotten once answered");
        let all = stores.replay_events_after(&format!("{request}#0")).await.unwrap();
        assert_eq!(ids(all).await, [(format!("{request}#1"), true), (format!("{request}#2"), true)]);
        let rest = stores.replay_events_after(&format!("{request}#1")).await.unwrap();
        assert_eq!(ids(rest).await, [(format!("{request}#2"), true)]);

        // A response that is its request's first message is not stored: no Redis write for a
        // call that completes at once; resuming its stream finds nothing after the priming.
        let at_once = uuid::Uuid::new_v4().to_string();
        assert_eq!(stores.store_event(&at_once, &priming).await.unwrap(), format!("{at_once}#0"));
        assert_eq!(stores.store_event(&at_once, &response).await.unwrap(), format!("{at_once}#0"));
        assert_eq!(length(&at_once).await, 0, "not stored");
        assert!(stores.requests.lock().unwrap().is_empty());
        let none = stores.replay_events_after(&format!("{at_once}#0")).await.unwrap();
        assert!(ids(none).await.is_empty());

        // A session's standalone stream keeps every event, priming ones too.
        let standalone = standalone_stream(&uuid::Uuid::new_v4().to_string());
        assert_eq!(stores.store_event(&standalone, &priming).await.unwrap(), format!("{standalone}#1"));
        assert_eq!(length(&standalone).await, 1);

        let mut redis = redis.clone();
        let keys = [stores.events_key(&request), stores.events_key(&standalone)];
        let _: i64 = redis::cmd("DEL").arg(&keys[..]).query_async(&mut redis).await.unwrap();
    }
}

//! Session state and SSE replay in Redis, so edges are stateless: a session opened on one edge
//! is restored by another from its stored `initialize` parameters, and a client that lost its
//! stream (say, because its edge stopped) resumes on any edge with `Last-Event-ID`.
//! Keys live under `PREFIX:` (the deployment's NATS prefix) and expire after `ttl`.

use rmcp::model::ServerJsonRpcMessage;
use rmcp::transport::common::server_side_http::ServerSseMessage;
use rmcp::transport::streamable_http_server::session::store::{
    EventId, EventStore, EventStoreError, EventStream, SessionState, SessionStore, SessionStoreError,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct RedisStores {
    redis: redis::aio::ConnectionManager,
    prefix: String,
    ttl: Duration,
}

impl RedisStores {
    pub fn new(redis: redis::aio::ConnectionManager, prefix: &str, ttl: Duration) -> Self {
        Self { redis, prefix: prefix.to_string(), ttl }
    }

    fn session_key(&self, id: &str) -> String {
        format!("{}:mcp:session:{id}", self.prefix)
    }
    fn events_key(&self, stream: &str) -> String {
        format!("{}:mcp:sse:{stream}", self.prefix)
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

/// Event ids are `STREAM#N`: N counts the stream's events from 1. Stream ids are rmcp's and
/// contain the session id, so ids never collide across sessions.
fn parse_event_id(id: &str) -> Option<(&str, u64)> {
    let (stream, seq) = id.rsplit_once('#')?;
    Some((stream, seq.parse().ok()?))
}

#[async_trait::async_trait]
impl EventStore for RedisStores {
    async fn store_event(&self, stream_id: &str, event: &ServerSseMessage) -> Result<EventId, EventStoreError> {
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
        Ok(format!("{stream_id}#{seq}"))
    }

    async fn replay_events_after(&self, last_event_id: &str) -> Result<EventStream, EventStoreError> {
        let (stream, seq) =
            parse_event_id(last_event_id).ok_or_else(|| format!("unknown event id '{last_event_id}'"))?;
        let mut redis = self.redis.clone();
        let raw: Vec<String> =
            redis::cmd("LRANGE").arg(self.events_key(stream)).arg(seq as i64).arg(-1).query_async(&mut redis).await?;
        let events: Vec<ServerSseMessage> = raw
            .iter()
            .enumerate()
            .filter_map(|(i, json)| Some((seq + 1 + i as u64, serde_json::from_str::<StoredSse>(json).ok()?)))
            .map(|(n, s)| {
                let mut event = ServerSseMessage::default();
                event.event_id = Some(format!("{stream}#{n}"));
                event.message = s.message.map(Arc::new);
                event.retry = s.retry_ms.map(Duration::from_millis);
                event
            })
            .collect();
        Ok(Box::pin(futures::stream::iter(events)))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_event_id;

    #[test]
    fn event_ids() {
        assert_eq!(parse_event_id("abc:common#12"), Some(("abc:common", 12)));
        assert_eq!(parse_event_id("s#x"), None);
        assert_eq!(parse_event_id("nohash"), None);
    }
}

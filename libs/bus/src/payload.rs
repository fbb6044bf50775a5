//! Keeping every message within what the NATS server accepts. The server announces its
//! `max_payload` (1 MiB by default) and closes the whole connection of a client that publishes
//! more ("Maximum Payload Violation"): every call and subscription of the process is disrupted,
//! and a request waits for its timeout. async-nats checks plain `publish` itself but not
//! requests, headers or JetStream publishes, so everything on the call path goes through here:
//! [`check`] measures a message (payload and headers, as the server counts them) against the
//! connected server's limit before it is sent and answers [`TooLarge`] instead.
//!
//! Large results need not fail: [`send_large`] sends a message that does not fit as a small
//! announcement naming an inbox of the sender's, from which [`receive_large`] fetches it in
//! chunks that each fit (at most [`MAX_CHUNKED`] in all).

use async_nats::subject::ToSubject;
use async_nats::{Client, HeaderMap, Message};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use std::time::Duration;

/// NATS's default `max_payload`, used when the server announced none.
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

/// The largest message [`send_large`] delivers in chunks; larger ones are refused. Half of
/// the 16 MiB an rmcp Streamable HTTP client accepts in one event: a result this large is
/// already far more than a model's context holds.
pub const MAX_CHUNKED: usize = 8 * 1024 * 1024;

/// Header of a chunked message's announcement: the inbox its chunks are fetched from.
const CHUNKED: &str = "Canopy-Chunked";
/// Header of the announcement: the message's size in bytes.
const SIZE: &str = "Canopy-Size";
/// Header of the announcement: how many chunks there are.
const CHUNKS: &str = "Canopy-Chunks";
/// Room left in a chunk for what NATS adds to a message besides its payload.
const CHUNK_HEADROOM: usize = 4 * 1024;
/// How long a sender keeps the chunks of a message once nobody fetches any more of them.
const KEEP_CHUNKS: Duration = Duration::from_secs(30);
/// How long a receiver waits for one chunk.
const CHUNK_WAIT: Duration = Duration::from_secs(10);

/// A message larger than the bus carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{size} bytes, limit {limit}")]
pub struct TooLarge {
    /// The message's size as the server counts it (payload and headers).
    pub size: usize,
    /// The limit it exceeds: the server's `max_payload`, or [`MAX_CHUNKED`].
    pub limit: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("message too large for the bus: {0}")]
    TooLarge(TooLarge),
    #[error(transparent)]
    Publish(#[from] async_nats::PublishError),
    #[error(transparent)]
    Request(#[from] async_nats::RequestError),
    #[error(transparent)]
    Subscribe(#[from] async_nats::SubscribeError),
}

impl From<TooLarge> for SendError {
    fn from(e: TooLarge) -> Self {
        SendError::TooLarge(e)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("a chunked message's announcement is malformed: {0}")]
    Malformed(&'static str),
    #[error("fetching a chunk failed: {0}")]
    Fetch(#[from] async_nats::RequestError),
    #[error("the chunked message is {0}")]
    TooLarge(TooLarge),
}

/// The connected server's `max_payload`.
pub fn limit(client: &Client) -> usize {
    match client.server_info().max_payload {
        0 => DEFAULT_MAX_PAYLOAD,
        n => n,
    }
}

/// A message's size as the server measures it against `max_payload`: the payload, plus the
/// headers as they are written (`NATS/1.0\r\n`, a `Name: value\r\n` line per value, `\r\n`).
pub fn wire_size(headers: Option<&HeaderMap>, payload: &[u8]) -> usize {
    let headers = headers.map_or(0, |headers| {
        let lines: usize = headers
            .iter()
            .map(|(name, values)| {
                values.iter().map(|v| AsRef::<str>::as_ref(name).len() + 2 + v.as_str().len() + 2).sum::<usize>()
            })
            .sum();
        "NATS/1.0\r\n".len() + lines + 2
    });
    headers + payload.len()
}

/// Whether a message fits the connected server's `max_payload`.
pub fn check(client: &Client, headers: Option<&HeaderMap>, payload: &[u8]) -> Result<(), TooLarge> {
    let (size, limit) = (wire_size(headers, payload), limit(client));
    if size > limit {
        return Err(TooLarge { size, limit });
    }
    Ok(())
}

/// `publish`, refused with [`SendError::TooLarge`] when it does not fit.
pub async fn publish<S: ToSubject>(client: &Client, subject: S, payload: Bytes) -> Result<(), SendError> {
    check(client, None, &payload)?;
    client.publish(subject, payload).await?;
    Ok(())
}

/// `publish_with_headers`, refused with [`SendError::TooLarge`] when it does not fit.
pub async fn publish_with_headers<S: ToSubject>(
    client: &Client,
    subject: S,
    headers: HeaderMap,
    payload: Bytes,
) -> Result<(), SendError> {
    check(client, Some(&headers), &payload)?;
    client.publish_with_headers(subject, headers, payload).await?;
    Ok(())
}

/// A request (`timeout` as `async_nats::Request::timeout`), refused with
/// [`SendError::TooLarge`] when it does not fit.
pub async fn request<S: ToSubject>(
    client: &Client,
    subject: S,
    payload: Bytes,
    timeout: Option<Option<Duration>>,
) -> Result<Message, SendError> {
    check(client, None, &payload)?;
    let mut request = async_nats::Request::new().payload(payload);
    if let Some(timeout) = timeout {
        request = request.timeout(timeout);
    }
    Ok(client.send_request(subject, request).await?)
}

/// Sends `payload` to `subject` (typically a reply inbox): as it is when it fits, otherwise as
/// an announcement from which [`receive_large`] fetches it in chunks. The chunks are served
/// from an inbox of this client until the last is fetched, or for [`KEEP_CHUNKS`] after the
/// last fetch. Over [`MAX_CHUNKED`]: [`SendError::TooLarge`], and nothing is sent.
pub async fn send_large<S: ToSubject>(client: &Client, subject: S, payload: Bytes) -> Result<(), SendError> {
    let limit = limit(client);
    if wire_size(None, &payload) <= limit {
        client.publish(subject, payload).await?;
        return Ok(());
    }
    if payload.len() > MAX_CHUNKED {
        return Err(TooLarge { size: payload.len(), limit: MAX_CHUNKED }.into());
    }
    let chunk = limit.saturating_sub(CHUNK_HEADROOM).max(1);
    let chunks: Vec<Bytes> =
        (0..payload.len()).step_by(chunk).map(|at| payload.slice(at..(at + chunk).min(payload.len()))).collect();
    let inbox = client.new_inbox();
    let mut fetches = client.subscribe(inbox.clone()).await?;
    let mut headers = HeaderMap::new();
    headers.insert(CHUNKED, inbox.as_str());
    headers.insert(SIZE, payload.len().to_string().as_str());
    headers.insert(CHUNKS, chunks.len().to_string().as_str());
    publish_with_headers(client, subject, headers, Bytes::new()).await?;
    let client = client.clone();
    tokio::spawn(async move {
        loop {
            let fetch = match tokio::time::timeout(KEEP_CHUNKS, fetches.next()).await {
                Ok(Some(fetch)) => fetch,
                Ok(None) | Err(_) => break,
            };
            let Some(reply) = fetch.reply else { continue };
            let index = std::str::from_utf8(&fetch.payload).ok().and_then(|i| i.parse::<usize>().ok());
            let Some(part) = index.and_then(|i| chunks.get(i)) else { continue };
            if let Err(e) = client.publish(reply, part.clone()).await {
                tracing::warn!(error = %e, "a chunk of a large message could not be sent");
            }
            if index == Some(chunks.len() - 1) {
                break;
            }
        }
        let _ = fetches.unsubscribe().await;
    });
    Ok(())
}

/// Whether `message` announces a message sent in chunks by [`send_large`].
pub fn is_chunked(message: &Message) -> bool {
    message.headers.as_ref().is_some_and(|h| h.get(CHUNKED).is_some())
}

/// The payload of a message sent with [`send_large`]: the message's own, or its chunks fetched
/// from the sender.
pub async fn receive_large(client: &Client, message: Message) -> Result<Bytes, ReceiveError> {
    let Some(inbox) = message.headers.as_ref().and_then(|h| h.get(CHUNKED)).map(|v| v.as_str().to_string()) else {
        return Ok(message.payload);
    };
    let number = |name: &'static str| {
        message
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .and_then(|v| v.as_str().parse::<usize>().ok())
            .ok_or(ReceiveError::Malformed(name))
    };
    let (size, count) = (number(SIZE)?, number(CHUNKS)?);
    if size > MAX_CHUNKED {
        return Err(ReceiveError::TooLarge(TooLarge { size, limit: MAX_CHUNKED }));
    }
    let mut whole = BytesMut::with_capacity(size);
    for index in 0..count {
        let request = async_nats::Request::new().payload(index.to_string().into()).timeout(Some(CHUNK_WAIT));
        let part = client.send_request(inbox.clone(), request).await?;
        whole.extend_from_slice(&part.payload);
        if whole.len() > size {
            return Err(ReceiveError::Malformed("chunks longer than the announced size"));
        }
    }
    if whole.len() != size {
        return Err(ReceiveError::Malformed("chunks shorter than the announced size"));
    }
    Ok(whole.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_count_as_written() {
        assert_eq!(wire_size(None, b"hello"), 5);
        let mut headers = HeaderMap::new();
        headers.insert("A", "bc");
        // "NATS/1.0\r\n" + "A: bc\r\n" + "\r\n" + payload
        assert_eq!(wire_size(Some(&headers), b"hello"), 10 + 7 + 2 + 5);
    }
}

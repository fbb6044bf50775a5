//! Multi round-trip requests (SEP-2322) for 2026-07-28 clients of session-era upstreams.
//!
//! A session-era upstream asks its client things (sampling, elicitation, roots) in the middle
//! of a request, with server-to-client requests. A 2026-07-28 client cannot be asked that way:
//! it expects an `input_required` result and retries the request with `inputResponses` and
//! the `requestState` it was given. The edge translates: when the upstream asks, the HTTP
//! request ends with the questions, while the upstream call goes on running on its worker,
//! waiting for the answers ([`crate::relay::relay_stateless`]); the retry, on any edge,
//! delivers them and waits for the result or the next questions ([`crate::relay::resume`]).
//!
//! `requestState` carries what the retry needs (the call, the worker's inbox for each
//! question, answers already given, the deadline), sealed with HMAC-SHA256 under a key
//! derived from the deployment's secret key, so every edge can open it and a client cannot
//! forge or alter it. It is bound to the tenant, the endpoint and the request (method and
//! name): a state issued for one tool is refused for another.
//!
//! Questions arriving within 40 ms of each other form one round (`ROUND_QUIET` in `relay.rs`).
//! The retry opens the state, publishes the answers to the worker's inboxes and waits on the
//! call's client subject for the result (the worker sends it there too once a call has asked
//! anything) or the next questions. Questions the client has no capability for are answered
//! upstream with `-32021`; if a round has nothing else, the client gets `-32021` and the call
//! is cancelled. `Mcp-Param-*` headers are checked before anything is relayed
//! ([`crate::param_headers`]).

use crate::relay::Ask;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rmcp::model::{InputRequest, InputRequests, InputRequiredResult};
use rmcp::ErrorData;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a retry needs to carry a call on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// The call running on a worker.
    pub call: String,
    /// When the call's time is up (Unix milliseconds).
    pub deadline_ms: u64,
    /// The open questions, by the keys the client was given.
    pub asks: BTreeMap<String, Ask>,
    /// Answers to some of them from an earlier retry that did not answer all.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub answers: BTreeMap<String, serde_json::Value>,
}

impl Pending {
    /// A new round's state: the questions get keys named after what they ask.
    pub fn new(call: String, deadline: tokio::time::Instant, asks: Vec<Ask>) -> Self {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let deadline_ms = (now_ms() + left.as_millis() as u64).max(1);
        let mut keyed = BTreeMap::new();
        for ask in asks {
            let kind = match ask.method.as_str() {
                "sampling/createMessage" => "sampling",
                "elicitation/create" => "elicitation",
                "roots/list" => "roots",
                _ => "input",
            };
            let n = (1..).find(|n| !keyed.contains_key(&format!("{kind}_{n}"))).expect("a free key");
            keyed.insert(format!("{kind}_{n}"), ask);
        }
        Self { call, deadline_ms, asks: keyed, answers: BTreeMap::new() }
    }

    /// The time left for the call; `None` once it is over.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline_ms.checked_sub(now_ms()).filter(|ms| *ms > 0).map(Duration::from_millis)
    }

    /// The questions not yet answered, as the client sees them.
    pub fn open_requests(&self) -> Result<InputRequests, ErrorData> {
        let mut requests = InputRequests::new();
        for (key, ask) in self.asks.iter().filter(|(k, _)| !self.answers.contains_key(*k)) {
            let request: InputRequest = serde_json::from_value(serde_json::json!({
                "method": ask.method,
                "params": ask.params,
            }))
            .map_err(|e| {
                ErrorData::internal_error(format!("the upstream asked a malformed {}: {e}", ask.method), None)
            })?;
            requests.insert(key.clone(), request);
        }
        Ok(requests)
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}

/// Seals and opens `requestState` values: `base64url(json) "." base64url(HMAC-SHA256(key,
/// binding "\0" json))`.
pub struct StateCodec {
    key: [u8; 32],
}

impl std::fmt::Debug for StateCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateCodec(..)")
    }
}

impl StateCodec {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self, binding: &str, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(binding.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    pub fn seal(&self, binding: &str, pending: &Pending) -> String {
        let payload = serde_json::to_vec(pending).expect("states serialise");
        let tag = self.mac(binding, &payload).finalize().into_bytes();
        format!("{}.{}", B64.encode(&payload), B64.encode(tag))
    }

    /// `-32602` when the value is malformed, altered, or was issued for another request.
    pub fn open(&self, binding: &str, sealed: &str) -> Result<Pending, ErrorData> {
        let bad = || {
            ErrorData::invalid_params(
                "requestState failed its integrity check (altered, or not issued for this request)",
                None,
            )
        };
        let (payload, tag) = sealed.split_once('.').ok_or_else(bad)?;
        let payload = B64.decode(payload).map_err(|_| bad())?;
        let tag = B64.decode(tag).map_err(|_| bad())?;
        self.mac(binding, &payload).verify_slice(&tag).map_err(|_| bad())?;
        serde_json::from_slice(&payload).map_err(|_| bad())
    }
}

/// The `input_required` result of a round.
pub fn input_required(codec: &StateCodec, binding: &str, pending: &Pending) -> Result<InputRequiredResult, ErrorData> {
    Ok(InputRequiredResult::new(Some(pending.open_requests()?), Some(codec.seal(binding, pending))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(method: &str) -> Ask {
        let params = match method {
            "elicitation/create" => serde_json::json!({
                "mode": "form", "message": "Name?",
                "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}}
            }),
            _ => serde_json::json!({}),
        };
        Ask { method: method.into(), params, reply: "_INBOX.x.1".into() }
    }

    #[test]
    fn state_round_trips_and_refuses_alteration_and_other_bindings() {
        let codec = StateCodec::new([7; 32]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let pending = Pending::new("call-1".into(), deadline, vec![ask("roots/list"), ask("roots/list")]);
        assert_eq!(pending.asks.keys().collect::<Vec<_>>(), ["roots_1", "roots_2"]);
        let sealed = codec.seal("t\0/mcp\0tools/call\0a", &pending);
        assert_eq!(codec.open("t\0/mcp\0tools/call\0a", &sealed).unwrap(), pending);
        assert!(codec.open("t\0/mcp\0tools/call\0b", &sealed).is_err(), "another tool");
        assert!(codec.open("u\0/mcp\0tools/call\0a", &sealed).is_err(), "another tenant");
        assert!(codec.open("t\0/mcp\0tools/call\0a", &format!("{sealed}-TAMPERED")).is_err());
        assert!(StateCodec::new([8; 32]).open("t\0/mcp\0tools/call\0a", &sealed).is_err(), "another key");
        let (_, tag) = sealed.split_once('.').unwrap();
        let mut forged = pending.clone();
        forged.call = "call-2".into();
        let forged = format!("{}.{tag}", B64.encode(serde_json::to_vec(&forged).unwrap()));
        assert!(codec.open("t\0/mcp\0tools/call\0a", &forged).is_err(), "a forged payload");
        assert!(codec.open("t\0/mcp\0tools/call\0a", "nonsense").is_err());
    }

    #[test]
    fn open_requests_leave_out_what_was_answered() {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut pending = Pending::new("c".into(), deadline, vec![ask("roots/list"), ask("elicitation/create")]);
        assert!(pending.remaining().is_some());
        pending.answers.insert("roots_1".into(), serde_json::json!({"roots": []}));
        let open = pending.open_requests().unwrap();
        assert_eq!(open.keys().collect::<Vec<_>>(), ["elicitation_1"]);
    }
}

//! Multi round-trip requests (SEP-2322) for the fixture, in both protocol eras.
#![allow(deprecated)] // sampling and roots are deprecated by SEP-2577 but still part of MCP.
//!
//! A fixture that needs input from the client (sampling, elicitation, roots) is written once,
//! as a *step* function: given the client's answers so far ([`Round`]) it either finishes
//! ([`Step::Done`]) or asks for more ([`Step::Ask`]: `inputRequests` plus state to carry to the
//! next round). [`drive`] runs it:
//!
//! * 2026-07-28 requests: one step per HTTP request. `Ask` becomes an `input_required` result
//!   whose `requestState` is the carried state sealed with HMAC-SHA256 ([`StateCodec`]); the
//!   client retries with `inputResponses` and the echoed `requestState`, which is verified
//!   (a tampered or foreign state is `-32602`). A request the client has no capability for is
//!   `-32021` (`MissingRequiredClientCapability`).
//! * Session-era requests (2025-06-18, 2025-11-25): all rounds run inside the one request, as
//!   server-to-client requests (`sampling/createMessage`, `elicitation/create`, `roots/list`)
//!   on the session, a round's requests all at once. A missing client capability is an
//!   `isError` tool result.

use std::{
    collections::BTreeMap,
    hash::{BuildHasher, Hasher},
};

use rmcp::{
    model::{
        ClientCapabilities, ClientResult, ErrorData, InputRequest, InputRequests, InputRequiredResult, InputResponses,
        JsonObject, ProtocolVersion, ServerRequest,
    },
    service::RequestContext,
    RoleServer,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Upper bound on session-era rounds, so a buggy step cannot loop forever.
const MAX_ROUNDS: usize = 10;

/// What a step sees.
pub struct Round<'a> {
    /// The request's arguments (`tools/call` arguments, `prompts/get` arguments).
    pub args: &'a JsonObject,
    /// The client's answers to the previous round's requests (empty on the first round).
    pub responses: &'a InputResponses,
    /// State carried from the previous round (verified), `None` on the first round.
    pub state: Option<&'a Value>,
    /// The client's declared capabilities.
    pub capabilities: &'a ClientCapabilities,
}

impl Round<'_> {
    /// The `content` of an accepted elicitation answer under `key`: `Ok(None)` when the key
    /// is absent, an empty object when the user declined or cancelled, `-32602` when the
    /// answer is not an `ElicitResult` object.
    pub fn elicited(&self, key: &str) -> Result<Option<JsonObject>, ErrorData> {
        let Some(answer) = self.responses.get(key) else {
            return Ok(None);
        };
        let Some(answer) = answer.as_object() else {
            return Err(invalid_response(key, "an ElicitResult object"));
        };
        match answer.get("action").and_then(Value::as_str) {
            Some("accept") => match answer.get("content") {
                Some(Value::Object(content)) => Ok(Some(content.clone())),
                None | Some(Value::Null) => Ok(Some(JsonObject::new())),
                Some(_) => Err(invalid_response(key, "an object `content`")),
            },
            Some("decline" | "cancel") => Ok(Some(JsonObject::new())),
            _ => Err(invalid_response(key, "an `action` of accept, decline or cancel")),
        }
    }

    /// The text of a sampling answer (`CreateMessageResult`) under `key`.
    pub fn sampled(&self, key: &str) -> Result<Option<String>, ErrorData> {
        let Some(answer) = self.responses.get(key) else {
            return Ok(None);
        };
        let Some(content) = answer.as_object().and_then(|a| a.get("content")) else {
            return Err(invalid_response(key, "a CreateMessageResult object"));
        };
        let block = match content {
            Value::Array(items) => items.iter().find(|b| b["type"] == "text"),
            other => Some(other),
        };
        Ok(Some(block.and_then(|b| b["text"].as_str()).unwrap_or_default().to_owned()))
    }

    /// The root URIs of a `roots/list` answer under `key`.
    pub fn roots(&self, key: &str) -> Result<Option<Vec<String>>, ErrorData> {
        let Some(answer) = self.responses.get(key) else {
            return Ok(None);
        };
        let Some(roots) = answer.get("roots").and_then(Value::as_array) else {
            return Err(invalid_response(key, "a ListRootsResult object"));
        };
        Ok(Some(roots.iter().filter_map(|r| r["uri"].as_str().map(str::to_owned)).collect()))
    }

    pub fn has_sampling(&self) -> bool {
        self.capabilities.sampling.is_some()
    }

    pub fn has_elicitation(&self) -> bool {
        self.capabilities.elicitation.is_some()
    }

    pub fn has_roots(&self) -> bool {
        self.capabilities.roots.is_some()
    }
}

fn invalid_response(key: &str, want: &str) -> ErrorData {
    ErrorData::invalid_params(format!("inputResponses.{key} must be {want}"), Some(json!({ "key": key })))
}

/// What a step decides.
pub enum Step<T> {
    Done(T),
    /// Ask the client; the state (if any) comes back in the next round.
    Ask(Asks, Option<Value>),
}

/// The `inputRequests` of one round, built with [`Asks::elicit`], [`Asks::sample`],
/// [`Asks::list_roots`].
#[derive(Default)]
pub struct Asks(InputRequests);

impl Asks {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(mut self, key: &str, request: Value) -> Self {
        let request: InputRequest = serde_json::from_value(request).expect("fixture input request is well-formed");
        self.0.insert(key.to_owned(), request);
        self
    }

    /// `elicitation/create` (form mode).
    pub fn elicit(self, key: &str, message: &str, requested_schema: Value) -> Self {
        self.push(
            key,
            json!({
                "method": "elicitation/create",
                "params": { "mode": "form", "message": message, "requestedSchema": requested_schema }
            }),
        )
    }

    /// `sampling/createMessage` with one user text message.
    pub fn sample(self, key: &str, prompt: &str, max_tokens: u32) -> Self {
        self.push(
            key,
            json!({
                "method": "sampling/createMessage",
                "params": {
                    "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
                    "maxTokens": max_tokens
                }
            }),
        )
    }

    /// `roots/list`.
    pub fn list_roots(self, key: &str) -> Self {
        self.push(key, json!({ "method": "roots/list", "params": {} }))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Outcome of [`drive`]: done, or (2026-07-28 only) an `input_required` result to return.
pub enum Outcome<T> {
    Complete(T),
    InputRequired(InputRequiredResult),
}

fn is_2026(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.protocol_version().is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

/// The capability an input request needs, as a `ClientCapabilities` with just that one.
fn required_capability(request: &InputRequest) -> (ClientCapabilities, &'static str) {
    match request {
        InputRequest::CreateMessage(_) => (ClientCapabilities::builder().enable_sampling().build(), "sampling"),
        InputRequest::Elicitation(_) => (ClientCapabilities::builder().enable_elicitation().build(), "elicitation"),
        _ => (ClientCapabilities::builder().enable_roots().build(), "roots"),
    }
}

fn declared(caps: &ClientCapabilities, request: &InputRequest) -> bool {
    match request {
        InputRequest::CreateMessage(_) => caps.sampling.is_some(),
        InputRequest::Elicitation(_) => caps.elicitation.is_some(),
        _ => caps.roots.is_some(),
    }
}

/// Run a multi round-trip step function for one request; see the module docs.
///
/// `scope` binds sealed state to one tool or prompt (state minted for another is rejected).
/// `on_missing_capability` builds what a session-era request answers when the client lacks a
/// capability a round needs (e.g. an `isError` tool result).
#[allow(clippy::too_many_arguments)]
pub async fn drive<T>(
    ctx: &RequestContext<RoleServer>,
    codec: &StateCodec,
    scope: &str,
    args: &JsonObject,
    input_responses: Option<InputResponses>,
    request_state: Option<String>,
    step: impl Fn(&Round<'_>) -> Result<Step<T>, ErrorData>,
    on_missing_capability: impl Fn(&str) -> T,
) -> Result<Outcome<T>, ErrorData> {
    let capabilities = ctx.client_capabilities().unwrap_or_default();
    if is_2026(ctx) {
        let state = match request_state.as_deref() {
            Some(sealed) => Some(codec.open(scope, sealed)?),
            None => None,
        };
        let responses = input_responses.unwrap_or_default();
        let round = Round { args, responses: &responses, state: state.as_ref(), capabilities: &capabilities };
        return match step(&round)? {
            Step::Done(result) => Ok(Outcome::Complete(result)),
            Step::Ask(asks, next_state) => {
                if let Some(missing) = asks.0.values().find(|r| !declared(&capabilities, r)) {
                    return Err(ErrorData::missing_required_client_capability(required_capability(missing).0));
                }
                let sealed = next_state.map(|s| codec.seal(scope, &s));
                let requests = (!asks.is_empty()).then_some(asks.0);
                if requests.is_none() && sealed.is_none() {
                    return Err(ErrorData::internal_error("fixture asked for nothing", None));
                }
                Ok(Outcome::InputRequired(InputRequiredResult::new(requests, sealed)))
            }
        };
    }

    // Session era: run every round here, asking the client over the session.
    let mut responses = InputResponses::new();
    let mut state: Option<Value> = None;
    for _ in 0..MAX_ROUNDS {
        let round = Round { args, responses: &responses, state: state.as_ref(), capabilities: &capabilities };
        match step(&round)? {
            Step::Done(result) => return Ok(Outcome::Complete(result)),
            Step::Ask(asks, next_state) => {
                // One round's questions go out together (a client may answer them in any
                // order), as they would in one `input_required` result.
                let mut questions = Vec::new();
                for (key, request) in asks.0 {
                    if !declared(&capabilities, &request) {
                        let (_, name) = required_capability(&request);
                        return Ok(Outcome::Complete(on_missing_capability(name)));
                    }
                    let server_request = match request {
                        InputRequest::CreateMessage(r) => ServerRequest::CreateMessageRequest(r),
                        InputRequest::Elicitation(r) => ServerRequest::ElicitRequest(r),
                        InputRequest::ListRoots(r) => ServerRequest::ListRootsRequest(r),
                        _ => return Err(ErrorData::internal_error("unsupported input request", None)),
                    };
                    let peer = ctx.peer.clone();
                    questions.push(async move { (key, peer.send_request(server_request).await) });
                }
                let mut answers = InputResponses::new();
                for (key, answer) in futures::future::join_all(questions).await {
                    let answer = answer
                        .map_err(|e| ErrorData::internal_error(format!("{key}: client request failed: {e}"), None))?;
                    let answer = match answer {
                        ClientResult::CreateMessageResult(r) => serde_json::to_value(r),
                        ClientResult::ElicitResult(r) => serde_json::to_value(r),
                        ClientResult::ListRootsResult(r) => serde_json::to_value(r),
                        other => serde_json::to_value(other),
                    }
                    .unwrap_or(Value::Null);
                    answers.insert(key, answer);
                }
                responses = answers;
                state = next_state;
            }
        }
    }
    Err(ErrorData::internal_error(format!("{scope}: more than {MAX_ROUNDS} rounds"), None))
}

// ---------------------------------------------------------------------------------------------

/// Seals `requestState` values: `hex(json) "." hex(HMAC-SHA256(key, scope "\0" json))`, with a
/// random per-process key. Opening checks the tag (and so the scope).
pub struct StateCodec {
    key: [u8; 32],
}

impl Default for StateCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for StateCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateCodec(..)")
    }
}

const BLOCK: usize = 64;

impl StateCodec {
    /// A codec with a fresh random key (from the standard library's per-process random
    /// hasher seeds).
    pub fn new() -> Self {
        let mut key = [0u8; 32];
        for (i, chunk) in key.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default(),
            );
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
        Self { key }
    }

    fn mac(&self, scope: &str, payload: &[u8]) -> [u8; 32] {
        let mut k = [0u8; BLOCK];
        k[..32].copy_from_slice(&self.key);
        let mut inner = Sha256::new();
        inner.update(k.map(|b| b ^ 0x36));
        inner.update(scope.as_bytes());
        inner.update([0u8]);
        inner.update(payload);
        let mut outer = Sha256::new();
        outer.update(k.map(|b| b ^ 0x5c));
        outer.update(inner.finalize());
        outer.finalize().into()
    }

    pub fn seal(&self, scope: &str, state: &Value) -> String {
        let payload = state.to_string();
        format!("{}.{}", hex(payload.as_bytes()), hex(&self.mac(scope, payload.as_bytes())))
    }

    /// `-32602` when the value is malformed, tampered with, or sealed for another scope.
    pub fn open(&self, scope: &str, sealed: &str) -> Result<Value, ErrorData> {
        let bad = || {
            ErrorData::invalid_params(
                "requestState failed its integrity check (tampered, or not issued for this request)",
                None,
            )
        };
        let (payload, tag) = sealed.split_once('.').ok_or_else(bad)?;
        let payload = unhex(payload).ok_or_else(bad)?;
        let tag = unhex(tag).ok_or_else(bad)?;
        let expected = self.mac(scope, &payload);
        // Constant-time comparison.
        if tag.len() != expected.len() || tag.iter().zip(expected.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) != 0 {
            return Err(bad());
        }
        serde_json::from_slice(&payload).map_err(|_| bad())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// `BTreeMap` re-export for step functions building states.
pub type Map = BTreeMap<String, Value>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_rejects_tampering() {
        let codec = StateCodec::new();
        let state = json!({ "step": 2, "name": "Alice" });
        let sealed = codec.seal("tool_a", &state);
        assert_eq!(codec.open("tool_a", &sealed).unwrap(), state);
        assert!(codec.open("tool_b", &sealed).is_err(), "other scope");
        assert!(codec.open("tool_a", &format!("{sealed}-TAMPERED")).is_err());
        assert!(codec.open("tool_a", "nonsense").is_err());
        let (payload, tag) = sealed.split_once('.').unwrap();
        let forged = format!("{}.{tag}", hex(br#"{"step":3,"name":"Alice"}"#));
        assert_ne!(forged.split_once('.').unwrap().0, payload);
        assert!(codec.open("tool_a", &forged).is_err(), "forged payload");
        assert!(StateCodec::new().open("tool_a", &sealed).is_err(), "other key");
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(unhex(&hex(b"\x00\xffab")).unwrap(), b"\x00\xffab");
        assert!(unhex("abc").is_none());
        assert!(unhex("zz").is_none());
    }
}

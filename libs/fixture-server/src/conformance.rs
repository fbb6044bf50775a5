//! Fixture tools of the official MCP conformance suite (`@modelcontextprotocol/conformance`,
//! server scenarios), served with [`FixtureOptions::conformance`]. Prompts live in
//! [`crate::prompts`], resources in [`crate::resources`]; completion, logging and
//! subscriptions are in [`crate::server`].
//!
//! | scenario                        | fixture                                   | needs from a client/gateway |
//! |---------------------------------|-------------------------------------------|-----------------------------|
//! | tools-call-simple-text          | `test_simple_text`                        | tools                       |
//! | tools-call-image                | `test_image_content`                      | tools (image content)       |
//! | tools-call-audio                | `test_audio_content`                      | tools (audio content)       |
//! | tools-call-embedded-resource    | `test_embedded_resource`                  | tools (resource content)    |
//! | tools-call-mixed-content        | `test_multiple_content_types`             | tools                       |
//! | tools-call-error                | `test_error_handling`                     | tools (`isError`)           |
//! | tools-call-with-progress        | `test_tool_with_progress`                 | progress relay              |
//! | tools-call-with-logging         | `test_tool_with_logging`                  | logging relay + setLevel    |
//! | tools-call-sampling             | `test_sampling`                           | sampling (server→client)    |
//! | tools-call-elicitation          | `test_elicitation`                        | elicitation                 |
//! | elicitation-sep1034-defaults    | `test_elicitation_sep1034_defaults`       | elicitation                 |
//! | elicitation-sep1330-enums       | `test_elicitation_sep1330_enums`          | elicitation                 |
//! | json-schema-2020-12 (pending)   | `json_schema_2020_12_tool`                | schema kept verbatim        |
//! | server-sse-polling (pending)    | `test_reconnection`                       | SSE priming/resumption      |
//!
//! Sampling and elicitation use server-to-client requests on session-era protocols and
//! `input_required` results (multi round-trip requests) on 2026-07-28.
//!
//! [`FixtureOptions::conformance`]: crate::FixtureOptions::conformance
#![allow(deprecated)] // logging and sampling are deprecated by SEP-2577 but still tested.

use std::time::Duration;

use rmcp::model::{
    object, CallToolResponse, CallToolResult, ContentBlock, ErrorData, LoggingLevel, ProgressNotificationParam,
    ResourceContents, Tool,
};
use serde_json::{json, Value};

use crate::{
    mrtr::{drive, Asks, Outcome, Round, Step},
    tools::{text, FixtureTool, ToolCall},
};

/// A 1x1 red PNG, base64.
pub const TEST_PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A minimal WAV file (44-byte header, no samples), base64.
pub const TEST_WAV_BASE64: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=";

/// Key of our single entry in `inputRequests` / `inputResponses`.
const SAMPLING_KEY: &str = "sampling";
const ELICITATION_KEY: &str = "elicitation";

/// Names of every conformance tool, in `tools/list` order.
pub const TOOL_NAMES: &[&str] = &[
    "test_simple_text",
    "test_image_content",
    "test_audio_content",
    "test_embedded_resource",
    "test_multiple_content_types",
    "test_tool_with_logging",
    "test_error_handling",
    "test_tool_with_progress",
    "test_sampling",
    "test_elicitation",
    "test_elicitation_sep1034_defaults",
    "test_elicitation_sep1330_enums",
    "json_schema_2020_12_tool",
    "test_reconnection",
    "test_input_required_result_elicitation",
    "test_input_required_result_sampling",
    "test_input_required_result_list_roots",
    "test_input_required_result_request_state",
    "test_input_required_result_multiple_inputs",
    "test_input_required_result_multi_round",
    "test_input_required_result_tampered_state",
    "test_input_required_result_capabilities",
    "test_missing_capability",
    "test_streaming_elicitation",
    "test_logging_tool",
    "test_trigger_tool_change",
    "test_trigger_prompt_change",
    "test_custom_headers",
];

/// The conformance tools, in `tools/list` order (names as in [`TOOL_NAMES`]).
pub fn tools() -> Vec<FixtureTool> {
    vec![
        touch_resource(),
        simple_text(),
        image_content(),
        audio_content(),
        embedded_resource(),
        multiple_content_types(),
        tool_with_logging(),
        error_handling(),
        tool_with_progress(),
        sampling(),
        elicitation(),
        elicitation_sep1034_defaults(),
        elicitation_sep1330_enums(),
        json_schema_2020_12(),
        reconnection(),
        ir_elicitation(),
        ir_sampling(),
        ir_list_roots(),
        ir_request_state(),
        ir_multiple_inputs(),
        ir_multi_round(),
        ir_tampered_state(),
        ir_capabilities(),
        missing_capability(),
        streaming_elicitation(),
        logging_tool(),
        trigger_tool_change(),
        trigger_prompt_change(),
        custom_headers(),
    ]
}

fn no_args() -> rmcp::model::JsonObject {
    object(json!({ "type": "object", "properties": {} }))
}

// ---------------------------------------------------------------------------------------------
// Content

fn simple_text() -> FixtureTool {
    let def = Tool::new("test_simple_text", "Returns a simple text response.", no_args());
    FixtureTool::new(def, |_call: ToolCall| async move { Ok(text("This is a simple text response for testing.")) })
}

fn image_content() -> FixtureTool {
    let def = Tool::new("test_image_content", "Returns a 1x1 PNG image.", no_args());
    FixtureTool::new(def, |_call: ToolCall| async move {
        Ok(CallToolResult::success(vec![ContentBlock::image(TEST_PNG_BASE64, "image/png")]))
    })
}

fn audio_content() -> FixtureTool {
    let def = Tool::new("test_audio_content", "Returns a minimal WAV audio clip.", no_args());
    FixtureTool::new(def, |_call: ToolCall| async move {
        Ok(CallToolResult::success(vec![ContentBlock::audio(TEST_WAV_BASE64, "audio/wav")]))
    })
}

fn embedded_resource() -> FixtureTool {
    let def = Tool::new("test_embedded_resource", "Returns an embedded text resource.", no_args());
    FixtureTool::new(def, |_call: ToolCall| async move {
        Ok(CallToolResult::success(vec![ContentBlock::resource(ResourceContents::text(
            "This is an embedded resource content.",
            "test://embedded-resource",
        ))]))
    })
}

fn multiple_content_types() -> FixtureTool {
    let def = Tool::new("test_multiple_content_types", "Returns text, image and resource content together.", no_args());
    FixtureTool::new(def, |_call: ToolCall| async move {
        Ok(CallToolResult::success(vec![
            ContentBlock::text("Multiple content types test:"),
            ContentBlock::image(TEST_PNG_BASE64, "image/png"),
            ContentBlock::resource(
                ResourceContents::text(
                    json!({ "test": "data", "value": 123 }).to_string(),
                    "test://mixed-content-resource",
                )
                .with_mime_type("application/json"),
            ),
        ]))
    })
}

fn error_handling() -> FixtureTool {
    let def = Tool::new("test_error_handling", "Always fails with isError=true.", no_args());
    FixtureTool::new(def, |_call: ToolCall| async move {
        Ok(CallToolResult::error(vec![ContentBlock::text("This tool intentionally returns an error for testing")]))
    })
}

// ---------------------------------------------------------------------------------------------
// Notifications during a call

fn tool_with_logging() -> FixtureTool {
    let def = Tool::new(
        "test_tool_with_logging",
        "Sends three info log notifications ~50 ms apart while it runs.",
        no_args(),
    );
    FixtureTool::new(def, |call: ToolCall| async move {
        let messages = ["Tool execution started", "Tool processing data", "Tool execution completed"];
        for (i, message) in messages.into_iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            call.session.log(&call.ctx, LoggingLevel::Info, json!(message)).await;
        }
        Ok(text("Logging test completed: 3 messages sent"))
    })
}

fn tool_with_progress() -> FixtureTool {
    let def = Tool::new(
        "test_tool_with_progress",
        "Reports progress 0/100, 50/100, 100/100 (~50 ms apart) when the request has a \
         progressToken.",
        no_args(),
    );
    FixtureTool::new(def, |call: ToolCall| async move {
        let token = call.ctx.meta.get_progress_token();
        for (i, (progress, message)) in [(0.0, "Starting"), (50.0, "Halfway"), (100.0, "Done")].into_iter().enumerate()
        {
            if i > 0 {
                tokio::select! {
                    _ = call.ctx.ct.cancelled() => {
                        call.stats.record_cancelled();
                        return Ok(CallToolResult::error(vec![ContentBlock::text("cancelled")]));
                    }
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
            if let Some(token) = token.clone() {
                let param = ProgressNotificationParam::new(token, progress).with_total(100.0).with_message(message);
                if let Err(e) = call.ctx.peer.notify_progress(param).await {
                    tracing::debug!("test_tool_with_progress: progress not delivered: {e}");
                }
            }
        }
        Ok(text("Progress test completed"))
    })
}

// ---------------------------------------------------------------------------------------------
// Sampling and elicitation (through [`crate::mrtr`]: server-to-client requests on session-era
// protocols, `input_required` results on 2026-07-28)

/// A session-era tool error for a capability the client did not declare.
fn capability_error(what: &str) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(format!(
        "the client does not support {what} (no `{what}` capability declared)"
    ))])
    .into()
}

/// Run a multi round-trip tool (see [`crate::mrtr::drive`]).
pub(crate) async fn run_mrtr(
    call: ToolCall,
    step: impl Fn(&Round<'_>) -> Result<Step<CallToolResult>, ErrorData>,
) -> Result<CallToolResponse, ErrorData> {
    let outcome = drive(
        &call.ctx,
        &call.codec,
        &call.name,
        &call.args,
        call.input_responses,
        call.request_state,
        |round| {
            step(round).map(|s| match s {
                Step::Done(r) => Step::Done(CallToolResponse::from(r)),
                Step::Ask(a, st) => Step::Ask(a, st),
            })
        },
        capability_error,
    )
    .await?;
    Ok(match outcome {
        Outcome::Complete(response) => response,
        Outcome::InputRequired(result) => result.into(),
    })
}

/// `action=..., content=...` of an `ElicitResult` given as JSON.
fn describe_elicitation(round: &Round<'_>, key: &str) -> String {
    let answer = &round.responses[key];
    let action = answer["action"].as_str().unwrap_or("unknown");
    let content = answer.get("content").cloned().unwrap_or(Value::Null);
    format!("action={action}, content={content}")
}

fn sampling() -> FixtureTool {
    let def = Tool::new(
        "test_sampling",
        "Asks the client's LLM (sampling/createMessage) to answer `prompt` and returns its \
         answer.",
        object(json!({
            "type": "object",
            "properties": { "prompt": { "type": "string", "description": "The prompt to send to the LLM" } },
            "required": ["prompt"]
        })),
    );
    FixtureTool::new(def, |call: ToolCall| {
        run_mrtr(call, |round| {
            if let Some(answer) = round.sampled(SAMPLING_KEY)? {
                return Ok(Step::Done(text(format!("LLM response: {answer}"))));
            }
            let prompt = round.args.get("prompt").and_then(Value::as_str).unwrap_or("Hello");
            Ok(Step::Ask(Asks::new().sample(SAMPLING_KEY, prompt, 100), None))
        })
    })
}

/// A form-elicitation tool: asks once with `schema`, answers `"{prefix}: action=..., content=..."`.
fn form_tool(
    name: &'static str,
    description: &'static str,
    input_schema: rmcp::model::JsonObject,
    message: fn(&Round<'_>) -> String,
    schema: fn() -> Value,
    prefix: &'static str,
) -> FixtureTool {
    let def = Tool::new(name, description, input_schema);
    FixtureTool::new(def, move |call: ToolCall| {
        run_mrtr(call, move |round| {
            if round.elicited(ELICITATION_KEY)?.is_some() {
                return Ok(Step::Done(text(format!("{prefix}: {}", describe_elicitation(round, ELICITATION_KEY)))));
            }
            Ok(Step::Ask(Asks::new().elicit(ELICITATION_KEY, &message(round), schema()), None))
        })
    })
}

fn elicitation() -> FixtureTool {
    form_tool(
        "test_elicitation",
        "Asks the user (elicitation/create) for a username and an email, showing `message`.",
        object(json!({
            "type": "object",
            "properties": { "message": { "type": "string", "description": "The message to show the user" } },
            "required": ["message"]
        })),
        |round| {
            round.args.get("message").and_then(Value::as_str).unwrap_or("Please provide your information").to_owned()
        },
        || {
            json!({
                "type": "object",
                "properties": {
                    "username": { "type": "string", "description": "User's response" },
                    "email": { "type": "string", "description": "User's email address" }
                },
                "required": ["username", "email"]
            })
        },
        "User response",
    )
}

/// The SEP-1034 form: a default for every primitive type.
pub fn sep1034_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "description": "User name", "default": "John Doe" },
            "age": { "type": "integer", "description": "User age", "default": 30 },
            "score": { "type": "number", "description": "User score", "default": 95.5 },
            "status": {
                "type": "string",
                "description": "User status",
                "enum": ["active", "inactive", "pending"],
                "default": "active"
            },
            "verified": { "type": "boolean", "description": "Verified user", "default": true }
        }
    })
}

/// The SEP-1330 form: all five enum shapes.
pub fn sep1330_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "untitledSingle": {
                "type": "string",
                "description": "Untitled single-select",
                "enum": ["option1", "option2", "option3"]
            },
            "titledSingle": {
                "type": "string",
                "description": "Titled single-select",
                "oneOf": [
                    { "const": "value1", "title": "First Option" },
                    { "const": "value2", "title": "Second Option" },
                    { "const": "value3", "title": "Third Option" }
                ]
            },
            "legacyEnum": {
                "type": "string",
                "description": "Legacy titled enum (enumNames)",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"]
            },
            "untitledMulti": {
                "type": "array",
                "description": "Untitled multi-select",
                "items": { "type": "string", "enum": ["option1", "option2", "option3"] }
            },
            "titledMulti": {
                "type": "array",
                "description": "Titled multi-select",
                "items": {
                    "anyOf": [
                        { "const": "value1", "title": "First Choice" },
                        { "const": "value2", "title": "Second Choice" },
                        { "const": "value3", "title": "Third Choice" }
                    ]
                }
            }
        }
    })
}

fn elicitation_sep1034_defaults() -> FixtureTool {
    form_tool(
        "test_elicitation_sep1034_defaults",
        "Elicits a form whose fields all have defaults (SEP-1034).",
        no_args(),
        |_| "Please review and update the form fields with defaults".to_owned(),
        sep1034_schema,
        "Elicitation completed",
    )
}

fn elicitation_sep1330_enums() -> FixtureTool {
    form_tool(
        "test_elicitation_sep1330_enums",
        "Elicits a form with every enum shape (SEP-1330).",
        no_args(),
        |_| "Please select options from the enum fields".to_owned(),
        sep1330_schema,
        "Elicitation completed",
    )
}

// ---------------------------------------------------------------------------------------------
// Schemas and transport

fn json_schema_2020_12() -> FixtureTool {
    let def = Tool::new(
        "json_schema_2020_12_tool",
        "Tool with JSON Schema 2020-12 features ($schema, $defs, $anchor, $ref, allOf/anyOf, \
         if/then/else, additionalProperties).",
        object(json_schema_2020_12_input_schema()),
    );
    FixtureTool::new(def, |call: ToolCall| async move {
        Ok(text(format!("Received: {}", Value::Object(call.args.clone()))))
    })
}

/// The input schema of `json_schema_2020_12_tool` (SEP-1613 and SEP-2106 keywords).
pub fn json_schema_2020_12_input_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "$anchor": "addressDef",
                "type": "object",
                "properties": {
                    "street": { "type": "string" },
                    "city": { "type": "string" }
                }
            }
        },
        "properties": {
            "name": { "type": "string" },
            "address": { "$ref": "#/$defs/address" },
            "contactMethod": { "type": "string", "enum": ["phone", "email"] },
            "phone": { "type": "string" },
            "email": { "type": "string" }
        },
        "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
        "if": {
            "properties": { "contactMethod": { "const": "phone" } },
            "required": ["contactMethod"]
        },
        "then": { "required": ["phone"] },
        "else": { "required": ["email"] },
        "additionalProperties": false
    })
}

fn reconnection() -> FixtureTool {
    let def = Tool::new(
        "test_reconnection",
        "SSE polling test (SEP-1699): waits briefly, then returns. (This fixture does not \
         close the response stream mid-call.)",
        no_args(),
    );
    FixtureTool::new(def, |_call: ToolCall| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(text("Reconnection test completed"))
    })
}

// ---------------------------------------------------------------------------------------------
// 2026-07-28 multi round-trip requests (SEP-2322) and stateless-lifecycle diagnostics
// (SEP-2575). They work on session-era protocols too (as server-to-client requests).

fn name_schema() -> Value {
    json!({
        "type": "object",
        "properties": { "name": { "type": "string" } },
        "required": ["name"]
    })
}

fn str_field<'a>(content: &'a rmcp::model::JsonObject, key: &str) -> &'a str {
    content.get(key).and_then(Value::as_str).unwrap_or("")
}

fn ir_elicitation() -> FixtureTool {
    let def = Tool::new(
        "test_input_required_result_elicitation",
        "Round 1 asks (elicitation, key `user_name`) for a name; round 2 says hello.",
        no_args(),
    );
    FixtureTool::new(def, |call: ToolCall| {
        run_mrtr(call, |round| {
            if let Some(content) = round.elicited("user_name")? {
                let name = str_field(&content, "name");
                let name = if name.is_empty() { "stranger" } else { name };
                return Ok(Step::Done(text(format!("Hello, {name}!"))));
            }
            // First round, or the answer is missing: (re-)request it.
            Ok(Step::Ask(Asks::new().elicit("user_name", "What is your name?", name_schema()), None))
        })
    })
}

fn ir_sampling() -> FixtureTool {
    let def = Tool::new(
        "test_input_required_result_sampling",
        "Round 1 asks the client's LLM (sampling, key `capital_question`); round 2 returns \
         its answer.",
        no_args(),
    );
    FixtureTool::new(def, |call: ToolCall| {
        run_mrtr(call, |round| {
            if let Some(answer) = round.sampled("capital_question")? {
                return Ok(Step::Done(text(format!("LLM said: {answer}"))));
            }
            Ok(Step::Ask(Asks::new().sample("capital_question", "What is the capital of France?", 100), None))
        })
    })
}

fn ir_list_roots() -> FixtureTool {
    let def = Tool::new(
        "test_input_required_result_list_roots",
        "Round 1 asks for the client's roots (roots/list, key `client_roots`); round 2 lists \
         them.",
        no_args(),
    );
    FixtureTool::new(def, |call: ToolCall| {
        run_mrtr(call, |round| {
            if let Some(roots) = round.roots("client_roots")? {
                return Ok(Step::Done(text(format!("Client roots ({}): {}", roots.len(), roots.join(", ")))));
            }
            Ok(Step::Ask(Asks::new().list_roots("client_roots"), None))
        })
    })
}

fn ir_request_state() -> FixtureTool {
    let def = Tool::new(
        "test_input_required_result_request_state",
        "Round 1 asks for confirmation (key `confirm`) with a sealed requestState; round 2 \
         verifies the state and answers \"state-ok\".",
        no_args(),
    );
    FixtureTool::new(def, |call: ToolCall| {
        run_mrtr(call, |round| {
            let valid_state = round.state.is_some_and(|s| s["flow"] == "request_state" && s["round"] == 1);
            if valid_state {
                if let Some(content) = round.elicited("confirm")? {
                    let ok = content.get("ok").and_then(Value::as_bool).unwrap_or(false);
                    return Ok(Step::Done(text(format!("state-ok: requestState verified; confirmed={ok}"))));
                }
            }
            Ok(Step::Ask(
                Asks::new().elicit(
                    "confirm",
                    "Please confirm",
                    json!({
                        "type": "object",
                        "properties": { "ok": { "type": "boolean" } },
                        "required": ["ok"]
                    }),
                ),
                Some(json!({ "flow": "request_state", "round": 1 })),
            ))
        })
    })
}

fn ir_multiple_inputs() -> FixtureTool {
    let def = Tool::new(
        "test_input_required_result_multiple_inputs",
        "Round 1 asks for three things at once (elicitation `user_name`, sampling `greeting`, \
         roots/list `client_roots`); round 2 needs all three.",
        no_args(),
    );
    FixtureTool::new(def, |call: ToolCall| {
        run_mrtr(call, |round| {
            let name = round.elicited("user_name")?;
            let greeting = round.sampled("greeting")?;
            let roots = round.roots("client_roots")?;
            if let (Some(name), Some(greeting), Some(roots)) = (name, greeting, roots) {
                return Ok(Step::Done(text(format!(
                    "name={}, greeting={greeting}, roots={}",
                    str_field(&name, "name"),
                    roots.join(",")
                ))));
            }
            Ok(Step::Ask(
                Asks::new()
                    .elicit("user_name", "What is your name?", name_schema())
                    .sample("greeting", "Generate a greeting", 50)
                    .list_roots("client_roots"),
                Some(json!({ "flow": "multiple_inputs" })),
            ))
        })
    })
}

fn ir_multi_round() -> FixtureTool {
    let def = Tool::new(
        "test_input_required_result_multi_round",
        "Three rounds: asks for a name (`step1`), then a colour (`step2`), with a new sealed \
         requestState each round, then answers.",
        no_args(),
    );
    FixtureTool::new(def, |call: ToolCall| {
        run_mrtr(call, |round| {
            let step = round.state.and_then(|s| s["round"].as_u64()).unwrap_or(0);
            if step == 2 {
                if let Some(content) = round.elicited("step2")? {
                    let name = round.state.and_then(|s| s["name"].as_str()).unwrap_or("");
                    return Ok(Step::Done(text(format!(
                        "{name}'s favorite color is {}",
                        str_field(&content, "color")
                    ))));
                }
            }
            if step >= 1 {
                let name = match round.elicited("step1")? {
                    Some(content) => Some(str_field(&content, "name").to_owned()),
                    None => round.state.and_then(|s| s["name"].as_str()).map(str::to_owned),
                };
                if let Some(name) = name {
                    return Ok(Step::Ask(
                        Asks::new().elicit(
                            "step2",
                            "Step 2: What is your favorite color?",
                            json!({
                                "type": "object",
                                "properties": { "color": { "type": "string" } },
                                "required": ["color"]
                            }),
                        ),
                        Some(json!({ "flow": "multi_round", "round": 2, "name": name })),
                    ));
                }
            }
            Ok(Step::Ask(
                Asks::new().elicit("step1", "Step 1: What is your name?", name_schema()),
                Some(json!({ "flow": "multi_round", "round": 1 })),
            ))
        })
    })
}

fn ir_tampered_state() -> FixtureTool {
    let def = Tool::new(
        "test_input_required_result_tampered_state",
        "Round 1 hands out an HMAC-sealed requestState (key `confirm`); a retry with a \
         modified requestState is rejected with -32602.",
        no_args(),
    );
    FixtureTool::new(def, |call: ToolCall| {
        run_mrtr(call, |round| {
            if round.state.is_some() {
                if let Some(content) = round.elicited("confirm")? {
                    return Ok(Step::Done(text(format!("state verified; content={}", Value::Object(content)))));
                }
            }
            Ok(Step::Ask(
                Asks::new().elicit(
                    "confirm",
                    "Please confirm",
                    json!({
                        "type": "object",
                        "properties": { "ok": { "type": "boolean" } },
                        "required": ["ok"]
                    }),
                ),
                Some(json!({ "flow": "tampered_state", "issued": true })),
            ))
        })
    })
}

fn ir_capabilities() -> FixtureTool {
    let def = Tool::new(
        "test_input_required_result_capabilities",
        "Asks only for what the client declared: sampling (`sampling`), elicitation \
         (`elicitation`), roots (`roots`); answers when it has them all.",
        no_args(),
    );
    FixtureTool::new(def, |call: ToolCall| {
        run_mrtr(call, |round| {
            let mut asks = Asks::new();
            let mut got = Vec::new();
            if round.has_sampling() {
                match round.sampled("sampling")? {
                    Some(answer) => got.push(format!("sampling={answer}")),
                    None => asks = asks.sample("sampling", "Say something", 20),
                }
            }
            if round.has_elicitation() {
                match round.elicited("elicitation")? {
                    Some(content) => got.push(format!("elicitation={}", Value::Object(content))),
                    None => asks = asks.elicit("elicitation", "What is your name?", name_schema()),
                }
            }
            if round.has_roots() {
                match round.roots("roots")? {
                    Some(roots) => got.push(format!("roots={}", roots.join(","))),
                    None => asks = asks.list_roots("roots"),
                }
            }
            if asks.is_empty() {
                if got.is_empty() {
                    got.push("the client declared no sampling, elicitation or roots".to_owned());
                }
                return Ok(Step::Done(text(got.join("; "))));
            }
            Ok(Step::Ask(asks, None))
        })
    })
}

fn missing_capability() -> FixtureTool {
    let def = Tool::new(
        "test_missing_capability",
        "Needs the client's sampling capability: without it, 2026-07-28 requests get -32021 \
         (MissingRequiredClientCapability).",
        no_args(),
    );
    FixtureTool::new(def, |call: ToolCall| {
        run_mrtr(call, |round| {
            if let Some(answer) = round.sampled("sample")? {
                return Ok(Step::Done(text(format!("sampled: {answer}"))));
            }
            Ok(Step::Ask(Asks::new().sample("sample", "Say hello", 20), None))
        })
    })
}

fn streaming_elicitation() -> FixtureTool {
    let def = Tool::new(
        "test_streaming_elicitation",
        "Asks for a name by elicitation: an input_required result on 2026-07-28, never a \
         request on the response stream.",
        no_args(),
    );
    FixtureTool::new(def, |call: ToolCall| {
        run_mrtr(call, |round| {
            if let Some(content) = round.elicited("user_name")? {
                return Ok(Step::Done(text(format!("Hello, {}!", str_field(&content, "name")))));
            }
            Ok(Step::Ask(Asks::new().elicit("user_name", "What is your name?", name_schema()), None))
        })
    })
}

fn logging_tool() -> FixtureTool {
    let def = Tool::new(
        "test_logging_tool",
        "Logs at info level (notifications/message) when the request allows it: the session's \
         logging/setLevel, or on 2026-07-28 the request's _meta logLevel (no logs without it).",
        no_args(),
    );
    FixtureTool::new(def, |call: ToolCall| async move {
        call.session.log(&call.ctx, LoggingLevel::Info, json!("test_logging_tool ran")).await;
        Ok(text("logging tool done"))
    })
}

/// `test_trigger_prompt_change`: the prompt-list counterpart of `test_trigger_tool_change`.
fn trigger_prompt_change() -> FixtureTool {
    let def = Tool::new(
        "test_trigger_prompt_change",
        "Announces a prompt-list change: notifications/prompts/list_changed on this session and \
         on every subscriptions/listen stream that asked for promptsListChanged.",
        no_args(),
    );
    FixtureTool::new(def, |call: ToolCall| async move {
        call.changes.announce(crate::server::Change::PromptListChanged);
        if !crate::server::is_2026(&call.ctx) {
            if let Err(e) = call.ctx.peer.notify_prompt_list_changed().await {
                tracing::debug!("prompts/list_changed not delivered: {e}");
            }
        }
        Ok(text("prompt list change announced"))
    })
}

fn trigger_tool_change() -> FixtureTool {
    let def = Tool::new(
        "test_trigger_tool_change",
        "Announces a tool-list change: notifications/tools/list_changed on this session and on \
         every subscriptions/listen stream that asked for toolsListChanged.",
        no_args(),
    );
    FixtureTool::new(def, |call: ToolCall| async move {
        call.changes.announce(crate::server::Change::ToolListChanged);
        if !crate::server::is_2026(&call.ctx) {
            if let Err(e) = call.ctx.peer.notify_tool_list_changed().await {
                tracing::debug!("tools/list_changed not delivered: {e}");
            }
        }
        Ok(text("tool list change announced"))
    })
}

/// `test_custom_headers`: parameters annotated with `x-mcp-header` (SEP-2243). On 2026-07-28
/// HTTP requests the transport checks that each `Mcp-Param-{Name}` header matches the body
/// (see [`crate::transport`]); the tool reports what it received, headers included.
fn custom_headers() -> FixtureTool {
    let def = Tool::new(
        "test_custom_headers",
        "Parameters mirrored into Mcp-Param-* HTTP headers (x-mcp-header, SEP-2243); returns \
         the arguments and the Mcp-Param-* headers received.",
        object(json!({
            "type": "object",
            "properties": {
                "region": { "type": "string", "x-mcp-header": "Region", "description": "Routing region" },
                "priority": { "type": "integer", "x-mcp-header": "Priority" },
                "verbose": { "type": "boolean", "x-mcp-header": "Verbose" },
                "query": { "type": "string", "description": "Not mirrored into a header" }
            },
            "required": ["region"]
        })),
    );
    FixtureTool::new(def, |call: ToolCall| async move {
        let parts = call.ctx.extensions.get::<http::request::Parts>();
        let mut headers = serde_json::Map::new();
        if let Some(parts) = parts {
            for (name, value) in &parts.headers {
                if name.as_str().starts_with("mcp-param-") {
                    headers.insert(
                        name.as_str().to_owned(),
                        Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
                    );
                }
            }
        }
        let report = json!({ "arguments": Value::Object(call.args.clone()), "headers": headers });
        let mut result = CallToolResult::structured(report.clone());
        result.content = vec![ContentBlock::text(report.to_string())];
        Ok(result)
    })
}

/// Not one of the suite's fixtures: tells the calling session `notifications/resources/updated`
/// for `uri` if it subscribed to it, so tests can follow an update through a gateway.
fn touch_resource() -> FixtureTool {
    let def = Tool::new(
        "touch_resource",
        "Sends notifications/resources/updated for `uri` to this session, if it subscribed to it.",
        object(json!({"type": "object", "properties": {"uri": {"type": "string"}}, "required": ["uri"]})),
    );
    FixtureTool::new(def, |call: ToolCall| async move {
        let Some(uri) = call.args.get("uri").and_then(Value::as_str).map(str::to_string) else {
            return Ok(CallToolResult::error(vec![ContentBlock::text("uri is required")]));
        };
        if !call.session.subscriptions().contains(&uri) {
            return Ok(text(format!("not subscribed to {uri}")));
        }
        #[allow(deprecated)]
        let sent = call
            .ctx
            .peer
            .notify_resource_updated(rmcp::model::ResourceUpdatedNotificationParam::new(uri.clone()))
            .await;
        Ok(match sent {
            Ok(()) => text(format!("updated {uri}")),
            Err(e) => CallToolResult::error(vec![ContentBlock::text(format!("could not notify: {e}"))]),
        })
    })
}

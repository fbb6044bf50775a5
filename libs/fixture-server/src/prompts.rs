//! The fixture's prompts (served only with [`FixtureOptions::conformance`]): the names,
//! arguments and messages the official MCP conformance suite expects
//! (`prompts-list`, `prompts-get-*` and `completion-complete` scenarios).
//!
//! [`FixtureOptions::conformance`]: crate::FixtureOptions::conformance

use rmcp::model::{
    ContentBlock, ErrorData, GetPromptResult, JsonObject, Prompt, PromptArgument, PromptMessage, ResourceContents, Role,
};
use serde_json::Value;

use crate::{
    conformance::TEST_PNG_BASE64,
    mrtr::{Asks, Round, Step},
};

pub const SIMPLE_PROMPT: &str = "test_simple_prompt";
pub const PROMPT_WITH_ARGUMENTS: &str = "test_prompt_with_arguments";
pub const PROMPT_WITH_EMBEDDED_RESOURCE: &str = "test_prompt_with_embedded_resource";
pub const PROMPT_WITH_IMAGE: &str = "test_prompt_with_image";
/// A prompt that needs input from the user first (2026-07-28 multi round-trip requests;
/// a server-to-client elicitation on session-era protocols).
pub const INPUT_REQUIRED_PROMPT: &str = "test_input_required_result_prompt";

/// Every prompt, in `prompts/list` order.
pub fn catalogue() -> Vec<Prompt> {
    vec![
        Prompt::new(SIMPLE_PROMPT, Some("A simple prompt without arguments"), None).with_title("Simple prompt"),
        Prompt::new(
            PROMPT_WITH_ARGUMENTS,
            Some("A prompt with two required arguments, substituted into its text"),
            Some(vec![
                PromptArgument::new("arg1").with_description("First test argument").with_required(true),
                PromptArgument::new("arg2").with_description("Second test argument").with_required(true),
            ]),
        )
        .with_title("Prompt with arguments"),
        Prompt::new(
            PROMPT_WITH_EMBEDDED_RESOURCE,
            Some("A prompt that embeds the resource named by `resourceUri`"),
            Some(vec![PromptArgument::new("resourceUri")
                .with_description("URI of the resource to embed")
                .with_required(true)]),
        )
        .with_title("Prompt with embedded resource"),
        Prompt::new(PROMPT_WITH_IMAGE, Some("A prompt with image content"), None).with_title("Prompt with image"),
        Prompt::new(
            INPUT_REQUIRED_PROMPT,
            Some("A prompt that first asks the user (elicitation, key `user_context`) for context"),
            None,
        )
        .with_title("Prompt that needs input"),
    ]
}

/// The step of [`INPUT_REQUIRED_PROMPT`] (see [`crate::mrtr`]). Its output is the prompt
/// result, or the error a session-era client without elicitation gets.
pub fn input_required_step(round: &Round<'_>) -> Result<Step<Result<GetPromptResult, ErrorData>>, ErrorData> {
    if let Some(content) = round.elicited("user_context")? {
        let context = content.get("context").and_then(Value::as_str).unwrap_or("(none)");
        return Ok(Step::Done(Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!("Answer using this context: {context}"),
        )])
        .with_description("A prompt built from elicited context"))));
    }
    Ok(Step::Ask(
        Asks::new().elicit(
            "user_context",
            "What context should the prompt use?",
            serde_json::json!({
                "type": "object",
                "properties": { "context": { "type": "string" } },
                "required": ["context"]
            }),
        ),
        None,
    ))
}

fn required_arg(args: &JsonObject, name: &str) -> Result<String, ErrorData> {
    match args.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => Err(ErrorData::invalid_params(format!("missing required argument: {name}"), None)),
    }
}

/// `prompts/get`: an unknown prompt or a missing required argument is `-32602`.
pub fn get(name: &str, args: Option<&JsonObject>) -> Result<GetPromptResult, ErrorData> {
    let empty = JsonObject::new();
    let args = args.unwrap_or(&empty);
    let result = match name {
        SIMPLE_PROMPT => {
            GetPromptResult::new(vec![PromptMessage::new_text(Role::User, "This is a simple prompt for testing.")])
                .with_description("A simple prompt without arguments")
        }
        PROMPT_WITH_ARGUMENTS => {
            let arg1 = required_arg(args, "arg1")?;
            let arg2 = required_arg(args, "arg2")?;
            GetPromptResult::new(vec![PromptMessage::new_text(
                Role::User,
                format!("Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"),
            )])
            .with_description("A prompt with arguments")
        }
        PROMPT_WITH_EMBEDDED_RESOURCE => {
            let uri = required_arg(args, "resourceUri")?;
            GetPromptResult::new(vec![
                PromptMessage::new(
                    Role::User,
                    ContentBlock::resource(ResourceContents::text("Embedded resource content for testing.", uri)),
                ),
                PromptMessage::new_text(Role::User, "Please process the embedded resource above."),
            ])
            .with_description("A prompt with an embedded resource")
        }
        PROMPT_WITH_IMAGE => GetPromptResult::new(vec![
            PromptMessage::new(Role::User, ContentBlock::image(TEST_PNG_BASE64, "image/png")),
            PromptMessage::new_text(Role::User, "Please analyze the image above."),
        ])
        .with_description("A prompt with an image"),
        other => return Err(ErrorData::invalid_params(format!("unknown prompt: {other}"), None)),
    };
    Ok(result)
}

/// Completion candidates for a prompt argument (`completion/complete` with `ref/prompt`).
pub fn completion_candidates(prompt: &str, argument: &str) -> Option<&'static [&'static str]> {
    match (prompt, argument) {
        (PROMPT_WITH_ARGUMENTS, "arg1") => Some(&["paris", "park", "party", "test", "testing"]),
        (PROMPT_WITH_ARGUMENTS, "arg2") => Some(&["world", "wonder", "test", "testValue2"]),
        (PROMPT_WITH_EMBEDDED_RESOURCE, "resourceUri") => {
            Some(&["test://static-text", "test://static-binary", "test://watched-resource", "test://example-resource"])
        }
        _ => None,
    }
}

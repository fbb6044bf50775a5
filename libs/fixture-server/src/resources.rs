//! The fixture's resources and resource templates (served only with
//! [`FixtureOptions::conformance`]): the URIs and contents the official MCP conformance suite
//! expects (`resources-*` scenarios).
//!
//! [`FixtureOptions::conformance`]: crate::FixtureOptions::conformance

use rmcp::model::{ErrorData, ReadResourceResult, Resource, ResourceContents, ResourceTemplate};
use serde_json::json;

use crate::conformance::TEST_PNG_BASE64;

pub const STATIC_TEXT: &str = "test://static-text";
pub const STATIC_BINARY: &str = "test://static-binary";
pub const WATCHED: &str = "test://watched-resource";
pub const TEMPLATE: &str = "test://template/{id}/data";

const TEMPLATE_PREFIX: &str = "test://template/";
const TEMPLATE_SUFFIX: &str = "/data";

pub const STATIC_TEXT_CONTENT: &str = "This is the content of the static text resource.";
pub const WATCHED_CONTENT: &str = "This resource can be subscribed to for update notifications.";

/// Direct resources, in `resources/list` order.
pub fn catalogue() -> Vec<Resource> {
    vec![
        Resource::new(STATIC_TEXT, "static-text")
            .with_title("Static text")
            .with_description("A static text resource")
            .with_mime_type("text/plain")
            .with_size(STATIC_TEXT_CONTENT.len() as u64),
        Resource::new(STATIC_BINARY, "static-binary")
            .with_title("Static binary")
            .with_description("A static binary resource (1x1 PNG)")
            .with_mime_type("image/png"),
        Resource::new(WATCHED, "watched-resource")
            .with_title("Watched resource")
            .with_description("A resource clients may subscribe to")
            .with_mime_type("text/plain"),
    ]
}

/// Resource templates, in `resources/templates/list` order.
pub fn templates() -> Vec<ResourceTemplate> {
    vec![ResourceTemplate::new(TEMPLATE, "template-data")
        .with_title("Template data")
        .with_description("Data for the `id` substituted into the URI")
        .with_mime_type("application/json")]
}

/// `{id}` of a `test://template/{id}/data` URI.
pub fn template_id(uri: &str) -> Option<&str> {
    let id = uri.strip_prefix(TEMPLATE_PREFIX)?.strip_suffix(TEMPLATE_SUFFIX)?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// Whether `uri` names a resource this server can read (directly or through a template).
pub fn exists(uri: &str) -> bool {
    matches!(uri, STATIC_TEXT | STATIC_BINARY | WATCHED) || template_id(uri).is_some()
}

/// `resources/read`. An unknown URI is `-32002 Resource not found` (rmcp turns it into
/// `-32602` for 2026-07-28 clients, as that revision asks).
pub fn read(uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let contents = match uri {
        STATIC_TEXT => ResourceContents::text(STATIC_TEXT_CONTENT, uri),
        STATIC_BINARY => ResourceContents::blob(TEST_PNG_BASE64, uri).with_mime_type("image/png"),
        WATCHED => ResourceContents::text(WATCHED_CONTENT, uri),
        _ => match template_id(uri) {
            Some(id) => ResourceContents::text(
                json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") }).to_string(),
                uri,
            )
            .with_mime_type("application/json"),
            None => {
                return Err(ErrorData::resource_not_found(
                    format!("resource not found: {uri}"),
                    Some(json!({ "uri": uri })),
                ))
            }
        },
    };
    Ok(ReadResourceResult::new(vec![contents]))
}

/// Completion candidates for a resource template variable (`completion/complete` with
/// `ref/resource`).
pub fn completion_candidates(uri_template: &str, argument: &str) -> Option<&'static [&'static str]> {
    match (uri_template, argument) {
        (TEMPLATE, "id") => Some(&["1", "2", "3", "123"]),
        _ => None,
    }
}

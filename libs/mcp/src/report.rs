//! What a session-worker reports after talking to an upstream, sent to the api service over
//! the COMMANDS work queue, which turns it into a domain command.

use serde::{Deserialize, Serialize};

/// The COMMANDS subject suffix catalog reports travel on.
pub const COMMAND_KIND: &str = "catalog_report";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogReport {
    pub tenant: String,
    pub server: String,
    pub server_id: uuid::Uuid,
    /// The event that asked for this discovery (becomes the causation of the result).
    pub caused_by: String,
    pub correlation_id: String,
    pub outcome: DiscoveryOutcome,
    /// The upstream announced the change (`notifications/*/list_changed`): if the catalog
    /// turns out unchanged, the clients still hear of it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub announced: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DiscoveryOutcome {
    /// Every page of every list, each item the upstream's JSON as sent.
    Catalog {
        tools: Vec<serde_json::Value>,
        #[serde(default)]
        prompts: Vec<serde_json::Value>,
        #[serde(default)]
        resources: Vec<serde_json::Value>,
        #[serde(default)]
        resource_templates: Vec<serde_json::Value>,
    },
    Failed {
        error: String,
    },
}

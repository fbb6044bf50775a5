//! The upstream server aggregate: one stream per (tenant, server name). Registration,
//! forced re-registration, deregistration, and the catalog the session-worker discovers.
//! Built-in servers (`crate::builtin`) are servers too, registered by the system
//! ([`ServerCommand::RegisterBuiltin`]) under their reserved names; users may toggle them but
//! never register, replace or deregister them.

use crate::aggregate::{upcast_v1_only, Aggregate, DomainEvent, UpcastError};
use crate::builtin::BuiltinKind;
use crate::ids::{ServerId, ServerName};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    StreamableHttp,
    Stdio,
    Sse,
    /// Hosted by the session-worker itself (a built-in server): no upstream, no connection.
    /// Which built-in it is follows from the server's (reserved) name.
    Builtin,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::StreamableHttp => "streamable_http",
            Transport::Stdio => "stdio",
            Transport::Sse => "sse",
            Transport::Builtin => "builtin",
        }
    }
}

/// MCPJungle's `session_mode`: whether an upstream session outlives one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionMode {
    #[default]
    Stateless,
    Stateful,
}

/// A secret value as the domain sees it: already sealed by the caller; opaque here. Its Debug
/// form never shows the content, so a logged spec leaks nothing.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(pub String);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealed(..)")
    }
}

/// How to reach an upstream: MCPJungle's registration fields, with secrets sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamSpec {
    pub transport: Transport,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Sealed>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Sealed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, Sealed>,
    #[serde(default)]
    pub session_mode: SessionMode,
}

impl UpstreamSpec {
    /// The spec of a built-in server: its transport and description, nothing to connect to.
    pub fn builtin(kind: BuiltinKind) -> Self {
        UpstreamSpec {
            transport: Transport::Builtin,
            description: kind.description().to_string(),
            url: None,
            bearer_token: None,
            headers: BTreeMap::new(),
            command: None,
            args: vec![],
            env: BTreeMap::new(),
            session_mode: SessionMode::Stateless,
        }
    }

    /// Checks the fields a transport needs. Errors name the field and the fix.
    pub fn validate(&self) -> Result<(), ServerError> {
        let invalid = |m: &str| Err(ServerError::InvalidSpec(m.to_string()));
        match self.transport {
            Transport::StreamableHttp | Transport::Sse => {
                let Some(url) = self.url.as_deref() else {
                    return invalid(&format!("'url' is required for transport '{}'", self.transport.as_str()));
                };
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return invalid(&format!("'url' must start with http:// or https://, got '{url}'"));
                }
                if self.command.is_some() || !self.args.is_empty() || !self.env.is_empty() {
                    return invalid("'command', 'args' and 'env' are only for transport 'stdio'");
                }
            }
            Transport::Stdio => {
                if self.command.as_deref().is_none_or(|c| c.trim().is_empty()) {
                    return invalid("'command' is required for transport 'stdio'");
                }
                if self.url.is_some() || self.bearer_token.is_some() || !self.headers.is_empty() {
                    return invalid("'url', 'bearer_token' and 'headers' are only for HTTP transports");
                }
            }
            Transport::Builtin => {
                return invalid("transport 'builtin' is reserved for the servers Canopy hosts itself");
            }
        }
        for name in self.headers.keys() {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) {
                return invalid(&format!("header name '{name}' is not a valid HTTP header name"));
            }
        }
        Ok(())
    }
}

/// What an upstream offers, as discovered: full MCP definitions kept verbatim (title, icons,
/// annotations, outputSchema, _meta all survive), each page of the upstream's lists included.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    #[serde(default)]
    pub tools: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_templates: Vec<serde_json::Value>,
}

impl Catalog {}

/// What an enable/disable applies to within a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    Tool,
    Prompt,
    /// Resources and resource templates, by URI (template).
    Resource,
}

impl FeatureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureKind::Tool => "tool",
            FeatureKind::Prompt => "prompt",
            FeatureKind::Resource => "resource",
        }
    }
}

impl Catalog {
    /// The names (tools, prompts) or URIs (resources, templates) of one kind, in upstream order.
    pub fn names(&self, kind: FeatureKind) -> Vec<&str> {
        fn pick<'a>(items: &'a [serde_json::Value], key: &str) -> Vec<&'a str> {
            items.iter().filter_map(|i| i.get(key)?.as_str()).collect()
        }
        match kind {
            FeatureKind::Tool => pick(&self.tools, "name"),
            FeatureKind::Prompt => pick(&self.prompts, "name"),
            FeatureKind::Resource => {
                let mut uris = pick(&self.resources, "uri");
                uris.extend(pick(&self.resource_templates, "uriTemplate"));
                uris
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ServerCommand {
    /// Register under a fresh id; with `force`, replace a current registration.
    Register {
        id: ServerId,
        name: ServerName,
        spec: UpstreamSpec,
        force: bool,
    },
    Deregister,
    /// The system registers a built-in server under its reserved name (at start, for every
    /// tenant; when a tenant is created). Idempotent: nothing happens if it is registered.
    RegisterBuiltin {
        id: ServerId,
        kind: BuiltinKind,
    },
    /// The session-worker's report of what registration `id` offers.
    RecordCatalog {
        id: ServerId,
        catalog: Catalog,
    },
    /// The session-worker could not reach or list registration `id`.
    RecordDiscoveryFailure {
        id: ServerId,
        error: String,
    },
    /// Enable or disable the whole server: its tools, prompts and resources disappear from
    /// every MCP endpoint and every call path, and come back as they were.
    SetServerEnabled {
        enabled: bool,
    },
    /// Enable or disable some of the server's tools, prompts or resources; `None` means every
    /// one the catalog has now.
    SetFeaturesEnabled {
        kind: FeatureKind,
        names: Option<Vec<String>>,
        enabled: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    Registered { id: ServerId, name: ServerName, spec: UpstreamSpec },
    Replaced { id: ServerId, previous: ServerId, name: ServerName, spec: UpstreamSpec },
    Deregistered { id: ServerId, name: ServerName },
    CatalogDiscovered { id: ServerId, catalog: Catalog },
    CatalogRefreshed { id: ServerId, catalog: Catalog },
    DiscoveryFailed { id: ServerId, error: String },
    ServerToggled { id: ServerId, enabled: bool },
    FeaturesToggled { id: ServerId, kind: FeatureKind, names: Vec<String>, enabled: bool },
}

const SERVER_EVENT_TYPES: &[&str] = &[
    "server.registered",
    "server.replaced",
    "server.deregistered",
    "server.catalog_discovered",
    "server.catalog_refreshed",
    "server.discovery_failed",
    "server.toggled",
    "server.features_toggled",
];

impl DomainEvent for ServerEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ServerEvent::Registered { .. } => SERVER_EVENT_TYPES[0],
            ServerEvent::Replaced { .. } => SERVER_EVENT_TYPES[1],
            ServerEvent::Deregistered { .. } => SERVER_EVENT_TYPES[2],
            ServerEvent::CatalogDiscovered { .. } => SERVER_EVENT_TYPES[3],
            ServerEvent::CatalogRefreshed { .. } => SERVER_EVENT_TYPES[4],
            ServerEvent::DiscoveryFailed { .. } => SERVER_EVENT_TYPES[5],
            ServerEvent::ServerToggled { .. } => SERVER_EVENT_TYPES[6],
            ServerEvent::FeaturesToggled { .. } => SERVER_EVENT_TYPES[7],
        }
    }

    fn upcast(
        event_type: &str,
        schema_version: u32,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, UpcastError> {
        upcast_v1_only(SERVER_EVENT_TYPES, event_type, schema_version, payload)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ServerError {
    #[error("server '{0}' is already registered; deregister it first or register with force to replace it")]
    AlreadyRegistered(ServerName),
    #[error("server is not registered")]
    NotRegistered,
    #[error(
        "server '{0}' is built into Canopy: it cannot be registered, replaced or deregistered (it can be disabled)"
    )]
    Builtin(ServerName),
    #[error("the name '{0}' is reserved for a server built into Canopy; choose another name")]
    ReservedName(ServerName),
    #[error("invalid server configuration: {0}")]
    InvalidSpec(String),
    #[error("server has no {kind} named {names}", kind = .kind.as_str(), names = .names.join(", "))]
    UnknownFeatures { kind: FeatureKind, names: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscoveryStatus {
    /// Registered; the worker has not reported yet.
    Pending,
    Ready,
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredServer {
    pub id: ServerId,
    pub name: ServerName,
    pub spec: UpstreamSpec,
    pub catalog: Catalog,
    pub status: DiscoveryStatus,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Disabled names per kind; kept across catalog refreshes, cleared by re-registration.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub disabled: BTreeMap<FeatureKind, std::collections::BTreeSet<String>>,
}

fn enabled_by_default() -> bool {
    true
}

impl RegisteredServer {
    /// Whether one tool, prompt or resource is offered: the server and the item are enabled.
    pub fn is_enabled(&self, kind: FeatureKind, name: &str) -> bool {
        self.enabled && !self.disabled.get(&kind).is_some_and(|d| d.contains(name))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum Server {
    #[default]
    Absent,
    Registered(RegisteredServer),
    Deregistered,
}

impl Server {
    pub fn registered(&self) -> Option<&RegisteredServer> {
        match self {
            Server::Registered(r) => Some(r),
            _ => None,
        }
    }

    fn current(&self, id: ServerId) -> Option<&RegisteredServer> {
        self.registered().filter(|r| r.id == id)
    }
}

impl Aggregate for Server {
    const TYPE: &'static str = "server";
    type Command = ServerCommand;
    type Event = ServerEvent;
    type Error = ServerError;

    fn decide(&self, command: &ServerCommand) -> Result<Vec<ServerEvent>, ServerError> {
        match command {
            ServerCommand::Register { id, name, spec, force } => {
                if let Some(current) = self.registered().filter(|c| c.spec.transport == Transport::Builtin) {
                    return Err(ServerError::Builtin(current.name.clone()));
                }
                if BuiltinKind::of_server_name(name.as_str()).is_some() {
                    return Err(ServerError::ReservedName(name.clone()));
                }
                spec.validate()?;
                match self {
                    Server::Registered(current) if !*force => Err(ServerError::AlreadyRegistered(current.name.clone())),
                    Server::Registered(current) => Ok(vec![ServerEvent::Replaced {
                        id: *id,
                        previous: current.id,
                        name: name.clone(),
                        spec: spec.clone(),
                    }]),
                    Server::Absent | Server::Deregistered => {
                        Ok(vec![ServerEvent::Registered { id: *id, name: name.clone(), spec: spec.clone() }])
                    }
                }
            }
            ServerCommand::RegisterBuiltin { id, kind } => match self {
                Server::Registered(current) if current.spec.transport == Transport::Builtin => Ok(vec![]),
                // A user's server that took the name before it was reserved: left alone until
                // an admin deregisters it.
                Server::Registered(current) => Err(ServerError::AlreadyRegistered(current.name.clone())),
                Server::Absent | Server::Deregistered => Ok(vec![ServerEvent::Registered {
                    id: *id,
                    name: kind.server_name(),
                    spec: UpstreamSpec::builtin(*kind),
                }]),
            },
            ServerCommand::Deregister => match self {
                Server::Registered(current) if current.spec.transport == Transport::Builtin => {
                    Err(ServerError::Builtin(current.name.clone()))
                }
                Server::Registered(current) => {
                    Ok(vec![ServerEvent::Deregistered { id: current.id, name: current.name.clone() }])
                }
                _ => Err(ServerError::NotRegistered),
            },
            // Reports about a registration that is no longer current are stale, not errors:
            // discovery raced a re-registration or a deregistration, and the newer one wins.
            ServerCommand::RecordCatalog { id, catalog } => Ok(match self.current(*id) {
                None => vec![],
                Some(current) if current.status == DiscoveryStatus::Pending => {
                    vec![ServerEvent::CatalogDiscovered { id: *id, catalog: catalog.clone() }]
                }
                Some(current) if current.catalog == *catalog && current.status == DiscoveryStatus::Ready => {
                    vec![]
                }
                Some(_) => vec![ServerEvent::CatalogRefreshed { id: *id, catalog: catalog.clone() }],
            }),
            ServerCommand::RecordDiscoveryFailure { id, error } => Ok(match self.current(*id) {
                Some(current) if current.status != (DiscoveryStatus::Failed { error: error.clone() }) => {
                    vec![ServerEvent::DiscoveryFailed { id: *id, error: error.clone() }]
                }
                _ => vec![],
            }),
            ServerCommand::SetServerEnabled { enabled } => {
                let current = self.registered().ok_or(ServerError::NotRegistered)?;
                Ok(if current.enabled == *enabled {
                    vec![]
                } else {
                    vec![ServerEvent::ServerToggled { id: current.id, enabled: *enabled }]
                })
            }
            ServerCommand::SetFeaturesEnabled { kind, names, enabled } => {
                let current = self.registered().ok_or(ServerError::NotRegistered)?;
                let known = current.catalog.names(*kind);
                let requested: Vec<String> = match names {
                    Some(names) => {
                        let unknown: Vec<String> =
                            names.iter().filter(|n| !known.contains(&n.as_str())).cloned().collect();
                        if !unknown.is_empty() {
                            return Err(ServerError::UnknownFeatures { kind: *kind, names: unknown });
                        }
                        names.clone()
                    }
                    None => known.iter().map(|n| n.to_string()).collect(),
                };
                let disabled = current.disabled.get(kind);
                let mut changing: Vec<String> =
                    requested.into_iter().filter(|n| disabled.is_some_and(|d| d.contains(n)) == *enabled).collect();
                changing.sort();
                changing.dedup();
                Ok(if changing.is_empty() {
                    vec![]
                } else {
                    vec![ServerEvent::FeaturesToggled {
                        id: current.id,
                        kind: *kind,
                        names: changing,
                        enabled: *enabled,
                    }]
                })
            }
        }
    }

    fn apply(self, event: &ServerEvent) -> Server {
        match event {
            ServerEvent::Registered { id, name, spec } | ServerEvent::Replaced { id, name, spec, .. } => {
                Server::Registered(RegisteredServer {
                    id: *id,
                    name: name.clone(),
                    spec: spec.clone(),
                    catalog: Catalog::default(),
                    status: DiscoveryStatus::Pending,
                    enabled: true,
                    disabled: BTreeMap::new(),
                })
            }
            ServerEvent::Deregistered { .. } => Server::Deregistered,
            ServerEvent::CatalogDiscovered { catalog, .. } | ServerEvent::CatalogRefreshed { catalog, .. } => {
                match self {
                    Server::Registered(mut r) => {
                        r.catalog = catalog.clone();
                        r.status = DiscoveryStatus::Ready;
                        Server::Registered(r)
                    }
                    other => other,
                }
            }
            ServerEvent::DiscoveryFailed { error, .. } => match self {
                Server::Registered(mut r) => {
                    r.status = DiscoveryStatus::Failed { error: error.clone() };
                    Server::Registered(r)
                }
                other => other,
            },
            ServerEvent::ServerToggled { enabled, .. } => match self {
                Server::Registered(mut r) => {
                    r.enabled = *enabled;
                    Server::Registered(r)
                }
                other => other,
            },
            ServerEvent::FeaturesToggled { kind, names, enabled, .. } => match self {
                Server::Registered(mut r) => {
                    let set = r.disabled.entry(*kind).or_default();
                    for name in names {
                        if *enabled {
                            set.remove(name);
                        } else {
                            set.insert(name.clone());
                        }
                    }
                    if set.is_empty() {
                        r.disabled.remove(kind);
                    }
                    Server::Registered(r)
                }
                other => other,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(n: u128) -> ServerId {
        ServerId(uuid::Uuid::from_u128(n))
    }
    fn name() -> ServerName {
        ServerName::parse("calc").unwrap()
    }
    fn http_spec() -> UpstreamSpec {
        UpstreamSpec {
            transport: Transport::StreamableHttp,
            description: "math".into(),
            url: Some("http://127.0.0.1:8000/mcp".into()),
            bearer_token: None,
            headers: BTreeMap::new(),
            command: None,
            args: vec![],
            env: BTreeMap::new(),
            session_mode: SessionMode::Stateless,
        }
    }
    fn register(n: u128, force: bool) -> ServerCommand {
        ServerCommand::Register { id: id(n), name: name(), spec: http_spec(), force }
    }
    fn catalog(tools: &[&str]) -> Catalog {
        Catalog {
            tools: tools.iter().map(|t| json!({"name": t, "inputSchema": {"type": "object"}})).collect(),
            ..Default::default()
        }
    }

    /// Given history, when command, then these events (or this error).
    fn check(history: &[ServerEvent], command: ServerCommand, expected: Result<Vec<ServerEvent>, ServerError>) {
        let state = Server::fold(history);
        assert_eq!(state.decide(&command), expected);
    }

    fn registered(n: u128) -> ServerEvent {
        ServerEvent::Registered { id: id(n), name: name(), spec: http_spec() }
    }

    #[test]
    fn register_new_and_after_deregistration() {
        check(&[], register(1, false), Ok(vec![registered(1)]));
        let dereg = ServerEvent::Deregistered { id: id(1), name: name() };
        check(&[registered(1), dereg], register(2, false), Ok(vec![registered(2)]));
    }

    #[test]
    fn register_twice_conflicts_unless_forced() {
        check(&[registered(1)], register(2, false), Err(ServerError::AlreadyRegistered(name())));
        check(
            &[registered(1)],
            register(2, true),
            Ok(vec![ServerEvent::Replaced { id: id(2), previous: id(1), name: name(), spec: http_spec() }]),
        );
    }

    #[test]
    fn deregister_requires_registration() {
        check(&[], ServerCommand::Deregister, Err(ServerError::NotRegistered));
        check(
            &[registered(1)],
            ServerCommand::Deregister,
            Ok(vec![ServerEvent::Deregistered { id: id(1), name: name() }]),
        );
    }

    #[test]
    fn invalid_specs_are_rejected_with_the_field_named() {
        let mut spec = http_spec();
        spec.url = None;
        let cmd = ServerCommand::Register { id: id(1), name: name(), spec, force: false };
        let err = Server::default().decide(&cmd).unwrap_err();
        assert_eq!(err.to_string(), "invalid server configuration: 'url' is required for transport 'streamable_http'");

        let mut spec = http_spec();
        spec.transport = Transport::Stdio;
        spec.url = None;
        let cmd = ServerCommand::Register { id: id(1), name: name(), spec, force: false };
        assert!(matches!(Server::default().decide(&cmd), Err(ServerError::InvalidSpec(m)) if m.contains("'command'")));
    }

    #[test]
    fn catalog_first_discovered_then_refreshed_only_on_change() {
        let discovered = ServerEvent::CatalogDiscovered { id: id(1), catalog: catalog(&["a"]) };
        check(
            &[registered(1)],
            ServerCommand::RecordCatalog { id: id(1), catalog: catalog(&["a"]) },
            Ok(vec![discovered.clone()]),
        );
        check(
            &[registered(1), discovered.clone()],
            ServerCommand::RecordCatalog { id: id(1), catalog: catalog(&["a"]) },
            Ok(vec![]),
        );
        check(
            &[registered(1), discovered],
            ServerCommand::RecordCatalog { id: id(1), catalog: catalog(&["a", "b"]) },
            Ok(vec![ServerEvent::CatalogRefreshed { id: id(1), catalog: catalog(&["a", "b"]) }]),
        );
    }

    #[test]
    fn stale_reports_are_ignored() {
        let replaced = ServerEvent::Replaced { id: id(2), previous: id(1), name: name(), spec: http_spec() };
        check(
            &[registered(1), replaced],
            ServerCommand::RecordCatalog { id: id(1), catalog: catalog(&["old"]) },
            Ok(vec![]),
        );
        let dereg = ServerEvent::Deregistered { id: id(1), name: name() };
        check(
            &[registered(1), dereg],
            ServerCommand::RecordDiscoveryFailure { id: id(1), error: "x".into() },
            Ok(vec![]),
        );
    }

    #[test]
    fn failure_recorded_once_and_cleared_by_a_catalog() {
        let failed = ServerEvent::DiscoveryFailed { id: id(1), error: "refused".into() };
        check(
            &[registered(1)],
            ServerCommand::RecordDiscoveryFailure { id: id(1), error: "refused".into() },
            Ok(vec![failed.clone()]),
        );
        check(
            &[registered(1), failed.clone()],
            ServerCommand::RecordDiscoveryFailure { id: id(1), error: "refused".into() },
            Ok(vec![]),
        );
        let state = Server::fold(&[registered(1), failed]);
        let events = state.decide(&ServerCommand::RecordCatalog { id: id(1), catalog: catalog(&["a"]) }).unwrap();
        let state = events.iter().fold(state, |s, e| s.apply(e));
        assert_eq!(state.registered().unwrap().status, DiscoveryStatus::Ready);
    }

    #[test]
    fn replacing_resets_the_catalog() {
        let discovered = ServerEvent::CatalogDiscovered { id: id(1), catalog: catalog(&["a"]) };
        let replaced = ServerEvent::Replaced { id: id(2), previous: id(1), name: name(), spec: http_spec() };
        let state = Server::fold(&[registered(1), discovered, replaced]);
        let r = state.registered().unwrap();
        assert_eq!((r.id, r.catalog.tools.len(), &r.status), (id(2), 0, &DiscoveryStatus::Pending));
    }

    #[test]
    fn events_round_trip_and_upcast_guards_the_future() {
        let e = registered(1);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "registered");
        let back: ServerEvent = serde_json::from_value(ServerEvent::upcast(e.event_type(), 1, v).unwrap()).unwrap();
        assert_eq!(back, e);
        assert!(matches!(
            ServerEvent::upcast("server.registered", 2, json!({})),
            Err(UpcastError::FromTheFuture { found: 2, .. })
        ));
        assert!(matches!(ServerEvent::upcast("server.nope", 1, json!({})), Err(UpcastError::UnknownType(_))));
    }

    fn ready(tools: &[&str]) -> Server {
        Server::fold(&[registered(1), ServerEvent::CatalogDiscovered { id: id(1), catalog: catalog(tools) }])
    }

    fn toggle(names: Option<&[&str]>, enabled: bool) -> ServerCommand {
        ServerCommand::SetFeaturesEnabled {
            kind: FeatureKind::Tool,
            names: names.map(|n| n.iter().map(|s| s.to_string()).collect()),
            enabled,
        }
    }

    fn run(state: Server, command: ServerCommand) -> Server {
        let events = state.decide(&command).unwrap();
        events.iter().fold(state, |s, e| s.apply(e))
    }

    #[test]
    fn disabling_tools_is_remembered_across_refreshes_and_idempotent() {
        let state = run(ready(&["a", "b", "c"]), toggle(Some(&["b"]), false));
        let r = state.registered().unwrap();
        assert!(r.is_enabled(FeatureKind::Tool, "a") && !r.is_enabled(FeatureKind::Tool, "b"));
        assert_eq!(state.decide(&toggle(Some(&["b"]), false)).unwrap(), vec![], "already disabled");
        let refreshed = run(state, ServerCommand::RecordCatalog { id: id(1), catalog: catalog(&["a", "b", "d"]) });
        assert!(!refreshed.registered().unwrap().is_enabled(FeatureKind::Tool, "b"));
        let back = run(refreshed, toggle(Some(&["b"]), true));
        assert!(back.registered().unwrap().disabled.is_empty());
    }

    #[test]
    fn disabling_all_tools_of_a_server_and_unknown_names() {
        let state = run(ready(&["a", "b"]), toggle(None, false));
        let r = state.registered().unwrap();
        assert!(!r.is_enabled(FeatureKind::Tool, "a") && !r.is_enabled(FeatureKind::Tool, "b"));
        assert_eq!(
            ready(&["a"]).decide(&toggle(Some(&["a", "zz"]), false)),
            Err(ServerError::UnknownFeatures { kind: FeatureKind::Tool, names: vec!["zz".into()] })
        );
    }

    #[test]
    fn a_disabled_server_hides_everything_and_restores_item_state() {
        let state = run(ready(&["a", "b"]), toggle(Some(&["b"]), false));
        let off = run(state, ServerCommand::SetServerEnabled { enabled: false });
        assert!(!off.registered().unwrap().is_enabled(FeatureKind::Tool, "a"));
        assert_eq!(off.decide(&ServerCommand::SetServerEnabled { enabled: false }).unwrap(), vec![]);
        let on = run(off, ServerCommand::SetServerEnabled { enabled: true });
        let r = on.registered().unwrap();
        assert!(r.is_enabled(FeatureKind::Tool, "a") && !r.is_enabled(FeatureKind::Tool, "b"));
        // Re-registration starts over: everything enabled.
        let replaced = run(on, register(2, true));
        assert!(replaced.registered().unwrap().disabled.is_empty());
    }

    fn builtin(n: u128) -> ServerCommand {
        ServerCommand::RegisterBuiltin { id: id(n), kind: BuiltinKind::Grid }
    }

    #[test]
    fn builtins_are_registered_once_by_the_system_and_never_by_users() {
        let grid = BuiltinKind::Grid.server_name();
        let registered =
            ServerEvent::Registered { id: id(1), name: grid.clone(), spec: UpstreamSpec::builtin(BuiltinKind::Grid) };
        check(&[], builtin(1), Ok(vec![registered.clone()]));
        check(std::slice::from_ref(&registered), builtin(2), Ok(vec![]));
        // Users can neither take the name, nor replace or deregister the built-in.
        let take = ServerCommand::Register { id: id(3), name: grid.clone(), spec: http_spec(), force: false };
        check(&[], take, Err(ServerError::ReservedName(grid.clone())));
        let replace = ServerCommand::Register { id: id(3), name: grid.clone(), spec: http_spec(), force: true };
        check(std::slice::from_ref(&registered), replace, Err(ServerError::Builtin(grid.clone())));
        check(std::slice::from_ref(&registered), ServerCommand::Deregister, Err(ServerError::Builtin(grid.clone())));
        // ... nor register another name with transport builtin.
        let spec = UpstreamSpec::builtin(BuiltinKind::Python);
        let cmd = ServerCommand::Register { id: id(4), name: name(), spec, force: false };
        assert!(matches!(Server::default().decide(&cmd), Err(ServerError::InvalidSpec(m)) if m.contains("builtin")));
        // But they toggle it like any server.
        let state = Server::fold(&[registered]);
        let off = state.decide(&ServerCommand::SetServerEnabled { enabled: false }).unwrap();
        assert_eq!(off, vec![ServerEvent::ServerToggled { id: id(1), enabled: false }]);
        // A user's server that held the name before it was reserved keeps it until removed.
        check(
            &[ServerEvent::Registered { id: id(5), name: grid.clone(), spec: http_spec() }],
            builtin(6),
            Err(ServerError::AlreadyRegistered(grid)),
        );
    }

    #[test]
    fn builtin_specs_serialise_with_the_transport_only() {
        let v = serde_json::to_value(UpstreamSpec::builtin(BuiltinKind::Python)).unwrap();
        assert_eq!(v["transport"], "builtin");
        assert!(v.get("url").is_none() && v.get("command").is_none());
        let back: UpstreamSpec = serde_json::from_value(v).unwrap();
        assert_eq!(back, UpstreamSpec::builtin(BuiltinKind::Python));
    }

    #[test]
    fn sealed_values_never_show_in_debug() {
        let mut spec = http_spec();
        spec.bearer_token = Some(Sealed("ciphertext-abc".into()));
        assert!(!format!("{spec:?}").contains("ciphertext-abc"));
    }
}

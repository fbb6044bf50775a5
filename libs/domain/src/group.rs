//! The group aggregate: a named subset of a tenant's tools, prompts and resources, served at
//! its own MCP endpoint (MCPJungle's tool groups, which Canopy extends to prompts and resources
//! and lets you update in place). Membership is a rule evaluated against the live catalog, so a
//! member that is disabled or deregistered disappears and returns when it comes back.

use crate::aggregate::{upcast_v1_only, Aggregate, DomainEvent, UpcastError};
use crate::ids::ServerName;
use crate::server::FeatureKind;
use serde::{Deserialize, Serialize};

/// MCPJungle's group configuration, plus the same lists for prompts and resources. Tools and
/// prompts are named `server__name`; resources `canopy://server/<uri>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub included_tools: Vec<String>,
    #[serde(default)]
    pub included_servers: Vec<String>,
    #[serde(default)]
    pub excluded_tools: Vec<String>,
    #[serde(default)]
    pub included_prompts: Vec<String>,
    #[serde(default)]
    pub excluded_prompts: Vec<String>,
    #[serde(default)]
    pub included_resources: Vec<String>,
    #[serde(default)]
    pub excluded_resources: Vec<String>,
}

impl GroupSpec {
    pub fn validate(&self) -> Result<(), GroupError> {
        let bad = |m: String| Err(GroupError::InvalidSpec(m));
        for server in &self.included_servers {
            if let Err(e) = ServerName::parse(server.clone()) {
                return bad(format!("included_servers: {e}"));
            }
        }
        let lists = [
            ("included_tools", &self.included_tools),
            ("excluded_tools", &self.excluded_tools),
            ("included_prompts", &self.included_prompts),
            ("excluded_prompts", &self.excluded_prompts),
        ];
        for (field, names) in lists {
            for name in names {
                if split(name).is_none() {
                    return bad(format!("{field}: '{name}' must be of the form server__name"));
                }
            }
        }
        for (field, uris) in
            [("included_resources", &self.included_resources), ("excluded_resources", &self.excluded_resources)]
        {
            for uri in uris {
                if !uri.starts_with("canopy://") {
                    return bad(format!("{field}: '{uri}' must be of the form canopy://server/<uri>"));
                }
            }
        }
        Ok(())
    }

    /// Whether an item of `server` is a member. Exclusion is applied last, as in MCPJungle.
    pub fn includes(&self, kind: FeatureKind, server: &str, name: &str) -> bool {
        let (full, included, excluded) = match kind {
            FeatureKind::Tool => (format!("{server}__{name}"), &self.included_tools, &self.excluded_tools),
            FeatureKind::Prompt => (format!("{server}__{name}"), &self.included_prompts, &self.excluded_prompts),
            FeatureKind::Resource => {
                (format!("canopy://{server}/{name}"), &self.included_resources, &self.excluded_resources)
            }
        };
        let included = self.included_servers.iter().any(|s| s == server) || included.contains(&full);
        included && !excluded.contains(&full)
    }
}

fn split(name: &str) -> Option<(&str, &str)> {
    let (server, rest) = name.split_once("__")?;
    (!server.is_empty() && !rest.is_empty()).then_some((server, rest))
}

#[derive(Debug, Clone, PartialEq)]
pub enum GroupCommand {
    Create { name: ServerName, spec: GroupSpec },
    Update { spec: GroupSpec },
    Delete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GroupEvent {
    Created { name: ServerName, spec: GroupSpec },
    Updated { spec: GroupSpec },
    Deleted,
}

const GROUP_EVENT_TYPES: &[&str] = &["group.created", "group.updated", "group.deleted"];

impl DomainEvent for GroupEvent {
    fn event_type(&self) -> &'static str {
        match self {
            GroupEvent::Created { .. } => GROUP_EVENT_TYPES[0],
            GroupEvent::Updated { .. } => GROUP_EVENT_TYPES[1],
            GroupEvent::Deleted => GROUP_EVENT_TYPES[2],
        }
    }
    fn upcast(t: &str, v: u32, p: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
        upcast_v1_only(GROUP_EVENT_TYPES, t, v, p)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GroupError {
    #[error("group '{0}' already exists; update it instead")]
    AlreadyExists(ServerName),
    #[error("group does not exist")]
    NotFound,
    #[error("invalid group: {0}")]
    InvalidSpec(String),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum Group {
    #[default]
    Absent,
    Active {
        name: ServerName,
        spec: GroupSpec,
    },
}

impl Aggregate for Group {
    const TYPE: &'static str = "group";
    type Command = GroupCommand;
    type Event = GroupEvent;
    type Error = GroupError;

    fn decide(&self, command: &GroupCommand) -> Result<Vec<GroupEvent>, GroupError> {
        match (self, command) {
            (Group::Active { name, .. }, GroupCommand::Create { .. }) => Err(GroupError::AlreadyExists(name.clone())),
            (Group::Absent, GroupCommand::Create { name, spec }) => {
                spec.validate()?;
                Ok(vec![GroupEvent::Created { name: name.clone(), spec: spec.clone() }])
            }
            (Group::Active { spec: current, .. }, GroupCommand::Update { spec }) => {
                spec.validate()?;
                Ok(if current == spec { vec![] } else { vec![GroupEvent::Updated { spec: spec.clone() }] })
            }
            (Group::Active { .. }, GroupCommand::Delete) => Ok(vec![GroupEvent::Deleted]),
            (Group::Absent, GroupCommand::Update { .. } | GroupCommand::Delete) => Err(GroupError::NotFound),
        }
    }

    fn apply(self, event: &GroupEvent) -> Group {
        match (self, event) {
            (_, GroupEvent::Created { name, spec }) => Group::Active { name: name.clone(), spec: spec.clone() },
            (Group::Active { name, .. }, GroupEvent::Updated { spec }) => Group::Active { name, spec: spec.clone() },
            (_, GroupEvent::Deleted) => Group::Absent,
            (state, GroupEvent::Updated { .. }) => state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> GroupSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn membership_follows_mcpjungle_rules_exclusion_last() {
        let g = spec(serde_json::json!({
            "included_tools": ["filesystem__read_file", "time__convert_time"],
            "included_servers": ["time"],
            "excluded_tools": ["time__convert_time"],
            "included_prompts": ["time__p"],
            "included_resources": ["canopy://fs/file:///a"]
        }));
        let check = |kind, server, name, expected: bool| {
            assert_eq!(g.includes(kind, server, name), expected, "{server} {name}")
        };
        check(FeatureKind::Tool, "filesystem", "read_file", true);
        check(FeatureKind::Tool, "filesystem", "write_file", false);
        check(FeatureKind::Tool, "time", "now", true);
        check(FeatureKind::Tool, "time", "convert_time", false);
        check(FeatureKind::Prompt, "time", "p", true);
        check(FeatureKind::Prompt, "time", "q", true); // whole server included
        check(FeatureKind::Prompt, "filesystem", "p", false);
        check(FeatureKind::Resource, "fs", "file:///a", true);
        check(FeatureKind::Resource, "fs", "file:///b", false);
    }

    #[test]
    fn lifecycle_and_validation() {
        let name = ServerName::parse("claude-tools").unwrap();
        let create =
            GroupCommand::Create { name: name.clone(), spec: spec(serde_json::json!({"included_servers": ["time"]})) };
        let events = Group::Absent.decide(&create).unwrap();
        let state = Group::fold(&events);
        assert_eq!(state.decide(&create), Err(GroupError::AlreadyExists(name.clone())));
        let same = GroupCommand::Update { spec: spec(serde_json::json!({"included_servers": ["time"]})) };
        assert_eq!(state.decide(&same).unwrap(), vec![], "an unchanged update appends nothing");
        assert_eq!(Group::Absent.decide(&GroupCommand::Delete), Err(GroupError::NotFound));
        let bad = GroupCommand::Create { name, spec: spec(serde_json::json!({"included_tools": ["no_separator"]})) };
        assert!(matches!(Group::Absent.decide(&bad), Err(GroupError::InvalidSpec(m)) if m.contains("server__name")));
        assert!(
            serde_json::from_value::<GroupSpec>(serde_json::json!({"includd_tools": []})).is_err(),
            "typos are errors"
        );
    }
}

//! Who may use a tenant's gateway (enterprise mode): users, humans with a role, and MCP
//! clients, machine identities with an allow list (MCPJungle's `create user` and
//! `create mcp-client`). Each is an aggregate whose stream is its name within the tenant.
//!
//! Access tokens never reach the domain: commands carry the token's digest
//! ([`TokenDigest`], computed by the caller under the deployment's key), so neither events nor
//! read models hold a token, and a token is shown once, when it is generated. Rotating a token
//! replaces its digest; deleting an identity revokes it at once.
//!
//! A tenant keeps an owner: a role change that would take the owner role from its last holder
//! is refused. Each user is its own stream, so the command carries how many other owners the
//! caller read in the tenant (the read model, projected in the write transaction); two owners
//! demoting each other at the same instant could both pass, which the API accepts as rare.

use crate::aggregate::{upcast_v1_only, Aggregate, DomainEvent, UpcastError};
use crate::ids::ServerName;
use serde::{Deserialize, Serialize};

/// Names of users and MCP clients follow the rules of server names (letters, digits, `-`, `_`).
pub type IdentityName = ServerName;

/// A user's role in its tenant: owners and admins manage the tenant, members use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role, IdentityError> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            other => Err(IdentityError::Invalid(format!("role '{other}' must be owner, admin or member"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

/// The keyed digest of an access token (64 lowercase hex characters): what the store keeps and
/// what a presented token is looked up by.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenDigest(String);

impl TokenDigest {
    pub fn parse(hex: impl Into<String>) -> Result<Self, IdentityError> {
        let hex = hex.into();
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(hex))
        } else {
            Err(IdentityError::Invalid("a token digest is 64 lowercase hex characters".into()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TokenDigest {
    type Error = IdentityError;
    fn try_from(s: String) -> Result<Self, IdentityError> {
        Self::parse(s)
    }
}

impl From<TokenDigest> for String {
    fn from(d: TokenDigest) -> String {
        d.0
    }
}

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenDigest({}…)", &self.0[..8])
    }
}

/// What an MCP client may use (MCPJungle's `--allow`, extended to groups and single tools):
/// server names (`"*"`: every server, future ones included), group names, and tools as
/// `server__tool`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowSpec {
    #[serde(default)]
    pub servers: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub tools: Vec<String>,
}

impl AllowSpec {
    pub fn validate(&self) -> Result<(), IdentityError> {
        let bad = |m: String| Err(IdentityError::Invalid(m));
        for server in &self.servers {
            if server != "*" && ServerName::parse(server.clone()).is_err() {
                return bad(format!("allowed server '{server}' is not a server name (or \"*\")"));
            }
        }
        for group in &self.groups {
            if ServerName::parse(group.clone()).is_err() {
                return bad(format!("allowed group '{group}' is not a group name"));
            }
        }
        for tool in &self.tools {
            let ok =
                tool.split_once("__").is_some_and(|(s, t)| ServerName::parse(s.to_string()).is_ok() && !t.is_empty());
            if !ok {
                return bad(format!("allowed tool '{tool}' must be of the form server__tool"));
            }
        }
        Ok(())
    }

    /// MCPJungle's comma-separated `--allow "github,jira"`: server names.
    pub fn from_servers_flag(flag: &str) -> AllowSpec {
        let servers = flag.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
        AllowSpec { servers, ..Default::default() }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IdentityError {
    #[error("'{0}' already exists")]
    AlreadyExists(IdentityName),
    #[error("it does not exist")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("it is the tenant's last owner; make another user owner first")]
    LastOwner,
}

// ------------------------------------------------------------------------------------------
// Users

/// `ChangeRole`'s and `Delete`'s `other_owners`: how many owners the tenant has besides this
/// user, as the caller read them (a tenant keeps an owner).
#[derive(Debug, Clone, PartialEq)]
pub enum UserCommand {
    Create { name: IdentityName, role: Role, token: TokenDigest },
    ChangeRole { role: Role, other_owners: usize },
    RotateToken { token: TokenDigest },
    Delete { other_owners: usize },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UserEvent {
    Created { name: IdentityName, role: Role, token: TokenDigest },
    RoleChanged { role: Role },
    TokenRotated { token: TokenDigest },
    Deleted,
}

const USER_EVENT_TYPES: &[&str] = &["user.created", "user.role_changed", "user.token_rotated", "user.deleted"];

impl DomainEvent for UserEvent {
    fn event_type(&self) -> &'static str {
        match self {
            UserEvent::Created { .. } => USER_EVENT_TYPES[0],
            UserEvent::RoleChanged { .. } => USER_EVENT_TYPES[1],
            UserEvent::TokenRotated { .. } => USER_EVENT_TYPES[2],
            UserEvent::Deleted => USER_EVENT_TYPES[3],
        }
    }
    fn upcast(t: &str, v: u32, p: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
        upcast_v1_only(USER_EVENT_TYPES, t, v, p)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum User {
    #[default]
    Absent,
    Active {
        name: IdentityName,
        role: Role,
        token: TokenDigest,
    },
}

impl Aggregate for User {
    const TYPE: &'static str = "user";
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = IdentityError;

    fn decide(&self, command: &UserCommand) -> Result<Vec<UserEvent>, IdentityError> {
        match (self, command) {
            (User::Active { name, .. }, UserCommand::Create { .. }) => Err(IdentityError::AlreadyExists(name.clone())),
            (User::Absent, UserCommand::Create { name, role, token }) => {
                Ok(vec![UserEvent::Created { name: name.clone(), role: *role, token: token.clone() }])
            }
            (User::Active { role: current, .. }, UserCommand::ChangeRole { role, other_owners }) => {
                if current == role {
                    Ok(vec![])
                } else if *current == Role::Owner && *other_owners == 0 {
                    Err(IdentityError::LastOwner)
                } else {
                    Ok(vec![UserEvent::RoleChanged { role: *role }])
                }
            }
            (User::Active { .. }, UserCommand::RotateToken { token }) => {
                Ok(vec![UserEvent::TokenRotated { token: token.clone() }])
            }
            (User::Active { role, .. }, UserCommand::Delete { other_owners }) => {
                if *role == Role::Owner && *other_owners == 0 {
                    Err(IdentityError::LastOwner)
                } else {
                    Ok(vec![UserEvent::Deleted])
                }
            }
            (User::Absent, _) => Err(IdentityError::NotFound),
        }
    }

    fn apply(self, event: &UserEvent) -> User {
        match (self, event) {
            (_, UserEvent::Created { name, role, token }) => {
                User::Active { name: name.clone(), role: *role, token: token.clone() }
            }
            (User::Active { name, token, .. }, UserEvent::RoleChanged { role }) => {
                User::Active { name, role: *role, token }
            }
            (User::Active { name, role, .. }, UserEvent::TokenRotated { token }) => {
                User::Active { name, role, token: token.clone() }
            }
            (_, UserEvent::Deleted) => User::Absent,
            (state, _) => state,
        }
    }
}

// ------------------------------------------------------------------------------------------
// MCP clients

#[derive(Debug, Clone, PartialEq)]
pub enum McpClientCommand {
    Create { name: IdentityName, description: String, allow: AllowSpec, token: TokenDigest },
    Update { description: String, allow: AllowSpec },
    RotateToken { token: TokenDigest },
    Delete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum McpClientEvent {
    Created { name: IdentityName, description: String, allow: AllowSpec, token: TokenDigest },
    Updated { description: String, allow: AllowSpec },
    TokenRotated { token: TokenDigest },
    Deleted,
}

const CLIENT_EVENT_TYPES: &[&str] =
    &["mcp_client.created", "mcp_client.updated", "mcp_client.token_rotated", "mcp_client.deleted"];

impl DomainEvent for McpClientEvent {
    fn event_type(&self) -> &'static str {
        match self {
            McpClientEvent::Created { .. } => CLIENT_EVENT_TYPES[0],
            McpClientEvent::Updated { .. } => CLIENT_EVENT_TYPES[1],
            McpClientEvent::TokenRotated { .. } => CLIENT_EVENT_TYPES[2],
            McpClientEvent::Deleted => CLIENT_EVENT_TYPES[3],
        }
    }
    fn upcast(t: &str, v: u32, p: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
        upcast_v1_only(CLIENT_EVENT_TYPES, t, v, p)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum McpClient {
    #[default]
    Absent,
    Active {
        name: IdentityName,
        description: String,
        allow: AllowSpec,
        token: TokenDigest,
    },
}

impl Aggregate for McpClient {
    const TYPE: &'static str = "mcp_client";
    type Command = McpClientCommand;
    type Event = McpClientEvent;
    type Error = IdentityError;

    fn decide(&self, command: &McpClientCommand) -> Result<Vec<McpClientEvent>, IdentityError> {
        match (self, command) {
            (McpClient::Active { name, .. }, McpClientCommand::Create { .. }) => {
                Err(IdentityError::AlreadyExists(name.clone()))
            }
            (McpClient::Absent, McpClientCommand::Create { name, description, allow, token }) => {
                allow.validate()?;
                Ok(vec![McpClientEvent::Created {
                    name: name.clone(),
                    description: description.clone(),
                    allow: allow.clone(),
                    token: token.clone(),
                }])
            }
            (McpClient::Active { description: d, allow: a, .. }, McpClientCommand::Update { description, allow }) => {
                allow.validate()?;
                Ok(if d == description && a == allow {
                    vec![]
                } else {
                    vec![McpClientEvent::Updated { description: description.clone(), allow: allow.clone() }]
                })
            }
            (McpClient::Active { .. }, McpClientCommand::RotateToken { token }) => {
                Ok(vec![McpClientEvent::TokenRotated { token: token.clone() }])
            }
            (McpClient::Active { .. }, McpClientCommand::Delete) => Ok(vec![McpClientEvent::Deleted]),
            (McpClient::Absent, _) => Err(IdentityError::NotFound),
        }
    }

    fn apply(self, event: &McpClientEvent) -> McpClient {
        match (self, event) {
            (_, McpClientEvent::Created { name, description, allow, token }) => McpClient::Active {
                name: name.clone(),
                description: description.clone(),
                allow: allow.clone(),
                token: token.clone(),
            },
            (McpClient::Active { name, token, .. }, McpClientEvent::Updated { description, allow }) => {
                McpClient::Active { name, description: description.clone(), allow: allow.clone(), token }
            }
            (McpClient::Active { name, description, allow, .. }, McpClientEvent::TokenRotated { token }) => {
                McpClient::Active { name, description, allow, token: token.clone() }
            }
            (_, McpClientEvent::Deleted) => McpClient::Absent,
            (state, _) => state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> TokenDigest {
        TokenDigest::parse(c.to_string().repeat(64)).unwrap()
    }

    fn name(s: &str) -> IdentityName {
        ServerName::parse(s.to_string()).unwrap()
    }

    #[test]
    fn digests_are_hex_and_never_printed_whole() {
        assert!(TokenDigest::parse("A".repeat(64)).is_err(), "uppercase");
        assert!(TokenDigest::parse("a".repeat(63)).is_err(), "length");
        assert!(serde_json::from_value::<TokenDigest>(serde_json::json!("nope")).is_err());
        let d = digest('b');
        assert_eq!(format!("{d:?}"), "TokenDigest(bbbbbbbb…)");
    }

    #[test]
    fn user_lifecycle() {
        let create = UserCommand::Create { name: name("alice"), role: Role::Member, token: digest('a') };
        let user = User::fold(&User::Absent.decide(&create).unwrap());
        assert_eq!(user.decide(&create), Err(IdentityError::AlreadyExists(name("alice"))));
        let change = |role| UserCommand::ChangeRole { role, other_owners: 0 };
        assert_eq!(user.decide(&change(Role::Member)).unwrap(), vec![], "no change");
        assert_eq!(user.decide(&change(Role::Owner)).unwrap(), vec![UserEvent::RoleChanged { role: Role::Owner }]);
        let promoted = user.clone().apply(&UserEvent::RoleChanged { role: Role::Admin });
        assert!(matches!(promoted, User::Active { role: Role::Admin, .. }));
        let rotated = promoted.apply(&UserEvent::TokenRotated { token: digest('c') });
        assert!(matches!(&rotated, User::Active { token, .. } if *token == digest('c')));
        assert_eq!(rotated.apply(&UserEvent::Deleted), User::Absent);
        assert_eq!(User::Absent.decide(&UserCommand::Delete { other_owners: 1 }), Err(IdentityError::NotFound));
        assert_eq!(User::Absent.decide(&change(Role::Admin)), Err(IdentityError::NotFound));
        assert_eq!(Role::parse("owner").unwrap(), Role::Owner);
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn a_tenant_keeps_an_owner() {
        let create = UserCommand::Create { name: name("root"), role: Role::Owner, token: digest('a') };
        let owner = User::fold(&User::Absent.decide(&create).unwrap());
        let demote = |other_owners| UserCommand::ChangeRole { role: Role::Admin, other_owners };
        assert_eq!(owner.decide(&demote(0)), Err(IdentityError::LastOwner));
        assert_eq!(owner.decide(&demote(1)).unwrap(), vec![UserEvent::RoleChanged { role: Role::Admin }]);
        let still_owner = UserCommand::ChangeRole { role: Role::Owner, other_owners: 0 };
        assert_eq!(owner.decide(&still_owner).unwrap(), vec![], "the last owner may stay one");
        let admin = owner.apply(&UserEvent::RoleChanged { role: Role::Admin });
        let to_member = UserCommand::ChangeRole { role: Role::Member, other_owners: 0 };
        assert_eq!(admin.decide(&to_member).unwrap(), vec![UserEvent::RoleChanged { role: Role::Member }]);
    }

    #[test]
    fn clients_have_valid_allow_lists() {
        let allow = AllowSpec {
            servers: vec!["github".into(), "*".into()],
            groups: vec!["claude-tools".into()],
            tools: vec!["jira__search".into()],
        };
        let create = McpClientCommand::Create {
            name: name("claude"),
            description: "d".into(),
            allow: allow.clone(),
            token: digest('a'),
        };
        let client = McpClient::fold(&McpClient::Absent.decide(&create).unwrap());
        let same = McpClientCommand::Update { description: "d".into(), allow };
        assert_eq!(client.decide(&same).unwrap(), vec![]);
        for bad in [
            AllowSpec { servers: vec!["bad name".into()], ..Default::default() },
            AllowSpec { tools: vec!["no_separator".into()], ..Default::default() },
            AllowSpec { groups: vec!["a__b".into()], ..Default::default() },
        ] {
            let update = McpClientCommand::Update { description: String::new(), allow: bad };
            assert!(matches!(client.decide(&update), Err(IdentityError::Invalid(_))));
        }
        assert_eq!(
            AllowSpec::from_servers_flag("github, jira,,"),
            AllowSpec { servers: vec!["github".into(), "jira".into()], ..Default::default() }
        );
        assert!(serde_json::from_value::<AllowSpec>(serde_json::json!({"server": []})).is_err(), "typos are errors");
    }
}

//! The platform operator (enterprise mode): who runs the deployment, creates tenants and
//! suspends them, and belongs to no tenant. `init-server` creates the first one, named
//! [`FIRST_OPERATOR`]. Like users and MCP clients, an operator holds only its token's keyed
//! digest ([`TokenDigest`]); the token is shown once, when it is generated.
//!
//! Operators' streams live under the reserved tenant id [`TenantId::PLATFORM`](crate::ids::TenantId::PLATFORM), which no tenant
//! can take (see [`crate::tenant`]): the event store keys every stream by a tenant, and this one
//! holds no tenant data, only the platform's own identities.

use crate::aggregate::{upcast_v1_only, Aggregate, DomainEvent, UpcastError};
use crate::identity::{IdentityError, IdentityName, TokenDigest};
use serde::{Deserialize, Serialize};

/// The operator `init-server` creates.
pub const FIRST_OPERATOR: &str = "operator";

#[derive(Debug, Clone, PartialEq)]
pub enum OperatorCommand {
    Create { name: IdentityName, token: TokenDigest },
    RotateToken { token: TokenDigest },
    Delete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OperatorEvent {
    Created { name: IdentityName, token: TokenDigest },
    TokenRotated { token: TokenDigest },
    Deleted,
}

const OPERATOR_EVENT_TYPES: &[&str] = &["operator.created", "operator.token_rotated", "operator.deleted"];

impl DomainEvent for OperatorEvent {
    fn event_type(&self) -> &'static str {
        match self {
            OperatorEvent::Created { .. } => OPERATOR_EVENT_TYPES[0],
            OperatorEvent::TokenRotated { .. } => OPERATOR_EVENT_TYPES[1],
            OperatorEvent::Deleted => OPERATOR_EVENT_TYPES[2],
        }
    }
    fn upcast(t: &str, v: u32, p: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
        upcast_v1_only(OPERATOR_EVENT_TYPES, t, v, p)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum Operator {
    #[default]
    Absent,
    Active {
        name: IdentityName,
        token: TokenDigest,
    },
}

impl Aggregate for Operator {
    const TYPE: &'static str = "operator";
    type Command = OperatorCommand;
    type Event = OperatorEvent;
    type Error = IdentityError;

    fn decide(&self, command: &OperatorCommand) -> Result<Vec<OperatorEvent>, IdentityError> {
        match (self, command) {
            (Operator::Active { name, .. }, OperatorCommand::Create { .. }) => {
                Err(IdentityError::AlreadyExists(name.clone()))
            }
            (Operator::Absent, OperatorCommand::Create { name, token }) => {
                Ok(vec![OperatorEvent::Created { name: name.clone(), token: token.clone() }])
            }
            (Operator::Active { .. }, OperatorCommand::RotateToken { token }) => {
                Ok(vec![OperatorEvent::TokenRotated { token: token.clone() }])
            }
            (Operator::Active { .. }, OperatorCommand::Delete) => Ok(vec![OperatorEvent::Deleted]),
            (Operator::Absent, _) => Err(IdentityError::NotFound),
        }
    }

    fn apply(self, event: &OperatorEvent) -> Operator {
        match (self, event) {
            (_, OperatorEvent::Created { name, token }) => {
                Operator::Active { name: name.clone(), token: token.clone() }
            }
            (Operator::Active { name, .. }, OperatorEvent::TokenRotated { token }) => {
                Operator::Active { name, token: token.clone() }
            }
            (_, OperatorEvent::Deleted) => Operator::Absent,
            (state, _) => state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServerName;

    fn digest(c: char) -> TokenDigest {
        TokenDigest::parse(c.to_string().repeat(64)).unwrap()
    }

    #[test]
    fn operator_lifecycle() {
        let name = ServerName::parse(FIRST_OPERATOR).unwrap();
        let create = OperatorCommand::Create { name: name.clone(), token: digest('a') };
        let op = Operator::fold(&Operator::Absent.decide(&create).unwrap());
        assert_eq!(op.decide(&create), Err(IdentityError::AlreadyExists(name)));
        let rotated = op.apply(&OperatorEvent::TokenRotated { token: digest('b') });
        assert!(matches!(&rotated, Operator::Active { token, .. } if *token == digest('b')));
        assert_eq!(rotated.apply(&OperatorEvent::Deleted), Operator::Absent);
        assert_eq!(Operator::Absent.decide(&OperatorCommand::Delete), Err(IdentityError::NotFound));
        assert_eq!(OperatorEvent::Deleted.event_type(), "operator.deleted");
    }
}

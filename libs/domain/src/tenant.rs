//! The tenant (organisation) aggregate. Development mode has exactly one, `default`; enterprise
//! mode (a later issue) adds creation by a platform operator, users and clients.

use crate::aggregate::{upcast_v1_only, Aggregate, DomainEvent, UpcastError};
use crate::ids::TenantId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq)]
pub enum TenantCommand {
    Create { id: TenantId, display_name: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TenantEvent {
    Created { id: TenantId, display_name: String },
}

impl DomainEvent for TenantEvent {
    fn event_type(&self) -> &'static str {
        match self {
            TenantEvent::Created { .. } => "tenant.created",
        }
    }
    fn upcast(t: &str, v: u32, p: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
        upcast_v1_only(&["tenant.created"], t, v, p)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TenantError {
    #[error("tenant '{0}' already exists")]
    AlreadyExists(TenantId),
    #[error("tenant display name must not be empty")]
    EmptyName,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum Tenant {
    #[default]
    Absent,
    Active {
        id: TenantId,
        display_name: String,
    },
}

impl Aggregate for Tenant {
    const TYPE: &'static str = "tenant";
    type Command = TenantCommand;
    type Event = TenantEvent;
    type Error = TenantError;

    fn decide(&self, command: &TenantCommand) -> Result<Vec<TenantEvent>, TenantError> {
        match (self, command) {
            (Tenant::Active { id, .. }, TenantCommand::Create { .. }) => Err(TenantError::AlreadyExists(id.clone())),
            (Tenant::Absent, TenantCommand::Create { display_name, .. }) if display_name.trim().is_empty() => {
                Err(TenantError::EmptyName)
            }
            (Tenant::Absent, TenantCommand::Create { id, display_name }) => {
                Ok(vec![TenantEvent::Created { id: id.clone(), display_name: display_name.clone() }])
            }
        }
    }

    fn apply(self, event: &TenantEvent) -> Tenant {
        match event {
            TenantEvent::Created { id, display_name } => {
                Tenant::Active { id: id.clone(), display_name: display_name.clone() }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_once() {
        let id = TenantId::default_tenant();
        let cmd = TenantCommand::Create { id: id.clone(), display_name: "Default".into() };
        let events = Tenant::Absent.decide(&cmd).unwrap();
        let state = Tenant::fold(&events);
        assert_eq!(state.decide(&cmd), Err(TenantError::AlreadyExists(id)));
        let blank = TenantCommand::Create { id: TenantId::default_tenant(), display_name: " ".into() };
        assert_eq!(Tenant::Absent.decide(&blank), Err(TenantError::EmptyName));
    }
}

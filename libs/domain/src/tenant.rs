//! The tenant (organisation) aggregate. Development mode has exactly one, `default`; in
//! enterprise mode a platform operator creates more, and may suspend one (its users' and
//! clients' tokens are then refused) and resume it. The id [`TenantId::PLATFORM`] is reserved
//! for the platform's own streams and cannot be created.

use crate::aggregate::{upcast_v1_only, Aggregate, DomainEvent, UpcastError};
use crate::ids::TenantId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq)]
pub enum TenantCommand {
    Create {
        id: TenantId,
        display_name: String,
    },
    Suspend,
    Resume,
    /// The tenant's own OpenID provider, for single sign-on (the secret sealed by the caller).
    SetIdentityProvider(IdentityProvider),
    RemoveIdentityProvider,
}

/// A tenant's OpenID provider. The client secret is sealed (bound to the tenant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityProvider {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: crate::server::Sealed,
    /// The ID token claim whose value is the Canopy user name.
    pub username_claim: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TenantEvent {
    Created { id: TenantId, display_name: String },
    Suspended,
    Resumed,
    IdentityProviderSet(IdentityProvider),
    IdentityProviderRemoved,
}

const TENANT_EVENT_TYPES: &[&str] = &[
    "tenant.created",
    "tenant.suspended",
    "tenant.resumed",
    "tenant.identity_provider_set",
    "tenant.identity_provider_removed",
];

impl DomainEvent for TenantEvent {
    fn event_type(&self) -> &'static str {
        match self {
            TenantEvent::Created { .. } => TENANT_EVENT_TYPES[0],
            TenantEvent::Suspended => TENANT_EVENT_TYPES[1],
            TenantEvent::Resumed => TENANT_EVENT_TYPES[2],
            TenantEvent::IdentityProviderSet(_) => TENANT_EVENT_TYPES[3],
            TenantEvent::IdentityProviderRemoved => TENANT_EVENT_TYPES[4],
        }
    }
    fn upcast(t: &str, v: u32, p: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
        upcast_v1_only(TENANT_EVENT_TYPES, t, v, p)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TenantError {
    #[error("tenant '{0}' already exists")]
    AlreadyExists(TenantId),
    #[error("tenant display name must not be empty")]
    EmptyName,
    #[error("tenant id '{0}' is reserved")]
    Reserved(TenantId),
    #[error("the tenant does not exist")]
    NotFound,
    #[error("the tenant has no identity provider")]
    NoIdentityProvider,
    #[error("identity provider: {0}")]
    InvalidIdentityProvider(String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum Tenant {
    #[default]
    Absent,
    Active {
        id: TenantId,
        display_name: String,
        /// Suspended by the operator: its identities' tokens are refused until it is resumed.
        suspended: bool,
        /// Whether single sign-on through the tenant's own OpenID provider is set up.
        has_identity_provider: bool,
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
            (Tenant::Absent, TenantCommand::Create { id, .. }) if id.as_str() == TenantId::PLATFORM => {
                Err(TenantError::Reserved(id.clone()))
            }
            (Tenant::Absent, TenantCommand::Create { display_name, .. }) if display_name.trim().is_empty() => {
                Err(TenantError::EmptyName)
            }
            (Tenant::Absent, TenantCommand::Create { id, display_name }) => {
                Ok(vec![TenantEvent::Created { id: id.clone(), display_name: display_name.clone() }])
            }
            (Tenant::Active { suspended, .. }, TenantCommand::Suspend) => {
                Ok(if *suspended { vec![] } else { vec![TenantEvent::Suspended] })
            }
            (Tenant::Active { suspended, .. }, TenantCommand::Resume) => {
                Ok(if *suspended { vec![TenantEvent::Resumed] } else { vec![] })
            }
            (Tenant::Active { .. }, TenantCommand::SetIdentityProvider(p)) => {
                let blank = |s: &str| s.trim().is_empty();
                if blank(&p.issuer) || blank(&p.client_id) || blank(&p.username_claim) {
                    return Err(TenantError::InvalidIdentityProvider(
                        "issuer, client_id and username_claim are required".into(),
                    ));
                }
                Ok(vec![TenantEvent::IdentityProviderSet(p.clone())])
            }
            (Tenant::Active { has_identity_provider: false, .. }, TenantCommand::RemoveIdentityProvider) => {
                Err(TenantError::NoIdentityProvider)
            }
            (Tenant::Active { .. }, TenantCommand::RemoveIdentityProvider) => {
                Ok(vec![TenantEvent::IdentityProviderRemoved])
            }
            (
                Tenant::Absent,
                TenantCommand::Suspend
                | TenantCommand::Resume
                | TenantCommand::SetIdentityProvider(_)
                | TenantCommand::RemoveIdentityProvider,
            ) => Err(TenantError::NotFound),
        }
    }

    fn apply(self, event: &TenantEvent) -> Tenant {
        match (self, event) {
            (_, TenantEvent::Created { id, display_name }) => Tenant::Active {
                id: id.clone(),
                display_name: display_name.clone(),
                suspended: false,
                has_identity_provider: false,
            },
            (Tenant::Active { id, display_name, has_identity_provider, .. }, TenantEvent::Suspended) => {
                Tenant::Active { id, display_name, suspended: true, has_identity_provider }
            }
            (Tenant::Active { id, display_name, has_identity_provider, .. }, TenantEvent::Resumed) => {
                Tenant::Active { id, display_name, suspended: false, has_identity_provider }
            }
            (Tenant::Active { id, display_name, suspended, .. }, TenantEvent::IdentityProviderSet(_)) => {
                Tenant::Active { id, display_name, suspended, has_identity_provider: true }
            }
            (Tenant::Active { id, display_name, suspended, .. }, TenantEvent::IdentityProviderRemoved) => {
                Tenant::Active { id, display_name, suspended, has_identity_provider: false }
            }
            (state, _) => state,
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

    #[test]
    fn the_platform_id_is_reserved_and_tenants_suspend_and_resume() {
        let platform = TenantCommand::Create { id: TenantId::platform(), display_name: "P".into() };
        assert_eq!(Tenant::Absent.decide(&platform), Err(TenantError::Reserved(TenantId::platform())));
        assert_eq!(Tenant::Absent.decide(&TenantCommand::Suspend), Err(TenantError::NotFound));
        let acme = TenantId::parse("acme").unwrap();
        let created = Tenant::Absent.decide(&TenantCommand::Create { id: acme, display_name: "Acme".into() }).unwrap();
        let state = Tenant::fold(&created);
        assert_eq!(state.decide(&TenantCommand::Resume).unwrap(), vec![], "not suspended");
        assert_eq!(state.decide(&TenantCommand::Suspend).unwrap(), vec![TenantEvent::Suspended]);
        let suspended = state.apply(&TenantEvent::Suspended);
        assert!(matches!(suspended, Tenant::Active { suspended: true, .. }));
        assert_eq!(suspended.decide(&TenantCommand::Suspend).unwrap(), vec![], "already suspended");
        assert!(matches!(suspended.apply(&TenantEvent::Resumed), Tenant::Active { suspended: false, .. }));
    }
}

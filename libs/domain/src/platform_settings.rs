//! Settings of the whole deployment that its operator changes at run time, as an aggregate: one
//! stream (`platform_settings/deployment`) under the reserved tenant [`TenantId::PLATFORM`].
//! Today it holds maintenance: while it is on, new job submissions are refused with
//! `MAINTENANCE_ACTIVE`; jobs already queued or running go on.
//!
//! Event-sourced rather than a configuration value or a bare row, so that turning maintenance on
//! is recorded with who did it and when (the audit log shows it), every replica of the api sees
//! the same value at once (the read model is written in the same transaction), it survives
//! restarts, and it reaches other services on the bus like any other change.
//!
//! [`TenantId::PLATFORM`]: crate::ids::TenantId::PLATFORM

use crate::aggregate::{upcast_v1_only, Aggregate, DomainEvent, UpcastError};
use crate::error_code::{ErrorCode, HasErrorCode};
use serde::{Deserialize, Serialize};

/// The id of the one settings stream.
pub const DEPLOYMENT: &str = "deployment";
pub const MAINTENANCE_MESSAGE_MAX_CHARS: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformSettingsCommand {
    /// Turns maintenance on (with the message submitters see) or off.
    SetMaintenance { active: bool, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PlatformSettingsEvent {
    MaintenanceStarted {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        message: String,
    },
    MaintenanceEnded,
}

const EVENT_TYPES: &[&str] = &["platform_settings.maintenance_started", "platform_settings.maintenance_ended"];

impl DomainEvent for PlatformSettingsEvent {
    fn event_type(&self) -> &'static str {
        match self {
            PlatformSettingsEvent::MaintenanceStarted { .. } => EVENT_TYPES[0],
            PlatformSettingsEvent::MaintenanceEnded => EVENT_TYPES[1],
        }
    }
    fn upcast(t: &str, v: u32, p: serde_json::Value) -> Result<serde_json::Value, UpcastError> {
        upcast_v1_only(EVENT_TYPES, t, v, p)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformSettingsError {
    #[error("message must be at most {MAINTENANCE_MESSAGE_MAX_CHARS} characters, without control characters")]
    BadMessage,
}

impl HasErrorCode for PlatformSettingsError {
    fn code(&self) -> ErrorCode {
        ErrorCode::InvalidRequest
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformSettings {
    /// `Some(message)` while maintenance is on.
    pub maintenance: Option<String>,
}

impl Aggregate for PlatformSettings {
    const TYPE: &'static str = "platform_settings";
    type Command = PlatformSettingsCommand;
    type Event = PlatformSettingsEvent;
    type Error = PlatformSettingsError;

    fn decide(&self, command: &PlatformSettingsCommand) -> Result<Vec<PlatformSettingsEvent>, PlatformSettingsError> {
        let PlatformSettingsCommand::SetMaintenance { active, message } = command;
        let message = message.trim();
        if message.chars().count() > MAINTENANCE_MESSAGE_MAX_CHARS || message.chars().any(char::is_control) {
            return Err(PlatformSettingsError::BadMessage);
        }
        Ok(match (active, &self.maintenance) {
            (true, Some(current)) if current == message => vec![],
            (true, _) => vec![PlatformSettingsEvent::MaintenanceStarted { message: message.to_string() }],
            (false, Some(_)) => vec![PlatformSettingsEvent::MaintenanceEnded],
            (false, None) => vec![],
        })
    }

    fn apply(self, event: &PlatformSettingsEvent) -> PlatformSettings {
        match event {
            PlatformSettingsEvent::MaintenanceStarted { message } => {
                PlatformSettings { maintenance: Some(message.clone()) }
            }
            PlatformSettingsEvent::MaintenanceEnded => PlatformSettings { maintenance: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(active: bool, message: &str) -> PlatformSettingsCommand {
        PlatformSettingsCommand::SetMaintenance { active, message: message.into() }
    }

    #[test]
    fn maintenance_turns_on_and_off_once() {
        let off = PlatformSettings::default();
        assert_eq!(off.decide(&set(false, "")), Ok(vec![]), "already off");
        let on = PlatformSettings::fold(&off.decide(&set(true, " upgrading ")).unwrap());
        assert_eq!(on.maintenance.as_deref(), Some("upgrading"));
        assert_eq!(on.decide(&set(true, "upgrading")), Ok(vec![]), "the same again changes nothing");
        assert_eq!(on.decide(&set(true, "later")).unwrap().len(), 1, "a new message is recorded");
        assert_eq!(on.decide(&set(false, "")), Ok(vec![PlatformSettingsEvent::MaintenanceEnded]));
        assert_eq!(off.decide(&set(true, "a\u{7}")), Err(PlatformSettingsError::BadMessage));
        assert_eq!(off.decide(&set(true, &"x".repeat(513))), Err(PlatformSettingsError::BadMessage));
    }
}

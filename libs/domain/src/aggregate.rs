//! The contract every aggregate keeps, so one generic command executor serves them all.

use serde::{de::DeserializeOwned, Serialize};

/// An event as stored: a stable type name and a schema version, so old events can be upcast.
pub trait DomainEvent: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The stable name stored in the `event_type` column, e.g. `server.registered`.
    fn event_type(&self) -> &'static str;
    /// The schema version this code writes for the event's type.
    fn schema_version(&self) -> u32 {
        1
    }
    /// Rewrites a stored payload of an older schema version into the current one. Called for
    /// every event read back from the store before it is deserialised.
    fn upcast(
        event_type: &str,
        schema_version: u32,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, UpcastError>;
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UpcastError {
    #[error("event {event_type} has schema version {found}, newer than this build knows ({known}); upgrade Canopy")]
    FromTheFuture { event_type: String, found: u32, known: u32 },
    #[error("unknown event type {0}")]
    UnknownType(String),
}

/// An aggregate: a consistency boundary with one event stream per instance.
pub trait Aggregate: Default + Clone + Send + Sync + 'static {
    /// The stream family, e.g. `server`; part of the stream key and of the bus subject.
    const TYPE: &'static str;
    type Command: Send + Sync;
    type Event: DomainEvent;
    type Error: std::error::Error + Send + Sync + 'static;

    fn decide(&self, command: &Self::Command) -> Result<Vec<Self::Event>, Self::Error>;
    fn apply(self, event: &Self::Event) -> Self;

    fn fold<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self {
        events.into_iter().fold(Self::default(), |s, e| s.apply(e))
    }
}

/// Shared upcast rule for aggregates whose events are all still at schema version 1.
pub(crate) fn upcast_v1_only(
    known_types: &[&str],
    event_type: &str,
    schema_version: u32,
    payload: serde_json::Value,
) -> Result<serde_json::Value, UpcastError> {
    if !known_types.contains(&event_type) {
        return Err(UpcastError::UnknownType(event_type.to_string()));
    }
    if schema_version > 1 {
        return Err(UpcastError::FromTheFuture { event_type: event_type.to_string(), found: schema_version, known: 1 });
    }
    Ok(payload)
}

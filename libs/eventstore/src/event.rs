//! Events as stored and the metadata every event carries.

use canopy_domain::{Aggregate, DomainEvent, TenantId, UpcastError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who and what caused a command; copied onto every event the command produces.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// `user:NAME`, `client:NAME`, `service:session-worker`, `system`...
    pub actor: String,
    pub correlation_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// The context a command runs in: the tenant, the metadata for its events, and optionally an
/// idempotency key with a fingerprint of the request it guards.
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub tenant: TenantId,
    pub metadata: EventMetadata,
    /// SHA-256 hex of the request; required with `metadata.idempotency_key`.
    pub request_fingerprint: Option<String>,
}

impl CommandContext {
    pub fn new(tenant: TenantId, actor: impl Into<String>) -> Self {
        Self {
            tenant,
            metadata: EventMetadata { actor: actor.into(), correlation_id: Uuid::now_v7(), ..Default::default() },
            request_fingerprint: None,
        }
    }

    /// Makes the command idempotent under `key` for requests with this exact body.
    pub fn idempotent(mut self, key: impl Into<String>, request: &[u8]) -> Self {
        use sha2::Digest;
        self.metadata.idempotency_key = Some(key.into());
        self.request_fingerprint = Some(format!("{:x}", sha2::Sha256::digest(request)));
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub tenant: TenantId,
    pub aggregate_type: &'static str,
    pub aggregate_id: String,
}

impl StreamKey {
    pub fn of<A: Aggregate>(tenant: &TenantId, aggregate_id: impl Into<String>) -> Self {
        Self { tenant: tenant.clone(), aggregate_type: A::TYPE, aggregate_id: aggregate_id.into() }
    }

    /// The bus subject suffix for this stream's events: `TENANT.TYPE.ID`. Tenant ids and
    /// aggregate ids are validated names, free of `.`, `*`, `>` and spaces.
    pub fn subject(&self) -> String {
        format!("{}.{}.{}", self.tenant, self.aggregate_type, self.aggregate_id)
    }
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: &'static str,
    pub schema_version: u32,
    pub payload: serde_json::Value,
}

impl NewEvent {
    pub fn from_domain<E: DomainEvent>(event: &E) -> Self {
        Self {
            event_type: event.event_type(),
            schema_version: event.schema_version(),
            payload: serde_json::to_value(event).expect("domain events serialise to JSON"),
        }
    }
}

/// An event read back from the store or received from the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct StoredEvent {
    pub global_position: i64,
    pub event_id: Uuid,
    pub tenant_id: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub version: i64,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: serde_json::Value,
    #[sqlx(json)]
    pub metadata: EventMetadata,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Upcast(#[from] UpcastError),
    #[error("event {event_id} ({event_type}) does not match its schema")]
    Payload {
        event_id: Uuid,
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
}

impl StoredEvent {
    /// Upcasts and deserialises the payload into the aggregate's event type.
    pub fn decode<E: DomainEvent>(&self) -> Result<E, DecodeError> {
        let payload = E::upcast(&self.event_type, self.schema_version as u32, self.payload.clone())?;
        serde_json::from_value(payload).map_err(|source| DecodeError::Payload {
            event_id: self.event_id,
            event_type: self.event_type.clone(),
            source,
        })
    }
}

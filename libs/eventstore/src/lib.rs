//! The event store on PostgreSQL: append-only streams with optimistic concurrency, event
//! metadata, idempotent commands, a transactional outbox, projections applied in the write
//! transaction, and rebuilding every read model from the log.
//!
//! Invariant: the only way state changes is [`CommandExecutor::execute`]: load the stream,
//! `decide`, then in ONE transaction append the events, project them, write the outbox rows and
//! the idempotency record. Either all of it commits or none of it does.

pub mod db;
pub mod event;
pub mod executor;
pub mod projection;
pub mod store;

pub use db::{connect, migrate, DbError};
pub use event::{CommandContext, EventMetadata, NewEvent, StoredEvent, StreamKey};
pub use executor::{CommandExecutor, ExecuteError, Outcome};
pub use projection::{rebuild, Projector};
pub use store::{EventStore, StoreError};

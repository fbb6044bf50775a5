//! The event store on PostgreSQL: append-only streams with optimistic concurrency, event
//! metadata, idempotent commands, a transactional outbox, projections applied in the write
//! transaction, and rebuilding every read model from the log.
//!
//! Invariant: the only way state changes is the [`CommandExecutor`]: load the stream,
//! `decide`, then in ONE transaction append the events (one statement, with their outbox rows
//! and the relay's NOTIFY), project them and write the idempotency record. Either all of it
//! commits or none of it does. [`CommandExecutor::execute`] runs that transaction itself;
//! [`CommandExecutor::execute_in`] runs the same rule inside a caller's transaction, so writes of
//! the caller's own (a job's lease row) commit with the events; [`CommandExecutor::execute_from`]
//! decides first on a state the caller already holds, checked by the append.

pub mod db;
pub mod event;
pub mod executor;
pub mod projection;
pub mod store;

pub use db::{connect, migrate, DbError};
pub use event::{CommandContext, EventMetadata, NewEvent, StoredEvent, StreamKey};
pub use executor::{CommandExecutor, ExecuteError, Outcome, StreamTurn};
pub use projection::{rebuild, Projector};
pub use store::{EventStore, StoreError};

//! Canopy's domain model: aggregates, the commands they accept, the events they emit and the
//! decisions between them. Pure: no I/O, no clocks, no randomness (ids come in with commands), so
//! every rule here is tested without Postgres, NATS or an upstream.
//!
//! Shape of an aggregate: `decide(&state, command) -> events` says what happens;
//! `apply(state, &event) -> state` folds history into the current state. The event store
//! (`canopy-eventstore`) loads history, calls `decide`, and appends what it returns.

pub mod aggregate;
pub mod group;
pub mod identity;
pub mod ids;
pub mod operator;
pub mod server;
pub mod tenant;

pub use aggregate::{Aggregate, DomainEvent, UpcastError};
pub use ids::{IdError, ServerId, ServerName, TenantId};

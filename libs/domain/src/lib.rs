//! Canopy's domain model: aggregates, the commands they accept, the events they emit and the
//! decisions between them. Pure: no I/O, no clocks, no randomness (ids come in with commands), so
//! every rule here is tested without Postgres, NATS or an upstream.
//!
//! Shape of an aggregate: `decide(&state, command) -> events` says what happens;
//! `apply(state, &event) -> state` folds history into the current state. The event store
//! (`canopy-eventstore`) loads history, calls `decide`, and appends what it returns.

pub mod aggregate;
pub mod builtin;
pub mod credits;
pub mod error_code;
pub mod group;
pub mod identity;
pub mod ids;
pub mod job;
pub mod job_input;
pub mod job_spec;
pub mod ledger;
pub mod operator;
pub mod platform_settings;
pub mod python_env;
pub mod server;
pub mod tenant;

pub use aggregate::{Aggregate, DomainEvent, UpcastError};
pub use builtin::BuiltinKind;
pub use credits::Credits;
pub use error_code::{error_chain, ErrorCode, HasErrorCode};
pub use ids::{ArtifactId, IdError, InputId, JobId, RunnerId, ServerId, ServerName, TenantId};

//! The `canopy` binary's library: composing the four services into one process (`canopy
//! start`) or running one (`canopy serve api|edge|worker|poller`), with the shared health,
//! readiness and metrics endpoints, start-up checks and graceful shutdown.

pub mod health;
pub mod listener;
pub mod runtime;
pub mod secret_key;
pub mod tls;
pub mod well_known;

pub use runtime::{run, ServiceSet};

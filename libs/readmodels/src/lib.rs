//! The read models the API, the gateway edge and the session-worker query: tenants, servers and
//! their tools. Projected from events in the write transaction by [`CanopyProjector`]; never
//! written any other way, so `rebuild` reproduces them exactly.

mod platform;
mod projector;
mod queries;

pub use platform::*;
pub use projector::CanopyProjector;
pub use queries::*;

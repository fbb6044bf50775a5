//! The read models the API, the gateway edge and the session-worker query: tenants, servers and
//! their tools; jobs, their inputs, tenants' credits and the maintenance switch; Python environments and their sessions. Projected from events in the write transaction by [`CanopyProjector`]; never
//! written any other way, so `rebuild` reproduces them exactly.

mod jobs;
mod platform;
mod projector;
mod python;
mod queries;

pub use jobs::{
    count_queued_jobs, get_job, get_job_input, get_ledger, job_status, list_job_inputs, list_jobs, maintenance,
    InputRow, JobRow, LedgerRow,
};
pub use platform::*;
pub use projector::CanopyProjector;
pub use python::{
    get_python_env, get_python_session, list_python_envs, list_python_sessions, python_visible, PythonEnvRow,
    PythonSessionRow,
};
pub use queries::*;

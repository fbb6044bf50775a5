//! canopy-jobs' integration tests, one binary, against the real Postgres (a fresh database per
//! test), NATS (a prefix per test) and a local blob store served over real HTTP: the job's life
//! from submit to settlement, the fair claim, lease takeover, the upload flow with real signed
//! URLs, logs paged and followed, credits and maintenance, every invalid field named, and
//! another tenant's ids answered as ids that exist nowhere.

mod harness;
mod invalid;
mod isolation;
mod lifecycle;
mod logs;
mod poller;
mod uploads;

//! MCP plumbing shared by the gateway edge and the session-worker:
//! - [`names`]: how upstream tool names become gateway names (`server__tool`) and back;
//! - [`call`]: the request/reply messages the edge sends a worker over NATS for a tool call;
//! - [`report`]: what a worker found on an upstream, sent to the api service to record.

pub mod call;
pub mod names;
pub mod report;

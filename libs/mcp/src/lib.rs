//! MCP plumbing shared by the gateway edge and the session-worker:
//! - [`names`]: how upstream tool names become gateway names (`server__tool`) and back;
//! - [`call`]: the request/reply messages the edge sends a worker over NATS for a tool call.

pub mod call;
pub mod names;

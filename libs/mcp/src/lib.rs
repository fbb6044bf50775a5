//! MCP plumbing shared by the gateway edge and the session-worker:
//! - [`names`]: how upstream tool names become gateway names (`server__tool`) and back;
//! - [`call`]: the request/reply messages the edge sends a worker over NATS for a tool call;
//! - [`param_headers`]: checking `Mcp-Param-*` headers against `tools/call` arguments;
//! - [`report`]: what a worker found on an upstream, sent to the api service to record.

pub mod call;
pub mod names;
pub mod param_headers;
pub mod report;

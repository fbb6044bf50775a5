//! `canopy-fixture-server`: a small but real MCP server, built on `rmcp`, that Canopy's tests
//! register as an upstream and reach through the gateway.
//!
//! * [`FixtureServer`] is the `rmcp` [`ServerHandler`](rmcp::ServerHandler): its tools live in
//!   [`tools`] (one catalogue, easy to extend), `tools/list` is paginated when
//!   [`FixtureOptions::page_size`] is set.
//! * With [`FixtureOptions::conformance`] it also serves the fixtures of the official MCP
//!   conformance suite: [`conformance`] (tools), [`prompts`], [`resources`].
//! * [`serve_http`] serves it over Streamable HTTP at `/mcp` and returns a [`FixtureHandle`];
//!   [`serve_stdio`] serves it over stdin/stdout; [`serve_sse`] over the legacy HTTP+SSE
//!   transport of MCP 2024-11-05 (`GET /sse` + `POST /messages`).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use canopy_fixture_server::{serve_http, FixtureOptions};
//! let handle = serve_http("127.0.0.1:0".parse()?, FixtureOptions::default().with_extra_tools(3)).await?;
//! println!("upstream at {}", handle.url());
//! handle.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod conformance;
pub mod mrtr;
pub mod options;
pub mod param_headers;
pub mod prompts;
pub mod resources;
pub mod server;
pub mod sse;
pub mod tools;
pub mod transport;

pub use options::FixtureOptions;
pub use server::{Change, Changes, FixtureServer, FixtureStats, SessionState, SERVER_NAME};
pub use sse::{serve_sse, SseFixtureHandle, SSE_PATH};
pub use transport::{serve_http, serve_stdio, FixtureHandle, MCP_PATH};

//! The one admission of a call that reaches an upstream: MCP `tools/call`, `prompts/get`,
//! `resources/read`, `resources/subscribe` and `completion/complete` on every endpoint and in
//! both protocol eras (the edge's pre-rmcp middleware and its handler), and REST invoke, render
//! and read. Every path asks the same two functions and nothing else, so the same case gets
//! the same answer everywhere:
//!
//! 1. [`decide`], pure: the name as asked through the endpoint's [`Scope`] (REST names as
//!    `/mcp` does), the principal ([`Who`]) and a view of the catalog ([`Catalog`]) give
//!    [`Admitted`] or [`Refused`]. It resolves the name, asks `canopy-policy` for `Use`, checks
//!    the endpoint admits the item (group members), and that its server is registered and
//!    enabled and the item listed and enabled. A disabled item is unknown ([`Reason::NotFound`])
//!    on every path, as the policy's documentation says.
//! 2. [`settle`], async: counts an admitted call of a counted method against the rate limits
//!    (so only what is admitted counts) and records every refusal for the audit log.
//!
//! What is admitted is a complete call (id, tenant, principal, server and registration, method,
//! the upstream's name for the item) and becomes the worker's `CallRequest` as it is
//! ([`Admitted::into_request`]); nothing fills it in later.
//!
//! # The catalog view
//!
//! [`Catalog`] is a small synchronous trait, so the decision stays pure and cheap: the edge
//! implements it on its in-memory catalog cache; the api, which has no such cache, reads the
//! read-model rows of the one server the name resolves to ([`resolve`]) and decides against
//! them. Both views say the same thing of the same catalog: server registered and enabled,
//! item listed and enabled.
//!
//! # The edge's two counting places
//!
//! The edge counts a call before rmcp when it can read what the call names (so it can answer
//! HTTP 429). It decides there, settles, and hands the decision to the handler in the request's
//! extensions; the handler uses that decision as it is instead of deciding again, and decides
//! and settles itself only for calls the middleware could not read. A call is therefore decided,
//! counted and recorded once.

mod decide;
mod scope;
mod settle;

pub use decide::{decide, resolve, Admitted, Ask, Catalog, ItemKind, Listed, Method, Payload, Reason, Refused, Who};
pub use scope::Scope;
pub use settle::{count, record, settle};

#[cfg(test)]
mod tests;

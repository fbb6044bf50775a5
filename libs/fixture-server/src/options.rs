//! [`FixtureOptions`]: what the fixture server exposes and how it is served.

/// Options of a fixture server. Build it with a struct literal plus `..Default::default()`,
/// or with the `with_*` methods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixtureOptions {
    /// Number of extra tools `extra_0 .. extra_{N-1}` (each echoes its own name).
    pub extra_tools: usize,
    /// When set, `tools/list` returns at most this many tools per page, with a `nextCursor`.
    /// `Some(0)` is treated as `None` (one page).
    pub page_size: Option<usize>,
    /// HTTP only: extra values accepted in the `Host` header, on top of the loopback names
    /// (`localhost`, `127.0.0.1`, `::1`) and the bound IP. `"*"` disables the Host check
    /// (for containers reached by service name).
    pub allowed_hosts: Vec<String>,
    /// HTTP only: serve without sessions (rmcp `legacy_session_mode = false`). Requests of
    /// protocol 2026-07-28 are always served statelessly by rmcp regardless.
    pub stateless: bool,
    /// HTTP only, stateless mode only: answer simple requests with `application/json`
    /// instead of an SSE stream.
    pub json_response: bool,
    /// Also serve the fixtures of the official MCP conformance suite
    /// (`@modelcontextprotocol/conformance`): the `test_*` tools and
    /// `json_schema_2020_12_tool`, the `test_*` prompts, the `test://` resources and resource
    /// template, completion, logging (`logging/setLevel`) and resource subscriptions. Off by
    /// default, so the plain fixture advertises tools only. See [`crate::conformance`].
    pub conformance: bool,
    /// Test hook for crash handling: the process exits (status 3) when it receives a tool call
    /// after having answered this many, as if it crashed mid-call.
    pub exit_after_calls: Option<u64>,
    /// Also serve the tool `large`, whose result is a text of `bytes` bytes (at most
    /// [`crate::tools::MAX_LARGE_BYTES`]): for tests of results larger than a message bus
    /// carries in one message. Off by default, so the default catalogue is unchanged.
    pub large_output: bool,
}

impl FixtureOptions {
    pub fn with_extra_tools(mut self, n: usize) -> Self {
        self.extra_tools = n;
        self
    }

    pub fn with_page_size(mut self, page_size: Option<usize>) -> Self {
        self.page_size = page_size;
        self
    }

    pub fn with_allowed_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(host.into());
        self
    }

    pub fn with_stateless(mut self, stateless: bool) -> Self {
        self.stateless = stateless;
        self
    }

    pub fn with_json_response(mut self, json_response: bool) -> Self {
        self.json_response = json_response;
        self
    }

    pub fn with_large_output(mut self, large_output: bool) -> Self {
        self.large_output = large_output;
        self
    }

    pub fn with_conformance(mut self, conformance: bool) -> Self {
        self.conformance = conformance;
        self
    }

    /// The effective page size: `None` means "everything in one page".
    pub fn effective_page_size(&self) -> Option<usize> {
        self.page_size.filter(|&n| n > 0)
    }
}

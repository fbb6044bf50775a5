//! The fixture's tools: each is a [`FixtureTool`], i.e. its `Tool` definition (exactly what
//! `tools/list` sends) paired with an async handler.
//!
//! To add a tool: write a `fn my_tool() -> FixtureTool` below (definition + handler) and list
//! it in [`catalogue`]. Handlers get a [`ToolCall`] (arguments, the rmcp request context with
//! peer, progress token, cancellation token and HTTP parts, the per-session state, and for
//! 2026-07-28 retries the `inputResponses`/`requestState`) and return a `CallToolResult` (or
//! an `InputRequiredResult`, through `CallToolResponse`); a tool failure the caller should see
//! is `Ok(CallToolResult::error(..))`, not `Err`.
//!
//! With [`FixtureOptions::conformance`] the catalogue also holds the conformance suite's
//! fixture tools ([`crate::conformance`]).

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use rmcp::{
    model::{
        object, CallToolResponse, CallToolResult, ContentBlock, ErrorData, Icon, InputResponses, JsonObject,
        MetaObject, ProgressNotificationParam, Tool, ToolAnnotations,
    },
    service::RequestContext,
    RoleServer,
};
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};

use crate::{
    mrtr::StateCodec,
    options::FixtureOptions,
    server::{Changes, FixtureStats, SessionState},
};

/// Upper bound on `large.bytes`.
pub const MAX_LARGE_BYTES: u64 = 256 * 1024 * 1024;

/// Upper bound on `slow.steps`, so a typo cannot flood a test with notifications.
pub const MAX_SLOW_STEPS: u64 = 10_000;

/// Everything a tool handler receives.
pub struct ToolCall {
    /// The tool's name (useful for handlers shared by several tools).
    pub name: String,
    /// `params.arguments` (empty when absent).
    pub args: JsonObject,
    /// rmcp's request context: `ctx.peer` (send notifications), `ctx.meta` (progress token),
    /// `ctx.ct` (cancelled on `notifications/cancelled`), `ctx.extensions`
    /// (`http::request::Parts` on Streamable HTTP).
    pub ctx: RequestContext<RoleServer>,
    pub stats: Arc<FixtureStats>,
    /// State of the MCP session the call arrived on (logging level, subscriptions).
    pub session: Arc<SessionState>,
    /// 2026-07-28 multi round-trip retries: the client's answers to our `inputRequests`.
    pub input_responses: Option<InputResponses>,
    /// 2026-07-28 multi round-trip retries: the `requestState` we handed out, echoed back.
    pub request_state: Option<String>,
    /// Seals and opens `requestState` values (shared by the whole server).
    pub codec: Arc<StateCodec>,
    /// Change announcements for `subscriptions/listen` streams (shared by the whole server).
    pub changes: Arc<Changes>,
}

pub type ToolFuture = Pin<Box<dyn Future<Output = Result<CallToolResponse, ErrorData>> + Send>>;
pub type ToolHandler = Arc<dyn Fn(ToolCall) -> ToolFuture + Send + Sync>;

/// A tool definition plus its implementation.
#[derive(Clone)]
pub struct FixtureTool {
    pub definition: Tool,
    pub handler: ToolHandler,
}

impl FixtureTool {
    /// `handler` returns a `CallToolResult` or a `CallToolResponse` (e.g. input required).
    pub fn new<F, Fut, R>(definition: Tool, handler: F) -> Self
    where
        F: Fn(ToolCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ErrorData>> + Send + 'static,
        R: Into<CallToolResponse> + 'static,
    {
        Self {
            definition,
            handler: Arc::new(move |call| {
                let fut = handler(call);
                Box::pin(async move { fut.await.map(Into::into) })
            }),
        }
    }
}

/// All tools, in `tools/list` order.
pub fn catalogue(options: &FixtureOptions) -> Vec<FixtureTool> {
    let mut tools = vec![echo(), add(), fail(), slow(), whoami()];
    tools.extend((0..options.extra_tools).map(extra));
    if options.large_output {
        tools.push(large());
    }
    if options.conformance {
        tools.extend(crate::conformance::tools());
    }
    tools
}

/// Parse the arguments into `T`; a mismatch is a tool error result (visible to the caller),
/// as MCP asks for input validation failures.
pub(crate) fn parse_args<T: DeserializeOwned>(args: JsonObject) -> Result<T, CallToolResult> {
    serde_json::from_value(Value::Object(args))
        .map_err(|e| CallToolResult::error(vec![ContentBlock::text(format!("invalid arguments: {e}"))]))
}

pub(crate) fn text(s: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(s)])
}

// ---------------------------------------------------------------------------------------------

fn echo() -> FixtureTool {
    let mut meta = MetaObject::new();
    meta.0.insert("dev.canopy/fixture".into(), json!({ "kind": "echo" }));
    let def = Tool::new(
        "echo",
        "Returns `message` unchanged as text.",
        object(json!({
            "type": "object",
            "properties": { "message": { "type": "string", "description": "Text to echo back" } },
            "required": ["message"]
        })),
    )
    .with_title("Echo")
    .with_annotations(ToolAnnotations::with_title("Echo").read_only(true).idempotent(true).open_world(false))
    .with_icons(vec![Icon::new("data:image/svg+xml;base64,PHN2Zy8+")])
    .with_meta(meta);

    #[derive(Deserialize)]
    struct Args {
        message: String,
    }
    FixtureTool::new(def, |call: ToolCall| async move {
        Ok(match parse_args::<Args>(call.args) {
            Ok(args) => text(args.message),
            Err(e) => e,
        })
    })
}

/// `large` (with [`FixtureOptions::large_output`]): a text result of `bytes` bytes.
fn large() -> FixtureTool {
    let def = Tool::new(
        "large",
        "Returns a text of `bytes` bytes (`x` repeated).",
        object(json!({
            "type": "object",
            "properties": { "bytes": { "type": "integer", "minimum": 0, "description": "Size of the text" } },
            "required": ["bytes"]
        })),
    );
    #[derive(Deserialize)]
    struct Args {
        bytes: u64,
    }
    FixtureTool::new(def, |call: ToolCall| async move {
        Ok(match parse_args::<Args>(call.args) {
            Ok(args) if args.bytes > MAX_LARGE_BYTES => {
                CallToolResult::error(vec![ContentBlock::text(format!("bytes is at most {MAX_LARGE_BYTES}"))])
            }
            Ok(args) => text("x".repeat(args.bytes as usize)),
            Err(e) => e,
        })
    })
}

fn add() -> FixtureTool {
    let def = Tool::new(
        "add",
        "Adds two numbers; the sum is returned as text and as structuredContent {\"sum\"}.",
        object(json!({
            "type": "object",
            "properties": {
                "a": { "type": "number" },
                "b": { "type": "number" }
            },
            "required": ["a", "b"]
        })),
    )
    .with_title("Add")
    .with_raw_output_schema(Arc::new(object(json!({
        "type": "object",
        "properties": { "sum": { "type": "number" } },
        "required": ["sum"]
    }))))
    .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true).open_world(false));

    #[derive(Deserialize)]
    struct Args {
        a: f64,
        b: f64,
    }
    FixtureTool::new(def, |call: ToolCall| async move {
        let args = match parse_args::<Args>(call.args) {
            Ok(args) => args,
            Err(e) => return Ok(e),
        };
        let sum = args.a + args.b;
        let mut result = CallToolResult::structured(json!({ "sum": sum }));
        result.content = vec![ContentBlock::text(sum.to_string())];
        Ok(result)
    })
}

fn fail() -> FixtureTool {
    let def = Tool::new(
        "fail",
        "Always fails: returns a result with isError=true and `message` as text.",
        object(json!({
            "type": "object",
            "properties": { "message": { "type": "string" } },
            "required": ["message"]
        })),
    )
    .with_title("Fail")
    .with_annotations(ToolAnnotations::new().read_only(true).open_world(false));

    #[derive(Deserialize)]
    struct Args {
        message: String,
    }
    FixtureTool::new(def, |call: ToolCall| async move {
        Ok(match parse_args::<Args>(call.args) {
            Ok(args) => CallToolResult::error(vec![ContentBlock::text(args.message)]),
            Err(e) => e,
        })
    })
}

fn slow() -> FixtureTool {
    let def = Tool::new(
        "slow",
        "Takes `ms` milliseconds, sending `steps` progress notifications on the way (when the \
         request has a progressToken), then returns \"done\". Stops early when cancelled.",
        object(json!({
            "type": "object",
            "properties": {
                "ms": { "type": "integer", "minimum": 0, "default": 1000 },
                "steps": { "type": "integer", "minimum": 0, "maximum": MAX_SLOW_STEPS, "default": 5 }
            }
        })),
    )
    .with_title("Slow")
    .with_annotations(ToolAnnotations::new().read_only(true).open_world(false));

    #[derive(Deserialize)]
    struct Args {
        #[serde(default = "default_ms")]
        ms: u64,
        #[serde(default = "default_steps")]
        steps: u64,
    }
    fn default_ms() -> u64 {
        1000
    }
    fn default_steps() -> u64 {
        5
    }
    FixtureTool::new(def, |call: ToolCall| async move {
        let args = match parse_args::<Args>(call.args) {
            Ok(args) => args,
            Err(e) => return Ok(e),
        };
        let steps = args.steps.min(MAX_SLOW_STEPS);
        let total = Duration::from_millis(args.ms);
        let ticks = steps.max(1);
        let tick = total / u32::try_from(ticks).unwrap_or(u32::MAX);
        let token = call.ctx.meta.get_progress_token();
        for i in 1..=ticks {
            tokio::select! {
                _ = call.ctx.ct.cancelled() => {
                    call.stats.record_cancelled();
                    tracing::debug!(step = i, "slow: cancelled");
                    return Ok(CallToolResult::error(vec![ContentBlock::text("cancelled")]));
                }
                _ = tokio::time::sleep(tick) => {}
            }
            if steps > 0 {
                if let Some(token) = token.clone() {
                    let progress = ProgressNotificationParam::new(token, i as f64)
                        .with_total(steps as f64)
                        .with_message(format!("step {i}/{steps}"));
                    if let Err(e) = call.ctx.peer.notify_progress(progress).await {
                        tracing::debug!("slow: progress not delivered: {e}");
                    }
                }
            }
        }
        Ok(text("done"))
    })
}

fn whoami() -> FixtureTool {
    let def = Tool::new(
        "whoami",
        "Reports the Authorization and X-Fixture HTTP headers this server received for the \
         call (\"none\" when absent or not on HTTP).",
        object(json!({ "type": "object", "properties": {} })),
    )
    .with_title("Who am I")
    .with_raw_output_schema(Arc::new(object(json!({
        "type": "object",
        "properties": {
            "transport": { "type": "string", "enum": ["http", "other"] },
            "authorization": { "type": ["string", "null"] },
            "xFixture": { "type": ["string", "null"] }
        },
        "required": ["transport", "authorization", "xFixture"]
    }))))
    .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true).open_world(false));

    FixtureTool::new(def, |call: ToolCall| async move {
        let parts = call.ctx.extensions.get::<http::request::Parts>();
        let header = |name: &str| -> Option<String> {
            parts?.headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let authorization = header("authorization");
        let x_fixture = header("x-fixture");
        let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_owned());
        let mut result = CallToolResult::structured(json!({
            "transport": if parts.is_some() { "http" } else { "other" },
            "authorization": authorization,
            "xFixture": x_fixture,
        }));
        result.content = vec![ContentBlock::text(format!(
            "authorization: {}\nx-fixture: {}",
            shown(&authorization),
            shown(&x_fixture)
        ))];
        Ok(result)
    })
}

fn extra(i: usize) -> FixtureTool {
    let name = format!("extra_{i}");
    let def = Tool::new(
        name.clone(),
        format!("Extra tool #{i}: returns its own name."),
        object(json!({ "type": "object", "properties": {} })),
    )
    .with_title(format!("Extra {i}"))
    .with_annotations(ToolAnnotations::new().read_only(true));
    FixtureTool::new(def, |call: ToolCall| async move { Ok(text(call.name)) })
}

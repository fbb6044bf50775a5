//! `canopy-echo`: a diagnostic built-in, off unless configured (`builtin.servers`). It shows the
//! mechanism end to end: `echo` answers at once, `progress` streams progress and log messages
//! before its result, `wait` runs until the caller cancels it (or its time is up) and counts the
//! cancellations it saw, which `stats` reports. The end-to-end tests drive it through every path.

use super::{tool, BuiltinCall, BuiltinServer, LogLevel};
use canopy_domain::BuiltinKind;
use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Default)]
pub struct Echo {
    /// Calls of `wait` whose cancellation token this process saw cancelled.
    cancelled: AtomicU64,
}

fn number(arguments: &JsonObject, key: &str, default: f64, max: f64) -> f64 {
    arguments.get(key).and_then(|v| v.as_f64()).unwrap_or(default).clamp(0.0, max)
}

impl BuiltinServer for Echo {
    fn kind(&self) -> BuiltinKind {
        BuiltinKind::Echo
    }

    fn tools(&self) -> Vec<Tool> {
        let annotations = json!({"readOnlyHint": true, "openWorldHint": false});
        vec![
            tool(json!({"name": "echo", "title": "Echo", "description": "Answers with its text.",
                "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
                "outputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
                "annotations": annotations})),
            tool(
                json!({"name": "progress", "title": "Progress", "description": "Sends `steps` progress notifications and log messages, then answers.",
                "inputSchema": {"type": "object", "properties": {"steps": {"type": "integer", "minimum": 0, "maximum": 100}, "delay_ms": {"type": "integer", "minimum": 0}}},
                "annotations": annotations}),
            ),
            tool(json!({"name": "wait", "title": "Wait", "description": "Runs until cancelled or `seconds` pass.",
                "inputSchema": {"type": "object", "properties": {"seconds": {"type": "number", "minimum": 0}}},
                "annotations": annotations})),
            tool(
                json!({"name": "stats", "title": "Stats", "description": "How many calls this process saw cancelled.",
                "inputSchema": {"type": "object", "properties": {}},
                "annotations": annotations}),
            ),
        ]
    }

    fn call(&self, ctx: BuiltinCall, name: String, arguments: JsonObject) -> BoxFuture<'_, CallToolResult> {
        Box::pin(async move {
            match name.as_str() {
                "echo" => {
                    let text = arguments.get("text").and_then(|t| t.as_str()).unwrap_or_default().to_string();
                    let mut result = CallToolResult::success(vec![ContentBlock::text(text.clone())]);
                    result.structured_content = Some(json!({"text": text}));
                    result
                }
                "progress" => {
                    let steps = number(&arguments, "steps", 2.0, 100.0) as u32;
                    let delay = Duration::from_millis(number(&arguments, "delay_ms", 0.0, 10_000.0) as u64);
                    for step in 1..=steps {
                        ctx.log(LogLevel::Info, Some("canopy-echo"), json!(format!("step {step}"))).await;
                        ctx.progress(step as f64, Some(steps as f64), Some(format!("step {step} of {steps}"))).await;
                        tokio::time::sleep(delay).await;
                    }
                    CallToolResult::success(vec![ContentBlock::text(format!("done after {steps} steps"))])
                }
                "wait" => {
                    let seconds = number(&arguments, "seconds", 30.0, 3600.0);
                    ctx.progress(0.0, None, Some("waiting".into())).await;
                    tokio::select! {
                        _ = ctx.cancellation().cancelled() => {
                            self.cancelled.fetch_add(1, Ordering::SeqCst);
                            CallToolResult::error(vec![ContentBlock::text("cancelled")])
                        }
                        _ = tokio::time::sleep(Duration::from_secs_f64(seconds)) => {
                            CallToolResult::success(vec![ContentBlock::text("waited")])
                        }
                    }
                }
                "stats" => {
                    let cancelled = self.cancelled.load(Ordering::SeqCst);
                    let mut result =
                        CallToolResult::success(vec![ContentBlock::text(format!("cancelled: {cancelled}"))]);
                    result.structured_content = Some(json!({"cancelled": cancelled}));
                    result
                }
                other => super::tool_error(other, "NOT_FOUND", "canopy-echo has no such tool"),
            }
        })
    }
}

//! Tool verbs: `list tools [--server | --group]`, `usage server__tool`,
//! `invoke server__tool --input [--group]`.

use super::groups;
use super::output;
use super::servers::decode;
use super::Ctx;
use anyhow::Context;
use canopy_api_types::ToolView;
use serde_json::Value;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    canopy invoke calculator__multiply --input '{\"a\": 100, \"b\": 50}'\n  \
    canopy invoke fs__write_file --input @args.json\n  \
    canopy invoke fs__read_file --group claude-tools --input '{\"path\": \"README.md\"}'")]
pub struct InvokeArgs {
    /// Tool name, server__tool.
    pub name: String,
    /// Arguments as a JSON object, or @FILE to read them from a file (@- for stdin).
    #[arg(long, default_value = "{}")]
    pub input: String,
    /// Invoke only if the tool is one the group's endpoint offers now (else exit 1, no call).
    #[arg(long)]
    pub group: Option<String>,
}

impl InvokeArgs {
    /// `{"name": tool, ...arguments}`, the body of `POST /api/v0/tools/invoke`.
    pub fn body(&self) -> anyhow::Result<Value> {
        let text = match self.input.strip_prefix('@') {
            Some("-") => std::io::read_to_string(std::io::stdin()).context("reading stdin")?,
            Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
            None => self.input.clone(),
        };
        let input: Value = serde_json::from_str(&text).context("--input is not valid JSON")?;
        let Value::Object(mut arguments) = input else {
            anyhow::bail!("--input must be a JSON object of the tool's arguments, e.g. '{{\"a\": 1}}'");
        };
        // The REST route reads the tool's name from the same object as its arguments.
        anyhow::ensure!(
            !arguments.contains_key("name"),
            "this tool takes an argument called 'name', which the REST invoke route reserves for \
             the tool's own name; call it over MCP instead"
        );
        arguments.insert("name".into(), Value::String(self.name.clone()));
        Ok(Value::Object(arguments))
    }
}

/// A tool's call reported `isError: true`; the result has been printed.
#[derive(Debug)]
pub struct ToolReportedError(pub String);

impl std::fmt::Display for ToolReportedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tool {} reported an error (isError: true)", self.0)
    }
}

impl std::error::Error for ToolReportedError {}

pub async fn list(ctx: &Ctx, server: Option<&str>, group: Option<&str>) -> anyhow::Result<()> {
    if let Some(group) = group {
        // The group's effective tools: what its endpoint offers now.
        let raw = ctx.registry.get(&["groups", group, "effective-tools"], &[]).await?;
        return ctx.show(raw, |raw| {
            let tools: Vec<ToolView> = decode(raw)?;
            if tools.is_empty() {
                return Ok(format!("Group {group} offers no tools now (none enabled is admitted by its rules).\n"));
            }
            Ok(table(&tools))
        });
    }
    let query: Vec<(&str, &str)> = server.map(|s| ("server", s)).into_iter().collect();
    let raw = ctx.registry.get(&["tools"], &query).await?;
    ctx.show(raw, |raw| Ok(table(&decode::<Vec<_>>(raw)?)))
}

pub fn table(tools: &[ToolView]) -> String {
    if tools.is_empty() {
        return "No tools found.\n".into();
    }
    let rows: Vec<Vec<String>> = tools
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                if t.enabled { "yes" } else { "no" }.into(),
                output::truncate(t.description.as_deref().unwrap_or(""), output::DESCRIPTION_WIDTH),
            ]
        })
        .collect();
    output::table(&["NAME", "ENABLED", "DESCRIPTION"], &rows)
}

pub async fn usage(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let raw = ctx.registry.get(&["tool"], &[("name", name)]).await?;
    ctx.show(raw, |raw| Ok(usage_text(&decode(raw)?)))
}

pub fn usage_text(tool: &ToolView) -> String {
    let mut out = tool.name.clone();
    if let Some(title) = tool.title.as_deref().filter(|t| !t.is_empty()) {
        out.push_str(&format!("  ({title})"));
    }
    if !tool.enabled {
        out.push_str("  [disabled]");
    }
    out.push('\n');
    if let Some(d) = tool.description.as_deref().filter(|d| !d.trim().is_empty()) {
        out.push_str(d.trim());
        out.push('\n');
    }
    let params = output::parameters(&tool.input_schema);
    if params.is_empty() {
        out.push_str("\nThis tool takes no input parameters.\n");
    } else {
        out.push_str("\nInput parameters:\n");
        out.push_str(&params);
    }
    if let Some(schema) = &tool.output_schema {
        let fields = output::parameters(schema);
        if !fields.is_empty() {
            out.push_str("\nStructured output:\n");
            out.push_str(&fields);
        }
    }
    let hints: Vec<&str> = [
        ("readOnlyHint", "read-only"),
        ("destructiveHint", "destructive"),
        ("idempotentHint", "idempotent"),
        ("openWorldHint", "open world"),
    ]
    .iter()
    .filter(|(k, _)| tool.annotations.as_ref().and_then(|a| a[*k].as_bool()) == Some(true))
    .map(|(_, label)| *label)
    .collect();
    if !hints.is_empty() {
        out.push_str(&format!("\nHints: {}\n", hints.join(", ")));
    }
    let example = output::example_input(&tool.input_schema);
    out.push_str(&format!("\nExample:\n  canopy invoke {}", tool.name));
    if example.as_object().is_some_and(|e| !e.is_empty()) {
        out.push_str(&format!(" --input '{example}'"));
    }
    out.push('\n');
    out
}

pub async fn invoke(ctx: &Ctx, args: &InvokeArgs) -> anyhow::Result<()> {
    let body = args.body()?;
    if let Some(group) = &args.group {
        let members = groups::effective_tools(&ctx.registry, group).await?;
        anyhow::ensure!(
            members.iter().any(|t| t.name == args.name),
            "tool {} is not in group {group}: the group's endpoint does not offer it (its rules do \
             not admit it, or it is disabled); `canopy list tools --group {group}` lists the group's tools",
            args.name
        );
    }
    let result = ctx.registry.post(&["tools", "invoke"], &[], &body).await?;
    let is_error = result["isError"].as_bool() == Some(true);
    ctx.show(result, |result| Ok(output::call_result(&result)))?;
    if is_error {
        return Err(ToolReportedError(args.name.clone()).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn invoke(input: &str) -> anyhow::Result<Value> {
        InvokeArgs { name: "fx__add".into(), input: input.into(), group: None }.body()
    }

    #[test]
    fn invoke_bodies() {
        assert_eq!(invoke(r#"{"a": 1, "b": 2}"#).unwrap(), json!({"name": "fx__add", "a": 1, "b": 2}));
        assert_eq!(invoke("{}").unwrap(), json!({"name": "fx__add"}));
        let file = std::env::temp_dir().join(format!("canopy-cli-input-{}.json", std::process::id()));
        std::fs::write(&file, r#"{"a": 7}"#).unwrap();
        assert_eq!(invoke(&format!("@{}", file.display())).unwrap(), json!({"name": "fx__add", "a": 7}));
        std::fs::remove_file(&file).unwrap();
        assert!(invoke("[1]").unwrap_err().to_string().contains("JSON object"));
        assert!(invoke("{").unwrap_err().to_string().contains("not valid JSON"));
        assert!(invoke(r#"{"name": "x"}"#).unwrap_err().to_string().contains("reserves"));
        assert!(invoke("@/no/such/file").unwrap_err().to_string().contains("/no/such/file"));
    }

    #[test]
    fn usage_page() {
        let tool = ToolView {
            name: "fx__add".into(),
            enabled: true,
            description: Some("Adds two numbers.".into()),
            input_schema: json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}),
            annotations: Some(json!({"readOnlyHint": true, "openWorldHint": false})),
            title: Some("Add".into()),
            output_schema: Some(
                json!({"type": "object", "properties": {"sum": {"type": "number"}}, "required": ["sum"]}),
            ),
        };
        let text = usage_text(&tool);
        assert!(text.starts_with("fx__add  (Add)\nAdds two numbers.\n\nInput parameters:\n  a (number, required)\n  b (number, required)\n"), "{text}");
        assert!(text.contains("\nStructured output:\n  sum (number, required)\n"), "{text}");
        assert!(text.contains("\nHints: read-only\n"), "{text}");
        assert!(text.ends_with("canopy invoke fx__add --input '{\"a\":0,\"b\":0}'\n"), "{text}");
        let bare = ToolView { input_schema: json!({"type": "object"}), ..tool };
        assert!(usage_text(&bare).contains("takes no input parameters"));
    }
}

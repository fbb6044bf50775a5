//! Server verbs: `register` (by flags or `-c file.json` in MCPJungle's registration format),
//! `deregister`, `list servers`, `get server`.

use super::client::Registry;
use super::output;
use super::Ctx;
use anyhow::Context;
use canopy_api_types::{RegisterServerRequest, ServerView, ToolView};
use serde_json::Value;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    canopy register --name calculator --url http://127.0.0.1:8000/mcp --description \"Basic math\"\n  \
    canopy register -c ./filesystem.json")]
pub struct RegisterArgs {
    /// Server name: unique, letters, digits, '-' and '_', no '__'.
    #[arg(long, required_unless_present = "conf")]
    pub name: Option<String>,
    /// URL of a Streamable HTTP MCP server, e.g. http://127.0.0.1:8000/mcp.
    #[arg(long, required_unless_present = "conf")]
    pub url: Option<String>,
    /// Server description.
    #[arg(long)]
    pub description: Option<String>,
    /// Static bearer token Canopy sends to the upstream server (stored sealed, shown as ***).
    #[arg(long)]
    pub bearer_token: Option<String>,
    /// Registration JSON file (MCPJungle's format: streamable_http `url`, or stdio
    /// `command`/`args`/`env`); the other flags except --force are then not allowed.
    #[arg(short = 'c', long = "conf", value_name = "FILE",
          conflicts_with_all = ["name", "url", "description", "bearer_token"])]
    pub conf: Option<PathBuf>,
    /// Replace an existing registration of the same name.
    #[arg(long)]
    pub force: bool,
}

impl RegisterArgs {
    /// The request body: the file as written (the API validates it and names what is wrong),
    /// or the flags as a streamable_http registration.
    pub fn body(&self) -> anyhow::Result<Value> {
        if let Some(path) = &self.conf {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let body: Value =
                serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
            anyhow::ensure!(body.is_object(), "{} must hold one JSON object (a server registration)", path.display());
            return Ok(body);
        }
        let request = RegisterServerRequest {
            name: self.name.clone().unwrap_or_default(),
            transport: Some("streamable_http".into()),
            description: self.description.clone().unwrap_or_default(),
            url: self.url.clone(),
            bearer_token: self.bearer_token.clone(),
            ..Default::default()
        };
        Ok(serde_json::to_value(request)?)
    }
}

pub async fn register(ctx: &Ctx, args: &RegisterArgs) -> anyhow::Result<()> {
    let query: &[(&str, &str)] = if args.force { &[("force", "true")] } else { &[] };
    let raw = ctx.registry.post(&["servers"], query, &args.body()?).await?;
    if ctx.json {
        println!("{}", output::json(&raw));
        return Ok(());
    }
    let server: ServerView = decode(raw)?;
    // The tool list is a courtesy, as in MCPJungle: a failure to fetch it is not an error.
    let tools = list_tools(&ctx.registry, Some(&server.name)).await.unwrap_or_default();
    print!("{}", registered_summary(&server, &tools));
    if server.status == "error" {
        eprintln!(
            "canopy: warning: {} is registered but its tools could not be discovered; fix the \
             upstream, then `canopy register --force ...` or `canopy deregister {}`",
            server.name, server.name
        );
    }
    Ok(())
}

pub fn registered_summary(server: &ServerView, tools: &[ToolView]) -> String {
    let mut out = format!("Server {} registered successfully!\n", server.name);
    out.push_str(&format!("  transport:  {}\n", server.transport));
    out.push_str(&format!("  status:     {}\n", status(server)));
    out.push_str(&format!("  tools:      {}\n", server.tool_count));
    if !tools.is_empty() {
        out.push_str("\nThe following tools are now available from this server:\n");
        let rows: Vec<Vec<String>> = tools
            .iter()
            .map(|t| {
                let d = t.description.as_deref().unwrap_or("");
                vec![format!("- {}", t.name), output::truncate(d, output::DESCRIPTION_WIDTH)]
            })
            .collect();
        out.push_str(&output::table(&[], &rows));
    }
    out
}

fn status(server: &ServerView) -> String {
    match (&server.status_error, server.status.as_str()) {
        (Some(e), _) => format!("{} ({e})", server.status),
        // Discovery does not contact a disabled server (one registered pending approval).
        (None, "pending") if !server.enabled => "pending (discovered when the server is enabled)".into(),
        (None, "pending") => "pending (tools are still being discovered)".into(),
        (None, s) => s.into(),
    }
}

pub async fn deregister(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    ctx.registry.delete(&["servers", name]).await?;
    if !ctx.json {
        println!("Server {name} deregistered; its tools are no longer available.");
    }
    Ok(())
}

pub async fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let raw = ctx.registry.get(&["servers"], &[]).await?;
    ctx.show(raw, |raw| Ok(table(&decode::<Vec<_>>(raw)?)))
}

pub fn table(servers: &[ServerView]) -> String {
    if servers.is_empty() {
        return "No MCP servers registered. Add one with `canopy register`.\n".into();
    }
    let rows: Vec<Vec<String>> = servers
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.transport.clone(),
                s.status.clone(),
                if s.enabled { "yes" } else { "no" }.into(),
                s.tool_count.to_string(),
                output::truncate(&s.description, output::DESCRIPTION_WIDTH),
            ]
        })
        .collect();
    output::table(&["NAME", "TRANSPORT", "STATUS", "ENABLED", "TOOLS", "DESCRIPTION"], &rows)
}

pub async fn get(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let raw = ctx.registry.get(&["servers", name], &[]).await?;
    ctx.show(raw, |raw| Ok(details(&decode(raw)?)))
}

pub fn details(s: &ServerView) -> String {
    let mut fields: Vec<(&str, String)> = vec![
        ("name", s.name.clone()),
        ("id", s.id.clone()),
        ("transport", s.transport.clone()),
        ("description", s.description.clone()),
    ];
    let map = |m: &std::collections::BTreeMap<String, String>| {
        m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
    };
    let optional = [
        ("url", s.url.clone()),
        ("bearer token", s.bearer_token.clone()),
        ("headers", (!s.headers.is_empty()).then(|| map(&s.headers))),
        ("command", s.command.clone()),
        ("args", (!s.args.is_empty()).then(|| s.args.join(" "))),
        ("env", (!s.env.is_empty()).then(|| map(&s.env))),
    ];
    fields.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    fields.extend([
        ("session mode", s.session_mode.clone()),
        ("status", status(s)),
        ("enabled", if s.enabled { "yes" } else { "no" }.into()),
        ("tools", s.tool_count.to_string()),
        ("registered at", s.registered_at.clone()),
        ("updated at", s.updated_at.clone()),
    ]);
    fields.into_iter().map(|(k, v)| format!("{:<15}{v}\n", format!("{k}:"))).collect()
}

async fn list_tools(registry: &Registry, server: Option<&str>) -> anyhow::Result<Vec<ToolView>> {
    let query: Vec<(&str, &str)> = server.map(|s| ("server", s)).into_iter().collect();
    decode(registry.get(&["tools"], &query).await?)
}

/// The API's JSON as one of its typed views.
pub(super) fn decode<T: serde::de::DeserializeOwned>(raw: Value) -> anyhow::Result<T> {
    serde_json::from_value(raw).context(
        "the registry's answer does not have the expected shape (is the CLI older than the server? \
         --json prints it as it is)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(conf: Option<PathBuf>) -> RegisterArgs {
        RegisterArgs {
            name: Some("calc".into()),
            url: Some("http://127.0.0.1:8000/mcp".into()),
            description: Some("math".into()),
            bearer_token: None,
            conf,
            force: false,
        }
    }

    #[test]
    fn flags_and_files_become_the_body() {
        assert_eq!(
            args(None).body().unwrap(),
            json!({"name": "calc", "transport": "streamable_http", "description": "math",
                   "url": "http://127.0.0.1:8000/mcp"})
        );
        let file = std::env::temp_dir().join(format!("canopy-cli-reg-{}.json", std::process::id()));
        let stdio = json!({"name": "fs", "transport": "stdio", "command": "npx",
                           "args": ["-y", "@modelcontextprotocol/server-filesystem", "."],
                           "env": {"KEY": "value"}, "session_mode": "stateful"});
        std::fs::write(&file, stdio.to_string()).unwrap();
        assert_eq!(args(Some(file.clone())).body().unwrap(), stdio, "sent as written");
        std::fs::write(&file, "[1]").unwrap();
        assert!(args(Some(file.clone())).body().is_err());
        std::fs::write(&file, "{oops").unwrap();
        let e = args(Some(file.clone())).body().unwrap_err();
        assert!(format!("{e:#}").contains("not valid JSON"), "{e:#}");
        std::fs::remove_file(&file).unwrap();
    }
}

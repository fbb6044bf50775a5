//! `export`: configuration as code. One JSON document with every server registration, in the
//! format `register -c` accepts, and every group, in the format `create group -c` and
//! `update group -c` accept, to keep in version control, edit and apply again. Secrets never
//! leave the registry: the API shows them as `***`, and the export writes every secret field
//! (bearer token, header and env values) as that placeholder, whatever the API answered, with
//! a top-level `notes` naming each one to fill in.

use super::servers::decode;
use super::Ctx;
use anyhow::Context;
use canopy_api_types::{GroupRequest, GroupView, RegisterServerRequest, ServerView};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What every secret value is exported as.
pub const SECRET_PLACEHOLDER: &str = "***";

#[derive(clap::Args, Debug)]
#[command(
    after_help = "The document: {\"notes\": [...], \"servers\": [registration, ...], \"groups\": [group, ...]}.\n\
    Each registration is a file for `canopy register -c`, each group one for `canopy create group -c`.\n\
    Secrets are exported as \"***\": fill them in before applying."
)]
pub struct ExportArgs {
    /// Write the document to FILE instead of printing it.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The export document. A struct rather than a map so that its JSON keeps this order (and
/// each entry its request type's order): the notes first, `name` first in every entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub notes: Vec<String>,
    pub servers: Vec<RegisterServerRequest>,
    pub groups: Vec<GroupRequest>,
}

pub async fn export(ctx: &Ctx, args: &ExportArgs) -> anyhow::Result<()> {
    let servers: Vec<ServerView> = decode(ctx.registry.get(&["servers"], &[]).await?)?;
    let groups: Vec<GroupView> = decode(ctx.registry.get(&["groups"], &[]).await?)?;
    let text = serde_json::to_string_pretty(&document(&servers, &groups))? + "\n";
    let Some(path) = &args.output else {
        print!("{text}");
        return Ok(());
    };
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    if !ctx.json {
        let secrets: usize = servers.iter().map(|s| secret_fields(s).len()).sum();
        println!("Exported {} servers and {} groups to {}", servers.len(), groups.len(), path.display());
        if secrets > 0 {
            println!("{secrets} secret values are \"***\" placeholders: fill them in before applying (see \"notes\").");
        }
    }
    Ok(())
}

/// The export document: `notes`, `servers` (registrations) and `groups` (group configs).
pub fn document(servers: &[ServerView], groups: &[GroupView]) -> Document {
    let mut notes = vec![
        "Configuration exported by `canopy export`. Each entry of \"servers\" is a registration for \
         `canopy register -c FILE`, each entry of \"groups\" a group for `canopy create group -c FILE` \
         (or `canopy update group -c FILE`)."
            .to_string(),
        "Secrets are never exported: every \"***\" (a bearer_token, a header value, an env value) is a \
         placeholder that must be replaced with the real secret before the registration is applied; \
         applied as it is, the upstream would be sent \"***\"."
            .to_string(),
    ];
    for s in servers {
        let fields = secret_fields(s);
        if !fields.is_empty() {
            notes.push(format!("server {}: fill in {}", s.name, fields.join(", ")));
        }
    }
    notes.push(
        "Not exported: which servers, tools, prompts and resources are disabled (`canopy enable` / \
         `canopy disable`)."
            .to_string(),
    );
    Document {
        notes,
        servers: servers.iter().map(registration).collect(),
        groups: groups.iter().map(group_config).collect(),
    }
}

/// A server's registration, every secret value replaced by the placeholder.
pub fn registration(s: &ServerView) -> RegisterServerRequest {
    let masked = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        m.keys().map(|k| (k.clone(), SECRET_PLACEHOLDER.to_string())).collect()
    };
    RegisterServerRequest {
        name: s.name.clone(),
        transport: Some(s.transport.clone()),
        description: s.description.clone(),
        url: s.url.clone(),
        bearer_token: s.bearer_token.as_ref().map(|_| SECRET_PLACEHOLDER.to_string()),
        headers: masked(&s.headers),
        command: s.command.clone(),
        args: s.args.clone(),
        env: masked(&s.env),
        session_mode: Some(s.session_mode.clone()),
        force: false,
    }
}

/// The secret fields of a server's registration: `bearer_token`, `headers.NAME`, `env.NAME`.
fn secret_fields(s: &ServerView) -> Vec<String> {
    let token = s.bearer_token.as_ref().map(|_| "bearer_token".to_string());
    let headers = s.headers.keys().map(|k| format!("headers.{k}"));
    let env = s.env.keys().map(|k| format!("env.{k}"));
    token.into_iter().chain(headers).chain(env).collect()
}

/// A group's config, as `create group -c` takes it.
pub fn group_config(g: &GroupView) -> GroupRequest {
    GroupRequest {
        name: g.name.clone(),
        description: g.description.clone(),
        included_tools: g.included_tools.clone(),
        included_servers: g.included_servers.clone(),
        excluded_tools: g.excluded_tools.clone(),
        included_prompts: g.included_prompts.clone(),
        excluded_prompts: g.excluded_prompts.clone(),
        included_resources: g.included_resources.clone(),
        excluded_resources: g.excluded_resources.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn server(extra: Value) -> ServerView {
        let mut s = json!({
            "name": "fx", "id": "1", "transport": "streamable_http", "description": "d",
            "url": "http://u/mcp", "session_mode": "stateless", "status": "ready", "enabled": true,
            "tool_count": 1, "registered_at": "t", "updated_at": "t"
        });
        s.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value(s).unwrap()
    }

    #[test]
    fn secrets_are_placeholders_whatever_the_api_shows() {
        // An API that (wrongly) showed a real value still exports the placeholder.
        let s = server(json!({"bearer_token": "real-token", "headers": {"X-Key": "real-header"}}));
        let stdio = server(json!({"name": "local", "transport": "stdio", "url": null, "command": "npx",
                                  "args": ["-y", "pkg"], "env": {"API_KEY": "***"}}));
        let text = serde_json::to_string_pretty(&document(&[s, stdio], &[])).unwrap();
        assert!(text.starts_with("{\n  \"notes\": [\n"), "notes first: {text}");
        assert!(text.contains("\"servers\": [\n    {\n      \"name\": \"fx\",\n"), "name first: {text}");
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert!(!text.contains("real-"), "{text}");
        assert_eq!(
            doc["servers"][0],
            json!({"name": "fx", "transport": "streamable_http", "description": "d", "url": "http://u/mcp",
                   "bearer_token": "***", "headers": {"X-Key": "***"}, "session_mode": "stateless"})
        );
        assert_eq!(
            doc["servers"][1],
            json!({"name": "local", "transport": "stdio", "description": "d", "command": "npx",
                   "args": ["-y", "pkg"], "env": {"API_KEY": "***"}, "session_mode": "stateless"})
        );
        let notes: Vec<&str> = doc["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
        assert!(notes.contains(&"server fx: fill in bearer_token, headers.X-Key"), "{notes:?}");
        assert!(notes.contains(&"server local: fill in env.API_KEY"), "{notes:?}");
        // Each entry is what `register -c` accepts (its request type refuses unknown fields).
        for s in doc["servers"].as_array().unwrap() {
            serde_json::from_value::<RegisterServerRequest>(s.clone()).unwrap();
        }
    }

    #[test]
    fn groups_are_group_configs() {
        let g: GroupView = serde_json::from_value(json!({
            "name": "g", "description": "d", "included_tools": ["fx__add"], "included_servers": [],
            "excluded_tools": [], "included_prompts": [], "excluded_prompts": [],
            "included_resources": ["canopy://fx/test://x"], "excluded_resources": [],
            "endpoint": "http://h/v0/groups/g/mcp", "created_at": "t", "updated_at": "t"
        }))
        .unwrap();
        let doc = serde_json::to_value(document(&[], &[g])).unwrap();
        let config: GroupRequest = serde_json::from_value(doc["groups"][0].clone()).unwrap();
        assert_eq!(config.name, "g");
        assert_eq!(config.included_tools, ["fx__add"]);
        assert_eq!(config.included_resources, ["canopy://fx/test://x"]);
        assert!(doc["groups"][0].get("endpoint").is_none());
        assert_eq!(doc["servers"], json!([]));
    }
}

//! Group verbs, MCPJungle's tool groups (which in Canopy also select prompts and resources):
//! `create group -c`, `update group -c` (in place; MCPJungle's file, the name taken from it),
//! `get group` (its rules and the tools it offers now), `list groups`, `delete group`, and the
//! group's effective tools behind `list tools --group` and `invoke --group`.

use super::client::Registry;
use super::output;
use super::servers::decode;
use super::Ctx;
use anyhow::Context;
use canopy_api_types::{GroupView, ToolView};
use serde_json::Value;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(after_help = "The file is MCPJungle's group JSON, e.g.\n  \
    {\"name\": \"claude-tools\", \"description\": \"for Claude\",\n   \
    \"included_tools\": [\"fs__read_file\"], \"included_servers\": [\"time\"],\n   \
    \"excluded_tools\": [\"time__convert_time\"]}\n\
    plus Canopy's included_prompts / excluded_prompts (server__prompt) and\n\
    included_resources / excluded_resources (canopy://server/<uri>).")]
pub struct GroupFileArgs {
    /// Group JSON file (MCPJungle's format).
    #[arg(short = 'c', long = "conf", value_name = "FILE")]
    pub conf: PathBuf,
}

/// The file as written (the API validates it and names what is wrong) and the group's name.
pub fn read_group_file(path: &Path) -> anyhow::Result<(String, Value)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let body: Value = serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
    anyhow::ensure!(body.is_object(), "{} must hold one JSON object (a group)", path.display());
    let name = body["name"]
        .as_str()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| anyhow::anyhow!("{} must name the group: \"name\": \"...\"", path.display()))?;
    Ok((name.to_string(), body))
}

pub async fn create(ctx: &Ctx, args: &GroupFileArgs) -> anyhow::Result<()> {
    let (_, body) = read_group_file(&args.conf)?;
    let raw = ctx.registry.post(&["groups"], &[], &body).await?;
    ctx.show(raw, |raw| Ok(created(&decode(raw)?)))
}

pub fn created(group: &GroupView) -> String {
    format!(
        "Tool Group {} created successfully\n\
         It is now accessible at the following streamable http endpoint:\n\n    {}\n\n",
        group.name, group.endpoint
    )
}

pub async fn update(ctx: &Ctx, args: &GroupFileArgs) -> anyhow::Result<()> {
    let (name, body) = read_group_file(&args.conf)?;
    // The rules before, for the summary of what changed (MCPJungle's); the update replaces them.
    let before: GroupView = decode(ctx.registry.get(&["groups", &name], &[]).await?)?;
    let raw = ctx.registry.put(&["groups", &name], &body).await?;
    ctx.show(raw, |raw| Ok(updated(&before, &decode(raw)?)))
}

/// The group's rule lists, by their JSON names.
fn rules(g: &GroupView) -> [(&'static str, &[String]); 7] {
    [
        ("included_tools", &g.included_tools),
        ("included_servers", &g.included_servers),
        ("excluded_tools", &g.excluded_tools),
        ("included_prompts", &g.included_prompts),
        ("excluded_prompts", &g.excluded_prompts),
        ("included_resources", &g.included_resources),
        ("excluded_resources", &g.excluded_resources),
    ]
}

/// What an update changed: the description, and each rule list's added (+) and removed (-)
/// entries.
pub fn updated(before: &GroupView, after: &GroupView) -> String {
    let mut changes = String::new();
    if before.description != after.description {
        changes.push_str(&format!(
            "* description updated from:\n    {}\n  to:\n    {}\n",
            before.description, after.description
        ));
    }
    for ((field, old), (_, new)) in rules(before).into_iter().zip(rules(after)) {
        let added: Vec<&String> = new.iter().filter(|n| !old.contains(n)).collect();
        let removed: Vec<&String> = old.iter().filter(|o| !new.contains(o)).collect();
        if added.is_empty() && removed.is_empty() {
            continue;
        }
        changes.push_str(&format!("* {field}:\n"));
        added.iter().for_each(|a| changes.push_str(&format!("    + {a}\n")));
        removed.iter().for_each(|r| changes.push_str(&format!("    - {r}\n")));
    }
    if changes.is_empty() {
        return format!("No changes detected for Tool Group {}. Nothing was updated.\n", after.name);
    }
    format!("Tool Group {} updated successfully\n\n{changes}", after.name)
}

pub async fn get(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let mut raw = ctx.registry.get(&["groups", name], &[]).await?;
    let tools = ctx.registry.get(&["groups", name, "effective-tools"], &[]).await?;
    if ctx.json {
        // The group as the API shows it, with the tools its endpoint offers now beside its rules.
        if let Value::Object(group) = &mut raw {
            group.insert("effective_tools".into(), tools);
        }
        println!("{}", output::json(&raw));
        return Ok(());
    }
    print!("{}", details(&decode(raw)?, &decode::<Vec<_>>(tools)?));
    Ok(())
}

pub fn details(g: &GroupView, tools: &[ToolView]) -> String {
    let mut out = format!("{}\n", g.name);
    if !g.description.is_empty() {
        out.push_str(&format!("Description: {}\n", g.description));
    }
    out.push_str(&format!("\nMCP streamable http endpoint:\n    {}\n", g.endpoint));
    for (i, (field, list)) in rules(g).into_iter().enumerate() {
        // MCPJungle's three lists always; the prompt and resource lists when they are used.
        if i >= 3 && list.is_empty() {
            continue;
        }
        let label = field.replace('_', " ");
        let label = label[..1].to_uppercase() + &label[1..];
        if list.is_empty() {
            out.push_str(&format!("\n{label}: none\n"));
        } else {
            out.push_str(&format!("\n{label}:\n"));
            for (n, entry) in list.iter().enumerate() {
                out.push_str(&format!("  {}. {entry}\n", n + 1));
            }
        }
    }
    if tools.is_empty() {
        out.push_str("\nEffective tools: none (no enabled tool is admitted by these rules)\n");
    } else {
        out.push_str(&format!("\nEffective tools ({}), what the endpoint offers now:\n", tools.len()));
        let rows: Vec<Vec<String>> = tools
            .iter()
            .map(|t| {
                let d = t.description.as_deref().unwrap_or("");
                vec![format!("  - {}", t.name), output::truncate(d, output::DESCRIPTION_WIDTH)]
            })
            .collect();
        out.push_str(&output::table(&[], &rows));
    }
    out.push_str(
        "\nNOTE: a tool of these rules that is disabled or no longer registered is not offered; \
         it returns when it is enabled or registered again.\n",
    );
    out
}

pub async fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let raw = ctx.registry.get(&["groups"], &[]).await?;
    ctx.show(raw, |raw| Ok(table(&decode::<Vec<_>>(raw)?)))
}

pub fn table(groups: &[GroupView]) -> String {
    if groups.is_empty() {
        return "No tool groups. Create one with `canopy create group -c FILE`.\n".into();
    }
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| vec![g.name.clone(), g.endpoint.clone(), output::truncate(&g.description, output::DESCRIPTION_WIDTH)])
        .collect();
    output::table(&["NAME", "ENDPOINT", "DESCRIPTION"], &rows)
}

pub async fn delete(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    ctx.registry.delete(&["groups", name]).await?;
    if !ctx.json {
        println!("Tool Group {name} deleted successfully");
    }
    Ok(())
}

/// The tools the group's endpoint offers now: enabled tools its rules admit.
pub async fn effective_tools(registry: &Registry, group: &str) -> anyhow::Result<Vec<ToolView>> {
    decode(registry.get(&["groups", group, "effective-tools"], &[]).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn group(tools: &[&str], servers: &[&str], description: &str) -> GroupView {
        serde_json::from_value(json!({
            "name": "g", "description": description,
            "included_tools": tools, "included_servers": servers, "excluded_tools": [],
            "included_prompts": [], "excluded_prompts": ["fx__p"],
            "included_resources": [], "excluded_resources": [],
            "endpoint": "http://h/v0/groups/g/mcp", "created_at": "t", "updated_at": "t"
        }))
        .unwrap()
    }

    #[test]
    fn group_files() {
        let file = std::env::temp_dir().join(format!("canopy-cli-group-{}.json", std::process::id()));
        let body = json!({"name": "g", "included_tools": ["fx__add"], "surprise": true});
        std::fs::write(&file, body.to_string()).unwrap();
        assert_eq!(read_group_file(&file).unwrap(), ("g".to_string(), body), "sent as written");
        std::fs::write(&file, r#"{"included_tools": []}"#).unwrap();
        assert!(read_group_file(&file).unwrap_err().to_string().contains("must name the group"));
        std::fs::write(&file, "[]").unwrap();
        assert!(read_group_file(&file).unwrap_err().to_string().contains("one JSON object"));
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn update_summaries() {
        let before = group(&["fx__add", "fx__echo"], &[], "old");
        let after = group(&["fx__echo", "fx__slow"], &["other"], "new");
        assert_eq!(
            updated(&before, &after),
            "Tool Group g updated successfully\n\n\
             * description updated from:\n    old\n  to:\n    new\n\
             * included_tools:\n    + fx__slow\n    - fx__add\n\
             * included_servers:\n    + other\n"
        );
        assert_eq!(updated(&before, &before), "No changes detected for Tool Group g. Nothing was updated.\n");
    }

    #[test]
    fn group_pages() {
        let g = group(&["fx__add"], &[], "for tests");
        let text = details(&g, &[]);
        assert!(text
            .starts_with("g\nDescription: for tests\n\nMCP streamable http endpoint:\n    http://h/v0/groups/g/mcp\n"));
        assert!(text.contains("\nIncluded tools:\n  1. fx__add\n\nIncluded servers: none\n\nExcluded tools: none\n"));
        assert!(text.contains("\nExcluded prompts:\n  1. fx__p\n"), "{text}");
        assert!(!text.contains("Included prompts"), "unused prompt/resource lists are left out: {text}");
        assert!(text.contains("Effective tools: none"), "{text}");
        assert_eq!(
            table(&[g]),
            "NAME  ENDPOINT                  DESCRIPTION\ng     http://h/v0/groups/g/mcp  for tests\n"
        );
        assert!(table(&[]).starts_with("No tool groups."));
    }
}

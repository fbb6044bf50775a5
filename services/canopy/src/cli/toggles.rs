//! `enable` / `disable`, MCPJungle's verbs: one tool, prompt or resource, every one of a
//! server's (`canopy disable tool SERVER`), or a whole server (`canopy disable server SERVER`).
//! Disabled items are hidden on every MCP endpoint and refused by REST invoke.

use super::servers::decode;
use super::{Ctx, Toggle};
use canopy_api_types::ServerView;
use serde_json::Value;

pub async fn toggle(ctx: &Ctx, what: &Toggle, enable: bool) -> anyhow::Result<()> {
    let verb = if enable { "enable" } else { "disable" };
    let (family, entity) = match what {
        Toggle::Server { name } => {
            let raw = ctx.registry.post(&["servers", name, verb], &[], &Value::Null).await?;
            return ctx.show(raw, |raw| {
                let server: ServerView = decode(raw)?;
                Ok(format!("Server {} {verb}d.\n", server.name))
            });
        }
        Toggle::Tool { name } => ("tools", name),
        Toggle::Prompt { name } => ("prompts", name),
        Toggle::Resource { name } => ("resources", name),
    };
    let raw = ctx.registry.post(&[family, verb], &[("entity", entity)], &Value::Null).await?;
    ctx.show(raw, |raw| Ok(affected(family, verb, &decode::<Vec<_>>(raw)?)))
}

/// `Disabled 2 tools:` and the names, one a line.
pub fn affected(family: &str, verb: &str, names: &[String]) -> String {
    if names.is_empty() {
        return format!("No {family} to {verb}.\n");
    }
    let noun = if names.len() == 1 { family.trim_end_matches('s') } else { family };
    let mut out = format!("{}d {} {noun}:\n", capitalised(verb), names.len());
    for n in names {
        out.push_str(&format!("  - {n}\n"));
    }
    out
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affected_lists() {
        assert_eq!(affected("tools", "disable", &["fx__add".into()]), "Disabled 1 tool:\n  - fx__add\n");
        assert_eq!(
            affected("prompts", "enable", &["a__x".into(), "a__y".into()]),
            "Enabled 2 prompts:\n  - a__x\n  - a__y\n"
        );
        assert_eq!(affected("resources", "enable", &[]), "No resources to enable.\n");
    }
}

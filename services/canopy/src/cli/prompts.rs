//! Prompt verbs: `list prompts [--server]`, `get prompt server__prompt --arg k=v` (rendered by
//! the upstream through `POST /api/v0/prompts/render`).

use super::output;
use super::servers::decode;
use super::Ctx;
use canopy_api_types::{PromptView, RenderPromptRequest};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    canopy get prompt github__code-review\n  \
    canopy get prompt \"huggingface__Model Details\" --arg model_id=openai/gpt-oss-120b")]
pub struct GetPromptArgs {
    /// Prompt name, server__prompt.
    pub name: String,
    /// A prompt argument as KEY=VALUE; repeat the flag for each argument.
    #[arg(long = "arg", value_name = "KEY=VALUE")]
    pub args: Vec<String>,
}

impl GetPromptArgs {
    /// The `--arg` flags as a map; a flag without `=` or a key given twice is an error.
    pub fn arguments(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let mut arguments = BTreeMap::new();
        for arg in &self.args {
            let (key, value) = arg
                .split_once('=')
                .filter(|(key, _)| !key.trim().is_empty())
                .ok_or_else(|| anyhow::anyhow!("--arg '{arg}' is not KEY=VALUE"))?;
            let key = key.trim().to_string();
            anyhow::ensure!(!arguments.contains_key(&key), "--arg {key} is given more than once");
            arguments.insert(key, value.to_string());
        }
        Ok(arguments)
    }

    /// The body of `POST /api/v0/prompts/render`.
    pub fn body(&self) -> anyhow::Result<Value> {
        let arguments = self.arguments()?;
        let request =
            RenderPromptRequest { name: self.name.clone(), arguments: (!arguments.is_empty()).then_some(arguments) };
        Ok(serde_json::to_value(request)?)
    }
}

pub async fn list(ctx: &Ctx, server: Option<&str>) -> anyhow::Result<()> {
    let query: Vec<(&str, &str)> = server.map(|s| ("server", s)).into_iter().collect();
    let raw = ctx.registry.get(&["prompts"], &query).await?;
    ctx.show(raw, |raw| Ok(table(&decode::<Vec<_>>(raw)?)))
}

pub fn table(prompts: &[PromptView]) -> String {
    if prompts.is_empty() {
        return "No prompts found.\n".into();
    }
    let rows: Vec<Vec<String>> = prompts
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                if p.enabled { "yes" } else { "no" }.into(),
                argument_list(&p.arguments),
                output::truncate(p.description.as_deref().unwrap_or(""), output::DESCRIPTION_WIDTH),
            ]
        })
        .collect();
    output::table(&["NAME", "ENABLED", "ARGUMENTS", "DESCRIPTION"], &rows)
}

/// `arg1,[arg2]`: the prompt's arguments, optional ones in brackets; `-` for none.
fn argument_list(arguments: &Value) -> String {
    let names: Vec<String> = arguments
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let name = a["name"].as_str()?;
            Some(if a["required"].as_bool() == Some(true) { name.to_string() } else { format!("[{name}]") })
        })
        .collect();
    if names.is_empty() {
        "-".into()
    } else {
        names.join(",")
    }
}

pub async fn get(ctx: &Ctx, args: &GetPromptArgs) -> anyhow::Result<()> {
    let body = args.body()?;
    // The prompt's declaration first: a missing required argument is named here, with the flag
    // that supplies it, rather than left to the upstream's error.
    let prompt: PromptView = decode(ctx.registry.get(&["prompt"], &[("name", &args.name)]).await?)?;
    let given = args.arguments()?;
    let (missing, unknown) = check_arguments(&prompt.arguments, &given);
    anyhow::ensure!(
        missing.is_empty(),
        "prompt {} needs {}",
        args.name,
        missing.iter().map(|m| format!("--arg {m}=VALUE")).collect::<Vec<_>>().join(" ")
    );
    for key in unknown {
        eprintln!("canopy: warning: prompt {} declares no argument '{key}'; sending it anyway", args.name);
    }
    let raw = ctx.registry.post(&["prompts", "render"], &[], &body).await?;
    ctx.show(raw, |raw| Ok(output::prompt_result(&args.name, &raw)))
}

/// The declared required arguments not given, and the given ones not declared.
fn check_arguments<'a>(declared: &'a Value, given: &'a BTreeMap<String, String>) -> (Vec<&'a str>, Vec<&'a str>) {
    let declared: Vec<&Value> = declared.as_array().into_iter().flatten().collect();
    let missing = declared
        .iter()
        .filter(|a| a["required"].as_bool() == Some(true))
        .filter_map(|a| a["name"].as_str())
        .filter(|name| !given.contains_key(*name))
        .collect();
    let unknown =
        given.keys().map(String::as_str).filter(|k| !declared.iter().any(|a| a["name"].as_str() == Some(k))).collect();
    (missing, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(flags: &[&str]) -> GetPromptArgs {
        GetPromptArgs { name: "fx__p".into(), args: flags.iter().map(|f| f.to_string()).collect() }
    }

    #[test]
    fn render_bodies() {
        assert_eq!(args(&[]).body().unwrap(), json!({"name": "fx__p"}));
        assert_eq!(
            args(&["a=1", "b=x=y", "c="]).body().unwrap(),
            json!({"name": "fx__p", "arguments": {"a": "1", "b": "x=y", "c": ""}})
        );
        assert!(args(&["novalue"]).body().unwrap_err().to_string().contains("not KEY=VALUE"));
        assert!(args(&["=v"]).body().is_err());
        assert!(args(&["a=1", "a=2"]).body().unwrap_err().to_string().contains("more than once"));
    }

    #[test]
    fn arguments_checked_against_the_declaration() {
        let declared = json!([{"name": "arg1", "required": true}, {"name": "arg2", "required": true}, {"name": "opt"}]);
        assert_eq!(argument_list(&declared), "arg1,arg2,[opt]");
        assert_eq!(argument_list(&json!([])), "-");
        let given = args(&["arg1=a", "extra=x"]).arguments().unwrap();
        assert_eq!(check_arguments(&declared, &given), (vec!["arg2"], vec!["extra"]));
        let given = args(&["arg1=a", "arg2=b"]).arguments().unwrap();
        assert_eq!(check_arguments(&declared, &given), (vec![], vec![]));
    }
}

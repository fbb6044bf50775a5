//! `canopy env list|get|destroy|freeze|run`: the python built-in's environments from a terminal,
//! against `/api/v0/python/environments`; `run ID -c CODE` is a quick try through
//! `/api/v0/tools/invoke` (`python__run_code`) that prints the code's stdout and stderr and exits
//! 1 when it did not succeed. Tables for people, the API's JSON with `--json`.

use super::output;
use super::servers::decode;
use super::Ctx;
use canopy_api_types::python::{DestroyedPythonEnvView, PythonEnvView};
use serde_json::{json, Value};

#[derive(clap::Subcommand, Debug)]
pub enum EnvCommand {
    /// The tenant's python environments you may see, with their REPL sessions and processes.
    List,
    /// One environment: its details, REPL sessions and processes (running, or ended and why).
    Get { id: String },
    /// Destroy an environment: its REPL sessions and processes end.
    Destroy { id: String },
    /// Print an environment's frozen specification (JSON).
    Freeze { id: String },
    /// Run Python code in an environment and print its output; exits 1 when it fails.
    Run {
        id: String,
        /// The code to run.
        #[arg(long, short = 'c', value_name = "CODE", allow_hyphen_values = true)]
        code: String,
    },
}

/// `env run`'s code did not succeed; its output has been printed.
#[derive(Debug)]
pub struct RunFailed(String);

impl std::fmt::Display for RunFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunFailed {}

pub async fn run(ctx: &Ctx, command: &EnvCommand) -> anyhow::Result<()> {
    let r = &ctx.registry;
    const BASE: [&str; 2] = ["python", "environments"];
    match command {
        EnvCommand::List => {
            let raw = r.get(&BASE, &[]).await?;
            ctx.show(raw, |raw| {
                let envs: Vec<PythonEnvView> = decode(raw)?;
                if envs.is_empty() {
                    return Ok("No python environments.\n".to_string());
                }
                let rows: Vec<Vec<String>> = envs
                    .iter()
                    .map(|e| {
                        let running = e.sessions.iter().filter(|s| s.state == "running").count();
                        vec![
                            e.id.clone(),
                            output::truncate(&e.name, 30),
                            e.python_version.clone(),
                            e.owner.clone(),
                            format!("{running}/{}", e.sessions.len()),
                            e.created_at.clone(),
                        ]
                    })
                    .collect();
                Ok(output::table(&["ENV", "NAME", "PYTHON", "OWNER", "RUNNING/SESSIONS", "CREATED"], &rows))
            })
        }
        EnvCommand::Get { id } => {
            let raw = r.get(&[BASE[0], BASE[1], id], &[]).await?;
            ctx.show(raw, |raw| Ok(env_text(&decode(raw)?)))
        }
        EnvCommand::Destroy { id } => {
            let raw = r.delete(&[BASE[0], BASE[1], id]).await?;
            ctx.show(raw, |raw| {
                let d: DestroyedPythonEnvView = decode(raw)?;
                Ok(format!("Destroyed {}.\n", d.id))
            })
        }
        EnvCommand::Freeze { id } => {
            let raw = r.get(&[BASE[0], BASE[1], id, "freeze"], &[]).await?;
            // JSON either way: the frozen specification is a document.
            println!("{}", output::json(&raw));
            Ok(())
        }
        EnvCommand::Run { id, code } => {
            let body = json!({"name": "python__run_code", "env_id": id, "code": code});
            let result = r.post(&["tools", "invoke"], &[], &body).await?;
            let envelope: Value =
                result["content"][0]["text"].as_str().and_then(|t| serde_json::from_str(t).ok()).unwrap_or(Value::Null);
            let failed = result["isError"].as_bool() == Some(true) || envelope["success"] != true;
            if ctx.json {
                println!("{}", output::json(&result));
            } else if !failed {
                print!("{}", envelope["data"]["stdout"].as_str().unwrap_or_default());
                eprint!("{}", envelope["data"]["stderr"].as_str().unwrap_or_default());
            }
            if failed {
                let error = envelope["error"].as_str().map_or_else(|| result.to_string(), str::to_string);
                return Err(RunFailed(format!("env run {id}: {error}")).into());
            }
            Ok(())
        }
    }
}

fn env_text(e: &PythonEnvView) -> String {
    let mut out = format!(
        "Environment {} ({})\n  Status:  {}\n  Python:  {}\n  Owner:   {}\n  Egress:  {}\n  Created: {}\n",
        e.id,
        e.name,
        e.status,
        e.python_version,
        e.owner,
        if e.allow_egress { "allowed" } else { "none" },
        e.created_at
    );
    if e.sessions.is_empty() {
        out.push_str("No REPL sessions or processes.\n");
        return out;
    }
    let rows: Vec<Vec<String>> = e
        .sessions
        .iter()
        .map(|s| {
            let state = match &s.ended_reason {
                Some(reason) if s.state != "running" => format!("{} ({reason})", s.state),
                _ => s.state.clone(),
            };
            vec![s.id.clone(), s.kind.clone(), output::truncate(&s.name, 30), state, s.started_at.clone()]
        })
        .collect();
    out.push_str(&output::table(&["SESSION", "KIND", "NAME", "STATE", "STARTED"], &rows));
    out
}

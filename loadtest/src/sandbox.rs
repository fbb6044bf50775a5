//! `canopy-loadtest sandbox`: what the `python` built-in costs an agent, through the gateway,
//! as a table checked against the sandboxes issue's goals. One `canopy start` (development
//! mode, `python` hosted by its session-worker, every run in bubblewrap), one MCP client on
//! `/servers/python/mcp` reusing its connection; times are taken around `call_tool` on the
//! client, so they include the edge, the worker and the sandbox:
//!
//! 1. **create + first run**: `create_environment` and then `run_code` of `print(1)` in it,
//!    `--envs` times (one environment first, not counted: the interpreter's files are then in
//!    the page cache, as on any worker that has run code).
//! 2. **warm run**: `run_code` of `print(1)` in an environment that has run code, `--runs`
//!    times `--pause-ms` apart (an agent's calls are seconds apart: each finds the runner the
//!    engine started ahead ready), then `--runs` times back to back.
//! 3. **REPL**: `repl_execute` of `x += 1` in one session, `--repl-executions` times, then the
//!    session must print the count (its state kept every time).
//! 4. **packages**: one environment installs `--packages` (the shared cache fills from the
//!    configured index: the first install is reported, not judged), then a second environment
//!    is created with the same packages and imports them; create + install of the second is
//!    judged. Skipped with `--packages ''`.
//! 5. **live REPLs**: `--repls` sessions, each having run a statement, alive at once; the memory
//!    of their processes (the sum of each process's proportional set size, `Pss` of
//!    `/proc/PID/smaps_rollup`, so shared pages are not counted twice) and of Canopy.
//!
//! Each run gets a fresh database, NATS prefix and state folder, removed at the end
//! ([`crate::deploy`]). uv comes from `CANOPY_UV` (or `PATH`), as for Canopy itself.

use crate::deploy::Leftovers;
use crate::goals::{median, GoalLine};
use anyhow::{bail, Context};
use chrono::Utc;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The issue's goals.
const GOAL_FIRST_RUN_MS: f64 = 50.0;
const GOAL_WARM_RUN_MS: f64 = 15.0;
const GOAL_REPL_MS: f64 = 2.0;
const GOAL_PACKAGES_MS: f64 = 500.0;

#[derive(clap::Args, Clone, Debug)]
pub struct SandboxArgs {
    /// Environments created, each followed by its first run.
    #[arg(long, default_value_t = 10)]
    pub envs: usize,
    /// `run_code` calls in a warm environment.
    #[arg(long, default_value_t = 50)]
    pub runs: usize,
    /// Milliseconds between warm `run_code` calls (an agent's calls are seconds apart; the
    /// same calls are also made back to back).
    #[arg(long, default_value_t = 100)]
    pub pause_ms: u64,
    /// `repl_execute` calls in one session.
    #[arg(long, default_value_t = 200)]
    pub repl_executions: usize,
    /// REPL sessions alive at once for the memory figure (0: skip).
    #[arg(long, default_value_t = 200)]
    pub repls: usize,
    /// Packages installed twice, in two environments (empty: skip).
    #[arg(long, value_delimiter = ',', default_value = "numpy,pandas")]
    pub packages: Vec<String>,
    #[command(flatten)]
    pub env: crate::goals::BenchEnv,
}

type Client = RunningService<RoleClient, ()>;

/// The `python` endpoint as the benchmark uses it: a tool call, its envelope, its time.
struct Python {
    client: Client,
}

impl Python {
    async fn connect(base: &str) -> anyhow::Result<Self> {
        let url = format!("{base}/servers/python/mcp");
        let config = StreamableHttpClientTransportConfig::with_uri(url.clone());
        let transport = StreamableHttpClientTransport::with_client(rmcp_reqwest::Client::new(), config);
        let client = ().serve(transport).await.with_context(|| format!("MCP session at {url}"))?;
        // The catalog reaches the edge a moment after the start.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match client.list_all_tools().await {
                Ok(tools) if !tools.is_empty() => return Ok(Self { client }),
                _ if Instant::now() > deadline => bail!("the python server lists no tools at {url}"),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Calls `tool`; the envelope's `data` and the call's time in ms. A failure (an error, or
    /// `success: false`) ends the benchmark with what it said.
    async fn call(&self, tool: &str, arguments: Value) -> anyhow::Result<(Value, f64)> {
        let arguments = arguments.as_object().cloned().unwrap_or_default();
        let t0 = Instant::now();
        let result = self
            .client
            .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(arguments))
            .await
            .with_context(|| format!("calling {tool}"))?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        let text = result.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone()).unwrap_or_default();
        let envelope: Value =
            serde_json::from_str(&text).with_context(|| format!("{tool} answered no envelope: {text}"))?;
        if envelope["success"] != true {
            bail!("{tool} failed: {}", envelope["error"]);
        }
        Ok((envelope["data"].clone(), ms))
    }

    async fn create(&self, name: &str) -> anyhow::Result<(String, f64)> {
        let (data, ms) = self.call("create_environment", json!({"name": name})).await?;
        let id = data["id"].as_str().with_context(|| format!("create_environment answered no id: {data}"))?;
        Ok((id.to_string(), ms))
    }

    /// Runs `code`; its stdout must be `expected`.
    async fn run(&self, env: &str, code: &str, expected: &str) -> anyhow::Result<f64> {
        let (data, ms) = self.call("run_code", json!({"env_id": env, "code": code})).await?;
        let stdout = data["stdout"].as_str().unwrap_or_default().trim();
        if stdout != expected {
            bail!("run_code of {code:?} printed {stdout:?}, not {expected:?}: {data}");
        }
        Ok(ms)
    }
}

/// Runs the benchmark; the table goes to stdout and to `out_dir/sandbox-<time>.md`.
pub async fn run(args: SandboxArgs, leftovers: Leftovers) -> anyhow::Result<()> {
    if args.envs == 0 || args.runs == 0 || args.repl_executions == 0 {
        bail!("--envs, --runs and --repl-executions must be at least 1");
    }
    let started_at = Utc::now();
    let load_before = crate::load_average();
    let dir = crate::deploy::log_dir(&std::env::temp_dir())?;
    // Room for every environment and session the benchmark makes (the defaults are 20 each).
    let config = dir.join("sandbox-bench.toml");
    let room = args.envs + args.repls + 10;
    std::fs::write(&config, format!("[python]\ntenant_environments = {room}\ntenant_repls = {}\n", args.repls + 10))
        .with_context(|| format!("writing {}", config.display()))?;
    let infra = args.env.infra(&dir, leftovers)?;
    eprintln!("sandbox: starting canopy (development mode, python built-in); logs in {}", dir.display());
    let env =
        [("CANOPY_BUILTIN_SERVERS", r#"["python"]"#.to_string()), ("CANOPY_CONFIG", config.display().to_string())];
    let deployment = infra.start(&[("all", &["start"])], &env).await?;
    let canopy_pid = deployment[0].0.pid();
    let python = Python::connect(&deployment[0].1).await?;
    let mut lines = Vec::new();

    eprintln!("sandbox: create_environment + first run_code, {} environments", args.envs);
    let (warm_env, _) = python.create("warm-up").await?;
    python.run(&warm_env, "print(1)", "1").await?;
    let (mut creates, mut firsts, mut both) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..args.envs {
        let (env, create) = python.create(&format!("bench-{i}")).await?;
        let first = python.run(&env, "print(1)", "1").await?;
        creates.push(create);
        firsts.push(first);
        both.push(create + first);
        python.call("destroy_environment", json!({"env_id": env})).await?;
    }
    lines.push(GoalLine::distribution(
        "`create_environment` + first `run_code` of `print(1)` (ms)",
        both,
        &format!("median < {GOAL_FIRST_RUN_MS} ms"),
        |v| median(v) < GOAL_FIRST_RUN_MS,
    ));
    lines.push(GoalLine::unjudged("… of which `create_environment` (ms)", creates));
    lines.push(GoalLine::unjudged("… of which the first `run_code` (ms)", firsts));

    eprintln!(
        "sandbox: run_code in a warm environment, {} runs {} ms apart, then back to back",
        args.runs, args.pause_ms
    );
    let mut warm = Vec::new();
    for _ in 0..args.runs {
        tokio::time::sleep(Duration::from_millis(args.pause_ms)).await;
        warm.push(python.run(&warm_env, "print(1)", "1").await?);
    }
    let mut back_to_back = Vec::new();
    for _ in 0..args.runs {
        back_to_back.push(python.run(&warm_env, "print(1)", "1").await?);
    }
    lines.push(GoalLine::distribution(
        format!("`run_code` of `print(1)`, warm environment, calls {} ms apart (ms)", args.pause_ms),
        warm,
        &format!("median < {GOAL_WARM_RUN_MS} ms"),
        |v| median(v) < GOAL_WARM_RUN_MS,
    ));
    lines.push(GoalLine::unjudged("… the same calls back to back (ms)", back_to_back));

    eprintln!("sandbox: repl_execute, {} executions", args.repl_executions);
    let (repl, repl_create) = python.call("repl_create", json!({"env_id": warm_env, "session_name": "bench"})).await?;
    let session = repl["session_id"].as_str().with_context(|| format!("repl_create answered no id: {repl}"))?;
    python.call("repl_execute", json!({"session_id": session, "code": "x = 0"})).await?;
    let mut executions = Vec::new();
    for _ in 0..args.repl_executions {
        executions.push(python.call("repl_execute", json!({"session_id": session, "code": "x += 1"})).await?.1);
    }
    let (count, _) = python.call("repl_execute", json!({"session_id": session, "code": "print(x)"})).await?;
    let printed = count["stdout"].as_str().unwrap_or_default().trim().to_string();
    if printed != args.repl_executions.to_string() {
        bail!("the REPL counted {printed:?} after {} executions of x += 1", args.repl_executions);
    }
    lines.push(GoalLine::distribution(
        "`repl_execute` of `x += 1` (state kept: the count printed at the end is right) (ms)",
        executions,
        &format!("median < {GOAL_REPL_MS} ms"),
        |v| median(v) < GOAL_REPL_MS,
    ));
    lines.push(GoalLine::figure("`repl_create` (ms)", format!("{repl_create:.1}"), "", None));
    python.call("repl_destroy", json!({"session_id": session})).await?;

    let packages: Vec<String> = args.packages.iter().filter(|p| !p.trim().is_empty()).cloned().collect();
    if !packages.is_empty() {
        eprintln!("sandbox: {} in two environments (the first fills the shared cache)", packages.join(", "));
        lines.extend(packages_twice(&python, &packages).await?);
    }

    if args.repls > 0 {
        eprintln!("sandbox: {} live REPL sessions", args.repls);
        lines.extend(live_repls(&python, args.repls, canopy_pid).await?);
    }
    let _ = python.client.cancel().await;
    drop(deployment);

    let table = render(&args, started_at, &load_before, &lines);
    args.env.write("sandbox", started_at, &table)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Installs `packages` in a first environment (cold or warm cache, as the machine is), then
/// creates a second with the same packages, which must import them.
async fn packages_twice(python: &Python, packages: &[String]) -> anyhow::Result<Vec<GoalLine>> {
    let (first, _) = python.create("packages-1").await?;
    let (_, first_install) = python.call("install_packages", json!({"env_id": first, "packages": packages})).await?;
    let (second, create) = python.create("packages-2").await?;
    let (_, install) = python.call("install_packages", json!({"env_id": second, "packages": packages})).await?;
    let modules: Vec<&str> = packages.iter().map(|p| module_of(p)).collect();
    let code = format!("import {}\nprint('ok')", modules.join(", "));
    python.run(&second, &code, "ok").await?;
    let what = packages.join(" and ");
    Ok(vec![
        GoalLine::figure(
            format!("{what}: the first environment's `install_packages` (fills the shared cache) (ms)"),
            format!("{first_install:.0}"),
            "",
            None,
        ),
        GoalLine::figure(
            format!(
                "{what}: a second environment from the shared cache, `create_environment` + `install_packages` (ms)"
            ),
            format!("{:.0}", create + install),
            &format!("< {GOAL_PACKAGES_MS} ms"),
            Some(create + install < GOAL_PACKAGES_MS),
        ),
    ])
}

/// The module a package specifier installs, for the common case where it is the name
/// (`numpy==2.1` → `numpy`).
fn module_of(specifier: &str) -> &str {
    let end = specifier.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).unwrap_or(specifier.len());
    &specifier[..end]
}

/// `n` REPL sessions at once (over as few environments as the per-environment work needs: one
/// per 50 sessions), each having run `x = 1`; their processes' memory and Canopy's.
async fn live_repls(python: &Python, n: usize, canopy_pid: u32) -> anyhow::Result<Vec<GoalLine>> {
    let before: std::collections::HashSet<u32> = descendants(canopy_pid).into_iter().collect();
    let mut envs = Vec::new();
    let mut creates = Vec::new();
    for i in 0..n {
        if i % 50 == 0 {
            envs.push(python.create(&format!("repls-{}", i / 50)).await?.0);
        }
        let env = envs.last().expect("an environment");
        let (repl, ms) = python.call("repl_create", json!({"env_id": env, "session_name": format!("s{i}")})).await?;
        let session = repl["session_id"].as_str().with_context(|| format!("repl_create answered no id: {repl}"))?;
        python.call("repl_execute", json!({"session_id": session, "code": "x = 1"})).await?;
        creates.push(ms);
    }
    let (listed, _) = python.call("repl_list", json!({})).await?;
    let running = listed["sessions"].as_array().map_or(0, |s| s.iter().filter(|s| s["running"] == true).count());
    if running < n {
        bail!("{running} of {n} REPL sessions are running");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let theirs: Vec<u32> = descendants(canopy_pid).into_iter().filter(|p| !before.contains(p)).collect();
    let pss_kib: u64 = theirs.iter().filter_map(|&pid| pss_kib(pid)).sum();
    let canopy = crate::process::memory_kib(canopy_pid).context("canopy is gone")?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    Ok(vec![
        GoalLine::unjudged(format!("`repl_create` with {n} sessions growing (ms)"), creates),
        GoalLine::figure(
            format!("{n} live REPL sessions: their {} processes' memory (PSS, MiB)", theirs.len()),
            format!("{:.0} ({:.2} per session)", mib(pss_kib), mib(pss_kib) / n as f64),
            "reported",
            None,
        ),
        GoalLine::figure(
            format!("canopy's resident memory with {n} live REPL sessions (MiB)"),
            format!("{:.1} (peak {:.1})", mib(canopy.0), mib(canopy.1)),
            "reported",
            None,
        ),
    ])
}

/// Every process below `root` (its children, theirs, ...), from `/proc/PID/stat`.
fn descendants(root: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return vec![] };
    let parents: Vec<(u32, u32)> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|(_, ppid)| *ppid == parent).map(|(pid, _)| *pid));
        i += 1;
    }
    found.remove(0);
    found
}

/// A process's proportional set size, KiB (`None` once it has exited).
fn pss_kib(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn render(args: &SandboxArgs, started: chrono::DateTime<Utc>, load_before: &str, lines: &[GoalLine]) -> String {
    let mut header = crate::goals::header("Canopy sandbox benchmark", &args.env.canopy, started, load_before);
    header.push(
        "- `canopy start` with the `python` built-in (bubblewrap, uv, the host's Python 3.11); one MCP client on \
         `/servers/python/mcp` reusing its connection; times around `call_tool` (edge + worker + sandbox), see \
         `loadtest/README.md`\n"
            .to_string(),
    );
    crate::goals::goal_table(&header, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_specifiers_name_their_module() {
        assert_eq!(module_of("numpy"), "numpy");
        assert_eq!(module_of("pandas==2.2.3"), "pandas");
        assert_eq!(module_of("requests>=2"), "requests");
    }

    #[test]
    fn descendants_of_this_process_include_a_child_and_its_child() {
        let mut child = std::process::Command::new("sh").args(["-c", "sleep 5 & wait"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let below = descendants(std::process::id());
        assert!(below.contains(&child.id()), "{below:?}");
        assert!(below.len() >= 2, "the shell and its sleep: {below:?}");
        for pid in below {
            // SAFETY: kill(2) on processes this test started (nextest runs a test alone in its process).
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        child.wait().unwrap();
    }
}

//! `canopy-loadtest`: measures `tools/call` latency percentiles and throughput at several
//! concurrencies, directly against an upstream MCP server and through Canopy (all-in-one and
//! split into four processes), in one run, and writes a markdown table to `loadtest/results/`.
//! Loopback only; every measurement is a fixed number of calls with a time cap. Subcommands
//! measure the bus alone (`bus`), jobs (`jobs`: start latency, throughput, log latency,
//! cancel, fairness, the poller's memory), the python sandboxes (`sandbox`) and what survives
//! faults (`chaos`). See `loadtest/README.md`.

mod bus;
mod chaos;
mod cpu;
mod deploy;
mod goals;
mod jobs;
mod measure;
mod process;
mod report;
mod sandbox;
mod upstream;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use deploy::{Deployment, Infra, Leftovers, Topology};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(version, about = "Measure tools/call latency and throughput: direct vs through Canopy")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the fixture MCP server (started by the harness itself).
    #[command(hide = true)]
    Upstream,
    /// Measure one MCP endpoint that is already running (no deployment, no result file).
    Endpoint {
        /// The MCP endpoint, e.g. http://127.0.0.1:8080/mcp
        url: String,
        /// The tool to call with `{"message": ...}`, e.g. fx__echo
        tool: String,
        #[arg(long, default_value_t = 2000)]
        calls: usize,
        #[arg(long, value_delimiter = ',', default_value = "1")]
        concurrency: Vec<usize>,
        #[arg(long, default_value_t = 50)]
        warmup: usize,
        #[arg(long, default_value_t = 10.0)]
        max_seconds: f64,
        #[arg(long)]
        keep_alive: bool,
    },
    /// Chaos: run Canopy as 8 processes on infrastructure of its own, kill processes and
    /// restart Postgres, NATS and Redis under load, then check nothing acknowledged was lost.
    Chaos(chaos::ChaosArgs),
    /// Jobs on the `local` backend: submit → running, throughput, log line latency, cancel,
    /// fairness between two tenants with 10,000 jobs queued, and the job-poller's memory.
    Jobs(jobs::JobsArgs),
    /// The `python` built-in through the gateway: create + first run, a warm run, a REPL
    /// execution, a second environment from the shared package cache, 200 live REPLs' memory.
    Sandbox(sandbox::SandboxArgs),
    /// Measure the NATS hop of a call alone: request/reply between two connections; plus the
    /// call record the worker publishes to JetStream; plus the edge's per-call subscription.
    Bus {
        #[arg(long, env = "CANOPY_NATS_URL", default_value = "nats://127.0.0.1:4222")]
        nats_url: String,
        #[arg(long, default_value_t = 2000)]
        calls: usize,
        #[arg(long, value_delimiter = ',', default_value = "1,32")]
        concurrency: Vec<usize>,
    },
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// The canopy binary (build it with `cargo build --release -p canopy`).
    #[arg(long, default_value_os_t = workspace_root().join("target/release/canopy"))]
    canopy: PathBuf,
    /// Calls per measurement, spread over the concurrent sessions.
    #[arg(long, default_value_t = 2000)]
    calls: usize,
    /// Concurrent client sessions, one measurement each.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    concurrency: Vec<usize>,
    /// What to measure.
    #[arg(long, value_delimiter = ',', default_value = "direct,all-in-one,split")]
    targets: Vec<Target>,
    /// Times each measurement is repeated; the table shows the medians.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Calls each session makes before a measurement starts.
    #[arg(long, default_value_t = 50)]
    warmup: usize,
    /// A measurement stops after this many seconds even if calls remain.
    #[arg(long, default_value_t = 10.0)]
    max_seconds: f64,
    /// PostgreSQL server where the per-deployment databases are created (then dropped).
    #[arg(long, env = "CANOPY_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    #[arg(long, env = "CANOPY_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    #[arg(long, env = "CANOPY_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Harness clients reuse HTTP connections (rmcp's default client opens one per request).
    #[arg(long)]
    keep_alive: bool,
    /// Canopy's session-worker reuses HTTP connections to the upstream
    /// (`CANOPY_UPSTREAM_KEEP_ALIVE=true`, Canopy's default; without the flag the harness sets
    /// it to false, a connection per request).
    #[arg(long)]
    worker_keep_alive: bool,
    /// Where the result file goes.
    #[arg(long, default_value_os_t = workspace_root().join("loadtest/results"))]
    out_dir: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// The upstream itself, tool `echo`.
    Direct,
    /// `canopy start`, tool `fx__echo`.
    AllInOne,
    /// `canopy start` with every call sent to its worker over NATS
    /// (`CANOPY_WORKER_LOCAL_CALLS=false`), tool `fx__echo`.
    AllInOneBus,
    /// `canopy start` with rmcp answering every tool call (`CANOPY_GATEWAY_SHORT_ROUTE=false`),
    /// tool `fx__echo`.
    AllInOneRmcp,
    /// `canopy serve api|edge|worker|poller`, tool `fx__echo`.
    Split,
    /// `canopy start --enterprise`, tool `fx__echo`, every request with an OAuth access token.
    Enterprise,
}

impl Target {
    pub fn label(self) -> &'static str {
        match self {
            Target::Direct => "direct",
            Target::AllInOne => "all-in-one",
            Target::AllInOneBus => "all-in-one-bus",
            Target::AllInOneRmcp => "all-in-one-rmcp",
            Target::Split => "split",
            Target::Enterprise => "enterprise",
        }
    }
}

/// A target as measured: where to call, which tool, whose CPU to count.
struct Endpoint {
    target: Target,
    url: String,
    tool: &'static str,
    /// The access token sent with every request (enterprise mode).
    bearer: Option<String>,
    watch: measure::Watch,
    /// Keeps the deployment's processes running while the endpoint is in use.
    _deployment: Option<Deployment>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("loadtest/ is inside the workspace").to_path_buf()
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Some(Command::Upstream) => upstream::serve().await,
        Some(Command::Endpoint { url, tool, calls, concurrency, warmup, max_seconds, keep_alive }) => {
            let plan = |concurrency| measure::Plan {
                concurrency,
                calls,
                warmup,
                max_time: Duration::from_secs_f64(max_seconds),
                keep_alive,
                bearer: None,
            };
            measure_endpoint(&url, &tool, concurrency.into_iter().map(plan)).await
        }
        Some(Command::Bus { nats_url, calls, concurrency }) => bus::run(&nats_url, calls, &concurrency).await,
        // On Ctrl-C the run is dropped, and with it (killed) every process it started.
        Some(Command::Chaos(args)) => tokio::select! {
            outcome = chaos::run(args) => match outcome {
                Ok(true) => Ok(()),
                Ok(false) => Err(anyhow::anyhow!("the chaos run found defects (see the table above)")),
                Err(e) => Err(e),
            },
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        },
        Some(Command::Jobs(args)) => run_and_clean_up(args.env.urls(), |leftovers| jobs::run(args, leftovers)).await,
        Some(Command::Sandbox(args)) => {
            run_and_clean_up(args.env.urls(), |leftovers| sandbox::run(args, leftovers)).await
        }
        None => {
            let urls = [cli.run.database_url.clone(), cli.run.nats_url.clone(), cli.run.redis_url.clone()];
            run_and_clean_up(urls, |leftovers| run(cli.run, leftovers)).await
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a measurement in a task of its own, so that however it ends (result, error, panic,
/// Ctrl-C) its processes are dropped (killed) before the databases, streams and keys it
/// created (`[database, nats, redis]` URLs) are removed.
async fn run_and_clean_up<F>(urls: [String; 3], work: impl FnOnce(Leftovers) -> F) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let leftovers = Leftovers::default();
    let mut work = tokio::spawn(work(leftovers.clone()));
    let outcome = tokio::select! {
        joined = &mut work => joined.unwrap_or_else(|e| Err(anyhow::anyhow!("the measurement panicked: {e}"))),
        _ = tokio::signal::ctrl_c() => {
            work.abort();
            let _ = work.await;
            Err(anyhow::anyhow!("interrupted"))
        }
    };
    let [database_url, nats_url, redis_url] = urls;
    leftovers.remove(&database_url, &nats_url, &redis_url).await;
    outcome
}

async fn run(args: RunArgs, leftovers: Leftovers) -> anyhow::Result<()> {
    if args.calls == 0 || args.repeats == 0 || args.concurrency.contains(&0) {
        bail!("--calls, --repeats and every --concurrency must be at least 1");
    }
    let uses_canopy = args.targets.iter().any(|t| *t != Target::Direct);
    if uses_canopy && !args.canopy.is_file() {
        bail!(
            "no canopy binary at {} (build it with `cargo build --release -p canopy`, or pass --canopy)",
            args.canopy.display()
        );
    }
    let mut facts = facts(&args);
    let dir = deploy::log_dir(&std::env::temp_dir())?;
    let infra = Infra {
        canopy: args.canopy.clone(),
        database_url: args.database_url.clone(),
        nats_url: args.nats_url.clone(),
        redis_url: args.redis_url.clone(),
        worker_keep_alive: args.worker_keep_alive,
        dir: dir.clone(),
        leftovers,
    };

    eprintln!("starting the upstream and the deployments (logs in {})", dir.display());
    let upstream = upstream::start(&dir).await?;
    // The servers this run uses, by the ports of their URLs (another instance may run too).
    let local = |url: &str| cpu::process_serving(url).into_iter().collect::<Vec<u32>>();
    let (nats, redis) = (local(&args.nats_url), local(&args.redis_url));
    let mut endpoints: Vec<Endpoint> = Vec::new();
    for &target in &args.targets {
        let mut watch =
            measure::Watch([vec![std::process::id()], vec![upstream.pid()], vec![], nats.clone(), redis.clone()]);
        let endpoint = match target {
            Target::Direct => {
                Endpoint { target, url: upstream.url.clone(), tool: "echo", bearer: None, watch, _deployment: None }
            }
            Target::AllInOne | Target::AllInOneBus | Target::AllInOneRmcp | Target::Split | Target::Enterprise => {
                let topology = match target {
                    Target::Split => Topology::Split,
                    Target::AllInOneBus => Topology::AllInOneBus,
                    Target::AllInOneRmcp => Topology::AllInOneRmcp,
                    Target::Enterprise => Topology::Enterprise,
                    _ => Topology::AllInOne,
                };
                let deployment = infra
                    .deploy(topology, &upstream.url)
                    .await
                    .with_context(|| format!("deploying canopy {}", target.label()))?;
                watch.0[2] = deployment.pids();
                Endpoint {
                    target,
                    url: deployment.mcp_url.clone(),
                    tool: "fx__echo",
                    bearer: deployment.bearer.clone(),
                    watch,
                    _deployment: Some(deployment),
                }
            }
        };
        endpoints.push(endpoint);
    }

    let mut rows: Vec<report::Row> = Vec::new();
    for &concurrency in &args.concurrency {
        for endpoint in &endpoints {
            rows.push(report::Row { target: endpoint.target, concurrency, samples: vec![] });
        }
    }
    // Repeat outermost and alternate targets innermost, so that a noisy stretch of the shared
    // machine hits every target about equally.
    for repeat in 1..=args.repeats {
        for &concurrency in &args.concurrency {
            for Endpoint { target, url, tool, watch, bearer, .. } in &endpoints {
                let plan = measure::Plan {
                    concurrency,
                    calls: args.calls,
                    warmup: args.warmup,
                    max_time: Duration::from_secs_f64(args.max_seconds),
                    keep_alive: args.keep_alive,
                    bearer: bearer.clone(),
                };
                let sample = measure::measure(url, tool, &plan, watch)
                    .await
                    .with_context(|| format!("measuring {} at concurrency {concurrency}", target.label()))?;
                eprintln!(
                    "run {repeat}/{}: {:>10} c={concurrency:<3} p50 {:>7.0} µs  p99 {:>7.0} µs  {:>7.0} calls/s  ({} calls, {} errors)",
                    args.repeats,
                    target.label(),
                    sample.p50,
                    sample.p99,
                    sample.calls_per_sec,
                    sample.calls,
                    sample.errors
                );
                let row = rows
                    .iter_mut()
                    .find(|r| r.target == *target && r.concurrency == concurrency)
                    .expect("a row per target and concurrency");
                row.samples.push(sample);
            }
        }
    }
    drop(endpoints);
    drop(upstream);

    facts.load_after = load_average();
    let table = report::render(&facts, &rows);
    println!("{table}");
    std::fs::create_dir_all(&args.out_dir).with_context(|| format!("creating {}", args.out_dir.display()))?;
    let file = args.out_dir.join(format!("{}.md", facts.started.format("%Y-%m-%dT%H%M%SZ")));
    std::fs::write(&file, &table).with_context(|| format!("writing {}", file.display()))?;
    eprintln!("wrote {}", file.display());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn measure_endpoint(url: &str, tool: &str, plans: impl Iterator<Item = measure::Plan>) -> anyhow::Result<()> {
    for plan in plans {
        let s = measure::measure(url, tool, &plan, &measure::Watch::default()).await?;
        println!(
            "c={:<3} calls {} errors {}  p50 {:.0} µs  p90 {:.0} µs  p99 {:.0} µs  max {:.0} µs  {:.0} calls/s",
            plan.concurrency, s.calls, s.errors, s.p50, s.p90, s.p99, s.max, s.calls_per_sec
        );
    }
    Ok(())
}

fn facts(args: &RunArgs) -> report::Facts {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let commit = tree_commit();
    report::Facts {
        started: chrono::Utc::now(),
        nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu,
        load_before: load_average(),
        load_after: String::new(),
        harness_profile: if cfg!(debug_assertions) { "debug" } else { "release" },
        canopy: args.canopy.display().to_string(),
        canopy_built: std::fs::metadata(&args.canopy)
            .and_then(|m| m.modified())
            .map(|t| chrono::DateTime::<chrono::Utc>::from(t).format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|_| "unknown".into()),
        commit,
        calls: args.calls,
        warmup: args.warmup,
        repeats: args.repeats,
        max_seconds: args.max_seconds,
        keep_alive: args.keep_alive,
        worker_keep_alive: args.worker_keep_alive,
    }
}

/// The commit the workspace is at, said to have uncommitted changes when it does.
fn tree_commit() -> String {
    git(&["rev-parse", "--short", "HEAD"]).map_or_else(
        || "unknown".to_string(),
        |head| {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            format!("{head}{}", if dirty { " (with uncommitted changes)" } else { "" })
        },
    )
}

fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git").args(args).current_dir(workspace_root()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

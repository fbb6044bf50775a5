//! `canopy-loadtest chaos`: runs Canopy as separate processes (two apis, edges, workers and
//! pollers; the edges and apis behind HAProxy) on infrastructure of its own (Postgres, NATS
//! with JetStream, Redis), drives a mixed load, kills processes with `kill -9` at moments drawn
//! from a printed seed and restarts Postgres, NATS and Redis under load, then checks that
//! nothing acknowledged was lost or duplicated and that every edge serves what the log says:
//! catalogs, group endpoints, and who may connect (MCP clients, users, suspended tenants).
//! See `loadtest/README.md` ("Chaos").

pub mod check;
pub mod cluster;
pub mod faults;
pub mod infra;
pub mod jobs;
pub mod ledger;
pub mod load;
pub mod report;
pub mod rng;
pub mod tenants;

use anyhow::{bail, Context};
use cluster::{Cluster, ClusterConfig, Service};
use faults::{Infra, OutageVictims};
use ledger::{CommandKind, CommandRecord, Ledger, Outcome};
use load::Api;
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The NATS prefix of the run's deployment (the NATS server is the run's own).
const PREFIX: &str = "chaos";

#[derive(clap::Args, Clone, Debug)]
pub struct ChaosArgs {
    /// The canopy binary (`cargo build -p canopy`, or `--release`).
    #[arg(long, default_value_os_t = crate::workspace_root().join("target/debug/canopy"))]
    pub canopy: PathBuf,
    /// How long the load runs, in seconds (faults happen within it).
    #[arg(long, default_value_t = 480)]
    pub duration: u64,
    /// `kill -9`s of Canopy processes (at least 4, so every service is killed).
    #[arg(long, default_value_t = 24)]
    pub kills: usize,
    /// Skip the restarts of Postgres, NATS and Redis (the short run).
    #[arg(long)]
    pub no_infra_restarts: bool,
    /// The seed of every random choice; printed, so a run can be repeated.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Concurrent MCP callers (one rmcp session each).
    #[arg(long, default_value_t = 4)]
    pub callers: usize,
    /// Concurrent admin tasks (REST commands).
    #[arg(long, default_value_t = 2)]
    pub admins: usize,
    /// Where the result file goes.
    #[arg(long, default_value_os_t = crate::workspace_root().join("loadtest/results"))]
    pub out_dir: PathBuf,
    /// Keep the run's folder (process logs, data) even when every check passed.
    #[arg(long)]
    pub keep_logs: bool,
}

/// Runs a chaos run; Err when it could not run, Ok(false) when a check failed.
pub async fn run(args: ChaosArgs) -> anyhow::Result<bool> {
    if !args.canopy.is_file() {
        bail!("no canopy binary at {} (cargo build -p canopy, or pass --canopy)", args.canopy.display());
    }
    if args.kills < Service::ALL.len() {
        bail!("--kills must be at least {} so that every service is killed", Service::ALL.len());
    }
    if args.duration < 30 {
        bail!("--duration must be at least 30 seconds");
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("chaos: seed {seed} (repeat with --seed {seed})");
    let dir = std::env::temp_dir().join(canopy_testkit::unique("canopy-chaos-"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    eprintln!("chaos: logs and data in {}", dir.display());
    let started = chrono::Utc::now();
    let outcome = run_in(&args, seed, &dir, started).await;
    match &outcome {
        Ok(true) if !args.keep_logs => {
            let _ = std::fs::remove_dir_all(&dir);
        }
        _ => eprintln!("chaos: kept {} (process logs, haproxy.cfg, data)", dir.display()),
    }
    outcome
}

async fn run_in(
    args: &ChaosArgs,
    seed: u64,
    dir: &std::path::Path,
    started: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<bool> {
    let mut infra = Infra {
        postgres: infra::OwnPostgres::start(dir).await.context("starting the run's own PostgreSQL")?,
        nats: infra::OwnNats::start(dir).await.context("starting the run's own nats-server")?,
        redis: infra::OwnRedis::start(dir).await.context("starting the run's own redis-server")?,
    };
    let database_url = infra.postgres.url("canopy");
    let upstream = crate::upstream::start(dir).await.context("starting the fixture upstream")?;
    let secret_key = secret_key(&args.canopy)?;
    let haproxy_port = infra::free_port()?;
    let public_url = format!("http://127.0.0.1:{haproxy_port}");
    let env: Vec<(String, String)> = [
        ("CANOPY_DATABASE_URL", database_url.clone()),
        ("CANOPY_NATS_URL", infra.nats.url()),
        ("CANOPY_REDIS_URL", infra.redis.url()),
        ("CANOPY_NATS_PREFIX", PREFIX.to_string()),
        ("CANOPY_STATE_DIR", dir.join("state").display().to_string()),
        ("CANOPY_SECRET_KEY", secret_key),
        ("CANOPY_MODE", "enterprise".to_string()),
        ("CANOPY_PUBLIC_URL", public_url.clone()),
        ("CANOPY_LOG", "warn".to_string()),
        // Jobs are part of the load: credits are not what is tested, and a lapsed lease is
        // taken over sooner than the default 15 s.
        ("CANOPY_JOBS_CREDITS", "unlimited".to_string()),
        ("CANOPY_JOBS_LEASE_SECS", "5".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let cluster = Cluster::new(ClusterConfig { canopy: args.canopy.clone(), dir: dir.to_path_buf(), env }, 2)?;
    eprintln!("chaos: starting 2 apis, 2 edges, 2 workers, 2 pollers");
    // The apis first: they migrate the database.
    for service in Service::ALL {
        cluster.start_service(service).await.with_context(|| format!("starting the {}s", service.arg()))?;
    }
    let ports =
        |service| -> Vec<(String, u16)> { cluster.members_of(service).into_iter().map(|m| (m.name, m.port)).collect() };
    let _haproxy = infra::HaProxy::start(dir, haproxy_port, &ports(Service::Api), &ports(Service::Edge))
        .await
        .context("starting haproxy")?;

    let ledger = Ledger::default();
    let run_start = Instant::now();
    let setup = set_up(&public_url, &upstream.url, &ledger, run_start).await.context("setting up the tenant")?;
    eprintln!("chaos: set up; load for {} s with {} kills", args.duration, args.kills);

    // The load, the supervisor and the faults.
    let load_start = Instant::now();
    let until = load_start + Duration::from_secs(args.duration);
    let deadline = load::Deadline { until, faults_done: Arc::new(AtomicBool::new(false)) };
    let supervisor = Supervisor::start(cluster.clone());
    let mut tasks = Vec::new();
    for task in 0..args.admins {
        let api = setup.api.clone();
        tasks.push(tokio::spawn(load::admin_task(
            task,
            seed,
            api,
            upstream.url.clone(),
            ledger.clone(),
            run_start,
            deadline.clone(),
        )));
    }
    for caller in 0..args.callers {
        let (url, token) = (format!("{public_url}/mcp"), setup.caller_token.clone());
        tasks.push(tokio::spawn(load::caller_task(caller, url, token, ledger.clone(), run_start, deadline.clone())));
    }
    let submits = jobs::Submits::default();
    tasks.push(tokio::spawn(jobs::drive_jobs(setup.api.clone(), submits.clone(), deadline.clone())));
    tasks.push(tokio::spawn(tenants::drive_tenants(
        setup.api.with_token(&setup.operator_token),
        seed,
        ledger.clone(),
        run_start,
        deadline.clone(),
    )));
    let victims = || OutageVictims {
        client: "static-victim".into(),
        server: "static-doomed".into(),
        user: VICTIM_USER.into(),
        tenant: VICTIM_TENANT.into(),
        operator_token: setup.operator_token.clone(),
    };
    if args.no_infra_restarts {
        // Without a NATS outage the victims are removed half way, under the kills.
        let (api, ledger) = (setup.api.clone(), ledger.clone());
        let half = Duration::from_secs(args.duration / 2);
        let victims = victims();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(half).await;
            faults::remove_victims(&api, &victims, &ledger, run_start, Duration::from_secs(120)).await;
        }));
    }
    let plan = faults::Plan {
        kills: args.kills,
        infra_restarts: !args.no_infra_restarts,
        from: load_start.duration_since(run_start) + Duration::from_secs(3),
        to: load_start.duration_since(run_start) + Duration::from_secs(args.duration.saturating_sub(8)),
    };
    let readyz =
        faults::drive(plan, seed, cluster.clone(), &mut infra, setup.api.clone(), victims(), ledger.clone(), run_start)
            .await;
    deadline.faults_done.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let load_end = run_start.elapsed().as_secs_f64();
    eprintln!("chaos: load done at {load_end:.1}s; settling");

    // Settle: every process ready, the outbox published, then the checks.
    let settle_start = Instant::now();
    cluster.wait_all_ready(Duration::from_secs(120)).await.context("the deployment did not recover after the run")?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&database_url)
        .await
        .context("connecting to the run's database for the checks")?;
    let open_jobs = jobs::wait_for_jobs_to_end(&pool).await?;
    if open_jobs > 0 {
        eprintln!("chaos: {open_jobs} job(s) still open after settling; the jobs check reports them");
    }
    let outbox_left = check::outbox_drained(&pool, Duration::from_secs(60)).await?;
    let settled_after = settle_start.elapsed().as_secs_f64();
    eprintln!("chaos: checking the event log, the read models, the stream, the edges and the audit log");
    let commands = check::commands(&pool, &ledger).await?;
    let stream = check::stream(&pool, &infra.nats.url(), PREFIX).await?;
    let (present, deleted) = check::clients_present_and_deleted(&ledger.commands());
    let tokens = ledger.tokens();
    let mut principals =
        vec![("the owner".to_string(), setup.api.owner.clone()), ("member user".into(), setup.viewer_token.clone())];
    principals.extend(present.iter().filter_map(|n| tokens.get(n).map(|t| (format!("client {n}"), t.clone()))));
    let deleted_tokens: Vec<(String, String)> =
        deleted.iter().filter_map(|n| tokens.get(n).map(|t| (n.clone(), t.clone()))).collect();
    let edge_members = cluster.members_of(Service::Edge);
    let mut edges =
        check::edges(&setup.api, &edge_members, &principals, &deleted_tokens, Duration::from_secs(20)).await;
    let (groups, deleted_groups) = check::groups_present_and_deleted(&ledger.commands());
    check::group_endpoints(&setup.api, &edge_members, &groups, &deleted_groups, Duration::from_secs(20), &mut edges)
        .await;
    let (users, deleted_users) = check::users_present_and_deleted(&ledger.commands());
    let with_tokens = |names: &[String]| -> Vec<(String, String)> {
        names.iter().filter_map(|n| tokens.get(n).map(|t| (n.clone(), t.clone()))).collect()
    };
    let (users, deleted_users) = (with_tokens(&users), with_tokens(&deleted_users));
    check::user_tokens(&edge_members, &public_url, &users, &deleted_users, Duration::from_secs(20), &mut edges).await;
    let (active, suspended) = check::tenants_active_and_suspended(&ledger.commands());
    let tenant_tokens = ledger.tenant_tokens();
    check::tenant_tokens(
        &edge_members,
        &public_url,
        &active,
        &suspended,
        &tenant_tokens,
        Duration::from_secs(20),
        &mut edges,
    )
    .await;
    let calls = ledger.calls();
    let audit = check::audit(&pool, &calls, Duration::from_secs(90)).await?;
    eprintln!("chaos: checking that every acknowledged job ended once");
    let jobs = jobs::check_jobs(&pool, &submits).await?;
    pool.close().await;
    drop(supervisor);
    let unexpected_exits = cluster.unexpected_exits();

    let result = report::Result {
        started,
        seed,
        duration: args.duration,
        load_end,
        settled_after,
        outbox_left,
        commands,
        stream,
        edges,
        audit,
        readyz,
        jobs,
        faults: ledger.faults(),
        calls,
        command_log: ledger.commands(),
        unexpected_exits,
        infra_restarts: !args.no_infra_restarts,
        canopy: args.canopy.display().to_string(),
    };
    write_records(dir, &result);
    let table = report::render(&result);
    println!("{table}");
    std::fs::create_dir_all(&args.out_dir).with_context(|| format!("creating {}", args.out_dir.display()))?;
    let file = args.out_dir.join(format!("chaos-{}.md", started.format("%Y-%m-%dT%H%M%SZ")));
    std::fs::write(&file, &table).with_context(|| format!("writing {}", file.display()))?;
    eprintln!("chaos: wrote {}", file.display());
    Ok(result.passed())
}

/// Starts again whatever died, every 100 ms, until dropped; dropping it (at the end, or on any
/// error) also kills every Canopy process, so nothing outlives the run.
struct Supervisor {
    cluster: Cluster,
    stop: Arc<AtomicBool>,
}

impl Supervisor {
    fn start(cluster: Cluster) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (watched, stopped) = (cluster.clone(), stop.clone());
        tokio::spawn(async move {
            while !stopped.load(Ordering::Relaxed) {
                watched.supervise_once();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { cluster, stop }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.cluster.stop_all();
    }
}

/// What the load needs from the set-up.
struct SetUp {
    api: Api,
    caller_token: String,
    viewer_token: String,
    /// The platform operator's (from `init-server`).
    operator_token: String,
}

/// The user of the default tenant the NATS outage deletes.
const VICTIM_USER: &str = "static-victim-user";
/// The tenant the NATS outage suspends.
const VICTIM_TENANT: &str = "static-victim-tenant";

/// `init-server` (the owner and the platform operator), the upstream as `fx`, a server, a
/// client, a user and a tenant (with its owner and a client) the NATS outage removes or
/// suspends, a group, static clients with different allow lists, a member user; every command
/// in the ledger like the load's (the member user's creation excepted).
async fn set_up(public_url: &str, upstream_url: &str, ledger: &Ledger, run_start: Instant) -> anyhow::Result<SetUp> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let init: serde_json::Value = http
        .post(format!("{public_url}/api/v0/init-server"))
        .json(&json!({}))
        .send()
        .await
        .context("init-server")?
        .json()
        .await
        .context("init-server's answer")?;
    let owner = init["access_token"].as_str().with_context(|| format!("init-server answered {init}"))?.to_string();
    let operator_token =
        init["operator_token"].as_str().with_context(|| format!("init-server answered {init}"))?.to_string();
    let api = Api::new(public_url, &owner)?;
    let token = |name: &str| format!("chaos-token-{name}-{}", uuid::Uuid::new_v4().simple());
    let post = reqwest::Method::POST;
    let record = |kind, name: &str, key: Option<String>, servers: Option<Vec<String>>, (outcome, attempts)| {
        let committed = matches!(outcome, Outcome::Acked { .. } | Outcome::AckedEarlier { .. });
        ledger.command(CommandRecord {
            kind,
            name: name.to_string(),
            idempotency_key: key,
            group_servers: servers,
            outcome: outcome.clone(),
            attempts,
            at: run_start.elapsed().as_secs_f64(),
        });
        if committed {
            Ok(())
        } else {
            Err(anyhow::anyhow!("set-up: {} {name}: {outcome:?}", kind.label()))
        }
    };
    for server in ["fx", "static-doomed"] {
        let key = uuid::Uuid::new_v4().to_string();
        let body = json!({"name": server, "transport": "streamable_http", "url": upstream_url});
        let answer = api.until_definite(post.clone(), "/servers", Some(&body), Some(&key), None).await;
        record(CommandKind::Register, server, Some(key), None, answer)?;
    }
    let group = json!({"name": "static-stable", "included_servers": ["fx"]});
    let answer = api.until_definite(post.clone(), "/groups", Some(&group), None, Some(409)).await;
    record(CommandKind::CreateGroup, "static-stable", None, Some(vec!["fx".into()]), answer)?;
    let mut caller_token = String::new();
    for (name, allow) in [
        ("static-caller", json!({"allowed_servers": ["*"]})),
        ("static-fx", json!({"allowed_servers": ["fx"]})),
        ("static-group", json!({"allowed_groups": ["static-stable"]})),
        ("static-victim", json!({"allowed_servers": ["*"]})),
    ] {
        let secret = token(name);
        let mut body = allow;
        body["name"] = json!(name);
        body["access_token"] = json!(secret);
        ledger.note_token(name, &secret);
        let answer = api.until_definite(post.clone(), "/mcp-clients", Some(&body), None, Some(409)).await;
        record(CommandKind::CreateClient, name, None, None, answer)?;
        if name == "static-caller" {
            caller_token = secret;
        }
    }
    let viewer_token = token("viewer");
    let user = json!({"name": "static-viewer", "role": "member", "access_token": viewer_token});
    let (outcome, _) = api.until_definite(post.clone(), "/users", Some(&user), None, Some(409)).await;
    if !matches!(outcome, Outcome::Acked { .. } | Outcome::AckedEarlier { .. }) {
        bail!("set-up: creating the member user: {outcome:?}");
    }
    let victim_token = token(VICTIM_USER);
    ledger.note_token(VICTIM_USER, &victim_token);
    let user = json!({"name": VICTIM_USER, "role": "member", "access_token": victim_token});
    let answer = api.until_definite(post, "/users", Some(&user), None, Some(409)).await;
    record(CommandKind::CreateUser, VICTIM_USER, None, None, answer)?;
    if !tenants::create_tenant(&api.with_token(&operator_token), VICTIM_TENANT, ledger, run_start).await {
        bail!("set-up: creating the tenant {VICTIM_TENANT} failed (see the ledger)");
    }
    // The callers start once fx__echo is routable through HAProxy.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match crate::measure::probe(&format!("{public_url}/mcp"), "fx__echo", Some(&caller_token)).await {
            Ok(()) => break,
            Err(e) if Instant::now() > deadline => bail!("fx__echo not callable through haproxy: {e:#}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    Ok(SetUp { api, caller_token, viewer_token, operator_token })
}

/// The raw records beside the process logs (`calls.tsv`, `commands.tsv`, `faults.tsv`; times in
/// seconds since the run started), to line a failure up with the logs.
fn write_records(dir: &std::path::Path, result: &report::Result) {
    let mut calls = String::from("start\tend\tmessage\terror\n");
    for c in &result.calls {
        let message = c.message.as_deref().unwrap_or("(initialize)");
        let error = c.error.as_deref().unwrap_or("").replace(['\t', '\n'], " ");
        calls.push_str(&format!("{:.3}\t{:.3}\t{message}\t{error}\n", c.start, c.end));
    }
    let mut commands = String::from("at\tkind\tname\tidempotency_key\tattempts\toutcome\n");
    for c in &result.command_log {
        let key = c.idempotency_key.as_deref().unwrap_or("");
        let outcome = format!("{:?}", c.outcome).replace(['\t', '\n'], " ");
        commands.push_str(&format!("{:.3}\t{:?}\t{}\t{key}\t{}\t{outcome}\n", c.at, c.kind, c.name, c.attempts));
    }
    let mut faults = String::from("at\tback_at\tfault\n");
    for f in &result.faults {
        let back = f.back_at.map_or(String::new(), |b| format!("{b:.3}"));
        faults.push_str(&format!("{:.3}\t{back}\t{}\n", f.at, f.what));
    }
    for (name, text) in [("calls.tsv", calls), ("commands.tsv", commands), ("faults.tsv", faults)] {
        if let Err(e) = std::fs::write(dir.join(name), text) {
            eprintln!("chaos: could not write {name}: {e}");
        }
    }
}

fn secret_key(canopy: &std::path::Path) -> anyhow::Result<String> {
    let out = std::process::Command::new(canopy)
        .arg("secret-key")
        .output()
        .with_context(|| format!("running {} secret-key", canopy.display()))?;
    if !out.status.success() {
        bail!("canopy secret-key failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout).context("canopy secret-key printed non-UTF-8")?.trim().to_string())
}

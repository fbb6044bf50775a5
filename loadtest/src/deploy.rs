//! Canopy deployments under test: all-in-one (`canopy start`) or split (`canopy serve
//! api|edge|worker|poller`, four processes), each with a fresh database, its own NATS prefix
//! and state folder, and the upstream registered as `fx`. What a run creates outside its
//! processes (databases, JetStream streams, Redis keys) is noted in [`Leftovers`] and removed
//! at the end.

use crate::process::Process;
use anyhow::{bail, Context};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a process may take to answer /readyz, and Canopy to route the first call.
const READY_WITHIN: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Topology {
    /// `canopy start`: the four services in one process.
    AllInOne,
    /// `canopy start` with `CANOPY_WORKER_LOCAL_CALLS=false`: one process, but every call goes
    /// to its worker over NATS, as between processes (what all-in-one did before local calls).
    AllInOneBus,
    /// `canopy start` with `CANOPY_GATEWAY_SHORT_ROUTE=false`: rmcp answers every tool call
    /// (what all-in-one did before the edge's short route).
    AllInOneRmcp,
    /// `canopy serve api|edge|worker|poller`: four processes.
    Split,
    /// `canopy start --enterprise`: every request carries an OAuth access token (a JWT from
    /// the client-credentials grant of an MCP client allowed every server).
    Enterprise,
}

/// Infrastructure and binary shared by every deployment of a run.
pub struct Infra {
    pub canopy: PathBuf,
    pub database_url: String,
    pub nats_url: String,
    pub redis_url: String,
    /// `CANOPY_UPSTREAM_KEEP_ALIVE` of every Canopy process.
    pub worker_keep_alive: bool,
    /// Logs and state folders.
    pub dir: PathBuf,
    pub leftovers: Leftovers,
}

pub struct Deployment {
    /// The MCP endpoint clients call (`http://EDGE/mcp`).
    pub mcp_url: String,
    /// The access token clients send (enterprise mode).
    pub bearer: Option<String>,
    processes: Vec<Process>,
}

impl Deployment {
    pub fn pids(&self) -> Vec<u32> {
        self.processes.iter().map(Process::pid).collect()
    }
}

impl Infra {
    /// Starts a deployment, registers `upstream_url` as server `fx`, and returns once a
    /// `tools/call` of `fx__echo` succeeds through it.
    pub async fn deploy(&self, topology: Topology, upstream_url: &str) -> anyhow::Result<Deployment> {
        let services: &[(&str, &[&str])] = match topology {
            Topology::AllInOne | Topology::AllInOneBus | Topology::AllInOneRmcp => &[("all", &["start"])],
            Topology::Enterprise => &[("all", &["start", "--enterprise"])],
            // The worker must run before registration (discovery) and the edge before calls.
            Topology::Split => &[
                ("api", &["serve", "api"]),
                ("edge", &["serve", "edge"]),
                ("worker", &["serve", "worker"]),
                ("poller", &["serve", "poller"]),
            ],
        };
        let extra: &[(&str, String)] = match topology {
            Topology::AllInOneBus => &[("CANOPY_WORKER_LOCAL_CALLS", "false".to_string())],
            Topology::AllInOneRmcp => &[("CANOPY_GATEWAY_SHORT_ROUTE", "false".to_string())],
            _ => &[],
        };
        let started = self.start(services, extra).await?;
        let (processes, bases): (Vec<Process>, Vec<String>) = started.into_iter().unzip();
        let (api, edge) = match topology {
            Topology::AllInOne | Topology::AllInOneBus | Topology::AllInOneRmcp | Topology::Enterprise => {
                (&bases[0], &bases[0])
            }
            Topology::Split => (&bases[0], &bases[1]),
        };
        let mcp_url = format!("{edge}/mcp");
        let (owner, bearer) = match topology {
            Topology::Enterprise => {
                let (owner, bearer) = enterprise_tokens(api, &mcp_url).await?;
                (Some(owner), Some(bearer))
            }
            _ => (None, None),
        };
        register(api, upstream_url, owner.as_deref()).await?;
        wait_routable(&mcp_url, bearer.as_deref()).await?;
        Ok(Deployment { mcp_url, bearer, processes })
    }

    /// Starts Canopy processes (`canopy ARGS`, one per service, in order: each migrates the
    /// database as it starts) on a fresh database, a NATS prefix and a state folder of their
    /// own, with `extra_env` on top of the deployment's environment; returns each process with
    /// its base URL once it answers /readyz. Nothing is registered.
    pub async fn start(
        &self,
        services: &[(&str, &[&str])],
        extra_env: &[(&str, String)],
    ) -> anyhow::Result<Vec<(Process, String)>> {
        let database = canopy_testkit::unique("canopy_load_");
        self.create_database(&database).await?;
        let prefix = canopy_testkit::unique("load");
        self.leftovers.note_prefix(&prefix);
        let env = ProcessEnv {
            database_url: canopy_testkit::with_database(&self.database_url, &database),
            prefix: prefix.clone(),
            state_dir: self.dir.join(&prefix),
            secret_key: self.secret_key()?,
            extra: extra_env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        };
        let mut started = Vec::new();
        for (name, args) in services {
            started.push(self.spawn(&env, &format!("{prefix}-{name}"), args).await?);
        }
        Ok(started)
    }

    async fn create_database(&self, name: &str) -> anyhow::Result<()> {
        let admin = admin_connection(&self.database_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .with_context(|| format!("creating database {name}"))?;
        admin.close().await;
        self.leftovers.note_database(name);
        Ok(())
    }

    fn secret_key(&self) -> anyhow::Result<String> {
        let out = Command::new(&self.canopy)
            .arg("secret-key")
            .output()
            .with_context(|| format!("running {} secret-key", self.canopy.display()))?;
        if !out.status.success() {
            bail!("canopy secret-key failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_string())
    }

    /// Starts `canopy ARGS --listen 127.0.0.1:PORT` and waits until /readyz answers 200.
    async fn spawn(&self, env: &ProcessEnv, name: &str, args: &[&str]) -> anyhow::Result<(Process, String)> {
        let listen = format!("127.0.0.1:{}", free_port()?);
        let mut command = Command::new(&self.canopy);
        command
            .args(args)
            .args(["--listen", &listen])
            .env("CANOPY_DATABASE_URL", &env.database_url)
            .env("CANOPY_NATS_URL", &self.nats_url)
            .env("CANOPY_REDIS_URL", &self.redis_url)
            .env("CANOPY_NATS_PREFIX", &env.prefix)
            .env("CANOPY_STATE_DIR", &env.state_dir)
            .env("CANOPY_SECRET_KEY", &env.secret_key)
            .env("CANOPY_LOG", "warn")
            .env("CANOPY_UPSTREAM_KEEP_ALIVE", if self.worker_keep_alive { "true" } else { "false" })
            .env_remove("RUST_LOG")
            .env_remove("CANOPY_CONFIG")
            .env_remove("CANOPY_LISTEN")
            .envs(env.extra.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let mut process = Process::spawn(name, command, &self.dir.join(format!("{name}.log")))?;
        let base = format!("http://{listen}");
        wait_ready(&mut process, &base).await?;
        Ok((process, base))
    }
}

struct ProcessEnv {
    database_url: String,
    prefix: String,
    state_dir: PathBuf,
    secret_key: String,
    /// What this deployment sets besides the above (`CANOPY_JOBS_*`, `CANOPY_MODE`).
    extra: Vec<(String, String)>,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn admin_connection(url: &str) -> anyhow::Result<sqlx::PgPool> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {url} (set --database-url)"))
}

async fn wait_ready(process: &mut Process, base: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if let Some(status) = process.exited() {
            bail!("{} exited with {status} before it was ready\n{}", process.name, process.log_tail());
        }
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("{} not ready within {READY_WITHIN:?}\n{}", process.name, process.log_tail());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Enterprise mode: `init-server` (the owner's token), an MCP client allowed every server, and
/// an access token for `mcp_url` from the client-credentials grant: (owner token, JWT).
async fn enterprise_tokens(api: &str, mcp_url: &str) -> anyhow::Result<(String, String)> {
    let http = reqwest::Client::new();
    let (owner, _operator) = init_server(api).await?;
    let client: serde_json::Value = http
        .post(format!("{api}/api/v0/mcp-clients"))
        .bearer_auth(&owner)
        .json(&json!({"name": "load", "allowed_servers": ["*"]}))
        .send()
        .await
        .context("creating the MCP client")?
        .json()
        .await?;
    let secret = client["access_token"].as_str().context("the MCP client has no token")?;
    let token: serde_json::Value = http
        .post(format!("{api}/oauth/token"))
        .basic_auth("load", Some(secret))
        .form(&[("grant_type", "client_credentials"), ("resource", mcp_url)])
        .send()
        .await
        .context("the client-credentials grant")?
        .json()
        .await?;
    let bearer = token["access_token"].as_str().with_context(|| format!("no access token: {token}"))?.to_string();
    Ok((owner, bearer))
}

/// Enterprise mode's `init-server`: (the owner's token, in tenant `default`; the platform
/// operator's token).
pub async fn init_server(api: &str) -> anyhow::Result<(String, String)> {
    let init: serde_json::Value = reqwest::Client::new()
        .post(format!("{api}/api/v0/init-server"))
        .send()
        .await
        .context("init-server")?
        .json()
        .await?;
    let token = |key: &str| {
        init[key].as_str().map(str::to_string).with_context(|| format!("init-server answered no {key}: {init}"))
    };
    Ok((token("access_token")?, token("operator_token")?))
}

/// `POST /api/v0/servers`: 201 with status `ready` once the worker has listed the catalog.
async fn register(api: &str, upstream_url: &str, owner: Option<&str>) -> anyhow::Result<()> {
    let mut request = reqwest::Client::new().post(format!("{api}/api/v0/servers"));
    if let Some(token) = owner {
        request = request.bearer_auth(token);
    }
    let response = request
        .json(&json!({"name": "fx", "transport": "streamable_http", "url": upstream_url}))
        .send()
        .await
        .context("registering the upstream")?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status.as_u16() != 201 || body["status"] != "ready" {
        bail!("registering the upstream answered {status}: {body}");
    }
    Ok(())
}

/// The edge learns the catalog from the event stream; wait until it routes `fx__echo`.
async fn wait_routable(mcp_url: &str, bearer: Option<&str>) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_WITHIN;
    let mut last_error = String::new();
    while Instant::now() < deadline {
        match crate::measure::probe(mcp_url, "fx__echo", bearer).await {
            Ok(()) => return Ok(()),
            Err(e) => last_error = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("fx__echo not callable at {mcp_url} within {READY_WITHIN:?}: {last_error}")
}

/// Databases and prefixes (of NATS streams and Redis keys) a run created, removed by
/// [`Leftovers::remove`] after every process is gone, whatever happened.
#[derive(Clone, Default)]
pub struct Leftovers(Arc<Mutex<(Vec<String>, Vec<String>)>>);

impl Leftovers {
    fn note_database(&self, name: &str) {
        self.0.lock().unwrap().0.push(name.to_string());
    }

    fn note_prefix(&self, prefix: &str) {
        self.0.lock().unwrap().1.push(prefix.to_string());
    }

    /// Drops the databases, deletes the prefixes' JetStream streams and Redis keys (MCP
    /// sessions, SSE replay). Reports what it could not remove rather than failing the run.
    pub async fn remove(&self, database_url: &str, nats_url: &str, redis_url: &str) {
        let (databases, prefixes) = std::mem::take(&mut *self.0.lock().unwrap());
        if !databases.is_empty() {
            match admin_connection(database_url).await {
                Ok(admin) => {
                    for name in &databases {
                        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        if let Err(e) = sqlx::query(&drop).execute(&admin).await {
                            eprintln!("warning: could not drop database {name}: {e}");
                        }
                    }
                    admin.close().await;
                }
                Err(e) => eprintln!("warning: could not drop databases {databases:?}: {e:#}"),
            }
        }
        for prefix in &prefixes {
            match canopy_bus::Bus::connect(nats_url, prefix, "canopy-loadtest cleanup").await {
                Ok(bus) => bus.delete_streams().await,
                Err(e) => eprintln!("warning: could not delete streams of {prefix}: {e}"),
            }
            if let Err(e) = delete_redis_keys(redis_url, prefix).await {
                eprintln!("warning: could not delete Redis keys {prefix}:*: {e}");
            }
        }
    }
}

/// Deletes every key under `PREFIX:`, where the edges keep sessions and SSE events.
async fn delete_redis_keys(url: &str, prefix: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut redis = client.get_multiplexed_async_connection().await?;
    let pattern = format!("{prefix}:*");
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut redis)
            .await?;
        if !keys.is_empty() {
            let _: i64 = redis::cmd("UNLINK").arg(&keys).query_async(&mut redis).await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

pub fn log_dir(base: &Path) -> anyhow::Result<PathBuf> {
    let dir = base.join(canopy_testkit::unique("canopy-loadtest-"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

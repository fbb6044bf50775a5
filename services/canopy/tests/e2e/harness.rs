//! Running real `canopy` processes against the real PostgreSQL, NATS and Redis, each test in
//! its own database and NATS prefix, with the fixture MCP server as upstream.

use canopy_fixture_server::{serve_http, FixtureHandle, FixtureOptions};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Deployment {
    pub db: canopy_testkit::TestDb,
    pub prefix: String,
    pub state_dir: std::path::PathBuf,
    pub secret_key: String,
    /// The NATS server the processes use (the shared one, unless a test runs its own).
    pub nats_url: String,
    /// `CANOPY_BUILTIN_SERVERS` of the processes: none, unless a test sets them (`builtin.rs`),
    /// so the other tests see exactly the servers they register.
    pub builtin_servers: String,
    /// More environment for every process this deployment starts from now on.
    pub env: Vec<(String, String)>,
    processes: Vec<Process>,
}

pub struct Process {
    pub name: String,
    pub child: Child,
    pub base: String,
    pub log: std::path::PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Deployment {
    pub async fn new() -> Self {
        let db = canopy_testkit::fresh_database().await;
        let prefix = canopy_testkit::unique("e2e");
        let state_dir = std::env::temp_dir().join(&prefix);
        let nats_url = canopy_testkit::nats_url();
        let builtin_servers = "[]".to_string();
        let secret_key = canopy_secrets_key();
        Self { db, prefix, state_dir, secret_key, nats_url, builtin_servers, env: vec![], processes: vec![] }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_canopy"));
        cmd.args(args)
            .env("CANOPY_DATABASE_URL", &self.db.url)
            .env("CANOPY_NATS_URL", &self.nats_url)
            .env("CANOPY_REDIS_URL", canopy_testkit::redis_url())
            .env("CANOPY_NATS_PREFIX", &self.prefix)
            .env("CANOPY_STATE_DIR", &self.state_dir)
            .env("CANOPY_SECRET_KEY", &self.secret_key)
            .env("CANOPY_LOG", "info,rmcp=warn")
            .env("CANOPY_DRAIN_TIMEOUT_SECS", "10")
            .env("CANOPY_BUILTIN_SERVERS", &self.builtin_servers)
            .env_remove("CANOPY_CONFIG")
            .env_remove("CANOPY_LISTEN");
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    /// Starts `canopy ARGS --listen PORT` and waits until /readyz says ready.
    pub async fn spawn(&mut self, name: &str, args: &[&str]) -> String {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let log = std::env::temp_dir().join(format!("{}-{name}.log", self.prefix));
        let file = std::fs::File::create(&log).unwrap();
        let mut all_args: Vec<&str> = args.to_vec();
        all_args.extend(["--listen", &listen]);
        let child =
            self.command(&all_args).stdout(Stdio::null()).stderr(Stdio::from(file)).spawn().expect("spawn canopy");
        let base = format!("http://{listen}");
        let mut process = Process { name: name.into(), child, base: base.clone(), log };
        wait_ready(&mut process).await;
        self.processes.push(process);
        base
    }

    /// The pid of process `name`.
    pub fn processes_pid(&self, name: &str) -> u32 {
        self.processes.iter().find(|p| p.name == name).expect("process").child.id()
    }

    pub fn process(&mut self, name: &str) -> &mut Process {
        self.processes.iter_mut().find(|p| p.name == name).expect("process")
    }

    /// Sends SIGTERM to a process and returns its exit status.
    pub async fn terminate(&mut self, name: &str) -> std::process::ExitStatus {
        let p = self.process(name);
        let pid = p.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = p.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "{name} did not exit after SIGTERM; log {}", p.log.display());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills a process with SIGKILL (no shutdown of any kind) and waits for it to be gone.
    pub fn kill_hard(&mut self, name: &str) {
        let index = self.processes.iter().position(|p| p.name == name).expect("process");
        let mut p = self.processes.remove(index);
        p.child.kill().expect("SIGKILL");
        p.child.wait().expect("reaped");
    }

    pub async fn bus(&self) -> canopy_bus::Bus {
        canopy_bus::Bus::connect(&self.nats_url, &self.prefix, "e2e-test").await.unwrap()
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.processes.clear();
        let _ = std::fs::remove_dir_all(&self.state_dir);
        // The deployment's JetStream streams, whether the test passed or not: they would
        // otherwise pile up in the NATS server's store run after run. (Drop cannot await, and
        // the test's runtime may be the current thread: a short-lived runtime of its own.)
        let (prefix, nats_url) = (self.prefix.clone(), self.nats_url.clone());
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async {
                if let Ok(bus) = canopy_bus::Bus::connect(&nats_url, &prefix, "e2e-cleanup").await {
                    bus.delete_streams().await;
                }
            });
        })
        .join();
    }
}

fn canopy_secrets_key() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_canopy")).arg("secret-key").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn wait_ready(p: &mut Process) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = p.child.try_wait().unwrap() {
            panic!(
                "{} exited with {status} before ready:\n{}",
                p.name,
                std::fs::read_to_string(&p.log).unwrap_or_default()
            );
        }
        if let Ok(r) = client.get(format!("{}/readyz", p.base)).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} not ready in time:\n{}",
            p.name,
            std::fs::read_to_string(&p.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The fixture upstream: 5 extra tools, 2 tools per page (so only a client that follows
/// every cursor sees all 10).
pub async fn fixture() -> FixtureHandle {
    serve_http(
        "127.0.0.1:0".parse().unwrap(),
        FixtureOptions { extra_tools: 5, page_size: Some(2), ..Default::default() },
    )
    .await
    .unwrap()
}

pub async fn mcp_client(url: &str) -> RunningService<RoleClient, ()> {
    ().serve(StreamableHttpClientTransport::from_uri(url.to_string())).await.expect("MCP client connects")
}

pub async fn post_json(url: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Polls until `f` is true, at most `within`. Returns how long it took.
pub async fn eventually<F, Fut>(within: Duration, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < within, "condition not met within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

//! The chaos run's own infrastructure, never the machine's shared instances: a PostgreSQL
//! cluster made by `initdb` in the run's folder, a `nats-server` with JetStream and a store of
//! its own, a `redis-server` without persistence, and HAProxy in front of the two apis and the
//! two edges. Each listens on a free loopback port, can be brought down hard and up again on
//! the same port and data, and dies with the harness (`PR_SET_PDEATHSIG`).

use crate::process::Process;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts TCP connections on `port`.
async fn wait_listening(what: &str, port: u16, process: &mut Process, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = process.exited() {
            bail!("{what} exited with {status} at start\n{}", process.log_tail());
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{what} did not listen on 127.0.0.1:{port} within {within:?}\n{}", process.log_tail());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Finds an executable by name on PATH or in the usual Debian sbin folders.
pub fn find_binary(name: &str, hint: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("{name} not found on PATH or in /usr/sbin: {hint}"))
}

/// Sends `signal` to a child and reaps it.
fn signal_and_reap(process: &mut Process, signal: libc::c_int) {
    // SAFETY: kill(2) on the pid of a child we have not reaped yet.
    unsafe {
        libc::kill(process.pid() as libc::pid_t, signal);
    }
    let _ = process.child_mut().wait();
}

/// A PostgreSQL cluster of the run's own. As root, the server runs as the `postgres` user
/// (PostgreSQL refuses root).
pub struct OwnPostgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    run_as: Option<(u32, u32)>,
    process: Option<Process>,
}

impl OwnPostgres {
    /// `initdb` a fresh cluster under `dir`, start it, and create the database `canopy`.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let bin = newest_postgres_bin()?;
        let root = dir.join("postgres");
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        let run_as = if unsafe { libc::geteuid() } == 0 { Some(postgres_user()?) } else { None };
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&root, Some(uid), Some(gid)).context("chown of the postgres folder")?;
        }
        let data = root.join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb.args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "-D"]).arg(&data);
        initdb.current_dir(&root).stdout(Stdio::null());
        if let Some((uid, gid)) = run_as {
            use std::os::unix::process::CommandExt;
            initdb.uid(uid).gid(gid);
        }
        let out = initdb.output().context("running initdb")?;
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let mut pg = Self { port: free_port()?, bin, data, log: root.join("postgres.log"), run_as, process: None };
        pg.up().await?;
        let admin = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&pg.url("postgres"))
            .await
            .context("connecting to the run's own PostgreSQL")?;
        sqlx::query("CREATE DATABASE canopy").execute(&admin).await.context("creating database canopy")?;
        admin.close().await;
        Ok(pg)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts the postmaster in the foreground (a child of the harness) on the same port and data.
    pub async fn up(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new(self.bin.join("postgres"));
        command
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string(), "-h", "127.0.0.1", "-k"])
            .arg(self.data.parent().unwrap_or(&self.data))
            .args(["-c", "max_connections=300", "-c", "fsync=on"])
            .current_dir(self.data.parent().unwrap_or(&self.data))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if let Some((uid, gid)) = self.run_as {
            use std::os::unix::process::CommandExt;
            command.uid(uid).gid(gid);
        }
        let mut process = Process::spawn_appending("postgres", command, &self.log)?;
        // Crash recovery after an immediate shutdown may take a moment.
        wait_listening("postgres", self.port, &mut process, Duration::from_secs(60)).await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(2))
                .connect(&self.url("postgres"))
                .await
                .map(|pool| tokio::spawn(async move { pool.close().await }))
                .is_ok();
            if ok {
                break;
            }
            if Instant::now() > deadline {
                bail!("postgres does not accept connections\n{}", process.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.process = Some(process);
        Ok(())
    }

    /// Immediate shutdown (SIGQUIT): no checkpoint, every connection cut, crash recovery at the
    /// next start, as after a crash of the host process.
    pub fn down(&mut self) {
        if let Some(mut process) = self.process.take() {
            signal_and_reap(&mut process, libc::SIGQUIT);
        }
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.down();
    }
}

fn newest_postgres_bin() -> anyhow::Result<PathBuf> {
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("no /usr/lib/postgresql: install Debian's postgresql package")?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file()).then_some((version, bin))
        })
        .collect();
    candidates.sort();
    candidates.pop().map(|(_, bin)| bin).context("no PostgreSQL server under /usr/lib/postgresql/*/bin")
}

fn postgres_user() -> anyhow::Result<(u32, u32)> {
    let out = Command::new("id").arg("-u").arg("postgres").output().context("running id")?;
    let group = Command::new("id").arg("-g").arg("postgres").output().context("running id")?;
    if !out.status.success() || !group.status.success() {
        bail!("PostgreSQL refuses to run as root and there is no `postgres` user (install Debian's postgresql package, or run as a normal user)");
    }
    let parse = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().parse::<u32>().context("parsing id's output");
    Ok((parse(&out.stdout)?, parse(&group.stdout)?))
}

/// A nats-server with JetStream, its store in the run's folder.
pub struct OwnNats {
    pub port: u16,
    bin: PathBuf,
    store: PathBuf,
    log: PathBuf,
    process: Option<Process>,
}

impl OwnNats {
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let bin = find_binary("nats-server", "install Debian's nats-server (scripts/lib/infra.sh does)")?;
        let mut nats =
            Self { port: free_port()?, bin, store: dir.join("nats-store"), log: dir.join("nats.log"), process: None };
        nats.up().await?;
        Ok(nats)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub async fn up(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new(&self.bin);
        command
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.store)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let mut process = Process::spawn_appending("nats-server", command, &self.log)?;
        wait_listening("nats-server", self.port, &mut process, Duration::from_secs(20)).await?;
        self.process = Some(process);
        Ok(())
    }

    /// `kill -9`: JetStream recovers its file store at the next start.
    pub fn down(&mut self) {
        if let Some(mut process) = self.process.take() {
            signal_and_reap(&mut process, libc::SIGKILL);
        }
    }
}

/// A redis-server that keeps nothing on disk: after a restart it is empty, as a cache may be.
pub struct OwnRedis {
    pub port: u16,
    bin: PathBuf,
    dir: PathBuf,
    log: PathBuf,
    process: Option<Process>,
}

impl OwnRedis {
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let bin = find_binary("redis-server", "install Debian's redis-server")?;
        let redis_dir = dir.join("redis");
        std::fs::create_dir_all(&redis_dir).with_context(|| format!("creating {}", redis_dir.display()))?;
        let mut redis = Self { port: free_port()?, bin, dir: redis_dir, log: dir.join("redis.log"), process: None };
        redis.up().await?;
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn up(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new(&self.bin);
        command
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--dir"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let mut process = Process::spawn_appending("redis-server", command, &self.log)?;
        wait_listening("redis-server", self.port, &mut process, Duration::from_secs(20)).await?;
        self.process = Some(process);
        Ok(())
    }

    pub fn down(&mut self) {
        if let Some(mut process) = self.process.take() {
            signal_and_reap(&mut process, libc::SIGKILL);
        }
    }
}

/// HAProxy in front of the deployment, as an operator would put it: `/api/v0`, `/oauth/` and
/// the authorization server's metadata to the apis, everything else (the MCP endpoints) to the
/// edges; `balance roundrobin`, each request balanced on its own (`http-server-close`), health
/// checks on `/readyz` every 200 ms.
pub struct HaProxy {
    _process: Process,
}

impl HaProxy {
    pub async fn start(dir: &Path, port: u16, apis: &[(String, u16)], edges: &[(String, u16)]) -> anyhow::Result<Self> {
        let bin = find_binary("haproxy", "install Debian's haproxy (scripts/test.sh does)")?;
        let servers = |list: &[(String, u16)]| -> String {
            list.iter().map(|(name, port)| format!("    server {name} 127.0.0.1:{port}\n")).collect()
        };
        let config = format!(
            r#"global
    maxconn 2048

defaults
    mode http
    option http-server-close
    option redispatch
    retries 3
    timeout connect 1s
    timeout client 5m
    timeout server 5m
    timeout http-request 10s

frontend public
    bind 127.0.0.1:{port}
    acl to_api path_beg /api/v0 /oauth/ /.well-known/oauth-authorization-server
    use_backend apis if to_api
    default_backend edges

backend apis
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    default-server check inter 200ms fastinter 100ms downinter 200ms rise 1 fall 1
{apis}
backend edges
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    default-server check inter 200ms fastinter 100ms downinter 200ms rise 1 fall 1
{edges}"#,
            apis = servers(apis),
            edges = servers(edges),
        );
        let cfg = dir.join("haproxy.cfg");
        std::fs::write(&cfg, config).with_context(|| format!("writing {}", cfg.display()))?;
        let mut command = Command::new(bin);
        command.arg("-f").arg(&cfg).arg("-db").stdin(Stdio::null()).stdout(Stdio::null());
        let mut process = Process::spawn_appending("haproxy", command, &dir.join("haproxy.log"))?;
        wait_listening("haproxy", port, &mut process, Duration::from_secs(20)).await?;
        Ok(Self { _process: process })
    }
}

//! The Canopy deployment under chaos: each service as separate `canopy serve SERVICE`
//! processes, two of each (api, edge, worker, poller), each in a slot with a fixed loopback
//! port (so HAProxy keeps finding it) and a log that keeps every incarnation. A process is
//! killed with SIGKILL and started again after a delay; a supervisor starts again any process
//! that exits by itself (e.g. when it cannot reach Postgres at start), counting those exits.

use crate::chaos::infra::free_port;
use crate::process::Process;
use anyhow::{bail, Context};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    Api,
    Edge,
    Worker,
    Poller,
}

impl Service {
    pub const ALL: [Service; 4] = [Service::Api, Service::Edge, Service::Worker, Service::Poller];

    /// The `canopy serve` argument.
    pub fn arg(self) -> &'static str {
        match self {
            Service::Api => "api",
            Service::Edge => "edge",
            Service::Worker => "worker",
            Service::Poller => "poller",
        }
    }
}

/// One process position: a service's replica, its port, and its current incarnation.
struct Slot {
    service: Service,
    name: String,
    port: u16,
    log: PathBuf,
    process: Option<Process>,
    /// When a killed (or crashed) process is to be started again.
    restart_at: Option<Instant>,
    starts: u32,
    /// Exits the harness did not cause (a failed start, a crash).
    unexpected_exits: Vec<String>,
}

/// What a cluster's processes are given.
pub struct ClusterConfig {
    pub canopy: PathBuf,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
}

#[derive(Clone)]
pub struct Cluster {
    config: Arc<ClusterConfig>,
    slots: Arc<Mutex<Vec<Slot>>>,
}

/// A process's base URL, for health checks and direct requests.
#[derive(Clone, Debug)]
pub struct Member {
    pub name: String,
    pub service: Service,
    pub base: String,
    pub port: u16,
}

impl Cluster {
    /// Lays out two slots per service; starts nothing yet.
    pub fn new(config: ClusterConfig, replicas: usize) -> anyhow::Result<Self> {
        let mut slots = Vec::new();
        for service in Service::ALL {
            for replica in 1..=replicas {
                let name = format!("{}-{replica}", service.arg());
                let log = config.dir.join(format!("{name}.log"));
                slots.push(Slot {
                    service,
                    name,
                    port: free_port()?,
                    log,
                    process: None,
                    restart_at: None,
                    starts: 0,
                    unexpected_exits: Vec::new(),
                });
            }
        }
        Ok(Self { config: Arc::new(config), slots: Arc::new(Mutex::new(slots)) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        // A panic while holding the lock leaves plain data: keep going with it.
        self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn members(&self) -> Vec<Member> {
        self.lock()
            .iter()
            .map(|s| Member {
                name: s.name.clone(),
                service: s.service,
                base: format!("http://127.0.0.1:{}", s.port),
                port: s.port,
            })
            .collect()
    }

    pub fn members_of(&self, service: Service) -> Vec<Member> {
        self.members().into_iter().filter(|m| m.service == service).collect()
    }

    fn command(&self, slot: &Slot) -> Command {
        let mut command = Command::new(&self.config.canopy);
        command.args(["serve", slot.service.arg(), "--listen", &format!("127.0.0.1:{}", slot.port)]);
        for (key, value) in &self.config.env {
            command.env(key, value);
        }
        command
            .env_remove("RUST_LOG")
            .env_remove("CANOPY_CONFIG")
            .env_remove("CANOPY_LISTEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        command
    }

    fn start_slot(&self, slot: &mut Slot) -> anyhow::Result<()> {
        let stamp = chrono::Utc::now().format("%H:%M:%S%.3f");
        let marker = format!("\n=== chaos: start #{} of {} at {stamp} ===\n", slot.starts + 1, slot.name);
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&slot.log)
            .and_then(|mut f| std::io::Write::write_all(&mut f, marker.as_bytes()));
        let process = Process::spawn_appending(&slot.name, self.command(slot), &slot.log)?;
        slot.process = Some(process);
        slot.restart_at = None;
        slot.starts += 1;
        Ok(())
    }

    /// Starts the processes of `service` and waits until each answers /readyz.
    pub async fn start_service(&self, service: Service) -> anyhow::Result<()> {
        {
            let mut slots = self.lock();
            for slot in slots.iter_mut().filter(|s| s.service == service) {
                self.start_slot(slot)?;
            }
        }
        for member in self.members_of(service) {
            self.wait_ready(&member.name, Duration::from_secs(90)).await?;
        }
        Ok(())
    }

    /// Waits until `name` answers /readyz with 200.
    pub async fn wait_ready(&self, name: &str, within: Duration) -> anyhow::Result<Duration> {
        let member = self.members().into_iter().find(|m| m.name == name).context("no such process")?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(3)).build()?;
        let start = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", member.base)).send().await {
                if r.status().is_success() {
                    return Ok(start.elapsed());
                }
            }
            if start.elapsed() > within {
                bail!("{name} not ready within {within:?}\n{}", self.log_tail(name));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_all_ready(&self, within: Duration) -> anyhow::Result<()> {
        for member in self.members() {
            self.wait_ready(&member.name, within).await?;
        }
        Ok(())
    }

    /// `kill -9` of the process in slot `name`; it is started again after `restart_after`.
    /// False when the slot had no running process.
    pub fn kill(&self, name: &str, restart_after: Duration) -> bool {
        let mut slots = self.lock();
        let Some(slot) = slots.iter_mut().find(|s| s.name == name) else { return false };
        let Some(mut process) = slot.process.take() else { return false };
        // SAFETY: kill(2) on the pid of our own child, not reaped yet.
        unsafe {
            libc::kill(process.pid() as libc::pid_t, libc::SIGKILL);
        }
        let _ = process.child_mut().wait();
        slot.restart_at = Some(Instant::now() + restart_after);
        true
    }

    /// Names of slots whose process is running now.
    pub fn running(&self) -> Vec<(String, Service)> {
        self.lock().iter().filter(|s| s.process.is_some()).map(|s| (s.name.clone(), s.service)).collect()
    }

    /// One pass of the supervisor: reaps processes that exited by themselves and starts again
    /// those whose restart is due.
    pub fn supervise_once(&self) {
        let mut slots = self.lock();
        let now = Instant::now();
        for slot in slots.iter_mut() {
            if let Some(process) = slot.process.as_mut() {
                if let Some(status) = process.exited() {
                    slot.unexpected_exits.push(format!("{} exited by itself ({status})", slot.name));
                    slot.process = None;
                    slot.restart_at = Some(now + Duration::from_secs(1));
                }
            }
            if slot.process.is_none() && slot.restart_at.is_some_and(|at| at <= now) {
                if let Err(e) = self.start_slot(slot) {
                    slot.unexpected_exits.push(format!("{}: could not start: {e:#}", slot.name));
                    slot.restart_at = Some(now + Duration::from_secs(1));
                }
            }
        }
    }

    /// Exits the harness did not cause, per process.
    pub fn unexpected_exits(&self) -> Vec<String> {
        self.lock().iter().flat_map(|s| s.unexpected_exits.clone()).collect()
    }

    pub fn log_tail(&self, name: &str) -> String {
        let slots = self.lock();
        let Some(slot) = slots.iter().find(|s| s.name == name) else { return String::new() };
        let text = std::fs::read_to_string(&slot.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(20);
        format!("--- last lines of {} ---\n{}", slot.log.display(), lines[start..].join("\n"))
    }

    /// Kills every process now (the end of the run) and restarts none.
    pub fn stop_all(&self) {
        let mut slots = self.lock();
        for slot in slots.iter_mut() {
            slot.process = None;
            slot.restart_at = None;
        }
    }
}

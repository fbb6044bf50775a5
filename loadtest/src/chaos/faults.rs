//! The faults of a chaos run, in time order from the seed: `kill -9` of Canopy processes
//! (every service at least once, then at random among the running ones), each started again
//! after a short random delay; and, under load, one restart each of Postgres (immediate
//! shutdown), NATS and Redis (`kill -9`). While NATS is down the driver checks that each
//! edge's `/readyz` answers 503 naming `nats` and then recovers, and it deletes an MCP client
//! and deregisters a server, the removals issue 9 found lost at the edges after a NATS restart,
//! and deletes a user and suspends a tenant (as the platform operator), the identity removals
//! the edges must hear of the same way.

use crate::chaos::cluster::{Cluster, Service};
use crate::chaos::infra::{OwnNats, OwnPostgres, OwnRedis};
use crate::chaos::ledger::{CommandKind, CommandRecord, FaultRecord, Ledger};
use crate::chaos::load::Api;
use crate::chaos::rng::Rng;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Planned {
    Kill,
    Postgres,
    Nats,
    Redis,
}

pub struct Plan {
    pub kills: usize,
    pub infra_restarts: bool,
    /// Faults happen between these offsets from the run's start.
    pub from: Duration,
    pub to: Duration,
}

/// What the driver saw of the edges' `/readyz` during the NATS outage.
#[derive(Clone, Debug, Default)]
pub struct ReadyzDuringNats {
    /// Per edge: a 503 whose `checks.nats` was not ok was seen while NATS was down.
    pub saw_503_naming_nats: Vec<(String, bool)>,
    /// Per edge: seconds from NATS's return to a 200, None if not within a minute.
    pub recovered_after: Vec<(String, Option<f64>)>,
}

pub struct Infra {
    pub postgres: OwnPostgres,
    pub nats: OwnNats,
    pub redis: OwnRedis,
}

/// Names the driver removes during the NATS outage (created before the load starts).
pub struct OutageVictims {
    pub client: String,
    pub server: String,
    /// A user of the default tenant, deleted.
    pub user: String,
    /// A tenant other than the default, suspended by the operator.
    pub tenant: String,
    /// The platform operator's token (suspending is the operator's alone).
    pub operator_token: String,
}

#[allow(clippy::too_many_arguments)]
pub async fn drive(
    plan: Plan,
    seed: u64,
    cluster: Cluster,
    infra: &mut Infra,
    api: Api,
    victims: OutageVictims,
    ledger: Ledger,
    run_start: Instant,
) -> ReadyzDuringNats {
    let mut rng = Rng::derive(seed, 1);
    let mut schedule: Vec<(Duration, Planned)> = Vec::new();
    let span = plan.to.saturating_sub(plan.from).as_secs_f64();
    let spacing = span / plan.kills.max(1) as f64;
    for i in 0..plan.kills {
        let at = plan.from.as_secs_f64() + spacing * (i as f64 + rng.between(0.1, 0.9));
        schedule.push((Duration::from_secs_f64(at), Planned::Kill));
    }
    if plan.infra_restarts {
        for (fraction, what) in [(0.3, Planned::Postgres), (0.55, Planned::Nats), (0.8, Planned::Redis)] {
            let at = plan.from.as_secs_f64() + span * fraction;
            schedule.push((Duration::from_secs_f64(at), what));
        }
    }
    schedule.sort_by_key(|a| a.0);
    // Every service first, in a random order, then anything running.
    let mut first: Vec<Service> = Service::ALL.to_vec();
    let mut readyz = ReadyzDuringNats::default();
    let now = || run_start.elapsed().as_secs_f64();
    let mut earliest_next = Instant::now();
    for (at, what) in schedule {
        // A fault that took longer than planned (an outage waits for the edges) pushes the
        // next ones back rather than letting them fire all at once.
        let due = (run_start + at).max(earliest_next);
        tokio::time::sleep(due.saturating_duration_since(Instant::now())).await;
        earliest_next = Instant::now() + Duration::from_millis(rng.between(1500.0, 4000.0) as u64);
        match what {
            Planned::Kill => {
                let running = cluster.running();
                let candidates: Vec<&(String, Service)> = if first.is_empty() {
                    running.iter().collect()
                } else {
                    let service = first.remove(rng.below(first.len()));
                    let of_service: Vec<&(String, Service)> = running.iter().filter(|(_, s)| *s == service).collect();
                    if of_service.is_empty() {
                        running.iter().collect()
                    } else {
                        of_service
                    }
                };
                let Some((name, service)) = rng.pick(&candidates).map(|c| (*c).clone()) else { continue };
                let restart_after = Duration::from_secs_f64(rng.between(0.3, 2.5));
                if !cluster.kill(&name, restart_after) {
                    continue;
                }
                let index = ledger.fault(FaultRecord {
                    at: now(),
                    what: format!("kill -9 {name}"),
                    target: service.arg().to_string(),
                    back_at: None,
                });
                eprintln!("chaos: {:>6.1}s kill -9 {name} (restart in {restart_after:.1?})", now());
                let (cluster, ledger) = (cluster.clone(), ledger.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(restart_after).await;
                    if cluster.wait_ready(&name, Duration::from_secs(120)).await.is_ok() {
                        ledger.fault_back(index, run_start.elapsed().as_secs_f64());
                    }
                });
            }
            Planned::Postgres => {
                let index = ledger.fault(FaultRecord {
                    at: now(),
                    what: "restart postgres (immediate shutdown, down 4 s)".into(),
                    target: "postgres".into(),
                    back_at: None,
                });
                eprintln!("chaos: {:>6.1}s postgres down", now());
                infra.postgres.down();
                tokio::time::sleep(Duration::from_secs(4)).await;
                if let Err(e) = infra.postgres.up().await {
                    eprintln!("chaos: postgres did not come back: {e:#}");
                }
                ledger.fault_back(index, now());
                eprintln!("chaos: {:>6.1}s postgres up", now());
            }
            Planned::Nats => {
                let index = ledger.fault(FaultRecord {
                    at: now(),
                    what: "restart nats-server (kill -9, down 8 s)".into(),
                    target: "nats".into(),
                    back_at: None,
                });
                eprintln!("chaos: {:>6.1}s nats down", now());
                infra.nats.down();
                let edges = cluster.members_of(Service::Edge);
                let outage_end = Instant::now() + Duration::from_secs(8);
                let mut seen: Vec<(String, bool)> = edges.iter().map(|e| (e.name.clone(), false)).collect();
                let http = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().ok();
                // The removals of issue 9, committed while the edges cannot hear of them. Sent to
                // an api process directly: HAProxy takes every api out of rotation while NATS is
                // down (their /readyz names nats), though an api commits commands without NATS.
                let direct = cluster
                    .members_of(Service::Api)
                    .first()
                    .and_then(|m| Api::new(&m.base, &api.owner).ok())
                    .unwrap_or_else(|| api.clone());
                let removals = async {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    remove_victims(&direct, &victims, &ledger, run_start, Duration::from_secs(5)).await;
                };
                let probe = async {
                    while Instant::now() < outage_end {
                        for (edge, (_, saw)) in edges.iter().zip(seen.iter_mut()) {
                            if let Some(http) = &http {
                                if let Ok(r) = http.get(format!("{}/readyz", edge.base)).send().await {
                                    let status = r.status().as_u16();
                                    let body: serde_json::Value = r.json().await.unwrap_or_default();
                                    let nats = body["checks"]["nats"].as_str().unwrap_or("ok");
                                    if status == 503 && nats != "ok" {
                                        *saw = true;
                                    }
                                }
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                };
                tokio::join!(removals, probe);
                if let Err(e) = infra.nats.up().await {
                    eprintln!("chaos: nats did not come back: {e:#}");
                }
                let back = Instant::now();
                ledger.fault_back(index, now());
                eprintln!("chaos: {:>6.1}s nats up", now());
                readyz.saw_503_naming_nats = seen;
                for edge in &edges {
                    let recovered = cluster.wait_ready(&edge.name, Duration::from_secs(60)).await.ok();
                    readyz.recovered_after.push((edge.name.clone(), recovered.map(|_| back.elapsed().as_secs_f64())));
                }
            }
            Planned::Redis => {
                let index = ledger.fault(FaultRecord {
                    at: now(),
                    what: "restart redis-server (kill -9, down 3 s, comes back empty)".into(),
                    target: "redis".into(),
                    back_at: None,
                });
                eprintln!("chaos: {:>6.1}s redis down", now());
                infra.redis.down();
                tokio::time::sleep(Duration::from_secs(3)).await;
                if let Err(e) = infra.redis.up().await {
                    eprintln!("chaos: redis did not come back: {e:#}");
                }
                ledger.fault_back(index, now());
                eprintln!("chaos: {:>6.1}s redis up", now());
            }
        }
    }
    readyz
}

/// Deletes the victim MCP client, deregisters the victim server, deletes the victim user and
/// suspends the victim tenant, recording each; each is retried for at most `retry_for`.
pub async fn remove_victims(
    api: &Api,
    victims: &OutageVictims,
    ledger: &Ledger,
    run_start: Instant,
    retry_for: Duration,
) {
    let at = run_start.elapsed().as_secs_f64();
    let path = format!("/mcp-clients/{}", victims.client);
    let delete = reqwest::Method::DELETE;
    let (outcome, attempts) = api.until_definite_within(retry_for, delete.clone(), &path, None, None, Some(404)).await;
    ledger.command(CommandRecord {
        kind: CommandKind::DeleteClient,
        name: victims.client.clone(),
        idempotency_key: None,
        group_servers: None,
        outcome,
        attempts,
        at,
    });
    let key = uuid::Uuid::new_v4().to_string();
    let path = format!("/servers/{}", victims.server);
    let (outcome, attempts) = api.until_definite_within(retry_for, delete.clone(), &path, None, Some(&key), None).await;
    ledger.command(CommandRecord {
        kind: CommandKind::Deregister,
        name: victims.server.clone(),
        idempotency_key: Some(key),
        group_servers: None,
        outcome,
        attempts,
        at,
    });
    let at = run_start.elapsed().as_secs_f64();
    let path = format!("/users/{}", victims.user);
    let (outcome, attempts) = api.until_definite_within(retry_for, delete, &path, None, None, Some(404)).await;
    ledger.command(CommandRecord {
        kind: CommandKind::DeleteUser,
        name: victims.user.clone(),
        idempotency_key: None,
        group_servers: None,
        outcome,
        attempts,
        at,
    });
    let operator = api.with_token(&victims.operator_token);
    crate::chaos::tenants::set_suspended(&operator, &victims.tenant, true, ledger, run_start, Some(retry_for)).await;
}

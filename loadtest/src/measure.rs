//! One measurement: N MCP client sessions (one per task, so the server, not one client's
//! connection, is what is measured) each warmed up, then together making `tools/call`s until
//! a fixed number of calls is done or a time cap is hit. Per-call latency is taken around
//! `call_tool` on the client; throughput is completed calls over the wall time of the burst.

use crate::cpu::Meter;
use anyhow::{bail, Context};
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Client = RunningService<RoleClient, ()>;

pub struct Plan {
    pub concurrency: usize,
    /// Calls measured, over all sessions.
    pub calls: usize,
    /// Calls each session makes before the measurement starts.
    pub warmup: usize,
    /// The measured burst stops here even if calls remain.
    pub max_time: Duration,
    /// Reuse HTTP connections between calls. rmcp's default client (`from_uri`) opens a new
    /// TCP connection for every request.
    pub keep_alive: bool,
    /// `Authorization: Bearer` on every request (enterprise mode).
    pub bearer: Option<String>,
}

/// Whose CPU time per call is reported, in this order.
pub const CPU_PARTS: [&str; 5] = ["harness", "upstream", "canopy", "nats-server", "redis-server"];

/// The pids of each of [`CPU_PARTS`] (none: not reported).
#[derive(Clone, Default)]
pub struct Watch(pub [Vec<u32>; 5]);

/// What one measurement saw. Latencies and CPU in microseconds (CPU per call, NaN: unknown).
#[derive(Clone, Debug)]
pub struct Sample {
    pub calls: usize,
    pub errors: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub calls_per_sec: f64,
    /// CPU µs per call of each of [`CPU_PARTS`].
    pub cpu: [f64; 5],
}

pub async fn measure(url: &str, tool: &str, plan: &Plan, watch: &Watch) -> anyhow::Result<Sample> {
    let clients = futures_join(
        (0..plan.concurrency).map(|_| connect(url, plan.keep_alive, plan.bearer.as_deref())).collect::<Vec<_>>(),
    )
    .await?;
    let clients =
        futures_join(clients.into_iter().map(|client| warm_up(client, tool, plan.warmup)).collect::<Vec<_>>()).await?;

    let remaining = Arc::new(AtomicUsize::new(plan.calls));
    let meters = watch.0.clone().map(Meter::start);
    let started = Instant::now();
    let deadline = started + plan.max_time;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| {
            let remaining = remaining.clone();
            let tool = tool.to_string();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0;
                while take_one(&remaining) && Instant::now() < deadline {
                    let t = Instant::now();
                    let ok = call(&client, &tool).await.is_ok();
                    latencies.push(t.elapsed());
                    errors += usize::from(!ok);
                }
                (client, latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(plan.calls);
    let mut errors = 0;
    let mut clients = Vec::new();
    for task in tasks {
        let (client, l, e) = task.await.context("a client task panicked")?;
        latencies.extend(l);
        errors += e;
        clients.push(client);
    }
    let elapsed = started.elapsed();
    let calls = latencies.len();
    let cpu = meters.map(|m| m.per_call(calls));
    for client in clients {
        let _ = client.cancel().await;
    }
    Ok(Sample { cpu, ..summarise(latencies, errors, elapsed) })
}

/// One session, one call: succeeds when the tool answers without `isError`.
pub async fn probe(url: &str, tool: &str, bearer: Option<&str>) -> anyhow::Result<()> {
    let client = connect(url, false, bearer).await?;
    let result = call(&client, tool).await;
    let _ = client.cancel().await;
    result
}

async fn connect(url: &str, keep_alive: bool, bearer: Option<&str>) -> anyhow::Result<Client> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string());
    if let Some(token) = bearer {
        config = config.auth_header(token);
    }
    let transport = if keep_alive {
        StreamableHttpClientTransport::with_client(rmcp_reqwest::Client::new(), config)
    } else {
        StreamableHttpClientTransport::from_config(config)
    };
    ().serve(transport).await.with_context(|| format!("MCP session at {url}"))
}

async fn warm_up(client: Client, tool: &str, calls: usize) -> anyhow::Result<Client> {
    for _ in 0..calls {
        call(&client, tool).await.context("warm-up call")?;
    }
    Ok(client)
}

async fn call(client: &Client, tool: &str) -> anyhow::Result<()> {
    let mut arguments = serde_json::Map::new();
    arguments.insert("message".into(), "canopy load test".into());
    let result = client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(arguments))
        .await
        .with_context(|| format!("calling {tool}"))?;
    if result.is_error == Some(true) {
        bail!("{tool} answered isError: {:?}", result.content);
    }
    Ok(())
}

fn take_one(remaining: &AtomicUsize) -> bool {
    remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
}

async fn futures_join<T>(futures: Vec<impl std::future::Future<Output = anyhow::Result<T>>>) -> anyhow::Result<Vec<T>> {
    let mut set = Vec::with_capacity(futures.len());
    for result in futures::future::join_all(futures).await {
        set.push(result?);
    }
    Ok(set)
}

pub fn summarise(mut latencies: Vec<Duration>, errors: usize, elapsed: Duration) -> Sample {
    latencies.sort_unstable();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let micros_sorted: Vec<f64> = latencies.iter().map(|d| micros(*d)).collect();
    let at = |q: f64| nearest_rank(&micros_sorted, q);
    Sample {
        calls: latencies.len(),
        errors,
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: latencies.last().map_or(f64::NAN, |d| micros(*d)),
        calls_per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
        cpu: [f64::NAN; 5],
    }
}

/// The `q`-th quantile of `sorted` (ascending) by nearest rank: the smallest value at or above
/// the q-th fraction of the values; NaN when there are none.
pub fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The median of each statistic over repeated measurements, taken one statistic at a time.
pub fn median(samples: &[Sample]) -> Sample {
    let med = |f: fn(&Sample) -> f64| median_of(samples.iter().map(f).collect());
    Sample {
        calls: med(|s| s.calls as f64) as usize,
        errors: samples.iter().map(|s| s.errors).sum(),
        p50: med(|s| s.p50),
        p90: med(|s| s.p90),
        p99: med(|s| s.p99),
        max: med(|s| s.max),
        calls_per_sec: med(|s| s.calls_per_sec),
        cpu: std::array::from_fn(|i| median_of(samples.iter().map(|s| s.cpu[i]).collect())),
    }
}

fn median_of(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let latencies = (1..=100).map(Duration::from_micros).collect();
        let s = summarise(latencies, 0, Duration::from_secs(1));
        assert_eq!((s.p50, s.p90, s.p99, s.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(s.calls_per_sec, 100.0);
    }

    #[test]
    fn median_is_per_statistic() {
        let s = |p50, rate| Sample {
            calls: 10,
            errors: 1,
            p50,
            p90: p50,
            p99: p50,
            max: p50,
            calls_per_sec: rate,
            cpu: [f64::NAN, 1.0, f64::NAN, f64::NAN, f64::NAN],
        };
        let m = median(&[s(3.0, 10.0), s(1.0, 30.0), s(2.0, 20.0)]);
        assert_eq!((m.p50, m.calls_per_sec, m.errors), (2.0, 20.0, 3));
        assert_eq!(m.cpu[1], 1.0);
        assert!(m.cpu[0].is_nan());
    }
}

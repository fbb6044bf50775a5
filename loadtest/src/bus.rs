//! `canopy-loadtest bus`: the NATS hop of a Canopy tool call, alone. One connection requests on
//! a `calls` subject (as the edge does), another answers in the session-worker queue group (as
//! the worker does). Three modes: `plain` (request and reply only), `logged` (the answering
//! side also publishes a call record to the LOGS stream, as the worker does for every call),
//! `relayed` (logged, and the requesting side also subscribes to a subject of its own for the
//! call's progress before the request and unsubscribes after, as the edge does). Shows the floor
//! the bus puts under Canopy's overhead, and what nats-server spends per call.

use crate::cpu;
use crate::measure::summarise;
use anyhow::Context;
use canopy_bus::Bus;
use futures::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// About the size of a serialised `CallRequest` for `fx__echo`, and of its reply.
const REQUEST: &[u8] = br#"{"tenant":"default","server":"fx","server_id":"01a204e9-1777-7729-8bb7-36b1eae7219c","op":{"kind":"call_tool","tool":"echo","arguments":{"message":"canopy load test"}},"principal":"anonymous","timeout_ms":60000}"#;
const REPLY: &[u8] =
    br#"{"kind":"result","result":{"content":[{"type":"text","text":"canopy load test"}],"isError":false}}"#;
const RECORD: &[u8] = br#"{"tenant":"default","server":"fx","method":"tools/call","target":"echo","principal":"anonymous","outcome":"result","is_error":false,"latency_us":512,"at":"2026-01-01T00:00:00.000000+00:00"}"#;

pub async fn run(nats_url: &str, calls: usize, concurrency: &[usize]) -> anyhow::Result<()> {
    let prefix = canopy_testkit::unique("loadbus");
    let worker = Bus::connect(nats_url, &prefix, "canopy-loadtest worker side").await?;
    let edge = Bus::connect(nats_url, &prefix, "canopy-loadtest edge side").await?;
    worker.ensure_streams().await?;
    let outcome = measure_all(&worker, &edge, nats_url, calls, concurrency).await;
    worker.delete_streams().await;
    outcome
}

/// Returns once the server has processed everything `client` sent before (its subscriptions
/// included): a message to a fresh inbox of `client`'s own comes back only after them, since
/// a server handles one connection's protocol in order.
async fn subscribed(bus: &Bus) -> anyhow::Result<()> {
    let client = &bus.client;
    let inbox = client.new_inbox();
    let mut echo = client.subscribe(inbox.clone()).await.map_err(|e| anyhow::anyhow!("subscribing: {e}"))?;
    client.publish(inbox, Vec::new().into()).await.map_err(|e| anyhow::anyhow!("publishing: {e}"))?;
    client.flush().await.map_err(|e| anyhow::anyhow!("flushing: {e}"))?;
    tokio::time::timeout(std::time::Duration::from_secs(5), echo.next())
        .await
        .context("the NATS server did not echo within 5 s")?;
    Ok(())
}

async fn measure_all(
    worker: &Bus,
    edge: &Bus,
    nats_url: &str,
    calls: usize,
    concurrency: &[usize],
) -> anyhow::Result<()> {
    let mut subscription = worker
        .client
        .queue_subscribe(worker.subjects.calls_all(), "session-worker".into())
        .await
        .map_err(|e| anyhow::anyhow!("subscribing: {e}"))?;
    let responder_bus = worker.clone();
    let responder = tokio::spawn(async move {
        while let Some(message) = subscription.next().await {
            let Some(reply_to) = message.reply.clone() else { continue };
            let bus = responder_bus.clone();
            // Like the session-worker: a task per call, the reply, then the call record.
            tokio::spawn(async move {
                let _ = bus.client.publish(reply_to, REPLY.into()).await;
                if !message.subject.ends_with(".plain") {
                    let subject = bus.subjects.log("toolcalls", "default");
                    let _ = bus.client.publish(subject, RECORD.into()).await;
                }
            });
        }
    });
    // The subscription must have reached the server before the first request, or that request
    // finds no responders.
    subscribed(worker).await?;
    let nats: Vec<u32> = cpu::process_serving(nats_url).into_iter().collect();
    println!("NATS request/reply, {calls} calls each (nats-server CPU from /proc, all its clients included)");
    for mode in ["plain", "logged", "relayed"] {
        let subject = format!("{}.calls.default.{mode}", edge.subjects.prefix());
        for &n in concurrency {
            // Warm-up.
            for _ in 0..50 {
                edge.client.request(subject.clone(), REQUEST.into()).await.context("warm-up request")?;
            }
            let meter = cpu::Meter::start(nats.clone());
            let remaining = Arc::new(AtomicUsize::new(calls));
            let started = Instant::now();
            let tasks: Vec<_> = (0..n)
                .map(|task| {
                    let client = edge.client.clone();
                    let progress = edge.subjects.call_client(&format!("t{task}"));
                    let subject = subject.clone();
                    let remaining = remaining.clone();
                    tokio::spawn(async move {
                        let mut latencies = Vec::new();
                        let mut errors = 0;
                        while let Ok(left) =
                            remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        {
                            let t = Instant::now();
                            let relay = match mode {
                                "relayed" => client.subscribe(format!("{progress}.{left}")).await.ok(),
                                _ => None,
                            };
                            errors += usize::from(client.request(subject.clone(), REQUEST.into()).await.is_err());
                            drop(relay);
                            latencies.push(t.elapsed());
                        }
                        (latencies, errors)
                    })
                })
                .collect();
            let mut latencies = Vec::new();
            let mut errors = 0;
            for task in tasks {
                let (l, e) = task.await?;
                latencies.extend(l);
                errors += e;
            }
            let s = summarise(latencies, errors, started.elapsed());
            let cpu = meter.per_call(s.calls);
            println!(
                "{mode:>6} c={n:<3} p50 {:.0} µs  p90 {:.0} µs  p99 {:.0} µs  {:.0} calls/s  errors {}  nats-server CPU per call {cpu:.0} µs",
                s.p50, s.p90, s.p99, s.calls_per_sec, s.errors
            );
        }
    }
    responder.abort();
    Ok(())
}

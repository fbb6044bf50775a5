//! The durable consumer loop (`Durable::run`, `Durable::run_batches`) against a real NATS
//! JetStream: the acks its handlers decide, malformed messages, panics, heartbeats, handlers side
//! by side, batches, and setting itself up again when its stream is deleted and made again.

use canopy_bus::{Batching, Bus, Delivery, Durable, Handling, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Serialize, Deserialize)]
struct Work {
    n: u32,
    /// What the handler does: `ack`, `nak-once`, `term`, `panic-once`, `slow`, `fast`.
    what: String,
}

async fn bus() -> Bus {
    let bus = Bus::connect(&canopy_testkit::nats_url(), &canopy_testkit::unique("t"), "test").await.unwrap();
    bus.ensure_streams().await.unwrap();
    bus
}

fn consumer(bus: &Bus, ack_wait: Duration) -> Durable<'static> {
    Durable {
        stream: bus.subjects.logs_stream(),
        name: "test-loop",
        filter_subject: bus.subjects.log("work", "*"),
        ack_wait,
        max_ack_pending: 0,
    }
}

/// Runs the test consumer with `handler` in a task of its own.
fn start<H, F>(
    bus: &Bus,
    ack_wait: Duration,
    stop: CancellationToken,
    handling: Handling,
    handler: H,
) -> tokio::task::JoinHandle<()>
where
    H: Fn(Work, Delivery) -> F + Send + Sync + 'static,
    F: std::future::Future<Output = Outcome> + Send + 'static,
{
    let bus = bus.clone();
    tokio::spawn(async move { consumer(&bus, ack_wait).run(&bus, stop, handling, handler).await })
}

async fn publish(bus: &Bus, n: u32, what: &str) {
    let payload = serde_json::to_vec(&Work { n, what: what.into() }).unwrap();
    bus.publish_durable(bus.subjects.log("work", "t"), &format!("{n}-{what}"), payload).await.unwrap();
}

/// Stops the loop, which must return at once, and deletes the test's streams.
async fn finish(bus: Bus, stop: CancellationToken, running: tokio::task::JoinHandle<()>) {
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), running).await.expect("the loop stops at shutdown").unwrap();
    bus.delete_streams().await;
}

/// Waits (up to 20 s) until `done`.
async fn until(what: &str, done: impl Fn() -> bool) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("waited in vain for {what}"));
}

/// How often the handler has seen each message.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<HashMap<u32, usize>>>);

impl Seen {
    /// Counts `n` and says how often it was seen before.
    fn count(&self, n: u32) -> usize {
        let mut seen = self.0.lock().unwrap();
        let times = seen.entry(n).or_default();
        *times += 1;
        *times - 1
    }
    fn times(&self, n: u32) -> usize {
        self.0.lock().unwrap().get(&n).copied().unwrap_or(0)
    }
    async fn wait(&self, n: u32, times: usize) {
        until(&format!("message {n} seen {times} times"), || self.times(n) >= times).await;
    }
}

/// Messages the consumer handed out and no one settled yet.
async fn unsettled(bus: &Bus) -> usize {
    let stream = bus.jetstream.get_stream(bus.subjects.logs_stream()).await.unwrap();
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = stream.get_consumer("test-loop").await.unwrap();
    consumer.info().await.unwrap().num_ack_pending
}

#[tokio::test]
async fn the_handlers_outcome_is_the_ack_and_malformed_messages_never_reach_it() {
    let bus = bus().await;
    let seen = Seen::default();
    let stop = CancellationToken::new();
    let handler = {
        let seen = seen.clone();
        move |work: Work, delivery: Delivery| {
            let before = seen.count(work.n);
            assert!(delivery.sequence > 0 && delivery.subject.ends_with(".t"), "{delivery:?}");
            async move {
                match (work.what.as_str(), before) {
                    ("nak-once", 0) => Outcome::Nak(Duration::from_millis(100)),
                    ("panic-once", 0) => panic!("a handler that fails its first time"),
                    ("term", _) => Outcome::Term,
                    _ => Outcome::Ack,
                }
            }
        }
    };
    // ack_wait 1 s: a panicked handler's message comes back after it.
    let running = start(&bus, Duration::from_secs(1), stop.clone(), Handling::default(), handler);
    publish(&bus, 1, "nak-once").await;
    publish(&bus, 2, "term").await;
    bus.publish_durable(bus.subjects.log("work", "t"), "junk", b"not json".to_vec()).await.unwrap();
    publish(&bus, 3, "panic-once").await;
    publish(&bus, 4, "ack").await;

    seen.wait(1, 2).await;
    seen.wait(3, 2).await;
    seen.wait(4, 1).await;
    // Longer than ack_wait: nothing settled comes back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let counts = [1, 2, 3, 4].map(|n| seen.times(n));
    assert_eq!(counts, [2, 1, 2, 1], "nak: twice; term: once; panic: again; ack: once");
    assert_eq!(unsettled(&bus).await, 0, "the malformed message is settled too");
    finish(bus, stop, running).await;
}

#[tokio::test]
async fn handlers_run_side_by_side_and_heartbeats_keep_a_long_one_from_redelivery() {
    let bus = bus().await;
    let seen = Seen::default();
    let fast_done = Arc::new(tokio::sync::Notify::new());
    let stop = CancellationToken::new();
    let handler = {
        let (seen, fast_done) = (seen.clone(), fast_done.clone());
        move |work: Work, _: Delivery| {
            seen.count(work.n);
            let fast_done = fast_done.clone();
            async move {
                if work.what == "slow" {
                    // Done only after the fast one, which comes later: not one after the other.
                    fast_done.notified().await;
                    // Three times ack_wait, kept alive by heartbeats.
                    tokio::time::sleep(Duration::from_secs(3)).await;
                } else {
                    fast_done.notify_one();
                }
                Outcome::Ack
            }
        }
    };
    let handling = Handling { concurrency: 4, heartbeat: Some(Duration::from_millis(250)) };
    let running = start(&bus, Duration::from_secs(1), stop.clone(), handling, handler);
    publish(&bus, 1, "slow").await;
    publish(&bus, 2, "fast").await;
    seen.wait(2, 1).await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while unsettled(&bus).await > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("both settled");
    assert_eq!([seen.times(1), seen.times(2)], [1, 1], "the slow one was not redelivered while it ran");
    finish(bus, stop, running).await;
}

#[tokio::test]
async fn batches_gather_what_arrived_and_settle_each_message() {
    let bus = bus().await;
    for n in 1..=5 {
        publish(&bus, n, "ack").await;
    }
    let batches = Arc::new(Mutex::new(Vec::new()));
    let stop = CancellationToken::new();
    let handler = {
        let batches = batches.clone();
        move |batch: Vec<(Work, Delivery)>| {
            let ns: Vec<u32> = batch.iter().map(|(w, _)| w.n).collect();
            let first = batches.lock().unwrap().is_empty();
            batches.lock().unwrap().push(ns.clone());
            // The first time, message 3 is not done yet.
            async move {
                ns.iter().map(|&n| if first && n == 3 { Outcome::Nak(Duration::ZERO) } else { Outcome::Ack }).collect()
            }
        }
    };
    let batching = Batching { max: 10, linger: Duration::from_millis(300) };
    let running = {
        let (bus, stop) = (bus.clone(), stop.clone());
        tokio::spawn(async move {
            consumer(&bus, Duration::from_secs(5)).run_batches(&bus, stop, Handling::default(), batching, handler).await
        })
    };
    until("two batches", || batches.lock().unwrap().len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(*batches.lock().unwrap(), [vec![1, 2, 3, 4, 5], vec![3]]);
    assert_eq!(unsettled(&bus).await, 0);
    finish(bus, stop, running).await;
}

#[tokio::test]
async fn the_loop_sets_its_consumer_up_again_when_the_stream_is_deleted_and_made_again() {
    let bus = bus().await;
    let seen = Seen::default();
    let stop = CancellationToken::new();
    let handler = {
        let seen = seen.clone();
        move |work: Work, _: Delivery| {
            seen.count(work.n);
            async { Outcome::Ack }
        }
    };
    let running = start(&bus, Duration::from_secs(5), stop.clone(), Handling::default(), handler);
    publish(&bus, 1, "ack").await;
    seen.wait(1, 1).await;
    bus.jetstream.delete_stream(bus.subjects.logs_stream()).await.unwrap();
    // A moment without the stream: setting the consumer up fails meanwhile.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    bus.ensure_streams().await.unwrap();
    publish(&bus, 2, "ack").await;
    seen.wait(2, 1).await;
    finish(bus, stop, running).await;
}

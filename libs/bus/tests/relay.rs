//! The outbox relay against real PostgreSQL and NATS JetStream, dying at its worst moment, and
//! the follower of the event stream.

use canopy_bus::{Bus, OutboxRelay, RelayOptions};
use canopy_domain::TenantId;
use canopy_eventstore::{EventMetadata, EventStore, NewEvent, StoredEvent, StreamKey};
use futures::StreamExt;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const EVENTS: usize = 120;

async fn seed(pool: &sqlx::PgPool) -> Vec<uuid::Uuid> {
    let tenant = TenantId::default_tenant();
    let mut ids = Vec::new();
    for i in 0..EVENTS {
        // 12 streams of 10 events each
        let key = StreamKey { tenant: tenant.clone(), aggregate_type: "test", aggregate_id: format!("s{}", i % 12) };
        let mut tx = pool.begin().await.unwrap();
        let event = NewEvent { event_type: "test.happened", schema_version: 1, payload: serde_json::json!({ "i": i }) };
        let stored =
            EventStore::append(&mut tx, &key, (i / 12) as i64, &[event], &EventMetadata::default()).await.unwrap();
        tx.commit().await.unwrap();
        ids.push(stored[0].event_id);
    }
    ids
}

async fn bus(prefix: &str) -> Bus {
    let bus = Bus::connect(&canopy_testkit::nats_url(), prefix, "test").await.unwrap();
    bus.ensure_streams().await.unwrap();
    bus
}

async fn stream_message_ids(bus: &Bus) -> Vec<uuid::Uuid> {
    let mut tail = Vec::new();
    let stream = bus.jetstream.get_stream(bus.subjects.events_stream()).await.unwrap();
    let consumer =
        stream.create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default()).await.unwrap();
    let count = stream.get_info().await.unwrap().state.messages as usize;
    let mut messages = consumer.messages().await.unwrap().take(count);
    while let Some(m) = messages.next().await {
        let e: StoredEvent = serde_json::from_slice(&m.unwrap().payload).unwrap();
        tail.push(e.event_id);
    }
    tail
}

async fn outbox_len(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_as::<_, (i64,)>("SELECT count(*) FROM outbox").fetch_one(pool).await.unwrap().0
}

#[tokio::test]
async fn relay_killed_mid_publish_loses_nothing_and_duplicates_nothing() {
    let db = canopy_testkit::fresh_database().await;
    let bus = bus(&canopy_testkit::unique("t")).await;
    let ids = seed(&db.pool).await;

    // First relay dies after publishing 50 events, before removing them from the outbox.
    let options = RelayOptions { batch: 32, die_after_publishing: Some(50), poll_interval: Duration::from_millis(100) };
    OutboxRelay::new(db.pool.clone(), bus.clone(), options).run(CancellationToken::new()).await;
    let left = outbox_len(&db.pool).await;
    assert!(left > (EVENTS - 50) as i64, "the dying batch stays in the outbox: {left}");

    // A new relay republishes from the outbox; JetStream drops the duplicates by event id.
    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(
        OutboxRelay::new(
            db.pool.clone(),
            bus.clone(),
            RelayOptions { poll_interval: Duration::from_millis(100), ..Default::default() },
        )
        .run(shutdown.clone()),
    );
    tokio::time::timeout(Duration::from_secs(20), async {
        while outbox_len(&db.pool).await > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("outbox drained");
    shutdown.cancel();
    relay.await.unwrap();

    let published = stream_message_ids(&bus).await;
    assert_eq!(published.len(), EVENTS, "each event exactly once in the stream");
    assert_eq!(published.iter().collect::<HashSet<_>>(), ids.iter().collect::<HashSet<_>>());
    // Within a stream (aggregate), order is version order.
    let mut seen = std::collections::HashMap::new();
    for id in &published {
        let pos = ids.iter().position(|x| x == id).unwrap();
        let last = seen.insert(pos % 12, pos);
        assert!(last.is_none_or(|l| l < pos), "per-stream order kept");
    }
    bus.delete_streams().await;
}

/// A follower of one test stream that records what it saw and how often it resynced.
#[derive(Default)]
struct Recorder {
    resyncs: std::sync::atomic::AtomicUsize,
    seen: std::sync::Mutex<Vec<i64>>,
}

impl canopy_bus::Follower for Recorder {
    async fn resync(&self) -> Result<(), canopy_bus::FollowError> {
        self.resyncs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
    fn apply(&self, event: &StoredEvent) -> bool {
        self.seen.lock().unwrap().push(event.version);
        true
    }
}

#[tokio::test]
async fn an_event_larger_than_the_bus_takes_does_not_block_the_outbox_and_followers_resync() {
    let db = canopy_testkit::fresh_database().await;
    let bus = bus(&canopy_testkit::unique("t")).await;
    let shutdown = CancellationToken::new();
    let recorder = Arc::new(Recorder::default());
    let in_step = canopy_bus::InStep::default();
    tokio::spawn(canopy_bus::follow(
        bus.clone(),
        bus.subjects.events_all(),
        recorder.clone(),
        in_step.clone(),
        shutdown.clone(),
    ));
    tokio::time::timeout(Duration::from_secs(10), in_step.wait()).await.expect("in step");

    // Three events of one stream; the middle one is larger than NATS's max_payload.
    let tenant = TenantId::default_tenant();
    let key = StreamKey { tenant, aggregate_type: "test", aggregate_id: "big".into() };
    let limit = bus.client.server_info().max_payload;
    for (version, size) in [(0, 10), (1, limit + 1024), (2, 10)] {
        let mut tx = db.pool.begin().await.unwrap();
        let payload = serde_json::json!({ "blob": "x".repeat(size) });
        let event = NewEvent { event_type: "test.happened", schema_version: 1, payload };
        EventStore::append(&mut tx, &key, version, &[event], &EventMetadata::default()).await.unwrap();
        tx.commit().await.unwrap();
    }
    let relay = tokio::spawn(
        OutboxRelay::new(
            db.pool.clone(),
            bus.clone(),
            RelayOptions { poll_interval: Duration::from_millis(100), ..Default::default() },
        )
        .run(shutdown.clone()),
    );
    tokio::time::timeout(Duration::from_secs(20), async {
        while outbox_len(&db.pool).await > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the outbox drains past the oversized event");
    assert!(bus.is_connected(), "the relay's connection survived");
    // The follower saw the small events, and resynced from the log for the stub.
    tokio::time::timeout(Duration::from_secs(10), async {
        while recorder.resyncs.load(std::sync::atomic::Ordering::SeqCst) < 2 || !in_step.get() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("a resync after the stub");
    let seen = recorder.seen.lock().unwrap().clone();
    assert!(seen.contains(&1) && !seen.contains(&2), "the stub is never applied as an event: {seen:?}");
    shutdown.cancel();
    let _ = relay.await;
    bus.delete_streams().await;
}

//! The bus between Canopy's services, on NATS JetStream:
//! - `EVENTS`: every committed domain event, published by the outbox relay, deduplicated by
//!   event id (`Nats-Msg-Id`), fanned out to every interested service;
//! - `COMMANDS`: a work queue of commands one service asks another to carry out;
//! - `LOGS`: high-volume records (tool calls, later job logs) that are not aggregates;
//! - core NATS request/reply for tool calls, which are latency-bound and need no persistence.
//!
//! Every subject and stream name starts with a configurable prefix, so several deployments (or
//! tests) share one NATS server without seeing each other.

pub mod calls;
pub mod consumer;
pub mod follow;
pub mod payload;
pub mod relay;
mod subjects;

pub use consumer::{tail_events, Batching, Delivery, Durable, Handling, Outcome};
pub use follow::{follow, ConnectionState, FollowError, Follower, InStep};
pub use relay::{OutboxRelay, RelayOptions};
pub use subjects::Subjects;

use async_nats::jetstream::{self, stream};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot connect to NATS at {url} (set CANOPY_NATS_URL or nats.url, and check nats-server runs with JetStream: -js)")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error("JetStream stream {stream} cannot be created or updated (is JetStream enabled on the server?)")]
    Stream {
        stream: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("publishing to {subject} failed")]
    Publish {
        subject: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("consumer {consumer} failed")]
    Consumer {
        consumer: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A connection to NATS with Canopy's naming applied. Cheap to clone (one reference count):
/// every request of an edge clones it several times.
#[derive(Clone)]
pub struct Bus(std::sync::Arc<BusParts>);

pub struct BusParts {
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
    pub subjects: Subjects,
    /// Whether the client is connected, and how many times it reconnected.
    connection: tokio::sync::watch::Receiver<ConnectionState>,
    /// The session-worker running in this process, if one does and takes calls directly
    /// ([`calls::LocalWorker`]): shared by every clone of this bus.
    local_worker: calls::LocalWorkerSlot,
    /// The callers in this process waiting on calls sent to that worker ([`calls::LocalCallers`]).
    local_callers: calls::LocalCallersSlot,
    /// This process's call records on their way to the LOGS stream ([`calls::record`]).
    records: std::sync::OnceLock<calls::RecordQueue>,
}

impl std::ops::Deref for Bus {
    type Target = BusParts;
    fn deref(&self) -> &BusParts {
        &self.0
    }
}

impl Bus {
    pub async fn connect(url: &str, prefix: &str, name: &str) -> Result<Self, BusError> {
        let (state_tx, connection) = ConnectionState::watch();
        let state_tx = std::sync::Arc::new(state_tx);
        let client = async_nats::ConnectOptions::new()
            .name(name)
            .event_callback(move |event| {
                let state_tx = state_tx.clone();
                async move {
                    state_tx.send_if_modified(|now| {
                        let next = now.after(&event);
                        std::mem::replace(now, next) != next
                    });
                }
            })
            // Calls carry their own timeout; this only bounds a request nobody set one for.
            .request_timeout(Some(Duration::from_secs(600)))
            .connection_timeout(Duration::from_secs(5))
            // Back within a second of the server (the client's default waits up to 4 s): caches
            // resync on reconnection, and calls wait for it.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(50u64 << attempts.min(5) as u32).min(Duration::from_secs(1))
            })
            .connect(url)
            .await
            .map_err(|source| BusError::Connect { url: canopy_config::redact_url(url), source })?;
        Ok(Self(std::sync::Arc::new(BusParts {
            jetstream: jetstream::new(client.clone()),
            client,
            subjects: Subjects::new(prefix),
            connection,
            local_worker: Default::default(),
            local_callers: Default::default(),
            records: Default::default(),
        })))
    }

    /// A bus over a client connected elsewhere (tests), whose reconnections are not followed.
    pub fn from_client(client: async_nats::Client, prefix: &str) -> Self {
        let (_, connection) = ConnectionState::watch();
        Self(std::sync::Arc::new(BusParts {
            jetstream: jetstream::new(client.clone()),
            client,
            subjects: Subjects::new(prefix),
            connection,
            local_worker: Default::default(),
            local_callers: Default::default(),
            records: Default::default(),
        }))
    }

    /// Lets `worker` take the calls sent on this bus (and its clones) in this process, without
    /// NATS; `None` sends them over NATS again. See [`calls::LocalWorker`].
    pub fn set_local_worker(&self, worker: Option<std::sync::Arc<dyn calls::LocalWorker>>) {
        *self.local_worker.write().unwrap_or_else(|e| e.into_inner()) = worker;
    }

    /// The session-worker of this process that takes calls directly, if any.
    pub fn local_worker(&self) -> Option<std::sync::Arc<dyn calls::LocalWorker>> {
        self.local_worker.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Lets `callers` take, in this process, what a worker of this process says to them while
    /// their calls run (see [`calls::to_client`]); `None` sends it over NATS again.
    pub fn set_local_callers(&self, callers: Option<std::sync::Arc<dyn calls::LocalCallers>>) {
        *self.local_callers.write().unwrap_or_else(|e| e.into_inner()) = callers;
    }

    /// The callers of this process that take their calls' messages directly, if any.
    pub fn local_callers(&self) -> Option<std::sync::Arc<dyn calls::LocalCallers>> {
        self.local_callers.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The connection's state, changing as it drops and comes back.
    pub fn connection(&self) -> tokio::sync::watch::Receiver<ConnectionState> {
        self.connection.clone()
    }

    /// Creates the three streams if they are missing. Idempotent; run by every service at start.
    pub async fn ensure_streams(&self) -> Result<(), BusError> {
        let s = &self.subjects;
        let configs = [
            stream::Config {
                name: s.events_stream(),
                subjects: vec![s.events_all()],
                retention: stream::RetentionPolicy::Limits,
                storage: stream::StorageType::File,
                // Redelivery from the outbox after a relay crash falls within this window.
                duplicate_window: Duration::from_secs(60 * 60),
                max_age: Duration::from_secs(30 * 24 * 60 * 60),
                ..Default::default()
            },
            stream::Config {
                name: s.commands_stream(),
                subjects: vec![s.commands_all()],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(10 * 60),
                ..Default::default()
            },
            stream::Config {
                name: s.logs_stream(),
                subjects: vec![s.logs_all()],
                retention: stream::RetentionPolicy::Limits,
                storage: stream::StorageType::File,
                max_age: Duration::from_secs(7 * 24 * 60 * 60),
                ..Default::default()
            },
        ];
        for config in configs {
            let name = config.name.clone();
            self.jetstream
                .get_or_create_stream(config)
                .await
                .map_err(|e| BusError::Stream { stream: name, source: Box::new(e) })?;
        }
        Ok(())
    }

    /// Publishes to a JetStream subject with a message id (deduplicated within the stream's
    /// window) and waits for the stream's acknowledgement.
    pub async fn publish_durable(&self, subject: String, msg_id: &str, payload: Vec<u8>) -> Result<u64, BusError> {
        let publish = jetstream::context::Publish::build().payload(payload.into()).message_id(msg_id);
        let err =
            |e: Box<dyn std::error::Error + Send + Sync>| BusError::Publish { subject: subject.clone(), source: e };
        let ack = self.jetstream.send_publish(subject.clone(), publish).await.map_err(|e| err(Box::new(e)))?;
        let ack = ack.await.map_err(|e| err(Box::new(e)))?;
        Ok(ack.sequence)
    }

    /// Deletes this prefix's streams: for tests and for tearing a deployment down.
    pub async fn delete_streams(&self) {
        let s = &self.subjects;
        for name in [s.events_stream(), s.commands_stream(), s.logs_stream()] {
            let _ = self.jetstream.delete_stream(&name).await;
        }
    }

    /// True when the client holds a live connection to the server.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

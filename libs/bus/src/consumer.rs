//! Consuming JetStream streams.
//! - [`Durable`]: a durable pull consumer shared by every replica of a service (each message
//!   goes to one of them), with explicit acks, and THE loop that runs one: [`Durable::run`] (a
//!   handler per message) and [`Durable::run_batches`] (a handler per batch). Every service
//!   takes its work from a stream through it.
//! - [`tail_events`]: an ephemeral ordered consumer from "now", for in-memory caches that load
//!   a snapshot after subscribing and apply events idempotently.
//!
//! What the loop promises, until `shutdown`:
//! - The consumer is set up (created, or updated when its `ack_wait` changed), and set up again
//!   [`RESTART_PAUSE`] after the set-up fails, the server deletes it (or its stream), JetStream
//!   does not answer its pulls, or its message stream ends: a service never has to restart a
//!   consumer itself. Unacked messages of a dropped stream are redelivered after `ack_wait`.
//! - Each message's payload is decoded as JSON into the handler's type. One that does not decode,
//!   or an event the bus carried only as a stub ([`crate::relay::OVERSIZED_HEADER`]), is logged
//!   with the consumer's name and terminated ([`Outcome::Term`]): it is never handed to a handler.
//! - The handler decides each message's [`Outcome`]: `Ack`, `Nak` (redelivered after the delay)
//!   or `Term` (never redelivered); the loop sends it. A failed ack, a receive error and a handler
//!   that panics are logged with the consumer's name; a panicked handler's messages are not
//!   acked, so JetStream redelivers them after `ack_wait`.
//! - Handlers run as tasks of their own, at most [`Handling::concurrency`] at once (1: strictly
//!   one after the other, the next message taken once the previous one is settled); with
//!   [`Handling::heartbeat`], a running handler's messages are reported in progress
//!   (`AckKind::Progress`) that often, so a short `ack_wait` redelivers only a dead replica's work.
//! - At shutdown the loop takes nothing more and drops the handlers still running, unacked:
//!   JetStream redelivers their messages after `ack_wait`, as after a crash. A handler must
//!   therefore be idempotent by a key of its message (the event, the report, the call id): a
//!   message can always come twice.
//!
//! Batches (the audit consumer: one insert for many call records) are the same loop:
//! [`Durable::run`] is [`Durable::run_batches`] with batches of one, so set-up, restart,
//! decoding, heartbeats and acks are one piece of code. A batch is what has arrived within
//! [`Batching::linger`] of its first message, up to [`Batching::max`]; its handler answers one
//! outcome per message, in order.

use crate::{Bus, BusError};
use async_nats::jetstream::consumer::pull::{self, MessagesErrorKind};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy};
use async_nats::jetstream::{AckKind, Message};
use canopy_eventstore::StoredEvent;
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long the loop waits before setting a consumer up again.
pub const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// A durable pull consumer shared by every replica of a service (each message goes to one of
/// them), with explicit acks: how Canopy's services take work from a stream.
pub struct Durable<'a> {
    pub stream: String,
    pub name: &'a str,
    pub filter_subject: String,
    /// How long JetStream waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Messages handed out and not yet acked, at most (0: the server's default).
    pub max_ack_pending: i64,
}

/// What becomes of a message once its handler is done with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done: not delivered again.
    Ack,
    /// Not done: delivered again (to any replica) after the delay.
    Nak(Duration),
    /// Never to be done (malformed, refused for good): not delivered again.
    Term,
}

impl Outcome {
    fn kind(self) -> AckKind {
        match self {
            Outcome::Ack => AckKind::Ack,
            Outcome::Nak(delay) => AckKind::Nak(Some(delay)),
            Outcome::Term => AckKind::Term,
        }
    }
}

/// Where a message was in its stream, for the handler's logs and checks.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub subject: async_nats::Subject,
    /// The message's stream sequence (0 if the server did not say).
    pub sequence: u64,
}

/// How the loop runs its handlers.
#[derive(Debug, Clone, Copy)]
pub struct Handling {
    /// Handlers (of messages, or of batches) running at once, at most. 1 handles the stream in
    /// order, one message (or batch) settled before the next is taken. A bound above 1 should
    /// not be below the consumer's `max_ack_pending`, or messages wait in the client's buffer
    /// while their `ack_wait` runs.
    pub concurrency: usize,
    /// While a handler runs, its messages are reported in progress this often (`+WPI`), so a
    /// handler may take longer than `ack_wait`; it should be well within `ack_wait`.
    pub heartbeat: Option<Duration>,
}

impl Default for Handling {
    fn default() -> Self {
        Self { concurrency: 1, heartbeat: None }
    }
}

/// How [`Durable::run_batches`] gathers a batch.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// Messages in one batch, at most.
    pub max: usize,
    /// How long a batch waits for more messages after its first.
    pub linger: Duration,
}

fn consumer_err(name: &str, e: impl std::error::Error + Send + Sync + 'static) -> BusError {
    BusError::Consumer { consumer: name.to_string(), source: Box::new(e) }
}

impl Durable<'_> {
    /// Creates the consumer, or takes the existing one (updated if its `ack_wait` changed), and
    /// opens its message stream.
    async fn messages(&self, bus: &Bus) -> Result<pull::Stream, BusError> {
        let name = self.name;
        let stream = bus.jetstream.get_stream(&self.stream).await.map_err(|e| consumer_err(name, e))?;
        let mut config = pull::Config {
            durable_name: Some(name.to_string()),
            filter_subject: self.filter_subject.clone(),
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        };
        if self.max_ack_pending > 0 {
            config.max_ack_pending = self.max_ack_pending;
        }
        let mut consumer = stream
            .get_or_create_consumer::<pull::Config>(name, config.clone())
            .await
            .map_err(|e| consumer_err(name, e))?;
        // A consumer created by an earlier version keeps its config unless told otherwise.
        if consumer.cached_info().config.ack_wait != self.ack_wait {
            consumer = stream.update_consumer(config).await.map_err(|e| consumer_err(name, e))?;
        }
        consumer.messages().await.map_err(|e| consumer_err(name, e))
    }

    /// Runs the consumer until `shutdown`, handing each message, decoded, to `handler`, and
    /// settling it as the handler answers (see the module's promises).
    pub async fn run<T, H, F>(self, bus: &Bus, shutdown: CancellationToken, handling: Handling, handler: H)
    where
        T: DeserializeOwned + Send + 'static,
        H: Fn(T, Delivery) -> F + Send + Sync + 'static,
        F: Future<Output = Outcome> + Send + 'static,
    {
        let one = Batching { max: 1, linger: Duration::ZERO };
        self.run_batches(bus, shutdown, handling, one, move |batch: Vec<(T, Delivery)>| {
            let handled = batch.into_iter().next().map(|(message, delivery)| handler(message, delivery));
            async move {
                match handled {
                    Some(handled) => vec![handled.await],
                    None => Vec::new(),
                }
            }
        })
        .await
    }

    /// Runs the consumer until `shutdown`, handing what has arrived together (see [`Batching`])
    /// to `handler`, which answers an outcome for each message of the batch, in order; a message
    /// it answers none for is left unacked (redelivered after `ack_wait`).
    pub async fn run_batches<T, H, F>(
        self,
        bus: &Bus,
        shutdown: CancellationToken,
        handling: Handling,
        batching: Batching,
        handler: H,
    ) where
        T: DeserializeOwned + Send + 'static,
        H: Fn(Vec<(T, Delivery)>) -> F + Send + Sync + 'static,
        F: Future<Output = Vec<Outcome>> + Send + 'static,
    {
        let run = Run {
            name: Arc::from(self.name),
            handling: Handling { concurrency: handling.concurrency.max(1), ..handling },
            batching: Batching { max: batching.max.max(1), ..batching },
            handler: Arc::new(handler),
        };
        let mut running = JoinSet::new();
        loop {
            let set_up = tokio::select! {
                _ = shutdown.cancelled() => return,
                set_up = self.messages(bus) => set_up,
            };
            match set_up {
                Ok(messages) => {
                    if let Err(Stopped) = run.take(messages, &shutdown, &mut running).await {
                        return;
                    }
                }
                Err(e) => {
                    let source = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default();
                    tracing::warn!(consumer = %run.name, error = %e, %source, "setting up the consumer failed; trying again");
                }
            }
            let pause = tokio::time::sleep(RESTART_PAUSE);
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = &mut pause => break,
                    Some(done) = running.join_next() => run.reap(done),
                }
            }
        }
    }
}

/// The loop was told to stop.
struct Stopped;

/// One consumer's loop: its name, how it handles, its handler.
struct Run<H> {
    name: Arc<str>,
    handling: Handling,
    batching: Batching,
    handler: Arc<H>,
}

impl<H> Run<H> {
    /// Takes messages from `messages` into handlers until shutdown (`Err`) or until the message
    /// stream cannot go on (`Ok`: set the consumer up again).
    async fn take<T, F>(
        &self,
        messages: pull::Stream,
        shutdown: &CancellationToken,
        running: &mut JoinSet<()>,
    ) -> Result<(), Stopped>
    where
        T: DeserializeOwned + Send + 'static,
        H: Fn(Vec<(T, Delivery)>) -> F + Send + Sync + 'static,
        F: Future<Output = Vec<Outcome>> + Send + 'static,
    {
        let mut messages = std::pin::pin!(messages);
        loop {
            // Room for one more handler first.
            while running.len() >= self.handling.concurrency {
                tokio::select! {
                    _ = shutdown.cancelled() => return Err(Stopped),
                    Some(done) = running.join_next() => self.reap(done),
                }
            }
            let first = tokio::select! {
                _ = shutdown.cancelled() => return Err(Stopped),
                Some(done) = running.join_next() => {
                    self.reap(done);
                    continue;
                }
                next = messages.next() => next,
            };
            let mut batch = Vec::new();
            let mut go_on = self.received(first, &mut batch);
            if go_on && !batch.is_empty() {
                let linger = tokio::time::Instant::now() + self.batching.linger;
                while go_on && batch.len() < self.batching.max {
                    match tokio::time::timeout_at(linger, messages.next()).await {
                        Ok(next) => go_on = self.received(next, &mut batch),
                        Err(_) => break,
                    }
                }
            }
            self.dispatch(batch, running).await;
            if !go_on {
                return Ok(());
            }
        }
    }

    /// Adds a received message to `batch`; logs a receive error. False when the message stream
    /// cannot go on: it ended, or its consumer is gone (deleted, or JetStream does not answer
    /// its pulls); a missed heartbeat or a failed pull request is retried by the stream itself.
    fn received(&self, next: Option<Result<Message, pull::MessagesError>>, batch: &mut Vec<Message>) -> bool {
        match next {
            Some(Ok(message)) => {
                batch.push(message);
                true
            }
            None => {
                tracing::warn!(consumer = %self.name, "the consumer's messages ended; setting it up again");
                false
            }
            Some(Err(e)) => {
                let fatal = matches!(
                    e.kind(),
                    MessagesErrorKind::ConsumerDeleted
                        | MessagesErrorKind::NoResponders
                        | MessagesErrorKind::PushBasedConsumer
                );
                if fatal {
                    tracing::warn!(consumer = %self.name, error = %e, "receiving failed; setting the consumer up again");
                } else {
                    tracing::warn!(consumer = %self.name, error = %e, "receiving failed");
                }
                !fatal
            }
        }
    }

    /// Decodes a batch and starts its handler (with heartbeats), which settles it when done.
    async fn dispatch<T, F>(&self, batch: Vec<Message>, running: &mut JoinSet<()>)
    where
        T: DeserializeOwned + Send + 'static,
        H: Fn(Vec<(T, Delivery)>) -> F + Send + Sync + 'static,
        F: Future<Output = Vec<Outcome>> + Send + 'static,
    {
        let mut kept = Vec::with_capacity(batch.len());
        let mut decoded = Vec::with_capacity(batch.len());
        for message in batch {
            let delivery = Delivery {
                subject: message.subject.clone(),
                sequence: message.info().map(|i| i.stream_sequence).unwrap_or_default(),
            };
            let (name, sequence, subject) = (&self.name, delivery.sequence, &delivery.subject);
            if message.headers.as_ref().is_some_and(|h| h.get(crate::relay::OVERSIZED_HEADER).is_some()) {
                tracing::error!(consumer = %name, sequence, %subject, "dropping an event the bus carried only as a stub (it is in the log)");
                settle(name, &message, Outcome::Term).await;
                continue;
            }
            match serde_json::from_slice::<T>(&message.payload) {
                Ok(value) => {
                    decoded.push((value, delivery));
                    kept.push(message);
                }
                Err(e) => {
                    tracing::error!(consumer = %name, sequence, %subject, error = %e, "dropping a malformed message");
                    settle(name, &message, Outcome::Term).await;
                }
            }
        }
        if kept.is_empty() {
            return;
        }
        let (handler, name, heartbeat) = (self.handler.clone(), self.name.clone(), self.handling.heartbeat);
        running.spawn(async move {
            // Called in the task, so a handler that panics before its future does loses only
            // its own messages.
            let handled = handler(decoded);
            let outcomes = match heartbeat {
                None => handled.await,
                Some(every) => {
                    tokio::pin!(handled);
                    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                    loop {
                        tokio::select! {
                            outcomes = &mut handled => break outcomes,
                            _ = beat.tick() => {
                                for message in &kept {
                                    if let Err(e) = message.ack_with(AckKind::Progress).await {
                                        tracing::debug!(consumer = %name, error = %e, "a heartbeat could not be sent");
                                    }
                                }
                            }
                        }
                    }
                }
            };
            if outcomes.len() != kept.len() {
                tracing::error!(consumer = %name, messages = kept.len(), outcomes = outcomes.len(), "a handler answered for another number of messages than it was given; the rest will be redelivered");
            }
            for (message, outcome) in kept.iter().zip(outcomes) {
                settle(&name, message, outcome).await;
            }
        });
    }

    fn reap(&self, done: Result<(), tokio::task::JoinError>) {
        if let Err(e) = done {
            if e.is_panic() {
                tracing::error!(consumer = %self.name, "a handler panicked; its messages will be redelivered");
            }
        }
    }
}

async fn settle(consumer: &str, message: &Message, outcome: Outcome) {
    if let Err(e) = message.ack_with(outcome.kind()).await {
        tracing::warn!(consumer, error = %e, ?outcome, "ack failed; the message may be redelivered");
    }
}

/// Events matching `filter_subject` published from now on, in stream order.
pub async fn tail_events(
    bus: &Bus,
    filter_subject: String,
) -> Result<impl Stream<Item = Result<StoredEvent, BusError>> + Send + 'static, BusError> {
    let name = format!("tail:{filter_subject}");
    let stream = bus.jetstream.get_stream(bus.subjects.events_stream()).await.map_err(|e| consumer_err(&name, e))?;
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject,
            deliver_policy: DeliverPolicy::New,
            ..Default::default()
        })
        .await
        .map_err(|e| consumer_err(&name, e))?;
    let messages = consumer.messages().await.map_err(|e| consumer_err(&name, e))?;
    Ok(messages.map(move |m| {
        let m = m.map_err(|e| consumer_err("tail", e))?;
        if m.headers.as_ref().is_some_and(|h| h.get(crate::relay::OVERSIZED_HEADER).is_some()) {
            // The event is only in the log: a follower must read the log again.
            return Err(consumer_err("tail", OversizedEvent));
        }
        serde_json::from_slice::<StoredEvent>(&m.payload).map_err(|e| consumer_err("tail", e))
    }))
}

/// An event the bus carried only as a stub (too large for the server): it is in the log.
#[derive(Debug, thiserror::Error)]
#[error("an event too large for the bus was published as a stub; read it from the log")]
pub struct OversizedEvent;

-- The event store: the source of truth. Append-only; one stream per (tenant, aggregate type, id).
CREATE TABLE IF NOT EXISTS events (
    global_position BIGSERIAL PRIMARY KEY,
    event_id        UUID        NOT NULL UNIQUE,
    tenant_id       TEXT        NOT NULL,
    aggregate_type  TEXT        NOT NULL,
    aggregate_id    TEXT        NOT NULL,
    version         BIGINT      NOT NULL CHECK (version > 0),
    event_type      TEXT        NOT NULL,
    schema_version  INTEGER     NOT NULL,
    payload         JSONB       NOT NULL,
    -- actor, correlation_id, causation_id, traceparent, idempotency_key
    metadata        JSONB       NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- optimistic concurrency: two writers expecting the same version cannot both succeed
    CONSTRAINT events_stream_version UNIQUE (tenant_id, aggregate_type, aggregate_id, version)
);

-- Events not yet published to NATS JetStream. Written in the same transaction as the event;
-- deleted by the relay once JetStream acknowledged the publish.
CREATE TABLE IF NOT EXISTS outbox (
    global_position BIGINT PRIMARY KEY REFERENCES events (global_position),
    subject         TEXT   NOT NULL
);

-- Idempotent commands: the same key with the same request returns the first outcome.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    tenant_id       TEXT        NOT NULL,
    idempotency_key TEXT        NOT NULL,
    request_hash    TEXT        NOT NULL,
    aggregate_type  TEXT        NOT NULL,
    aggregate_id    TEXT        NOT NULL,
    -- stream version right after the command (what replays fold up to)
    version         BIGINT      NOT NULL,
    event_ids       UUID[]      NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, idempotency_key)
);

-- Checkpoints of consumers that apply bus events into Postgres exactly once. The position is
-- the JetStream stream sequence: it follows publication order, which (unlike global_position,
-- assigned before commit) never goes backwards, and a redelivery keeps its sequence.
CREATE TABLE IF NOT EXISTS consumer_checkpoints (
    consumer        TEXT   PRIMARY KEY,
    stream_sequence BIGINT NOT NULL
);

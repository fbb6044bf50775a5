-- The audit log (`GET /api/v0/audit`, `canopy audit`). Admin actions need no table: they are
-- the events, each with its tenant and actor (`metadata->>'actor'`). Calls (tool calls, prompt
-- gets, resource reads, completions, subscriptions) are records on the JetStream LOGS stream,
-- kept here by the api's audit consumer.
--
-- Not an event-sourced read model: call records are high-volume facts, not aggregates' events.
-- Written only by that consumer, once per call id (a redelivered record changes nothing).
CREATE TABLE IF NOT EXISTS audit_calls (
    -- Order of arrival; ties between equal `at` are broken by it.
    position         BIGSERIAL   PRIMARY KEY,
    call_id          TEXT        NOT NULL UNIQUE,
    tenant_id        TEXT        NOT NULL,
    -- Who called: `user:alice`, `client:cursor`, `user:dev`.
    principal        TEXT        NOT NULL,
    server           TEXT        NOT NULL,
    -- tools/call, prompts/get, resources/read, completion/complete, resources/subscribe
    method           TEXT        NOT NULL,
    -- The tool or prompt name, or the resource URI, in the upstream's own names.
    name             TEXT        NOT NULL,
    -- Lowercase hex SHA-256 of the canonical JSON of the arguments; never the arguments.
    arguments_sha256 TEXT,
    outcome          TEXT        NOT NULL CHECK (outcome IN ('ok', 'tool_error', 'error')),
    error_code       TEXT,
    latency_us       BIGINT      NOT NULL,
    -- When the call ended, by the worker's clock.
    at               TIMESTAMPTZ NOT NULL,
    recorded_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A tenant's entries, newest first (the audit query's order and cursor).
CREATE INDEX IF NOT EXISTS audit_calls_tenant_at ON audit_calls (tenant_id, at DESC, position DESC);

-- The same for admin actions, read straight from the event log.
CREATE INDEX IF NOT EXISTS events_tenant_recorded_at ON events (tenant_id, recorded_at DESC, global_position DESC);
